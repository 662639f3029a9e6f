//! A guest for the tests: the hotplug layer with its iomem tree, one or
//! more virtio-mem drivers, each talking to a simulated device through an
//! in-process transport that records every request's bytes, and guest
//! memory whose device-region addresses go through the device (so the
//! device counts any access to unplugged memory).

#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::rc::Rc;

use iomem::{Flags, Range};
use iomem_devmem::{Arch, Devmem, KernelConfig, Policy};
use memory_hotplug::{BootRange, HotplugConfig, HotplugSystem, OnlineType, PhysMemory, SparseMemory};
use virtio_mem::{
    DeviceProperties, InProcessTransport, Interrupts, SimulatedMemory, TransportError, VirtioMemDevice,
    VirtioMemTransport,
};
use virtio_mem_driver::{DriverConfig, HookChain, HotplugHooks, SbmState, VirtioMemDriver};

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

pub type Device = VirtioMemDevice<SimulatedMemory>;
pub type Shared = Rc<RefCell<InProcessTransport<SimulatedMemory>>>;

/// One request as sent, and the answer's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub request: [u8; 24],
    pub response: [u8; 10],
}

/// Something the host does to the device.
pub type DeviceAction = Box<dyn FnOnce(&mut Device)>;

/// What a test makes the transport do instead of (or besides) passing
/// requests to the device.
#[derive(Default)]
pub struct Script {
    /// Answers to give instead of the device's: `Some(type)` answers that
    /// type without the device seeing the request; `None` passes it on.
    pub answers: std::collections::VecDeque<Option<u16>>,
    /// The next submits fail at the transport (queueing failure).
    pub failing_submits: u32,
    /// After the request with this number (1-based, counted from the
    /// script's creation) is answered, run the action on the device.
    pub after: Vec<(usize, DeviceAction)>,
    /// Config fields (by offset) the driver reads differently.
    pub config: std::collections::BTreeMap<usize, u64>,
    /// Requests seen.
    pub seen: usize,
}

/// A transport shared with the guest memory, recording every exchange.
pub struct Recording {
    inner: Shared,
    pub log: Rc<RefCell<Vec<Exchange>>>,
    pub script: Rc<RefCell<Script>>,
}

impl VirtioMemTransport for Recording {
    fn device_features(&mut self) -> u64 {
        self.inner.borrow_mut().device_features()
    }
    fn set_driver_features(&mut self, features: u64) {
        self.inner.borrow_mut().set_driver_features(features)
    }
    fn status(&mut self) -> u8 {
        self.inner.borrow_mut().status()
    }
    fn set_status(&mut self, status: u8) {
        self.inner.borrow_mut().set_status(status)
    }
    fn read_config(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), TransportError> {
        if let Some(v) = self.script.borrow().config.get(&offset) {
            let bytes = v.to_le_bytes();
            buf.copy_from_slice(&bytes[..buf.len()]);
            return Ok(());
        }
        self.inner.borrow_mut().read_config(offset, buf)
    }
    fn write_config(&mut self, offset: usize, data: &[u8]) -> Result<(), TransportError> {
        self.inner.borrow_mut().write_config(offset, data)
    }
    fn submit(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportError> {
        let mut script = self.script.borrow_mut();
        if script.failing_submits > 0 {
            script.failing_submits -= 1;
            return Err(TransportError::NotReady(virtio_mem::queue::NotReady::NeedsReset));
        }
        script.seen += 1;
        let seen = script.seen;
        let r = match script.answers.pop_front().flatten() {
            Some(t) => {
                response.fill(0);
                response[0..2].copy_from_slice(&t.to_le_bytes());
                Ok(10)
            }
            None => self.inner.borrow_mut().submit(request, response),
        };
        let due: Vec<_> = {
            let (now, later): (Vec<_>, Vec<_>) = script.after.drain(..).partition(|(n, _)| *n == seen);
            script.after = later;
            now
        };
        drop(script);
        for (_, action) in due {
            action(self.inner.borrow_mut().device_mut());
        }
        let mut req = [0u8; 24];
        req.copy_from_slice(&request[..24]);
        let mut resp = [0u8; 10];
        resp.copy_from_slice(&response[..10]);
        self.log.borrow_mut().push(Exchange { request: req, response: resp });
        r
    }
    fn take_interrupts(&mut self) -> Interrupts {
        self.inner.borrow_mut().take_interrupts()
    }
}

/// Guest-physical memory: device regions through their devices, the rest
/// in sparse storage.
pub struct GuestMemory {
    devices: Vec<(u64, u64, Shared)>,
    other: SparseMemory,
}

impl PhysMemory for GuestMemory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) {
        for (start, size, dev) in &self.devices {
            if addr >= *start && addr < start + size {
                dev.borrow_mut().device_mut().cpu_read(addr, buf).expect("inside the region");
                return;
            }
        }
        self.other.read(addr, buf)
    }
    fn write(&mut self, addr: u64, data: &[u8]) {
        for (start, size, dev) in &self.devices {
            if addr >= *start && addr < start + size {
                dev.borrow_mut().device_mut().cpu_write(addr, data).expect("inside the region");
                return;
            }
        }
        self.other.write(addr, data)
    }
}

