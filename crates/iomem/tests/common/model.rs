//! A deliberately simple reference model of the resource tree, written from
//! `resource-tree.md` alone: every resource has `parent`, `sibling` and
//! `child` links (first child / next higher sibling, as the kernel's
//! `struct resource`), and every operation walks those links exactly as the
//! spec text says — linear scans, no index, no binary search, nothing shared
//! with the library but the plain `Flags`/`Desc`/rule types. It is slow on
//! purpose; its value is that each function can be checked against its spec
//! section by eye.
//!
//! # Where the spec had to be interpreted
//!
//! 1. **`walk_system_ram_range` (§6.2)**: the spec says a match holding no
//!    whole page is "silently skipped (the running result keeps its previous
//!    value)", and that the shared walker loop stops on a non-zero result.
//!    The kernel tests the *running result* after every match, so a page-less
//!    match met before any callback ran (result still `-EINVAL`) ends the
//!    walk. The model does what the kernel does.
//! 2. **Walkers reaching `MAX` (§6.2)**: the kernel's cursor wraps to 0 and
//!    restarts (an endless walk). Like the library, the model ends the walk
//!    after a match ending at `MAX`.
//! 3. **Linking a resource that cannot be linked** (already in a tree, a
//!    root, or an ancestor of the place it would go): the kernel runs its
//!    algorithm and corrupts the tree (or warns and returns the conflict,
//!    `insert_resource`'s "first == new", §5.5). The model runs the
//!    algorithm literally and refuses only at the moment it would link: a
//!    conflict found first is returned as the kernel returns it; otherwise
//!    `IsRoot` / `InTree` / `Invalid` (all `-EINVAL`), in that order.
//!    `allocate_resource` checks this after a successful gap search and
//!    before writing the found range.
//! 4. **Operations on a detached resource or a root** that dereference a
//!    null parent in the kernel (`release_resource`, `remove_resource`,
//!    `merge_system_ram_resource`) return `-EINVAL` (§2.7): `IsRoot` for a
//!    root, `NotInTree` for a detached one. `free` (the port's `kfree`)
//!    refuses roots and linked resources.
//! 5. **`insert_resource` swallowing**: `new`'s own former children are
//!    dropped from it (the kernel overwrites `new.child`); here they become
//!    detached resources, each keeping its own subtree.
//! 6. **Re-allocation (§5.9) of a resource that is not a direct child of
//!    `root`**: the kernel would grow/shrink it in place without checking
//!    its real siblings; the model applies the change through
//!    `adjust_resource`'s checks instead and reports their refusal.
//! 7. **`arch_remove_reservations`** is the generic no-op (§5.8 step b).
//! 8. **Free-region searches whose stride is 0** (`request_free_mem_region`
//!    with align 0, or a size of 0 on the legacy rule): the kernel would test
//!    the same candidate forever; the model tests it once.
//! 9. **`reserve=`** values: the model parses the C-int forms the tests
//!    generate (decimal, `0x` hex, leading-`0` octal, leading `-`), each
//!    truncated to 32 bits, in comma-separated lists.
//! 10. **`find_next_iomem_res` top-level mode** (walkers before v5.13):
//!     non-matching resources are left for their next sibling, never their
//!     children.
//! 11. **`release_mem_region_adjustable` with a size wrapping past 2^64**
//!     (`end < start - 1`): the kernel's split would leave the upper part
//!     overlapping the lower one (two overlapping siblings). The model
//!     refuses that split (nothing changes, as for a failing adjust).
//! 12. **Free-region searches skip, in one step, the candidates that still
//!     overlap the child the current candidate overlaps** (candidates whose
//!     end would wrap are stepped through one by one). The kernel tests each
//!     of them; all of them fail its DISJOINT test, so the first free
//!     candidate is the same — but a literal loop over a 64-bit space at a
//!     small stride would not end in a test's lifetime.
//! 13. **A detached resource with children** (a released subtree) given a
//!     range that does not cover them — by `allocate_resource` (after the
//!     gap search) or by setting its range — would be linked away from its
//!     own children; both refuse with `-EINVAL`.
//! 14. **`adjust_resource` with a size wrapping past 2^64** (not 0): the
//!     kernel accepts a range starting above its end by more than one,
//!     which breaks the sibling order (§2.7 allows only the size-0
//!     inversion); the model refuses it with `-EINVAL`.

use iomem::{Desc, ExclusiveRule, Flags, FreeRegionRule, RegionIntersectsRule};

/// Index of a resource in the model (never reused).
pub type Id = usize;
/// `iomem_resource`.
pub const IOMEM: Id = 0;
/// `ioport_resource`.
pub const IOPORT: Id = 1;
/// Stands for a handle of another tree.
pub const FOREIGN: Id = usize::MAX;

/// One `struct resource`.
#[derive(Clone, Debug)]
pub struct Res {
    pub start: u64,
    pub end: u64,
    /// Name identity (the kernel compares name pointers); `None` = `<BAD>`.
    pub name: Option<usize>,
    pub flags: Flags,
    pub desc: Desc,
    pub parent: Option<Id>,
    pub sibling: Option<Id>,
    pub child: Option<Id>,
    /// False once freed.
    pub live: bool,
}

/// Why an operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MErr {
    Stale,
    Foreign,
    /// `-EBUSY` with this conflicting resource.
    Conflict(Id),
    /// `adjust_resource` refused (`-EBUSY`).
    Adjust(AdjustWhy),
    /// Gap search failed / reallocation impossible (`-EBUSY`).
    NoSpace,
    /// A muxed request met a busy muxed region.
    MuxedBusy(Id),
    NotInTree,
    InTree,
    IsRoot,
    /// `-EINVAL` (bad arguments, or linking below its own subtree).
    Invalid,
    /// `-ENODEV`.
    NotFound,
    /// `-ERANGE`.
    NoFreeRegion,
    /// Not in this kernel version.
    Unsupported,
}

/// Which check of `adjust_resource` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdjustWhy {
    OutsideParent(Id),
    NextSibling(Id),
    PreviousSibling(Id),
    Child(Id),
}

