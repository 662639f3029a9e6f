//! One test per device requirement D1–D46 of the device spec (§8), named
//! `dNN_…`; REQUIREMENTS.md maps each requirement to its test or to the
//! reason it cannot be tested in this model.

mod common;

use common::*;
use virtio_mem::{
    BlockRange, BlockState, ConfigSpace, CreateError, DecodedResponse, DeviceProperties, DeviceStatus, Features,
    InProcessTransport, Request, ResizeError, Response, SimulatedMemory, StatusError, ViolationKind, VirtioMemDevice,
    VirtioMemTransport,
};

const BASE: u64 = 0x1_4000_0000;

fn fixed_fields(config: ConfigSpace) -> (u64, u16, u64, u64) {
    (config.block_size, config.node_id, config.addr, config.region_size)
}

/// A request's bytes with every padding byte (and for UNPLUG_ALL every
/// non-type byte) set to garbage.
fn with_garbage_padding(request: Request, all_but_type: bool) -> [u8; 24] {
    let mut bytes = request.encode();
    for (index, byte) in bytes.iter_mut().enumerate() {
        let padding = (2..8).contains(&index) || (18..24).contains(&index);
        if padding || (all_but_type && index >= 2) {
            *byte = 0xa5 ^ index as u8;
        }
    }
    bytes
}

fn submit(transport: &mut InProcessTransport<SimulatedMemory>, bytes: &[u8]) -> [u8; 10] {
    let mut response = [0u8; 10];
    transport.submit(bytes, &mut response).expect("completed");
    response
}

#[test]
fn d01_device_may_change_usable_and_requested_size() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    let config = ConfigSpace::decode(&d.config().encode()).unwrap();
    assert_eq!(config.requested_size, GIB);
    assert_eq!(config.usable_region_size, GIB + 256 * MIB);
}

#[test]
fn d02_fixed_fields_never_change() {
    let mut d = spec_device();
    let before = fixed_fields(d.config());
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    unplug(&mut d, BASE, 1);
    d.set_migration_in_progress(true);
    unplug_all(&mut d);
    d.set_migration_in_progress(false);
    unplug_all(&mut d);
    d.virtio_reset();
    d.wakeup_reset();
    d.system_reset();
    d.resize(0).unwrap();
    assert_eq!(fixed_fields(d.config()), before);
}

#[test]
fn d03_plugged_size_reflects_plugged_blocks() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    plug(&mut d, BASE + 0x1000_0000, 3);
    unplug(&mut d, BASE + 2 * MIB, 5);
    assert_eq!(d.plugged_size(), (64 + 3 - 5) * 2 * MIB);
    assert_eq!(d.bitmap().count_ones(), 62);
    d.check_invariants().unwrap();
}

#[test]
fn d04_usable_at_least_requested() {
    let mut d = spec_device();
    for size in [GIB, 4 * GIB, 300 * MIB, 4 * GIB - 2 * MIB, 0, 2 * MIB] {
        d.resize(size).unwrap();
        assert!(d.usable_region_size() >= d.requested_size(), "{size:#x}");
        unplug_all(&mut d);
        assert!(d.usable_region_size() >= d.requested_size(), "{size:#x}");
    }
}

#[test]
fn d05_block_size_power_of_two() {
    let bad = DeviceProperties::new(0, 12 * MIB, 3 * MIB);
    assert_eq!(
        VirtioMemDevice::new(bad, SimulatedMemory::new()).unwrap_err(),
        CreateError::BlockSizeNotPowerOfTwo { block_size: 3 * MIB }
    );
    assert!(spec_device().block_size().is_power_of_two());
}

