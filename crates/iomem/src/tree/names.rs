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

/// An empty hash slot.
const EMPTY: u32 = u32::MAX;

/// Texts by identity, plus the shared identity of interned texts.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameTable {
    arena: String,
    spans: Vec<Span>,
    /// Texts that did not fit below 4 GiB of arena (never in practice).
    large: Vec<String>,
    /// Open addressing, linear probing: (identity, 32 hash bits) or
    /// `(EMPTY, _)`; the length is a power of two, at most half full. The
    /// stored hash bits both place an entry and filter text comparisons,
    /// so growing the table reads no text.
    table: Vec<(u32, u32)>,
    interned: usize,
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
        if (self.interned + 1) * 2 > self.table.len() {
            self.grow();
        }
        let tag = hash(text.as_bytes()) as u32;
        let mask = self.table.len() - 1;
        let mut i = tag as usize & mask;
        loop {
            let (id, t) = self.table[i];
            if id == EMPTY {
                let id = self.add_unique(text);
                self.table[i] = (id, tag);
                self.interned += 1;
                return id;
            }
            if t == tag && self.text(id) == Some(text) {
                return id;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.table.len() * 2).max(64);
        let old = core::mem::replace(&mut self.table, alloc::vec![(EMPTY, 0); cap]);
        let mask = cap - 1;
        for (id, tag) in old.into_iter().filter(|&(id, _)| id != EMPTY) {
            let mut i = tag as usize & mask;
            while self.table[i].0 != EMPTY {
                i = (i + 1) & mask;
            }
            self.table[i] = (id, tag);
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
}
