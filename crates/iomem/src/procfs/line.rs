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

/// Value of each byte as a hex digit, `UPPER` added for `A`–`F`, or
/// `NOT_HEX`.
const HEX_DIGIT: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = (10 + i as u8) | UPPER;
        i += 1;
    }
    t
};
const UPPER: u8 = 0x10;
const NOT_HEX: u8 = 0xff;

/// Reads the hex number at `pos`: one table lookup per digit; leading
/// zeros and case are counted afterwards from the digits' own bytes.
fn hex(n: usize, l: &[u8], pos: usize, field: Field) -> Result<(Hex, usize), Box<ParseError>> {
    let mut value: u64 = 0;
    let mut seen = 0u8;
    let mut i = pos;
    while let Some(&b) = l.get(i) {
        let d = HEX_DIGIT[usize::from(b)];
        if d == NOT_HEX {
            break;
        }
        seen |= d;
        // Past 16 significant digits the value is refused below; shifting
        // on would only discard high digits.
        value = (value << 4) | u64::from(d & 0x0f);
        i += 1;
    }
    let digits = i - pos;
    if digits == 0 {
        let problem = Problem::Unexpected { found: describe(l.get(pos).copied()), expected: "a hex digit" };
        return Err(error(n, l, pos, field, problem));
    }
    let zeros = l[pos..i].iter().take_while(|&&b| b == b'0').count();
    let significant = digits - zeros;
    if significant > 16 {
        return Err(error(n, l, pos, field, Problem::TooLong { digits: significant }));
    }
    Ok((Hex { value, digits, significant, upper: seen & UPPER != 0 }, i))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The digits' value, count, significant count and case, computed the
    /// slow way.
    fn reference(digits: &str) -> (u64, usize, usize, bool) {
        let sig = digits.trim_start_matches('0');
        let value = if sig.is_empty() { 0 } else { u64::from_str_radix(sig, 16).unwrap() };
        (value, digits.len(), sig.len(), digits.bytes().any(|b| b.is_ascii_uppercase()))
    }

    #[test]
    fn hex_reads_every_digit_form_as_the_slow_way_does() {
        for d in [
            "0",
            "000",
            "1",
            "00000000",
            "fed00000",
            "FED00000",
            "fEd0",
            "ffffffffffffffff",
            "0000ffffffffffffffff",
            "0123456789abcdefABCDEF"[..16].trim_end(),
            "a",
            "F",
        ] {
            let line = alloc::format!("{d}-");
            let (h, at) = hex(1, line.as_bytes(), 0, Field::Start).unwrap();
            assert_eq!((h.value, h.digits, h.significant, h.upper), reference(d), "{d}");
            assert_eq!(at, d.len(), "{d}: stops at the dash");
        }
        // 17 significant digits are refused, whatever the leading zeros.
        let e = hex(1, b"010000000000000000-", 0, Field::Start).unwrap_err();
        assert!(matches!(e.problem, Problem::TooLong { digits: 17 }), "{e:?}");
        // No digit at all.
        let e = hex(1, b"g-", 0, Field::Start).unwrap_err();
        assert!(matches!(e.problem, Problem::Unexpected { .. }), "{e:?}");
        // Every byte: a digit exactly when the standard library says so.
        for b in 0..=255u8 {
            assert_eq!(HEX_DIGIT[usize::from(b)] != NOT_HEX, b.is_ascii_hexdigit(), "byte {b:#x}");
        }
    }
}
