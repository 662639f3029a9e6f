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
//! Flags are not in the text: every parsed resource gets the root's type
//! only (`MEM` or `IO`) and descriptor NONE. [`crate::infer`] reconstructs
//! flags from names and places. An *annotated* dump (the format of the
//! recordings' `observed/iomem-flags.txt`, a trailing
//! `[flags=0x… … desc=…]` per line) carries the real flags and is read
//! exactly when [`ParseOptions::annotations`] is set.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::flags::{Desc, Flags};
use crate::range::Range;
use crate::tree::{IOMEM, IOPORT, Ix, NIL, ResourceId, ResourceTree, TreeConfig};

/// Which file a dump is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DumpKind {
    /// Decide from the text: `/proc/ioports` if every top-level start is
    /// printed with exactly 4 digits, else `/proc/iomem`.
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

/// The part of a line a problem was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The leading spaces.
    Indent,
    /// The start address.
    Start,
    /// The `-` between the addresses.
    Dash,
    /// The end address.
    End,
    /// The ` : ` separator.
    Separator,
    /// The name.
    Name,
    /// The `[flags=… desc=…]` annotation.
    Annotation,
    /// The line as a whole (its place in the tree).
    Line,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Indent => "indentation",
            Field::Start => "start address",
            Field::Dash => "'-' between the addresses",
            Field::End => "end address",
            Field::Separator => "' : ' separator",
            Field::Name => "name",
            Field::Annotation => "flags annotation",
            Field::Line => "placement",
        })
    }
}

/// What is wrong with a line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A character that cannot appear there.
    #[error("unexpected {found} (expected {expected})")]
    Unexpected {
        /// What was found, described.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// An odd number of leading spaces (the kernel indents by two).
    #[error("{spaces} leading spaces is not a multiple of two")]
    OddIndent {
        /// The number of spaces.
        spaces: usize,
    },
    /// Deeper than the line above allows.
    #[error("indented to depth {depth}, but the line above is at depth {above} (an orphan line)")]
    Orphan {
        /// This line's depth.
        depth: usize,
        /// The depth of the line above.
        above: usize,
    },
    /// More than the kernel's 10 spaces.
    #[error("{spaces} leading spaces: the kernel never indents by more than 10")]
    TooDeep {
        /// The number of spaces.
        spaces: usize,
    },
    /// A hex number longer than 64 bits.
    #[error("{digits} hex digits do not fit in 64 bits")]
    TooLong {
        /// Number of significant digits.
        digits: usize,
    },
    /// `end < start`.
    #[error("the range {start:#x}-{end:#x} ends before it starts")]
    Inverted {
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// Not inside the enclosing resource.
    #[error("the range {range:?} is not inside its parent {parent_range:?} (line {parent_line})")]
    OutsideParent {
        /// This line's range.
        range: Range,
        /// The parent's range.
        parent_range: Range,
        /// The parent's line.
        parent_line: usize,
    },
    /// Overlaps or precedes the previous sibling.
    #[error("the range {range:?} does not start after its previous sibling {sibling_range:?} (line {sibling_line})")]
    NotAfterSibling {
        /// This line's range.
        range: Range,
        /// The sibling's range.
        sibling_range: Range,
        /// The sibling's line.
        sibling_line: usize,
    },
    /// Nested below a line that was skipped.
    #[error("nested below line {parent_line}, which was skipped")]
    ParentSkipped {
        /// The skipped line.
        parent_line: usize,
    },
    /// The name is not UTF-8.
    #[error("the name is not valid UTF-8")]
    NameEncoding,
    /// A malformed annotation.
    #[error("malformed annotation: {0}")]
    Annotation(&'static str),
}

/// A malformed line: where and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column} ({field}): {problem}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (byte offset in the line + 1).
    pub column: usize,
    /// The field.
    pub field: Field,
    /// What is wrong.
    pub problem: Problem,
    /// The line's text (lossily decoded).
    pub text: String,
}

/// Why a whole dump cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    /// A malformed line (strict mode).
    #[error(transparent)]
    Line(#[from] ParseError),
    /// Every address is zero: the file was read without CAP_SYS_ADMIN
    /// (since v4.6 the kernel prints zeros to such readers), so it says
    /// nothing about where anything is.
    #[error(
        "every address in the dump is zero ({lines} lines): it was read without CAP_SYS_ADMIN, \
         so the kernel hid the addresses; read /proc/iomem as root"
    )]
    Unprivileged {
        /// Number of resource lines.
        lines: usize,
    },
    /// No resource line at all.
    #[error("the dump contains no resource line")]
    Empty,
}

