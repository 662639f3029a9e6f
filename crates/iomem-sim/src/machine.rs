//! The machine: virtio-mem devices (host side) ↔ in-process transports ↔
//! guest drivers ↔ memory hotplug ↔ iomem tree ↔ `/dev/mem` policy, run
//! step by step in virtual time. Deterministic: the same spec and actions
//! give the same reports, byte for byte.

use std::cell::RefCell;
use std::rc::Rc;

use iomem::{Desc, Flags, Range};
use iomem_devmem::{Arch, Devmem, OpenMode, PageValue, Policy};
use memory_hotplug::{HotplugConfig, HotplugSystem, OnlineType, SparseMemory, SysfsView};
use serde::Serialize;
use virtio_mem::{DeviceProperties, InProcessTransport, SimulatedMemory, VirtioMemDevice};
use virtio_mem_driver::{DriverConfig, DriverRules, HookChain, HotplugHooks, Phase, VirtioMemDriver};

use crate::error::SimError;
use crate::spec::{DeviceSpec, MachineSpec, SimArch};
use crate::wiring::{GuestMemory, SharedDevice, SharedTransport};

/// One thing that happens in a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Nothing (the state as it is).
    Observe,
    /// `insmod virtio_mem`: the driver binds every device (or one).
    LoadDriver {
        /// Only this device (index into the machine's devices).
        device: Option<usize>,
    },
    /// `rmmod virtio_mem`.
    UnloadDriver {
        /// Only this device.
        device: Option<usize>,
    },
    /// The host sets a device's requested size (QMP `qom-set`).
    Resize {
        /// The device.
        device: usize,
        /// Bytes.
        size: u64,
    },
    /// A program allocates and fills memory (or the kernel, unmovable).
    Fill {
        /// MiB.
        mib: u64,
        /// Kernel (unmovable) memory instead of a program's.
        kernel: bool,
    },
    /// The programs free their memory (the oldest allocations first) until
    /// this much is freed, or all of it.
    Free {
        /// MiB; `None` frees everything.
        mib: Option<u64>,
    },
    /// User space writes `memoryN/state`.
    SetState {
        /// The block.
        block: u64,
        /// `online`, `online_kernel`, `online_movable` or `offline`.
        state: String,
    },
    /// User space writes `auto_online_blocks`.
    AutoOnline {
        /// The new default online type.
        online_type: String,
    },
    /// A tool probes `/dev/mem` at addresses (open, read, mmap).
    ProbeDevmem {
        /// Addresses.
        #[serde(serialize_with = "hex_list")]
        addresses: Vec<u64>,
    },
    /// Time passes (timers fire).
    Wait {
        /// Milliseconds.
        ms: u64,
    },
}

