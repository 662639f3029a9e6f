//! Sub Block Mode: plugging (§8.3), unplugging (§8.4), removing unplugged
//! blocks (§8.4.1) and cleaning up leftovers (§8.5).

use virtio_mem::VirtioMemTransport;

use crate::driver::{VirtioMemDriver, dev_log};
use crate::os::{AddTarget, Errno, Os};
use crate::state::SbmState;

/// The name of the memory the driver adds (one name per device: merging
/// compares the name object, §11.2).
pub const RESOURCE_NAME: &str = "System RAM (virtio_mem)";

/// Unplug visits the states in this order (§8.4): partial blocks first, to
/// free whole blocks; movable before kernel.
const UNPLUG_ORDER: [SbmState; 6] = [
    SbmState::OfflinePartial,
    SbmState::Offline,
    SbmState::MovablePartial,
    SbmState::KernelPartial,
    SbmState::Movable,
    SbmState::Kernel,
];

impl<T: VirtioMemTransport> VirtioMemDriver<T> {
    fn sbm_geometry(&self) -> (u64, u64, u64) {
        let s = self.core.sbm().expect("called in Sub Block Mode");
        (self.core.geometry.memory_block_size, s.sb_size, s.sbs_per_mb)
    }

    fn sbm_state(&self, mb: u64) -> SbmState {
        self.core.sbm().map_or(SbmState::Unused, |s| s.states.get(mb))
    }

    fn sbm_set_state(&mut self, mb: u64, state: SbmState) {
        if let Some(s) = self.core.sbm_mut() {
            s.states.set(mb, state);
        }
    }

    /// The block's index in the bitmap.
    fn sbm_index(&self, mb: u64) -> u64 {
        mb - self.core.sbm().map_or(0, |s| s.states.first)
    }

    fn sbm_mark(&mut self, mb: u64, sb: u64, count: u64, plugged: bool) {
        let i = self.sbm_index(mb);
        if let Some(s) = self.core.sbm_mut() {
            s.bits.set(i, sb, count, plugged);
        }
    }

    fn sbm_all_plugged(&self, mb: u64, sb: u64, count: u64) -> bool {
        let i = self.sbm_index(mb);
        self.core.sbm().is_some_and(|s| s.bits.all_plugged(i, sb, count))
    }

    fn sbm_all_unplugged(&self, mb: u64, sb: u64, count: u64) -> bool {
        let i = self.sbm_index(mb);
        self.core.sbm().is_none_or(|s| s.bits.all_unplugged(i, sb, count))
    }

    fn sbm_plugged(&self, mb: u64, sb: u64) -> bool {
        let i = self.sbm_index(mb);
        self.core.sbm().is_some_and(|s| s.bits.plugged(i, sb))
    }

    /// PLUG of `count` sub-blocks from `sb` of block `mb`, bits set on ACK.
    fn sbm_plug_sb(&mut self, mb: u64, sb: u64, count: u64) -> Result<(), Errno> {
        let (mbs, sbs, _) = self.sbm_geometry();
        self.send_plug(mb * mbs + sb * sbs, count * sbs)?;
        self.sbm_mark(mb, sb, count, true);
        Ok(())
    }

    /// UNPLUG of `count` sub-blocks from `sb` of block `mb`, bits cleared on
    /// ACK.
    fn sbm_unplug_sb(&mut self, mb: u64, sb: u64, count: u64) -> Result<(), Errno> {
        let (mbs, sbs, _) = self.sbm_geometry();
        self.send_unplug(mb * mbs + sb * sbs, count * sbs)?;
        self.sbm_mark(mb, sb, count, false);
        Ok(())
    }

