//! The driver's state (§3) apart from its transport: the copies of the
//! device configuration, the mode's bookkeeping, the flags of the worker
//! and of removal. The kernel's callbacks ([`crate::hooks`]) see only this
//! part, which is why it is separate from the transport.

use alloc::string::String;

use virtio_mem::Features;

use crate::os::{DeviceId, Geometry, MemoryGroupId, RegionClaim};
use crate::params::{DriverRules, ModuleParams};
use crate::state::{BbmState, SbBitmap, SbmState, States};

/// Sub Block Mode bookkeeping (§3).
#[derive(Clone, Debug)]
pub(crate) struct Sbm {
    /// Sub-block size.
    pub(crate) sb_size: u64,
    /// Sub-blocks per memory block (≥ 2).
    pub(crate) sbs_per_mb: u64,
    /// Memory-block states from `first_mb_id` to `next_mb_id`.
    pub(crate) states: States<SbmState>,
    /// Plugged bit per sub-block.
    pub(crate) bits: SbBitmap,
    /// `last_usable_mb_id` (may be below the first id: nothing usable).
    pub(crate) last_usable: i128,
    /// A completely unplugged block could not be removed yet.
    pub(crate) have_unplugged_mb: bool,
}

/// Big Block Mode bookkeeping (§3).
#[derive(Clone, Debug)]
pub(crate) struct Bbm {
    /// Big-block size.
    pub(crate) bb_size: u64,
    /// Big-block states from `first_bb_id` to `next_bb_id`.
    pub(crate) states: States<BbmState>,
    /// `last_usable_bb_id`.
    pub(crate) last_usable: i128,
}

/// The operating mode, chosen once at probe.
#[derive(Clone, Debug)]
pub(crate) enum Mode {
    /// Not probed (or the probe failed before choosing).
    None,
    /// Sub Block Mode.
    Sbm(Sbm),
    /// Big Block Mode.
    Bbm(Bbm),
    /// A crash kernel: no hot(un)plug at all (§13).
    Kdump,
}

/// Everything but the transport.
#[derive(Clone, Debug)]
pub(crate) struct Core {
    pub(crate) id: DeviceId,
    pub(crate) name: String,
    pub(crate) params: ModuleParams,
    pub(crate) rules: DriverRules,
    pub(crate) geometry: Geometry,
    // Copies of the configuration.
    pub(crate) plugged_size: u64,
    pub(crate) requested_size: u64,
    pub(crate) device_block_size: u64,
    pub(crate) addr: u64,
    pub(crate) region_size: u64,
    pub(crate) usable_region_size: u64,
    pub(crate) nid: Option<u32>,
    /// The config's `node_id` (an ACPI PXM when ACPI_PXM was negotiated).
    pub(crate) node_id: u16,
    pub(crate) features: Features,
    pub(crate) mode: Mode,
    pub(crate) parent: Option<RegionClaim>,
    pub(crate) mgid: Option<MemoryGroupId>,
    pub(crate) hook_installed: bool,
    /// Bytes added to Linux but offline.
    pub(crate) offline_size: u64,
    pub(crate) offline_threshold: u64,
    pub(crate) unplug_all_required: bool,
    pub(crate) broken: bool,
    pub(crate) in_kdump: bool,
    pub(crate) removing: bool,
    pub(crate) hotplug_active: bool,
    pub(crate) wq_active: bool,
    pub(crate) config_changed: bool,
    pub(crate) work_pending: bool,
    pub(crate) retry_timer_ms: u64,
    pub(crate) timer_armed: bool,
    pub(crate) warned_kdump_run: bool,
    pub(crate) warned_plugged_size: bool,
    /// kdump STATE cache: the last queried device block and whether it was
    /// plugged.
    pub(crate) kdump_cache: Option<(u64, bool)>,
}

/// The retry timer's first interval and its cap (§6.2).
pub(crate) const RETRY_MS_INITIAL: u64 = 50_000;
pub(crate) const RETRY_MS_MAX: u64 = 300_000;

impl Core {
    pub(crate) fn new(id: DeviceId, name: String, params: ModuleParams, rules: DriverRules) -> Core {
        Core {
            id,
            name,
            params,
            rules,
            geometry: Geometry::X86_64,
            plugged_size: 0,
            requested_size: 0,
            device_block_size: 0,
            addr: 0,
            region_size: 0,
            usable_region_size: 0,
            nid: None,
            node_id: 0,
            features: Features::empty(),
            mode: Mode::None,
            parent: None,
            mgid: None,
            hook_installed: false,
            offline_size: 0,
            offline_threshold: 0,
            unplug_all_required: false,
            broken: false,
            in_kdump: false,
            removing: false,
            hotplug_active: false,
            wq_active: false,
            config_changed: false,
            work_pending: false,
            retry_timer_ms: RETRY_MS_INITIAL,
            timer_armed: false,
            warned_kdump_run: false,
            warned_plugged_size: false,
            kdump_cache: None,
        }
    }

    /// Queues the work item (`virtio_mem_retry`): suppressed once removal
    /// started.
    pub(crate) fn queue_work(&mut self) {
        if !self.removing {
            self.work_pending = true;
        }
    }

    /// `virtio_mem_could_add_memory` (§7).
    pub(crate) fn could_add(&self, size: u64) -> bool {
        if size > self.offline_threshold {
            return false;
        }
        self.offline_size.saturating_add(size) <= self.offline_threshold
    }

    /// Whether `[start, start + size)` overlaps the device region.
    pub(crate) fn overlaps(&self, start: u64, size: u64) -> bool {
        let end = start.saturating_add(size);
        let region_end = self.addr.saturating_add(self.region_size);
        start < region_end && self.addr < end
    }

    /// Whether `[start, start + size)` lies inside the device region.
    pub(crate) fn contains(&self, start: u64, size: u64) -> bool {
        let end = start.saturating_add(size);
        start >= self.addr && end <= self.addr.saturating_add(self.region_size)
    }

    pub(crate) fn sbm(&self) -> Option<&Sbm> {
        match &self.mode {
            Mode::Sbm(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn sbm_mut(&mut self) -> Option<&mut Sbm> {
        match &mut self.mode {
            Mode::Sbm(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn bbm(&self) -> Option<&Bbm> {
        match &self.mode {
            Mode::Bbm(b) => Some(b),
            _ => None,
        }
    }

    pub(crate) fn bbm_mut(&mut self) -> Option<&mut Bbm> {
        match &mut self.mode {
            Mode::Bbm(b) => Some(b),
            _ => None,
        }
    }

    /// The mode's unit: a memory block (SBM) or a big block (BBM).
    pub(crate) fn unit_size(&self) -> u64 {
        match &self.mode {
            Mode::Bbm(b) => b.bb_size,
            _ => self.geometry.memory_block_size,
        }
    }

    /// `last_usable_*_id` for the current usable size (§4.3), against the
    /// pluggable end `pluggable_end`.
    pub(crate) fn last_usable_id(&self, pluggable_end: u64) -> i128 {
        let unit = i128::from(self.unit_size());
        let end = (i128::from(self.addr) + i128::from(self.usable_region_size) - 1).min(i128::from(pluggable_end));
        let mut last = end.div_euclid(unit);
        if (end + 1).rem_euclid(unit) != 0 {
            last -= 1;
        }
        last
    }
}
