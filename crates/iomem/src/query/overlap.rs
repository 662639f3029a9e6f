//! The shared engine of the queries: a pre-order visit of exactly the
//! resources the kernel's walks would examine for a query range, found by
//! binary search at each level instead of a scan along the siblings.

use alloc::vec::Vec;

use crate::range::Range;
use crate::tree::{Ix, ResourceTree};

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
struct LevelStack {
    inline: [(Ix, usize); INLINE],
    len: usize,
    spill: Vec<(Ix, usize)>,
}

const INLINE: usize = 12;

impl LevelStack {
    fn new() -> LevelStack {
        LevelStack { inline: [(0, 0); INLINE], len: 0, spill: Vec::new() }
    }

    fn push(&mut self, v: (Ix, usize)) {
        if self.len < INLINE {
            self.inline[self.len] = v;
        } else {
            self.spill.push(v);
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        if self.len > INLINE {
            self.spill.pop();
        }
        self.len = self.len.saturating_sub(1);
    }

    fn top(&mut self) -> Option<&mut (Ix, usize)> {
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
    /// together with their subtrees, which cannot pass it either. Returns
    /// true if `f` stopped the walk.
    pub(crate) fn visit_overlapping(&self, root: Ix, q: Range, mut f: impl FnMut(Ix) -> Visit) -> bool {
        let mut stack = LevelStack::new();
        stack.push((root, self.first_reaching(root, q.start)));
        while let Some((parent, pos)) = stack.top() {
            let ids = self.child_ids(*parent);
            let Some(&c) = ids.get(*pos) else {
                stack.pop();
                continue;
            };
            let n = self.node(c);
            if n.start > q.end {
                stack.pop();
                continue;
            }
            *pos += 1;
            if n.end < q.start {
                continue; // an inverted sibling below the query
            }
            match f(c) {
                Visit::Descend => {
                    let first = self.first_reaching(c, q.start);
                    stack.push((c, first));
                }
                Visit::SkipChildren => {}
                Visit::Stop => return true,
            }
        }
        false
    }
}
