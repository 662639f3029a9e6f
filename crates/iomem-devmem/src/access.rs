//! The system calls on `/dev/mem`: `open`, `pread`, `pwrite` and `mmap`
//! with the kernel's order of checks and exact results (devmem-policy.md
//! §2–§7).

use iomem::{Desc, Errno, Flags, Range};

use crate::inputs::{Arch, CacheMode, Lockdown, Memtypes, OpenMode, cap};
use crate::policy::{Devmem, FIRST_MIB, PageDecision, PageValue};

/// Which operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// `open(2)`.
    Open,
    /// `read(2)` / `pread(2)`.
    Read,
    /// `write(2)` / `pwrite(2)`.
    Write,
    /// `mmap(2)`.
    Mmap,
}

impl Access {
    /// Lower-case name (`open`, `read`, `write`, `mmap`).
    pub const fn name(self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::Read => "read",
            Access::Write => "write",
            Access::Mmap => "mmap",
        }
    }
}

/// What a successful call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Success {
    /// `open` succeeded.
    Opened,
    /// A read returned the physical contents.
    Data,
    /// A read succeeded but every byte was zero-filled by policy (x86 first
    /// MiB RAM, `V = 2`).
    Zeros,
    /// A read returned real bytes for some pages and zeros for others.
    PartlyZeros,
    /// A write reached memory.
    Written,
    /// A write was reported as done but dropped by policy (`V = 2`).
    Dropped,
    /// A write reached memory for some pages and was dropped for others.
    PartlyDropped,
    /// `mmap` succeeded (the real pages are mapped, also where `V = 2`).
    Mapped,
}

/// The step of the kernel's procedure that decided a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The device node does not exist (`-ENOENT`; CONFIG_DEVMEM=n with
    /// devtmpfs).
    NodeMissing,
    /// The node's file mode refuses the caller (`-EACCES`, VFS).
    NodePermission,
    /// CONFIG_DEVMEM=n: minor 1 is not registered (`-ENXIO`).
    DevmemDisabled,
    /// The caller lacks CAP_SYS_RAWIO (`-EPERM`).
    NoCapSysRawio,
    /// Kernel lockdown denies `/dev/mem` (`-EPERM`, v5.4+).
    Lockdown,
    /// Generic VFS checks on offset and count (`-EINVAL`, `-EOVERFLOW`).
    Vfs,
    /// x86/generic read/write gate: the range reaches `high_memory`
    /// (`-EFAULT`).
    HighMemoryGate,
    /// arm64 read/write gate: the range is not inside one RAM range of the
    /// kernel's memory map (`-EFAULT`).
    MemoryMapGate,
    /// mmap: zero length or access mode (`-EINVAL`, `-EACCES`).
    MmapArguments,
    /// mmap: the range wraps past the top of the physical space (`-EINVAL`).
    MmapWrap,
    /// mmap: beyond the physical address width (`-EINVAL`).
    PhysAddrBits,
    /// The page verdict `V` decided (see the [`PageDecision`]).
    Page,
    /// CONFIG_STRICT_DEVMEM=n: `V` is not consulted.
    NotStrict,
    /// x86 before v6.16 with PAT and STRICT_DEVMEM=n: the PAT hook refuses
    /// a page with `V = 0` (`-EINVAL`).
    PatHook,
    /// x86 PAT: the requested caching type conflicts with a type already
    /// reserved for the range (`-EAGAIN`).
    MemtypeConflict,
    /// Everything passed.
    Allowed,
}

impl Rule {
    /// Stable identifier (used in JSON output). For [`Rule::Page`] the
    /// page rule's id is more specific; see [`Outcome::rule_id`].
    pub const fn id(self) -> &'static str {
        match self {
            Rule::NodeMissing => "open.node-missing",
            Rule::NodePermission => "open.node-permission",
            Rule::DevmemDisabled => "open.devmem-disabled",
            Rule::NoCapSysRawio => "open.no-cap-sys-rawio",
            Rule::Lockdown => "open.lockdown",
            Rule::Vfs => "vfs.arguments",
            Rule::HighMemoryGate => "gate.high-memory",
            Rule::MemoryMapGate => "gate.memory-map",
            Rule::MmapArguments => "mmap.arguments",
            Rule::MmapWrap => "mmap.wrap",
            Rule::PhysAddrBits => "mmap.phys-addr-bits",
            Rule::Page => "page",
            Rule::NotStrict => "strict-devmem-off",
            Rule::PatHook => "mmap.pat-hook",
            Rule::MemtypeConflict => "mmap.memtype-conflict",
            Rule::Allowed => "allowed",
        }
    }
}

