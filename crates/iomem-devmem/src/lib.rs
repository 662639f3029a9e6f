//! The Linux `/dev/mem` access policy over the iomem resource tree
//! (devmem-policy.md): the per-page verdict `devmem_is_allowed`, the
//! `open`/`pread`/`pwrite`/`mmap` results in the kernel's order of checks,
//! range verdicts as runs, explanations with "what would change it", the
//! revocation of existing mappings when a driver claims a range, and the
//! ranges a memory-acquisition tool may read. `no_std` + `alloc`.
//!
//! ```
//! use iomem::{Flags, ResourceTree};
//! use iomem_devmem::{Arch, Devmem, OpenMode, Policy};
//!
//! let mut tree = ResourceTree::default();
//! let dev = tree.request_mem_region(0x1_0000_0000, 0x1_0000_0000, "virtio0").unwrap();
//! tree.set_flags(dev, Flags::SYSTEM_RAM | Flags::EXCLUSIVE).unwrap();
//! // Debian's configuration, but booted with iomem=relaxed:
//! let policy = Policy::new(&tree, Arch::X86_64 { phys_bits: 40 })
//!     .with_config(iomem_devmem::KernelConfig::DEBIAN, "iomem=relaxed");
//! let devmem = Devmem::new(&tree, policy);
//! let mmap = devmem.mmap(0x1_2000_0000, 4096, OpenMode::RDWR, false, true);
//! assert_eq!(mmap.result_name(), "EPERM"); // virtio-mem memory is never mappable
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod access;
pub mod capture;
mod explain;
pub mod inputs;
mod policy;
pub mod revoke;
mod runs;
mod safe;

pub use access::{Access, Outcome, Rule, Success, Uncertainty};
pub use explain::{Change, Explanation, Request, ResourceSummary, WhatIf};
pub use inputs::{
    Arch, ArchError, CacheMode, Caller, DeviceNode, HighMemory, HighMemorySource, KernelConfig, Lockdown, Memtypes,
    OpenMode, parse_kernel_config,
};
pub use policy::{Devmem, PageDecision, PageRule, PageValue, Policy, estimate_high_memory};
pub use revoke::{Fault, Mapping, MappingId, Mappings, NoRevocation, Revocation};
pub use runs::{PageRun, PageRuns};
pub use safe::{AccessRun, AccessRuns, DeviceRegion, ForbiddenRam, RamDenial, SafeRanges};
