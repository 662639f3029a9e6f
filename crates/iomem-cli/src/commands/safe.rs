//! `iomem safe`: what a memory-acquisition tool may read through
//! `/dev/mem`, and the System RAM it cannot.

use std::io::Write;

use iomem::Range;
use iomem_devmem::{Devmem, ForbiddenRam, RamDenial};
use serde::Serialize;

use crate::cli::SafeArgs;
use crate::commands::check::load_with_assumptions;
use crate::output::text::{escape, write_wrapped};

#[derive(Serialize)]
struct RangeJson {
    start: String,
    end: String,
}

#[derive(Serialize)]
struct ForbiddenJson {
    start: String,
    end: String,
    why: &'static str,
    /// The errno a read gets; `null` where the kernel would let it through
    /// (a device region on an unprotected configuration: do not read it).
    errno: Option<&'static str>,
    kernel_allows_read: bool,
    kernel_allows_mmap: bool,
    resource: Option<String>,
}

#[derive(Serialize)]
struct RegionJson {
    start: String,
    end: String,
    resource: String,
}

#[derive(Serialize)]
struct SafeJson {
    readable: Vec<RangeJson>,
    zero_filled: Vec<RangeJson>,
    mappable: Vec<RangeJson>,
    forbidden_ram: Vec<ForbiddenJson>,
    device_regions: Vec<RegionJson>,
    assumptions: Vec<String>,
}

fn why(f: &ForbiddenRam) -> &'static str {
    match f.why {
        RamDenial::DeviceManagedRegion => "device-managed-region",
        RamDenial::Ram => "ram",
        RamDenial::Gate => "read-gate",
    }
}

fn hex_range(r: &Range) -> RangeJson {
    RangeJson { start: format!("{:#x}", r.start), end: format!("{:#x}", r.end) }
}

/// Runs `safe`.
pub(crate) fn run(args: &SafeArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let sys = load_with_assumptions(&args.system, false, warn)?;
    let devmem = Devmem::new(&sys.dump.tree, sys.policy.clone());
    let opened = devmem.open(iomem_devmem::OpenMode::RDWR);
    let s = devmem.safe_ranges(Range::FULL);
    let name = |f: &ForbiddenRam| {
        f.resource.and_then(|id| sys.dump.tree.get(id).ok()).map(|v| v.name.unwrap_or("<BAD>").to_string())
    };
    let region_name = |id| sys.dump.tree.get(id).ok().and_then(|v| v.name).unwrap_or("<BAD>").to_string();
    if args.json {
        let doc = SafeJson {
            readable: s.readable.iter().map(hex_range).collect(),
            zero_filled: s.zero_filled.iter().map(hex_range).collect(),
            mappable: s.mappable.iter().map(hex_range).collect(),
            forbidden_ram: s
                .forbidden_ram
                .iter()
                .map(|f| ForbiddenJson {
                    start: format!("{:#x}", f.range.start),
                    end: format!("{:#x}", f.range.end),
                    why: why(f),
                    errno: f.errno.map(|e| e.name()),
                    kernel_allows_read: f.errno.is_none(),
                    kernel_allows_mmap: f.kernel_maps,
                    resource: name(f),
                })
                .collect(),
            device_regions: s
                .device_regions
                .iter()
                .map(|g| RegionJson {
                    start: format!("{:#x}", g.range.start),
                    end: format!("{:#x}", g.range.end),
                    resource: region_name(g.resource),
                })
                .collect(),
            assumptions: sys.assumptions.clone(),
        };
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(());
    }
    write_wrapped(out, &escape(&format!("system: {} ({})", sys.source.describe(), sys.path)), 2)?;
    for a in &sys.assumptions {
        write_wrapped(out, &escape(&format!("assumed: {a}")), 2)?;
    }
    if opened.result.is_err() {
        let note = format!(
            "note: opening /dev/mem fails here ({}): the lists say what the policy allows once it can be opened",
            opened.result_name()
        );
        write_wrapped(out, &note, 2)?;
    }
    let list = |out: &mut dyn Write, title: &str, ranges: &[Range]| -> std::io::Result<()> {
        writeln!(out)?;
        write_wrapped(out, &format!("{title}:"), 2)?;
        if ranges.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for r in ranges {
            writeln!(out, "  {:#x}-{:#x}", r.start, r.end)?;
        }
        Ok(())
    };
    list(
        out,
        "readable (pread returns the physical contents; MMIO included, where reading registers can have side effects)",
        &s.readable,
    )?;
    list(out, "zero-filled (reads succeed but return zeros: x86 RAM in the first MiB)", &s.zero_filled)?;
    list(out, "mappable (mmap without O_SYNC)", &s.mappable)?;
    writeln!(out, "\nSystem RAM that cannot be read (or must not be):")?;
    if s.forbidden_ram.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for f in &s.forbidden_ram {
        let what = match f.why {
            RamDenial::DeviceManagedRegion => {
                "a virtio-mem (hot(un)plug) region: parts are unplugged and must never be touched"
            }
            RamDenial::Ram => "System RAM, refused by STRICT_DEVMEM",
            RamDenial::Gate => "System RAM the read gate does not reach",
        };
        let by = name(f).map(|n| format!(" ('{}')", escape(&n))).unwrap_or_default();
        let verdict = match (f.errno, f.kernel_maps) {
            (Some(e), false) => e.name().to_string(),
            (Some(e), true) => format!("{} (but the kernel would map it: do not)", e.name()),
            (None, false) => "the kernel would allow reading it (not mapping): do not".to_string(),
            (None, true) => "the kernel would allow reading and mapping it: do not".to_string(),
        };
        writeln!(out, "  {:#x}-{:#x}  {verdict}", f.range.start, f.range.end)?;
        write_wrapped(out, &format!("    {what}{by}"), 4)?;
    }
    Ok(())
}
