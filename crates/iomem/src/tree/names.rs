//! Resource names. The kernel's tree stores a pointer to a name string and
//! never copies it; `merge_system_ram_resource` compares those pointers. A
//! [`Name`] is that pointer: an identity in the tree's name table. Equal text
//! may have several identities ([`crate::ResourceTree::name_new`]) or share
//! one ([`crate::ResourceTree::name_intern`]), and every resource named by
//! one identity shares its single stored text.
//!
//! The table keeps every text in one arena (a single string, each identity
//! an offset and a length) and the interned identities in an
//! open-addressing hash table, so naming a million resources costs no
//! allocation per name and one hash probe per lookup.

use alloc::string::String;
use alloc::vec::Vec;

/// A name object of one tree (the kernel's `const char *name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    tree: u32,
    index: u32,
}

impl Name {
    pub(super) const fn new(tree: u32, index: u32) -> Name {
        Name { tree, index }
    }

    pub(super) const fn tree(self) -> u32 {
        self.tree
    }

    pub(super) const fn index(self) -> u32 {
        self.index
    }
}

/// Where an identity's text lies: `arena[off..off + len]`, or, when the
/// arena has outgrown 32-bit offsets, `large[len]` (`off == u32::MAX`).
#[derive(Clone, Copy, Debug)]
struct Span {
    off: u32,
    len: u32,
}

/// Texts by identity, plus the shared identity of interned texts.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameTable {
    arena: String,
    spans: Vec<Span>,
    /// Texts that did not fit below 4 GiB of arena (never in practice).
    large: Vec<String>,
    /// Open addressing, linear probing: `(identity + 1) << 32 | hash bits`,
    /// 0 for an empty slot; the length is a power of two, at most half
    /// full after a single intern and at most 3/4 after a batch. The
    /// stored hash bits both place an entry and filter text comparisons,
    /// so growing the table reads no text.
    table: Vec<u64>,
    interned: usize,
    /// The working vectors of [`Self::intern_batch`], kept between the
    /// batches of one dump (a parse's batches would otherwise map fresh
    /// memory for each) and freed by [`Self::shrink_to_fit`].
    scratch: Scratch,
}

/// See [`NameTable::scratch`].
#[derive(Clone, Debug, Default)]
struct Scratch {
    recent: Vec<u32>,
    tags: Vec<u32>,
    dup: Vec<u32>,
    order: Vec<u32>,
    first: Vec<u32>,
    slot: Vec<u32>,
}

/// `v` emptied, then `n` copies of `x`.
fn refill(v: &mut Vec<u32>, n: usize, x: u32) {
    v.clear();
    v.resize(n, x);
}

/// The slot value of identity `id` with hash bits `tag`.
const fn entry(id: u32, tag: u32) -> u64 {
    ((id as u64 + 1) << 32) | tag as u64
}

/// The identity in a non-empty slot.
const fn entry_id(e: u64) -> u32 {
    ((e >> 32) - 1) as u32
}

/// A fast, well-mixed hash of a name (FxHash-style over 8-byte words, with
/// a final avalanche so that the low bits index the table).
fn hash(text: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = text.len() as u64;
    let mut chunks = text.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// `n` zeros, written: every page of a hash table is reached, and a page
/// of `vec![0; n]` (fresh zero pages from the allocator) read before its
/// first write costs a second page fault (measured on a million distinct
/// names: 3 000 of 45 000 faults of the whole parse).
#[expect(clippy::slow_vector_initialization, reason = "the point is to write the zeros, see above")]
fn written_zeros(n: usize) -> Vec<u64> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, 0);
    v
}

impl NameTable {
    pub(crate) fn add_unique(&mut self, text: &str) -> u32 {
        let span = match u32::try_from(self.arena.len() + text.len()) {
            Ok(_) if text.len() < u32::MAX as usize => {
                let off = self.arena.len() as u32;
                self.arena.push_str(text);
                Span { off, len: text.len() as u32 }
            }
            _ => {
                self.large.push(String::from(text));
                Span { off: u32::MAX, len: (self.large.len() - 1) as u32 }
            }
        };
        self.spans.push(span);
        (self.spans.len() - 1) as u32
    }

    pub(crate) fn intern(&mut self, text: &str) -> u32 {
        self.make_room(1, 2);
        self.intern_hashed(text, hash(text.as_bytes()) as u32)
    }

