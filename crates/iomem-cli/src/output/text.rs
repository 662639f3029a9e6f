//! The annotated tree for people: one line per resource with the exclusive
//! mark, the indented range, the size, the name, the flags in kernel names
//! (assumed ones marked `?`) and the descriptor; a header says where the
//! tree and its flags come from and a one-line legend ends it.

use std::io::{self, Write};

use iomem::procfs::DumpKind;
use iomem::{Desc, ExclusiveReason};

use super::color::{Paint, of_result};
use super::flag_names;
use super::size::human;
use crate::facts::{KernelFacts, arch_name};
use crate::flaginfo::FlagsFrom;
use crate::model::{Report, Row};
use crate::source::{EXAMPLE_PROVENANCE, Source};

/// The legend of an iomem tree.
const LEGEND: &str = "Legend: X /dev/mem-exclusive even with iomem=relaxed; x exclusive with strict checks only; FLAG? assumed; ~ rounded";
/// The legend of the `--verdicts` column.
const LEGEND_VERDICTS: &str = "Verdicts: READ/MMAP of whole pages, O_RDWR without O_SYNC: ok, zeros or errno;\n\
                               mixed: the pages differ (iomem check START-END lists them); ?: an estimate decided";
/// The legend of an ioports tree.
const LEGEND_IOPORTS: &str = "Legend: FLAG? assumed (flags are not in /proc/ioports)";

/// Rows deeper than this are indented like this level (a 40 000-deep chain
/// must not print 80 000 spaces per line); their depth is written out.
pub(crate) const MAX_SHOWN_DEPTH: usize = 24;

