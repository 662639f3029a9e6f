//! The library against the reference model (`tests/common/model.rs`):
//! random operation sequences mixing every mutating operation, on a small
//! address space (0..0x10000, 256-byte pages), near `u64::MAX`, and with
//! whole-space ranges. After every step the two worlds must agree on the
//! return value (errno and conflicting resource), on the `/proc` text, on the
//! whole structure (every handle: liveness, range, flags, descriptor, name
//! identity, parent, position), and on every query at a handful of points;
//! and the library's tree must satisfy the invariants of resource-tree.md
//! §2.7.
//!
//! `cargo test -p iomem --test model_equivalence` runs the quick variant;
//! the long one is `#[ignore]`d, see the crate README.

mod common;

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use common::model::{self, AdjustWhy, Adjusted, Found as MFound, Id, MErr, Model, Ri, WalkEnd, Why};
use iomem::ops::ReserveState;
use iomem::procfs::Reader;
use iomem::{
    AdjustConflict, Adjustment, Constraint, Desc, Errno, Error, ExclusiveParams, ExclusiveReason, ExclusiveRule, Flags,
    Found, KernelProfile, KernelVersion, Name, Range, RegionIntersects, RegionIntersectsRule, ResourceId, ResourceSpec,
    ResourceTree, TreeConfig, Walk, WalkerScope,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, RngSeed, TestCaseError, TestRunner};

// ----- the generated input ---------------------------------------------

/// Where the addresses of a case lie.
#[derive(Clone, Copy, Debug)]
enum Space {
    /// 0..0x10000.
    Low,
    /// The top 64 KiB: `u64::MAX - 0xffff ..= u64::MAX`.
    High,
}

impl Space {
    fn base(self) -> u64 {
        match self {
            Space::Low => 0,
            Space::High => u64::MAX - 0xffff,
        }
    }
}

/// A handle argument: an index into every handle the case has seen
/// (modulo their number), or another tree's handle.
#[derive(Clone, Copy, Debug)]
enum H {
    Ix(u8),
    Foreign,
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        start: u64,
        size: u64,
        name: u8,
        flags: u8,
        desc: u8,
    },
    /// Create and link in one step (request or insert).
    Add {
        parent: H,
        start: u64,
        size: u64,
        name: u8,
        flags: u8,
        desc: u8,
        insert: bool,
    },
    Request {
        parent: H,
        new: H,
    },
    Insert {
        parent: H,
        new: H,
    },
    ExpandToFit {
        root: H,
        new: H,
    },
    Adjust {
        res: H,
        start: u64,
        size: u64,
    },
    Allocate {
        root: H,
        new: H,
        size: u64,
        min: u64,
        max: u64,
        align: u64,
        alignf: u8,
    },
    RequestRegion {
        parent: H,
        start: u64,
        size: u64,
        name: u8,
        extra: u8,
    },
    ReleaseRegion {
        parent: H,
        start: u64,
        size: u64,
    },
    ReleaseAdjustable {
        start: u64,
        size: u64,
    },
    Merge {
        res: H,
    },
    Remove {
        res: H,
    },
    Release {
        res: H,
    },
    ReleaseChildren {
        res: H,
    },
    Free {
        res: H,
    },
    SetFlags {
        res: H,
        flags: u8,
    },
    SetDesc {
        res: H,
        desc: u8,
    },
    SetRange {
        res: H,
        start: u64,
        size: u64,
    },
    AllocFree {
        base: H,
        size: u64,
        align: u64,
        name: u8,
    },
    RequestFree {
        base: H,
        size: u64,
        align: u64,
        name: u8,
    },
    ReserveSplit {
        root: H,
        start: u64,
        end: u64,
        name: u8,
    },
    ReserveParam {
        value: String,
    },
    /// Queries at two arbitrary points (besides the per-step ones).
    Probe {
        a: u64,
        b: u64,
        p: H,
    },
}

#[derive(Clone, Debug)]
struct Case {
    /// Shown in counterexamples (the addresses were drawn from it).
    #[allow(dead_code)]
    space: Space,
    profile: u8,
    physmem_bits: u32,
    ops: Vec<Op>,
}

const FLAG_SET: [Flags; 16] = [
    Flags::MEM,
    Flags::MEM.union(Flags::BUSY),
    Flags::SYSTEM_RAM,
    Flags::SYSTEM_RAM.union(Flags::BUSY),
    Flags::SYSTEM_RAM.union(Flags::EXCLUSIVE),
    Flags::SYSTEM_RAM.union(Flags::EXCLUSIVE).union(Flags::BUSY),
    Flags::MEM.union(Flags::BUSY).union(Flags::EXCLUSIVE),
    Flags::MEM.union(Flags::BUSY).union(Flags::MUXED),
    Flags::IO,
    Flags::IO.union(Flags::BUSY),
    Flags::MEM.union(Flags::UNSET),
    Flags::REG,
    Flags::empty(),
    Flags::SYSTEM_RAM.union(Flags::BUSY).union(Flags::SYSRAM_DRIVER_MANAGED).union(Flags::SYSRAM_MERGEABLE),
    Flags::SYSTEM_RAM.union(Flags::BUSY).union(Flags::SYSRAM_DRIVER_MANAGED),
    Flags::MEM.union(Flags::BUSY).union(Flags::READONLY),
];

const EXTRA_FLAGS: [Flags; 5] = [
    Flags::empty(),
    Flags::MUXED,
    Flags::EXCLUSIVE,
    Flags::SYSTEM_RAM,
    Flags::SYSTEM_RAM.union(Flags::SYSRAM_DRIVER_MANAGED),
];

const DESCS: [Desc; 5] = [Desc::NONE, Desc::RESERVED, Desc::DEVICE_PRIVATE_MEMORY, Desc::CXL, Desc::SOFT_RESERVED];

/// Name identities of a case: equal texts with distinct identities on
/// purpose (the kernel compares name pointers), the text used by
/// `reserve_region_with_split` (interned), and `None` (`<BAD>`).
const NAME_TEXTS: [Option<&str>; 8] = [
    Some("A"),
    Some("System RAM (virtio_mem)"),
    Some("System RAM (virtio_mem)"),
    Some("System RAM"),
    Some("System RAM"),
    Some(""),
    Some("x y [z]"),
    None,
];

fn profile(p: u8) -> KernelProfile {
    match p % 6 {
        0 => KernelProfile::mainline(),
        1 => KernelProfile::v6_1(),
        2 => KernelProfile::v6_1_unpatched(),
        3 => KernelProfile::for_version(KernelVersion::new(5, 10, 0)),
        4 => KernelProfile::for_version(KernelVersion::new(4, 4, 0)),
        _ => KernelProfile::v6_12(),
    }
}

