//! Range verdicts: maximal runs of pages with the same `V` decision over an
//! arbitrary range (up to the whole 64-bit space), computed from the tree
//! without visiting pages one by one.
//!
//! Why this is exact: a page that lies entirely inside a gap of a resource
//! `n` (touching none of `n`'s children) overlaps exactly the chain of
//! resources from the top level down to `n`, so `region_intersects`,
//! `page_is_ram` and `iomem_is_exclusive` see only that chain and answer the
//! same for every such page. Pages that contain an unaligned resource
//! boundary — and the top page, where `iomem_is_exclusive` wraps — are
//! evaluated one by one with the exact per-page rule. Once the chain decides
//! the first test of `devmem_is_allowed` (RAM on x86, exclusivity on the
//! generic rule) for a resource, its descendants cannot change any page
//! inside it, so they are not visited: the cost is proportional to the
//! resources that can matter, not to the length of the range.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;

use iomem::{
    ChildCursor, ExclusiveHit, ExclusiveReason, ExclusiveRule, Flags, Range, RegionIntersectsRule, ResourceId,
    X86DevmemRule,
};

use crate::inputs::Arch;
use crate::policy::{Devmem, FIRST_MIB, PageDecision, PageRule, PageValue};

/// A maximal run of pages with one decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    /// Its pages: from the first byte of the first page to the last byte of
    /// the last page.
    pub range: Range,
    /// The decision shared by every page of the run.
    pub decision: PageDecision,
}

/// What the chain of resources covering a page has shown so far.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Chain {
    depth: usize,
    /// The topmost resource matching SYSTEM_RAM that x86's RAM test counts.
    ram: Option<ResourceId>,
    /// The topmost busy System RAM resource (`page_is_ram`).
    busy_ram: Option<ResourceId>,
    /// The topmost resource that makes the page exclusive.
    excl: Option<ExclusiveHit>,
}

struct Frame {
    ctx: Chain,
    region: Range,
    /// Next address not yet emitted (`None` once the region is done).
    cursor: Option<u64>,
    children: ChildCursor,
}

impl<'t> Devmem<'t> {
    /// The runs of equal page decisions covering the pages of `range`
    /// (every page that contains at least one byte of `range`), in address
    /// order. Adjacent pages with equal decisions (value, rule, deciding
    /// resource) form one run.
    pub fn page_runs(&self, range: Range) -> Vec<PageRun> {
        // The batches, kept: no run is copied out one at a time.
        let mut runs = self.page_runs_iter(range);
        while runs.refill(true) {}
        runs.out
    }

    /// [`Self::page_runs`], one run at a time: the walk keeps a frame per
    /// level of the tree and the boundary pages not reached yet, not the
    /// runs (a million on a BAR-heavy tree, 50 MB as a vector).
    pub fn page_runs_iter(&self, range: Range) -> PageRuns<'_, 't> {
        let ps = self.page_size();
        let mut runs = PageRuns {
            devmem: self,
            pages: None,
            stack: Vec::new(),
            special: BinaryHeap::new(),
            last_special: None,
            out: Vec::new(),
            next_out: 0,
        };
        if range.is_empty() {
            return runs;
        }
        let q = Range::new(self.page_of(range.start), self.page_of(range.end).wrapping_add(ps - 1));
        runs.pages = Some(q);
        if q.end == u64::MAX {
            runs.special.push(Reverse(u64::MAX - (ps - 1)));
        }
        runs.stack.extend(self.frame(self.tree.iomem_root(), Chain::default(), q));
        runs
    }

    fn frame(&self, node: ResourceId, ctx: Chain, region: Range) -> Option<Frame> {
        let children = self.tree.child_cursor(node, region.start).ok()?;
        Some(Frame { ctx, region, cursor: Some(region.start), children })
    }

