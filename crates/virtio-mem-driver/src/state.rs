//! The per-block bookkeeping of both modes: SBM memory-block states with a
//! plugged bit per sub-block (§8.1), BBM big-block states (§9.1), each with a
//! count per state. Ids below `next_id` that are not in use are UNUSED.

use alloc::vec::Vec;

/// A Sub Block Mode memory-block state (§8.1; the numeric values are the
/// kernel's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum SbmState {
    /// Not plugged, not added; reusable.
    Unused = 0,
    /// Some sub-blocks plugged but not added (adding and then unplugging
    /// failed).
    Plugged = 1,
    /// Added, offline, every sub-block plugged.
    Offline = 2,
    /// Added, offline, some sub-blocks plugged (possibly none, transiently).
    OfflinePartial = 3,
    /// Online in a kernel zone, every sub-block plugged.
    Kernel = 4,
    /// Online in a kernel zone, some sub-blocks plugged.
    KernelPartial = 5,
    /// Online in ZONE_MOVABLE, every sub-block plugged.
    Movable = 6,
    /// Online in ZONE_MOVABLE, some sub-blocks plugged.
    MovablePartial = 7,
}

impl SbmState {
    /// Every state, by value.
    pub const ALL: [SbmState; 8] = [
        SbmState::Unused,
        SbmState::Plugged,
        SbmState::Offline,
        SbmState::OfflinePartial,
        SbmState::Kernel,
        SbmState::KernelPartial,
        SbmState::Movable,
        SbmState::MovablePartial,
    ];

    /// The kernel's name (`VIRTIO_MEM_SBM_MB_…` without the prefix).
    pub const fn name(self) -> &'static str {
        match self {
            SbmState::Unused => "UNUSED",
            SbmState::Plugged => "PLUGGED",
            SbmState::Offline => "OFFLINE",
            SbmState::OfflinePartial => "OFFLINE_PARTIAL",
            SbmState::Kernel => "KERNEL",
            SbmState::KernelPartial => "KERNEL_PARTIAL",
            SbmState::Movable => "MOVABLE",
            SbmState::MovablePartial => "MOVABLE_PARTIAL",
        }
    }

    /// The block is added to Linux.
    pub const fn is_added(self) -> bool {
        !matches!(self, SbmState::Unused | SbmState::Plugged)
    }

    /// The block is online.
    pub const fn is_online(self) -> bool {
        matches!(self, SbmState::Kernel | SbmState::KernelPartial | SbmState::Movable | SbmState::MovablePartial)
    }

    /// The fully plugged variant of a partial state (§8.2 "X_PARTIAL → X").
    pub const fn full(self) -> SbmState {
        match self {
            SbmState::OfflinePartial => SbmState::Offline,
            SbmState::KernelPartial => SbmState::Kernel,
            SbmState::MovablePartial => SbmState::Movable,
            s => s,
        }
    }

    /// The partial variant of a full online state (after an online unplug).
    pub const fn partial(self) -> SbmState {
        match self {
            SbmState::Offline => SbmState::OfflinePartial,
            SbmState::Kernel => SbmState::KernelPartial,
            SbmState::Movable => SbmState::MovablePartial,
            s => s,
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A Big Block Mode big-block state (§9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum BbmState {
    /// Not plugged, not added; reusable.
    Unused = 0,
    /// Plugged but not added.
    Plugged = 1,
    /// Plugged and added.
    Added = 2,
    /// Being unplugged: the driver owns all its online memory.
    FakeOffline = 3,
}

impl BbmState {
    /// The kernel's name.
    pub const fn name(self) -> &'static str {
        match self {
            BbmState::Unused => "UNUSED",
            BbmState::Plugged => "PLUGGED",
            BbmState::Added => "ADDED",
            BbmState::FakeOffline => "FAKE_OFFLINE",
        }
    }
}

/// States of the ids `first..next`, with a count per state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct States<S> {
    /// The first id.
    pub(crate) first: u64,
    states: Vec<S>,
    counts: [u64; 8],
}

/// What the state tables need of a state type.
pub(crate) trait StateKind: Copy + Eq {
    const UNUSED: Self;
    fn index(self) -> usize;
}

impl StateKind for SbmState {
    const UNUSED: Self = SbmState::Unused;
    fn index(self) -> usize {
        SbmState::index(self)
    }
}

impl StateKind for BbmState {
    const UNUSED: Self = BbmState::Unused;
    fn index(self) -> usize {
        self as usize
    }
}

impl<S: StateKind> States<S> {
    pub(crate) fn new(first: u64) -> Self {
        States { first, states: Vec::new(), counts: [0; 8] }
    }

    /// One past the last id ever used (`next_mb_id` / `next_bb_id`).
    pub(crate) fn next(&self) -> u64 {
        self.first + self.states.len() as u64
    }

    /// Takes the next id, UNUSED.
    pub(crate) fn push(&mut self) -> u64 {
        self.states.push(S::UNUSED);
        self.counts[S::UNUSED.index()] += 1;
        self.next() - 1
    }

    pub(crate) fn get(&self, id: u64) -> S {
        id.checked_sub(self.first).and_then(|i| self.states.get(usize::try_from(i).ok()?)).copied().unwrap_or(S::UNUSED)
    }

    pub(crate) fn set(&mut self, id: u64, state: S) {
        let Some(slot) = id.checked_sub(self.first).and_then(|i| self.states.get_mut(usize::try_from(i).ok()?)) else {
            return;
        };
        self.counts[slot.index()] -= 1;
        self.counts[state.index()] += 1;
        *slot = state;
    }

    pub(crate) fn count(&self, state: S) -> u64 {
        self.counts[state.index()]
    }

    /// The ids in `state`, ascending, as they are *now* (a callback may
    /// change states between steps, as the kernel's loops allow).
    pub(crate) fn first_in(&self, state: S, from: u64) -> Option<u64> {
        if self.count(state) == 0 {
            return None;
        }
        let start = from.max(self.first);
        (start..self.next()).find(|&id| self.get(id) == state)
    }

    /// The highest id `<= below` in `state`.
    pub(crate) fn last_in(&self, state: S, below: u64) -> Option<u64> {
        if self.count(state) == 0 || below < self.first {
            return None;
        }
        let top = below.min(self.next().checked_sub(1)?);
        (self.first..=top).rev().find(|&id| self.get(id) == state)
    }

    /// Every id and its state, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, S)> + '_ {
        self.states.iter().enumerate().map(|(i, s)| (self.first + i as u64, *s))
    }
}