/// Outcome of `release_mem_region_adjustable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjusted {
    NotFound,
    Removed(Id),
    Trimmed(Id),
    Split(Id, Id),
    Refused(Id),
}

/// A match of `find_next_iomem_res`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub id: Id,
    pub start: u64,
    pub end: u64,
    pub flags: Flags,
    pub desc: Desc,
    pub parent: Option<Id>,
}

/// How a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkEnd {
    NothingFound,
    Completed,
    Stopped,
}

/// `region_intersects` results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ri {
    Intersects,
    Disjoint,
    Mixed,
}

/// Why an address is exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    SystemRamExclusive,
    BusyIoStrict,
    BusyExclusive,
}

/// The gap-search constraint; `alignf(avail_start, avail_end, size, align)`.
pub struct Constraint<'a> {
    pub min: u64,
    pub max: u64,
    pub align: u64,
    pub alignf: Option<&'a dyn Fn(u64, u64, u64, u64) -> u64>,
}

/// Platform and version parameters.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub ioport_end: u64,
    pub page_shift: u32,
    pub max_physmem_bits: u32,
    pub region_intersects: RegionIntersectsRule,
    pub exclusive: ExclusiveRule,
    pub walkers_top_level: bool,
    pub free_region: FreeRegionRule,
    pub merge: bool,
    pub walk_rev: bool,
}

impl Config {
    /// x86-64 with 4 KiB pages and current mainline rules.
    pub fn x86_mainline() -> Config {
        Config {
            ioport_end: 0xffff,
            page_shift: 12,
            max_physmem_bits: 46,
            region_intersects: RegionIntersectsRule::Descendants,
            exclusive: ExclusiveRule::SystemRamExclusive,
            walkers_top_level: false,
            free_region: FreeRegionRule::Modern,
            merge: true,
            walk_rev: true,
        }
    }
}

/// The two trees.
#[derive(Clone, Debug)]
pub struct Model {
    pub res: Vec<Res>,
    pub cfg: Config,
    /// Accepted `reserve=` reservations so far (one counter for all options).
    pub reserved: usize,
}

fn busy(f: Flags) -> bool {
    f.bits() & Flags::BUSY.bits() != 0
}

fn has_all(f: Flags, want: Flags) -> bool {
    f.bits() & want.bits() == want.bits()
}

fn matches(r: &Res, flags: Flags, desc: Desc) -> bool {
    has_all(r.flags, flags) && (desc == Desc::NONE || r.desc == desc)
}

fn overlaps(r: &Res, s: u64, e: u64) -> bool {
    r.start <= e && r.end >= s
}

/// `ALIGN(x, a)`, wrapping.
fn align_up(x: u64, a: u64) -> u64 {
    x.wrapping_add(a).wrapping_sub(1) & !a.wrapping_sub(1)
}

fn end_of(start: u64, n: u64) -> u64 {
    start.wrapping_add(n).wrapping_sub(1)
}

impl Model {
    /// Two empty roots.
    pub fn new(cfg: Config) -> Model {
        let root = |end, flags| Res {
            start: 0,
            end,
            name: None,
            flags,
            desc: Desc::NONE,
            parent: None,
            sibling: None,
            child: None,
            live: true,
        };
        Model { res: vec![root(u64::MAX, Flags::MEM), root(cfg.ioport_end, Flags::IO)], cfg, reserved: 0 }
    }

    fn r(&self, id: Id) -> &Res {
        &self.res[id]
    }

    fn m(&mut self, id: Id) -> &mut Res {
        &mut self.res[id]
    }

    /// Handle check: another tree's handle, or a freed resource.
    pub fn ok(&self, id: Id) -> Result<(), MErr> {
        match self.res.get(id) {
            _ if id == FOREIGN => Err(MErr::Foreign),
            Some(r) if r.live => Ok(()),
            _ => Err(MErr::Stale),
        }
    }

    pub fn is_root(id: Id) -> bool {
        id == IOMEM || id == IOPORT
    }

    /// A detached resource (`DEFINE_RES_NAMED_DESC`).
    pub fn create(&mut self, start: u64, end: u64, name: Option<usize>, flags: Flags, desc: Desc) -> Id {
        let r = Res { start, end, name, flags, desc, parent: None, sibling: None, child: None, live: true };
        self.res.push(r);
        self.res.len() - 1
    }

    /// Every child of `r` inside `[s, e]`?
    fn children_fit(&self, r: Id, s: u64, e: u64) -> bool {
        self.children(r).into_iter().all(|c| self.r(c).start >= s && self.r(c).end <= e)
    }

    /// The children of `p`, following `child` then `sibling`.
    pub fn children(&self, p: Id) -> Vec<Id> {
        let mut out = Vec::new();
        let mut c = self.r(p).child;
        while let Some(x) = c {
            out.push(x);
            c = self.r(x).sibling;
        }
        out
    }

    /// The sibling just before `r` in its parent's list.
    fn prev_sibling(&self, r: Id) -> Option<Id> {
        let p = self.r(r).parent?;
        let mut c = self.r(p).child;
        let mut prev = None;
        while let Some(x) = c {
            if x == r {
                return prev;
            }
            prev = Some(x);
            c = self.r(x).sibling;
        }
        None
    }

    /// Links `new` after `prev` (or first) in `parent`'s list.
    fn link_after(&mut self, parent: Id, prev: Option<Id>, new: Id) {
        let next = match prev {
            Some(p) => self.r(p).sibling,
            None => self.r(parent).child,
        };
        self.m(new).sibling = next;
        self.m(new).parent = Some(parent);
        match prev {
            Some(p) => self.m(p).sibling = Some(new),
            None => self.m(parent).child = Some(new),
        }
    }

    /// Unlinks `r` (with its subtree) from its parent's list.
    fn unlink(&mut self, r: Id) {
        let next = self.r(r).sibling;
        match self.prev_sibling(r) {
            Some(p) => self.m(p).sibling = next,
            None => {
                let parent = self.r(r).parent.unwrap();
                self.m(parent).child = next;
            }
        }
        self.m(r).parent = None;
        self.m(r).sibling = None;
    }

