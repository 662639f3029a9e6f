//! [`Os`] for [`HotplugSystem`]: what the virtio-mem driver asks of the
//! kernel, answered by the hotplug layer, its page allocator and its iomem
//! tree.

use core::fmt;

use iomem::Flags;
use virtio_mem_driver::{
    AddTarget, DeviceId, Errno, Geometry, HotplugHooks, LogLevel, MemoryGroupId, Numa, OnlineSummary, Os, Pfn,
    RegionClaim, Zone,
};

use crate::blocks::{BlockState, MemoryGroup};
use crate::memory::PhysMemory;
use crate::pages::PageState;
use crate::system::HotplugSystem;

impl<M: PhysMemory> Os for HotplugSystem<M> {
    fn geometry(&self) -> Geometry {
        self.config.geometry
    }

    fn pluggable_range(&self) -> (u64, u64) {
        self.config.pluggable
    }

    fn numa(&self) -> Numa {
        self.numa
    }

    fn node_of_pxm(&self, _pxm: u16) -> Option<u32> {
        // One node: every proximity domain maps to it.
        Some(0)
    }

    fn node_of_addr(&self, _addr: u64) -> u32 {
        0
    }

    fn is_kdump_kernel(&self) -> bool {
        self.kdump
    }

    fn has_vmcore(&self) -> bool {
        self.vmcore
    }

    fn claim_device_region(
        &mut self,
        start: u64,
        size: u64,
        name: &str,
        exclusive: bool,
    ) -> Result<RegionClaim, Errno> {
        let flags = if exclusive { Flags::SYSTEM_RAM | Flags::EXCLUSIVE } else { Flags::SYSTEM_RAM };
        let root = self.tree.iomem_root();
        let id = self.tree.request_region(root, start, size, name, flags).map_err(|_| Errno::EBUSY)?;
        // BUSY is cleared at once so that memory can be added inside
        // (§11.1).
        let requested = self.tree.get(id).map_or(flags, |v| v.flags);
        let _ = self.tree.set_flags(id, requested - Flags::BUSY);
        let claim = self.next_claim;
        self.next_claim += 1;
        self.claims.insert(claim, id);
        Ok(RegionClaim(claim))
    }

    fn release_device_region(&mut self, claim: RegionClaim) {
        if let Some(id) = self.claims.remove(&claim.0) {
            if self.tree.release_resource(id).is_ok() {
                let _ = self.tree.free(id);
            }
        }
    }

    fn system_ram_added_within(&self, start: u64, size: u64) -> bool {
        self.ram_resources_within(start, size)
    }

    fn register_memory_group(&mut self, nid: u32, unit_pages: u64) -> Result<MemoryGroupId, Errno> {
        let pages_per_block = self.config.geometry.pages_per_block();
        if unit_pages == 0 || !unit_pages.is_power_of_two() || unit_pages < pages_per_block {
            return Err(Errno::EINVAL);
        }
        self.groups.push(Some(MemoryGroup { nid, unit_pages, present_kernel_pages: 0, present_movable_pages: 0 }));
        Ok(MemoryGroupId(self.groups.len() as u32 - 1))
    }

    fn unregister_memory_group(&mut self, group: MemoryGroupId) {
        if let Some(slot) = self.groups.get_mut(group.0 as usize) {
            *slot = None;
        }
    }

