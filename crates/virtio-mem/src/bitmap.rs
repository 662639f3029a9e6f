//! A fixed-size bitmap of 64-bit words with range operations, one bit per
//! device block (set = plugged).
//!
//! Range operations touch only the words the range covers (a partial head
//! word, whole words filled or scanned at once, a partial tail word), so a
//! request's cost depends on its length, never on the region's size.

use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::ops::Range;
use thiserror::Error;

const WORD_BITS: u64 = u64::BITS as u64;

/// A bit range that does not fit in the bitmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[error("bit range {start}..+{len} is outside a bitmap of {bits} bits")]
pub struct BitRangeError {
    /// First bit of the range.
    pub start: u64,
    /// Number of bits.
    pub len: u64,
    /// Size of the bitmap.
    pub bits: u64,
}

/// How many bits of a range are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeFill {
    /// Every bit is set (also the answer for an empty range).
    AllSet,
    /// No bit is set.
    AllClear,
    /// Some bits are set and some are not.
    Mixed,
}

/// Which values a scanned range has shown so far.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    any_set: bool,
    any_clear: bool,
}

impl Tally {
    /// Accounts for the bits of `word` selected by `mask`.
    fn add(&mut self, word: u64, mask: u64) {
        self.any_set |= word & mask != 0;
        self.any_clear |= word & mask != mask;
    }

    const fn is_mixed(&self) -> bool {
        self.any_set && self.any_clear
    }

    const fn fill(&self) -> RangeFill {
        match (self.any_set, self.any_clear) {
            (true, true) => RangeFill::Mixed,
            (true, false) => RangeFill::AllSet,
            _ => RangeFill::AllClear,
        }
    }
}

/// A bitmap of a fixed number of bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    words: Vec<u64>,
    bits: u64,
}

/// The word index and in-word mask for each word a bit range covers.
struct WordSpans {
    first_word: usize,
    last_word: usize,
    head_mask: u64,
    tail_mask: u64,
}

impl WordSpans {
    /// Spans of the non-empty range `start..end` (end exclusive).
    fn new(start: u64, end: u64) -> Self {
        let last = end - 1;
        // Both indices are < words.len(), which fits in usize by construction.
        let first_word = (start / WORD_BITS) as usize;
        let last_word = (last / WORD_BITS) as usize;
        let head_mask = u64::MAX << (start % WORD_BITS);
        let tail_mask = u64::MAX >> (WORD_BITS - 1 - last % WORD_BITS);
        Self { first_word, last_word, head_mask, tail_mask }
    }
}

impl Bitmap {
    /// A bitmap of `bits` clear bits. Fails instead of aborting when the
    /// words cannot be allocated.
    pub fn new(bits: u64) -> Result<Self, TryReserveError> {
        let word_count = usize::try_from(bits.div_ceil(WORD_BITS)).unwrap_or(usize::MAX);
        let mut words = Vec::new();
        words.try_reserve_exact(word_count)?;
        words.resize(word_count, 0);
        Ok(Self { words, bits })
    }

    /// Number of bits.
    pub const fn len(&self) -> u64 {
        self.bits
    }

    /// Whether the bitmap has no bits at all.
    pub const fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The words, low bit of word 0 first (for snapshots and tests).
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Bit `index`, or `None` past the end.
    pub fn get(&self, index: u64) -> Option<bool> {
        if index >= self.bits {
            return None;
        }
        let word = self.words.get((index / WORD_BITS) as usize)?;
        Some(word & (1 << (index % WORD_BITS)) != 0)
    }

    fn checked_end(&self, start: u64, len: u64) -> Result<u64, BitRangeError> {
        let error = BitRangeError { start, len, bits: self.bits };
        let end = start.checked_add(len).ok_or(error)?;
        if end > self.bits {
            return Err(error);
        }
        Ok(end)
    }

    /// Sets or clears `len` bits from `start`: the partial head and tail
    /// words are masked, the whole words between them are written with one
    /// slice fill (a memset).
    fn fill(&mut self, start: u64, len: u64, value: bool) -> Result<(), BitRangeError> {
        let end = self.checked_end(start, len)?;
        if len == 0 {
            return Ok(());
        }
        let spans = WordSpans::new(start, end);
        let apply = |word: &mut u64, mask: u64| {
            if value {
                *word |= mask;
            } else {
                *word &= !mask;
            }
        };
        let error = BitRangeError { start, len, bits: self.bits };
        if spans.first_word == spans.last_word {
            let word = self.words.get_mut(spans.first_word).ok_or(error)?;
            apply(word, spans.head_mask & spans.tail_mask);
            return Ok(());
        }
        let words = self.words.get_mut(spans.first_word..=spans.last_word).ok_or(error)?;
        let Some((head, rest)) = words.split_first_mut() else {
            return Err(error);
        };
        let Some((tail, middle)) = rest.split_last_mut() else {
            return Err(error);
        };
        apply(head, spans.head_mask);
        apply(tail, spans.tail_mask);
        middle.fill(if value { u64::MAX } else { 0 });
        Ok(())
    }

    /// Sets `len` bits from `start`.
    pub fn set_range(&mut self, start: u64, len: u64) -> Result<(), BitRangeError> {
        self.fill(start, len, true)
    }

    /// Clears `len` bits from `start`.
    pub fn clear_range(&mut self, start: u64, len: u64) -> Result<(), BitRangeError> {
        self.fill(start, len, false)
    }

