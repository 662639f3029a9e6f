//! Behaviour profiles: the reference profile (QEMU, device spec §7) and the
//! divergent orders of cloud-hypervisor and Firecracker (device spec §9), so
//! that a guest driver can be tested against each of them.
//!
//! A profile only answers questions ("which check comes first?", "what does
//! a failed discard answer?"); the device's decision code asks them.

use crate::wire::{Features, Response};

/// One MiB.
pub const MIB: u64 = 1 << 20;

/// One GiB.
pub const GIB: u64 = 1 << 30;

/// QEMU's usable-region extent for x86 and s390x targets: two 128 MiB Linux
/// memory blocks.
pub const USABLE_EXTENT_X86: u64 = 256 * MIB;

/// QEMU's usable-region extent for ARM targets: two 512 MiB sections.
pub const USABLE_EXTENT_ARM: u64 = GIB;

/// The only block size cloud-hypervisor supports.
pub const CLOUD_HYPERVISOR_BLOCK_SIZE: u64 = 2 * MIB;

/// Cloud-hypervisor's region size granularity.
pub const CLOUD_HYPERVISOR_REGION_ALIGNMENT: u64 = 128 * MIB;

/// Default Firecracker memory slot size used to round the usable region.
pub const FIRECRACKER_DEFAULT_SLOT_SIZE: u64 = 128 * MIB;

/// Whose behaviour the device reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// The reference profile (QEMU): §4.3, §5, §6 of the device spec.
    Qemu {
        /// How far the usable region extends past the requested size
        /// (256 MiB on x86, 1 GiB on ARM).
        usable_extent: u64,
    },
    /// Cloud Hypervisor: NACK check before range validity, no BUSY, usable
    /// region always the whole region, ERROR on discard failure.
    CloudHypervisor,
    /// Firecracker: too-large PLUG is ERROR, no NACK/BUSY, usable region
    /// grows in slot-size steps and drops to 0 on UNPLUG_ALL.
    Firecracker {
        /// Slot size the usable region is rounded up to on a resize.
        slot_size: u64,
    },
}

impl Default for Profile {
    fn default() -> Self {
        Self::qemu_x86_64()
    }
}

/// The order of the PLUG checks, from the first one evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PlugCheckOrder {
    /// Range → requested-size limit → block states (QEMU, Firecracker).
    RangeFirst,
    /// Requested-size limit → range → block states (cloud-hypervisor).
    LimitFirst,
}

/// What the device does after a descriptor-level protocol violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationHandling {
    /// Enter DEVICE_NEEDS_RESET, raise a config interrupt, stop processing
    /// until the driver resets the device (QEMU; cloud-hypervisor's handler
    /// thread dies, which has the same effect).
    NeedsReset,
    /// Drop the chain and stop the current batch, but keep working
    /// (Firecracker logs and goes on).
    AbortBatch,
}

/// How the device checks the descriptor chain's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainCheck {
    /// At least 24 readable and 10 writable bytes, over any number of
    /// descriptors (QEMU copies across descriptors).
    Gathered,
    /// The first readable descriptor is exactly 24 bytes (cloud-hypervisor).
    ExactRequestDescriptor,
    /// The first readable descriptor holds at least 24 bytes and the first
    /// writable one at least 10 (Firecracker).
    FirstDescriptors,
}

impl Profile {
    /// QEMU on an x86-64 target (256 MiB usable extent).
    pub const fn qemu_x86_64() -> Self {
        Self::Qemu { usable_extent: USABLE_EXTENT_X86 }
    }

    /// QEMU on an arm64 target (1 GiB usable extent).
    pub const fn qemu_arm64() -> Self {
        Self::Qemu { usable_extent: USABLE_EXTENT_ARM }
    }

    /// Cloud Hypervisor.
    pub const fn cloud_hypervisor() -> Self {
        Self::CloudHypervisor
    }

    /// Firecracker with the default slot size.
    pub const fn firecracker() -> Self {
        Self::Firecracker { slot_size: FIRECRACKER_DEFAULT_SLOT_SIZE }
    }

