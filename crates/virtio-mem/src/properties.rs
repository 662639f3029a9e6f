//! The device's creation-time properties and their validation (device spec
//! §6.5, the parts that concern the device itself rather than QEMU's object
//! model).

use crate::profile::{CLOUD_HYPERVISOR_BLOCK_SIZE, CLOUD_HYPERVISOR_REGION_ALIGNMENT, MIB, Profile};
use thiserror::Error;

/// Smallest block size the reference device accepts (QEMU: 1 MiB).
pub const MIN_BLOCK_SIZE: u64 = MIB;

/// The most blocks a device region may have: 2^28, a 32 MiB bitmap (one bit
/// per block). That is 256 TiB in 1 MiB blocks, 512 TiB in 2 MiB blocks; the
/// specification sets no limit, this model keeps the bitmap in memory.
pub const MAX_BLOCKS: u64 = 1 << 28;

/// Default host page size of the backing memory.
pub const DEFAULT_PAGE_SIZE: u64 = 4096;

/// Everything a VMM decides when it creates the device.
///
/// Start from [`DeviceProperties::new`] and adjust fields; all fields are
/// checked by [`VirtioMemDevice::new`](crate::VirtioMemDevice::new).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceProperties {
    /// Guest-physical start of the device-managed region (`memaddr`).
    pub addr: u64,
    /// Size of the region (the backing memory's size).
    pub region_size: u64,
    /// Device block size.
    pub block_size: u64,
    /// Node id put into the config space (`node`).
    pub node_id: u16,
    /// Number of NUMA nodes of the machine, `None` if NUMA is not configured
    /// (then `node_id` must be 0).
    pub numa_nodes: Option<u16>,
    /// Requested size at creation (`requested-size`).
    pub requested_size: u64,
    /// Page size of the backing memory; the block size must not be smaller.
    pub backing_page_size: u64,
    /// Offer `ACPI_PXM` (QEMU: the machine has ACPI and NUMA support).
    pub acpi_pxm: bool,
    /// Offer `UNPLUGGED_INACCESSIBLE` (QEMU's resolved `unplugged-inaccessible`
    /// property; always on for non-x86 targets).
    pub unplugged_inaccessible: bool,
    /// Offer `PERSISTENT_SUSPEND` (the platform can wake up from suspend).
    pub persistent_suspend: bool,
    /// Whose behaviour to reproduce.
    pub profile: Profile,
    /// Record a trace of device events (see [`TraceEvent`](crate::TraceEvent)).
    pub trace: bool,
}

impl DeviceProperties {
    /// Reference-profile (QEMU x86-64) properties for a region of
    /// `region_size` bytes at `addr` with `block_size` blocks: node 0, no NUMA,
    /// requested size 0, 4 KiB pages, UNPLUGGED_INACCESSIBLE offered (QEMU's
    /// x86 default), tracing off.
    pub const fn new(addr: u64, region_size: u64, block_size: u64) -> Self {
        Self {
            addr,
            region_size,
            block_size,
            node_id: 0,
            numa_nodes: None,
            requested_size: 0,
            backing_page_size: DEFAULT_PAGE_SIZE,
            acpi_pxm: false,
            unplugged_inaccessible: true,
            persistent_suspend: false,
            profile: Profile::qemu_x86_64(),
            trace: false,
        }
    }

    /// The same properties with another profile.
    pub const fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The same properties with another initial requested size.
    pub const fn with_requested_size(mut self, requested_size: u64) -> Self {
        self.requested_size = requested_size;
        self
    }

    /// The same properties with tracing switched on or off.
    pub const fn with_trace(mut self, trace: bool) -> Self {
        self.trace = trace;
        self
    }

    /// Number of device blocks in the region.
    pub const fn block_count(&self) -> u64 {
        match self.region_size.checked_div(self.block_size) {
            Some(count) => count,
            None => 0,
        }
    }

