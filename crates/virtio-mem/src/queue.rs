//! The "guest-request" virtqueue, sans-IO: descriptor chains in, response
//! bytes and used elements out (device spec §4.3).
//!
//! [`VirtioMemDevice::process_chain`] handles one chain given as slices (no
//! allocation: the hot path); [`RequestQueue`] with
//! [`VirtioMemDevice::process_queue`] models a queue holding several chains,
//! processed in order, each completed before the next is taken.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use thiserror::Error;

use crate::backing::MemoryBackend;
use crate::device::VirtioMemDevice;
use crate::event::{ConfigChangeReason, TraceEvent};
use crate::profile::{ChainCheck, ViolationHandling};
use crate::status::DeviceStatus;
pub use crate::wire::ProtocolViolation;
use crate::wire::{QUEUE_SIZE, REQUEST_SIZE, RESPONSE_SIZE, Request, RequestDecodeError, Response};

/// Why the device does not look at a chain at all (it stays available).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum NotReady {
    /// The device is in DEVICE_NEEDS_RESET; the driver must reset it.
    #[error("the device needs a reset")]
    NeedsReset,
    /// DRIVER_OK is not set.
    #[error("the driver has not set DRIVER_OK (status {status:#x})")]
    NotActivated {
        /// The status register.
        status: u8,
    },
}

/// What became of one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainOutcome {
    /// Executed: the response is in the writable buffers; the chain is used
    /// with length `used_len` and the queue interrupt is due.
    Completed {
        /// The response written.
        response: Response,
        /// Bytes written (always 10).
        used_len: u32,
    },
    /// Dropped without completion for a protocol violation.
    Dropped(ProtocolViolation),
    /// Not processed; the chain stays with the driver.
    NotProcessed(NotReady),
}

/// Copies up to `out.len()` bytes from the front of `segments`; returns the
/// count.
fn gather(segments: &[&[u8]], out: &mut [u8]) -> usize {
    let mut filled = 0;
    for segment in segments {
        let Some(rest) = out.get_mut(filled..) else {
            break;
        };
        let take = rest.len().min(segment.len());
        if let (Some(target), Some(source)) = (rest.get_mut(..take), segment.get(..take)) {
            target.copy_from_slice(source);
        }
        filled += take;
    }
    filled
}

/// Writes `data` across the front of `segments`.
fn scatter(segments: &mut [&mut [u8]], data: &[u8]) {
    let mut written = 0;
    for segment in segments.iter_mut() {
        let Some(rest) = data.get(written..) else {
            break;
        };
        let take = rest.len().min(segment.len());
        if let (Some(target), Some(source)) = (segment.get_mut(..take), rest.get(..take)) {
            target.copy_from_slice(source);
        }
        written += take;
    }
}

impl<B: MemoryBackend> VirtioMemDevice<B> {
    /// Handles one descriptor chain: `readable` are its device-readable
    /// buffers, `writable` its device-writable ones, in chain order.
    ///
    /// Reference order: gather the first 24 readable bytes (fewer is a
    /// violation, more are ignored), check 10 writable bytes, decode the type
    /// (unknown is a violation), execute, write the 10-byte response at the
    /// start of the writable part. A violation puts the reference device
    /// into DEVICE_NEEDS_RESET with a config interrupt; later chains are not
    /// processed until the driver resets the device.
    pub fn process_chain(&mut self, readable: &[&[u8]], writable: &mut [&mut [u8]]) -> ChainOutcome {
        if self.status.contains(DeviceStatus::DEVICE_NEEDS_RESET) {
            return ChainOutcome::NotProcessed(NotReady::NeedsReset);
        }
        if !self.status.contains(DeviceStatus::DRIVER_OK) {
            return ChainOutcome::NotProcessed(NotReady::NotActivated { status: self.status.bits() });
        }
        match self.decode_chain(readable, writable) {
            Ok(request) => {
                let response = self.execute(request);
                scatter(writable, &response.encode());
                ChainOutcome::Completed { response, used_len: RESPONSE_SIZE as u32 }
            }
            Err(violation) => {
                self.protocol_violation(violation);
                ChainOutcome::Dropped(violation)
            }
        }
    }

    /// The profile's buffer checks and decoding, without side effects.
    fn decode_chain(&self, readable: &[&[u8]], writable: &[&mut [u8]]) -> Result<Request, ProtocolViolation> {
        let check = self.profile().chain_check();
        let first_readable = readable.first().map_or(0, |segment| segment.len());
        let first_writable = writable.first().map_or(0, |segment| segment.len());
        let mut bytes = [0u8; REQUEST_SIZE];
        let readable_len = match check {
            ChainCheck::Gathered => gather(readable, &mut bytes),
            ChainCheck::ExactRequestDescriptor | ChainCheck::FirstDescriptors => {
                gather(readable.get(..1).unwrap_or(&[]), &mut bytes).min(first_readable)
            }
        };
        if check == ChainCheck::ExactRequestDescriptor && first_readable != REQUEST_SIZE {
            return Err(ProtocolViolation::RequestDescriptorLength { len: first_readable });
        }
        if readable_len < REQUEST_SIZE {
            return Err(ProtocolViolation::RequestTooShort { readable: readable_len });
        }
        let writable_len = match check {
            ChainCheck::Gathered => writable.iter().map(|segment| segment.len()).sum(),
            ChainCheck::ExactRequestDescriptor | ChainCheck::FirstDescriptors => first_writable,
        };
        if writable_len < RESPONSE_SIZE {
            return Err(ProtocolViolation::ResponseTooSmall { writable: writable_len });
        }
        Request::decode(&bytes).map_err(|error| match error {
            RequestDecodeError::UnknownType { request_type } => ProtocolViolation::UnknownRequestType { request_type },
            RequestDecodeError::TooShort { len } => ProtocolViolation::RequestTooShort { readable: len },
        })
    }

