//! The virtio-mem wire format: identifiers, feature bits, the 24-byte request
//! and the 10-byte response (device spec §2, §4).
//!
//! Every layout is a `zerocopy` struct of little-endian fields, so encoding
//! and decoding are checked byte copies rather than pointer casts. Decoding a
//! request is total: any byte string gives either a typed [`Request`] or a
//! typed [`RequestDecodeError`].

use bitflags::bitflags;
use thiserror::Error;
use zerocopy::byteorder::little_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The virtio device ID of a memory device.
pub const VIRTIO_ID_MEM: u32 = 24;

/// The number of virtqueues the device has (only "guest-request").
pub const QUEUE_COUNT: usize = 1;

/// Index of the single request queue.
pub const GUEST_REQUEST_QUEUE: u16 = 0;

/// Queue size QEMU (and cloud-hypervisor) give the request queue.
pub const QUEUE_SIZE: u16 = 128;

/// Size of an encoded request.
pub const REQUEST_SIZE: usize = 24;

/// Size of an encoded response.
pub const RESPONSE_SIZE: usize = 10;

bitflags! {
    /// Feature bits of a virtio-mem device, including the one transport bit
    /// the device requires (`VIRTIO_F_VERSION_1`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Features: u64 {
        /// `VIRTIO_MEM_F_ACPI_PXM` (bit 0): `node_id` is an ACPI proximity
        /// domain.
        const ACPI_PXM = 1 << 0;
        /// `VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE` (bit 1): the driver must not
        /// read unplugged memory at all.
        const UNPLUGGED_INACCESSIBLE = 1 << 1;
        /// `VIRTIO_MEM_F_PERSISTENT_SUSPEND` (bit 2): plugged state survives
        /// suspend-to-RAM.
        const PERSISTENT_SUSPEND = 1 << 2;
        /// `VIRTIO_F_VERSION_1` (bit 32): modern virtio. The device is
        /// modern-only, so it always offers and requires it.
        const VERSION_1 = 1 << 32;
    }
}

/// Request types as they appear on the wire (`type`, offset 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RequestType {
    /// `VIRTIO_MEM_REQ_PLUG`.
    Plug = 0,
    /// `VIRTIO_MEM_REQ_UNPLUG`.
    Unplug = 1,
    /// `VIRTIO_MEM_REQ_UNPLUG_ALL`.
    UnplugAll = 2,
    /// `VIRTIO_MEM_REQ_STATE`.
    State = 3,
}

impl RequestType {
    /// The type with wire value `value`, if there is one.
    pub const fn from_wire(value: u16) -> Option<Self> {
        match value {
            0 => Some(Self::Plug),
            1 => Some(Self::Unplug),
            2 => Some(Self::UnplugAll),
            3 => Some(Self::State),
            _ => None,
        }
    }
}

/// Response types as they appear on the wire (`type`, offset 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ResponseType {
    /// `VIRTIO_MEM_RESP_ACK`: the request was executed.
    Ack = 0,
    /// `VIRTIO_MEM_RESP_NACK`: PLUG refused because it would exceed the
    /// requested size.
    Nack = 1,
    /// `VIRTIO_MEM_RESP_BUSY`: the device cannot act right now; retry later.
    Busy = 2,
    /// `VIRTIO_MEM_RESP_ERROR`: the request was invalid for the current state.
    Error = 3,
}

impl ResponseType {
    /// The type with wire value `value`, if there is one.
    pub const fn from_wire(value: u16) -> Option<Self> {
        match value {
            0 => Some(Self::Ack),
            1 => Some(Self::Nack),
            2 => Some(Self::Busy),
            3 => Some(Self::Error),
            _ => None,
        }
    }
}

/// The answer of a STATE request (response offset 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum BlockState {
    /// `VIRTIO_MEM_STATE_PLUGGED`: every block in the range is plugged.
    Plugged = 0,
    /// `VIRTIO_MEM_STATE_UNPLUGGED`: every block in the range is unplugged.
    Unplugged = 1,
    /// `VIRTIO_MEM_STATE_MIXED`: some blocks are plugged, some are not.
    Mixed = 2,
}

impl BlockState {
    /// The state with wire value `value`, if there is one.
    pub const fn from_wire(value: u16) -> Option<Self> {
        match value {
            0 => Some(Self::Plugged),
            1 => Some(Self::Unplugged),
            2 => Some(Self::Mixed),
            _ => None,
        }
    }
}

/// The request layout exactly as the driver writes it (24 bytes).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawRequest {
    /// Request type (`RequestType` value, or anything for a broken driver).
    pub request_type: U16,
    /// Ignored by the device.
    pub padding: [u8; 6],
    /// Guest-physical address of the first block (PLUG/UNPLUG/STATE).
    pub addr: U64,
    /// Number of consecutive blocks (PLUG/UNPLUG/STATE).
    pub nb_blocks: U16,
    /// Ignored by the device.
    pub padding_1: [u8; 6],
}

