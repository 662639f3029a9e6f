//! The hotplug layer's state and its operations: adding memory driver-
//! managed (M7–M17), onlining (M21), offlining (M24), removing (M25, M26),
//! the zone choice (M19), the page allocator with migration (M27, M41), and
//! the guest's own use of memory.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use iomem::{Desc, Flags, ResourceId, ResourceTree};
use virtio_mem_driver::{
    DeviceId, Errno, HotplugHooks, LogLevel, MemoryEvent, MemoryGroupId, MemoryNotify, NotifyResult, PageOps, Pfn, Zone,
};

use crate::blocks::{BlockState, MemoryBlock, MemoryGroup, SysfsBlock, SysfsView};
use crate::config::{HotplugConfig, OnlinePolicy, OnlineType};
use crate::memory::{PhysMemory, tag};
use crate::pages::{PageMap, PageState, Run};

/// One kernel log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// The device (`virtio0`), empty for lines of the kernel itself.
    pub device: String,
    /// The text.
    pub message: String,
}

impl LogLine {
    /// The line as `dmesg` prints it (without the timestamp):
    /// `virtio_mem virtio0: …`.
    pub fn dmesg(&self) -> String {
        if self.device.is_empty() {
            self.message.clone()
        } else {
            alloc::format!("virtio_mem {}: {}", self.device, self.message)
        }
    }
}

/// A guest allocation (a program's memory, or kernel memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Allocation {
    /// Pages it holds.
    pub pages: u64,
    /// Whether its pages can migrate (user memory: yes; kernel memory: no).
    pub movable: bool,
}

/// Failures to inject into the next operations (tests of the driver's
/// error paths).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Injections {
    /// Errors the next `add_memory_driver_managed` calls return.
    pub add_memory: Vec<Errno>,
    /// Errors the next `alloc_contig_range` attempts return.
    pub alloc_contig: Vec<Errno>,
    /// Errors the next offlining attempts return (after GOING_OFFLINE).
    pub offline: Vec<Errno>,
}

/// Why the guest's memory contents are not what it wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// A page does not hold the tag its allocation wrote.
    #[error("page {pfn:#x} should hold page {virt} of allocation {alloc} but does not")]
    WrongContents {
        /// The physical page.
        pfn: Pfn,
        /// The allocation.
        alloc: u32,
        /// The allocation's page.
        virt: u64,
    },
    /// An allocation has fewer (or more) pages than it was given.
    #[error("allocation {alloc} has {found} pages, {expected} expected")]
    LostPages {
        /// The allocation.
        alloc: u32,
        /// Pages found in the page map.
        found: u64,
        /// Pages it was given.
        expected: u64,
    },
}

/// Where the guest's allocations come from first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AllocOrder {
    /// The lowest free pages first.
    #[default]
    LowestFirst,
    /// The highest free pages first (the worst case for unplugging).
    HighestFirst,
    /// Pageblocks in a pseudo-random order from this seed (deterministic).
    Seeded(u64),
}

/// The splitmix64 step: a small, well-mixed deterministic generator.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The memory-hotplug layer of one guest, with its iomem tree.
pub struct HotplugSystem<M> {
    pub(crate) config: HotplugConfig,
    pub(crate) tree: ResourceTree,
    pub(crate) blocks: BTreeMap<u64, MemoryBlock>,
    pub(crate) pages: PageMap,
    /// Online block ids per zone (for zone spans).
    pub(crate) zone_blocks: [BTreeSet<u64>; 4],
    pub(crate) online_type: OnlineType,
    pub(crate) groups: Vec<Option<MemoryGroup>>,
    pub(crate) hook_users: u32,
    /// Another subsystem owns the online-page hook.
    pub(crate) foreign_hook: bool,
    pub(crate) claims: BTreeMap<u64, ResourceId>,
    pub(crate) next_claim: u64,
    pub(crate) timers: BTreeMap<DeviceId, u64>,
    pub(crate) now_ms: u64,
    pub(crate) log: Vec<LogLine>,
    pub(crate) allocations: BTreeMap<u32, Allocation>,
    pub(crate) next_alloc: u32,
    pub(crate) alloc_order: AllocOrder,
    pub(crate) mem: M,
    pub(crate) high_memory: u64,
    pub(crate) numa: virtio_mem_driver::Numa,
    pub(crate) kdump: bool,
    pub(crate) vmcore: bool,
    /// Failures to inject.
    pub inject: Injections,
}

