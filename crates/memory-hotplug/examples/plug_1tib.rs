//! Plugs a 1 TiB virtio-mem device (2 MiB device blocks, 128 MiB memory
//! blocks: 8192 memory blocks, 524 288 device blocks) and unplugs it again,
//! through the device model, the driver, the hotplug layer and the iomem
//! tree, printing the time of each direction. For whole-process figures:
//!
//! ```text
//! cargo build --release -p memory-hotplug --example plug_1tib
//! /usr/bin/time -v target/release/examples/plug_1tib
//! ```

use std::time::Instant;

use memory_hotplug::{BootRange, HotplugConfig, HotplugSystem, NoMemory, OnlineType};
use virtio_mem::{DeviceProperties, InProcessTransport, NoBackend, VirtioMemDevice};
use virtio_mem_driver::{DriverConfig, VirtioMemDriver};

const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

fn main() {
    let mut config = HotplugConfig::x86_64(vec![BootRange { start: 0x10_0000, end: 4 * GIB }]);
    config.default_online_type = OnlineType::OnlineMovable;
    let mut os = HotplugSystem::new(config, NoMemory);
    let device = VirtioMemDevice::new(DeviceProperties::new(4 * GIB, TIB, 2 << 20), NoBackend).unwrap();
    let mut driver = VirtioMemDriver::new(InProcessTransport::new(device), DriverConfig::new(0));
    driver.probe(&mut os).unwrap();
    driver.run_pending_work(&mut os);
    for size in [TIB, 0] {
        let t = Instant::now();
        driver.transport_mut().device_mut().resize(size).unwrap();
        driver.handle_interrupts();
        driver.run_pending_work(&mut os);
        let elapsed = t.elapsed();
        assert_eq!(driver.transport().device().plugged_size(), size);
        println!("resize to {:>4} GiB: {:>7.1} ms", size / GIB, elapsed.as_secs_f64() * 1e3);
    }
    println!(
        "page map extents: {}, iomem resources: {}, log lines: {}",
        os.pages().extents(),
        os.tree().len(),
        os.log().len()
    );
}
