//! "What if": `--assume KEY=VALUE` and `--kernel RELEASE`, parsed and
//! validated once, when the command line is read (a bad value is a usage
//! error, exit status 2), then applied to a loaded [`System`] through the
//! same inputs a real reading fills, so every command answers "what if"
//! questions by the same path as real ones.

use iomem::KernelProfile;
use iomem::cmdline::{apply_iomem_param, strict_iomem_checks};
use iomem_devmem::inputs::cap;
use iomem_devmem::{Arch, Caller, HighMemory, HighMemorySource, Lockdown};

use crate::system::System;

/// The keys `--assume` understands, for messages.
pub(crate) const KEYS: &str = "iomem=relaxed|strict, STRICT_DEVMEM=y|n, IO_STRICT_DEVMEM=y|n, DEVMEM=y|n, \
     X86_PAT=y|n, lockdown=none|integrity|confidentiality, root, uid=N, cap_sys_rawio=y|n, high_memory=HEX, \
     phys_bits=N, kernel=RELEASE";

/// One validated `--assume`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Assume {
    /// `iomem=relaxed` or `iomem=strict` on the command line.
    Iomem(&'static str),
    /// `CONFIG_STRICT_DEVMEM`.
    StrictDevmem(bool),
    /// `CONFIG_IO_STRICT_DEVMEM`.
    IoStrictDevmem(bool),
    /// `CONFIG_DEVMEM`.
    Devmem(bool),
    /// `CONFIG_X86_PAT`.
    X86Pat(bool),
    /// The lockdown level.
    Lockdown(Lockdown),
    /// The caller is root with every capability.
    Root,
    /// The caller has this uid (0: root).
    Uid(u32),
    /// The caller has CAP_SYS_RAWIO or not.
    CapSysRawio(bool),
    /// `high_memory`.
    HighMemory(u64),
    /// The physical address width (checked against the architecture when
    /// applied).
    PhysBits(u8),
    /// The kernel release whose rules apply.
    Kernel(String),
}

fn yes_no(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "y" | "yes" | "1" | "true" | "on" => Ok(true),
        "n" | "no" | "0" | "false" | "off" => Ok(false),
        _ => Err(format!("{key}={v}: expected y or n")),
    }
}

/// Validates a kernel release (`--kernel`, `--assume kernel=`): it must
/// name a version (`6.1.0-56-amd64`, `5.15`).
pub(crate) fn parse_release(release: &str) -> Result<String, String> {
    let r = release.trim();
    match KernelProfile::from_release(r) {
        Some(_) => Ok(r.to_string()),
        None => Err(format!("{release:?} is not a kernel release (expected one such as 6.1.0-56-amd64 or 5.15)")),
    }
}

/// Parses a hex number (`0x` optional).
pub(crate) fn parse_hex(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
    if hex.is_empty() {
        return Err(format!("{s:?}: expected a hexadecimal number"));
    }
    u64::from_str_radix(hex, 16).map_err(|_| format!("{s:?}: not a 64-bit hexadecimal number"))
}

fn need<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("{key}: expected {key}=VALUE"))
}

/// Parses one `--assume KEY=VALUE` (the clap value parser).
pub(crate) fn parse(item: &str) -> Result<Assume, String> {
    let (key, value) = match item.split_once('=') {
        Some((k, v)) => (k.trim(), Some(v.trim())),
        None => (item.trim(), None),
    };
    let key_norm = key.trim_start_matches("CONFIG_");
    let a = match key_norm {
        "iomem" => match need(key, value)? {
            "relaxed" => Assume::Iomem("relaxed"),
            "strict" => Assume::Iomem("strict"),
            v => return Err(format!("iomem={v}: expected relaxed or strict")),
        },
        "STRICT_DEVMEM" => Assume::StrictDevmem(yes_no(key, need(key, value)?)?),
        "IO_STRICT_DEVMEM" => Assume::IoStrictDevmem(yes_no(key, need(key, value)?)?),
        "DEVMEM" => Assume::Devmem(yes_no(key, need(key, value)?)?),
        "X86_PAT" => Assume::X86Pat(yes_no(key, need(key, value)?)?),
        "lockdown" => {
            let v = need(key, value)?;
            Assume::Lockdown(
                Lockdown::parse(v)
                    .ok_or_else(|| format!("lockdown={v}: expected none, integrity or confidentiality"))?,
            )
        }
        "root" => match value {
            None => Assume::Root,
            Some(v) if yes_no(key, v) == Ok(true) => Assume::Root,
            Some(v) => {
                return Err(format!("root={v}: `root` takes no value (or y); for another caller use uid=N"));
            }
        },
        "uid" => {
            let v = need(key, value)?;
            Assume::Uid(v.parse().map_err(|_| format!("uid={v}: expected a number"))?)
        }
        "cap_sys_rawio" => Assume::CapSysRawio(yes_no(key, need(key, value)?)?),
        "high_memory" => Assume::HighMemory(parse_hex(need(key, value)?).map_err(|e| format!("high_memory: {e}"))?),
        "phys_bits" => {
            let v = need(key, value)?;
            Assume::PhysBits(v.parse().map_err(|_| format!("phys_bits={v}: expected a number of bits"))?)
        }
        "kernel" => Assume::Kernel(parse_release(need(key, value)?).map_err(|e| format!("kernel={e}"))?),
        _ => return Err(format!("{item:?} is unknown; one of {KEYS}")),
    };
    Ok(a)
}