pub(crate) fn zone_index(z: Zone) -> usize {
    match z {
        Zone::Dma => 0,
        Zone::Dma32 => 1,
        Zone::Normal => 2,
        Zone::Movable => 3,
    }
}

/// The zones a movable allocation may use, in the allocator's preference.
const MOVABLE_ZONES: [Zone; 4] = [Zone::Movable, Zone::Normal, Zone::Dma32, Zone::Dma];
/// The zones a kernel (unmovable) allocation may use.
const KERNEL_ZONES: [Zone; 3] = [Zone::Normal, Zone::Dma32, Zone::Dma];

/// Page operations handed to the drivers' hooks.
pub(crate) struct Ops<'a> {
    pub(crate) pages: &'a mut PageMap,
    pub(crate) zone: Option<Zone>,
    pub(crate) log: &'a mut Vec<LogLine>,
}

impl PageOps for Ops<'_> {
    fn online_to_allocator(&mut self, pfn: Pfn, order: u32) {
        let zone = self.zone.unwrap_or(Zone::Normal);
        self.pages.insert(pfn, pfn + (1 << order), zone, PageState::Free);
    }

    fn keep_offline(&mut self, pfn: Pfn, order: u32) {
        let zone = self.zone.unwrap_or(Zone::Normal);
        let state = PageState::DriverOwned { referenced: true, never_onlined: true };
        self.pages.insert(pfn, pfn + (1 << order), zone, state);
    }

    fn drop_offline_refs(&mut self, pfn: Pfn, nr_pages: u64) {
        set_refs(self.pages, pfn, nr_pages, false);
    }

    fn take_offline_refs(&mut self, pfn: Pfn, nr_pages: u64) {
        set_refs(self.pages, pfn, nr_pages, true);
    }

    fn log(&mut self, level: LogLevel, device: &str, message: core::fmt::Arguments<'_>) {
        let mut text = String::new();
        let _ = text.write_fmt(message);
        self.log.push(LogLine { level, device: device.into(), message: text });
    }
}

fn set_refs(pages: &mut PageMap, pfn: Pfn, nr: u64, referenced: bool) {
    for r in pages.runs(pfn, pfn + nr) {
        if let PageState::DriverOwned { never_onlined, .. } = r.state {
            let _ = pages.set(r.start, r.end, PageState::DriverOwned { referenced, never_onlined });
        }
    }
}

impl<M: PhysMemory> HotplugSystem<M> {
    /// A guest with the boot memory of `config`, online in its zones, and
    /// its iomem tree holding that memory as `System RAM`.
    pub fn new(config: HotplugConfig, mem: M) -> HotplugSystem<M> {
        let mut tree = ResourceTree::default();
        let root = tree.iomem_root();
        for r in &config.boot_ram {
            if r.end > r.start {
                let _ = tree.request_region(root, r.start, r.end - r.start, "System RAM", Flags::SYSTEM_RAM);
            }
        }
        HotplugSystem::with_tree(config, tree, mem)
    }

    /// A guest whose iomem tree is given (parsed from a real `/proc/iomem`,
    /// say); boot memory comes from `config`.
    pub fn with_tree(config: HotplugConfig, tree: ResourceTree, mem: M) -> HotplugSystem<M> {
        let mut s = HotplugSystem {
            online_type: config.default_online_type,
            config,
            tree,
            blocks: BTreeMap::new(),
            pages: PageMap::default(),
            zone_blocks: Default::default(),
            groups: Vec::new(),
            hook_users: 0,
            foreign_hook: false,
            claims: BTreeMap::new(),
            next_claim: 1,
            timers: BTreeMap::new(),
            now_ms: 0,
            log: Vec::new(),
            allocations: BTreeMap::new(),
            next_alloc: 1,
            alloc_order: AllocOrder::default(),
            mem,
            high_memory: 0,
            numa: virtio_mem_driver::Numa { enabled: true, acpi: false },
            kdump: false,
            vmcore: true,
            inject: Injections::default(),
        };
        s.boot();
        s
    }

