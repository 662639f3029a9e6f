//! Big Block Mode: plugging (§9.3), unplugging (§9.4) and cleanup (§9.6).

use virtio_mem::VirtioMemTransport;

use crate::driver::VirtioMemDriver;
use crate::os::{Errno, Os};
use crate::state::BbmState;

/// Which big blocks an unplug pass takes (§9.4).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// No online section.
    Offline,
    /// Every online section in ZONE_MOVABLE.
    Movable,
    /// Any.
    Any,
}

impl<T: VirtioMemTransport> VirtioMemDriver<T> {
    fn bb_size(&self) -> u64 {
        self.core.bbm().map_or(0, |b| b.bb_size)
    }

    fn bbm_set_state(&mut self, bb: u64, state: BbmState) {
        if let Some(b) = self.core.bbm_mut() {
            b.states.set(bb, state);
        }
    }

    /// `virtio_mem_bbm_plug_request` (§9.3).
    pub(crate) fn bbm_plug_request(&mut self, os: &mut dyn Os, diff: u64) -> Result<(), Errno> {
        let bbs = self.bb_size();
        let mut nb_bb = diff / bbs;
        if nb_bb == 0 {
            return Ok(());
        }
        let mut from = 0;
        while let Some(bb) = self.core.bbm().and_then(|b| b.states.first_in(BbmState::Unused, from)) {
            from = bb + 1;
            if !self.core.could_add(bbs) {
                return Err(Errno::ENOSPC);
            }
            self.bbm_plug_and_add_bb(os, bb)?;
            nb_bb -= 1;
            if nb_bb == 0 {
                return Ok(());
            }
        }
        while nb_bb > 0 {
            if !self.core.could_add(bbs) {
                return Err(Errno::ENOSPC);
            }
            let b = self.core.bbm_mut().ok_or(Errno::EINVAL)?;
            if i128::from(b.states.next()) > b.last_usable {
                return Err(Errno::ENOSPC);
            }
            let bb = b.states.push();
            self.bbm_plug_and_add_bb(os, bb)?;
            nb_bb -= 1;
        }
        Ok(())
    }

    fn bbm_plug_and_add_bb(&mut self, os: &mut dyn Os, bb: u64) -> Result<(), Errno> {
        let bbs = self.bb_size();
        self.send_plug(bb * bbs, bbs)?;
        self.bbm_set_state(bb, BbmState::Added);
        if let Err(e) = self.add_memory(os, bb * bbs, bbs) {
            let back = if self.send_unplug(bb * bbs, bbs).is_ok() { BbmState::Unused } else { BbmState::Plugged };
            self.bbm_set_state(bb, back);
            return Err(e);
        }
        Ok(())
    }

    /// `virtio_mem_bbm_unplug_request` (§9.4): three passes over ADDED big
    /// blocks, each from the highest id down.
    pub(crate) fn bbm_unplug_request(&mut self, os: &mut dyn Os, diff: u64) -> Result<(), Errno> {
        let bbs = self.bb_size();
        let mut nb_bb = diff / bbs;
        if nb_bb == 0 {
            return Ok(());
        }
        for pass in [Pass::Offline, Pass::Movable, Pass::Any] {
            let mut below = u64::MAX;
            while let Some(bb) = self.core.bbm().and_then(|b| b.states.last_in(BbmState::Added, below)) {
                let summary = os.online_summary(bb * bbs, bbs);
                let take = match pass {
                    Pass::Offline => !summary.any_online,
                    Pass::Movable => summary.online_all_movable,
                    Pass::Any => true,
                };
                if take {
                    match self.bbm_offline_remove_and_unplug_bb(os, bb) {
                        Ok(()) => nb_bb -= 1,
                        Err(Errno::EBUSY) => {}
                        Err(e) => return Err(e),
                    }
                    if nb_bb == 0 {
                        return Ok(());
                    }
                }
                match bb.checked_sub(1) {
                    Some(b) => below = b,
                    None => break,
                }
            }
            if pass == Pass::Offline && !self.core.params.unplug_online {
                return Ok(());
            }
        }
        if nb_bb > 0 { Err(Errno::EBUSY) } else { Ok(()) }
    }

    /// Fake-offline the online sections, offline and remove, UNPLUG
    /// (§9.4 steps 1–3), rolling back on failure.
    fn bbm_offline_remove_and_unplug_bb(&mut self, os: &mut dyn Os, bb: u64) -> Result<(), Errno> {
        let bbs = self.bb_size();
        let page = self.core.geometry.page_size;
        let section_pages = self.core.geometry.section_size / page;
        let start = bb * bbs / page;
        let end = start + bbs / page;
        self.bbm_set_state(bb, BbmState::FakeOffline);
        let mut pfn = start;
        while pfn < end {
            if os.zone_of(pfn).is_some() {
                if let Err(e) = self.fake_offline(os, pfn, section_pages) {
                    self.bbm_rollback(os, bb, start, pfn);
                    return Err(e);
                }
            }
            pfn += section_pages;
        }
        if let Err(e) = self.offline_and_remove(os, bb * bbs, bbs) {
            self.bbm_rollback(os, bb, start, end);
            return Err(e);
        }
        match self.send_unplug(bb * bbs, bbs) {
            Ok(()) => {
                self.bbm_set_state(bb, BbmState::Unused);
                Ok(())
            }
            Err(e) => {
                self.bbm_set_state(bb, BbmState::Plugged);
                Err(e)
            }
        }
    }

    /// Gives back the online sections of `[start, end)` and returns the big
    /// block to ADDED.
    fn bbm_rollback(&mut self, os: &mut dyn Os, bb: u64, start: u64, end: u64) {
        let section_pages = self.core.geometry.section_size / self.core.geometry.page_size;
        let mut pfn = start;
        while pfn < end {
            if os.zone_of(pfn).is_some() {
                self.fake_online(os, pfn, section_pages);
            }
            pfn += section_pages;
        }
        self.bbm_set_state(bb, BbmState::Added);
    }

    /// §9.6: PLUGGED big blocks are unplugged.
    pub(crate) fn bbm_cleanup_pending(&mut self) -> Result<(), Errno> {
        let bbs = self.bb_size();
        let mut from = 0;
        while let Some(bb) = self.core.bbm().and_then(|b| b.states.first_in(BbmState::Plugged, from)) {
            from = bb + 1;
            self.send_unplug(bb * bbs, bbs)?;
            self.bbm_set_state(bb, BbmState::Unused);
        }
        Ok(())
    }
}
