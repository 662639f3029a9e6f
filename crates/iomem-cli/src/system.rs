//! A whole system for the `/dev/mem` questions: the tree with its flags,
//! and the policy inputs read from the same source (`/proc/cmdline`, the
//! kernel configuration, lockdown, the caller's credentials, the CPU's
//! physical address width, `high_memory` where a recording kept it), with
//! every input that had to be assumed listed.

use std::io::Read;

use iomem::infer::{Arch as InferArch, InferenceMap};
use iomem::procfs::ParsedDump;
use iomem_devmem::capture::{Assumption, SystemText, arch_from_config, policy_from_text};
use iomem_devmem::{Arch, HighMemory, HighMemorySource, Policy};

use crate::facts::KernelFacts;
use crate::flaginfo::{self, FlagsFrom};
use crate::load::{LoadError, parse_dump};
use crate::source::{DumpRequest, DumpText, Source, SourceError};

/// `sys/kernel/security/lockdown`.
pub(crate) const LOCKDOWN: &str = "sys/kernel/security/lockdown";
/// `proc/config.gz` (CONFIG_IKCONFIG_PROC).
pub(crate) const CONFIG_GZ: &str = "proc/config.gz";
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

/// A loaded system.
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
    /// Kernel facts (release, profile, architecture).
    pub(crate) facts: KernelFacts,
    /// The policy inputs.
    pub(crate) policy: Policy,
    /// Inputs that were assumed.
    pub(crate) assumptions: Vec<String>,
    /// The kernel command line, if known.
    pub(crate) cmdline: String,
    /// Warnings about optional files that could not be read.
    pub(crate) warnings: Vec<String>,
}

/// What to read.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoadRequest {
    /// Skip malformed dump lines.
    pub(crate) lenient: bool,
    /// Use `observed/iomem-flags.txt`.
    pub(crate) observed_flags: bool,
    /// `--kernel`.
    pub(crate) kernel: Option<String>,
    /// `--arch`.
    pub(crate) arch: Option<InferArch>,
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

fn text(source: &Source, rel: &str, warnings: &mut Vec<String>) -> Option<String> {
    match source.read(rel) {
        Ok(b) => b.map(|b| String::from_utf8_lossy(&b).into_owned()),
        Err(e) => {
            warnings.push(format!("{e} (ignored)"));
            None
        }
    }
}

/// Reads the kernel configuration: `boot/config-RELEASE`, else
/// `proc/config.gz`.
fn kernel_config(source: &Source, release: Option<&str>, warnings: &mut Vec<String>) -> Option<(String, String)> {
    if let Some(release) = release {
        let rel = format!("boot/config-{release}");
        if let Some(t) = text(source, &rel, warnings) {
            return Some((source.display_path(&rel), t));
        }
    }
    let gz = match source.read(CONFIG_GZ) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => {
            warnings.push(format!("{e} (ignored)"));
            return None;
        }
    };
    let mut out = String::new();
    match flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut out) {
        Ok(_) => Some((source.display_path(CONFIG_GZ), out)),
        Err(e) => {
            warnings.push(format!(
                "{}: not a gzip-compressed configuration: {e} (ignored)",
                source.display_path(CONFIG_GZ)
            ));
            None
        }
    }
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

/// A system's tree, parsed with its kernel's rules, before flags.
pub(crate) struct Tree {
    /// The dump as read.
    pub(crate) text: DumpText,
    /// The optional facts read beside it.
    pub(crate) info: crate::source::SystemInfo,
    /// What is known about the kernel.
    pub(crate) facts: KernelFacts,
    /// The parsed dump.
    pub(crate) dump: ParsedDump,
}

impl Tree {
    /// Gives the tree its flags: the annotated ones, or inferred ones.
    pub(crate) fn flags(&mut self) -> (InferenceMap, FlagsFrom) {
        if self.text.annotated {
            (flaginfo::exact(&self.dump.tree, self.dump.root), FlagsFrom::Annotations)
        } else {
            (flaginfo::infer(&mut self.dump.tree, self.dump.root, &self.facts), FlagsFrom::Inference)
        }
    }
}