    fn protocol_violation(&mut self, violation: ProtocolViolation) {
        self.stats.protocol_violations += 1;
        self.emit(TraceEvent::ProtocolViolation(violation));
        if self.profile().violation_handling() == ViolationHandling::NeedsReset {
            self.status |= DeviceStatus::DEVICE_NEEDS_RESET;
            self.raise_config_interrupt(ConfigChangeReason::NeedsReset);
        }
    }

    /// Processes the available chains of `queue` in order, completing each
    /// before taking the next. Stops at the first dropped chain (and leaves
    /// the rest available), or does nothing while the device is not ready.
    pub fn process_queue(&mut self, queue: &mut RequestQueue) -> QueueRun {
        let mut run = QueueRun::default();
        while let Some(mut chain) = queue.available.pop_front() {
            let readable: Vec<&[u8]> = chain.chain.readable.iter().map(Vec::as_slice).collect();
            let mut writable: Vec<&mut [u8]> = chain.chain.writable.iter_mut().map(Vec::as_mut_slice).collect();
            match self.process_chain(&readable, &mut writable) {
                ChainOutcome::Completed { used_len, .. } => {
                    run.completed += 1;
                    // QEMU notifies per completed request.
                    queue.interrupts += 1;
                    queue.used.push_back(UsedElement { head: chain.head, used_len, writable: chain.chain.writable });
                }
                ChainOutcome::Dropped(violation) => {
                    // The element is never returned to the driver.
                    queue.lost += 1;
                    run.stopped = Some(Stop::Violation(violation));
                    break;
                }
                ChainOutcome::NotProcessed(reason) => {
                    queue.available.push_front(chain);
                    run.stopped = Some(Stop::NotReady(reason));
                    break;
                }
            }
        }
        run
    }
}

/// One descriptor chain as the driver builds it: readable buffers with the
/// request, writable buffers sized for the response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain {
    /// Device-readable buffers, in order.
    pub readable: Vec<Vec<u8>>,
    /// Device-writable buffers, in order (their length is what the device may
    /// write).
    pub writable: Vec<Vec<u8>>,
}

impl Chain {
    /// The usual chain: one readable buffer with `request`, one writable
    /// buffer of `response_len` zero bytes.
    pub fn new(request: &[u8], response_len: usize) -> Self {
        Self { readable: alloc::vec![request.to_vec()], writable: alloc::vec![alloc::vec![0; response_len]] }
    }
}

/// A chain the device returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedElement {
    /// The head index the driver got when it added the chain.
    pub head: u16,
    /// Bytes the device wrote.
    pub used_len: u32,
    /// The writable buffers, now holding the response.
    pub writable: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct QueuedChain {
    head: u16,
    chain: Chain,
}

/// The queue is full: as many chains are outstanding as it has entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[error("the request queue is full ({size} entries outstanding)")]
pub struct QueueFull {
    /// Queue size.
    pub size: u16,
}

/// Why a queue run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stop {
    /// A chain was dropped for a protocol violation.
    Violation(ProtocolViolation),
    /// The device was not ready.
    NotReady(NotReady),
}

/// The result of one [`VirtioMemDevice::process_queue`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QueueRun {
    /// Chains completed.
    pub completed: usize,
    /// Why processing stopped before the queue was empty, if it did.
    pub stopped: Option<Stop>,
}

/// A sans-IO model of the request virtqueue: chains the driver made
/// available, chains the device used, and chains lost to violations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestQueue {
    size: u16,
    next_head: u16,
    available: VecDeque<QueuedChain>,
    used: VecDeque<UsedElement>,
    lost: usize,
    interrupts: u64,
}

impl Default for RequestQueue {
    fn default() -> Self {
        Self::new(QUEUE_SIZE)
    }
}

impl RequestQueue {
    /// An empty queue of `size` entries.
    pub const fn new(size: u16) -> Self {
        Self { size, next_head: 0, available: VecDeque::new(), used: VecDeque::new(), lost: 0, interrupts: 0 }
    }

    /// Makes a chain available; returns its head index.
    pub fn add(&mut self, chain: Chain) -> Result<u16, QueueFull> {
        let outstanding = self.available.len() + self.used.len() + self.lost;
        if outstanding >= usize::from(self.size) {
            return Err(QueueFull { size: self.size });
        }
        let head = self.next_head;
        self.next_head = self.next_head.wrapping_add(1) % self.size.max(1);
        self.available.push_back(QueuedChain { head, chain });
        Ok(head)
    }

    /// Takes the oldest used chain.
    pub fn pop_used(&mut self) -> Option<UsedElement> {
        self.used.pop_front()
    }

    /// Chains still available (not yet processed).
    pub fn available_len(&self) -> usize {
        self.available.len()
    }

    /// Chains the device dropped without completing.
    pub const fn lost(&self) -> usize {
        self.lost
    }

    /// Used-buffer interrupts raised (one per completed chain).
    pub const fn interrupts(&self) -> u64 {
        self.interrupts
    }

    /// Forgets every chain, as a device reset does to the queue.
    pub fn reset(&mut self) {
        *self = Self::new(self.size);
    }
}
