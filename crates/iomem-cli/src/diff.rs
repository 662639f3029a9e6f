//! The difference between two resource trees, and between two memory-block
//! views: what `iomem diff` reports.
//!
//! Resources are matched parent by parent (children of matched resources
//! only against each other), so a resource that moved to another parent is
//! removed there and added here, as the kernel sees it. Within a parent a
//! child matches, in this order of preference: the same name and range;
//! the same name and start (its end moved); the same name and an
//! overlapping range. What stays unmatched was removed or added: one change
//! for the topmost resource, with the number of resources below it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use iomem::{Desc, Flags, Range, ResourceId, ResourceTree};

use crate::blocks::Blocks;

/// What happened to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangeKind {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// In both, with another range or other flags.
    Modified,
}

/// One resource's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    /// What happened.
    pub(crate) kind: ChangeKind,
    /// The resources above it, outermost first, as (name, range) — in B,
    /// or in A for a removal.
    pub(crate) path: Vec<(Option<String>, Range)>,
    /// Its name.
    pub(crate) name: Option<String>,
    /// Its range (in B; in A for a removal).
    pub(crate) range: Range,
    /// Its range in A, when it changed.
    pub(crate) old_range: Option<Range>,
    /// Its flags and descriptor (in B; in A for a removal).
    pub(crate) flags: (Flags, Desc),
    /// Its flags and descriptor in A, when they changed.
    pub(crate) old_flags: Option<(Flags, Desc)>,
    /// For an addition or a removal: how many resources below it came or
    /// went with it.
    pub(crate) descendants: usize,
}

/// The changes from tree A to tree B, in address order (a resource before
/// the resources below it).
pub(crate) fn trees(a: &ResourceTree, a_root: ResourceId, b: &ResourceTree, b_root: ResourceId) -> Vec<Change> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    match_children(a, a_root, b, b_root, &mut path, &mut out);
    out
}

/// A resource's identity for matching.
fn name_of(tree: &ResourceTree, id: ResourceId) -> Option<String> {
    tree.get(id).ok().and_then(|v| v.name.map(str::to_string))
}

fn range_of(tree: &ResourceTree, id: ResourceId) -> Range {
    tree.get(id).map_or(Range::new(0, 0), |v| v.range)
}

fn flags_of(tree: &ResourceTree, id: ResourceId) -> (Flags, Desc) {
    tree.get(id).map_or((Flags::empty(), Desc::NONE), |v| (v.flags, v.desc))
}

/// The number of resources below `id` (the walk does not yield `id`).
fn subtree_size(tree: &ResourceTree, id: ResourceId) -> usize {
    tree.preorder(id).map_or(0, Iterator::count)
}

