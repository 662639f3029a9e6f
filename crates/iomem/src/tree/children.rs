//! The child index of one parent: its children's records in address order
//! with a small B-tree-like summary on top, so that finding the child an
//! address falls into costs a few cache lines per level whatever the
//! number of siblings, and never walks along inverted (zero-size) ones.
//!
//! * **Records** ([`Child`], 32 bytes, two per cache line) hold everything a
//!   per-address query reads: start, end, flags, descriptor, the child's
//!   arena slot and its own child list. A query descends from record to
//!   record without touching the arena.
//! * **Summary levels.** Level 0 keeps the start of every `LEAF`-th record,
//!   level *k* the first key of every `FAN`-th key of level *k − 1*, up to a
//!   level of at most `FAN` keys. A search counts the keys at or below the
//!   address in one group of each level (a branch-free count over one or
//!   two cache lines), from the top, then in one group of `LEAF` records.
//! * **Last non-inverted record.** Each summary entry also stores the
//!   highest index of a non-inverted record in its span, so the kernel's
//!   sibling walk past inverted siblings (`first_reaching`) is answered in
//!   `O(LEAF + FAN · levels)` however many inverted siblings precede the
//!   address.
//!
//! Every mutation rebuilds the summary of the affected groups only: from
//! the changed position to the end (an insertion or removal shifts the
//! records after it, which the vector's move costs anyway), or one group
//! per level (a record changed in place). Appending, as the parser does,
//! costs O(1) amortised.

use alloc::vec::Vec;

use smallvec::SmallVec;

use super::Ix;
use crate::flags::{Desc, Flags};

/// Records per leaf group.
const LEAF: usize = 8;
/// Lists of at most this many records have no summary: a count over all
/// their records (contiguous, read in parallel) beats another indirection.
const SMALL: usize = 32;
/// Keys per group of a summary level.
const FAN: usize = 16;
/// "None" in the last-non-inverted summaries.
const NONE: u32 = u32::MAX;

/// One child as its parent's index stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Child {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) flags: Flags,
    pub(crate) desc: Desc,
    /// The child's arena slot.
    pub(crate) slot: Ix,
    /// The child's own child list (`NIL` for a leaf).
    pub(crate) kids: u32,
}

impl Child {
    pub(crate) const fn is_inverted(&self) -> bool {
        self.end < self.start
    }
}

/// One summary level.
#[derive(Clone, Debug, Default)]
struct Level {
    /// The first start of each group of the level below.
    keys: Vec<u64>,
    /// The highest index of a non-inverted record in each group's span.
    last_real: Vec<u32>,
    /// Level 0 only: for each leaf group that is a dense run of busy
    /// System RAM by itself (see [`ChildList::is_dense_ram`]), the end of
    /// its last record; 0 for the others (a dense record ends at 0xffff or
    /// above). Lets `page_is_ram` answer from the summary in a list with
    /// holes.
    dense_end: Vec<u64>,
}

/// The children of one parent, sorted by start (non-strictly: inverted
/// resources may share a start with a neighbour).
#[derive(Clone, Debug, Default)]
pub(crate) struct ChildList {
    /// One record lives inline: most resources have at most one child
    /// (a driver's claim of a BAR), and their list then costs no
    /// allocation of its own.
    recs: SmallVec<[Child; 1]>,
    /// None while there are at most `SMALL` records (most lists: boxed so
    /// that a small list costs its records and two words).
    levels: Levels,
    /// Every flag bit of a resource in this list or below it: a superset
    /// (bits are added as resources arrive or gain flags, and only dropped
    /// when the tree recomputes them), so a bit missing here is missing
    /// from the whole subtree and a search for it may skip the list.
    below: Flags,
    /// How far the list is from being one run of busy System RAM: the
    /// records that are not busy System RAM with 64 KiB-aligned bounds,
    /// plus the neighbours that do not touch (see [`Self::is_dense_ram`]).
    /// Kept by every mutation from the records around the change, in lists
    /// with a summary only (a short list's search reads all its records
    /// anyway, and most lists are short: no work per line for them).
    breaks: u32,
}

