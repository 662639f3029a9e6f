//! Gap search, allocation and re-allocation (resource-tree.md §5.8–§5.9).

use crate::error::{AdjustConflict, Error};
use crate::flags::Flags;
use crate::range::{Range, align_up};
use crate::tree::{Ix, NIL, ResourceId, ResourceTree};

/// What an alignment callback (`alignf`) is asked: place `size` bytes
/// aligned to `align` inside `avail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlignRequest {
    /// The aligned window (`avail`): start already aligned, end clipped.
    pub avail: Range,
    /// The new resource's flags without UNSET.
    pub flags: Flags,
    /// Requested size.
    pub size: u64,
    /// Requested alignment.
    pub align: u64,
}

/// The alignment callback: returns the candidate start. A result below
/// `avail.start` or whose end leaves `avail` makes the window unusable.
pub type AlignFn<'a> = &'a mut dyn FnMut(&AlignRequest) -> u64;

/// The platform hook `arch_remove_reservations`: may shrink a window
/// (x86 removes the BIOS area below 4 GiB and e820-reserved ranges from MEM
/// windows; the generic hook does nothing).
pub type WindowHook<'a> = &'a mut dyn FnMut(Range, Flags) -> Range;

/// `struct resource_constraint`: bounds and alignment of a gap search.
pub struct Constraint<'a> {
    /// Lowest start (bounds the window, hence the start of the result).
    pub min: u64,
    /// Highest end (bounds the window, hence the end of the result).
    pub max: u64,
    /// Alignment (`ALIGN` semantics: 0 only works for windows starting at 0).
    pub align: u64,
    /// Optional alignment callback (absent = `avail.start`).
    pub alignf: Option<AlignFn<'a>>,
    /// Optional platform window hook (absent = no-op).
    pub window_hook: Option<WindowHook<'a>>,
}

impl<'a> Constraint<'a> {
    /// `[min, max]`, `align`, no callbacks.
    pub fn new(min: u64, max: u64, align: u64) -> Constraint<'a> {
        Constraint { min, max, align, alignf: None, window_hook: None }
    }

    /// The whole space with alignment `align`.
    pub fn anywhere(align: u64) -> Constraint<'a> {
        Constraint::new(0, u64::MAX, align)
    }

    /// With an alignment callback.
    pub fn with_alignf(mut self, alignf: AlignFn<'a>) -> Constraint<'a> {
        self.alignf = Some(alignf);
        self
    }

    /// With a platform window hook.
    pub fn with_window_hook(mut self, hook: WindowHook<'a>) -> Constraint<'a> {
        self.window_hook = Some(hook);
        self
    }
}

impl core::fmt::Debug for Constraint<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Constraint")
            .field("min", &self.min)
            .field("max", &self.max)
            .field("align", &self.align)
            .field("alignf", &self.alignf.is_some())
            .field("window_hook", &self.window_hook.is_some())
            .finish()
    }
}

impl ResourceTree {
    /// `__find_resource_space`: first fit in ascending address order among
    /// the gaps between `root`'s children. When re-allocating, `old`'s own
    /// range joins the gaps around it into one window.
    pub(crate) fn find_space(
        &self,
        root: Ix,
        old: Option<Ix>,
        flags: Flags,
        size: u64,
        c: &mut Constraint<'_>,
    ) -> Option<Range> {
        let rr = self.node(root).range();
        let kids = self.kids(root);
        let mut cur = rr.start;
        let mut i = 0;
        if let Some(c1) = kids.first().map(|c| c.slot) {
            if self.node(c1).start == rr.start {
                cur = if Some(c1) == old { self.node(c1).start } else { self.node(c1).end.wrapping_add(1) };
                i = 1;
            }
        }
        let avail_flags = flags.difference(Flags::UNSET);
        loop {
            let child = kids.get(i).map(|c| c.slot);
            let we = match child {
                None => rr.end,
                Some(ch) if Some(ch) == old => self.node(ch).end,
                Some(ch) => self.node(ch).start.wrapping_sub(1),
            };
            if we >= cur {
                cur = cur.max(c.min);
                let mut window = Range::new(cur, we.min(c.max));
                if let Some(hook) = c.window_hook.as_mut() {
                    window = hook(window, flags);
                }
                let astart = align_up(window.start, c.align);
                if astart >= window.start {
                    let avail = Range::new(astart, window.end);
                    let cs = match c.alignf.as_mut() {
                        Some(f) => f(&AlignRequest { avail, flags: avail_flags, size, align: c.align }),
                        None => astart,
                    };
                    let ce = cs.wrapping_add(size).wrapping_sub(1);
                    if cs <= ce && avail.start <= cs && ce <= avail.end {
                        return Some(Range::new(cs, ce));
                    }
                }
            }
            match child {
                None => return None,
                Some(ch) if self.node(ch).end == rr.end => return None,
                Some(ch) => {
                    if Some(ch) != old {
                        cur = self.node(ch).end.wrapping_add(1);
                    }
                }
            }
            i += 1;
        }
    }

