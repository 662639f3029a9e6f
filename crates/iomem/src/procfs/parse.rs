//! A parser that rebuilds the tree from a real `/proc/iomem` or
//! `/proc/ioports` dump (resource-tree.md §9).
//!
//! Every line must read `<indent><start>-<end> : <name>`. The tree is
//! rebuilt from the indentation; because the kernel caps the indentation at
//! depth 5, a line indented by 10 spaces is placed below the deepest of the
//! lines above it that contains it (siblings never overlap, so this reading
//! is the only valid one). Each resource is checked against the tree
//! invariants (inside its parent, after its previous sibling). Malformed
//! input gives a [`ParseError`] naming the line, the column, the field and
//! what is wrong; in lenient mode such lines (and the lines nested below
//! them) are skipped and reported, and the rest of the tree is kept.
//!
//! A dump whose every address is zero was read without CAP_SYS_ADMIN; it is
//! refused with [`DumpError::Unprivileged`] in both modes rather than read
//! as a map of address 0.
//!
//! Flags are not in the text: every parsed resource gets the root's type
//! only (`MEM` or `IO`) and descriptor NONE. [`crate::infer`] reconstructs
//! flags from names and places. An *annotated* dump (the format of the
//! recordings' `observed/iomem-flags.txt`, a trailing
//! `[flags=0x… … desc=…]` per line) carries the real flags and is read
//! exactly when [`ParseOptions::annotations`] is set.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::error::{DumpError, Field, Note, NoteKind, ParseError, Problem};
use super::line::{self, RawLine};
use super::render::MAX_INDENT_DEPTH;
use crate::flags::Desc;
use crate::range::Range;
use crate::tree::{IOMEM, IOPORT, Ix, ResourceId, ResourceTree, TreeConfig};

/// Which file a dump is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DumpKind {
    /// Decide from the text: `/proc/ioports` if every line's start address
    /// is printed with exactly 4 digits (x86's ioport width), else
    /// `/proc/iomem` (8 digits or more).
    #[default]
    Auto,
    /// `/proc/iomem`.
    Iomem,
    /// `/proc/ioports`.
    Ioports,
}

/// Parser options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Skip malformed lines (and the lines nested below them) instead of
    /// failing; each is reported in [`ParsedDump::skipped`].
    pub lenient: bool,
    /// Which file the text is.
    pub kind: DumpKind,
    /// Read a trailing `[flags=0x… … desc=…]` annotation on each line.
    pub annotations: bool,
    /// Platform parameters and kernel profile of the tree to build (its
    /// `ioport_end` is replaced for ioport dumps, see [`ParsedDump`]).
    pub config: TreeConfig,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { lenient: false, kind: DumpKind::Auto, annotations: false, config: TreeConfig::default() }
    }
}

/// One resource line of the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedLine {
    /// 1-based line number.
    pub line: usize,
    /// The resource built from it.
    pub resource: ResourceId,
    /// Its depth (0 = top level), resolved by containment beyond the
    /// printed depth cap.
    pub depth: usize,
    /// Whether flags and descriptor came from an annotation.
    pub annotated: bool,
}

/// A parsed dump: the tree and how each line maps onto it.
#[derive(Debug)]
pub struct ParsedDump {
    /// The rebuilt tree. For an ioport dump the resources are below the
    /// ioport root, whose end is 0xffff when the dump is printed with
    /// 4-digit addresses that all fit, else at least 0xffffff.
    pub tree: ResourceTree,
    /// The root the resources are below.
    pub root: ResourceId,
    /// Which file it was.
    pub kind: DumpKind,
    /// Every resource line, in input order.
    pub lines: ParsedLines,
    /// Lines skipped in lenient mode, with why, in input order.
    pub skipped: Vec<ParseError>,
    /// Remarks about non-kernel formatting, in line order.
    pub notes: Vec<Note>,
}

