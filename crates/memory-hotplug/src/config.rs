//! How the hotplug layer is configured: the memory geometry, the zones'
//! address limits, the auto-online policy (memory-hotplug.md §4.2) and the
//! zone policy of "online" (M19).

use alloc::vec::Vec;

use virtio_mem_driver::{Geometry, Zone};

/// What onlining a block does (`auto_online_blocks`, `memhp_default_state=`
/// and the sysfs `state` writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnlineType {
    /// Do not online (`offline`).
    Offline,
    /// Online to the zone the policy picks (`online`).
    Online,
    /// Online to a kernel zone (`online_kernel`).
    OnlineKernel,
    /// Online to ZONE_MOVABLE (`online_movable`).
    OnlineMovable,
}

impl OnlineType {
    /// The text sysfs prints and accepts.
    pub const fn name(self) -> &'static str {
        match self {
            OnlineType::Offline => "offline",
            OnlineType::Online => "online",
            OnlineType::OnlineKernel => "online_kernel",
            OnlineType::OnlineMovable => "online_movable",
        }
    }

    /// Parses the sysfs / boot-parameter text.
    pub fn parse(text: &str) -> Option<OnlineType> {
        match text.trim() {
            "offline" => Some(OnlineType::Offline),
            "online" => Some(OnlineType::Online),
            "online_kernel" => Some(OnlineType::OnlineKernel),
            "online_movable" => Some(OnlineType::OnlineMovable),
            _ => None,
        }
    }
}

/// The zone policy of `online` (`memory_hotplug.online_policy=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnlinePolicy {
    /// `contig-zones` (default): keep zones contiguous.
    ContigZones,
    /// `auto-movable`: ZONE_MOVABLE while the MOVABLE:KERNEL ratio allows.
    AutoMovable {
        /// `auto_movable_ratio` in percent (default 301).
        ratio: u64,
        /// `auto_movable_numa_aware` (default true).
        numa_aware: bool,
    },
}

/// A zone and the first address above it (x86-64: DMA below 16 MiB,
/// DMA32 below 4 GiB, Normal above).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ZoneLimit {
    /// The zone.
    pub zone: Zone,
    /// One past its last address.
    pub end: u64,
}

/// Boot memory: a range of System RAM present at boot, online.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BootRange {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotplugConfig {
    /// Page, pageblock, chunk, section and memory-block sizes.
    pub geometry: Geometry,
    /// The kernel zones by address, ascending (ZONE_MOVABLE has no address
    /// range of its own).
    pub zones: Vec<ZoneLimit>,
    /// The pluggable range with a direct map, inclusive (M6).
    pub pluggable: (u64, u64),
    /// The default online type (M18) at boot.
    pub default_online_type: OnlineType,
    /// The zone policy of `online`.
    pub online_policy: OnlinePolicy,
    /// `movable_node` on the command line.
    pub movable_node: bool,
    /// Boot memory (online at boot, kernel zones by address).
    pub boot_ram: Vec<BootRange>,
    /// Bytes at the start of boot memory the kernel itself uses
    /// (unmovable: the kernel image, memmap, page tables).
    pub kernel_reserved: u64,
    /// x86: `high_memory` (one past the end of boot RAM) is raised by adds
    /// above it (M40). Off for architectures whose `/dev/mem` gate does not
    /// use it.
    pub raise_high_memory: bool,
}

impl HotplugConfig {
    /// An x86-64 guest with the given boot RAM ranges, 128 MiB blocks, the
    /// pluggable range up to 2^46, default online type `offline`.
    pub fn x86_64(boot_ram: Vec<BootRange>) -> HotplugConfig {
        HotplugConfig {
            geometry: Geometry::X86_64,
            zones: alloc::vec![
                ZoneLimit { zone: Zone::Dma, end: 16 << 20 },
                ZoneLimit { zone: Zone::Dma32, end: 1 << 32 },
                ZoneLimit { zone: Zone::Normal, end: u64::MAX },
            ],
            pluggable: (0, (1 << 46) - 1),
            default_online_type: OnlineType::Offline,
            online_policy: OnlinePolicy::ContigZones,
            movable_node: false,
            boot_ram,
            kernel_reserved: 64 << 20,
            raise_high_memory: true,
        }
    }

    /// An arm64 guest (4 KiB pages, 128 MiB blocks and sections): its low
    /// zone is DMA, up to 4 GiB.
    pub fn arm64(boot_ram: Vec<BootRange>) -> HotplugConfig {
        HotplugConfig {
            zones: alloc::vec![
                ZoneLimit { zone: Zone::Dma, end: 1 << 32 },
                ZoneLimit { zone: Zone::Normal, end: u64::MAX },
            ],
            pluggable: (0, (1 << 48) - 1),
            raise_high_memory: false,
            ..HotplugConfig::x86_64(boot_ram)
        }
    }

    /// The kernel zone of an address (by the zone limits).
    pub fn kernel_zone_of(&self, addr: u64) -> Zone {
        self.zones.iter().find(|z| addr < z.end).map_or(Zone::Normal, |z| z.zone)
    }

    /// The default kernel zone for a range (`zone_for_pfn_range` with
    /// `online_kernel`): the lowest kernel zone the range intersects.
    pub fn kernel_zone_for(&self, start: u64) -> Zone {
        self.kernel_zone_of(start)
    }

    /// Applies `memhp_default_state=` and `movable_node` from a kernel
    /// command line.
    pub fn apply_cmdline(&mut self, cmdline: &str) {
        for word in cmdline.split_ascii_whitespace() {
            if let Some(v) = word.strip_prefix("memhp_default_state=") {
                if let Some(t) = OnlineType::parse(v) {
                    self.default_online_type = t;
                }
            } else if word == "movable_node" {
                self.movable_node = true;
            } else if let Some(v) = word.strip_prefix("memory_hotplug.online_policy=") {
                match v {
                    "contig-zones" => self.online_policy = OnlinePolicy::ContigZones,
                    "auto-movable" => {
                        self.online_policy = OnlinePolicy::AutoMovable { ratio: 301, numa_aware: true };
                    }
                    _ => {}
                }
            }
        }
    }
}