/// Pairs the children of `pa` (in A) and `pb` (in B); records each change
/// and descends into matched pairs. `path` holds the ancestors (in B).
fn match_children(
    a: &ResourceTree,
    pa: ResourceId,
    b: &ResourceTree,
    pb: ResourceId,
    path: &mut Vec<(Option<String>, Range)>,
    out: &mut Vec<Change>,
) {
    let ca: Vec<ResourceId> = a.children(pa).map(Iterator::collect).unwrap_or_default();
    let cb: Vec<ResourceId> = b.children(pb).map(Iterator::collect).unwrap_or_default();
    let mut match_of_b: Vec<Option<usize>> = vec![None; cb.len()];
    let mut taken_a = vec![false; ca.len()];

    // Pass 1 and 2: by (name, start, end), then by (name, start).
    type Key = (Option<String>, u64, Option<u64>);
    for with_end in [true, false] {
        let mut by_key: HashMap<Key, VecDeque<usize>> = HashMap::new();
        for (i, &id) in ca.iter().enumerate().filter(|(i, _)| !taken_a[*i]) {
            let r = range_of(a, id);
            by_key.entry((name_of(a, id), r.start, with_end.then_some(r.end))).or_default().push_back(i);
        }
        for (j, &id) in cb.iter().enumerate() {
            if match_of_b[j].is_some() {
                continue;
            }
            let r = range_of(b, id);
            if let Some(i) =
                by_key.get_mut(&(name_of(b, id), r.start, with_end.then_some(r.end))).and_then(VecDeque::pop_front)
            {
                match_of_b[j] = Some(i);
                taken_a[i] = true;
            }
        }
    }
    // Pass 3: by name and overlapping range (both lists are in address
    // order, so a merge walk per name finds the overlaps).
    let mut a_by_name: HashMap<Option<String>, (Vec<usize>, usize)> = HashMap::new();
    for (i, &id) in ca.iter().enumerate().filter(|(i, _)| !taken_a[*i]) {
        a_by_name.entry(name_of(a, id)).or_default().0.push(i);
    }
    for (j, &id) in cb.iter().enumerate() {
        if match_of_b[j].is_some() {
            continue;
        }
        let rb = range_of(b, id);
        let Some((list, cursor)) = a_by_name.get_mut(&name_of(b, id)) else { continue };
        // Siblings do not overlap, so a candidate ending before this one
        // starts can match no later one either: the cursor only advances.
        while list.get(*cursor).is_some_and(|&i| range_of(a, ca[i]).end < rb.start) {
            *cursor += 1;
        }
        if let Some(&i) = list.get(*cursor) {
            if range_of(a, ca[i]).start <= rb.end {
                match_of_b[j] = Some(i);
                taken_a[i] = true;
                *cursor += 1;
            }
        }
    }

    // Report in address order: B's children with A's removed ones merged
    // in by start address.
    let mut removed: VecDeque<usize> = (0..ca.len()).filter(|&i| !taken_a[i]).collect();
    let report_removed_before =
        |limit: Option<u64>, removed: &mut VecDeque<usize>, out: &mut Vec<Change>, path: &[(Option<String>, Range)]| {
            while let Some(&i) = removed.front() {
                let ra = range_of(a, ca[i]);
                if limit.is_some_and(|l| ra.start >= l) {
                    break;
                }
                removed.pop_front();
                out.push(Change {
                    kind: ChangeKind::Removed,
                    path: path.to_vec(),
                    name: name_of(a, ca[i]),
                    range: ra,
                    old_range: None,
                    flags: flags_of(a, ca[i]),
                    old_flags: None,
                    descendants: subtree_size(a, ca[i]),
                });
            }
        };
    for (j, &idb) in cb.iter().enumerate() {
        let rb = range_of(b, idb);
        report_removed_before(Some(rb.start.saturating_add(1)), &mut removed, out, path);
        let name = name_of(b, idb);
        let flags = flags_of(b, idb);
        match match_of_b[j] {
            None => out.push(Change {
                kind: ChangeKind::Added,
                path: path.clone(),
                name,
                range: rb,
                old_range: None,
                flags,
                old_flags: None,
                descendants: subtree_size(b, idb),
            }),
            Some(i) => {
                let ra = range_of(a, ca[i]);
                let fa = flags_of(a, ca[i]);
                if ra != rb || fa != flags {
                    out.push(Change {
                        kind: ChangeKind::Modified,
                        path: path.clone(),
                        name: name.clone(),
                        range: rb,
                        old_range: (ra != rb).then_some(ra),
                        flags,
                        old_flags: (fa != flags).then_some(fa),
                        descendants: 0,
                    });
                }
                path.push((name, rb));
                match_children(a, ca[i], b, idb, path, out);
                path.pop();
            }
        }
    }
    report_removed_before(None, &mut removed, out, path);
}

/// A block's state and zones.
pub(crate) type BlockView = (String, Vec<String>);

/// What happened to a run of memory blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockChange {
    /// The first block (N of `memoryN`).
    pub(crate) first: u64,
    /// The last block.
    pub(crate) last: u64,
    /// `Added`, `Removed` or `Modified` (state or zones).
    pub(crate) kind: ChangeKind,
    /// State and zones in A (`None` for an added block).
    pub(crate) old: Option<BlockView>,
    /// State and zones in B (`None` for a removed block).
    pub(crate) new: Option<BlockView>,
}

