//! The pages of online memory as extents: runs of page frames with one
//! state and one zone, split and merged as states change, so that a
//! terabyte of memory with a few distinct runs costs a few map entries,
//! not a byte per page. Per-zone counts of present, managed and free pages
//! are kept as extents change.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use virtio_mem_driver::{Pfn, Zone};

/// What a page is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageState {
    /// In the page allocator, free.
    Free,
    /// Allocated by the guest: page `virt` of allocation `alloc` (the
    /// extent's first page; the next pages follow in order).
    Used {
        /// The allocation.
        alloc: u32,
        /// Index of the extent's first page within the allocation.
        virt: u64,
    },
    /// Memory the kernel itself holds (reserved at boot; never movable,
    /// not managed).
    Kernel,
    /// Taken from the allocator by "allocate contiguous range", not yet
    /// marked offline (still counted as managed).
    Taken,
    /// PG_offline, owned by a driver (fake-offline, or kept back when the
    /// block was onlined): not managed.
    DriverOwned {
        /// The driver holds its reference (dropped during GOING_OFFLINE).
        referenced: bool,
        /// Kept back at onlining ("never onlined", §10).
        never_onlined: bool,
    },
}

impl PageState {
    /// Counted in the zone's managed pages (MemTotal).
    pub const fn is_managed(self) -> bool {
        matches!(self, PageState::Free | PageState::Used { .. } | PageState::Taken)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Extent {
    end: Pfn,
    state: PageState,
    zone: Zone,
}

/// Page counts of one zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ZoneCounts {
    /// Pages online in the zone.
    pub present: u64,
    /// Pages the allocator manages (free or allocated).
    pub managed: u64,
    /// Free pages.
    pub free: u64,
}

const ZONES: [Zone; 4] = [Zone::Dma, Zone::Dma32, Zone::Normal, Zone::Movable];

fn zone_index(z: Zone) -> usize {
    match z {
        Zone::Dma => 0,
        Zone::Dma32 => 1,
        Zone::Normal => 2,
        Zone::Movable => 3,
    }
}

/// A run of pages as the map holds it (clipped to a query).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// First page.
    pub start: Pfn,
    /// One past the last page.
    pub end: Pfn,
    /// Its state (for `Used`, `virt` is adjusted to `start`).
    pub state: PageState,
    /// Its zone.
    pub zone: Zone,
}

/// The extents of every online page.
#[derive(Clone, Debug, Default)]
pub struct PageMap {
    map: BTreeMap<Pfn, Extent>,
    counts: [ZoneCounts; 4],
}

/// A page that should be present is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("page {0:#x} is not online")]
pub struct NotPresent(pub Pfn);

impl PageMap {
    /// The counts of a zone.
    pub fn counts(&self, zone: Zone) -> ZoneCounts {
        self.counts[zone_index(zone)]
    }

