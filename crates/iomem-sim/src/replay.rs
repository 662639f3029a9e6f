//! Running a scenario, and replaying a recording of a real kernel: every
//! step after the first is simulated from the first step's state and the
//! steps' actions alone, then compared with what the real kernel and QEMU
//! recorded.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::error::SimError;
use crate::machine::{Action, Machine, StepReport};
use crate::output::{step_files, write_step};
use crate::scenario::Scenario;

/// The result of one comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was compared (`proc-iomem`, `iomem-flags`, `memory-blocks`,
    /// `requests`, `device`, `dmesg`, `high-memory`).
    pub name: &'static str,
    /// `None`: identical; else the first difference.
    pub difference: Option<String>,
}

/// A step's comparisons with the recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepConformance {
    /// The step.
    pub step: String,
    /// Every comparison made (those whose recorded file is missing are
    /// left out).
    pub checks: Vec<Check>,
}

impl StepConformance {
    /// True if every comparison matched.
    pub fn matches(&self) -> bool {
        self.checks.iter().all(|c| c.difference.is_none())
    }
}

/// A finished run.
pub struct Run {
    /// Each step's report (the first is the starting state, `Observe`).
    pub reports: Vec<StepReport>,
    /// For a recording: each simulated step compared with the recorded one.
    pub conformance: Vec<StepConformance>,
}

/// Runs a scenario; with `out`, writes every step as a captured system
/// under `out/<step>/`; for a recording, compares every step with it.
/// `progress` is told each step's name as it starts.
pub fn run(scenario: &Scenario, out: Option<&Path>, mut progress: impl FnMut(usize, &str)) -> Result<Run, SimError> {
    let mut machine = Machine::new(scenario.machine.clone())?;
    machine.set_settle_ms(scenario.settle_ms);
    let mut reports = Vec::new();
    let mut conformance = Vec::new();
    let first_name = match &scenario.recording {
        Some((_, first)) => first.file_name().map_or_else(|| "start".to_string(), |n| n.to_string_lossy().into_owned()),
        None => "start".to_string(),
    };
    let start = machine.step(&first_name, &[Action::Observe])?;
    emit(&machine, &start, out)?;
    reports.push(start);
    for (i, step) in scenario.steps.iter().enumerate() {
        progress(i, &step.name);
        let report = machine.step(&step.name, &step.actions)?;
        emit(&machine, &report, out)?;
        if let Some((dir, _)) = &scenario.recording {
            // Only steps the recording holds are compared.
            let recorded = dir.join(&step.name);
            if recorded.is_dir() {
                conformance.push(compare(&recorded, &machine, &report));
            }
        }
        reports.push(report);
    }
    Ok(Run { reports, conformance })
}

fn emit(machine: &Machine, report: &StepReport, out: Option<&Path>) -> Result<(), SimError> {
    let Some(out) = out else { return Ok(()) };
    let dir = out.join(&report.name);
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| SimError::io(&dir, e))?;
    }
    write_step(&dir, &step_files(machine.spec(), report, &machine.dmesg()))
}

/// The first differing line of two texts.
fn first_difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => {
                return Some(format!(
                    "line {}: recorded {}, simulated {}",
                    i + 1,
                    x.map_or("(nothing)".to_string(), |s| format!("{s:?}")),
                    y.map_or("(nothing)".to_string(), |s| format!("{s:?}"))
                ));
            }
        }
    }
    Some("the texts differ in whitespace or line ends".to_string())
}

fn read(path: &Path) -> Option<String> {
    fs::read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Compares a simulated step with the recorded one in `dir`.
pub fn compare(dir: &Path, machine: &Machine, report: &StepReport) -> StepConformance {
    let mut checks = Vec::new();
    let mut check = |name: &'static str, difference: Option<String>| checks.push(Check { name, difference });
    if let Some(t) = read(&dir.join("proc/iomem")) {
        check("proc-iomem", first_difference(&t, &report.proc_iomem));
    }
    if let Some(t) = read(&dir.join("observed/iomem-flags.txt")) {
        check("iomem-flags", first_difference(&t, &report.iomem_flags));
    }
    if let Some(d) = compare_blocks(dir, report) {
        check("memory-blocks", d);
    }
    if let Some(t) = read(&dir.join("observed/requests.log")) {
        let simulated: String = report.requests.iter().map(|l| format!("{l}\n")).collect();
        check("requests", first_difference(&t, &simulated));
    }
    if let Some(t) = read(&dir.join("observed/device.txt")) {
        let recorded: String = t.lines().filter(|l| l.starts_with("device=")).map(|l| format!("{l}\n")).collect();
        let simulated: String = report.devices.iter().map(|d| format!("{}\n", d.qemu_line())).collect();
        check("device", first_difference(&recorded, &simulated));
    }
    if let Some(t) = read(&dir.join("observed/dmesg-virtio_mem.txt")) {
        let strip = |l: &str| l.split_once("] ").map_or(l.to_string(), |(_, rest)| rest.to_string());
        let recorded: String = t.lines().map(|l| format!("{}\n", strip(l))).collect();
        let simulated: String = machine
            .dmesg()
            .iter()
            .filter(|(_, l)| {
                l.to_ascii_lowercase().contains("virtio_mem") || l.to_ascii_lowercase().contains("virtio-mem")
            })
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        check("dmesg", first_log_difference(&recorded, &simulated));
    }
    if let Some(t) = read(&dir.join("observed/kernel-functions.tsv")) {
        let recorded = t.lines().next().and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("high_memory=")));
        if let Some(h) = recorded {
            let simulated = format!("{:#x}", report.high_memory);
            check("high-memory", (h != simulated).then(|| format!("recorded {h}, simulated {simulated}")));
        }
    }
    StepConformance { step: report.name.clone(), checks }
}