/// A captured system may already hold a device's region claim (a step taken
/// after the driver loaded). It must then be the device's region exactly:
/// a driver claims its whole region, so a claim of another size or place
/// is a starting state no kernel can be in (the simulated `/dev/mem` would
/// then allow the unclaimed rest). A claim is a SYSTEM_RAM|EXCLUSIVE
/// resource (v5.16+) over the device's region, or a System RAM resource
/// named `virtioN` after the device wherever it lies.
fn check_device_claims(spec: &MachineSpec) -> Result<(), SimError> {
    let tree = &spec.tree;
    for d in &spec.devices {
        let Some(end) = d.region_size.checked_sub(1).and_then(|len| d.addr.checked_add(len)) else { continue };
        let region = Range::new(d.addr, end);
        let own_name = format!("virtio{}", d.index);
        for (id, _) in tree.preorder(tree.iomem_root()).into_iter().flatten() {
            let Ok(v) = tree.get(id) else { continue };
            let overlaps = v.range.start <= region.end && v.range.end >= region.start;
            let own = v.name == Some(own_name.as_str()) && v.flags.contains(Flags::SYSTEM_RAM);
            let claim = own || (overlaps && v.flags.has_all(Flags::SYSTEM_RAM | Flags::EXCLUSIVE));
            if claim && v.range != region {
                return Err(SimError::Step {
                    step: "setup".into(),
                    what: format!(
                        "device {} ({own_name}) has the region {:#x}-{:#x}, but the captured system's {} claims \
                         {:#x}-{:#x}: a driver claims exactly its device's region (is the device's size or \
                         address in the scenario right?)",
                        d.id,
                        region.start,
                        region.end,
                        v.name.unwrap_or("<BAD>"),
                        v.range.start,
                        v.range.end
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Serializes an address as a `0x`-prefixed hex string (JSON readers lose
/// 64-bit integers above 2^53).
fn hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

fn hex_list<S: serde::Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|a| format!("{a:#x}")))
}

/// One memory block device as sysfs shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockInfo {
    /// The block number (`memoryN`).
    pub id: u64,
    /// `state`.
    pub state: String,
    /// `valid_zones`.
    pub valid_zones: String,
}

/// A device's sizes as the host sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceState {
    /// QEMU's id (`vm0`).
    pub id: String,
    /// The guest's name (`virtio0`).
    pub name: String,
    /// Region start.
    #[serde(serialize_with = "hex")]
    pub addr: u64,
    /// Region size.
    pub region_size: u64,
    /// Block size.
    pub block_size: u64,
    /// Requested size.
    pub requested_size: u64,
    /// Plugged size.
    pub plugged_size: u64,
    /// Usable region size.
    pub usable_region_size: u64,
    /// The guest driver's life phase (`running`, `failed`, ...), if loaded.
    pub driver: Option<&'static str>,
}

impl DeviceState {
    /// The line QEMU's `query-memory-devices` gives (recordings'
    /// `observed/device.txt`).
    pub fn qemu_line(&self) -> String {
        format!(
            "device={} type=virtio-mem memaddr={:#x} max-size={:#x} block-size={:#x} requested-size={:#x} size={:#x} node=0",
            self.id, self.addr, self.region_size, self.block_size, self.requested_size, self.plugged_size
        )
    }
}

/// One invariant check after a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Invariant {
    /// Its stable name.
    pub name: &'static str,
    /// Whether it holds.
    pub ok: bool,
    /// Why not (empty when it holds).
    pub detail: String,
}

/// What `/dev/mem` does at one probed address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DevmemProbe {
    /// The address.
    #[serde(serialize_with = "hex")]
    pub address: u64,
    /// `open` result.
    pub open: String,
    /// `pread` of one byte.
    pub read: String,
    /// `mmap` of its page.
    pub mmap: String,
}

/// Everything a step yields.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// The step's name.
    pub name: String,
    /// What was done.
    pub actions: Vec<Action>,
    /// Virtual time at the end of the step, in ms.
    pub time_ms: u64,
    /// The device's trace lines of this step (QEMU's `virtio_mem_*` form).
    pub requests: Vec<String>,
    /// `/proc/iomem`.
    pub proc_iomem: String,
    /// The tree with its flags (`observed/iomem-flags.txt` form).
    pub iomem_flags: String,
    /// The memory sysfs view.
    #[serde(skip)]
    pub sysfs: SysfsView,
    /// The memory blocks.
    pub blocks: Vec<BlockInfo>,
    /// Each device's sizes.
    pub devices: Vec<DeviceState>,
    /// Kernel log lines of this step (dmesg form, no timestamp).
    pub log: Vec<String>,
    /// `high_memory` after the step.
    #[serde(serialize_with = "hex")]
    pub high_memory: u64,
    /// MemTotal, bytes.
    pub mem_total: u64,
    /// Every invariant check.
    pub invariants: Vec<Invariant>,
    /// `/dev/mem` probes (for a probe step).
    pub devmem: Vec<DevmemProbe>,
    /// Every device reached its requested size (or has no driver).
    pub settled: bool,
}

impl StepReport {
    /// True if every invariant holds.
    pub fn invariants_hold(&self) -> bool {
        self.invariants.iter().all(|i| i.ok)
    }
}

struct Slot {
    spec: DeviceSpec,
    shared: SharedDevice,
    driver: Option<VirtioMemDriver<SharedTransport>>,
}

/// The simulated machine.
pub struct Machine {
    spec: MachineSpec,
    os: HotplugSystem<GuestMemory>,
    slots: Vec<Slot>,
    rules: DriverRules,
    /// How long a step waits for the devices to reach their requested size.
    settle_ms: u64,
    /// Log lines already reported, and each line's timestamp.
    log_times: Vec<u64>,
    log_reported: usize,
    /// The devices the driver is bound to, in the order they were bound:
    /// unloading the module detaches them last-bound first, as the driver
    /// core does (and as the kernel's log shows).
    bound: Vec<usize>,
}

