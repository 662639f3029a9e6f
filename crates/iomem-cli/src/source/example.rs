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
];

/// An embedded file by its path relative to the system root.
pub(crate) fn file(rel: &str) -> Option<&'static str> {
    FILES.iter().find(|(name, _)| *name == rel).map(|(_, text)| *text)
}
