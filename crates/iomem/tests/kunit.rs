//! The kernel's own KUnit suite `resource` (kernel/resource_kunit.c), ported
//! from kunit-cases.md: its vectors, its construction steps and its checks,
//! run on a fresh iomem root.

use iomem::{Desc, Flags, Range, RegionIntersects, RegionIntersectsRule, ResourceSpec, ResourceTree};

const R0: Range = Range::new(0x0000, 0xffff);
const R1: Range = Range::new(0x1234, 0x2345);
const R2: Range = Range::new(0x4567, 0x5678);
const R3: Range = Range::new(0x6789, 0x789a);
const R4: Range = Range::new(0x2000, 0x7000);

/// (a, b, result, out.start, out.end); `out` is {0, 0} when false.
type Row = (Range, Range, bool, u64, u64);

fn check(rows: &[Row], f: fn(Range, Range) -> Option<Range>) {
    for &(a, b, ret, s, e) in rows {
        for (x, y) in [(a, b), (b, a)] {
            // The kernel zeroes `out` and expects it untouched on false.
            let mut out = Range::new(0, 0);
            let got = f(x, y);
            if let Some(r) = got {
                out = r;
            }
            assert_eq!(got.is_some(), ret, "{x:?} {y:?}");
            assert_eq!((out.start, out.end), (s, e), "{x:?} {y:?}");
        }
    }
}

#[test]
fn resource_test_union() {
    let rows: [Row; 10] = [
        (R1, R0, true, 0x0000, 0xffff),
        (R2, R0, true, 0x0000, 0xffff),
        (R3, R0, true, 0x0000, 0xffff),
        (R4, R0, true, 0x0000, 0xffff),
        (R2, R1, false, 0, 0),
        (R3, R1, false, 0, 0),
        (R4, R1, true, 0x1234, 0x7000),
        (R2, R3, false, 0, 0),
        (R2, R4, true, 0x2000, 0x7000),
        (R3, R4, true, 0x2000, 0x789a),
    ];
    check(&rows, Range::union);
}

#[test]
fn resource_test_intersection() {
    let rows: [Row; 10] = [
        (R1, R0, true, 0x1234, 0x2345),
        (R2, R0, true, 0x4567, 0x5678),
        (R3, R0, true, 0x6789, 0x789a),
        (R4, R0, true, 0x2000, 0x7000),
        (R2, R1, false, 0, 0),
        (R3, R1, false, 0, 0),
        (R4, R1, true, 0x2000, 0x2345),
        (R2, R3, false, 0, 0),
        (R2, R4, true, 0x4567, 0x5678),
        (R3, R4, true, 0x6789, 0x7000),
    ];
    check(&rows, Range::intersection);
}

const SZ_1M: u64 = 0x10_0000;
const SZ_128K: u64 = 0x2_0000;
const F: Flags = Flags::SYSTEM_RAM.union(Flags::BUSY);

