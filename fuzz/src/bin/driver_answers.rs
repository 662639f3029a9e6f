//! AFL++ target `driver_answers`: see [`iomem_fuzz::driver::driver_answers`] for the input format and
//! what is asserted. Build with `cargo afl build --release`; started
//! outside afl-fuzz the binary runs the one input it reads from stdin
//! (`target/release/driver_answers < FILE`), which is how findings are reproduced.

fn main() {
    iomem_fuzz::init();
    afl::fuzz!(|data: &[u8]| {
        iomem_fuzz::driver::driver_answers(data);
    });
}
