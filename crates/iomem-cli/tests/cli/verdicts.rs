//! `show --verdicts`: each resource's read and mmap verdict is what `iomem
//! check` finds on every page of its range (whose verdicts are proven
//! against real kernels in tests/cli/check.rs and iomem-devmem's tests):
//! one result when all pages agree, `mixed` when they do not.

use std::collections::BTreeSet;

use crate::common::{iomem, steps};

/// Checks every resource of one system, given as source arguments.
fn agrees_with_check(source: &[String]) {
    let mut args = vec!["show".to_string(), "--verdicts".to_string(), "--json".to_string()];
    args.extend(source.iter().cloned());
    let shown = iomem(&args).json();
    let resources = shown["resources"].as_array().unwrap();
    assert!(!resources.is_empty());
    for r in resources {
        let (start, end) = (r["start"].as_str().unwrap(), r["end"].as_str().unwrap());
        let mut args = vec!["check".to_string(), "--json".to_string(), format!("{start}-{end}")];
        args.extend(source.iter().cloned());
        let checked = iomem(&args).json();
        let runs = checked[0]["runs"].as_array().unwrap();
        for call in ["read", "mmap"] {
            let results: BTreeSet<&str> = runs.iter().map(|run| run[call].as_str().unwrap()).collect();
            let expected = if results.len() == 1 { *results.first().unwrap() } else { "mixed" };
            assert_eq!(
                r["verdicts"][call].as_str().unwrap(),
                expected,
                "{source:?}: {call} of {} {start}-{end}: check finds {results:?}",
                r["name"]
            );
        }
    }
}

#[test]
fn verdicts_agree_with_check_on_every_page() {
    agrees_with_check(&["--example".to_string()]);
    agrees_with_check(&["--example".to_string(), "--assume".to_string(), "iomem=relaxed".to_string()]);
    // A relaxed recording with its real flags, a lockdown one (no flags
    // recorded: a locked-down kernel loads no introspection module).
    let mut recordings = 0;
    for step in steps() {
        let s = step.to_string_lossy();
        if (s.contains("relaxed-sbm2M/b-") || s.contains("lockdown-integrity/b-")) && s.contains("6.1.0-56-amd64") {
            let mut source = vec!["--root".to_string(), s.to_string()];
            if step.join("observed/iomem-flags.txt").exists() {
                source.push("--flags-from-observed".to_string());
            }
            agrees_with_check(&source);
            recordings += 1;
        }
    }
    assert_eq!(recordings, 2);
}

#[test]
fn the_column_and_its_legend() {
    let out = iomem(&["show", "--example", "--verdicts"]);
    let text = out.ok();
    let row = text.lines().find(|l| l.contains("System RAM (virtio_mem)")).unwrap();
    assert!(row.contains("EPERM/EPERM"), "{row}");
    let region = text.lines().find(|l| l.contains(" virtio0 ")).unwrap();
    assert!(region.contains("mixed/EPERM"), "plugged memory is EPERM to read, unplugged EFAULT: {region}");
    assert!(text.contains("Verdicts: READ/MMAP"));
    // Without the option, neither.
    assert!(!iomem(&["show", "--example"]).ok().contains("Verdicts:"));
}

#[test]
fn verdicts_make_no_sense_in_the_kernels_text_or_for_ioports() {
    let r = iomem(&["show", "--example", "--verdicts", "--format", "proc"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(r.err().contains("--format proc"), "{}", r.stderr);
    let r = iomem(&["show", "--example", "--verdicts", "--ioports"]);
    assert_eq!(r.status.code(), Some(2));
}