/// A remark about input that parsed but is not exactly what the kernel
/// prints (so it will not render back byte for byte).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// 1-based line number.
    pub line: usize,
    /// What differs.
    pub what: NoteKind,
}

/// Kinds of [`Note`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoteKind {
    /// A blank or whitespace-only line was ignored.
    BlankLine,
    /// A `\r` before the newline was removed.
    CarriageReturn,
    /// Upper-case hex digits or padding other than the kernel's.
    NumberFormat,
    /// The separator lacked the space after the colon (empty name).
    MissingSpaceAfterColon,
    /// The last line had no newline.
    NoFinalNewline,
    /// The name was not UTF-8 and was decoded lossily (lenient mode).
    LossyName,
}

/// One resource line of the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedLine {
    /// 1-based line number.
    pub line: usize,
    /// The resource built from it.
    pub resource: ResourceId,
    /// Its depth (0 = top level).
    pub depth: usize,
    /// Whether flags and descriptor came from an annotation.
    pub annotated: bool,
}

/// A parsed dump: the tree and how each line maps onto it.
#[derive(Debug)]
pub struct ParsedDump {
    /// The rebuilt tree. For an ioport dump the resources are below the
    /// ioport root, whose end is 0xffff when the dump is printed with
    /// 4-digit addresses, else at least 0xffffff.
    pub tree: ResourceTree,
    /// The root the resources are below.
    pub root: ResourceId,
    /// Which file it was.
    pub kind: DumpKind,
    /// Every resource line, in input order.
    pub lines: Vec<ParsedLine>,
    /// Lines skipped in lenient mode, with why.
    pub skipped: Vec<ParseError>,
    /// Remarks about non-kernel formatting.
    pub notes: Vec<Note>,
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
        self.lines.iter().find(|l| l.resource == resource).map(|l| l.line)
    }
}

/// One line split into its fields, before placement.
struct RawLine<'a> {
    spaces: usize,
    start: u64,
    end: u64,
    name: &'a [u8],
    annotation: Option<(Flags, Desc)>,
}

/// Parses a dump.
pub fn parse(input: &[u8], options: &ParseOptions) -> Result<ParsedDump, DumpError> {
    Parser::new(input, options).run()
}

/// Parses a dump given as text.
pub fn parse_str(input: &str, options: &ParseOptions) -> Result<ParsedDump, DumpError> {
    parse(input.as_bytes(), options)
}

struct Frame {
    ix: Ix,
    line: usize,
    range: Range,
    /// End of the last child placed below it (for the sibling check).
    last_child: Option<(Range, usize)>,
}

struct Parser<'a> {
    input: &'a [u8],
    options: &'a ParseOptions,
    notes: Vec<Note>,
    skipped: Vec<ParseError>,
}