    /// `virtio_mem_sbm_plug_request` (§8.3).
    pub(crate) fn sbm_plug_request(&mut self, os: &mut dyn Os, diff: u64) -> Result<(), Errno> {
        let (mbs, sbs, _) = self.sbm_geometry();
        let mut nb_sb = diff / sbs;
        if nb_sb == 0 {
            return Ok(());
        }
        // Phase 1: top up partially plugged, added blocks.
        for state in [SbmState::KernelPartial, SbmState::MovablePartial, SbmState::OfflinePartial] {
            let mut from = 0;
            while let Some(mb) = self.core.sbm().and_then(|s| s.states.first_in(state, from)) {
                from = mb + 1;
                self.sbm_plug_any_sb(os, mb, &mut nb_sb)?;
                if nb_sb == 0 {
                    return Ok(());
                }
            }
        }
        // Phase 2: reuse UNUSED blocks.
        let mut from = 0;
        while let Some(mb) = self.core.sbm().and_then(|s| s.states.first_in(SbmState::Unused, from)) {
            from = mb + 1;
            if !self.core.could_add(mbs) {
                return Err(Errno::ENOSPC);
            }
            self.sbm_plug_and_add_mb(os, mb, &mut nb_sb)?;
            if nb_sb == 0 {
                return Ok(());
            }
        }
        // Phase 3: new ids.
        while nb_sb > 0 {
            if !self.core.could_add(mbs) {
                return Err(Errno::ENOSPC);
            }
            let mb = self.sbm_prepare_next_mb()?;
            self.sbm_plug_and_add_mb(os, mb, &mut nb_sb)?;
        }
        Ok(())
    }

    /// Takes the next never-used id, if it is usable.
    fn sbm_prepare_next_mb(&mut self) -> Result<u64, Errno> {
        let s = self.core.sbm_mut().ok_or(Errno::EINVAL)?;
        if i128::from(s.states.next()) > s.last_usable {
            return Err(Errno::ENOSPC);
        }
        let id = s.states.push();
        let tracked = s.states.next() - s.states.first;
        s.bits.grow_to(tracked);
        Ok(id)
    }

    /// Plug-and-add of an UNUSED block (§8.3 step 3): always its first
    /// `count` sub-blocks; the state is set before adding, which may online
    /// the block at once.
    fn sbm_plug_and_add_mb(&mut self, os: &mut dyn Os, mb: u64, nb_sb: &mut u64) -> Result<(), Errno> {
        let (mbs, _, per_mb) = self.sbm_geometry();
        let count = (*nb_sb).min(per_mb);
        self.sbm_plug_sb(mb, 0, count)?;
        let state = if count == per_mb { SbmState::Offline } else { SbmState::OfflinePartial };
        self.sbm_set_state(mb, state);
        if let Err(e) = self.add_memory(os, mb * mbs, mbs) {
            let back = if self.sbm_unplug_sb(mb, 0, count).is_ok() { SbmState::Unused } else { SbmState::Plugged };
            self.sbm_set_state(mb, back);
            return Err(e);
        }
        *nb_sb -= count;
        Ok(())
    }

    /// `virtio_mem_add_memory`: counts the memory as offline first (it may
    /// be onlined inside the call), then `add_memory_driver_managed`.
    pub(crate) fn add_memory(&mut self, os: &mut dyn Os, addr: u64, size: u64) -> Result<(), Errno> {
        let target = match self.core.mgid {
            Some(g) => AddTarget::Group(g),
            None => AddTarget::Node(self.core.nid.unwrap_or(0)),
        };
        self.core.offline_size += size;
        let r = os.add_memory_driver_managed(target, addr, size, RESOURCE_NAME, true, &mut self.core);
        if let Err(e) = r {
            self.core.offline_size = self.core.offline_size.saturating_sub(size);
            dev_log!(os, self.core, Warn, "adding memory failed: -{}", e.value());
        }
        r
    }

    /// Plug-any-sb of an added, partially plugged block (§8.3 phase 1).
    fn sbm_plug_any_sb(&mut self, os: &mut dyn Os, mb: u64, nb_sb: &mut u64) -> Result<(), Errno> {
        let (mbs, sbs, per_mb) = self.sbm_geometry();
        let old = self.sbm_state(mb);
        let page = self.core.geometry.page_size;
        while *nb_sb > 0 {
            let i = self.sbm_index(mb);
            let Some(sb) = self.core.sbm().and_then(|s| s.bits.first_unplugged(i)) else { break };
            let mut count = 1;
            while count < *nb_sb && sb + count < per_mb && !self.sbm_plugged(mb, sb + count) {
                count += 1;
            }
            self.sbm_plug_sb(mb, sb, count)?;
            *nb_sb -= count;
            if old != SbmState::OfflinePartial {
                // The block is online: the new memory goes to the allocator.
                let pfn = (mb * mbs + sb * sbs) / page;
                self.fake_online(os, pfn, count * sbs / page);
            }
        }
        if self.sbm_all_plugged(mb, 0, per_mb) {
            self.sbm_set_state(mb, old.full());
        }
        Ok(())
    }

