//! Every worked example of resource-tree.md §10, as written there.

use std::ops::ControlFlow;

use iomem::{
    Adjustment, Constraint, Desc, Errno, Error, Flags, JournalEntry, Range, RegionIntersects, RegionIntersectsRule,
    ResourceId, ResourceSpec, ResourceTree, Walk,
};

const MEM: Flags = Flags::MEM;
const MEM_BUSY: Flags = Flags::MEM.union(Flags::BUSY);
const RAM_BUSY: Flags = Flags::SYSTEM_RAM.union(Flags::BUSY);

fn add(t: &mut ResourceTree, parent: ResourceId, start: u64, end: u64, name: &str, flags: Flags) -> ResourceId {
    let name = t.name_intern(name);
    let id = t.create(ResourceSpec::new(start, end, name, flags)).unwrap();
    t.request_resource(parent, id).unwrap();
    id
}

fn detached(t: &mut ResourceTree, start: u64, end: u64, name: &str, flags: Flags) -> ResourceId {
    let name = t.name_intern(name);
    t.create(ResourceSpec::new(start, end, name, flags)).unwrap()
}

struct T0 {
    t: ResourceTree,
    a: ResourceId,
    b: ResourceId,
    b1: ResourceId,
    c: ResourceId,
}

fn t0() -> T0 {
    let mut t = ResourceTree::default();
    t.journal_mut().enable_all();
    let root = t.iomem_root();
    let a = add(&mut t, root, 0x1000, 0x1fff, "A", MEM);
    let b = add(&mut t, root, 0x3000, 0x3fff, "B", MEM);
    let b1 = add(&mut t, b, 0x3000, 0x30ff, "B1", MEM_BUSY);
    let c = add(&mut t, root, 0x5000, 0x5fff, "C", MEM_BUSY);
    T0 { t, a, b, b1, c }
}

const T0_TEXT: &str = "\
00001000-00001fff : A
00003000-00003fff : B
  00003000-000030ff : B1
00005000-00005fff : C
";

