//! AFL++ target `virtio_mem_device`: see [`iomem_fuzz::virtio_mem_device`] for the input format and
//! what is asserted. Build with `cargo afl build --release`; started
//! outside afl-fuzz the binary runs the one input it reads from stdin
//! (`target/release/virtio_mem_device < FILE`), which is how findings are reproduced.

fn main() {
    iomem_fuzz::init();
    afl::fuzz!(|data: &[u8]| {
        iomem_fuzz::virtio_mem_device(data);
    });
}
