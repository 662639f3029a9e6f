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
    /// (parent, index of the next child to visit)
    stack: Vec<(Ix, usize)>,
}

impl<'a> Preorder<'a> {
    pub(crate) fn new(tree: &'a ResourceTree, root: Ix) -> Preorder<'a> {
        Preorder { tree, stack: alloc::vec![(root, 0)] }
    }

    /// The next slot and its depth (crate-internal, no handle building).
    pub(crate) fn next_ix(&mut self) -> Option<(Ix, usize)> {
        loop {
            let depth = self.stack.len().checked_sub(1)?;
            let (parent, pos) = self.stack.last_mut()?;
            let ids = self.tree.child_ids(*parent);
            match ids.get(*pos) {
                Some(&c) => {
                    *pos += 1;
                    self.stack.push((c, 0));
                    return Some((c, depth));
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
