//! `iomem check ADDR[-END|+LEN]...`: the `/dev/mem` verdicts of open,
//! read, write and mmap at each address, with the rule and the resource
//! that decided and what would change them.

use std::io::Write;

use anyhow::{Context, bail};
use iomem::{KernelProfile, Range};
use iomem_devmem::inputs::cap;
use iomem_devmem::{Access, Caller, Devmem, Explanation, HighMemory, HighMemorySource, Lockdown, OpenMode, Request};

use crate::cli::{CheckArgs, PolicyArgs};
use crate::output::check as out_check;
use crate::system::{System, load};

/// One address or range the user asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// As typed.
    pub(crate) start: u64,
    /// Last byte (inclusive).
    pub(crate) end: u64,
    /// Whether a length or end was given (else: one byte, one page for mmap).
    pub(crate) ranged: bool,
}

impl Target {
    /// The number of bytes covered (2^64 for the whole space).
    pub(crate) fn len(&self) -> u128 {
        u128::from(self.end - self.start) + 1
    }

    /// The byte count passed to read, write and mmap: the length, capped at
    /// `u64::MAX` (no call can name 2^64 bytes; read and write clamp the
    /// count far lower anyway).
    pub(crate) fn count(&self) -> u64 {
        u64::try_from(self.len()).unwrap_or(u64::MAX)
    }
}

/// The verdicts at one target.
pub(crate) struct Verdicts {
    /// The target.
    pub(crate) target: Target,
    /// open, read, write, mmap.
    pub(crate) accesses: Vec<Explanation>,
    /// The resources containing the start address, outermost first.
    pub(crate) containing: Vec<(String, Range)>,
    /// For a range: the runs of pages with the same whole-page results.
    pub(crate) runs: Vec<iomem_devmem::AccessRun>,
}

/// Parses a hex number (`0x` optional); lengths may end in K, M, G or T
/// (binary units, decimal number).
fn number(s: &str, length: bool) -> anyhow::Result<u64> {
    let t = s.trim();
    if length {
        for (suffix, shift) in [("K", 10), ("M", 20), ("G", 30), ("T", 40)] {
            if let Some(n) = t.strip_suffix(suffix).or_else(|| t.strip_suffix(&suffix.to_lowercase())) {
                let n: u64 = n.parse().with_context(|| format!("{s:?}: a length with a unit is a decimal number"))?;
                return n.checked_mul(1 << shift).with_context(|| format!("{s:?} does not fit in 64 bits"));
            }
        }
    }
    let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
    if hex.is_empty() {
        bail!("{s:?}: expected a hexadecimal number");
    }
    u64::from_str_radix(hex, 16).with_context(|| format!("{s:?}: not a 64-bit hexadecimal number"))
}

/// Parses `ADDR`, `ADDR-END` (inclusive) or `ADDR+LEN`.
pub(crate) fn parse_target(s: &str) -> anyhow::Result<Target> {
    if let Some((a, len)) = s.split_once('+') {
        let start = number(a, false)?;
        let len = number(len, true)?;
        if len == 0 {
            bail!("{s:?}: the length is zero");
        }
        let end = start
            .checked_add(len - 1)
            .with_context(|| format!("{s:?}: the range passes the end of the 64-bit space"))?;
        return Ok(Target { start, end, ranged: true });
    }
    if let Some((a, b)) = s.split_once('-') {
        let (start, end) = (number(a, false)?, number(b, false)?);
        if end < start {
            bail!("{s:?}: the end is below the start");
        }
        return Ok(Target { start, end, ranged: true });
    }
    let start = number(s, false)?;
    Ok(Target { start, end: start, ranged: false })
}

fn yes_no(key: &str, v: &str) -> anyhow::Result<bool> {
    match v {
        "y" | "yes" | "1" | "true" | "on" => Ok(true),
        "n" | "no" | "0" | "false" | "off" => Ok(false),
        _ => bail!("--assume {key}={v}: expected y or n"),
    }
}

/// The keys `--assume` understands, for messages.
pub(crate) const ASSUME_KEYS: &str = "iomem=relaxed|strict, STRICT_DEVMEM=y|n, IO_STRICT_DEVMEM=y|n, DEVMEM=y|n, \
     X86_PAT=y|n, lockdown=none|integrity|confidentiality, root, uid=N, cap_sys_rawio=y|n, high_memory=HEX, \
     phys_bits=N, kernel=RELEASE";

