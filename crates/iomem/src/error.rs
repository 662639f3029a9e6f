//! The error type of tree operations. Every variant maps to the errno the
//! kernel returns in that situation ([`Error::errno`]); the variants carry
//! the data needed to explain it.

use crate::errno::Errno;
use crate::range::Range;
use crate::tree::ResourceId;

/// Why `adjust_resource` refused a new range (kernel: `-EBUSY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdjustConflict {
    /// The new range leaves the parent.
    #[error("the new range leaves the parent {parent:?}")]
    OutsideParent {
        /// The parent.
        parent: ResourceId,
    },
    /// The next sibling starts at or before the new end.
    #[error("the next sibling {sibling:?} starts at or before the new end")]
    NextSibling {
        /// The sibling.
        sibling: ResourceId,
    },
    /// The previous sibling ends at or after the new start.
    #[error("the previous sibling {sibling:?} ends at or after the new start")]
    PreviousSibling {
        /// The sibling.
        sibling: ResourceId,
    },
    /// A child would stick out of the new range.
    #[error("child {child:?} would lie outside the new range")]
    Child {
        /// The child.
        child: ResourceId,
    },
}

/// An error of a resource-tree operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A handle from another [`crate::ResourceTree`] was passed.
    #[error("resource handle {handle:?} belongs to another tree")]
    ForeignHandle {
        /// The offending handle.
        handle: ResourceId,
    },
    /// A handle to a resource that was freed (its slot may have been reused).
    #[error("resource handle {handle:?} is stale: that resource was freed")]
    StaleHandle {
        /// The offending handle.
        handle: ResourceId,
    },
    /// A [`crate::Name`] from another tree was passed.
    #[error("name handle belongs to another tree")]
    ForeignName,
    /// The new range conflicts with `conflict` (the parent itself when the
    /// range is inverted or outside it). Kernel: `-EBUSY`.
    #[error("range {range:?} conflicts with resource {conflict:?} at {conflict_range:?}")]
    Conflict {
        /// The range that was to be placed.
        range: Range,
        /// The conflicting resource.
        conflict: ResourceId,
        /// Its range at the time of the conflict.
        conflict_range: Range,
    },
    /// `adjust_resource` refused. Kernel: `-EBUSY`.
    #[error("cannot adjust {resource:?} to {range:?}: {reason}")]
    Adjust {
        /// The resource.
        resource: ResourceId,
        /// The requested range.
        range: Range,
        /// Why.
        reason: AdjustConflict,
    },
    /// The gap search found no window. Kernel: `-EBUSY`.
    #[error("no free window of size {size:#x} (align {align:#x}) in [{min:#x}, {max:#x}]")]
    NoSpace {
        /// Requested size.
        size: u64,
        /// Requested alignment.
        align: u64,
        /// Lower bound.
        min: u64,
        /// Upper bound.
        max: u64,
    },
    /// A muxed request met a busy muxed region; the kernel would sleep until
    /// it is released. Reported instead of blocking. Kernel: would block.
    #[error("muxed region busy: {conflict:?} holds it (the kernel would wait)")]
    MuxedBusy {
        /// The busy muxed region.
        conflict: ResourceId,
    },
    /// The resource is not linked into a tree (the kernel would dereference a
    /// null parent; this port returns `-EINVAL`).
    #[error("resource {resource:?} is not in a tree")]
    NotInTree {
        /// The resource.
        resource: ResourceId,
    },
    /// The operation needs a detached resource, but it is in a tree.
    #[error("resource {resource:?} is still in a tree")]
    InTree {
        /// The resource.
        resource: ResourceId,
    },
    /// The operation does not apply to a root (`iomem_resource`,
    /// `ioport_resource`).
    #[error("resource {resource:?} is a tree root")]
    IsRoot {
        /// The root.
        resource: ResourceId,
    },
    /// An argument is invalid. Kernel: `-EINVAL`.
    #[error("invalid argument: {what}")]
    Invalid {
        /// What was wrong.
        what: &'static str,
    },
    /// No matching resource. Kernel: `-ENODEV`.
    #[error("no matching resource in [{start:#x}, {end:#x}]")]
    NotFound {
        /// Search start.
        start: u64,
        /// Search end.
        end: u64,
    },
    /// No free region (`get_free_mem_region`). Kernel: `-ERANGE`.
    #[error("no free region of size {size:#x}")]
    NoFreeRegion {
        /// Requested size (after alignment).
        size: u64,
    },
    /// The operation or kernel feature does not exist in the selected
    /// kernel profile. Kernel: the function is absent (`-ENOSYS` here).
    #[error("{what} does not exist in the selected kernel profile")]
    Unsupported {
        /// What is missing.
        what: &'static str,
    },
    /// The arena cannot hold more resources (2^32 − 2 slots).
    #[error("too many resources")]
    Exhausted,
}

impl Error {
    /// The errno the kernel returns in this situation.
    pub const fn errno(&self) -> Errno {
        match self {
            Error::Conflict { .. } | Error::Adjust { .. } | Error::NoSpace { .. } | Error::MuxedBusy { .. } => {
                Errno::EBUSY
            }
            Error::NotFound { .. } => Errno::ENODEV,
            Error::NoFreeRegion { .. } => Errno::ERANGE,
            Error::Exhausted => Errno::ENOMEM,
            Error::Unsupported { .. } => Errno::ENOSYS,
            Error::ForeignHandle { .. }
            | Error::StaleHandle { .. }
            | Error::ForeignName
            | Error::NotInTree { .. }
            | Error::InTree { .. }
            | Error::IsRoot { .. }
            | Error::Invalid { .. } => Errno::EINVAL,
        }
    }
}
