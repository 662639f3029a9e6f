//! Feeds arbitrary bytes to the device as a stream of host operations and
//! descriptor chains; the device must never panic and `plugged_size` must
//! always equal the bitmap's count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virtio_mem::{DeviceProperties, Features, Profile, SimulatedMemory, VirtioMemDevice};

const MIB: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let profile = match selector % 3 {
        0 => Profile::Qemu { usable_extent: 16 * MIB },
        1 => Profile::CloudHypervisor,
        _ => Profile::Firecracker { slot_size: 8 * MIB },
    };
    let block_size = if profile == Profile::CloudHypervisor { 2 * MIB } else { MIB };
    let properties = DeviceProperties::new(0x4000_0000, 256 * MIB, block_size).with_profile(profile);
    let Ok(mut device) = VirtioMemDevice::new(properties, SimulatedMemory::new()) else {
        return;
    };
    let offered = device.device_features() | Features::VERSION_1;
    let activate = |device: &mut VirtioMemDevice<SimulatedMemory>| {
        let _ = device.set_status(0);
        device.set_driver_features(offered.bits());
        let _ = device.set_status(1 | 2 | 8 | 4);
    };
    activate(&mut device);
    // Each step: one opcode byte, then the bytes it consumes.
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 8 {
            0..=3 => {
                // A chain: request length, split point, response length.
                let Some((&len, tail)) = rest.split_first() else { break };
                let len = usize::from(len % 40).min(tail.len());
                let (request, tail) = tail.split_at(len);
                rest = tail;
                let split = usize::from(op / 8) % (request.len() + 1);
                let (a, b) = request.split_at(split);
                let mut response = vec![0u8; usize::from(op / 16) % 16];
                let _ = device.process_chain(&[a, b], &mut [&mut response]);
            }
            4 => {
                let Some((bytes, tail)) = rest.split_first_chunk::<8>() else { break };
                rest = tail;
                let _ = device.resize(u64::from_le_bytes(*bytes) % (300 * MIB));
            }
            5 => device.set_migration_in_progress(op & 0x80 != 0),
            6 => {
                device.backend_mut().fail_next_discards(u32::from(op >> 7));
                device.backend_mut().fail_next_populates(u32::from((op >> 6) & 1));
            }
            _ => {
                if op & 0x80 != 0 {
                    device.system_reset();
                }
                activate(&mut device);
            }
        }
        assert_eq!(device.plugged_size(), device.bitmap().count_ones() * device.block_size());
        if let Err(error) = device.check_invariants() {
            panic!("{error}");
        }
    }
});
