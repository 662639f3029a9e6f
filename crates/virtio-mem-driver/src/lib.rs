//! The Linux virtio-mem guest driver (`drivers/virtio/virtio_mem.c`), as a
//! `no_std` + `alloc` library with the kernel's observable behaviour:
//! probe, Sub Block Mode and Big Block Mode with every state transition,
//! the worker with its retry timer, fake-offline / fake-online of memory,
//! the device region claimed `SYSTEM_RAM | EXCLUSIVE` so `/dev/mem` never
//! reaches it, unload, kdump mode, suspend
//! (`../shared/spec/virtio-mem-driver.md`).
//!
//! The driver talks to the device through
//! [`virtio_mem::VirtioMemTransport`] and to the kernel through [`os::Os`]:
//! a Rust kernel implements that trait and uses the driver as is; the
//! `memory-hotplug` crate implements it over `iomem::ResourceTree` with a
//! simulated page allocator. Time is an input: the driver arms timers
//! through the OS and is told when they expire; it runs its work when
//! asked.
//!
//! Modules: [`os`] (the OS trait and the callback types), [`params`]
//! (module parameters, version rules), [`state`] (block states), `core`
//! (the driver's state without its transport), [`driver`] (probe,
//! interrupts, removal, suspend), `requests` (config and requests), `worker`
//! (the work item, fake-offline / fake-online), `sbm`, `bbm`, `hooks` (the
//! memory notifier and online-page hook) and `kdump`.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod bbm;
mod core;
pub mod driver;
mod hooks;
mod inspect;
mod kdump;
pub mod os;
pub mod params;
mod requests;
mod sbm;
pub mod state;
mod worker;

pub use driver::{DriverConfig, Phase, PmEvent, ProbeError, VirtioMemDriver};
pub use inspect::{BlockInfo, DriverMode, Snapshot};
pub use os::{
    AddTarget, DeviceId, Errno, Geometry, HookChain, HotplugHooks, LogLevel, MemoryEvent, MemoryGroupId, MemoryNotify,
    NoHooks, NotifyResult, Numa, OnlineSummary, Os, PageOps, Pfn, RegionClaim, Zone,
};
pub use params::{DriverRules, ModuleParams};
pub use sbm::RESOURCE_NAME;
pub use state::{BbmState, SbmState};
