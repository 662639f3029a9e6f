//! The machine the policy is evaluated on, and the per-page verdict
//! `V(pfn)` = `devmem_is_allowed` (devmem-policy.md §4).

use iomem::{
    Desc, ExclusiveHit, ExclusiveParams, ExclusiveReason, Flags, KernelProfile, Range, RegionIntersects,
    RegionIntersectsRule, ResourceId, ResourceTree, X86DevmemRule,
};

use crate::inputs::{Arch, Caller, DeviceNode, HighMemory, HighMemorySource, KernelConfig, Lockdown, Memtypes};

/// Everything the decision depends on besides the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Kernel configuration.
    pub config: KernelConfig,
    /// `strict_iomem_checks` after the `iomem=` parameters (see
    /// [`iomem::cmdline::strict_iomem_checks`]).
    pub strict_iomem: bool,
    /// Architecture rule set.
    pub arch: Arch,
    /// Who opens `/dev/mem`.
    pub caller: Caller,
    /// The device node (`None`: `/dev/mem` does not exist).
    pub node: Option<DeviceNode>,
    /// Kernel lockdown level.
    pub lockdown: Lockdown,
    /// `high_memory` (x86 and generic read/write gate).
    pub high_memory: HighMemory,
    /// PAT memory-type reservations (x86).
    pub memtypes: Memtypes,
}

impl Policy {
    /// A policy for `tree` on `arch` with Debian's configuration, strict
    /// checks (no `iomem=`), a root caller with every capability, the usual
    /// device node, no lockdown, `high_memory` estimated from the tree and
    /// unknown memory types. Adjust the public fields as needed.
    pub fn new(tree: &ResourceTree, arch: Arch) -> Policy {
        Policy {
            config: KernelConfig::DEBIAN,
            strict_iomem: KernelConfig::DEBIAN.strict_devmem,
            arch,
            caller: Caller::root(),
            node: Some(DeviceNode::DEFAULT),
            lockdown: Lockdown::None,
            high_memory: estimate_high_memory(tree),
            memtypes: Memtypes::Unknown,
        }
    }

    /// Sets the configuration and recomputes `strict_iomem_checks` from it
    /// and the `iomem=` options of `cmdline`.
    pub fn with_config(mut self, config: KernelConfig, cmdline: &str) -> Policy {
        self.config = config;
        self.strict_iomem = iomem::cmdline::strict_iomem_checks(config.strict_devmem, cmdline);
        self
    }

    /// The inputs of `iomem_is_exclusive`.
    pub const fn exclusive_params(&self) -> ExclusiveParams {
        ExclusiveParams { strict: self.strict_iomem, io_strict: self.config.io_strict_devmem }
    }
}

/// `high_memory` estimated from the tree: one past the highest busy System
/// RAM page (any depth), the value at boot or after the last hot-add at the
/// top. Marked [`HighMemorySource::Estimated`]. Found by one descent from
/// the top of the tree ([`ResourceTree::last_iomem_res_end`]), not by a
/// walk over all RAM.
pub fn estimate_high_memory(tree: &ResourceTree) -> HighMemory {
    let busy_ram = Flags::SYSTEM_RAM | Flags::BUSY;
    let top = tree.last_iomem_res_end(busy_ram, Desc::NONE).map_or(0, |e| e.saturating_add(1));
    let page_mask = !(tree.config().page_size() - 1);
    HighMemory { addr: top & page_mask, source: HighMemorySource::Estimated }
}

/// `devmem_is_allowed`'s value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PageValue {
    /// 0: denied.
    Deny,
    /// 1: allowed.
    Allow,
    /// 2 (x86): allowed, but reads see zeros and writes are dropped; mmap
    /// maps the real page.
    ZeroFill,
}

impl PageValue {
    /// The kernel's number (0, 1, 2).
    pub const fn number(self) -> u8 {
        match self {
            PageValue::Deny => 0,
            PageValue::Allow => 1,
            PageValue::ZeroFill => 2,
        }
    }
}

/// Which branch of `devmem_is_allowed` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PageRule {
    /// x86: System RAM touches the page (region_intersects ≠ DISJOINT, or
    /// `page_is_ram` before v4.18), above the first MiB → 0.
    X86Ram,
    /// x86: System RAM in the first MiB → 2 (zero-filled reads).
    X86RamFirstMib,
    /// x86: exclusive above the first MiB → 0.
    X86Exclusive,
    /// x86: exclusive, but in the first MiB, which bypasses the check → 1.
    X86ExclusiveFirstMib,
    /// x86: neither RAM nor exclusive → 1.
    X86Allowed,
    /// x86 ≤ v4.10: the first MiB is always allowed → 1.
    X86FirstMib,
    /// x86 ≤ v4.10: not RAM → 1.
    X86NotRam,
    /// Generic: `iomem_is_exclusive` → 0.
    GenericExclusive,
    /// Generic: not RAM (`page_is_ram` false) → 1.
    GenericNotRam,
    /// Generic: RAM → 0.
    GenericRam,
}