fn addr(space: Space) -> impl Strategy<Value = u64> {
    let base = space.base();
    prop_oneof![
        6 => (0u64..0x100).prop_map(move |p| base.wrapping_add(p * 0x100)),
        2 => (0u64..0x10000).prop_map(move |o| base.wrapping_add(o)),
        1 => (0u64..0x100).prop_map(move |p| base.wrapping_add(p * 0x100 + 0xff)),
        1 => prop::sample::select(vec![0, u64::MAX, u64::MAX - 0xff, 0x1_0000, 0xffff, base]),
    ]
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => (1u64..0x20).prop_map(|p| p * 0x100),
        2 => Just(0u64),
        2 => 1u64..0x3000,
        1 => prop::sample::select(vec![u64::MAX, 0x1_0000, 1u64 << 63]),
    ]
}

/// Sizes for the free-region searches: never wrapping past 2^64 (with such a
/// size both the kernel's and the port's searches step through up to 2^64
/// wrapped candidates; see the README).
fn free_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => (1u64..0x20).prop_map(|p| p * 0x100),
        1 => Just(0u64),
        2 => 1u64..0x3000,
    ]
}

fn align() -> impl Strategy<Value = u64> {
    prop::sample::select(vec![0x100u64, 0x100, 0x400, 0x1000, 1, 0, 3])
}

fn handle() -> impl Strategy<Value = H> {
    prop_oneof![30 => any::<u8>().prop_map(H::Ix), 1 => Just(H::Foreign)]
}

fn reserve_value() -> impl Strategy<Value = String> {
    let num = (any::<u32>(), 0u8..4, prop::sample::select(vec![0x1000u32, 0x10000, 0x2000, 0, 0x100])).prop_map(
        |(v, fmt, small)| {
            let v = if fmt == 3 { small } else { v % 0x2_0000 };
            match fmt {
                0 => format!("{v}"),
                1 => format!("{v:#x}"),
                2 if v != 0 => format!("0{v:o}"),
                _ => format!("-{}", v.max(1)),
            }
        },
    );
    prop::collection::vec(num, 0..6).prop_map(|v| v.join(","))
}

fn op(space: Space) -> impl Strategy<Value = Op> {
    let a = move || addr(space);
    prop_oneof![
        3 => (a(), size(), 0u8..8, 0u8..16, 0u8..5)
            .prop_map(|(start, size, name, flags, desc)| Op::Create { start, size, name, flags, desc }),
        8 => (handle(), a(), size(), 0u8..8, 0u8..16, 0u8..5, any::<bool>()).prop_map(
            |(parent, start, size, name, flags, desc, insert)| Op::Add { parent, start, size, name, flags, desc, insert }
        ),
        2 => (handle(), handle()).prop_map(|(parent, new)| Op::Request { parent, new }),
        2 => (handle(), handle()).prop_map(|(parent, new)| Op::Insert { parent, new }),
        1 => (handle(), handle()).prop_map(|(root, new)| Op::ExpandToFit { root, new }),
        3 => (handle(), a(), size()).prop_map(|(res, start, size)| Op::Adjust { res, start, size }),
        2 => (handle(), handle(), size(), a(), a(), align(), 0u8..4).prop_map(
            |(root, new, size, min, max, align, alignf)| Op::Allocate { root, new, size, min, max, align, alignf }
        ),
        5 => (handle(), a(), size(), 0u8..8, 0u8..5)
            .prop_map(|(parent, start, size, name, extra)| Op::RequestRegion { parent, start, size, name, extra }),
        2 => (handle(), a(), size()).prop_map(|(parent, start, size)| Op::ReleaseRegion { parent, start, size }),
        2 => (a(), size()).prop_map(|(start, size)| Op::ReleaseAdjustable { start, size }),
        2 => handle().prop_map(|res| Op::Merge { res }),
        1 => handle().prop_map(|res| Op::Remove { res }),
        1 => handle().prop_map(|res| Op::Release { res }),
        1 => handle().prop_map(|res| Op::ReleaseChildren { res }),
        1 => handle().prop_map(|res| Op::Free { res }),
        2 => (handle(), 0u8..16).prop_map(|(res, flags)| Op::SetFlags { res, flags }),
        1 => (handle(), 0u8..5).prop_map(|(res, desc)| Op::SetDesc { res, desc }),
        1 => (handle(), a(), size()).prop_map(|(res, start, size)| Op::SetRange { res, start, size }),
        1 => (handle(), free_size(), align(), 0u8..8)
            .prop_map(|(base, size, align, name)| Op::AllocFree { base, size, align, name }),
        1 => (handle(), free_size(), align(), 0u8..8)
            .prop_map(|(base, size, align, name)| Op::RequestFree { base, size, align, name }),
        1 => (handle(), a(), a(), 0u8..8)
            .prop_map(|(root, start, end, name)| Op::ReserveSplit { root, start, end, name }),
        1 => reserve_value().prop_map(|value| Op::ReserveParam { value }),
        2 => (a(), a(), handle()).prop_map(|(a, b, p)| Op::Probe { a, b, p }),
    ]
}

fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    (
        prop_oneof![3 => Just(Space::Low), 1 => Just(Space::High)],
        any::<u8>(),
        prop::sample::select(vec![16u32, 15, 46, 64]),
    )
        .prop_flat_map(move |(space, profile, bits)| {
            let bits = match space {
                Space::Low => bits,
                Space::High => 64,
            };
            prop::collection::vec(op(space), 1..max_ops).prop_map(move |ops| Case {
                space,
                profile,
                physmem_bits: bits,
                ops,
            })
        })
}

// ----- the two worlds ----------------------------------------------------

struct World {
    lib: ResourceTree,
    model: Model,
    /// Another tree, whose handles must be refused.
    _foreign: ResourceTree,
    foreign_id: ResourceId,
    /// Every handle ever made, in both worlds.
    handles: Vec<(ResourceId, Id)>,
    to_model: HashMap<ResourceId, Id>,
    /// Name identities: the library's object and the model's index.
    names: Vec<(Option<Name>, Option<usize>)>,
    name_of_lib: HashMap<Name, usize>,
    model_names: Vec<String>,
    reserve: ReserveState,
    /// Resources an `adjust_resource` left inverted (invariant I3).
    inverted_ok: HashSet<Id>,
    page_shift: u32,
}

type R<T> = Result<T, TestCaseError>;

macro_rules! check_eq {
    ($a:expr, $b:expr, $($ctx:tt)+) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(TestCaseError::fail(format!(
                "{}\n  library: {:?}\n  model:   {:?}",
                format!($($ctx)+),
                a,
                b
            )));
        }
    }};
}

