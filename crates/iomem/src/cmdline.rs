//! Kernel command-line parsing: splitting into parameters and the
//! `get_option` integer reader, plus the `iomem=` rule
//! (resource-tree.md §7).

/// One `key[=value]` parameter of a kernel command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter name (before the first `=`).
    pub key: &'a str,
    /// The value (after the first `=`), with surrounding double quotes
    /// removed; `None` for a bare flag.
    pub value: Option<&'a str>,
}

/// Splits a command line into parameters the way the kernel's `next_arg`
/// does: on spaces, except inside double quotes; a quoted value has its
/// quotes removed.
pub fn params(cmdline: &str) -> impl Iterator<Item = Param<'_>> {
    let mut rest = cmdline;
    core::iter::from_fn(move || {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if rest.is_empty() {
            return None;
        }
        let mut in_quote = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if c == '"' {
                in_quote = !in_quote;
            } else if c.is_ascii_whitespace() && !in_quote {
                end = i;
                break;
            }
        }
        let word = &rest[..end];
        rest = &rest[end..];
        let word = word.strip_prefix('"').map_or(word, |w| w.strip_suffix('"').unwrap_or(w));
        Some(match word.split_once('=') {
            Some((key, value)) => {
                let value = value.strip_prefix('"').map_or(value, |v| v.strip_suffix('"').unwrap_or(v));
                Param { key, value: Some(value) }
            }
            None => Param { key: word, value: None },
        })
    })
}

/// The values of every `key=` parameter of a command line, in order.
pub fn values<'a>(cmdline: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> {
    params(cmdline).filter(move |p| p.key == key).filter_map(|p| p.value)
}

/// Result of [`get_option`] (the kernel's return codes 0–3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetOption {
    /// 0: no integer.
    None,
    /// 1: an integer, not followed by a comma.
    Int(i32),
    /// 2: an integer followed by a comma (consumed).
    IntComma(i32),
    /// 3: an integer followed by `-` (a range).
    IntDash(i32),
}

/// The kernel's `get_option`: reads one C `int` (decimal, `0x` hex, leading
/// `0` octal, optional leading `-`; values wrap like `simple_strtoull`
/// truncated to `int`) from the front of `s`, advancing it.
pub fn get_option(s: &mut &str) -> GetOption {
    let cur = *s;
    if cur.is_empty() {
        return GetOption::None;
    }
    let (negative, digits) = match cur.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, cur),
    };
    let (value, used) = simple_strtoull(digits);
    if used == 0 {
        // The kernel leaves the cursor past a lone '-' but reports nothing.
        if negative {
            *s = digits;
        }
        return GetOption::None;
    }
    let value = if negative { value.wrapping_neg() } else { value } as i32;
    *s = &digits[used..];
    if let Some(r) = s.strip_prefix(',') {
        *s = r;
        return GetOption::IntComma(value);
    }
    if s.starts_with('-') {
        return GetOption::IntDash(value);
    }
    GetOption::Int(value)
}

/// `simple_strtoull(s, &end, 0)`: returns the value (wrapping) and how many
/// bytes were consumed (0 if no digit was read).
pub fn simple_strtoull(s: &str) -> (u64, usize) {
    let b = s.as_bytes();
    let (base, skip) = if b.first() == Some(&b'0') {
        if matches!(b.get(1), Some(b'x' | b'X')) && b.get(2).is_some_and(u8::is_ascii_hexdigit) {
            (16, 2)
        } else {
            (8, 0)
        }
    } else {
        (10, 0)
    };
    let mut value: u64 = 0;
    let mut i = skip;
    while let Some(&c) = b.get(i) {
        let d = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            b'a'..=b'f' => u64::from(c - b'a' + 10),
            b'A'..=b'F' => u64::from(c - b'A' + 10),
            _ => break,
        };
        if d >= base {
            break;
        }
        value = value.wrapping_mul(base).wrapping_add(d);
        i += 1;
    }
    if i == skip { (0, 0) } else { (value, i) }
}

/// The `iomem=` rule (§7.2) applied to the current `strict_iomem_checks`
/// value: a value containing "relaxed" turns strict checks off, then one
/// containing "strict" turns them on (so a value containing both ends up
/// strict).
pub fn apply_iomem_param(strict: bool, value: &str) -> bool {
    let mut strict = strict;
    if value.contains("relaxed") {
        strict = false;
    }
    if value.contains("strict") {
        strict = true;
    }
    strict
}

/// `strict_iomem_checks` after boot: starts as `CONFIG_STRICT_DEVMEM` and
/// every `iomem=` option of the command line is applied in order.
pub fn strict_iomem_checks(strict_devmem: bool, cmdline: &str) -> bool {
    values(cmdline, "iomem").fold(strict_devmem, apply_iomem_param)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn splits_like_the_kernel() {
        let p: Vec<_> = params(r#"BOOT_IMAGE=/vmlinuz ro  quiet foo="a b" iomem=relaxed"#).collect();
        assert_eq!(p.len(), 5);
        assert_eq!(p[3], Param { key: "foo", value: Some("a b") });
        assert_eq!(p[2], Param { key: "quiet", value: None });
    }

    #[test]
    fn iomem_rule() {
        assert!(!strict_iomem_checks(true, "iomem=relaxed"));
        assert!(strict_iomem_checks(false, "iomem=strict"));
        assert!(strict_iomem_checks(true, "iomem=relaxed,strict"));
        assert!(strict_iomem_checks(true, "iomem=relaxed iomem=strict"));
        assert!(!strict_iomem_checks(true, "iomem=strict iomem=relaxed"));
        assert!(!strict_iomem_checks(false, "quiet"));
        assert!(strict_iomem_checks(true, "iomem=foo"));
    }

    #[test]
    fn get_option_forms() {
        let mut s = "0x100000,0x1000,010,-2";
        assert_eq!(get_option(&mut s), GetOption::IntComma(0x100000));
        assert_eq!(get_option(&mut s), GetOption::IntComma(0x1000));
        assert_eq!(get_option(&mut s), GetOption::IntComma(8));
        assert_eq!(get_option(&mut s), GetOption::Int(-2));
        assert_eq!(get_option(&mut s), GetOption::None);
        let mut r = "5-7";
        assert_eq!(get_option(&mut r), GetOption::IntDash(5));
        let mut z = "0x";
        assert_eq!(get_option(&mut z), GetOption::Int(0));
        assert_eq!(z, "x");
        let mut big = "0x1ffffffff";
        assert_eq!(get_option(&mut big), GetOption::Int(-1));
    }
}
