//! Access runs (what a whole-page `pread`, `pwrite` and `mmap` give, for
//! every run of pages of a range) and the ranges a memory-acquisition tool
//! may read, beside the RAM it cannot.

use alloc::vec::Vec;
use core::ops::ControlFlow;

use iomem::{Desc, ExclusiveReason, Flags, Range, ResourceId};

use crate::access::{Outcome, Success};
use crate::inputs::{Arch, Memtypes, OpenMode};
use crate::policy::{Devmem, PageDecision, PageRule};

/// A run of pages on which whole-page accesses give the same results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessRun {
    /// The pages.
    pub range: Range,
    /// `V` and what decided it.
    pub decision: PageDecision,
    /// `pread` of one whole page.
    pub read: Outcome,
    /// `pwrite` of one whole page.
    pub write: Outcome,
    /// `mmap` of one page.
    pub mmap: Outcome,
}

/// The access runs of a range, in address order (see
/// [`Devmem::access_runs_iter`]).
#[derive(Debug)]
pub struct AccessRuns<'d, 't> {
    devmem: &'d Devmem<'t>,
    mode: OpenMode,
    /// The page runs not started yet.
    runs: crate::PageRuns<'d, 't>,
    /// Addresses where the whole-page results may change inside a page run.
    breaks: Vec<u64>,
    /// The first break above the pieces made so far.
    bi: usize,
    /// The page run being cut into pieces, and where its next piece starts.
    at: Option<(crate::PageRun, u64)>,
    /// The run being grown (the last piece, merged with equal neighbours).
    pending: Option<AccessRun>,
}

impl AccessRuns<'_, '_> {
    /// The next piece: a part of a page run between two breaks, its
    /// results evaluated once with the run's decision.
    fn piece(&mut self) -> Option<AccessRun> {
        let (run, start) = match self.at.take() {
            Some(at) => at,
            None => {
                let run = self.runs.next()?;
                (run, run.range.start)
            }
        };
        while self.bi < self.breaks.len() && self.breaks[self.bi] <= start {
            self.bi += 1;
        }
        let end = match self.breaks.get(self.bi) {
            Some(&b) if b <= run.range.end => b - 1,
            _ => run.range.end,
        };
        if end < run.range.end {
            self.at = Some((run, end + 1));
        }
        let d = run.decision;
        let one = |_| crate::access::Transfer::one_page(start, d);
        let page_run = |r: Range| [crate::PageRun { range: r, decision: d }];
        let (dm, ps) = (self.devmem, self.devmem.page_size());
        Some(AccessRun {
            range: Range::new(start, end),
            decision: d,
            read: dm.transfer_call(start, ps, false, one),
            write: dm.transfer_call(start, ps, true, one),
            mmap: dm.mmap_call(start, ps, self.mode, false, true, page_run),
        })
    }
}

impl Iterator for AccessRuns<'_, '_> {
    type Item = AccessRun;

    fn next(&mut self) -> Option<AccessRun> {
        loop {
            let Some(piece) = self.piece() else { return self.pending.take() };
            match &mut self.pending {
                Some(last)
                    if last.range.end.checked_add(1) == Some(piece.range.start)
                        && last.decision == piece.decision
                        && same(&last.read, &piece.read)
                        && same(&last.write, &piece.write)
                        && same(&last.mmap, &piece.mmap) =>
                {
                    last.range.end = piece.range.end;
                }
                _ => {
                    if let Some(done) = self.pending.replace(piece) {
                        return Some(done);
                    }
                }
            }
        }
    }
}

/// Why a RAM range cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RamDenial {
    /// A virtio-mem (or other driver-managed) device region: System RAM
    /// marked EXCLUSIVE. Parts of it are unplugged and must never be
    /// touched; the kernel refuses every page of it.
    DeviceManagedRegion,
    /// Ordinary System RAM, refused by STRICT_DEVMEM.
    Ram,
    /// The read gate (`high_memory` / memory map) refuses it.
    Gate,
}

