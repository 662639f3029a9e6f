//! The worked examples of the device spec (§10) and the device side of the
//! driver spec's worked examples (§17), request by request.

mod common;

use common::*;
use virtio_mem::{
    BlockState, DeviceStatus, InProcessTransport, Profile, ProtocolViolation, Response, TransportError,
    VirtioMemTransport,
};

/// §10.1 and §10.2 up to row 16: the device after the host resize to 1 GiB
/// and the plug sequence.
fn device_after_row_16() -> virtio_mem::VirtioMemDevice<virtio_mem::SimulatedMemory> {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    assert_eq!(plug(&mut d, 0x1_4000_0000, 64), Response::Ack);
    for addr in (0x1_4800_0000u64..=0x1_7800_0000).step_by(0x800_0000) {
        assert_eq!(plug(&mut d, addr, 64), Response::Ack);
    }
    d
}

#[test]
fn s10_initial_config() {
    let d = spec_device();
    let c = d.config();
    assert_eq!((c.block_size, c.node_id, c.addr, c.region_size), (0x20_0000, 0, 0x1_4000_0000, 0x1_0000_0000));
    assert_eq!((c.usable_region_size, c.plugged_size, c.requested_size), (0, 0, 0));
    assert_eq!(d.block_count(), 2048);
}

#[test]
fn s10_1_host_resize_to_1g() {
    let mut d = spec_device();
    d.take_config_interrupt();
    d.resize(GIB).unwrap();
    assert_eq!(d.usable_region_size(), 0x5000_0000);
    assert_eq!(d.requested_size(), 0x4000_0000);
    assert!(d.take_config_interrupt());
    assert_eq!(d.config().addr + d.usable_region_size(), 0x1_9000_0000);
}

#[test]
fn s10_2_request_sequence() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    assert_eq!(plug(&mut d, 0x1_4000_0000, 64), Response::Ack); // 1
    assert_eq!(d.plugged_size(), 0x0800_0000);
    assert_eq!(plug(&mut d, 0x1_4000_0000, 1), Response::ERROR); // 2 already plugged
    assert_eq!(plug(&mut d, 0x1_4010_0000, 1), Response::ERROR); // 3 unaligned
    assert_eq!(plug(&mut d, 0x1_4800_0000, 0), Response::ERROR); // 4 nb = 0
    assert_eq!(plug(&mut d, 0x1_9000_0000, 1), Response::ERROR); // 5 at usable end
    assert_eq!(plug(&mut d, 0x1_8FE0_0000, 2), Response::ERROR); // 6 crosses usable end
    assert_eq!(plug(&mut d, 0x1_2000_0000, 1), Response::ERROR); // 7 below region
    assert_eq!(d.plugged_size(), 0x0800_0000);
    for addr in (0x1_4800_0000u64..=0x1_7800_0000).step_by(0x800_0000) {
        assert_eq!(plug(&mut d, addr, 64), Response::Ack); // 8–14
    }
    assert_eq!(d.plugged_size(), 0x4000_0000);
    assert_eq!(plug(&mut d, 0x1_8000_0000, 1), Response::Nack); // 15
    assert_eq!(plug(&mut d, 0x1_4000_0000, 1), Response::Nack); // 16: row 2 before row 3
    assert_eq!(state(&mut d, 0x1_4000_0000, 512), Response::AckState(BlockState::Plugged)); // 17
    assert_eq!(state(&mut d, 0x1_7FE0_0000, 2), Response::AckState(BlockState::Mixed)); // 18
    assert_eq!(state(&mut d, 0x1_8000_0000, 128), Response::AckState(BlockState::Unplugged)); // 19
    assert_eq!(state(&mut d, 0x1_8FE0_0000, 2), Response::ERROR); // 20
    assert_eq!(d.plugged_size(), 0x4000_0000);
    d.check_invariants().unwrap();
}

#[test]
fn s10_2_note_unknown_type_and_short_buffer_need_reset() {
    for bytes in [
        {
            let mut b = [0u8; 24];
            b[0] = 7;
            b.to_vec()
        },
        vec![0u8; 23],
    ] {
        let mut transport = InProcessTransport::new(spec_device());
        transport.device_mut().resize(GIB).unwrap();
        transport.take_interrupts();
        let mut response = [0xffu8; 10];
        let error = transport.submit(&bytes, &mut response).unwrap_err();
        assert!(matches!(error, TransportError::Dropped(_)));
        assert_eq!(response, [0xff; 10], "nothing written");
        assert!(transport.status() & DeviceStatus::DEVICE_NEEDS_RESET.bits() != 0);
        assert!(transport.take_interrupts().config_changed);
        // No further requests until the driver resets the device.
        let plug = virtio_mem::Request::Plug(virtio_mem::BlockRange::new(0x1_4000_0000, 1));
        assert!(matches!(transport.request(plug), Err(TransportError::NotReady(_))));
        assert_eq!(transport.device().plugged_size(), 0);
        let offered = transport.device_features();
        transport.set_status(0);
        transport.set_status(3);
        transport.set_driver_features(offered);
        transport.set_status(11);
        transport.set_status(15);
        let answer = transport.request(plug).unwrap();
        assert_eq!(answer.raw_type, 0);
    }
    assert_eq!(ProtocolViolation::UnknownRequestType { request_type: 7 }.to_string(), "unknown request type 7");
}

