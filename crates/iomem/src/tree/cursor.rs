//! A cheap forward cursor over the children of one resource, for callers
//! that walk the tree level by level (e.g. the `/dev/mem` range verdicts)
//! without allocating or building full views.

use super::{Ix, ResourceId, ResourceTree};
use crate::error::Error;
use crate::flags::Flags;
use crate::range::Range;

/// Position in the child list of one resource; see
/// [`ResourceTree::child_cursor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildCursor {
    parent: Ix,
    pos: usize,
}

/// What a [`ChildCursor`] yields: a child's handle, range and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildEntry {
    /// The child.
    pub id: ResourceId,
    /// Its range.
    pub range: Range,
    /// Its flags.
    pub flags: Flags,
    /// Whether it has children of its own.
    pub has_children: bool,
}

impl ResourceTree {
    /// A cursor at the first child of `parent` whose end is at or above
    /// `addr` (the first child the kernel's sibling walk would not skip for
    /// an address `>= addr`), found by binary search.
    pub fn child_cursor(&self, parent: ResourceId, addr: u64) -> Result<ChildCursor, Error> {
        let parent = self.ix(parent)?;
        Ok(ChildCursor { parent, pos: self.first_reaching(parent, addr) })
    }

    /// The child at the cursor, advancing it; `None` at the end of the list.
    pub fn next_child(&self, cursor: &mut ChildCursor) -> Option<ChildEntry> {
        let c = *self.kids(cursor.parent).get(cursor.pos)?;
        cursor.pos += 1;
        Some(ChildEntry {
            id: self.handle(c.slot),
            range: Range::new(c.start, c.end),
            flags: c.flags,
            has_children: c.kids != super::NIL,
        })
    }

    /// The child at the cursor without advancing it.
    pub fn peek_child(&self, cursor: &ChildCursor) -> Option<ChildEntry> {
        let mut c = *cursor;
        self.next_child(&mut c)
    }
}
