//! Open `/dev/mem` mappings and their revocation when a driver claims a
//! range (devmem-policy.md §8, v5.8+).
//!
//! All `/dev/mem` descriptors share one address space indexed by physical
//! address. A successful `__request_region` with the iomem root as parent
//! (recorded by the tree as [`iomem::JournalEntry::IomemClaim`]) zaps the
//! pages of the claimed range from every mapping — unless the policy still
//! allows the first and the last page. The mappings stay; touching a zapped
//! page raises SIGBUS.

use alloc::vec::Vec;

use iomem::{JournalEntry, Range};

use crate::access::Outcome;
use crate::inputs::OpenMode;
use crate::policy::{Devmem, PageValue};

/// A mapping handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MappingId(u64);

/// One `mmap` of `/dev/mem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Its handle.
    pub id: MappingId,
    /// The physical pages it maps.
    pub range: Range,
    /// How its descriptor was opened.
    pub mode: OpenMode,
    /// Pages zapped by revocation (sorted, disjoint).
    pub zapped: Vec<Range>,
}

/// What touching a mapped address does when it does not work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The page was revoked: the process gets SIGBUS.
    #[error("SIGBUS: page {page:#x} was revoked when a driver claimed it")]
    SigBus {
        /// The revoked page.
        page: u64,
    },
    /// The address is not inside the mapping (SIGSEGV in a real process).
    #[error("address {addr:#x} is outside mapping {id:?}")]
    NotMapped {
        /// The mapping.
        id: MappingId,
        /// The address.
        addr: u64,
    },
    /// No such mapping (unmapped, or never created).
    #[error("no mapping {0:?}")]
    NoMapping(MappingId),
}

/// Why a claim revoked nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoRevocation {
    /// The kernel predates revocation (v5.8).
    KernelTooOld,
    /// `CONFIG_IO_STRICT_DEVMEM=n`: revocation is compiled out; existing
    /// mappings keep working alongside the driver.
    NotIoStrict,
    /// `V` allows the first and the last page of the claim (e.g. with
    /// `iomem=relaxed`, or in the x86 first MiB): "go ahead".
    StillAllowed,
}

/// The effect of one claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The claimed range.
    pub claim: Range,
    /// The pages zapped (`pfn(start)` … `pfn(start) + ⌈size / PAGE⌉ - 1`),
    /// or why nothing was.
    pub zapped: Result<Range, NoRevocation>,
    /// The mappings that lost pages, with the pages they lost.
    pub hit: Vec<(MappingId, Range)>,
}

/// The open mappings of `/dev/mem` on one machine.
#[derive(Clone, Debug, Default)]
pub struct Mappings {
    maps: Vec<Mapping>,
    next: u64,
}

impl Mappings {
    /// No mappings.
    pub fn new() -> Mappings {
        Mappings::default()
    }

    /// The live mappings.
    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.maps.iter()
    }

    /// `mmap` of `len` bytes at `off` through a descriptor opened with
    /// `mode`: the policy's verdict, and on success a new mapping.
    pub fn mmap(&mut self, devmem: &Devmem<'_>, off: u64, len: u64, mode: OpenMode) -> Result<MappingId, Outcome> {
        let o = devmem.call_after_open(&crate::Request { access: crate::Access::Mmap, addr: off, len, mode });
        if o.result.is_err() {
            return Err(o);
        }
        let ps = devmem.page_size();
        let start = devmem.page_of(off);
        let pages = len.div_ceil(ps).max(1);
        // A mapping reaching 2^64 ends at the last address (saturated).
        let end = start.checked_add(pages.saturating_mul(ps)).map_or(u64::MAX, |e| e - 1);
        let id = MappingId(self.next);
        self.next += 1;
        self.maps.push(Mapping { id, range: Range::new(start, end), mode, zapped: Vec::new() });
        Ok(id)
    }

    /// `munmap`: returns whether the mapping existed.
    pub fn munmap(&mut self, id: MappingId) -> bool {
        let before = self.maps.len();
        self.maps.retain(|m| m.id != id);
        self.maps.len() != before
    }

    /// Touches physical address `addr` through mapping `id`.
    pub fn access(&self, id: MappingId, addr: u64) -> Result<(), Fault> {
        let m = self.maps.iter().find(|m| m.id == id).ok_or(Fault::NoMapping(id))?;
        if !m.range.contains_addr(addr) {
            return Err(Fault::NotMapped { id, addr });
        }
        match m.zapped.iter().find(|z| z.contains_addr(addr)) {
            Some(_) => Err(Fault::SigBus { page: addr & !0xfff }),
            None => Ok(()),
        }
    }

    /// The kernel's `revoke_iomem` for a claim of `claim` on the iomem
    /// root. `devmem` must see the tree *after* the claim.
    pub fn on_claim(&mut self, devmem: &Devmem<'_>, claim: Range) -> Revocation {
        let no = |why| Revocation { claim, zapped: Err(why), hit: Vec::new() };
        if !devmem.profile().devmem.revocation {
            return no(NoRevocation::KernelTooOld);
        }
        if !devmem.policy.config.io_strict_devmem {
            return no(NoRevocation::NotIoStrict);
        }
        let first = devmem.page(claim.start).value;
        let last = devmem.page(claim.end).value;
        if first != PageValue::Deny && last != PageValue::Deny {
            return no(NoRevocation::StillAllowed);
        }
        // The page count comes from the size alone, so an unaligned claim
        // straddling one more page leaves its last page mapped.
        let ps = u128::from(devmem.page_size());
        let pages = u128::from(claim.size()).div_ceil(ps).max(1);
        let start = devmem.page_of(claim.start);
        let end = (u128::from(start) + pages * ps - 1).min(u128::from(u64::MAX)) as u64;
        let zap = Range::new(start, end);
        let mut hit = Vec::new();
        for m in &mut self.maps {
            if let Some(lost) = m.range.intersection(zap) {
                m.zapped.push(lost);
                m.zapped.sort_unstable();
                hit.push((m.id, lost));
            }
        }
        Revocation { claim, zapped: Ok(zap), hit }
    }

    /// Applies the iomem claims of a tree journal (in order).
    pub fn apply_journal(&mut self, devmem: &Devmem<'_>, entries: &[JournalEntry]) -> Vec<Revocation> {
        entries
            .iter()
            .filter_map(|e| match e {
                JournalEntry::IomemClaim { range, .. } => Some(self.on_claim(devmem, *range)),
                JournalEntry::Message { .. } => None,
            })
            .collect()
    }
}