/// How long a step waits (virtual time) for a resize to complete: long
/// enough for the retry timer's first two expiries (50 s, 100 s).
pub const DEFAULT_SETTLE_MS: u64 = 200_000;

impl Machine {
    /// A machine from its spec, before any driver is loaded.
    pub fn new(spec: MachineSpec) -> Result<Machine, SimError> {
        let mut config = match spec.arch {
            SimArch::X86_64 => HotplugConfig::x86_64(spec.boot_ram.clone()),
            SimArch::Arm64 => HotplugConfig::arm64(spec.boot_ram.clone()),
        };
        config.geometry.memory_block_size = spec.block_size;
        config.default_online_type = spec.online_type;
        config.apply_cmdline(&spec.cmdline);
        config.default_online_type = spec.online_type;
        check_device_claims(&spec)?;
        let mut slots = Vec::new();
        let mut mem = GuestMemory { devices: Vec::new(), other: SparseMemory::new() };
        for d in &spec.devices {
            let props = DeviceProperties::new(d.addr, d.region_size, d.block_size)
                .with_profile(spec.device_profile())
                .with_requested_size(d.requested_size)
                .with_trace(true);
            let device = VirtioMemDevice::new(props, SimulatedMemory::new())
                .map_err(|e| SimError::Step { step: "setup".into(), what: format!("device {}: {e}", d.id) })?;
            let shared: SharedDevice = Rc::new(RefCell::new(InProcessTransport::new(device)));
            // The machine reset's trace is not part of any step.
            shared.borrow_mut().device_mut().take_trace();
            mem.devices.push((d.addr, d.region_size, shared.clone()));
            slots.push(Slot { spec: d.clone(), shared, driver: None });
        }
        let mut os = HotplugSystem::with_tree(config, spec.tree.clone(), mem);
        os.set_alloc_order(spec.alloc_order);
        let rules = DriverRules::for_profile(&spec.profile);
        Ok(Machine {
            spec,
            os,
            slots,
            rules,
            settle_ms: DEFAULT_SETTLE_MS,
            log_times: Vec::new(),
            log_reported: 0,
            bound: Vec::new(),
        })
    }

    /// The spec.
    pub fn spec(&self) -> &MachineSpec {
        &self.spec
    }

    /// The hotplug layer (and through it the tree).
    pub fn os(&self) -> &HotplugSystem<GuestMemory> {
        &self.os
    }

    /// Sets how long a step waits for resizes to complete.
    pub fn set_settle_ms(&mut self, ms: u64) {
        self.settle_ms = ms;
    }

    /// The virtio device name of device `i` (`virtio0`).
    pub fn device_name(&self, i: usize) -> String {
        format!("virtio{}", self.slots[i].spec.index)
    }

    /// The number of devices.
    pub fn device_count(&self) -> usize {
        self.slots.len()
    }

    /// Carries out one step (its actions in order, then waits for the
    /// devices to settle) and reports it.
    pub fn step(&mut self, name: &str, actions: &[Action]) -> Result<StepReport, SimError> {
        let mut devmem = Vec::new();
        for action in actions {
            devmem.extend(self.act(name, action)?);
        }
        let deadline = self.os.now_ms().saturating_add(self.settle_ms);
        let settled = self.run_until(deadline, true);
        Ok(self.report(name, actions.to_vec(), devmem, settled))
    }

