//! Regression tests for the bugs the reference-model comparison
//! (`tests/model_equivalence.rs`) found, one per bug.

use std::ops::ControlFlow;

use iomem::{Adjustment, Errno, Error, Flags, KernelProfile, ResourceId, ResourceSpec, ResourceTree, TreeConfig, Walk};

fn add(t: &mut ResourceTree, parent: ResourceId, start: u64, end: u64, flags: Flags) -> ResourceId {
    let name = t.name_new("r");
    let id = t.create(ResourceSpec::new(start, end, name, flags)).unwrap();
    t.request_resource(parent, id).unwrap();
    id
}

/// resource-tree.md §5.5: inserting a resource that is already linked where
/// the descent meets it returns that resource as the conflict (-EBUSY); the
/// port used to refuse with -EINVAL before running the algorithm. Likewise
/// a request whose range conflicts is reported as the conflict even when the
/// resource could not be linked anyway.
#[test]
fn conflicts_win_over_link_refusals() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let a = add(&mut t, root, 0x1000, 0x1fff, Flags::MEM);
    let before = t.proc_iomem();
    let e = t.insert_resource(root, a).unwrap_err();
    assert_eq!(e.errno(), Errno::EBUSY);
    assert!(matches!(e, Error::Conflict { conflict, .. } if conflict == a), "{e:?}");
    let e = t.request_resource(root, a).unwrap_err();
    assert!(matches!(e, Error::Conflict { conflict, .. } if conflict == a), "{e:?}");
    // The iomem root does not fit in the ioport root: PLACE reports the
    // ioport root before anything would be linked.
    let io = t.ioport_root();
    let e = t.request_resource(io, root).unwrap_err();
    assert!(matches!(e, Error::Conflict { conflict, .. } if conflict == io), "{e:?}");
    assert_eq!(t.proc_iomem(), before);

    // Where the kernel would really link the resource, the port refuses:
    // an ioport resource offered to the iomem root at a free spot ...
    let port = add(&mut t, io, 0x100, 0x1ff, Flags::IO);
    assert!(matches!(t.request_resource(root, port), Err(Error::InTree { .. })));
    assert!(matches!(t.insert_resource(root, port), Err(Error::InTree { .. })));
    // ... and a resource linked below its own child.
    let name = t.name_new("p");
    let p = t.create(ResourceSpec::new(0x8000, 0x80ff, name, Flags::MEM)).unwrap();
    let q = t.create(ResourceSpec::new(0x8000, 0x80ff, name, Flags::MEM)).unwrap();
    t.request_resource(p, q).unwrap();
    assert!(matches!(t.request_resource(q, p), Err(Error::Invalid { .. })));
    assert_eq!(t.proc_iomem(), before);
}

/// resource-tree.md §6.2: the kernel stops `walk_system_ram_range` when a
/// match holding no whole page comes before any callback ran (its running
/// result is still -EINVAL); the port used to go on to later matches.
#[test]
fn walk_system_ram_range_stops_at_a_pageless_first_match() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let ram = Flags::SYSTEM_RAM | Flags::BUSY;
    let nested = add(&mut t, root, 0x3000, 0x3fff, Flags::MEM);
    add(&mut t, nested, 0x3800, 0x3bff, ram);
    add(&mut t, root, 0x4000, 0x4fff, ram);
    let mut calls = Vec::new();
    let w = t.walk_system_ram_range(3, 2, |pfn, n| {
        calls.push((pfn, n));
        ControlFlow::<()>::Continue(())
    });
    assert_eq!(w, Walk::NothingFound);
    assert!(calls.is_empty());
    // Once a callback ran, page-less matches are skipped.
    add(&mut t, root, 0x2000, 0x2fff, ram);
    let w = t.walk_system_ram_range(2, 3, |pfn, n| {
        calls.push((pfn, n));
        ControlFlow::<()>::Continue(())
    });
    assert_eq!(w, Walk::Completed);
    assert_eq!(calls, vec![(2, 1), (4, 1)]);
    assert!(t.page_is_ram(4));
}