fn expected_errno(e: MErr) -> Errno {
    match e {
        MErr::Conflict(_) | MErr::Adjust(_) | MErr::NoSpace | MErr::MuxedBusy(_) => Errno::EBUSY,
        MErr::NotFound => Errno::ENODEV,
        MErr::NoFreeRegion => Errno::ERANGE,
        MErr::Unsupported => Errno::ENOSYS,
        MErr::Stale | MErr::Foreign | MErr::NotInTree | MErr::InTree | MErr::IsRoot | MErr::Invalid => Errno::EINVAL,
    }
}

impl World {
    fn new(c: &Case) -> World {
        let prof = profile(c.profile);
        let cfg = TreeConfig { ioport_end: 0xffff, page_shift: 8, max_physmem_bits: c.physmem_bits, profile: prof };
        let mut lib = ResourceTree::new(cfg);
        let model = Model::new(model::Config {
            ioport_end: 0xffff,
            page_shift: 8,
            max_physmem_bits: c.physmem_bits,
            region_intersects: prof.region_intersects,
            exclusive: prof.exclusive,
            walkers_top_level: prof.walkers == WalkerScope::TopLevelOnly,
            free_region: prof.free_region,
            merge: prof.merge_system_ram,
            walk_rev: prof.walk_rev,
        });
        let mut foreign = ResourceTree::new(cfg);
        let fname = foreign.name_new("foreign");
        let foreign_id = foreign.create(ResourceSpec::new(0, 0xfff, fname, Flags::MEM)).unwrap();
        let mut w = World {
            handles: vec![(lib.iomem_root(), model::IOMEM), (lib.ioport_root(), model::IOPORT)],
            to_model: HashMap::new(),
            names: Vec::new(),
            name_of_lib: HashMap::new(),
            model_names: Vec::new(),
            reserve: ReserveState::default(),
            inverted_ok: HashSet::new(),
            page_shift: 8,
            _foreign: foreign,
            foreign_id,
            model,
            lib: ResourceTree::default(),
        };
        for text in NAME_TEXTS {
            let n = text.map(|t| lib.name_new(t));
            let m = text.map(|t| w.model_name(n.unwrap(), t));
            w.names.push((n, m));
        }
        for (root, text) in [(model::IOMEM, "PCI mem"), (model::IOPORT, "PCI IO")] {
            let n = lib.get(w.handles[root].0).unwrap().name_id.unwrap();
            w.model.res[root].name = Some(w.model_name(n, text));
        }
        w.to_model.insert(lib.iomem_root(), model::IOMEM);
        w.to_model.insert(lib.ioport_root(), model::IOPORT);
        w.lib = lib;
        w
    }

    fn model_name(&mut self, n: Name, text: &str) -> usize {
        if let Some(&m) = self.name_of_lib.get(&n) {
            return m;
        }
        self.model_names.push(text.to_string());
        let m = self.model_names.len() - 1;
        self.name_of_lib.insert(n, m);
        m
    }

    fn interned(&mut self, text: &str) -> (Name, usize) {
        let n = self.lib.name_intern(text);
        (n, self.model_name(n, text))
    }

    fn h(&self, h: H) -> (ResourceId, Id) {
        match h {
            H::Foreign => (self.foreign_id, model::FOREIGN),
            H::Ix(i) => self.handles[i as usize % self.handles.len()],
        }
    }

    fn adopt(&mut self, lib: ResourceId, m: Id) -> R<()> {
        if let Some(&old) = self.to_model.get(&lib) {
            return Err(TestCaseError::fail(format!("library handle {lib:?} reused (was model #{old})")));
        }
        self.to_model.insert(lib, m);
        self.handles.push((lib, m));
        Ok(())
    }

    fn map(&self, id: ResourceId) -> R<Id> {
        self.to_model
            .get(&id)
            .copied()
            .ok_or_else(|| TestCaseError::fail(format!("library returned unknown handle {id:?}")))
    }

    fn map_opt(&self, id: Option<ResourceId>) -> R<Option<Id>> {
        id.map(|i| self.map(i)).transpose()
    }

    fn map_err(&self, e: &Error) -> R<MErr> {
        let m = match *e {
            Error::ForeignHandle { .. } => MErr::Foreign,
            Error::StaleHandle { .. } => MErr::Stale,
            Error::Conflict { conflict, .. } => MErr::Conflict(self.map(conflict)?),
            Error::Adjust { reason, .. } => MErr::Adjust(match reason {
                AdjustConflict::OutsideParent { parent } => AdjustWhy::OutsideParent(self.map(parent)?),
                AdjustConflict::NextSibling { sibling } => AdjustWhy::NextSibling(self.map(sibling)?),
                AdjustConflict::PreviousSibling { sibling } => AdjustWhy::PreviousSibling(self.map(sibling)?),
                AdjustConflict::Child { child } => AdjustWhy::Child(self.map(child)?),
            }),
            Error::NoSpace { .. } => MErr::NoSpace,
            Error::MuxedBusy { conflict } => MErr::MuxedBusy(self.map(conflict)?),
            Error::NotInTree { .. } => MErr::NotInTree,
            Error::InTree { .. } => MErr::InTree,
            Error::IsRoot { .. } => MErr::IsRoot,
            Error::Invalid { .. } => MErr::Invalid,
            Error::NotFound { .. } => MErr::NotFound,
            Error::NoFreeRegion { .. } => MErr::NoFreeRegion,
            Error::Unsupported { .. } => MErr::Unsupported,
            ref other => return Err(TestCaseError::fail(format!("unexpected library error {other:?}"))),
        };
        if e.errno() != expected_errno(m) {
            return Err(TestCaseError::fail(format!("{e:?} has errno {}, expected {}", e.errno(), expected_errno(m))));
        }
        Ok(m)
    }

    /// Maps a library result to the model's form (errors mapped, values by `f`).
    fn res<T, U>(&self, r: Result<T, Error>, f: impl FnOnce(&Self, T) -> R<U>) -> R<Result<U, MErr>> {
        match r {
            Ok(v) => f(self, v).map(Ok),
            Err(e) => self.map_err(&e).map(Err),
        }
    }

    fn found(&self, f: &Found) -> R<MFound> {
        Ok(MFound {
            id: self.map(f.resource)?,
            start: f.range.start,
            end: f.range.end,
            flags: f.flags,
            desc: f.desc,
            parent: self.map_opt(f.parent)?,
        })
    }

    // ----- applying one operation --------------------------------------