/// The response layout exactly as the device writes it (10 bytes).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawResponse {
    /// Response type (`ResponseType` value).
    pub response_type: U16,
    /// Written as zeroes.
    pub padding: [u8; 6],
    /// STATE payload (`BlockState` value) for an ACKed STATE, else zero.
    pub state: U16,
}

/// A run of consecutive device blocks named by a request.
///
/// Both values are exactly what the driver sent; nothing is validated here
/// (validation depends on the device state, see `device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockRange {
    /// Guest-physical address of the first block.
    pub addr: u64,
    /// Number of blocks (0 is representable and is answered with ERROR).
    pub nb_blocks: u16,
}

impl BlockRange {
    /// A range of `nb_blocks` blocks starting at guest-physical `addr`.
    pub const fn new(addr: u64, nb_blocks: u16) -> Self {
        Self { addr, nb_blocks }
    }
}

/// A decoded driver request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// Plug the blocks of the range.
    Plug(BlockRange),
    /// Unplug the blocks of the range.
    Unplug(BlockRange),
    /// Unplug every block of the device.
    UnplugAll,
    /// Report whether the blocks of the range are plugged.
    State(BlockRange),
}

/// Why driver-provided bytes are not a request. Both are protocol violations
/// (device spec §4.3 steps 1 and 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum RequestDecodeError {
    /// Fewer than 24 readable bytes.
    #[error("request is {len} bytes, a virtio-mem request needs {REQUEST_SIZE}")]
    TooShort {
        /// How many bytes there were.
        len: usize,
    },
    /// The `type` field holds no known request type.
    #[error("unknown virtio-mem request type {request_type} (known: 0..=3)")]
    UnknownType {
        /// The value found at offset 0.
        request_type: u16,
    },
}

impl Request {
    /// Decodes the first 24 bytes of `bytes`; extra bytes are ignored, as the
    /// reference device copies only the request's size. Padding and, for
    /// UNPLUG_ALL, every field but `type` are ignored (D24, D25, D36, D37).
    pub fn decode(bytes: &[u8]) -> Result<Self, RequestDecodeError> {
        let (raw, _rest) =
            RawRequest::read_from_prefix(bytes).map_err(|_| RequestDecodeError::TooShort { len: bytes.len() })?;
        Self::from_raw(&raw)
    }

    /// Interprets an already copied request layout.
    pub fn from_raw(raw: &RawRequest) -> Result<Self, RequestDecodeError> {
        let request_type = raw.request_type.get();
        let range = BlockRange::new(raw.addr.get(), raw.nb_blocks.get());
        match RequestType::from_wire(request_type) {
            Some(RequestType::Plug) => Ok(Self::Plug(range)),
            Some(RequestType::Unplug) => Ok(Self::Unplug(range)),
            Some(RequestType::UnplugAll) => Ok(Self::UnplugAll),
            Some(RequestType::State) => Ok(Self::State(range)),
            None => Err(RequestDecodeError::UnknownType { request_type }),
        }
    }

    /// The request's type.
    pub const fn request_type(&self) -> RequestType {
        match self {
            Self::Plug(_) => RequestType::Plug,
            Self::Unplug(_) => RequestType::Unplug,
            Self::UnplugAll => RequestType::UnplugAll,
            Self::State(_) => RequestType::State,
        }
    }

    /// The range named by the request (`None` for UNPLUG_ALL).
    pub const fn range(&self) -> Option<BlockRange> {
        match self {
            Self::Plug(range) | Self::Unplug(range) | Self::State(range) => Some(*range),
            Self::UnplugAll => None,
        }
    }

    /// The 24 bytes a driver puts on the queue: zero padding, and zero
    /// `addr`/`nb_blocks` for UNPLUG_ALL.
    pub fn encode(&self) -> [u8; REQUEST_SIZE] {
        let range = self.range().unwrap_or(BlockRange::new(0, 0));
        let raw = RawRequest {
            request_type: U16::new(self.request_type() as u16),
            padding: [0; 6],
            addr: U64::new(range.addr),
            nb_blocks: U16::new(range.nb_blocks),
            padding_1: [0; 6],
        };
        let mut out = [0u8; REQUEST_SIZE];
        out.copy_from_slice(raw.as_bytes());
        out
    }
}

/// A response as the device produces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Response {
    /// ACK without payload (PLUG, UNPLUG, UNPLUG_ALL).
    Ack,
    /// NACK.
    Nack,
    /// BUSY.
    Busy,
    /// ERROR, with the state field the device writes (0 in the reference
    /// profile; cloud-hypervisor's profile writes garbage there, which the
    /// driver must ignore, R21).
    Error {
        /// Raw value written at offset 8.
        state_field: u16,
    },
    /// ACK to a STATE request, with the state.
    AckState(BlockState),
}

impl Response {
    /// ERROR with a zero state field (the reference profile's answer).
    pub const ERROR: Self = Self::Error { state_field: 0 };