/// Why an assumption cannot apply to the loaded system.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AssumeError {
    /// The architecture has no address width to set.
    #[error("--assume phys_bits: the generic rule has no physical address width")]
    NoWidth,
    /// The width is impossible for the architecture.
    #[error("--assume phys_bits: {0}")]
    Width(#[from] iomem_devmem::ArchError),
}

/// Applies one assumption to a loaded system.
pub(crate) fn apply(sys: &mut System, a: &Assume) -> Result<(), AssumeError> {
    let p = &mut sys.policy;
    let (mut config, mut cmdline) = (false, false);
    match a {
        Assume::Iomem(value) => {
            sys.cmdline = format!("{} iomem={value}", sys.cmdline).trim().to_string();
            p.strict_iomem = apply_iomem_param(p.strict_iomem, value);
            cmdline = true;
            sys.assumptions.retain(|a| !a.starts_with("kernel command line"));
        }
        Assume::StrictDevmem(on) => {
            p.config.strict_devmem = *on;
            if !on {
                p.config.io_strict_devmem = false;
            }
            p.strict_iomem = strict_iomem_checks(*on, &sys.cmdline);
            config = true;
        }
        Assume::IoStrictDevmem(on) => {
            p.config.io_strict_devmem = *on && p.config.strict_devmem;
            config = true;
        }
        Assume::Devmem(on) => {
            p.config.devmem = *on;
            if p.node.is_none() && *on {
                p.node = Some(iomem_devmem::DeviceNode::DEFAULT);
            }
        }
        Assume::X86Pat(on) => p.config.x86_pat = *on,
        Assume::Lockdown(l) => {
            p.lockdown = *l;
            sys.assumptions.retain(|a| !a.starts_with("lockdown"));
        }
        Assume::Root => {
            p.caller = Caller::root();
            sys.assumptions.retain(|a| !a.starts_with("caller"));
        }
        Assume::Uid(uid) => {
            p.caller = if *uid == 0 { Caller::root() } else { Caller::user(*uid, *uid) };
            sys.assumptions.retain(|a| !a.starts_with("caller"));
        }
        Assume::CapSysRawio(on) => p.caller = p.caller.clone().with_cap(cap::SYS_RAWIO, *on),
        Assume::HighMemory(h) => {
            p.high_memory = HighMemory { addr: *h, source: HighMemorySource::Given };
            sys.assumptions.retain(|a| !a.starts_with("high_memory"));
        }
        Assume::PhysBits(bits) => {
            let arch = match p.arch {
                Arch::X86_64 { .. } => Arch::X86_64 { phys_bits: *bits },
                Arch::Arm64 { .. } => Arch::Arm64 { pa_bits: *bits },
                Arch::Generic => return Err(AssumeError::NoWidth),
            };
            p.arch = arch.validate()?;
            sys.assumptions.retain(|a| !a.contains("physical address width"));
        }
        Assume::Kernel(release) => {
            // Validated when parsed.
            if let Some(profile) = KernelProfile::from_release(release) {
                sys.dump.tree.set_profile(profile);
                sys.facts.profile = crate::facts::Fact { value: profile, assumed: false };
                sys.facts.release = Some(release.clone());
            }
            sys.assumptions.retain(|a| !a.starts_with("kernel release"));
        }
    }
    sys.given(config, cmdline);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_validated_when_parsed() {
        assert_eq!(parse("root"), Ok(Assume::Root));
        assert_eq!(parse("root=y"), Ok(Assume::Root));
        assert!(parse("root=0").unwrap_err().contains("uid=N"));
        assert!(parse("root=n").is_err());
        assert_eq!(parse("CONFIG_STRICT_DEVMEM=n"), Ok(Assume::StrictDevmem(false)));
        assert!(parse("STRICT_DEVMEM").is_err());
        assert!(parse("STRICT_DEVMEM=maybe").is_err());
        assert!(parse("kernel=abc").is_err());
        assert_eq!(parse("kernel=6.1.0-56-amd64"), Ok(Assume::Kernel("6.1.0-56-amd64".into())));
        assert!(parse("phys_bits=x").is_err());
        assert_eq!(parse("phys_bits=0"), Ok(Assume::PhysBits(0)), "checked against the architecture when applied");
        assert_eq!(parse("high_memory=0x140000000"), Ok(Assume::HighMemory(0x1_4000_0000)));
        assert!(parse("high_memory=").is_err());
        assert!(parse("colour=blue").unwrap_err().contains("one of"));
        // --kernel and --assume kernel= agree.
        assert!(parse_release("garbage").is_err());
        assert!(parse_release("6.12.117+deb12-amd64").is_ok());
    }
}