    fn step(&mut self, op: &Op) -> R<()> {
        match *op {
            Op::Create { start, size, name, flags, desc } => {
                let (ln, mn) = self.names[name as usize % self.names.len()];
                let end = start.wrapping_add(size).wrapping_sub(1);
                let spec = ResourceSpec {
                    range: Range::new(start, end),
                    name: ln,
                    flags: FLAG_SET[flags as usize],
                    desc: DESCS[desc as usize],
                };
                let l = self.lib.create(spec).map_err(|e| TestCaseError::fail(format!("create: {e}")))?;
                let m = self.model.create(start, end, mn, FLAG_SET[flags as usize], DESCS[desc as usize]);
                self.adopt(l, m)?;
            }
            Op::Add { parent, start, size, name, flags, desc, insert } => {
                self.step(&Op::Create { start, size, name, flags, desc })?;
                let new = *self.handles.last().unwrap();
                self.link(parent, new, insert)?;
            }
            Op::Request { parent, new } => self.link(parent, self.h(new), false)?,
            Op::Insert { parent, new } => self.link(parent, self.h(new), true)?,
            Op::ExpandToFit { root, new } => {
                let ((lr, mr), (ln, mn)) = (self.h(root), self.h(new));
                let l = self.lib.insert_resource_expand_to_fit(lr, ln);
                let m = self.model.insert_resource_expand_to_fit(mr, mn);
                check_eq!(self.res(l, |_, v| Ok(v))?, m, "insert_resource_expand_to_fit");
            }
            Op::Adjust { res, start, size } => {
                let (l, m) = self.h(res);
                let lr = self.lib.adjust_resource(l, start, size);
                let mr = self.model.adjust_resource(m, start, size);
                check_eq!(self.res(lr, |_, v| Ok(v))?, mr, "adjust_resource");
                if mr.is_ok() && start.wrapping_add(size).wrapping_sub(1) < start {
                    self.inverted_ok.insert(m);
                }
            }
            Op::Allocate { root, new, size, min, max, align, alignf } => {
                let ((lr, mr), (ln, mn)) = (self.h(root), self.h(new));
                let f = alignf_of(alignf);
                let mut lf = |q: &iomem::ops::AlignRequest| f(q.avail.start, q.avail.end, q.size, q.align);
                let mut lc = Constraint::new(min, max, align);
                if alignf != 0 {
                    lc = lc.with_alignf(&mut lf);
                }
                let l = self.lib.allocate_resource(lr, ln, size, lc);
                let mc = model::Constraint { min, max, align, alignf: (alignf != 0).then_some(&f as _) };
                let m = self.model.allocate_resource(mr, mn, size, &mc);
                check_eq!(self.res(l, |_, v| Ok(v))?, m, "allocate_resource");
            }
            Op::RequestRegion { parent, start, size, name, extra } => {
                let (lp, mp) = self.h(parent);
                let (ln, mn) = self.names[name as usize % self.names.len()];
                let flags = EXTRA_FLAGS[extra as usize];
                let l = self.lib.request_region(lp, start, size, ln, flags);
                let m = self.model.request_region(mp, start, size, mn, flags);
                match (&l, &m) {
                    (Ok(li), Ok(mi)) => self.adopt(*li, *mi)?,
                    _ => check_eq!(self.res(l, |_, _| Ok(0))?, m.map(|_| 0), "request_region"),
                }
            }
            Op::ReleaseRegion { parent, start, size } => {
                let (lp, mp) = self.h(parent);
                let l = self.lib.release_region(lp, start, size);
                let m = self.model.release_region(mp, start, size);
                check_eq!(self.res(l, |w, v| w.map_opt(v))?, m, "release_region");
            }
            Op::ReleaseAdjustable { start, size } => {
                let l = self.lib.release_mem_region_adjustable(start, size);
                let m = self.model.release_mem_region_adjustable(start, size);
                let lm = match l {
                    Adjustment::NotFound => Adjusted::NotFound,
                    Adjustment::Removed(a) => Adjusted::Removed(self.map(a)?),
                    Adjustment::Trimmed(a) => Adjusted::Trimmed(self.map(a)?),
                    Adjustment::Refused(a) => Adjusted::Refused(self.map(a)?),
                    Adjustment::Split(a, up) => match m {
                        Adjusted::Split(_, mup) => {
                            self.adopt(up, mup)?;
                            Adjusted::Split(self.map(a)?, mup)
                        }
                        _ => Adjusted::Split(self.map(a)?, usize::MAX),
                    },
                };
                check_eq!(lm, m, "release_mem_region_adjustable");
            }
            Op::Merge { res } => {
                let (l, m) = self.h(res);
                let lr = self.lib.merge_system_ram_resource(l);
                let mr = self.model.merge_system_ram_resource(m);
                check_eq!(self.res(lr, |w, v| w.map(v))?, mr, "merge_system_ram_resource");
            }
            Op::Remove { res } => {
                let (l, m) = self.h(res);
                let lr = self.lib.remove_resource(l);
                check_eq!(self.res(lr, |_, v| Ok(v))?, self.model.remove_resource(m), "remove_resource");
            }
            Op::Release { res } => {
                let (l, m) = self.h(res);
                let lr = self.lib.release_resource(l);
                check_eq!(self.res(lr, |_, v| Ok(v))?, self.model.release_resource(m), "release_resource");
            }
            Op::ReleaseChildren { res } => {
                let (l, m) = self.h(res);
                let lr = self.lib.release_child_resources(l);
                let mr = self.model.release_child_resources(m);
                let lr = self.res(lr, |w, v| v.into_iter().map(|i| w.map(i)).collect::<R<Vec<_>>>())?;
                check_eq!(lr, mr, "release_child_resources");
            }
            Op::Free { res } => {
                let (l, m) = self.h(res);
                let lr = self.lib.free(l);
                check_eq!(self.res(lr, |_, v| Ok(v))?, self.model.free(m), "free");
            }
            Op::SetFlags { res, flags } => {
                let (l, m) = self.h(res);
                let f = FLAG_SET[flags as usize];
                let lr = self.lib.set_flags(l, f);
                check_eq!(self.res(lr, |_, v| Ok(v))?, self.model.set_flags(m, f), "set_flags");
            }
            Op::SetDesc { res, desc } => {
                let (l, m) = self.h(res);
                let d = DESCS[desc as usize];
                let lr = self.lib.set_desc(l, d);
                check_eq!(self.res(lr, |_, v| Ok(v))?, self.model.set_desc(m, d), "set_desc");
            }
            Op::SetRange { res, start, size } => {
                let (l, m) = self.h(res);
                let end = start.wrapping_add(size).wrapping_sub(1);
                let lr = self.lib.set_range_detached(l, Range::new(start, end));
                let mr = self.model.set_range_detached(m, start, end);
                check_eq!(self.res(lr, |_, v| Ok(v))?, mr, "set_range_detached");
            }
            Op::AllocFree { base, size, align, name } => {
                let (lb, mb) = self.h(base);
                let (ln, mn) = self.names[name as usize % self.names.len()];
                let l = self.lib.alloc_free_mem_region(lb, size, align, ln);
                let m = self.model.alloc_free_mem_region(mb, size, align, mn);
                match (&l, &m) {
                    (Ok(li), Ok(mi)) => self.adopt(*li, *mi)?,
                    _ => check_eq!(self.res(l, |_, _| Ok(0))?, m.map(|_| 0), "alloc_free_mem_region"),
                }
            }
            Op::RequestFree { base, size, align, name } => {
                let (lb, mb) = self.h(base);
                let (ln, mn) = self.names[name as usize % self.names.len()];
                let l = self.lib.request_free_mem_region(lb, size, align, ln);
                let m = self.model.request_free_mem_region(mb, size, align, mn);
                match (&l, &m) {
                    (Ok(li), Ok(mi)) => self.adopt(*li, *mi)?,
                    _ => check_eq!(self.res(l, |_, _| Ok(0))?, m.map(|_| 0), "request_free_mem_region"),
                }
            }
            Op::ReserveSplit { root, start, end, name } => {
                let (lr, mr) = self.h(root);
                let text = NAME_TEXTS[name as usize % NAME_TEXTS.len()].unwrap_or("split");
                let (_, mn) = self.interned(text);
                let l = self.lib.reserve_region_with_split(lr, start, end, text);
                let m = self.model.reserve_region_with_split(mr, start, end, Some(mn));
                match (l, m) {
                    (Ok(ls), Ok(ms)) => {
                        check_eq!(ls.len(), ms.len(), "reserve_region_with_split: pieces");
                        for (a, b) in ls.into_iter().zip(ms) {
                            self.adopt(a, b)?;
                        }
                    }
                    (l, m) => check_eq!(self.res(l, |_, _| Ok(0))?, m.map(|_| 0), "reserve_region_with_split"),
                }
            }
            Op::ReserveParam { ref value } => {
                let (_, mn) = self.interned("reserved");
                let ls = self.lib.apply_reserve_param(value, &mut self.reserve);
                let ms = self.model.apply_reserve_param(value, Some(mn));
                check_eq!(ls.len(), ms.len(), "reserve={value}: resources placed");
                for (a, b) in ls.into_iter().zip(ms) {
                    self.adopt(a, b)?;
                }
            }
            Op::Probe { a, b, p } => {
                self.queries_at(&[a, b], Some(p))?;
            }
        }
        Ok(())
    }