/// The kernel's log lines, compared device by device: each device's lines
/// (`virtio_mem virtioN: …`) in their order, and the lines of no device in
/// theirs. How two devices' lines interleave is not compared: each device's
/// worker runs on a workqueue after its probe, so whether `virtio0`'s first
/// worker lines come before or after `virtio1`'s probe lines is a race
/// (real kernels print both orders from run to run).
fn first_log_difference(recorded: &str, simulated: &str) -> Option<String> {
    let split = |text: &str| {
        let mut by_device: BTreeMap<String, String> = BTreeMap::new();
        for line in text.lines() {
            by_device.entry(log_device(line).to_string()).or_default().push_str(&format!("{line}\n"));
        }
        by_device
    };
    let (recorded, simulated) = (split(recorded), split(simulated));
    let devices: std::collections::BTreeSet<&String> = recorded.keys().chain(simulated.keys()).collect();
    devices.into_iter().find_map(|device| {
        let (r, s) =
            (recorded.get(device).map_or("", String::as_str), simulated.get(device).map_or("", String::as_str));
        first_difference(r, s).map(|d| if device.is_empty() { d } else { format!("{device}: {d}") })
    })
}

/// The device a log line is about (`virtioN` of `virtio_mem virtioN: `), or
/// `""`.
fn log_device(line: &str) -> &str {
    line.split_once("virtio_mem ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map(|(dev, _)| dev)
        .filter(|dev| dev.starts_with("virtio") && !dev.contains(' '))
        .unwrap_or("")
}

/// Memory blocks: the same `memoryN` directories, each with the same
/// `state`, `phys_index` and `valid_zones`, and the same root files.
/// `None` if nothing was recorded.
fn compare_blocks(dir: &Path, report: &StepReport) -> Option<Option<String>> {
    let root = dir.join("sys/devices/system/memory");
    let mut recorded: BTreeMap<String, String> = BTreeMap::new();
    let entries = fs::read_dir(&root).ok()?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if path.is_dir() {
            for f in ["state", "phys_index", "valid_zones"] {
                if let Some(t) = read(&path.join(f)) {
                    recorded.insert(format!("{name}/{f}"), t);
                }
            }
        } else if let Some(t) = read(&path) {
            recorded.insert(name, t);
        }
    }
    let simulated: BTreeMap<String, String> = report.sysfs.files().into_iter().collect();
    if recorded.is_empty() {
        return None;
    }
    for (k, v) in &recorded {
        match simulated.get(k) {
            Some(s) if s == v => {}
            Some(s) => return Some(Some(format!("{k}: recorded {:?}, simulated {:?}", v.trim(), s.trim()))),
            None => return Some(Some(format!("{k}: recorded {:?}, simulated: no such file", v.trim()))),
        }
    }
    Some(simulated.keys().find(|k| !recorded.contains_key(*k)).map(|k| format!("{k}: simulated, not recorded")))
}

#[cfg(test)]
mod tests {
    use super::{first_log_difference, log_device};

    #[test]
    fn log_lines_are_compared_device_by_device() {
        let a = "virtio_mem virtio0: start address: 0x100000000\nvirtio_mem virtio1: start address: 0x200000000\n\
                 virtio_mem virtio0: plugged size: 0x0\nvirtio_mem virtio1: plugged size: 0x0\n";
        let interleaved = "virtio_mem virtio0: start address: 0x100000000\nvirtio_mem virtio0: plugged size: 0x0\n\
                           virtio_mem virtio1: start address: 0x200000000\nvirtio_mem virtio1: plugged size: 0x0\n";
        assert_eq!(first_log_difference(a, interleaved), None, "the cross-device order is a race");
        let reordered = "virtio_mem virtio0: plugged size: 0x0\nvirtio_mem virtio0: start address: 0x100000000\n\
                         virtio_mem virtio1: start address: 0x200000000\nvirtio_mem virtio1: plugged size: 0x0\n";
        let d = first_log_difference(a, reordered).expect("one device's own order differs");
        assert!(d.starts_with("virtio0: "), "{d}");
        let missing = "virtio_mem virtio0: start address: 0x100000000\nvirtio_mem virtio0: plugged size: 0x0\n";
        assert!(first_log_difference(a, missing).unwrap().starts_with("virtio1: "));
    }

    #[test]
    fn the_device_of_a_log_line() {
        assert_eq!(log_device("virtio_mem virtio3: plugged size: 0x0"), "virtio3");
        assert_eq!(log_device("Fallback order for Node 0: 0"), "");
        assert_eq!(log_device("virtio_mem: unknown parameter"), "");
    }
}
