//! The driver's view of the device: a small transport trait covering what
//! the Linux driver uses (driver spec §4.1, §5, §16) — feature and status
//! registers, config reads, one request in flight at a time, interrupts —
//! and an in-process implementation that drives a [`VirtioMemDevice`]
//! directly, the way virtio-drivers tests a driver against a fake device.

use thiserror::Error;

use crate::backing::MemoryBackend;
use crate::config::{CONFIG_SIZE, ConfigAccessError, ConfigSpace};
use crate::device::VirtioMemDevice;
use crate::queue::{ChainOutcome, NotReady, ProtocolViolation};
use crate::status::DeviceStatus;
use crate::wire::{DecodedResponse, RESPONSE_SIZE, Request};

/// Interrupts the device raised since the driver last looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interrupts {
    /// Configuration changed (resize, or DEVICE_NEEDS_RESET).
    pub config_changed: bool,
    /// A request was completed.
    pub queue: bool,
}

/// Why a request did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum TransportError {
    /// The device dropped the request (the driver would wait forever; the
    /// driver spec treats a failed queueing like an unknown answer).
    #[error("the device dropped the request: {0}")]
    Dropped(ProtocolViolation),
    /// The device does not process requests now.
    #[error("the device does not process requests: {0}")]
    NotReady(NotReady),
    /// A config access outside the config space.
    #[error(transparent)]
    Config(#[from] ConfigAccessError),
}

/// What a guest driver needs from the transport to talk to a virtio-mem
/// device. All methods take `&mut self` so an implementation may be a real
/// MMIO/PCI accessor or an in-process fake.
pub trait VirtioMemTransport {
    /// The device's feature bits.
    fn device_features(&mut self) -> u64;

    /// Writes the driver's accepted feature bits (effective at FEATURES_OK).
    fn set_driver_features(&mut self, features: u64);

    /// Reads the status register.
    fn status(&mut self) -> u8;

    /// Writes the status register (0 resets the device). The driver reads
    /// the status back to learn whether FEATURES_OK was accepted.
    fn set_status(&mut self, status: u8);

    /// Reads `buf.len()` config bytes at `offset`.
    fn read_config(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), TransportError>;

    /// Writes config bytes (a correct driver never does, R1).
    fn write_config(&mut self, offset: usize, data: &[u8]) -> Result<(), TransportError>;

