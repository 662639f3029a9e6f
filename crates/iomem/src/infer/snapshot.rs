//! A read-only, pre-order copy of the part of the tree the rules look at:
//! names, ranges, parents and children by index.

use alloc::vec::Vec;

use crate::range::Range;
use crate::tree::{ResourceId, ResourceTree};

/// One resource as the rules see it.
pub(super) struct Node<'t> {
    pub(super) id: ResourceId,
    /// The name (`None` prints as `<BAD>`).
    pub(super) name: Option<&'t str>,
    pub(super) range: Range,
    /// Index of the parent in the snapshot; `None` for a child of the root.
    pub(super) parent: Option<usize>,
    /// Indexes of the children, lowest first.
    pub(super) children: Vec<usize>,
}

impl Node<'_> {
    /// The name, with a missing name read as empty.
    /// The name the rules match: a trailing `\r` (a dump saved with CRLF
    /// line ends keeps it in the name, see the parser) does not count.
    pub(super) fn name(&self) -> &str {
        let n = self.name.unwrap_or("");
        n.strip_suffix('\r').unwrap_or(n)
    }
}

/// Every resource below `root` in pre-order (parents before children), or
/// `None` if `root` is not a live handle of `tree`.
pub(super) fn take(tree: &ResourceTree, root: ResourceId) -> Option<Vec<Node<'_>>> {
    let pre = tree.preorder(root).ok()?;
    let mut nodes: Vec<Node<'_>> = Vec::new();
    // open[d] = index of the most recent node at depth d.
    let mut open: Vec<usize> = Vec::new();
    for (id, depth) in pre {
        let view = tree.get(id).ok()?;
        open.truncate(depth);
        let parent = open.last().copied();
        let i = nodes.len();
        if let Some(p) = parent {
            nodes[p].children.push(i);
        }
        nodes.push(Node { id, name: view.name, range: view.range, parent, children: Vec::new() });
        open.push(i);
    }
    Some(nodes)
}