fn conflict_of(e: Error) -> ResourceId {
    match e {
        Error::Conflict { conflict, .. } => conflict,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

// ----- §10.1 request_resource ------------------------------------------

#[test]
fn e1_request_between_a_and_b() {
    let mut x = t0();
    let root = x.t.iomem_root();
    let n = detached(&mut x.t, 0x2000, 0x2fff, "N", MEM);
    x.t.request_resource(root, n).unwrap();
    assert_eq!(x.t.next_sibling(x.a).unwrap(), Some(n));
    assert_eq!(x.t.next_sibling(n).unwrap(), Some(x.b));
}

#[test]
fn e2_partial_overlap_conflicts_with_a() {
    let mut x = t0();
    let root = x.t.iomem_root();
    let n = detached(&mut x.t, 0x1800, 0x27ff, "N", MEM);
    let e = x.t.request_resource(root, n).unwrap_err();
    assert_eq!(e.errno(), Errno::EBUSY);
    assert_eq!(conflict_of(e), x.a);
    assert_eq!(x.t.proc_iomem(), T0_TEXT);
}

#[test]
fn e3_no_descent() {
    let mut x = t0();
    let root = x.t.iomem_root();
    let n = detached(&mut x.t, 0x3100, 0x31ff, "N", MEM);
    assert_eq!(conflict_of(x.t.request_resource(root, n).unwrap_err()), x.b);
}

#[test]
fn e4_new_first_child() {
    let mut x = t0();
    let root = x.t.iomem_root();
    let n = detached(&mut x.t, 0, 0xfff, "N", MEM);
    x.t.request_resource(root, n).unwrap();
    assert_eq!(x.t.children(root).unwrap().next(), Some(n));
}

#[test]
fn e5_inverted_conflicts_with_root() {
    let mut x = t0();
    let root = x.t.iomem_root();
    let n = detached(&mut x.t, 0x2000, 0x1fff, "N", MEM);
    assert_eq!(conflict_of(x.t.request_resource(root, n).unwrap_err()), root);
}

#[test]
fn e6_request_inside_b() {
    let mut x = t0();
    let n = detached(&mut x.t, 0x3100, 0x31ff, "N", MEM);
    x.t.request_resource(x.b, n).unwrap();
    assert_eq!(x.t.children(x.b).unwrap().collect::<Vec<_>>(), vec![x.b1, n]);
}

#[test]
fn e7_outside_parent_conflicts_with_parent() {
    let mut x = t0();
    let n = detached(&mut x.t, 0x2f00, 0x30ff, "N", MEM);
    assert_eq!(conflict_of(x.t.request_resource(x.b, n).unwrap_err()), x.b);
}

#[test]
fn e8_lowest_overlapping_child() {
    let mut x = t0();
    let root = x.t.iomem_root();
    let n = detached(&mut x.t, 0x4000, 0x6fff, "N", MEM);
    assert_eq!(conflict_of(x.t.request_resource(root, n).unwrap_err()), x.c);
}

// ----- §10.2 insert_resource -------------------------------------------

fn insert(x: &mut T0, start: u64, end: u64) -> (ResourceId, Result<(), Error>) {
    let root = x.t.iomem_root();
    let n = detached(&mut x.t, start, end, "X", MEM);
    let r = x.t.insert_resource(root, n);
    (n, r)
}

#[test]
fn i1_adopts_a() {
    let mut x = t0();
    insert(&mut x, 0, 0x1fff).1.unwrap();
    assert_eq!(
        x.t.proc_iomem(),
        "00000000-00001fff : X\n  00001000-00001fff : A\n00003000-00003fff : B\n  00003000-000030ff : B1\n00005000-00005fff : C\n"
    );
}

#[test]
fn i2_identical_range_pushes_a_down() {
    let mut x = t0();
    let (n, r) = insert(&mut x, 0x1000, 0x1fff);
    r.unwrap();
    assert_eq!(x.t.parent(x.a).unwrap(), Some(n));
    assert!(x.t.proc_iomem().starts_with("00001000-00001fff : X\n  00001000-00001fff : A\n"));
}

#[test]
fn i3_partial_overlap() {
    let mut x = t0();
    let (_, r) = insert(&mut x, 0x1800, 0x27ff);
    assert_eq!(conflict_of(r.unwrap_err()), x.a);
    assert_eq!(x.t.proc_iomem(), T0_TEXT);
}

#[test]
fn i4_descends_into_b() {
    let mut x = t0();
    let (n, r) = insert(&mut x, 0x3100, 0x31ff);
    r.unwrap();
    assert_eq!(x.t.children(x.b).unwrap().collect::<Vec<_>>(), vec![x.b1, n]);
}

#[test]
fn i5_wraps_b1() {
    let mut x = t0();
    let (n, r) = insert(&mut x, 0x3000, 0x30ff);
    r.unwrap();
    assert_eq!(x.t.parent(n).unwrap(), Some(x.b));
    assert_eq!(x.t.parent(x.b1).unwrap(), Some(n));
}

#[test]
fn i6_adopts_everything_in_range() {
    let mut x = t0();
    let (n, r) = insert(&mut x, 0x0fff, 0x6000);
    r.unwrap();
    assert_eq!(x.t.children(n).unwrap().collect::<Vec<_>>(), vec![x.a, x.b, x.c]);
    assert_eq!(x.t.parent(x.b1).unwrap(), Some(x.b));
    // remove_resource(X) after I6 puts A, B(B1), C back in order.
    x.t.remove_resource(n).unwrap();
    assert_eq!(x.t.proc_iomem(), T0_TEXT);
}

#[test]
fn i7_reports_c_which_sticks_out() {
    let mut x = t0();
    let (_, r) = insert(&mut x, 0x3000, 0x5800);
    assert_eq!(conflict_of(r.unwrap_err()), x.c);
    assert_eq!(x.t.proc_iomem(), T0_TEXT);
}

#[test]
fn i8_descends_into_busy_c() {
    let mut x = t0();
    let (n, r) = insert(&mut x, 0x5100, 0x51ff);
    r.unwrap();
    assert_eq!(x.t.parent(n).unwrap(), Some(x.c));
}

#[test]
fn i9_whole_space_adopts_all_top_level() {
    let mut x = t0();
    let (n, r) = insert(&mut x, 0, u64::MAX);
    r.unwrap();
    assert_eq!(x.t.children(n).unwrap().collect::<Vec<_>>(), vec![x.a, x.b, x.c]);
}

#[test]
fn expand_to_fit_grows_over_a() {
    let mut x = t0();
    let root = x.t.iomem_root();
    let n = detached(&mut x.t, 0x1800, 0x27ff, "X", MEM);
    assert!(x.t.insert_resource_expand_to_fit(root, n).unwrap());
    assert_eq!(x.t.get(n).unwrap().range, Range::new(0x1000, 0x27ff));
    assert_eq!(x.t.parent(x.a).unwrap(), Some(n));
    assert!(x.t.journal().messages().any(|m| m == "Expanded resource X due to conflict with A"));
}

#[test]
fn expand_to_fit_gives_up_silently_at_the_root() {
    let mut t = ResourceTree::default();
    let root = t.ioport_root();
    let n = detached(&mut t, 0, 0x1ffff, "X", Flags::IO);
    assert!(!t.insert_resource_expand_to_fit(root, n).unwrap());
    assert_eq!(t.parent(n).unwrap(), None);
    assert_eq!(t.get(n).unwrap().range, Range::new(0, 0x1ffff));
}

#[test]
fn release_resource_takes_the_subtree() {
    let mut x = t0();
    x.t.release_resource(x.b).unwrap();
    assert_eq!(x.t.proc_iomem(), "00001000-00001fff : A\n00005000-00005fff : C\n");
    assert_eq!(x.t.parent(x.b1).unwrap(), Some(x.b));
    assert_eq!(x.t.parent(x.b).unwrap(), None);
    // A detached resource cannot be released again (kernel: NULL deref).
    assert_eq!(x.t.release_resource(x.b).unwrap_err().errno(), Errno::EINVAL);
}

// ----- §10.3 adjust_resource -------------------------------------------

#[test]
fn adjust_examples() {
    let mut x = t0();
    x.t.adjust_resource(x.a, 0x1000, 0x2000).unwrap(); // J1
    assert_eq!(x.t.get(x.a).unwrap().range, Range::new(0x1000, 0x2fff));
    let mut x = t0();
    assert_eq!(x.t.adjust_resource(x.a, 0x1000, 0x2001).unwrap_err().errno(), Errno::EBUSY); // J2
    assert_eq!(x.t.adjust_resource(x.b, 0x3080, 0x100).unwrap_err().errno(), Errno::EBUSY); // J3
    x.t.adjust_resource(x.b, 0x2000, 0x2000).unwrap(); // J4
    assert_eq!(x.t.get(x.b).unwrap().range, Range::new(0x2000, 0x3fff));
    x.t.adjust_resource(x.a, 0x1000, 0).unwrap(); // J5: degenerate, inverted
    assert_eq!(x.t.get(x.a).unwrap().range, Range::new(0x1000, 0xfff));
}

// ----- §10.4 allocate_resource -----------------------------------------

fn alloc(x: &mut T0, size: u64, c: Constraint<'_>) -> Result<Range, Error> {
    let root = x.t.iomem_root();
    let n = detached(&mut x.t, 0, 0, "N", MEM);
    x.t.allocate_resource(root, n, size, c)?;
    Ok(x.t.get(n).unwrap().range)
}

#[test]
fn allocate_examples() {
    let mut x = t0();
    assert_eq!(alloc(&mut x, 0x1000, Constraint::anywhere(0x1000)).unwrap(), Range::new(0, 0xfff)); // K1
    let mut x = t0();
    assert_eq!(alloc(&mut x, 0x2000, Constraint::anywhere(0x1000)).unwrap(), Range::new(0x6000, 0x7fff)); // K2
    let mut x = t0();
    let k3 = Constraint::new(0x1800, u64::MAX, 0x1000);
    assert_eq!(alloc(&mut x, 0x800, k3).unwrap(), Range::new(0x2000, 0x27ff)); // K3
    let mut x = t0();
    let mut alignf = |r: &iomem::ops::AlignRequest| r.avail.start + 0x80;
    let k4 = Constraint::new(0, 0x2fff, 0x100).with_alignf(&mut alignf);
    assert_eq!(alloc(&mut x, 0x100, k4).unwrap(), Range::new(0x80, 0x17f)); // K4
    let mut x = t0();
    assert_eq!(alloc(&mut x, 0, Constraint::anywhere(1)).unwrap_err().errno(), Errno::EBUSY); // K5
    // K6: a root whose first child starts at the root's start.
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    add(&mut t, root, 0, 0xfff, "D", MEM);
    let n = detached(&mut t, 0, 0, "N", MEM);
    let e = t.allocate_resource(root, n, 0x1000, Constraint::new(0, 0xfff, 0x1000)).unwrap_err();
    assert_eq!(e.errno(), Errno::EBUSY);
}

#[test]
fn reallocate_examples() {
    let realloc = |size: u64, with_child: bool| {
        let mut x = t0();
        if with_child {
            add(&mut x.t, x.a, 0x1000, 0x10ff, "A1", MEM);
        }
        let root = x.t.iomem_root();
        let r = x.t.allocate_resource(root, x.a, size, Constraint::anywhere(0x1000));
        (r, x.t.get(x.a).unwrap().range)
    };
    assert_eq!(realloc(0x2000, false), (Ok(()), Range::new(0, 0x1fff))); // R1
    assert_eq!(realloc(0x3000, false), (Ok(()), Range::new(0, 0x2fff))); // R2
    assert_eq!(realloc(0x800, false), (Ok(()), Range::new(0, 0x7ff))); // R3: moves
    let (r4, range) = realloc(0x800, true);
    assert_eq!(r4.unwrap_err().errno(), Errno::EBUSY); // R4
    assert_eq!(range, Range::new(0x1000, 0x1fff));
}

// ----- §10.5 __request_region / __release_region -----------------------

struct T1 {
    t: ResourceTree,
    q: ResourceId,
    p: ResourceId,
}

fn t1() -> T1 {
    let mut t = ResourceTree::default();
    t.journal_mut().enable_all();
    let root = t.iomem_root();
    add(&mut t, root, 0x0010_0000, 0x7fff_ffff, "System RAM", RAM_BUSY);
    let p = add(&mut t, root, 0xc000_0000, 0xfebf_ffff, "PCI Bus 0000:00", MEM);
    let q = add(&mut t, p, 0xe000_0000, 0xefff_ffff, "0000:00:02.0", MEM);
    T1 { t, q, p }
}

#[test]
fn request_region_examples() {
    let mut x = t1();
    let drv = x.t.request_mem_region(0xe000_0000, 0x100_0000, "drv").unwrap(); // RR1
    let v = x.t.get(drv).unwrap();
    assert_eq!(v.parent, Some(x.q));
    assert_eq!(v.flags.bits(), 0x8000_0200);
    assert_eq!(v.desc, x.t.get(x.q).unwrap().desc);
    assert!(matches!(
        x.t.journal().entries().last(),
        Some(JournalEntry::IomemClaim { resource, .. }) if *resource == drv
    ));
    assert!(x.t.request_mem_region(0xe000_0000, 0x100_0000, "drv").is_err()); // RR2
    assert!(x.t.request_mem_region(0x20_0000, 0x1000, "x").is_err()); // RR3
    assert!(x.t.request_mem_region(0xdfff_0000, 0x2_0000, "y").is_err()); // RR4
    let z = x.t.request_mem_region(0xf000_0000, 0x1000, "z").unwrap(); // RR5
    assert_eq!(x.t.parent(z).unwrap(), Some(x.p));
    // RR6: on an empty root, (0, 0) is the whole space.
    let mut e = ResourceTree::default();
    let w = e.request_mem_region(0, 0, "w").unwrap();
    assert_eq!(e.get(w).unwrap().range, Range::FULL);

    // RL2 before RL1: covering but not exact.
    let before = x.t.proc_iomem();
    assert_eq!(x.t.release_mem_region(0xe000_0000, 0x80_0000).unwrap(), None);
    assert_eq!(x.t.proc_iomem(), before);
    assert!(
        x.t.journal()
            .messages()
            .any(|m| { m == "Trying to free nonexistent resource <0x00000000e0000000-0x00000000e07fffff>" })
    );
    assert_eq!(x.t.release_mem_region(0xe000_0000, 0x100_0000).unwrap(), Some(drv)); // RL1
    assert!(!x.t.contains(drv));
    // RL3: P exactly, non-busy: descends, finds nothing.
    let before = x.t.proc_iomem();
    assert_eq!(x.t.release_mem_region(0xc000_0000, 0x3ec0_0000).unwrap(), None);
    assert_eq!(x.t.proc_iomem(), before);
}

// ----- §10.6 release_mem_region_adjustable / merge ---------------------

fn ram_4g() -> (ResourceTree, ResourceId) {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let r = add(&mut t, root, 0x1_0000_0000, 0x1_3fff_ffff, "System RAM", RAM_BUSY);
    (t, r)
}

#[test]
fn release_adjustable_examples() {
    let (mut t, r) = ram_4g();
    let out = t.release_mem_region_adjustable(0x1_1000_0000, 0x1000_0000);
    assert!(matches!(out, Adjustment::Split(a, _) if a == r));
    assert_eq!(t.proc_iomem(), "100000000-10fffffff : System RAM\n120000000-13fffffff : System RAM\n");

    let (mut t, _) = ram_4g();
    t.release_mem_region_adjustable(0x1_0000_0000, 0x1000_0000);
    assert_eq!(t.proc_iomem(), "110000000-13fffffff : System RAM\n");

    let (mut t, _) = ram_4g();
    t.release_mem_region_adjustable(0x1_3000_0000, 0x1000_0000);
    assert_eq!(t.proc_iomem(), "100000000-12fffffff : System RAM\n");

    let (mut t, r) = ram_4g();
    assert_eq!(t.release_mem_region_adjustable(0x1_0000_0000, 0x4000_0000), Adjustment::Removed(r));
    assert_eq!(t.proc_iomem(), "");

    let (mut t, _) = ram_4g();
    assert_eq!(t.release_mem_region_adjustable(0xf000_0000, 0x2000_0000), Adjustment::NotFound);
    assert_eq!(t.proc_iomem(), "100000000-13fffffff : System RAM\n");
}

#[test]
fn merge_examples() {
    let mut t = ResourceTree::default();
    let vmem = t.name_new("System RAM (virtio_mem)");
    let dm = Flags::SYSTEM_RAM | Flags::BUSY | Flags::SYSRAM_DRIVER_MANAGED;
    let a = t.request_mem_region(0x1_4000_0000, 0x800_0000, vmem).unwrap();
    t.set_flags(a, dm).unwrap();
    let a = t.merge_system_ram_resource(a).unwrap();
    let b = t.request_mem_region(0x1_4800_0000, 0x800_0000, vmem).unwrap();
    t.set_flags(b, dm).unwrap();
    let merged = t.merge_system_ram_resource(b).unwrap();
    assert_eq!(merged, a);
    assert!(!t.contains(b));
    assert_eq!(t.proc_iomem(), "140000000-14fffffff : System RAM (virtio_mem)\n");
    assert_eq!(t.get(a).unwrap().flags.bits(), 0x8700_0200);

    // A different name object with equal text does not merge.
    let other = t.name_new("System RAM (virtio_mem)");
    let c = t.request_mem_region(0x1_5000_0000, 0x800_0000, other).unwrap();
    t.set_flags(c, dm).unwrap();
    assert_eq!(t.merge_system_ram_resource(c).unwrap(), c);
    // A gap, a different descriptor, or a child prevent merging too.
    let d = t.request_mem_region(0x1_6000_0000, 0x800_0000, vmem).unwrap();
    t.set_flags(d, dm).unwrap();
    assert_eq!(t.merge_system_ram_resource(d).unwrap(), d);
    let e = t.request_mem_region(0x1_6800_0000, 0x800_0000, vmem).unwrap();
    t.set_flags(e, dm).unwrap();
    t.set_desc(e, Desc::CXL).unwrap();
    assert_eq!(t.merge_system_ram_resource(e).unwrap(), e);
    assert_eq!(t.proc_iomem().lines().count(), 4);
}

// ----- §10.7 queries ---------------------------------------------------

fn t4() -> ResourceTree {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    add(&mut t, root, 0, 0xfff, "SYSRAM 1", RAM_BUSY);
    add(&mut t, root, 0x1000, 0x1fff, "OTHER", MEM);
    let nested = add(&mut t, root, 0x3000, 0x3fff, "NESTED", MEM);
    add(&mut t, nested, 0x3800, 0x3bff, "SYSRAM 2", RAM_BUSY);
    add(&mut t, root, 0x4000, 0x4fff, "SYSRAM 3", RAM_BUSY);
    t
}

#[test]
fn walker_examples() {
    let t = t4();
    let mut seen = Vec::new();
    let r = t.walk_system_ram_res::<()>(0x800, 0x47ff, |m| {
        seen.push(m.range);
        ControlFlow::Continue(())
    });
    assert_eq!(r, Walk::Completed);
    assert_eq!(seen, vec![Range::new(0x800, 0xfff), Range::new(0x3800, 0x3bff), Range::new(0x4000, 0x47ff)]);
    let r = t.walk_system_ram_res::<()>(0x1000, 0x2fff, |_| panic!("no callback expected"));
    assert_eq!(r, Walk::NothingFound);

    let mut pages = Vec::new();
    t.walk_system_ram_range::<()>(0, 5, |pfn, n| {
        pages.push((pfn, n));
        ControlFlow::Continue(())
    });
    assert_eq!(pages, vec![(0, 1), (4, 1)]);
    assert!(!t.page_is_ram(3));
    assert!(t.page_is_ram(4));
    assert!(t.page_is_ram(0));
    let e = t.find_next_iomem_res(5, 5, Flags::empty(), Desc::NONE).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    let e = t.find_next_iomem_res(0x1000, 0x2fff, RAM_BUSY, Desc::NONE).unwrap_err();
    assert_eq!(e.errno(), Errno::ENODEV);
}

#[test]
fn region_intersects_t2() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    add(&mut t, root, 0, 0xfff, "RAM0", RAM_BUSY);
    let w = add(&mut t, root, 0x2000, 0x2fff, "W", MEM);
    add(&mut t, w, 0x2000, 0x27ff, "RAMw", RAM_BUSY);
    add(&mut t, root, 0x4000, 0x4fff, "X", MEM);
    use RegionIntersects::*;
    let rows = [
        (0x0000, 0x0fff, Intersects, Intersects),
        (0x0800, 0x17ff, Intersects, Intersects),
        (0x1000, 0x1fff, Disjoint, Disjoint),
        (0x2000, 0x27ff, Intersects, Disjoint),
        (0x2000, 0x2fff, Mixed, Disjoint),
        (0x0000, 0x4fff, Mixed, Mixed),
        (0x4000, 0x4fff, Disjoint, Disjoint),
    ];
    for (s, e, current, legacy) in rows {
        let size = e - s + 1;
        let got = |rule| t.region_intersects_under(root, s, size, Flags::SYSTEM_RAM, Desc::NONE, rule).unwrap();
        assert_eq!(got(RegionIntersectsRule::Descendants), current, "{s:#x}-{e:#x} current");
        assert_eq!(got(RegionIntersectsRule::TopLevelOnly), legacy, "{s:#x}-{e:#x} legacy");
    }
    assert_eq!(t.region_intersects(0x2000, 0x1000, Flags::SYSTEM_RAM, Desc::NONE), Mixed);
}

#[test]
fn sanity_check_t1() {
    let mut x = t1();
    assert_eq!(x.t.iomem_map_sanity_check(0xdfff_f000, 0x2000), Some(x.q));
    assert_eq!(x.t.iomem_map_sanity_check(0xe000_1000, 0x1000), None);
    x.t.request_mem_region(0xf000_0000, 0x1000, "z").unwrap();
    assert_eq!(x.t.iomem_map_sanity_check(0xf000_0000, 0x1000), None);
}
