//! `iomem show --root DIR`: the recorded systems of `fixtures/kernel/`.

use std::path::Path;

use crate::common::{dump, fixtures, iomem, scratch, steps};

#[test]
fn proc_format_is_byte_identical_for_every_recorded_step() {
    let steps = steps();
    assert!(steps.len() >= 50, "{} steps", steps.len());
    for step in steps {
        let run = iomem(&["show", "--format", "proc", "--root", step.to_str().unwrap()]);
        let expected = std::fs::read(step.join("proc/iomem")).unwrap();
        assert_eq!(run.raw_stdout, expected, "{}: {}", step.display(), run.stderr);
    }
}

#[test]
fn root_reads_the_system_facts() {
    let step = fixtures().join("kernel/6.1.0-56-arm64/strict-sbm2M/c-shrink-300M");
    let doc = iomem(&["show", "--json", "--root", step.to_str().unwrap()]).json();
    assert_eq!(doc["source"]["type"], "root");
    assert_eq!(doc["kernel"]["release"], "6.1.0-56-arm64");
    assert_eq!(doc["kernel"]["arch"], "arm64");
    assert_eq!(doc["kernel"]["strict_iomem_checks"], true);
    assert_eq!(doc["flags_from"], "inference");
    assert!(doc["source"]["path"].as_str().unwrap().ends_with("proc/iomem"));
}

#[test]
fn observed_flags_are_offered_and_used() {
    let step = fixtures().join("kernel/6.1.0-56-amd64/relaxed-sbm2M/c-shrink-300M");
    let plain = iomem(&["show", "--root", step.to_str().unwrap()]);
    plain.ok();
    assert!(plain.stderr.contains("--flags-from-observed"), "{}", plain.stderr);
    let run = iomem(&["show", "--flags-from-observed", "--root", step.to_str().unwrap()]);
    assert!(run.ok().contains("# Flags: read from the running kernel"));
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(run.stdout.contains("this kernel runs with relaxed checks"), "{}", run.stdout);
    // The arm64 recordings have no observed flags.
    let arm = fixtures().join("kernel/6.1.0-56-arm64/strict-sbm2M/c-shrink-300M");
    let err = iomem(&["show", "--flags-from-observed", "--root", arm.to_str().unwrap()]).err().to_string();
    assert!(err.contains("observed/iomem-flags.txt: no such file"), "{err}");
}

/// The real kernel's `iomem_is_exclusive` answers, recorded per probed
/// address, agree with the `exclusive` marks: a page is exclusive exactly
/// when some resource overlapping it is marked for the setting the kernel
/// ran with. Checked with the real flags (`--flags-from-observed`) and with
/// the flags inferred from the plain `proc/iomem`.
#[test]
fn exclusive_marks_match_the_kernels_answers() {
    for observed in [true, false] {
        let (checked, seen) = compare_with_kernel(observed);
        assert!(checked > 1000, "only {checked} answers checked");
        assert!(seen[0] > 100 && seen[1] > 100, "{seen:?}");
    }
}

/// Returns how many answers were compared and how many were 0 and 1.
fn compare_with_kernel(observed: bool) -> (usize, [usize; 2]) {
    let mut checked = 0;
    let mut seen = [0, 0];
    for step in steps() {
        let answers = step.join("observed/kernel-functions.tsv");
        if !answers.is_file() || !step.join("observed/iomem-flags.txt").is_file() {
            continue;
        }
        let mut args = vec!["show", "--json", "--root", step.to_str().unwrap()];
        if observed {
            args.push("--flags-from-observed");
        }
        let doc = iomem(&args).json();
        let setting = match doc["kernel"]["strict_iomem_checks"].as_bool() {
            Some(true) => "strict",
            Some(false) => "relaxed",
            None => panic!("{}: the recordings carry config and cmdline", step.display()),
        };
        let rows: Vec<(u64, u64, bool)> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (hex(&r["start"]), hex(&r["end"]), r["exclusive"][setting]["exclusive"].as_bool().unwrap()))
            .collect();
        for (addr, kernel_says) in kernel_answers(&answers) {
            let page = addr & !0xfff;
            let marked = rows.iter().any(|&(s, e, x)| x && s <= page + 0xfff && e >= page);
            assert_eq!(marked, kernel_says, "{} {setting} observed={observed}: address {addr:#x}", step.display());
            checked += 1;
            seen[usize::from(kernel_says)] += 1;
        }
    }
    (checked, seen)
}

fn hex(v: &serde_json::Value) -> u64 {
    let s = v.as_str().unwrap();
    u64::from_str_radix(s.strip_prefix("0x").unwrap(), 16).unwrap()
}

/// (address, iomem_is_exclusive) of a kernel-functions.tsv.
fn kernel_answers(path: &Path) -> Vec<(u64, bool)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (a, x) = (col("address"), col("iomem_is_exclusive"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (u64::from_str_radix(f[a].trim_start_matches("0x"), 16).unwrap(), f[x] == "1")
        })
        .collect()
}

#[test]
fn ioports_under_a_root() {
    let root = scratch("ioports-root");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    // No proc/ioports yet: the missing file is named.
    let err = iomem(&["show", "--ioports", "--root", root.to_str().unwrap()]).err().to_string();
    assert!(err.contains("proc/ioports: no such file"), "{err}");
    let ports = std::fs::read(dump("045")).unwrap();
    std::fs::write(root.join("proc/ioports"), &ports).unwrap();
    let run = iomem(&["show", "--ioports", "--format", "proc", "--root", root.to_str().unwrap()]);
    assert_eq!(run.raw_stdout, ports);
    let doc = iomem(&["show", "--ioports", "--json", "--root", root.to_str().unwrap()]).json();
    assert_eq!(doc["kind"], "ioports");
    assert!(doc["source"]["path"].as_str().unwrap().ends_with("proc/ioports"));
}

#[test]
fn root_must_be_a_directory() {
    let err = iomem(&["show", "--root", "/nonexistent-capture"]).err().to_string();
    assert!(err.contains("/nonexistent-capture: not a directory"), "{err}");
}
