//! The tree side of memory hot-(un)plug: `release_mem_region_adjustable`
//! and `merge_system_ram_resource` (resource-tree.md §5.13–§5.14).

use alloc::format;

use crate::error::Error;
use crate::flags::Flags;
use crate::range::Range;
use crate::tree::{IOMEM, Ix, LogLevel, NIL, ResourceId, ResourceTree};

/// What `release_mem_region_adjustable` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjustment {
    /// No busy MEM resource covers the range: nothing changed.
    NotFound,
    /// The covering resource had exactly the range and was removed.
    Removed(ResourceId),
    /// The covering resource was trimmed at its start or end.
    Trimmed(ResourceId),
    /// The covering resource was split; the second handle is the new upper
    /// part.
    Split(ResourceId, ResourceId),
    /// The kernel's adjust failed (a child would stick out): it warns and
    /// changes nothing.
    Refused(ResourceId),
}

impl ResourceTree {
    /// `release_mem_region_adjustable(start, size)` (§5.13, v5.10+ form):
    /// releases `[start, start + size - 1]` from the busy MEM resource of
    /// the iomem tree that covers it, removing, trimming or splitting it.
    /// The kernel returns nothing; the outcome is reported for callers that
    /// care.
    pub fn release_mem_region_adjustable(&mut self, start: u64, size: u64) -> Adjustment {
        let q = Range::from_start_size(start, size);
        let Some(res) = self.find_adjustable(q) else {
            return Adjustment::NotFound;
        };
        let r = self.node(res).range();
        let id = self.handle(res);
        if r == q {
            self.unlink(res);
            self.free_subtree(res);
            return Adjustment::Removed(id);
        }
        if r.start == q.start || r.end == q.end {
            let new = if r.start == q.start {
                Range::new(q.end.wrapping_add(1), r.end)
            } else {
                Range::new(r.start, q.start.wrapping_sub(1))
            };
            return match self.adjust_checked(res, new) {
                Ok(()) => Adjustment::Trimmed(id),
                Err(_) => self.refused(id),
            };
        }
        // Split: shrink `res` to the lower part, then link an upper part
        // with the same name object, flags, descriptor and parent after it.
        let upper = Range::new(q.end.wrapping_add(1), r.end);
        if q.end < q.start && upper.start < q.start {
            // Only a size wrapping past 2^64 gets here: the kernel would
            // leave the upper part overlapping the lower one. Refused.
            return self.refused(id);
        }
        let (name, flags, desc) = {
            let n = self.node(res);
            (n.name, n.flags, n.desc)
        };
        if self.adjust_checked(res, Range::new(r.start, q.start.wrapping_sub(1))).is_err() {
            return self.refused(id);
        }
        let Ok(up) = self.alloc_node(upper, name, flags, desc) else {
            // Allocation failure: the kernel retries its allocation; this
            // arena only fails at 2^32 resources. Undo the shrink.
            self.set_range(res, r);
            return self.refused(id);
        };
        let parent = self.node(res).parent;
        let pos = self.position(res);
        self.link_at(parent, pos + 1, up);
        Adjustment::Split(id, self.handle(up))
    }

    fn refused(&mut self, id: ResourceId) -> Adjustment {
        self.journal.log(LogLevel::Warning, || format!("release_mem_region_adjustable: cannot adjust resource {id:?}"));
        Adjustment::Refused(id)
    }

    /// The walk of §5.13: the busy MEM resource covering `q`.
    fn find_adjustable(&self, q: Range) -> Option<Ix> {
        let mut cur = IOMEM;
        'level: loop {
            let kids = self.kids(cur);
            // With start < end, only the child reaching q.start can matter
            // (children before it neither cover q nor start at or after
            // q.end); otherwise follow the kernel's walk literally.
            let begin = if q.start < q.end { self.first_reaching(cur, q.start) } else { 0 };
            for n in &kids[begin.min(kids.len())..] {
                let c = n.slot;
                if n.start >= q.end {
                    return None;
                }
                if n.start > q.start || n.end < q.end {
                    continue;
                }
                if !n.flags.contains(Flags::MEM) {
                    return None;
                }
                if !n.flags.is_busy() {
                    cur = c;
                    continue 'level;
                }
                return Some(c);
            }
            return None;
        }
    }

    /// `merge_system_ram_resource(res)` (§5.14, v5.10+): flags `res`
    /// MERGEABLE and merges it with its next, then its previous sibling when
    /// they are mergeable (equal flags, adjacent, the *same* name object,
    /// equal descriptor, no children). Returns the resource that now covers
    /// `res`'s range (the previous sibling if `res` was merged into it, in
    /// which case `res`'s handle is stale). A resource that is not busy
    /// System RAM is left alone (the kernel warns).
    pub fn merge_system_ram_resource(&mut self, res: ResourceId) -> Result<ResourceId, Error> {
        if !self.config.profile.merge_system_ram {
            return Err(Error::Unsupported { what: "merge_system_ram_resource" });
        }
        let ix = self.ix(res)?;
        let required = Flags::SYSTEM_RAM | Flags::BUSY;
        if !self.node(ix).flags.has_all(required) {
            self.journal
                .log(LogLevel::Warning, || format!("merge_system_ram_resource: {res:?} is not busy System RAM"));
            return Ok(res);
        }
        let parent = self.node(ix).parent;
        if parent == NIL {
            return Err(Error::NotInTree { resource: res });
        }
        let flags = self.node(ix).flags | Flags::SYSRAM_MERGEABLE;
        self.set_node_flags(ix, flags);
        let pos = self.position(ix);
        if let Some(next) = self.child_at(parent, pos + 1) {
            if self.mergeable(ix, next) {
                let end = self.node(next).end;
                self.unlink_at(parent, pos + 1);
                self.free_subtree(next);
                let start = self.node(ix).start;
                self.set_range(ix, Range::new(start, end));
            }
        }
        if pos > 0 {
            let prev = self.kids(parent)[pos - 1].slot;
            if self.mergeable(prev, ix) {
                let end = self.node(ix).end;
                self.unlink_at(parent, pos);
                self.free_subtree(ix);
                let start = self.node(prev).start;
                self.set_range(prev, Range::new(start, end));
                return Ok(self.handle(prev));
            }
        }
        Ok(res)
    }

    fn mergeable(&self, a: Ix, b: Ix) -> bool {
        let (x, y) = (self.node(a), self.node(b));
        x.flags == y.flags
            && x.end.wrapping_add(1) == y.start
            && x.name == y.name
            && x.desc == y.desc
            && x.children == NIL
            && y.children == NIL
    }
}
