//! What the dump parser reports: malformed lines ([`ParseError`]), unusable
//! dumps ([`DumpError`]) and remarks about input that parsed but is not what
//! the kernel prints ([`Note`]).

use alloc::string::String;
use core::fmt;

use crate::range::Range;

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
            Field::Line => "placement in the tree",
        })
    }
}

/// What is wrong with a line. Each message says what was found and why the
/// kernel could not have printed it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A character that cannot appear there.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What was found, described (`'.'`, `a tab`, `end of line`, ...).
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// An odd number of leading spaces (the kernel indents by two per level).
    #[error("indented by {spaces} spaces, an odd number: the kernel indents by two spaces per level")]
    OddIndent {
        /// The number of spaces.
        spaces: usize,
    },
    /// Indented deeper than any line above allows: there is no resource it
    /// could be a child of.
    #[error("{}", OrphanText(*depth, *above))]
    Orphan {
        /// This line's depth (indentation / 2).
        depth: usize,
        /// The depth of the resource line above it, `None` if there is none.
        above: Option<usize>,
    },
    /// More than the kernel's 10 spaces.
    #[error("indented by {spaces} spaces: the kernel caps the indentation at 10 spaces (depth 5)")]
    TooDeep {
        /// The number of spaces.
        spaces: usize,
    },
    /// A hex number longer than 64 bits.
    #[error("{digits} significant hex digits do not fit in a 64-bit address (at most 16)")]
    TooLong {
        /// Number of significant digits.
        digits: usize,
    },
    /// `end < start`.
    #[error("the range ends at {end:#x}, before it starts at {start:#x}")]
    Inverted {
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// Not inside the enclosing resource.
    #[error(
        "the range {range:?} is not inside {parent_range:?} (line {parent_line}), which its indentation makes \
         its parent: a resource always lies inside its parent"
    )]
    OutsideParent {
        /// This line's range.
        range: Range,
        /// The parent's range.
        parent_range: Range,
        /// The parent's line.
        parent_line: usize,
    },
    /// Overlaps or precedes the previous sibling.
    #[error(
        "the range {range:?} does not start after its previous sibling {sibling_range:?} (line {sibling_line}): \
         siblings never overlap and are printed in ascending order"
    )]
    NotAfterSibling {
        /// This line's range.
        range: Range,
        /// The sibling's range.
        sibling_range: Range,
        /// The sibling's line.
        sibling_line: usize,
    },
    /// Nested below a line that was skipped.
    #[error("nested below line {parent_line}, which was skipped, so it has no parent")]
    ParentSkipped {
        /// The skipped line.
        parent_line: usize,
    },
    /// The name is not UTF-8 (the column points at the first invalid byte).
    #[error("the name is not valid UTF-8 (byte {byte:#04x}); use lenient mode to decode it lossily")]
    NameEncoding {
        /// The first invalid byte.
        byte: u8,
    },
    /// A malformed annotation.
    #[error("malformed annotation: {0}")]
    Annotation(&'static str),
}

/// Display helper for [`Problem::Orphan`].
struct OrphanText(usize, Option<usize>);

impl fmt::Display for OrphanText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(above) => write!(
                f,
                "indented to depth {}, but the line above is at depth {above}: a child is indented exactly one \
                 level deeper than its parent, so this line has no parent",
                self.0
            ),
            None => write!(f, "indented to depth {}, but there is no resource line above it to be its parent", self.0),
        }
    }
}

/// A malformed line: where (line, column, field) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// Longest excerpt of the offending line quoted in messages.
const QUOTE_MAX: usize = 80;

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {} ({}): {}", self.line, self.column, self.field, self.problem)?;
        // Quote the line so the reader sees the context without opening the
        // file; long lines are cut at a character boundary.
        let mut cut = self.text.len().min(QUOTE_MAX);
        while !self.text.is_char_boundary(cut) {
            cut -= 1;
        }
        let ellipsis = if cut < self.text.len() { "…" } else { "" };
        write!(f, " in {:?}{ellipsis}", &self.text[..cut])
    }
}

impl core::error::Error for ParseError {}

/// Why a whole dump cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    /// A malformed line (strict mode), or, in lenient mode, the first
    /// skipped line when no line at all could be used.
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
    /// More resources than one tree can hold (about 4 billion).
    #[error("the dump has more resources than a tree can hold (line {line})")]
    TooLarge {
        /// The first line that did not fit.
        line: usize,
    },
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
    /// A `\r` before the newline: removed from an annotated line; kept in
    /// a plain dump's name (the kernel never writes one of its own, so the
    /// file was probably saved with CRLF line ends).
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

impl fmt::Display for NoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoteKind::BlankLine => "blank or whitespace-only line ignored",
            NoteKind::CarriageReturn => "'\\r' before the newline (kept in the name; CRLF line ends?)",
            NoteKind::NumberFormat => "address not printed the kernel's way (upper-case hex or other padding)",
            NoteKind::MissingSpaceAfterColon => "' :' without the space the kernel prints before an empty name",
            NoteKind::NoFinalNewline => "the last line has no newline",
            NoteKind::LossyName => "name not UTF-8, decoded lossily",
        })
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}