    /// Marks `r` and its whole subtree freed; returns how many.
    fn free_subtree(&mut self, r: Id) -> usize {
        let mut n = 1;
        for c in self.children(r) {
            n += self.free_subtree(c);
        }
        let x = self.m(r);
        x.live = false;
        x.parent = None;
        x.sibling = None;
        x.child = None;
        n
    }

    /// Interpretation 3: may `new` be linked below `parent`?
    fn guard_link(&self, parent: Id, new: Id) -> Result<(), MErr> {
        if Self::is_root(new) {
            return Err(MErr::IsRoot);
        }
        if self.r(new).parent.is_some() {
            return Err(MErr::InTree);
        }
        let mut p = Some(parent);
        while let Some(x) = p {
            if x == new {
                return Err(MErr::Invalid);
            }
            p = self.r(x).parent;
        }
        Ok(())
    }

    // ----- §4 PLACE ---------------------------------------------------

    /// The scan of PLACE: where `new` would go (the sibling before it), or
    /// the conflict.
    fn place_scan(&self, parent: Id, new: Id) -> Result<Option<Id>, Id> {
        let (s, e) = (self.r(new).start, self.r(new).end);
        let p = self.r(parent);
        if e < s || s < p.start || e > p.end {
            return Err(parent);
        }
        let mut prev = None;
        let mut c = p.child;
        while let Some(x) = c {
            if self.r(x).start > e {
                break;
            }
            if self.r(x).end < s {
                prev = Some(x);
                c = self.r(x).sibling;
                continue;
            }
            return Err(x);
        }
        Ok(prev)
    }

    /// PLACE with the port's guard at the linking step.
    fn place(&mut self, parent: Id, new: Id) -> Result<(), MErr> {
        let prev = self.place_scan(parent, new).map_err(MErr::Conflict)?;
        self.guard_link(parent, new)?;
        self.link_after(parent, prev, new);
        Ok(())
    }

    // ----- §5.1–§5.4 --------------------------------------------------

    pub fn request_resource(&mut self, root: Id, new: Id) -> Result<(), MErr> {
        self.ok(root)?;
        self.ok(new)?;
        self.place(root, new)
    }

    fn linked_non_root(&self, id: Id) -> Result<(), MErr> {
        self.ok(id)?;
        if Self::is_root(id) {
            return Err(MErr::IsRoot);
        }
        if self.r(id).parent.is_none() {
            return Err(MErr::NotInTree);
        }
        Ok(())
    }

    pub fn release_resource(&mut self, old: Id) -> Result<(), MErr> {
        self.linked_non_root(old)?;
        self.unlink(old);
        Ok(())
    }

    pub fn remove_resource(&mut self, old: Id) -> Result<(), MErr> {
        self.linked_non_root(old)?;
        let parent = self.r(old).parent.unwrap();
        let mut prev = self.prev_sibling(old);
        let kids = self.children(old);
        self.unlink(old);
        self.m(old).child = None;
        for k in kids {
            self.m(k).parent = None;
            self.m(k).sibling = None;
            self.link_after(parent, prev, k);
            prev = Some(k);
        }
        Ok(())
    }

    /// §5.4: returns the detached resources in the order they were
    /// renormalised (each after its own descendants).
    pub fn release_child_resources(&mut self, r: Id) -> Result<Vec<Id>, MErr> {
        self.ok(r)?;
        let mut out = Vec::new();
        self.release_children_rec(r, &mut out);
        Ok(out)
    }

    fn release_children_rec(&mut self, r: Id, out: &mut Vec<Id>) {
        let kids = self.children(r);
        self.m(r).child = None;
        for k in kids {
            self.m(k).parent = None;
            self.m(k).sibling = None;
            self.release_children_rec(k, out);
            let size = self.r(k).end.wrapping_sub(self.r(k).start).wrapping_add(1);
            self.m(k).start = 0;
            self.m(k).end = size.wrapping_sub(1);
            out.push(k);
        }
    }

    /// The port's `kfree` of a detached resource and its subtree.
    pub fn free(&mut self, id: Id) -> Result<usize, MErr> {
        self.ok(id)?;
        if Self::is_root(id) {
            return Err(MErr::IsRoot);
        }
        if self.r(id).parent.is_some() {
            return Err(MErr::InTree);
        }
        Ok(self.free_subtree(id))
    }

    pub fn set_flags(&mut self, id: Id, flags: Flags) -> Result<(), MErr> {
        self.ok(id)?;
        self.m(id).flags = flags;
        Ok(())
    }

    pub fn set_desc(&mut self, id: Id, desc: Desc) -> Result<(), MErr> {
        self.ok(id)?;
        self.m(id).desc = desc;
        Ok(())
    }

    pub fn set_range_detached(&mut self, id: Id, start: u64, end: u64) -> Result<(), MErr> {
        self.ok(id)?;
        if Self::is_root(id) || self.r(id).parent.is_some() {
            return Err(MErr::InTree);
        }
        if !self.children_fit(id, start, end) {
            return Err(MErr::Invalid); // interpretation 13
        }
        self.m(id).start = start;
        self.m(id).end = end;
        Ok(())
    }

    // ----- §5.5–§5.6 insert ---------------------------------------------

    fn insert(&mut self, parent: Id, new: Id) -> Result<(), MErr> {
        let (s, e) = (self.r(new).start, self.r(new).end);
        let mut parent = parent;
        // 1. Descend.
        let first = loop {
            match self.place_scan(parent, new) {
                Ok(prev) => {
                    self.guard_link(parent, new)?;
                    self.link_after(parent, prev, new);
                    return Ok(());
                }
                Err(c) if c == parent || c == new => return Err(MErr::Conflict(c)),
                Err(c) => {
                    let f = self.r(c);
                    if f.start > s || f.end < e || (f.start == s && f.end == e) {
                        break c;
                    }
                    parent = c;
                }
            }
        };
        // 2. Swallow.
        let mut last = first;
        loop {
            if self.r(last).start < s || self.r(last).end > e {
                return Err(MErr::Conflict(last));
            }
            match self.r(last).sibling {
                Some(n) if self.r(n).start <= e => last = n,
                _ => break,
            }
        }
        self.guard_link(parent, new)?;
        // 3. Relink (interpretation 5 for new's former children).
        for k in self.children(new) {
            self.m(k).parent = None;
            self.m(k).sibling = None;
        }
        let prev = self.prev_sibling(first);
        let after = self.r(last).sibling;
        let mut c = Some(first);
        while let Some(x) = c {
            self.m(x).parent = Some(new);
            c = if x == last { None } else { self.r(x).sibling };
        }
        self.m(last).sibling = None;
        let n = self.m(new);
        n.child = Some(first);
        n.sibling = after;
        n.parent = Some(parent);
        match prev {
            Some(p) => self.m(p).sibling = Some(new),
            None => self.m(parent).child = Some(new),
        }
        Ok(())
    }