/// A guest with one or more virtio-mem devices.
pub struct Guest {
    pub os: HotplugSystem<GuestMemory>,
    pub drivers: Vec<VirtioMemDriver<Recording>>,
    pub devices: Vec<Shared>,
    pub logs: Vec<Rc<RefCell<Vec<Exchange>>>>,
    pub scripts: Vec<Rc<RefCell<Script>>>,
}

/// The spec's worked example (§17.1): boot RAM up to 0x13fffffff (1 MiB
/// to 2 GiB, and 4 GiB to 5 GiB), a 4 GiB device at 0x140000000 in 2 MiB
/// blocks.
pub fn worked_example_config() -> HotplugConfig {
    HotplugConfig::x86_64(vec![
        BootRange { start: 0x1000, end: 0x9_fc00 },
        BootRange { start: 0x10_0000, end: 0x8000_0000 },
        BootRange { start: 0x1_0000_0000, end: 0x1_4000_0000 },
    ])
}

impl Guest {
    pub fn new(config: HotplugConfig) -> Guest {
        let mem = GuestMemory { devices: Vec::new(), other: SparseMemory::new() };
        Guest {
            os: HotplugSystem::new(config, mem),
            drivers: Vec::new(),
            devices: Vec::new(),
            logs: Vec::new(),
            scripts: Vec::new(),
        }
    }

    /// Adds a device `virtio<index>` with `properties`, not yet probed.
    pub fn add_device(&mut self, properties: DeviceProperties, config: DriverConfig) -> usize {
        let (start, size) = (properties.addr, properties.region_size);
        let device = VirtioMemDevice::new(properties, SimulatedMemory::new()).expect("valid device");
        let shared: Shared = Rc::new(RefCell::new(InProcessTransport::new(device)));
        let log = Rc::new(RefCell::new(Vec::new()));
        self.os.memory_mut().devices.push((start, size, shared.clone()));
        let script = Rc::new(RefCell::new(Script::default()));
        let transport = Recording { inner: shared.clone(), log: log.clone(), script: script.clone() };
        self.drivers.push(VirtioMemDriver::new(transport, config));
        self.devices.push(shared);
        self.logs.push(log);
        self.scripts.push(script);
        self.drivers.len() - 1
    }

    /// Adds a driver for a device another guest used (kexec: same device,
    /// new kernel).
    pub fn adopt_device(&mut self, shared: Shared, config: DriverConfig) -> usize {
        let (start, size) = {
            let t = shared.borrow();
            (t.device().config().addr, t.device().config().region_size)
        };
        let log = Rc::new(RefCell::new(Vec::new()));
        self.os.memory_mut().devices.push((start, size, shared.clone()));
        let script = Rc::new(RefCell::new(Script::default()));
        let transport = Recording { inner: shared.clone(), log: log.clone(), script: script.clone() };
        self.drivers.push(VirtioMemDriver::new(transport, config));
        self.devices.push(shared);
        self.logs.push(log);
        self.scripts.push(script);
        self.drivers.len() - 1
    }

    /// Replaces driver `i` with a fresh instance on the same device (a
    /// module reload, or a new kernel after kexec).
    pub fn rebind(&mut self, i: usize, config: DriverConfig) {
        let transport =
            Recording { inner: self.devices[i].clone(), log: self.logs[i].clone(), script: self.scripts[i].clone() };
        self.drivers[i] = VirtioMemDriver::new(transport, config);
    }

