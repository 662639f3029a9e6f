//! The Linux memory-hotplug layer that virtio-mem drives
//! (`../shared/spec/memory-hotplug.md`), as a `no_std` + `alloc` library:
//! memory block devices and their sysfs text, zones and the auto-online
//! policy, `add_memory_driver_managed` with its resource effects (the
//! `System RAM (virtio_mem)` children, merged as the kernel merges them),
//! onlining, offlining and removing, and a page allocator whose pages carry
//! contents, so that offlining migrates a program's data and a test can
//! prove that no byte was lost.
//!
//! [`HotplugSystem`] implements the virtio-mem driver's
//! [`virtio_mem_driver::Os`] over an [`iomem::ResourceTree`]: the driver
//! runs against it exactly as against a kernel. Memory contents go through
//! [`PhysMemory`], which a simulator routes into the virtio-mem device's
//! simulated memory (counting any access to unplugged blocks).
//!
//! Modules: [`config`] (geometry, zones, policies), [`pages`] (the page map
//! and its counts), [`blocks`] (memory blocks, groups, sysfs), [`memory`]
//! (physical contents), `system` (the operations) and `os_impl` (the OS
//! trait).
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod blocks;
pub mod config;
pub mod memory;
mod os_impl;
pub mod pages;
mod system;

pub use blocks::{BlockState, MemoryBlock, MemoryGroup, SysfsBlock, SysfsView};
pub use config::{BootRange, HotplugConfig, OnlinePolicy, OnlineType, ZoneLimit};
pub use memory::{NoMemory, PhysMemory, SparseMemory};
pub use pages::{PageMap, PageState, ZoneCounts};
pub use system::{AllocOrder, Allocation, ContentError, HotplugSystem, Injections, LogLine};