    fn act(&mut self, name: &str, action: &Action) -> Result<Vec<DevmemProbe>, SimError> {
        let err = |what: String| SimError::Step { step: name.to_string(), what };
        let mut devmem = Vec::new();
        match action {
            Action::Observe => {}
            Action::LoadDriver { device } => {
                // A device the driver is already bound to stays as it is.
                for i in self.device_set(*device).map_err(err)? {
                    if self.slots[i].driver.is_none() {
                        self.load_driver(i);
                    }
                }
            }
            Action::UnloadDriver { device } => {
                let chosen = self.device_set(*device).map_err(err)?;
                let order: Vec<usize> = self.bound.iter().rev().copied().filter(|i| chosen.contains(i)).collect();
                for i in order {
                    self.bound.retain(|&b| b != i);
                    if let Some(mut d) = self.slots[i].driver.take() {
                        d.remove(&mut self.os);
                    }
                }
            }
            Action::Resize { device, size } => {
                let slot = self.slots.get(*device).ok_or_else(|| err(format!("no device {device}")))?;
                slot.shared.borrow_mut().device_mut().resize(*size).map_err(|e| err(e.to_string()))?;
            }
            Action::Fill { mib, kernel } => {
                let pages = mib * (1 << 20) / self.os.config().geometry.page_size;
                if self.os.allocate(pages, !kernel).is_none() {
                    return Err(err(format!("not enough free memory for {mib} MiB")));
                }
            }
            Action::Free { mib } => self.free(*mib),
            Action::SetState { block, state } => {
                let mut drivers: Vec<&mut dyn HotplugHooks> =
                    self.slots.iter_mut().filter_map(|s| s.driver.as_mut()).map(|d| d.hooks()).collect();
                let r = self.os.write_state(*block, state, &mut HookChain(&mut drivers));
                if let Err(e) = r {
                    self.os_log(format!("memory{block}: writing {state:?} to state failed: -{}", e.value()));
                }
            }
            Action::AutoOnline { online_type } => {
                let t = OnlineType::parse(online_type)
                    .ok_or_else(|| err(format!("unknown online type {online_type:?}")))?;
                self.os.set_online_type(t);
            }
            Action::ProbeDevmem { addresses } => devmem = self.probe_devmem(addresses),
            Action::Wait { ms } => {
                let until = self.os.now_ms().saturating_add(*ms);
                self.run_until(until, false);
            }
        }
        Ok(devmem)
    }

    fn device_set(&self, device: Option<usize>) -> Result<Vec<usize>, String> {
        match device {
            None => Ok((0..self.slots.len()).collect()),
            Some(i) if i < self.slots.len() => Ok(vec![i]),
            Some(i) => Err(format!("no device {i} (the machine has {})", self.slots.len())),
        }
    }

    fn load_driver(&mut self, i: usize) {
        let config = DriverConfig {
            id: virtio_mem_driver::DeviceId(self.slots[i].spec.index),
            name: format!("virtio{}", self.slots[i].spec.index),
            params: Default::default(),
            rules: self.rules,
        };
        let mut driver = VirtioMemDriver::new(SharedTransport(self.slots[i].shared.clone()), config);
        // A failed probe leaves the driver unbound (the driver core
        // reported it in the log).
        if driver.probe(&mut self.os).is_ok() {
            self.slots[i].driver = Some(driver);
            self.bound.push(i);
        }
    }

    fn free(&mut self, mib: Option<u64>) {
        let page = self.os.config().geometry.page_size;
        let mut left = mib.map(|m| m * (1 << 20) / page);
        let allocs: Vec<(u32, u64)> = self.os.allocations().map(|(id, a)| (id, a.pages)).collect();
        for (id, pages) in allocs {
            if left == Some(0) {
                break;
            }
            self.os.free_allocation(id);
            if let Some(l) = &mut left {
                *l = l.saturating_sub(pages);
            }
        }
    }

    fn os_log(&mut self, message: String) {
        self.os.log_kernel(message);
    }

    /// Runs the drivers' work, firing timers up to `until`; with
    /// `stop_when_settled`, stops as soon as every device reached its
    /// requested size. Returns whether they all did.
    fn run_until(&mut self, until: u64, stop_when_settled: bool) -> bool {
        loop {
            self.run_work();
            let settled = self.settled();
            if settled && stop_when_settled {
                return true;
            }
            match self.os.next_timer() {
                Some((_, at)) if at <= until => {
                    self.os.set_now_ms(at);
                    for id in self.os.take_expired_timers() {
                        if let Some(d) = self.slots.iter_mut().filter_map(|s| s.driver.as_mut()).find(|d| d.id() == id)
                        {
                            d.timer_expired();
                        }
                    }
                }
                _ => {
                    if !stop_when_settled {
                        self.os.set_now_ms(until);
                    }
                    return settled;
                }
            }
        }
    }

    fn run_work(&mut self) {
        loop {
            let mut ran = false;
            for s in &mut self.slots {
                if let Some(d) = s.driver.as_mut() {
                    d.handle_interrupts();
                    if d.work_pending() {
                        d.run_pending_work(&mut self.os);
                        ran = true;
                    }
                }
            }
            self.stamp_log();
            if !ran {
                break;
            }
        }
    }

