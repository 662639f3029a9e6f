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

use alloc::vec::Vec;

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

impl Devmem<'_> {
    /// The runs of equal page decisions covering the pages of `range`
    /// (every page that contains at least one byte of `range`), in address
    /// order. Adjacent pages with equal decisions (value, rule, deciding
    /// resource) form one run.
    pub fn page_runs(&self, range: Range) -> Vec<PageRun> {
        let ps = self.page_size();
        if range.is_empty() {
            return Vec::new();
        }
        let q = Range::new(self.page_of(range.start), self.page_of(range.end).wrapping_add(ps - 1));
        let mut uniform: Vec<PageRun> = Vec::new();
        let mut special: Vec<u64> = Vec::new();
        let top_page = u64::MAX - (ps - 1);
        if q.end == u64::MAX {
            special.push(top_page);
        }
        let root = self.tree.iomem_root();
        let mut stack: Vec<Frame> = self.frame(root, Chain::default(), q).into_iter().collect();
        while let Some(f) = stack.last_mut() {
            let next = self.tree.next_child(&mut f.children).filter(|c| c.range.start <= f.region.end);
            let Some(child) = next else {
                // Trailing gap of this frame.
                if let Some(c) = f.cursor {
                    let (ctx, end) = (f.ctx, f.region.end);
                    self.emit_gap(&mut uniform, ctx, c, end);
                }
                stack.pop();
                continue;
            };
            let cr = child.range;
            if cr.end < f.region.start {
                continue; // an inverted sibling below the region
            }
            let ctx = f.ctx;
            if let Some(c) = f.cursor {
                if cr.start > c {
                    self.emit_gap(&mut uniform, ctx, c, cr.start - 1);
                }
            }
            f.cursor = cr.end.checked_add(1).filter(|&n| n <= f.region.end);
            // Pages holding an unaligned boundary of this resource.
            if cr.start & (ps - 1) != 0 && q.contains_addr(cr.start) {
                special.push(self.page_of(cr.start));
            }
            if cr.end.wrapping_add(1) & (ps - 1) != 0 && q.contains_addr(cr.end) {
                special.push(self.page_of(cr.end));
            }
            let inner = Range::new(cr.start.max(f.region.start), cr.end.min(f.region.end));
            let child_ctx = self.extend(ctx, child.id, child.flags);
            if !child.has_children || self.decided(&child_ctx) {
                self.emit_gap(&mut uniform, child_ctx, inner.start, inner.end);
            } else {
                match self.frame(child.id, child_ctx, inner) {
                    Some(frame) => stack.push(frame),
                    // Handles just read from the tree are valid; should one
                    // not be, its pages keep the chain's decision.
                    None => self.emit_gap(&mut uniform, child_ctx, inner.start, inner.end),
                }
            }
        }
        if special.is_empty() {
            return uniform;
        }
        special.sort_unstable();
        special.dedup();
        self.merge(uniform, &special)
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
    fn emit_gap(&self, out: &mut Vec<PageRun>, ctx: Chain, a: u64, b: u64) {
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
            push_run(out, Range::new(first, FIRST_MIB - 1), self.chain_decision(&ctx, true));
            push_run(out, Range::new(FIRST_MIB, last), self.chain_decision(&ctx, false));
        } else {
            push_run(out, Range::new(first, last), self.chain_decision(&ctx, x86 && first < FIRST_MIB));
        }
    }

    /// Merges the uniform runs with the exactly evaluated pages. The two
    /// sets are disjoint: uniform runs hold only pages free of boundaries
    /// and never the top page.
    fn merge(&self, uniform: Vec<PageRun>, special: &[u64]) -> Vec<PageRun> {
        let ps = self.page_size();
        // Both lists are sorted by address: a linear merge.
        let mut merged: Vec<PageRun> = Vec::with_capacity(uniform.len() + special.len());
        let mut specials = special.iter().peekable();
        for run in uniform {
            while let Some(&&sp) = specials.peek().filter(|&&&sp| sp < run.range.start) {
                push_run(&mut merged, Range::new(sp, sp + (ps - 1)), self.page_exact(sp));
                specials.next();
            }
            push_run(&mut merged, run.range, run.decision);
        }
        for &sp in specials {
            push_run(&mut merged, Range::new(sp, sp + (ps - 1)), self.page_exact(sp));
        }
        merged
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
