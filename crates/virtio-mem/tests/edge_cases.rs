//! The edge cases that broke real VMMs: the region's last block, ranges
//! ending exactly at the usable end, zero-sized and overflowing ranges,
//! non-power-of-two sizes, block sizes larger than the region, regions at
//! the top of the address space, creation errors.

mod common;

use common::*;
use virtio_mem::properties::SizeField;
use virtio_mem::{
    BlockState, CreateError, DeviceProperties, Features, ResizeError, Response, SimulatedMemory, VirtioMemDevice,
};

const BASE: u64 = 0x1_4000_0000;

#[test]
fn last_block_of_the_region() {
    let mut d = spec_device();
    d.resize(4 * GIB).unwrap();
    assert_eq!(d.usable_region_size(), 4 * GIB, "capped at the region");
    let last = BASE + 4 * GIB - 2 * MIB;
    assert_eq!(state(&mut d, last, 1), Response::AckState(BlockState::Unplugged));
    assert_eq!(plug(&mut d, last, 1), Response::Ack);
    assert!(d.is_block_plugged(2047));
    assert_eq!(plug(&mut d, last, 2), Response::ERROR, "one past the end");
    assert_eq!(plug(&mut d, last + 2 * MIB, 1), Response::ERROR);
    assert_eq!(unplug(&mut d, last, 1), Response::Ack);
    // The whole region in one STATE request (2048 blocks).
    assert_eq!(state(&mut d, BASE, 2048), Response::AckState(BlockState::Unplugged));
    d.check_invariants().unwrap();
}

#[test]
fn range_ending_exactly_at_the_usable_end() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    let usable_end = BASE + d.usable_region_size();
    assert_eq!(plug(&mut d, usable_end - 128 * MIB, 64), Response::Ack);
    assert_eq!(state(&mut d, usable_end - 2 * MIB, 1), Response::AckState(BlockState::Plugged));
    assert_eq!(state(&mut d, usable_end - 2 * MIB, 2), Response::ERROR);
    assert_eq!(unplug(&mut d, usable_end - 128 * MIB, 64), Response::Ack);
}

#[test]
fn zero_sized_ranges_are_errors() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    assert_eq!(plug(&mut d, BASE, 0), Response::ERROR);
    assert_eq!(unplug(&mut d, BASE, 0), Response::ERROR);
    assert_eq!(state(&mut d, BASE, 0), Response::ERROR);
}

#[test]
fn overflowing_ranges_are_errors() {
    // A region as high as the address space allows.
    let addr = 0u64.wrapping_sub(4 * GIB);
    let region = 4 * GIB - 2 * MIB;
    let mut d = activated_with(DeviceProperties::new(addr, region, 2 * MIB), Features::UNPLUGGED_INACCESSIBLE);
    d.resize(region).unwrap();
    let last = addr + region - 2 * MIB;
    assert_eq!(plug(&mut d, last, 1), Response::Ack);
    for nb in [2, 0x1000, u16::MAX] {
        assert_eq!(plug(&mut d, last, nb), Response::ERROR);
        assert_eq!(state(&mut d, last, nb), Response::ERROR);
    }
    // gpa + size wraps past 2^64.
    let top_block = u64::MAX - 2 * MIB + 1;
    assert_eq!(plug(&mut d, top_block, 2), Response::ERROR);
    assert_eq!(plug(&mut d, top_block, u16::MAX), Response::ERROR);
    assert_eq!(unplug(&mut d, top_block, 1), Response::ERROR);
    d.check_invariants().unwrap();

    // nb_blocks * block_size itself overflows 64 bits.
    let huge = 1u64 << 62;
    let mut d = activated_with(
        DeviceProperties::new(0, 2 * huge, huge).with_requested_size(huge),
        Features::UNPLUGGED_INACCESSIBLE,
    );
    assert_eq!(d.usable_region_size(), 2 * huge);
    assert_eq!(plug(&mut d, 0, 4), Response::ERROR);
    assert_eq!(state(&mut d, 0, u16::MAX), Response::ERROR);
    assert_eq!(plug(&mut d, 0, 1), Response::Ack);
    assert_eq!(d.plugged_size(), huge);
}

