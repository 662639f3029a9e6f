//! The Linux physical-address resource tree (`/proc/iomem`,
//! `/proc/ioports`): every operation and query of the kernel's
//! `kernel/resource.c`, with its exact results, as a `no_std` + `alloc`
//! library.
//!
//! * [`ResourceTree`] holds the two roots (`iomem_resource`,
//!   `ioport_resource`) in one arena with checked [`ResourceId`] handles.
//! * Operations (`request_resource`, `insert_resource`, `adjust_resource`,
//!   `allocate_resource`, `request_region`, `release_mem_region_adjustable`,
//!   `merge_system_ram_resource`, ...) return the kernel's results; errors
//!   carry the kernel's errno ([`Error::errno`]) and what conflicted.
//! * Queries (`region_intersects`, `page_is_ram`, `iomem_is_exclusive`, the
//!   walkers) search each level's child index (records with range and
//!   flags, under a small B-tree-like summary) instead of scanning siblings.
//! * [`procfs`] renders `/proc/iomem` byte for byte and parses real dumps.
//! * [`infer`] reconstructs flags and descriptors of a parsed dump from
//!   names and places, saying which bits are certain.
//! * [`KernelProfile`] selects version-dependent rules (mainline, v6.1, ...).
//!
//! ```
//! use iomem::{Flags, ResourceTree, ExclusiveParams};
//!
//! let mut tree = ResourceTree::default();
//! // The virtio-mem driver claims its device region, then clears BUSY so
//! // memory can be added inside it.
//! let dev = tree
//!     .request_mem_region(0x1_0000_0000, 0x1_0000_0000, "virtio0")
//!     .unwrap();
//! tree.set_flags(dev, Flags::SYSTEM_RAM | Flags::EXCLUSIVE).unwrap();
//! assert_eq!(tree.proc_iomem(), "100000000-1ffffffff : virtio0\n");
//! // Exclusive even with iomem=relaxed (v5.16+):
//! let relaxed = ExclusiveParams { strict: false, io_strict: true };
//! assert!(tree.iomem_is_exclusive(0x1_2345_6000, relaxed));
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod cmdline;
mod errno;
mod error;
mod flags;
pub mod infer;
pub mod ops;
pub mod procfs;
mod profile;
pub mod query;
mod range;
mod tree;

pub use errno::Errno;
pub use error::{AdjustConflict, Error};
pub use flags::{Desc, FlagName, FlagNames, Flags, ResourceType, bus};
pub use ops::{Adjustment, Constraint, IntoName};
pub use profile::{
    DevmemRules, DriverManagedMarker, ExclusiveRule, FreeRegionRule, KernelProfile, KernelVersion,
    RegionIntersectsRule, WalkerScope, X86DevmemRule,
};
pub use query::{ExclusiveHit, ExclusiveParams, ExclusiveReason, Found, RegionIntersects, Walk};
pub use range::{Range, align_up};
pub use tree::{
    ChildCursor, ChildEntry, Journal, JournalEntry, LogLevel, Name, Preorder, ResourceId, ResourceSpec, ResourceTree,
    ResourceView, TreeConfig,
};
