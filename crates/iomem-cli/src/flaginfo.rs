//! The flags of each shown resource and how certain they are. A plain
//! `/proc/iomem` has no flags: they are inferred from names and places
//! ([`iomem::infer`]), which writes them into the tree and says which bits
//! are assumptions. An annotated dump (`observed/iomem-flags.txt`) carries
//! the real flags, all certain.

use iomem::infer::{self, InferHints, InferenceMap};
use iomem::{Flags, ResourceId, ResourceTree};

use crate::facts::KernelFacts;

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

/// The flags of an annotated dump: all certain.
pub(crate) fn exact(tree: &ResourceTree, root: ResourceId) -> InferenceMap {
    infer::annotated(tree, root)
}

/// Infers the flags of a plain dump and writes them into the tree. Only
/// facts read from the system are passed as hints: an assumed kernel
/// version must not make version-dependent bits look certain.
pub(crate) fn infer(tree: &mut ResourceTree, root: ResourceId, facts: &KernelFacts) -> InferenceMap {
    let hints = InferHints { arch: facts.arch, kernel: (!facts.profile.assumed).then(|| facts.version()) };
    infer::infer_flags(tree, root, &hints)
}

/// The names of the assumed parts of a flag word: each single-bit flag whose
/// value (set or clear) is assumed, by its kernel name, plus `TYPE` for the
/// type field and `BITS` for the bus-specific low byte.
pub(crate) fn assumed_names(assumed: Flags) -> Vec<String> {
    let fields = Flags::TYPE_BITS.bits() | Flags::BITS.bits();
    let mut names = Vec::new();
    if assumed.intersects(Flags::TYPE_BITS) {
        names.push("TYPE".to_string());
    }
    names.extend(Flags::from_bits_retain(assumed.bits() & !fields).names().map(|n| n.to_string()));
    if assumed.intersects(Flags::BITS) {
        names.push("BITS".to_string());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_parts_are_named() {
        assert!(assumed_names(Flags::empty()).is_empty());
        assert_eq!(assumed_names(Flags::BUSY | Flags::EXCLUSIVE | Flags::MUXED), ["MUXED", "EXCLUSIVE", "BUSY"]);
        let fields = Flags::from_bits_retain(0xff) | Flags::MEM | Flags::PREFETCH;
        assert_eq!(assumed_names(fields), ["TYPE", "PREFETCH", "BITS"]);
    }
}