    /// The chain extended by one resource below it.
    pub(crate) fn extend(&self, mut ctx: Chain, id: ResourceId, flags: Flags) -> Chain {
        let top = ctx.depth == 0;
        ctx.depth += 1;
        let counts = top || self.profile().region_intersects == RegionIntersectsRule::Descendants;
        if ctx.ram.is_none() && counts && flags.has_all(Flags::SYSTEM_RAM) {
            ctx.ram = Some(id);
        }
        if ctx.busy_ram.is_none() && flags.has_all(Flags::SYSTEM_RAM | Flags::BUSY) {
            ctx.busy_ram = Some(id);
        }
        if ctx.excl.is_none() {
            ctx.excl = self.node_exclusive(flags).map(|reason| ExclusiveHit { resource: id, reason });
        }
        ctx
    }

    /// `iomem_is_exclusive`'s test of one resource (resource-tree.md §6.6).
    fn node_exclusive(&self, f: Flags) -> Option<ExclusiveReason> {
        let params = self.policy.exclusive_params();
        match self.profile().exclusive {
            ExclusiveRule::SystemRamExclusive if f.has_all(Flags::SYSTEM_RAM | Flags::EXCLUSIVE) => {
                Some(ExclusiveReason::SystemRamExclusive)
            }
            ExclusiveRule::BusyAndExclusive => {
                (params.strict && f.is_busy() && f.contains(Flags::EXCLUSIVE)).then_some(ExclusiveReason::BusyExclusive)
            }
            _ if !params.strict || !f.is_busy() => None,
            _ if params.io_strict => Some(ExclusiveReason::BusyIoStrict),
            _ if f.contains(Flags::EXCLUSIVE) => Some(ExclusiveReason::BusyExclusive),
            _ => None,
        }
    }

    /// True if the chain already fixes the decision of every page inside
    /// its last resource.
    pub(crate) fn decided(&self, ctx: &Chain) -> bool {
        match self.policy.arch {
            Arch::X86_64 { .. } => match self.profile().devmem.x86 {
                X86DevmemRule::ZeroFillRegionIntersects => ctx.ram.is_some(),
                X86DevmemRule::ZeroFillPageIsRam => ctx.busy_ram.is_some(),
                X86DevmemRule::FirstMibAllowed => ctx.excl.is_some(),
            },
            Arch::Arm64 { .. } | Arch::Generic => ctx.excl.is_some(),
        }
    }

    /// The decision for a page covered by exactly the chain.
    pub(crate) fn chain_decision(&self, ctx: &Chain, first_mib: bool) -> PageDecision {
        use PageRule::*;
        use PageValue::*;
        let excl = |value, rule| ctx.excl.map(|hit| PageDecision::new(value, rule).excl(hit));
        match self.policy.arch {
            Arch::X86_64 { .. } => {
                let rule = self.profile().devmem.x86;
                if rule == X86DevmemRule::FirstMibAllowed {
                    if first_mib {
                        return PageDecision::new(Allow, X86FirstMib);
                    }
                    return excl(Deny, X86Exclusive).unwrap_or_else(|| match ctx.busy_ram {
                        Some(r) => PageDecision::new(Deny, X86Ram).by(Some(r)),
                        None => PageDecision::new(Allow, X86NotRam),
                    });
                }
                let ram = if rule == X86DevmemRule::ZeroFillPageIsRam { ctx.busy_ram } else { ctx.ram };
                if let Some(r) = ram {
                    let (v, rl) = if first_mib { (ZeroFill, X86RamFirstMib) } else { (Deny, X86Ram) };
                    return PageDecision::new(v, rl).by(Some(r));
                }
                let (v, rl) = if first_mib { (Allow, X86ExclusiveFirstMib) } else { (Deny, X86Exclusive) };
                excl(v, rl).unwrap_or(PageDecision::new(Allow, X86Allowed))
            }
            Arch::Arm64 { .. } | Arch::Generic => excl(Deny, GenericExclusive).unwrap_or_else(|| match ctx.busy_ram {
                Some(r) => PageDecision::new(Deny, GenericRam).by(Some(r)),
                None => PageDecision::new(Allow, GenericNotRam),
            }),
        }
    }

