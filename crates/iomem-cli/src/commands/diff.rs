//! `iomem diff A B`: what changed between two dumps or captured systems —
//! resources added, removed, resized or re-flagged, shown in their tree,
//! and memory blocks whose state or zones changed.

use std::io::Write;

use anyhow::Context;
use iomem::procfs::{DumpKind, min_width};
use iomem::{Desc, Flags, Range};
use serde::Serialize;

use crate::blocks::{Blocks, BlocksError};
use crate::cli::DiffArgs;
use crate::diff::{BlockChange, Change, ChangeKind, blocks, trees};
use crate::output::color::Paint;
use crate::output::size::human;
use crate::output::text::escape_name;
use crate::source::Source;
use crate::system::{LoadRequest, System, load};

/// A path on the command line as a source: a directory is a captured
/// system, anything else a dump.
fn source_of(path: &std::path::Path) -> Source {
    if path.is_dir() { Source::Root(path.to_path_buf()) } else { Source::File(path.to_path_buf()) }
}

/// Runs `diff`.
pub(crate) fn run(args: &DiffArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let request = |source: &Source| LoadRequest {
        lenient: args.lenient,
        observed_flags: args.flags_from_observed && matches!(source, Source::Root(_)),
        kernel: args.kernel.clone(),
        arch: None,
        ioports: args.ioports,
    };
    let (sa, sb) = (source_of(&args.a), source_of(&args.b));
    let a = load(sa.clone(), &request(&sa)).with_context(|| format!("reading A ({})", args.a.display()))?;
    let b = load(sb.clone(), &request(&sb)).with_context(|| format!("reading B ({})", args.b.display()))?;
    for (side, sys) in [("A", &a), ("B", &b)] {
        for w in &sys.warnings {
            writeln!(warn, "iomem: warning: {side}: {w}")?;
        }
    }
    if (a.dump.kind == DumpKind::Ioports) != (b.dump.kind == DumpKind::Ioports) {
        anyhow::bail!("A is {} and B is {}: compare like with like", kind_name(&a), kind_name(&b));
    }
    let changes = trees(&a.dump.tree, a.dump.root, &b.dump.tree, b.dump.root);
    let block_changes = match (block_view(&sa, &args.a), block_view(&sb, &args.b)) {
        (Ok(Some(va)), Ok(Some(vb))) => Some(blocks(&va, &vb)),
        (Err(e), _) | (_, Err(e)) => return Err(e),
        _ => None,
    };
    if args.json {
        json(&a, &b, &changes, block_changes.as_deref(), out)
    } else {
        text(&a, &b, &changes, block_changes.as_deref(), out)
    }
}

fn kind_name(sys: &System) -> &'static str {
    if sys.dump.kind == DumpKind::Ioports { "/proc/ioports" } else { "/proc/iomem" }
}

/// The memory blocks of a captured system; `None` for a dump, or a system
/// without them.
fn block_view(source: &Source, path: &std::path::Path) -> anyhow::Result<Option<Blocks>> {
    match Blocks::read(source) {
        Ok(v) => Ok(Some(v)),
        Err(BlocksError::Missing(_) | BlocksError::NotASystem) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading the memory blocks of {}", path.display()))),
    }
}

fn range_text(r: Range, width: usize) -> String {
    format!("{:0width$x}-{:0width$x}", r.start, r.end)
}

fn len(r: Range) -> u128 {
    u128::from(r.end.wrapping_sub(r.start)) + 1
}

fn flags_text(f: (Flags, Desc)) -> String {
    let names: Vec<String> = f.0.names().map(|n| n.to_string()).collect();
    let mut s = if names.is_empty() { "0".to_string() } else { names.join("|") };
    if f.1 != Desc::NONE {
        s.push_str(&format!(" desc={}", f.1));
    }
    s
}