/// RAM a reader cannot read through `/dev/mem`, or must not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForbiddenRam {
    /// The pages.
    pub range: Range,
    /// The resource that makes it RAM (or the device region).
    pub resource: Option<ResourceId>,
    /// Why.
    pub why: RamDenial,
    /// The errno a whole-page read gets there; `None` when the kernel lets
    /// the read through, which happens only in a device region on a
    /// configuration that does not protect it (`CONFIG_STRICT_DEVMEM=n`, a
    /// kernel before v5.16): reading it is unsafe all the same.
    pub errno: Option<iomem::Errno>,
    /// Whether the kernel would map these pages (`mmap` without `O_SYNC`).
    pub kernel_maps: bool,
}

/// A virtio-mem (hot(un)plug) device region: parts of it may be unplugged
/// at any moment, and touching unplugged memory can crash the VM or read
/// another guest's data, so no tool should read or map it, whatever the
/// kernel allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRegion {
    /// The region.
    pub range: Range,
    /// The device's resource (`virtioN`).
    pub resource: ResourceId,
}

/// The answer of [`Devmem::safe_ranges`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SafeRanges {
    /// Pages a `pread` returns the physical contents of.
    pub readable: Vec<Range>,
    /// Pages a `pread` succeeds on but returns zeros by policy (x86 first
    /// MiB RAM): reading them is harmless and useless.
    pub zero_filled: Vec<Range>,
    /// Pages an `mmap` (without `O_SYNC`) maps.
    pub mappable: Vec<Range>,
    /// System RAM that cannot be read, or must not be (device regions,
    /// even where the kernel allows the read), with why.
    pub forbidden_ram: Vec<ForbiddenRam>,
    /// The hot(un)plug device regions in the range: never in `readable`,
    /// `zero_filled` or `mappable`.
    pub device_regions: Vec<DeviceRegion>,
}

fn push_range(v: &mut Vec<Range>, r: Range) {
    if let Some(last) = v.last_mut() {
        if last.end != u64::MAX && last.end + 1 == r.start {
            last.end = r.end;
            return;
        }
    }
    v.push(r);
}

impl<'t> Devmem<'t> {
    /// Page addresses in `q` at which whole-page access results can change
    /// although the page decision does not: the read gate, the mmap width,
    /// memory-type areas.
    fn access_breaks(&self, q: Range) -> Vec<u64> {
        let ps = self.page_size();
        let mut b = Vec::new();
        let mut at = |addr: u64| {
            let p = self.page_of(addr);
            b.push(p);
            if let Some(n) = p.checked_add(ps) {
                b.push(n);
            }
        };
        at(self.policy.high_memory.addr);
        // mmap of the top page wraps `off + len` to 0, which passes the
        // width checks and skips the page checks.
        at(u64::MAX - (ps - 1));
        match self.policy.arch {
            Arch::X86_64 { phys_bits } if phys_bits < 64 => at(1u64 << phys_bits),
            Arch::Arm64 { pa_bits } if pa_bits < 64 => {
                // The last page whose mapping ends below 2^pa_bits; none
                // for widths below a page (impossible, see Arch::validate).
                if let Some(last) = (1u64 << pa_bits).checked_sub(ps) {
                    at(last);
                }
            }
            _ => {}
        }
        // Busy RAM (the arm64 memory map, and PAT's RAM exception) and
        // firmware-reserved ranges (PAT memory types).
        // Matches that touch at a page boundary form one span: whether a
        // page lies in such a range is the same on both sides, so only the
        // span's own edges are breaks (a million adjacent virtio-mem blocks
        // give two, not four million). Each walk's points come out sorted.
        let busy_ram = Flags::SYSTEM_RAM | Flags::BUSY;
        let mut spans: Vec<Range> = Vec::new();
        let mut edges = |desc: Desc, flags: Flags| {
            spans.clear();
            if q.start < q.end {
                self.tree.walk_iomem_res_desc::<()>(desc, flags, q.start, q.end, |m| {
                    match spans.last_mut() {
                        Some(last)
                            if last.end.checked_add(1) == Some(m.range.start) && m.range.start & (ps - 1) == 0 =>
                        {
                            last.end = m.range.end;
                        }
                        _ => spans.push(m.range),
                    }
                    ControlFlow::Continue(())
                });
            }
            for r in &spans {
                at(r.start);
                if let Some(e) = r.end.checked_add(1) {
                    at(e);
                }
            }
        };
        edges(Desc::NONE, busy_ram);
        for d in [Desc::RESERVED, Desc::ACPI_TABLES, Desc::ACPI_NV_STORAGE] {
            edges(d, Flags::MEM);
        }
        if let Memtypes::Known(list) = &self.policy.memtypes {
            for (r, _) in list {
                at(r.start);
                if let Some(e) = r.end.checked_add(1) {
                    at(e);
                }
            }
        }
        b.retain(|&p| p > q.start && p <= q.end);
        // Sorted runs, concatenated: the stable sort merges them.
        b.sort();
        b.dedup();
        b
    }