    /// Queues one chain (`request` device-readable, `response`
    /// device-writable), notifies the device and waits for the chain to be
    /// used; returns the number of bytes the device wrote.
    fn submit(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError>;

    /// Returns and clears the interrupts raised since the last call.
    fn take_interrupts(&mut self) -> Interrupts;

    /// Reads the whole config space.
    fn read_config_space(&mut self) -> Result<ConfigSpace, TransportError> {
        let mut bytes = [0u8; CONFIG_SIZE];
        self.read_config(0, &mut bytes)?;
        // `bytes` has exactly the config size, so decoding cannot fail.
        ConfigSpace::decode(&bytes).ok_or(TransportError::Config(ConfigAccessError { offset: 0, len: CONFIG_SIZE }))
    }

    /// Reads one little-endian 64-bit config field at `offset` (see
    /// [`config::offset`](crate::config::offset)).
    fn read_config_u64(&mut self, offset: usize) -> Result<u64, TransportError> {
        let mut bytes = [0u8; 8];
        self.read_config(offset, &mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Encodes `request`, submits it with a 10-byte response buffer and
    /// decodes the answer.
    fn request(&mut self, request: Request) -> Result<DecodedResponse, TransportError> {
        let mut response = [0u8; RESPONSE_SIZE];
        self.submit(&request.encode(), &mut response)?;
        // A 10-byte buffer always decodes.
        DecodedResponse::decode(&response)
            .map_err(|_| TransportError::Dropped(ProtocolViolation::ResponseTooSmall { writable: response.len() }))
    }
}

/// A transport that owns a device and calls it directly. The host side of
/// the test (resizes, migration, memory accesses) reaches the device through
/// [`device_mut`](Self::device_mut) between driver steps.
///
/// ```
/// use virtio_mem::{
///     BlockRange, DeviceProperties, Features, InProcessTransport, Request, ResponseType,
///     SimulatedMemory, VirtioMemDevice, VirtioMemTransport,
/// };
///
/// const MIB: u64 = 1 << 20;
/// let device = VirtioMemDevice::new(
///     DeviceProperties::new(0x1_0000_0000, 4096 * MIB, 2 * MIB),
///     SimulatedMemory::new(),
/// )?;
/// let mut transport = InProcessTransport::new(device);
///
/// // The driver's handshake.
/// let offered = transport.device_features();
/// transport.set_status(1 | 2); // ACKNOWLEDGE | DRIVER
/// transport.set_driver_features(offered);
/// transport.set_status(1 | 2 | 8); // FEATURES_OK
/// assert_eq!(transport.status() & 8, 8);
/// transport.set_status(1 | 2 | 8 | 4); // DRIVER_OK
///
/// // The host asks for 128 MiB; the driver sees the interrupt and plugs.
/// transport.device_mut().resize(128 * MIB)?;
/// assert!(transport.take_interrupts().config_changed);
/// let config = transport.read_config_space()?;
/// let answer = transport.request(Request::Plug(BlockRange::new(config.addr, 64)))?;
/// assert_eq!(answer.response_type(), Some(ResponseType::Ack));
///
/// // The guest uses the memory; nothing it did was forbidden.
/// transport.device_mut().cpu_write(config.addr, b"hello")?;
/// assert_eq!(transport.device().backend().violation_count(), 0);
/// assert!(transport.device().driver_features().contains(Features::UNPLUGGED_INACCESSIBLE));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct InProcessTransport<B> {
    device: VirtioMemDevice<B>,
    queue_interrupt: bool,
    last_status_error: Option<crate::status::StatusError>,
}

impl<B: MemoryBackend> InProcessTransport<B> {
    /// Wraps `device`.
    pub const fn new(device: VirtioMemDevice<B>) -> Self {
        Self { device, queue_interrupt: false, last_status_error: None }
    }

    /// The device.
    pub const fn device(&self) -> &VirtioMemDevice<B> {
        &self.device
    }

    /// The device, for host-side actions.
    pub fn device_mut(&mut self) -> &mut VirtioMemDevice<B> {
        &mut self.device
    }

    /// Unwraps the device.
    pub fn into_device(self) -> VirtioMemDevice<B> {
        self.device
    }

    /// Why the device refused the last status write, if it did.
    pub const fn last_status_error(&self) -> Option<crate::status::StatusError> {
        self.last_status_error
    }
}

impl<B: MemoryBackend> VirtioMemTransport for InProcessTransport<B> {
    fn device_features(&mut self) -> u64 {
        self.device.device_features().bits()
    }

    fn set_driver_features(&mut self, features: u64) {
        self.device.set_driver_features(features);
    }

    fn status(&mut self) -> u8 {
        self.device.status().bits()
    }

    fn set_status(&mut self, status: u8) {
        self.last_status_error = self.device.set_status(status).err();
        if status == 0 {
            self.queue_interrupt = false;
        }
    }

    fn read_config(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), TransportError> {
        Ok(self.device.read_config(offset, buf)?)
    }

    fn write_config(&mut self, offset: usize, data: &[u8]) -> Result<(), TransportError> {
        Ok(self.device.write_config(offset, data)?)
    }

    fn submit(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        match self.device.process_chain(&[request], &mut [response]) {
            ChainOutcome::Completed { used_len, .. } => {
                self.queue_interrupt = true;
                Ok(used_len as usize)
            }
            ChainOutcome::Dropped(violation) => Err(TransportError::Dropped(violation)),
            ChainOutcome::NotProcessed(reason) => Err(TransportError::NotReady(reason)),
        }
    }

    fn take_interrupts(&mut self) -> Interrupts {
        Interrupts {
            config_changed: self.device.take_config_interrupt(),
            queue: core::mem::take(&mut self.queue_interrupt),
        }
    }
}

/// Status bits a driver writes during the handshake, re-exported as plain
/// values for drivers that work with raw registers.
pub mod status_bits {
    use super::DeviceStatus;

    /// ACKNOWLEDGE.
    pub const ACKNOWLEDGE: u8 = DeviceStatus::ACKNOWLEDGE.bits();
    /// DRIVER.
    pub const DRIVER: u8 = DeviceStatus::DRIVER.bits();
    /// FEATURES_OK.
    pub const FEATURES_OK: u8 = DeviceStatus::FEATURES_OK.bits();
    /// DRIVER_OK.
    pub const DRIVER_OK: u8 = DeviceStatus::DRIVER_OK.bits();
    /// DEVICE_NEEDS_RESET.
    pub const DEVICE_NEEDS_RESET: u8 = DeviceStatus::DEVICE_NEEDS_RESET.bits();
    /// FAILED.
    pub const FAILED: u8 = DeviceStatus::FAILED.bits();
}
