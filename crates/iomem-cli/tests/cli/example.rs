//! `iomem show --example`: the built-in recording.

use crate::common::{fixtures, iomem, tree_lines};

const STEP: &str = "kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M";

#[test]
fn virtio_mem_region_is_exclusive_even_relaxed() {
    let run = iomem(&["show", "--example"]);
    let text = run.ok();
    let lines = tree_lines(text);
    let at = lines.iter().position(|l| l.contains(" virtio0 ")).expect("a virtio0 line");
    let parent = lines[at];
    assert!(parent.starts_with("X "), "virtio0 is exclusive even with iomem=relaxed: {parent}");
    assert!(parent.contains("100000000-1ffffffff"), "{parent}");
    assert!(parent.contains("4 GiB"), "{parent}");
    assert!(parent.contains("[MEM|SYSRAM|EXCLUSIVE]"), "{parent}");
    assert!(parent.contains("exclusive (even with iomem=relaxed)"), "{parent}");
    // Its child: the added memory, nested one level deeper, exclusive
    // through its parent.
    let child = lines[at + 1];
    assert!(child.starts_with("X   100000000-117ffffff"), "{child}");
    assert!(child.contains("384 MiB"), "{child}");
    assert!(child.contains("System RAM (virtio_mem)"), "{child}");
    assert!(child.contains("[MEM|SYSRAM|SYSRAM_DRIVER_MANAGED|SYSRAM_MERGEABLE|BUSY]"), "{child}");
    assert!(!child.contains("<-"), "the note is on the deciding resource only: {child}");
}

#[test]
fn strict_only_and_non_exclusive_marks() {
    let text = iomem(&["show", "--example"]).ok().to_string();
    let lines = tree_lines(&text);
    let find = |needle: &str| *lines.iter().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}"));
    // Debian sets CONFIG_IO_STRICT_DEVMEM=y: busy resources are exclusive
    // with strict checks only.
    assert!(find("00100000-7ffdffff").starts_with("x "), "busy System RAM");
    assert!(find(" IOAPIC 0 ").starts_with("x "));
    // Not busy: never exclusive.
    assert!(find(" HPET 0 ").starts_with("  "));
    assert!(find("80000000-febfffff").starts_with("  "), "PCI window");
    // The descriptor is shown when not NONE.
    assert!(find("7ffe0000-7fffffff").contains("[MEM desc=RESERVED]"));
    // Every line fits a 120-column terminal.
    for l in text.lines() {
        assert!(l.chars().count() <= 120, "too wide ({}): {l}", l.len());
    }
    assert!(text.lines().last().unwrap().starts_with("Legend: "));
}

#[test]
fn header_states_the_provenance() {
    let text = iomem(&["show", "--example"]).ok().to_string();
    let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    let header = header.join("\n");
    assert!(header.contains(&format!("fixtures/{STEP}")), "{header}");
    assert!(header.contains("6.1.0-56-amd64"));
    assert!(header.contains("read from the running kernel"));
    assert!(header.contains("CONFIG_IO_STRICT_DEVMEM=y"));
    let help = iomem(&["show", "--help"]).ok().to_string();
    assert!(help.contains("6.1.0-56-amd64/strict-sbm2M/c-shrink-300M"), "{help}");
}

#[test]
fn proc_format_is_the_recorded_proc_iomem() {
    let run = iomem(&["show", "--example", "--format", "proc"]);
    let expected = std::fs::read(fixtures().join(STEP).join("proc/iomem")).unwrap();
    assert_eq!(run.raw_stdout, expected);
}

#[test]
fn example_json_carries_the_real_flags() {
    let doc = iomem(&["show", "--example", "--json"]).json();
    assert_eq!(doc["flags_from"], "annotations");
    assert_eq!(doc["source"]["type"], "example");
    let res = doc["resources"].as_array().unwrap();
    let virtio = res.iter().find(|r| r["name"] == "virtio0").unwrap();
    assert_eq!(virtio["flags_value"], 0x0900_0200);
    assert_eq!(virtio["flags"], serde_json::json!(["MEM", "SYSRAM", "EXCLUSIVE"]));
    assert_eq!(virtio["exclusive"]["relaxed"]["reason"], "SYSTEM_RAM_EXCLUSIVE");
    assert_eq!(virtio["exclusive"]["relaxed"]["inherited"], false);
    let child = res.iter().find(|r| r["name"] == "System RAM (virtio_mem)").unwrap();
    assert_eq!(child["depth"], 1);
    assert_eq!(child["exclusive"]["relaxed"]["exclusive"], true);
    assert_eq!(child["exclusive"]["relaxed"]["inherited"], true);
    assert!(res.iter().all(|r| r["assumed"].as_array().unwrap().is_empty()));
}

#[test]
fn example_has_no_ioports() {
    let err = iomem(&["show", "--example", "--ioports"]).err().to_string();
    assert!(err.contains("no /proc/ioports"), "{err}");
}