    /// Clears every bit.
    pub fn clear_all(&mut self) {
        self.words.fill(0);
    }

    /// Classifies `len` bits from `start`. Whole words are scanned eight at
    /// a time (OR and AND of the group), stopping at the first group that
    /// proves the range mixed.
    pub fn range_fill(&self, start: u64, len: u64) -> Result<RangeFill, BitRangeError> {
        let end = self.checked_end(start, len)?;
        if len == 0 {
            return Ok(RangeFill::AllSet);
        }
        let spans = WordSpans::new(start, end);
        let word = |index: usize| self.words.get(index).copied().unwrap_or(0);
        let mut tally = Tally::default();
        if spans.first_word == spans.last_word {
            tally.add(word(spans.first_word), spans.head_mask & spans.tail_mask);
            return Ok(tally.fill());
        }
        tally.add(word(spans.first_word), spans.head_mask);
        tally.add(word(spans.last_word), spans.tail_mask);
        let middle = self.words.get(spans.first_word + 1..spans.last_word).unwrap_or(&[]);
        let mut groups = middle.chunks_exact(8);
        for group in &mut groups {
            if tally.is_mixed() {
                return Ok(RangeFill::Mixed);
            }
            let (or, and) = group.iter().fold((0u64, u64::MAX), |(or, and), w| (or | w, and & w));
            tally.any_set |= or != 0;
            tally.any_clear |= and != u64::MAX;
        }
        for &w in groups.remainder() {
            tally.add(w, u64::MAX);
        }
        Ok(tally.fill())
    }

    /// Whether every one of `len` bits from `start` is set.
    pub fn all_set(&self, start: u64, len: u64) -> Result<bool, BitRangeError> {
        Ok(self.range_fill(start, len)? == RangeFill::AllSet)
    }

    /// Whether none of `len` bits from `start` is set.
    pub fn all_clear(&self, start: u64, len: u64) -> Result<bool, BitRangeError> {
        Ok(len == 0 || self.range_fill(start, len)? == RangeFill::AllClear)
    }

    /// Number of set bits (scans the whole bitmap; for checks, not hot paths).
    pub fn count_ones(&self) -> u64 {
        self.words.iter().map(|word| u64::from(word.count_ones())).sum()
    }

    /// The maximal runs of set bits, in ascending order.
    pub fn set_runs(&self) -> SetRuns<'_> {
        SetRuns { bitmap: self, next: 0 }
    }

    /// First bit at or after `from` whose value is `value`, if any.
    fn find_from(&self, from: u64, value: bool) -> Option<u64> {
        if from >= self.bits {
            return None;
        }
        let mut index = (from / WORD_BITS) as usize;
        let mut word = *self.words.get(index)?;
        if !value {
            word = !word;
        }
        word &= u64::MAX << (from % WORD_BITS);
        loop {
            if word != 0 {
                let bit = index as u64 * WORD_BITS + u64::from(word.trailing_zeros());
                return (bit < self.bits).then_some(bit);
            }
            index += 1;
            word = *self.words.get(index)?;
            if !value {
                word = !word;
            }
        }
    }
}

/// Iterator over the runs of set bits of a [`Bitmap`], as bit ranges.
#[derive(Debug, Clone)]
pub struct SetRuns<'a> {
    bitmap: &'a Bitmap,
    next: u64,
}

impl Iterator for SetRuns<'_> {
    type Item = Range<u64>;

    fn next(&mut self) -> Option<Range<u64>> {
        let start = self.bitmap.find_from(self.next, true)?;
        let end = self.bitmap.find_from(start, false).unwrap_or(self.bitmap.bits);
        self.next = end;
        Some(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn ranges_across_word_boundaries() {
        let mut bitmap = Bitmap::new(200).unwrap();
        bitmap.set_range(60, 80).unwrap();
        assert_eq!(bitmap.count_ones(), 80);
        assert_eq!(bitmap.get(59), Some(false));
        assert_eq!(bitmap.get(60), Some(true));
        assert_eq!(bitmap.get(139), Some(true));
        assert_eq!(bitmap.get(140), Some(false));
        assert_eq!(bitmap.range_fill(60, 80), Ok(RangeFill::AllSet));
        assert_eq!(bitmap.range_fill(59, 2), Ok(RangeFill::Mixed));
        assert_eq!(bitmap.range_fill(140, 60), Ok(RangeFill::AllClear));
        bitmap.clear_range(64, 64).unwrap();
        assert_eq!(bitmap.set_runs().collect::<Vec<_>>(), vec![60..64, 128..140]);
        assert_eq!(bitmap.get(200), None);
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        let mut bitmap = Bitmap::new(130).unwrap();
        assert!(bitmap.set_range(129, 2).is_err());
        assert!(bitmap.set_range(u64::MAX, 2).is_err());
        assert!(bitmap.range_fill(0, 131).is_err());
        bitmap.set_range(129, 1).unwrap();
        assert_eq!(bitmap.set_runs().collect::<Vec<_>>(), vec![129..130]);
    }

    #[test]
    fn last_bit_of_a_full_word() {
        let mut bitmap = Bitmap::new(128).unwrap();
        bitmap.set_range(0, 128).unwrap();
        assert_eq!(bitmap.set_runs().collect::<Vec<_>>(), vec![0..128]);
        assert_eq!(bitmap.count_ones(), 128);
        bitmap.clear_all();
        assert_eq!(bitmap.count_ones(), 0);
        assert!(Bitmap::new(0).unwrap().is_empty());
    }
}
