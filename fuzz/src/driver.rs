//! The guest driver against arbitrary device answers: a guest (memory
//! hotplug over an iomem tree, boot RAM below 1 GiB) with a 512 MiB
//! virtio-mem device at 4 GiB, driven by a sequence of host resizes,
//! forged device answers, transport failures, guest memory use, user-space
//! online/offline, timer expiries and driver reloads.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use iomem::{Desc, Flags, Range};
use iomem_devmem::{Arch, Devmem, KernelConfig, PageValue, Policy};
use memory_hotplug::{BootRange, HotplugConfig, HotplugSystem, OnlineType, PhysMemory, SparseMemory};
use virtio_mem::{
    DeviceProperties, InProcessTransport, Interrupts, SimulatedMemory, TransportError, VirtioMemDevice,
    VirtioMemTransport,
};
use virtio_mem_driver::{DriverConfig, DriverRules, HookChain, HotplugHooks, Phase, VirtioMemDriver};

const MIB: u64 = 1 << 20;
const ADDR: u64 = 1 << 32;
const REGION: u64 = 512 * MIB;

type Shared = Rc<RefCell<InProcessTransport<SimulatedMemory>>>;

#[derive(Default)]
struct Forge {
    /// `Some(type)`: answer this without the device; `None`: pass on.
    answers: VecDeque<Option<u16>>,
    failing_submits: u32,
    /// Some answer was forged (the driver's view may now differ from the
    /// device's, legitimately).
    lied: bool,
}

struct Transport {
    inner: Shared,
    forge: Rc<RefCell<Forge>>,
}

impl VirtioMemTransport for Transport {
    fn device_features(&mut self) -> u64 {
        self.inner.borrow_mut().device_features()
    }
    fn set_driver_features(&mut self, f: u64) {
        self.inner.borrow_mut().set_driver_features(f)
    }
    fn status(&mut self) -> u8 {
        self.inner.borrow_mut().status()
    }
    fn set_status(&mut self, s: u8) {
        self.inner.borrow_mut().set_status(s)
    }
    fn read_config(&mut self, o: usize, b: &mut [u8]) -> Result<(), TransportError> {
        self.inner.borrow_mut().read_config(o, b)
    }
    fn write_config(&mut self, o: usize, d: &[u8]) -> Result<(), TransportError> {
        self.inner.borrow_mut().write_config(o, d)
    }
    fn submit(&mut self, req: &[u8], resp: &mut [u8]) -> Result<usize, TransportError> {
        let mut f = self.forge.borrow_mut();
        if f.failing_submits > 0 {
            f.failing_submits -= 1;
            return Err(TransportError::NotReady(virtio_mem::queue::NotReady::NeedsReset));
        }
        match f.answers.pop_front().flatten() {
            Some(t) => {
                f.lied = true;
                resp.fill(0);
                resp[..2].copy_from_slice(&t.to_le_bytes());
                Ok(resp.len())
            }
            None => {
                drop(f);
                self.inner.borrow_mut().submit(req, resp)
            }
        }
    }
    fn take_interrupts(&mut self) -> Interrupts {
        self.inner.borrow_mut().take_interrupts()
    }
}

struct Memory {
    device: Shared,
    other: SparseMemory,
}

impl PhysMemory for Memory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) {
        if (ADDR..ADDR + REGION).contains(&addr) {
            let _ = self.device.borrow_mut().device_mut().cpu_read(addr, buf);
        } else {
            self.other.read(addr, buf);
        }
    }
    fn write(&mut self, addr: u64, data: &[u8]) {
        if (ADDR..ADDR + REGION).contains(&addr) {
            let _ = self.device.borrow_mut().device_mut().cpu_write(addr, data);
        } else {
            self.other.write(addr, data);
        }
    }
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
}

