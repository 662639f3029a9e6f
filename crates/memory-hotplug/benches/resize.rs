//! Plugging and unplugging a virtio-mem device through the device model,
//! the driver, the hotplug layer and the iomem tree (2 MiB device blocks,
//! 128 MiB memory blocks, auto-online to ZONE_MOVABLE), at 64 GiB, 256 GiB
//! and 1 TiB: the cost must grow linearly with the memory moved.
//!
//! `cargo bench -p memory-hotplug --bench resize`

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use memory_hotplug::{BootRange, HotplugConfig, HotplugSystem, NoMemory, OnlineType};
use virtio_mem::{DeviceProperties, InProcessTransport, NoBackend, VirtioMemDevice};
use virtio_mem_driver::{DriverConfig, VirtioMemDriver};

const GIB: u64 = 1 << 30;

type Machine = (HotplugSystem<NoMemory>, VirtioMemDriver<InProcessTransport<NoBackend>>);

fn machine(region: u64, plugged: u64) -> Machine {
    let mut config = HotplugConfig::x86_64(vec![BootRange { start: 0x10_0000, end: 4 * GIB }]);
    config.default_online_type = OnlineType::OnlineMovable;
    let mut os = HotplugSystem::new(config, NoMemory);
    let device = VirtioMemDevice::new(DeviceProperties::new(4 * GIB, region, 2 << 20), NoBackend).unwrap();
    let mut driver = VirtioMemDriver::new(InProcessTransport::new(device), DriverConfig::new(0));
    driver.probe(&mut os).unwrap();
    resize(&mut (os, driver), plugged)
}

fn resize(m: &mut Machine, size: u64) -> Machine {
    let (os, driver) = m;
    if driver.transport().device().requested_size() != size {
        driver.transport_mut().device_mut().resize(size).unwrap();
        driver.handle_interrupts();
    }
    driver.run_pending_work(os);
    assert_eq!(driver.transport().device().plugged_size(), size);
    // Hand the machine back (moved out of the tuple).
    let os = std::mem::replace(os, HotplugSystem::new(HotplugConfig::x86_64(Vec::new()), NoMemory));
    let device = VirtioMemDevice::new(DeviceProperties::new(0, 2 << 20, 2 << 20), NoBackend).unwrap();
    let driver = std::mem::replace(driver, VirtioMemDriver::new(InProcessTransport::new(device), DriverConfig::new(9)));
    (os, driver)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("virtio-mem resize (device+driver+hotplug+tree)");
    g.sample_size(10);
    for gib in [64u64, 256, 1024] {
        let size = gib * GIB;
        g.bench_with_input(BenchmarkId::new("plug", format!("{gib} GiB")), &size, |b, &size| {
            b.iter_batched(|| machine(size, 0), |mut m| resize(&mut m, size), BatchSize::PerIteration);
        });
        g.bench_with_input(BenchmarkId::new("unplug", format!("{gib} GiB")), &size, |b, &size| {
            b.iter_batched(|| machine(size, size), |mut m| resize(&mut m, 0), BatchSize::PerIteration);
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