#[test]
fn d06_sizes_and_addr_are_block_multiples() {
    let unaligned_addr = DeviceProperties::new(MIB, 4 * MIB, 2 * MIB);
    assert!(matches!(
        VirtioMemDevice::new(unaligned_addr, SimulatedMemory::new()),
        Err(CreateError::NotBlockAligned { .. })
    ));
    let unaligned_requested = DeviceProperties::new(0, 4 * MIB, 2 * MIB).with_requested_size(MIB);
    assert!(matches!(
        VirtioMemDevice::new(unaligned_requested, SimulatedMemory::new()),
        Err(CreateError::NotBlockAligned { .. })
    ));
    let mut d = spec_device();
    assert_eq!(d.resize(3 * MIB), Err(ResizeError::NotBlockAligned { requested_size: 3 * MIB, block_size: 2 * MIB }));
    d.resize(300 * MIB).unwrap();
    let c = d.config();
    for value in [c.addr, c.region_size, c.usable_region_size, c.plugged_size, c.requested_size] {
        assert_eq!(value % c.block_size, 0);
    }
}

#[test]
fn d07_region_may_be_empty() {
    let properties = DeviceProperties::new(BASE, 0, 2 * MIB);
    let mut d = activated_with(properties, Features::UNPLUGGED_INACCESSIBLE);
    assert_eq!(d.block_count(), 0);
    assert_eq!(plug(&mut d, BASE, 1), Response::ERROR);
    assert_eq!(state(&mut d, BASE, 1), Response::ERROR);
    assert_eq!(unplug_all(&mut d), Response::Ack);
    assert_eq!(d.resize(0), Ok(()));
    assert!(d.resize(2 * MIB).is_err());
}

#[test]
fn d08_usable_shrinks_only_on_unplug_all_and_system_reset() {
    let mut d = spec_device();
    d.resize(2 * GIB).unwrap();
    let grown = d.usable_region_size();
    d.resize(GIB).unwrap();
    d.resize(0).unwrap();
    d.virtio_reset();
    d.wakeup_reset();
    assert_eq!(d.usable_region_size(), grown);
    d.resize(GIB).unwrap();
    unplug_all(&mut d);
    assert_eq!(d.usable_region_size(), GIB + 256 * MIB);
    d.resize(2 * MIB).unwrap();
    d.system_reset();
    assert_eq!(d.usable_region_size(), 2 * MIB + 256 * MIB);
}

#[test]
fn d09_config_interrupt_on_resize_but_not_on_unplug_all() {
    let mut d = spec_device();
    d.take_config_interrupt();
    d.resize(2 * GIB).unwrap();
    assert!(d.take_config_interrupt());
    d.resize(GIB).unwrap();
    assert!(d.take_config_interrupt());
    let before = d.usable_region_size();
    unplug_all(&mut d);
    assert!(d.usable_region_size() < before);
    assert!(!d.take_config_interrupt());
}

#[test]
fn d10_no_interrupt_for_plugged_size_changes() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    d.take_config_interrupt();
    plug(&mut d, BASE, 64);
    unplug(&mut d, BASE, 64);
    assert!(!d.take_config_interrupt());
    assert_eq!(d.config_interrupt_count(), 1);
}

#[test]
fn d11_interrupt_even_when_nothing_changed() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    d.take_config_interrupt();
    let trace_before = d.trace().len();
    d.resize(GIB).unwrap();
    assert!(d.take_config_interrupt());
    // No usable-region update is traced for an unchanged value.
    assert!(!d.trace()[trace_before..].iter().any(|e| matches!(e, virtio_mem::TraceEvent::UsableRegionResized { .. })));
}

#[test]
fn d12_device_refuses_driver_without_unplugged_inaccessible() {
    let mut d = VirtioMemDevice::new(spec_properties(), SimulatedMemory::new()).unwrap();
    assert!(d.device_features().contains(Features::UNPLUGGED_INACCESSIBLE));
    d.set_status(3).unwrap();
    d.set_driver_features(Features::VERSION_1.bits());
    assert_eq!(d.set_status(3 | 8), Err(StatusError::UnpluggedInaccessibleRequired));
    assert!(!d.status().contains(DeviceStatus::FEATURES_OK));
    assert_eq!(d.set_status(3 | 8 | 4), Err(StatusError::UnpluggedInaccessibleRequired));
    let mut transport = InProcessTransport::new(d);
    let plug = Request::Plug(BlockRange::new(BASE, 1));
    assert!(transport.request(plug).is_err());
    // Without the offer the same driver is accepted.
    let mut properties = spec_properties();
    properties.unplugged_inaccessible = false;
    let mut d = VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap();
    d.set_driver_features(Features::VERSION_1.bits());
    assert_eq!(d.set_status(3 | 8 | 4), Ok(()));
}