/// Every resource line of a dump, in input order, as [`ParsedLine`]s.
///
/// Stored in about a byte a line (a million-line dump is not a 32 MB side
/// table): the resources of the lines are consecutive fresh slots of the
/// parsed tree, line numbers run on from one line to the next except where
/// lines were left out (kept as jumps), and a depth fits in a byte except
/// in pathological chains (kept aside).
///
/// ```
/// use iomem::procfs::{ParseOptions, parse_str};
///
/// let text = "00000000-00000fff : Reserved\n\n00001000-0009ffff : System RAM\n";
/// let d = parse_str(text, &ParseOptions::default()).unwrap();
/// let numbers: Vec<usize> = d.lines.iter().map(|l| l.line).collect();
/// assert_eq!(numbers, [1, 3]);
/// let ram = d.lines.get(1).unwrap().resource;
/// assert_eq!(d.tree.get(ram).unwrap().name, Some("System RAM"));
/// assert_eq!(d.line_of(ram), Some(3));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedLines {
    /// The handle of the first line's resource.
    first: Option<ResourceId>,
    /// Per line: the depth, or [`DEEP`] if it is in `deep`; with
    /// [`ANNOTATED`].
    depths: Vec<u8>,
    /// `(line index, depth)` of the lines at depth [`DEEP`] or more, in
    /// index order.
    deep: Vec<(u32, u32)>,
    /// `(line index, line number)` of the lines whose number is not the
    /// previous line's plus one (the first line's always), in index order.
    jumps: Vec<(u32, u32)>,
}

/// The depth byte's bit for "flags from an annotation".
const ANNOTATED: u8 = 0x80;
/// The depth byte of a line whose depth is kept in [`ParsedLines::deep`].
const DEEP: u8 = 0x7f;

impl ParsedLines {
    fn with_capacity(lines: usize) -> ParsedLines {
        ParsedLines { first: None, depths: Vec::with_capacity(lines), deep: Vec::new(), jumps: Vec::new() }
    }

    /// The number of resource lines.
    pub fn len(&self) -> usize {
        self.depths.len()
    }

    /// True if no line made it into the tree.
    pub fn is_empty(&self) -> bool {
        self.depths.is_empty()
    }

    /// The `i`-th resource line (0-based, in input order).
    pub fn get(&self, i: usize) -> Option<ParsedLine> {
        let byte = *self.depths.get(i)?;
        let first = self.first?;
        // i < len <= u32::MAX + 1 (see push).
        let i = i as u32;
        let j = self.jumps.partition_point(|&(k, _)| k <= i);
        let (k, number) = self.jumps[j.checked_sub(1)?];
        let depth = match byte & !ANNOTATED {
            DEEP => {
                let d = self.deep.binary_search_by_key(&i, |&(k, _)| k).ok()?;
                self.deep[d].1
            }
            d => u32::from(d),
        };
        Some(ParsedLine {
            line: number as usize + (i - k) as usize,
            resource: first.offset(i),
            depth: depth as usize,
            annotated: byte & ANNOTATED != 0,
        })
    }

    /// The lines in input order.
    pub fn iter(&self) -> ParsedLinesIter<'_> {
        ParsedLinesIter { lines: self, front: 0, back: self.len() }
    }

    /// Adds the next line. False if its number or position do not fit the
    /// compact form (more than 4 billion lines).
    fn push(&mut self, l: ParsedLine) -> bool {
        let (Ok(number), Ok(i), Ok(depth)) =
            (u32::try_from(l.line), u32::try_from(self.depths.len()), u32::try_from(l.depth))
        else {
            return false;
        };
        let first = *self.first.get_or_insert(l.resource);
        debug_assert_eq!(first.offset(i), l.resource, "lines are consecutive fresh slots");
        let runs_on = self.jumps.last().is_some_and(|&(k, n)| u64::from(n) + u64::from(i - k) == u64::from(number));
        if !runs_on {
            self.jumps.push((i, number));
        }
        let byte = match u8::try_from(depth) {
            Ok(d) if d < DEEP => d,
            _ => {
                self.deep.push((i, depth));
                DEEP
            }
        };
        self.depths.push(byte | if l.annotated { ANNOTATED } else { 0 });
        true
    }
}

/// The iterator of [`ParsedLines::iter`].
#[derive(Clone, Debug)]
pub struct ParsedLinesIter<'a> {
    lines: &'a ParsedLines,
    /// The lines not handed out yet: `front..back`.
    front: usize,
    back: usize,
}

