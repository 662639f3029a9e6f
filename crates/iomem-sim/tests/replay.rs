//! Every recording of a real kernel replays: from its first step and the
//! steps' actions alone, the simulated machine gives every later step's
//! `/proc/iomem` byte for byte, the real flags of every resource, every
//! memory block's state, index and valid zones, QEMU's request trace line
//! for line, the device's sizes, the driver's log lines and `high_memory`,
//! with every invariant holding.
//!
//! The replay cannot pass by copying the recording: it runs from a scratch
//! copy holding only `scenario.txt` and the first step, and is compared
//! with the original.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use iomem_sim::{Scenario, run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kernel")
}

fn recordings() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for k in fs::read_dir(fixtures()).unwrap().flatten() {
        if k.path().is_dir() {
            for s in fs::read_dir(k.path()).unwrap().flatten() {
                if s.path().join("scenario.txt").is_file() {
                    out.push(s.path());
                }
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A scratch copy of a recording's inputs: `scenario.txt` and the first
/// step only.
fn inputs_only(recording: &Path, tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("replay-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::copy(recording.join("scenario.txt"), dir.join("scenario.txt")).unwrap();
    let text = fs::read_to_string(recording.join("scenario.txt")).unwrap();
    let first = text
        .lines()
        .skip_while(|l| !l.starts_with("steps"))
        .nth(1)
        .and_then(|l| l.trim().split(':').next())
        .unwrap()
        .to_string();
    copy_dir(&recording.join(&first), &dir.join(&first));
    dir
}

#[test]
fn every_recorded_step_replays_exactly() {
    let mut steps = 0;
    let mut checks: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let recs = recordings();
    assert_eq!(recs.len(), 24, "the project's copy of the recordings");
    for rec in &recs {
        let name = rec.strip_prefix(fixtures()).unwrap().display().to_string().replace('/', "_");
        let scratch = inputs_only(rec, &name);
        let scenario = Scenario::from_recording(&scratch).unwrap();
        let result = run(&scenario, None, |_, _| {}).unwrap();
        assert_eq!(result.conformance.len(), 0, "the scratch copy holds no later step to compare with");
        // Compare with the original recording.
        let original = Scenario::from_recording(rec).unwrap();
        let again = run(&original, None, |_, _| {}).unwrap();
        for (a, b) in result.reports.iter().zip(&again.reports) {
            assert_eq!(a.proc_iomem, b.proc_iomem, "{name}: the inputs alone decide the run");
            assert_eq!(a.requests, b.requests);
        }
        for c in &again.conformance {
            steps += 1;
            for ch in &c.checks {
                *checks.entry(ch.name).or_default() += 1;
                if let Some(d) = &ch.difference {
                    failures.push(format!("{name} {} {}: {d}", c.step, ch.name));
                }
            }
        }
        for r in &again.reports {
            for i in r.invariants.iter().filter(|i| !i.ok) {
                failures.push(format!("{name} {} invariant {}: {}", r.name, i.name, i.detail));
            }
        }
        let _ = fs::remove_dir_all(&scratch);
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
    // 14 scenarios recorded with the introspection module (58 steps, 44 of
    // them after the first) and 10 by `cargo xtask kernel-check` (6.1.0-57
    // and 6.12.118; 52 steps, 42 after the first), two of them with two
    // devices.
    assert_eq!(steps, 86, "every step after the first is simulated");
    for name in ["proc-iomem", "memory-blocks", "requests", "device", "dmesg"] {
        assert_eq!(checks.get(name), Some(&86), "{name} compared on every step");
    }
    // The real flags need the introspection module: not under lockdown, not
    // on arm64, not in kernel-check's recordings (38 steps keep them).
    // high_memory is kept by all but lockdown and arm64 (38 + 42).
    assert_eq!(checks.get("iomem-flags"), Some(&38));
    assert_eq!(checks.get("high-memory"), Some(&80));
}

#[test]
fn runs_are_deterministic_byte_for_byte() {
    let rec = fixtures().join("6.1.0-56-amd64/pressure-online_movable");
    let out = |tag: &str| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("det-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        run(&Scenario::from_recording(&rec).unwrap(), Some(&dir), |_, _| {}).unwrap();
        dir
    };
    let (a, b) = (out("a"), out("b"));
    let files = |d: &Path| {
        let mut v = Vec::new();
        fn walk(d: &Path, base: &Path, v: &mut Vec<(String, Vec<u8>)>) {
            for e in fs::read_dir(d).unwrap().flatten() {
                if e.path().is_dir() {
                    walk(&e.path(), base, v);
                } else {
                    v.push((e.path().strip_prefix(base).unwrap().display().to_string(), fs::read(e.path()).unwrap()));
                }
            }
        }
        walk(d, d, &mut v);
        v.sort();
        v
    };
    let (fa, fb) = (files(&a), files(&b));
    assert!(fa.len() > 100, "every step written as a captured system: {}", fa.len());
    assert_eq!(fa, fb);
    // The output is a captured system in the recordings' layout.
    for step in ["0-nodriver", "a-size0", "b-grow-1G", "c-fill-1536M", "d-shrink-300M"] {
        for f in [
            "proc/iomem",
            "observed/iomem-flags.txt",
            "observed/requests.log",
            "observed/device.txt",
            "observed/dmesg-virtio_mem.txt",
            "sys/devices/system/memory/block_size_bytes",
            "proc/cmdline",
        ] {
            assert!(a.join(step).join(f).is_file(), "{step}/{f}");
        }
    }
    let _ = fs::remove_dir_all(&a);
    let _ = fs::remove_dir_all(&b);
}

/// The comparison is not vacuous: a recording edited in one line of its
/// trace, one line of its tree and one block's zone is caught, each at the
/// first differing line.
#[test]
fn an_edited_recording_is_caught() {
    let rec = fixtures().join("6.1.0-56-amd64/strict-sbm2M");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("edited-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    copy_dir(&rec, &dir);
    let step = dir.join("c-shrink-300M");
    let edit = |rel: &str, from: &str, to: &str| {
        let p = step.join(rel);
        let t = fs::read_to_string(&p).unwrap();
        assert!(t.contains(from), "{rel}");
        fs::write(&p, t.replacen(from, to, 1)).unwrap();
    };
    edit("observed/requests.log", "addr=0x130000000", "addr=0x128000000");
    edit("proc/iomem", "100000000-117ffffff", "100000000-11fffffff");
    edit("sys/devices/system/memory/memory34/valid_zones", "Movable", "Normal");
    let result = run(&Scenario::from_recording(&dir).unwrap(), None, |_, _| {}).unwrap();
    let c = result.conformance.iter().find(|c| c.step == "c-shrink-300M").unwrap();
    let diff = |name: &str| c.checks.iter().find(|x| x.name == name).and_then(|x| x.difference.clone());
    assert!(diff("requests").unwrap().starts_with("line 3:"), "{:?}", diff("requests"));
    assert!(diff("proc-iomem").unwrap().contains("100000000-11fffffff"));
    assert!(diff("memory-blocks").unwrap().starts_with("memory34/valid_zones"));
    assert_eq!(diff("device"), None, "untouched files still match");
    let _ = fs::remove_dir_all(&dir);
}

/// A recording that starts after the driver loaded, with a device larger
/// than the region its captured `/proc/iomem` claims, is refused with an
/// error naming both ranges, instead of running a machine whose `/dev/mem`
/// allows the unclaimed rest (found by the `scenario_files` fuzz target).
#[test]
fn a_device_that_disagrees_with_its_captured_claim_is_refused() {
    let rec = fixtures().join("6.1.0-56-amd64/strict-sbm2M");
    let text = fs::read_to_string(rec.join("scenario.txt")).unwrap();
    // Start at the step after the driver loaded, with a 5 GiB device.
    let text = text.replacen("  0-nodriver: before insmod virtio_mem\n", "", 1);
    assert!(!text.contains("0-nodriver"));
    assert!(text.contains("size=4G"), "the recording's device line");
    let bigger = text.replacen("size=4G", "size=5G", 1);
    let scenario = Scenario::from_recording_text(&rec, &bigger).unwrap();
    let err = match run(&scenario, None, |_, _| {}) {
        Ok(_) => panic!("not refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("0x100000000-0x23fffffff") && err.contains("0x100000000-0x1ffffffff"), "{err}");
    // The same start with the recorded size is a consistent machine.
    let same = Scenario::from_recording_text(&rec, &text).unwrap();
    assert!(run(&same, None, |_, _| {}).is_ok());
}

/// A step name is a directory of the recording, never a path out of it.
#[test]
fn a_step_name_that_leaves_the_recording_is_refused() {
    let rec = fixtures().join("6.1.0-56-amd64/strict-sbm2M");
    let text = fs::read_to_string(rec.join("scenario.txt")).unwrap();
    for bad in ["../../../../../etc", "/proc", ".."] {
        let edited = text.replacen("  0-nodriver:", &format!("  {bad}:"), 1);
        let err = match Scenario::from_recording_text(&rec, &edited) {
            Ok(_) => panic!("not refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("is not a directory name"), "{bad}: {err}");
    }
}

/// The device's own `virtioN` claim elsewhere than its region is refused
/// too (the captured driver claimed another place).
#[test]
fn a_device_moved_away_from_its_captured_claim_is_refused() {
    let step = fixtures().join("6.1.0-56-amd64/strict-sbm2M/a-size0");
    let mut spec = iomem_sim::MachineSpec::from_captured(&step).unwrap();
    spec.add_device("vm0", 0, 4 << 30, 2 << 20);
    assert!(iomem_sim::Machine::new(spec.clone()).is_ok(), "where QEMU put it, it matches the claim");
    spec.devices[0].addr += 16 << 30;
    let err = match iomem_sim::Machine::new(spec) {
        Ok(_) => panic!("not refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("virtio0 claims 0x100000000-0x1ffffffff"), "{err}");
}