fn device_after_row_25() -> virtio_mem::VirtioMemDevice<virtio_mem::SimulatedMemory> {
    let mut d = device_after_row_16();
    d.take_config_interrupt();
    d.resize(0x12C0_0000).unwrap();
    assert_eq!(d.usable_region_size(), 0x5000_0000, "no shrink on resize");
    assert_eq!(d.requested_size(), 0x12C0_0000);
    assert!(d.take_config_interrupt());
    assert_eq!(d.plugged_size(), GIB);
    assert_eq!(unplug(&mut d, 0x1_7800_0000, 64), Response::Ack); // 21
    assert_eq!(d.plugged_size(), 0x3800_0000);
    assert_eq!(unplug(&mut d, 0x1_7800_0000, 1), Response::ERROR); // 22
    for addr in [0x1_7000_0000, 0x1_6800_0000, 0x1_6000_0000, 0x1_5800_0000] {
        assert_eq!(unplug(&mut d, addr, 64), Response::Ack); // 23
    }
    assert_eq!(d.plugged_size(), 0x1800_0000);
    assert_eq!(unplug(&mut d, 0x1_52C0_0000, 42), Response::Ack); // 24
    assert_eq!(d.plugged_size(), 0x12C0_0000);
    assert_eq!(unplug(&mut d, 0x1_4000_0000, 1), Response::Ack); // 25
    assert_eq!(d.plugged_size(), 0x12A0_0000);
    d
}

#[test]
fn s10_3_resize_to_300m_and_unplug_sequence() {
    let d = device_after_row_25();
    d.check_invariants().unwrap();
}

#[test]
fn s10_4_migration_window() {
    let mut d = device_after_row_16();
    d.set_migration_in_progress(true);
    // Passes rows 1–3 → BUSY.
    assert_eq!(unplug(&mut d, 0x1_7800_0000, 64), Response::Busy);
    d.resize(2 * GIB).unwrap();
    assert_eq!(plug(&mut d, 0x1_8000_0000, 1), Response::Busy);
    // Invalid ones still get ERROR / NACK.
    assert_eq!(plug(&mut d, 0x1_4000_0000, 1), Response::ERROR);
    assert_eq!(unplug(&mut d, 0x1_8000_0000, 1), Response::ERROR);
    assert_eq!(plug(&mut d, 0x1_2000_0000, 1), Response::ERROR);
    d.resize(GIB).unwrap();
    assert_eq!(plug(&mut d, 0x1_8000_0000, 1), Response::Nack);
    // STATE answers normally.
    assert_eq!(state(&mut d, 0x1_4000_0000, 512), Response::AckState(BlockState::Plugged));
    // UNPLUG_ALL: BUSY with memory plugged.
    assert_eq!(unplug_all(&mut d), Response::Busy);
    assert_eq!(d.plugged_size(), GIB);
    d.set_migration_in_progress(false);
    assert_eq!(unplug_all(&mut d), Response::Ack);
    // With nothing plugged, ACK even during migration.
    d.set_migration_in_progress(true);
    assert_eq!(unplug_all(&mut d), Response::Ack);
}

#[test]
fn s10_5_unplug_all_shrinks_usable_without_interrupt() {
    let mut d = device_after_row_25();
    d.take_config_interrupt();
    assert_eq!(unplug_all(&mut d), Response::Ack);
    assert_eq!(d.plugged_size(), 0);
    assert_eq!(d.usable_region_size(), 0x22C0_0000);
    assert!(!d.take_config_interrupt(), "no config interrupt");
    assert_eq!(plug(&mut d, 0x1_7000_0000, 1), Response::ERROR);
    assert_eq!(d.bitmap().count_ones(), 0);
}