    /// Interns many texts at once, their identities to `out`, in order:
    /// the same identities as one [`Self::intern`] after another.
    ///
    /// Why not one after another: a table larger than the caches costs a
    /// cache and TLB miss per new text, in turn. Here the texts are first
    /// visited in the order of the table region their slot lies in (a
    /// counting sort on the slot's top bits), so the probes sweep the table
    /// once, and only then numbered in their own order (the arena stays in
    /// input order). Small batches take the plain path.
    pub(crate) fn intern_batch(&mut self, texts: &[&str], out: &mut Vec<u32>) {
        // Identities below this bit; a probe result with it set is a
        // position in the batch whose text is not numbered yet.
        const IN_BATCH: u32 = 1 << 31;
        const REGION_BITS: u32 = 8;
        let n = texts.len();
        if n < 1024 || self.spans.len() + n >= IN_BATCH as usize || u32::try_from(n).is_err() {
            out.extend(texts.iter().map(|t| self.intern(t)));
            return;
        }
        // Repeats of a recent text (a driver's name after every BAR it
        // claims) are found in input order, in a small cache where both
        // texts are still hot, and left out of the table sweep: there a
        // repeat costs a miss on its text, visited out of input order.
        // dup[k]: an earlier batch position with the same text, or NO_DUP.
        const NO_DUP: u32 = u32::MAX;
        const RECENT: usize = 1 << 12;
        let mut sc = core::mem::take(&mut self.scratch);
        let Scratch { recent, tags, dup, order, first, slot } = &mut sc;
        refill(recent, RECENT, NO_DUP);
        tags.clear();
        dup.clear();
        for (k, text) in texts.iter().enumerate() {
            let t = hash(text.as_bytes()) as u32;
            let r = &mut recent[t as usize % RECENT];
            if *r != NO_DUP && tags[*r as usize] == t && texts[*r as usize] == *text {
                dup.push(*r);
            } else {
                *r = k as u32;
                dup.push(NO_DUP);
            }
            tags.push(t);
        }
        // Room for every other text being new at a load of 3/4 at most:
        // the bound is reached only if they all are, and a half-full bound
        // would double the table (and touch all of it) one batch early.
        let others = dup.iter().filter(|&&d| d == NO_DUP).count();
        self.make_room(others, 4);
        let mask = self.table.len() - 1;
        let shift = (self.table.len().trailing_zeros()).saturating_sub(REGION_BITS);
        let region = |tag: u32| (tag as usize & mask) >> shift;
        // The other positions by region, in increasing order within each.
        let mut starts = [0usize; 1 << REGION_BITS];
        for (&t, &d) in tags.iter().zip(dup.iter()) {
            starts[region(t)] += usize::from(d == NO_DUP);
        }
        let mut sum = 0;
        for c in &mut starts {
            (*c, sum) = (sum, sum + *c);
        }
        refill(order, sum, 0);
        for (k, (&t, &d)) in tags.iter().zip(dup.iter()).enumerate() {
            if d == NO_DUP {
                let r = region(t);
                order[starts[r]] = k as u32;
                starts[r] += 1;
            }
        }
        // Probe in region order. first[k]: an identity (an older text of
        // the table), or the batch position of the first equal text; a new
        // text is its own first and holds a slot marked with its position.
        refill(first, n, 0);
        refill(slot, n, 0);
        for &k in order.iter() {
            let (k, tag) = (k as usize, tags[k as usize]);
            let mut i = tag as usize & mask;
            first[k] = loop {
                let e = self.table[i];
                if e == 0 {
                    self.table[i] = entry(k as u32 | IN_BATCH, tag);
                    slot[k] = i as u32;
                    break k as u32 | IN_BATCH;
                }
                if e as u32 == tag {
                    let id = entry_id(e);
                    let older = if id & IN_BATCH != 0 { Some(texts[(id & !IN_BATCH) as usize]) } else { self.text(id) };
                    if older == Some(texts[k]) {
                        break id;
                    }
                }
                i = (i + 1) & mask;
            };
        }
        // Number the new texts in batch order (an equal text's first
        // occurrence comes before it: same tag, same region, lower position).
        let base = out.len();
        for (k, (&f, &d)) in first.iter().zip(dup.iter()).enumerate() {
            let id = if d != NO_DUP {
                out[base + d as usize]
            } else if f == (k as u32 | IN_BATCH) {
                self.interned += 1;
                self.add_unique(texts[k])
            } else if f & IN_BATCH != 0 {
                out[base + (f & !IN_BATCH) as usize]
            } else {
                f
            };
            out.push(id);
        }
        // The marked slots get their identities, region by region again.
        for &k in order.iter() {
            let k = k as usize;
            if first[k] == (k as u32 | IN_BATCH) {
                self.table[slot[k] as usize] = entry(out[base + k], tags[k]);
            }
        }
        self.scratch = sc;
    }