#[test]
fn d13_device_reset_keeps_block_states() {
    let mut transport = InProcessTransport::new(spec_device());
    transport.device_mut().resize(GIB).unwrap();
    transport.request(Request::Plug(BlockRange::new(BASE, 64))).unwrap();
    let words = transport.device().bitmap().clone();
    transport.set_status(0);
    assert_eq!(transport.device().bitmap(), &words);
    assert_eq!(transport.device().plugged_size(), 128 * MIB);
    assert_eq!(transport.device().usable_region_size(), GIB + 256 * MIB);
    assert_eq!(transport.status(), 0);
}

#[test]
fn d14_device_reset_keeps_plugged_memory() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 1);
    d.cpu_write(BASE + 100, b"kept across reset").unwrap();
    d.virtio_reset();
    let mut buf = [0u8; 17];
    d.cpu_read(BASE + 100, &mut buf).unwrap();
    assert_eq!(&buf, b"kept across reset");
}

#[test]
fn d15_persistent_suspend_offered_when_the_platform_supports_it() {
    let mut properties = spec_properties();
    assert!(
        !VirtioMemDevice::new(properties, SimulatedMemory::new())
            .unwrap()
            .device_features()
            .contains(Features::PERSISTENT_SUSPEND)
    );
    properties.persistent_suspend = true;
    assert!(
        VirtioMemDevice::new(properties, SimulatedMemory::new())
            .unwrap()
            .device_features()
            .contains(Features::PERSISTENT_SUSPEND)
    );
}

#[test]
fn d17_unplugged_contents_are_discarded() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 2);
    d.cpu_write(BASE + 2 * MIB + 8, &[0xee; 64]).unwrap();
    assert!(d.backend().resident_bytes() > 0);
    unplug(&mut d, BASE + 2 * MIB, 1);
    assert_eq!(d.backend().resident_bytes(), 0);
    plug(&mut d, BASE + 2 * MIB, 1);
    let mut buf = [0xffu8; 64];
    d.cpu_read(BASE + 2 * MIB + 8, &mut buf).unwrap();
    assert_eq!(buf, [0; 64], "reads as zero after unplug, like QEMU's discard");
}

#[test]
fn d18_plugged_memory_is_never_modified_by_the_device() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 1);
    d.cpu_write(BASE, &[0x5a; 4096]).unwrap();
    plug(&mut d, BASE + 2 * MIB, 10);
    unplug(&mut d, BASE + 2 * MIB, 10);
    state(&mut d, BASE, 64);
    d.resize(0).unwrap();
    d.set_migration_in_progress(true);
    assert_eq!(unplug_all(&mut d), Response::Busy);
    d.system_reset(); // busy: must leave plugged memory alone
    d.virtio_reset();
    let mut buf = [0u8; 4096];
    d.cpu_read(BASE, &mut buf).unwrap();
    assert_eq!(buf, [0x5a; 4096]);
}

#[test]
fn d19_plugged_memory_is_readable_and_writable() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    // An access spanning two blocks and several pages.
    let data: Vec<u8> = (0..3 * 4096).map(|i| i as u8).collect();
    let report = d.cpu_write(BASE + 2 * MIB - 4096, &data).unwrap();
    assert_eq!(report.violations, 0);
    let mut back = vec![0u8; data.len()];
    d.dma_read(BASE + 2 * MIB - 4096, &mut back).unwrap();
    assert_eq!(back, data);
    assert_eq!(d.backend().violation_count(), 0);
    assert_eq!(d.backend().block_access(0).writes, 1);
    assert_eq!(d.backend().block_access(1).reads, 1);
}