    fn boot(&mut self) {
        let g = self.config.geometry;
        let page = g.page_size;
        let mb = g.memory_block_size;
        let ranges = self.config.boot_ram.clone();
        let mut reserved = self.config.kernel_reserved / page;
        for r in ranges {
            let (start, end) = (r.start.div_ceil(page), r.end / page);
            // Boot pages in their kernel zones, cut at the zone limits.
            let mut at = start;
            while at < end {
                let zone = self.config.kernel_zone_of(at * page);
                let limit = self.config.zones.iter().find(|z| z.zone == zone).map_or(u64::MAX, |z| z.end / page);
                let to = end.min(limit.max(at + 1));
                // The kernel's own memory first (at and above 1 MiB, where
                // the kernel image sits).
                let mut free_from = at;
                if reserved > 0 && at * page >= 1 << 20 {
                    let n = reserved.min(to - at);
                    self.pages.insert(at, at + n, zone, PageState::Kernel);
                    reserved -= n;
                    free_from = at + n;
                }
                self.pages.insert(free_from, to, zone, PageState::Free);
                at = to;
            }
            self.high_memory = self.high_memory.max(r.end);
        }
        // The blocks once every boot page is in place (a block may hold
        // several ranges, in several zones).
        for r in self.config.boot_ram.clone() {
            for id in r.start / mb..r.end.div_ceil(mb) {
                let zones = self.zones_in(id * mb, (id + 1) * mb);
                let zone = if zones.len() == 1 { Some(zones[0]) } else { None };
                for z in &zones {
                    self.zone_blocks[zone_index(*z)].insert(id);
                }
                self.blocks.entry(id).or_insert(MemoryBlock {
                    id,
                    state: BlockState::Online,
                    zone,
                    boot: true,
                    group: None,
                    nid: 0,
                });
            }
        }
    }

    /// The zones of present pages in `[start, end)` (bytes).
    fn zones_in(&self, start: u64, end: u64) -> Vec<Zone> {
        let page = self.config.geometry.page_size;
        let mut zones: Vec<Zone> = self.pages.runs(start / page, end / page).iter().map(|r| r.zone).collect();
        zones.sort();
        zones.dedup();
        zones
    }

