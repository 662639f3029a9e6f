//! Inclusive address ranges over the full 64-bit space and the kernel's range
//! helpers (resource-tree.md §1, §3).
//!
//! All arithmetic wraps exactly as unsigned C arithmetic does: a range built
//! from `(start, n)` ends at `start + n - 1`, so `n = 0` at `start = 0` is the
//! whole space `[0, u64::MAX]` (whose size wraps to 0).

use core::fmt;

/// An inclusive range `[start, end]`. `end < start` (an *inverted* range) is
/// representable because the kernel produces it (`adjust_resource` with size
/// 0, `DEFINE_RES` with size 0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Range {
    /// First address.
    pub start: u64,
    /// Last address (inclusive).
    pub end: u64,
}

impl Range {
    /// `[start, end]`.
    pub const fn new(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    /// `[start, start + n - 1]`, wrapping (`DEFINE_RES`, `resource_set_range`).
    pub const fn from_start_size(start: u64, n: u64) -> Range {
        Range { start, end: start.wrapping_add(n).wrapping_sub(1) }
    }

    /// The whole 64-bit space.
    pub const FULL: Range = Range::new(0, u64::MAX);

    /// `resource_size`: `end - start + 1`, wrapping (0 for the whole space).
    pub const fn size(self) -> u64 {
        self.end.wrapping_sub(self.start).wrapping_add(1)
    }

    /// The exact number of addresses covered, without wrapping
    /// (`2^64` for the whole space, 0 for an inverted range).
    pub const fn len(self) -> u128 {
        if self.end < self.start { 0 } else { (self.end - self.start) as u128 + 1 }
    }

    /// True for an inverted range, which covers no address (`len() == 0`).
    pub const fn is_empty(self) -> bool {
        self.end < self.start
    }

    /// True for an inverted range (`end < start`), which covers nothing.
    pub const fn is_inverted(self) -> bool {
        self.end < self.start
    }

    /// True if `addr` lies inside.
    pub const fn contains_addr(self, addr: u64) -> bool {
        self.start <= addr && addr <= self.end
    }

    /// True if `other` lies inside (plain bounds test, no type check).
    pub const fn contains(self, other: Range) -> bool {
        self.start <= other.start && self.end >= other.end
    }

    /// `resource_overlaps`: `a.start <= b.end && a.end >= b.start` (flags are
    /// ignored; the kernel applies the same test to inverted ranges).
    pub const fn overlaps(self, other: Range) -> bool {
        self.start <= other.end && self.end >= other.start
    }

    /// `resource_intersection`: `None` when the ranges do not overlap.
    pub const fn intersection(self, other: Range) -> Option<Range> {
        if !self.overlaps(other) {
            return None;
        }
        let start = if self.start > other.start { self.start } else { other.start };
        let end = if self.end < other.end { self.end } else { other.end };
        Some(Range { start, end })
    }

    /// `resource_union`: `None` when the ranges do not overlap (adjacent but
    /// non-overlapping ranges are *not* united).
    pub const fn union(self, other: Range) -> Option<Range> {
        if !self.overlaps(other) {
            return None;
        }
        let start = if self.start < other.start { self.start } else { other.start };
        let end = if self.end > other.end { self.end } else { other.end };
        Some(Range { start, end })
    }
}

impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}-{:#x}]", self.start, self.end)
    }
}

impl fmt::Display for Range {
    /// The kernel's `%pR`-like form used in log lines: `[mem 0x…-0x…]` is left
    /// to the caller; this prints `0x…-0x…` zero-padded to 16 digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}-{:#018x}", self.start, self.end)
    }
}

/// `ALIGN(x, a) = (x + a - 1) & !(a - 1)`, wrapping; `ALIGN(x, 0) = 0`
/// (resource-tree.md §1; `a` is expected to be a power of two, other values
/// give the mask arithmetic result).
pub const fn align_up(x: u64, a: u64) -> u64 {
    x.wrapping_add(a).wrapping_sub(1) & !a.wrapping_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_sizes() {
        assert_eq!(Range::FULL.size(), 0);
        assert_eq!(Range::FULL.len(), 1u128 << 64);
        assert_eq!(Range::from_start_size(0, 0), Range::FULL);
        assert_eq!(Range::from_start_size(0x2000, 0), Range::new(0x2000, 0x1fff));
        assert!(Range::from_start_size(0x2000, 0).is_inverted());
        assert_eq!(Range::new(0x1000, 0x1fff).size(), 0x1000);
    }

    #[test]
    fn align_edge_cases() {
        assert_eq!(align_up(0x1001, 0x1000), 0x2000);
        assert_eq!(align_up(0x1000, 0x1000), 0x1000);
        assert_eq!(align_up(5, 0), 0);
        assert_eq!(align_up(u64::MAX, 0x1000), 0); // wraps
    }

    #[test]
    fn touching_is_not_overlapping() {
        let a = Range::new(0, 0xfff);
        let b = Range::new(0x1000, 0x1fff);
        assert!(!a.overlaps(b));
        assert_eq!(a.union(b), None);
        assert_eq!(a.intersection(b), None);
    }
}