    pub fn insert_resource(&mut self, parent: Id, new: Id) -> Result<(), MErr> {
        self.ok(parent)?;
        self.ok(new)?;
        self.insert(parent, new)
    }

    /// §5.6; `Ok(false)` when it gave up at the root.
    pub fn insert_resource_expand_to_fit(&mut self, root: Id, new: Id) -> Result<bool, MErr> {
        self.ok(root)?;
        self.ok(new)?;
        if Self::is_root(new) || self.r(new).parent.is_some() {
            return Ok(true);
        }
        loop {
            match self.insert(root, new) {
                Ok(()) => return Ok(true),
                Err(MErr::Conflict(c)) if c == root => return Ok(false),
                Err(MErr::Conflict(c)) => {
                    let (cs, ce) = (self.r(c).start, self.r(c).end);
                    let n = self.m(new);
                    n.start = n.start.min(cs);
                    n.end = n.end.max(ce);
                }
                Err(other) => return Err(other),
            }
        }
    }

    // ----- §5.7 adjust --------------------------------------------------

    fn adjust(&mut self, res: Id, start: u64, end: u64) -> Result<(), AdjustWhy> {
        if let Some(p) = self.r(res).parent {
            if start < self.r(p).start || end > self.r(p).end {
                return Err(AdjustWhy::OutsideParent(p));
            }
            if let Some(sib) = self.r(res).sibling {
                if self.r(sib).start <= end {
                    return Err(AdjustWhy::NextSibling(sib));
                }
            }
            if let Some(prev) = self.prev_sibling(res) {
                if start <= self.r(prev).end {
                    return Err(AdjustWhy::PreviousSibling(prev));
                }
            }
        }
        for c in self.children(res) {
            if self.r(c).start < start || self.r(c).end > end {
                return Err(AdjustWhy::Child(c));
            }
        }
        self.m(res).start = start;
        self.m(res).end = end;
        Ok(())
    }

    pub fn adjust_resource(&mut self, res: Id, start: u64, n: u64) -> Result<(), MErr> {
        self.ok(res)?;
        if n != 0 && end_of(start, n) < start {
            return Err(MErr::Invalid); // interpretation 14
        }
        self.adjust(res, start, end_of(start, n)).map_err(MErr::Adjust)
    }

    // ----- §5.8–§5.9 gap search and allocation --------------------------

    fn find_space(&self, root: Id, old: Option<Id>, size: u64, c: &Constraint<'_>) -> Option<(u64, u64)> {
        let (rs, re) = (self.r(root).start, self.r(root).end);
        let mut cur = rs;
        let mut this = self.r(root).child;
        if let Some(c1) = this {
            if self.r(c1).start == rs {
                cur = if Some(c1) == old { self.r(c1).start } else { self.r(c1).end.wrapping_add(1) };
                this = self.r(c1).sibling;
            }
        }
        loop {
            let we = match this {
                None => re,
                Some(t) if Some(t) == old => self.r(t).end,
                Some(t) => self.r(t).start.wrapping_sub(1),
            };
            if we >= cur {
                cur = cur.max(c.min);
                let we = we.min(c.max);
                let astart = align_up(cur, c.align);
                if astart >= cur {
                    let cs = match c.alignf {
                        Some(f) => f(astart, we, size, c.align),
                        None => astart,
                    };
                    let ce = end_of(cs, size);
                    if cs <= ce && astart <= cs && ce <= we {
                        return Some((cs, ce));
                    }
                }
            }
            let t = this?;
            if self.r(t).end == re {
                return None;
            }
            if Some(t) != old {
                cur = self.r(t).end.wrapping_add(1);
            }
            this = self.r(t).sibling;
        }
    }

    pub fn find_resource_space(&self, root: Id, size: u64, c: &Constraint<'_>) -> Result<(u64, u64), MErr> {
        self.ok(root)?;
        self.find_space(root, None, size, c).ok_or(MErr::NoSpace)
    }

    pub fn allocate_resource(&mut self, root: Id, new: Id, size: u64, c: &Constraint<'_>) -> Result<(), MErr> {
        self.ok(root)?;
        self.ok(new)?;
        if Self::is_root(new) {
            return Err(MErr::IsRoot);
        }
        if self.r(new).parent.is_some() {
            return self.reallocate(root, new, size, c);
        }
        let (s, e) = self.find_space(root, None, size, c).ok_or(MErr::NoSpace)?;
        self.guard_link(root, new)?;
        if !self.children_fit(new, s, e) {
            return Err(MErr::Invalid); // interpretation 13
        }
        self.m(new).start = s;
        self.m(new).end = e;
        self.place(root, new)
    }

    fn reallocate(&mut self, root: Id, old: Id, size: u64, c: &Constraint<'_>) -> Result<(), MErr> {
        let (s, e) = self.find_space(root, Some(old), size, c).ok_or(MErr::NoSpace)?;
        let (os, oe) = (self.r(old).start, self.r(old).end);
        let unset = self.r(old).flags.contains(Flags::UNSET);
        if !unset && s <= os && e >= oe {
            return self.resize(root, old, s, e);
        }
        if self.r(old).child.is_some() {
            return Err(MErr::NoSpace);
        }
        if !unset && os <= s && oe >= e {
            return self.resize(root, old, s, e);
        }
        // Interpretation 3: refuse moving `old` below itself before
        // unlinking anything.
        let mut p = Some(root);
        while let Some(x) = p {
            if x == old {
                return Err(MErr::Invalid);
            }
            p = self.r(x).parent;
        }
        self.unlink(old);
        self.m(old).start = s;
        self.m(old).end = e;
        self.place(root, old)
    }

