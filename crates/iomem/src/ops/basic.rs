//! Placement and the plain tree operations (resource-tree.md §4, §5.1–§5.7,
//! §5.16–§5.17).

use alloc::format;
use alloc::vec::Vec;

use crate::error::{AdjustConflict, Error};
use crate::flags::Flags;
use crate::range::Range;
use crate::tree::{Ix, LogLevel, NIL, ResourceId, ResourceTree, ResourceView};

impl ResourceTree {
    /// PLACE (`__request_resource`): makes `new` a direct child of `parent`
    /// or returns the conflict (`parent` itself for an inverted or outside
    /// range, else the lowest overlapping child).
    pub(crate) fn place(&mut self, parent: Ix, new: Ix) -> Result<(), Ix> {
        let pos = self.place_scan(parent, new)?;
        self.link_at(parent, pos, new);
        Ok(())
    }

    /// The scan of PLACE without linking: the position `new` would take
    /// among `parent`'s children, or the conflict.
    pub(crate) fn place_scan(&self, parent: Ix, new: Ix) -> Result<usize, Ix> {
        let r = self.node(new).range();
        let p = self.node(parent).range();
        if r.end < r.start || r.start < p.start || r.end > p.end {
            return Err(parent);
        }
        let pos = self.first_reaching(parent, r.start);
        if let Some(c) = self.kids(parent).get(pos) {
            if c.start <= r.end {
                return Err(c.slot);
            }
        }
        Ok(pos)
    }

    pub(crate) fn conflict_error(&self, new: Ix, conflict: Ix) -> Error {
        Error::Conflict {
            range: self.node(new).range(),
            conflict: self.handle(conflict),
            conflict_range: self.node(conflict).range(),
        }
    }

    /// Checks that `new` may be linked below `parent`: `new` is detached,
    /// not a root, and `parent` is not inside `new`'s own detached subtree.
    /// Called at the moment of linking, after the kernel's algorithm ran:
    /// where the kernel reports a conflict (e.g. `insert_resource` meeting
    /// `new` itself, already linked there) that result is returned; the port
    /// refuses only what would corrupt the tree.
    pub(crate) fn check_linkable(&self, parent: Ix, new: Ix) -> Result<(), Error> {
        if Self::is_root(new) {
            return Err(Error::IsRoot { resource: self.handle(new) });
        }
        if self.node(new).parent != NIL {
            return Err(Error::InTree { resource: self.handle(new) });
        }
        let mut p = parent;
        while p != NIL {
            if p == new {
                return Err(Error::Invalid { what: "the parent lies inside the resource to be linked" });
            }
            p = self.node(p).parent;
        }
        Ok(())
    }

    /// `request_resource_conflict` / `request_resource` (§5.1): PLACE under
    /// `root`, never descending. A conflict is reported as
    /// [`Error::Conflict`] (kernel: `-EBUSY`; the conflict is what
    /// `request_resource_conflict` returns).
    pub fn request_resource(&mut self, root: ResourceId, new: ResourceId) -> Result<(), Error> {
        let root = self.ix(root)?;
        let new = self.ix(new)?;
        let pos = self.place_scan(root, new).map_err(|c| self.conflict_error(new, c))?;
        self.check_linkable(root, new)?;
        self.link_at(root, pos, new);
        Ok(())
    }

    /// `release_resource` (§5.2): unlinks `old` together with its whole
    /// subtree, which stays attached to `old`. `-EINVAL` for a detached
    /// resource or a root.
    pub fn release_resource(&mut self, old: ResourceId) -> Result<(), Error> {
        let ix = self.linked_non_root(old)?;
        self.unlink(ix);
        Ok(())
    }

    /// `remove_resource` (§5.3): unlinks `old`; its children take its place
    /// in its parent's list, in order.
    pub fn remove_resource(&mut self, old: ResourceId) -> Result<(), Error> {
        let ix = self.linked_non_root(old)?;
        let parent = self.node(ix).parent;
        let pos = self.position(ix);
        let n = self.kid_count(ix);
        let kids = self.take_children(ix, 0..n);
        self.unlink_at(parent, pos);
        self.put_children(parent, pos, kids);
        Ok(())
    }

    fn linked_non_root(&self, id: ResourceId) -> Result<Ix, Error> {
        let ix = self.ix(id)?;
        if Self::is_root(ix) {
            return Err(Error::IsRoot { resource: id });
        }
        if self.node(ix).parent == NIL {
            return Err(Error::NotInTree { resource: id });
        }
        Ok(ix)
    }

