//! The cloud-hypervisor and Firecracker profiles (device spec §9): each
//! divergence from the reference profile, next to the reference answer.

mod common;

use common::*;
use virtio_mem::profile::ViolationHandling;
use virtio_mem::{
    BlockState, ChainOutcome, CreateError, DecodedResponse, DeviceProperties, DeviceStatus, Features, Profile,
    ProtocolViolation, Request, ResizeError, Response, SimulatedMemory, StatusError, VirtioMemDevice,
};

const BASE: u64 = 0x1_4000_0000;

#[test]
fn cloud_hypervisor_checks_the_request_limit_before_the_range() {
    let mut qemu = spec_device();
    let mut ch = profile_device(Profile::cloud_hypervisor());
    for d in [&mut qemu, &mut ch] {
        d.resize(4 * MIB).unwrap();
    }
    // Invalid (unaligned) and too large: QEMU says ERROR, CH says NACK.
    assert_eq!(plug(&mut qemu, BASE + MIB, 3), Response::ERROR);
    assert_eq!(plug(&mut ch, BASE + MIB, 3), Response::Nack);
    // Valid, not too large: both ACK; then an invalid small one is ERROR.
    assert_eq!(plug(&mut ch, BASE, 1), Response::Ack);
    assert_eq!(plug(&mut ch, BASE + MIB, 1), Response::ERROR);
}

#[test]
fn cloud_hypervisor_usable_region_is_the_whole_region_forever() {
    let mut ch = profile_device(Profile::cloud_hypervisor());
    assert_eq!(ch.usable_region_size(), 4 * GIB);
    ch.resize(GIB).unwrap();
    assert_eq!(plug(&mut ch, BASE + 4 * GIB - 2 * MIB, 1), Response::Ack);
    assert_eq!(unplug_all(&mut ch), Response::Ack);
    assert_eq!(ch.usable_region_size(), 4 * GIB);
    assert_eq!(ch.plugged_size(), 0);
}

#[test]
fn cloud_hypervisor_never_busy_and_errors_on_discard_failure() {
    let mut ch = profile_device(Profile::cloud_hypervisor());
    ch.resize(GIB).unwrap();
    ch.set_migration_in_progress(true);
    assert!(!ch.is_busy());
    assert_eq!(plug(&mut ch, BASE, 2), Response::Ack);
    ch.backend_mut().fail_next_discards(1);
    assert_eq!(unplug(&mut ch, BASE, 1), Response::ERROR);
    assert_eq!(ch.plugged_size(), 4 * MIB);
    ch.backend_mut().fail_next_discards(1);
    assert_eq!(unplug_all(&mut ch), Response::ERROR);
    ch.backend_mut().fail_next_populates(1);
    assert_eq!(plug(&mut ch, BASE + 4 * MIB, 1), Response::ERROR);
}

#[test]
fn cloud_hypervisor_state_error_carries_garbage_the_driver_ignores() {
    let mut ch = profile_device(Profile::cloud_hypervisor());
    ch.resize(GIB).unwrap();
    let response = state(&mut ch, BASE + MIB, 1);
    let decoded = DecodedResponse::decode(&response.encode()).unwrap();
    assert_eq!(decoded.raw_type, 3);
    assert_ne!(decoded.raw_state, 0);
    assert_eq!(decoded.block_state(), None, "R21: ignored unless ACK");
}

#[test]
fn cloud_hypervisor_resize_rules_and_creation_limits() {
    let mut ch = profile_device(Profile::cloud_hypervisor());
    ch.resize(GIB).unwrap();
    assert_eq!(ch.resize(GIB), Err(ResizeError::Unchanged { requested_size: GIB }));
    let mut qemu = spec_device();
    qemu.resize(GIB).unwrap();
    assert_eq!(qemu.resize(GIB), Ok(()));
    let bad_block = DeviceProperties::new(0, GIB, 4 * MIB).with_profile(Profile::CloudHypervisor);
    assert!(matches!(
        VirtioMemDevice::new(bad_block, SimulatedMemory::new()),
        Err(CreateError::ProfileBlockSize { .. })
    ));
    let bad_region = DeviceProperties::new(0, 130 * MIB, 2 * MIB).with_profile(Profile::CloudHypervisor);
    assert!(matches!(
        VirtioMemDevice::new(bad_region, SimulatedMemory::new()),
        Err(CreateError::ProfileRegionAlignment { .. })
    ));
    let mut with_pxm = spec_properties().with_profile(Profile::CloudHypervisor);
    with_pxm.acpi_pxm = true;
    let offered = VirtioMemDevice::new(with_pxm, SimulatedMemory::new()).unwrap().device_features();
    assert_eq!(offered, Features::VERSION_1 | Features::ACPI_PXM);
}