    /// Grows the table so that `more` texts fit without growing it again,
    /// the table then at most `1 - 1/k` full.
    fn make_room(&mut self, more: usize, k: usize) {
        let need = (self.interned + more).saturating_mul(k) / (k - 1) + 1;
        if need > self.table.len() {
            self.rehash(need.next_power_of_two().max(self.table.len() * 2).max(64));
        }
    }

    fn intern_hashed(&mut self, text: &str, tag: u32) -> u32 {
        let mask = self.table.len() - 1;
        let mut i = tag as usize & mask;
        loop {
            let e = self.table[i];
            if e == 0 {
                let id = self.add_unique(text);
                self.table[i] = entry(id, tag);
                self.interned += 1;
                return id;
            }
            if e as u32 == tag && self.text(entry_id(e)) == Some(text) {
                return entry_id(e);
            }
            i = (i + 1) & mask;
        }
    }

    /// Makes room for `names` more identities and `bytes` more bytes of
    /// text, so that the arena is not copied while a dump is read. A
    /// reservation only: memory no name reaches is never touched. (The
    /// hash table grows by doubling: its entries move in two sequential
    /// streams, and reserving it would touch all of it.)
    pub(crate) fn reserve(&mut self, names: usize, bytes: usize) {
        self.arena.reserve(bytes);
        self.spans.reserve(names);
    }

    /// Returns the unused part of [`Self::reserve`]'s reservations.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.scratch = Scratch::default();
        self.arena.shrink_to_fit();
        self.spans.shrink_to_fit();
    }

    /// Moves every entry into a table of `cap` slots.
    fn rehash(&mut self, cap: usize) {
        let old = core::mem::replace(&mut self.table, written_zeros(cap));
        let mask = cap - 1;
        for e in old.into_iter().filter(|&e| e != 0) {
            let mut i = e as u32 as usize & mask;
            while self.table[i] != 0 {
                i = (i + 1) & mask;
            }
            self.table[i] = e;
        }
    }

    pub(crate) fn contains(&self, index: u32) -> bool {
        (index as usize) < self.spans.len()
    }

    #[inline]
    pub(crate) fn text(&self, index: u32) -> Option<&str> {
        let s = *self.spans.get(index as usize)?;
        if s.off == u32::MAX {
            return self.large.get(s.len as usize).map(String::as_str);
        }
        self.arena.get(s.off as usize..s.off as usize + s.len as usize)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.spans.capacity() * core::mem::size_of::<Span>()
            + self.large.iter().map(String::capacity).sum::<usize>()
            + self.large.capacity() * core::mem::size_of::<String>()
            + self.table.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_texts_share_one_identity_and_unique_ones_do_not() {
        let mut t = NameTable::default();
        let a = t.intern("System RAM");
        let b = t.add_unique("System RAM");
        assert_ne!(a, b);
        assert_eq!(t.intern("System RAM"), a);
        let ids: Vec<u32> = (0..5000).map(|i| t.intern(&alloc::format!("0000:{i:02x}:00.0"))).collect();
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(t.intern(&alloc::format!("0000:{i:02x}:00.0")), id);
            assert_eq!(t.text(id), Some(alloc::format!("0000:{i:02x}:00.0").as_str()));
        }
        assert_eq!(t.intern(""), t.intern(""));
        assert_eq!(t.text(b), Some("System RAM"));
        assert!(!t.contains(u32::MAX));
    }

    #[test]
    fn a_batch_names_exactly_as_one_intern_after_another() {
        // Repeats near and far, across chunks and table growth; then a
        // driver's name after each distinct device name (repeats found in
        // the recent-text cache, of a text an earlier batch interned).
        let mut texts: Vec<String> = (0..6000u32).map(|i| alloc::format!("dev {}", (i * 7919) % 2300)).collect();
        for i in 0..3000u32 {
            texts.push(alloc::format!("0000:{i:04x}.0"));
            texts.push(String::from(if i % 7 == 0 { "dev 5" } else { "nvme" }));
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut one = NameTable::default();
        let expected: Vec<u32> = refs.iter().map(|t| one.intern(t)).collect();
        let mut batch = NameTable::default();
        let mut got = Vec::new();
        // Batches past the plain path's size, and one within it.
        for part in [&refs[..2500], &refs[2500..4200], &refs[4200..5100], &refs[5100..7000], &refs[7000..]] {
            batch.intern_batch(part, &mut got);
        }
        batch.intern_batch(&[], &mut got);
        assert_eq!(got, expected);
        for (&id, t) in got.iter().zip(&refs) {
            assert_eq!(batch.text(id), Some(*t));
        }
        assert_eq!(batch.intern("dev 5"), one.intern("dev 5"));
    }
}
