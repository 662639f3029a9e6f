//! Host memory behind the region: the hooks a VMM implements
//! ([`MemoryBackend`]) and a simulated guest-physical memory
//! ([`SimulatedMemory`]) that stores contents sparsely and records every
//! guest access by block, counting the accesses the driver must never make.
//!
//! Guest accesses go through the device (`VirtioMemDevice::cpu_read` and
//! friends, in [`crate::guest`]) because only the device knows which blocks
//! are plugged, how large the usable region is and which features were
//! negotiated; this module only stores and counts.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use thiserror::Error;

/// Granularity of guest accesses: an access is split at page boundaries
/// (blocks are whole pages, so a piece never straddles two blocks).
pub const SIM_PAGE_SIZE: u64 = 4096;

/// Granularity of the simulated memory's storage: written memory costs one
/// 64-byte line per line touched, so a guest that writes a few bytes into
/// each of millions of pages does not cost a page of host memory per page.
pub const SIM_LINE_SIZE: u64 = 64;

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
    pub(crate) const fn is_write(self) -> bool {
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

/// Simulated host memory for the region: sparse 64-byte lines (unwritten
/// memory reads as zero), an access record per block, a violation log, and
/// injectable failures for the backend hooks.
#[derive(Debug, Clone, Default)]
pub struct SimulatedMemory {
    lines: BTreeMap<u64, [u8; SIM_LINE_SIZE as usize]>,
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

    /// Bytes of host memory in use (lines ever written and not discarded).
    pub fn resident_bytes(&self) -> u64 {
        self.lines.len() as u64 * SIM_LINE_SIZE
    }

    pub(crate) fn record(&mut self, block: u64, kind: AccessKind, addr: u64, verdict: Verdict) {
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

    pub(crate) fn read_bytes(&self, addr: u64, out: &mut [u8]) {
        let mut done = 0usize;
        while done < out.len() {
            let at = addr + done as u64;
            let offset = (at % SIM_LINE_SIZE) as usize;
            let n = (SIM_LINE_SIZE as usize - offset).min(out.len() - done);
            let target = &mut out[done..done + n];
            match self.lines.get(&(at / SIM_LINE_SIZE)) {
                Some(line) => target.copy_from_slice(&line[offset..offset + n]),
                None => target.fill(0),
            }
            done += n;
        }
    }

    pub(crate) fn write_bytes(&mut self, addr: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let at = addr + done as u64;
            let offset = (at % SIM_LINE_SIZE) as usize;
            let n = (SIM_LINE_SIZE as usize - offset).min(data.len() - done);
            let line = self.lines.entry(at / SIM_LINE_SIZE).or_insert([0; SIM_LINE_SIZE as usize]);
            line[offset..offset + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    /// Drops the lines of `[start, end)`; they read as zero again.
    fn drop_range(&mut self, start: u64, end: u64) {
        let first = start / SIM_LINE_SIZE;
        let last = end.div_ceil(SIM_LINE_SIZE);
        let mut tail = self.lines.split_off(&first);
        let mut after = tail.split_off(&last);
        self.lines.append(&mut after);
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
        self.drop_range(span.addr, span.addr.saturating_add(span.size));
        Ok(())
    }
}

/// How one block treats one access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    Tolerated,
    Violation(ViolationKind),
}