    /// `release_child_resources` (§5.4): detaches every descendant of `r`,
    /// each renormalised to `[0, size - 1]` after its own descendants were
    /// processed. The detached resources stay allocated (their owners free
    /// them); they are returned in the kernel's processing order.
    pub fn release_child_resources(&mut self, r: ResourceId) -> Result<Vec<ResourceId>, Error> {
        let ix = self.ix(r)?;
        let mut released = Vec::new();
        self.release_children_of(ix, &mut released);
        Ok(released)
    }

    fn release_children_of(&mut self, ix: Ix, released: &mut Vec<ResourceId>) {
        // Post-order with an explicit stack: (node, its children taken out).
        let n = self.kid_count(ix);
        let top = self.take_children(ix, 0..n).iter().map(|c| c.slot).collect();
        let mut stack: Vec<(Ix, Vec<Ix>, usize)> = alloc::vec![(ix, top, 0)];
        while let Some((_, kids, next)) = stack.last_mut() {
            if let Some(&child) = kids.get(*next) {
                *next += 1;
                self.set_parent_link(child, NIL);
                let m = self.kid_count(child);
                let grandkids = self.take_children(child, 0..m).iter().map(|c| c.slot).collect();
                stack.push((child, grandkids, 0));
            } else {
                let (done, _, _) = stack.pop().unwrap_or((ix, Vec::new(), 0));
                if done == ix {
                    break;
                }
                let range = self.node(done).range();
                self.journal.log(LogLevel::Debug, || format!("release child resource {range:?}"));
                let size = range.size();
                self.set_range(done, Range::new(0, size.wrapping_sub(1)));
                released.push(self.handle(done));
            }
        }
    }

    /// `__insert_resource`: `Ok(None)` on success, `Ok(Some(conflict))`, or
    /// the refusal of [`ResourceTree::check_linkable`] where the kernel would
    /// link a resource that cannot be linked.
    pub(crate) fn insert_conflict(&mut self, mut parent: Ix, new: Ix) -> Result<Option<Ix>, Error> {
        let nr = self.node(new).range();
        let first = loop {
            let first = match self.place_scan(parent, new) {
                Ok(pos) => {
                    self.check_linkable(parent, new)?;
                    self.link_at(parent, pos, new);
                    return Ok(None);
                }
                Err(c) => c,
            };
            if first == parent || first == new {
                return Ok(Some(first));
            }
            let fr = self.node(first).range();
            if fr.start > nr.start || fr.end < nr.end || fr == nr {
                break first;
            }
            parent = first;
        };
        // Swallow: every sibling from `first` up to the last one starting
        // at or below new.end must lie inside `new`.
        let kids = self.kids(parent);
        let first_pos = self.position(first);
        let mut last_pos = first_pos;
        loop {
            let next = &kids[last_pos];
            if next.start < nr.start || next.end > nr.end {
                return Ok(Some(next.slot));
            }
            match kids.get(last_pos + 1) {
                Some(s) if s.start <= nr.end => last_pos += 1,
                _ => break,
            }
        }
        self.check_linkable(parent, new)?;
        // Relink: `new` takes `first`'s place and adopts the run. Its own
        // former children are dropped from it (the kernel overwrites the
        // child link); they become detached.
        let old_kids = self.kid_count(new);
        for o in self.take_children(new, 0..old_kids) {
            self.set_parent_link(o.slot, NIL);
        }
        let run = self.take_children(parent, first_pos..last_pos + 1);
        self.link_at(parent, first_pos, new);
        self.put_children(new, 0, run);
        Ok(None)
    }

    /// `insert_resource_conflict` / `insert_resource` (§5.5): descends
    /// through every resource strictly containing `new` (busy or not), then
    /// either places it or makes it the parent of the run of siblings it
    /// covers. A partial overlap reports the first offending sibling in
    /// address order as [`Error::Conflict`] (kernel: `-EBUSY`).
    pub fn insert_resource(&mut self, parent: ResourceId, new: ResourceId) -> Result<(), Error> {
        let parent = self.ix(parent)?;
        let new = self.ix(new)?;
        match self.insert_conflict(parent, new)? {
            None => Ok(()),
            Some(c) => Err(self.conflict_error(new, c)),
        }
    }

