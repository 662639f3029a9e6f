//! The resource tree: storage, handles, names and traversal.
//!
//! Resources live in an arena. A [`ResourceId`] is a checked handle (tree
//! identity, slot index, slot generation): a handle to a freed resource or
//! from another tree yields an error, never a wrong node.
//!
//! Each parent keeps its children in a sorted index of records (start,
//! end, flags, descriptor, slot, child list) with a small B-tree-like
//! summary (`children.rs`), so that every per-address question is a
//! search of a few cache lines per level instead of the kernel's walk
//! along the sibling list. The results are the kernel's: `first_reaching` below is proven
//! equal to the linear walk under the tree invariants of resource-tree.md
//! §2.7, and the property tests compare every operation with a linked-list
//! reference model.

mod children;
mod cursor;
mod journal;
mod names;
mod walk;

pub use cursor::{ChildCursor, ChildEntry};
pub use journal::{Journal, JournalEntry, LogLevel};
pub use names::Name;
pub use walk::{Preorder, ResourceView};

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::error::Error;
use crate::flags::{Desc, Flags};
use crate::profile::KernelProfile;
use crate::range::Range;
pub(crate) use children::{Child, ChildList, DENSE_SHIFT};
use names::NameTable;

/// Slot index inside the arena.
pub(crate) type Ix = u32;
/// "No node" / "no list".
pub(crate) const NIL: Ix = u32::MAX;
/// Marks a freed slot (stored in `parent`).
const FREED: Ix = u32::MAX - 1;
/// Slot of `iomem_resource`.
pub(crate) const IOMEM: Ix = 0;
/// Slot of `ioport_resource`.
pub(crate) const IOPORT: Ix = 1;
/// Name slot meaning "no name" (printed `<BAD>`).
pub(crate) const NO_NAME: u32 = u32::MAX;

static NEXT_TREE_ID: AtomicU32 = AtomicU32::new(1);

/// A checked handle to a resource of one [`ResourceTree`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    tree: u32,
    index: u32,
    generation: u32,
}

impl ResourceId {
    /// The arena slot (stable while the resource lives; reused after it is
    /// freed). Useful as a compact key in diagnostics.
    pub const fn slot(self) -> u32 {
        self.index
    }

    /// The handle of the slot `by` places further with the same
    /// generation (the parser's lines: consecutive fresh slots).
    pub(crate) const fn offset(self, by: u32) -> ResourceId {
        ResourceId { tree: self.tree, index: self.index + by, generation: self.generation }
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index)?;
        if self.generation != 0 {
            write!(f, "g{}", self.generation)?;
        }
        Ok(())
    }
}

/// Platform parameters of a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeConfig {
    /// `IO_SPACE_LIMIT`, the end of the ioport root (x86: 0xffff).
    pub ioport_end: u64,
    /// `PAGE_SHIFT` (12 for 4 KiB pages).
    pub page_shift: u32,
    /// `MAX_PHYSMEM_BITS`; `DIRECT_MAP_PHYSMEM_END = 2^bits - 1` bounds the
    /// free-region allocators (x86-64 with 4-level paging: 46).
    pub max_physmem_bits: u32,
    /// The kernel version whose rules the tree follows.
    pub profile: KernelProfile,
}

impl TreeConfig {
    /// x86-64 with 4 KiB pages, 4-level paging, current mainline rules.
    pub const fn x86_64() -> TreeConfig {
        TreeConfig { ioport_end: 0xffff, page_shift: 12, max_physmem_bits: 46, profile: KernelProfile::mainline() }
    }

    /// arm64 with 4 KiB pages and 48-bit physical addresses
    /// (`IO_SPACE_LIMIT` = 16 MiB − 1), current mainline rules.
    pub const fn arm64() -> TreeConfig {
        TreeConfig { ioport_end: 0x00ff_ffff, page_shift: 12, max_physmem_bits: 48, profile: KernelProfile::mainline() }
    }

    /// The same platform with another kernel profile.
    pub const fn with_profile(mut self, profile: KernelProfile) -> TreeConfig {
        self.profile = profile;
        self
    }

