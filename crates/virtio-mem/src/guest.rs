//! Guest accesses to the region, judged by the device: only the device
//! knows which blocks are plugged, how large the usable region is and which
//! features were negotiated. Contents live in the [`SimulatedMemory`]
//! backend, which also counts every access the driver must never make.

use crate::backing::{AccessError, AccessKind, AccessReport, SIM_PAGE_SIZE, SimulatedMemory, Verdict, ViolationKind};
use crate::device::VirtioMemDevice;
use crate::wire::Features;

impl VirtioMemDevice<SimulatedMemory> {
    /// A CPU read of guest memory in the region. Plugged blocks return their
    /// contents; unplugged blocks return zeroes (the shared zero page) and
    /// are recorded as tolerated or as a violation.
    pub fn cpu_read(&mut self, addr: u64, buf: &mut [u8]) -> Result<AccessReport, AccessError> {
        self.guest_access(addr, AccessKind::CpuRead, Buffer::Read(buf))
    }

    /// A CPU write of guest memory in the region. Writes to unplugged blocks
    /// are violations and are dropped (so unplugged memory stays zero).
    pub fn cpu_write(&mut self, addr: u64, data: &[u8]) -> Result<AccessReport, AccessError> {
        self.guest_access(addr, AccessKind::CpuWrite, Buffer::Write(data))
    }

    /// A DMA read (by another device on the guest's behalf).
    pub fn dma_read(&mut self, addr: u64, buf: &mut [u8]) -> Result<AccessReport, AccessError> {
        self.guest_access(addr, AccessKind::DmaRead, Buffer::Read(buf))
    }

    /// A DMA write.
    pub fn dma_write(&mut self, addr: u64, data: &[u8]) -> Result<AccessReport, AccessError> {
        self.guest_access(addr, AccessKind::DmaWrite, Buffer::Write(data))
    }

    fn verdict(&self, block: u64, kind: AccessKind) -> Verdict {
        if self.is_block_plugged(block) {
            return Verdict::Allowed;
        }
        if kind.is_write() {
            return Verdict::Violation(ViolationKind::WriteUnplugged);
        }
        let usable_blocks = self.usable_region_size() / self.block_size();
        if block >= usable_blocks {
            Verdict::Violation(ViolationKind::ReadOutsideUsable)
        } else if kind == AccessKind::DmaRead {
            Verdict::Violation(ViolationKind::DmaReadUnplugged)
        } else if self.driver_features().contains(Features::UNPLUGGED_INACCESSIBLE) {
            Verdict::Violation(ViolationKind::ReadInaccessible)
        } else {
            Verdict::Tolerated
        }
    }

    fn guest_access(
        &mut self,
        addr: u64,
        kind: AccessKind,
        mut buffer: Buffer<'_, '_>,
    ) -> Result<AccessReport, AccessError> {
        let len = buffer.len();
        let error = AccessError { addr, len };
        let region_start = self.config().addr;
        let region_end = region_start + self.config().region_size;
        let end = addr.checked_add(len as u64).ok_or(error)?;
        if addr < region_start || end > region_end {
            return Err(error);
        }
        let block_size = self.block_size();
        let mut report = AccessReport::default();
        let mut done = 0usize;
        let mut last_block = None;
        while done < len {
            let at = addr + done as u64;
            // Segments end at page boundaries; blocks are whole pages, so a
            // segment never straddles two blocks.
            let chunk = ((SIM_PAGE_SIZE - at % SIM_PAGE_SIZE) as usize).min(len - done);
            let block = (at - region_start) / block_size;
            let verdict = self.verdict(block, kind);
            if last_block != Some(block) {
                // One record per block per access, at the access's first
                // byte in that block.
                last_block = Some(block);
                self.backend_mut().record(block, kind, at, verdict);
                match verdict {
                    Verdict::Violation(_) => report.violations += 1,
                    Verdict::Tolerated => report.tolerated_unplugged_reads += 1,
                    Verdict::Allowed => {}
                }
            }
            let range = done..done + chunk;
            match &mut buffer {
                Buffer::Read(out) => {
                    if let Some(out) = out.get_mut(range) {
                        if verdict == Verdict::Allowed {
                            self.backend().read_bytes(at, out);
                        } else {
                            out.fill(0);
                        }
                    }
                }
                Buffer::Write(data) => {
                    if let (Some(data), Verdict::Allowed) = (data.get(range), verdict) {
                        self.backend_mut().write_bytes(at, data);
                    }
                }
            }
            done += chunk;
        }
        Ok(report)
    }
}

enum Buffer<'a, 'b> {
    Read(&'a mut [u8]),
    Write(&'b [u8]),
}

impl Buffer<'_, '_> {
    fn len(&self) -> usize {
        match self {
            Self::Read(out) => out.len(),
            Self::Write(data) => data.len(),
        }
    }
}