    /// Emits the whole pages of the byte range `[a, b]` (covered by exactly
    /// the chain) as uniform runs, split at the end of the first MiB on x86.
    fn emit_gap(&self, ctx: Chain, a: u64, b: u64, mut push: impl FnMut(Range, PageDecision)) {
        let ps = self.page_size();
        let Some(first) = a.checked_add(ps - 1).map(|x| x & !(ps - 1)) else { return };
        // One past the last whole page; the top page is always evaluated on
        // its own (the exclusivity walk wraps there), so uniform runs stop
        // below it.
        let end_excl = match b.checked_add(1) {
            Some(e) => e & !(ps - 1),
            None => u64::MAX - (ps - 1),
        };
        if end_excl <= first {
            return;
        }
        let last = end_excl - 1;
        let x86 = self.policy.arch.is_x86();
        if x86 && first < FIRST_MIB && last >= FIRST_MIB {
            push(Range::new(first, FIRST_MIB - 1), self.chain_decision(&ctx, true));
            push(Range::new(FIRST_MIB, last), self.chain_decision(&ctx, false));
        } else {
            push(Range::new(first, last), self.chain_decision(&ctx, x86 && first < FIRST_MIB));
        }
    }

    /// The decision of every page of `range`, one by one, by the literal
    /// rule of [`Devmem::page_exact`] (the reference for
    /// [`Devmem::page_runs`]; only sensible for short ranges).
    pub fn page_runs_slow(&self, range: Range) -> Vec<PageRun> {
        let ps = self.page_size();
        let mut out = Vec::new();
        if range.is_empty() {
            return out;
        }
        let mut page = self.page_of(range.start);
        let last = self.page_of(range.end);
        loop {
            push_run(&mut out, Range::new(page, page + (ps - 1)), self.page_exact(page));
            if page >= last {
                break;
            }
            page += ps;
        }
        out
    }
}

fn push_run(out: &mut Vec<PageRun>, range: Range, decision: PageDecision) {
    if let Some(last) = out.last_mut() {
        if last.decision == decision && last.range.end.wrapping_add(1) == range.start && last.range.end != u64::MAX {
            last.range.end = range.end;
            return;
        }
    }
    out.push(PageRun { range, decision });
}

/// The page runs of a range in address order, made as they are asked for
/// (see [`Devmem::page_runs_iter`]).
///
/// A step of the walk visits one child: it may finish uniform runs (whole
/// pages inside one chain of resources) and find boundary pages (an
/// unaligned start or end), which are decided one by one. A boundary page
/// is found before any uniform run above it, so each uniform run is added
/// after the boundary pages found below it; the pages above wait in a heap.
/// The walk makes a batch of runs at a time, which the iterator hands out;
/// the last run of a batch waits for the next one, which may extend it.
pub struct PageRuns<'d, 't> {
    devmem: &'d Devmem<'t>,
    /// The whole pages asked for (`None` for an empty range).
    pages: Option<Range>,
    /// The frames of the walk, outermost first.
    stack: Vec<Frame>,
    /// Boundary pages found and not released yet, lowest first.
    special: BinaryHeap<Reverse<u64>>,
    /// The last boundary page released (a page found twice is one page).
    last_special: Option<u64>,
    /// Finished runs, released from `next_out` on; the last one stays
    /// until the next batch, which may extend it.
    out: Vec<PageRun>,
    next_out: usize,
}

/// Runs per batch: enough that a batch's fixed costs vanish, few
/// enough that a batch stays in the cache.
const BATCH: usize = 256;

impl core::fmt::Debug for PageRuns<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PageRuns")
            .field("pages", &self.pages)
            .field("depth", &self.stack.len())
            .field("boundary_pages_pending", &self.special.len())
            .finish_non_exhaustive()
    }
}

impl PageRuns<'_, '_> {
    /// The whole pages the runs cover (every page holding a byte of the
    /// range asked for); `None` for an empty range.
    pub fn pages(&self) -> Option<Range> {
        self.pages
    }

    /// Makes the next batch of runs in `out`, after the run that may still
    /// grow (or, if `keep`, after every run made so far). False once there
    /// is nothing more to make.
    fn refill(&mut self, keep: bool) -> bool {
        if !keep {
            let carry = self.out.pop().filter(|_| self.next_out <= self.out.len());
            self.out.clear();
            self.next_out = 0;
            self.out.extend(carry);
        }
        // At least one step, whatever was carried.
        let goal = self.out.len() + BATCH;
        let mut walking = true;
        while keep || self.out.len() < goal {
            walking = self.step();
            if !walking {
                break;
            }
        }
        if !walking {
            // The walk is over: the boundary pages left are above every
            // uniform run (pages start page-aligned, below u64::MAX).
            let dm = self.devmem;
            release_specials_below(&mut self.special, &mut self.last_special, u64::MAX, &mut self.out, dm);
        }
        walking || (!keep && !self.out.is_empty())
    }

