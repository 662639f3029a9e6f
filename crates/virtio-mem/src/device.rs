//! The device: its state (device spec §3), creation (§6.5), observation,
//! invariants, and the driver-facing virtio status / feature handshake and
//! config access. Request semantics are in [`requests`](crate::requests),
//! host operations in [`host`](crate::host).

use alloc::vec::Vec;
use thiserror::Error;

use crate::backing::MemoryBackend;
use crate::bitmap::Bitmap;
use crate::config::{CONFIG_SIZE, ConfigAccessError, ConfigSpace};
use crate::event::{ConfigChangeReason, TraceEvent};
use crate::profile::Profile;
use crate::properties::{CreateError, DeviceProperties};
use crate::status::{DeviceStatus, StatusError, check_unplugged_inaccessible, validate_features};
use crate::wire::Features;

/// A broken device invariant (§3); never returned by a correct device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum InvariantError {
    /// `plugged_size` differs from the bitmap's count (D3).
    #[error("plugged_size {plugged_size:#x} but the bitmap holds {bitmap_bytes:#x}")]
    PluggedSizeMismatch {
        /// The config value.
        plugged_size: u64,
        /// Set bits times the block size.
        bitmap_bytes: u64,
    },
    /// `usable_region_size < requested_size` (D4).
    #[error("usable_region_size {usable:#x} < requested_size {requested:#x}")]
    UsableBelowRequested {
        /// Usable size.
        usable: u64,
        /// Requested size.
        requested: u64,
    },
    /// `usable_region_size > region_size`.
    #[error("usable_region_size {usable:#x} > region_size {region:#x}")]
    UsableBeyondRegion {
        /// Usable size.
        usable: u64,
        /// Region size.
        region: u64,
    },
    /// A size is not a multiple of the block size (D6).
    #[error("a config size ({value:#x}) is not a multiple of the block size")]
    Unaligned {
        /// The offending value.
        value: u64,
    },
    /// A block beyond the usable region is plugged (§3 invariant 5).
    #[error("block {block} beyond the usable region is plugged")]
    PluggedBeyondUsable {
        /// Its index.
        block: u64,
    },
}

/// Counters of handled requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RequestStats {
    /// Requests executed.
    pub requests: u64,
    /// Responses by type, indexed by the wire value (ACK, NACK, BUSY, ERROR).
    pub responses: [u64; 4],
    /// Chains dropped for protocol violations.
    pub protocol_violations: u64,
}

/// A virtio-mem device (hypervisor side).
///
/// `B` is the host memory behind the region: [`NoBackend`](crate::NoBackend)
/// for a VMM that manages memory elsewhere, [`SimulatedMemory`](crate::SimulatedMemory)
/// for tests that check every guest access.
///
/// ```
/// use virtio_mem::{BlockRange, DeviceProperties, NoBackend, Request, Response, VirtioMemDevice};
///
/// const MIB: u64 = 1 << 20;
/// let properties = DeviceProperties::new(0x1_0000_0000, 4096 * MIB, 2 * MIB);
/// let mut device = VirtioMemDevice::new(properties, NoBackend)?;
/// device.resize(1024 * MIB)?; // the host asks for 1 GiB
/// assert!(device.take_config_interrupt());
/// assert_eq!(device.usable_region_size(), 1280 * MIB); // request + 256 MiB
/// let response = device.execute(Request::Plug(BlockRange::new(0x1_0000_0000, 64)));
/// assert_eq!(response, Response::Ack);
/// assert_eq!(device.plugged_size(), 128 * MIB);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct VirtioMemDevice<B> {
    pub(crate) properties: DeviceProperties,
    pub(crate) offered: Features,
    pub(crate) bitmap: Bitmap,
    pub(crate) usable_region_size: u64,
    pub(crate) plugged_size: u64,
    pub(crate) requested_size: u64,
    pub(crate) status: DeviceStatus,
    pub(crate) driver_features: Features,
    pub(crate) written_driver_features: u64,
    pub(crate) migration_in_progress: bool,
    pub(crate) removal_pending: bool,
    pub(crate) config_interrupt_pending: bool,
    pub(crate) config_interrupts: u64,
    pub(crate) driver_config_writes: u64,
    pub(crate) stats: RequestStats,
    pub(crate) trace: Vec<TraceEvent>,
    pub(crate) backend: B,
}