fn text(
    a: &System,
    b: &System,
    changes: &[Change],
    blocks: Option<&[BlockChange]>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    writeln!(out, "--- A: {}", crate::output::text::escape(&a.path))?;
    writeln!(out, "+++ B: {}", crate::output::text::escape(&b.path))?;
    let top = |s: &System| s.dump.tree.get(s.dump.root).map_or(u64::MAX, |v| v.range.end);
    let width = min_width(top(a).max(top(b)));
    // The ancestors already printed as context, outermost first.
    let mut shown: Vec<(Option<String>, Range)> = Vec::new();
    for c in changes {
        let common = shown.iter().zip(&c.path).take_while(|(x, y)| x == y).count();
        shown.truncate(common);
        for (depth, (name, range)) in c.path.iter().enumerate().skip(common) {
            let context = format!(
                "  {:indent$}{}  {}",
                "",
                range_text(*range, width),
                escape_name(name.as_deref()),
                indent = depth * 2
            );
            writeln!(out, "{}", Paint::Dim.paint(&context))?;
            shown.push((name.clone(), *range));
        }
        let indent = c.path.len() * 2;
        let (mark, mut notes) = match c.kind {
            ChangeKind::Added => ('+', vec![below(c.descendants)]),
            ChangeKind::Removed => ('-', vec![below(c.descendants)]),
            ChangeKind::Modified => {
                let mut notes = Vec::new();
                if let Some(old) = c.old_range {
                    notes.push(format!(
                        "was {} ({} -> {})",
                        range_text(old, width),
                        human(len(old)),
                        human(len(c.range))
                    ));
                }
                if let Some(old) = c.old_flags {
                    notes.push(format!("flags were [{}]", flags_text(old)));
                }
                ('~', notes)
            }
        };
        notes.retain(|n| !n.is_empty());
        let line = format!(
            "{mark} {:indent$}{}  {}  [{}]",
            "",
            range_text(c.range, width),
            escape_name(c.name.as_deref()),
            flags_text(c.flags),
        );
        writeln!(out, "{}", paint_of(mark).paint(&line))?;
        for n in notes {
            writeln!(out, "  {:indent$}  {n}", "")?;
        }
        // A changed resource is the context of the changes below it.
        if c.kind == ChangeKind::Modified {
            shown.clone_from(&c.path);
            shown.push((c.name.clone(), c.range));
        }
    }
    let count = |k: ChangeKind| changes.iter().filter(|c| c.kind == k).count();
    if let Some(blocks) = blocks {
        if !blocks.is_empty() {
            writeln!(out, "Memory blocks:")?;
        }
        for bc in blocks {
            let ids = if bc.first == bc.last {
                format!("memory{}", bc.first)
            } else {
                format!("memory{}-{}", bc.first, bc.last)
            };
            let view = |v: &Option<(String, Vec<String>)>| {
                v.as_ref()
                    .map_or(String::new(), |(state, zones)| format!("{state} {}", zones.join(" ")).trim().to_string())
            };
            let (mark, what) = match bc.kind {
                ChangeKind::Added => ('+', view(&bc.new)),
                ChangeKind::Removed => ('-', view(&bc.old)),
                ChangeKind::Modified => ('~', format!("{} -> {}", view(&bc.old), view(&bc.new))),
            };
            writeln!(out, "{}", paint_of(mark).paint(&format!("{mark} {ids:<16} {what}")))?;
        }
    }
    let blocks_line = blocks.map_or(String::new(), |b| {
        let n: u64 = b.iter().map(|c| c.last - c.first + 1).sum();
        format!("; {n} memory block{} changed", if n == 1 { "" } else { "s" })
    });
    writeln!(
        out,
        "{} added, {} removed, {} modified resource{}{blocks_line}",
        count(ChangeKind::Added),
        count(ChangeKind::Removed),
        count(ChangeKind::Modified),
        if count(ChangeKind::Modified) == 1 { "" } else { "s" }
    )?;
    Ok(())
}

fn paint_of(mark: char) -> Paint {
    match mark {
        '+' => Paint::Good,
        '-' => Paint::Bad,
        _ => Paint::Warn,
    }
}

fn below(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "(and 1 resource below it)".to_string(),
        n => format!("(and {n} resources below it)"),
    }
}

#[derive(Serialize)]
struct DocJson<'a> {
    a: &'a str,
    b: &'a str,
    resources: Vec<ChangeJson>,
    blocks: Option<Vec<BlockChangeJson>>,
}

#[derive(Serialize)]
struct RangeJson {
    start: String,
    end: String,
}

impl From<Range> for RangeJson {
    fn from(r: Range) -> RangeJson {
        RangeJson { start: format!("{:#x}", r.start), end: format!("{:#x}", r.end) }
    }
}

#[derive(Serialize)]
struct FlagsJson {
    flags: Vec<String>,
    desc: String,
}

impl From<(Flags, Desc)> for FlagsJson {
    fn from(f: (Flags, Desc)) -> FlagsJson {
        FlagsJson { flags: f.0.names().map(|n| n.to_string()).collect(), desc: f.1.to_string() }
    }
}

#[derive(Serialize)]
struct ChangeJson {
    change: &'static str,
    path: Vec<Option<String>>,
    name: Option<String>,
    start: String,
    end: String,
    flags: FlagsJson,
    old: Option<OldJson>,
    descendants: usize,
}

#[derive(Serialize)]
struct OldJson {
    start: String,
    end: String,
    flags: FlagsJson,
}

#[derive(Serialize)]
struct BlockChangeJson {
    change: &'static str,
    blocks: [u64; 2],
    old: Option<BlockStateJson>,
    new: Option<BlockStateJson>,
}

#[derive(Serialize)]
struct BlockStateJson {
    state: String,
    zones: Vec<String>,
}

const fn change_name(k: ChangeKind) -> &'static str {
    match k {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Modified => "modified",
    }
}

fn json(
    a: &System,
    b: &System,
    changes: &[Change],
    blocks: Option<&[BlockChange]>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let resources = changes
        .iter()
        .map(|c| {
            let r = RangeJson::from(c.range);
            ChangeJson {
                change: change_name(c.kind),
                path: c.path.iter().map(|(n, _)| n.clone()).collect(),
                name: c.name.clone(),
                start: r.start,
                end: r.end,
                flags: c.flags.into(),
                old: (c.kind == ChangeKind::Modified).then(|| {
                    let old = RangeJson::from(c.old_range.unwrap_or(c.range));
                    OldJson { start: old.start, end: old.end, flags: c.old_flags.unwrap_or(c.flags).into() }
                }),
                descendants: c.descendants,
            }
        })
        .collect();
    let state = |v: &Option<(String, Vec<String>)>| {
        v.as_ref().map(|(state, zones)| BlockStateJson { state: state.clone(), zones: zones.clone() })
    };
    let blocks = blocks.map(|bs| {
        bs.iter()
            .map(|bc| BlockChangeJson {
                change: change_name(bc.kind),
                blocks: [bc.first, bc.last],
                old: state(&bc.old),
                new: state(&bc.new),
            })
            .collect()
    });
    let doc = DocJson { a: &a.path, b: &b.path, resources, blocks };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}