    pub fn device(&self, i: usize) -> std::cell::Ref<'_, InProcessTransport<SimulatedMemory>> {
        self.devices[i].borrow()
    }

    pub fn with_device<R>(&self, i: usize, f: impl FnOnce(&mut Device) -> R) -> R {
        f(self.devices[i].borrow_mut().device_mut())
    }

    /// Probes driver `i` and runs its work.
    pub fn probe(&mut self, i: usize) -> Result<(), virtio_mem_driver::ProbeError> {
        let r = self.drivers[i].probe(&mut self.os);
        self.settle();
        r
    }

    /// The host resizes device `i`; the interrupt reaches the driver, which
    /// runs until idle.
    pub fn resize(&mut self, i: usize, size: u64) {
        self.with_device(i, |d| d.resize(size)).expect("valid resize");
        self.drivers[i].handle_interrupts();
        self.settle();
    }

    /// The script of driver `i`'s transport.
    pub fn script(&self, i: usize) -> std::cell::RefMut<'_, Script> {
        self.scripts[i].borrow_mut()
    }

    /// Runs every driver's pending work until none is pending.
    pub fn settle(&mut self) {
        loop {
            let mut ran = false;
            for d in &mut self.drivers {
                d.handle_interrupts();
                if d.work_pending() {
                    d.run_pending_work(&mut self.os);
                    ran = true;
                }
            }
            if !ran {
                break;
            }
        }
    }

    /// Lets virtual time pass to the next armed timer and fires it.
    pub fn fire_next_timer(&mut self) -> Option<u64> {
        let (dev, at) = self.os.next_timer()?;
        self.os.set_now_ms(at);
        for d in self.os.take_expired_timers() {
            if let Some(drv) = self.drivers.iter_mut().find(|x| x.id() == d) {
                drv.timer_expired();
            }
        }
        let _ = dev;
        self.settle();
        Some(at)
    }

    /// Onlines or offlines a block as user space would (sysfs write).
    pub fn write_state(&mut self, block: u64, text: &str) -> Result<(), iomem::Errno> {
        let mut hooks: Vec<&mut dyn HotplugHooks> = self.drivers.iter_mut().map(|d| d.hooks()).collect();
        let mut chain = HookChain(&mut hooks);
        let r = self.os.write_state(block, text, &mut chain);
        self.settle();
        r
    }

    /// The requests sent by driver `i` since the last call.
    pub fn take_requests(&mut self, i: usize) -> Vec<Exchange> {
        std::mem::take(&mut *self.logs[i].borrow_mut())
    }

    /// The driver's log lines (dmesg form).
    pub fn dmesg(&self) -> Vec<String> {
        self.os.log().iter().map(|l| l.dmesg()).collect()
    }

    /// Lines of `/proc/iomem` at or above `from` (the device's neighbourhood).
    pub fn iomem_lines_from(&self, from: u64) -> Vec<String> {
        self.os
            .proc_iomem()
            .lines()
            .filter(|l| {
                let start = l.trim_start().split('-').next().unwrap();
                u64::from_str_radix(start, 16).unwrap() >= from
            })
            .map(str::to_string)
            .collect()
    }

    /// Memory block ids present and their sysfs state.
    pub fn block_states(&self, from: u64) -> Vec<(u64, String)> {
        self.os
            .sysfs()
            .blocks
            .into_iter()
            .filter(|b| b.id >= from)
            .map(|b| (b.id, b.state.trim().to_string()))
            .collect()
    }

    /// Every invariant the issue names, after any step.
    pub fn check_invariants(&mut self) {
        for (i, drv) in self.drivers.iter().enumerate() {
            let dev = self.devices[i].borrow();
            let dev = dev.device();
            dev.check_invariants().expect("device invariants");
            // No access the driver must never make.
            assert_eq!(dev.backend().violation_count(), 0, "violations: {:?}", dev.backend().violations());
            let (addr, size) = (dev.config().addr, dev.config().region_size);
            let snap = drv.snapshot();
            if drv.phase() == virtio_mem_driver::Phase::Running {
                assert_eq!(snap.plugged_size, dev.plugged_size(), "driver and device agree on plugged_size");
                // The device's bitmap equals the driver's bits.
                let bs = dev.block_size();
                if let virtio_mem_driver::DriverMode::Sbm { sb_size } = snap.mode {
                    let mb = self.os.config().geometry.memory_block_size;
                    for b in &snap.blocks {
                        let first = (b.id * mb - addr) / bs;
                        let plugged = (first..first + mb / bs).filter(|&k| dev.is_block_plugged(k)).count() as u64;
                        assert_eq!(plugged * bs, b.plugged_bytes, "block {} ({:?})", b.id, b.sbm);
                        let _ = sb_size;
                    }
                }
                let plugged_total = (0..dev.block_count()).filter(|&k| dev.is_block_plugged(k)).count() as u64 * bs;
                assert_eq!(plugged_total, dev.plugged_size());
            }
            // /dev/mem refuses every page of the region, strict or relaxed.
            if self.os.tree().get(self.os.tree().iomem_root()).is_ok() {
                check_devmem_refuses(self.os.tree(), addr, size);
            }
        }
        // The tree and the blocks agree: each added block is covered by a
        // busy `System RAM (virtio_mem)` child, nothing else is.
        let mb = self.os.config().geometry.memory_block_size;
        for b in self.os.blocks().filter(|b| !b.boot) {
            let start = b.id * mb;
            let found = self
                .os
                .tree()
                .find_next_iomem_res(start, start + mb - 1, Flags::SYSTEM_RAM | Flags::BUSY, iomem::Desc::NONE)
                .unwrap_or_else(|e| panic!("block {} has no System RAM resource: {e}", b.id));
            assert_eq!(found.range, Range::new(start, start + mb - 1));
        }
        // Contents the guest wrote are all there.
        self.os.verify_contents().expect("no byte of in-use memory lost");
    }

    /// SBM states of the tracked blocks of driver `i` from `from`.
    pub fn sbm_states(&self, i: usize) -> Vec<(u64, SbmState)> {
        self.drivers[i].snapshot().blocks.iter().filter_map(|b| Some((b.id, b.sbm?))).collect()
    }

    /// Sets the default online type (`auto_online_blocks`).
    pub fn set_online_type(&mut self, t: OnlineType) {
        self.os.set_online_type(t);
    }
}