impl Iterator for ParsedLinesIter<'_> {
    type Item = ParsedLine;

    fn next(&mut self) -> Option<ParsedLine> {
        if self.front >= self.back {
            return None;
        }
        self.front += 1;
        self.lines.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for ParsedLinesIter<'_> {
    fn next_back(&mut self) -> Option<ParsedLine> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.lines.get(self.back)
    }
}

impl ExactSizeIterator for ParsedLinesIter<'_> {}

impl<'a> IntoIterator for &'a ParsedLines {
    type Item = ParsedLine;
    type IntoIter = ParsedLinesIter<'a>;

    fn into_iter(self) -> ParsedLinesIter<'a> {
        self.iter()
    }
}

impl ParsedDump {
    /// True if the input is exactly what the kernel prints for this tree
    /// (nothing skipped, nothing noted), so rendering gives it back byte
    /// for byte.
    pub fn is_well_formed(&self) -> bool {
        self.skipped.is_empty() && self.notes.is_empty()
    }

    /// The input line a resource came from.
    pub fn line_of(&self, resource: ResourceId) -> Option<usize> {
        // The lines' resources are consecutive fresh slots: the i-th line's
        // is the first's slot + i. A handle of another resource (created
        // later, even in a reused slot) differs from the line's in slot or
        // generation.
        let first = self.lines.first?;
        let i = resource.slot().checked_sub(first.slot())?;
        self.lines.get(i as usize).filter(|l| l.resource == resource).map(|l| l.line)
    }
}

/// Parses a dump.
pub fn parse(input: &[u8], options: &ParseOptions) -> Result<ParsedDump, DumpError> {
    Parser { options, notes: Vec::new(), skipped: Vec::new() }.run(input)
}

/// Parses a dump given as text.
pub fn parse_str(input: &str, options: &ParseOptions) -> Result<ParsedDump, DumpError> {
    parse(input.as_bytes(), options)
}

/// The most recent line placed at one depth.
struct Frame {
    ix: Ix,
    line: usize,
    range: Range,
    /// Range and line of the last child placed below it (sibling check).
    last_child: Option<(Range, usize)>,
}

struct Parser<'o> {
    options: &'o ParseOptions,
    notes: Vec<Note>,
    skipped: Vec<ParseError>,
}

