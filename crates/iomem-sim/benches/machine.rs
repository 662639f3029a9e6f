//! The whole simulated machine: a 1 TiB virtio-mem device grown from 0 to
//! full and shrunk back (2 MiB device blocks, 128 MiB memory blocks), each
//! step reported (`/proc/iomem`, the annotated tree, sysfs, every
//! invariant); and the replay of every recorded scenario (24).
//!
//! `cargo bench -p iomem-sim --bench machine`

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use iomem_sim::{Action, Machine, MachineSpec, Scenario, run};

const GIB: u64 = 1 << 30;

fn terabyte_machine() -> Machine {
    let mut spec = MachineSpec::built_in();
    spec.devices.clear();
    spec.add_device("vm0", 0, 1024 * GIB, 2 << 20);
    let mut m = Machine::new(spec).unwrap();
    m.step("load", &[Action::LoadDriver { device: None }]).unwrap();
    m
}

fn recordings() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kernel");
    let mut out = Vec::new();
    for k in std::fs::read_dir(root).unwrap().flatten() {
        for s in std::fs::read_dir(k.path()).into_iter().flatten().flatten() {
            if s.path().join("scenario.txt").is_file() {
                out.push(s.path());
            }
        }
    }
    out.sort();
    out
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulated machine");
    g.sample_size(10);
    g.bench_function("1 TiB grow and shrink, reported", |b| {
        b.iter_batched(
            terabyte_machine,
            |mut m| {
                let up = m.step("grow", &[Action::Resize { device: 0, size: 1024 * GIB }]).unwrap();
                assert_eq!(up.devices[0].plugged_size, 1024 * GIB);
                let down = m.step("shrink", &[Action::Resize { device: 0, size: 0 }]).unwrap();
                assert_eq!(down.devices[0].plugged_size, 0);
                assert!(up.invariants_hold() && down.invariants_hold());
                (up.proc_iomem.len(), down.proc_iomem.len())
            },
            criterion::BatchSize::PerIteration,
        );
    });
    let recs = recordings();
    assert_eq!(recs.len(), 24, "the recordings of fixtures/kernel");
    g.bench_function("replay every recording", |b| {
        b.iter(|| {
            let mut checks = 0;
            for r in &recs {
                let result = run(&Scenario::from_recording(r).unwrap(), None, |_, _| {}).unwrap();
                checks += result.conformance.iter().map(|c| c.checks.len()).sum::<usize>();
            }
            checks
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
