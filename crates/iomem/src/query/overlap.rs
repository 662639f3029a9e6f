//! The shared engine of the queries: a pre-order visit of exactly the
//! resources the kernel's walks would examine for a query range, found by
//! binary search at each level instead of a scan along the siblings.

use alloc::vec::Vec;

use crate::range::Range;
use crate::tree::{Child, Ix, NIL, ResourceTree};

/// What to do after visiting a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Visit {
    /// Visit its overlapping children next.
    Descend,
    /// Go on with its next sibling.
    SkipChildren,
    /// End the walk.
    Stop,
}

/// A stack that lives inline for the usual shallow trees and spills to the
/// heap only for chains deeper than `INLINE` levels, so a per-address query
/// allocates nothing.
pub(crate) struct LevelStack {
    inline: [(u32, usize); INLINE],
    len: usize,
    spill: Vec<(u32, usize)>,
}

const INLINE: usize = 12;

impl LevelStack {
    pub(crate) fn new() -> LevelStack {
        LevelStack { inline: [(0, 0); INLINE], len: 0, spill: Vec::new() }
    }

    pub(crate) fn push(&mut self, v: (u32, usize)) {
        if self.len < INLINE {
            self.inline[self.len] = v;
        } else {
            self.spill.push(v);
        }
        self.len += 1;
    }

    pub(crate) fn pop(&mut self) {
        if self.len > INLINE {
            self.spill.pop();
        }
        self.len = self.len.saturating_sub(1);
    }

    pub(crate) fn top(&mut self) -> Option<&mut (u32, usize)> {
        match self.len {
            0 => None,
            n if n <= INLINE => Some(&mut self.inline[n - 1]),
            _ => self.spill.last_mut(),
        }
    }
}

impl ResourceTree {
    /// Visits, in pre-order, every descendant `p` of `root` with
    /// `p.start <= q.end && p.end >= q.start` (the kernel's
    /// `resource_overlaps`, applied literally even to inverted ranges), as
    /// long as `f` asks to descend. Resources failing the test are skipped
    /// together with their subtrees, which cannot pass it either. `f` sees
    /// each resource's record in its parent's index (range, flags,
    /// descriptor, slot), so the walk reads no arena node. Returns true if
    /// `f` stopped the walk.
    pub(crate) fn visit_overlapping(&self, root: Ix, q: Range, mut f: impl FnMut(&Child) -> Visit) -> bool {
        let mut stack = LevelStack::new();
        let list = self.node(root).children;
        stack.push((list, self.first_in(list, q.start)));
        while let Some((list, pos)) = stack.top() {
            let Some(c) = self.kids_of_list(*list).get(*pos) else {
                stack.pop();
                continue;
            };
            if c.start > q.end {
                stack.pop();
                continue;
            }
            *pos += 1;
            if c.end < q.start {
                continue; // an inverted sibling below the query
            }
            match f(c) {
                Visit::Descend => {
                    let first = self.first_in(c.kids, q.start);
                    stack.push((c.kids, first));
                }
                Visit::SkipChildren => {}
                Visit::Stop => return true,
            }
        }
        false
    }

    /// `first_reaching` on a child list (`NIL`: none).
    #[inline]
    pub(crate) fn first_in(&self, list: u32, addr: u64) -> usize {
        match list {
            NIL => 0,
            l => self.lists[l as usize].first_reaching(addr),
        }
    }
}
