//! A whole system for the `/dev/mem` questions: the tree with its flags,
//! and the policy inputs read from the same source (`/proc/cmdline`, the
//! kernel configuration, lockdown, the caller's credentials, the CPU's
//! physical address width, `high_memory` where a recording kept it), with
//! every input that had to be assumed listed.

use iomem::infer::{Arch as InferArch, InferenceMap};
use iomem::procfs::ParsedDump;
use iomem_devmem::capture::{Assumption, CaptureError, SystemText, arch_from_config, policy_from_text};
use iomem_devmem::{Arch, HighMemory, HighMemorySource, Policy};

use crate::facts::{Fact, KernelFacts};
use crate::flaginfo::{self, FlagsFrom};
use crate::load::{LoadError, parse_dump};
use crate::source::{DumpRequest, Source, SourceError};

/// `sys/kernel/security/lockdown`.
pub(crate) const LOCKDOWN: &str = "sys/kernel/security/lockdown";
/// `proc/cpuinfo`.
pub(crate) const CPUINFO: &str = "proc/cpuinfo";
/// The PAT memory-type reservations (debugfs, root only).
pub(crate) const PAT_MEMTYPES: &str = "sys/kernel/debug/x86/pat_memtype_list";
/// The recordings' credentials of the probe (fixtures/kernel/README.md).
pub(crate) const PROBE_CREDENTIALS: &str = "observed/probe-credentials.txt";
/// The recordings' kernel answers, whose first line holds `high_memory`.
pub(crate) const KERNEL_FUNCTIONS: &str = "observed/kernel-functions.tsv";

/// Physical address bits of the example's CPU (QEMU's `qemu64`).
const EXAMPLE_PHYS_BITS: u8 = 40;

/// A loaded system: the tree with its flags and the `/dev/mem` policy
/// inputs, read through one path for every command, with every input that
/// had to be assumed listed.
pub(crate) struct System {
    /// Where it came from.
    pub(crate) source: Source,
    /// The dump's path, for messages.
    pub(crate) path: String,
    /// The parsed tree (flags applied).
    pub(crate) dump: ParsedDump,
    /// The flags and their certainty.
    pub(crate) flags: InferenceMap,
    /// Where the flags came from.
    pub(crate) flags_from: FlagsFrom,
    /// Kernel facts (release, profile, architecture, `/dev/mem` options).
    pub(crate) facts: KernelFacts,
    /// The policy inputs.
    pub(crate) policy: Policy,
    /// Inputs that were assumed.
    pub(crate) assumptions: Vec<String>,
    /// The kernel command line, if known.
    pub(crate) cmdline: String,
    /// Warnings about optional files that could not be read, and skipped
    /// lines.
    pub(crate) warnings: Vec<String>,
    /// The kernel configuration was read (not assumed).
    config_known: bool,
    /// The kernel command line was read (not assumed).
    cmdline_known: bool,
}

/// What to read.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoadRequest {
    /// Skip malformed dump lines.
    pub(crate) lenient: bool,
    /// Use `observed/iomem-flags.txt`.
    pub(crate) observed_flags: bool,
    /// `--kernel` (already validated).
    pub(crate) kernel: Option<String>,
    /// `--arch`.
    pub(crate) arch: Option<InferArch>,
    /// Read `/proc/ioports` instead of `/proc/iomem`.
    pub(crate) ioports: bool,
}

/// Why a system cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SystemError {
    /// A file could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The dump cannot be used.
    #[error(transparent)]
    Load(#[from] Box<LoadError>),
    /// A policy input is malformed.
    #[error("{path}: {error}")]
    Capture {
        /// The file.
        path: String,
        /// What is wrong.
        error: iomem_devmem::capture::CaptureError,
    },
}

/// The recordings' `creds Uid=a,b,c,d CapPrm=… CapEff=…` line, turned into
/// the `/proc/self/status` form the policy reader takes.
fn creds_as_status(creds: &str) -> Option<String> {
    let line = creds.lines().find(|l| l.starts_with("creds "))?;
    let mut status = String::new();
    for field in line.split_whitespace().skip(1) {
        let (k, v) = field.split_once('=')?;
        match k {
            "Uid" => {
                let ids = v.replace(',', "\t");
                status.push_str(&format!("Uid:\t{ids}\nGid:\t{ids}\n"));
            }
            "CapEff" => status.push_str(&format!("CapEff:\t{v}\n")),
            _ => {}
        }
    }
    Some(status)
}

