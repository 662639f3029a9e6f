//! Grows a 1 TiB virtio-mem device to full and shrinks it back on the
//! simulated machine, each step fully reported, printing the times. For
//! whole-process figures (peak memory):
//!
//! ```text
//! cargo build --release -p iomem-sim --example roundtrip_1tib
//! /usr/bin/time -v target/release/examples/roundtrip_1tib
//! ```

use std::time::Instant;

use iomem_sim::{Action, Machine, MachineSpec};

const GIB: u64 = 1 << 30;

fn main() {
    let mut spec = MachineSpec::built_in();
    spec.devices.clear();
    spec.add_device("vm0", 0, 1024 * GIB, 2 << 20);
    let mut m = Machine::new(spec).unwrap();
    m.step("load", &[Action::LoadDriver { device: None }]).unwrap();
    let t = Instant::now();
    for (name, size) in [("grow", 1024 * GIB), ("shrink", 0)] {
        let s = Instant::now();
        let r = m.step(name, &[Action::Resize { device: 0, size }]).unwrap();
        assert!(r.invariants_hold());
        println!(
            "{name:>6}: {:7.1} ms, {} requests, /proc/iomem {} lines",
            s.elapsed().as_secs_f64() * 1e3,
            r.requests.len(),
            r.proc_iomem.lines().count()
        );
    }
    println!("round trip: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
}