    fn add_memory_driver_managed(
        &mut self,
        target: AddTarget,
        start: u64,
        size: u64,
        name: &str,
        merge: bool,
        hooks: &mut dyn HotplugHooks,
    ) -> Result<(), Errno> {
        // M7: the name's form.
        if !name.starts_with("System RAM (") || !name.ends_with(')') {
            return Err(Errno::EINVAL);
        }
        if let Some(e) = self.inject.add_memory.pop() {
            return Err(e);
        }
        // M9 with M6: the resource, inside the pluggable range.
        let (lo, hi) = self.config.pluggable;
        let last = start.checked_add(size).and_then(|e| e.checked_sub(1)).ok_or(Errno::EINVAL)?;
        if start < lo || last > hi {
            self.push_log(
                LogLevel::Warn,
                "",
                format_args!(
                    "Hotplug memory [{start:#x}-{:#x}] exceeds maximum addressable range [{lo:#x}-{:#x}]",
                    last + 1,
                    hi + 1
                ),
            );
            return Err(Errno::E2BIG);
        }
        let mut flags = Flags::SYSTEM_RAM | Flags::BUSY;
        if name != "System RAM" {
            flags |= Flags::SYSRAM_DRIVER_MANAGED;
        }
        let root = self.tree.iomem_root();
        let res = self.tree.request_region(root, start, size, name, flags).map_err(|_| Errno::EEXIST)?;
        let release = |s: &mut Self| {
            if s.tree.release_resource(res).is_ok() {
                let _ = s.tree.free(res);
            }
        };
        // M10: whole memory blocks.
        let mb = self.config.geometry.memory_block_size;
        if size == 0 || start % mb != 0 || size % mb != 0 {
            self.push_log(
                LogLevel::Err,
                "",
                format_args!("Block size [{mb:#x}] unaligned hotplug range: start {start:#x}, size {size:#x}"),
            );
            release(self);
            return Err(Errno::EINVAL);
        }
        // M11: the group.
        let (group, nid) = match target {
            AddTarget::Group(g) => match self.groups.get(g.0 as usize).copied().flatten() {
                Some(gr) => (Some(g), gr.nid),
                None => {
                    release(self);
                    return Err(Errno::EINVAL);
                }
            },
            AddTarget::Node(n) => (None, n),
        };
        // M13: block devices, offline. M40: the end of memory.
        for id in start / mb..(start + size) / mb {
            self.create_block(id, group, nid);
        }
        if self.config.raise_high_memory {
            self.high_memory = self.high_memory.max(start + size);
        }
        // M15.
        if merge {
            let _ = self.tree.merge_system_ram_resource(res);
        }
        // M16: auto-online, block by block, stopping at the first failure.
        for id in start / mb..(start + size) / mb {
            if self.auto_online(id, hooks).is_err() {
                break;
            }
        }
        Ok(())
    }

    fn remove_memory(&mut self, start: u64, size: u64) -> Result<(), Errno> {
        HotplugSystem::remove_memory(self, start, size)
    }

    fn offline_and_remove_memory(&mut self, start: u64, size: u64, hooks: &mut dyn HotplugHooks) -> Result<(), Errno> {
        HotplugSystem::offline_and_remove_memory(self, start, size, hooks)
    }

    fn online_summary(&self, start: u64, size: u64) -> OnlineSummary {
        let mb = self.config.geometry.memory_block_size;
        let mut s = OnlineSummary { any_online: false, online_all_movable: true };
        for (_, b) in self.blocks.range(start / mb..(start + size).div_ceil(mb)) {
            if b.state != BlockState::Offline {
                s.any_online = true;
                if b.zone != Some(Zone::Movable) {
                    s.online_all_movable = false;
                }
            }
        }
        s
    }

    fn zone_of(&self, pfn: Pfn) -> Option<Zone> {
        self.pages.page(pfn).map(|(_, z)| z)
    }

    fn alloc_contig_range(&mut self, pfn: Pfn, nr_pages: u64) -> Result<(), Errno> {
        if let Some(e) = self.inject.alloc_contig.pop() {
            return Err(e);
        }
        let end = pfn + nr_pages;
        if self.pages.first_hole(pfn, end).is_some() {
            return Err(Errno::EINVAL);
        }
        let runs = self.pages.runs(pfn, end);
        for r in &runs {
            match r.state {
                PageState::Free => {}
                PageState::Used { alloc, .. } if self.allocations.get(&alloc).is_some_and(|a| a.movable) => {}
                _ => return Err(Errno::EBUSY),
            }
        }
        self.migrate_out(&runs, (pfn, end))?;
        let _ = self.pages.set(pfn, end, PageState::Taken);
        Ok(())
    }

    fn take_pages_offline(&mut self, pfn: Pfn, nr_pages: u64) {
        let state = PageState::DriverOwned { referenced: true, never_onlined: false };
        let _ = self.pages.set(pfn, pfn + nr_pages, state);
    }

    fn fake_online_chunk(&mut self, pfn: Pfn, order: u32) {
        let end = pfn + (1 << order);
        for r in self.pages.runs(pfn, end) {
            if matches!(r.state, PageState::DriverOwned { .. }) {
                let _ = self.pages.set(r.start, r.end, PageState::Free);
            }
        }
    }

    fn install_online_page_callback(&mut self) -> Result<(), Errno> {
        if self.foreign_hook {
            return Err(Errno::EINVAL);
        }
        self.hook_users += 1;
        Ok(())
    }

    fn restore_online_page_callback(&mut self) {
        self.hook_users = self.hook_users.saturating_sub(1);
    }

    fn arm_timer(&mut self, device: DeviceId, ms: u64) {
        let at = self.now_ms.saturating_add(ms);
        self.timers.insert(device, at);
    }

    fn cancel_timer(&mut self, device: DeviceId) {
        self.timers.remove(&device);
    }

    fn log(&mut self, level: LogLevel, device: &str, message: fmt::Arguments<'_>) {
        self.push_log(level, device, message);
    }
}
