//! Host memory behind the region: the hooks a VMM implements
//! ([`MemoryBackend`]) and a simulated guest-physical memory
//! ([`SimulatedMemory`]) that stores contents sparsely and records every
//! guest access by block, counting the accesses the driver must never make.
//!
//! Guest accesses go through the device ([`VirtioMemDevice::cpu_read`] and
//! friends) because only the device knows which blocks are plugged, how large
//! the usable region is and which features were negotiated.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use thiserror::Error;

use crate::device::VirtioMemDevice;
use crate::wire::Features;

/// Granularity of the simulated memory's storage.
pub const SIM_PAGE_SIZE: u64 = 4096;

/// How many violations [`SimulatedMemory`] keeps in detail (all are counted).
pub const VIOLATION_LOG_CAPACITY: usize = 256;

/// A run of device blocks handed to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockSpan {
    /// Index of the first block in the region.
    pub first_block: u64,
    /// Number of blocks.
    pub nb_blocks: u64,
    /// Guest-physical address of the first block.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Which backend operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendOperation {
    /// Making blocks ready to be plugged (preallocation, DMA mapping).
    Populate,
    /// Giving blocks' memory back to the host.
    Discard,
}

/// A failed backend operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[error("{operation:?} of {nb_blocks} blocks from block {first_block} failed: {reason}")]
pub struct BackendError {
    /// What was attempted.
    pub operation: BackendOperation,
    /// First block of the span.
    pub first_block: u64,
    /// Blocks in the span.
    pub nb_blocks: u64,
    /// Why.
    pub reason: &'static str,
}

impl BackendError {
    /// An error of `operation` on `span`.
    pub const fn new(operation: BackendOperation, span: BlockSpan, reason: &'static str) -> Self {
        Self { operation, first_block: span.first_block, nb_blocks: span.nb_blocks, reason }
    }
}

/// What a VMM does to host memory when blocks change state.
///
/// The device calls these before it changes its own state, so a failure
/// leaves the block states untouched (the profile decides the answer: BUSY
/// in the reference profile).
pub trait MemoryBackend {
    /// Prepares `span` to become plugged (QEMU: preallocation with
    /// `prealloc=on`, RAM-discard listeners such as VFIO mapping the range).
    /// On failure the device discards the span again and refuses the PLUG.
    fn populate(&mut self, span: BlockSpan) -> Result<(), BackendError>;

    /// Frees the memory of `span` (QEMU: `MADV_DONTNEED` / punching a hole);
    /// its contents read as zero afterwards.
    fn discard(&mut self, span: BlockSpan) -> Result<(), BackendError>;
}

/// A backend that does nothing and never fails, for VMMs that manage host
/// memory elsewhere and for benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NoBackend;

impl MemoryBackend for NoBackend {
    fn populate(&mut self, _span: BlockSpan) -> Result<(), BackendError> {
        Ok(())
    }

    fn discard(&mut self, _span: BlockSpan) -> Result<(), BackendError> {
        Ok(())
    }
}

/// How the guest touched memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// A CPU load.
    CpuRead,
    /// A CPU store.
    CpuWrite,
    /// A device reading guest memory by DMA.
    DmaRead,
    /// A device writing guest memory by DMA.
    DmaWrite,
}

impl AccessKind {
    const fn is_write(self) -> bool {
        matches!(self, Self::CpuWrite | Self::DmaWrite)
    }
}

/// A guest access the driver must never make (virtio spec R6–R10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// Writing an unplugged block (R6).
    WriteUnplugged,
    /// Reading an unplugged block outside the usable region (R7).
    ReadOutsideUsable,
    /// Reading an unplugged block by DMA (R8).
    DmaReadUnplugged,
    /// Reading an unplugged block with UNPLUGGED_INACCESSIBLE negotiated (R10).
    ReadInaccessible,
}

/// One recorded violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Violation {
    /// What rule was broken.
    pub kind: ViolationKind,
    /// Block index in the region.
    pub block: u64,
    /// First guest-physical address of the offending access in that block.
    pub addr: u64,
}

/// Accesses recorded for one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockAccess {
    /// Reads (CPU or DMA) that touched the block.
    pub reads: u64,
    /// Writes (CPU or DMA) that touched the block.
    pub writes: u64,
    /// Reads of the block while unplugged that the rules allow (R9 says
    /// "should not", D20 says the device must serve them).
    pub tolerated_unplugged_reads: u64,
    /// Violations on this block.
    pub violations: u64,
}

/// A guest access that is not inside the device's region at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[error("guest access of {len} bytes at {addr:#x} is not inside the device region")]
pub struct AccessError {
    /// Start of the access.
    pub addr: u64,
    /// Its length.
    pub len: usize,
}

/// What one guest access did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AccessReport {
    /// Violations this access caused (0 for a well-behaved driver).
    pub violations: u64,
    /// Tolerated reads of unplugged blocks this access made.
    pub tolerated_unplugged_reads: u64,
}

