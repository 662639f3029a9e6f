//! What the driver needs from the operating system, as traits: the
//! memory-hotplug core (add, remove, offline memory blocks), the page
//! allocator (take pages away, give them back), the iomem resource tree (the
//! device region claim), memory groups, timers and the kernel log
//! (memory-hotplug.md, driver spec §4, §8, §10–§12).
//!
//! A Rust kernel implements [`Os`] and uses the driver as is;
//! `memory-hotplug` implements it over `iomem::ResourceTree` with a
//! simulated page allocator. Calls that can make the kernel call the driver
//! back (adding memory onlines it, which notifies; offlining notifies) take
//! the driver's [`HotplugHooks`] explicitly, so no callback needs a pointer
//! back into the driver.

use core::fmt;

pub use iomem::Errno;

/// A page frame number (physical address / page size).
pub type Pfn = u64;

/// The platform's memory geometry (memory-hotplug.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Base page size (4 KiB on x86-64).
    pub page_size: u64,
    /// Pageblock size (2 MiB on x86-64).
    pub pageblock_size: u64,
    /// The largest buddy chunk, `PAGE << MAX_PAGE_ORDER` (4 MiB on x86-64).
    pub max_chunk: u64,
    /// Sparse-memory section size (128 MiB on x86-64).
    pub section_size: u64,
    /// Linux memory block size (128 MiB up to 2 GiB, a power of two).
    pub memory_block_size: u64,
}

impl Geometry {
    /// x86-64 with 128 MiB memory blocks (QEMU guests below 64 GiB).
    pub const X86_64: Geometry = Geometry {
        page_size: 4096,
        pageblock_size: 2 << 20,
        max_chunk: 4 << 20,
        section_size: 128 << 20,
        memory_block_size: 128 << 20,
    };

    /// The largest buddy order (`MAX_PAGE_ORDER`).
    pub const fn max_order(&self) -> u32 {
        (self.max_chunk / self.page_size).trailing_zeros()
    }

    /// Pages per memory block.
    pub const fn pages_per_block(&self) -> u64 {
        self.memory_block_size / self.page_size
    }
}

/// A zone (only the distinctions the driver and the hotplug rules need).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Zone {
    /// ZONE_DMA (below 16 MiB on x86-64; arm64's low zone).
    Dma,
    /// ZONE_DMA32 (below 4 GiB on x86-64).
    Dma32,
    /// ZONE_NORMAL.
    Normal,
    /// ZONE_MOVABLE.
    Movable,
}

impl Zone {
    /// The name sysfs prints (`valid_zones`).
    pub const fn name(self) -> &'static str {
        match self {
            Zone::Dma => "DMA",
            Zone::Dma32 => "DMA32",
            Zone::Normal => "Normal",
            Zone::Movable => "Movable",
        }
    }

    /// True for ZONE_MOVABLE.
    pub const fn is_movable(self) -> bool {
        matches!(self, Zone::Movable)
    }
}

/// Memory notifier events (memory-hotplug.md M36).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryEvent {
    /// Before onlining; may veto.
    PrepareOnline,
    /// Onlining is about to hand pages out; may veto.
    GoingOnline,
    /// Onlining succeeded.
    Online,
    /// Onlining was vetoed or failed after GOING_ONLINE.
    CancelOnline,
    /// Offlining starts; may veto.
    GoingOffline,
    /// Offlining succeeded.
    Offline,
    /// Offlining failed after GOING_OFFLINE.
    CancelOffline,
    /// After offlining, when the pages are gone from the zone.
    FinishOffline,
}

/// One notification: the range is always one whole memory block for
/// hot-plugged System RAM (M37).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryNotify {
    /// The event.
    pub event: MemoryEvent,
    /// First page of the range.
    pub start_pfn: Pfn,
    /// Pages in the range.
    pub nr_pages: u64,
    /// The zone of the first page (set for the online events).
    pub zone: Option<Zone>,
}

/// A notifier's answer (`NOTIFY_OK`, `NOTIFY_DONE`, `NOTIFY_BAD`,
/// `notifier_from_errno`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotifyResult {
    /// Handled, no objection.
    Ok,
    /// Not this notifier's business.
    Done,
    /// Veto without an errno (user space sees -EPERM).
    Bad,
    /// Veto with this errno.
    Veto(Errno),
}

impl NotifyResult {
    /// True if the answer vetoes a GOING_* / PREPARE_* event.
    pub const fn vetoes(self) -> bool {
        matches!(self, NotifyResult::Bad | NotifyResult::Veto(_))
    }

