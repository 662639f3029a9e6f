//! Memory block devices (`/sys/devices/system/memory/memoryN`, M28) and
//! memory groups (M29).

use alloc::string::String;
use alloc::vec::Vec;

use virtio_mem_driver::{MemoryGroupId, Zone};

/// A memory block device's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockState {
    /// `offline`.
    Offline,
    /// `online`.
    Online,
    /// `going-offline` (while offlining runs).
    GoingOffline,
}

impl BlockState {
    /// The sysfs text.
    pub const fn name(self) -> &'static str {
        match self {
            BlockState::Offline => "offline",
            BlockState::Online => "online",
            BlockState::GoingOffline => "going-offline",
        }
    }
}

/// One memory block device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryBlock {
    /// Block id (`phys / block size`).
    pub id: u64,
    /// Its state.
    pub state: BlockState,
    /// The zone when online; `None` when offline, or when its pages lie in
    /// several zones (boot memory around a zone boundary).
    pub zone: Option<Zone>,
    /// Present at boot (not hot-added).
    pub boot: bool,
    /// The memory group it was added with.
    pub group: Option<MemoryGroupId>,
    /// Its node.
    pub nid: u32,
}

/// A dynamic memory group (M29).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryGroup {
    /// Its node.
    pub nid: u32,
    /// Its unit in pages.
    pub unit_pages: u64,
    /// Present pages onlined to kernel zones.
    pub present_kernel_pages: u64,
    /// Present pages onlined to ZONE_MOVABLE.
    pub present_movable_pages: u64,
}

/// The sysfs files of the memory subsystem, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysfsView {
    /// `block_size_bytes`.
    pub block_size_bytes: String,
    /// `auto_online_blocks`.
    pub auto_online_blocks: String,
    /// `memoryN` directories: (N, `state`, `phys_index`, `valid_zones`).
    pub blocks: Vec<SysfsBlock>,
}

/// One `memoryN` directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysfsBlock {
    /// N.
    pub id: u64,
    /// `state`.
    pub state: String,
    /// `phys_index`.
    pub phys_index: String,
    /// `valid_zones`.
    pub valid_zones: String,
}

impl SysfsView {
    /// Every file as (path relative to `/sys/devices/system/memory/`,
    /// contents), in a stable order.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut out = alloc::vec![
            (String::from("block_size_bytes"), self.block_size_bytes.clone()),
            (String::from("auto_online_blocks"), self.auto_online_blocks.clone()),
        ];
        for b in &self.blocks {
            let dir = alloc::format!("memory{}", b.id);
            out.push((alloc::format!("{dir}/phys_index"), b.phys_index.clone()));
            out.push((alloc::format!("{dir}/state"), b.state.clone()));
            out.push((alloc::format!("{dir}/valid_zones"), b.valid_zones.clone()));
        }
        out
    }
}
