//! The driver: probe (§4), interrupts and timer (§6.1, §16), removal (§15),
//! suspend (§14). The worker is in [`crate::worker`], the modes in
//! [`crate::sbm`] and [`crate::bbm`], the kernel's callbacks in
//! [`crate::hooks`].

use alloc::string::String;

use virtio_mem::transport::status_bits;
use virtio_mem::{Features, VirtioMemTransport};

use crate::core::{Bbm, Core, Mode, RETRY_MS_MAX, Sbm};
use crate::os::{DeviceId, Errno, HotplugHooks, LogLevel, Os};
use crate::params::{DriverRules, ModuleParams};
use crate::state::{SbBitmap, States};

/// How a driver instance is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// The OS's id of the device (timers).
    pub id: DeviceId,
    /// The virtio device name (`virtio0`): the parent resource's name and
    /// the log prefix.
    pub name: String,
    /// Module parameters.
    pub params: ModuleParams,
    /// Version-dependent behaviour.
    pub rules: DriverRules,
}

impl DriverConfig {
    /// Device `virtio<index>` with default parameters and mainline rules.
    pub fn new(index: u32) -> DriverConfig {
        DriverConfig {
            id: DeviceId(index),
            name: alloc::format!("virtio{index}"),
            params: ModuleParams::default(),
            rules: DriverRules::mainline(),
        }
    }
}

/// Why a probe failed: the errno the driver core reports ("probe of
/// virtio0 failed with error -16").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("probe failed with error -{}", .0.value())]
pub struct ProbeError(pub Errno);

/// Where a driver instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Created, not probed.
    New,
    /// Probed and running.
    Running,
    /// The probe failed; nothing is held.
    Failed,
    /// Removed (unbound).
    Removed,
}

/// PM notifier events (§14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PmEvent {
    /// `PM_HIBERNATION_PREPARE`.
    HibernationPrepare,
    /// `PM_RESTORE_PREPARE`.
    RestorePrepare,
    /// `PM_SUSPEND_PREPARE`.
    SuspendPrepare,
}

/// The virtio-mem guest driver for one device.
///
/// Generic over the transport (a real virtio transport or
/// [`virtio_mem::InProcessTransport`]); the OS is passed to every call that
/// needs it, so several drivers can share one OS.
pub struct VirtioMemDriver<T> {
    pub(crate) transport: T,
    pub(crate) core: Core,
    phase: Phase,
}

/// Log lines of the device, `virtio_mem virtio0: …` as the kernel prints
/// them (the OS adds the prefix).
macro_rules! dev_log {
    ($os:expr, $core:expr, $level:ident, $($arg:tt)*) => {
        $os.log($crate::os::LogLevel::$level, &$core.name, format_args!($($arg)*))
    };
}
pub(crate) use dev_log;

impl<T: VirtioMemTransport> VirtioMemDriver<T> {
    /// A driver for the device behind `transport`, not yet probed.
    pub fn new(transport: T, config: DriverConfig) -> Self {
        let core = Core::new(config.id, config.name, config.params, config.rules);
        VirtioMemDriver { transport, core, phase: Phase::New }
    }

    /// The transport (and through it, for an in-process one, the device).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The driver's life phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The device name (`virtio0`).
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The device id the OS knows.
    pub fn id(&self) -> DeviceId {
        self.core.id
    }

    /// The kernel's callbacks of this driver (memory notifier, online-page
    /// hook), for the OS to call when user space onlines or offlines
    /// memory.
    pub fn hooks(&mut self) -> &mut dyn HotplugHooks {
        &mut self.core
    }

    /// `probe`: §4.1 in order. On failure everything taken is given back and
    /// the phase is [`Phase::Failed`].
    pub fn probe(&mut self, os: &mut dyn Os) -> Result<(), ProbeError> {
        let r = self.probe_inner(os);
        self.phase = if r.is_ok() { Phase::Running } else { Phase::Failed };
        if let Err(e) = r {
            // The driver core's line.
            os.log(
                LogLevel::Warn,
                "",
                format_args!("virtio_mem: probe of {} failed with error -{}", self.core.name, e.0.value()),
            );
        }
        r
    }