/// A free-region search whose stride is 0 (align 0) used to test the same
/// candidate forever when a resource covered it.
#[test]
fn request_free_mem_region_with_align_zero_terminates() {
    let cfg = TreeConfig { max_physmem_bits: 16, ..TreeConfig::x86_64() };
    for profile in [KernelProfile::mainline(), KernelProfile::v6_1()] {
        let mut t = ResourceTree::new(cfg.with_profile(profile));
        let root = t.iomem_root();
        add(&mut t, root, 0xff00, 0x1_00ff, Flags::MEM);
        let e = t.request_free_mem_region(root, 0x100, 0, "dev").unwrap_err();
        assert_eq!(e.errno(), Errno::ERANGE);
        // Legacy rule, size 0: the stride (the size) is 0 as well.
        let e = t.request_free_mem_region(root, 0, 0x100, "dev").unwrap_err();
        assert_eq!(e.errno(), Errno::ERANGE);
    }
}

/// `release_mem_region_adjustable` with a size wrapping past 2^64: the
/// kernel's split would leave two overlapping siblings (violating
/// resource-tree.md §2.7 I1); the port refuses that split.
#[test]
fn release_adjustable_refuses_an_overlapping_split() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let ram = add(&mut t, root, 0xab00, 0xc9ff, Flags::SYSTEM_RAM | Flags::BUSY);
    let before = t.proc_iomem();
    assert_eq!(t.release_mem_region_adjustable(0xac00, u64::MAX), Adjustment::Refused(ram));
    assert_eq!(t.proc_iomem(), before);
    // A size of 0 splits without removing anything, as the kernel does.
    assert!(matches!(t.release_mem_region_adjustable(0xac00, 0), Adjustment::Split(r, _) if r == ram));
    assert_eq!(t.proc_iomem(), "0000ab00-0000abff : r\n0000ac00-0000c9ff : r\n");
}

/// A detached resource that still has children (a released subtree) used
/// to be movable away from them by `allocate_resource` or
/// `set_range_detached`, so that linking it broke containment (§2.7 I2).
#[test]
fn detached_subtrees_keep_covering_their_children() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let p = add(&mut t, root, 0x8000, 0x8fff, Flags::MEM);
    add(&mut t, p, 0x8000, 0x80ff, Flags::MEM | Flags::BUSY);
    t.release_resource(p).unwrap();
    let e = t.allocate_resource(root, p, 0x1000, iomem::Constraint::anywhere(0x1000)).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    let e = t.set_range_detached(p, iomem::Range::new(0, 0xfff)).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    // Growing around the children is fine.
    t.set_range_detached(p, iomem::Range::new(0x8000, 0x9fff)).unwrap();
    t.request_resource(root, p).unwrap();
    assert_eq!(t.proc_iomem(), "00008000-00009fff : r\n  00008000-000080ff : r\n");
}

/// `adjust_resource` with a size wrapping past 2^64 used to be accepted,
/// leaving a resource far above its end and out of order among its
/// siblings (§2.7 I1); only size 0 may invert a resource.
#[test]
fn adjust_refuses_a_wrapping_size() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let a = add(&mut t, root, 0x100, 0x1ff, Flags::MEM);
    add(&mut t, root, 0x700, 0x7ff, Flags::MEM);
    let e = t.adjust_resource(a, u64::MAX - 0xff, 0x200).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    assert_eq!(t.get(a).unwrap().range, iomem::Range::new(0x100, 0x1ff));
    // Size 0 still gives the kernel's inverted [start, start - 1].
    t.adjust_resource(a, 0x180, 0).unwrap();
    assert_eq!(t.get(a).unwrap().range, iomem::Range::new(0x180, 0x17f));
}

/// Re-allocating a resource (here flagged UNSET, so it is moved rather than
/// resized) below itself would make it its own ancestor: refused, unchanged.
#[test]
fn reallocate_below_itself_is_refused() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let n = t.name_intern("x");
    let x = t.create(ResourceSpec::new(0x51cc, 0x5ecb, n, Flags::MEM | Flags::UNSET)).unwrap();
    t.request_resource(root, x).unwrap();
    let before = t.proc_iomem();
    let e = t.allocate_resource(x, x, 1, iomem::Constraint::new(0, 0x5200, 3)).unwrap_err();
    assert_eq!(e.errno(), iomem::Errno::EINVAL);
    assert_eq!(t.proc_iomem(), before);
    assert_eq!(t.parent(x).unwrap(), Some(root));
}

