//! A toy guest driver, written only against the `VirtioMemTransport` trait,
//! driving the device in-process under every profile: the way the guest
//! driver issue will test its SBM/BBM driver. It touches only plugged memory,
//! so the simulated memory must count no violation.

mod common;

use common::*;
use std::collections::BTreeSet;
use virtio_mem::config::offset;
use virtio_mem::transport::status_bits::{ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK};
use virtio_mem::{
    BlockRange, BlockState, DeviceProperties, Features, InProcessTransport, Profile, Request, ResponseType,
    SimulatedMemory, VirtioMemDevice, VirtioMemTransport,
};

const BASE: u64 = 0x1_0000_0000;

/// What the toy driver keeps: a copy of the config and the blocks it plugged.
struct ToyDriver {
    block_size: u64,
    addr: u64,
    usable: u64,
    requested: u64,
    plugged: BTreeSet<u64>,
}

#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Done,
    /// No free block inside the usable region (Linux: -ENOSPC).
    NoSpace,
}

impl ToyDriver {
    fn probe<T: VirtioMemTransport>(transport: &mut T) -> Self {
        transport.set_status(0);
        transport.set_status(ACKNOWLEDGE | DRIVER);
        let wanted = Features::VERSION_1 | Features::UNPLUGGED_INACCESSIBLE | Features::PERSISTENT_SUSPEND;
        let offered = transport.device_features();
        transport.set_driver_features(offered & wanted.bits());
        transport.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        assert_ne!(transport.status() & FEATURES_OK, 0, "features accepted");
        transport.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        let config = transport.read_config_space().unwrap();
        assert_eq!(config.plugged_size, 0, "fresh device");
        Self {
            block_size: config.block_size,
            addr: config.addr,
            usable: config.usable_region_size,
            requested: config.requested_size,
            plugged: BTreeSet::new(),
        }
    }

    fn refresh<T: VirtioMemTransport>(&mut self, transport: &mut T) {
        self.usable = transport.read_config_u64(offset::USABLE_REGION_SIZE).unwrap();
        self.requested = transport.read_config_u64(offset::REQUESTED_SIZE).unwrap();
        let plugged = transport.read_config_u64(offset::PLUGGED_SIZE).unwrap();
        assert_eq!(plugged, self.plugged.len() as u64 * self.block_size, "driver and device agree");
    }

    fn plugged_size(&self) -> u64 {
        self.plugged.len() as u64 * self.block_size
    }

    /// One worker run: (un)plug single blocks until the request is met.
    fn run(&mut self, transport: &mut InProcessTransport<SimulatedMemory>) -> Stop {
        loop {
            if transport.take_interrupts().config_changed {
                self.refresh(transport);
            }
            if self.plugged_size() < self.requested {
                let usable_blocks = self.usable / self.block_size;
                let Some(block) = (0..usable_blocks).find(|b| !self.plugged.contains(b)) else {
                    return Stop::NoSpace;
                };
                let addr = self.addr + block * self.block_size;
                let answer = transport.request(Request::Plug(BlockRange::new(addr, 1))).unwrap();
                match answer.response_type() {
                    Some(ResponseType::Ack) => {
                        self.plugged.insert(block);
                        // R12: initialise what was plugged.
                        let report = transport.device_mut().cpu_write(addr, &block.to_le_bytes()).unwrap();
                        assert_eq!(report.violations, 0);
                    }
                    Some(ResponseType::Nack) => self.refresh(transport),
                    other => panic!("unexpected answer {other:?} to PLUG {addr:#x}"),
                }
            } else if self.plugged_size() > self.requested {
                let block = *self.plugged.iter().next_back().unwrap();
                let addr = self.addr + block * self.block_size;
                let answer = transport.request(Request::Unplug(BlockRange::new(addr, 1))).unwrap();
                assert_eq!(answer.response_type(), Some(ResponseType::Ack));
                self.plugged.remove(&block);
            } else {
                return Stop::Done;
            }
        }
    }

    /// Reads back every plugged block's marker.
    fn verify(&self, transport: &mut InProcessTransport<SimulatedMemory>) {
        for &block in &self.plugged {
            let mut marker = [0u8; 8];
            let addr = self.addr + block * self.block_size;
            transport.device_mut().cpu_read(addr, &mut marker).unwrap();
            assert_eq!(u64::from_le_bytes(marker), block);
        }
    }
}

fn exercise(profile: Profile) {
    let properties = DeviceProperties::new(BASE, 512 * MIB, 2 * MIB).with_profile(profile);
    let device = VirtioMemDevice::new(properties, SimulatedMemory::new()).unwrap();
    let mut transport = InProcessTransport::new(device);
    let mut driver = ToyDriver::probe(&mut transport);
    assert_eq!(driver.run(&mut transport), Stop::Done);

    for target in [64 * MIB, 16 * MIB, 48 * MIB, 100 * MIB] {
        transport.device_mut().resize(target).unwrap();
        assert_eq!(driver.run(&mut transport), Stop::Done, "{} to {target:#x}", profile.name());
        assert_eq!(transport.device().plugged_size(), target);
        driver.verify(&mut transport);
    }
    let first = BlockRange::new(BASE, 50);
    let answer = transport.request(Request::State(first)).unwrap();
    assert_eq!(answer.block_state(), Some(BlockState::Plugged));

    // UNPLUG_ALL, then the driver re-reads the config on its own (no
    // interrupt), as Linux does after an acknowledged UNPLUG_ALL.
    let answer = transport.request(Request::UnplugAll).unwrap();
    assert_eq!(answer.response_type(), Some(ResponseType::Ack));
    assert!(!transport.take_interrupts().config_changed);
    driver.plugged.clear();
    driver.refresh(&mut transport);
    let after_unplug_all = driver.run(&mut transport);
    match profile {
        // Firecracker's usable region is 0 now: nothing can be plugged
        // until the host resizes again.
        Profile::Firecracker { .. } => {
            assert_eq!(after_unplug_all, Stop::NoSpace);
            transport.device_mut().resize(110 * MIB).unwrap();
            assert_eq!(driver.run(&mut transport), Stop::Done);
        }
        _ => assert_eq!(after_unplug_all, Stop::Done),
    }
    let memory = transport.device().backend();
    assert_eq!(memory.violation_count(), 0, "{:?}", memory.violations());
    assert_eq!(memory.tolerated_unplugged_reads(), 0);
    assert_eq!(transport.device().driver_config_writes(), 0);
    transport.device().check_invariants().unwrap();
}

#[test]
fn toy_driver_against_the_reference_profile() {
    exercise(Profile::qemu_x86_64());
}

#[test]
fn toy_driver_against_cloud_hypervisor() {
    exercise(Profile::cloud_hypervisor());
}

#[test]
fn toy_driver_against_firecracker() {
    exercise(Profile::firecracker());
}

#[test]
fn a_stray_write_by_a_buggy_driver_is_caught() {
    let device = VirtioMemDevice::new(DeviceProperties::new(BASE, 512 * MIB, 2 * MIB), SimulatedMemory::new()).unwrap();
    let mut transport = InProcessTransport::new(device);
    let mut driver = ToyDriver::probe(&mut transport);
    transport.device_mut().resize(4 * MIB).unwrap();
    driver.run(&mut transport);
    // One block past what the driver plugged.
    transport.device_mut().cpu_write(BASE + 4 * MIB, &[1]).unwrap();
    let mut byte = [0u8; 1];
    transport.device_mut().cpu_read(BASE + 6 * MIB, &mut byte).unwrap();
    assert_eq!(transport.device().backend().violation_count(), 2);
}
