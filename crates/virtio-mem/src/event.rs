//! What the device reports to its host: trace events in the order QEMU
//! emits its own `virtio_mem_*` trace points (so a recording of a real QEMU
//! can be compared event by event), plus the host-visible notifications.

use alloc::format;
use alloc::string::String;

use crate::wire::{BlockRange, BlockState, ProtocolViolation, ResponseType};

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

impl TraceEvent {
    /// The event as the line QEMU's `-trace enable=virtio_mem_*` writes
    /// (pid and timestamp removed, as in the fixtures' `requests.log`), or
    /// `None` for the events QEMU does not trace. Lets a test compare a run
    /// with a recording line by line.
    pub fn to_qemu_trace(&self) -> Option<String> {
        let range_line = |name: &str, range: &BlockRange| {
            format!("virtio_mem_{name} addr={:#x} nb_blocks={}", range.addr, range.nb_blocks)
        };
        Some(match self {
            // QEMU prints no space between the two fields.
            Self::UsableRegionResized { old, new } => {
                format!("virtio_mem_resized_usable_region old_size={old:#x}new_size={new:#x}")
            }
            Self::PlugRequest(range) => range_line("plug_request", range),
            Self::UnplugRequest(range) => range_line("unplug_request", range),
            Self::UnplugAllRequest => String::from("virtio_mem_unplug_all_request"),
            Self::UnpluggedAll => String::from("virtio_mem_unplugged_all"),
            Self::StateRequest(range) => range_line("state_request", range),
            Self::StateResponse(state) => format!("virtio_mem_state_response state={}", *state as u16),
            Self::SendResponse(response) => format!("virtio_mem_send_response type={}", *response as u16),
            Self::SizeChanged { .. } | Self::ConfigInterrupt(_) | Self::ProtocolViolation(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_trace_lines() {
        let resized = TraceEvent::UsableRegionResized { old: 0, new: 0x5000_0000 };
        assert_eq!(
            resized.to_qemu_trace().as_deref(),
            Some("virtio_mem_resized_usable_region old_size=0x0new_size=0x50000000")
        );
        let plug = TraceEvent::PlugRequest(BlockRange::new(0x1_0000_0000, 64));
        assert_eq!(plug.to_qemu_trace().as_deref(), Some("virtio_mem_plug_request addr=0x100000000 nb_blocks=64"));
        assert_eq!(
            TraceEvent::StateResponse(BlockState::Mixed).to_qemu_trace().as_deref(),
            Some("virtio_mem_state_response state=2")
        );
        assert_eq!(TraceEvent::SizeChanged { plugged_size: 0 }.to_qemu_trace(), None);
    }
}
