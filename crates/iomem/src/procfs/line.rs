//! Splitting one dump line into its fields: `<indent><start>-<end> : <name>`,
//! optionally followed by a `[flags=0x… … desc=…]` annotation.
//!
//! Nothing here knows the tree: placement is checked by the caller. Errors
//! carry the byte column of the offending field so messages can point at it.

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use super::error::{Field, ParseError, Problem};
use crate::flags::{Desc, Flags};

/// The kernel never indents by more than this many spaces (depth 5).
pub(super) const MAX_SPACES: usize = 10;

/// One hex number as printed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Hex {
    pub(super) value: u64,
    /// Digits printed (including leading zeros).
    pub(super) digits: usize,
    /// Digits without leading zeros (0 for the value 0).
    pub(super) significant: usize,
    /// Whether any digit was upper case.
    pub(super) upper: bool,
}

impl Hex {
    /// True if the kernel prints this value exactly so at minimum width
    /// `width` (lower case, zero-padded to `width`, never more zeros).
    pub(super) fn is_kernel_format(&self, width: usize) -> bool {
        !self.upper && self.digits == self.significant.max(width)
    }
}

/// One line split into its fields, before placement.
#[derive(Clone, Copy, Debug)]
pub(super) struct RawLine<'a> {
    /// 1-based line number.
    pub(super) line: usize,
    /// The line's bytes (without newline or `\r`).
    pub(super) text: &'a [u8],
    /// Leading spaces.
    pub(super) spaces: usize,
    pub(super) start: Hex,
    pub(super) end: Hex,
    /// The name bytes (annotation removed).
    pub(super) name: &'a [u8],
    /// Byte offset of the name in the line.
    pub(super) name_col: usize,
    /// `' :'` instead of `' : '` before an empty name.
    pub(super) missing_space: bool,
    /// Flags and descriptor from an annotation.
    pub(super) annotation: Option<(Flags, Desc)>,
}

/// Describes a byte for an error message.
pub(super) fn describe(b: Option<u8>) -> String {
    match b {
        None => "end of line".to_string(),
        Some(b' ') => "a space".to_string(),
        Some(b'\t') => "a tab".to_string(),
        Some(c) if c.is_ascii_graphic() => alloc::format!("'{}'", c as char),
        Some(c) => alloc::format!("byte {c:#04x}"),
    }
}

/// Builds a [`ParseError`] for `text`; `offset` is 0-based.
pub(super) fn error(line: usize, text: &[u8], offset: usize, field: Field, problem: Problem) -> Box<ParseError> {
    Box::new(ParseError { line, column: offset + 1, field, problem, text: String::from_utf8_lossy(text).into_owned() })
}

/// Reads the hex number at `pos`, in one pass over its digits.
fn hex(n: usize, l: &[u8], pos: usize, field: Field) -> Result<(Hex, usize), Box<ParseError>> {
    let mut i = pos;
    let mut value: u64 = 0;
    let mut significant = 0;
    let mut upper = false;
    while let Some(&b) = l.get(i) {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => {
                upper = true;
                b - b'A' + 10
            }
            _ => break,
        };
        if significant > 0 || d != 0 {
            significant += 1;
        }
        // Past 16 significant digits the value is refused below; shifting
        // on would only discard high digits.
        value = (value << 4) | u64::from(d);
        i += 1;
    }
    let digits = i - pos;
    if digits == 0 {
        let problem = Problem::Unexpected { found: describe(l.get(pos).copied()), expected: "a hex digit" };
        return Err(error(n, l, pos, field, problem));
    }
    if significant > 16 {
        return Err(error(n, l, pos, field, Problem::TooLong { digits: significant }));
    }
    Ok((Hex { value, digits, significant, upper }, i))
}

