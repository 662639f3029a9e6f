//! Resource names. The kernel's tree stores a pointer to a name string and
//! never copies it; `merge_system_ram_resource` compares those pointers. A
//! [`Name`] is that pointer: an identity in the tree's name table. Equal text
//! may have several identities ([`crate::ResourceTree::name_new`]) or share
//! one ([`crate::ResourceTree::name_intern`]), and every resource named by
//! one identity shares its single stored text.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
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

/// Texts by identity, plus the shared identity of interned texts.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameTable {
    texts: Vec<Arc<str>>,
    interned: BTreeMap<Arc<str>, u32>,
}

impl NameTable {
    pub(crate) fn add_unique(&mut self, text: &str) -> u32 {
        self.texts.push(Arc::from(text));
        (self.texts.len() - 1) as u32
    }

    pub(crate) fn intern(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.interned.get(text) {
            return i;
        }
        let shared: Arc<str> = Arc::from(text);
        self.texts.push(shared.clone());
        let i = (self.texts.len() - 1) as u32;
        self.interned.insert(shared, i);
        i
    }

    pub(crate) fn contains(&self, index: u32) -> bool {
        (index as usize) < self.texts.len()
    }

    pub(crate) fn text(&self, index: u32) -> Option<&str> {
        self.texts.get(index as usize).map(|t| &**t)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let texts: usize = self.texts.iter().map(|t| t.len() + 16).sum();
        texts + self.texts.capacity() * 16 + self.interned.len() * 40
    }
}