impl<B: MemoryBackend> VirtioMemDevice<B> {
    /// Creates the device: validates the properties, allocates the bitmap,
    /// discards the whole backing (everything starts unplugged) and computes
    /// the usable region from the initial requested size.
    pub fn new(properties: DeviceProperties, mut backend: B) -> Result<Self, CreateError> {
        properties.validate()?;
        let blocks = properties.block_count();
        let bitmap = Bitmap::new(blocks).map_err(|_| CreateError::BitmapAllocation { blocks })?;
        if properties.region_size != 0 {
            backend.discard(properties.whole_region()).map_err(CreateError::InitialDiscard)?;
        }
        let profile = properties.profile;
        let offered = profile.offered_features(
            properties.acpi_pxm,
            properties.unplugged_inaccessible,
            properties.persistent_suspend,
        );
        let mut device = Self {
            properties,
            offered,
            bitmap,
            usable_region_size: 0,
            plugged_size: 0,
            requested_size: properties.requested_size,
            status: DeviceStatus::empty(),
            driver_features: Features::empty(),
            written_driver_features: 0,
            migration_in_progress: false,
            removal_pending: false,
            config_interrupt_pending: false,
            config_interrupts: 0,
            driver_config_writes: 0,
            stats: RequestStats::default(),
            trace: Vec::new(),
            backend,
        };
        match profile {
            Profile::Qemu { .. } => device.resize_usable(properties.requested_size, true),
            Profile::CloudHypervisor => device.usable_region_size = properties.region_size,
            Profile::Firecracker { .. } => device.grow_usable_firecracker(properties.requested_size),
        }
        Ok(device)
    }

    // ----- observation -------------------------------------------------

    /// The properties the device was created with.
    pub const fn properties(&self) -> &DeviceProperties {
        &self.properties
    }

    /// The behaviour profile.
    pub const fn profile(&self) -> Profile {
        self.properties.profile
    }

    /// The configuration space as the driver sees it.
    pub const fn config(&self) -> ConfigSpace {
        ConfigSpace {
            block_size: self.properties.block_size,
            node_id: self.properties.node_id,
            addr: self.properties.addr,
            region_size: self.properties.region_size,
            usable_region_size: self.usable_region_size,
            plugged_size: self.plugged_size,
            requested_size: self.requested_size,
        }
    }

    /// Device block size.
    pub const fn block_size(&self) -> u64 {
        self.properties.block_size
    }

    /// Bytes plugged.
    pub const fn plugged_size(&self) -> u64 {
        self.plugged_size
    }

    /// Bytes the host requests.
    pub const fn requested_size(&self) -> u64 {
        self.requested_size
    }

    /// Size of the usable prefix of the region.
    pub const fn usable_region_size(&self) -> u64 {
        self.usable_region_size
    }

    /// Number of blocks in the region.
    pub const fn block_count(&self) -> u64 {
        self.bitmap.len()
    }

    /// Whether block `index` is plugged (`false` past the end).
    pub fn is_block_plugged(&self, index: u64) -> bool {
        self.bitmap.get(index).unwrap_or(false)
    }

    /// The plugged-block bitmap.
    pub const fn bitmap(&self) -> &Bitmap {
        &self.bitmap
    }

    /// The host memory behind the region.
    pub const fn backend(&self) -> &B {
        &self.backend
    }

    /// The host memory behind the region, mutably (e.g. to inject failures).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Counters of handled requests.
    pub const fn stats(&self) -> RequestStats {
        self.stats
    }

    /// Recorded trace events (empty unless the `trace` property is on).
    pub fn trace(&self) -> &[TraceEvent] {
        &self.trace
    }