/// Something the verdict cannot know from its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Uncertainty {
    /// An `O_SYNC` mmap of firmware-reserved, non-RAM memory above 1 MiB
    /// while the PAT reservations are unknown: the kernel may hold the range
    /// write-back (ACPI tables), in which case mmap fails with `-EAGAIN`.
    MemtypeMayConflict,
    /// A read/write near `high_memory` while `high_memory` is only
    /// estimated: the kernel may have raised it on an earlier hot-add, in
    /// which case the gate passes and the page verdict decides instead.
    HighMemoryEstimated,
}

/// The result of one call, with the step and the page that decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What the caller sees.
    pub result: Result<Success, Errno>,
    /// The deciding step.
    pub rule: Rule,
    /// The page whose verdict decided (its address and decision), for
    /// [`Rule::Page`], [`Rule::PatHook`] and successful accesses.
    pub page: Option<(u64, PageDecision)>,
    /// A caveat, when the inputs cannot settle the outcome.
    pub uncertain: Option<Uncertainty>,
}

impl Outcome {
    const fn new(result: Result<Success, Errno>, rule: Rule) -> Outcome {
        Outcome { result, rule, page: None, uncertain: None }
    }

    const fn err(errno: Errno, rule: Rule) -> Outcome {
        Outcome::new(Err(errno), rule)
    }

    /// The most specific stable rule identifier (the page rule's id when
    /// the page verdict decided).
    pub fn rule_id(&self) -> &'static str {
        match (self.rule, self.page) {
            (Rule::Page, Some((_, d))) => d.rule.id(),
            (r, _) => r.id(),
        }
    }

    /// `"ok"`, `"zeros"` (a read that succeeds with zeros by policy),
    /// `"dropped"` (a write that is discarded by policy), or the errno name.
    pub fn result_name(&self) -> &'static str {
        match self.result {
            Ok(Success::Zeros) => "zeros",
            Ok(Success::Dropped) => "dropped",
            Ok(_) => "ok",
            Err(e) => e.name(),
        }
    }
}

/// What a page-by-page transfer found.
pub(crate) struct Transfer {
    pub(crate) denied: Option<(u64, PageDecision)>,
    pub(crate) first: Option<(u64, PageDecision)>,
    pub(crate) zero_pages: usize,
    pub(crate) pages: usize,
}

impl Transfer {
    /// A transfer within one page with a known decision.
    pub(crate) fn one_page(page: u64, d: PageDecision) -> Transfer {
        Transfer {
            denied: (d.value == PageValue::Deny).then_some((page, d)),
            first: Some((page, d)),
            zero_pages: usize::from(d.value == PageValue::ZeroFill),
            pages: 1,
        }
    }
}