/// The input without its final newline, split into lines.
fn raw_lines(input: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    // An empty input has no line at all (not one empty line).
    let mut rest = (!input.is_empty()).then_some(body);
    core::iter::from_fn(move || {
        let r = rest?;
        match find_newline(r) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
    .enumerate()
    .map(|(i, l)| (i + 1, l))
}

/// The index of the first `\n`, eight bytes at a time (a zero-byte test on
/// each word XORed with newlines).
fn find_newline(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ (ONES * u64::from(b'\n'));
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'\n').map(|i| at + i)
}

/// The number of lines, and of lines followed by a more indented one (the
/// resources with children, when the dump is well formed): a capacity
/// estimate, one pass over the text.
fn count_lines_and_parents(input: &[u8]) -> (usize, usize) {
    let indent = |l: &[u8]| l.iter().take_while(|&&b| b == b' ').count();
    let (mut lines, mut parents) = (0, 0);
    let mut prev = usize::MAX;
    for (_, l) in raw_lines(input) {
        let here = indent(l);
        parents += usize::from(here > prev);
        prev = here;
        lines += 1;
    }
    (lines.max(1), parents)
}

/// A line without its `\r`, and whether it had one.
/// The `\r` of a CRLF line end is stripped only from annotated lines,
/// whose `]` ends the name unambiguously. In a plain dump everything
/// before the newline is the name (the kernel prints names verbatim, and a
/// name may end in `\r`), so that parsing the rendering of any tree gives
/// the same tree back.
fn strip_cr(l: &[u8], annotations: bool) -> (&[u8], bool) {
    match l.strip_suffix(b"\r") {
        Some(l) if annotations => (l, true),
        _ => (l, false),
    }
}

fn is_blank(l: &[u8]) -> bool {
    l.iter().all(u8::is_ascii_whitespace)
}

/// What the first pass learns about the whole dump before the tree is
/// built: whether it is the unprivileged form, and the ioport width.
struct Survey {
    /// Non-blank lines.
    lines: usize,
    /// Lines that split into fields.
    good: usize,
    /// Every good line is `0-0`.
    all_zero: bool,
    /// Every good line's start has exactly 4 digits.
    all_start4: bool,
    /// Largest end address of a good line.
    max_end: u64,
}

impl Survey {
    const fn new() -> Survey {
        Survey { lines: 0, good: 0, all_zero: true, all_start4: true, max_end: 0 }
    }

    /// Splits every line once, keeping only aggregates (the error path and
    /// `/proc/ioports` dumps; other dumps are surveyed while they are built).
    fn of(input: &[u8], annotations: bool) -> Survey {
        let mut s = Survey::new();
        for (n, l) in raw_lines(input) {
            let (l, _) = strip_cr(l, annotations);
            if is_blank(l) {
                continue;
            }
            s.lines += 1;
            if let Ok(r) = line::split(n, l, annotations) {
                s.add(&r);
            }
        }
        s
    }

    /// Counts a line that split into fields.
    fn add(&mut self, r: &RawLine<'_>) {
        self.good += 1;
        self.all_zero &= r.start.value == 0 && r.end.value == 0;
        self.all_start4 &= r.start.digits == 4;
        self.max_end = self.max_end.max(r.end.value);
    }

    /// `/proc/ioports` if every line that split has a 4-digit start.
    fn kind(&self) -> DumpKind {
        if self.good > 0 && self.all_start4 { DumpKind::Ioports } else { DumpKind::Iomem }
    }

    /// The ioport root's end for an ioport dump: x86's 0xffff when the dump
    /// is printed 4 digits wide and every port fits; otherwise an
    /// arm64-like 16 MiB space, or the whole space if a port lies beyond
    /// even that.
    fn ioport_end(&self) -> u64 {
        if self.all_start4 && self.max_end <= 0xffff {
            0xffff
        } else if self.max_end <= 0x00ff_ffff {
            0x00ff_ffff
        } else {
            u64::MAX
        }
    }

    /// The errors decided on the whole dump before any line's own error:
    /// no resource line at all, or the unprivileged (all-zero) form.
    fn refusal(&self) -> Option<DumpError> {
        if self.lines == 0 {
            return Some(DumpError::Empty);
        }
        // An unprivileged reader sees every address as zero. Decided on the
        // lines that split, so one malformed line does not hide it.
        (self.good > 0 && self.all_zero).then_some(DumpError::Unprivileged { lines: self.lines })
    }
}

/// A tree built from the lines, before the checks on the whole result.
struct Built {
    tree: ResourceTree,
    root: Ix,
    kind: DumpKind,
    lines: ParsedLines,
}

impl Parser<'_> {
    /// One pass over the text: the dump is read as `/proc/iomem` (unless
    /// told it is `/proc/ioports`) and surveyed while the tree is built.
    /// Only when the survey then says otherwise — an unprivileged dump, or
    /// one whose every start has 4 digits (`/proc/ioports`, small) — or a
    /// line fails, is the text surveyed on its own first, as the decision
    /// needs the whole dump.
    fn run(mut self, input: &[u8]) -> Result<ParsedDump, DumpError> {
        let annotations = self.options.annotations;
        if self.options.kind != DumpKind::Ioports {
            let mut survey = Survey::new();
            match self.build(input, DumpKind::Iomem, self.options.config, &mut survey) {
                Ok(built) => {
                    if let Some(e) = survey.refusal() {
                        return Err(e);
                    }
                    if self.options.kind == DumpKind::Iomem || survey.kind() == DumpKind::Iomem {
                        return self.finish(input, built, &survey);
                    }
                }
                Err(e) => {
                    let survey = Survey::of(input, annotations);
                    if let Some(refusal) = survey.refusal() {
                        return Err(refusal);
                    }
                    if self.options.kind == DumpKind::Iomem || survey.kind() == DumpKind::Iomem {
                        return Err(e);
                    }
                }
            }
            // An ioport dump after all: start again, as one.
            self.notes.clear();
            self.skipped.clear();
        }
        let survey = Survey::of(input, annotations);
        if let Some(e) = survey.refusal() {
            return Err(e);
        }
        let mut config = self.options.config;
        config.ioport_end = survey.ioport_end();
        let built = self.build(input, DumpKind::Ioports, config, &mut Survey::new())?;
        self.finish(input, built, &survey)
    }

    /// The checks on the whole result, then the dump.
    fn finish(mut self, input: &[u8], built: Built, survey: &Survey) -> Result<ParsedDump, DumpError> {
        let Built { tree, root, kind, lines } = built;
        if lines.is_empty() && !self.skipped.is_empty() {
            return Err(DumpError::Line(self.skipped.remove(0)));
        }
        // Lenient mode may have skipped the lines that were not zero: what
        // is left must not be read as a map of address 0 either.
        if !lines.is_empty() && lines.iter().all(|l| tree.get(l.resource).is_ok_and(|v| v.range == Range::new(0, 0))) {
            return Err(DumpError::Unprivileged { lines: survey.lines });
        }
        if !input.is_empty() && !input.ends_with(b"\n") {
            let last_line = raw_lines(input).count();
            self.notes.push(Note { line: last_line, what: NoteKind::NoFinalNewline });
        }
        // Notes were gathered in several passes; report them in line order.
        self.notes.sort_by_key(|n| n.line);
        let root_id = tree.handle(root);
        Ok(ParsedDump { tree, root: root_id, kind, lines, skipped: self.skipped, notes: self.notes })
    }

    /// Builds the tree of a dump of `kind`, adding every line to `survey`.
    fn build(
        &mut self,
        input: &[u8],
        kind: DumpKind,
        config: TreeConfig,
        survey: &mut Survey,
    ) -> Result<Built, DumpError> {
        let annotations = self.options.annotations;
        let root = if kind == DumpKind::Ioports { IOPORT } else { IOMEM };
        let width = super::render::min_width(if root == IOPORT { config.ioport_end } else { u64::MAX });
        // Capacity from the number of lines and of lines with children (a
        // fast count), so that a million resources are not moved through
        // doubling vectors, nor copied into a smaller one afterwards.
        let (line_count, parent_count) = count_lines_and_parents(input);
        let mut tree = ResourceTree::new(config);
        tree.reserve_for_parse(line_count, parent_count, input.len());
        let root_range = tree.node(root).range();
        let root_flags = tree.node(root).flags;
        let mut lines = ParsedLines::with_capacity(line_count);
        // stack[d] = the most recent line placed at depth d.
        let mut stack: Vec<Frame> = Vec::new();
        let mut root_frame = Frame { ix: root, line: 0, range: root_range, last_child: None };
        // Indentation depth and line number of the most recent skipped line,
        // so that the lines nested below it are skipped too.
        let mut skipped_at: Option<(usize, usize)> = None;
        // Names are interned a batch at a time (see `NameTable::intern_batch`).
        let batch = line_count.min(NAME_BATCH);
        let mut pending: Vec<&str> = Vec::with_capacity(batch);
        let mut pending_ix: Vec<Ix> = Vec::with_capacity(batch);
        let mut ids: Vec<u32> = Vec::with_capacity(batch);
        for (n, l) in raw_lines(input) {
            let (l, cr) = strip_cr(l, annotations);
            if cr || (!annotations && l.ends_with(b"\r") && !is_blank(l)) {
                self.notes.push(Note { line: n, what: NoteKind::CarriageReturn });
            }
            if is_blank(l) {
                self.notes.push(Note { line: n, what: NoteKind::BlankLine });
                continue;
            }
            survey.lines += 1;
            let r = match line::split(n, l, annotations) {
                Ok(r) => r,
                Err(e) => {
                    let spaces = l.iter().take_while(|&&b| b == b' ').count();
                    skipped_at = Some((spaces / 2, n));
                    self.fail(*e)?;
                    continue;
                }
            };
            survey.add(&r);
            let indent_depth = r.spaces / 2;
            if let Some((d, parent_line)) = skipped_at {
                if indent_depth > d {
                    self.fail(*line::error(n, r.text, 0, Field::Indent, Problem::ParentSkipped { parent_line }))?;
                    continue;
                }
                skipped_at = None;
            }
            let range = Range::new(r.start.value, r.end.value);
            let depth = match resolve_depth(&r, range, &stack) {
                Ok(d) => d,
                Err(e) => {
                    skipped_at = Some((indent_depth, n));
                    self.fail(*e)?;
                    continue;
                }
            };
            let parent = if depth == 0 { &mut root_frame } else { &mut stack[depth - 1] };
            if let Err(problem) = check_place(range, parent) {
                skipped_at = Some((indent_depth, n));
                self.fail(*line::error(n, r.text, r.spaces, Field::Line, problem))?;
                continue;
            }
            // Formatting remarks only for lines that made it into the tree.
            if !r.start.is_kernel_format(width) || !r.end.is_kernel_format(width) {
                self.notes.push(Note { line: n, what: NoteKind::NumberFormat });
            }
            if r.missing_space {
                self.notes.push(Note { line: n, what: NoteKind::MissingSpaceAfterColon });
            }
            let name_slot = match core::str::from_utf8(r.name) {
                // Named below, with the batch.
                Ok(s) => {
                    pending.push(s);
                    NAME_PENDING
                }
                Err(e) => {
                    if !self.options.lenient {
                        let at = e.valid_up_to();
                        let byte = r.name.get(at).copied().unwrap_or(0);
                        let problem = Problem::NameEncoding { byte };
                        return Err(DumpError::Line(*line::error(n, r.text, r.name_col + at, Field::Name, problem)));
                    }
                    self.notes.push(Note { line: n, what: NoteKind::LossyName });
                    // (Identities in line order: the batch first.)
                    name_pending(&mut tree, &mut pending, &mut pending_ix, &mut ids);
                    tree.names.intern(&String::from_utf8_lossy(r.name))
                }
            };
            let (flags, desc) = r.annotation.unwrap_or((root_flags, Desc::NONE));
            let ix = tree.alloc_node(range, name_slot, flags, desc).map_err(|_| DumpError::TooLarge { line: n })?;
            if name_slot == NAME_PENDING {
                pending_ix.push(ix);
                if pending.len() == NAME_BATCH {
                    name_pending(&mut tree, &mut pending, &mut pending_ix, &mut ids);
                }
            }
            let parent_ix = parent.ix;
            parent.last_child = Some((range, n));
            // Lines arrive in ascending order below each parent (checked
            // above), so the new child goes last.
            let pos = tree.kid_count(parent_ix);
            tree.link_at(parent_ix, pos, ix);
            stack.truncate(depth);
            stack.push(Frame { ix, line: n, range, last_child: None });
            let parsed = ParsedLine { line: n, resource: tree.handle(ix), depth, annotated: r.annotation.is_some() };
            if !lines.push(parsed) {
                return Err(DumpError::TooLarge { line: n });
            }
        }
        name_pending(&mut tree, &mut pending, &mut pending_ix, &mut ids);
        tree.shrink_after_parse();
        Ok(Built { tree, root, kind, lines })
    }

    fn fail(&mut self, e: ParseError) -> Result<(), DumpError> {
        if self.options.lenient {
            self.skipped.push(e);
            Ok(())
        } else {
            Err(DumpError::Line(e))
        }
    }
}