    /// `virtio_mem_sbm_unplug_request` (§8.4).
    pub(crate) fn sbm_unplug_request(&mut self, os: &mut dyn Os, diff: u64) -> Result<(), Errno> {
        let (_, sbs, _) = self.sbm_geometry();
        let mut nb_sb = diff / sbs;
        if nb_sb == 0 {
            return Ok(());
        }
        for (i, state) in UNPLUG_ORDER.into_iter().enumerate() {
            let mut below = u64::MAX;
            while let Some(mb) = self.core.sbm().and_then(|s| s.states.last_in(state, below)) {
                self.sbm_unplug_any_sb(os, mb, &mut nb_sb)?;
                if nb_sb == 0 {
                    return Ok(());
                }
                match mb.checked_sub(1) {
                    Some(b) => below = b,
                    None => break,
                }
            }
            if i == 1 && !self.core.params.unplug_online {
                return Ok(());
            }
        }
        if nb_sb > 0 { Err(Errno::EBUSY) } else { Ok(()) }
    }

    fn sbm_unplug_any_sb(&mut self, os: &mut dyn Os, mb: u64, nb_sb: &mut u64) -> Result<(), Errno> {
        match self.sbm_state(mb) {
            SbmState::Offline | SbmState::OfflinePartial => self.sbm_unplug_any_sb_offline(os, mb, nb_sb),
            _ => self.sbm_unplug_any_sb_online(os, mb, nb_sb),
        }
    }

    /// Runs of plugged sub-blocks from the top, one UNPLUG per run
    /// (the offline path, §8.4; also cleanup §8.5).
    fn sbm_unplug_runs_from_top(&mut self, mb: u64, nb_sb: &mut u64) -> Result<(), Errno> {
        let (_, _, per_mb) = self.sbm_geometry();
        let mut sb = per_mb;
        while *nb_sb > 0 && sb > 0 {
            // The next plugged sub-block below `sb`.
            let Some(top) = (0..sb).rev().find(|&i| self.sbm_plugged(mb, i)) else { break };
            let mut low = top;
            let mut count = 1;
            while count < *nb_sb && low > 0 && self.sbm_plugged(mb, low - 1) {
                low -= 1;
                count += 1;
            }
            self.sbm_unplug_sb(mb, low, count)?;
            *nb_sb -= count;
            sb = low;
        }
        Ok(())
    }

    /// An offline block: unplug directly (its memory is not in use).
    fn sbm_unplug_any_sb_offline(&mut self, os: &mut dyn Os, mb: u64, nb_sb: &mut u64) -> Result<(), Errno> {
        let (mbs, _, per_mb) = self.sbm_geometry();
        let r = self.sbm_unplug_runs_from_top(mb, nb_sb);
        if !self.sbm_all_plugged(mb, 0, per_mb) {
            self.sbm_set_state(mb, SbmState::OfflinePartial);
        }
        r?;
        if self.sbm_all_unplugged(mb, 0, per_mb) {
            // UNUSED first: a concurrent onlining attempt now fails.
            self.sbm_set_state(mb, SbmState::Unused);
            self.remove_memory_or_bug(os, mb * mbs, mbs);
        }
        Ok(())
    }

    /// `virtio_mem_remove_memory`: removing offline memory cannot fail.
    pub(crate) fn remove_memory_or_bug(&mut self, os: &mut dyn Os, addr: u64, size: u64) {
        match os.remove_memory(addr, size) {
            Ok(()) => {
                self.core.offline_size = self.core.offline_size.saturating_sub(size);
                self.core.queue_work();
            }
            Err(e) => {
                // The kernel would BUG() here; the model reports it loudly
                // and carries on.
                dev_log!(os, self.core, Err, "removing offline memory failed: -{}", e.value());
            }
        }
    }

