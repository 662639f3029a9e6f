//! The queries of resource-tree.md §6: `find_next_iomem_res` and the
//! walkers, `page_is_ram`, `region_intersects`, `iomem_map_sanity_check`
//! and `iomem_is_exclusive` / `resource_is_exclusive`.

mod overlap;

use overlap::LevelStack;
pub(crate) use overlap::Visit;

use alloc::vec::Vec;
use core::ops::ControlFlow;

use crate::error::Error;
use crate::flags::{Desc, Flags};
use crate::profile::{ExclusiveRule, RegionIntersectsRule, WalkerScope};
use crate::range::Range;
use crate::tree::{Child, DENSE_SHIFT, IOMEM, Ix, ResourceId, ResourceTree};

/// A match of `find_next_iomem_res`: the matching resource's range clipped
/// to the search range, with its flags, descriptor and parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// The resource that matched.
    pub resource: ResourceId,
    /// Its range clipped to the search range.
    pub range: Range,
    /// Its flags.
    pub flags: Flags,
    /// Its descriptor.
    pub desc: Desc,
    /// Its parent.
    pub parent: Option<ResourceId>,
}

/// How a walker ended. The kernel's integer results are: `NothingFound` →
/// `-EINVAL` (`-1` for `walk_system_ram_res_rev`), `Completed` → 0 (the last
/// callback's result), `Stopped(v)` → the non-zero value `v` the callback
/// returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk<B> {
    /// No callback ran (nothing matched, or — `walk_system_ram_range` —
    /// no match held a whole page).
    NothingFound,
    /// Callbacks ran and each asked to continue.
    Completed,
    /// A callback stopped the walk with this value.
    Stopped(B),
}

impl<B> Walk<B> {
    /// True if at least one callback ran.
    pub fn found(&self) -> bool {
        !matches!(self, Walk::NothingFound)
    }
}

/// Result of `region_intersects` (`include/linux/mm.h` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RegionIntersects {
    /// `REGION_INTERSECTS` (0): only matching resources (and holes) overlap.
    Intersects = 0,
    /// `REGION_DISJOINT` (1): no matching resource overlaps.
    Disjoint = 1,
    /// `REGION_MIXED` (2): matching and other resources overlap.
    Mixed = 2,
}

impl RegionIntersects {
    /// The kernel's name (`INTERSECTS`, `DISJOINT`, `MIXED`).
    pub const fn name(self) -> &'static str {
        match self {
            RegionIntersects::Intersects => "INTERSECTS",
            RegionIntersects::Disjoint => "DISJOINT",
            RegionIntersects::Mixed => "MIXED",
        }
    }
}

/// The state `iomem_is_exclusive` depends on besides the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExclusiveParams {
    /// `strict_iomem_checks`: `CONFIG_STRICT_DEVMEM`, then `iomem=`.
    pub strict: bool,
    /// `CONFIG_IO_STRICT_DEVMEM`.
    pub io_strict: bool,
}

/// Why a resource made an address exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExclusiveReason {
    /// It carries SYSTEM_RAM|EXCLUSIVE (v5.16+), busy or not, whatever
    /// `iomem=` says.
    SystemRamExclusive,
    /// It is BUSY, strict checks are on and `CONFIG_IO_STRICT_DEVMEM` is set.
    BusyIoStrict,
    /// It is BUSY and EXCLUSIVE and strict checks are on.
    BusyExclusive,
}

/// The resource that decided `iomem_is_exclusive`, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExclusiveHit {
    /// The deciding resource.
    pub resource: ResourceId,
    /// Why it decided.
    pub reason: ExclusiveReason,
}

impl ResourceTree {
    fn found(&self, c: &Child, q: Range) -> Found {
        Found {
            resource: self.handle(c.slot),
            range: Range::new(c.start.max(q.start), c.end.min(q.end)),
            flags: c.flags,
            desc: c.desc,
            parent: self.parent(self.handle(c.slot)).ok().flatten(),
        }
    }

    /// `find_next_iomem_res(start, end, flags, desc)` (§6.1): the first
    /// resource in pre-order (lowest start, the outer one at equal starts)
    /// of the iomem tree that overlaps `[start, end]` and matches (`flags`
    /// all set, `desc` equal unless NONE). `start >= end` is `-EINVAL`
    /// ([`Error::Invalid`]); no match is `-ENODEV` ([`Error::NotFound`]).
    pub fn find_next_iomem_res(&self, start: u64, end: u64, flags: Flags, desc: Desc) -> Result<Found, Error> {
        self.find_next(start, end, flags, desc, false)
    }

