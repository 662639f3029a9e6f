//! The kernel's callbacks into the driver: the memory notifier (§8.7, §9.5)
//! and the online-page hook (§8.6). They see the driver's [`Core`] only.

use crate::core::{Core, Mode};
use crate::os::{HotplugHooks, LogLevel, MemoryEvent, MemoryNotify, NotifyResult, PageOps, Pfn};
use crate::state::{BbmState, SbmState};

impl Core {
    fn page(&self) -> u64 {
        self.geometry.page_size
    }

    /// SBM: the memory block of a notification, which must be exactly one
    /// aligned memory block.
    fn sbm_block_of(&self, start: u64, size: u64) -> Option<u64> {
        let mb = self.geometry.memory_block_size;
        (size == mb && start % mb == 0).then_some(start / mb)
    }

    /// BBM: the big block of a notification, which must lie in one.
    fn bbm_block_of(&self, start: u64, size: u64) -> Option<u64> {
        let bb = self.bbm()?.bb_size;
        let last = start.checked_add(size)?.checked_sub(1)?;
        (start / bb == last / bb).then_some(start / bb)
    }

    /// The SBM state an onlined block moves to (zone of its first page).
    fn online_state(&self, state: SbmState, movable: bool) -> SbmState {
        let movable = movable && self.rules.zone_split;
        match (state, movable) {
            (SbmState::Offline, true) => SbmState::Movable,
            (SbmState::Offline, false) => SbmState::Kernel,
            (SbmState::OfflinePartial, true) => SbmState::MovablePartial,
            (SbmState::OfflinePartial, false) => SbmState::KernelPartial,
            (s, _) => s,
        }
    }

    /// Applies `f` to every unplugged sub-block's pages of SBM block `mb`.
    fn for_each_unplugged_sb(&self, mb: u64, mut f: impl FnMut(Pfn, u64)) {
        let Some(s) = self.sbm() else { return };
        let i = mb - s.states.first;
        let base = mb * self.geometry.memory_block_size;
        let pages = s.sb_size / self.page();
        for sb in 0..s.sbs_per_mb {
            if !s.bits.plugged(i, sb) {
                f((base + sb * s.sb_size) / self.page(), pages);
            }
        }
    }

    fn sbm_notify(&mut self, n: &MemoryNotify, mb: u64, pages: &mut dyn PageOps) -> NotifyResult {
        let size = n.nr_pages * self.page();
        match n.event {
            MemoryEvent::GoingOffline => {
                if self.removing {
                    return NotifyResult::Veto(iomem::Errno::EBUSY);
                }
                self.hotplug_active = true;
                self.for_each_unplugged_sb(mb, |pfn, nr| pages.drop_offline_refs(pfn, nr));
                NotifyResult::Ok
            }
            MemoryEvent::GoingOnline => {
                if self.removing {
                    return NotifyResult::Veto(iomem::Errno::EBUSY);
                }
                self.hotplug_active = true;
                let state = self.sbm().map_or(SbmState::Unused, |s| s.states.get(mb));
                if matches!(state, SbmState::Offline | SbmState::OfflinePartial) {
                    NotifyResult::Ok
                } else {
                    pages.log(LogLevel::Warn, &self.name, format_args!("memory block onlining denied"));
                    NotifyResult::Bad
                }
            }
            MemoryEvent::Offline => {
                if let Some(s) = self.sbm_mut() {
                    let next = match s.states.get(mb) {
                        SbmState::Kernel | SbmState::Movable => SbmState::Offline,
                        SbmState::KernelPartial | SbmState::MovablePartial => SbmState::OfflinePartial,
                        other => other,
                    };
                    s.states.set(mb, next);
                }
                self.offline_size += size;
                if !self.params.unplug_online {
                    self.queue_work();
                }
                self.hotplug_active = false;
                NotifyResult::Ok
            }
            MemoryEvent::Online => {
                let movable = n.zone.is_some_and(|z| z.is_movable());
                let state = self.sbm().map_or(SbmState::Unused, |s| s.states.get(mb));
                let next = self.online_state(state, movable);
                if let Some(s) = self.sbm_mut() {
                    s.states.set(mb, next);
                }
                self.after_online(size);
                NotifyResult::Ok
            }
            MemoryEvent::CancelOffline => {
                if self.hotplug_active {
                    self.for_each_unplugged_sb(mb, |pfn, nr| pages.take_offline_refs(pfn, nr));
                    self.hotplug_active = false;
                }
                NotifyResult::Ok
            }
            MemoryEvent::CancelOnline => {
                self.hotplug_active = false;
                NotifyResult::Ok
            }
            MemoryEvent::PrepareOnline | MemoryEvent::FinishOffline => NotifyResult::Ok,
        }
    }