fn describe(b: Option<u8>) -> String {
    match b {
        None => "end of line".to_string(),
        Some(c) if c.is_ascii_graphic() => alloc::format!("'{}'", c as char),
        Some(b' ') => "a space".to_string(),
        Some(b'\t') => "a tab".to_string(),
        Some(c) => alloc::format!("byte {c:#04x}"),
    }
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8], options: &'a ParseOptions) -> Parser<'a> {
        Parser { input, options, notes: Vec::new(), skipped: Vec::new() }
    }

    /// Splits the input into (line number, content without newline).
    fn lines(&mut self) -> Vec<(usize, &'a [u8])> {
        let mut out = Vec::new();
        let input = self.input;
        if !input.is_empty() && !input.ends_with(b"\n") {
            let n = input.split(|&b| b == b'\n').count();
            self.notes.push(Note { line: n, what: NoteKind::NoFinalNewline });
        }
        let body = input.strip_suffix(b"\n").unwrap_or(input);
        if input.is_empty() {
            return out;
        }
        for (i, mut l) in body.split(|&b| b == b'\n').enumerate() {
            if let Some(stripped) = l.strip_suffix(b"\r") {
                l = stripped;
                self.notes.push(Note { line: i + 1, what: NoteKind::CarriageReturn });
            }
            if l.iter().all(|b| b.is_ascii_whitespace()) {
                self.notes.push(Note { line: i + 1, what: NoteKind::BlankLine });
                continue;
            }
            out.push((i + 1, l));
        }
        out
    }

    fn error(line: usize, text: &[u8], column: usize, field: Field, problem: Problem) -> ParseError {
        ParseError { line, column: column + 1, field, problem, text: String::from_utf8_lossy(text).into_owned() }
    }

    /// Reads a hex number at `pos`; returns (value, new pos).
    fn hex(
        &mut self,
        n: usize,
        l: &[u8],
        pos: usize,
        field: Field,
        expected_width: usize,
    ) -> Result<(u64, usize), ParseError> {
        let digits = l[pos..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return Err(Self::error(
                n,
                l,
                pos,
                field,
                Problem::Unexpected { found: describe(l.get(pos).copied()), expected: "a hex digit" },
            ));
        }
        let text = &l[pos..pos + digits];
        let significant = text.iter().skip_while(|&&b| b == b'0').count();
        if significant > 16 {
            return Err(Self::error(n, l, pos, field, Problem::TooLong { digits: significant }));
        }
        let mut v: u64 = 0;
        let mut upper = false;
        for &b in text {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => {
                    upper = true;
                    b - b'A' + 10
                }
            };
            v = (v << 4) | u64::from(d);
        }
        // The kernel pads to the minimum width and never adds more zeros.
        let kernel_digits = significant.max(1).max(expected_width);
        if upper || digits != kernel_digits {
            self.notes.push(Note { line: n, what: NoteKind::NumberFormat });
        }
        Ok((v, pos + digits))
    }

    fn split_line(&mut self, n: usize, l: &'a [u8], width: usize) -> Result<RawLine<'a>, ParseError> {
        let spaces = l.iter().take_while(|&&b| b == b' ').count();
        if l.get(spaces) == Some(&b'\t') {
            return Err(Self::error(
                n,
                l,
                spaces,
                Field::Indent,
                Problem::Unexpected { found: describe(Some(b'\t')), expected: "spaces" },
            ));
        }
        if spaces % 2 == 1 {
            return Err(Self::error(n, l, 0, Field::Indent, Problem::OddIndent { spaces }));
        }
        if spaces > 10 {
            return Err(Self::error(n, l, 0, Field::Indent, Problem::TooDeep { spaces }));
        }
        let (start, pos) = self.hex(n, l, spaces, Field::Start, width)?;
        if l.get(pos) != Some(&b'-') {
            return Err(Self::error(
                n,
                l,
                pos,
                Field::Dash,
                Problem::Unexpected { found: describe(l.get(pos).copied()), expected: "'-'" },
            ));
        }
        let (end, pos) = self.hex(n, l, pos + 1, Field::End, width)?;
        let rest = &l[pos..];
        let name = if let Some(name) = rest.strip_prefix(b" : ") {
            name
        } else if rest == b" :" {
            self.notes.push(Note { line: n, what: NoteKind::MissingSpaceAfterColon });
            &rest[2..]
        } else {
            let bad = rest.iter().zip(b" : ").position(|(a, b)| a != b).unwrap_or(rest.len());
            return Err(Self::error(
                n,
                l,
                pos + bad,
                Field::Separator,
                Problem::Unexpected { found: describe(rest.get(bad).copied()), expected: "' : ' followed by the name" },
            ));
        };
        let name_col = l.len() - name.len();
        let (name, annotation) = if self.options.annotations {
            match split_annotation(name) {
                Ok((name, ann)) => (name, Some(ann)),
                Err((offset, what)) => {
                    return Err(Self::error(n, l, name_col + offset, Field::Annotation, Problem::Annotation(what)));
                }
            }
        } else {
            (name, None)
        };
        if start > end {
            return Err(Self::error(n, l, spaces, Field::Line, Problem::Inverted { start, end }));
        }
        Ok(RawLine { spaces, start, end, name, annotation })
    }

    fn run(mut self) -> Result<ParsedDump, DumpError> {
        let lines = self.lines();
        if lines.is_empty() {
            return Err(DumpError::Empty);
        }
        let kind = match self.options.kind {
            DumpKind::Auto => detect_kind(&lines),
            k => k,
        };
        let mut config = self.options.config;
        let root = if kind == DumpKind::Ioports {
            config.ioport_end = if four_digit_starts(&lines) { 0xffff } else { 0x00ff_ffff };
            IOPORT
        } else {
            IOMEM
        };
        let width = if kind == DumpKind::Ioports && config.ioport_end < 0x10000 { 4 } else { 8 };

        // First pass: split every line; detect the unprivileged form.
        let mut raw = Vec::with_capacity(lines.len());
        let mut all_zero = true;
        for &(n, l) in &lines {
            match self.split_line(n, l, width) {
                Ok(r) => {
                    all_zero &= r.start == 0 && r.end == 0;
                    raw.push((n, l, Ok(r)));
                }
                Err(e) => {
                    all_zero = false;
                    raw.push((n, l, Err(e)));
                }
            }
        }
        if all_zero {
            return Err(DumpError::Unprivileged { lines: raw.len() });
        }
        if kind == DumpKind::Ioports {
            let max_end = raw.iter().filter_map(|(_, _, r)| r.as_ref().ok().map(|r| r.end)).max().unwrap_or(0);
            if max_end > config.ioport_end {
                config.ioport_end = u64::MAX;
            }
        }

        let mut tree = ResourceTree::new(config);
        let root_range = tree.node(root).range();
        let mut out_lines = Vec::with_capacity(raw.len());
        // stack[d] = the most recent line placed at depth d.
        let mut stack: Vec<Frame> = Vec::new();
        let mut root_frame = Frame { ix: root, line: 0, range: root_range, last_child: None };
        // Depth of the most recent skipped line and its line number, so
        // lines nested below it are skipped too.
        let mut skipped_at: Option<(usize, usize)> = None;
        for (n, l, r) in raw {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    let spaces = l.iter().take_while(|&&b| b == b' ').count();
                    skipped_at = Some((spaces / 2, n));
                    self.fail(e)?;
                    continue;
                }
            };
            let indent_depth = r.spaces / 2;
            if let Some((d, parent_line)) = skipped_at {
                if indent_depth > d {
                    let e = Self::error(n, l, 0, Field::Indent, Problem::ParentSkipped { parent_line });
                    self.fail(e)?;
                    continue;
                }
                skipped_at = None;
            }
            let range = Range::new(r.start, r.end);
            let depth = match self.resolve_depth(n, l, indent_depth, range, &stack) {
                Ok(d) => d,
                Err(e) => {
                    skipped_at = Some((indent_depth, n));
                    self.fail(e)?;
                    continue;
                }
            };
            let parent = if depth == 0 { &mut root_frame } else { &mut stack[depth - 1] };
            if let Err(problem) = check_place(range, parent) {
                let e = Self::error(n, l, r.spaces, Field::Line, problem);
                skipped_at = Some((indent_depth, n));
                self.fail(e)?;
                continue;
            }
            let name = match core::str::from_utf8(r.name) {
                Ok(s) => tree.name_intern(s),
                Err(_) if self.options.lenient => {
                    self.notes.push(Note { line: n, what: NoteKind::LossyName });
                    tree.name_intern(&String::from_utf8_lossy(r.name))
                }
                Err(_) => {
                    let col = l.len() - r.name.len();
                    return Err(Self::error(n, l, col, Field::Name, Problem::NameEncoding).into());
                }
            };
            let (flags, desc) = r.annotation.unwrap_or((tree.node(root).flags, Desc::NONE));
            let name_slot = tree.name_slot(Some(name)).unwrap_or(u32::MAX);
            let ix = tree.alloc_node(range, name_slot, flags, desc).map_err(|_| DumpError::Empty)?;
            let parent_ix = parent.ix;
            parent.last_child = Some((range, n));
            let pos = tree.child_ids(parent_ix).len();
            tree.link_at(parent_ix, pos, ix);
            stack.truncate(depth);
            stack.push(Frame { ix, line: n, range, last_child: None });
            out_lines.push(ParsedLine { line: n, resource: tree.handle(ix), depth, annotated: r.annotation.is_some() });
        }
        if out_lines.is_empty() && !self.skipped.is_empty() {
            return Err(DumpError::Line(self.skipped.remove(0)));
        }
        debug_assert!(tree.node(root).parent == NIL);
        let root_id = tree.handle(root);
        Ok(ParsedDump { tree, root: root_id, kind, lines: out_lines, skipped: self.skipped, notes: self.notes })
    }

    fn fail(&mut self, e: ParseError) -> Result<(), DumpError> {
        if self.options.lenient {
            self.skipped.push(e);
            Ok(())
        } else {
            Err(e.into())
        }
    }

    /// The depth of a line indented to `indent_depth`: as printed below the
    /// cap; at the cap, below the deepest containing line above it.
    fn resolve_depth(
        &self,
        n: usize,
        l: &[u8],
        indent_depth: usize,
        range: Range,
        stack: &[Frame],
    ) -> Result<usize, ParseError> {
        let above = stack.len();
        if indent_depth > above {
            return Err(Self::error(
                n,
                l,
                0,
                Field::Indent,
                Problem::Orphan { depth: indent_depth, above: above.saturating_sub(1) },
            ));
        }
        if indent_depth < super::render::MAX_INDENT_DEPTH {
            return Ok(indent_depth);
        }
        // Capped: the parent is the deepest line at depth >= 4 that
        // contains the range.
        let mut depth = indent_depth;
        for d in (indent_depth..=above).rev() {
            if stack[d - 1].range.contains(range) {
                depth = d;
                break;
            }
        }
        Ok(depth)
    }
}

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

