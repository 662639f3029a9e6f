//! What `show` prints, independent of the output format: one row per
//! resource in `/proc` order with its flags, their certainty and whether
//! `/dev/mem` treats it as exclusive, plus the facts the rows depend on.

use std::collections::HashMap;

use iomem::infer::InferenceMap;
use iomem::procfs::{DumpKind, ParsedDump};
use iomem::{Desc, ExclusiveParams, ExclusiveReason, Flags, ResourceId, ResourceTree};

use crate::facts::KernelFacts;
use crate::flaginfo::FlagsFrom;
use crate::source::Source;

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
pub(crate) struct Row {
    /// First address.
    pub(crate) start: u64,
    /// Last address (inclusive).
    pub(crate) end: u64,
    /// Depth below the root (0 = top level), not capped.
    pub(crate) depth: usize,
    /// The input line it came from.
    pub(crate) line: Option<usize>,
    /// Its name (`None`: no name, the kernel prints `<BAD>`).
    pub(crate) name: Option<String>,
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
}

impl Row {
    /// The number of addresses covered (2^64 for the whole space).
    pub(crate) fn len(&self) -> u128 {
        u128::from(self.end.wrapping_sub(self.start)) + 1
    }
}

/// Everything `show` prints.
#[derive(Clone, Debug)]
pub(crate) struct Report {
    /// Which file the dump is.
    pub(crate) kind: DumpKind,
    /// Where the system came from.
    pub(crate) source: Source,
    /// The dump's path as shown in messages.
    pub(crate) path: String,
    /// What is known about the kernel.
    pub(crate) facts: KernelFacts,
    /// Where the flags came from.
    pub(crate) flags_from: FlagsFrom,
    /// The resources, in `/proc` order.
    pub(crate) rows: Vec<Row>,
}

/// Builds the rows of a parsed dump whose tree already carries the flags of
/// `inferred`.
pub(crate) fn rows(dump: &ParsedDump, inferred: &InferenceMap, facts: &KernelFacts) -> Vec<Row> {
    let tree = &dump.tree;
    let lines: HashMap<ResourceId, usize> = dump.lines.iter().map(|l| (l.resource, l.line)).collect();
    let iomem = dump.kind != DumpKind::Ioports;
    let io_strict = facts.io_strict.value;
    let strict = ExclusiveParams { strict: true, io_strict };
    let relaxed = ExclusiveParams { strict: false, io_strict };
    // Exclusivity of the ancestors of the current resource, by depth.
    let mut inherited: Vec<Exclusive> = Vec::new();
    let mut rows = Vec::new();
    let Ok(walk) = tree.preorder(dump.root) else { return rows };
    for (id, depth) in walk {
        let Ok(view) = tree.get(id) else { continue };
        let info = inferred.get(id);
        let exclusive = iomem.then(|| {
            inherited.truncate(depth);
            let above = inherited.last().copied().unwrap_or_default();
            let own = Exclusive {
                strict: combine(above.strict, own_hit(tree, id, strict)),
                relaxed: combine(above.relaxed, own_hit(tree, id, relaxed)),
            };
            inherited.push(own);
            own
        });
        rows.push(Row {
            start: view.range.start,
            end: view.range.end,
            depth,
            line: lines.get(&id).copied(),
            name: view.name.map(str::to_string),
            flags: info.map_or(view.flags, |i| i.flags),
            desc: info.map_or(view.desc, |i| i.desc),
            assumed: info.map_or(Flags::empty(), |i| i.assumed()),
            desc_assumed: info.is_some_and(|i| !i.desc_known),
            rule: info.map_or("", |i| i.rule),
            exclusive,
        });
    }
    rows
}

/// The reason the resource itself makes its pages exclusive, if it does.
///
/// `resource_is_exclusive(parent, start, size)` walks the parent's subtree
/// over the resource's own range: the previous siblings end before it and
/// are skipped, so the first resource the kernel's walk examines is this
/// one, and the hit is this resource exactly when its own flags decide.
/// A resource whose own flags decide makes every page it overlaps
/// exclusive: the kernel's walk over such a page reaches it (or an
/// ancestor or earlier resource that decides first).
fn own_hit(tree: &ResourceTree, id: ResourceId, params: ExclusiveParams) -> Option<ExclusiveReason> {
    let view = tree.get(id).ok()?;
    let parent = view.parent?;
    let size = view.range.end.wrapping_sub(view.range.start).wrapping_add(1);
    let hit = tree.resource_is_exclusive(parent, view.range.start, size, params).ok()??;
    (hit.resource == id).then_some(hit.reason)
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