    fn bbm_notify(&mut self, n: &MemoryNotify, bb: u64, pages: &mut dyn PageOps) -> NotifyResult {
        let size = n.nr_pages * self.page();
        let fake_offline = self.bbm().is_some_and(|b| b.states.get(bb) == BbmState::FakeOffline);
        match n.event {
            MemoryEvent::GoingOffline => {
                if self.removing {
                    return NotifyResult::Veto(iomem::Errno::EBUSY);
                }
                self.hotplug_active = true;
                if fake_offline {
                    pages.drop_offline_refs(n.start_pfn, n.nr_pages);
                }
                NotifyResult::Ok
            }
            MemoryEvent::GoingOnline => {
                if self.removing {
                    return NotifyResult::Veto(iomem::Errno::EBUSY);
                }
                self.hotplug_active = true;
                NotifyResult::Ok
            }
            MemoryEvent::Offline => {
                self.offline_size += size;
                if !self.params.unplug_online {
                    self.queue_work();
                }
                self.hotplug_active = false;
                NotifyResult::Ok
            }
            MemoryEvent::Online => {
                self.after_online(size);
                NotifyResult::Ok
            }
            MemoryEvent::CancelOffline => {
                if self.hotplug_active {
                    if fake_offline {
                        pages.take_offline_refs(n.start_pfn, n.nr_pages);
                    }
                    self.hotplug_active = false;
                }
                NotifyResult::Ok
            }
            MemoryEvent::CancelOnline => {
                self.hotplug_active = false;
                NotifyResult::Ok
            }
            MemoryEvent::PrepareOnline | MemoryEvent::FinishOffline => NotifyResult::Ok,
        }
    }

    /// MEM_ONLINE's accounting and re-trigger (§7): once half the threshold
    /// is free again, and not while the worker itself is adding.
    fn after_online(&mut self, size: u64) {
        self.offline_size = self.offline_size.saturating_sub(size);
        if !self.wq_active && self.could_add(self.offline_threshold / 2) {
            self.queue_work();
        }
        self.hotplug_active = false;
    }
}

impl HotplugHooks for Core {
    fn memory_notify(&mut self, n: &MemoryNotify, pages: &mut dyn PageOps) -> NotifyResult {
        let start = n.start_pfn * self.page();
        let size = n.nr_pages * self.page();
        if matches!(self.mode, Mode::None | Mode::Kdump) || !self.overlaps(start, size) {
            return NotifyResult::Done;
        }
        let block = match &self.mode {
            Mode::Sbm(_) => self.sbm_block_of(start, size),
            _ => self.bbm_block_of(start, size),
        };
        let Some(block) = block else {
            pages.log(
                LogLevel::Warn,
                &self.name,
                format_args!("unexpected memory notification for [{start:#x}, {:#x})", start + size),
            );
            return NotifyResult::Bad;
        };
        match &self.mode {
            Mode::Sbm(_) => self.sbm_notify(n, block, pages),
            _ => self.bbm_notify(n, block, pages),
        }
    }

    fn online_page(&mut self, pfn: Pfn, order: u32, pages: &mut dyn PageOps) -> bool {
        let page = self.page();
        let start = pfn * page;
        let size = page << order;
        if !self.hook_installed || !self.contains(start, size) {
            return false;
        }
        match &self.mode {
            Mode::Sbm(s) => {
                let mb_size = self.geometry.memory_block_size;
                let mb = start / mb_size;
                let i = mb - s.states.first;
                let sb = (start - mb * mb_size) / s.sb_size;
                let last_sb = (start + size - 1 - mb * mb_size) / s.sb_size;
                let count = last_sb - sb + 1;
                if s.bits.all_plugged(i, sb, count) {
                    pages.online_to_allocator(pfn, order);
                } else if count == 1 || s.bits.all_unplugged(i, sb, count) {
                    pages.keep_offline(pfn, order);
                } else {
                    // Mixed: per sub-block.
                    let sb_order = (s.sb_size / page).trailing_zeros();
                    for k in 0..count {
                        let sub_pfn = pfn + k * (s.sb_size / page);
                        if s.bits.plugged(i, sb + k) {
                            pages.online_to_allocator(sub_pfn, sb_order);
                        } else {
                            pages.keep_offline(sub_pfn, sb_order);
                        }
                    }
                }
            }
            Mode::Bbm(b) => {
                if b.states.get(start / b.bb_size) == BbmState::FakeOffline {
                    pages.keep_offline(pfn, order);
                } else {
                    pages.online_to_allocator(pfn, order);
                }
            }
            _ => pages.online_to_allocator(pfn, order),
        }
        true
    }
}