    /// `PAGE_SIZE`.
    pub const fn page_size(&self) -> u64 {
        1u64 << self.page_shift
    }
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig::x86_64()
    }
}

/// The description of a resource to create (`DEFINE_RES_NAMED_DESC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceSpec {
    /// Its range.
    pub range: Range,
    /// Its name (`None` prints as `<BAD>`).
    pub name: Option<Name>,
    /// Its flags.
    pub flags: Flags,
    /// Its descriptor.
    pub desc: Desc,
}

impl ResourceSpec {
    /// A resource `[start, end]` with the given name and flags, desc NONE.
    pub const fn new(start: u64, end: u64, name: Name, flags: Flags) -> ResourceSpec {
        ResourceSpec { range: Range::new(start, end), name: Some(name), flags, desc: Desc::NONE }
    }

    /// The same resource with descriptor `desc`.
    pub const fn with_desc(mut self, desc: Desc) -> ResourceSpec {
        self.desc = desc;
        self
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) flags: Flags,
    pub(crate) desc: Desc,
    pub(crate) name: u32,
    pub(crate) parent: Ix,
    /// Index into `lists`, or `NIL` for a leaf.
    pub(crate) children: u32,
    generation: u32,
}

impl Node {
    pub(crate) const fn range(&self) -> Range {
        Range::new(self.start, self.end)
    }
}

/// The kernel's two resource trees (`iomem_resource` and `ioport_resource`)
/// in one arena, as one lock covers both in the kernel.
#[derive(Clone)]
pub struct ResourceTree {
    tree_id: u32,
    pub(crate) nodes: Vec<Node>,
    pub(crate) lists: Vec<ChildList>,
    free_nodes: Vec<Ix>,
    free_lists: Vec<u32>,
    pub(crate) names: NameTable,
    pub(crate) config: TreeConfig,
    pub(crate) journal: Journal,
}

impl Default for ResourceTree {
    fn default() -> Self {
        ResourceTree::new(TreeConfig::default())
    }
}

impl fmt::Debug for ResourceTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceTree")
            .field("id", &self.tree_id)
            .field("resources", &self.len())
            .field("config", &self.config)
            .finish()
    }
}

impl ResourceTree {
    /// Two empty roots: `"PCI mem"` `[0, u64::MAX]` (MEM) and `"PCI IO"`
    /// `[0, config.ioport_end]` (IO).
    pub fn new(config: TreeConfig) -> ResourceTree {
        let tree_id = NEXT_TREE_ID.fetch_add(1, Ordering::Relaxed);
        let mut names = NameTable::default();
        let mem_name = names.add_unique("PCI mem");
        let io_name = names.add_unique("PCI IO");
        let root = |start, end, flags, name| Node {
            start,
            end,
            flags,
            desc: Desc::NONE,
            name,
            parent: NIL,
            children: NIL,
            generation: 0,
        };
        ResourceTree {
            tree_id,
            nodes: alloc::vec![root(0, u64::MAX, Flags::MEM, mem_name), root(0, config.ioport_end, Flags::IO, io_name),],
            lists: Vec::new(),
            free_nodes: Vec::new(),
            free_lists: Vec::new(),
            names,
            config,
            journal: Journal::default(),
        }
    }

    /// The platform parameters and kernel profile.
    pub fn config(&self) -> &TreeConfig {
        &self.config
    }

    /// The kernel profile the tree follows.
    pub fn profile(&self) -> &KernelProfile {
        &self.config.profile
    }

    /// Changes the kernel profile (the tree itself is unchanged).
    pub fn set_profile(&mut self, profile: KernelProfile) {
        self.config.profile = profile;
    }

    /// The kernel's log lines and iomem claims, if recording is enabled.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Mutable access to the journal (enable recording, drain entries).
    pub fn journal_mut(&mut self) -> &mut Journal {
        &mut self.journal
    }

    /// `iomem_resource`.
    pub fn iomem_root(&self) -> ResourceId {
        self.handle(IOMEM)
    }

    /// `ioport_resource`.
    pub fn ioport_root(&self) -> ResourceId {
        self.handle(IOPORT)
    }

    /// Number of live resources (roots and detached ones included).
    pub fn len(&self) -> usize {
        self.nodes.len() - self.free_nodes.len()
    }