/// Reads and parses a system's dump (`/proc/ioports` if `ioports`) with the
/// rules of its kernel.
pub(crate) fn read_tree(source: &Source, req: &LoadRequest, ioports: bool) -> Result<Tree, SystemError> {
    let text = source.dump(DumpRequest { ioports, observed_flags: req.observed_flags })?;
    let info = source.info(req.kernel.as_deref());
    let facts = KernelFacts::gather(source, &info, req.arch);
    let dump = parse_dump(&text, req.lenient, facts.tree_config()).map_err(Box::new)?;
    Ok(Tree { text, info, facts, dump })
}

/// Loads the tree and the policy inputs of a system.
pub(crate) fn load(source: Source, req: &LoadRequest) -> Result<System, SystemError> {
    let mut tree = read_tree(&source, req, false)?;
    let mut warnings: Vec<String> = tree.info.warnings.iter().map(|w| format!("{w} (ignored)")).collect();
    for e in &tree.dump.skipped {
        warnings.push(format!("{}: {e} (line skipped)", tree.text.path));
    }
    let (flags, flags_from) = tree.flags();
    let Tree { text: dump_text, info, facts, mut dump } = tree;
    dump.tree.set_profile(facts.profile.value);

    let config = kernel_config(&source, info.release.as_deref(), &mut warnings);
    let lockdown = text(&source, LOCKDOWN, &mut warnings);
    let cpuinfo = text(&source, CPUINFO, &mut warnings);
    let status = match &source {
        Source::Live => text(&source, "proc/self/status", &mut warnings),
        _ => text(&source, PROBE_CREDENTIALS, &mut warnings).as_deref().and_then(creds_as_status),
    };
    let devmem_node_exists = (source == Source::Live).then(|| std::path::Path::new("/dev/mem").exists());
    let osrelease = info.release.clone();
    let texts = SystemText {
        cmdline: info.cmdline.as_deref(),
        osrelease: osrelease.as_deref(),
        kernel_config: config.as_ref().map(|(_, t)| t.as_str()),
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
        Some(InferArch::Arm64) => {
            Some(config.as_ref().and_then(|(_, t)| arch_from_config(t)).unwrap_or(Arch::Arm64 { pa_bits: 48 }))
        }
        Some(InferArch::Other) => Some(Arch::Generic),
        None => None,
    };
    let capture = policy_from_text(&dump.tree, &texts, arch).map_err(|error| SystemError::Capture {
        path: match &error {
            iomem_devmem::capture::CaptureError::Config(_) => config.as_ref().map_or(String::new(), |(p, _)| p.clone()),
            iomem_devmem::capture::CaptureError::Lockdown(_) => source.display_path(LOCKDOWN),
            iomem_devmem::capture::CaptureError::Status => source.display_path("proc/self/status"),
        },
        error,
    })?;
    let mut policy = capture.policy;
    let mut assumptions: Vec<String> = capture.assumptions.into_iter().map(|Assumption { what }| what).collect();
    match text(&source, KERNEL_FUNCTIONS, &mut warnings).as_deref().and_then(recorded_high_memory) {
        Some(h) => policy.high_memory = HighMemory { addr: h, source: HighMemorySource::Recorded },
        None => assumptions.push(format!(
            "high_memory {:#x}: estimated as the end of the highest System RAM; the kernel raises it on memory \
             hot-add and never lowers it, so it may be higher",
            policy.high_memory.addr
        )),
    }
    if let Some(list) = text(&source, PAT_MEMTYPES, &mut warnings) {
        match iomem_devmem::Memtypes::parse_pat_memtype_list(&list) {
            Ok(m) => policy.memtypes = m,
            Err(e) => warnings.push(format!("{}: {e} (ignored)", source.display_path(PAT_MEMTYPES))),
        }
    }
    if matches!(source, Source::File(_)) {
        assumptions.push("a dump alone: kernel, configuration and caller are assumed".to_string());
    }
    Ok(System {
        source,
        path: dump_text.path,
        dump,
        flags,
        flags_from,
        facts,
        policy,
        assumptions,
        cmdline: info.cmdline.unwrap_or_default(),
        warnings,
    })
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
