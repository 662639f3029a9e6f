//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use virtio_mem::{
    BlockRange, DeviceProperties, Features, Profile, Request, Response, SimulatedMemory, VirtioMemDevice,
};

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// The device of the device spec's worked examples (§10): x86, region
/// 0x1_4000_0000 + 4 GiB, 2 MiB blocks, requested 0, trace on.
pub fn spec_properties() -> DeviceProperties {
    DeviceProperties::new(0x1_4000_0000, 4 * GIB, 2 * MIB).with_trace(true)
}

/// A device with the given properties whose driver accepted `features`
/// (plus VERSION_1) and set DRIVER_OK.
pub fn activated_with(properties: DeviceProperties, features: Features) -> VirtioMemDevice<SimulatedMemory> {
    let mut device = VirtioMemDevice::new(properties, SimulatedMemory::new()).expect("valid");
    activate(&mut device, features);
    device
}

/// The §10 device, activated with every offered feature accepted.
pub fn spec_device() -> VirtioMemDevice<SimulatedMemory> {
    let properties = spec_properties();
    let mut device = VirtioMemDevice::new(properties, SimulatedMemory::new()).expect("valid");
    let offered = device.device_features();
    activate(&mut device, offered);
    device
}

/// A device of `profile` over the §10 region, activated with all offered
/// features.
pub fn profile_device(profile: Profile) -> VirtioMemDevice<SimulatedMemory> {
    let mut device =
        VirtioMemDevice::new(spec_properties().with_profile(profile), SimulatedMemory::new()).expect("valid");
    let offered = device.device_features();
    activate(&mut device, offered);
    device
}

/// The virtio handshake with `features` accepted.
pub fn activate<B: virtio_mem::MemoryBackend>(device: &mut VirtioMemDevice<B>, features: Features) {
    device.set_status(0).expect("reset");
    device.set_status(1 | 2).expect("ack+driver");
    device.set_driver_features((features | Features::VERSION_1).bits());
    device.set_status(1 | 2 | 8).expect("features ok");
    device.set_status(1 | 2 | 8 | 4).expect("driver ok");
}

pub fn plug<B: virtio_mem::MemoryBackend>(d: &mut VirtioMemDevice<B>, addr: u64, nb: u16) -> Response {
    d.execute(Request::Plug(BlockRange::new(addr, nb)))
}

pub fn unplug<B: virtio_mem::MemoryBackend>(d: &mut VirtioMemDevice<B>, addr: u64, nb: u16) -> Response {
    d.execute(Request::Unplug(BlockRange::new(addr, nb)))
}

pub fn state<B: virtio_mem::MemoryBackend>(d: &mut VirtioMemDevice<B>, addr: u64, nb: u16) -> Response {
    d.execute(Request::State(BlockRange::new(addr, nb)))
}

pub fn unplug_all<B: virtio_mem::MemoryBackend>(d: &mut VirtioMemDevice<B>) -> Response {
    d.execute(Request::UnplugAll)
}