    fn link(&mut self, parent: H, new: (ResourceId, Id), insert: bool) -> R<()> {
        let (lp, mp) = self.h(parent);
        let (ln, mn) = new;
        let (l, m) = if insert {
            (self.lib.insert_resource(lp, ln), self.model.insert_resource(mp, mn))
        } else {
            (self.lib.request_resource(lp, ln), self.model.request_resource(mp, mn))
        };
        check_eq!(self.res(l, |_, v| Ok(v))?, m, "{}", if insert { "insert_resource" } else { "request_resource" });
        Ok(())
    }

    // ----- comparing the worlds ----------------------------------------

    fn compare_structure(&self) -> R<()> {
        for root in [model::IOMEM, model::IOPORT] {
            let lroot = self.handles[root].0;
            let lp: Vec<(Id, usize)> =
                self.lib.preorder(lroot).unwrap().map(|(i, d)| Ok((self.map(i)?, d))).collect::<R<_>>()?;
            check_eq!(lp, self.model.preorder(root), "pre-order of root #{root}");
            for reader in [Reader::Privileged, Reader::Unprivileged] {
                let l = self.lib.render_proc(lroot, reader).unwrap();
                let m = self.model.render(root, reader == Reader::Privileged, &self.model_names);
                check_eq!(l, m, "/proc text of root #{root} ({reader:?})");
            }
        }
        for &(l, m) in &self.handles {
            let mr = &self.model.res[m];
            check_eq!(self.lib.contains(l), mr.live, "liveness of #{m} ({l:?})");
            if !mr.live {
                check_eq!(
                    self.lib.get(l).err().map(|e| self.map_err(&e)).transpose()?,
                    Some(MErr::Stale),
                    "stale #{m}"
                );
                continue;
            }
            let v = self.lib.get(l).unwrap();
            let name = match v.name_id {
                Some(n) => Some(
                    *self
                        .name_of_lib
                        .get(&n)
                        .ok_or_else(|| TestCaseError::fail(format!("#{m} has unknown name {n:?} ({:?})", v.name)))?,
                ),
                None => None,
            };
            check_eq!(
                (v.range.start, v.range.end, v.flags, v.desc, name, self.map_opt(v.parent)?),
                (mr.start, mr.end, mr.flags, mr.desc, mr.name, mr.parent),
                "resource #{m}"
            );
            let kids: Vec<Id> = self.lib.children(l).unwrap().map(|c| self.map(c)).collect::<R<_>>()?;
            check_eq!(kids, self.model.children(m), "children of #{m}");
        }
        Ok(())
    }

    /// resource-tree.md §2.7 on the library's tree.
    fn check_invariants(&self) -> R<()> {
        // The index behind the queries (child records, subtree flag bits).
        if let Err(e) = self.lib.check_index() {
            prop_assert!(false, "index: {}", e);
        }
        for root in [self.lib.iomem_root(), self.lib.ioport_root()] {
            let mut stack = vec![root];
            while let Some(p) = stack.pop() {
                let pv = self.lib.get(p).unwrap();
                let kids: Vec<ResourceId> = self.lib.children(p).unwrap().collect();
                for (i, &c) in kids.iter().enumerate() {
                    let cv = self.lib.get(c).unwrap();
                    prop_assert_eq!(cv.parent, Some(p), "parent link of {:?}", c);
                    // I2: containment.
                    prop_assert!(
                        cv.range.start >= pv.range.start && cv.range.end <= pv.range.end,
                        "I2: {:?} {:?} not inside its parent {:?}",
                        c,
                        cv.range,
                        pv.range
                    );
                    // I3: only adjust_resource leaves a resource inverted.
                    if cv.range.end < cv.range.start {
                        prop_assert!(
                            self.inverted_ok.contains(&self.map(c)?),
                            "I3: {:?} {:?} is inverted but no adjust made it so",
                            c,
                            cv.range
                        );
                    }
                    // I1: sorted, disjoint siblings.
                    if let Some(&n) = kids.get(i + 1) {
                        let nv = self.lib.get(n).unwrap();
                        prop_assert!(
                            cv.range.end < nv.range.start && cv.range.start <= nv.range.start,
                            "I1: siblings {:?} {:?} and {:?} {:?} overlap or are out of order",
                            c,
                            cv.range,
                            n,
                            nv.range
                        );
                        if cv.range.end >= cv.range.start && nv.range.end >= nv.range.start {
                            prop_assert!(cv.range.start < nv.range.start);
                        }
                    }
                    stack.push(c);
                }
            }
        }
        Ok(())
    }

