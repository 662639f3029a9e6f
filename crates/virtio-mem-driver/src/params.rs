//! Module parameters (§2) and the behaviour that differs between kernel
//! versions (§19), selected from an [`iomem::KernelProfile`]'s version.

use iomem::{KernelProfile, KernelVersion};

/// The driver's module parameters (§2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModuleParams {
    /// `unplug_online` (default true): if false, only offline memory is
    /// ever unplugged, and every MEM_OFFLINE re-triggers the worker.
    pub unplug_online: bool,
    /// `force_bbm` (default false): Big Block Mode even where Sub Block
    /// Mode is possible.
    pub force_bbm: bool,
    /// `bbm_block_size` (default 0, automatic): the big-block size, taken
    /// only if a power of two and at least the automatic value.
    pub bbm_block_size: u64,
}

impl Default for ModuleParams {
    fn default() -> Self {
        ModuleParams { unplug_online: true, force_bbm: false, bbm_block_size: 0 }
    }
}

/// Behaviour that changed between kernel versions (§19). The version
/// boundaries the specification gives as approximate are pinned to the
/// release that carried each series: BBM and the kernel/movable split in
/// v5.12; the EXCLUSIVE parent, memory groups, kdump mode, the
/// pageblock-sized sub-block minimum and UNPLUGGED_INACCESSIBLE in v5.16;
/// suspend support (PERSISTENT_SUSPEND, the PM notifier) in v6.14; the kdump
/// device-RAM ranges in v6.15.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DriverRules {
    /// The kernel version these rules were chosen for.
    pub version: KernelVersion,
    /// Big Block Mode exists (device blocks at least a memory block are
    /// supported).
    pub bbm: bool,
    /// Online SBM blocks are tracked as KERNEL/MOVABLE (else all online
    /// blocks count as kernel-zone blocks: the older ONLINE states).
    pub zone_split: bool,
    /// The device region is claimed SYSTEM_RAM | EXCLUSIVE (else SYSTEM_RAM
    /// only).
    pub exclusive_parent: bool,
    /// Memory is added through a dynamic memory group (else by node id).
    pub memory_groups: bool,
    /// Sub-blocks are at least a pageblock (else at least the largest buddy
    /// chunk and a pageblock).
    pub sb_min_pageblock: bool,
    /// kdump mode exists (else the probe fails in a crash kernel).
    pub kdump: bool,
    /// kdump mode reports device-RAM ranges for the dump.
    pub kdump_ram_ranges: bool,
    /// UNPLUGGED_INACCESSIBLE is offered.
    pub unplugged_inaccessible: bool,
    /// Suspend with PERSISTENT_SUSPEND and the hibernation-refusing PM
    /// notifier (else freeze and restore are always refused).
    pub suspend: bool,
}

impl DriverRules {
    /// The rules of a kernel version.
    pub const fn for_version(version: KernelVersion) -> DriverRules {
        let v5_12 = version.at_least(5, 12);
        let v5_16 = version.at_least(5, 16);
        DriverRules {
            version,
            bbm: v5_12,
            zone_split: v5_12,
            exclusive_parent: v5_16,
            memory_groups: v5_16,
            sb_min_pageblock: v5_16,
            kdump: v5_16,
            kdump_ram_ranges: version.at_least(6, 15),
            unplugged_inaccessible: v5_16,
            suspend: version.at_least(6, 14),
        }
    }

    /// The rules of a kernel profile (its version).
    pub const fn for_profile(profile: &KernelProfile) -> DriverRules {
        DriverRules::for_version(profile.version)
    }

    /// Current mainline.
    pub fn mainline() -> DriverRules {
        DriverRules::for_profile(&KernelProfile::mainline())
    }
}

impl Default for DriverRules {
    fn default() -> Self {
        DriverRules::mainline()
    }
}