/// One plugged bit per sub-block of each tracked memory block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SbBitmap {
    per_mb: u64,
    words: Vec<u64>,
}

impl SbBitmap {
    pub(crate) fn new(per_mb: u64) -> Self {
        SbBitmap { per_mb, words: Vec::new() }
    }

    /// Makes room for `mbs` memory blocks.
    pub(crate) fn grow_to(&mut self, mbs: u64) {
        let bits = mbs * self.per_mb;
        let words = usize::try_from(bits.div_ceil(64)).unwrap_or(usize::MAX);
        if self.words.len() < words {
            self.words.resize(words, 0);
        }
    }

    fn bit(&self, index: u64) -> bool {
        self.words.get((index / 64) as usize).is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    /// Sets (or clears) the bits of `count` sub-blocks from `sb` of block
    /// number `mb` (counted from the first block).
    pub(crate) fn set(&mut self, mb: u64, sb: u64, count: u64, on: bool) {
        let base = mb * self.per_mb + sb;
        for i in base..base + count {
            if let Some(w) = self.words.get_mut((i / 64) as usize) {
                if on {
                    *w |= 1 << (i % 64);
                } else {
                    *w &= !(1 << (i % 64));
                }
            }
        }
    }

    /// Whether every one of `count` sub-blocks from `sb` is plugged.
    pub(crate) fn all_plugged(&self, mb: u64, sb: u64, count: u64) -> bool {
        let base = mb * self.per_mb + sb;
        (base..base + count).all(|i| self.bit(i))
    }

    /// Whether every one of `count` sub-blocks from `sb` is unplugged.
    pub(crate) fn all_unplugged(&self, mb: u64, sb: u64, count: u64) -> bool {
        let base = mb * self.per_mb + sb;
        (base..base + count).all(|i| !self.bit(i))
    }

    /// Whether sub-block `sb` of block `mb` is plugged.
    pub(crate) fn plugged(&self, mb: u64, sb: u64) -> bool {
        self.bit(mb * self.per_mb + sb)
    }

    /// The number of plugged sub-blocks of block `mb`.
    pub(crate) fn plugged_count(&self, mb: u64) -> u64 {
        (0..self.per_mb).filter(|&sb| self.plugged(mb, sb)).count() as u64
    }

    /// The lowest unplugged sub-block of block `mb`.
    pub(crate) fn first_unplugged(&self, mb: u64) -> Option<u64> {
        (0..self.per_mb).find(|&sb| !self.plugged(mb, sb))
    }
}