#[test]
fn region_reaching_two_to_the_64_is_refused() {
    let addr = 0u64.wrapping_sub(4 * GIB);
    let properties = DeviceProperties::new(addr, 4 * GIB, 2 * MIB);
    assert_eq!(
        VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap_err(),
        CreateError::RegionOverflows { addr, region_size: 4 * GIB }
    );
}

#[test]
fn geometries_whose_bitmap_would_not_fit_are_refused() {
    // 2^56 bytes in 1 MiB blocks: 2^36 blocks, an 8 GiB bitmap.
    let properties = DeviceProperties::new(0, 1 << 56, MIB);
    let e = VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap_err();
    assert_eq!(
        e,
        CreateError::TooManyBlocks {
            blocks: 1 << 36,
            maximum: virtio_mem::properties::MAX_BLOCKS,
            region_size: 1 << 56,
            block_size: MIB
        }
    );
    assert!(e.to_string().contains("use larger blocks"), "{e}");
    // The limit itself is accepted (256 TiB in 1 MiB blocks: a 32 MiB bitmap).
    let at_limit = DeviceProperties::new(0, virtio_mem::properties::MAX_BLOCKS * MIB, MIB);
    assert!(VirtioMemDevice::new(at_limit, SimulatedMemory::new()).is_ok());
}

#[test]
fn non_power_of_two_and_unaligned_sizes() {
    let cases = [
        (DeviceProperties::new(0, 6 * MIB, 3 * MIB), CreateError::BlockSizeNotPowerOfTwo { block_size: 3 * MIB }),
        (DeviceProperties::new(0, 0, 0), CreateError::BlockSizeNotPowerOfTwo { block_size: 0 }),
        (
            DeviceProperties::new(0, 5 * MIB, 2 * MIB),
            CreateError::NotBlockAligned { field: SizeField::RegionSize, value: 5 * MIB, block_size: 2 * MIB },
        ),
        (
            DeviceProperties::new(0, 4 * MIB, 2 * MIB).with_requested_size(3 * MIB),
            CreateError::NotBlockAligned { field: SizeField::RequestedSize, value: 3 * MIB, block_size: 2 * MIB },
        ),
        (
            DeviceProperties::new(0, 4 * MIB, 512 * 1024),
            CreateError::BlockSizeTooSmall { block_size: 512 * 1024, minimum: MIB },
        ),
    ];
    for (properties, error) in cases {
        assert_eq!(VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap_err(), error);
    }
    let mut d = spec_device();
    assert!(matches!(d.resize(300 * MIB + MIB), Err(ResizeError::NotBlockAligned { .. })));
    assert!(matches!(d.resize(4 * GIB + 2 * MIB), Err(ResizeError::ExceedsRegion { .. })));
    assert_eq!(d.requested_size(), 0, "refused resizes change nothing");
}

#[test]
fn block_size_larger_than_the_region() {
    let properties = DeviceProperties::new(0, 2 * MIB, 4 * MIB);
    let error = VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap_err();
    assert_eq!(
        error,
        CreateError::NotBlockAligned { field: SizeField::RegionSize, value: 2 * MIB, block_size: 4 * MIB }
    );
    assert_eq!(error.to_string(), "region size 0x200000 is not a multiple of the block size 0x400000");
}