/// Writes the annotated tree, one row at a time.
pub(crate) fn write(report: &Report<'_>, width: usize, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    header(report, out)?;
    let iomem = report.kind() != DumpKind::Ioports;
    let range_width = report.max_depth().min(MAX_SHOWN_DEPTH) * 2 + 2 * width + 1;
    let mut line = String::new();
    for row in report.rows() {
        line.clear();
        if iomem {
            let m = mark(&row);
            line.push_str(&match m {
                "X" => Paint::Bad.paint(m),
                "x" => Paint::Warn.paint(m),
                _ => m.to_string(),
            });
            line.push(' ');
        }
        let range = range(&row, width);
        line.push_str(&format!("{range:range_width$}  {:>9}  ", human(row.len())));
        if let Some(v) = row.verdicts {
            let (read, mmap) = (v.read.text(), v.mmap.text());
            let pad = 13usize.saturating_sub(read.len() + 1 + mmap.len());
            let (pr, pm) = (of_result(&read).paint(&read), of_result(&mmap).paint(&mmap));
            line.push_str(&format!("{pr}/{pm}{:pad$}  ", ""));
        }
        line.push_str(&format!("{}  [{}]", escape_name(row.name), flags(&row)));
        if let Some(note) = note(&row) {
            line.push_str("  ");
            line.push_str(note);
        }
        if row.depth > MAX_SHOWN_DEPTH {
            line.push_str(&format!("  (depth {})", row.depth));
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", if iomem { LEGEND } else { LEGEND_IOPORTS })?;
    if report.verdicts.is_some() {
        writeln!(out, "{LEGEND_VERDICTS}")?;
    }
    Ok(())
}

fn header(report: &Report<'_>, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let sys = report.sys;
    let file = if report.kind() == DumpKind::Ioports { "/proc/ioports" } else { "/proc/iomem" };
    match &sys.source {
        Source::Example => {
            writeln!(out, "# {file} of {}", sys.source.describe())?;
            for line in EXAMPLE_PROVENANCE {
                writeln!(out, "# {line}")?;
            }
        }
        Source::Live => writeln!(out, "# {file} of the running machine")?,
        Source::Root(_) | Source::File(_) => writeln!(out, "# {}", escape(&sys.path))?,
    }
    let flags = match sys.flags_from {
        FlagsFrom::Annotations => "read from the running kernel (annotated dump): exact",
        FlagsFrom::Inference => "not in the text; inferred from names and places (FLAG? marks an assumption)",
    };
    writeln!(out, "# Flags: {flags}")?;
    writeln!(out, "# {}", kernel_line(&sys.facts))?;
    if report.kind() != DumpKind::Ioports {
        writeln!(out, "# {}", devmem_line(&sys.facts))?;
        for a in &sys.assumptions {
            writeln!(out, "# Assumed: {}", escape(a))?;
        }
    }
    Ok(())
}

/// The width human output is laid out for.
pub(crate) const COLUMNS: usize = 80;

/// Writes `text` wrapped at [`COLUMNS`] on spaces: the first line as is,
/// the following ones indented by `indent` spaces. A word longer than the
/// line (a path) stays whole.
pub(crate) fn write_wrapped(out: &mut (impl Write + ?Sized), text: &str, indent: usize) -> io::Result<()> {
    let mut line = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        // The next word with the spaces before it (kept as they are, so
        // columns stay aligned, except where the line breaks).
        let word_start = rest.len() - rest.trim_start_matches(' ').len();
        let word_end = rest[word_start..].find(' ').map_or(rest.len(), |i| word_start + i);
        let (gap, word) = (&rest[..word_start], &rest[word_start..word_end]);
        rest = &rest[word_end..];
        let has_word = !line.trim_start().is_empty();
        if has_word && visible_len(&line) + gap.len() + visible_len(word) > COLUMNS {
            writeln!(out, "{line}")?;
            line = " ".repeat(indent);
        } else {
            line.push_str(gap);
        }
        line.push_str(word);
    }
    writeln!(out, "{line}")
}

/// The columns a text takes on a terminal: its characters, without colour
/// escapes (`ESC [ ... m`).
fn visible_len(text: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// A text for a terminal: control characters (which could move the cursor,
/// recolour or retitle the terminal: a dump may hold anything) are shown as
/// escapes (`\r`, `\x1b`, ...), never sent raw. Only human output is
/// escaped; `--format proc` stays byte-exact and JSON escapes by itself.
pub(crate) fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\x{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn kernel_line(f: &KernelFacts) -> String {
    let arch = f.arch.map_or(String::new(), |a| format!(", {}", arch_name(a)));
    match (&f.release, f.profile.assumed) {
        (Some(r), false) => format!("Kernel: {}{arch}: rules of Linux {}", escape(r), f.version()),
        (Some(r), true) => {
            format!("Kernel: {}{arch} (unrecognised): rules of Linux {} assumed", escape(r), f.version())
        }
        (None, _) => {
            format!("Kernel: unknown{arch}: rules of Linux {} assumed (--kernel RELEASE to choose)", f.version())
        }
    }
}

fn devmem_line(f: &KernelFacts) -> String {
    let io = match (f.io_strict.value, f.io_strict.assumed) {
        (true, false) => "CONFIG_IO_STRICT_DEVMEM=y",
        (false, false) => "CONFIG_IO_STRICT_DEVMEM is not set",
        (true, true) => "CONFIG_IO_STRICT_DEVMEM unknown, assumed set (Debian's)",
        (false, true) => "CONFIG_IO_STRICT_DEVMEM unknown, assumed not set",
    };
    let checks = match (f.strict_checks.value, f.strict_checks.assumed) {
        (true, false) => "this kernel runs with strict checks",
        (false, false) => "this kernel runs with relaxed checks",
        (true, true) => "strict checks assumed",
        (false, true) => "relaxed checks assumed",
    };
    // The file name only: the JSON output has the whole path.
    let from = f
        .config_path
        .as_deref()
        .and_then(|p| std::path::Path::new(p).file_name())
        .map_or(String::new(), |n| format!(" ({})", escape(&n.to_string_lossy())));
    format!("/dev/mem: {io}{from}; {checks}")
}

fn range(row: &Row<'_>, width: usize) -> String {
    format!("{:indent$}{:0width$x}-{:0width$x}", "", row.start, row.end, indent = row.depth.min(MAX_SHOWN_DEPTH) * 2)
}

fn mark(row: &Row<'_>) -> &'static str {
    match row.exclusive {
        Some(e) if e.relaxed.exclusive => "X",
        Some(e) if e.strict.exclusive => "x",
        _ => " ",
    }
}

/// A resource's name for people: `<BAD>` for none, `""` for empty,
/// control characters escaped.
pub(crate) fn escape_name(name: Option<&str>) -> std::borrow::Cow<'_, str> {
    match name {
        None => "<BAD>".into(),
        Some("") => "\"\"".into(),
        Some(n) => escape(n),
    }
}

fn flags(row: &Row<'_>) -> String {
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
fn note(row: &Row<'_>) -> Option<&'static str> {
    let e = row.exclusive?;
    if e.relaxed.exclusive && !e.relaxed.inherited {
        return Some("<- exclusive (even with iomem=relaxed)");
    }
    if e.strict.exclusive && !e.strict.inherited && e.strict.reason == Some(ExclusiveReason::BusyExclusive) {
        return Some("<- exclusive (strict checks)");
    }
    None
}
