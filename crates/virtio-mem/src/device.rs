//! The device: its state (device spec §3, §5), the request semantics in the
//! profile's order (§5.2–§5.4), the usable-region rules (§6.1), host resize
//! (§6.2), resets (§6.3) and the virtio status / feature handshake.

use alloc::vec::Vec;
use thiserror::Error;

use crate::backing::{BlockSpan, MemoryBackend};
use crate::bitmap::{Bitmap, RangeFill};
use crate::config::{CONFIG_SIZE, ConfigAccessError, ConfigSpace};
use crate::event::{ConfigChangeReason, TraceEvent};
use crate::profile::{PlugCheckOrder, Profile};
use crate::properties::{CreateError, DeviceProperties};
use crate::status::{DeviceStatus, StatusError, check_unplugged_inaccessible, validate_features};
use crate::wire::{BlockRange, BlockState, Features, Request, Response};

/// Why a host resize was refused (the guest sees nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum ResizeError {
    /// Not a multiple of the block size.
    #[error("requested size {requested_size:#x} is not a multiple of the block size {block_size:#x}")]
    NotBlockAligned {
        /// The size asked for.
        requested_size: u64,
        /// The block size.
        block_size: u64,
    },
    /// Larger than the region.
    #[error("requested size {requested_size:#x} exceeds the region size {region_size:#x}")]
    ExceedsRegion {
        /// The size asked for.
        requested_size: u64,
        /// The region size.
        region_size: u64,
    },
    /// The host asked to remove the whole device (virtio-mem-pci refuses
    /// resizes while that is pending).
    #[error("device removal is pending; resizing is refused")]
    RemovalPending,
    /// The profile resizes only an activated device (Firecracker).
    #[error("the device is not activated by a driver yet")]
    NotActivated,
    /// The profile refuses a resize to the current size (cloud-hypervisor).
    #[error("requested size {requested_size:#x} is already the requested size")]
    Unchanged {
        /// The size asked for.
        requested_size: u64,
    },
}