    /// True if only the two roots exist.
    pub fn is_empty(&self) -> bool {
        self.len() == 2
    }

    // ----- names -------------------------------------------------------

    /// A new name object with its own identity, like a distinct C string:
    /// resources named by different `Name`s never merge, even when the text
    /// is equal (resource-tree.md §5.14).
    pub fn name_new(&mut self, text: &str) -> Name {
        Name::new(self.tree_id, self.names.add_unique(text))
    }

    /// The shared name object for `text` (created on first use). Every call
    /// with equal text returns the same identity, so the text is stored once.
    pub fn name_intern(&mut self, text: &str) -> Name {
        Name::new(self.tree_id, self.names.intern(text))
    }

    /// The text of a name.
    pub fn name_text(&self, name: Name) -> Result<&str, Error> {
        let index = self.name_slot(Some(name))?;
        Ok(self.names.text(index).unwrap_or(""))
    }

    pub(crate) fn name_slot(&self, name: Option<Name>) -> Result<u32, Error> {
        match name {
            None => Ok(NO_NAME),
            Some(n) if n.tree() == self.tree_id && self.names.contains(n.index()) => Ok(n.index()),
            Some(_) => Err(Error::ForeignName),
        }
    }

    pub(crate) fn name_handle(&self, slot: u32) -> Option<Name> {
        (slot != NO_NAME).then(|| Name::new(self.tree_id, slot))
    }

    // ----- handles -----------------------------------------------------

    pub(crate) fn handle(&self, ix: Ix) -> ResourceId {
        ResourceId { tree: self.tree_id, index: ix, generation: self.nodes[ix as usize].generation }
    }

    /// Validates a handle and returns its slot.
    pub(crate) fn ix(&self, id: ResourceId) -> Result<Ix, Error> {
        if id.tree != self.tree_id {
            return Err(Error::ForeignHandle { handle: id });
        }
        match self.nodes.get(id.index as usize) {
            Some(n) if n.generation == id.generation && n.parent != FREED => Ok(id.index),
            _ => Err(Error::StaleHandle { handle: id }),
        }
    }

    /// True if the handle names a live resource of this tree.
    pub fn contains(&self, id: ResourceId) -> bool {
        self.ix(id).is_ok()
    }

    pub(crate) fn node(&self, ix: Ix) -> &Node {
        &self.nodes[ix as usize]
    }

    pub(crate) fn is_root(ix: Ix) -> bool {
        ix == IOMEM || ix == IOPORT
    }

    /// True if the resource is linked into a tree (roots always are).
    pub(crate) fn in_tree(&self, ix: Ix) -> bool {
        Self::is_root(ix) || self.node(ix).parent != NIL
    }

    // ----- creation and destruction ------------------------------------

    /// Creates a detached resource (not yet in any tree), the equivalent of
    /// a `struct resource` a driver fills in before requesting it.
    pub fn create(&mut self, spec: ResourceSpec) -> Result<ResourceId, Error> {
        let name = self.name_slot(spec.name)?;
        let ix = self.alloc_node(spec.range, name, spec.flags, spec.desc)?;
        Ok(self.handle(ix))
    }

    pub(crate) fn alloc_node(&mut self, range: Range, name: u32, flags: Flags, desc: Desc) -> Result<Ix, Error> {
        let node = |generation| Node {
            start: range.start,
            end: range.end,
            flags,
            desc,
            name,
            parent: NIL,
            children: NIL,
            generation,
        };
        if let Some(ix) = self.free_nodes.pop() {
            let generation = self.nodes[ix as usize].generation.wrapping_add(1);
            self.nodes[ix as usize] = node(generation);
            Ok(ix)
        } else {
            let ix = u32::try_from(self.nodes.len()).ok().filter(|&i| i < FREED).ok_or(Error::Exhausted)?;
            self.nodes.push(node(0));
            Ok(ix)
        }
    }

