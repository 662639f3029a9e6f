//! Busy regions: `__request_region` and `__release_region` with their
//! wrappers (resource-tree.md §5.11–§5.12).

use alloc::format;

use crate::error::Error;
use crate::flags::{Desc, Flags};
use crate::range::Range;
use crate::tree::{IOMEM, IOPORT, Ix, LogLevel, Name, ResourceId, ResourceTree};

/// Something that names a resource: a [`Name`] (that identity), a `&str`
/// (the tree's shared identity for that text, see
/// [`ResourceTree::name_intern`]) or `None` (printed `<BAD>`).
pub trait IntoName {
    /// Resolves to a name slot of `tree`.
    fn into_name(self, tree: &mut ResourceTree) -> Result<Option<Name>, Error>;
}

impl IntoName for Name {
    fn into_name(self, _: &mut ResourceTree) -> Result<Option<Name>, Error> {
        Ok(Some(self))
    }
}

impl IntoName for Option<Name> {
    fn into_name(self, _: &mut ResourceTree) -> Result<Option<Name>, Error> {
        Ok(self)
    }
}

impl IntoName for &str {
    fn into_name(self, tree: &mut ResourceTree) -> Result<Option<Name>, Error> {
        Ok(Some(tree.name_intern(self)))
    }
}

impl ResourceTree {
    /// `__request_region(parent, start, n, name, flags)` (§5.11): creates a
    /// BUSY resource `[start, start + n - 1]`, descending through non-busy
    /// conflicts; type, extended type and descriptor come from the final
    /// container. Fails with [`Error::Conflict`] when it meets a busy
    /// resource, the parent's bounds, or an inverted range (the kernel
    /// returns `NULL`), and with [`Error::MuxedBusy`] where the kernel would
    /// sleep for a muxed region. A success with the iomem root as `parent`
    /// is recorded as an [`crate::JournalEntry::IomemClaim`] (the `/dev/mem`
    /// revocation hook).
    pub fn request_region(
        &mut self,
        parent: ResourceId,
        start: u64,
        n: u64,
        name: impl IntoName,
        flags: Flags,
    ) -> Result<ResourceId, Error> {
        let parent = self.ix(parent)?;
        let name = name.into_name(self)?;
        let name = self.name_slot(name)?;
        self.request_region_ix(parent, Range::from_start_size(start, n), name, flags).map(|ix| self.handle(ix))
    }

    pub(crate) fn request_region_ix(
        &mut self,
        orig_parent: Ix,
        range: Range,
        name: u32,
        flags: Flags,
    ) -> Result<Ix, Error> {
        let new = self.alloc_node(range, name, Flags::empty(), Desc::NONE)?;
        let mut parent = orig_parent;
        loop {
            let p = self.node(parent);
            let f = Flags::from_bits_retain(p.flags.type_bits() | p.flags.ext_type_bits()) | Flags::BUSY | flags;
            let desc = p.desc;
            // `new` is detached here: no record to keep current.
            self.set_node_flags(new, f);
            self.set_node_desc(new, desc);
            let conflict = match self.place(parent, new) {
                Ok(()) => break,
                Err(c) => c,
            };
            if self.node(conflict).desc == Desc::DEVICE_PRIVATE_MEMORY {
                let (cname, cr) = (self.node(conflict).name, self.node(conflict).range());
                let cname = self.names.text(cname).unwrap_or("<BAD>");
                let text = format!("Unaddressable device {cname} {cr:?} conflicts with {range:?}");
                self.journal.log(LogLevel::Warning, || text);
            }
            let cflags = self.node(conflict).flags;
            if conflict != parent && !cflags.is_busy() {
                parent = conflict;
                continue;
            }
            let err = if cflags.contains(Flags::MUXED) && flags.contains(Flags::MUXED) {
                Error::MuxedBusy { conflict: self.handle(conflict) }
            } else {
                self.conflict_error(new, conflict)
            };
            self.free_subtree(new);
            return Err(err);
        }
        if orig_parent == IOMEM {
            let id = self.handle(new);
            self.journal.claim(id, range);
        }
        Ok(new)
    }

    /// `request_region` (ioport root, no extra flags).
    pub fn request_io_region(&mut self, start: u64, n: u64, name: impl IntoName) -> Result<ResourceId, Error> {
        let root = self.handle(IOPORT);
        self.request_region(root, start, n, name, Flags::empty())
    }

    /// `request_muxed_region` (ioport root, MUXED).
    pub fn request_muxed_region(&mut self, start: u64, n: u64, name: impl IntoName) -> Result<ResourceId, Error> {
        let root = self.handle(IOPORT);
        self.request_region(root, start, n, name, Flags::MUXED)
    }

    /// `request_mem_region` (iomem root, no extra flags).
    pub fn request_mem_region(&mut self, start: u64, n: u64, name: impl IntoName) -> Result<ResourceId, Error> {
        let root = self.handle(IOMEM);
        self.request_region(root, start, n, name, Flags::empty())
    }

    /// `request_mem_region_exclusive` (iomem root, EXCLUSIVE).
    pub fn request_mem_region_exclusive(
        &mut self,
        start: u64,
        n: u64,
        name: impl IntoName,
    ) -> Result<ResourceId, Error> {
        let root = self.handle(IOMEM);
        self.request_region(root, start, n, name, Flags::EXCLUSIVE)
    }

    /// `request_mem_region_muxed` (iomem root, MUXED).
    pub fn request_mem_region_muxed(&mut self, start: u64, n: u64, name: impl IntoName) -> Result<ResourceId, Error> {
        let root = self.handle(IOMEM);
        self.request_region(root, start, n, name, Flags::MUXED)
    }

    /// `__release_region(parent, start, n)` (§5.12): removes and frees the
    /// busy resource of exactly `[start, start + n - 1]`, descending only
    /// through non-busy resources that cover the range. Returns the freed
    /// resource's former handle, or `None` where the kernel warns "Trying to
    /// free nonexistent resource" (the kernel returns nothing either way).
    pub fn release_region(&mut self, parent: ResourceId, start: u64, n: u64) -> Result<Option<ResourceId>, Error> {
        let mut cur = self.ix(parent)?;
        let q = Range::from_start_size(start, n);
        let covers = |r: Range| r.start <= q.start && r.end >= q.end;
        loop {
            let found = if q.start <= q.end {
                // Only the child reaching q.start can cover the range.
                let pos = self.first_reaching(cur, q.start);
                self.kids(cur).get(pos).filter(|c| covers(Range::new(c.start, c.end))).map(|c| c.slot)
            } else {
                self.kids(cur).iter().find(|c| covers(Range::new(c.start, c.end))).map(|c| c.slot)
            };
            let Some(c) = found else { break };
            if !self.node(c).flags.is_busy() {
                cur = c;
                continue;
            }
            if self.node(c).range() != q {
                break;
            }
            let id = self.handle(c);
            self.unlink(c);
            self.free_subtree(c);
            return Ok(Some(id));
        }
        self.journal.log(LogLevel::Warning, || {
            format!("Trying to free nonexistent resource <{:#018x}-{:#018x}>", q.start, q.end)
        });
        Ok(None)
    }

    /// `release_region` (ioport root).
    pub fn release_io_region(&mut self, start: u64, n: u64) -> Result<Option<ResourceId>, Error> {
        let root = self.handle(IOPORT);
        self.release_region(root, start, n)
    }

    /// `release_mem_region` (iomem root).
    pub fn release_mem_region(&mut self, start: u64, n: u64) -> Result<Option<ResourceId>, Error> {
        let root = self.handle(IOMEM);
        self.release_region(root, start, n)
    }
}