/// Many zero-size (inverted) siblings: `adjust_resource(r, s, 0)` on each
/// of 20 000 claims, some sharing one start. The child index finds the
/// sibling an address reaches through its summary, not by walking back
/// over them (BENCHMARKS.md has the timings); the answers stay the
/// kernel's.
#[test]
fn many_zero_size_siblings() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let base = 0x1_0000_0000u64;
    let k = 20_000u64;
    let win = add(&mut t, root, base, base + (k + 16) * 0x1000 - 1, Flags::MEM);
    let real = add(&mut t, win, base, base + 0xfff, Flags::SYSTEM_RAM | Flags::BUSY);
    for i in 1..k {
        let r = add(&mut t, win, base + i * 0x1000, base + i * 0x1000 + 0xfff, Flags::MEM | Flags::BUSY);
        // The second half share one start (each goes after the previous one).
        let s = if i < k / 2 { base + i * 0x1000 } else { base + (k / 2) * 0x1000 };
        t.adjust_resource(r, s, 0).unwrap();
    }
    let ram = add(&mut t, win, base + (k + 8) * 0x1000, base + (k + 9) * 0x1000 - 1, Flags::SYSTEM_RAM | Flags::BUSY);
    // Behind every inverted sibling: the window's gap, then the RAM.
    let gap = base + (k + 4) * 0x1000;
    assert_eq!(t.deepest_containing(root, gap).unwrap(), Some(win));
    assert!(!t.page_is_ram(gap >> 12));
    assert!(t.page_is_ram((base + (k + 8) * 0x1000) >> 12));
    assert_eq!(t.deepest_containing(root, base + (k + 8) * 0x1000).unwrap(), Some(ram));
    // Before them: the one real claim.
    assert_eq!(t.deepest_containing(root, base + 0x10).unwrap(), Some(real));
    assert!(t.page_is_ram(base >> 12));
    let hits: Vec<_> = t.children_overlapping(win, iomem::Range::new(gap, gap + 0xfff)).unwrap().collect();
    assert!(hits.is_empty());
}