#[test]
fn resource_test_region_intersects() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    // Step 1.
    let p = t.alloc_free_mem_region(root, 7 * SZ_1M, SZ_1M, "test resources").unwrap();
    let b = t.get(p).unwrap().start();
    assert_eq!(b, 0x10_0000);
    // Steps 2–8.
    let mut created = Vec::new();
    let ram0 = t.request_region(p, b, SZ_1M, "Test System RAM 0", F).unwrap();
    assert_eq!(t.get(ram0).unwrap().flags.bits(), 0x8100_0200);
    created.push(ram0);
    let insert = |t: &mut ResourceTree, off: u64, size: u64, name: &str, flags: Flags| {
        let n = t.name_intern(name);
        let id = t
            .create(ResourceSpec {
                range: Range::from_start_size(b + off, size),
                name: Some(n),
                flags,
                desc: Desc::NONE,
            })
            .unwrap();
        t.insert_resource(p, id).unwrap();
        id
    };
    created.push(insert(&mut t, 0x20_0000, SZ_1M, "Test CXL Window 0", Flags::MEM));
    created.push(t.request_region(p, b + 0x30_0000, SZ_1M, "Test System RAM 1", F).unwrap());
    let win1 = insert(&mut t, 0x40_0000, 3 * SZ_1M, "Test CXL Window 1", Flags::MEM);
    created.push(win1);
    let ram2 = t.request_region(p, b + 0x40_0000, SZ_1M, "Test System RAM 2", F).unwrap();
    assert_eq!(t.parent(ram2).unwrap(), Some(win1));
    created.push(ram2);
    let code = insert(&mut t, 0x42_0000, SZ_128K, "Test Code", F);
    assert_eq!(t.parent(code).unwrap(), Some(ram2));
    created.push(code);
    let ram3 = t.request_region(p, b + 0x50_0000, SZ_1M, "Test System RAM 3", F).unwrap();
    assert_eq!(t.parent(ram3).unwrap(), Some(win1));
    created.push(ram3);
    // Step 9.
    t.remove_resource(p).unwrap();
    t.free(p).unwrap();
    assert_eq!(
        t.proc_iomem(),
        "\
00100000-001fffff : Test System RAM 0
00300000-003fffff : Test CXL Window 0
00400000-004fffff : Test System RAM 1
00500000-007fffff : Test CXL Window 1
  00500000-005fffff : Test System RAM 2
    00520000-0053ffff : Test Code
  00600000-006fffff : Test System RAM 3
"
    );

    use RegionIntersects::*;
    let checks = [
        (0x00_0000, 0x1000, Intersects, Intersects),
        (0x0f_f000, 0x2000, Intersects, Intersects),
        (0x10_0000, 0x1000, Disjoint, Disjoint),
        (0x1f_f000, 0x2000, Disjoint, Disjoint),
        (0x2f_f000, 0x2000, Mixed, Mixed),
        (0x3f_f000, 0x2000, Intersects, Mixed),
        (0x4f_f000, 0x2000, Intersects, Disjoint),
        (0x42_0000, 0x1000, Intersects, Disjoint),
        (0x40_0000, 0x10_1000, Intersects, Disjoint),
        (0x50_0000, 0x10_1000, Mixed, Disjoint),
    ];
    for (i, (off, size, current, legacy)) in checks.into_iter().enumerate() {
        let q = |rule| t.region_intersects_under(root, b + off, size, Flags::SYSTEM_RAM, Desc::NONE, rule).unwrap();
        assert_eq!(q(RegionIntersectsRule::Descendants), current, "Q{}", i + 1);
        assert_eq!(q(RegionIntersectsRule::TopLevelOnly), legacy, "Q{} legacy", i + 1);
        assert_eq!(
            t.region_intersects(b + off, size, Flags::SYSTEM_RAM, Desc::NONE),
            current,
            "Q{} (mainline profile)",
            i + 1
        );
    }

    // Clean-up: reverse order of creation; the tree is back to empty.
    for id in created.into_iter().rev() {
        t.remove_resource(id).unwrap();
        t.free(id).unwrap();
    }
    assert_eq!(t.proc_iomem(), "");
    assert!(t.is_empty());
}

/// Appendix 6.1 (kernel-authored, not merged in mainline): counts of
/// `walk_iomem_res_desc` callbacks.
#[test]
fn extra_resource_test_walk_iomem_res_desc() {
    use std::ops::ControlFlow;
    let mut t = ResourceTree::default();
    let iomem = t.iomem_root();
    let name = t.name_intern("Resource Walk Test");
    let root = t.create(ResourceSpec::new(0, 0, name, Flags::empty())).unwrap();
    t.allocate_resource(iomem, root, 0x10_0000, iomem::Constraint::anywhere(0x10_0000)).unwrap();
    let r = t.get(root).unwrap().start();
    assert_eq!(r, 0);
    let mut add = |parent, s: u64, e: u64, n: &str, f: Flags| {
        let n = t.name_intern(n);
        let id = t.create(ResourceSpec::new(r + s, r + e, n, f)).unwrap();
        t.request_resource(parent, id).unwrap();
        id
    };
    add(root, 0x0000, 0x0fff, "SYSRAM 1", Flags::SYSTEM_RAM);
    let res1 = add(root, 0x1000, 0x1fff, "OTHER", Flags::empty());
    let res2 = add(root, 0x3000, 0x3fff, "NESTED", Flags::empty());
    add(res2, 0x3800, 0x3bff, "SYSRAM 2", Flags::SYSTEM_RAM);
    let res4 = add(root, 0x4000, 0x4fff, "SYSRAM 3", Flags::SYSTEM_RAM);
    let count = |t: &ResourceTree, id| {
        let range = t.get(id).unwrap().range;
        let mut n = 0;
        t.walk_iomem_res_desc::<()>(Desc::NONE, Flags::SYSTEM_RAM, range.start, range.end, |_| {
            n += 1;
            ControlFlow::Continue(())
        });
        n
    };
    assert_eq!(count(&t, root), 3);
    assert_eq!(count(&t, res1), 0);
    assert_eq!(count(&t, res2), 1);
    assert_eq!(count(&t, res4), 1);
    t.release_resource(root).unwrap();
    assert_eq!(t.proc_iomem(), "");
}