    /// Interpretation 6.
    fn resize(&mut self, root: Id, old: Id, s: u64, e: u64) -> Result<(), MErr> {
        if self.r(old).parent == Some(root) {
            self.m(old).start = s;
            self.m(old).end = e;
            return Ok(());
        }
        self.adjust(old, s, e).map_err(MErr::Adjust)
    }

    // ----- §5.10 reserve_region_with_split ------------------------------

    pub fn reserve_region_with_split(
        &mut self,
        root: Id,
        start: u64,
        end: u64,
        name: Option<usize>,
    ) -> Result<Vec<Id>, MErr> {
        self.ok(root)?;
        let (rs, re) = (self.r(root).start, self.r(root).end);
        let (mut s, mut e) = (start, end);
        if rs > s || re < e {
            if s > re || e < rs {
                return Ok(Vec::new());
            }
            s = s.max(rs);
            e = e.min(re);
        }
        let flags = Flags::from_bits_retain(self.r(root).flags.bits() & 0x1f00) | Flags::BUSY;
        let mut placed = Vec::new();
        let mut pending: Option<(u64, u64)> = None;
        loop {
            let piece = self.create(s, e, name, flags, Desc::NONE);
            match self.place_scan(root, piece) {
                Ok(prev) => {
                    self.link_after(root, prev, piece);
                    placed.push(piece);
                    match pending.take() {
                        Some((ps, pe)) => (s, e) = (ps, pe),
                        None => return Ok(placed),
                    }
                }
                Err(c) => {
                    self.free_subtree(piece);
                    let (cs, ce) = (self.r(c).start, self.r(c).end);
                    if cs <= s && ce >= e {
                        return Ok(placed);
                    }
                    if cs > s {
                        if ce < e {
                            pending = Some((ce + 1, e));
                        }
                        e = cs - 1;
                    } else {
                        s = ce.wrapping_add(1);
                    }
                }
            }
        }
    }

    // ----- §5.11–§5.12 busy regions -------------------------------------

    pub fn request_region(
        &mut self,
        parent: Id,
        start: u64,
        n: u64,
        name: Option<usize>,
        flags: Flags,
    ) -> Result<Id, MErr> {
        self.ok(parent)?;
        let new = self.create(start, end_of(start, n), name, Flags::empty(), Desc::NONE);
        let mut p = parent;
        loop {
            let pf = self.r(p).flags.bits();
            self.m(new).flags = Flags::from_bits_retain(pf & (0x1f00 | 0x0100_0000)) | Flags::BUSY | flags;
            self.m(new).desc = self.r(p).desc;
            match self.place_scan(p, new) {
                Ok(prev) => {
                    self.link_after(p, prev, new);
                    return Ok(new);
                }
                Err(c) if c != p && !busy(self.r(c).flags) => p = c,
                Err(c) => {
                    self.free_subtree(new);
                    let muxed = self.r(c).flags.contains(Flags::MUXED) && flags.contains(Flags::MUXED);
                    return Err(if muxed { MErr::MuxedBusy(c) } else { MErr::Conflict(c) });
                }
            }
        }
    }

    /// §5.12: the freed resource, or `None` ("Trying to free nonexistent").
    pub fn release_region(&mut self, parent: Id, start: u64, n: u64) -> Result<Option<Id>, MErr> {
        self.ok(parent)?;
        let end = end_of(start, n);
        let mut c = self.r(parent).child;
        while let Some(x) = c {
            let r = self.r(x);
            if r.start <= start && r.end >= end {
                if !busy(r.flags) {
                    c = r.child;
                    continue;
                }
                if r.start != start || r.end != end {
                    break;
                }
                self.unlink(x);
                self.free_subtree(x);
                return Ok(Some(x));
            }
            c = r.sibling;
        }
        Ok(None)
    }

    // ----- §5.13–§5.14 hot-plug -----------------------------------------

    pub fn release_mem_region_adjustable(&mut self, start: u64, size: u64) -> Adjusted {
        let end = end_of(start, size);
        if start < self.r(IOMEM).start || end > self.r(IOMEM).end {
            return Adjusted::NotFound;
        }
        let mut c = self.r(IOMEM).child;
        while let Some(x) = c {
            let r = self.r(x).clone();
            if r.start >= end {
                break;
            }
            if r.start > start || r.end < end {
                c = r.sibling;
                continue;
            }
            if !r.flags.contains(Flags::MEM) {
                break;
            }
            if !busy(r.flags) {
                c = r.child;
                continue;
            }
            if r.start == start && r.end == end {
                self.unlink(x);
                self.free_subtree(x);
                return Adjusted::Removed(x);
            }
            if r.start == start || r.end == end {
                let (ns, ne) = if r.start == start { (end + 1, r.end) } else { (r.start, start - 1) };
                return match self.adjust(x, ns, ne) {
                    Ok(()) => Adjusted::Trimmed(x),
                    Err(_) => Adjusted::Refused(x),
                };
            }
            if end.wrapping_add(1) < start || self.adjust(x, r.start, start - 1).is_err() {
                return Adjusted::Refused(x); // the first test: interpretation 11
            }
            let up = self.create(end + 1, r.end, r.name, r.flags, r.desc);
            self.link_after(r.parent.unwrap(), Some(x), up);
            return Adjusted::Split(x, up);
        }
        Adjusted::NotFound
    }

    fn mergeable(&self, a: Id, b: Id) -> bool {
        let (x, y) = (self.r(a), self.r(b));
        x.flags == y.flags
            && x.end.wrapping_add(1) == y.start
            && x.name == y.name
            && x.desc == y.desc
            && x.child.is_none()
            && y.child.is_none()
    }