#[test]
fn d20_cpu_reads_of_unplugged_usable_memory_without_inaccessible() {
    let mut properties = spec_properties();
    properties.unplugged_inaccessible = false;
    let mut d = activated_with(properties, Features::empty());
    d.resize(GIB).unwrap();
    let mut buf = [0xffu8; 16];
    let report = d.cpu_read(BASE, &mut buf).unwrap();
    assert_eq!(buf, [0; 16]);
    assert_eq!(report.violations, 0);
    assert_eq!(d.backend().tolerated_unplugged_reads(), 1);
    // Outside the usable region it is a violation (R7), as is any DMA read (R8).
    d.cpu_read(BASE + 2 * GIB, &mut buf).unwrap();
    d.dma_read(BASE, &mut buf).unwrap();
    let kinds: Vec<_> = d.backend().violations().iter().map(|v| v.kind).collect();
    assert_eq!(kinds, [ViolationKind::ReadOutsideUsable, ViolationKind::DmaReadUnplugged]);
    // With UNPLUGGED_INACCESSIBLE negotiated the same CPU read is a violation.
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    assert_eq!(d.cpu_read(BASE, &mut buf).unwrap().violations, 1);
    assert_eq!(d.backend().violations()[0].kind, ViolationKind::ReadInaccessible);
}

#[test]
fn d21_d22_system_reset_unplugs_everything() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    d.cpu_write(BASE, &[1; 32]).unwrap();
    d.system_reset();
    assert_eq!(d.plugged_size(), 0);
    assert_eq!(d.bitmap().count_ones(), 0);
    assert_eq!(d.backend().resident_bytes(), 0);
    assert_eq!(d.requested_size(), GIB, "the host's request survives");
    assert_eq!(d.usable_region_size(), GIB + 256 * MIB);
}

#[test]
fn d23_persistent_suspend_keeps_blocks_across_wakeup() {
    let mut properties = spec_properties();
    properties.persistent_suspend = true;
    let mut d = activated_with(properties, Features::UNPLUGGED_INACCESSIBLE | Features::PERSISTENT_SUSPEND);
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    d.cpu_write(BASE, b"suspended").unwrap();
    d.wakeup_reset();
    assert_eq!(d.plugged_size(), 128 * MIB);
    let mut buf = [0u8; 9];
    d.cpu_read(BASE, &mut buf).unwrap();
    assert_eq!(&buf, b"suspended");
}

#[test]
fn d24_d25_plug_ignores_padding() {
    let mut clean = InProcessTransport::new(spec_device());
    let mut dirty = InProcessTransport::new(spec_device());
    for t in [&mut clean, &mut dirty] {
        t.device_mut().resize(GIB).unwrap();
    }
    for (addr, nb) in [(BASE, 64), (BASE, 1), (BASE + MIB, 1), (BASE + 0x5000_0000 - 2 * MIB, 2)] {
        let request = Request::Plug(BlockRange::new(addr, nb));
        let a = submit(&mut clean, &request.encode());
        let b = submit(&mut dirty, &with_garbage_padding(request, false));
        assert_eq!(a, b);
    }
    assert_eq!(dirty.device().plugged_size(), 128 * MIB);
}

#[test]
fn d26_plug_error_on_bad_ranges() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    let usable_end = BASE + d.usable_region_size();
    for (addr, nb) in [
        (BASE + 4096, 1),          // misaligned
        (BASE, 0),                 // nb_blocks 0
        (usable_end, 1),           // first block outside usable
        (usable_end - 2 * MIB, 2), // last block outside usable
        (BASE - 2 * MIB, 1),       // below the region
    ] {
        assert_eq!(plug(&mut d, addr, nb), Response::ERROR, "{addr:#x}+{nb}");
    }
    assert_eq!(d.plugged_size(), 0);
}