    fn stamp_log(&mut self) {
        let now = self.os.now_ms();
        while self.log_times.len() < self.os.log().len() {
            self.log_times.push(now);
        }
    }

    fn settled(&self) -> bool {
        self.slots.iter().all(|s| {
            let running = s.driver.as_ref().is_some_and(|d| d.phase() == Phase::Running);
            let t = s.shared.borrow();
            !running || t.device().plugged_size() == t.device().requested_size()
        })
    }

    fn probe_devmem(&self, addresses: &[u64]) -> Vec<DevmemProbe> {
        let tree = self.os.tree();
        let policy = self.policy();
        let d = Devmem::new(tree, policy);
        addresses
            .iter()
            .map(|&a| {
                let open = d.open(OpenMode::RDWR);
                DevmemProbe {
                    address: a,
                    open: open.result_name().to_string(),
                    read: d.pread(a, 1).result_name().to_string(),
                    mmap: d.mmap(a, 1, OpenMode::RDWR, false, true).result_name().to_string(),
                }
            })
            .collect()
    }

    /// The `/dev/mem` policy of this machine now (its kernel, command line,
    /// root caller, `high_memory` as the hotplug layer keeps it).
    pub fn policy(&self) -> Policy {
        let tree = self.os.tree();
        let arch = match self.spec.arch {
            SimArch::X86_64 => Arch::X86_64 { phys_bits: 40 },
            SimArch::Arm64 => Arch::Arm64 { pa_bits: 48 },
        };
        let mut p = Policy::new(tree, arch).with_config(iomem_devmem::KernelConfig::DEBIAN, &self.spec.cmdline);
        p.high_memory =
            iomem_devmem::HighMemory { addr: self.os.high_memory(), source: iomem_devmem::HighMemorySource::Given };
        p
    }

    fn device_states(&self) -> Vec<DeviceState> {
        self.slots
            .iter()
            .map(|s| {
                let t = s.shared.borrow();
                let d = t.device();
                DeviceState {
                    id: s.spec.id.clone(),
                    name: format!("virtio{}", s.spec.index),
                    addr: s.spec.addr,
                    region_size: s.spec.region_size,
                    block_size: s.spec.block_size,
                    requested_size: d.requested_size(),
                    plugged_size: d.plugged_size(),
                    usable_region_size: d.usable_region_size(),
                    driver: s.driver.as_ref().map(|d| match d.phase() {
                        Phase::New => "new",
                        Phase::Running => "running",
                        Phase::Failed => "failed",
                        Phase::Removed => "removed",
                    }),
                }
            })
            .collect()
    }

    fn report(&mut self, name: &str, actions: Vec<Action>, devmem: Vec<DevmemProbe>, settled: bool) -> StepReport {
        self.stamp_log();
        let requests = self
            .slots
            .iter()
            .flat_map(|s| s.shared.borrow_mut().device_mut().take_trace())
            .filter_map(|e| e.to_qemu_trace())
            .collect();
        let log: Vec<String> = self.os.log()[self.log_reported..].iter().map(|l| l.dmesg()).collect();
        self.log_reported = self.os.log().len();
        let invariants = self.invariants();
        let sysfs = self.os.sysfs();
        let blocks = sysfs
            .blocks
            .iter()
            .map(|b| BlockInfo {
                id: b.id,
                state: b.state.trim().to_string(),
                valid_zones: b.valid_zones.trim().to_string(),
            })
            .collect();
        let tree = self.os.tree();
        StepReport {
            name: name.to_string(),
            actions,
            time_ms: self.os.now_ms(),
            requests,
            proc_iomem: self.os.proc_iomem(),
            iomem_flags: tree.render_annotated(tree.iomem_root()).unwrap_or_default(),
            sysfs,
            blocks,
            devices: self.device_states(),
            log,
            high_memory: self.os.high_memory(),
            mem_total: self.os.mem_total(),
            invariants,
            devmem,
            settled,
        }
    }

    /// Every kernel log line so far with its virtual timestamp (ms).
    pub fn dmesg(&self) -> Vec<(u64, String)> {
        self.os.log().iter().zip(&self.log_times).map(|(l, t)| (*t, l.dmesg())).collect()
    }