    /// Whole-page `pread`, `pwrite` and `mmap` results for every run of
    /// pages of `range`, through a descriptor opened with `mode`. The cost
    /// is proportional to the resources the range touches.
    pub fn access_runs(&self, range: Range, mode: OpenMode) -> Vec<AccessRun> {
        self.access_runs_iter(range, mode).collect()
    }

    /// [`Self::access_runs`], one run at a time: a caller that prints the
    /// runs of a range holding a million resources keeps one in memory.
    pub fn access_runs_iter(&self, range: Range, mode: OpenMode) -> AccessRuns<'_, 't> {
        let runs = self.page_runs_iter(range);
        // The page runs cover exactly these pages.
        let breaks = runs.pages().map_or_else(Vec::new, |q| self.access_breaks(q));
        AccessRuns { devmem: self, mode, runs, breaks, bi: 0, at: None, pending: None }
    }

    /// The hot(un)plug device regions overlapping `range`, in address
    /// order: resources flagged SYSTEM_RAM|EXCLUSIVE (virtio-mem since
    /// v5.16), and, for older kernels, non-busy SYSTEM_RAM resources named
    /// `virtioN` or holding `System RAM (virtio_mem)` children. A device
    /// claims its region with a request, which never nests inside a busy
    /// resource, so busy subtrees are not searched.
    pub fn device_regions(&self, range: Range) -> Vec<DeviceRegion> {
        let mut out = Vec::new();
        let tree = self.tree;
        let Ok(mut walk) = tree.preorder(tree.iomem_root()) else { return out };
        while let Some((id, _)) = walk.next() {
            let Ok(v) = tree.get(id) else { continue };
            if v.range.end < range.start || v.range.start > range.end || v.range.start > v.range.end {
                walk.skip_children();
                continue;
            }
            if is_device_region(tree, id, &v) {
                out.push(DeviceRegion { range: v.range, resource: id });
                walk.skip_children();
            } else if v.flags.is_busy() {
                walk.skip_children();
            }
        }
        out
    }