    /// The whole region as one span of blocks (what the backend discards
    /// at creation and on UNPLUG_ALL).
    pub const fn whole_region(&self) -> crate::backing::BlockSpan {
        crate::backing::BlockSpan {
            first_block: 0,
            nb_blocks: self.block_count(),
            addr: self.addr,
            size: self.region_size,
        }
    }

    /// Checks the properties in the reference device's order (node, block
    /// size, alignment of the sizes and the address), then what the profile
    /// adds.
    pub fn validate(&self) -> Result<(), CreateError> {
        match self.numa_nodes {
            Some(nodes) if self.node_id >= nodes => {
                return Err(CreateError::NodeOutOfRange { node: self.node_id, numa_nodes: nodes });
            }
            None if self.node_id != 0 => {
                return Err(CreateError::NodeWithoutNuma { node: self.node_id });
            }
            _ => {}
        }
        let block_size = self.block_size;
        if !block_size.is_power_of_two() {
            return Err(CreateError::BlockSizeNotPowerOfTwo { block_size });
        }
        if block_size < MIN_BLOCK_SIZE {
            return Err(CreateError::BlockSizeTooSmall { block_size, minimum: MIN_BLOCK_SIZE });
        }
        if block_size < self.backing_page_size {
            return Err(CreateError::BlockSizeBelowPageSize { block_size, page_size: self.backing_page_size });
        }
        for (field, value) in [
            (SizeField::RequestedSize, self.requested_size),
            (SizeField::Addr, self.addr),
            (SizeField::RegionSize, self.region_size),
        ] {
            if value % block_size != 0 {
                return Err(CreateError::NotBlockAligned { field, value, block_size });
            }
        }
        // The region's end must be representable: every range check compares
        // against `addr + usable_region_size` (no physical address space
        // reaches 2^64, so this refuses nothing real).
        if self.addr.checked_add(self.region_size).is_none() {
            return Err(CreateError::RegionOverflows { addr: self.addr, region_size: self.region_size });
        }
        // The spec sets no limit; the model keeps one bit per block in
        // memory, so geometries whose bitmap would not fit a VMM are refused
        // here with the numbers instead of failing (or thrashing) later.
        let blocks = self.region_size / block_size;
        if blocks > MAX_BLOCKS {
            return Err(CreateError::TooManyBlocks {
                blocks,
                maximum: MAX_BLOCKS,
                region_size: self.region_size,
                block_size,
            });
        }
        // QEMU only refuses this on a later resize; refusing it at creation
        // keeps invariant D4 (usable >= requested) true from the start.
        if self.requested_size > self.region_size {
            return Err(CreateError::RequestedExceedsRegion {
                requested_size: self.requested_size,
                region_size: self.region_size,
            });
        }
        self.validate_profile()
    }

    fn validate_profile(&self) -> Result<(), CreateError> {
        match self.profile {
            Profile::Qemu { usable_extent: 0 } => {
                Err(CreateError::ZeroProfileParameter { profile: self.profile.name(), parameter: "usable_extent" })
            }
            Profile::Firecracker { slot_size: 0 } => {
                Err(CreateError::ZeroProfileParameter { profile: self.profile.name(), parameter: "slot_size" })
            }
            Profile::CloudHypervisor if self.block_size != CLOUD_HYPERVISOR_BLOCK_SIZE => {
                Err(CreateError::ProfileBlockSize {
                    profile: self.profile.name(),
                    block_size: self.block_size,
                    required: CLOUD_HYPERVISOR_BLOCK_SIZE,
                })
            }
            Profile::CloudHypervisor if self.region_size % CLOUD_HYPERVISOR_REGION_ALIGNMENT != 0 => {
                Err(CreateError::ProfileRegionAlignment {
                    profile: self.profile.name(),
                    region_size: self.region_size,
                    alignment: CLOUD_HYPERVISOR_REGION_ALIGNMENT,
                })
            }
            _ => Ok(()),
        }
    }
}

/// Which size-like property an alignment error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeField {
    /// `requested-size`.
    RequestedSize,
    /// `memaddr`.
    Addr,
    /// The backing memory's size.
    RegionSize,
}