    /// An online block: fake-offline then unplug, the whole block at once
    /// if possible, else single sub-blocks from the top (§8.4).
    fn sbm_unplug_any_sb_online(&mut self, os: &mut dyn Os, mb: u64, nb_sb: &mut u64) -> Result<(), Errno> {
        let (_, _, per_mb) = self.sbm_geometry();
        let mut whole = false;
        if *nb_sb >= per_mb && self.sbm_all_plugged(mb, 0, per_mb) {
            match self.sbm_unplug_sb_online(os, mb, 0, per_mb) {
                Ok(()) => {
                    *nb_sb -= per_mb;
                    whole = true;
                }
                Err(Errno::EBUSY) => {}
                Err(e) => return Err(e),
            }
        }
        if !whole {
            let mut sb = per_mb;
            while *nb_sb > 0 && sb > 0 {
                sb -= 1;
                if !self.sbm_plugged(mb, sb) {
                    continue;
                }
                match self.sbm_unplug_sb_online(os, mb, sb, 1) {
                    Ok(()) => *nb_sb -= 1,
                    Err(Errno::EBUSY) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if self.sbm_try_remove_unplugged_mb(os, mb).is_err() {
            if let Some(s) = self.core.sbm_mut() {
                s.have_unplugged_mb = true;
            }
        }
        Ok(())
    }

    /// Online unplug of a run: fake-offline, UNPLUG, and on failure give
    /// the pages back.
    fn sbm_unplug_sb_online(&mut self, os: &mut dyn Os, mb: u64, sb: u64, count: u64) -> Result<(), Errno> {
        let (mbs, sbs, _) = self.sbm_geometry();
        let page = self.core.geometry.page_size;
        let pfn = (mb * mbs + sb * sbs) / page;
        let nr = count * sbs / page;
        let old = self.sbm_state(mb);
        self.fake_offline(os, pfn, nr)?;
        if let Err(e) = self.sbm_unplug_sb(mb, sb, count) {
            self.fake_online(os, pfn, nr);
            return Err(e);
        }
        if matches!(old, SbmState::Kernel | SbmState::Movable) {
            self.sbm_set_state(mb, old.partial());
        }
        Ok(())
    }

    /// §8.4.1: a block with no plugged sub-block is offlined and removed.
    fn sbm_try_remove_unplugged_mb(&mut self, os: &mut dyn Os, mb: u64) -> Result<(), Errno> {
        let (mbs, _, per_mb) = self.sbm_geometry();
        if !self.sbm_all_unplugged(mb, 0, per_mb) {
            return Ok(());
        }
        self.offline_and_remove(os, mb * mbs, mbs)?;
        self.sbm_set_state(mb, SbmState::Unused);
        Ok(())
    }

    /// `virtio_mem_offline_and_remove_memory`.
    pub(crate) fn offline_and_remove(&mut self, os: &mut dyn Os, addr: u64, size: u64) -> Result<(), Errno> {
        os.offline_and_remove_memory(addr, size, &mut self.core)?;
        self.core.offline_size = self.core.offline_size.saturating_sub(size);
        self.core.queue_work();
        Ok(())
    }

    /// §8.5: leftovers of failed adds, and unplugged blocks not yet removed.
    pub(crate) fn sbm_cleanup_pending(&mut self, os: &mut dyn Os) -> Result<(), Errno> {
        let (_, _, per_mb) = self.sbm_geometry();
        let mut from = 0;
        while let Some(mb) = self.core.sbm().and_then(|s| s.states.first_in(SbmState::Plugged, from)) {
            from = mb + 1;
            let mut all = per_mb;
            self.sbm_unplug_runs_from_top(mb, &mut all)?;
            self.sbm_set_state(mb, SbmState::Unused);
        }
        let pending = self.core.sbm().is_some_and(|s| s.have_unplugged_mb);
        if !pending {
            return Ok(());
        }
        if let Some(s) = self.core.sbm_mut() {
            s.have_unplugged_mb = false;
        }
        let mut failed = false;
        for state in [SbmState::MovablePartial, SbmState::KernelPartial, SbmState::OfflinePartial] {
            let mut from = 0;
            while let Some(mb) = self.core.sbm().and_then(|s| s.states.first_in(state, from)) {
                from = mb + 1;
                failed |= self.sbm_try_remove_unplugged_mb(os, mb).is_err();
            }
        }
        if failed {
            if let Some(s) = self.core.sbm_mut() {
                s.have_unplugged_mb = true;
            }
        }
        Ok(())
    }
}