    // ----- accessors ---------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &HotplugConfig {
        &self.config
    }

    /// The iomem tree.
    pub fn tree(&self) -> &ResourceTree {
        &self.tree
    }

    /// The iomem tree, mutably (other drivers' claims).
    pub fn tree_mut(&mut self) -> &mut ResourceTree {
        &mut self.tree
    }

    /// `/proc/iomem` as a privileged reader sees it.
    pub fn proc_iomem(&self) -> String {
        self.tree.proc_iomem()
    }

    /// The memory blocks, by id.
    pub fn blocks(&self) -> impl Iterator<Item = &MemoryBlock> + '_ {
        self.blocks.values()
    }

    /// One memory block.
    pub fn block(&self, id: u64) -> Option<&MemoryBlock> {
        self.blocks.get(&id)
    }

    /// The page map.
    pub fn pages(&self) -> &PageMap {
        &self.pages
    }

    /// The physical memory.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// The physical memory, mutably.
    pub fn memory_mut(&mut self) -> &mut M {
        &mut self.mem
    }

    /// Every log line so far.
    pub fn log(&self) -> &[LogLine] {
        &self.log
    }

    /// `high_memory` (one past the direct map; raised by adds, never
    /// lowered, M40).
    pub fn high_memory(&self) -> u64 {
        self.high_memory
    }

    /// The default online type (`auto_online_blocks`).
    pub fn online_type(&self) -> OnlineType {
        self.online_type
    }

    /// Writes `auto_online_blocks`.
    pub fn set_online_type(&mut self, t: OnlineType) {
        self.online_type = t;
    }

    /// Sets whether this kernel is a crash kernel, and has vmcore.
    pub fn set_kdump(&mut self, kdump: bool, vmcore: bool) {
        self.kdump = kdump;
        self.vmcore = vmcore;
    }

    /// Sets the NUMA facts the driver sees.
    pub fn set_numa(&mut self, numa: virtio_mem_driver::Numa) {
        self.numa = numa;
    }

    /// Makes another subsystem own the online-page hook (virtio-mem's
    /// probe then fails, §18 item 12).
    pub fn set_foreign_online_page_hook(&mut self, owned: bool) {
        self.foreign_hook = owned;
    }

    /// Whether virtio-mem's online-page hook is installed.
    pub fn online_page_hook_installed(&self) -> bool {
        self.hook_users > 0
    }

    /// The allocation order of the guest's memory use.
    pub fn set_alloc_order(&mut self, order: AllocOrder) {
        self.alloc_order = order;
    }

    /// MemTotal in bytes: the managed pages of every zone.
    pub fn mem_total(&self) -> u64 {
        self.pages.all_counts().map(|(_, c)| c.managed).sum::<u64>() * self.config.geometry.page_size
    }

    /// Free memory in bytes.
    pub fn mem_free(&self) -> u64 {
        self.pages.all_counts().map(|(_, c)| c.free).sum::<u64>() * self.config.geometry.page_size
    }

    // ----- time --------------------------------------------------------

    /// Virtual time in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Advances virtual time to `ms`.
    pub fn set_now_ms(&mut self, ms: u64) {
        self.now_ms = self.now_ms.max(ms);
    }

    /// The armed timers (device, expiry in ms).
    pub fn timers(&self) -> impl Iterator<Item = (DeviceId, u64)> + '_ {
        self.timers.iter().map(|(d, t)| (*d, *t))
    }

    /// The earliest armed timer.
    pub fn next_timer(&self) -> Option<(DeviceId, u64)> {
        self.timers.iter().min_by_key(|(_, t)| **t).map(|(d, t)| (*d, *t))
    }

    /// Takes the timers expired at the current time.
    pub fn take_expired_timers(&mut self) -> Vec<DeviceId> {
        let now = self.now_ms;
        let due: Vec<DeviceId> = self.timers.iter().filter(|(_, t)| **t <= now).map(|(d, _)| *d).collect();
        for d in &due {
            self.timers.remove(d);
        }
        due
    }

    /// A kernel log line of the kernel itself (not of a device).
    pub fn log_kernel(&mut self, message: String) {
        self.log.push(LogLine { level: LogLevel::Warn, device: String::new(), message });
    }

    pub(crate) fn push_log(&mut self, level: LogLevel, device: &str, message: core::fmt::Arguments<'_>) {
        let mut text = String::new();
        let _ = text.write_fmt(message);
        self.log.push(LogLine { level, device: device.into(), message: text });
    }

    // ----- zones -------------------------------------------------------

    /// The zone span of `zone` in bytes (first and one past the last
    /// online block holding it).
    fn zone_span(&self, zone: Zone) -> Option<(u64, u64)> {
        let set = &self.zone_blocks[zone_index(zone)];
        let mb = self.config.geometry.memory_block_size;
        Some((*set.first()? * mb, (*set.last()? + 1) * mb))
    }

    fn zone_intersects(&self, zone: Zone, start: u64, end: u64) -> bool {
        self.zone_span(zone).is_some_and(|(s, e)| s < end && start < e)
    }

    /// The default kernel zone of a range: the lowest kernel zone below
    /// ZONE_NORMAL that spans it, else ZONE_NORMAL.
    fn default_kernel_zone(&self, start: u64, end: u64) -> Zone {
        [Zone::Dma, Zone::Dma32]
            .into_iter()
            .find(|z| self.config.zones.iter().any(|l| l.zone == *z) && self.zone_intersects(*z, start, end))
            .unwrap_or(Zone::Normal)
    }

    /// The zone onlining `[start, end)` with `t` picks (M19).
    pub(crate) fn zone_for(&self, t: OnlineType, start: u64, end: u64, group: Option<MemoryGroupId>) -> Zone {
        let kernel = self.default_kernel_zone(start, end);
        match t {
            OnlineType::OnlineKernel => kernel,
            OnlineType::OnlineMovable => Zone::Movable,
            OnlineType::Online | OnlineType::Offline => match self.config.online_policy {
                OnlinePolicy::ContigZones => {
                    let in_kernel = self.zone_intersects(kernel, start, end);
                    let in_movable = self.zone_intersects(Zone::Movable, start, end);
                    // Exactly one of them spanning the range decides;
                    // otherwise movable_node does.
                    let movable = if in_kernel != in_movable { in_movable } else { self.config.movable_node };
                    if movable { Zone::Movable } else { kernel }
                }
                OnlinePolicy::AutoMovable { ratio, .. } => self.auto_movable_zone(kernel, start, end, group, ratio),
            },
        }
    }

    /// `auto-movable`: ZONE_MOVABLE while MOVABLE:KERNEL stays within the
    /// ratio; in a dynamic group, the kernel zone if any online block of
    /// the current unit is in a kernel zone.
    fn auto_movable_zone(&self, kernel: Zone, start: u64, end: u64, group: Option<MemoryGroupId>, ratio: u64) -> Zone {
        let page = self.config.geometry.page_size;
        let mut kernel_pages = 0u64;
        let mut movable_pages = 0u64;
        for (z, c) in self.pages.all_counts() {
            if z == Zone::Movable {
                movable_pages += c.present;
            } else {
                kernel_pages += c.present;
            }
        }
        if let Some(g) = group.and_then(|g| self.groups.get(g.0 as usize).copied().flatten()) {
            let unit = g.unit_pages * page;
            let (us, ue) = (start - start % unit, start - start % unit + unit);
            let mb = self.config.geometry.memory_block_size;
            let kernel_in_unit = self
                .blocks
                .range(us / mb..ue / mb)
                .any(|(_, b)| b.state == BlockState::Online && b.zone.is_some_and(|z| !z.is_movable()));
            if kernel_in_unit {
                return kernel;
            }
            kernel_pages += g.present_kernel_pages;
        }
        let new = (end - start) / page;
        if (movable_pages + new) * 100 <= ratio * kernel_pages { Zone::Movable } else { kernel }
    }

    // ----- onlining and offlining ---------------------------------------

    fn notify(
        &mut self,
        hooks: &mut dyn HotplugHooks,
        event: MemoryEvent,
        id: u64,
        zone: Option<Zone>,
    ) -> NotifyResult {
        let g = self.config.geometry;
        let n = MemoryNotify { event, start_pfn: id * g.pages_per_block(), nr_pages: g.pages_per_block(), zone };
        let mut ops = Ops { pages: &mut self.pages, zone, log: &mut self.log };
        hooks.memory_notify(&n, &mut ops)
    }

    /// Onlines block `id` with online type `t` (M21): the hooks may veto
    /// and decide which chunks reach the allocator.
    pub fn online_block(&mut self, id: u64, t: OnlineType, hooks: &mut dyn HotplugHooks) -> Result<(), Errno> {
        let g = self.config.geometry;
        let Some(block) = self.blocks.get(&id).cloned() else { return Err(Errno::EINVAL) };
        if block.state != BlockState::Offline || t == OnlineType::Offline {
            return Err(Errno::EINVAL);
        }
        let (start, end) = (id * g.memory_block_size, (id + 1) * g.memory_block_size);
        let zone = self.zone_for(t, start, end, block.group);
        let r = self.notify(hooks, MemoryEvent::PrepareOnline, id, Some(zone));
        if let Some(e) = r.errno() {
            return Err(e);
        }
        let r = self.notify(hooks, MemoryEvent::GoingOnline, id, Some(zone));
        if let Some(e) = r.errno() {
            self.notify(hooks, MemoryEvent::CancelOnline, id, Some(zone));
            return Err(e);
        }
        // Hand the pages out in naturally aligned chunks, ascending.
        let first = start / g.page_size;
        let last = end / g.page_size;
        let max_order = g.max_order();
        let hook = self.hook_users > 0;
        let mut pfn = first;
        while pfn < last {
            let order = chunk_order(pfn, last - pfn, max_order);
            let mut ops = Ops { pages: &mut self.pages, zone: Some(zone), log: &mut self.log };
            if !(hook && hooks.online_page(pfn, order, &mut ops)) {
                ops.online_to_allocator(pfn, order);
            }
            pfn += 1 << order;
        }
        if let Some(b) = self.blocks.get_mut(&id) {
            b.state = BlockState::Online;
            b.zone = Some(zone);
        }
        self.zone_blocks[zone_index(zone)].insert(id);
        self.group_account(block.group, zone, g.pages_per_block(), true);
        self.notify(hooks, MemoryEvent::Online, id, Some(zone));
        Ok(())
    }

    fn group_account(&mut self, group: Option<MemoryGroupId>, zone: Zone, pages: u64, add: bool) {
        let Some(g) = group.and_then(|g| self.groups.get_mut(g.0 as usize)).and_then(Option::as_mut) else {
            return;
        };
        let counter = if zone.is_movable() { &mut g.present_movable_pages } else { &mut g.present_kernel_pages };
        if add {
            *counter += pages;
        } else {
            *counter = counter.saturating_sub(pages);
        }
    }

    /// Offlines block `id` (M24): notifies, migrates movable pages away,
    /// fails on unmovable ones.
    pub fn offline_block(&mut self, id: u64, hooks: &mut dyn HotplugHooks) -> Result<(), Errno> {
        let g = self.config.geometry;
        let Some(block) = self.blocks.get(&id).cloned() else { return Err(Errno::EINVAL) };
        let Some(zone) = block.zone.filter(|_| block.state == BlockState::Online) else {
            // Offline already, or in several zones.
            return Err(Errno::EINVAL);
        };
        let (first, last) = (id * g.pages_per_block(), (id + 1) * g.pages_per_block());
        self.set_block_state(id, BlockState::GoingOffline);
        let r = self.notify(hooks, MemoryEvent::GoingOffline, id, Some(zone));
        if let Some(e) = r.errno() {
            self.notify(hooks, MemoryEvent::CancelOffline, id, Some(zone));
            self.set_block_state(id, BlockState::Online);
            return Err(e);
        }
        let result = match self.inject.offline.pop() {
            Some(e) => Err(e),
            None => self.evacuate(first, last),
        };
        if let Err(e) = result {
            self.notify(hooks, MemoryEvent::CancelOffline, id, Some(zone));
            self.set_block_state(id, BlockState::Online);
            return Err(e);
        }
        self.pages.remove(first, last);
        self.zone_blocks[zone_index(zone)].remove(&id);
        self.group_account(block.group, zone, g.pages_per_block(), false);
        if let Some(b) = self.blocks.get_mut(&id) {
            b.state = BlockState::Offline;
            b.zone = None;
        }
        self.notify(hooks, MemoryEvent::Offline, id, Some(zone));
        self.notify(hooks, MemoryEvent::FinishOffline, id, Some(zone));
        Ok(())
    }

    fn set_block_state(&mut self, id: u64, state: BlockState) {
        if let Some(b) = self.blocks.get_mut(&id) {
            b.state = state;
        }
    }

    /// Empties `[first, last)` for offlining: unmovable pages (kernel
    /// memory, pages taken or still referenced by a driver, unmovable
    /// allocations) fail it with -EBUSY; movable ones migrate out (-ENOMEM
    /// when nothing can take them).
    fn evacuate(&mut self, first: Pfn, last: Pfn) -> Result<(), Errno> {
        let runs = self.pages.runs(first, last);
        for r in &runs {
            match r.state {
                PageState::Kernel | PageState::Taken | PageState::DriverOwned { referenced: true, .. } => {
                    return Err(Errno::EBUSY);
                }
                PageState::Used { alloc, .. } if !self.allocation_movable(alloc) => return Err(Errno::EBUSY),
                _ => {}
            }
        }
        self.migrate_out(&runs, (first, last))
    }

    fn allocation_movable(&self, alloc: u32) -> bool {
        self.allocations.get(&alloc).is_some_and(|a| a.movable)
    }

    /// Moves every used run of `runs` to free pages outside `exclude`,
    /// copying contents page by page. All or nothing.
    pub(crate) fn migrate_out(&mut self, runs: &[Run], exclude: (Pfn, Pfn)) -> Result<(), Errno> {
        let used: Vec<Run> = runs.iter().filter(|r| matches!(r.state, PageState::Used { .. })).copied().collect();
        let need: u64 = used.iter().map(|r| r.end - r.start).sum();
        if need == 0 {
            return Ok(());
        }
        let mut targets = self.free_targets(&MOVABLE_ZONES, exclude, need).ok_or(Errno::ENOMEM)?;
        let page = self.config.geometry.page_size;
        for r in used {
            let PageState::Used { alloc, virt } = r.state else { continue };
            let mut from = r.start;
            while from < r.end {
                let Some((t_start, t_end)) = targets.first_mut().map(|t| (t.0, t.1)) else {
                    return Err(Errno::ENOMEM);
                };
                let n = (t_end - t_start).min(r.end - from);
                for i in 0..n {
                    let mut buf = [0u8; 16];
                    self.mem.read((from + i) * page, &mut buf);
                    self.mem.write((t_start + i) * page, &buf);
                }
                let v = virt + (from - r.start);
                let _ = self.pages.set(t_start, t_start + n, PageState::Used { alloc, virt: v });
                let _ = self.pages.set(from, from + n, PageState::Free);
                targets[0].0 += n;
                if targets[0].0 == targets[0].1 {
                    targets.remove(0);
                }
                from += n;
            }
        }
        Ok(())
    }

    /// Free runs for `need` pages in the zones' order, outside `exclude`.
    fn free_targets(&self, zones: &[Zone], exclude: (Pfn, Pfn), need: u64) -> Option<Vec<(Pfn, Pfn)>> {
        let mut out = Vec::new();
        let mut got = 0;
        let chunk = self.config.geometry.pageblock_size / self.config.geometry.page_size;
        for &z in zones {
            let mut runs = self.pages.free_runs(z, exclude);
            match self.alloc_order {
                AllocOrder::LowestFirst => {}
                AllocOrder::HighestFirst => runs.reverse(),
                AllocOrder::Seeded(seed) => {
                    // Pageblock-sized pieces in a pseudo-random order: the
                    // same seed (and the same history) gives the same pages.
                    let mut pieces: Vec<(Pfn, Pfn)> = Vec::new();
                    for (s, e) in runs {
                        let mut at = s;
                        while at < e {
                            let to = ((at / chunk) + 1).saturating_mul(chunk).min(e);
                            pieces.push((at, to));
                            at = to;
                        }
                    }
                    let mut state = seed ^ u64::from(self.next_alloc).rotate_left(32) ^ need;
                    for i in (1..pieces.len()).rev() {
                        let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
                        pieces.swap(i, j);
                    }
                    runs = pieces;
                }
            }
            for (s, e) in runs {
                let take = (e - s).min(need - got);
                if self.alloc_order == AllocOrder::HighestFirst {
                    out.push((e - take, e));
                } else {
                    out.push((s, s + take));
                }
                got += take;
                if got == need {
                    return Some(out);
                }
            }
        }
        None
    }

    /// Onlines a block with its default online type if that is not
    /// `offline` (auto-online after an add).
    pub(crate) fn auto_online(&mut self, id: u64, hooks: &mut dyn HotplugHooks) -> Result<(), Errno> {
        match self.online_type {
            OnlineType::Offline => Ok(()),
            t => self.online_block(id, t, hooks),
        }
    }

    /// A sysfs write to `memoryN/state` (M22).
    pub fn write_state(&mut self, id: u64, text: &str, hooks: &mut dyn HotplugHooks) -> Result<(), Errno> {
        let t = OnlineType::parse(text).ok_or(Errno::EINVAL)?;
        match t {
            OnlineType::Offline => self.offline_block(id, hooks),
            t => self.online_block(id, t, hooks),
        }
    }

    // ----- adding and removing -------------------------------------------

    /// Adds a memory block device for `id` (offline).
    pub(crate) fn create_block(&mut self, id: u64, group: Option<MemoryGroupId>, nid: u32) {
        self.blocks.insert(id, MemoryBlock { id, state: BlockState::Offline, zone: None, boot: false, group, nid });
    }

    /// `remove_memory` (M25).
    pub fn remove_memory(&mut self, start: u64, size: u64) -> Result<(), Errno> {
        let mb = self.config.geometry.memory_block_size;
        if size == 0 || start % mb != 0 || size % mb != 0 {
            return Err(Errno::EINVAL);
        }
        let ids = start / mb..(start + size) / mb;
        if let Some(b) = self.blocks.range(ids.clone()).map(|(_, b)| b).find(|b| b.state != BlockState::Offline) {
            let (s, e) = (b.id * mb, (b.id + 1) * mb - 1);
            self.push_log(
                LogLevel::Warn,
                "",
                format_args!("removing memory fails, because memory [{s:#010x}-{e:#010x}] is onlined"),
            );
            return Err(Errno::EBUSY);
        }
        for id in ids {
            self.blocks.remove(&id);
        }
        self.tree.release_mem_region_adjustable(start, size);
        Ok(())
    }

    /// `offline_and_remove_memory` (M26).
    pub fn offline_and_remove_memory(
        &mut self,
        start: u64,
        size: u64,
        hooks: &mut dyn HotplugHooks,
    ) -> Result<(), Errno> {
        let mb = self.config.geometry.memory_block_size;
        if size == 0 || start % mb != 0 || size % mb != 0 {
            return Err(Errno::EINVAL);
        }
        let mut done: Vec<(u64, Zone)> = Vec::new();
        for id in start / mb..(start + size) / mb {
            let Some(b) = self.blocks.get(&id) else { continue };
            if b.state == BlockState::Offline {
                continue;
            }
            let zone = b.zone;
            match self.offline_block(id, hooks) {
                Ok(()) => done.push((id, zone.unwrap_or(Zone::Normal))),
                Err(e) => {
                    for (id, zone) in done {
                        let t = if zone.is_movable() { OnlineType::OnlineMovable } else { OnlineType::OnlineKernel };
                        let _ = self.online_block(id, t, hooks);
                    }
                    return Err(e);
                }
            }
        }
        self.remove_memory(start, size)
    }

    // ----- the guest's own memory use -----------------------------------

    /// The guest allocates `pages` pages (a program's memory if `movable`,
    /// kernel memory otherwise) and writes a tag into each. `None` if there
    /// is not enough free memory in the zones it may use.
    pub fn allocate(&mut self, pages: u64, movable: bool) -> Option<u32> {
        let zones: &[Zone] = if movable { &MOVABLE_ZONES } else { &KERNEL_ZONES };
        let targets = self.free_targets(zones, (0, 0), pages)?;
        let id = self.next_alloc;
        self.next_alloc += 1;
        self.allocations.insert(id, Allocation { pages, movable });
        let page = self.config.geometry.page_size;
        let mut virt = 0;
        for (s, e) in targets {
            for pfn in s..e {
                self.mem.write(pfn * page, &tag(id, virt + pfn - s));
            }
            let _ = self.pages.set(s, e, PageState::Used { alloc: id, virt });
            virt += e - s;
        }
        Some(id)
    }

    /// Frees an allocation.
    pub fn free_allocation(&mut self, id: u32) -> bool {
        if self.allocations.remove(&id).is_none() {
            return false;
        }
        let runs: Vec<Run> =
            self.pages.iter().filter(|r| matches!(r.state, PageState::Used { alloc, .. } if alloc == id)).collect();
        for r in runs {
            let _ = self.pages.set(r.start, r.end, PageState::Free);
        }
        true
    }

    /// The live allocations.
    pub fn allocations(&self) -> impl Iterator<Item = (u32, Allocation)> + '_ {
        self.allocations.iter().map(|(i, a)| (*i, *a))
    }

    /// Checks that every page of every allocation still holds what the
    /// guest wrote, and that no allocation lost a page.
    pub fn verify_contents(&mut self) -> Result<(), ContentError> {
        let page = self.config.geometry.page_size;
        let mut found: BTreeMap<u32, u64> = BTreeMap::new();
        let runs: Vec<Run> = self.pages.iter().filter(|r| matches!(r.state, PageState::Used { .. })).collect();
        for r in runs {
            let PageState::Used { alloc, virt } = r.state else { continue };
            *found.entry(alloc).or_default() += r.end - r.start;
            for pfn in r.start..r.end {
                let mut buf = [0u8; 16];
                self.mem.read(pfn * page, &mut buf);
                let v = virt + pfn - r.start;
                if buf != tag(alloc, v) {
                    return Err(ContentError::WrongContents { pfn, alloc, virt: v });
                }
            }
        }
        for (id, a) in &self.allocations {
            let n = found.get(id).copied().unwrap_or(0);
            if n != a.pages {
                return Err(ContentError::LostPages { alloc: *id, found: n, expected: a.pages });
            }
        }
        Ok(())
    }

    // ----- sysfs -------------------------------------------------------------

    /// `valid_zones` of a block (M28).
    pub fn valid_zones(&self, id: u64) -> Option<String> {
        let b = self.blocks.get(&id)?;
        let mb = self.config.geometry.memory_block_size;
        if b.state != BlockState::Offline {
            return Some(b.zone.map_or_else(|| String::from("none"), |z| String::from(z.name())));
        }
        let (start, end) = (id * mb, (id + 1) * mb);
        let default = self.zone_for(OnlineType::Online, start, end, b.group);
        let mut text = String::from(default.name());
        for t in [OnlineType::OnlineKernel, OnlineType::OnlineMovable] {
            let z = self.zone_for(t, start, end, b.group);
            if z != default {
                text.push(' ');
                text.push_str(z.name());
            }
        }
        Some(text)
    }

    /// The sysfs files of the memory subsystem, as the kernel prints them
    /// (every value followed by a newline).
    pub fn sysfs(&self) -> SysfsView {
        let mb = self.config.geometry.memory_block_size;
        SysfsView {
            block_size_bytes: alloc::format!("{mb:x}\n"),
            auto_online_blocks: alloc::format!("{}\n", self.online_type.name()),
            blocks: self
                .blocks
                .values()
                .map(|b| SysfsBlock {
                    id: b.id,
                    state: alloc::format!("{}\n", b.state.name()),
                    phys_index: alloc::format!("{:08x}\n", b.id),
                    valid_zones: alloc::format!("{}\n", self.valid_zones(b.id).unwrap_or_default()),
                })
                .collect(),
        }
    }

    /// The busy System RAM resources in `[start, start + size)`.
    pub(crate) fn ram_resources_within(&self, start: u64, size: u64) -> bool {
        let mut any = false;
        let end = start.saturating_add(size).saturating_sub(1);
        self.tree.walk_iomem_res_desc::<()>(Desc::NONE, Flags::SYSTEM_RAM | Flags::BUSY, start, end, |_| {
            any = true;
            core::ops::ControlFlow::Break(())
        });
        any
    }
}

/// The largest order `<= max_order` of a naturally aligned chunk at `pfn`
/// that fits in `remaining` pages.
pub(crate) fn chunk_order(pfn: Pfn, remaining: u64, max_order: u32) -> u32 {
    let align = if pfn == 0 { u32::MAX } else { pfn.trailing_zeros() };
    let fit = 63 - remaining.leading_zeros();
    align.min(fit).min(max_order)
}