/// Why the whole device cannot be removed by the host (§6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum RemovalError {
    /// Removal needs UNPLUGGED_INACCESSIBLE offered.
    #[error("device removal requires unplugged-inaccessible to be on")]
    InaccessibleOff,
    /// Memory is still plugged.
    #[error("{plugged_size:#x} bytes are still plugged")]
    MemoryPlugged {
        /// Plugged bytes.
        plugged_size: u64,
    },
    /// The host still requests memory.
    #[error("requested size is {requested_size:#x}, not 0")]
    MemoryRequested {
        /// Requested bytes.
        requested_size: u64,
    },
}

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
    properties: DeviceProperties,
    offered: Features,
    bitmap: Bitmap,
    usable_region_size: u64,
    plugged_size: u64,
    requested_size: u64,
    pub(crate) status: DeviceStatus,
    driver_features: Features,
    written_driver_features: u64,
    migration_in_progress: bool,
    removal_pending: bool,
    config_interrupt_pending: bool,
    config_interrupts: u64,
    driver_config_writes: u64,
    pub(crate) stats: RequestStats,
    trace: Vec<TraceEvent>,
    backend: B,
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
            backend.discard(whole_region(&properties)).map_err(CreateError::InitialDiscard)?;
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

    // ----- host side -----------------------------------------------------

    /// Marks an outgoing migration (or incoming postcopy) as running or not:
    /// while it runs, PLUG/UNPLUG and UNPLUG_ALL with memory plugged are
    /// answered BUSY in the reference profile (§6.4).
    pub fn set_migration_in_progress(&mut self, running: bool) {
        self.migration_in_progress = running;
    }

    /// Whether the reference profile would answer BUSY now.
    pub const fn is_busy(&self) -> bool {
        self.migration_in_progress && self.properties.profile.honours_busy()
    }

    /// Marks a host request to remove the whole device as pending or not.
    pub fn set_removal_pending(&mut self, pending: bool) {
        self.removal_pending = pending;
    }

    /// Whether the host may remove the whole device now (§6.5):
    /// UNPLUGGED_INACCESSIBLE offered, nothing plugged, nothing requested.
    pub fn can_remove(&self) -> Result<(), RemovalError> {
        if !self.offered.contains(Features::UNPLUGGED_INACCESSIBLE) {
            return Err(RemovalError::InaccessibleOff);
        }
        if self.plugged_size != 0 {
            return Err(RemovalError::MemoryPlugged { plugged_size: self.plugged_size });
        }
        if self.requested_size != 0 {
            return Err(RemovalError::MemoryRequested { requested_size: self.requested_size });
        }
        Ok(())
    }

    /// The host sets the requested size (QEMU: `qom-set … requested-size`).
    ///
    /// Refused unless block aligned and within the region. When the value
    /// changes, the usable region is grown (never shrunk) before the new
    /// size is stored. A config-change interrupt is raised on every accepted
    /// call, even when nothing changed (QEMU does; D11 allows it). Plugged
    /// blocks are never touched: a smaller request asks the guest to unplug.
    pub fn resize(&mut self, requested_size: u64) -> Result<(), ResizeError> {
        let block_size = self.block_size();
        let region_size = self.properties.region_size;
        if requested_size % block_size != 0 {
            return Err(ResizeError::NotBlockAligned { requested_size, block_size });
        }
        if requested_size > region_size {
            return Err(ResizeError::ExceedsRegion { requested_size, region_size });
        }
        if self.removal_pending {
            return Err(ResizeError::RemovalPending);
        }
        let profile = self.profile();
        if profile.resize_needs_driver() && !self.status.contains(DeviceStatus::DRIVER_OK) {
            return Err(ResizeError::NotActivated);
        }
        if profile.rejects_unchanged_resize() && requested_size == self.requested_size {
            return Err(ResizeError::Unchanged { requested_size });
        }
        if requested_size != self.requested_size {
            match profile {
                Profile::Qemu { .. } => self.resize_usable(requested_size, false),
                Profile::CloudHypervisor => {}
                Profile::Firecracker { .. } => self.grow_usable_firecracker(requested_size),
            }
            self.requested_size = requested_size;
        }
        self.raise_config_interrupt(ConfigChangeReason::Resize);
        Ok(())
    }

    /// A whole-machine reset (reboot): everything is unplugged as by
    /// UNPLUG_ALL (including its busy check: during a migration with memory
    /// plugged nothing changes and the rebooted guest must send UNPLUG_ALL),
    /// and the virtio transport is reset.
    pub fn system_reset(&mut self) {
        // The answer is irrelevant here; a BUSY outcome leaves memory plugged.
        let _ = self.unplug_all();
        self.virtio_reset();
    }

    /// A wakeup from suspend-to-RAM, which QEMU delivers as a system reset of
    /// type "wakeup": the transport is reset, every block stays as it is
    /// (what PERSISTENT_SUSPEND promises, D23).
    pub fn wakeup_reset(&mut self) {
        self.virtio_reset();
    }

    // ----- requests ------------------------------------------------------

    /// Executes one decoded request and returns the response (the transport
    /// layer in [`queue`](crate::queue) adds descriptor handling).
    pub fn execute(&mut self, request: Request) -> Response {
        let response = match request {
            Request::Plug(range) => {
                self.emit(TraceEvent::PlugRequest(range));
                self.plug(range)
            }
            Request::Unplug(range) => {
                self.emit(TraceEvent::UnplugRequest(range));
                self.unplug(range)
            }
            Request::UnplugAll => {
                self.emit(TraceEvent::UnplugAllRequest);
                self.unplug_all()
            }
            Request::State(range) => {
                self.emit(TraceEvent::StateRequest(range));
                self.state(range)
            }
        };
        let response_type = response.response_type();
        self.stats.requests += 1;
        if let Some(count) = self.stats.responses.get_mut(response_type as usize) {
            *count += 1;
        }
        self.emit(TraceEvent::SendResponse(response_type));
        response
    }

    /// The range validity predicate `valid(gpa, nb)` of §5.1: aligned,
    /// non-empty, not overflowing, inside the usable region. A block count
    /// whose byte size overflows 64 bits is invalid too (QEMU would wrap;
    /// only possible with block sizes of 2^48 and more).
    fn valid_span(&self, range: BlockRange) -> Option<BlockSpan> {
        let block_size = self.block_size();
        let size = u64::from(range.nb_blocks).checked_mul(block_size)?;
        if range.addr % block_size != 0 || size == 0 {
            return None;
        }
        let end = range.addr.checked_add(size)?;
        let region_start = self.properties.addr;
        // Cannot overflow: creation checked addr + region_size.
        let usable_end = region_start + self.usable_region_size;
        if range.addr < region_start || range.addr >= usable_end || end > usable_end {
            return None;
        }
        Some(BlockSpan {
            first_block: (range.addr - region_start) / block_size,
            nb_blocks: u64::from(range.nb_blocks),
            addr: range.addr,
            size,
        })
    }

    fn exceeds_request(&self, size: u64) -> bool {
        self.plugged_size.saturating_add(size) > self.requested_size
    }

    /// PLUG, §5.2: range → limit (NACK) → states → busy → host → ACK, or
    /// the profile's order.
    fn plug(&mut self, range: BlockRange) -> Response {
        let profile = self.profile();
        if profile.plug_check_order() == PlugCheckOrder::LimitFirst {
            let size = u64::from(range.nb_blocks).saturating_mul(self.block_size());
            if self.exceeds_request(size) {
                return profile.too_large_plug();
            }
        }
        let Some(span) = self.valid_span(range) else {
            return Response::ERROR;
        };
        if profile.plug_check_order() == PlugCheckOrder::RangeFirst && self.exceeds_request(span.size) {
            return profile.too_large_plug();
        }
        if !matches!(self.bitmap.range_fill(span.first_block, span.nb_blocks), Ok(RangeFill::AllClear)) {
            return Response::ERROR;
        }
        if self.is_busy() {
            return Response::Busy;
        }
        if self.backend.populate(span).is_err() {
            // Roll back whatever the failed preparation touched; a failure
            // here changes nothing more (the blocks stay unplugged).
            let _ = self.backend.discard(span);
            return profile.populate_failure();
        }
        if self.bitmap.set_range(span.first_block, span.nb_blocks).is_err() {
            return Response::ERROR;
        }
        self.plugged_size += span.size;
        self.emit(TraceEvent::SizeChanged { plugged_size: self.plugged_size });
        Response::Ack
    }

    /// UNPLUG, §5.2: range → states → busy → discard → ACK. Never NACK, and
    /// never refused for going below the requested size.
    fn unplug(&mut self, range: BlockRange) -> Response {
        let Some(span) = self.valid_span(range) else {
            return Response::ERROR;
        };
        if !matches!(self.bitmap.range_fill(span.first_block, span.nb_blocks), Ok(RangeFill::AllSet)) {
            return Response::ERROR;
        }
        if self.is_busy() {
            return Response::Busy;
        }
        if self.backend.discard(span).is_err() {
            if let Some(response) = self.profile().discard_failure() {
                return response;
            }
        }
        if self.bitmap.clear_range(span.first_block, span.nb_blocks).is_err() {
            return Response::ERROR;
        }
        self.plugged_size -= span.size;
        self.emit(TraceEvent::SizeChanged { plugged_size: self.plugged_size });
        Response::Ack
    }

    /// UNPLUG_ALL, §5.3 (also the system-reset path). Reference profile:
    /// with memory plugged, BUSY while busy or when the discard fails;
    /// otherwise unplug everything, then recompute the usable region with
    /// shrinking allowed, and ACK without a config interrupt.
    fn unplug_all(&mut self) -> Response {
        let profile = self.profile();
        let whole = whole_region(&self.properties);
        match profile {
            Profile::Qemu { .. } => {
                if self.plugged_size != 0 {
                    if self.is_busy() || self.backend.discard(whole).is_err() {
                        return Response::Busy;
                    }
                    self.unplug_everything();
                }
                self.emit(TraceEvent::UnpluggedAll);
                self.resize_usable(self.requested_size, true);
            }
            Profile::CloudHypervisor => {
                if self.backend.discard(whole).is_err() {
                    return Response::ERROR;
                }
                self.unplug_everything();
                self.emit(TraceEvent::UnpluggedAll);
            }
            Profile::Firecracker { .. } => {
                // Firecracker logs a failed discard and carries on.
                let _ = self.backend.discard(whole);
                self.unplug_everything();
                self.emit(TraceEvent::UnpluggedAll);
                self.set_usable(0);
            }
        }
        Response::Ack
    }

    fn unplug_everything(&mut self) {
        self.bitmap.clear_all();
        if self.plugged_size != 0 {
            self.plugged_size = 0;
            self.emit(TraceEvent::SizeChanged { plugged_size: 0 });
        }
    }

    /// STATE, §5.4: ERROR for an invalid range, else the range's state.
    fn state(&mut self, range: BlockRange) -> Response {
        let Some(span) = self.valid_span(range) else {
            return Response::Error { state_field: self.profile().state_error_field() };
        };
        let state = match self.bitmap.range_fill(span.first_block, span.nb_blocks) {
            Ok(RangeFill::AllSet) => BlockState::Plugged,
            Ok(RangeFill::AllClear) => BlockState::Unplugged,
            Ok(RangeFill::Mixed) => BlockState::Mixed,
            Err(_) => return Response::ERROR,
        };
        self.emit(TraceEvent::StateResponse(state));
        Response::AckState(state)
    }

    // ----- usable region ---------------------------------------------------

    fn set_usable(&mut self, new: u64) {
        let old = self.usable_region_size;
        self.emit(TraceEvent::UsableRegionResized { old, new });
        self.usable_region_size = new;
    }

    /// §6.1: `min(region, R + extent)` rounded up to the block size, 0 for
    /// R = 0; a smaller value is applied only when shrinking is allowed.
    /// Applying is traced even when the value stays the same.
    fn resize_usable(&mut self, requested: u64, can_shrink: bool) {
        let Profile::Qemu { usable_extent } = self.profile() else {
            return;
        };
        let region_size = self.properties.region_size;
        let candidate = if requested == 0 {
            0
        } else {
            let capped = region_size.min(requested.saturating_add(usable_extent));
            round_up(capped, self.block_size()).map_or(region_size, |v| v.min(region_size))
        };
        if candidate < self.usable_region_size && !can_shrink {
            return;
        }
        self.set_usable(candidate);
    }

    /// Firecracker: grow to the request rounded up to the slot size when
    /// the usable region is smaller than the request.
    fn grow_usable_firecracker(&mut self, requested: u64) {
        let Profile::Firecracker { slot_size } = self.profile() else {
            return;
        };
        if self.usable_region_size >= requested {
            return;
        }
        let region_size = self.properties.region_size;
        let new = round_up(requested, slot_size)
            .and_then(|v| round_up(v, self.block_size()))
            .map_or(region_size, |v| v.min(region_size));
        self.set_usable(new);
    }
}

/// `value` rounded up to a multiple of `align` (non-zero), if representable.
fn round_up(value: u64, align: u64) -> Option<u64> {
    value.div_ceil(align).checked_mul(align)
}

fn whole_region(properties: &DeviceProperties) -> BlockSpan {
    BlockSpan {
        first_block: 0,
        nb_blocks: properties.block_count(),
        addr: properties.addr,
        size: properties.region_size,
    }
}
