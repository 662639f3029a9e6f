//! The built-in example: a real captured system, embedded verbatim from the
//! project's recordings (fixtures/kernel/README.md), not an invented map.
//!
//! QEMU 7.2 `pc` guest (2 GiB boot RAM) running Debian's 6.1.0-56-amd64
//! kernel with `iomem=strict`, one virtio-mem device (4 GiB region at
//! 0x100000000, 2 MiB device blocks), first grown to 1 GiB and then shrunk
//! to 300 MiB: 300 MiB are plugged and three 128 MiB memory blocks
//! (384 MiB) stay added as `System RAM (virtio_mem)`. The real resource
//! flags come from the recording's `observed/iomem-flags.txt`.

/// The recording step the files come from, relative to the repository root.
pub(crate) const STEP: &str = "fixtures/kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M";

/// One line saying what the example is.
pub(crate) const SUMMARY: &str = "QEMU pc guest, Debian 6.1.0-56-amd64, virtio-mem with 300 MiB plugged";

/// Where the example comes from, for headers and help (two lines).
pub(crate) const PROVENANCE: [&str; 2] = [
    "Recorded: QEMU 7.2 pc guest, Debian 6.1.0-56-amd64, iomem=strict; virtio-mem 4 GiB, grown to 1 GiB, shrunk to 300 MiB",
    "Files: fixtures/kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M (flags read from the running kernel)",
];

macro_rules! recorded {
    ($rel:literal) => {
        ($rel, include_str!(concat!("../../../../fixtures/kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M/", $rel)))
    };
}

/// The embedded files, by path relative to the captured system's root.
const FILES: &[(&str, &str)] = &[
    recorded!("proc/iomem"),
    recorded!("proc/cmdline"),
    recorded!("proc/sys/kernel/osrelease"),
    recorded!("boot/config-6.1.0-56-amd64"),
    recorded!("sys/kernel/security/lockdown"),
    recorded!("observed/iomem-flags.txt"),
    recorded!("observed/kernel-functions.tsv"),
    recorded!("sys/devices/system/memory/block_size_bytes"),
    recorded!("sys/devices/system/memory/auto_online_blocks"),
    recorded!("sys/devices/system/memory/memory0/state"),
    recorded!("sys/devices/system/memory/memory0/phys_index"),
    recorded!("sys/devices/system/memory/memory0/valid_zones"),
    recorded!("sys/devices/system/memory/memory1/state"),
    recorded!("sys/devices/system/memory/memory1/phys_index"),
    recorded!("sys/devices/system/memory/memory1/valid_zones"),
    recorded!("sys/devices/system/memory/memory2/state"),
    recorded!("sys/devices/system/memory/memory2/phys_index"),
    recorded!("sys/devices/system/memory/memory2/valid_zones"),
    recorded!("sys/devices/system/memory/memory3/state"),
    recorded!("sys/devices/system/memory/memory3/phys_index"),
    recorded!("sys/devices/system/memory/memory3/valid_zones"),
    recorded!("sys/devices/system/memory/memory4/state"),
    recorded!("sys/devices/system/memory/memory4/phys_index"),
    recorded!("sys/devices/system/memory/memory4/valid_zones"),
    recorded!("sys/devices/system/memory/memory5/state"),
    recorded!("sys/devices/system/memory/memory5/phys_index"),
    recorded!("sys/devices/system/memory/memory5/valid_zones"),
    recorded!("sys/devices/system/memory/memory6/state"),
    recorded!("sys/devices/system/memory/memory6/phys_index"),
    recorded!("sys/devices/system/memory/memory6/valid_zones"),
    recorded!("sys/devices/system/memory/memory7/state"),
    recorded!("sys/devices/system/memory/memory7/phys_index"),
    recorded!("sys/devices/system/memory/memory7/valid_zones"),
    recorded!("sys/devices/system/memory/memory8/state"),
    recorded!("sys/devices/system/memory/memory8/phys_index"),
    recorded!("sys/devices/system/memory/memory8/valid_zones"),
    recorded!("sys/devices/system/memory/memory9/state"),
    recorded!("sys/devices/system/memory/memory9/phys_index"),
    recorded!("sys/devices/system/memory/memory9/valid_zones"),
    recorded!("sys/devices/system/memory/memory10/state"),
    recorded!("sys/devices/system/memory/memory10/phys_index"),
    recorded!("sys/devices/system/memory/memory10/valid_zones"),
    recorded!("sys/devices/system/memory/memory11/state"),
    recorded!("sys/devices/system/memory/memory11/phys_index"),
    recorded!("sys/devices/system/memory/memory11/valid_zones"),
    recorded!("sys/devices/system/memory/memory12/state"),
    recorded!("sys/devices/system/memory/memory12/phys_index"),
    recorded!("sys/devices/system/memory/memory12/valid_zones"),
    recorded!("sys/devices/system/memory/memory13/state"),
    recorded!("sys/devices/system/memory/memory13/phys_index"),
    recorded!("sys/devices/system/memory/memory13/valid_zones"),
    recorded!("sys/devices/system/memory/memory14/state"),
    recorded!("sys/devices/system/memory/memory14/phys_index"),
    recorded!("sys/devices/system/memory/memory14/valid_zones"),
    recorded!("sys/devices/system/memory/memory15/state"),
    recorded!("sys/devices/system/memory/memory15/phys_index"),
    recorded!("sys/devices/system/memory/memory15/valid_zones"),
    recorded!("sys/devices/system/memory/memory32/state"),
    recorded!("sys/devices/system/memory/memory32/phys_index"),
    recorded!("sys/devices/system/memory/memory32/valid_zones"),
    recorded!("sys/devices/system/memory/memory33/state"),
    recorded!("sys/devices/system/memory/memory33/phys_index"),
    recorded!("sys/devices/system/memory/memory33/valid_zones"),
    recorded!("sys/devices/system/memory/memory34/state"),
    recorded!("sys/devices/system/memory/memory34/phys_index"),
    recorded!("sys/devices/system/memory/memory34/valid_zones"),
];

/// An embedded file by its path relative to the system root.
pub(crate) fn file(rel: &str) -> Option<&'static str> {
    FILES.iter().find(|(name, _)| *name == rel).map(|(_, text)| *text)
}

/// The names in an embedded directory (`None` if there is none).
pub(crate) fn list(rel: &str) -> Option<Vec<String>> {
    let prefix = format!("{}/", rel.trim_end_matches('/'));
    let mut names: Vec<String> = FILES
        .iter()
        .filter_map(|(name, _)| name.strip_prefix(&prefix))
        .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
        .collect();
    names.sort();
    names.dedup();
    (!names.is_empty()).then_some(names)
}