    /// `insert_resource_expand_to_fit` (§5.6): inserts `new`, growing it to
    /// cover each conflicting resource and retrying from `root`; gives up
    /// silently when the conflict is `root` itself. Returns whether `new`
    /// ended up in the tree. A resource already in a tree is left alone.
    pub fn insert_resource_expand_to_fit(&mut self, root: ResourceId, new: ResourceId) -> Result<bool, Error> {
        let root_ix = self.ix(root)?;
        let new_ix = self.ix(new)?;
        if self.in_tree(new_ix) {
            return Ok(true);
        }
        loop {
            let c = match self.insert_conflict(root_ix, new_ix)? {
                None => return Ok(true),
                Some(c) => c,
            };
            if c == root_ix {
                return Ok(false);
            }
            let nr = self.node(new_ix).range();
            let cr = self.node(c).range();
            let grown = Range::new(nr.start.min(cr.start), nr.end.max(cr.end));
            self.set_range(new_ix, grown);
            let (nn, cn) = (self.node(new_ix).name, self.node(c).name);
            let new_name = self.names.text(nn).unwrap_or("<BAD>");
            let c_name = self.names.text(cn).unwrap_or("<BAD>");
            let text = format!("Expanded resource {new_name} due to conflict with {c_name}");
            self.journal.log(LogLevel::Info, || text);
        }
    }

    /// `adjust_resource` (§5.7): moves `res` to `[start, start + n - 1]`
    /// (wrapping; `n = 0` is accepted and yields an inverted range) if it
    /// stays inside its parent, clear of its siblings, and around all its
    /// children. The position in the sibling list never changes.
    pub fn adjust_resource(&mut self, res: ResourceId, start: u64, n: u64) -> Result<(), Error> {
        let ix = self.ix(res)?;
        let range = Range::from_start_size(start, n);
        if n != 0 && range.end < range.start {
            // A size wrapping past 2^64: the kernel would accept a resource
            // starting above its end by more than one, out of order among
            // its siblings (resource-tree.md §2.7 I1/I3 allow only the
            // size-0 inversion). Refused.
            return Err(Error::Invalid { what: "adjust_resource: the size wraps past the end of the address space" });
        }
        self.adjust_checked(ix, range).map_err(|reason| Error::Adjust { resource: res, range, reason })
    }

    pub(crate) fn adjust_checked(&mut self, ix: Ix, new: Range) -> Result<(), AdjustConflict> {
        let parent = self.node(ix).parent;
        if parent != NIL {
            let p = self.node(parent).range();
            if new.start < p.start || new.end > p.end {
                return Err(AdjustConflict::OutsideParent { parent: self.handle(parent) });
            }
            let pos = self.position(ix);
            let kids = self.kids(parent);
            if let Some(next) = kids.get(pos + 1) {
                if next.start <= new.end {
                    return Err(AdjustConflict::NextSibling { sibling: self.handle(next.slot) });
                }
            }
            if pos > 0 {
                let prev = &kids[pos - 1];
                if prev.end >= new.start {
                    return Err(AdjustConflict::PreviousSibling { sibling: self.handle(prev.slot) });
                }
            }
        }
        for c in self.kids(ix) {
            if c.start < new.start || c.end > new.end {
                return Err(AdjustConflict::Child { child: self.handle(c.slot) });
            }
        }
        self.set_range(ix, new);
        Ok(())
    }

    /// `lookup_resource` (§5.16): the first *direct* child of `root` whose
    /// start equals `start`.
    pub fn lookup_resource(&self, root: ResourceId, start: u64) -> Result<Option<ResourceId>, Error> {
        let root = self.ix(root)?;
        let list = self.node(root).children;
        let pos = match list {
            NIL => 0,
            l => self.lists[l as usize].count_lt(start),
        };
        Ok(match self.kids(root).get(pos) {
            Some(c) if c.start == start => Some(self.handle(c.slot)),
            _ => None,
        })
    }
}

/// `resource_alignment` (§5.17): `SIZEALIGN` only → the size; `STARTALIGN`
/// only → the start; neither or both → 0 (invalid).
pub fn resource_alignment(r: &ResourceView<'_>) -> u64 {
    let size_align = r.flags.contains(Flags::SIZEALIGN);
    let start_align = r.flags.contains(Flags::STARTALIGN);
    match (size_align, start_align) {
        (true, false) => r.range.size(),
        (false, true) => r.range.start,
        _ => 0,
    }
}

/// `resource_contains` (§3): types equal, neither UNSET, and `r1` covers
/// `r2`.
pub fn resource_contains(r1: (Range, Flags), r2: (Range, Flags)) -> bool {
    r1.1.type_bits() == r2.1.type_bits()
        && !r1.1.contains(Flags::UNSET)
        && !r2.1.contains(Flags::UNSET)
        && r1.0.contains(r2.0)
}
