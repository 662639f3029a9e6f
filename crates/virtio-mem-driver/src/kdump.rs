//! kdump mode (§13): no hot(un)plug; the dump asks the device which
//! memory is plugged.

use alloc::vec::Vec;

use virtio_mem::{BlockState, VirtioMemTransport};

use crate::core::Mode;
use crate::driver::{ProbeError, VirtioMemDriver, dev_log};
use crate::os::{Errno, Os};

impl<T: VirtioMemTransport> VirtioMemDriver<T> {
    /// §4.1 step 7 in a crash kernel.
    pub(crate) fn probe_kdump(&mut self, os: &mut dyn Os) -> Result<(), ProbeError> {
        if !self.core.rules.kdump {
            dev_log!(os, self.core, Warn, "disabled in kdump kernel");
            return Err(ProbeError(Errno::EBUSY));
        }
        if !os.has_vmcore() {
            dev_log!(os, self.core, Warn, "disabled in kdump kernel without vmcore");
            return Err(ProbeError(Errno::EBUSY));
        }
        dev_log!(os, self.core, Info, "memory hot(un)plug disabled in kdump kernel");
        self.core.mode = Mode::Kdump;
        let status = self.transport.status();
        self.transport.set_status(status | virtio_mem::transport::status_bits::DRIVER_OK);
        Ok(())
    }

    /// The vmcore "is this pfn RAM?" callback: outside the region yes;
    /// inside, only a plugged device block (one STATE per block, cached).
    pub fn kdump_pfn_is_ram(&mut self, pfn: u64) -> bool {
        let page = self.core.geometry.page_size;
        let addr = pfn * page;
        if !matches!(self.core.mode, Mode::Kdump) || !self.core.contains(addr, page) {
            return true;
        }
        if self.core.plugged_size == 0 {
            return false;
        }
        let dbs = self.core.device_block_size;
        let block = addr - addr % dbs;
        match self.core.kdump_cache {
            Some((cached, plugged)) if cached == block => plugged,
            _ => {
                let plugged = matches!(self.send_state(block, dbs), Ok(BlockState::Plugged));
                self.core.kdump_cache = Some((block, plugged));
                plugged
            }
        }
    }

    /// The device-RAM ranges to dump (v6.15+): the usable region in chunks
    /// of `max(section, device block)`, joining every chunk not completely
    /// unplugged into runs. Ranges are `[start, end)`.
    pub fn kdump_ram_ranges(&mut self, os: &mut dyn Os) -> Result<Vec<(u64, u64)>, Errno> {
        let mut out = Vec::new();
        if !matches!(self.core.mode, Mode::Kdump) || !self.core.rules.kdump_ram_ranges || self.core.plugged_size == 0 {
            return Ok(out);
        }
        let chunk = self.core.geometry.section_size.max(self.core.device_block_size);
        let (start, end) = (self.core.addr, self.core.addr + self.core.usable_region_size);
        let mut run: Option<u64> = None;
        let mut at = start;
        while at < end {
            let next = ((at / chunk) + 1).saturating_mul(chunk).min(end);
            match self.send_state(at, next - at) {
                Ok(BlockState::Unplugged) => {
                    if let Some(s) = run.take() {
                        out.push((s, at));
                    }
                }
                Ok(_) => {
                    run.get_or_insert(at);
                }
                Err(e) => {
                    dev_log!(os, self.core, Err, "Error querying block states: -{}", e.value());
                    return Err(e);
                }
            }
            at = next;
        }
        if let Some(s) = run {
            out.push((s, end));
        }
        Ok(out)
    }
}