    /// §5.14: the resource now covering `res`'s range.
    pub fn merge_system_ram_resource(&mut self, res: Id) -> Result<Id, MErr> {
        if !self.cfg.merge {
            return Err(MErr::Unsupported);
        }
        self.ok(res)?;
        if !has_all(self.r(res).flags, Flags::SYSTEM_RAM | Flags::BUSY) {
            return Ok(res);
        }
        if self.r(res).parent.is_none() {
            return Err(MErr::NotInTree);
        }
        self.m(res).flags |= Flags::SYSRAM_MERGEABLE;
        if let Some(next) = self.r(res).sibling {
            if self.mergeable(res, next) {
                self.m(res).end = self.r(next).end;
                self.unlink(next);
                self.free_subtree(next);
            }
        }
        if let Some(prev) = self.prev_sibling(res) {
            if self.mergeable(prev, res) {
                self.m(prev).end = self.r(res).end;
                self.unlink(res);
                self.free_subtree(res);
                return Ok(prev);
            }
        }
        Ok(res)
    }

    // ----- §5.15 free-region allocators ---------------------------------

    fn physmem_end(&self) -> u64 {
        if self.cfg.max_physmem_bits >= 64 { u64::MAX } else { (1u64 << self.cfg.max_physmem_bits) - 1 }
    }

    /// `__region_intersects(base, q, flags 0, NONE) == DISJOINT` means no
    /// child of `base` overlaps (with flags 0 every resource matches); this
    /// returns the lowest overlapping child instead, if any.
    fn overlapping_child(&self, base: Id, s: u64, e: u64) -> Option<Id> {
        self.children(base).into_iter().find(|&c| overlaps(self.r(c), s, e))
    }

    pub fn alloc_free_mem_region(&mut self, base: Id, size: u64, align: u64, name: Option<usize>) -> Result<Id, MErr> {
        if self.cfg.free_region == FreeRegionRule::Legacy {
            return Err(MErr::Unsupported);
        }
        self.ok(base)?;
        let size = align_up(size, align);
        let limit = self.r(base).end.min(self.physmem_end());
        let mut addr = align_up(self.r(base).start.max(align), align);
        while addr > addr.wrapping_sub(align) && addr <= limit {
            let e = end_of(addr, size);
            if let Some(c) = self.overlapping_child(base, addr, e) {
                // Interpretation 12: skip the candidates that still overlap c.
                let cend = self.r(c).end;
                // Every further candidate up to `limit` starts at or below
                // `cend`, and none of their ends wraps: all overlap `c`.
                if cend >= limit && limit.checked_add(size.saturating_sub(1)).is_some() {
                    break;
                }
                // The next candidate past c, but not past the first one whose
                // end wraps (a wrapped end is small and may miss c).
                let (a, st) = (u128::from(addr), u128::from(align));
                if st == 0 {
                    break;
                }
                let mut next = a + (u128::from(cend).saturating_sub(a) / st + 1) * st;
                if size > 0 && a + u128::from(size) - 1 <= u128::from(u64::MAX) {
                    let first_wrapping = (1u128 << 64) + 1 - u128::from(size);
                    if first_wrapping < next {
                        next = a + (first_wrapping - a).div_ceil(st) * st;
                    }
                }
                match u64::try_from(next) {
                    Ok(n) => addr = n,
                    Err(_) => break,
                }
                continue;
            }
            let new = self.create(addr, e, name, Flags::MEM, Desc::NONE);
            if self.insert(base, new).is_err() {
                self.free_subtree(new);
                return Err(MErr::NoFreeRegion);
            }
            if self.r(new).child.is_some() {
                self.remove_resource(new).unwrap();
                self.free_subtree(new);
                return Err(MErr::NoFreeRegion);
            }
            return Ok(new);
        }
        Err(MErr::NoFreeRegion)
    }

    pub fn request_free_mem_region(
        &mut self,
        base: Id,
        size: u64,
        align: u64,
        name: Option<usize>,
    ) -> Result<Id, MErr> {
        self.ok(base)?;
        let legacy = self.cfg.free_region == FreeRegionRule::Legacy;
        let size = align_up(size, align);
        let stride = if legacy { size } else { align };
        let test_parent = if legacy { IOMEM } else { base };
        let mut addr = self.r(base).end.min(self.physmem_end()).wrapping_sub(size).wrapping_add(1);
        while addr > stride && addr >= self.r(base).start {
            let e = end_of(addr, size);
            let Some(c) = self.overlapping_child(test_parent, addr, e) else {
                let new =
                    self.request_region(IOMEM, addr, size, name, Flags::empty()).map_err(|_| MErr::NoFreeRegion)?;
                self.m(new).desc = Desc::DEVICE_PRIVATE_MEMORY;
                return Ok(new);
            };
            if stride == 0 {
                break; // interpretation 8
            }
            // Interpretation 12: skip the candidates that still reach c. A
            // candidate's end wraps past 2^64 for large starts; within each
            // regime the end grows with the start, so the candidates that
            // reach c are those from `lowest` up.
            let cstart = self.r(c).start;
            let wrapped = size > 0 && u128::from(addr) + u128::from(size) - 1 > u128::from(u64::MAX);
            let lowest = i128::from(cstart) + 1 - i128::from(size) + if wrapped { 1i128 << 64 } else { 0 };
            let a = i128::from(addr);
            let k = if a >= lowest { (a - lowest) / i128::from(stride) + 1 } else { 1 };
            match u64::try_from(a - k * i128::from(stride)) {
                Ok(next) => addr = next,
                Err(_) => break,
            }
        }
        Err(MErr::NoFreeRegion)
    }

    // ----- §7.1 reserve= ------------------------------------------------

    /// One `reserve=` value; returns the resources placed.
    pub fn apply_reserve_param(&mut self, value: &str, name: Option<usize>) -> Vec<Id> {
        let tokens: Vec<&str> = value.split(',').collect();
        let mut placed = Vec::new();
        let mut i = 0;
        // A start counts only if a comma follows it, i.e. another token.
        while i + 1 < tokens.len() {
            let (Some(start), Some(num)) = (parse_c_int(tokens[i]), parse_c_int(tokens[i + 1])) else {
                break;
            };
            i += 2;
            if self.reserved >= 4 {
                continue;
            }
            let (root, ty) = if start < 0x10000 { (IOPORT, Flags::IO) } else { (IOMEM, Flags::MEM) };
            let end = start.wrapping_add(num).wrapping_sub(1);
            let r = self.create(u64::from(start), u64::from(end), name, ty | Flags::BUSY, Desc::NONE);
            match self.place_scan(root, r) {
                Ok(prev) => {
                    self.link_after(root, prev, r);
                    self.reserved += 1;
                    placed.push(r);
                }
                Err(_) => {
                    self.free_subtree(r);
                }
            }
        }
        placed
    }