impl core::fmt::Display for SizeField {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::RequestedSize => "requested-size",
            Self::Addr => "memaddr",
            Self::RegionSize => "region size",
        })
    }
}

/// Why a device cannot be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum CreateError {
    /// `node_id` is not a configured NUMA node.
    #[error("node {node} does not exist: the machine has {numa_nodes} NUMA nodes")]
    NodeOutOfRange {
        /// The node asked for.
        node: u16,
        /// Nodes configured.
        numa_nodes: u16,
    },
    /// A non-zero node without NUMA configuration.
    #[error("node {node} given but NUMA is not configured (only node 0 is allowed)")]
    NodeWithoutNuma {
        /// The node asked for.
        node: u16,
    },
    /// Block size is not a power of two.
    #[error("block size {block_size:#x} is not a power of two")]
    BlockSizeNotPowerOfTwo {
        /// The block size given.
        block_size: u64,
    },
    /// Block size below the device minimum.
    #[error("block size {block_size:#x} is smaller than the minimum {minimum:#x}")]
    BlockSizeTooSmall {
        /// The block size given.
        block_size: u64,
        /// The minimum.
        minimum: u64,
    },
    /// Block size below the backing's page size.
    #[error("block size {block_size:#x} is smaller than the backing page size {page_size:#x}")]
    BlockSizeBelowPageSize {
        /// The block size given.
        block_size: u64,
        /// The backing's page size.
        page_size: u64,
    },
    /// A size or the address is not a multiple of the block size.
    #[error("{field} {value:#x} is not a multiple of the block size {block_size:#x}")]
    NotBlockAligned {
        /// Which property.
        field: SizeField,
        /// Its value.
        value: u64,
        /// The block size.
        block_size: u64,
    },
    /// The region runs past the end of the 64-bit address space.
    #[error("region at {addr:#x} of size {region_size:#x} does not end below 2^64")]
    RegionOverflows {
        /// Region start.
        addr: u64,
        /// Region size.
        region_size: u64,
    },
    /// Initial requested size larger than the region.
    #[error("requested-size {requested_size:#x} exceeds the region size {region_size:#x}")]
    RequestedExceedsRegion {
        /// The requested size.
        requested_size: u64,
        /// The region size.
        region_size: u64,
    },
    /// The profile requires a fixed block size.
    #[error("the {profile} profile requires block size {required:#x}, not {block_size:#x}")]
    ProfileBlockSize {
        /// Profile name.
        profile: &'static str,
        /// The block size given.
        block_size: u64,
        /// The block size the profile requires.
        required: u64,
    },
    /// The profile requires a coarser region size.
    #[error("the {profile} profile requires a region size multiple of {alignment:#x}, not {region_size:#x}")]
    ProfileRegionAlignment {
        /// Profile name.
        profile: &'static str,
        /// The region size given.
        region_size: u64,
        /// The required multiple.
        alignment: u64,
    },
    /// A profile parameter that must be non-zero is zero.
    #[error("the {profile} profile's {parameter} must not be 0")]
    ZeroProfileParameter {
        /// Profile name.
        profile: &'static str,
        /// Parameter name.
        parameter: &'static str,
    },
    /// The region has more blocks than [`MAX_BLOCKS`].
    #[error(
        "a region of {region_size:#x} bytes in blocks of {block_size:#x} has {blocks} blocks; at most {maximum} \
         (a 32 MiB bitmap) are supported: use larger blocks or a smaller region"
    )]
    TooManyBlocks {
        /// Blocks in the region.
        blocks: u64,
        /// The limit.
        maximum: u64,
        /// The region size.
        region_size: u64,
        /// The block size.
        block_size: u64,
    },
    /// The block bitmap cannot be allocated.
    #[error("cannot allocate the bitmap for {blocks} blocks")]
    BitmapAllocation {
        /// Blocks in the region.
        blocks: u64,
    },
    /// Discarding the backing at creation failed.
    #[error("discarding the backing memory at creation failed: {0}")]
    InitialDiscard(crate::backing::BackendError),
}
