//! The free-region allocators `alloc_free_mem_region` and
//! `request_free_mem_region` (resource-tree.md §5.15).
//!
//! The kernel tries candidates at a fixed stride and asks `region_intersects`
//! (flags 0: any resource matches) about each. A candidate that overlaps a
//! child `c` of the searched parent fails for every further candidate that
//! still overlaps `c`, so the search jumps past `c` in one step; candidates
//! whose end wraps around the address space are tried one by one, as the
//! kernel does.

use crate::error::Error;
use crate::flags::{Desc, Flags};
use crate::profile::FreeRegionRule;
use crate::range::{Range, align_up};
use crate::tree::{IOMEM, Ix, ResourceId, ResourceTree};

use super::region::IntoName;

/// `1 << PA_SECTION_SHIFT` on x86-64 (128 MiB): the alignment of the
/// descending allocators.
pub const DEFAULT_FREE_REGION_ALIGN: u64 = 1 << 27;

impl ResourceTree {
    /// `DIRECT_MAP_PHYSMEM_END`.
    fn physmem_end(&self) -> u64 {
        match self.config.max_physmem_bits {
            b if b >= 64 => u64::MAX,
            b => (1u64 << b) - 1,
        }
    }

    /// The lowest child of `parent` overlapping `q`, if any (the kernel's
    /// "not DISJOINT" test with flags 0).
    fn first_overlapping_child(&self, parent: Ix, q: Range) -> Option<Ix> {
        let ids = self.child_ids(parent);
        let mut pos = self.first_reaching(parent, q.start);
        while let Some(&c) = ids.get(pos) {
            let n = self.node(c);
            if n.start > q.end {
                return None;
            }
            if n.end >= q.start {
                return Some(c);
            }
            pos += 1;
        }
        None
    }

    /// `alloc_free_mem_region(base, size, align, name)` (v6.2+): the first
    /// `align`-strided candidate from `ALIGN(max(base.start, align), align)`
    /// upwards that overlaps no child of `base` becomes a new MEM resource
    /// (desc NONE) inserted below `base` with insert semantics. Kernel:
    /// `-ERANGE` ([`Error::NoFreeRegion`]) if no candidate is free, or if the
    /// insert fails or the new resource adopted children.
    pub fn alloc_free_mem_region(
        &mut self,
        base: ResourceId,
        size: u64,
        align: u64,
        name: impl IntoName,
    ) -> Result<ResourceId, Error> {
        if self.config.profile.free_region == FreeRegionRule::Legacy {
            return Err(Error::Unsupported { what: "alloc_free_mem_region" });
        }
        let base_ix = self.ix(base)?;
        let name = name.into_name(self)?;
        let name = self.name_slot(name)?;
        let size = align_up(size, align);
        let br = self.node(base_ix).range();
        let limit = br.end.min(self.physmem_end());
        let mut addr = align_up(br.start.max(align), align);
        let err = Error::NoFreeRegion { size };
        while addr > addr.wrapping_sub(align) && addr <= limit {
            let q = Range::from_start_size(addr, size);
            match self.first_overlapping_child(base_ix, q) {
                None => {
                    let ix = self.alloc_node(q, name, Flags::MEM, Desc::NONE)?;
                    // A fresh resource is always linkable: no refusal.
                    if !matches!(self.insert_conflict(base_ix, ix), Ok(None)) {
                        self.free_subtree(ix);
                        return Err(err);
                    }
                    if !self.child_ids(ix).is_empty() {
                        // The kernel leaves the resource linked and returns
                        // -ERANGE; undo the insert so nothing leaks here.
                        let id = self.handle(ix);
                        let _ = self.remove_resource(id);
                        self.free_subtree(ix);
                        return Err(err);
                    }
                    return Ok(self.handle(ix));
                }
                Some(c) => {
                    let cend = self.node(c).end;
                    let next = match (q.end >= q.start, align) {
                        (true, a) if a > 0 && cend >= addr => {
                            let steps = (cend - addr) / a + 1;
                            steps.checked_mul(a).and_then(|d| addr.checked_add(d))
                        }
                        _ => addr.checked_add(align),
                    };
                    match next {
                        Some(n) if n > addr => addr = n,
                        _ => break,
                    }
                }
            }
        }
        Err(err)
    }

    /// `request_free_mem_region(base, size, name)`: the highest free
    /// candidate is requested as a busy region from the iomem root, with
    /// descriptor DEVICE_PRIVATE_MEMORY (an iomem claim, so `/dev/mem`
    /// revocation runs). Current kernels step down by `align` from
    /// `min(base.end, DIRECT_MAP_PHYSMEM_END) - size + 1` and test against
    /// `base`'s children; v6.1 and older ([`FreeRegionRule::Legacy`]) step by
    /// the size and test against the top level of the iomem root. Kernel:
    /// `-ERANGE` if nothing is free or the request fails.
    pub fn request_free_mem_region(
        &mut self,
        base: ResourceId,
        size: u64,
        align: u64,
        name: impl IntoName,
    ) -> Result<ResourceId, Error> {
        let base_ix = self.ix(base)?;
        let name = name.into_name(self)?;
        let name = self.name_slot(name)?;
        let legacy = self.config.profile.free_region == FreeRegionRule::Legacy;
        let size = align_up(size, align);
        let stride = if legacy { size } else { align };
        let test_parent = if legacy { IOMEM } else { base_ix };
        let br = self.node(base_ix).range();
        let mut addr = br.end.min(self.physmem_end()).wrapping_sub(size).wrapping_add(1);
        let err = Error::NoFreeRegion { size };
        while addr > stride && addr >= br.start {
            let q = Range::from_start_size(addr, size);
            // `region_intersects` with flags 0 matches every resource, so
            // under either rule "DISJOINT" means: no child of the tested
            // parent overlaps the candidate.
            let Some(c) = self.first_overlapping_child(test_parent, q) else {
                let ix = self.request_region_ix(IOMEM, q, name, Flags::empty()).map_err(|_| err)?;
                self.node_mut(ix).desc = Desc::DEVICE_PRIVATE_MEMORY;
                return Ok(self.handle(ix));
            };
            if stride == 0 {
                // A stride of 0 (align 0, or a size of 0 on the legacy rule)
                // would make the kernel test this same candidate forever;
                // the port tests it once.
                break;
            }
            // Every lower candidate whose end still reaches `c` overlaps it
            // too: jump to the first one ending below `c` (the kernel steps
            // through them one by one, with the same first free result).
            let cstart = self.node(c).start;
            let step = if q.end >= q.start && q.end >= cstart {
                ((q.end - cstart) / stride + 1).checked_mul(stride)
            } else {
                Some(stride)
            };
            match step.and_then(|d| addr.checked_sub(d)) {
                Some(next) => addr = next,
                None => break,
            }
        }
        Err(err)
    }
}