    // ----- §5.16 lookup, tree views -------------------------------------

    pub fn lookup_resource(&self, root: Id, start: u64) -> Result<Option<Id>, MErr> {
        self.ok(root)?;
        Ok(self.children(root).into_iter().find(|&c| self.r(c).start == start))
    }

    /// The deepest resource below `root` containing `addr`.
    pub fn containing_chain(&self, root: Id, addr: u64) -> Result<Vec<Id>, MErr> {
        self.ok(root)?;
        let mut chain = Vec::new();
        let mut cur = root;
        while let Some(c) = self.children(cur).into_iter().find(|&c| self.r(c).start <= addr && addr <= self.r(c).end) {
            chain.push(c);
            cur = c;
        }
        Ok(chain)
    }

    pub fn children_overlapping(&self, parent: Id, s: u64, e: u64) -> Result<Vec<Id>, MErr> {
        self.ok(parent)?;
        Ok(self.children(parent).into_iter().filter(|&c| overlaps(self.r(c), s, e)).collect())
    }

    /// §2.8 pre-order successor, never leaving `root`'s subtree.
    fn next(&self, p: Id, skip_children: bool, root: Id) -> Option<Id> {
        if !skip_children {
            if let Some(c) = self.r(p).child {
                return Some(c);
            }
        }
        let mut p = p;
        while self.r(p).sibling.is_none() {
            p = self.r(p).parent?;
            if p == root {
                return None;
            }
        }
        self.r(p).sibling
    }

    /// Pre-order list of `root`'s descendants with their depth.
    pub fn preorder(&self, root: Id) -> Vec<(Id, usize)> {
        let mut out = Vec::new();
        let mut p = self.r(root).child;
        while let Some(x) = p {
            let mut depth = 0;
            let mut a = self.r(x).parent;
            while a != Some(root) {
                depth += 1;
                a = self.r(a.unwrap()).parent;
            }
            out.push((x, depth));
            p = self.next(x, false, root);
        }
        out
    }

    /// §9 text.
    pub fn render(&self, root: Id, privileged: bool, names: &[String]) -> String {
        let width = if self.r(root).end < 0x10000 { 4 } else { 8 };
        let mut s = String::new();
        for (x, depth) in self.preorder(root) {
            let r = self.r(x);
            let (a, b) = if privileged { (r.start, r.end) } else { (0, 0) };
            let name = r.name.map_or("<BAD>", |n| names[n].as_str());
            s += &format!("{:indent$}{a:0width$x}-{b:0width$x} : {name}\n", "", indent = depth.min(5) * 2);
        }
        s
    }

    // ----- §6 queries ---------------------------------------------------

    fn find_next(&self, start: u64, end: u64, flags: Flags, desc: Desc, top_level: bool) -> Result<Found, MErr> {
        if start >= end {
            return Err(MErr::Invalid);
        }
        let mut p = self.r(IOMEM).child;
        while let Some(x) = p {
            let r = self.r(x);
            if r.start > end {
                break;
            }
            if r.end >= start && matches(r, flags, desc) {
                return Ok(Found {
                    id: x,
                    start: start.max(r.start),
                    end: end.min(r.end),
                    flags: r.flags,
                    desc: r.desc,
                    parent: r.parent,
                });
            }
            p = if top_level { r.sibling } else { self.next(x, false, IOMEM) };
        }
        Err(MErr::NotFound)
    }

    pub fn find_next_iomem_res(&self, start: u64, end: u64, flags: Flags, desc: Desc) -> Result<Found, MErr> {
        self.find_next(start, end, flags, desc, false)
    }

    /// The shared walker loop; the callback asks to stop after `stop_after`
    /// calls (if given).
    fn walk(
        &self,
        mut start: u64,
        end: u64,
        flags: Flags,
        desc: Desc,
        top_level: bool,
        stop_after: Option<usize>,
    ) -> (Vec<Found>, WalkEnd) {
        let mut seen = Vec::new();
        let mut ret = WalkEnd::NothingFound;
        while start < end {
            let Ok(m) = self.find_next(start, end, flags, desc, top_level) else { break };
            seen.push(m);
            if Some(seen.len()) == stop_after {
                return (seen, WalkEnd::Stopped);
            }
            ret = WalkEnd::Completed;
            if m.end == u64::MAX {
                break; // interpretation 2
            }
            start = m.end + 1;
        }
        (seen, ret)
    }

    pub fn walk_iomem_res_desc(
        &self,
        desc: Desc,
        flags: Flags,
        start: u64,
        end: u64,
        stop: Option<usize>,
    ) -> (Vec<Found>, WalkEnd) {
        self.walk(start, end, flags, desc, false, stop)
    }

    pub fn walk_system_ram_res(&self, start: u64, end: u64, stop: Option<usize>) -> (Vec<Found>, WalkEnd) {
        self.walk(start, end, Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE, self.cfg.walkers_top_level, stop)
    }

    pub fn walk_mem_res(&self, start: u64, end: u64, stop: Option<usize>) -> (Vec<Found>, WalkEnd) {
        self.walk(start, end, Flags::MEM | Flags::BUSY, Desc::NONE, self.cfg.walkers_top_level, stop)
    }

    pub fn walk_system_ram_res_rev(
        &self,
        start: u64,
        end: u64,
        stop: Option<usize>,
    ) -> Result<(Vec<Found>, WalkEnd), MErr> {
        if !self.cfg.walk_rev {
            return Err(MErr::Unsupported);
        }
        let (all, _) = self.walk(start, end, Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE, false, None);
        let mut seen = Vec::new();
        let mut ret = WalkEnd::NothingFound;
        for m in all.into_iter().rev() {
            seen.push(m);
            if Some(seen.len()) == stop {
                return Ok((seen, WalkEnd::Stopped));
            }
            ret = WalkEnd::Completed;
        }
        Ok((seen, ret))
    }

