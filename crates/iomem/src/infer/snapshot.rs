//! A read-only, pre-order copy of the part of the tree the rules look at:
//! names, ranges, parents and children by index (flat: the children of a
//! node are its next node and that node's chain of next siblings, so the
//! copy allocates nothing per node).

use alloc::vec::Vec;

use crate::range::Range;
use crate::tree::{Ix, ResourceId, ResourceTree};

/// "No node".
const NONE: u32 = u32::MAX;

/// One resource as the rules see it.
pub(super) struct Node<'t> {
    /// The resource's arena slot (its handle is `tree.handle(slot)`).
    pub(super) slot: Ix,
    /// The name (`None` prints as `<BAD>`).
    pub(super) name: Option<&'t str>,
    pub(super) range: Range,
    /// Index of the parent in the snapshot; `NONE` for a child of the root.
    parent: u32,
    /// Index of the next sibling; `NONE` for the last child.
    next: u32,
}

impl Node<'_> {
    /// The name, with a missing name read as empty.
    /// The name the rules match: a trailing `\r` (a dump saved with CRLF
    /// line ends keeps it in the name, see the parser) does not count.
    pub(super) fn name(&self) -> &str {
        let n = self.name.unwrap_or("");
        n.strip_suffix('\r').unwrap_or(n)
    }

    /// Index of the parent in the snapshot; `None` for a child of the root.
    pub(super) fn parent(&self) -> Option<usize> {
        (self.parent != NONE).then_some(self.parent as usize)
    }
}

/// The indexes of the children of node `i`, lowest first.
pub(super) fn children<'a>(nodes: &'a [Node<'_>], i: usize) -> impl Iterator<Item = usize> + 'a {
    let first = nodes.get(i + 1).filter(|n| n.parent == i as u32).map(|_| i + 1);
    core::iter::successors(first, move |&c| {
        let next = nodes[c].next;
        (next != NONE).then_some(next as usize)
    })
}

/// Whether node `i` has children.
pub(super) fn has_children(nodes: &[Node<'_>], i: usize) -> bool {
    nodes.get(i + 1).is_some_and(|n| n.parent == i as u32)
}

/// Every resource below `root` in pre-order (parents before children), or
/// `None` if `root` is not a live handle of `tree`.
pub(super) fn take(tree: &ResourceTree, root: ResourceId) -> Option<Vec<Node<'_>>> {
    let mut pre = tree.preorder(root).ok()?;
    let mut nodes: Vec<Node<'_>> = Vec::with_capacity(tree.len());
    // open[d] = index of the most recent node at depth d.
    let mut open: Vec<u32> = Vec::new();
    while let Some((ix, depth)) = pre.next_ix() {
        let (range, name) = tree.range_and_name(ix);
        let i = nodes.len() as u32;
        // The previous node at this depth, if still open, is the previous
        // sibling.
        if let Some(&prev) = open.get(depth) {
            nodes[prev as usize].next = i;
        }
        open.truncate(depth);
        let parent = open.last().copied().unwrap_or(NONE);
        nodes.push(Node { slot: ix, name, range, parent, next: NONE });
        open.push(i);
    }
    Some(nodes)
}