fn four_digit_starts(lines: &[(usize, &[u8])]) -> bool {
    lines.iter().all(|(_, l)| {
        let spaces = l.iter().take_while(|&&b| b == b' ').count();
        let digits = l[spaces..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
        digits == 4
    })
}

fn detect_kind(lines: &[(usize, &[u8])]) -> DumpKind {
    if four_digit_starts(lines) { DumpKind::Ioports } else { DumpKind::Iomem }
}

/// Splits `NAME [flags=0xFLAGS DECODED desc=DESC]` into the name and the
/// flags/descriptor. Errors carry the byte offset in `s` and a description.
/// Byte offset in the name field and what is wrong with the annotation.
type AnnotationError = (usize, &'static str);

fn split_annotation(s: &[u8]) -> Result<(&[u8], (Flags, Desc)), AnnotationError> {
    const OPEN: &[u8] = b" [flags=";
    let at = s.windows(OPEN.len()).rposition(|w| w == OPEN).ok_or((s.len(), "missing ' [flags=' annotation"))?;
    let body = &s[at + OPEN.len()..];
    let body = body.strip_suffix(b"]").ok_or((s.len(), "annotation does not end with ']'"))?;
    let body = core::str::from_utf8(body).map_err(|_| (at, "annotation is not ASCII"))?;
    let mut words = body.split(' ');
    let flags_word = words.next().unwrap_or("");
    let hex = flags_word.strip_prefix("0x").ok_or((at + OPEN.len(), "flags must start with 0x"))?;
    let bits = u32::from_str_radix(hex, 16).map_err(|_| (at + OPEN.len(), "flags are not a 32-bit hex number"))?;
    let mut desc = None;
    for w in words {
        if let Some(d) = w.strip_prefix("desc=") {
            desc = Some(Desc::from_name(d).ok_or((at, "unknown descriptor"))?);
        }
    }
    let desc = desc.ok_or((at, "missing desc="))?;
    Ok((&s[..at], (Flags::from_bits_retain(bits), desc)))
}