    fn probe_inner(&mut self, os: &mut dyn Os) -> Result<(), ProbeError> {
        let c = &mut self.core;
        c.retry_timer_ms = crate::core::RETRY_MS_INITIAL;
        c.in_kdump = os.is_kdump_kernel();
        c.geometry = os.geometry();
        self.negotiate(os)?;
        // §4.1 step 4: the config fields, in the driver's order.
        self.read_initial_config().map_err(|_| ProbeError(Errno::EINVAL))?;
        let c = &mut self.core;
        // Step 5: the node.
        let numa = os.numa();
        if c.features.contains(Features::ACPI_PXM) && numa.acpi {
            c.nid = os.node_of_pxm(c.node_id);
        }
        if c.nid.is_none() {
            c.nid = Some(os.node_of_addr(c.addr));
        }
        // Step 6.
        dev_log!(os, c, Info, "start address: {:#x}", c.addr);
        dev_log!(os, c, Info, "region size: {:#x}", c.region_size);
        dev_log!(os, c, Info, "device block size: {:#x}", c.device_block_size);
        if numa.enabled {
            if let Some(nid) = c.nid {
                dev_log!(os, c, Info, "nid: {nid}");
            }
        }
        // Step 7.
        if c.in_kdump {
            return self.probe_kdump(os);
        }
        self.init_hotplug(os)?;
        // Step 15, 16.
        let status = self.transport.status();
        self.transport.set_status(status | status_bits::DRIVER_OK);
        self.core.config_changed = true;
        self.core.queue_work();
        Ok(())
    }

    /// The virtio handshake before probe: reset, ACKNOWLEDGE, DRIVER, the
    /// driver's features, FEATURES_OK.
    fn negotiate(&mut self, os: &mut dyn Os) -> Result<(), ProbeError> {
        let t = &mut self.transport;
        t.set_status(0);
        t.set_status(status_bits::ACKNOWLEDGE);
        t.set_status(status_bits::ACKNOWLEDGE | status_bits::DRIVER);
        let offered = Features::from_bits_retain(t.device_features());
        let mut wanted = Features::VERSION_1;
        if os.numa().acpi {
            wanted |= Features::ACPI_PXM;
        }
        if self.core.rules.unplugged_inaccessible {
            wanted |= Features::UNPLUGGED_INACCESSIBLE;
        }
        if self.core.rules.suspend {
            wanted |= Features::PERSISTENT_SUSPEND;
        }
        let features = offered & wanted;
        t.set_driver_features(features.bits());
        t.set_status(status_bits::ACKNOWLEDGE | status_bits::DRIVER | status_bits::FEATURES_OK);
        if t.status() & status_bits::FEATURES_OK == 0 {
            t.set_status(status_bits::FAILED);
            return Err(ProbeError(Errno::ENODEV));
        }
        self.core.features = features;
        Ok(())
    }