/// The alignment of a record's bounds that [`ChildList::is_dense_ram`]
/// requires: the largest page size Linux uses (64 KiB), so that a page of
/// any size inside a dense run lies inside one record.
const DENSE_ALIGN: u64 = 1 << DENSE_SHIFT;
/// The base-2 logarithm of [`DENSE_ALIGN`]: pages up to this size fit.
pub(crate) const DENSE_SHIFT: u32 = 16;

/// A record a dense run may hold: busy System RAM, not inverted, with
/// aligned bounds.
#[inline]
fn dense_record(r: &Child) -> bool {
    !r.is_inverted()
        && r.flags.has_all(Flags::SYSTEM_RAM | Flags::BUSY)
        && r.start % DENSE_ALIGN == 0
        && r.end.wrapping_add(1) % DENSE_ALIGN == 0
}

/// Two neighbours of a dense run: the second starts right after the first.
#[inline]
fn touching(a: &Child, b: &Child) -> bool {
    a.end != u64::MAX && a.end + 1 == b.start
}

/// The summary levels, lowest first.
type Levels = Option<alloc::boxed::Box<Vec<Level>>>;

/// Number of keys `<= addr` in a sorted group.
#[inline]
fn count_le(keys: &[u64], addr: u64) -> usize {
    if let Ok(full) = <&[u64; FAN]>::try_from(keys) {
        return full.iter().map(|&k| usize::from(k <= addr)).sum();
    }
    keys.iter().map(|&k| usize::from(k <= addr)).sum()
}

/// Number of records starting `<= addr` in a sorted group.
#[inline]
fn count_recs_le(recs: &[Child], addr: u64) -> usize {
    if let Ok(full) = <&[Child; LEAF]>::try_from(recs) {
        return full.iter().map(|r| usize::from(r.start <= addr)).sum();
    }
    recs.iter().map(|r| usize::from(r.start <= addr)).sum()
}

