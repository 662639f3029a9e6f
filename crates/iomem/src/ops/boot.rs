//! Boot-time operations: the `reserve=` and `iomem=` parameters and
//! `reserve_region_with_split` (resource-tree.md §5.10, §7).

use alloc::format;
use alloc::vec::Vec;

use crate::cmdline::{GetOption, get_option};
use crate::error::Error;
use crate::flags::{Desc, Flags};
use crate::range::Range;
use crate::tree::{IOMEM, IOPORT, LogLevel, ResourceId, ResourceTree};

/// How many `reserve=` reservations the kernel accepts in total.
pub const MAX_RESERVE: usize = 4;

/// State of `reserve=` processing across repeated options: the kernel keeps
/// one static counter of accepted reservations for all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReserveState {
    accepted: usize,
}

impl ReserveState {
    /// Reservations accepted so far.
    pub const fn accepted(&self) -> usize {
        self.accepted
    }
}

impl ResourceTree {
    /// Applies the value of one `reserve=` option (§7.1): pairs of C `int`s
    /// `start,num` kept as 32-bit unsigned; `start < 0x10000` reserves I/O
    /// ports, otherwise memory; `[start, start + num - 1]` computed in 32-bit
    /// arithmetic; named "reserved", flags `type | BUSY`; placed at the top
    /// level with `request_resource`. Failures are silent and do not use up
    /// one of the [`MAX_RESERVE`] slots. Returns the new resources.
    pub fn apply_reserve_param(&mut self, value: &str, state: &mut ReserveState) -> Vec<ResourceId> {
        let mut created = Vec::new();
        let mut rest = value;
        let name = self.name_intern("reserved");
        while let GetOption::IntComma(start) = get_option(&mut rest) {
            let start = start as u32;
            let num = match get_option(&mut rest) {
                GetOption::None => break,
                GetOption::Int(v) | GetOption::IntComma(v) | GetOption::IntDash(v) => v as u32,
            };
            if state.accepted >= MAX_RESERVE {
                continue;
            }
            let (root, ty) = if start < 0x10000 { (IOPORT, Flags::IO) } else { (IOMEM, Flags::MEM) };
            let end = start.wrapping_add(num).wrapping_sub(1);
            let range = Range::new(u64::from(start), u64::from(end));
            let Ok(ix) =
                self.alloc_node(range, self.name_slot(Some(name)).unwrap_or(u32::MAX), ty | Flags::BUSY, Desc::NONE)
            else {
                break;
            };
            if self.place(root, ix).is_ok() {
                state.accepted += 1;
                created.push(self.handle(ix));
            } else {
                self.free_subtree(ix);
            }
        }
        created
    }

    /// `reserve_region_with_split(root, start, end, name)` (§5.10): fills
    /// the free gaps of `root`'s top level inside `[start, end]` with BUSY
    /// pieces named `name`, never descending. Returns the pieces placed.
    pub fn reserve_region_with_split(
        &mut self,
        root: ResourceId,
        start: u64,
        end: u64,
        name: &str,
    ) -> Result<Vec<ResourceId>, Error> {
        let root_ix = self.ix(root)?;
        let rr = self.node(root_ix).range();
        let mut want = Range::new(start, end);
        if !rr.contains(want) {
            let msg = format!("requested range {want:?} not in root {rr:?}");
            self.journal.log(LogLevel::Error, || msg);
            if !rr.overlaps(want) {
                return Ok(Vec::new());
            }
            want = Range::new(want.start.max(rr.start), want.end.min(rr.end));
            self.journal.log(LogLevel::Error, || format!("fixing request to {want:?}"));
        }
        let name = self.name_intern(name);
        let name_slot = self.name_slot(Some(name))?;
        let flags = Flags::from_bits_retain(self.node(root_ix).flags.type_bits()) | Flags::BUSY;
        let mut placed = Vec::new();
        let mut pending = Some(want);
        while let Some(mut piece) = pending.take() {
            loop {
                let ix = self.alloc_node(piece, name_slot, flags, Desc::NONE)?;
                let conflict = match self.place(root_ix, ix) {
                    Ok(()) => {
                        placed.push(self.handle(ix));
                        break;
                    }
                    Err(c) => c,
                };
                self.free_subtree(ix);
                let cr = self.node(conflict).range();
                if cr.start <= piece.start && cr.end >= piece.end {
                    // The conflict covers the piece: the kernel drops it and
                    // stops (a pending upper piece cannot exist here, since
                    // the lower part of a split never conflicts).
                    return Ok(placed);
                }
                if cr.start > piece.start {
                    if cr.end < piece.end && pending.is_none() {
                        pending = Some(Range::new(cr.end + 1, piece.end));
                    }
                    piece.end = cr.start - 1;
                } else {
                    piece.start = cr.end.wrapping_add(1);
                }
            }
        }
        Ok(placed)
    }
}