    fn find_next(&self, start: u64, end: u64, flags: Flags, desc: Desc, first_level: bool) -> Result<Found, Error> {
        if start >= end {
            return Err(Error::Invalid { what: "find_next_iomem_res: start >= end" });
        }
        let q = Range::new(start, end);
        let mut hit = None;
        self.visit_overlapping(IOMEM, q, |p| {
            if matches(p, flags, desc) {
                hit = Some(*p);
                Visit::Stop
            } else if first_level {
                Visit::SkipChildren
            } else {
                Visit::Descend
            }
        });
        hit.map(|p| self.found(&p, q)).ok_or(Error::NotFound { start, end })
    }

    /// The matches the kernel's walkers find by calling
    /// `find_next_iomem_res(start, end)` again and again, each time from
    /// just after the previous match, until `start >= end` — found in one
    /// pre-order pass instead of a search from the root per match.
    ///
    /// Why one pass gives the same matches: the search after a match `m`
    /// meets again only `m`'s ancestors (none of which matched, or the
    /// earlier search would have stopped there) and skips everything that
    /// ends before the new start — the resources before `m` in pre-order
    /// and `m`'s own subtree — so it continues exactly where the pass
    /// stands. `on_match` returns false to stop. A match ending at the top
    /// of the space ends the walk (the kernel's cursor would wrap to 0 and
    /// restart from the bottom, endlessly unless a callback stops it).
    fn scan_matches(
        &self,
        start: u64,
        end: u64,
        flags: Flags,
        desc: Desc,
        first_level: bool,
        mut on_match: impl FnMut(&Found) -> bool,
    ) {
        if start >= end {
            return;
        }
        let mut cur = start;
        let mut stack = LevelStack::new();
        let root = self.node(IOMEM).children;
        stack.push((root, self.first_in(root, cur)));
        while let Some((list, pos)) = stack.top() {
            let Some(c) = self.kids_of_list(*list).get(*pos) else {
                stack.pop();
                continue;
            };
            if c.start > end {
                stack.pop();
                continue;
            }
            *pos += 1;
            if c.end < cur {
                continue;
            }
            if matches(c, flags, desc) {
                let m = self.found(c, Range::new(cur, end));
                if !on_match(&m) || m.range.end == u64::MAX {
                    return;
                }
                cur = m.range.end + 1;
                if cur >= end {
                    return;
                }
            } else if !first_level && self.flags_below(c.kids).has_all(flags) {
                // (A subtree lacking one of the bits holds no match.)
                let kids = c.kids;
                stack.push((kids, self.first_in(kids, cur)));
            }
        }
    }

    fn walk_with<B>(
        &self,
        start: u64,
        end: u64,
        flags: Flags,
        desc: Desc,
        first_level: bool,
        mut cb: impl FnMut(&Found) -> ControlFlow<B>,
    ) -> Walk<B> {
        let mut ret = Walk::NothingFound;
        self.scan_matches(start, end, flags, desc, first_level, |m| match cb(m) {
            ControlFlow::Break(b) => {
                ret = Walk::Stopped(b);
                false
            }
            ControlFlow::Continue(()) => {
                ret = Walk::Completed;
                true
            }
        });
        ret
    }

    /// The end of the highest resource that
    /// `walk_iomem_res_desc(desc, flags, 0, u64::MAX)` reports (`None` if
    /// it reports none), without walking the matches: every match inside a
    /// resource ends no higher than it, and every match inside an earlier
    /// sibling ends below it, so the first match of a descent from the
    /// highest child downwards is the answer. The resources after the
    /// highest match are visited once; a tree holding inverted resources
    /// takes the walk.
    pub fn last_iomem_res_end(&self, flags: Flags, desc: Desc) -> Option<u64> {
        let mut stack: Vec<(u32, usize)> = alloc::vec![(self.node(IOMEM).children, usize::MAX)];
        while let Some((list, left)) = stack.last_mut() {
            let kids = self.kids_of_list(*list);
            if *left == usize::MAX {
                *left = kids.len();
            }
            if *left == 0 {
                stack.pop();
                continue;
            }
            *left -= 1;
            let c = &kids[*left];
            if c.is_inverted() {
                let mut top = None;
                self.scan_matches(0, u64::MAX, flags, desc, false, |m| {
                    top = top.max(Some(m.range.end));
                    true
                });
                return top;
            }
            if matches(c, flags, desc) {
                return Some(c.end);
            }
            stack.push((c.kids, usize::MAX));
        }
        None
    }