    /// A short name for messages.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Qemu { .. } => "qemu",
            Self::CloudHypervisor => "cloud-hypervisor",
            Self::Firecracker { .. } => "firecracker",
        }
    }

    /// The features the profile offers, given the device's properties.
    ///
    /// QEMU offers each bit when the platform supports it; cloud-hypervisor
    /// offers ACPI_PXM only (when a node is configured); Firecracker offers
    /// UNPLUGGED_INACCESSIBLE only.
    pub(crate) fn offered_features(
        &self,
        acpi_pxm: bool,
        unplugged_inaccessible: bool,
        persistent_suspend: bool,
    ) -> Features {
        let mut features = Features::VERSION_1;
        match self {
            Self::Qemu { .. } => {
                features.set(Features::ACPI_PXM, acpi_pxm);
                features.set(Features::UNPLUGGED_INACCESSIBLE, unplugged_inaccessible);
                features.set(Features::PERSISTENT_SUSPEND, persistent_suspend);
            }
            Self::CloudHypervisor => features.set(Features::ACPI_PXM, acpi_pxm),
            Self::Firecracker { .. } => features |= Features::UNPLUGGED_INACCESSIBLE,
        }
        features
    }

    pub(crate) const fn plug_check_order(&self) -> PlugCheckOrder {
        match self {
            Self::CloudHypervisor => PlugCheckOrder::LimitFirst,
            Self::Qemu { .. } | Self::Firecracker { .. } => PlugCheckOrder::RangeFirst,
        }
    }

    /// The answer to a PLUG that would exceed the requested size.
    pub(crate) const fn too_large_plug(&self) -> Response {
        match self {
            Self::Qemu { .. } | Self::CloudHypervisor => Response::Nack,
            Self::Firecracker { .. } => Response::ERROR,
        }
    }

    /// Whether the host's busy condition (migration) is honoured.
    pub(crate) const fn honours_busy(&self) -> bool {
        matches!(self, Self::Qemu { .. })
    }

    /// The answer when discarding host memory fails; `None` means the failure
    /// is ignored and the request proceeds (Firecracker).
    pub(crate) const fn discard_failure(&self) -> Option<Response> {
        match self {
            Self::Qemu { .. } => Some(Response::Busy),
            Self::CloudHypervisor => Some(Response::ERROR),
            Self::Firecracker { .. } => None,
        }
    }

    /// The answer when preparing host memory for a PLUG fails.
    pub(crate) const fn populate_failure(&self) -> Response {
        match self {
            Self::Qemu { .. } => Response::Busy,
            Self::CloudHypervisor | Self::Firecracker { .. } => Response::ERROR,
        }
    }

    /// The state field written with ERROR to an invalid STATE request.
    /// Cloud-hypervisor computes it from a wrapped offset; any non-zero
    /// value models that garbage, which the driver must ignore (R21).
    pub(crate) const fn state_error_field(&self) -> u16 {
        match self {
            Self::CloudHypervisor => 0xa5a5,
            Self::Qemu { .. } | Self::Firecracker { .. } => 0,
        }
    }

    /// Whether a resize to the current requested size is refused.
    pub(crate) const fn rejects_unchanged_resize(&self) -> bool {
        matches!(self, Self::CloudHypervisor)
    }

    /// Whether a resize needs an activated (DRIVER_OK) device.
    pub(crate) const fn resize_needs_driver(&self) -> bool {
        matches!(self, Self::Firecracker { .. })
    }

    /// Whether FEATURES_OK (QEMU) or DRIVER_OK (Firecracker) is refused when
    /// the driver did not accept an offered UNPLUGGED_INACCESSIBLE.
    pub(crate) const fn refuses_at_features_ok(&self) -> bool {
        matches!(self, Self::Qemu { .. })
    }

    /// What happens after a descriptor-level protocol violation.
    pub const fn violation_handling(&self) -> ViolationHandling {
        match self {
            Self::Qemu { .. } | Self::CloudHypervisor => ViolationHandling::NeedsReset,
            Self::Firecracker { .. } => ViolationHandling::AbortBatch,
        }
    }

    /// How the descriptor chain's buffers are checked.
    pub const fn chain_check(&self) -> ChainCheck {
        match self {
            Self::Qemu { .. } => ChainCheck::Gathered,
            Self::CloudHypervisor => ChainCheck::ExactRequestDescriptor,
            Self::Firecracker { .. } => ChainCheck::FirstDescriptors,
        }
    }
}
