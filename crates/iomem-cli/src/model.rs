//! What `show` prints, independent of the output format: one row per
//! resource in `/proc` order with its flags, their certainty and whether
//! `/dev/mem` treats it as exclusive, plus the facts the rows depend on.

use iomem::procfs::DumpKind;
use iomem::{Desc, ExclusiveParams, ExclusiveReason, Flags, Preorder, ResourceId, ResourceTree};

use crate::system::System;
use crate::verdicts::{RowVerdicts, VerdictIndex};

/// Whether `iomem_is_exclusive` refuses every page of a resource under one
/// setting of `strict_iomem_checks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct ExclusiveUnder {
    /// Every page overlapping the resource is exclusive.
    pub(crate) exclusive: bool,
    /// Why (the reason of the outermost deciding resource).
    pub(crate) reason: Option<ExclusiveReason>,
    /// The deciding resource is an ancestor, not the resource itself.
    pub(crate) inherited: bool,
}

/// Exclusivity under strict checks and under `iomem=relaxed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Exclusive {
    /// With `strict_iomem_checks` = 1 (`iomem=strict`, or the
    /// `CONFIG_STRICT_DEVMEM=y` default).
    pub(crate) strict: ExclusiveUnder,
    /// With `iomem=relaxed`.
    pub(crate) relaxed: ExclusiveUnder,
}

/// One resource as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row<'a> {
    /// First address.
    pub(crate) start: u64,
    /// Last address (inclusive).
    pub(crate) end: u64,
    /// Depth below the root (0 = top level), not capped.
    pub(crate) depth: usize,
    /// The input line it came from.
    pub(crate) line: Option<usize>,
    /// Its name (`None`: no name, the kernel prints `<BAD>`).
    pub(crate) name: Option<&'a str>,
    /// Its flags.
    pub(crate) flags: Flags,
    /// Its descriptor.
    pub(crate) desc: Desc,
    /// Bits whose value (set or clear) is an assumption.
    pub(crate) assumed: Flags,
    /// The descriptor is an assumption.
    pub(crate) desc_assumed: bool,
    /// The rule that gave the flags.
    pub(crate) rule: &'static str,
    /// `/dev/mem` exclusivity (iomem only).
    pub(crate) exclusive: Option<Exclusive>,
    /// The read and mmap verdicts on its pages (`--verdicts` only).
    pub(crate) verdicts: Option<RowVerdicts>,
}

impl Row<'_> {
    /// The number of addresses covered (2^64 for the whole space).
    pub(crate) fn len(&self) -> u128 {
        u128::from(self.end.wrapping_sub(self.start)) + 1
    }
}

/// Everything `show` prints: the loaded system; its rows are produced one
/// at a time by [`Report::rows`], so output of any size is streamed in
/// memory proportional to the tree.
pub(crate) struct Report<'a> {
    /// The system (tree, flags, facts, assumptions).
    pub(crate) sys: &'a System,
    /// The `/dev/mem` verdicts of the whole space, when asked for.
    pub(crate) verdicts: Option<&'a VerdictIndex>,
}

impl<'a> Report<'a> {
    /// Which file the dump is.
    pub(crate) fn kind(&self) -> DumpKind {
        self.sys.dump.kind
    }

    /// The resources in `/proc` order.
    pub(crate) fn rows(&self) -> Rows<'a> {
        let sys = self.sys;
        let dump = &sys.dump;
        let io_strict = sys.facts.io_strict.value;
        Rows {
            sys,
            verdicts: self.verdicts,
            walk: dump.tree.preorder(dump.root).ok(),
            inherited: Vec::new(),
            iomem: dump.kind != DumpKind::Ioports,
            strict: ExclusiveParams { strict: true, io_strict },
            relaxed: ExclusiveParams { strict: false, io_strict },
        }
    }

    /// The deepest level of the tree (0 = top level only).
    pub(crate) fn max_depth(&self) -> usize {
        let dump = &self.sys.dump;
        dump.tree.preorder(dump.root).map_or(0, |w| w.map(|(_, d)| d).max().unwrap_or(0))
    }
}