    /// The errno a veto turns into (M21: plain "bad" is -EPERM).
    pub const fn errno(self) -> Option<Errno> {
        match self {
            NotifyResult::Bad => Some(Errno::EPERM),
            NotifyResult::Veto(e) => Some(e),
            _ => None,
        }
    }
}

/// What a driver's hooks may do to pages while the kernel calls them
/// (online-page callback, GOING/CANCEL_OFFLINE).
pub trait PageOps {
    /// Hands a naturally aligned chunk of `2^order` pages to the page
    /// allocator (`generic_online_page`): the pages count as managed.
    fn online_to_allocator(&mut self, pfn: Pfn, order: u32);

    /// Keeps a chunk out of the allocator: it stays PG_offline, owned by the
    /// driver, and is flagged "never onlined" (§10).
    fn keep_offline(&mut self, pfn: Pfn, order: u32);

    /// Drops the driver's reference on each driver-owned offline page of
    /// the range (GOING_OFFLINE), so offlining can skip them.
    fn drop_offline_refs(&mut self, pfn: Pfn, nr_pages: u64);

    /// Takes the references back (CANCEL_OFFLINE).
    fn take_offline_refs(&mut self, pfn: Pfn, nr_pages: u64);

    /// A kernel log line from callback context (`dev_warn_ratelimited`).
    fn log(&mut self, level: LogLevel, device: &str, message: fmt::Arguments<'_>);
}

/// The driver side of the kernel's callbacks: the memory notifier and the
/// global online-page hook. Several devices' hooks may be chained (each
/// ignores ranges outside its region).
pub trait HotplugHooks {
    /// A memory notification.
    fn memory_notify(&mut self, n: &MemoryNotify, pages: &mut dyn PageOps) -> NotifyResult;

    /// The online-page hook for one chunk of `2^order` pages; returns false
    /// if the chunk is in none of this driver's regions (the caller then
    /// onlines it normally).
    fn online_page(&mut self, pfn: Pfn, order: u32, pages: &mut dyn PageOps) -> bool;
}

/// No hooks: onlining hands every chunk to the allocator, nobody vetoes.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl HotplugHooks for NoHooks {
    fn memory_notify(&mut self, _n: &MemoryNotify, _pages: &mut dyn PageOps) -> NotifyResult {
        NotifyResult::Done
    }

    fn online_page(&mut self, _pfn: Pfn, _order: u32, _pages: &mut dyn PageOps) -> bool {
        false
    }
}

/// Several drivers' hooks in registration order.
pub struct HookChain<'a>(pub &'a mut [&'a mut dyn HotplugHooks]);

impl HotplugHooks for HookChain<'_> {
    fn memory_notify(&mut self, n: &MemoryNotify, pages: &mut dyn PageOps) -> NotifyResult {
        let mut result = NotifyResult::Done;
        for hooks in self.0.iter_mut() {
            match hooks.memory_notify(n, pages) {
                NotifyResult::Done => {}
                r if r.vetoes() => return r,
                r => result = r,
            }
        }
        result
    }

    fn online_page(&mut self, pfn: Pfn, order: u32, pages: &mut dyn PageOps) -> bool {
        self.0.iter_mut().any(|h| h.online_page(pfn, order, pages))
    }
}

/// A memory group registered for a device (M29).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemoryGroupId(pub u32);

/// The claim of a device region in the iomem tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegionClaim(pub u64);

/// Where added memory goes: a memory group (current kernels) or a node
/// (before memory groups, §19).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddTarget {
    /// `MHP_NID_IS_MGID`: the group's node.
    Group(MemoryGroupId),
    /// A node id.
    Node(u32),
}

/// The online state of the memory blocks of a range (BBM's unplug passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct OnlineSummary {
    /// Some block of the range is online.
    pub any_online: bool,
    /// Every online block of the range is in ZONE_MOVABLE.
    pub online_all_movable: bool,
}

/// Kernel log levels the driver uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// `dev_info`.
    Info,
    /// `dev_warn`.
    Warn,
    /// `dev_err`.
    Err,
}

/// Identifies one device to the OS (timers, log lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub u32);

/// NUMA facts the probe uses (§4.1 step 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Numa {
    /// The kernel has NUMA enabled (logs "nid: N").
    pub enabled: bool,
    /// ACPI NUMA is available (the driver offers ACPI_PXM).
    pub acpi: bool,
}

