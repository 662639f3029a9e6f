//! `iomem show`: read a system's tree and print it.

use std::io::Write;

use anyhow::Context;
use iomem::procfs::{NoteKind, Reader, min_width};

use crate::cli::{Format, ShowArgs};
use crate::model::{Report, rows};
use crate::output::{json, text};
use crate::source::{OBSERVED_FLAGS, Source};
use crate::system::{Tree, read_tree};

/// Runs `show`.
pub(crate) fn run(args: &ShowArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let source = args.system.source.source();
    let mut tree = read_tree(&source, &args.system.load_request(), args.ioports)?;
    for w in &tree.info.warnings {
        writeln!(warn, "iomem: warning: {w} (ignored)")?;
    }
    for e in &tree.dump.skipped {
        writeln!(warn, "iomem: warning: {}: {e} (line skipped)", tree.text.path)?;
    }
    let format = args.format();
    if format == Format::Proc {
        for n in &tree.dump.notes {
            let what = note_text(n.what);
            writeln!(warn, "iomem: note: {}: line {}: {what}; the kernel's text differs here", tree.text.path, n.line)?;
        }
        let proc_text = tree.dump.tree.render_proc(tree.dump.root, Reader::Privileged).context("rendering the tree")?;
        out.write_all(proc_text.as_bytes())?;
        return Ok(());
    }
    if matches!(source, Source::Root(_))
        && !args.system.flags_from_observed
        && !args.ioports
        && source.has(OBSERVED_FLAGS)
    {
        writeln!(
            warn,
            "iomem: note: {} has the real flags of this capture; --flags-from-observed uses them",
            source.display_path(OBSERVED_FLAGS)
        )?;
    }
    let (table, flags_from) = tree.flags();
    let Tree { text: dump_text, facts, dump, .. } = tree;
    let width = min_width(dump.tree.get(dump.root).map(|r| r.range.end).unwrap_or(u64::MAX));
    let report =
        Report { kind: dump.kind, rows: rows(&dump, &table, &facts), source, path: dump_text.path, facts, flags_from };
    match format {
        Format::Json => json::write(&report, out)?,
        Format::Text | Format::Proc => text::write(&report, width, out)?,
    }
    Ok(())
}

fn note_text(kind: NoteKind) -> &'static str {
    match kind {
        NoteKind::BlankLine => "blank line ignored",
        NoteKind::CarriageReturn => "carriage return removed",
        NoteKind::NumberFormat => "addresses not in the kernel's format (upper-case hex or other padding)",
        NoteKind::MissingSpaceAfterColon => "no space after ':' (an empty name)",
        NoteKind::NoFinalNewline => "no newline at the end",
        NoteKind::LossyName => "name is not UTF-8 (decoded lossily)",
    }
}