/// The rows of a [`Report`], computed on the fly (constant work per row).
pub(crate) struct Rows<'a> {
    sys: &'a System,
    verdicts: Option<&'a VerdictIndex>,
    walk: Option<Preorder<'a>>,
    /// Exclusivity of the ancestors of the current resource, by depth.
    inherited: Vec<Exclusive>,
    iomem: bool,
    strict: ExclusiveParams,
    relaxed: ExclusiveParams,
}

impl<'a> Iterator for Rows<'a> {
    type Item = Row<'a>;

    fn next(&mut self) -> Option<Row<'a>> {
        let sys: &'a System = self.sys;
        let tree = &sys.dump.tree;
        loop {
            let (id, depth) = self.walk.as_mut()?.next()?;
            let Ok(view) = tree.get(id) else { continue };
            let info = self.sys.flags.get(id);
            let exclusive = self.iomem.then(|| {
                self.inherited.truncate(depth);
                let above = self.inherited.last().copied().unwrap_or_default();
                let own = Exclusive {
                    strict: combine(above.strict, own_hit(tree, id, self.strict)),
                    relaxed: combine(above.relaxed, own_hit(tree, id, self.relaxed)),
                };
                self.inherited.push(own);
                own
            });
            return Some(Row {
                start: view.range.start,
                end: view.range.end,
                depth,
                line: self.sys.dump.line_of(id),
                name: view.name,
                flags: info.map_or(view.flags, |i| i.flags),
                desc: info.map_or(view.desc, |i| i.desc),
                assumed: info.map_or(Flags::empty(), |i| i.assumed()),
                desc_assumed: info.is_some_and(|i| !i.desc_known),
                rule: info.map_or("", |i| i.rule.id()),
                exclusive,
                verdicts: self.verdicts.map(|v| v.of(view.range.start, view.range.end)),
            });
        }
    }
}

/// The reason the resource itself makes its pages exclusive, if it does.
///
/// `resource_is_exclusive(parent, start, size)` walks the parent's subtree
/// over the resource's own range: the previous siblings end before it and
/// are skipped, so the first resource the kernel's walk examines is this
/// one, and the hit is this resource exactly when its own flags decide.
/// A resource whose own flags decide makes every page it overlaps
/// exclusive: the kernel's walk over such a page reaches it (or an
/// ancestor or earlier resource that decides first). The one exception is
/// a resource reaching the top of the address space: the walk over the top
/// page ends before it starts (`addr + size` wraps to 0), so not every page
/// of it is exclusive. Constant time per row, so the whole table is linear
/// however deep the tree.
fn own_hit(tree: &ResourceTree, id: ResourceId, params: ExclusiveParams) -> Option<ExclusiveReason> {
    let view = tree.get(id).ok()?;
    if view.parent.is_none() || view.range.end == u64::MAX {
        return None;
    }
    tree.own_exclusive_reason(id, params).ok()?
}

/// The outermost decision wins, as in the kernel's pre-order walk.
fn combine(above: ExclusiveUnder, own: Option<ExclusiveReason>) -> ExclusiveUnder {
    if above.exclusive {
        ExclusiveUnder { inherited: true, ..above }
    } else {
        ExclusiveUnder { exclusive: own.is_some(), reason: own, inherited: false }
    }
}

/// The kernel-style name of an exclusivity reason.
pub(crate) const fn reason_name(reason: ExclusiveReason) -> &'static str {
    match reason {
        ExclusiveReason::SystemRamExclusive => "SYSTEM_RAM_EXCLUSIVE",
        ExclusiveReason::BusyIoStrict => "BUSY_IO_STRICT",
        ExclusiveReason::BusyExclusive => "BUSY_EXCLUSIVE",
    }
}