    /// Frees a detached resource together with the detached subtree below
    /// it (the kernel's owner would `kfree` it). Returns how many resources
    /// were freed. A resource still in a tree must be released first.
    pub fn free(&mut self, id: ResourceId) -> Result<usize, Error> {
        let ix = self.ix(id)?;
        if Self::is_root(ix) {
            return Err(Error::IsRoot { resource: id });
        }
        if self.node(ix).parent != NIL {
            return Err(Error::InTree { resource: id });
        }
        Ok(self.free_subtree(ix))
    }

    /// Frees `ix` and all its descendants; `ix` must already be unlinked.
    pub(crate) fn free_subtree(&mut self, ix: Ix) -> usize {
        let mut stack = alloc::vec![ix];
        let mut count = 0;
        while let Some(n) = stack.pop() {
            let list = self.node(n).children;
            if list != NIL {
                stack.extend(self.lists[list as usize].recs().iter().map(|c| c.slot));
                self.release_list(list);
            }
            let node = &mut self.nodes[n as usize];
            node.parent = FREED;
            node.children = NIL;
            self.free_nodes.push(n);
            count += 1;
        }
        count
    }

    // ----- child lists -------------------------------------------------

    /// The child records of `parent`, lowest first.
    #[inline]
    pub(crate) fn kids(&self, parent: Ix) -> &[Child] {
        self.kids_of_list(self.node(parent).children)
    }

    /// The records of child list `list` (`NIL`: none).
    #[inline]
    pub(crate) fn kids_of_list(&self, list: u32) -> &[Child] {
        match list {
            NIL => &[],
            l => self.lists[l as usize].recs(),
        }
    }

    /// The slot of the `pos`-th child of `parent`.
    #[inline]
    pub(crate) fn child_at(&self, parent: Ix, pos: usize) -> Option<Ix> {
        self.kids(parent).get(pos).map(|c| c.slot)
    }

    /// The number of children of `parent`.
    pub(crate) fn kid_count(&self, parent: Ix) -> usize {
        self.kids(parent).len()
    }

