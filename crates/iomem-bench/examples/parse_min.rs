//! The fastest of N parses of one dump, by the library and by procfs-core:
//! a low-noise A/B figure for a shared machine (the minimum is what the code
//! can do; criterion's median is what the machine let it do).
//!
//! `cargo run --release -p iomem-bench --example parse_min -- FILE [N]`

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: parse_min FILE [N]");
    let n: usize = args.next().map_or(15, |s| s.parse().expect("N: a number"));
    let bytes = std::fs::read(&path).expect("read the dump");
    let mib = bytes.len() as f64 / (1 << 20) as f64;
    let best = |f: &dyn Fn() -> usize| {
        (0..n)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    let ours = best(&|| iomem::procfs::parse(&bytes, &Default::default()).map(|d| d.tree.len()).unwrap_or(0));
    let peer = best(&|| {
        use procfs_core::FromBufRead;
        procfs_core::Iomem::from_buf_read(&bytes[..]).map(|m| m.0.len()).unwrap_or(0)
    });
    for (who, t) in [("iomem", ours), ("procfs-core", peer)] {
        println!("{who:12} {:8.2} ms {:7.1} MiB/s", t.as_secs_f64() * 1e3, mib / t.as_secs_f64());
    }
}
