//! Explanations: for a call on `/dev/mem`, which rule decided, which
//! resource decided it, and what would change the result — computed by
//! re-evaluating the same call with one input changed, so every "would"
//! is exact.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use iomem::{ExclusiveReason, Flags, Range, ResourceId};

use crate::access::{Access, Outcome, Rule, Success, Uncertainty};
use crate::inputs::{Arch, Lockdown, OpenMode, cap};
use crate::policy::{Devmem, PageRule, Policy};

/// One call to judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The operation.
    pub access: Access,
    /// Physical address (file offset).
    pub addr: u64,
    /// Bytes to read/write, or the mapping length.
    pub len: u64,
    /// How `/dev/mem` is opened.
    pub mode: OpenMode,
}

/// A resource, summarised for a reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSummary {
    /// Its handle.
    pub id: ResourceId,
    /// Its name.
    pub name: String,
    /// Its range.
    pub range: Range,
    /// Its flags.
    pub flags: Flags,
    /// Flag bits whose value is an assumption (inferred from the name).
    pub assumed: Flags,
}

/// One input a user could change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    /// Boot with `iomem=relaxed`.
    IomemRelaxed,
    /// Boot with `iomem=strict`.
    IomemStrict,
    /// A kernel built with `CONFIG_STRICT_DEVMEM=n`.
    StrictDevmemOff,
    /// A kernel built with `CONFIG_IO_STRICT_DEVMEM=n`.
    IoStrictDevmemOff,
    /// Run with CAP_SYS_RAWIO (e.g. as root).
    GrantCapSysRawio,
    /// Run as root (uid 0 with all capabilities).
    RunAsRoot,
    /// Boot without kernel lockdown.
    NoLockdown,
    /// Open `/dev/mem` without `O_SYNC`.
    WithoutOSync,
    /// Use `mmap` instead of `read`/`write`.
    UseMmap,
}

impl Change {
    /// Stable identifier.
    pub const fn id(self) -> &'static str {
        match self {
            Change::IomemRelaxed => "iomem=relaxed",
            Change::IomemStrict => "iomem=strict",
            Change::StrictDevmemOff => "CONFIG_STRICT_DEVMEM=n",
            Change::IoStrictDevmemOff => "CONFIG_IO_STRICT_DEVMEM=n",
            Change::GrantCapSysRawio => "CAP_SYS_RAWIO",
            Change::RunAsRoot => "root",
            Change::NoLockdown => "lockdown=none",
            Change::WithoutOSync => "without O_SYNC",
            Change::UseMmap => "mmap",
        }
    }
}

/// The result the call would have with one input changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatIf {
    /// The change.
    pub change: Change,
    /// The result name it would give (`ok`, `zeros`, an errno, ...).
    pub result: &'static str,
    /// Whether that is a success where the current result is a failure.
    pub helps: bool,
    /// A short sentence.
    pub sentence: String,
}

/// A judged call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The call.
    pub request: Request,
    /// Its outcome.
    pub outcome: Outcome,
    /// Why, as one or two sentences.
    pub reason: String,
    /// The resource that decided, if any.
    pub decided_by: Option<ResourceSummary>,
    /// The deepest resource containing the address (informative).
    pub containing: Option<ResourceSummary>,
    /// Changes that would alter the result (and, for a denial decided by
    /// the page rules, whether `iomem=relaxed` helps, even when it does not).
    pub what_if: Vec<WhatIf>,
}

