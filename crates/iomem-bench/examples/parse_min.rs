//! The fastest of N parses of one dump, by the library and by procfs-core:
//! a low-noise A/B figure for a shared machine (the minimum is what the code
//! can do; criterion's median is what the machine let it do).
//!
//! `cargo run --release -p iomem-bench --example parse_min -- FILE [N]`
//!
//! `parse_min FILE once iomem|procfs-core` parses once and exits: the
//! whole-process cost of one parse (first-touch page faults included, as a
//! user's process pays them), to time beside the other one.

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: parse_min FILE [N]");
    let n = args.next();
    let bytes = std::fs::read(&path).expect("read the dump");
    let mib = bytes.len() as f64 / (1 << 20) as f64;
    let ours = || iomem::procfs::parse(&bytes, &Default::default()).map(|d| d.tree.len()).unwrap_or(0);
    let peer = || {
        use procfs_core::FromBufRead;
        procfs_core::Iomem::from_buf_read(&bytes[..]).map(|m| m.0.len()).unwrap_or(0)
    };
    if n.as_deref() == Some("once") {
        let count = match args.next().as_deref() {
            Some("iomem") => ours(),
            Some("procfs-core") => peer(),
            _ => panic!("usage: parse_min FILE once iomem|procfs-core"),
        };
        println!("{count}");
        return;
    }
    let n: usize = n.map_or(15, |s| s.parse().expect("N: a number"));
    let time = |f: &dyn Fn() -> usize| {
        let t = Instant::now();
        std::hint::black_box(f());
        t.elapsed()
    };
    // Alternate the two, so that a slow moment of a shared machine slows
    // both; keep each one's fastest run.
    let (mut ours_best, mut peer_best) = (Duration::MAX, Duration::MAX);
    for _ in 0..n {
        ours_best = ours_best.min(time(&ours));
        peer_best = peer_best.min(time(&peer));
    }
    let (ours, peer) = (ours_best, peer_best);
    for (who, t) in [("iomem", ours), ("procfs-core", peer)] {
        println!("{who:12} {:8.2} ms {:7.1} MiB/s", t.as_secs_f64() * 1e3, mib / t.as_secs_f64());
    }
    println!("iomem / procfs-core: {:.2}x the time", ours.as_secs_f64() / peer.as_secs_f64());
}
