//! Scenario files: `iomem simulate`'s TOML scenarios and the recordings'
//! `scenario.txt`, parsed and, when small enough to run quickly, run on
//! the simulated machine with every step's invariants asserted.

use std::path::{Path, PathBuf};

use iomem_sim::{Action, Scenario, run};

const GIB: u64 = 1 << 30;

/// The recording whose steps' directories a fuzzed `scenario.txt` refers
/// to (its step names are the seeds').
fn recording_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/kernel/6.1.0-56-amd64/strict-sbm2M")
}

/// Small enough to run in milliseconds: devices of at most 16 GiB, at most
/// 12 steps and 96 actions in all, programs filling at most 256 MiB.
fn small(s: &Scenario) -> bool {
    let actions: usize = s.steps.iter().map(|st| st.actions.len()).sum();
    let filled: u64 = s
        .steps
        .iter()
        .flat_map(|st| &st.actions)
        .map(|a| match a {
            Action::Fill { mib, .. } => *mib,
            _ => 0,
        })
        .fold(0u64, u64::saturating_add);
    s.machine.devices.iter().all(|d| d.region_size <= 16 * GIB)
        && s.steps.len() <= 12
        && actions <= 12 * 8
        && filled <= 256
}

/// Input: a mode byte, then the text. Bit 0 of the mode: 0 a TOML scenario
/// (`iomem simulate FILE`), 1 a recording's `scenario.txt` (its steps'
/// directories taken from a real recording). A scenario that parses and is
/// small is run: the run may fail with an error (a step the machine
/// refuses), never panic, and every step it reports must keep the
/// machine's invariants (driver and device agree, no access to unplugged
/// memory, no lost byte, no `/dev/mem` verdict inside a device region).
pub fn scenario_files(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    // A TOML `root` names a captured system anywhere on this machine (`/`
    // would read the host's own /proc): runs would depend on the machine.
    if mode & 1 == 0 && text.contains("root") {
        return;
    }
    let parsed = if mode & 1 == 0 {
        Scenario::from_toml(text, Path::new("fuzz.toml"))
    } else {
        Scenario::from_recording_text(&recording_dir(), text)
    };
    let Ok(scenario) = parsed else { return };
    if !small(&scenario) {
        return;
    }
    let Ok(result) = run(&scenario, None, |_, _| {}) else { return };
    for report in &result.reports {
        assert!(report.invariants_hold(), "step {:?} breaks an invariant: {:?}", report.name, report.invariants);
    }
}