    /// §4.1 steps 8–14.
    fn init_hotplug(&mut self, os: &mut dyn Os) -> Result<(), ProbeError> {
        let c = &mut self.core;
        let g = c.geometry;
        let mb = g.memory_block_size;
        let (pluggable_start, pluggable_end) = os.pluggable_range();
        // Step 8: warnings only.
        if c.addr % mb != 0 {
            dev_log!(os, c, Warn, "The alignment of the physical start address can make some memory unusable.");
        }
        if (c.addr.wrapping_add(c.region_size)) % mb != 0 {
            dev_log!(os, c, Warn, "The alignment of the physical end address can make some memory unusable.");
        }
        let region_last = c.addr.saturating_add(c.region_size).saturating_sub(1);
        if c.addr < pluggable_start || region_last > pluggable_end {
            dev_log!(
                os,
                c,
                Warn,
                "Some device memory is not addressable/pluggable. This can make some memory unusable."
            );
        }
        // Step 9.
        c.offline_threshold = (2 * mb).max(1 << 30);
        // Step 10: mode and geometry (§4.2).
        let mut sb = c.device_block_size.max(g.pageblock_size);
        if !c.rules.sb_min_pageblock {
            sb = sb.max(g.max_chunk);
        }
        let start = c.addr.max(pluggable_start);
        if sb < mb && !(c.params.force_bbm && c.rules.bbm) {
            let first = start.div_ceil(mb);
            let per_mb = mb / sb;
            c.mode = Mode::Sbm(Sbm {
                sb_size: sb,
                sbs_per_mb: per_mb,
                states: States::new(first),
                bits: SbBitmap::new(per_mb),
                last_usable: i128::from(first) - 1,
                have_unplugged_mb: false,
            });
            dev_log!(os, c, Info, "memory block size: {mb:#x}");
            dev_log!(os, c, Info, "subblock size: {sb:#x}");
        } else {
            if !c.rules.bbm {
                // Before v5.12 device blocks of a memory block or more were
                // not supported.
                dev_log!(os, c, Warn, "device block size is not supported: {:#x}", c.device_block_size);
                return Err(ProbeError(Errno::EINVAL));
            }
            let auto = c.device_block_size.max(mb);
            let mut bb = auto;
            let wanted = c.params.bbm_block_size;
            if wanted != 0 {
                if !wanted.is_power_of_two() {
                    dev_log!(os, c, Warn, "bbm_block_size is not a power of 2");
                } else if wanted < auto {
                    dev_log!(os, c, Warn, "bbm_block_size is too small");
                } else {
                    bb = wanted;
                }
            }
            let first = start.div_ceil(bb);
            c.mode = Mode::Bbm(Bbm { bb_size: bb, states: States::new(first), last_usable: i128::from(first) - 1 });
            c.offline_threshold = c.offline_threshold.max(2 * bb);
            dev_log!(os, c, Info, "memory block size: {mb:#x}");
            dev_log!(os, c, Info, "big block size: {bb:#x}");
        }
        // Step 11: the parent resource.
        let name = c.name.clone();
        match os.claim_device_region(c.addr, c.region_size, &name, c.rules.exclusive_parent) {
            Ok(claim) => c.parent = Some(claim),
            Err(_) => {
                dev_log!(os, c, Warn, "could not reserve device region");
                dev_log!(os, c, Info, "reloading the driver is not supported");
                return Err(ProbeError(Errno::EBUSY));
            }
        }
        // Step 12: the memory group.
        if c.rules.memory_groups {
            let unit_pages = c.unit_size() / g.page_size;
            match os.register_memory_group(c.nid.unwrap_or(0), unit_pages) {
                Ok(id) => c.mgid = Some(id),
                Err(e) => {
                    self.release_parent(os);
                    return Err(ProbeError(e));
                }
            }
        }
        let c = &mut self.core;
        // Step 13.
        if c.plugged_size != 0 {
            c.unplug_all_required = true;
            dev_log!(os, c, Info, "unplugging all memory is required");
        }
        // Step 14: notifiers (the hooks are passed per call) and the global
        // online-page hook.
        if let Err(e) = os.install_online_page_callback() {
            self.release_group(os);
            self.release_parent(os);
            return Err(ProbeError(e));
        }
        self.core.hook_installed = true;
        Ok(())
    }

    fn release_parent(&mut self, os: &mut dyn Os) {
        if let Some(p) = self.core.parent.take() {
            os.release_device_region(p);
        }
    }

    fn release_group(&mut self, os: &mut dyn Os) {
        if let Some(g) = self.core.mgid.take() {
            os.unregister_memory_group(g);
        }
    }

    /// The config-change interrupt (§16), and the queue's: reads the
    /// transport's pending interrupts. Called by the OS when the device
    /// interrupts, and by the driver itself before each request (a config
    /// interrupt can arrive while the worker runs).
    pub fn handle_interrupts(&mut self) {
        let irq = self.transport.take_interrupts();
        if irq.config_changed && self.phase == Phase::Running && !self.core.in_kdump {
            self.core.config_changed = true;
            self.core.queue_work();
        }
    }

    /// Whether the work item is queued.
    pub fn work_pending(&self) -> bool {
        self.core.work_pending && self.phase == Phase::Running
    }

    /// Runs the queued work until none is queued (a run can queue another,
    /// e.g. after removing memory), as the kernel's workqueue would.
    pub fn run_pending_work(&mut self, os: &mut dyn Os) {
        while self.work_pending() {
            self.run_work(os);
        }
    }

    /// Whether the retry timer is armed.
    pub fn timer_armed(&self) -> bool {
        self.core.timer_armed
    }

    /// The retry interval that the next failure arms.
    pub fn retry_timer_ms(&self) -> u64 {
        self.core.retry_timer_ms
    }