/// The `/dev/mem` policy allows no page of `[addr, addr + size)`, on a
/// v5.16+ kernel, whether checks are strict or relaxed.
pub fn check_devmem_refuses(tree: &iomem::ResourceTree, addr: u64, size: u64) {
    for cmdline in ["iomem=strict", "iomem=relaxed"] {
        let policy = Policy::new(tree, Arch::X86_64 { phys_bits: 46 }).with_config(KernelConfig::DEBIAN, cmdline);
        let d = Devmem::new(tree, policy);
        for run in d.page_runs(Range::new(addr, addr + size - 1)) {
            assert_eq!(
                run.decision.value,
                iomem_devmem::PageValue::Deny,
                "{cmdline}: pages {:?} of the device region are allowed",
                run.range
            );
        }
    }
}

/// Decodes a request's type, address and nb_blocks.
pub fn describe(e: &Exchange) -> (u16, u64, u16) {
    let t = u16::from_le_bytes([e.request[0], e.request[1]]);
    let addr = u64::from_le_bytes(e.request[8..16].try_into().unwrap());
    let nb = u16::from_le_bytes([e.request[16], e.request[17]]);
    (t, addr, nb)
}

/// The exact bytes of a PLUG / UNPLUG request.
pub fn request_bytes(kind: u16, addr: u64, nb: u16) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[0..2].copy_from_slice(&kind.to_le_bytes());
    b[8..16].copy_from_slice(&addr.to_le_bytes());
    b[16..18].copy_from_slice(&nb.to_le_bytes());
    b
}

pub const PLUG: u16 = 0;
pub const UNPLUG: u16 = 1;
pub const UNPLUG_ALL: u16 = 2;
pub const ACK: [u8; 10] = [0; 10];

/// Device properties: region at `addr` of `size`, block size `bs`.
pub fn props(addr: u64, size: u64, bs: u64) -> DeviceProperties {
    DeviceProperties::new(addr, size, bs)
}