    /// Every invariant the machine promises.
    pub fn invariants(&mut self) -> Vec<Invariant> {
        let mut out = Vec::new();
        let mut check = |name: &'static str, r: Result<(), String>| {
            out.push(Invariant { name, ok: r.is_ok(), detail: r.err().unwrap_or_default() });
        };
        check("plugged-size-agrees", self.check_sizes());
        check("no-forbidden-access", self.check_accesses());
        check("tree-matches-blocks", self.check_tree());
        check("devmem-refuses-device-regions", self.check_devmem());
        let contents = self.os.verify_contents().map_err(|e| e.to_string());
        check("no-in-use-byte-lost", contents);
        out
    }

    fn check_sizes(&self) -> Result<(), String> {
        for s in &self.slots {
            let t = s.shared.borrow();
            let d = t.device();
            let bitmap = d.bitmap().count_ones() * d.block_size();
            if bitmap != d.plugged_size() {
                return Err(format!("{}: plugged_size {:#x}, bitmap {bitmap:#x}", s.spec.id, d.plugged_size()));
            }
            if let Some(drv) = s.driver.as_ref().filter(|d| d.phase() == Phase::Running) {
                let mine = drv.snapshot().plugged_size;
                if mine != d.plugged_size() {
                    return Err(format!(
                        "{}: the driver counts {mine:#x}, the device {:#x}",
                        s.spec.id,
                        d.plugged_size()
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_accesses(&self) -> Result<(), String> {
        for s in &self.slots {
            let t = s.shared.borrow();
            let b = t.device().backend();
            if b.violation_count() != 0 {
                return Err(format!(
                    "{}: {} forbidden accesses, first {:?}",
                    s.spec.id,
                    b.violation_count(),
                    b.violations().first()
                ));
            }
        }
        Ok(())
    }

    fn check_tree(&self) -> Result<(), String> {
        let mb = self.os.config().geometry.memory_block_size;
        for b in self.os.blocks().filter(|b| !b.boot) {
            let start = b.id * mb;
            let found = self
                .os
                .tree()
                .find_next_iomem_res(start, start + mb - 1, Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE)
                .map_err(|e| format!("memory{} has no System RAM resource: {e}", b.id))?;
            if found.range != Range::new(start, start + mb - 1) {
                return Err(format!("memory{} is covered only by {:?}", b.id, found.range));
            }
            if !self.slots.iter().any(|s| start >= s.spec.addr && start + mb <= s.spec.addr + s.spec.region_size) {
                return Err(format!("memory{} lies outside every device region", b.id));
            }
        }
        Ok(())
    }

    /// No verdict allows a page of a claimed device region (v5.16+).
    fn check_devmem(&self) -> Result<(), String> {
        if !self.rules.exclusive_parent {
            return Ok(());
        }
        let tree = self.os.tree();
        for s in &self.slots {
            let claimed = tree
                .deepest_containing(tree.iomem_root(), s.spec.addr)
                .ok()
                .flatten()
                .and_then(|id| {
                    let mut at = Some(id);
                    while let Some(i) = at {
                        let v = tree.get(i).ok()?;
                        if v.flags.has_all(Flags::SYSTEM_RAM | Flags::EXCLUSIVE) {
                            return Some(());
                        }
                        at = v.parent;
                    }
                    None
                })
                .is_some();
            if !claimed {
                continue;
            }
            for relaxed in [false, true] {
                let mut p = self.policy();
                p.strict_iomem = !relaxed;
                let d = Devmem::new(tree, p);
                let region = Range::new(s.spec.addr, s.spec.addr + s.spec.region_size - 1);
                for run in d.page_runs(region) {
                    if run.decision.value != PageValue::Deny {
                        return Err(format!(
                            "{}: /dev/mem allows pages {:#x}-{:#x} ({})",
                            s.spec.id,
                            run.range.start,
                            run.range.end,
                            if relaxed { "iomem=relaxed" } else { "strict" }
                        ));
                    }
                }
                for r in d.access_runs(region, OpenMode::RDWR) {
                    if r.mmap.result.is_ok() || r.read.result.is_ok() {
                        return Err(format!("{}: read or mmap succeeds at {:#x}", s.spec.id, r.range.start));
                    }
                }
            }
        }
        Ok(())
    }
}
