//! Read-only views and pre-order traversal.

use alloc::vec::Vec;

use super::{Ix, Name, ResourceId, ResourceTree};
use crate::flags::{Desc, Flags};
use crate::range::Range;

/// A snapshot view of one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceView<'a> {
    /// Its handle.
    pub id: ResourceId,
    /// Its range.
    pub range: Range,
    /// Its flags.
    pub flags: Flags,
    /// Its descriptor.
    pub desc: Desc,
    /// Its name text (`None` prints as `<BAD>`).
    pub name: Option<&'a str>,
    /// Its name object (identity).
    pub name_id: Option<Name>,
    /// Its parent, if linked.
    pub parent: Option<ResourceId>,
}

impl ResourceView<'_> {
    /// `range.start`.
    pub const fn start(&self) -> u64 {
        self.range.start
    }

    /// `range.end`.
    pub const fn end(&self) -> u64 {
        self.range.end
    }
}

/// Pre-order iterator; see [`ResourceTree::preorder`].
#[derive(Clone, Debug)]
pub struct Preorder<'a> {
    tree: &'a ResourceTree,
    /// (child list of a parent, index of the next child to visit)
    stack: Vec<(u32, usize)>,
}

impl<'a> Preorder<'a> {
    pub(crate) fn new(tree: &'a ResourceTree, root: Ix) -> Preorder<'a> {
        Preorder { tree, stack: alloc::vec![(tree.node(root).children, 0)] }
    }

    /// The next slot and its depth (crate-internal, no handle building).
    pub(crate) fn next_ix(&mut self) -> Option<(Ix, usize)> {
        loop {
            let depth = self.stack.len().checked_sub(1)?;
            let (list, pos) = self.stack.last_mut()?;
            match self.tree.kids_of_list(*list).get(*pos) {
                Some(c) => {
                    *pos += 1;
                    let (slot, kids) = (c.slot, c.kids);
                    self.stack.push((kids, 0));
                    return Some((slot, depth));
                }
                None => {
                    self.stack.pop();
                }
            }
        }
    }

    /// Skips the descendants of the resource returned last.
    pub fn skip_children(&mut self) {
        if self.stack.len() > 1 {
            self.stack.pop();
        }
    }
}

impl Iterator for Preorder<'_> {
    type Item = (ResourceId, usize);

    fn next(&mut self) -> Option<(ResourceId, usize)> {
        self.next_ix().map(|(ix, d)| (self.tree.handle(ix), d))
    }
}