    /// Adds the uniform runs of the whole pages of `[a, b]` under chain
    /// `ctx`, after the boundary pages below them.
    fn emit(&mut self, ctx: Chain, a: u64, b: u64) {
        let dm = self.devmem;
        let (special, last, out) = (&mut self.special, &mut self.last_special, &mut self.out);
        dm.emit_gap(ctx, a, b, |range, decision| {
            if !special.is_empty() {
                release_specials_below(special, last, range.start, out, dm);
            }
            push_run(out, range, decision);
        });
    }

    /// One step of the walk: the next child of the innermost frame, or the
    /// end of that frame. False once the walk is over.
    fn step(&mut self) -> bool {
        let dm = self.devmem;
        let ps = dm.page_size();
        let (Some(q), Some(f)) = (self.pages, self.stack.last_mut()) else { return false };
        let next = dm.tree.next_child(&mut f.children).filter(|c| c.range.start <= f.region.end);
        let Some(child) = next else {
            // Trailing gap of this frame.
            let (cursor, ctx, end) = (f.cursor, f.ctx, f.region.end);
            self.stack.pop();
            if let Some(c) = cursor {
                self.emit(ctx, c, end);
            }
            return true;
        };
        let cr = child.range;
        if cr.end < f.region.start {
            return true; // an inverted sibling below the region
        }
        let ctx = f.ctx;
        let gap_from = f.cursor.filter(|&c| cr.start > c);
        f.cursor = cr.end.checked_add(1).filter(|&n| n <= f.region.end);
        let inner = Range::new(cr.start.max(f.region.start), cr.end.min(f.region.end));
        if let Some(c) = gap_from {
            self.emit(ctx, c, cr.start - 1);
        }
        // Pages holding an unaligned boundary of this resource.
        if cr.start & (ps - 1) != 0 && q.contains_addr(cr.start) {
            self.special.push(Reverse(dm.page_of(cr.start)));
        }
        if cr.end.wrapping_add(1) & (ps - 1) != 0 && q.contains_addr(cr.end) {
            self.special.push(Reverse(dm.page_of(cr.end)));
        }
        let child_ctx = dm.extend(ctx, child.id, child.flags);
        if !child.has_children || dm.decided(&child_ctx) {
            self.emit(child_ctx, inner.start, inner.end);
        } else {
            match dm.frame(child.id, child_ctx, inner) {
                Some(frame) => self.stack.push(frame),
                // Handles just read from the tree are valid; should one
                // not be, its pages keep the chain's decision.
                None => self.emit(child_ctx, inner.start, inner.end),
            }
        }
        true
    }
}

/// Moves the boundary pages below `limit` from the heap to `out`, each
/// decided by the exact per-page rule.
fn release_specials_below(
    special: &mut BinaryHeap<Reverse<u64>>,
    last: &mut Option<u64>,
    limit: u64,
    out: &mut Vec<PageRun>,
    dm: &Devmem<'_>,
) {
    let ps = dm.page_size();
    while let Some(&Reverse(sp)) = special.peek() {
        if sp >= limit {
            break;
        }
        special.pop();
        if *last != Some(sp) {
            *last = Some(sp);
            push_run(out, Range::new(sp, sp + (ps - 1)), dm.page_exact(sp));
        }
    }
}

impl Iterator for PageRuns<'_, '_> {
    type Item = PageRun;

    fn next(&mut self) -> Option<PageRun> {
        loop {
            // All but the last run are final; the last is final once the
            // walk and the boundary pages are done.
            let done = self.stack.is_empty() && self.special.is_empty();
            if self.next_out + 1 < self.out.len() || (done && self.next_out < self.out.len()) {
                self.next_out += 1;
                return Some(self.out[self.next_out - 1]);
            }
            if done {
                return None;
            }
            if !self.refill(false) {
                return None;
            }
        }
    }
}