/// `high_memory` from a recording's `observed/kernel-functions.tsv`
/// (`# high_memory=0x… max_pfn=0x…`).
fn recorded_high_memory(tsv: &str) -> Option<u64> {
    let first = tsv.lines().next()?;
    let v = first.split_whitespace().find_map(|w| w.strip_prefix("high_memory=0x"))?;
    u64::from_str_radix(v, 16).ok()
}

/// Loads a system: its dump (`/proc/ioports` if asked), parsed with its
/// kernel's rules, the flags (annotated or inferred), and the policy inputs
/// read from the same source (`/proc/cmdline`, the kernel configuration,
/// lockdown, credentials, the CPU's address width, `high_memory` where a
/// recording kept it).
pub(crate) fn load(source: Source, req: &LoadRequest) -> Result<System, SystemError> {
    let text = source.dump(DumpRequest { ioports: req.ioports, observed_flags: req.observed_flags })?;
    let info = source.info(req.kernel.as_deref());
    let config_path = || info.config.as_ref().map_or(String::new(), |(p, _)| p.clone());
    let facts = KernelFacts::gather(&source, &info, req.arch)
        .map_err(|error| SystemError::Capture { path: config_path(), error })?;
    let mut dump = parse_dump(&text, req.lenient, facts.tree_config()).map_err(Box::new)?;
    let mut warnings: Vec<String> = info.warnings.iter().map(|w| format!("{w} (ignored)")).collect();
    for e in &dump.skipped {
        warnings.push(format!("{}: {e} (line skipped)", text.path));
    }
    let (flags, flags_from) = if text.annotated {
        (flaginfo::exact(&dump.tree, dump.root), FlagsFrom::Annotations)
    } else {
        (flaginfo::infer(&mut dump.tree, dump.root, &facts), FlagsFrom::Inference)
    };
    dump.tree.set_profile(facts.profile.value);

    let mut unreadable = Vec::new();
    let lockdown = source.text(LOCKDOWN, "lockdown file", &mut unreadable);
    let cpuinfo = source.text(CPUINFO, "cpuinfo", &mut unreadable);
    let status = match &source {
        Source::Live => source.text("proc/self/status", "process status", &mut unreadable),
        _ => source.text(PROBE_CREDENTIALS, "credentials record", &mut unreadable).as_deref().and_then(creds_as_status),
    };
    let devmem_node_exists = (source == Source::Live).then(|| std::path::Path::new("/dev/mem").exists());
    let texts = SystemText {
        cmdline: info.cmdline.as_deref(),
        osrelease: info.release.as_deref(),
        kernel_config: info.config.as_ref().map(|(_, t)| t.as_str()),
        lockdown: lockdown.as_deref(),
        proc_status: status.as_deref(),
        cpuinfo: cpuinfo.as_deref(),
        devmem_node_exists,
    };
    let arch = match facts.arch {
        // The example's CPU is QEMU's default x86 model (40 physical address
        // bits, fixtures/kernel/README.md); elsewhere cpuinfo tells.
        Some(InferArch::X86) if source == Source::Example => Some(Arch::X86_64 { phys_bits: EXAMPLE_PHYS_BITS }),
        Some(InferArch::X86) => Some(Arch::X86_64 { phys_bits: 46 }),
        Some(InferArch::Arm64) => Some(
            texts
                .kernel_config
                .and_then(|t| arch_from_config(t).ok().flatten())
                .filter(|a| !a.is_x86())
                .unwrap_or(Arch::Arm64 { pa_bits: 48 }),
        ),
        Some(InferArch::Other) => Some(Arch::Generic),
        None => None,
    };
    let capture = policy_from_text(&dump.tree, &texts, arch).map_err(|error| SystemError::Capture {
        path: match &error {
            CaptureError::Config(_) | CaptureError::PaBits(_) => config_path(),
            CaptureError::Arch(_) if texts.cpuinfo.is_some() && arch.is_some_and(Arch::is_x86) => {
                source.display_path(CPUINFO)
            }
            CaptureError::Arch(_) => config_path(),
            CaptureError::Lockdown(_) => source.display_path(LOCKDOWN),
            CaptureError::Status => source.display_path("proc/self/status"),
        },
        error,
    })?;
    let mut policy = capture.policy;
    let mut assumptions: Vec<String> = capture.assumptions.into_iter().map(|Assumption { what }| what).collect();
    match source
        .text(KERNEL_FUNCTIONS, "kernel answers record", &mut unreadable)
        .as_deref()
        .and_then(recorded_high_memory)
    {
        Some(h) => policy.high_memory = HighMemory { addr: h, source: HighMemorySource::Recorded },
        None if policy.high_memory.addr == 0 => assumptions.push(
            "high_memory unknown: the dump has no System RAM to estimate it from; read and write are judged as \
             the gate refusing everything (--assume high_memory=HEX to give it)"
                .to_string(),
        ),
        None => assumptions.push(format!(
            "high_memory {:#x}: estimated as the end of the highest System RAM; the kernel raises it on memory \
             hot-add and never lowers it, so it may be higher",
            policy.high_memory.addr
        )),
    }
    if let Some(list) = source.text(PAT_MEMTYPES, "PAT memory-type list", &mut unreadable) {
        match iomem_devmem::Memtypes::parse_pat_memtype_list(&list) {
            Ok(m) => policy.memtypes = m,
            Err(e) => warnings.push(format!("{}: {e} (ignored)", source.display_path(PAT_MEMTYPES))),
        }
    }
    warnings.extend(unreadable.iter().map(|w| format!("{w} (ignored)")));
    if matches!(source, Source::File(_)) {
        assumptions.push("a dump alone: kernel, configuration and caller are assumed".to_string());
    }
    let mut sys = System {
        source,
        path: text.path,
        dump,
        flags,
        flags_from,
        facts,
        policy,
        assumptions,
        cmdline: info.cmdline.clone().unwrap_or_default(),
        warnings,
        config_known: info.config.is_some(),
        cmdline_known: info.cmdline.is_some(),
    };
    sys.refresh_facts();
    Ok(sys)
}

