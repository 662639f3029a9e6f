//! Output formats of a [`crate::model::Report`]: the annotated tree for
//! people ([`text`]) and the documented JSON for programs ([`json`]). The
//! kernel's own text (`--format proc`) comes straight from the library's
//! renderer.

pub(crate) mod check;
pub(crate) mod color;
pub(crate) mod json;
pub(crate) mod size;
pub(crate) mod text;

use iomem::Flags;
use serde::Serialize;

/// A JSON array serialized straight from an iterator, one element at a
/// time, so that output of any length is streamed rather than built in
/// memory first (the formatting is serde_json's, as for a `Vec`).
pub(crate) struct Streamed<I>(std::cell::RefCell<Option<I>>);

impl<I> Streamed<I> {
    /// Wraps an iterator; it is consumed by the first serialization.
    pub(crate) fn new(items: I) -> Self {
        Streamed(std::cell::RefCell::new(Some(items)))
    }
}

impl<I: Iterator<Item = T>, T: Serialize> Serialize for Streamed<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items = self.0.borrow_mut().take().into_iter().flatten();
        serializer.collect_seq(items)
    }
}

/// The kernel names of the set flags, each with whether it is assumed.
pub(crate) fn flag_names(flags: Flags, assumed: Flags) -> Vec<(String, bool)> {
    flags
        .names()
        .map(|name| {
            let bits = Flags::from_kernel_name(&name.to_string()).unwrap_or(Flags::empty());
            (name.to_string(), assumed.intersects(bits))
        })
        .collect()
}

/// `v` as `{:#x}` formats it (`0x`, lowercase digits, no leading zeros),
/// in `buf`.
pub(crate) fn hex_into(buf: &mut [u8; 18], v: u64) -> &[u8] {
    let digits = (64 - (v | 1).leading_zeros()).div_ceil(4) as usize;
    let first = buf.len() - digits - 2;
    buf[first..first + 2].copy_from_slice(b"0x");
    let mut x = v;
    for b in buf[first + 2..].iter_mut().rev() {
        *b = b"0123456789abcdef"[(x & 0xf) as usize];
        x >>= 4;
    }
    &buf[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_into_is_the_alternate_lower_hex_format() {
        for v in [0, 1, 0xf, 0x10, 0xfff, 0x1000, 0xdead_beef, 1 << 63, u64::MAX - 1, u64::MAX] {
            assert_eq!(hex_into(&mut [0; 18], v), format!("{v:#x}").as_bytes());
        }
        for shift in 0..64 {
            let v = (1u64 << shift) | 0x5a;
            assert_eq!(hex_into(&mut [0; 18], v), format!("{v:#x}").as_bytes());
        }
    }

    #[test]
    fn assumed_names_are_marked() {
        let names = flag_names(Flags::SYSTEM_RAM | Flags::BUSY, Flags::BUSY);
        let expected = [("MEM", false), ("SYSRAM", false), ("BUSY", true)];
        assert_eq!(names, expected.map(|(n, a)| (n.to_string(), a)));
    }
}