#[test]
fn cloud_hypervisor_requires_an_exact_request_descriptor() {
    let request = Request::Plug(virtio_mem::BlockRange::new(BASE, 1)).encode();
    let mut long = request.to_vec();
    long.push(0);
    let mut qemu = spec_device();
    let mut ch = profile_device(Profile::cloud_hypervisor());
    for d in [&mut qemu, &mut ch] {
        d.resize(GIB).unwrap();
    }
    let mut response = [0u8; 10];
    assert!(matches!(qemu.process_chain(&[&long], &mut [&mut response]), ChainOutcome::Completed { .. }));
    assert_eq!(
        ch.process_chain(&[&long], &mut [&mut response]),
        ChainOutcome::Dropped(ProtocolViolation::RequestDescriptorLength { len: 25 })
    );
    assert!(ch.status().contains(DeviceStatus::DEVICE_NEEDS_RESET));
}

#[test]
fn firecracker_too_large_plug_is_error_and_never_nack_or_busy() {
    let mut fc = profile_device(Profile::firecracker());
    fc.resize(4 * MIB).unwrap();
    assert_eq!(plug(&mut fc, BASE, 3), Response::ERROR);
    fc.set_migration_in_progress(true);
    assert_eq!(plug(&mut fc, BASE, 2), Response::Ack);
    assert_eq!(fc.stats().responses[1] + fc.stats().responses[2], 0);
}

#[test]
fn firecracker_usable_region_grows_by_slots_and_drops_to_zero() {
    let mut fc = profile_device(Profile::firecracker());
    assert_eq!(fc.usable_region_size(), 0);
    fc.resize(300 * MIB).unwrap();
    assert_eq!(fc.usable_region_size(), 384 * MIB, "rounded to 128 MiB slots");
    fc.resize(100 * MIB).unwrap();
    assert_eq!(fc.usable_region_size(), 384 * MIB);
    assert_eq!(plug(&mut fc, BASE, 50), Response::Ack);
    assert_eq!(unplug_all(&mut fc), Response::Ack);
    assert_eq!(fc.usable_region_size(), 0, "even though 100 MiB are requested");
    assert_eq!(plug(&mut fc, BASE, 1), Response::ERROR);
    fc.check_invariants().unwrap();
    fc.resize(200 * MIB).unwrap();
    assert_eq!(fc.usable_region_size(), 256 * MIB);
    assert_eq!(plug(&mut fc, BASE, 1), Response::Ack);
}

#[test]
fn firecracker_ignores_discard_failures() {
    let mut fc = profile_device(Profile::firecracker());
    fc.resize(GIB).unwrap();
    plug(&mut fc, BASE, 4);
    fc.backend_mut().fail_next_discards(1);
    assert_eq!(unplug(&mut fc, BASE, 1), Response::Ack);
    assert_eq!(fc.plugged_size(), 6 * MIB);
}

#[test]
fn firecracker_activation_requires_unplugged_inaccessible() {
    let properties = spec_properties().with_profile(Profile::firecracker());
    let mut fc = VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap();
    assert_eq!(fc.device_features(), Features::VERSION_1 | Features::UNPLUGGED_INACCESSIBLE);
    assert_eq!(fc.resize(GIB), Err(ResizeError::NotActivated));
    fc.set_driver_features(Features::VERSION_1.bits());
    assert_eq!(fc.set_status(1 | 2 | 8), Ok(()), "FEATURES_OK accepted");
    assert_eq!(fc.set_status(1 | 2 | 8 | 4), Err(StatusError::UnpluggedInaccessibleRequired));
    assert!(!fc.status().contains(DeviceStatus::DRIVER_OK));
    activate(&mut fc, Features::UNPLUGGED_INACCESSIBLE);
    assert_eq!(fc.resize(GIB), Ok(()));
}

#[test]
fn firecracker_checks_first_descriptors_and_keeps_working_after_violations() {
    let mut fc = profile_device(Profile::firecracker());
    fc.resize(GIB).unwrap();
    let request = Request::State(virtio_mem::BlockRange::new(BASE, 1)).encode();
    let (head, tail) = request.split_at(12);
    let mut response = [0u8; 10];
    assert_eq!(
        fc.process_chain(&[head, tail], &mut [&mut response]),
        ChainOutcome::Dropped(ProtocolViolation::RequestTooShort { readable: 12 })
    );
    assert_eq!(Profile::firecracker().violation_handling(), ViolationHandling::AbortBatch);
    assert!(!fc.status().contains(DeviceStatus::DEVICE_NEEDS_RESET));
    assert_eq!(
        fc.process_chain(&[&request], &mut [&mut response]),
        ChainOutcome::Completed { response: Response::AckState(BlockState::Unplugged), used_len: 10 }
    );
    // The reference device gathers split descriptors.
    let mut qemu = spec_device();
    qemu.resize(GIB).unwrap();
    assert!(matches!(qemu.process_chain(&[head, tail], &mut [&mut response]), ChainOutcome::Completed { .. }));
}

#[test]
fn profile_names_and_arm_extent() {
    assert_eq!(Profile::qemu_x86_64().name(), "qemu");
    assert_eq!(Profile::cloud_hypervisor().name(), "cloud-hypervisor");
    assert_eq!(Profile::firecracker().name(), "firecracker");
    let mut arm = profile_device(Profile::qemu_arm64());
    arm.resize(GIB).unwrap();
    assert_eq!(arm.usable_region_size(), 2 * GIB);
}