    /// Takes the recorded trace events.
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        core::mem::take(&mut self.trace)
    }

    /// Returns and clears the pending configuration-change interrupt; a VMM
    /// polls this after host operations and injects the interrupt.
    pub fn take_config_interrupt(&mut self) -> bool {
        core::mem::take(&mut self.config_interrupt_pending)
    }

    /// Configuration-change interrupts raised since creation.
    pub const fn config_interrupt_count(&self) -> u64 {
        self.config_interrupts
    }

    /// How often the driver tried to write the (read-only) config space.
    pub const fn driver_config_writes(&self) -> u64 {
        self.driver_config_writes
    }

    /// Checks the §3 invariants against the bitmap (a full scan: for tests).
    /// Firecracker's profile is exempt from D4 because its UNPLUG_ALL zeroes
    /// the usable region regardless of the request (device spec §3.3).
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let block_size = self.block_size();
        let bitmap_bytes = self.bitmap.count_ones() * block_size;
        if bitmap_bytes != self.plugged_size {
            return Err(InvariantError::PluggedSizeMismatch { plugged_size: self.plugged_size, bitmap_bytes });
        }
        let (usable, requested) = (self.usable_region_size, self.requested_size);
        if usable < requested && !matches!(self.profile(), Profile::Firecracker { .. }) {
            return Err(InvariantError::UsableBelowRequested { usable, requested });
        }
        if usable > self.properties.region_size {
            return Err(InvariantError::UsableBeyondRegion { usable, region: self.properties.region_size });
        }
        for value in [usable, self.plugged_size, requested] {
            if value % block_size != 0 {
                return Err(InvariantError::Unaligned { value });
            }
        }
        let usable_blocks = usable / block_size;
        if let Some(run) = self.bitmap.set_runs().find(|run| run.end > usable_blocks) {
            return Err(InvariantError::PluggedBeyondUsable { block: run.end - 1 });
        }
        Ok(())
    }

    pub(crate) fn emit(&mut self, event: TraceEvent) {
        if self.properties.trace {
            self.trace.push(event);
        }
    }

    pub(crate) fn raise_config_interrupt(&mut self, reason: ConfigChangeReason) {
        self.config_interrupt_pending = true;
        self.config_interrupts += 1;
        self.emit(TraceEvent::ConfigInterrupt(reason));
    }

    // ----- driver side: status, features, config ------------------------

    /// Features the device offers (including `VIRTIO_F_VERSION_1`).
    pub const fn device_features(&self) -> Features {
        self.offered
    }

    /// Features negotiated at the last accepted FEATURES_OK (empty before).
    pub const fn driver_features(&self) -> Features {
        self.driver_features
    }

    /// The driver writes its feature bits (effective at FEATURES_OK).
    pub fn set_driver_features(&mut self, features: u64) {
        self.written_driver_features = features;
    }

    /// The device status register.
    pub const fn status(&self) -> DeviceStatus {
        self.status
    }

    /// The driver writes the status register. Writing 0 resets the device
    /// (which keeps every block's state, D13/D14). Setting FEATURES_OK
    /// validates the written features; setting DRIVER_OK activates the
    /// device. A refused bit stays clear, as on a real transport, and the
    /// reason is returned.
    pub fn set_status(&mut self, value: u8) -> Result<(), StatusError> {
        if value == 0 {
            self.virtio_reset();
            return Ok(());
        }
        // DEVICE_NEEDS_RESET belongs to the device; the driver cannot set or
        // clear it (only a reset clears it).
        let needs_reset = self.status & DeviceStatus::DEVICE_NEEDS_RESET;
        let requested = DeviceStatus::from_bits_truncate(value) - DeviceStatus::DEVICE_NEEDS_RESET;
        let newly = requested - self.status;
        let mut accepted = requested;
        let mut result = Ok(());
        if newly.contains(DeviceStatus::FEATURES_OK) {
            let check_inaccessible = self.profile().refuses_at_features_ok();
            match validate_features(self.offered, self.written_driver_features, check_inaccessible) {
                Ok(features) => self.driver_features = features,
                Err(error) => {
                    accepted -= DeviceStatus::FEATURES_OK | DeviceStatus::DRIVER_OK;
                    result = Err(error);
                }
            }
        }
        if result.is_ok() && newly.contains(DeviceStatus::DRIVER_OK) {
            if !accepted.contains(DeviceStatus::FEATURES_OK) {
                accepted -= DeviceStatus::DRIVER_OK;
                result = Err(StatusError::DriverOkBeforeFeaturesOk);
            } else if let Err(error) = check_unplugged_inaccessible(self.offered, self.driver_features) {
                // Firecracker checks at activation (QEMU already refused
                // FEATURES_OK, so this only fires for Firecracker).
                accepted -= DeviceStatus::DRIVER_OK;
                result = Err(error);
            }
        }
        self.status = accepted | needs_reset;
        result
    }

    /// Device (transport) reset: status and negotiated features are cleared,
    /// nothing about blocks, sizes or memory changes (device spec §6.3).
    pub fn virtio_reset(&mut self) {
        self.status = DeviceStatus::empty();
        self.driver_features = Features::empty();
        self.written_driver_features = 0;
    }

    /// Serves a driver's config read.
    pub fn read_config(&self, offset: usize, buf: &mut [u8]) -> Result<(), ConfigAccessError> {
        self.config().read(offset, buf)
    }

    /// A driver's config write: ignored (the config space is read-only,
    /// R1), only counted. Out-of-range writes are errors.
    pub fn write_config(&mut self, offset: usize, data: &[u8]) -> Result<(), ConfigAccessError> {
        let error = ConfigAccessError { offset, len: data.len() };
        match offset.checked_add(data.len()) {
            Some(end) if end <= CONFIG_SIZE => {
                self.driver_config_writes += 1;
                Ok(())
            }
            _ => Err(error),
        }
    }
}