    /// Every zone's counts.
    pub fn all_counts(&self) -> impl Iterator<Item = (Zone, ZoneCounts)> + '_ {
        ZONES.iter().map(|&z| (z, self.counts(z)))
    }

    /// Number of extents (memory cost).
    pub fn extents(&self) -> usize {
        self.map.len()
    }

    fn account(&mut self, e: &Extent, start: Pfn, sign: bool) {
        let n = e.end - start;
        let c = &mut self.counts[zone_index(e.zone)];
        let apply = |v: &mut u64| {
            if sign { *v += n } else { *v -= n }
        };
        apply(&mut c.present);
        if e.state.is_managed() {
            apply(&mut c.managed);
        }
        if e.state == PageState::Free {
            apply(&mut c.free);
        }
    }

    /// Splits the extent containing `at` (if any) so that an extent starts
    /// at `at`.
    fn split_at(&mut self, at: Pfn) {
        let Some((&start, &e)) = self.map.range(..at).next_back() else { return };
        if e.end <= at {
            return;
        }
        let upper_state = match e.state {
            PageState::Used { alloc, virt } => PageState::Used { alloc, virt: virt + (at - start) },
            s => s,
        };
        self.map.insert(start, Extent { end: at, ..e });
        self.map.insert(at, Extent { end: e.end, state: upper_state, zone: e.zone });
    }

    fn mergeable(a_start: Pfn, a: &Extent, b: &Extent) -> bool {
        if a.zone != b.zone {
            return false;
        }
        match (a.state, b.state) {
            (PageState::Used { alloc: x, virt: vx }, PageState::Used { alloc: y, virt: vy }) => {
                x == y && vy == vx + (a.end - a_start)
            }
            (s, t) => s == t,
        }
    }

    /// Merges the extent starting at `at` with its neighbours where they
    /// continue each other.
    fn merge_around(&mut self, at: Pfn) {
        // With the next one.
        if let Some(&e) = self.map.get(&at) {
            if let Some(&n) = self.map.get(&e.end) {
                if Self::mergeable(at, &e, &n) {
                    self.map.remove(&e.end);
                    self.map.insert(at, Extent { end: n.end, ..e });
                }
            }
        }
        // With the previous one.
        if let Some((&p_start, &p)) = self.map.range(..at).next_back() {
            if p.end == at {
                if let Some(&e) = self.map.get(&at) {
                    if Self::mergeable(p_start, &p, &e) {
                        self.map.remove(&at);
                        self.map.insert(p_start, Extent { end: e.end, ..p });
                    }
                }
            }
        }
    }

    /// Adds newly online pages `[start, end)` in `zone`. Pages already
    /// present are left alone (the caller never does that).
    pub fn insert(&mut self, start: Pfn, end: Pfn, zone: Zone, state: PageState) {
        if start >= end || self.map.range(start..end).next().is_some() || self.covering(start).is_some() {
            return;
        }
        let e = Extent { end, state, zone };
        self.account(&e, start, true);
        self.map.insert(start, e);
        self.merge_around(start);
    }

    /// The extent covering `pfn`.
    fn covering(&self, pfn: Pfn) -> Option<(Pfn, Extent)> {
        let (&s, &e) = self.map.range(..=pfn).next_back()?;
        (e.end > pfn).then_some((s, e))
    }

    /// Removes pages `[start, end)` (offlined), returning what they were.
    pub fn remove(&mut self, start: Pfn, end: Pfn) -> Vec<Run> {
        if start >= end {
            return Vec::new();
        }
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<Pfn> = self.map.range(start..end).map(|(&k, _)| k).collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(e) = self.map.remove(&k) {
                self.account(&e, k, false);
                out.push(Run { start: k, end: e.end, state: e.state, zone: e.zone });
            }
        }
        out
    }

    /// Sets the state of every page of `[start, end)`; every page must be
    /// present (else nothing changes).
    pub fn set(&mut self, start: Pfn, end: Pfn, state: PageState) -> Result<(), NotPresent> {
        if start >= end {
            return Ok(());
        }
        if let Some(hole) = self.first_hole(start, end) {
            return Err(NotPresent(hole));
        }
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<Pfn> = self.map.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            let Some(e) = self.map.get(&k).copied() else { continue };
            self.account(&e, k, false);
            let s = match state {
                PageState::Used { alloc, virt } => PageState::Used { alloc, virt: virt + (k - start) },
                s => s,
            };
            let new = Extent { state: s, ..e };
            self.account(&new, k, true);
            self.map.insert(k, new);
        }
        // Merge at the seams and inside.
        let keys: Vec<Pfn> = self.map.range(start..end).map(|(&k, _)| k).collect();
        for k in keys.into_iter().rev() {
            self.merge_around(k);
        }
        if let Some((&k, _)) = self.map.range(..start).next_back() {
            self.merge_around(k);
        }
        Ok(())
    }

    /// The first page of `[start, end)` that is not present.
    pub fn first_hole(&self, start: Pfn, end: Pfn) -> Option<Pfn> {
        if start >= end {
            return None;
        }
        let Some((_, e)) = self.covering(start) else { return Some(start) };
        let mut at = e.end;
        if at >= end {
            return None;
        }
        for (&k, e) in self.map.range(at..end) {
            if k != at {
                return Some(at);
            }
            at = e.end;
        }
        (at < end).then_some(at)
    }

    /// The runs of `[start, end)`, clipped (pages not present are absent).
    pub fn runs(&self, start: Pfn, end: Pfn) -> Vec<Run> {
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        let mut push = |k: Pfn, e: &Extent| {
            let s = k.max(start);
            let t = e.end.min(end);
            if s < t {
                let state = match e.state {
                    PageState::Used { alloc, virt } => PageState::Used { alloc, virt: virt + (s - k) },
                    x => x,
                };
                out.push(Run { start: s, end: t, state, zone: e.zone });
            }
        };
        if let Some((k, e)) = self.covering(start) {
            push(k, &e);
        }
        for (&k, e) in self.map.range(start.saturating_add(1)..end) {
            push(k, e);
        }
        out
    }

    /// The state and zone of one page.
    pub fn page(&self, pfn: Pfn) -> Option<(PageState, Zone)> {
        let (k, e) = self.covering(pfn)?;
        let state = match e.state {
            PageState::Used { alloc, virt } => PageState::Used { alloc, virt: virt + (pfn - k) },
            s => s,
        };
        Some((state, e.zone))
    }

    /// Every extent, ascending.
    pub fn iter(&self) -> impl Iterator<Item = Run> + '_ {
        self.map.iter().map(|(&k, e)| Run { start: k, end: e.end, state: e.state, zone: e.zone })
    }

    /// Free runs of `zone` outside `exclude` (`[start, end)`), ascending.
    pub fn free_runs(&self, zone: Zone, exclude: (Pfn, Pfn)) -> Vec<(Pfn, Pfn)> {
        let mut out = Vec::new();
        for (&k, e) in &self.map {
            if e.zone != zone || e.state != PageState::Free {
                continue;
            }
            // Cut the excluded range out.
            let (a, b) = (k, e.end);
            if b <= exclude.0 || a >= exclude.1 {
                out.push((a, b));
            } else {
                if a < exclude.0 {
                    out.push((a, exclude.0));
                }
                if b > exclude.1 {
                    out.push((exclude.1, b));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_split_merge_and_count() {
        let mut m = PageMap::default();
        m.insert(0, 100, Zone::Movable, PageState::Free);
        m.insert(100, 200, Zone::Movable, PageState::Free);
        assert_eq!(m.extents(), 1, "adjacent equal runs merge");
        assert_eq!(m.counts(Zone::Movable), ZoneCounts { present: 200, managed: 200, free: 200 });
        m.set(10, 20, PageState::Used { alloc: 1, virt: 0 }).unwrap();
        m.set(20, 30, PageState::Used { alloc: 1, virt: 10 }).unwrap();
        assert_eq!(m.extents(), 3, "a used run continuing the allocation merges");
        assert_eq!(m.page(25), Some((PageState::Used { alloc: 1, virt: 15 }, Zone::Movable)));
        assert_eq!(m.counts(Zone::Movable).free, 180);
        m.set(50, 60, PageState::DriverOwned { referenced: true, never_onlined: false }).unwrap();
        assert_eq!(m.counts(Zone::Movable).managed, 190);
        let removed = m.remove(0, 100);
        assert_eq!(removed.iter().map(|r| r.end - r.start).sum::<u64>(), 100);
        assert_eq!(m.counts(Zone::Movable), ZoneCounts { present: 100, managed: 100, free: 100 });
        assert_eq!(m.first_hole(0, 200), Some(0));
        assert_eq!(m.first_hole(100, 200), None);
        assert!(m.set(90, 110, PageState::Free).is_err());
        m.set(100, 200, PageState::Free).unwrap();
        assert_eq!(m.extents(), 1);
    }
}