    /// §6.2 `walk_system_ram_range`: the `(pfn, n)` callbacks made.
    pub fn walk_system_ram_range(&self, start_pfn: u64, nr: u64, stop: Option<usize>) -> (Vec<(u64, u64)>, WalkEnd) {
        let shift = self.cfg.page_shift;
        let mut start = start_pfn << shift;
        let end = (start_pfn.wrapping_add(nr) << shift).wrapping_sub(1);
        let mut calls = Vec::new();
        let mut ret = WalkEnd::NothingFound;
        while start < end {
            let Ok(m) = self.find_next(start, end, Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE, false) else {
                break;
            };
            let pfn = m.start.wrapping_add((1u64 << shift) - 1) >> shift;
            let end_pfn = m.end.wrapping_add(1) >> shift;
            if end_pfn > pfn {
                calls.push((pfn, end_pfn - pfn));
                if Some(calls.len()) == stop {
                    return (calls, WalkEnd::Stopped);
                }
                ret = WalkEnd::Completed;
            }
            if ret == WalkEnd::NothingFound {
                break; // interpretation 1: the running result is still -EINVAL
            }
            if m.end == u64::MAX {
                break;
            }
            start = m.end + 1;
        }
        (calls, ret)
    }

    pub fn page_is_ram(&self, pfn: u64) -> bool {
        self.walk_system_ram_range(pfn, 1, Some(1)).1 == WalkEnd::Stopped
    }

    /// §6.4 over `parent`'s children.
    pub fn region_intersects(
        &self,
        parent: Id,
        start: u64,
        size: u64,
        flags: Flags,
        desc: Desc,
        rule: RegionIntersectsRule,
    ) -> Result<Ri, MErr> {
        self.ok(parent)?;
        let (qs, qe) = (start, end_of(start, size));
        let (mut ty, mut other) = (0, 0);
        for p in self.children(parent) {
            let r = self.r(p);
            if !overlaps(r, qs, qe) {
                continue;
            }
            if matches(r, flags, desc) {
                ty += 1;
                continue;
            }
            if rule == RegionIntersectsRule::TopLevelOnly {
                other += 1;
                continue;
            }
            let mut covered = false;
            let (mut os, oe) = (qs.max(r.start), qe.min(r.end));
            let mut d = r.child;
            while let Some(x) = d {
                let dr = self.r(x);
                if overlaps(dr, qs, qe) && matches(dr, flags, desc) {
                    ty += 1;
                    if dr.start > os {
                        break;
                    }
                    if dr.end >= oe {
                        covered = true;
                        break;
                    }
                    os = os.max(dr.end.wrapping_add(1));
                }
                d = self.next(x, false, p);
            }
            if !covered {
                other += 1;
            }
        }
        Ok(if ty == 0 {
            Ri::Disjoint
        } else if other == 0 {
            Ri::Intersects
        } else {
            Ri::Mixed
        })
    }

    /// §6.5: the resource the request "spans more than", if any.
    pub fn iomem_map_sanity_check(&self, addr: u64, size: u64) -> Option<Id> {
        let e = end_of(addr, size);
        let pfn = |x: u64| x >> self.cfg.page_shift;
        let mut p = self.r(IOMEM).child;
        while let Some(x) = p {
            let r = self.r(x);
            p = self.next(x, false, IOMEM);
            if r.start > e || r.end < addr {
                continue;
            }
            if pfn(r.start) <= pfn(addr) && pfn(r.end) >= pfn(e) {
                continue;
            }
            if busy(r.flags) {
                continue;
            }
            return Some(x);
        }
        None
    }

    /// §6.6 `resource_is_exclusive` under `rule`.
    pub fn resource_is_exclusive(
        &self,
        root: Id,
        addr: u64,
        size: u64,
        strict: bool,
        io_strict: bool,
        rule: ExclusiveRule,
    ) -> Result<Option<(Id, Why)>, MErr> {
        self.ok(root)?;
        if rule != ExclusiveRule::SystemRamExclusive && !strict {
            return Ok(None);
        }
        let limit = addr.wrapping_add(size);
        let mut p = self.r(root).child;
        while let Some(x) = p {
            let r = self.r(x);
            if r.start >= limit {
                return Ok(None);
            }
            if r.end < addr {
                // Only the current rule skips the children (no effect on results).
                p = self.next(x, rule == ExclusiveRule::SystemRamExclusive, root);
                continue;
            }
            let f = r.flags;
            let why = match rule {
                ExclusiveRule::BusyAndExclusive => {
                    (busy(f) && f.contains(Flags::EXCLUSIVE)).then_some(Why::BusyExclusive)
                }
                _ if rule == ExclusiveRule::SystemRamExclusive && has_all(f, Flags::SYSTEM_RAM | Flags::EXCLUSIVE) => {
                    Some(Why::SystemRamExclusive)
                }
                _ if !strict || !busy(f) => None,
                _ if io_strict => Some(Why::BusyIoStrict),
                _ if f.contains(Flags::EXCLUSIVE) => Some(Why::BusyExclusive),
                _ => None,
            };
            if let Some(w) = why {
                return Ok(Some((x, w)));
            }
            p = self.next(x, false, root);
        }
        Ok(None)
    }

    pub fn iomem_is_exclusive(&self, addr: u64, strict: bool, io_strict: bool) -> Option<(Id, Why)> {
        let page = 1u64 << self.cfg.page_shift;
        self.resource_is_exclusive(IOMEM, addr & !(page - 1), page, strict, io_strict, self.cfg.exclusive).unwrap()
    }
}

/// Interpretation 9: a C `int` in the forms the tests write, as `u32`.
fn parse_c_int(t: &str) -> Option<u32> {
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let v = if let Some(h) = t.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok()?
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()?
    } else {
        t.parse::<u64>().ok()?
    };
    Some(if neg { v.wrapping_neg() as u32 } else { v as u32 })
}