    /// The ranges a memory-acquisition tool may read through `/dev/mem`
    /// (`pread` returning the physical contents), the pages that read as
    /// zeros by policy, the pages `mmap` maps, and the System RAM it cannot
    /// (or must not) read. Device regions ([`Devmem::device_regions`]) are
    /// never readable or mappable here, even where the kernel would allow
    /// it (`CONFIG_STRICT_DEVMEM=n`, kernels before v5.16): their unplugged
    /// parts must never be touched; [`ForbiddenRam::errno`] and
    /// [`ForbiddenRam::kernel_maps`] say what the kernel would do.
    pub fn safe_ranges(&self, range: Range) -> SafeRanges {
        let mut s = SafeRanges { device_regions: self.device_regions(range), ..SafeRanges::default() };
        let regions = s.device_regions.clone();
        let mut ri = 0;
        for run in self.access_runs_iter(range, OpenMode::RDWR) {
            // Split the run at the device regions' edges.
            let mut start = run.range.start;
            loop {
                while ri < regions.len() && regions[ri].range.end < start {
                    ri += 1;
                }
                let (end, region) = match regions.get(ri) {
                    Some(g) if g.range.start <= start => (g.range.end.min(run.range.end), Some(g)),
                    Some(g) if g.range.start <= run.range.end => (g.range.start - 1, None),
                    _ => (run.range.end, None),
                };
                let piece = AccessRun { range: Range::new(start, end), ..run };
                match region {
                    Some(g) => {
                        let item = ForbiddenRam {
                            range: piece.range,
                            resource: Some(g.resource),
                            why: RamDenial::DeviceManagedRegion,
                            errno: piece.read.result.err(),
                            kernel_maps: piece.mmap.result.is_ok(),
                        };
                        push_forbidden(&mut s.forbidden_ram, item);
                    }
                    None => self.classify(&piece, &mut s),
                }
                if end >= run.range.end {
                    break;
                }
                start = end + 1;
            }
        }
        s
    }

    /// Files one run outside the device regions.
    fn classify(&self, r: &AccessRun, s: &mut SafeRanges) {
        match r.read.result {
            Ok(Success::Zeros) => push_range(&mut s.zero_filled, r.range),
            Ok(_) if r.read.uncertain.is_none() => push_range(&mut s.readable, r.range),
            _ => {}
        }
        if r.mmap.result.is_ok() && r.mmap.uncertain.is_none() {
            push_range(&mut s.mappable, r.range);
        }
        let Err(errno) = r.read.result else { return };
        let d = r.decision;
        let device = d.exclusive == Some(ExclusiveReason::SystemRamExclusive)
            || d.resource.is_some_and(|id| {
                self.tree.get(id).is_ok_and(|v| v.flags.has_all(Flags::SYSTEM_RAM | Flags::EXCLUSIVE))
            });
        let ram_rule = matches!(d.rule, PageRule::X86Ram | PageRule::GenericRam);
        let why = if device {
            RamDenial::DeviceManagedRegion
        } else if ram_rule && r.read.rule == crate::Rule::Page {
            RamDenial::Ram
        } else if ram_rule {
            RamDenial::Gate
        } else {
            return;
        };
        let item = ForbiddenRam {
            range: r.range,
            resource: d.resource,
            why,
            errno: Some(errno),
            kernel_maps: r.mmap.result.is_ok(),
        };
        push_forbidden(&mut s.forbidden_ram, item);
    }
}

/// Whether a resource is a hot(un)plug device region (see
/// [`Devmem::device_regions`]).
fn is_device_region(tree: &iomem::ResourceTree, id: ResourceId, v: &iomem::ResourceView<'_>) -> bool {
    if v.flags.has_all(Flags::SYSTEM_RAM | Flags::EXCLUSIVE) {
        return true;
    }
    if !v.flags.has_all(Flags::SYSTEM_RAM) || v.flags.is_busy() {
        return false;
    }
    let virtio_name = v
        .name
        .and_then(|n| n.strip_prefix("virtio"))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    virtio_name
        || tree
            .children(id)
            .is_ok_and(|mut c| c.any(|c| tree.get(c).is_ok_and(|cv| cv.name == Some("System RAM (virtio_mem)"))))
}

fn push_forbidden(list: &mut Vec<ForbiddenRam>, item: ForbiddenRam) {
    match list.last_mut() {
        Some(last)
            if last.range.end.checked_add(1) == Some(item.range.start)
                && last.resource == item.resource
                && last.why == item.why
                && last.errno == item.errno
                && last.kernel_maps == item.kernel_maps =>
        {
            last.range.end = item.range.end;
        }
        _ => list.push(item),
    }
}

fn same(a: &Outcome, b: &Outcome) -> bool {
    a.result == b.result && a.rule == b.rule && a.uncertain == b.uncertain
}
