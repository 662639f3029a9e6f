//! Building a [`Policy`] from the text files of a Linux machine (live or
//! captured): `/proc/cmdline`, `/proc/sys/kernel/osrelease`, the kernel
//! configuration, `/sys/kernel/security/lockdown`, `/proc/self/status`,
//! `/proc/cpuinfo`. Pure functions over the texts; reading the files is the
//! caller's job. Every input that is missing and had to be assumed is
//! reported.

use alloc::string::String;
use alloc::vec::Vec;

use iomem::{KernelProfile, ResourceTree};

use crate::inputs::{Arch, Caller, KernelConfig, Lockdown, parse_kernel_config};
use crate::policy::Policy;

/// The texts read from a machine; `None` where a file was absent or
/// unreadable.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemText<'a> {
    /// `/proc/cmdline`.
    pub cmdline: Option<&'a str>,
    /// `/proc/sys/kernel/osrelease`.
    pub osrelease: Option<&'a str>,
    /// The kernel configuration (`/proc/config.gz` decompressed, or
    /// `/boot/config-<release>`).
    pub kernel_config: Option<&'a str>,
    /// `/sys/kernel/security/lockdown`.
    pub lockdown: Option<&'a str>,
    /// `/proc/self/status` of the process whose access is judged.
    pub proc_status: Option<&'a str>,
    /// `/proc/cpuinfo` (x86: `address sizes : N bits physical`).
    pub cpuinfo: Option<&'a str>,
    /// Whether `/dev/mem` exists (`None`: unknown, assume it does when
    /// CONFIG_DEVMEM is set).
    pub devmem_node_exists: Option<bool>,
}

/// An input that had to be assumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assumption {
    /// What was assumed, as a short sentence.
    pub what: String,
}

/// The policy and kernel profile read from a machine.
#[derive(Clone, Debug)]
pub struct SystemPolicy {
    /// The policy inputs.
    pub policy: Policy,
    /// The kernel profile (from the release string; mainline if unknown).
    pub profile: KernelProfile,
    /// What had to be assumed.
    pub assumptions: Vec<Assumption>,
}

/// Problems in the texts that make them unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The kernel configuration is malformed.
    #[error(transparent)]
    Config(#[from] crate::inputs::ConfigError),
    /// The lockdown file has no recognisable level (an excerpt of it).
    #[error("no lockdown level (none, integrity, confidentiality) in {0:?}")]
    Lockdown(String),
    /// `CONFIG_ARM64_PA_BITS` is not a number (an excerpt of its value).
    #[error("CONFIG_ARM64_PA_BITS={0:?} is not a number")]
    PaBits(String),
    /// The configuration or the CPU gives an impossible address width.
    #[error(transparent)]
    Arch(#[from] crate::inputs::ArchError),
    /// `/proc/self/status` lacks Uid/Gid/CapEff.
    #[error("status file lacks Uid, Gid or CapEff lines")]
    Status,
}

fn assume(list: &mut Vec<Assumption>, what: &str) {
    list.push(Assumption { what: what.into() });
}

/// The architecture named by a kernel configuration (`CONFIG_X86_64=y`,
/// `CONFIG_ARM64=y`), with arm64's `CONFIG_ARM64_PA_BITS` (48 when the file
/// does not say). An impossible or unreadable width is an error.
pub fn arch_from_config(config: &str) -> Result<Option<Arch>, CaptureError> {
    let mut arm64 = false;
    let mut x86 = false;
    let mut pa_bits = 48u8;
    for line in config.lines() {
        match line.trim() {
            "CONFIG_X86_64=y" => x86 = true,
            "CONFIG_ARM64=y" => arm64 = true,
            l => {
                if let Some(v) = l.strip_prefix("CONFIG_ARM64_PA_BITS=") {
                    pa_bits = v.parse().map_err(|_| CaptureError::PaBits(excerpt(v)))?;
                }
            }
        }
    }
    if x86 {
        Ok(Some(Arch::X86_64 { phys_bits: 46 }))
    } else if arm64 {
        Ok(Some(Arch::Arm64 { pa_bits }.validate()?))
    } else {
        Ok(None)
    }
}

/// At most [`EXCERPT_CHARS`] characters of a text, for error messages
/// (a file may hold anything, an error must stay one short line).
pub fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().nth(EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// How many characters of a file an error message quotes.
pub const EXCERPT_CHARS: usize = 60;

/// x86 physical address bits from `/proc/cpuinfo`
/// (`address sizes : 40 bits physical, 48 bits virtual`).
pub fn phys_bits_from_cpuinfo(cpuinfo: &str) -> Option<u8> {
    cpuinfo.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        if key.trim() != "address sizes" {
            return None;
        }
        value.split(',').find_map(|part| part.trim().strip_suffix(" bits physical")?.trim().parse().ok())
    })
}