/// Lines whose names are interned together: the larger the batch, the
/// fewer sweeps over the name table, but the more working memory (about
/// 40 bytes a name) the batch touches. Measured on a million mostly
/// distinct names since repeats are found before the sweep: 2^16 and 2^15
/// take the same time, 2^18 2-4 % more in one process (1M lines: 152 MiB
/// peak against 160).
const NAME_BATCH: usize = 1 << 16;
/// The name slot of a resource whose name waits in the batch.
const NAME_PENDING: u32 = u32::MAX;

/// Interns the batch's names and gives each waiting resource its own.
fn name_pending(tree: &mut ResourceTree, pending: &mut Vec<&str>, pending_ix: &mut Vec<Ix>, ids: &mut Vec<u32>) {
    ids.clear();
    tree.names.intern_batch(pending, ids);
    for (&ix, &id) in pending_ix.iter().zip(ids.iter()) {
        tree.nodes[ix as usize].name = id;
    }
    pending.clear();
    pending_ix.clear();
}

/// The depth of a line: as printed below the cap; at the cap, below the
/// deepest line above it that contains it.
fn resolve_depth(r: &RawLine<'_>, range: Range, stack: &[Frame]) -> Result<usize, Box<ParseError>> {
    let indent_depth = r.spaces / 2;
    let above = stack.len();
    if indent_depth > above {
        let problem = Problem::Orphan { depth: indent_depth, above: above.checked_sub(1) };
        return Err(line::error(r.line, r.text, 0, Field::Indent, problem));
    }
    if indent_depth < MAX_INDENT_DEPTH {
        return Ok(indent_depth);
    }
    // Capped: the parent is the deepest open line at depth >= 4 that
    // contains the range; if none does, the placement check reports the
    // printed parent. The open lines are nested (each inside the one
    // above), so containment holds for a prefix of them: binary search,
    // not a scan, however deep the chain.
    let (mut lo, mut hi) = (indent_depth, above);
    if !stack[lo - 1].range.contains(range) {
        return Ok(indent_depth);
    }
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if stack[mid - 1].range.contains(range) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

/// Checks a new child against its parent and its previous sibling
/// (invariants I1 and I2 of resource-tree.md §2.7).
fn check_place(range: Range, parent: &Frame) -> Result<(), Problem> {
    if !parent.range.contains(range) {
        return Err(Problem::OutsideParent { range, parent_range: parent.range, parent_line: parent.line });
    }
    if let Some((sib, line)) = parent.last_child {
        if sib.end >= range.start {
            return Err(Problem::NotAfterSibling { range, sibling_range: sib, sibling_line: line });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The compact line table gives back every line as pushed: numbers
        /// with gaps, depths past a byte, annotations; in both directions.
        #[test]
        fn parsed_lines_give_back_what_was_pushed(
            steps in prop::collection::vec((0usize..4, prop_oneof![0usize..8, 100usize..300, Just(40_000)], any::<bool>()), 0..200),
        ) {
            // Handles by arithmetic: the table never asks the tree.
            let first = crate::tree::ResourceTree::default().handle(0);
            let mut lines = ParsedLines::default();
            let mut want = Vec::new();
            let mut number = 0;
            for (i, &(gap, depth, annotated)) in steps.iter().enumerate() {
                number += 1 + gap;
                let l = ParsedLine { line: number, resource: first.offset(i as u32), depth, annotated };
                prop_assert!(lines.push(l));
                want.push(l);
            }
            prop_assert_eq!(lines.len(), want.len());
            prop_assert_eq!(lines.iter().collect::<Vec<_>>(), want.clone());
            let mut back: Vec<_> = lines.iter().rev().collect();
            back.reverse();
            prop_assert_eq!(back, want.clone());
            for (i, l) in want.iter().enumerate() {
                prop_assert_eq!(lines.get(i), Some(*l));
            }
            prop_assert_eq!(lines.get(want.len()), None);
            // A plain dump costs a byte a line and one jump.
            if steps.iter().all(|&(gap, depth, _)| gap == 0 && depth < 8) {
                prop_assert!(lines.jumps.len() <= 1 && lines.deep.is_empty());
            }
        }
    }

    #[test]
    fn newline_search_is_a_plain_search() {
        let text = b"0-1 : a\n\n  22-33 : b c\nx\n0123456789abcdef0123\n\n\nlast";
        for from in 0..text.len() {
            let s = &text[from..];
            assert_eq!(find_newline(s), s.iter().position(|&b| b == b'\n'), "from {from}");
        }
        let lines: Vec<&[u8]> = raw_lines(text).map(|(_, l)| l).collect();
        let plain: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        assert_eq!(lines, plain);
        assert_eq!(raw_lines(b"a\n").count(), 1);
        assert_eq!(raw_lines(b"").count(), 0);
        assert_eq!(raw_lines(b"\n").map(|(_, l)| l.len()).collect::<Vec<_>>(), [0]);
    }
}