    /// The response's type.
    pub const fn response_type(&self) -> ResponseType {
        match self {
            Self::Ack | Self::AckState(_) => ResponseType::Ack,
            Self::Nack => ResponseType::Nack,
            Self::Busy => ResponseType::Busy,
            Self::Error { .. } => ResponseType::Error,
        }
    }

    /// The 10 bytes the device writes: type, six zero bytes, state field.
    pub fn encode(&self) -> [u8; RESPONSE_SIZE] {
        let state = match self {
            Self::AckState(state) => *state as u16,
            Self::Error { state_field } => *state_field,
            Self::Ack | Self::Nack | Self::Busy => 0,
        };
        let raw = RawResponse {
            response_type: U16::new(self.response_type() as u16),
            padding: [0; 6],
            state: U16::new(state),
        };
        let mut out = [0u8; RESPONSE_SIZE];
        out.copy_from_slice(raw.as_bytes());
        out
    }
}

/// A response as a driver reads it back: raw fields, so that a driver can
/// treat unknown types as "anything else" (driver spec §5) instead of
/// failing to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecodedResponse {
    /// The `type` field.
    pub raw_type: u16,
    /// The field at offset 8.
    pub raw_state: u16,
}

/// Why bytes are not a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[error("response is {len} bytes, a virtio-mem response needs {RESPONSE_SIZE}")]
pub struct ResponseDecodeError {
    /// How many bytes there were.
    pub len: usize,
}

impl DecodedResponse {
    /// Reads the first 10 bytes of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, ResponseDecodeError> {
        let (raw, _rest) =
            RawResponse::read_from_prefix(bytes).map_err(|_| ResponseDecodeError { len: bytes.len() })?;
        Ok(Self { raw_type: raw.response_type.get(), raw_state: raw.state.get() })
    }

    /// The response type, if the value is a known one.
    pub const fn response_type(&self) -> Option<ResponseType> {
        ResponseType::from_wire(self.raw_type)
    }

    /// The STATE answer: only meaningful, and only returned, for an ACK (R21).
    pub const fn block_state(&self) -> Option<BlockState> {
        match self.response_type() {
            Some(ResponseType::Ack) => BlockState::from_wire(self.raw_state),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_the_spec_sizes() {
        assert_eq!(core::mem::size_of::<RawRequest>(), REQUEST_SIZE);
        assert_eq!(core::mem::size_of::<RawResponse>(), RESPONSE_SIZE);
    }

    #[test]
    fn request_round_trips_and_puts_fields_at_their_offsets() {
        let request = Request::Plug(BlockRange::new(0x1_4000_0000, 64));
        let bytes = request.encode();
        assert_eq!(&bytes[0..2], &[0, 0]);
        assert_eq!(&bytes[8..16], &0x1_4000_0000u64.to_le_bytes());
        assert_eq!(&bytes[16..18], &64u16.to_le_bytes());
        assert!(bytes[2..8].iter().chain(&bytes[18..24]).all(|&b| b == 0));
        assert_eq!(Request::decode(&bytes), Ok(request));
    }

    #[test]
    fn response_bytes_are_exact() {
        assert_eq!(Response::AckState(BlockState::Mixed).encode(), [0, 0, 0, 0, 0, 0, 0, 0, 2, 0]);
        assert_eq!(Response::Busy.encode(), [2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let decoded = DecodedResponse::decode(&Response::ERROR.encode()).unwrap();
        assert_eq!(decoded.response_type(), Some(ResponseType::Error));
        assert_eq!(decoded.block_state(), None);
    }

    #[test]
    fn short_and_unknown_requests_are_typed_errors() {
        assert_eq!(Request::decode(&[0; 23]), Err(RequestDecodeError::TooShort { len: 23 }));
        let mut bytes = [0u8; 24];
        bytes[0] = 4;
        assert_eq!(Request::decode(&bytes), Err(RequestDecodeError::UnknownType { request_type: 4 }));
    }
}

/// A descriptor chain the device cannot process: it is dropped without
/// completion (device spec §4.3 steps 1–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum ProtocolViolation {
    /// Fewer than 24 device-readable bytes.
    #[error("request has {readable} readable bytes, {REQUEST_SIZE} needed")]
    RequestTooShort {
        /// Readable bytes in the chain (or in its first descriptor, for the
        /// profiles that only look there).
        readable: usize,
    },
    /// The request descriptor is not exactly 24 bytes (cloud-hypervisor).
    #[error("request descriptor is {len} bytes, exactly {REQUEST_SIZE} required")]
    RequestDescriptorLength {
        /// Its length.
        len: usize,
    },
    /// Fewer than 10 device-writable bytes.
    #[error("response buffer has {writable} writable bytes, {RESPONSE_SIZE} needed")]
    ResponseTooSmall {
        /// Writable bytes available.
        writable: usize,
    },
    /// The request type is not 0..=3.
    #[error("unknown request type {request_type}")]
    UnknownRequestType {
        /// The type found.
        request_type: u16,
    },
}