/// Splits line `n` (its text `l`, non-blank) into fields.
pub(super) fn split(n: usize, l: &[u8], annotations: bool) -> Result<RawLine<'_>, Box<ParseError>> {
    let spaces = l.iter().take_while(|&&b| b == b' ').count();
    if let Some(&c @ (b'\t' | b'\x0b' | b'\x0c')) = l.get(spaces) {
        let problem = Problem::Unexpected { found: describe(Some(c)), expected: "spaces for indentation" };
        return Err(error(n, l, spaces, Field::Indent, problem));
    }
    if spaces % 2 == 1 {
        return Err(error(n, l, 0, Field::Indent, Problem::OddIndent { spaces }));
    }
    if spaces > MAX_SPACES {
        return Err(error(n, l, 0, Field::Indent, Problem::TooDeep { spaces }));
    }
    let (start, pos) = hex(n, l, spaces, Field::Start)?;
    if l.get(pos) != Some(&b'-') {
        let problem =
            Problem::Unexpected { found: describe(l.get(pos).copied()), expected: "'-' after the start address" };
        return Err(error(n, l, pos, Field::Dash, problem));
    }
    let end_col = pos + 1;
    let (end, pos) = hex(n, l, end_col, Field::End)?;
    let rest = &l[pos..];
    let (name, missing_space) = if let Some(name) = rest.strip_prefix(b" : ") {
        (name, false)
    } else if rest == b" :" {
        (&rest[2..], true)
    } else {
        let bad = rest.iter().zip(b" : ").position(|(a, b)| a != b).unwrap_or(rest.len());
        let problem = Problem::Unexpected {
            found: describe(rest.get(bad).copied()),
            expected: "' : ' between the end address and the name",
        };
        return Err(error(n, l, pos + bad, Field::Separator, problem));
    };
    let name_col = l.len() - name.len();
    let (name, annotation) = if annotations {
        match split_annotation(name) {
            Ok((name, ann)) => (name, Some(ann)),
            Err((offset, what)) => {
                return Err(error(n, l, name_col + offset, Field::Annotation, Problem::Annotation(what)));
            }
        }
    } else {
        (name, None)
    };
    if start.value > end.value {
        let problem = Problem::Inverted { start: start.value, end: end.value };
        return Err(error(n, l, end_col, Field::End, problem));
    }
    Ok(RawLine { line: n, text: l, spaces, start, end, name, name_col, missing_space, annotation })
}

/// Byte offset in the name field and what is wrong with the annotation.
type AnnotationError = (usize, &'static str);

/// Splits `NAME [flags=0xFLAGS DECODED desc=DESC]` into the name and the
/// flags/descriptor. The decoded names must agree with the flag word, so a
/// hand-edited annotation that contradicts itself is caught.
fn split_annotation(s: &[u8]) -> Result<(&[u8], (Flags, Desc)), AnnotationError> {
    const OPEN: &[u8] = b" [flags=";
    let at = s.windows(OPEN.len()).rposition(|w| w == OPEN).ok_or((s.len(), "missing ' [flags=' at the end"))?;
    let body_at = at + OPEN.len();
    let body = s[body_at..].strip_suffix(b"]").ok_or((s.len(), "the annotation does not end with ']'"))?;
    let body = core::str::from_utf8(body).map_err(|_| (body_at, "the annotation is not ASCII"))?;
    let mut words = body.split(' ');
    let flags_word = words.next().unwrap_or("");
    let hex = flags_word.strip_prefix("0x").ok_or((body_at, "the flag word must start with 0x"))?;
    if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((body_at, "the flag word is not a 32-bit hex number"));
    }
    let bits = u32::from_str_radix(hex, 16).map_err(|_| (body_at, "the flag word is not a 32-bit hex number"))?;
    let flags = Flags::from_bits_retain(bits);
    let decoded = words.next().ok_or((body_at, "the decoded flag names are missing"))?;
    if decoded != flags.to_string() {
        return Err((body_at, "the decoded flag names do not match the flag word"));
    }
    let desc_word = words.next().ok_or((s.len() - 1, "missing desc="))?;
    let desc_name = desc_word.strip_prefix("desc=").ok_or((body_at, "expected desc= after the flag names"))?;
    let desc = Desc::from_name(desc_name).ok_or((body_at, "unknown descriptor name"))?;
    if words.next().is_some() {
        return Err((body_at, "unexpected text after desc="));
    }
    Ok((&s[..at], (flags, desc)))
}
