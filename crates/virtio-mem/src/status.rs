//! Virtio device status and feature negotiation (device spec §2.1).

use bitflags::bitflags;
use thiserror::Error;

use crate::wire::Features;

bitflags! {
    /// The virtio device status register.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct DeviceStatus: u8 {
        /// The guest found the device.
        const ACKNOWLEDGE = 1;
        /// The guest has a driver for it.
        const DRIVER = 2;
        /// The driver is set up and ready.
        const DRIVER_OK = 4;
        /// Feature negotiation is complete.
        const FEATURES_OK = 8;
        /// The device hit an error it cannot recover from without a reset.
        const DEVICE_NEEDS_RESET = 64;
        /// The driver gave up on the device.
        const FAILED = 128;
    }
}

/// Why the device refused FEATURES_OK or DRIVER_OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum StatusError {
    /// The driver accepted bits the device did not offer.
    #[error("driver accepted features {accepted:#x} outside the offered {offered:#x}")]
    UnofferedFeatures {
        /// Driver's features.
        accepted: u64,
        /// Device's features.
        offered: u64,
    },
    /// The driver did not accept VIRTIO_F_VERSION_1 (the device is modern-only).
    #[error("driver did not accept VIRTIO_F_VERSION_1; the device is modern-only")]
    Version1Required,
    /// UNPLUGGED_INACCESSIBLE was offered but not accepted (QEMU refuses
    /// FEATURES_OK, Firecracker refuses activation; spec D12).
    #[error("driver did not accept the offered VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE")]
    UnpluggedInaccessibleRequired,
    /// DRIVER_OK without a successful FEATURES_OK.
    #[error("DRIVER_OK written before FEATURES_OK was accepted")]
    DriverOkBeforeFeaturesOk,
}

/// Checks the driver's features against the offered ones, as done at
/// FEATURES_OK. `check_inaccessible` selects whether the
/// UNPLUGGED_INACCESSIBLE rule is enforced at this point.
pub(crate) fn validate_features(
    offered: Features,
    accepted: u64,
    check_inaccessible: bool,
) -> Result<Features, StatusError> {
    let Some(features) = Features::from_bits(accepted).filter(|f| offered.contains(*f)) else {
        return Err(StatusError::UnofferedFeatures { accepted, offered: offered.bits() });
    };
    if !features.contains(Features::VERSION_1) {
        return Err(StatusError::Version1Required);
    }
    if check_inaccessible {
        check_unplugged_inaccessible(offered, features)?;
    }
    Ok(features)
}

/// The UNPLUGGED_INACCESSIBLE rule: offered means required.
pub(crate) fn check_unplugged_inaccessible(offered: Features, accepted: Features) -> Result<(), StatusError> {
    if offered.contains(Features::UNPLUGGED_INACCESSIBLE) && !accepted.contains(Features::UNPLUGGED_INACCESSIBLE) {
        return Err(StatusError::UnpluggedInaccessibleRequired);
    }
    Ok(())
}
