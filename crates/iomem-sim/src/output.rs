//! Writing a simulated step as a captured system, in the recordings' own
//! layout and formats, so that `iomem show --root OUT/<step>` and
//! `iomem check --root OUT/<step>` work on a simulated machine exactly as
//! on a captured one.

use std::fs;
use std::path::Path;

use crate::error::SimError;
use crate::machine::StepReport;
use crate::spec::MachineSpec;

/// The files of one step: (path relative to the step directory, contents).
pub fn step_files(spec: &MachineSpec, report: &StepReport, dmesg: &[(u64, String)]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = spec.static_files.clone();
    files.push(("proc/iomem".into(), report.proc_iomem.clone().into_bytes()));
    files.push(("observed/iomem-flags.txt".into(), report.iomem_flags.clone().into_bytes()));
    for (path, text) in report.sysfs.files() {
        files.push((format!("sys/devices/system/memory/{path}"), text.into_bytes()));
    }
    let mut requests = String::new();
    for line in &report.requests {
        requests.push_str(line);
        requests.push('\n');
    }
    files.push(("observed/requests.log".into(), requests.into_bytes()));
    let mut device = format!("# {} (simulated)\n", report.name);
    for d in &report.devices {
        device.push_str(&d.qemu_line());
        device.push('\n');
    }
    files.push(("observed/device.txt".into(), device.into_bytes()));
    let mut log = String::new();
    for (ms, line) in dmesg {
        if line.to_ascii_lowercase().contains("virtio_mem") || line.to_ascii_lowercase().contains("virtio-mem") {
            log.push_str(&format!("[{:5}.{:06}] {line}\n", ms / 1000, (ms % 1000) * 1000));
        }
    }
    files.push(("observed/dmesg-virtio_mem.txt".into(), log.into_bytes()));
    let page = 4096;
    files.push((
        "observed/kernel-functions.tsv".into(),
        format!("# high_memory={:#x} max_pfn={:#x}\n", report.high_memory, report.high_memory / page).into_bytes(),
    ));
    files
}

/// Writes a step's files under `dir` (created; existing files replaced).
pub fn write_step(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), SimError> {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| SimError::io(parent, e))?;
        }
        fs::write(&path, bytes).map_err(|e| SimError::io(&path, e))?;
    }
    Ok(())
}