    /// `walk_iomem_res_desc(desc, flags, start, end, cb)` (§6.2): calls `cb`
    /// for each match in `[start, end]`, resuming after each match (so the
    /// matching descendants of a match are not reported separately).
    pub fn walk_iomem_res_desc<B>(
        &self,
        desc: Desc,
        flags: Flags,
        start: u64,
        end: u64,
        cb: impl FnMut(&Found) -> ControlFlow<B>,
    ) -> Walk<B> {
        self.walk_with(start, end, flags, desc, false, cb)
    }

    /// `walk_system_ram_res(start, end, cb)`: busy System RAM (top level
    /// only before v5.13, see [`WalkerScope`]).
    pub fn walk_system_ram_res<B>(&self, start: u64, end: u64, cb: impl FnMut(&Found) -> ControlFlow<B>) -> Walk<B> {
        let first_level = self.config.profile.walkers == WalkerScope::TopLevelOnly;
        self.walk_with(start, end, Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE, first_level, cb)
    }

    /// `walk_mem_res(start, end, cb)`: busy MEM resources (top level only
    /// before v5.13).
    pub fn walk_mem_res<B>(&self, start: u64, end: u64, cb: impl FnMut(&Found) -> ControlFlow<B>) -> Walk<B> {
        let first_level = self.config.profile.walkers == WalkerScope::TopLevelOnly;
        self.walk_with(start, end, Flags::MEM | Flags::BUSY, Desc::NONE, first_level, cb)
    }

    /// `walk_system_ram_res_rev(start, end, cb)` (~v6.10+): collects every
    /// busy System RAM match first, then calls back from the highest to the
    /// lowest. Kernel: −1 when nothing matched ([`Walk::NothingFound`]).
    pub fn walk_system_ram_res_rev<B>(
        &self,
        start: u64,
        end: u64,
        mut cb: impl FnMut(&Found) -> ControlFlow<B>,
    ) -> Result<Walk<B>, Error> {
        if !self.config.profile.walk_rev {
            return Err(Error::Unsupported { what: "walk_system_ram_res_rev" });
        }
        let mut all = Vec::new();
        self.walk_with::<()>(start, end, Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE, false, |m| {
            all.push(*m);
            ControlFlow::Continue(())
        });
        let mut ret = Walk::NothingFound;
        for m in all.iter().rev() {
            if let ControlFlow::Break(b) = cb(m) {
                return Ok(Walk::Stopped(b));
            }
            ret = Walk::Completed;
        }
        Ok(ret)
    }

    /// `walk_system_ram_range(start_pfn, nr_pages, cb(pfn, n))` (§6.2):
    /// calls back with the whole pages of each busy System RAM match in the
    /// page range (`(0, 0)` wraps to the whole space); a match holding no
    /// whole page is skipped silently — unless no callback ran yet, in which
    /// case the kernel's loop (which stops on a non-zero running result,
    /// still `-EINVAL` then) ends the walk there.
    pub fn walk_system_ram_range<B>(
        &self,
        start_pfn: u64,
        nr_pages: u64,
        mut cb: impl FnMut(u64, u64) -> ControlFlow<B>,
    ) -> Walk<B> {
        let shift = self.config.page_shift;
        let page = self.config.page_size();
        let start = start_pfn.wrapping_shl(shift);
        let end = start_pfn.wrapping_add(nr_pages).wrapping_shl(shift).wrapping_sub(1);
        let mut ret = Walk::NothingFound;
        self.scan_matches(start, end, Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE, false, |m| {
            let pfn = m.range.start.wrapping_add(page - 1) >> shift;
            let end_pfn = m.range.end.wrapping_add(1) >> shift;
            if end_pfn > pfn {
                if let ControlFlow::Break(b) = cb(pfn, end_pfn - pfn) {
                    ret = Walk::Stopped(b);
                    return false;
                }
                ret = Walk::Completed;
            }
            // The kernel tests its running result after every match, and
            // that result is still -EINVAL while no callback ran: a first
            // match holding no whole page ends the walk.
            ret.found()
        });
        ret
    }