#[test]
fn one_block_region_and_usable_rounding() {
    let mut d = activated_with(DeviceProperties::new(GIB, GIB, GIB), Features::UNPLUGGED_INACCESSIBLE);
    d.resize(GIB).unwrap();
    assert_eq!(d.usable_region_size(), GIB);
    assert_eq!(plug(&mut d, GIB, 1), Response::Ack);
    assert_eq!(plug(&mut d, GIB, 1), Response::Nack);
    // 1 GiB blocks: requested + 256 MiB is rounded up to a whole block.
    let mut d = activated_with(DeviceProperties::new(4 * GIB, 4 * GIB, GIB), Features::UNPLUGGED_INACCESSIBLE);
    d.resize(2 * GIB).unwrap();
    assert_eq!(d.usable_region_size(), 3 * GIB);
    d.resize(3 * GIB).unwrap();
    assert_eq!(d.usable_region_size(), 4 * GIB);
}

#[test]
fn node_and_page_size_validation() {
    let mut properties = DeviceProperties::new(0, 4 * MIB, 2 * MIB);
    properties.node_id = 1;
    assert_eq!(
        VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap_err(),
        CreateError::NodeWithoutNuma { node: 1 }
    );
    properties.numa_nodes = Some(1);
    assert_eq!(
        VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap_err(),
        CreateError::NodeOutOfRange { node: 1, numa_nodes: 1 }
    );
    properties.numa_nodes = Some(2);
    let device = VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap();
    assert_eq!(device.config().node_id, 1, "node_id populated without ACPI_PXM");
    assert!(!device.device_features().contains(Features::ACPI_PXM));
    properties.backing_page_size = 1 << 30;
    assert_eq!(
        VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap_err(),
        CreateError::BlockSizeBelowPageSize { block_size: 2 * MIB, page_size: 1 << 30 }
    );
    properties.backing_page_size = 4096;
    properties.requested_size = 6 * MIB;
    assert_eq!(
        VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap_err(),
        CreateError::RequestedExceedsRegion { requested_size: 6 * MIB, region_size: 4 * MIB }
    );
}

#[test]
fn creation_discard_failure_is_reported() {
    let mut memory = SimulatedMemory::new();
    memory.fail_next_discards(1);
    let error = VirtioMemDevice::new(DeviceProperties::new(0, 4 * MIB, 2 * MIB), memory).unwrap_err();
    assert!(matches!(error, CreateError::InitialDiscard(_)));
}

#[test]
fn maximum_request_and_word_boundaries() {
    let mut d = activated_with(DeviceProperties::new(0, 256 * GIB, 2 * MIB), Features::UNPLUGGED_INACCESSIBLE);
    d.resize(256 * GIB).unwrap();
    // 65535 blocks, starting mid-word.
    assert_eq!(plug(&mut d, 3 * 2 * MIB, u16::MAX), Response::Ack);
    assert_eq!(d.plugged_size(), u64::from(u16::MAX) * 2 * MIB);
    assert_eq!(state(&mut d, 2 * 2 * MIB, 2), Response::AckState(BlockState::Mixed));
    let end = 3 + u64::from(u16::MAX);
    assert_eq!(state(&mut d, (end - 1) * 2 * MIB, 2), Response::AckState(BlockState::Mixed));
    // Blocks 63 and 64 straddle a bitmap word.
    assert_eq!(unplug(&mut d, 63 * 2 * MIB, 2), Response::Ack);
    assert!(!d.is_block_plugged(63) && !d.is_block_plugged(64));
    assert!(d.is_block_plugged(62) && d.is_block_plugged(65));
    d.check_invariants().unwrap();
}

#[test]
fn plug_that_reaches_requested_exactly_and_unplug_below_it() {
    let mut d = spec_device();
    d.resize(4 * MIB).unwrap();
    assert_eq!(plug(&mut d, BASE, 3), Response::Nack);
    assert_eq!(plug(&mut d, BASE, 2), Response::Ack);
    assert_eq!(plug(&mut d, BASE + 4 * MIB, 1), Response::Nack);
    assert_eq!(unplug(&mut d, BASE, 2), Response::Ack);
    assert_eq!(d.plugged_size(), 0);
}
