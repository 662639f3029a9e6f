//! `iomem check ADDR[-END|+LEN]...`: the `/dev/mem` verdicts of open,
//! read, write and mmap at each address, with the rule and the resource
//! that decided and what would change them.

use std::io::Write;

use anyhow::{Context, bail};
use iomem::Range;
use iomem_devmem::{Access, Devmem, Explanation, OpenMode, Request};

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
pub(crate) struct Verdicts<'a> {
    /// The target.
    pub(crate) target: Target,
    /// open, read, write, mmap.
    pub(crate) accesses: Vec<Explanation>,
    /// The resources containing the start address, outermost first.
    pub(crate) containing: Vec<(String, Range)>,
    /// For a range: the runs of pages with the same whole-page results,
    /// produced as they are printed (a range may hold a million).
    pub(crate) runs: Box<dyn Iterator<Item = iomem_devmem::AccessRun> + 'a>,
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
    crate::assume::parse_hex(t).map_err(anyhow::Error::msg)
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

/// Runs `check`.
pub(crate) fn run(args: &CheckArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    // An address that cannot be one is a usage error (exit status 2).
    let targets = args
        .addresses
        .iter()
        .map(|a| parse_target(a))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|e| crate::cli::UsageError(format!("{e:#}")))?;
    let sys = load_with_assumptions(&args.system, false, warn)?;
    let mode = OpenMode { write: !args.rdonly, sync: args.sync };
    let devmem = Devmem::new(&sys.dump.tree, sys.policy.clone());
    let assumed = |id| sys.flags.get(id).map_or(iomem::Flags::empty(), |inf| inf.assumed());
    let tree = &sys.dump.tree;
    let judge = |t: &Target| {
        let len = t.count();
        let mmap_len = if t.ranged { len } else { devmem.page_size() };
        let accesses = [(Access::Open, 0), (Access::Read, len), (Access::Write, len), (Access::Mmap, mmap_len)]
            .into_iter()
            .map(|(access, len)| {
                let mode = if access == Access::Write { OpenMode { write: true, ..mode } } else { mode };
                devmem.check(Request { access, addr: t.start, len, mode }, Some(&assumed as &dyn Fn(_) -> _))
            })
            .collect();
        let containing = tree
            .containing_chain(tree.iomem_root(), t.start)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|id| tree.get(id).ok().map(|v| (v.name.unwrap_or("<BAD>").to_string(), v.range)))
            .collect();
        let runs: Box<dyn Iterator<Item = _>> = if t.ranged {
            Box::new(devmem.access_runs_iter(Range::new(t.start, t.end), mode))
        } else {
            Box::new(std::iter::empty())
        };
        Verdicts { target: *t, accesses, containing, runs }
    };
    let results = targets.iter().map(judge);
    if args.json { out_check::json(&sys, results, out) } else { out_check::text(&sys, mode, results, out) }
}

/// Loads the system of `args` (its `/proc/ioports` if `ioports`), prints
/// its warnings and applies every `--assume`: the one path every command
/// reads a system by.
pub(crate) fn load_with_assumptions(args: &PolicyArgs, ioports: bool, warn: &mut dyn Write) -> anyhow::Result<System> {
    let mut sys = load(args.system.source.source(), &args.system.load_request(ioports))?;
    for w in &sys.warnings {
        writeln!(warn, "iomem: warning: {w}")?;
    }
    for a in &args.assume {
        crate::assume::apply(&mut sys, a)?;
    }
    Ok(sys)
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
