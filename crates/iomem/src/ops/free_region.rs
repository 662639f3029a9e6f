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
        let kids = self.kids(parent);
        let mut pos = self.first_reaching(parent, q.start);
        while let Some(n) = kids.get(pos) {
            if n.start > q.end {
                return None;
            }
            if n.end >= q.start {
                return Some(n.slot);
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
                    if self.kid_count(ix) != 0 {
                        // The kernel leaves the resource linked and returns
                        // -ERANGE; undo the insert so nothing leaks here.
                        let id = self.handle(ix);
                        let _ = self.remove_resource(id);
                        self.free_subtree(ix);
                        return Err(err);
                    }
                    return Ok(self.handle(ix));
                }
                Some(c) => match ascending_next(addr, size, align, self.node(c).end) {
                    Some(n) if n > addr => addr = n,
                    _ => break,
                },
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
                self.set_node_desc(ix, Desc::DEVICE_PRIVATE_MEMORY);
                return Ok(self.handle(ix));
            };
            if stride == 0 {
                // A stride of 0 (align 0, or a size of 0 on the legacy rule)
                // would make the kernel test this same candidate forever;
                // the port tests it once.
                break;
            }
            match descending_next(addr, size, stride, self.node(c).start) {
                Some(next) if next < addr => addr = next,
                _ => break,
            }
        }
        Err(err)
    }
}

/// The last address of a candidate `[a, a + size - 1]`, as a signed offset
/// from `a` (`end = a + d`, exact in 128 bits): the end wraps past 2^64 for
/// large starts, which the kernel's overlap test sees as a small end.
fn end_offset(a: u64, size: u64) -> i128 {
    let (a, size) = (i128::from(a), i128::from(size));
    let end = a + size - 1;
    if end > i128::from(u64::MAX) { size - 1 - (1i128 << 64) } else { size - 1 }
}

/// Ascending search: the candidate `a` overlaps the child ending at `cend`.
/// Every candidate up to `cend` overlaps it too, as long as their ends do
/// not wrap past 2^64 (a wrapped end is small and may miss the child): the
/// next candidate to test is the first above `cend`, or the first whose end
/// wraps, whichever comes first.
fn ascending_next(a: u64, size: u64, align: u64, cend: u64) -> Option<u64> {
    if align == 0 {
        return None;
    }
    let (a128, step) = (u128::from(a), u128::from(align));
    let past = |limit: u128| a128 + (limit.saturating_sub(a128) / step + 1) * step;
    let mut next = if u128::from(cend) >= a128 { past(u128::from(cend)) } else { a128 + step };
    if size > 0 && end_offset(a, size) >= 0 {
        // The smallest start whose end wraps: 2^64 - size + 1.
        let wrap_from = (1u128 << 64) - u128::from(size) + 1;
        if wrap_from > a128 && wrap_from < next {
            next = next.min(past(wrap_from - 1));
        }
    }
    u64::try_from(next).ok()
}

/// Descending search: the candidate `a` overlaps the child starting at
/// `cstart`. Candidates below `a` keep overlapping it while their end
/// reaches `cstart`, i.e. while `a' >= cstart - d` with `d` the end offset
/// of `a`'s regime (candidates in the lower, non-wrapping regime reach even
/// further): the next candidate to test is the first below that bound.
fn descending_next(a: u64, size: u64, stride: u64, cstart: u64) -> Option<u64> {
    if stride == 0 {
        return None;
    }
    let bound = i128::from(cstart) - end_offset(a, size);
    let a = i128::from(a);
    let step = i128::from(stride);
    let k = if a >= bound { (a - bound) / step + 1 } else { 1 };
    u64::try_from(a - k * step).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_stay_exact_around_the_wrap() {
        // Plain case: past the child.
        assert_eq!(ascending_next(0x1000, 0x1000, 0x1000, 0x4fff), Some(0x5000));
        // Candidates whose end wraps come before the child's end: stop there.
        let size = 1u64 << 63;
        let wrap_from = (1u64 << 63) + 1; // 2^64 - size + 1
        assert_eq!(ascending_next(0x1000, size, 0x1000, u64::MAX - 5), Some(wrap_from.next_multiple_of(0x1000)));
        // Descending: jump below cstart - size + 1.
        assert_eq!(descending_next(0x9000, 0x1000, 0x1000, 0x5000), Some(0x4000));
        assert_eq!(descending_next(0x9000, 0x1000, 0x1000, 0x5800), Some(0x4000));
        // Zero strides end the search instead of looping.
        assert_eq!(ascending_next(0x1000, 0x1000, 0, 0x4fff), None);
        assert_eq!(descending_next(0x9000, 0x1000, 0, 0x5000), None);
    }
}