/// Simulated host memory for the region: sparse 4 KiB pages (unwritten
/// memory reads as zero), an access record per block, a violation log, and
/// injectable failures for the backend hooks.
#[derive(Debug, Clone, Default)]
pub struct SimulatedMemory {
    pages: BTreeMap<u64, Box<[u8]>>,
    access: BTreeMap<u64, BlockAccess>,
    violation_log: Vec<Violation>,
    violation_count: u64,
    tolerated_reads: u64,
    populate_calls: u64,
    discard_calls: u64,
    failing_populates: u32,
    failing_discards: u32,
}

impl SimulatedMemory {
    /// Empty memory that never fails.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `count` populate calls fail.
    pub fn fail_next_populates(&mut self, count: u32) {
        self.failing_populates = count;
    }

    /// Makes the next `count` discard calls fail.
    pub fn fail_next_discards(&mut self, count: u32) {
        self.failing_discards = count;
    }

    /// All violations so far (must be 0 for a correct driver).
    pub const fn violation_count(&self) -> u64 {
        self.violation_count
    }

    /// The first [`VIOLATION_LOG_CAPACITY`] violations in detail.
    pub fn violations(&self) -> &[Violation] {
        &self.violation_log
    }

    /// Tolerated reads of unplugged memory inside the usable region.
    pub const fn tolerated_unplugged_reads(&self) -> u64 {
        self.tolerated_reads
    }

    /// The access record of `block` (zero if never touched).
    pub fn block_access(&self, block: u64) -> BlockAccess {
        self.access.get(&block).copied().unwrap_or_default()
    }

    /// Every touched block's record, by block index.
    pub fn accesses(&self) -> impl Iterator<Item = (u64, BlockAccess)> + '_ {
        self.access.iter().map(|(block, access)| (*block, *access))
    }

    /// How often the device called `populate` / `discard`.
    pub const fn backend_calls(&self) -> (u64, u64) {
        (self.populate_calls, self.discard_calls)
    }

    /// Bytes of host memory in use (pages ever written and not discarded).
    pub fn resident_bytes(&self) -> u64 {
        self.pages.len() as u64 * SIM_PAGE_SIZE
    }

    fn record(&mut self, block: u64, kind: AccessKind, addr: u64, verdict: Verdict) {
        let access = self.access.entry(block).or_default();
        if kind.is_write() {
            access.writes += 1;
        } else {
            access.reads += 1;
        }
        match verdict {
            Verdict::Allowed => {}
            Verdict::Tolerated => {
                access.tolerated_unplugged_reads += 1;
                self.tolerated_reads += 1;
            }
            Verdict::Violation(kind) => {
                access.violations += 1;
                self.violation_count += 1;
                if self.violation_log.len() < VIOLATION_LOG_CAPACITY {
                    self.violation_log.push(Violation { kind, block, addr });
                }
            }
        }
    }

    fn read_bytes(&self, addr: u64, out: &mut [u8]) {
        let page = addr / SIM_PAGE_SIZE;
        let offset = (addr % SIM_PAGE_SIZE) as usize;
        match self.pages.get(&page).and_then(|data| data.get(offset..offset + out.len())) {
            Some(source) => out.copy_from_slice(source),
            None => out.fill(0),
        }
    }

    fn write_bytes(&mut self, addr: u64, data: &[u8]) {
        let page = addr / SIM_PAGE_SIZE;
        let offset = (addr % SIM_PAGE_SIZE) as usize;
        let storage =
            self.pages.entry(page).or_insert_with(|| alloc::vec![0u8; SIM_PAGE_SIZE as usize].into_boxed_slice());
        if let Some(target) = storage.get_mut(offset..offset + data.len()) {
            target.copy_from_slice(data);
        }
    }

    /// Drops the pages of `[start, end)`; they read as zero again.
    fn drop_pages(&mut self, start: u64, end: u64) {
        let first = start / SIM_PAGE_SIZE;
        let last = end.div_ceil(SIM_PAGE_SIZE);
        let mut tail = self.pages.split_off(&first);
        let mut after = tail.split_off(&last);
        self.pages.append(&mut after);
    }
}

impl MemoryBackend for SimulatedMemory {
    fn populate(&mut self, span: BlockSpan) -> Result<(), BackendError> {
        self.populate_calls += 1;
        if self.failing_populates > 0 {
            self.failing_populates -= 1;
            return Err(BackendError::new(BackendOperation::Populate, span, "injected populate failure"));
        }
        Ok(())
    }

    fn discard(&mut self, span: BlockSpan) -> Result<(), BackendError> {
        self.discard_calls += 1;
        if self.failing_discards > 0 {
            self.failing_discards -= 1;
            return Err(BackendError::new(BackendOperation::Discard, span, "injected discard failure"));
        }
        self.drop_pages(span.addr, span.addr.saturating_add(span.size));
        Ok(())
    }
}

/// How one block treats one access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Allowed,
    Tolerated,
    Violation(ViolationKind),
}

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