impl Devmem<'_> {
    /// The outcome of one call, assuming `open` succeeded for the read,
    /// write and mmap operations (use [`Devmem::check`] for the full
    /// sequence).
    pub fn call(&self, r: &Request) -> Outcome {
        match r.access {
            Access::Open => self.open(r.mode),
            Access::Read => self.pread(r.addr, r.len),
            Access::Write => self.pwrite(r.addr, r.len),
            Access::Mmap => self.mmap(r.addr, r.len.max(1), r.mode, false, true),
        }
    }

    /// The outcome of `open` followed by the call: an `open` failure is the
    /// result of every operation.
    pub fn call_after_open(&self, r: &Request) -> Outcome {
        let opened = self.open(r.mode);
        if r.access == Access::Open || opened.result.is_err() {
            return opened;
        }
        self.call(r)
    }

    /// Judges a call and explains it; `assumed` gives the flag bits of a
    /// resource that were assumed rather than known (shown in the reason).
    pub fn check(&self, r: Request, assumed: Option<&dyn Fn(ResourceId) -> Flags>) -> Explanation {
        let outcome = self.call_after_open(&r);
        let summary = |id: ResourceId| -> Option<ResourceSummary> {
            let v = self.tree.get(id).ok()?;
            Some(ResourceSummary {
                id,
                name: v.name.unwrap_or("<BAD>").to_string(),
                range: v.range,
                flags: v.flags,
                assumed: assumed.map_or(Flags::empty(), |f| f(id)),
            })
        };
        let decided_by = outcome
            .page
            .and_then(|(_, d)| d.resource)
            .filter(|_| matches!(outcome.rule, Rule::Page | Rule::PatHook))
            .and_then(summary);
        let containing = self.tree.deepest_containing(self.tree.iomem_root(), r.addr).ok().flatten().and_then(summary);
        let reason = self.reason(&r, &outcome, decided_by.as_ref());
        let what_if = self.what_ifs(&r, &outcome);
        Explanation { request: r, outcome, reason, decided_by, containing, what_if }
    }

    fn with_policy(&self, f: impl FnOnce(&mut Policy)) -> Devmem<'_> {
        let mut p = self.policy.clone();
        f(&mut p);
        Devmem::new(self.tree, p)
    }

    fn what_ifs(&self, r: &Request, now: &Outcome) -> Vec<WhatIf> {
        let p = &self.policy;
        let mut candidates: Vec<(Change, Devmem<'_>, Request)> = Vec::new();
        if p.strict_iomem {
            candidates.push((Change::IomemRelaxed, self.with_policy(|p| p.strict_iomem = false), *r));
        } else if p.config.strict_devmem {
            candidates.push((Change::IomemStrict, self.with_policy(|p| p.strict_iomem = true), *r));
        }
        if p.config.io_strict_devmem {
            candidates.push((Change::IoStrictDevmemOff, self.with_policy(|p| p.config.io_strict_devmem = false), *r));
        }
        if p.config.strict_devmem {
            candidates.push((
                Change::StrictDevmemOff,
                self.with_policy(|p| {
                    p.config.strict_devmem = false;
                    p.config.io_strict_devmem = false;
                    // Without STRICT_DEVMEM, strict_iomem_checks starts at 0
                    // and only iomem=strict sets it.
                    p.strict_iomem = false;
                }),
                *r,
            ));
        }
        if !p.caller.has_cap(cap::SYS_RAWIO) {
            if p.caller.uid == 0 || p.node.is_some_and(|n| n.permits(&p.caller, r.mode.write)) {
                candidates.push((
                    Change::GrantCapSysRawio,
                    self.with_policy(|p| p.caller = p.caller.clone().with_cap(cap::SYS_RAWIO, true)),
                    *r,
                ));
            } else {
                candidates.push((Change::RunAsRoot, self.with_policy(|p| p.caller = crate::Caller::root()), *r));
            }
        } else if p.node.is_some_and(|n| !n.permits(&p.caller, r.mode.write)) {
            candidates.push((Change::RunAsRoot, self.with_policy(|p| p.caller = crate::Caller::root()), *r));
        }
        if p.lockdown != Lockdown::None {
            candidates.push((Change::NoLockdown, self.with_policy(|p| p.lockdown = Lockdown::None), *r));
        }
        if r.mode.sync && r.access == Access::Mmap {
            let mut alt = *r;
            alt.mode.sync = false;
            candidates.push((Change::WithoutOSync, self.with_policy(|_| {}), alt));
        }
        if matches!(r.access, Access::Read | Access::Write)
            && matches!(now.rule, Rule::HighMemoryGate | Rule::MemoryMapGate)
        {
            let mut alt = *r;
            alt.access = Access::Mmap;
            candidates.push((Change::UseMmap, self.with_policy(|_| {}), alt));
        }
        let now_ok = now.result.is_ok();
        let mut out = Vec::new();
        for (change, d, req) in candidates {
            let o = d.call_after_open(&req);
            let changed = o.result != now.result || o.uncertain != now.uncertain;
            let page_denial = now.rule == Rule::Page && !now_ok;
            let always_answered = change == Change::IomemRelaxed && page_denial;
            if !(changed || always_answered) {
                continue;
            }
            let helps = !now_ok && o.result.is_ok();
            let sentence = self.what_if_sentence(change, &o, changed, now);
            out.push(WhatIf { change, result: o.result_name(), helps, sentence });
        }
        out
    }

    fn what_if_sentence(&self, change: Change, o: &Outcome, changed: bool, now: &Outcome) -> String {
        let what = match change {
            Change::IomemRelaxed => "booting with iomem=relaxed",
            Change::IomemStrict => "booting with iomem=strict",
            Change::StrictDevmemOff => "a kernel with CONFIG_STRICT_DEVMEM=n",
            Change::IoStrictDevmemOff => "a kernel with CONFIG_IO_STRICT_DEVMEM=n",
            Change::GrantCapSysRawio => "CAP_SYS_RAWIO",
            Change::RunAsRoot => "running as root",
            Change::NoLockdown => "no kernel lockdown",
            Change::WithoutOSync => "opening without O_SYNC",
            Change::UseMmap => "mmap instead",
        };
        if !changed {
            let why = match now.page.and_then(|(_, d)| d.exclusive) {
                Some(ExclusiveReason::SystemRamExclusive)
                    if now.page.is_some_and(|(_, d)| d.rule != PageRule::X86Ram) =>
                {
                    "System RAM marked EXCLUSIVE stays exclusive with iomem=relaxed (v5.16+)"
                }
                _ => match now.page.map(|(_, d)| d.rule) {
                    Some(PageRule::X86Ram | PageRule::GenericRam) => "iomem= never affects the RAM test",
                    _ => "it does not change the deciding rule",
                },
            };
            return format!("{what} would not help: {why}");
        }
        let result = match (now.result, o.result) {
            (Ok(Success::Zeros | Success::PartlyZeros), Ok(Success::Data)) => {
                "return the real contents instead of zeros".to_string()
            }
            (Ok(Success::Dropped | Success::PartlyDropped), Ok(Success::Written)) => {
                "write the data instead of dropping it".to_string()
            }
            _ => String::new(),
        };
        if !result.is_empty() {
            return format!("{what} would {result}");
        }
        let result = match o.result {
            Ok(Success::Zeros) => "succeed with zeros".to_string(),
            Ok(Success::Dropped) => "succeed but drop the data".to_string(),
            Ok(_) if o.uncertain.is_some() => "succeed (unless the memory-type caveat applies)".to_string(),
            Ok(_) => "succeed".to_string(),
            Err(e) => format!("fail with {}", e.name()),
        };
        format!("{what} would make it {result}")
    }

    fn reason(&self, r: &Request, o: &Outcome, by: Option<&ResourceSummary>) -> String {
        let p = &self.policy;
        let res = |s: Option<&ResourceSummary>| match s {
            Some(s) => {
                let mut t = format!("'{}' [{:#x}-{:#x}] ({})", s.name, s.range.start, s.range.end, s.flags);
                let relevant = s.assumed & (Flags::BUSY | Flags::EXCLUSIVE | Flags::SYSRAM);
                if !relevant.is_empty() {
                    t.push_str(&format!(", with {relevant} assumed from its name"));
                }
                t
            }
            None => "a resource".to_string(),
        };
        let mut text = match o.rule {
            Rule::NodeMissing => "/dev/mem does not exist: the kernel was built without CONFIG_DEVMEM (or the node was removed)".to_string(),
            Rule::NodePermission => {
                let n = p.node.unwrap_or(crate::DeviceNode::DEFAULT);
                format!(
                    "the /dev/mem node (mode {:o}, uid {}, gid {}) does not let uid {} open it {}",
                    n.mode,
                    n.uid,
                    n.gid,
                    p.caller.uid,
                    if r.mode.write { "for reading and writing" } else { "for reading" }
                )
            }
            Rule::DevmemDisabled => "the kernel has no /dev/mem driver (CONFIG_DEVMEM=n)".to_string(),
            Rule::NoCapSysRawio => "opening /dev/mem needs CAP_SYS_RAWIO, which the caller lacks".to_string(),
            Rule::Lockdown => format!("kernel lockdown ({}) forbids /dev/mem", p.lockdown.name()),
            Rule::Vfs => "the VFS refuses an offset of 2^63 or more, or a count above SSIZE_MAX".to_string(),
            Rule::HighMemoryGate => format!(
                "read() and write() only reach addresses below high_memory ({:#x}){}; mmap is not limited this way",
                p.high_memory.addr,
                if p.high_memory.source == crate::HighMemorySource::Estimated {
                    " — estimated from the current map; the kernel raises it when memory is hot-added and never lowers it, so it may be higher"
                } else {
                    ""
                }
            ),
            Rule::MemoryMapGate => "on arm64, read() and write() only reach RAM in the kernel's memory map, and the range is not inside one RAM range".to_string(),
            Rule::MmapArguments => "mmap refuses a zero length, or a writable shared mapping of a read-only descriptor".to_string(),
            Rule::MmapWrap => "the mapping wraps past the top of the physical address space".to_string(),
            Rule::PhysAddrBits => {
                let bits = match p.arch {
                    Arch::X86_64 { phys_bits } => phys_bits,
                    Arch::Arm64 { pa_bits } => pa_bits,
                    Arch::Generic => 64,
                };
                format!("the mapping reaches beyond the {bits}-bit physical address width")
            }
            Rule::NotStrict => "CONFIG_STRICT_DEVMEM=n: the kernel does not restrict /dev/mem by address".to_string(),
            Rule::PatHook => format!(
                "x86 PAT (kernels before v6.16) refuses to map {} when CONFIG_STRICT_DEVMEM=n",
                res(by)
            ),
            Rule::MemtypeConflict => "the kernel already maps this range write-back; an O_SYNC (uncached) mapping conflicts with that".to_string(),
            Rule::Allowed if r.access == Access::Open => format!(
                "the caller may open /dev/mem (uid {}, CAP_SYS_RAWIO, lockdown {})",
                p.caller.uid,
                p.lockdown.name()
            ),
            Rule::Allowed => "nothing to transfer (zero bytes)".to_string(),
            Rule::Page => self.page_reason(o, by, &res),
        };
        match o.result {
            Ok(Success::PartlyZeros) => {
                text.push_str("; some pages of the range are RAM in the first MiB and read as zeros")
            }
            Ok(Success::PartlyDropped) => {
                text.push_str("; writes to the pages that are RAM in the first MiB are dropped")
            }
            _ => {}
        }
        if o.uncertain == Some(Uncertainty::MemtypeMayConflict) {
            text.push_str(
                "; it may still fail with EAGAIN if the kernel keeps this firmware range mapped write-back (e.g. ACPI tables), \
                 which /proc/iomem does not show — opening without O_SYNC avoids that",
            );
        }
        if o.uncertain == Some(Uncertainty::HighMemoryEstimated) && o.rule != Rule::HighMemoryGate {
            text.push_str("; high_memory is estimated");
        }
        text
    }

    fn page_reason(
        &self,
        o: &Outcome,
        by: Option<&ResourceSummary>,
        res: &dyn Fn(Option<&ResourceSummary>) -> String,
    ) -> String {
        let Some((page, d)) = o.page else {
            return "allowed".to_string();
        };
        let excl = |reason: Option<ExclusiveReason>| match reason {
            Some(ExclusiveReason::SystemRamExclusive) => {
                "is System RAM marked EXCLUSIVE (a virtio-mem device region, whose unplugged parts must not be touched): exclusive even with iomem=relaxed (v5.16+)"
            }
            Some(ExclusiveReason::BusyIoStrict) => {
                "is busy (claimed by a driver), and with CONFIG_IO_STRICT_DEVMEM=y and strict checks every busy range is exclusive"
            }
            Some(ExclusiveReason::BusyExclusive) => {
                "was claimed exclusively (busy and EXCLUSIVE, request_mem_region_exclusive) and strict checks are on"
            }
            None => "is exclusive",
        };
        match d.rule {
            PageRule::X86Ram | PageRule::GenericRam
                if by.is_some_and(|b| b.flags.has_all(Flags::SYSTEM_RAM | Flags::EXCLUSIVE)) =>
            {
                format!(
                    "page {page:#x} lies in {}, System RAM marked EXCLUSIVE: a driver-managed memory region (virtio-mem) \
                     whose unplugged parts must never be touched; the RAM test refuses every page of it, plugged or not",
                    res(by)
                )
            }
            PageRule::X86Ram | PageRule::GenericRam => {
                format!("page {page:#x} is System RAM ({}); /dev/mem never exposes RAM above the first MiB", res(by))
            }
            PageRule::X86RamFirstMib => format!(
                "page {page:#x} is RAM in the first MiB ({}): x86 lets it through, but reads return zeros and writes are dropped; mmap maps the real page",
                res(by)
            ),
            PageRule::X86Exclusive | PageRule::GenericExclusive => {
                format!("page {page:#x} is inside {}, which {}", res(by), excl(d.exclusive))
            }
            PageRule::X86ExclusiveFirstMib => format!(
                "page {page:#x} is inside {}, which {}, but x86 lets the first MiB bypass exclusivity",
                res(by),
                excl(d.exclusive)
            ),
            PageRule::X86FirstMib => format!("page {page:#x} is in the first MiB, always allowed before v4.11"),
            PageRule::X86Allowed | PageRule::X86NotRam | PageRule::GenericNotRam => {
                let what = match o.result {
                    Ok(Success::Zeros) => "allowed, but zero-filled",
                    _ => "allowed",
                };
                format!("{what}: page {page:#x} is neither System RAM nor exclusive")
            }
        }
    }
}