    /// `page_is_ram(pfn)` (§6.3, generic): one busy System RAM resource at
    /// any depth covers the whole page.
    ///
    /// The kernel's answer is the first resource, in pre-order, that
    /// overlaps the page and is busy System RAM: true if it covers the
    /// whole page. While the resource of each level that reaches the page
    /// covers it entirely, that resource is the only one of its level the
    /// walk can meet (siblings before it end below the page, siblings after
    /// it start above), so the answer comes from one descent over the child
    /// records; a page holding a resource boundary takes the kernel's walk.
    pub fn page_is_ram(&self, pfn: u64) -> bool {
        let shift = self.config.page_shift;
        let start = pfn.wrapping_shl(shift);
        let end = pfn.wrapping_add(1).wrapping_shl(shift).wrapping_sub(1);
        if start >= end {
            return false;
        }
        let busy_ram = Flags::SYSTEM_RAM | Flags::BUSY;
        let mut list = self.node(IOMEM).children;
        loop {
            // No busy System RAM anywhere below: the covering resource of
            // the level above was the only candidate of its level.
            if !self.flags_below(list).has_all(busy_ram) {
                return false;
            }
            // The match clipped to the page is the page: the kernel's page
            // count of it (zero for the top page, whose end wraps).
            let whole_page = || {
                let page = self.config.page_size();
                (end.wrapping_add(1) >> shift) > (start.wrapping_add(page - 1) >> shift)
            };
            // A dense run of busy System RAM (a virtio-mem device's memory
            // blocks): a page inside it lies in one of its records, which
            // covers it, so no record needs to be read.
            if shift <= DENSE_SHIFT && self.dense_ram_covers(list, start, end) {
                return whole_page();
            }
            let Some(c) = self.kids_of_list(list).get(self.first_in(list, start)) else { return false };
            if c.start > end {
                return false;
            }
            if c.start > start || c.end < end {
                break;
            }
            if c.flags.has_all(busy_ram) {
                return whole_page();
            }
            list = c.kids;
        }
        self.walk_system_ram_range(pfn, 1, |_, _| ControlFlow::Break(())).found()
    }

    /// `region_intersects(start, size, flags, desc)` (§6.4) over the iomem
    /// root, with the rule of the tree's kernel profile.
    pub fn region_intersects(&self, start: u64, size: u64, flags: Flags, desc: Desc) -> RegionIntersects {
        let rule = self.config.profile.region_intersects;
        self.region_intersects_in(IOMEM, Range::from_start_size(start, size), flags, desc, rule)
    }

    /// `__region_intersects(parent, ...)` with an explicit rule.
    pub fn region_intersects_under(
        &self,
        parent: ResourceId,
        start: u64,
        size: u64,
        flags: Flags,
        desc: Desc,
        rule: RegionIntersectsRule,
    ) -> Result<RegionIntersects, Error> {
        let parent = self.ix(parent)?;
        Ok(self.region_intersects_in(parent, Range::from_start_size(start, size), flags, desc, rule))
    }

    pub(crate) fn region_intersects_in(
        &self,
        parent: Ix,
        q: Range,
        flags: Flags,
        desc: Desc,
        rule: RegionIntersectsRule,
    ) -> RegionIntersects {
        let (mut kind, mut other) = (0usize, 0usize);
        self.visit_overlapping(parent, q, |p| {
            if matches(p, flags, desc) {
                kind += 1;
            } else if rule == RegionIntersectsRule::TopLevelOnly {
                other += 1;
            } else {
                let (k, covered) = self.covered_by_matches(p, q, flags, desc);
                kind += k;
                if !covered {
                    other += 1;
                }
            }
            Visit::SkipChildren
        });
        match (kind, other) {
            (0, _) => RegionIntersects::Disjoint,
            (_, 0) => RegionIntersects::Intersects,
            _ => RegionIntersects::Mixed,
        }
    }

    /// Inside a non-matching top-level `p`: counts matching descendants and
    /// tells whether they cover `p ∩ q` without a gap (v6.12 rule). The
    /// descendants of a matching descendant cannot change the outcome, so
    /// they are not visited.
    fn covered_by_matches(&self, p: &Child, q: Range, flags: Flags, desc: Desc) -> (usize, bool) {
        let mut ostart = p.start.max(q.start);
        let oend = p.end.min(q.end);
        let (mut kind, mut covered) = (0, false);
        self.visit_overlapping(p.slot, q, |d| {
            if !matches(d, flags, desc) {
                return Visit::Descend;
            }
            kind += 1;
            let dr = Range::new(d.start, d.end);
            if dr.start > ostart {
                return Visit::Stop;
            }
            if dr.end >= oend {
                covered = true;
                return Visit::Stop;
            }
            ostart = ostart.max(dr.end + 1);
            Visit::SkipChildren
        });
        (kind, covered)
    }