    /// A handful of addresses derived from the tree (every boundary, and
    /// the neighbours of a few), rotated by `step`.
    fn points(&self, step: usize) -> Vec<u64> {
        let mut all: Vec<u64> = Vec::new();
        for (id, _) in self.model.preorder(model::IOMEM) {
            let r = &self.model.res[id];
            all.extend([r.start, r.end, r.end.wrapping_add(1), r.start.wrapping_sub(1)]);
        }
        all.sort_unstable();
        all.dedup();
        let mut out: Vec<u64> =
            (0..4).filter_map(|k| all.get((step * 7 + k * 5) % all.len().max(1)).copied()).collect();
        out.extend([0, u64::MAX]);
        out
    }

    fn queries_at(&mut self, pts: &[u64], extra_parent: Option<H>) -> R<()> {
        let shift = self.page_shift;
        let (lio, mio) = self.handles[model::IOMEM];
        let (lp, mp) = match extra_parent {
            Some(h) => self.h(h),
            None => self.handles[self.handles.len() - 1],
        };
        for &a in pts {
            // Containment, lookup, page_is_ram, exclusivity.
            let l = self.lib.containing_chain(lio, a).unwrap();
            let l: Vec<Id> = l.into_iter().map(|i| self.map(i)).collect::<R<_>>()?;
            check_eq!(l, self.model.containing_chain(mio, a).unwrap(), "containing_chain({a:#x})");
            let deepest = self.map_opt(self.lib.deepest_containing(lio, a).unwrap())?;
            check_eq!(deepest, l.last().copied(), "deepest_containing({a:#x})");
            let l = self.lib.lookup_resource(lp, a);
            check_eq!(self.res(l, |w, v| w.map_opt(v))?, self.model.lookup_resource(mp, a), "lookup_resource({a:#x})");
            check_eq!(
                self.lib.page_is_ram(a >> shift),
                self.model.page_is_ram(a >> shift),
                "page_is_ram({:#x})",
                a >> shift
            );
            for strict in [false, true] {
                for io_strict in [false, true] {
                    let params = ExclusiveParams { strict, io_strict };
                    let l = self.lib.exclusive_hit(a, params).map(|h| (h.resource, h.reason));
                    let l = match l {
                        Some((r, why)) => Some((self.map(r)?, why_of(why))),
                        None => None,
                    };
                    check_eq!(
                        l,
                        self.model.iomem_is_exclusive(a, strict, io_strict),
                        "iomem_is_exclusive({a:#x}, strict {strict}, io_strict {io_strict})"
                    );
                }
            }
        }
        for (i, &a) in pts.iter().enumerate() {
            let b = pts[(i + 1) % pts.len()];
            self.range_queries(a, b, (lp, mp))?;
        }
        Ok(())
    }