#[test]
fn d27_plug_error_if_any_block_plugged() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    assert_eq!(plug(&mut d, BASE + 10 * 2 * MIB, 1), Response::Ack);
    assert_eq!(plug(&mut d, BASE, 64), Response::ERROR);
    assert_eq!(d.plugged_size(), 2 * MIB);
    assert_eq!(d.bitmap().count_ones(), 1);
}

#[test]
fn d28_plug_busy_when_it_cannot_act() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    d.set_migration_in_progress(true);
    assert_eq!(plug(&mut d, BASE, 1), Response::Busy);
    d.set_migration_in_progress(false);
    // Failing preparation (prealloc / VFIO) is BUSY too, with a rollback.
    d.backend_mut().fail_next_populates(1);
    assert_eq!(plug(&mut d, BASE, 1), Response::Busy);
    assert_eq!(d.plugged_size(), 0);
    assert_eq!(plug(&mut d, BASE, 1), Response::Ack);
}

#[test]
fn d29_plug_ack_updates_plugged_size() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    assert_eq!(plug(&mut d, BASE, 512), Response::Ack);
    assert_eq!(d.plugged_size(), GIB, "exactly the request is accepted");
    assert!(d.bitmap().all_set(0, 512).unwrap());
}

#[test]
fn d30_d31_unplug_ignores_padding() {
    let mut t = InProcessTransport::new(spec_device());
    t.device_mut().resize(GIB).unwrap();
    submit(&mut t, &Request::Plug(BlockRange::new(BASE, 64)).encode());
    let request = Request::Unplug(BlockRange::new(BASE, 32));
    let response = submit(&mut t, &with_garbage_padding(request, false));
    assert_eq!(response, Response::Ack.encode());
    assert_eq!(t.device().plugged_size(), 64 * MIB);
}

#[test]
fn d32_unplug_error_on_bad_ranges() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    let usable_end = BASE + d.usable_region_size();
    for (addr, nb) in [(BASE + MIB, 1), (BASE, 0), (usable_end, 1), (BASE - 2 * MIB, 2)] {
        assert_eq!(unplug(&mut d, addr, nb), Response::ERROR, "{addr:#x}+{nb}");
    }
    assert_eq!(d.plugged_size(), 128 * MIB);
}

#[test]
fn d33_unplug_error_if_any_block_unplugged() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    assert_eq!(unplug(&mut d, BASE, 65), Response::ERROR);
    assert_eq!(d.plugged_size(), 128 * MIB);
}

#[test]
fn d34_unplug_busy_when_it_cannot_act() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    d.set_migration_in_progress(true);
    assert_eq!(unplug(&mut d, BASE, 1), Response::Busy);
    d.set_migration_in_progress(false);
    d.backend_mut().fail_next_discards(1);
    assert_eq!(unplug(&mut d, BASE, 1), Response::Busy);
    assert_eq!(d.plugged_size(), 128 * MIB);
    assert!(d.is_block_plugged(0));
}

#[test]
fn d35_unplug_ack_updates_plugged_size() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    d.resize(0).unwrap();
    // Allowed even below the requested size (here 0).
    assert_eq!(unplug(&mut d, BASE, 64), Response::Ack);
    assert_eq!(d.plugged_size(), 0);
}

#[test]
fn d36_d37_unplug_all_ignores_all_but_type() {
    let mut t = InProcessTransport::new(spec_device());
    t.device_mut().resize(GIB).unwrap();
    submit(&mut t, &Request::Plug(BlockRange::new(BASE, 64)).encode());
    let response = submit(&mut t, &with_garbage_padding(Request::UnplugAll, true));
    assert_eq!(response, Response::Ack.encode());
    assert_eq!(t.device().plugged_size(), 0);
}

#[test]
fn d38_unplug_all_busy_when_it_cannot_act() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    d.set_migration_in_progress(true);
    assert_eq!(unplug_all(&mut d), Response::Busy);
    d.set_migration_in_progress(false);
    d.backend_mut().fail_next_discards(1);
    assert_eq!(unplug_all(&mut d), Response::Busy);
    assert_eq!(d.plugged_size(), 128 * MIB);
}