    /// `iomem_map_sanity_check(addr, size)` (§6.5): the first non-busy
    /// resource that overlaps `[addr, addr + size - 1]` without containing
    /// it at page granularity (kernel: warning "resource sanity check:
    /// requesting [mem …], which spans more than `<name> <range>`" and −1), or
    /// `None` (kernel: 0).
    pub fn iomem_map_sanity_check(&self, addr: u64, size: u64) -> Option<ResourceId> {
        let q = Range::from_start_size(addr, size);
        let shift = self.config.page_shift;
        let mut hit = None;
        self.visit_overlapping(IOMEM, q, |n| {
            let page_contains = (n.start >> shift) <= (q.start >> shift) && (n.end >> shift) >= (q.end >> shift);
            if page_contains || n.flags.is_busy() {
                return Visit::Descend;
            }
            hit = Some(n.slot);
            Visit::Stop
        });
        hit.map(|p| self.handle(p))
    }

    /// `iomem_is_exclusive(addr)` (§6.6): whether the page containing `addr`
    /// is off limits to `/dev/mem` by the iomem tree, with the rule of the
    /// tree's kernel profile. See [`ResourceTree::exclusive_hit`] for the
    /// deciding resource.
    pub fn iomem_is_exclusive(&self, addr: u64, params: ExclusiveParams) -> bool {
        self.exclusive_hit(addr, params).is_some()
    }

    /// The resource that makes the page containing `addr` exclusive, and
    /// why (`None` if it is not exclusive).
    pub fn exclusive_hit(&self, addr: u64, params: ExclusiveParams) -> Option<ExclusiveHit> {
        let page_mask = !(self.config.page_size() - 1);
        self.exclusive_in(IOMEM, addr & page_mask, self.config.page_size(), params)
    }

    /// Whether a resource's own flags make the kernel's exclusivity walk
    /// stop at it (and why), under the tree's kernel profile: the test
    /// `iomem_is_exclusive` applies to every resource it visits. A page is
    /// exclusive when the first resource of its walk that passes this test
    /// exists; this answers for one resource in constant time.
    pub fn own_exclusive_reason(
        &self,
        id: ResourceId,
        params: ExclusiveParams,
    ) -> Result<Option<ExclusiveReason>, Error> {
        let ix = self.ix(id)?;
        let rule = self.config.profile.exclusive;
        if rule != ExclusiveRule::SystemRamExclusive && !params.strict {
            return Ok(None);
        }
        Ok(own_exclusive_reason(rule, self.node(ix).flags, params))
    }

    /// `resource_is_exclusive(root, addr, size)` with the rule of the tree's
    /// kernel profile.
    pub fn resource_is_exclusive(
        &self,
        root: ResourceId,
        addr: u64,
        size: u64,
        params: ExclusiveParams,
    ) -> Result<Option<ExclusiveHit>, Error> {
        let root = self.ix(root)?;
        Ok(self.exclusive_in(root, addr, size, params))
    }

    fn exclusive_in(&self, root: Ix, addr: u64, size: u64, params: ExclusiveParams) -> Option<ExclusiveHit> {
        let rule = self.config.profile.exclusive;
        if rule != ExclusiveRule::SystemRamExclusive && !params.strict {
            return None;
        }
        // The walk stops at the first resource starting at or above
        // addr + size (wrapping: for the top page that is 0, so nothing is
        // ever exclusive there).
        let limit = addr.wrapping_add(size);
        if limit == 0 {
            return None;
        }
        let q = Range::new(addr, limit - 1);
        let mut hit = None;
        self.visit_overlapping(root, q, |p| match own_exclusive_reason(rule, p.flags, params) {
            Some(reason) => {
                hit = Some(ExclusiveHit { resource: self.handle(p.slot), reason });
                Visit::Stop
            }
            None => Visit::Descend,
        });
        hit
    }
}

/// `find_next_iomem_res`'s test: every flag of `flags` set, `desc` equal
/// unless NONE.
fn matches(c: &Child, flags: Flags, desc: Desc) -> bool {
    c.flags.has_all(flags) && desc.matches(c.desc)
}

/// The test `iomem_is_exclusive` applies to each resource it visits.
fn own_exclusive_reason(rule: ExclusiveRule, f: Flags, params: ExclusiveParams) -> Option<ExclusiveReason> {
    match rule {
        ExclusiveRule::SystemRamExclusive if f.has_all(Flags::SYSTEM_RAM | Flags::EXCLUSIVE) => {
            Some(ExclusiveReason::SystemRamExclusive)
        }
        ExclusiveRule::BusyAndExclusive => {
            (f.is_busy() && f.contains(Flags::EXCLUSIVE)).then_some(ExclusiveReason::BusyExclusive)
        }
        _ if !params.strict || !f.is_busy() => None,
        _ if params.io_strict => Some(ExclusiveReason::BusyIoStrict),
        _ if f.contains(Flags::EXCLUSIVE) => Some(ExclusiveReason::BusyExclusive),
        _ => None,
    }
}
