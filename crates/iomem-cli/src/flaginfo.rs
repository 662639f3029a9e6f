//! The flags of each shown resource and how certain they are. A plain
//! `/proc/iomem` has no flags: they are inferred from names and places
//! (`iomem::infer`), and the inferred bits that are assumptions are marked.
//! An annotated dump (`observed/iomem-flags.txt`) carries the real flags.

use std::collections::HashMap;

use iomem::{Desc, Flags, ResourceId, ResourceTree};

use crate::facts::KernelFacts;

/// The flags of one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlagInfo {
    /// The flags used.
    pub(crate) flags: Flags,
    /// The descriptor used.
    pub(crate) desc: Desc,
    /// The set flags whose value is an assumption.
    pub(crate) assumed: Flags,
    /// The descriptor is an assumption.
    pub(crate) desc_assumed: bool,
    /// The rule that gave them.
    pub(crate) rule: &'static str,
}

/// Where the flags came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagsFrom {
    /// Read from the kernel (annotated dump).
    Annotations,
    /// Inferred from the plain text.
    Inference,
}

impl FlagsFrom {
    /// The JSON name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            FlagsFrom::Annotations => "annotations",
            FlagsFrom::Inference => "inference",
        }
    }
}

/// Flags per resource.
pub(crate) type FlagTable = HashMap<ResourceId, FlagInfo>;

/// The rule name of flags read from an annotation.
pub(crate) const ANNOTATION_RULE: &str = "annotation";

/// The flags of an annotated dump: all certain.
pub(crate) fn exact(tree: &ResourceTree, root: ResourceId) -> FlagTable {
    let mut table = FlagTable::new();
    let Ok(walk) = tree.preorder(root) else { return table };
    for (id, _) in walk {
        if let Ok(v) = tree.get(id) {
            let info = FlagInfo {
                flags: v.flags,
                desc: v.desc,
                assumed: Flags::empty(),
                desc_assumed: false,
                rule: ANNOTATION_RULE,
            };
            table.insert(id, info);
        }
    }
    table
}

/// Infers the flags of a plain dump and writes them into the tree.
pub(crate) fn infer(tree: &mut ResourceTree, root: ResourceId, _facts: &KernelFacts) -> FlagTable {
    // Until iomem::infer lands, only the type (the root's) is known.
    let mut table = FlagTable::new();
    let Ok(walk) = tree.preorder(root) else { return table };
    for (id, _) in walk {
        if let Ok(v) = tree.get(id) {
            let info =
                FlagInfo { flags: v.flags, desc: v.desc, assumed: Flags::empty(), desc_assumed: true, rule: "type" };
            table.insert(id, info);
        }
    }
    table
}