impl Devmem<'_> {
    /// `open("/dev/mem", mode)` (§2): node permission (VFS), minor present,
    /// CAP_SYS_RAWIO, lockdown — in that order.
    pub fn open(&self, mode: OpenMode) -> Outcome {
        let p = &self.policy;
        let Some(node) = p.node else {
            return Outcome::err(Errno::ENOENT, Rule::NodeMissing);
        };
        if !node.permits(&p.caller, mode.write) {
            return Outcome::err(Errno::EACCES, Rule::NodePermission);
        }
        if !p.config.devmem {
            return Outcome::err(Errno::ENXIO, Rule::DevmemDisabled);
        }
        if !p.caller.has_cap(cap::SYS_RAWIO) {
            return Outcome::err(Errno::EPERM, Rule::NoCapSysRawio);
        }
        if self.profile().devmem.lockdown && p.lockdown != Lockdown::None {
            return Outcome::err(Errno::EPERM, Rule::Lockdown);
        }
        Outcome::new(Ok(Success::Opened), Rule::Allowed)
    }

    /// The read/write range gate (`valid_phys_addr_range`, §5 step 2).
    pub fn rw_gate(&self, p: u64, count: u64) -> Result<(), Rule> {
        let h = self.policy.high_memory.addr;
        let ok = match self.policy.arch {
            // p + count - 1 <= H - 1, in wrapping arithmetic as the kernel
            // computes it. A real kernel's H is never 0 (it always has
            // directly mapped RAM); an H of 0 (a dump without System RAM)
            // saturates to "nothing passes" instead of wrapping to "all".
            Arch::X86_64 { .. } if h == 0 => false,
            Arch::X86_64 { .. } => p.wrapping_add(count).wrapping_sub(1) <= h.wrapping_sub(1),
            Arch::Generic => p.wrapping_add(count) <= h,
            Arch::Arm64 { .. } => {
                return self.arm64_memory_map_covers(p, count).then_some(()).ok_or(Rule::MemoryMapGate);
            }
        };
        ok.then_some(()).ok_or(Rule::HighMemoryGate)
    }

    /// arm64: `[p, p + count)` lies inside one range of the memory map. The
    /// map is the merged union of the busy System RAM resources (boot RAM
    /// and added hot-plugged memory, which the kernel enters into memblock
    /// when it adds it and takes out when it removes it).
    fn arm64_memory_map_covers(&self, p: u64, count: u64) -> bool {
        let Some(range) = self.memory_map_range_at(p) else {
            return false;
        };
        // memblock_is_region_memory: base + size <= region end (exclusive).
        let end_excl = range.end.wrapping_add(1);
        p.wrapping_add(count) <= end_excl || (range.end == u64::MAX && p.checked_add(count).is_none())
    }

    /// The merged busy-RAM range containing `addr`, if any.
    pub(crate) fn memory_map_range_at(&self, addr: u64) -> Option<Range> {
        let busy_ram = Flags::SYSTEM_RAM | Flags::BUSY;
        let m = self
            .tree
            .find_next_iomem_res(addr, addr.saturating_add(1).max(addr), busy_ram, Desc::NONE)
            .ok()
            .filter(|m| m.range.start <= addr)?;
        // Extend over adjacent busy RAM on both sides (memblock merges
        // adjacent regions).
        let full = self.tree.get(m.resource).ok()?.range;
        let mut range = full;
        while range.end != u64::MAX {
            let next = range.end + 1;
            match self.tree.find_next_iomem_res(next, next.saturating_add(1), busy_ram, Desc::NONE) {
                Ok(n) if n.range.start == next => {
                    range.end = self.tree.get(n.resource).map(|v| v.range.end).unwrap_or(next);
                }
                _ => break,
            }
        }
        while range.start != 0 {
            let prev = range.start - 1;
            match self.tree.find_next_iomem_res(prev, prev.saturating_add(1), busy_ram, Desc::NONE) {
                Ok(n) if n.range.start <= prev => {
                    let v = self.tree.get(n.resource).map(|v| v.range).unwrap_or(Range::new(prev, prev));
                    if v.end != prev {
                        break;
                    }
                    range.start = v.start;
                }
                _ => break,
            }
        }
        Some(range)
    }

    /// Generic VFS checks of `pread`/`pwrite` (§3).
    fn vfs_checks(p: u64, count: u64) -> Result<u64, Outcome> {
        if count > i64::MAX as u64 {
            return Err(Outcome::err(Errno::EINVAL, Rule::Vfs));
        }
        if p >= 1 << 63 {
            return Err(Outcome::err(Errno::EINVAL, Rule::Vfs));
        }
        Ok(count.min(0x7fff_f000))
    }

    /// Walks the pages of `[p, p + count)` with `V` (ascending).
    fn transfer(&self, p: u64, count: u64) -> Transfer {
        let mut t = Transfer { denied: None, first: None, zero_pages: 0, pages: 0 };
        if count == 0 {
            return t;
        }
        // The VFS checks cap p below 2^63 and count at 0x7ffff000: no wrap
        // is possible; saturate anyway rather than wrap.
        let last = p.saturating_add(count - 1);
        for run in self.page_runs(Range::new(self.page_of(p), self.page_of(last))) {
            if t.first.is_none() {
                t.first = Some((run.range.start, run.decision));
            }
            let n = (run.range.len() / u128::from(self.page_size())) as usize;
            t.pages += n;
            match run.decision.value {
                PageValue::Deny => {
                    t.denied = Some((run.range.start, run.decision));
                    break;
                }
                PageValue::ZeroFill => t.zero_pages += n,
                PageValue::Allow => {}
            }
        }
        t
    }

    /// `pread(fd, buf, count, p)` on a descriptor that was opened
    /// successfully (§3, §5).
    pub fn pread(&self, p: u64, count: u64) -> Outcome {
        self.transfer_call(p, count, false, |c| self.transfer(p, c))
    }

    /// `pwrite(fd, buf, count, p)` on a descriptor opened for writing
    /// (§3, §6). A page with `V = 0` fails the whole call with `-EPERM`,
    /// although earlier pages may already have been written.
    pub fn pwrite(&self, p: u64, count: u64) -> Outcome {
        self.transfer_call(p, count, true, |c| self.transfer(p, c))
    }

    /// The common path of `pread`/`pwrite`: VFS checks, the range gate,
    /// then the page verdicts `pages` yields for the clamped count.
    pub(crate) fn transfer_call(
        &self,
        p: u64,
        count: u64,
        write: bool,
        pages: impl FnOnce(u64) -> Transfer,
    ) -> Outcome {
        let count = match Self::vfs_checks(p, count) {
            Ok(c) => c,
            Err(o) => return o,
        };
        if let Err(rule) = self.rw_gate(p, count) {
            let mut o = Outcome::err(Errno::EFAULT, rule);
            o.uncertain = self.high_memory_caveat(rule);
            return o;
        }
        let done = if write { Success::Written } else { Success::Data };
        if count == 0 {
            return Outcome::new(Ok(done), Rule::Allowed);
        }
        if !self.policy.config.strict_devmem {
            return Outcome::new(Ok(done), Rule::NotStrict);
        }
        let t = pages(count);
        if let Some(d) = t.denied {
            let mut o = Outcome::err(Errno::EPERM, Rule::Page);
            o.page = Some(d);
            return o;
        }
        let success = match (t.zero_pages, write) {
            (0, _) => done,
            (z, false) if z == t.pages => Success::Zeros,
            (_, false) => Success::PartlyZeros,
            (z, true) if z == t.pages => Success::Dropped,
            (_, true) => Success::PartlyDropped,
        };
        let mut o = Outcome::new(Ok(success), Rule::Page);
        o.page = t.first;
        o
    }

    fn high_memory_caveat(&self, rule: Rule) -> Option<Uncertainty> {
        (rule == Rule::HighMemoryGate && self.policy.high_memory.source == crate::inputs::HighMemorySource::Estimated)
            .then_some(Uncertainty::HighMemoryEstimated)
    }

    /// `mmap(NULL, len, prot, flags, fd, off)` (§7): generic checks, wrap,
    /// physical address width, `V` of every page (STRICT_DEVMEM), the x86
    /// PAT hook (before v6.16) and PAT memory-type conflicts.
    pub fn mmap(&self, off: u64, len: u64, mode: OpenMode, prot_write: bool, shared: bool) -> Outcome {
        self.mmap_call(off, len, mode, prot_write, shared, |r| self.page_runs(r))
    }

    /// `mmap` with the page runs of the mapped range supplied by `runs`.
    pub(crate) fn mmap_call<R: AsRef<[crate::PageRun]>>(
        &self,
        off: u64,
        len: u64,
        mode: OpenMode,
        prot_write: bool,
        shared: bool,
        runs: impl FnOnce(Range) -> R,
    ) -> Outcome {
        if len == 0 {
            return Outcome::err(Errno::EINVAL, Rule::MmapArguments);
        }
        if prot_write && shared && !mode.write {
            return Outcome::err(Errno::EACCES, Rule::MmapArguments);
        }
        let ps = self.page_size();
        let off = self.page_of(off);
        // The kernel maps whole pages.
        let len = len.div_ceil(ps).saturating_mul(ps);
        let last = off.wrapping_add(len).wrapping_sub(1);
        if last < off {
            return Outcome::err(Errno::EINVAL, Rule::MmapWrap);
        }
        let width_ok = match self.policy.arch {
            Arch::X86_64 { phys_bits } => phys_bits >= 64 || last >> phys_bits == 0,
            Arch::Arm64 { pa_bits } => pa_bits >= 64 || off.wrapping_add(len) >> pa_bits == 0,
            Arch::Generic => true,
        };
        if !width_ok {
            return Outcome::err(Errno::EINVAL, Rule::PhysAddrBits);
        }
        // range_is_allowed loops while cursor < off + len (wrapping): a
        // mapping ending exactly at 2^64 is not checked at all.
        let checked = off.wrapping_add(len) != 0;
        // (A caller that knows the runs passes them without allocating.)
        let runs = checked.then(|| runs(Range::new(off, last)));
        let runs: &[crate::PageRun] = runs.as_ref().map_or(&[], AsRef::as_ref);
        let first = runs.first().map(|r| (r.range.start, r.decision));
        let denied = runs.iter().find(|r| r.decision.value == PageValue::Deny).map(|r| (r.range.start, r.decision));
        let strict = self.policy.config.strict_devmem;
        if strict {
            if let Some(d) = denied {
                let mut o = Outcome::err(Errno::EPERM, Rule::Page);
                o.page = Some(d);
                return o;
            }
        } else if self.policy.arch.is_x86()
            && self.policy.config.x86_pat
            && self.profile().devmem.pat_refuses_without_strict
        {
            if let Some(d) = denied {
                let mut o = Outcome::err(Errno::EINVAL, Rule::PatHook);
                o.page = Some(d);
                return o;
            }
        }
        let mut o = Outcome::new(Ok(Success::Mapped), if strict { Rule::Page } else { Rule::NotStrict });
        o.page = first;
        if self.policy.arch.is_x86() && self.policy.config.x86_pat && mode.sync {
            match self.memtype_check(Range::new(off, last)) {
                MemtypeVerdict::Conflict => {
                    let mut c = Outcome::err(Errno::EAGAIN, Rule::MemtypeConflict);
                    c.page = first;
                    return c;
                }
                MemtypeVerdict::Unknown => o.uncertain = Some(Uncertainty::MemtypeMayConflict),
                MemtypeVerdict::Fine => {}
            }
        }
        o
    }

    /// An `O_SYNC` mapping asks for UC-; it conflicts with a write-back
    /// reservation of a range that is not System RAM (§7.3). RAM (any page
    /// of the range) takes the page's own type and never conflicts.
    fn memtype_check(&self, range: Range) -> MemtypeVerdict {
        if self.any_page_is_ram(range) {
            return MemtypeVerdict::Fine;
        }
        match &self.policy.memtypes {
            Memtypes::Known(list) => {
                let conflict = list.iter().any(|(r, mode)| *mode == CacheMode::WriteBack && r.overlaps(range));
                if conflict { MemtypeVerdict::Conflict } else { MemtypeVerdict::Fine }
            }
            Memtypes::Unknown => {
                if range.end >= FIRST_MIB && self.firmware_reserved_overlaps(range) {
                    MemtypeVerdict::Unknown
                } else {
                    MemtypeVerdict::Fine
                }
            }
        }
    }

    /// Whether some page of the page-aligned `range` lies wholly in busy
    /// System RAM (`page_is_ram` of one of its pages). One search per RAM
    /// resource the range overlaps, never one per page: a range may span
    /// the whole address space.
    fn any_page_is_ram(&self, range: Range) -> bool {
        let ps = self.page_size();
        let busy_ram = Flags::SYSTEM_RAM | Flags::BUSY;
        let mut start = range.start;
        loop {
            // The match is clipped to [start, range.end].
            let Ok(m) = self.tree.find_next_iomem_res(start, range.end, busy_ram, Desc::NONE) else {
                return false;
            };
            let first_page = m.range.start.checked_next_multiple_of(ps);
            if first_page.and_then(|p| p.checked_add(ps - 1)).is_some_and(|last| last <= m.range.end) {
                return true;
            }
            if m.range.end >= range.end {
                return false;
            }
            start = m.range.end + 1;
        }
    }

    /// Firmware memory the kernel may keep mapped write-back: resources
    /// with an ACPI or reserved descriptor (e820 `Reserved`, `ACPI Tables`,
    /// `ACPI Non-volatile Storage`) above the first MiB (the ISA range is
    /// not tracked by PAT).
    pub(crate) fn firmware_reserved_overlaps(&self, range: Range) -> bool {
        let range = Range::new(range.start.max(FIRST_MIB), range.end);
        if range.is_empty() {
            return false;
        }
        [Desc::RESERVED, Desc::ACPI_TABLES, Desc::ACPI_NV_STORAGE].into_iter().any(|desc| {
            let mut hit = false;
            self.tree.walk_iomem_res_desc::<()>(desc, Flags::MEM, range.start, range.end, |_| {
                hit = true;
                core::ops::ControlFlow::Break(())
            });
            hit
        })
    }
}

enum MemtypeVerdict {
    Fine,
    Conflict,
    Unknown,
}