    fn range_queries(&mut self, a: u64, b: u64, (lp, mp): (ResourceId, Id)) -> R<()> {
        let shift = self.page_shift;
        let size = b.wrapping_sub(a).wrapping_add(1);
        for (flags, desc) in [
            (Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE),
            (Flags::MEM, Desc::NONE),
            (Flags::empty(), Desc::RESERVED),
            (Flags::SYSTEM_RAM, Desc::NONE),
        ] {
            let l = self.lib.find_next_iomem_res(a, b, flags, desc);
            let l = self.res(l, |w, f| w.found(&f))?;
            check_eq!(
                l,
                self.model.find_next_iomem_res(a, b, flags, desc),
                "find_next_iomem_res({a:#x}, {b:#x}, {flags:?}, {desc:?})"
            );
            for stop in [None, Some(2)] {
                let mut seen = Vec::new();
                let w = self.lib.walk_iomem_res_desc(desc, flags, a, b, |f| collect(&mut seen, f, stop));
                let l = (seen.iter().map(|f| self.found(f)).collect::<R<Vec<_>>>()?, walk_end(&w));
                check_eq!(
                    l,
                    self.model.walk_iomem_res_desc(desc, flags, a, b, stop),
                    "walk_iomem_res_desc({a:#x}, {b:#x}, {flags:?}, {desc:?}, stop {stop:?})"
                );
            }
            for rule in [RegionIntersectsRule::Descendants, RegionIntersectsRule::TopLevelOnly] {
                for (pl, pm) in [(self.handles[0].0, model::IOMEM), (lp, mp)] {
                    let l = self.lib.region_intersects_under(pl, a, size, flags, desc, rule);
                    let l = self.res(l, |_, v| Ok(ri_of(v)))?;
                    let m = self.model.region_intersects(pm, a, size, flags, desc, rule);
                    check_eq!(l, m, "region_intersects(#{pm}, {a:#x}, {size:#x}, {flags:?}, {desc:?}, {rule:?})");
                }
            }
        }
        let l = self.lib.region_intersects(a, size, Flags::SYSTEM_RAM, Desc::NONE);
        let m = self.model.region_intersects(
            model::IOMEM,
            a,
            size,
            Flags::SYSTEM_RAM,
            Desc::NONE,
            self.model.cfg.region_intersects,
        );
        check_eq!(Ok(ri_of(l)), m, "region_intersects({a:#x}, {size:#x}) with the profile's rule");
        for stop in [None, Some(1)] {
            let mut seen = Vec::new();
            let w = self.lib.walk_system_ram_res(a, b, |f| collect(&mut seen, f, stop));
            let l = (seen.iter().map(|f| self.found(f)).collect::<R<Vec<_>>>()?, walk_end(&w));
            check_eq!(l, self.model.walk_system_ram_res(a, b, stop), "walk_system_ram_res({a:#x}, {b:#x}, {stop:?})");
            let mut seen = Vec::new();
            let w = self.lib.walk_mem_res(a, b, |f| collect(&mut seen, f, stop));
            let l = (seen.iter().map(|f| self.found(f)).collect::<R<Vec<_>>>()?, walk_end(&w));
            check_eq!(l, self.model.walk_mem_res(a, b, stop), "walk_mem_res({a:#x}, {b:#x}, {stop:?})");
            let mut seen = Vec::new();
            let w = self.lib.walk_system_ram_res_rev(a, b, |f| collect(&mut seen, f, stop));
            let l = self.res(w, |w, v| Ok((seen.iter().map(|f| w.found(f)).collect::<R<Vec<_>>>()?, walk_end(&v))))?;
            check_eq!(
                l,
                self.model.walk_system_ram_res_rev(a, b, stop),
                "walk_system_ram_res_rev({a:#x}, {b:#x}, {stop:?})"
            );
            let (pfn, nr) = (a >> shift, (b >> shift).wrapping_sub(a >> shift).wrapping_add(1));
            for nr in [nr, 0, 1] {
                let mut calls = Vec::new();
                let w = self.lib.walk_system_ram_range(pfn, nr, |p, n| {
                    calls.push((p, n));
                    if Some(calls.len()) == stop { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
                });
                let l = (calls, walk_end(&w));
                check_eq!(
                    l,
                    self.model.walk_system_ram_range(pfn, nr, stop),
                    "walk_system_ram_range({pfn:#x}, {nr:#x}, {stop:?})"
                );
            }
        }
        let l = self.map_opt(self.lib.iomem_map_sanity_check(a, size))?;
        check_eq!(l, self.model.iomem_map_sanity_check(a, size), "iomem_map_sanity_check({a:#x}, {size:#x})");
        let l: Result<Vec<Id>, MErr> = match self.lib.children_overlapping(lp, Range::new(a, b)) {
            Ok(it) => Ok(it.map(|i| self.map(i)).collect::<R<_>>()?),
            Err(e) => Err(self.map_err(&e)?),
        };
        check_eq!(l, self.model.children_overlapping(mp, a, b), "children_overlapping(#{mp}, {a:#x}, {b:#x})");
        // Exclusivity of arbitrary ranges under every rule.
        let saved = *self.lib.profile();
        for rule in [ExclusiveRule::SystemRamExclusive, ExclusiveRule::StrictBusy, ExclusiveRule::BusyAndExclusive] {
            self.lib.set_profile(KernelProfile { exclusive: rule, ..saved });
            for strict in [false, true] {
                for io_strict in [false, true] {
                    for root in [(self.handles[0].0, model::IOMEM), (lp, mp)] {
                        let params = ExclusiveParams { strict, io_strict };
                        let l = self.lib.resource_is_exclusive(root.0, a, size, params);
                        let l = self.res(l, |w, h| match h {
                            Some(h) => Ok(Some((w.map(h.resource)?, why_of(h.reason)))),
                            None => Ok(None),
                        })?;
                        let m = self.model.resource_is_exclusive(root.1, a, size, strict, io_strict, rule);
                        check_eq!(
                            l,
                            m,
                            "resource_is_exclusive(#{}, {a:#x}, {size:#x}, strict {strict}, io_strict {io_strict}, {rule:?})",
                            root.1
                        );
                    }
                }
            }
        }
        self.lib.set_profile(saved);
        // Gap search without placing anything.
        for (sz, align, alignf) in [(0x100u64, 0x100u64, 0u8), (size, 1, 1), (0x300, 0x400, 2), (0, 1, 0)] {
            let f = alignf_of(alignf);
            let mut lf = |q: &iomem::ops::AlignRequest| f(q.avail.start, q.avail.end, q.size, q.align);
            let mut lc = Constraint::new(a, u64::MAX, align);
            if alignf != 0 {
                lc = lc.with_alignf(&mut lf);
            }
            let l = self.lib.find_resource_space(lp, Flags::MEM, sz, lc);
            let l = self.res(l, |_, r| Ok((r.start, r.end)))?;
            let mc = model::Constraint { min: a, max: u64::MAX, align, alignf: (alignf != 0).then_some(&f as _) };
            check_eq!(
                l,
                self.model.find_resource_space(mp, sz, &mc),
                "find_resource_space(#{mp}, size {sz:#x}, min {a:#x}, align {align:#x}, alignf {alignf})"
            );
        }
        Ok(())
    }
}

fn collect(seen: &mut Vec<Found>, f: &Found, stop: Option<usize>) -> ControlFlow<()> {
    seen.push(*f);
    if Some(seen.len()) == stop { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
}

fn walk_end<B>(w: &Walk<B>) -> WalkEnd {
    match w {
        Walk::NothingFound => WalkEnd::NothingFound,
        Walk::Completed => WalkEnd::Completed,
        Walk::Stopped(_) => WalkEnd::Stopped,
    }
}

fn ri_of(r: RegionIntersects) -> Ri {
    match r {
        RegionIntersects::Intersects => Ri::Intersects,
        RegionIntersects::Disjoint => Ri::Disjoint,
        RegionIntersects::Mixed => Ri::Mixed,
    }
}

fn why_of(w: ExclusiveReason) -> Why {
    match w {
        ExclusiveReason::SystemRamExclusive => Why::SystemRamExclusive,
        ExclusiveReason::BusyIoStrict => Why::BusyIoStrict,
        ExclusiveReason::BusyExclusive => Why::BusyExclusive,
    }
}

/// The alignment callbacks the cases use: 1 = a bit above the aligned
/// start, 2 = the top of the window, 3 = below the window (always refused).
fn alignf_of(k: u8) -> impl Fn(u64, u64, u64, u64) -> u64 {
    move |start: u64, end: u64, size: u64, _align: u64| match k {
        1 => start.wrapping_add(0x80),
        2 => end.wrapping_sub(size).wrapping_add(1),
        _ => start.wrapping_sub(1),
    }
}

fn run_case(c: &Case) -> R<()> {
    let mut w = World::new(c);
    for (i, op) in c.ops.iter().enumerate() {
        w.step(op).map_err(|e| TestCaseError::fail(format!("step {i} ({op:?}): {e}")))?;
        let check = (|| {
            w.compare_structure()?;
            w.check_invariants()?;
            let pts = w.points(i);
            w.queries_at(&pts, None)
        })();
        check.map_err(|e| TestCaseError::fail(format!("after step {i} ({op:?}): {e}")))?;
    }
    Ok(())
}

fn run(cases: u32, max_ops: usize, random_seed: bool) {
    // A fixed seed keeps `cargo test` deterministic; IOMEM_MODEL_SEED picks
    // another one (the long run uses a random one unless it is set).
    let seed = match std::env::var("IOMEM_MODEL_SEED").ok().and_then(|v| v.parse().ok()) {
        Some(s) => RngSeed::Fixed(s),
        None if random_seed => RngSeed::Random,
        None => RngSeed::Fixed(0x10_3e_4d),
    };
    let mut runner =
        TestRunner::new(PtConfig { cases, failure_persistence: None, rng_seed: seed, ..PtConfig::default() });
    let steps = std::cell::Cell::new(0usize);
    let result = runner.run(&case(max_ops), |c| {
        steps.set(steps.get() + c.ops.len());
        run_case(&c)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("{cases} cases, {} operations, each followed by the full comparison", steps.get());
    assert!(steps.get() >= cases as usize, "the cases did not run");
}

/// The quick variant, part of `cargo test`.
#[test]
fn library_matches_the_reference_model() {
    run(192, 40, false);
}

/// The long variant: many more and longer sequences (see the README).
#[test]
#[ignore = "long run: cargo test -p iomem --release --test model_equivalence -- --ignored"]
fn library_matches_the_reference_model_long() {
    let cases = std::env::var("IOMEM_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    run(cases, 80, true);
}

// ----- the model against the spec's own worked examples -----------------

/// The model is only useful if it is right: a few of resource-tree.md §10's
/// worked examples, asserted on the model alone.
#[test]
fn model_reproduces_worked_examples() {
    let cfg = model::Config::x86_mainline();
    // T0 (§10.1).
    let mut m = Model::new(cfg);
    let mem = Flags::MEM;
    let a = m.create(0x1000, 0x1fff, None, mem, Desc::NONE);
    let b = m.create(0x3000, 0x3fff, None, mem, Desc::NONE);
    let b1 = m.create(0x3000, 0x30ff, None, mem | Flags::BUSY, Desc::NONE);
    let c = m.create(0x5000, 0x5fff, None, mem | Flags::BUSY, Desc::NONE);
    for (p, r) in [(model::IOMEM, a), (model::IOMEM, b), (b, b1), (model::IOMEM, c)] {
        m.request_resource(p, r).unwrap();
    }
    let t0 = m.clone();
    // E8: lowest overlapping child.
    let n = m.create(0x4000, 0x6fff, None, mem, Desc::NONE);
    assert_eq!(m.request_resource(model::IOMEM, n), Err(MErr::Conflict(c)));
    // I7: insert reports C, which sticks out.
    let x = m.create(0x3000, 0x5800, None, mem, Desc::NONE);
    assert_eq!(m.insert_resource(model::IOMEM, x), Err(MErr::Conflict(c)));
    // I6: adopts A, B, C.
    let x = m.create(0xfff, 0x6000, None, mem, Desc::NONE);
    m.insert_resource(model::IOMEM, x).unwrap();
    assert_eq!(m.children(x), vec![a, b, c]);
    assert_eq!(m.children(model::IOMEM), vec![x]);
    m.remove_resource(x).unwrap();
    assert_eq!(m.children(model::IOMEM), vec![a, b, c]);
    // J5: adjust to size 0 inverts.
    assert_eq!(m.adjust_resource(a, 0x1000, 0), Ok(()));
    assert_eq!((m.res[a].start, m.res[a].end), (0x1000, 0xfff));
    // K2 and R3 (§10.4).
    let mut m = t0.clone();
    let any = model::Constraint { min: 0, max: u64::MAX, align: 0x1000, alignf: None };
    assert_eq!(m.find_resource_space(model::IOMEM, 0x2000, &any), Ok((0x6000, 0x7fff)));
    m.allocate_resource(model::IOMEM, a, 0x800, &any).unwrap();
    assert_eq!((m.res[a].start, m.res[a].end), (0, 0x7ff));
    let mut m = t0;
    m.allocate_resource(model::IOMEM, a, 0x3000, &any).unwrap();
    assert_eq!((m.res[a].start, m.res[a].end), (0, 0x2fff));
    // T4 (§10.7): walk_system_ram_range(0, 5) -> (0,1), (4,1).
    let mut m = Model::new(cfg);
    let ram = Flags::SYSTEM_RAM | Flags::BUSY;
    for (s, e, f, parent) in [
        (0u64, 0xfff, ram, None),
        (0x1000, 0x1fff, mem, None),
        (0x3000, 0x3fff, mem, None),
        (0x3800, 0x3bff, ram, Some(2usize)),
        (0x4000, 0x4fff, ram, None),
    ] {
        let r = m.create(s, e, None, f, Desc::NONE);
        let p = parent.map_or(model::IOMEM, |k| k + 2);
        m.request_resource(p, r).unwrap();
    }
    assert_eq!(m.walk_system_ram_range(0, 5, None), (vec![(0, 1), (4, 1)], WalkEnd::Completed));
    assert!(!m.page_is_ram(3) && m.page_is_ram(4) && m.page_is_ram(0));
    assert_eq!(m.find_next_iomem_res(5, 5, Flags::empty(), Desc::NONE), Err(MErr::Invalid));
    let (seen, end) = m.walk_system_ram_res(0x800, 0x47ff, None);
    let ranges: Vec<(u64, u64)> = seen.iter().map(|f| (f.start, f.end)).collect();
    assert_eq!(ranges, vec![(0x800, 0xfff), (0x3800, 0x3bff), (0x4000, 0x47ff)]);
    assert_eq!(end, WalkEnd::Completed);
    // A page-less first match ends walk_system_ram_range (interpretation 1).
    assert_eq!(m.walk_system_ram_range(3, 2, None), (vec![], WalkEnd::NothingFound));
    // T2 (§10.7): region_intersects, current and legacy.
    let mut m = Model::new(cfg);
    let ram0 = m.create(0, 0xfff, None, ram, Desc::NONE);
    let w = m.create(0x2000, 0x2fff, None, mem, Desc::NONE);
    let ramw = m.create(0x2000, 0x27ff, None, ram, Desc::NONE);
    let x = m.create(0x4000, 0x4fff, None, mem, Desc::NONE);
    for (p, r) in [(model::IOMEM, ram0), (model::IOMEM, w), (w, ramw), (model::IOMEM, x)] {
        m.request_resource(p, r).unwrap();
    }
    let ri = |m: &Model, s: u64, e: u64, rule| {
        m.region_intersects(model::IOMEM, s, e - s + 1, Flags::SYSTEM_RAM, Desc::NONE, rule).unwrap()
    };
    use RegionIntersectsRule::{Descendants as Now, TopLevelOnly as Old};
    assert_eq!(ri(&m, 0x800, 0x17ff, Now), Ri::Intersects);
    assert_eq!(ri(&m, 0x2000, 0x27ff, Now), Ri::Intersects);
    assert_eq!(ri(&m, 0x2000, 0x27ff, Old), Ri::Disjoint);
    assert_eq!(ri(&m, 0x2000, 0x2fff, Now), Ri::Mixed);
    assert_eq!(ri(&m, 0, 0x4fff, Old), Ri::Mixed);
    assert_eq!(ri(&m, 0x4000, 0x4fff, Now), Ri::Disjoint);
}