/// The operating system, as the driver sees it.
pub trait Os {
    /// The memory geometry.
    fn geometry(&self) -> Geometry;

    /// The pluggable physical range with a direct mapping, inclusive
    /// (memory-hotplug.md M6).
    fn pluggable_range(&self) -> (u64, u64);

    /// NUMA facts.
    fn numa(&self) -> Numa;

    /// The node of an ACPI proximity domain, if any.
    fn node_of_pxm(&self, pxm: u16) -> Option<u32>;

    /// The node owning a physical address (`memory_add_physaddr_to_nid`).
    fn node_of_addr(&self, addr: u64) -> u32;

    /// This kernel is a crash (kdump) kernel.
    fn is_kdump_kernel(&self) -> bool;

    /// This kernel has `/proc/vmcore` support.
    fn has_vmcore(&self) -> bool;

    /// Requests `[start, start + size)` from the iomem root with the flags
    /// SYSTEM_RAM (plus EXCLUSIVE if `exclusive`) and clears BUSY on the new
    /// resource (§11.1). `Err` if the request conflicts.
    fn claim_device_region(&mut self, start: u64, size: u64, name: &str, exclusive: bool)
    -> Result<RegionClaim, Errno>;

    /// Releases a claim made by [`Os::claim_device_region`].
    fn release_device_region(&mut self, claim: RegionClaim);

    /// Whether any busy System RAM (added memory) lies in the range (§15).
    fn system_ram_added_within(&self, start: u64, size: u64) -> bool;

    /// Registers a dynamic memory group (M29).
    fn register_memory_group(&mut self, nid: u32, unit_pages: u64) -> Result<MemoryGroupId, Errno>;

    /// Unregisters a memory group.
    fn unregister_memory_group(&mut self, group: MemoryGroupId);

    /// `add_memory_driver_managed` (M7–M17): may online the new blocks at
    /// once (auto-online), calling `hooks`.
    #[allow(clippy::too_many_arguments)]
    fn add_memory_driver_managed(
        &mut self,
        target: AddTarget,
        start: u64,
        size: u64,
        name: &str,
        merge: bool,
        hooks: &mut dyn HotplugHooks,
    ) -> Result<(), Errno>;

    /// `remove_memory` (M25): every block must be offline.
    fn remove_memory(&mut self, start: u64, size: u64) -> Result<(), Errno>;

    /// `offline_and_remove_memory` (M26), calling `hooks`.
    fn offline_and_remove_memory(&mut self, start: u64, size: u64, hooks: &mut dyn HotplugHooks) -> Result<(), Errno>;

    /// Which memory blocks of the range are online, and in which zones.
    fn online_summary(&self, start: u64, size: u64) -> OnlineSummary;

    /// The zone of an online page, if it is online.
    fn zone_of(&self, pfn: Pfn) -> Option<Zone>;

    /// One attempt of "allocate contiguous range" (M27): every page of the
    /// range becomes the caller's. -EBUSY, -ENOMEM or -EINTR on failure.
    fn alloc_contig_range(&mut self, pfn: Pfn, nr_pages: u64) -> Result<(), Errno>;

    /// Marks pages the driver took with [`Os::alloc_contig_range`] as
    /// driver-owned offline pages (PG_offline, one reference each) and
    /// lowers the managed page count by `nr_pages`.
    fn take_pages_offline(&mut self, pfn: Pfn, nr_pages: u64);

    /// Gives one naturally aligned chunk of driver-owned offline pages back
    /// (§10 fake-online): never-onlined pages go through the generic online
    /// path, others are freed; either way they count as managed again.
    fn fake_online_chunk(&mut self, pfn: Pfn, order: u32);

    /// Installs the driver's global online-page hook (M23); `Err(EINVAL)`
    /// when another owner holds it. Counted: the hook stays until every
    /// installer restored it.
    fn install_online_page_callback(&mut self) -> Result<(), Errno>;

    /// Restores the default online-page hook (the last device's call).
    fn restore_online_page_callback(&mut self);

    /// Arms the device's one-shot retry timer `ms` milliseconds from now
    /// (re-arming replaces the previous expiry).
    fn arm_timer(&mut self, device: DeviceId, ms: u64);

    /// Cancels the device's retry timer.
    fn cancel_timer(&mut self, device: DeviceId);

    /// A kernel log line of the device (`virtio_mem virtio0: …`).
    fn log(&mut self, level: LogLevel, device: &str, message: fmt::Arguments<'_>);
}
