//! AFL++ target `infer_flags`: see [`iomem_fuzz::infer_flags`] for the input format and
//! what is asserted. Build with `cargo afl build --release`; started
//! outside afl-fuzz the binary runs the one input it reads from stdin
//! (`target/release/infer_flags < FILE`), which is how findings are reproduced.

fn main() {
    iomem_fuzz::init();
    afl::fuzz!(|data: &[u8]| {
        iomem_fuzz::infer_flags(data);
    });
}