    /// `find_resource_space` (v6.9+; earlier the static `find_resource`):
    /// the range a resource with `flags` of `size` bytes would get below
    /// `root`. Kernel: `-EBUSY` when no window fits.
    pub fn find_resource_space(
        &self,
        root: ResourceId,
        flags: Flags,
        size: u64,
        mut constraint: Constraint<'_>,
    ) -> Result<Range, Error> {
        let root = self.ix(root)?;
        self.find_space(root, None, flags, size, &mut constraint).ok_or(Error::NoSpace {
            size,
            align: constraint.align,
            min: constraint.min,
            max: constraint.max,
        })
    }

    /// `allocate_resource` (§5.8): places the detached `new` in the first
    /// fitting gap below `root`; if `new` is already placed, re-allocates it
    /// (§5.9), possibly growing it downwards or moving it. Kernel: `-EBUSY`
    /// when nothing fits.
    pub fn allocate_resource(
        &mut self,
        root: ResourceId,
        new: ResourceId,
        size: u64,
        mut constraint: Constraint<'_>,
    ) -> Result<(), Error> {
        let root_ix = self.ix(root)?;
        let new_ix = self.ix(new)?;
        let no_space = |c: &Constraint<'_>| Error::NoSpace { size, align: c.align, min: c.min, max: c.max };
        if self.in_tree(new_ix) {
            if Self::is_root(new_ix) {
                return Err(Error::IsRoot { resource: new });
            }
            return self
                .reallocate(root_ix, new_ix, size, &mut constraint)
                .map_err(|e| e.unwrap_or_else(|| no_space(&constraint)));
        }
        let flags = self.node(new_ix).flags;
        let found =
            self.find_space(root_ix, None, flags, size, &mut constraint).ok_or_else(|| no_space(&constraint))?;
        self.check_linkable(root_ix, new_ix)?;
        if !self.children_fit(new_ix, found) {
            // The kernel would move the resource away from its own
            // children (callers pass childless resources).
            return Err(Error::Invalid { what: "allocate_resource: a child would lie outside the found range" });
        }
        self.set_range(new_ix, found);
        self.place(root_ix, new_ix).map_err(|c| self.conflict_error(new_ix, c))
    }

    /// `reallocate_resource`. `Err(None)` = no space / has children
    /// (`-EBUSY`).
    fn reallocate(&mut self, root: Ix, old: Ix, size: u64, c: &mut Constraint<'_>) -> Result<(), Option<Error>> {
        let flags = self.node(old).flags;
        let found = self.find_space(root, Some(old), flags, size, c).ok_or(None)?;
        let or = self.node(old).range();
        let unset = flags.contains(Flags::UNSET);
        if !unset && found.contains(or) {
            return self.resize_in_place(root, old, found);
        }
        if self.kid_count(old) != 0 {
            return Err(None);
        }
        if !unset && or.contains(found) {
            return self.resize_in_place(root, old, found);
        }
        // Moving `old` below `root` when `root` is `old` itself or lies in
        // its subtree would make it its own ancestor (the kernel would
        // corrupt the tree): refuse before changing anything.
        let mut p = root;
        while p != NIL {
            if p == old {
                return Err(Some(Error::Invalid { what: "reallocate_resource: the root lies inside the resource" }));
            }
            p = self.node(p).parent;
        }
        self.unlink(old);
        self.set_range(old, found);
        self.place(root, old).map_err(|conflict| Some(self.conflict_error(old, conflict)))
    }

    /// Grows or shrinks `old` where it is. The kernel does this blindly;
    /// when `old` does not live directly below `root` the new range was
    /// never checked against its real siblings, so this port checks it and
    /// refuses a change that would corrupt the tree.
    fn resize_in_place(&mut self, root: Ix, old: Ix, found: Range) -> Result<(), Option<Error>> {
        if self.node(old).parent == root || self.node(old).parent == NIL {
            self.set_range(old, found);
            return Ok(());
        }
        self.adjust_checked(old, found)
            .map_err(|reason: AdjustConflict| Some(Error::Adjust { resource: self.handle(old), range: found, reason }))
    }
}