/// The changes from view A to view B, consecutive blocks with the same
/// change merged.
pub(crate) fn blocks(a: &Blocks, b: &Blocks) -> Vec<BlockChange> {
    let mut all: BTreeMap<u64, (Option<BlockView>, Option<BlockView>)> = BTreeMap::new();
    for blk in &a.blocks {
        all.entry(blk.id).or_default().0 = Some((blk.state.clone(), blk.zones.clone()));
    }
    for blk in &b.blocks {
        all.entry(blk.id).or_default().1 = Some((blk.state.clone(), blk.zones.clone()));
    }
    let mut out: Vec<BlockChange> = Vec::new();
    for (id, (old, new)) in all {
        let kind = match (&old, &new) {
            (None, Some(_)) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Removed,
            (Some(o), Some(n)) if o != n => ChangeKind::Modified,
            _ => continue,
        };
        match out.last_mut() {
            Some(l) if l.last + 1 == id && l.kind == kind && l.old == old && l.new == new => l.last = id,
            _ => out.push(BlockChange { first: id, last: id, kind, old, new }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use iomem::procfs::{ParseOptions, parse_str};

    fn tree(text: &str) -> (ResourceTree, ResourceId) {
        let d = parse_str(text, &ParseOptions::default()).unwrap();
        (d.tree, d.root)
    }

    fn diff(a: &str, b: &str) -> Vec<Change> {
        let (ta, ra) = tree(a);
        let (tb, rb) = tree(b);
        trees(&ta, ra, &tb, rb)
    }

    #[test]
    fn equal_trees_have_no_changes() {
        let t = "00000000-00000fff : Reserved\n00001000-0009ffff : System RAM\n";
        assert!(diff(t, t).is_empty());
    }

    #[test]
    fn additions_removals_and_resizes_are_told_apart() {
        let a = "100000000-1ffffffff : virtio0\n  100000000-107ffffff : System RAM (virtio_mem)\n\
                 200000000-2ffffffff : gone\n";
        let b = "100000000-1ffffffff : virtio0\n  100000000-10fffffff : System RAM (virtio_mem)\n\
                 300000000-3ffffffff : new\n  300000000-300000fff : child\n";
        let d = diff(a, b);
        assert_eq!(d.len(), 3, "{d:#?}");
        assert_eq!(d[0].kind, ChangeKind::Modified);
        assert_eq!(d[0].name.as_deref(), Some("System RAM (virtio_mem)"));
        assert_eq!(d[0].old_range, Some(Range::new(0x1_0000_0000, 0x1_07ff_ffff)));
        assert_eq!(d[0].path[0].0.as_deref(), Some("virtio0"));
        assert_eq!((d[1].kind, d[1].name.as_deref()), (ChangeKind::Removed, Some("gone")));
        assert_eq!((d[2].kind, d[2].name.as_deref(), d[2].descendants), (ChangeKind::Added, Some("new"), 1));
        let nested = diff(
            "00100000-001fffff : x\n",
            "00000000-0000ffff : a\n  00000000-00000fff : b\n    00000000-000000ff : c\n00100000-001fffff : x\n",
        );
        assert_eq!(nested[0].descendants, 2, "every level below counts");
    }

    #[test]
    fn a_moved_resource_is_matched_by_name_and_overlap() {
        let a = "00000000-0000ffff : Reserved\n00010000-0001ffff : thing\n";
        let b = "00000000-0000ffff : Reserved\n00018000-00027fff : thing\n";
        let d = diff(a, b);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].old_range, Some(Range::new(0x10000, 0x1ffff)));
    }

    #[test]
    fn repeated_names_match_in_order() {
        let a = "00000000-00000fff : Reserved\n00002000-00002fff : Reserved\n";
        let b = "00000000-00000fff : Reserved\n00001000-00001fff : Reserved\n00002000-00002fff : Reserved\n";
        let d = diff(a, b);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].kind, d[0].range.start), (ChangeKind::Added, 0x1000));
    }
}
