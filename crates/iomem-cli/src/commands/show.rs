//! `iomem show`: read a system's tree and print it.

use std::io::Write;

use anyhow::Context;
use iomem::procfs::{NoteKind, Reader, min_width};
use iomem_devmem::Devmem;

use crate::cli::{Format, ShowArgs};
use crate::commands::check::load_with_assumptions;
use crate::model::Report;
use crate::output::{json, text};
use crate::source::{OBSERVED_FLAGS, Source};
use crate::verdicts::VerdictIndex;

/// Runs `show`.
pub(crate) fn run(args: &ShowArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let sys = load_with_assumptions(&args.system, args.ioports, warn)?;
    let dump = &sys.dump;
    let format = args.format();
    if format == Format::Proc && args.verdicts {
        return Err(crate::cli::UsageError(
            "--verdicts adds a column, and --format proc prints the kernel's own text: use the default format or --json"
                .to_string(),
        )
        .into());
    }
    if format == Format::Proc {
        for n in &dump.notes {
            let what = note_text(n.what);
            // A name's '\r' is rendered back as it was read.
            let differs = if n.what == NoteKind::CarriageReturn { "" } else { "; the kernel's text differs here" };
            writeln!(warn, "iomem: note: {}: line {}: {what}{differs}", sys.path, n.line)?;
        }
        let mut adapter = IoFmt { out, error: None };
        let result = dump.tree.write_proc(dump.root, Reader::Privileged, &mut adapter).context("rendering the tree")?;
        if let Some(e) = adapter.error {
            return Err(e.into());
        }
        result.map_err(|_| std::io::Error::other("formatting the tree failed"))?;
        return Ok(());
    }
    let source = &sys.source;
    if matches!(source, Source::Root(_))
        && !args.system.system.flags_from_observed
        && !args.ioports
        && source.has(OBSERVED_FLAGS)
    {
        writeln!(
            warn,
            "iomem: note: {} has the real flags of this capture; --flags-from-observed uses them",
            source.display_path(OBSERVED_FLAGS)
        )?;
    }
    let width = min_width(dump.tree.get(dump.root).map(|r| r.range.end).unwrap_or(u64::MAX));
    let index = args.verdicts.then(|| VerdictIndex::new(&Devmem::new(&sys.dump.tree, sys.policy.clone())));
    let report = Report { sys: &sys, verdicts: index.as_ref() };
    match format {
        Format::Json => json::write(&report, out)?,
        Format::Text | Format::Proc => text::write(&report, width, out)?,
    }
    Ok(())
}

/// `fmt::Write` over an `io::Write`, keeping the I/O error (a closed pipe
/// must end the command quietly, not as a formatting failure).
struct IoFmt<'a> {
    out: &'a mut dyn Write,
    error: Option<std::io::Error>,
}

impl std::fmt::Write for IoFmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.out.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}

fn note_text(kind: NoteKind) -> &'static str {
    match kind {
        NoteKind::BlankLine => "blank line ignored",
        NoteKind::CarriageReturn => "the name ends in a carriage return (kept; CRLF line ends?)",
        NoteKind::NumberFormat => "addresses not in the kernel's format (upper-case hex or other padding)",
        NoteKind::MissingSpaceAfterColon => "no space after ':' (an empty name)",
        NoteKind::NoFinalNewline => "no newline at the end",
        NoteKind::LossyName => "name is not UTF-8 (decoded lossily)",
    }
}
