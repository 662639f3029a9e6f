//! AFL++ target `scenario_files`: see [`iomem_fuzz::scenario::scenario_files`] for the input format and
//! what is asserted. Build with `cargo afl build --release`; started
//! outside afl-fuzz the binary runs the one input it reads from stdin
//! (`target/release/scenario_files < FILE`), which is how findings are reproduced.

fn main() {
    iomem_fuzz::init();
    afl::fuzz!(|data: &[u8]| {
        iomem_fuzz::scenario::scenario_files(data);
    });
}
