//! Replays every recording under `fixtures/kernel/` and prints the
//! conformance of each step (a development aid; the test is
//! `tests/replay.rs`).

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kernel");
    let mut dirs = Vec::new();
    for k in std::fs::read_dir(&root).unwrap().flatten() {
        if k.path().is_dir() {
            for s in std::fs::read_dir(k.path()).unwrap().flatten() {
                if s.path().join("scenario.txt").is_file() {
                    dirs.push(s.path());
                }
            }
        }
    }
    dirs.sort();
    let mut counts = std::collections::BTreeMap::new();
    let mut steps = 0;
    for d in dirs {
        let scenario = iomem_sim::Scenario::from_recording(&d).unwrap();
        let run = iomem_sim::run(&scenario, None, |_, _| {}).unwrap();
        for c in &run.conformance {
            steps += 1;
            for ch in &c.checks {
                *counts.entry(ch.name).or_insert(0) += 1;
                if let Some(diff) = &ch.difference {
                    println!("{} {} {}: {diff}", d.strip_prefix(&root).unwrap().display(), c.step, ch.name);
                }
            }
        }
        let bad = run
            .reports
            .iter()
            .flat_map(|r| r.invariants.iter().filter(|i| !i.ok).map(move |i| (r.name.clone(), i.clone())));
        for (step, i) in bad {
            println!("{} {step} invariant {}: {}", d.strip_prefix(&root).unwrap().display(), i.name, i.detail);
        }
    }
    println!("{steps} steps compared; checks: {counts:?}");
}
