//! A read-only view of the driver's state, for tests, invariant checks and
//! the simulator's reports.

use alloc::vec::Vec;

use virtio_mem::{Features, VirtioMemTransport};

use crate::core::Mode;
use crate::driver::VirtioMemDriver;
use crate::state::{BbmState, SbmState};

/// The mode a driver runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DriverMode {
    /// Not probed.
    None,
    /// Sub Block Mode with this sub-block size.
    Sbm {
        /// Sub-block size.
        sb_size: u64,
    },
    /// Big Block Mode with this big-block size.
    Bbm {
        /// Big-block size.
        bb_size: u64,
    },
    /// kdump mode.
    Kdump,
}

/// One tracked unit (memory block in SBM, big block in BBM).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockInfo {
    /// Memory-block id (SBM) or big-block id (BBM).
    pub id: u64,
    /// SBM state, if in SBM.
    pub sbm: Option<SbmState>,
    /// BBM state, if in BBM.
    pub bbm: Option<BbmState>,
    /// Plugged bytes of the unit as the driver counts them.
    pub plugged_bytes: u64,
}

/// The driver's state at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The mode.
    pub mode: DriverMode,
    /// The driver's count of plugged bytes.
    pub plugged_size: u64,
    /// The last requested size it read.
    pub requested_size: u64,
    /// Its copy of the usable region size.
    pub usable_region_size: u64,
    /// Bytes added but offline.
    pub offline_size: u64,
    /// The offline threshold.
    pub offline_threshold: u64,
    /// Marked broken (until rebind).
    pub broken: bool,
    /// UNPLUG_ALL still to be sent.
    pub unplug_all_required: bool,
    /// The negotiated features.
    pub features: Features,
    /// SBM: an unplugged block awaits removal.
    pub have_unplugged_mb: bool,
    /// Every tracked unit, ascending.
    pub blocks: Vec<BlockInfo>,
}

impl<T: VirtioMemTransport> VirtioMemDriver<T> {
    /// The driver's state now.
    pub fn snapshot(&self) -> Snapshot {
        let c = &self.core;
        let (mode, blocks, have_unplugged_mb) = match &c.mode {
            Mode::None => (DriverMode::None, Vec::new(), false),
            Mode::Kdump => (DriverMode::Kdump, Vec::new(), false),
            Mode::Sbm(s) => {
                let blocks = s
                    .states
                    .iter()
                    .map(|(id, st)| BlockInfo {
                        id,
                        sbm: Some(st),
                        bbm: None,
                        plugged_bytes: s.bits.plugged_count(id - s.states.first) * s.sb_size,
                    })
                    .collect();
                (DriverMode::Sbm { sb_size: s.sb_size }, blocks, s.have_unplugged_mb)
            }
            Mode::Bbm(b) => {
                let blocks = b
                    .states
                    .iter()
                    .map(|(id, st)| BlockInfo {
                        id,
                        sbm: None,
                        bbm: Some(st),
                        plugged_bytes: if matches!(st, BbmState::Unused) { 0 } else { b.bb_size },
                    })
                    .collect();
                (DriverMode::Bbm { bb_size: b.bb_size }, blocks, false)
            }
        };
        Snapshot {
            mode,
            plugged_size: c.plugged_size,
            requested_size: c.requested_size,
            usable_region_size: c.usable_region_size,
            offline_size: c.offline_size,
            offline_threshold: c.offline_threshold,
            broken: c.broken,
            unplug_all_required: c.unplug_all_required,
            features: c.features,
            have_unplugged_mb,
            blocks,
        }
    }

    /// The device region `[addr, addr + size)` as the driver read it.
    pub fn region(&self) -> (u64, u64) {
        (self.core.addr, self.core.region_size)
    }
}