#[test]
fn s10_6_resize_to_zero() {
    let mut d = device_after_row_25();
    d.take_config_interrupt();
    d.resize(0).unwrap();
    assert_eq!(d.requested_size(), 0);
    assert_eq!(d.usable_region_size(), 0x5000_0000);
    assert!(d.take_config_interrupt());
    assert_eq!(unplug_all(&mut d), Response::Ack);
    assert_eq!(d.usable_region_size(), 0);
    // Every range request is now invalid.
    assert_eq!(state(&mut d, 0x1_4000_0000, 1), Response::ERROR);
}

#[test]
fn s10_7_system_reset() {
    let mut d = device_after_row_25();
    d.set_migration_in_progress(true);
    d.system_reset();
    assert_eq!(d.plugged_size(), 0x12A0_0000, "busy: reset leaves memory plugged");
    assert_eq!(d.usable_region_size(), 0x5000_0000);
    d.set_migration_in_progress(false);
    d.system_reset();
    assert_eq!(d.plugged_size(), 0);
    assert_eq!(d.bitmap().count_ones(), 0);
    assert_eq!(d.usable_region_size(), 0x22C0_0000);
    assert_eq!(d.status(), DeviceStatus::empty());
}

/// Driver spec §17.3–§17.5 (variant A), shifted to the §17.1 layout
/// (region at 0x140000000).
#[test]
fn driver_s17_sbm_variant_a_sequence() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    assert_eq!(d.usable_region_size(), 0x5000_0000);
    for mb in 40u64..48 {
        assert_eq!(plug(&mut d, mb * 0x800_0000, 64), Response::Ack);
    }
    d.resize(300 * MIB).unwrap();
    for mb in (43u64..48).rev() {
        assert_eq!(unplug(&mut d, mb * 0x800_0000, 64), Response::Ack);
    }
    let mut addr = 0x1_57E0_0000u64;
    for _ in 0..42 {
        assert_eq!(unplug(&mut d, addr, 1), Response::Ack);
        addr -= 2 * MIB;
    }
    assert_eq!(addr + 2 * MIB, 0x1_52C0_0000);
    assert_eq!(d.plugged_size(), 0x12C0_0000);
    // §17.5: back to 1 GiB.
    d.resize(GIB).unwrap();
    assert_eq!(d.usable_region_size(), 0x5000_0000);
    assert_eq!(plug(&mut d, 0x1_52C0_0000, 42), Response::Ack);
    for mb in 43u64..48 {
        assert_eq!(plug(&mut d, mb * 0x800_0000, 64), Response::Ack);
    }
    assert_eq!(d.plugged_size(), GIB);
    // §17.6: a kexec'd kernel finds memory plugged and sends UNPLUG_ALL.
    d.virtio_reset();
    let offered = d.device_features();
    activate(&mut d, offered);
    assert_eq!(d.plugged_size(), GIB);
    assert_eq!(unplug_all(&mut d), Response::Ack);
    assert_eq!(d.plugged_size(), 0);
    assert_eq!(d.usable_region_size(), 0x5000_0000);
    for mb in 40u64..48 {
        assert_eq!(plug(&mut d, mb * 0x800_0000, 64), Response::Ack);
    }
}

/// Driver spec §17.4 variant B: one 42-block unplug; §17.8 BBM.
#[test]
fn driver_s17_variant_b_and_bbm() {
    let mut d = spec_device();
    d.resize(GIB).unwrap();
    for mb in 40u64..48 {
        assert_eq!(plug(&mut d, mb * 0x800_0000, 64), Response::Ack);
    }
    d.resize(300 * MIB).unwrap();
    for mb in (43u64..48).rev() {
        assert_eq!(unplug(&mut d, mb * 0x800_0000, 64), Response::Ack);
    }
    assert_eq!(unplug(&mut d, 0x1_52C0_0000, 42), Response::Ack);
    assert_eq!(d.plugged_size(), 300 * MIB);

    let properties = virtio_mem::DeviceProperties::new(0x1_4000_0000, 4 * GIB, GIB);
    let mut bbm = activated_with(properties, virtio_mem::Features::UNPLUGGED_INACCESSIBLE);
    bbm.resize(2 * GIB).unwrap();
    assert_eq!(bbm.usable_region_size(), 3 * GIB);
    assert_eq!(plug(&mut bbm, 0x1_4000_0000, 1), Response::Ack);
    assert_eq!(plug(&mut bbm, 0x1_8000_0000, 1), Response::Ack);
    bbm.resize(GIB).unwrap();
    assert_eq!(unplug(&mut bbm, 0x1_8000_0000, 1), Response::Ack);
    assert_eq!(bbm.plugged_size(), GIB);
    assert_eq!(Profile::default(), Profile::qemu_x86_64());
}