impl PageRule {
    /// Stable identifier (used in JSON output).
    pub const fn id(self) -> &'static str {
        match self {
            PageRule::X86Ram => "page.x86-ram",
            PageRule::X86RamFirstMib => "page.x86-ram-first-mib",
            PageRule::X86Exclusive => "page.x86-exclusive",
            PageRule::X86ExclusiveFirstMib => "page.x86-exclusive-first-mib",
            PageRule::X86Allowed => "page.x86-allowed",
            PageRule::X86FirstMib => "page.x86-first-mib",
            PageRule::X86NotRam => "page.x86-not-ram",
            PageRule::GenericExclusive => "page.generic-exclusive",
            PageRule::GenericNotRam => "page.generic-not-ram",
            PageRule::GenericRam => "page.generic-ram",
        }
    }
}

/// The per-page verdict with what decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageDecision {
    /// `V(pfn)`.
    pub value: PageValue,
    /// The deciding branch.
    pub rule: PageRule,
    /// The deciding resource (the RAM or exclusive resource), if any.
    pub resource: Option<ResourceId>,
    /// Why the page is exclusive, when exclusivity decided.
    pub exclusive: Option<ExclusiveReason>,
}

impl PageDecision {
    pub(crate) const fn new(value: PageValue, rule: PageRule) -> PageDecision {
        PageDecision { value, rule, resource: None, exclusive: None }
    }

    pub(crate) const fn by(mut self, resource: Option<ResourceId>) -> PageDecision {
        self.resource = resource;
        self
    }

    pub(crate) fn excl(mut self, hit: ExclusiveHit) -> PageDecision {
        self.resource = Some(hit.resource);
        self.exclusive = Some(hit.reason);
        self
    }
}

/// `/dev/mem` on one machine: the tree and the policy inputs.
#[derive(Clone, Debug)]
pub struct Devmem<'t> {
    /// The iomem resource tree (its kernel profile selects the rules).
    pub tree: &'t ResourceTree,
    /// The other inputs.
    pub policy: Policy,
}

/// First MiB in pages (x86's special range).
pub(crate) const FIRST_MIB: u64 = 0x10_0000;