    /// The slots of the children of `parent`, lowest first.
    pub(crate) fn kid_slots(&self, parent: Ix) -> impl DoubleEndedIterator<Item = Ix> + Clone + '_ {
        self.kids(parent).iter().map(|c| c.slot)
    }

    /// The record of a node as its parent's index keeps it.
    fn record_of(&self, ix: Ix) -> Child {
        let n = self.node(ix);
        Child { start: n.start, end: n.end, flags: n.flags, desc: n.desc, slot: ix, kids: n.children }
    }

    /// Copies a linked node's fields into its record at `pos` of its
    /// parent's index.
    fn resync(&mut self, ix: Ix, pos: usize) {
        let parent = self.node(ix).parent;
        let rec = self.record_of(ix);
        let list = self.node(parent).children;
        self.lists[list as usize].set(pos, rec);
    }

    /// Changes a node through `f`, keeping its record in its parent's index
    /// current. Every change of a node's range, flags, descriptor or child
    /// list goes through here.
    fn update_node(&mut self, ix: Ix, f: impl FnOnce(&mut Node)) {
        let pos = (self.node(ix).parent != NIL).then(|| self.position(ix));
        f(&mut self.nodes[ix as usize]);
        if let Some(pos) = pos {
            self.resync(ix, pos);
        }
    }

    /// Sets the flags of a resource.
    pub(crate) fn set_node_flags(&mut self, ix: Ix, flags: Flags) {
        self.update_node(ix, |n| n.flags = flags);
        self.note_below(self.node(ix).parent, flags);
    }

    /// True if the page `start..=end` (of at most 64 KiB) lies in a dense
    /// run of busy System RAM of `list` (see `ChildList::is_dense_ram`):
    /// the whole list, or the leaf group of its summary the page falls in.
    /// The record holding the page then covers it and is busy System RAM.
    #[inline]
    pub(crate) fn dense_ram_covers(&self, list: u32, start: u64, end: u64) -> bool {
        if list == NIL {
            return false;
        }
        let l = &self.lists[list as usize];
        if l.is_dense_ram() {
            // (A list with a summary has records.)
            let recs = l.recs();
            return recs[0].start <= start && end <= recs[recs.len() - 1].end;
        }
        l.dense_group_covers(start, end)
    }

    /// A superset of the flag bits of every resource in child list `list`
    /// and below (`NIL`: none). A search for resources carrying some bits
    /// skips a list that lacks one of them.
    #[inline]
    pub(crate) fn flags_below(&self, list: u32) -> Flags {
        match list {
            NIL => Flags::empty(),
            l => self.lists[l as usize].below(),
        }
    }

    /// The flag bits a subtree brings to its new parent's list.
    fn subtree_bits(c: &Child, below: Flags) -> Flags {
        c.flags | below
    }

    /// Records that resources carrying `bits` now live below `parent`: adds
    /// them to the lists of `parent` and its ancestors, stopping at the
    /// first that has them all (every list's bits include those of the
    /// lists below it, so the ones above have them too).
    fn note_below(&mut self, mut parent: Ix, bits: Flags) {
        while parent != NIL {
            let list = self.node(parent).children;
            if list == NIL || !self.lists[list as usize].add_below(bits) {
                return;
            }
            parent = self.node(parent).parent;
        }
    }

    /// Recomputes every list's bits exactly (after flags changed in bulk;
    /// removals leave stale bits, which only cost a skipped shortcut).
    fn recompute_below(&mut self) {
        for list in &mut self.lists {
            list.reset_below();
        }
        for ix in 0..self.nodes.len() {
            let n = &self.nodes[ix];
            if n.parent != NIL && n.parent != FREED {
                self.note_below(n.parent, n.flags);
            }
        }
    }

    /// Sets the descriptor of a resource.
    pub(crate) fn set_node_desc(&mut self, ix: Ix, desc: Desc) {
        self.update_node(ix, |n| n.desc = desc);
    }

    /// The flags and descriptor of a resource (crate-internal, no view).
    pub(crate) fn flags_desc(&self, ix: Ix) -> (Flags, Desc) {
        let n = self.node(ix);
        (n.flags, n.desc)
    }

    /// The range and name text of a resource (crate-internal, no view).
    pub(crate) fn range_and_name(&self, ix: Ix) -> (Range, Option<&str>) {
        let n = self.node(ix);
        (n.range(), self.names.text(n.name))
    }

    /// Sets the flags and descriptor of many resources at once, then
    /// brings every child record up to date in one pass over the indexes
    /// (instead of one index search per resource).
    pub(crate) fn set_flags_desc_bulk(&mut self, items: impl Iterator<Item = (Ix, Flags, Desc)>) {
        for (ix, flags, desc) in items {
            let n = &mut self.nodes[ix as usize];
            n.flags = flags;
            n.desc = desc;
        }
        let nodes = &self.nodes;
        for list in &mut self.lists {
            list.refresh_flags(|slot| {
                let n = &nodes[slot as usize];
                (n.flags, n.desc)
            });
        }
        self.recompute_below();
    }

    /// Sets the parent link of a resource (not part of its record).
    pub(crate) fn set_parent_link(&mut self, ix: Ix, parent: Ix) {
        self.nodes[ix as usize].parent = parent;
    }

    fn release_list(&mut self, list: u32) {
        self.lists[list as usize].clear();
        self.free_lists.push(list);
    }

    fn list_of(&mut self, parent: Ix) -> &mut ChildList {
        let mut list = self.node(parent).children;
        if list == NIL {
            list = match self.free_lists.pop() {
                Some(l) => l,
                None => {
                    self.lists.push(ChildList::default());
                    (self.lists.len() - 1) as u32
                }
            };
            self.update_node(parent, |n| n.children = list);
        }
        &mut self.lists[list as usize]
    }

    /// Drops the (now empty) child list of `parent`.
    fn drop_list_if_empty(&mut self, parent: Ix) {
        let list = self.node(parent).children;
        if list != NIL && self.lists[list as usize].is_empty() {
            self.release_list(list);
            self.update_node(parent, |n| n.children = NIL);
        }
    }

    /// Links `child` as the `pos`-th child of `parent`.
    pub(crate) fn link_at(&mut self, parent: Ix, pos: usize, child: Ix) {
        self.set_parent_link(child, parent);
        let rec = self.record_of(child);
        let bits = Self::subtree_bits(&rec, self.flags_below(rec.kids));
        let list = self.list_of(parent);
        if pos == list.len() {
            list.push(rec);
        } else {
            list.insert(pos, rec);
        }
        self.note_below(parent, bits);
    }

    /// Unlinks the `pos`-th child of `parent` (its own subtree stays
    /// attached to it) and returns it.
    pub(crate) fn unlink_at(&mut self, parent: Ix, pos: usize) -> Ix {
        let list_ix = self.node(parent).children;
        let child = self.lists[list_ix as usize].remove(pos).slot;
        self.drop_list_if_empty(parent);
        self.set_parent_link(child, NIL);
        child
    }

    /// Unlinks `ix` from its parent.
    pub(crate) fn unlink(&mut self, ix: Ix) {
        let parent = self.node(ix).parent;
        let pos = self.position(ix);
        self.unlink_at(parent, pos);
    }

    /// Removes children `range` of `parent` and returns their records (in
    /// order); their parent links are left to the caller.
    pub(crate) fn take_children(&mut self, parent: Ix, range: core::ops::Range<usize>) -> Vec<Child> {
        let list_ix = self.node(parent).children;
        if list_ix == NIL {
            return Vec::new();
        }
        let taken = self.lists[list_ix as usize].drain(range);
        self.drop_list_if_empty(parent);
        taken
    }

    /// Inserts children (sorted records) below `parent` at position `pos`,
    /// setting their parent link.
    pub(crate) fn put_children(&mut self, parent: Ix, pos: usize, recs: Vec<Child>) {
        if recs.is_empty() {
            return;
        }
        let mut bits = Flags::empty();
        for c in &recs {
            self.set_parent_link(c.slot, parent);
            bits |= Self::subtree_bits(c, self.flags_below(c.kids));
        }
        self.list_of(parent).splice(pos, recs);
        self.note_below(parent, bits);
    }

    /// Position of `ix` in its parent's child list. `ix` must be linked.
    pub(crate) fn position(&self, ix: Ix) -> usize {
        let node = self.node(ix);
        let list = &self.lists[self.node(node.parent).children as usize];
        // The last child (a parser appending lines asks for it): no search.
        if list.recs().last().is_some_and(|c| c.slot == ix) {
            return list.len() - 1;
        }
        let mut pos = list.count_lt(node.start);
        let recs = list.recs();
        while recs[pos].slot != ix {
            pos += 1;
        }
        pos
    }

    /// Sets the range of a resource, keeping its parent's index current.
    pub(crate) fn set_range(&mut self, ix: Ix, range: Range) {
        self.update_node(ix, |n| {
            n.start = range.start;
            n.end = range.end;
        });
    }

    /// Index of the first child of `parent`, in list order, whose end is
    /// `>= addr` — exactly where the kernel's linear walk along the sibling
    /// list stops skipping children with `end < addr`.
    ///
    /// Why a search gives the walk's answer: siblings are sorted by start;
    /// any sibling ends before the next one starts (invariant I1, which
    /// every operation keeps; an inverted sibling `[s, s-1]` ends before its
    /// own start); an inverted sibling ends before `addr` iff `s <= addr`.
    /// So among the children starting at or below `addr` only the last
    /// non-inverted one can reach `addr`, and every child starting above
    /// `addr` does. The index finds that last non-inverted child through
    /// its summary, without walking back over inverted ones.
    #[inline]
    pub(crate) fn first_reaching(&self, parent: Ix, addr: u64) -> usize {
        match self.node(parent).children {
            NIL => 0,
            l => self.lists[l as usize].first_reaching(addr),
        }
    }

    // ----- read access -------------------------------------------------

    /// A view of one resource.
    pub fn get(&self, id: ResourceId) -> Result<ResourceView<'_>, Error> {
        let ix = self.ix(id)?;
        Ok(self.view(ix))
    }

    pub(crate) fn view(&self, ix: Ix) -> ResourceView<'_> {
        let n = self.node(ix);
        ResourceView {
            id: self.handle(ix),
            range: n.range(),
            flags: n.flags,
            desc: n.desc,
            name: self.names.text(n.name),
            name_id: self.name_handle(n.name),
            parent: (n.parent != NIL).then(|| self.handle(n.parent)),
        }
    }

    /// The parent of a resource (`None` for roots and detached resources).
    pub fn parent(&self, id: ResourceId) -> Result<Option<ResourceId>, Error> {
        let ix = self.ix(id)?;
        let p = self.node(ix).parent;
        Ok((p != NIL).then(|| self.handle(p)))
    }

    /// The children of a resource, lowest first.
    pub fn children(&self, id: ResourceId) -> Result<impl Iterator<Item = ResourceId> + '_, Error> {
        let ix = self.ix(id)?;
        Ok(self.kid_slots(ix).map(move |c| self.handle(c)))
    }

    /// Number of children of a resource.
    pub fn child_count(&self, id: ResourceId) -> Result<usize, Error> {
        Ok(self.kid_count(self.ix(id)?))
    }

    /// The next higher sibling (`sibling` link), if any.
    pub fn next_sibling(&self, id: ResourceId) -> Result<Option<ResourceId>, Error> {
        let ix = self.ix(id)?;
        let parent = self.node(ix).parent;
        if parent == NIL {
            return Ok(None);
        }
        let pos = self.position(ix);
        Ok(self.child_at(parent, pos + 1).map(|s| self.handle(s)))
    }

    /// Pre-order traversal of the descendants of `root` (not `root`
    /// itself), yielding each resource with its depth below `root`
    /// (children of `root` have depth 0) — the order of `/proc/iomem`.
    pub fn preorder(&self, root: ResourceId) -> Result<Preorder<'_>, Error> {
        Ok(Preorder::new(self, self.ix(root)?))
    }

    /// Changes the flags of a resource in place (drivers do this, e.g.
    /// virtio-mem and the PnP system driver clear BUSY on their own claim).
    pub fn set_flags(&mut self, id: ResourceId, flags: Flags) -> Result<(), Error> {
        let ix = self.ix(id)?;
        self.set_node_flags(ix, flags);
        Ok(())
    }

    /// Changes the descriptor of a resource in place.
    pub fn set_desc(&mut self, id: ResourceId, desc: Desc) -> Result<(), Error> {
        let ix = self.ix(id)?;
        self.set_node_desc(ix, desc);
        Ok(())
    }

    /// Changes the range of a *detached* resource (`resource_set_range`);
    /// placed resources move only through the tree operations. A detached
    /// resource that has children (a released subtree) must still cover
    /// them, or linking it later would break the tree's containment
    /// invariant: `-EINVAL` otherwise.
    pub fn set_range_detached(&mut self, id: ResourceId, range: Range) -> Result<(), Error> {
        let ix = self.ix(id)?;
        if self.in_tree(ix) {
            return Err(Error::InTree { resource: id });
        }
        if !self.children_fit(ix, range) {
            return Err(Error::Invalid { what: "a child would lie outside the new range" });
        }
        self.set_range(ix, range);
        Ok(())
    }

    /// True if every child of `ix` lies inside `range` (bounds only, as
    /// `adjust_resource` tests them).
    pub(crate) fn children_fit(&self, ix: Ix, range: Range) -> bool {
        self.kids(ix).iter().all(|c| c.start >= range.start && c.end <= range.end)
    }

    /// The deepest resource below `root` containing `addr`, found by one
    /// search of the child index per level.
    pub fn deepest_containing(&self, root: ResourceId, addr: u64) -> Result<Option<ResourceId>, Error> {
        let root = self.ix(root)?;
        let mut list = self.node(root).children;
        let mut found = None;
        while list != NIL {
            let l = &self.lists[list as usize];
            match l.recs().get(l.first_reaching(addr)) {
                Some(c) if c.start <= addr => {
                    found = Some(c.slot);
                    list = c.kids;
                }
                _ => break,
            }
        }
        Ok(found.map(|ix| self.handle(ix)))
    }

    /// The chain of resources below `root` containing `addr`, outermost
    /// first.
    pub fn containing_chain(&self, root: ResourceId, addr: u64) -> Result<Vec<ResourceId>, Error> {
        let mut cur = self.ix(root)?;
        let mut chain = Vec::new();
        loop {
            let pos = self.first_reaching(cur, addr);
            match self.kids(cur).get(pos) {
                Some(c) if c.start <= addr => {
                    chain.push(self.handle(c.slot));
                    cur = c.slot;
                }
                _ => return Ok(chain),
            }
        }
    }

    /// The direct children of `parent` that overlap `range` (the kernel's
    /// `resource_overlaps`), lowest first, found by binary search.
    pub fn children_overlapping(
        &self,
        parent: ResourceId,
        range: Range,
    ) -> Result<impl Iterator<Item = ResourceId> + '_, Error> {
        let p = self.ix(parent)?;
        let kids = self.kids(p);
        let first = self.first_reaching(p, range.start);
        Ok(kids[first.min(kids.len())..]
            .iter()
            .take_while(move |c| c.start <= range.end)
            .filter(move |c| c.end >= range.start)
            .map(move |c| self.handle(c.slot)))
    }

    /// Approximate heap bytes used by the tree structure (arena, child
    /// indexes, name table), for memory reports.
    pub fn heap_bytes(&self) -> usize {
        use core::mem::size_of;
        let nodes = self.nodes.capacity() * size_of::<Node>();
        let lists: usize = self.lists.iter().map(ChildList::heap_bytes).sum::<usize>()
            + self.lists.capacity() * size_of::<ChildList>();
        let free = self.free_nodes.capacity() * 4 + self.free_lists.capacity() * 4;
        nodes + lists + free + self.names.heap_bytes()
    }

    /// Reserves room for a dump of `lines` lines (`parents` of them with
    /// children) and `bytes` bytes: arena slots, child lists and name text.
    /// Reservations only, so that nothing is copied while the dump is
    /// read; [`Self::shrink_after_parse`] returns what was not used.
    pub(crate) fn reserve_for_parse(&mut self, lines: usize, parents: usize, bytes: usize) {
        self.nodes.reserve(lines);
        // (And the lists of the two roots.)
        self.lists.reserve(parents + 2);
        self.names.reserve(lines, bytes);
    }

    /// Returns the unused part of [`Self::reserve_for_parse`] where it is
    /// large (a shrink may copy the vector: a few unused slots are not
    /// worth 40 MB of copying).
    pub(crate) fn shrink_after_parse(&mut self) {
        shrink_if_sparse(&mut self.nodes);
        shrink_if_sparse(&mut self.lists);
        self.names.shrink_to_fit();
    }

    /// Heap bytes of the name table alone (texts and their index).
    pub fn name_heap_bytes(&self) -> usize {
        self.names.heap_bytes()
    }

    /// Checks the query index against the arena: every linked resource's
    /// record in its parent's list repeats its range, flags, descriptor and
    /// child list, and every list's flag bits cover its subtree. For tests
    /// (the property tests call it after every operation); the first
    /// inconsistency found, described.
    #[doc(hidden)]
    pub fn check_index(&self) -> Result<(), alloc::string::String> {
        for (ix, n) in self.nodes.iter().enumerate() {
            let ix = ix as Ix;
            if n.parent == NIL || n.parent == FREED {
                continue;
            }
            let rec = self.kids(n.parent).iter().find(|c| c.slot == ix).copied();
            if rec != Some(self.record_of(ix)) {
                return Err(alloc::format!("record of slot {ix} is {rec:?}, its node says {:?}", self.record_of(ix)));
            }
            let have = self.flags_below(self.node(n.parent).children);
            let need = n.flags | self.flags_below(n.children);
            if !have.has_all(need) {
                return Err(alloc::format!(
                    "list of slot {} lacks flag bits {need:?} of slot {ix} (has {have:?})",
                    n.parent
                ));
            }
        }
        for (i, list) in self.lists.iter().enumerate() {
            if !list.dense_groups_hold() {
                return Err(alloc::format!("list {i} keeps a stale dense-run entry of a leaf group"));
            }
            if !list.breaks_hold() {
                return Err(alloc::format!("list {i} keeps a wrong count of dense-run breaks"));
            }
        }
        Ok(())
    }
}

/// Shrinks `v` to its length if over a quarter of its capacity is unused.
fn shrink_if_sparse<T>(v: &mut Vec<T>) {
    if v.len() < v.capacity() - v.capacity() / 4 {
        v.shrink_to_fit();
    }
}
