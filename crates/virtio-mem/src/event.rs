//! What the device reports to its host: trace events in the order QEMU
//! emits its own `virtio_mem_*` trace points (so a recording of a real QEMU
//! can be compared event by event), plus the host-visible notifications.

use crate::queue::ProtocolViolation;
use crate::wire::{BlockRange, BlockState, ResponseType};

/// Why a configuration-change interrupt was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigChangeReason {
    /// A host resize (raised on every accepted resize, even to the same size).
    Resize,
    /// The device entered DEVICE_NEEDS_RESET after a protocol violation.
    NeedsReset,
}

/// One device event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceEvent {
    /// `usable_region_size` was (re)set, also when the value did not change
    /// (QEMU: `virtio_mem_resized_usable_region`).
    UsableRegionResized {
        /// Value before.
        old: u64,
        /// Value after.
        new: u64,
    },
    /// A PLUG request arrived (`virtio_mem_plug_request`).
    PlugRequest(BlockRange),
    /// An UNPLUG request arrived (`virtio_mem_unplug_request`).
    UnplugRequest(BlockRange),
    /// An UNPLUG_ALL request arrived (`virtio_mem_unplug_all_request`).
    UnplugAllRequest,
    /// Everything was unplugged, by request or by system reset
    /// (`virtio_mem_unplugged_all`).
    UnpluggedAll,
    /// A STATE request arrived (`virtio_mem_state_request`).
    StateRequest(BlockRange),
    /// The state answered to a valid STATE request
    /// (`virtio_mem_state_response`).
    StateResponse(BlockState),
    /// A response was sent (`virtio_mem_send_response`).
    SendResponse(ResponseType),
    /// `plugged_size` changed (QEMU's QMP `MEMORY_DEVICE_SIZE_CHANGE`).
    SizeChanged {
        /// The new plugged size.
        plugged_size: u64,
    },
    /// A configuration-change interrupt was raised.
    ConfigInterrupt(ConfigChangeReason),
    /// A descriptor chain broke the protocol and was dropped.
    ProtocolViolation(ProtocolViolation),
}