/// Applies one `--assume KEY=VALUE` to the loaded system.
pub(crate) fn apply_assumption(sys: &mut System, item: &str) -> anyhow::Result<()> {
    let (key, value) = item.split_once('=').unwrap_or((item, ""));
    let key_norm = key.trim().trim_start_matches("CONFIG_");
    let p = &mut sys.policy;
    match key_norm {
        "iomem" => {
            if !matches!(value, "relaxed" | "strict") {
                bail!("--assume iomem={value}: expected relaxed or strict");
            }
            sys.cmdline = format!("{} iomem={value}", sys.cmdline).trim().to_string();
            p.strict_iomem = iomem::cmdline::apply_iomem_param(p.strict_iomem, value);
        }
        "STRICT_DEVMEM" => {
            p.config.strict_devmem = yes_no(key, value)?;
            if !p.config.strict_devmem {
                p.config.io_strict_devmem = false;
            }
            p.strict_iomem = iomem::cmdline::strict_iomem_checks(p.config.strict_devmem, &sys.cmdline);
        }
        "IO_STRICT_DEVMEM" => p.config.io_strict_devmem = yes_no(key, value)? && p.config.strict_devmem,
        "DEVMEM" => {
            p.config.devmem = yes_no(key, value)?;
            if p.node.is_none() && p.config.devmem {
                p.node = Some(iomem_devmem::DeviceNode::DEFAULT);
            }
        }
        "X86_PAT" => p.config.x86_pat = yes_no(key, value)?,
        "lockdown" => {
            p.lockdown = Lockdown::parse(value)
                .with_context(|| format!("--assume lockdown={value}: expected none, integrity or confidentiality"))?
        }
        "root" => p.caller = Caller::root(),
        "uid" => {
            let uid: u32 = value.parse().with_context(|| format!("--assume uid={value}: expected a number"))?;
            p.caller = if uid == 0 { Caller::root() } else { Caller::user(uid, uid) };
        }
        "cap_sys_rawio" => {
            let on = yes_no(key, value)?;
            p.caller = p.caller.clone().with_cap(cap::SYS_RAWIO, on);
        }
        "high_memory" => {
            p.high_memory = HighMemory { addr: number(value, false)?, source: HighMemorySource::Given };
            sys.assumptions.retain(|a| !a.starts_with("high_memory"));
        }
        "phys_bits" => {
            let bits: u8 = value.parse().with_context(|| format!("--assume phys_bits={value}: expected a number"))?;
            match &mut p.arch {
                iomem_devmem::Arch::X86_64 { phys_bits } => *phys_bits = bits,
                iomem_devmem::Arch::Arm64 { pa_bits } => *pa_bits = bits,
                iomem_devmem::Arch::Generic => bail!("--assume phys_bits: the generic rule has no address width"),
            }
            sys.assumptions.retain(|a| !a.contains("physical address width"));
        }
        "kernel" => {
            let profile = KernelProfile::from_release(value)
                .with_context(|| format!("--assume kernel={value}: expected a release such as 6.1.0-56-amd64"))?;
            sys.dump.tree.set_profile(profile);
            sys.assumptions.retain(|a| !a.starts_with("kernel release"));
        }
        _ => bail!("--assume {item}: unknown; one of {ASSUME_KEYS}"),
    }
    Ok(())
}

/// Runs `check`.
pub(crate) fn run(args: &CheckArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let targets = args.addresses.iter().map(|a| parse_target(a)).collect::<anyhow::Result<Vec<_>>>()?;
    let sys = load_with_assumptions(&args.system, warn)?;
    let mode = OpenMode { write: !args.rdonly, sync: args.sync };
    let devmem = Devmem::new(&sys.dump.tree, sys.policy.clone());
    let assumed = assumed_flags(&sys);
    let mut results = Vec::new();
    for t in targets {
        let len = t.count();
        let mmap_len = if t.ranged { len } else { devmem.page_size() };
        let accesses = [(Access::Open, 0), (Access::Read, len), (Access::Write, len), (Access::Mmap, mmap_len)]
            .into_iter()
            .map(|(access, len)| {
                let mode = if access == Access::Write { OpenMode { write: true, ..mode } } else { mode };
                devmem.check(Request { access, addr: t.start, len, mode }, Some(&assumed))
            })
            .collect();
        let tree = &sys.dump.tree;
        let containing = tree
            .containing_chain(tree.iomem_root(), t.start)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|id| tree.get(id).ok().map(|v| (v.name.unwrap_or("<BAD>").to_string(), v.range)))
            .collect();
        let runs = if t.ranged { devmem.access_runs(Range::new(t.start, t.end), mode) } else { Vec::new() };
        results.push(Verdicts { target: t, accesses, containing, runs });
    }
    if args.json { out_check::json(&sys, &results, out) } else { out_check::text(&sys, mode, &results, out) }
}

/// Loads the system of `args`, prints its warnings and applies every
/// `--assume`.
pub(crate) fn load_with_assumptions(args: &PolicyArgs, warn: &mut dyn Write) -> anyhow::Result<System> {
    let mut sys = load(args.system.source.source(), &args.system.load_request())?;
    for w in &sys.warnings {
        writeln!(warn, "iomem: warning: {w}")?;
    }
    for a in &args.assume {
        apply_assumption(&mut sys, a)?;
    }
    Ok(sys)
}

/// The assumed flag bits of every resource, for explanations.
fn assumed_flags(sys: &System) -> std::collections::BTreeMap<iomem::ResourceId, iomem::Flags> {
    sys.flags.iter().map(|(id, inf)| (id, inf.assumed())).filter(|(_, a)| !a.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("0x1000").unwrap(), Target { start: 0x1000, end: 0x1000, ranged: false });
        assert_eq!(parse_target("fed00000").unwrap().start, 0xfed0_0000);
        assert_eq!(parse_target("0x1000-0x1fff").unwrap(), Target { start: 0x1000, end: 0x1fff, ranged: true });
        assert_eq!(parse_target("0x100000000+4K").unwrap().end, 0x1_0000_0fff);
        assert_eq!(parse_target("0+1000").unwrap().end, 0xfff);
        assert_eq!(parse_target("0x0+1M").unwrap().end, 0xf_ffff);
        assert!(parse_target("0x2000-0x1000").is_err());
        assert!(parse_target("0x+1").is_err());
        assert!(parse_target("0xffffffffffffffff+2").is_err());
        assert!(parse_target("0x10+0").is_err());
        assert!(parse_target("zz").is_err());
        assert!(parse_target("0x1+1.5K").is_err());
        let whole = parse_target("0-ffffffffffffffff").unwrap();
        assert_eq!((whole.len(), whole.count()), (1u128 << 64, u64::MAX));
    }
}
