//! The 56-byte device configuration space (device spec §3).

use thiserror::Error;
use zerocopy::byteorder::little_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of the configuration space.
pub const CONFIG_SIZE: usize = 56;

/// Byte offsets of the configuration fields, for drivers that read one field
/// at a time (as Linux does).
pub mod offset {
    /// `block_size` (8 bytes).
    pub const BLOCK_SIZE: usize = 0;
    /// `node_id` (2 bytes).
    pub const NODE_ID: usize = 8;
    /// `addr` (8 bytes).
    pub const ADDR: usize = 16;
    /// `region_size` (8 bytes).
    pub const REGION_SIZE: usize = 24;
    /// `usable_region_size` (8 bytes).
    pub const USABLE_REGION_SIZE: usize = 32;
    /// `plugged_size` (8 bytes).
    pub const PLUGGED_SIZE: usize = 40;
    /// `requested_size` (8 bytes).
    pub const REQUESTED_SIZE: usize = 48;
}

/// The configuration layout exactly as the driver reads it.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawConfig {
    /// Device block size.
    pub block_size: U64,
    /// NUMA node / ACPI PXM.
    pub node_id: U16,
    /// Always zero.
    pub padding: [u8; 6],
    /// Start of the device-managed region.
    pub addr: U64,
    /// Size of the region.
    pub region_size: U64,
    /// Size of the usable prefix of the region.
    pub usable_region_size: U64,
    /// Bytes currently plugged.
    pub plugged_size: U64,
    /// Bytes the host wants plugged.
    pub requested_size: U64,
}

/// The configuration space as typed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConfigSpace {
    /// Device block size (power of two).
    pub block_size: u64,
    /// Node id (meaningful only with `ACPI_PXM`).
    pub node_id: u16,
    /// Start of the device-managed region.
    pub addr: u64,
    /// Size of the region.
    pub region_size: u64,
    /// Size of the usable prefix of the region.
    pub usable_region_size: u64,
    /// Bytes currently plugged.
    pub plugged_size: u64,
    /// Bytes the host wants plugged.
    pub requested_size: u64,
}

/// A configuration access outside the 56 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[error("config access of {len} bytes at offset {offset} is outside the {CONFIG_SIZE}-byte config space")]
pub struct ConfigAccessError {
    /// First byte accessed.
    pub offset: usize,
    /// Number of bytes.
    pub len: usize,
}

impl ConfigSpace {
    /// The 56 little-endian bytes, padding zeroed.
    pub fn encode(&self) -> [u8; CONFIG_SIZE] {
        let raw = RawConfig {
            block_size: U64::new(self.block_size),
            node_id: U16::new(self.node_id),
            padding: [0; 6],
            addr: U64::new(self.addr),
            region_size: U64::new(self.region_size),
            usable_region_size: U64::new(self.usable_region_size),
            plugged_size: U64::new(self.plugged_size),
            requested_size: U64::new(self.requested_size),
        };
        let mut out = [0u8; CONFIG_SIZE];
        out.copy_from_slice(raw.as_bytes());
        out
    }

    /// Decodes 56 bytes; padding is ignored (R2). `None` if too short.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (raw, _rest) = RawConfig::read_from_prefix(bytes).ok()?;
        Some(Self {
            block_size: raw.block_size.get(),
            node_id: raw.node_id.get(),
            addr: raw.addr.get(),
            region_size: raw.region_size.get(),
            usable_region_size: raw.usable_region_size.get(),
            plugged_size: raw.plugged_size.get(),
            requested_size: raw.requested_size.get(),
        })
    }

    /// Copies `buf.len()` bytes starting at `offset` into `buf`, the way a
    /// transport serves a driver's config read.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), ConfigAccessError> {
        let error = ConfigAccessError { offset, len: buf.len() };
        let bytes = self.encode();
        let end = offset.checked_add(buf.len()).ok_or(error)?;
        let source = bytes.get(offset..end).ok_or(error)?;
        buf.copy_from_slice(source);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_56_bytes_with_fields_at_spec_offsets() {
        assert_eq!(core::mem::size_of::<RawConfig>(), CONFIG_SIZE);
        let config = ConfigSpace {
            block_size: 0x20_0000,
            node_id: 0x0102,
            addr: 0x1_4000_0000,
            region_size: 0x1_0000_0000,
            usable_region_size: 0x5000_0000,
            plugged_size: 0x800_0000,
            requested_size: 0x4000_0000,
        };
        let bytes = config.encode();
        assert_eq!(&bytes[0..8], &0x20_0000u64.to_le_bytes());
        assert_eq!(&bytes[8..10], &[2, 1]);
        assert_eq!(&bytes[10..16], &[0; 6]);
        assert_eq!(&bytes[16..24], &0x1_4000_0000u64.to_le_bytes());
        assert_eq!(&bytes[48..56], &0x4000_0000u64.to_le_bytes());
        assert_eq!(ConfigSpace::decode(&bytes), Some(config));
        let mut field = [0u8; 8];
        config.read(offset::USABLE_REGION_SIZE, &mut field).unwrap();
        assert_eq!(u64::from_le_bytes(field), 0x5000_0000);
        assert!(config.read(50, &mut field).is_err());
        assert!(config.read(usize::MAX, &mut field).is_err());
    }
}