impl ChildList {
    /// The summary levels (none for a short list).
    #[inline]
    fn lv(&self) -> &[Level] {
        self.levels.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The summary levels, to change them.
    fn lv_mut(&mut self) -> &mut Vec<Level> {
        self.levels.get_or_insert_with(Default::default)
    }

    /// The records, lowest first.
    #[inline]
    pub(crate) fn recs(&self) -> &[Child] {
        &self.recs
    }

    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    /// A superset of the flag bits of every resource in this list's
    /// subtree (see the field).
    #[inline]
    pub(crate) fn below(&self) -> Flags {
        self.below
    }

    /// Adds `bits` to [`Self::below`]; false if they were all there.
    pub(crate) fn add_below(&mut self, bits: Flags) -> bool {
        let grown = !self.below.contains(bits);
        self.below |= bits;
        grown
    }

    /// True if the records are one run of busy System RAM: each busy
    /// System RAM with 64 KiB-aligned bounds, each starting right after
    /// the one before. A page (of any Linux size) between the first start
    /// and the last end then lies in exactly one record, which covers it.
    #[inline]
    pub(crate) fn is_dense_ram(&self) -> bool {
        self.tracks_breaks() && self.breaks == 0
    }

    /// Whether [`Self::breaks`] is kept (the list has a summary).
    #[inline]
    fn tracks_breaks(&self) -> bool {
        self.levels.is_some()
    }

    /// The breaks ([`Self::breaks`]) of the records `lo..hi` and of the
    /// neighbour pairs whose second record is in `lo..=hi`: what a change
    /// of the records `lo..hi` (or an insertion at `lo` when `lo == hi`)
    /// can alter.
    fn breaks_around(&self, lo: usize, hi: usize) -> u32 {
        let r = &self.recs;
        let bad = r[lo..hi].iter().filter(|c| !dense_record(c)).count();
        let pairs = (lo.max(1)..(hi + 1).min(r.len())).filter(|&i| !touching(&r[i - 1], &r[i])).count();
        (bad + pairs) as u32
    }

    /// The breaks of the whole list, counted afresh.
    fn count_breaks(&self) -> u32 {
        self.breaks_around(0, self.recs.len())
    }

    /// True if the kept count of breaks is right, or not kept (a test's
    /// check).
    pub(crate) fn breaks_hold(&self) -> bool {
        !self.tracks_breaks() || self.breaks == self.count_breaks()
    }

    /// Forgets [`Self::below`] (before the tree recomputes it).
    pub(crate) fn reset_below(&mut self) {
        self.below = Flags::empty();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Heap bytes of the records and the summary.
    pub(crate) fn heap_bytes(&self) -> usize {
        usize::from(self.recs.spilled()) * self.recs.capacity() * core::mem::size_of::<Child>()
            + self.levels.as_ref().map_or(0, |l| 24 + l.capacity() * core::mem::size_of::<Level>())
            + self
                .lv()
                .iter()
                .map(|l| l.keys.capacity() * 8 + l.last_real.capacity() * 4 + l.dense_end.capacity() * 8)
                .sum::<usize>()
    }

    /// The number of records with `start <= addr` (the partition point).
    #[inline]
    pub(crate) fn count_le(&self, addr: u64) -> usize {
        let Some(p) = self.groups_le(addr) else {
            return self.recs.iter().map(|r| usize::from(r.start <= addr)).sum();
        };
        if p == 0 {
            return 0;
        }
        let g = (p - 1) * LEAF;
        g + count_recs_le(&self.recs[g..(g + LEAF).min(self.recs.len())], addr)
    }

    /// The number of leaf groups whose first start is `<= addr`, from the
    /// summary alone (`None` for a list without one).
    #[inline]
    fn groups_le(&self, addr: u64) -> Option<usize> {
        let levels = self.lv();
        let top = levels.last()?;
        let mut p = count_le(&top.keys, addr);
        for level in levels[..levels.len() - 1].iter().rev() {
            if p == 0 {
                return Some(0);
            }
            let g = (p - 1) * FAN;
            p = g + count_le(&level.keys[g..(g + FAN).min(level.keys.len())], addr);
        }
        Some(p)
    }

    /// True if the leaf group that `start` falls in is a dense run of busy
    /// System RAM reaching `end` (so a page `start..=end` inside it lies in
    /// one of its records, which covers it): decided from the summary,
    /// without reading a record. False for a list without a summary.
    #[inline]
    pub(crate) fn dense_group_covers(&self, start: u64, end: u64) -> bool {
        // (The group's first start is at or below `start`.)
        match self.groups_le(start) {
            Some(p) if p > 0 => end <= self.lv()[0].dense_end[p - 1],
            _ => false,
        }
    }

    /// True if every leaf group's dense-run entry is what its records say
    /// (a test's check of the kept entries).
    pub(crate) fn dense_groups_hold(&self) -> bool {
        self.lv().first().is_none_or(|l0| (0..l0.keys.len()).all(|g| l0.dense_end[g] == self.leaf_dense_end(g)))
    }

    /// The number of records with `start < x`.
    #[inline]
    pub(crate) fn count_lt(&self, x: u64) -> usize {
        match x.checked_sub(1) {
            Some(a) => self.count_le(a),
            None => 0,
        }
    }

    /// The highest index below `end` of a non-inverted record.
    pub(crate) fn last_real_before(&self, end: usize) -> Option<usize> {
        if end == 0 {
            return None;
        }
        if self.lv().is_empty() {
            return (0..end).rev().find(|&i| !self.recs[i].is_inverted());
        }
        // The leaf group holding `end - 1`.
        let g = (end - 1) / LEAF * LEAF;
        if let Some(i) = (g..end).rev().find(|&i| !self.recs[i].is_inverted()) {
            return Some(i);
        }
        // Whole groups before it, level by level: at each level the entries
        // [0, e) remain; look in the group of the last one, then go up.
        let mut e = g / LEAF;
        for level in self.lv() {
            if e == 0 {
                return None;
            }
            let g = (e - 1) / FAN * FAN;
            if let Some(&i) = level.last_real[g..e].iter().rev().find(|&&i| i != NONE) {
                return Some(i as usize);
            }
            e = g / FAN;
        }
        None
    }

    /// Index of the first child, in list order, whose end is `>= addr`:
    /// where the kernel's walk along the sibling list stops skipping
    /// children that end below `addr`. See `ResourceTree::first_reaching`.
    #[inline]
    pub(crate) fn first_reaching(&self, addr: u64) -> usize {
        let idx = self.count_le(addr);
        if idx == 0 {
            return 0;
        }
        let prev = &self.recs[idx - 1];
        let j = if prev.is_inverted() {
            match self.last_real_before(idx - 1) {
                Some(j) => j,
                None => return idx,
            }
        } else {
            idx - 1
        };
        if self.recs[j].end >= addr { j } else { idx }
    }

    // ----- mutation -----------------------------------------------------

    /// Most lists hold one to four children: grow those one record at a
    /// time instead of to the vector's minimum of four.
    fn grow_small(&mut self) {
        if self.recs.len() == self.recs.capacity() && self.recs.len() < 4 {
            self.recs.reserve_exact(1);
        }
    }

    pub(crate) fn insert(&mut self, pos: usize, rec: Child) {
        self.grow_small();
        let track = self.tracks_breaks();
        let before = if track { self.breaks_around(pos, pos) } else { 0 };
        self.recs.insert(pos, rec);
        if track {
            self.breaks = self.breaks - before + self.breaks_around(pos, pos + 1);
        }
        self.rebuild_from(pos);
    }

    /// Appends a record (the parser's case): O(1) amortised, the summary
    /// grows by at most one entry per level.
    pub(crate) fn push(&mut self, rec: Child) {
        self.grow_small();
        self.recs.push(rec);
        let i = self.recs.len() - 1;
        if self.lv().is_empty() {
            if i >= SMALL {
                self.rebuild_from(0);
            }
            return;
        }
        // (`breaks_around(i, i + 1)`, spelled out: the parser's path.)
        let joined = i == 0 || touching(&self.recs[i - 1], &rec);
        self.breaks += u32::from(!dense_record(&rec)) + u32::from(!joined);
        let mut g = i / LEAF;
        let mut fresh = i % LEAF == 0;
        let real = if rec.is_inverted() { NONE } else { i as u32 };
        // The group's dense-run entry, from its entry so far (O(1): a
        // dense group's entry is its last record's end).
        let l0 = &mut self.lv_mut()[0];
        let joins = |prev_end: u64| prev_end != 0 && prev_end != u64::MAX && prev_end + 1 == rec.start;
        let dense = if dense_record(&rec) && (fresh || joins(l0.dense_end[g])) { rec.end } else { 0 };
        if fresh {
            l0.dense_end.push(dense);
        } else {
            l0.dense_end[g] = dense;
        }
        for level in self.lv_mut() {
            if fresh {
                level.keys.push(rec.start);
                level.last_real.push(real);
            } else if real != NONE {
                level.last_real[g] = real;
            }
            fresh = fresh && g % FAN == 0;
            g /= FAN;
        }
        if self.lv().last().is_some_and(|top| top.keys.len() > FAN) {
            self.rebuild_from(i);
        }
    }

    pub(crate) fn remove(&mut self, pos: usize) -> Child {
        let track = self.tracks_breaks();
        let before = if track { self.breaks_around(pos, pos + 1) } else { 0 };
        let rec = self.recs.remove(pos);
        if track {
            self.breaks = self.breaks - before + self.breaks_around(pos, pos);
        }
        self.rebuild_from(pos);
        rec
    }

    pub(crate) fn drain(&mut self, range: core::ops::Range<usize>) -> Vec<Child> {
        let from = range.start;
        let track = self.tracks_breaks();
        let before = if track { self.breaks_around(from, range.end) } else { 0 };
        let out: Vec<Child> = self.recs.drain(range).collect();
        if track {
            self.breaks = self.breaks - before + self.breaks_around(from, from);
        }
        self.rebuild_from(from);
        out
    }

    pub(crate) fn splice(&mut self, pos: usize, recs: Vec<Child>) {
        let track = self.tracks_breaks();
        let (before, n) = (if track { self.breaks_around(pos, pos) } else { 0 }, recs.len());
        self.recs.insert_many(pos, recs);
        if track {
            self.breaks = self.breaks - before + self.breaks_around(pos, pos + n);
        }
        self.rebuild_from(pos);
    }

    /// Replaces the record at `pos` (same position, so the order holds).
    pub(crate) fn set(&mut self, pos: usize, rec: Child) {
        let track = self.tracks_breaks();
        let before = if track { self.breaks_around(pos, pos + 1) } else { 0 };
        let old = core::mem::replace(&mut self.recs[pos], rec);
        if track {
            self.breaks = self.breaks - before + self.breaks_around(pos, pos + 1);
        }
        if old.start != rec.start || old.is_inverted() != rec.is_inverted() {
            self.refresh_groups(pos);
        } else {
            self.refresh_dense(pos / LEAF);
        }
    }

    /// Rewrites the flags and descriptor of every record (neither is part
    /// of the summary).
    pub(crate) fn refresh_flags(&mut self, of: impl Fn(Ix) -> (Flags, Desc)) {
        for r in &mut self.recs {
            (r.flags, r.desc) = of(r.slot);
        }
        if self.tracks_breaks() {
            self.breaks = self.count_breaks();
        }
        for g in 0..self.lv().first().map_or(0, |l0| l0.keys.len()) {
            self.refresh_dense(g);
        }
    }

    /// Frees the storage (the list is being released).
    pub(crate) fn clear(&mut self) {
        self.recs = SmallVec::new();
        self.levels = None;
        self.below = Flags::empty();
        self.breaks = 0;
    }

    /// Highest non-inverted record index in the leaf group `g`.
    fn leaf_last_real(&self, g: usize) -> u32 {
        let lo = g * LEAF;
        let hi = (lo + LEAF).min(self.recs.len());
        (lo..hi).rev().find(|&i| !self.recs[i].is_inverted()).map_or(NONE, |i| i as u32)
    }

    /// The dense-run entry of leaf group `g` (see [`Level::dense_end`]).
    fn leaf_dense_end(&self, g: usize) -> u64 {
        let lo = g * LEAF;
        let group = &self.recs[lo..(lo + LEAF).min(self.recs.len())];
        let dense = group.iter().all(dense_record) && group.windows(2).all(|w| touching(&w[0], &w[1]));
        match group.last() {
            Some(last) if dense => last.end,
            _ => 0,
        }
    }

    /// Recomputes the dense-run entry of leaf group `g`, if the list has a
    /// summary.
    fn refresh_dense(&mut self, g: usize) {
        let d = self.leaf_dense_end(g);
        if let Some(l0) = self.levels.as_deref_mut().and_then(|l| l.first_mut()) {
            l0.dense_end[g] = d;
        }
    }

    /// Recomputes the summary entries of the groups containing `pos` (a
    /// record changed in place).
    fn refresh_groups(&mut self, pos: usize) {
        self.refresh_dense(pos / LEAF);
        let mut g = pos / LEAF;
        let mut key = self.recs[g * LEAF].start;
        let mut real = self.leaf_last_real(g);
        let Some(levels) = self.levels.as_deref_mut() else { return };
        for level in levels.iter_mut() {
            level.keys[g] = key;
            level.last_real[g] = real;
            let up = g / FAN;
            let lo = up * FAN;
            let hi = (lo + FAN).min(level.keys.len());
            key = level.keys[lo];
            real = level.last_real[lo..hi].iter().rev().copied().find(|&i| i != NONE).unwrap_or(NONE);
            g = up;
        }
    }

    /// Rebuilds the summary for every group at or after the one holding
    /// `pos` (records from `pos` on moved or changed).
    fn rebuild_from(&mut self, pos: usize) {
        let n = self.recs.len();
        if n <= SMALL {
            self.levels = None;
            return;
        }
        // Level 0 over the records.
        let groups = n.div_ceil(LEAF);
        let mut from = (pos / LEAF).min(groups);
        if self.lv().is_empty() {
            self.lv_mut().push(Level::default());
            from = 0;
            // The list starts keeping its breaks.
            self.breaks = self.count_breaks();
        }
        {
            let level = &mut self.lv_mut()[0];
            let from = from.min(level.keys.len());
            level.keys.truncate(from);
            level.last_real.truncate(from);
            level.dense_end.truncate(from);
        }
        let start0 = self.lv()[0].keys.len();
        for g in start0..groups {
            let key = self.recs[g * LEAF].start;
            let real = self.leaf_last_real(g);
            let dense = self.leaf_dense_end(g);
            let level = &mut self.lv_mut()[0];
            level.keys.push(key);
            level.last_real.push(real);
            level.dense_end.push(dense);
        }
        // Upper levels over the level below, until one fits in a group.
        let mut below = 0;
        let mut changed_from = start0;
        let levels = self.lv_mut();
        while levels[below].keys.len() > FAN {
            let count = levels[below].keys.len().div_ceil(FAN);
            if levels.len() == below + 1 {
                levels.push(Level::default());
                changed_from = 0;
            }
            let (lower, upper) = levels.split_at_mut(below + 1);
            let (lower, upper) = (&lower[below], &mut upper[0]);
            let from = (changed_from / FAN).min(upper.keys.len());
            upper.keys.truncate(from);
            upper.last_real.truncate(from);
            for g in from..count {
                let lo = g * FAN;
                let hi = (lo + FAN).min(lower.keys.len());
                upper.keys.push(lower.keys[lo]);
                upper
                    .last_real
                    .push(lower.last_real[lo..hi].iter().rev().copied().find(|&i| i != NONE).unwrap_or(NONE));
            }
            changed_from = from;
            below += 1;
        }
        levels.truncate(below + 1);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_list_header_stays_small() {
        // 56 bytes: the inline record (32) and its capacity word, the
        // summary pointer, the subtree flag bits. BENCHMARKS.md quotes it.
        assert!(core::mem::size_of::<ChildList>() <= 56, "{}", core::mem::size_of::<ChildList>());
        assert_eq!(core::mem::size_of::<Child>(), 32);
    }

    use super::*;

    fn rec(start: u64, end: u64, slot: u32) -> Child {
        Child { start, end, flags: Flags::MEM, desc: Desc::NONE, slot, kids: super::super::NIL }
    }

    /// The kernel's walk, literally.
    fn walk(recs: &[Child], addr: u64) -> usize {
        recs.iter().position(|r| r.end >= addr).unwrap_or(recs.len())
    }

    fn check(list: &ChildList) {
        let recs = list.recs();
        let probes: Vec<u64> = recs.iter().flat_map(|r| [r.start.wrapping_sub(1), r.start, r.end, r.end + 1]).collect();
        for a in probes.into_iter().chain([0, u64::MAX]) {
            assert_eq!(list.count_le(a), recs.partition_point(|r| r.start <= a), "count_le({a:#x})");
            assert_eq!(list.first_reaching(a), walk(recs, a), "first_reaching({a:#x}) of {}", recs.len());
        }
    }

    #[test]
    fn search_matches_a_linear_walk_at_every_size_and_edit() {
        let mut list = ChildList::default();
        for i in 0..3000u64 {
            list.push(rec(i * 0x100, i * 0x100 + 0x7f, i as u32));
            if i % 97 == 0 || i < 40 {
                check(&list);
            }
        }
        check(&list);
        // Inverted runs: many zero-size siblings in a row, at one start and
        // at distinct ones.
        for i in 100..2900usize {
            let r = list.recs()[i];
            list.set(i, Child { end: r.start - 1, ..r });
        }
        check(&list);
        for i in 100..2900usize {
            let s = list.recs()[100].start;
            list.set(i, Child { start: s, end: s - 1, ..list.recs()[i] });
        }
        check(&list);
        let removed = list.drain(50..1500);
        check(&list);
        list.splice(50, removed);
        check(&list);
        for _ in 0..2990 {
            list.remove(list.len() / 2);
            if list.len() % 53 == 0 {
                check(&list);
            }
        }
        check(&list);
        let first = list.remove(0);
        check(&list);
        list.insert(0, first);
        check(&list);
    }
}