impl System {
    /// Sets the shown `/dev/mem` facts from the policy (after loading, and
    /// after every `--assume`), so that every command states the same.
    pub(crate) fn refresh_facts(&mut self) {
        let p = &self.policy;
        self.facts.io_strict = Fact { value: p.config.io_strict_devmem, assumed: !self.config_known };
        self.facts.strict_checks = Fact { value: p.strict_iomem, assumed: !(self.config_known && self.cmdline_known) };
    }

    /// Records that an input is now given (by `--assume`), not assumed.
    pub(crate) fn given(&mut self, config: bool, cmdline: bool) {
        self.config_known |= config;
        self.cmdline_known |= cmdline;
        self.refresh_facts();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_credentials_become_status_lines() {
        let s =
            creds_as_status("creds Uid=0,0,0,0 CapPrm=000001fffffdffff CapEff=000001fffffdffff CapBnd=0\n").unwrap();
        let c = iomem_devmem::Caller::from_proc_status(&s).unwrap();
        assert_eq!(c.uid, 0);
        assert!(!c.has_cap(iomem_devmem::inputs::cap::SYS_RAWIO));
        assert!(c.has_cap(iomem_devmem::inputs::cap::DAC_OVERRIDE));
    }

    #[test]
    fn high_memory_line() {
        assert_eq!(recorded_high_memory("# high_memory=0x140000000 max_pfn=0x140000\n"), Some(0x1_4000_0000));
        assert_eq!(recorded_high_memory("address\tlabel\n"), None);
    }

    #[test]
    fn example_loads_with_recorded_facts() {
        let s = load(Source::Example, &LoadRequest::default()).unwrap();
        assert!(s.policy.strict_iomem);
        assert!(s.policy.config.io_strict_devmem);
        assert_eq!(s.policy.lockdown, iomem_devmem::Lockdown::None);
    }
}
