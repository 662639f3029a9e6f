//! The annotated tree for people: one line per resource with the exclusive
//! mark, the indented range, the size, the name, the flags in kernel names
//! (assumed ones marked `?`) and the descriptor; a header says where the
//! tree and its flags come from and a one-line legend ends it.

use std::io::{self, Write};

use iomem::procfs::DumpKind;
use iomem::{Desc, ExclusiveReason};

use super::flag_names;
use super::size::human;
use crate::facts::{KernelFacts, arch_name};
use crate::flaginfo::FlagsFrom;
use crate::model::{Report, Row};
use crate::source::{EXAMPLE_PROVENANCE, Source};

/// The legend of an iomem tree.
const LEGEND: &str = "Legend: X /dev/mem-exclusive even with iomem=relaxed; x exclusive with strict checks only; FLAG? assumed; ~ rounded";
/// The legend of an ioports tree.
const LEGEND_IOPORTS: &str = "Legend: FLAG? assumed (flags are not in /proc/ioports)";

/// Writes the annotated tree.
pub(crate) fn write(report: &Report, width: usize, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    header(report, out)?;
    let iomem = report.kind != DumpKind::Ioports;
    let ranges: Vec<String> = report.rows.iter().map(|r| range(r, width)).collect();
    let range_width = ranges.iter().map(String::len).max().unwrap_or(0);
    for (row, range) in report.rows.iter().zip(&ranges) {
        let mut line = String::new();
        if iomem {
            line.push_str(mark(row));
            line.push(' ');
        }
        line.push_str(&format!("{range:range_width$}  {:>9}  {}  [{}]", human(row.len()), name(row), flags(row)));
        if let Some(note) = note(row) {
            line.push_str("  ");
            line.push_str(note);
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", if iomem { LEGEND } else { LEGEND_IOPORTS })
}

fn header(report: &Report, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let file = if report.kind == DumpKind::Ioports { "/proc/ioports" } else { "/proc/iomem" };
    match &report.source {
        Source::Example => {
            writeln!(out, "# {file} of {}", report.source.describe())?;
            for line in EXAMPLE_PROVENANCE {
                writeln!(out, "# {line}")?;
            }
        }
        Source::Live => writeln!(out, "# {file} of the running machine")?,
        Source::Root(_) | Source::File(_) => writeln!(out, "# {}", report.path)?,
    }
    let flags = match report.flags_from {
        FlagsFrom::Annotations => "read from the running kernel (annotated dump): exact",
        FlagsFrom::Inference => "not in the text; inferred from names and places (FLAG? marks an assumption)",
    };
    writeln!(out, "# Flags: {flags}")?;
    writeln!(out, "# {}", kernel_line(&report.facts))?;
    if report.kind != DumpKind::Ioports {
        writeln!(out, "# {}", devmem_line(&report.facts))?;
    }
    Ok(())
}

fn kernel_line(f: &KernelFacts) -> String {
    let arch = f.arch.map_or(String::new(), |a| format!(", {}", arch_name(a)));
    match (&f.release, f.profile.assumed) {
        (Some(r), false) => format!("Kernel: {r}{arch}: rules of Linux {}", f.version()),
        (Some(r), true) => format!("Kernel: {r}{arch} (unrecognised): rules of Linux {} assumed", f.version()),
        (None, _) => {
            format!("Kernel: unknown{arch}: rules of Linux {} assumed (--kernel RELEASE to choose)", f.version())
        }
    }
}

fn devmem_line(f: &KernelFacts) -> String {
    let io = match (f.io_strict.value, f.io_strict.assumed) {
        (true, _) => "CONFIG_IO_STRICT_DEVMEM=y".to_string(),
        (false, false) => "CONFIG_IO_STRICT_DEVMEM is not set".to_string(),
        (false, true) => "CONFIG_IO_STRICT_DEVMEM unknown, assumed not set".to_string(),
    };
    let checks = match f.strict_checks {
        Some(true) => "this kernel runs with strict checks",
        Some(false) => "this kernel runs with relaxed checks",
        None => "strict or relaxed checks: unknown",
    };
    // The file name only: the JSON output has the whole path.
    let from = f
        .config_path
        .as_deref()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or(String::new(), |n| format!(" ({})", n.to_string_lossy()));
    format!("/dev/mem: {io}{from}; {checks}")
}

fn range(row: &Row, width: usize) -> String {
    format!("{:indent$}{:0width$x}-{:0width$x}", "", row.start, row.end, indent = row.depth * 2)
}

fn mark(row: &Row) -> &'static str {
    match row.exclusive {
        Some(e) if e.relaxed.exclusive => "X",
        Some(e) if e.strict.exclusive => "x",
        _ => " ",
    }
}

fn name(row: &Row) -> String {
    match row.name.as_deref() {
        None => "<BAD>".to_string(),
        Some("") => "\"\"".to_string(),
        Some(n) => n.to_string(),
    }
}

fn flags(row: &Row) -> String {
    let mut s: Vec<String> =
        flag_names(row.flags, row.assumed).into_iter().map(|(n, a)| if a { n + "?" } else { n }).collect();
    if s.is_empty() {
        s.push("0".to_string());
    }
    let mut s = s.join("|");
    if row.desc != Desc::NONE {
        s.push_str(&format!(" desc={}{}", row.desc, if row.desc_assumed { "?" } else { "" }));
    }
    s
}

/// A remark on the resource whose own EXCLUSIVE flag decides.
fn note(row: &Row) -> Option<&'static str> {
    let e = row.exclusive?;
    if e.relaxed.exclusive && !e.relaxed.inherited {
        return Some("<- exclusive (even with iomem=relaxed)");
    }
    if e.strict.exclusive && !e.strict.inherited && e.strict.reason == Some(ExclusiveReason::BusyExclusive) {
        return Some("<- exclusive (strict checks)");
    }
    None
}