/// Reads the policy of a machine from its texts. `arch` overrides the
/// architecture found in the configuration (needed when there is none).
pub fn policy_from_text(
    tree: &ResourceTree,
    texts: &SystemText<'_>,
    arch: Option<Arch>,
) -> Result<SystemPolicy, CaptureError> {
    let mut assumptions = Vec::new();
    let profile = match texts.osrelease.and_then(KernelProfile::from_release) {
        Some(p) => p,
        None => {
            assume(&mut assumptions, "kernel release unknown: assuming current mainline rules");
            KernelProfile::mainline()
        }
    };
    let config = match texts.kernel_config {
        Some(text) => {
            let parsed = parse_kernel_config(text)?;
            for d in parsed.defaulted {
                assumptions.push(Assumption {
                    what: alloc::format!("CONFIG_{d} not in the kernel config: assuming its Kconfig default"),
                });
            }
            parsed.config
        }
        None => {
            assume(
                &mut assumptions,
                "kernel config not found: assuming Debian's (DEVMEM, STRICT_DEVMEM, IO_STRICT_DEVMEM, X86_PAT all set)",
            );
            KernelConfig::DEBIAN
        }
    };
    let from_config = match texts.kernel_config {
        Some(c) => arch_from_config(c)?,
        None => None,
    };
    let mut arch = match arch.or(from_config) {
        Some(a) => a,
        None => {
            assume(&mut assumptions, "architecture unknown: assuming x86-64");
            Arch::X86_64 { phys_bits: 46 }
        }
    };
    if let Arch::X86_64 { phys_bits } = &mut arch {
        match texts.cpuinfo.and_then(phys_bits_from_cpuinfo) {
            Some(b) => *phys_bits = Arch::X86_64 { phys_bits: b }.validate().map(|_| b)?,
            None if *phys_bits == 46 => {
                assume(&mut assumptions, "CPU physical address width unknown: assuming 46 bits");
            }
            None => {}
        }
    }
    let lockdown = match texts.lockdown {
        Some(t) => Lockdown::parse(t).ok_or_else(|| CaptureError::Lockdown(excerpt(t.trim())))?,
        None => {
            assume(&mut assumptions, "lockdown state unknown (securityfs not readable): assuming none");
            Lockdown::None
        }
    };
    let caller = match texts.proc_status {
        Some(t) => Caller::from_proc_status(t).ok_or(CaptureError::Status)?,
        None => {
            assume(&mut assumptions, "caller unknown: judging access for root with all capabilities");
            Caller::root()
        }
    };
    let cmdline = texts.cmdline.unwrap_or_else(|| {
        assume(&mut assumptions, "kernel command line unknown: assuming no iomem= option");
        ""
    });
    let arch = arch.validate()?;
    let mut policy = Policy::new(tree, arch).with_config(config, cmdline);
    policy.lockdown = lockdown;
    policy.caller = caller;
    if texts.devmem_node_exists == Some(false) {
        policy.node = None;
    }
    Ok(SystemPolicy { policy, profile, assumptions })
}