/// Input: a setup byte (bits 0–1 auto-online type: offline, online,
/// online_kernel, online_movable; bits 2–3 device block size: 2 MiB,
/// 4 MiB, 128 MiB, 256 MiB; bits 4–5 kernel rules: mainline, 6.1, 6.12,
/// 5.12), then operations of an opcode byte (`% 8`) and argument bytes:
/// 0 resize (`arg * region / 255`, rounded to blocks), 1 forge up to four
/// answers (count byte, then answer bytes: 0–4 a response type, 5 a type of
/// 0xffff, 6+ pass to the device), 2 fail the next submit, 3 the guest
/// allocates `arg & 15` MiB (bit 7: kernel memory), 4 free the `arg`-th
/// allocation, 5 user space writes a state (block byte, type byte), 6 the
/// next timer fires, 7 the driver is unloaded and loaded again.
///
/// Asserted after every step: nothing panics; every hot-added memory block
/// is exactly covered by busy System RAM inside the device region; while
/// the driver runs (or leaves memory added) `/dev/mem` allows no page of
/// the region; and as long as no answer was forged, the driver and the
/// device agree on the plugged size, the device saw no forbidden access,
/// and every page the guest wrote still holds its contents.
pub fn driver_answers(data: &[u8]) {
    let mut input = Bytes(data);
    let setup = input.byte();
    let online = [OnlineType::Offline, OnlineType::Online, OnlineType::OnlineKernel, OnlineType::OnlineMovable]
        [usize::from(setup & 3)];
    let bs = [2 * MIB, 4 * MIB, 128 * MIB, 256 * MIB][usize::from((setup >> 2) & 3)];
    let rules = match (setup >> 4) & 3 {
        0 => DriverRules::mainline(),
        1 => DriverRules::for_profile(&iomem::KernelProfile::v6_1()),
        2 => DriverRules::for_profile(&iomem::KernelProfile::v6_12()),
        _ => DriverRules::for_version(iomem::KernelVersion::new(5, 12, 0)),
    };
    let mut config = HotplugConfig::x86_64(vec![BootRange { start: 0x10_0000, end: 1 << 30 }]);
    config.default_online_type = online;
    let mut props = DeviceProperties::new(ADDR, REGION, bs);
    props.unplugged_inaccessible = rules.unplugged_inaccessible;
    let Ok(device) = VirtioMemDevice::new(props, SimulatedMemory::new()) else { return };
    let shared: Shared = Rc::new(RefCell::new(InProcessTransport::new(device)));
    let forge = Rc::new(RefCell::new(Forge::default()));
    let mut os = HotplugSystem::new(config, Memory { device: shared.clone(), other: SparseMemory::new() });
    let driver_config = DriverConfig { rules, ..DriverConfig::new(0) };
    let new_driver =
        || VirtioMemDriver::new(Transport { inner: shared.clone(), forge: forge.clone() }, driver_config.clone());
    let mut driver = new_driver();
    let _ = driver.probe(&mut os);
    driver.run_pending_work(&mut os);
    let mut step = 0;
    while !input.0.is_empty() && step < 64 {
        step += 1;
        let op = input.byte();
        match op % 8 {
            0 => {
                let blocks = REGION / bs;
                let size = u64::from(input.byte()) * blocks / 255 * bs;
                let _ = shared.borrow_mut().device_mut().resize(size);
                driver.handle_interrupts();
            }
            1 => {
                let n = input.byte() % 4 + 1;
                for _ in 0..n {
                    let a = input.byte();
                    let answer = match a {
                        0..=4 => Some(u16::from(a)),
                        5 => Some(u16::MAX),
                        _ => None,
                    };
                    forge.borrow_mut().answers.push_back(answer);
                }
            }
            2 => forge.borrow_mut().failing_submits += 1,
            3 => {
                let a = input.byte();
                // Up to 15 MiB: enough to need migration, cheap to verify.
                let _ = os.allocate(u64::from(a & 0x0f) * MIB / 4096, a & 0x80 == 0);
            }
            4 => {
                let n = usize::from(input.byte());
                let id = os.allocations().nth(n).map(|(id, _)| id);
                if let Some(id) = id {
                    os.free_allocation(id);
                }
            }
            5 => {
                let block = (ADDR + u64::from(input.byte() % 4) * 128 * MIB) / (128 * MIB);
                let text = ["online", "online_kernel", "online_movable", "offline"][usize::from(input.byte() % 4)];
                let mut hooks: [&mut dyn HotplugHooks; 1] = [driver.hooks()];
                let _ = os.write_state(block, text, &mut HookChain(&mut hooks));
            }
            6 => {
                if let Some((_, at)) = os.next_timer() {
                    os.set_now_ms(at);
                    if !os.take_expired_timers().is_empty() {
                        driver.timer_expired();
                    }
                }
            }
            _ => {
                driver.remove(&mut os);
                driver = new_driver();
                let _ = driver.probe(&mut os);
            }
        }
        driver.run_pending_work(&mut os);
        check(rules.exclusive_parent, &mut os, &driver, &shared, &forge.borrow(), step, op);
    }
}

#[allow(clippy::too_many_arguments)]
fn check(
    exclusive: bool,
    os: &mut HotplugSystem<Memory>,
    driver: &VirtioMemDriver<Transport>,
    shared: &Shared,
    forge: &Forge,
    step: usize,
    op: u8,
) {
    let mb = os.config().geometry.memory_block_size;
    let tree = os.tree();
    let hot: Vec<u64> = os.blocks().filter(|b| !b.boot).map(|b| b.id).collect();
    for id in &hot {
        let start = id * mb;
        assert!(start >= ADDR && start + mb <= ADDR + REGION, "step {step} op {op}: block {id} outside the region");
        let found = tree.find_next_iomem_res(start, start + mb - 1, Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE);
        let found = found.unwrap_or_else(|e| panic!("step {step} op {op}: block {id} has no RAM resource: {e}"));
        assert_eq!(found.range, Range::new(start, start + mb - 1), "step {step} op {op}: block {id}");
    }
    // The region is claimed while the driver runs, and stays claimed while
    // memory it added remains (§15).
    let claimed = driver.phase() == Phase::Running || !hot.is_empty();
    if claimed && exclusive {
        for cmdline in ["iomem=strict", "iomem=relaxed"] {
            let policy = Policy::new(tree, Arch::X86_64 { phys_bits: 46 }).with_config(KernelConfig::DEBIAN, cmdline);
            for run in Devmem::new(tree, policy).page_runs(Range::new(ADDR, ADDR + REGION - 1)) {
                assert_eq!(run.decision.value, PageValue::Deny, "step {step} op {op} {cmdline}: {:?}", run.range);
            }
        }
    }
    if !forge.lied {
        let t = shared.borrow();
        let d = t.device();
        assert_eq!(d.backend().violation_count(), 0, "step {step} op {op}: {:?}", d.backend().violations());
        if driver.phase() == Phase::Running {
            assert_eq!(driver.snapshot().plugged_size, d.plugged_size(), "step {step} op {op}");
        }
        drop(t);
        os.verify_contents().unwrap_or_else(|e| panic!("step {step} op {op}: {e}"));
    }
}