impl<'t> Devmem<'t> {
    /// The policy evaluator for `tree`.
    pub const fn new(tree: &'t ResourceTree, policy: Policy) -> Devmem<'t> {
        Devmem { tree, policy }
    }

    /// The kernel profile (the tree's).
    pub fn profile(&self) -> &KernelProfile {
        self.tree.profile()
    }

    /// `PAGE_SIZE`.
    pub fn page_size(&self) -> u64 {
        self.tree.config().page_size()
    }

    /// The page containing `addr`.
    pub fn page_of(&self, addr: u64) -> u64 {
        addr & !(self.page_size() - 1)
    }

    /// `V(pfn)` for the page containing `addr`, with what decided it.
    ///
    /// A page that lies inside one resource at every level (no resource
    /// boundary inside it — nearly every page) is decided in one descent
    /// from the chain of resources covering it, as [`Devmem::page_runs`]
    /// does; other pages take the literal rule of [`Devmem::page_exact`].
    /// Both give the same answer (tested).
    pub fn page(&self, addr: u64) -> PageDecision {
        let page = self.page_of(addr);
        self.page_by_chain(page).unwrap_or_else(|| self.page_exact(page))
    }

    /// The chain of resources fully covering the page, one per level, or
    /// `None` if some resource boundary falls inside it (or it is the top
    /// page, where the exclusivity walk wraps).
    fn page_by_chain(&self, page: u64) -> Option<PageDecision> {
        let last = page.checked_add(self.page_size() - 1).filter(|&l| l != u64::MAX)?;
        let mut ctx = crate::runs::Chain::default();
        let mut node = self.tree.iomem_root();
        while !self.decided(&ctx) {
            let mut cursor = self.tree.child_cursor(node, page).ok()?;
            let Some(c) = self.tree.next_child(&mut cursor) else { break };
            if c.range.start > last {
                break; // the page lies in a gap of `node`
            }
            if c.range.start > page || c.range.end < last {
                return None; // a boundary inside the page
            }
            ctx = self.extend(ctx, c.id, c.flags);
            node = c.id;
        }
        Some(self.chain_decision(&ctx, self.policy.arch.is_x86() && page < FIRST_MIB))
    }

    /// `V(pfn)` by the literal rule: `region_intersects`, `page_is_ram` and
    /// `iomem_is_exclusive` evaluated on the tree for this page, in the
    /// order of the architecture's `devmem_is_allowed`.
    pub fn page_exact(&self, addr: u64) -> PageDecision {
        let page = self.page_of(addr);
        match self.policy.arch {
            Arch::X86_64 { .. } => self.x86_page(page),
            Arch::Arm64 { .. } | Arch::Generic => self.generic_page(page),
        }
    }

    fn exclusive(&self, page: u64) -> Option<ExclusiveHit> {
        self.tree.exclusive_hit(page, self.policy.exclusive_params())
    }

    fn x86_page(&self, page: u64) -> PageDecision {
        let first_mib = page < FIRST_MIB;
        let rule = self.profile().devmem.x86;
        if rule == X86DevmemRule::FirstMibAllowed {
            if first_mib {
                return PageDecision::new(PageValue::Allow, PageRule::X86FirstMib);
            }
            if let Some(hit) = self.exclusive(page) {
                return PageDecision::new(PageValue::Deny, PageRule::X86Exclusive).excl(hit);
            }
            return match self.busy_ram_covering(page) {
                Some(r) => PageDecision::new(PageValue::Deny, PageRule::X86Ram).by(Some(r)),
                None => PageDecision::new(PageValue::Allow, PageRule::X86NotRam),
            };
        }
        let ram = match rule {
            X86DevmemRule::ZeroFillPageIsRam => self.busy_ram_covering(page),
            _ => self.ram_touching(page),
        };
        if let Some(r) = ram {
            return if first_mib {
                PageDecision::new(PageValue::ZeroFill, PageRule::X86RamFirstMib).by(Some(r))
            } else {
                PageDecision::new(PageValue::Deny, PageRule::X86Ram).by(Some(r))
            };
        }
        if let Some(hit) = self.exclusive(page) {
            return if first_mib {
                PageDecision::new(PageValue::Allow, PageRule::X86ExclusiveFirstMib).excl(hit)
            } else {
                PageDecision::new(PageValue::Deny, PageRule::X86Exclusive).excl(hit)
            };
        }
        PageDecision::new(PageValue::Allow, PageRule::X86Allowed)
    }

    fn generic_page(&self, page: u64) -> PageDecision {
        if let Some(hit) = self.exclusive(page) {
            return PageDecision::new(PageValue::Deny, PageRule::GenericExclusive).excl(hit);
        }
        match self.busy_ram_covering(page) {
            Some(r) => PageDecision::new(PageValue::Deny, PageRule::GenericRam).by(Some(r)),
            None => PageDecision::new(PageValue::Allow, PageRule::GenericNotRam),
        }
    }

    /// x86 ≥ v4.18: `region_intersects(page, SYSTEM_RAM) != DISJOINT`, with
    /// the resource that made it so.
    pub(crate) fn ram_touching(&self, page: u64) -> Option<ResourceId> {
        let ps = self.page_size();
        let ri = self.tree.region_intersects(page, ps, Flags::SYSTEM_RAM, Desc::NONE);
        if ri == RegionIntersects::Disjoint {
            return None;
        }
        let range = Range::from_start_size(page, ps);
        let root = self.tree.iomem_root();
        match self.profile().region_intersects {
            RegionIntersectsRule::TopLevelOnly => self
                .tree
                .children_overlapping(root, range)
                .ok()?
                .find(|&c| self.tree.get(c).is_ok_and(|v| v.flags.has_all(Flags::SYSTEM_RAM))),
            RegionIntersectsRule::Descendants => self
                .tree
                .find_next_iomem_res(range.start, range.end, Flags::SYSTEM_RAM, Desc::NONE)
                .ok()
                .map(|f| f.resource),
        }
    }

    /// `page_is_ram`: the busy System RAM resource covering the whole page.
    pub(crate) fn busy_ram_covering(&self, page: u64) -> Option<ResourceId> {
        let ps = self.page_size();
        // `page` is page-aligned: its last byte never wraps.
        let end = page | (ps - 1);
        let busy_ram = Flags::SYSTEM_RAM | Flags::BUSY;
        let mut start = page;
        while start < end {
            let m = self.tree.find_next_iomem_res(start, end, busy_ram, Desc::NONE).ok()?;
            if m.range.start == page && m.range.end == end {
                return Some(m.resource);
            }
            if m.range.end >= end {
                return None;
            }
            start = m.range.end + 1;
        }
        None
    }
}
