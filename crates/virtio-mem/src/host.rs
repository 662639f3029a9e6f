//! The host side of the device: resize (device spec §6.2), the usable-region
//! rules (§6.1), resets (§6.3), the busy condition (§6.4) and device removal
//! (§6.5).

use thiserror::Error;

use crate::backing::MemoryBackend;
use crate::device::VirtioMemDevice;
use crate::event::{ConfigChangeReason, TraceEvent};
use crate::profile::Profile;
use crate::status::DeviceStatus;
use crate::wire::Features;

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

impl<B: MemoryBackend> VirtioMemDevice<B> {
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

    pub(crate) fn set_usable(&mut self, new: u64) {
        let old = self.usable_region_size;
        self.emit(TraceEvent::UsableRegionResized { old, new });
        self.usable_region_size = new;
    }

    /// §6.1: `min(region, R + extent)` rounded up to the block size, 0 for
    /// R = 0; a smaller value is applied only when shrinking is allowed.
    /// Applying is traced even when the value stays the same.
    pub(crate) fn resize_usable(&mut self, requested: u64, can_shrink: bool) {
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
    pub(crate) fn grow_usable_firecracker(&mut self, requested: u64) {
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