#[test]
fn d39_d40_unplug_all_ack_with_everything_unplugged() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    plug(&mut d, BASE, 64);
    plug(&mut d, BASE + 0x2000_0000, 7);
    assert_eq!(unplug_all(&mut d), Response::Ack);
    assert_eq!(d.plugged_size(), 0);
    assert_eq!(d.bitmap().count_ones(), 0);
    assert_eq!(unplug_all(&mut d), Response::Ack, "also with nothing plugged");
}

#[test]
fn d41_unplug_all_may_shrink_usable() {
    let mut d = spec_device();
    d.resize(2 * GIB).unwrap();
    d.resize(MIB * 2).unwrap();
    assert_eq!(d.usable_region_size(), 2 * GIB + 256 * MIB);
    assert_eq!(unplug_all(&mut d), Response::Ack);
    assert_eq!(d.usable_region_size(), 2 * MIB + 256 * MIB);
}

#[test]
fn d42_d43_state_ignores_padding() {
    let mut t = InProcessTransport::new(spec_device());
    t.device_mut().resize(GIB).unwrap();
    submit(&mut t, &Request::Plug(BlockRange::new(BASE, 1)).encode());
    let request = Request::State(BlockRange::new(BASE, 2));
    let response = submit(&mut t, &with_garbage_padding(request, false));
    let decoded = DecodedResponse::decode(&response).unwrap();
    assert_eq!(decoded.block_state(), Some(BlockState::Mixed));
}

#[test]
fn d44_state_error_on_bad_ranges() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    let usable_end = BASE + d.usable_region_size();
    for (addr, nb) in [(BASE + MIB, 1), (BASE, 0), (usable_end, 1), (usable_end - 2 * MIB, 2)] {
        let response = state(&mut d, addr, nb);
        assert_eq!(response, Response::ERROR, "{addr:#x}+{nb}");
        assert_eq!(&response.encode()[8..10], &[0, 0]);
    }
}

#[test]
fn d45_d46_state_answers() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    d.set_migration_in_progress(true); // STATE never answers BUSY
    assert_eq!(state(&mut d, BASE, 64), Response::AckState(BlockState::Unplugged));
    d.set_migration_in_progress(false);
    plug(&mut d, BASE, 64);
    assert_eq!(state(&mut d, BASE, 64), Response::AckState(BlockState::Plugged));
    assert_eq!(state(&mut d, BASE + 126 * MIB, 2), Response::AckState(BlockState::Mixed));
    assert_eq!(state(&mut d, BASE + 128 * MIB, 1), Response::AckState(BlockState::Unplugged));
    assert_eq!(d.stats().responses, [5, 0, 0, 0]); // 4 STATE + 1 PLUG
}

#[test]
fn r1_driver_config_writes_are_ignored_and_counted() {
    let mut t = InProcessTransport::new(spec_device());
    let before = t.read_config_space().unwrap();
    t.write_config(48, &[0xff; 8]).unwrap();
    assert_eq!(t.read_config_space().unwrap(), before);
    assert_eq!(t.device().driver_config_writes(), 1);
    assert!(t.write_config(50, &[0; 8]).is_err());
}

#[test]
fn r6_writes_to_unplugged_memory_are_violations_and_dropped() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    let report = d.cpu_write(BASE, &[9; 8]).unwrap();
    assert_eq!(report.violations, 1);
    d.dma_write(BASE + 4 * MIB, &[9; 8]).unwrap();
    assert_eq!(d.backend().violation_count(), 2);
    assert_eq!(d.backend().resident_bytes(), 0, "the writes were dropped");
    assert_eq!(d.backend().violations()[0].kind, ViolationKind::WriteUnplugged);
    // Accesses outside the region are refused, not recorded.
    assert!(d.cpu_read(BASE + 4 * GIB, &mut [0u8; 1]).is_err());
    assert!(d.cpu_write(u64::MAX, &[0u8; 2]).is_err());
}
