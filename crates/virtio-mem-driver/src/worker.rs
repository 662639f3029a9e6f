//! The worker (`virtio_mem_run_wq`, §6.2) and the fake-offline /
//! fake-online mechanics both modes share (§10).

use virtio_mem::VirtioMemTransport;

use crate::core::{Mode, RETRY_MS_INITIAL};
use crate::driver::{VirtioMemDriver, dev_log};
use crate::os::{Errno, Os, Pfn};

/// How many times fake-offlining retries in ZONE_MOVABLE (once elsewhere).
const FAKE_OFFLINE_ATTEMPTS_MOVABLE: u32 = 5;

impl<T: VirtioMemTransport> VirtioMemDriver<T> {
    /// One run of the work item (§6.2).
    pub fn run_work(&mut self, os: &mut dyn Os) {
        self.core.work_pending = false;
        if self.core.in_kdump {
            if !self.core.warned_kdump_run {
                self.core.warned_kdump_run = true;
                dev_log!(os, self.core, Warn, "unexpected workqueue run in kdump kernel");
            }
            return;
        }
        if self.core.timer_armed {
            os.cancel_timer(self.core.id);
            self.core.timer_armed = false;
        }
        if self.core.broken {
            return;
        }
        self.core.wq_active = true;
        loop {
            let mut rc = Ok(());
            if self.core.unplug_all_required {
                rc = self.send_unplug_all();
            }
            self.handle_interrupts();
            if self.core.config_changed {
                self.core.config_changed = false;
                self.refresh_config(os);
            }
            if rc.is_ok() {
                rc = self.cleanup_pending(os);
            }
            let (requested, plugged) = (self.core.requested_size, self.core.plugged_size);
            if rc.is_ok() && requested != plugged {
                rc = if requested > plugged {
                    self.plug_request(os, requested - plugged)
                } else {
                    self.unplug_request(os, plugged - requested)
                };
            }
            if rc.is_ok() && self.core.sbm().is_some_and(|s| s.have_unplugged_mb) {
                rc = Err(Errno::EBUSY);
            }
            match rc {
                Ok(()) => self.core.retry_timer_ms = RETRY_MS_INITIAL,
                Err(Errno::ENOSPC) => {}
                Err(Errno::ETXTBSY | Errno::EBUSY | Errno::ENOMEM) => {
                    os.arm_timer(self.core.id, self.core.retry_timer_ms);
                    self.core.timer_armed = true;
                }
                Err(Errno::EAGAIN) => continue,
                Err(e) => {
                    dev_log!(os, self.core, Err, "unknown error, marking device broken: -{}", e.value());
                    self.core.broken = true;
                }
            }
            break;
        }
        self.core.wq_active = false;
    }

    fn cleanup_pending(&mut self, os: &mut dyn Os) -> Result<(), Errno> {
        match &self.core.mode {
            Mode::Sbm(_) => self.sbm_cleanup_pending(os),
            Mode::Bbm(_) => self.bbm_cleanup_pending(),
            _ => Ok(()),
        }
    }

    fn plug_request(&mut self, os: &mut dyn Os, diff: u64) -> Result<(), Errno> {
        match &self.core.mode {
            Mode::Sbm(_) => self.sbm_plug_request(os, diff),
            Mode::Bbm(_) => self.bbm_plug_request(os, diff),
            _ => Ok(()),
        }
    }

    fn unplug_request(&mut self, os: &mut dyn Os, diff: u64) -> Result<(), Errno> {
        match &self.core.mode {
            Mode::Sbm(_) => self.sbm_unplug_request(os, diff),
            Mode::Bbm(_) => self.bbm_unplug_request(os, diff),
            _ => Ok(()),
        }
    }

    /// `virtio_mem_fake_offline` (§10): take every page of the range from
    /// the allocator, up to five attempts in ZONE_MOVABLE, one elsewhere; a
    /// config change ends it with -EAGAIN.
    pub(crate) fn fake_offline(&mut self, os: &mut dyn Os, pfn: Pfn, nr_pages: u64) -> Result<(), Errno> {
        let movable = os.zone_of(pfn).is_some_and(|z| z.is_movable());
        let attempts = if movable { FAKE_OFFLINE_ATTEMPTS_MOVABLE } else { 1 };
        for _ in 0..attempts {
            if self.config_change_pending() {
                return Err(Errno::EAGAIN);
            }
            match os.alloc_contig_range(pfn, nr_pages) {
                Ok(()) => {
                    os.take_pages_offline(pfn, nr_pages);
                    return Ok(());
                }
                Err(Errno::ENOMEM) => return Err(Errno::ENOMEM),
                Err(_) => {}
            }
        }
        Err(Errno::EBUSY)
    }

    /// `virtio_mem_fake_online` (§10): give the range back in naturally
    /// aligned chunks of the largest order the alignment allows.
    pub(crate) fn fake_online(&mut self, os: &mut dyn Os, pfn: Pfn, nr_pages: u64) {
        let max_order = self.core.geometry.max_order();
        let mut at = pfn;
        let end = pfn + nr_pages;
        while at < end {
            let order = chunk_order(at, end - at, max_order);
            os.fake_online_chunk(at, order);
            at += 1 << order;
        }
    }
}

/// The largest order `<= max_order` of a naturally aligned chunk starting
/// at `pfn` that fits in `remaining` pages.
pub(crate) fn chunk_order(pfn: Pfn, remaining: u64, max_order: u32) -> u32 {
    let align = if pfn == 0 { u32::MAX } else { pfn.trailing_zeros() };
    let fit = 63 - remaining.leading_zeros();
    align.min(fit).min(max_order)
}