    /// The retry timer expired (`virtio_mem_timer_expired`): queue the work
    /// and double the interval, up to 300 s.
    pub fn timer_expired(&mut self) {
        if !self.core.timer_armed {
            return;
        }
        self.core.timer_armed = false;
        self.core.queue_work();
        self.core.retry_timer_ms = (self.core.retry_timer_ms * 2).min(RETRY_MS_MAX);
    }

    /// Unbinds the driver (`virtio_mem_remove`, §15).
    pub fn remove(&mut self, os: &mut dyn Os) {
        if self.phase != Phase::Running {
            self.phase = Phase::Removed;
            return;
        }
        let c = &mut self.core;
        c.removing = true;
        c.work_pending = false;
        if c.timer_armed {
            os.cancel_timer(c.id);
            c.timer_armed = false;
        }
        if !c.in_kdump {
            self.remove_offline_partial(os);
            if self.core.hook_installed {
                os.restore_online_page_callback();
                self.core.hook_installed = false;
            }
            let c = &self.core;
            if os.system_ram_added_within(c.addr, c.region_size) {
                dev_log!(os, c, Warn, "device still has system memory added");
                // The parent, the name and the group stay, leaked on purpose.
                self.core.parent = None;
                self.core.mgid = None;
            } else {
                self.release_parent(os);
                self.release_group(os);
            }
        }
        self.core.mode = Mode::None;
        // Reset the device: plugged blocks stay plugged.
        self.transport.set_status(0);
        self.phase = Phase::Removed;
    }

    /// §15 step 3: OFFLINE_PARTIAL blocks are removed (user space could
    /// online them once the hook is gone).
    fn remove_offline_partial(&mut self, os: &mut dyn Os) {
        let mb = self.core.geometry.memory_block_size;
        while let Some(id) = self.core.sbm().and_then(|s| s.states.first_in(crate::state::SbmState::OfflinePartial, 0))
        {
            // Offline memory can always be removed.
            if os.remove_memory(id * mb, mb).is_ok() {
                self.core.offline_size = self.core.offline_size.saturating_sub(mb);
            }
            if let Some(s) = self.core.sbm_mut() {
                s.states.set(id, crate::state::SbmState::Unused);
            }
        }
    }

    /// The PM notifier (§14): hibernation and restore are refused.
    pub fn pm_notify(&mut self, os: &mut dyn Os, event: PmEvent) -> Result<(), Errno> {
        if !self.core.rules.suspend {
            return Ok(());
        }
        match event {
            PmEvent::HibernationPrepare | PmEvent::RestorePrepare => {
                dev_log!(os, self.core, Err, "hibernation is not supported.");
                Err(Errno::EPERM)
            }
            PmEvent::SuspendPrepare => Ok(()),
        }
    }

    /// `freeze` (§14): refused with plugged memory unless suspend-to-idle
    /// or PERSISTENT_SUSPEND; otherwise the device is reset.
    pub fn freeze(&mut self, os: &mut dyn Os, suspend_to_idle: bool) -> Result<(), Errno> {
        if !self.core.rules.suspend {
            dev_log!(os, self.core, Err, "save/restore not supported.");
            return Err(Errno::EPERM);
        }
        if !suspend_to_idle && self.core.plugged_size != 0 && !self.core.features.contains(Features::PERSISTENT_SUSPEND)
        {
            dev_log!(os, self.core, Err, "suspending with plugged memory is not supported");
            return Err(Errno::EPERM);
        }
        self.transport.set_status(0);
        Ok(())
    }

    /// `restore` after a suspend (§14): the device is set up again and
    /// treated as after a config interrupt.
    pub fn restore(&mut self, os: &mut dyn Os) -> Result<(), Errno> {
        if !self.core.rules.suspend {
            dev_log!(os, self.core, Err, "save/restore not supported.");
            return Err(Errno::EPERM);
        }
        let features = self.core.features;
        let t = &mut self.transport;
        t.set_status(status_bits::ACKNOWLEDGE | status_bits::DRIVER);
        t.set_driver_features(features.bits());
        t.set_status(status_bits::ACKNOWLEDGE | status_bits::DRIVER | status_bits::FEATURES_OK);
        t.set_status(
            status_bits::ACKNOWLEDGE | status_bits::DRIVER | status_bits::FEATURES_OK | status_bits::DRIVER_OK,
        );
        self.core.config_changed = true;
        self.core.queue_work();
        Ok(())
    }
}