/// A child list that is one dense run of busy System RAM (a virtio-mem
/// device's memory blocks) answers `page_is_ram` without a search; every
/// change that breaks or restores the run (a block removed, made not busy,
/// moved off the alignment, a gap, a block put back) must give the answer
/// of the kernel's walk, and the kept count of breaks must match a fresh
/// count after every step (`check_index`).
#[test]
fn dense_runs_of_busy_ram_answer_as_the_walk_does() {
    const BLOCK: u64 = 2 << 20;
    const N: u64 = 48;
    for page_shift in [12u32, 14, 16, 18] {
        let mut t = ResourceTree::new(TreeConfig { page_shift, ..TreeConfig::x86_64() });
        let root = t.iomem_root();
        let base = 1u64 << 40;
        let dev = add(&mut t, root, base, base + N * BLOCK * 2 - 1, Flags::MEM);
        let ram = Flags::SYSTEM_RAM | Flags::BUSY;
        let mut blocks: Vec<Option<ResourceId>> =
            (0..N).map(|i| Some(add(&mut t, dev, base + i * BLOCK, base + (i + 1) * BLOCK - 1, ram))).collect();
        let mut seed = 0x5eed_u64 + u64::from(page_shift);
        let mut next = move || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let page = 1u64 << page_shift;
        for step in 0..400 {
            let i = next() % N;
            let (lo, hi) = (base + i * BLOCK, base + (i + 1) * BLOCK - 1);
            match (blocks[i as usize], next() % 6) {
                (None, _) => blocks[i as usize] = Some(add(&mut t, dev, lo, hi, ram)),
                (Some(b), 0) => {
                    t.release_resource(b).unwrap();
                    t.free(b).unwrap();
                    blocks[i as usize] = None;
                }
                (Some(b), 1) => t.set_flags(b, ram ^ Flags::BUSY).unwrap(),
                (Some(b), 2) => t.set_flags(b, ram).unwrap(),
                // Off the alignment, or back on it.
                (Some(b), 3) => t.adjust_resource(b, lo, BLOCK - 0x1000).unwrap(),
                (Some(b), 4) => t.adjust_resource(b, lo, BLOCK).unwrap(),
                // A claim inside a block (a run's records may have children).
                (Some(b), _) => {
                    let name = t.name_new("claim");
                    let claim = t.create(ResourceSpec::new(lo + 0x10000, lo + 0x1ffff, name, Flags::MEM | Flags::BUSY));
                    // (Refused where a claim is already there: fine.)
                    let _ = t.request_resource(b, claim.unwrap());
                }
            }
            t.check_index().unwrap_or_else(|e| panic!("step {step}: {e}"));
            let mut probes =
                vec![base - page, base, base + N * BLOCK - page, base + N * BLOCK, next() % (N * BLOCK) + base];
            for j in [i.saturating_sub(1), i, i + 1] {
                let at = base + j * BLOCK;
                probes.extend([at.wrapping_sub(page), at, at + BLOCK - 0x1000 - page, at + BLOCK - page]);
            }
            for a in probes {
                let pfn = a >> page_shift;
                let walk = t.walk_system_ram_range(pfn, 1, |_, _| ControlFlow::Break(())).found();
                assert_eq!(t.page_is_ram(pfn), walk, "page shift {page_shift}, step {step}, page {a:#x}");
            }
        }
    }
}

/// The same through the parser, which appends the blocks one by one: runs
/// with a gap, a misaligned block and a block that is not System RAM inside
/// leaf groups.
#[test]
fn parsed_dense_runs_answer_as_the_walk_does() {
    let base = 1u64 << 40;
    let block = 2u64 << 20;
    let mut text = format!("{base:x}-{:x} : virtio0\n", base + 200 * block - 1);
    for i in 0..200u64 {
        let (s, e) = (base + i * block, base + (i + 1) * block - 1);
        match i {
            37 | 38 => continue,
            77 => text.push_str(&format!("  {s:x}-{:x} : System RAM (virtio_mem)\n", e - 0x1000)),
            121 => text.push_str(&format!("  {s:x}-{e:x} : reserved\n")),
            _ => text.push_str(&format!("  {s:x}-{e:x} : System RAM (virtio_mem)\n")),
        }
    }
    let mut d = iomem::procfs::parse_str(&text, &Default::default()).unwrap();
    let root = d.tree.iomem_root();
    let hints = iomem::infer::InferHints::default();
    let _ = iomem::infer::infer_flags(&mut d.tree, root, &hints);
    check_pages(&d.tree, base, block);
    // Annotated: the flags arrive with each appended line.
    let annotated: String = text
        .lines()
        .map(|l| {
            let flags = if l.ends_with("(virtio_mem)") { "0x81000200 MEM|SYSRAM|BUSY" } else { "0x80000200 MEM|BUSY" };
            format!("{l} [flags={flags} desc=NONE]\n")
        })
        .collect();
    let options = iomem::procfs::ParseOptions { annotations: true, ..Default::default() };
    let d = iomem::procfs::parse_str(&annotated, &options).unwrap();
    check_pages(&d.tree, base, block);
}

fn check_pages(t: &ResourceTree, base: u64, block: u64) {
    t.check_index().unwrap();
    for i in 0..201u64 {
        for a in [base + i * block, base + i * block + block - 0x1000, base + i * block - 0x1000] {
            let walk = t.walk_system_ram_range(a >> 12, 1, |_, _| ControlFlow::Break(())).found();
            assert_eq!(t.page_is_ram(a >> 12), walk, "page {a:#x}");
        }
    }
    // Some of it is RAM and some is not: both answers were reached.
    assert!(t.page_is_ram(base >> 12) && !t.page_is_ram((base + 37 * block) >> 12));
}
