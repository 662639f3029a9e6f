//! Property tests: the exclusive System RAM rule holds whatever the
//! parameters, and range verdicts always agree with page-by-page verdicts.

use iomem::{Flags, KernelProfile, Range, ResourceSpec, ResourceTree};
use iomem_devmem::{Arch, Devmem, HighMemory, HighMemorySource, KernelConfig, OpenMode, PageValue, Policy};
use proptest::prelude::*;

/// Flag words real trees use, plus arbitrary combinations of the bits the
/// policy reads.
fn flags() -> impl Strategy<Value = Flags> {
    prop_oneof![
        Just(0x8100_0200u32),
        Just(0x0900_0200),
        Just(0x8700_0200),
        Just(0x8000_0200),
        Just(0x0000_0200),
        Just(0x8800_0200),
        Just(0x0100_0200),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(busy, excl, sysram, mem)| {
            let mut f = 0;
            if busy {
                f |= 0x8000_0000;
            }
            if excl {
                f |= 0x0800_0000;
            }
            if sysram {
                f |= 0x0100_0000;
            }
            if mem {
                f |= 0x200;
            }
            f
        }),
    ]
    .prop_map(Flags::from_bits_retain)
}

#[derive(Clone, Debug)]
struct Scene {
    base: u64,
    resources: Vec<(u64, u64, Flags)>,
    arch: Arch,
    profile: KernelProfile,
    config: KernelConfig,
    cmdline: &'static str,
    high_memory: u64,
    query: (u64, u64),
}

/// Resources in a 64-page window at `base` (low memory, above 1 MiB, or
/// the top of the space), with unaligned boundaries.
fn scene() -> impl Strategy<Value = Scene> {
    let base = prop_oneof![Just(0u64), Just(0xf_0000), Just(0x1_0000_0000), Just(u64::MAX - 0x3_ffff)];
    let res = prop::collection::vec((0u64..0x4_0000, 1u64..0x2_0000, flags()), 0..14);
    let arch =
        prop_oneof![Just(Arch::X86_64 { phys_bits: 46 }), Just(Arch::Arm64 { pa_bits: 48 }), Just(Arch::Generic)];
    let profile = prop_oneof![
        Just(KernelProfile::mainline()),
        Just(KernelProfile::v6_1_unpatched()),
        Just(KernelProfile::v5_15()),
        Just(KernelProfile::v5_7()),
        Just(KernelProfile::for_version(iomem::KernelVersion::new(4, 14, 0))),
        Just(KernelProfile::for_version(iomem::KernelVersion::new(4, 4, 0))),
    ];
    let config = (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(s, io, pat)| KernelConfig {
        devmem: true,
        strict_devmem: s,
        io_strict_devmem: s && io,
        x86_pat: pat,
    });
    let cmdline = prop_oneof![Just(""), Just("iomem=relaxed"), Just("iomem=strict")];
    (base, res, arch, profile, config, cmdline, 0u64..0x5_0000, (0u64..0x4_0000, 0u64..0x4_0000)).prop_map(
        |(base, resources, arch, profile, config, cmdline, h, (a, b))| Scene {
            base,
            resources,
            arch,
            profile,
            config,
            cmdline,
            high_memory: base.wrapping_add(h) & !0xfff,
            query: (a.min(b), a.max(b)),
        },
    )
}

fn build(s: &Scene) -> ResourceTree {
    let mut t = ResourceTree::default();
    t.set_profile(s.profile);
    let root = t.iomem_root();
    let name = t.name_intern("r");
    for &(off, len, flags) in &s.resources {
        let start = s.base.wrapping_add(off);
        let Some(end) = start.checked_add(len - 1) else { continue };
        let id = t.create(ResourceSpec::new(start, end, name, flags)).unwrap();
        if t.insert_resource(root, id).is_err() {
            t.free(id).unwrap();
        }
    }
    t
}

fn policy(t: &ResourceTree, s: &Scene) -> Policy {
    let mut p = Policy::new(t, s.arch).with_config(s.config, s.cmdline);
    p.high_memory = HighMemory { addr: s.high_memory, source: HighMemorySource::Given };
    p
}

proptest! {
    // 1024 cases by default; PROPTEST_CASES=<n> for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1024),
        ..ProptestConfig::default()
    })]

    /// v5.16+: no page touching a SYSTEM_RAM|EXCLUSIVE resource is ever
    /// allowed — whatever iomem=, the configuration and the other resources
    /// say — except where the kernel itself makes exceptions: x86's first
    /// MiB, which bypasses exclusivity (RAM there is zero-filled, other
    /// pages allowed), and the top page of the 64-bit space, where the
    /// exclusivity walk wraps.
    #[test]
    fn exclusive_system_ram_is_never_allowed(s in scene()) {
        let t = build(&s);
        let d = Devmem::new(&t, policy(&t, &s));
        for view in t.preorder(t.iomem_root()).unwrap().map(|(id, _)| t.get(id).unwrap()) {
            if !view.flags.has_all(Flags::SYSTEM_RAM | Flags::EXCLUSIVE) || s.profile.version < iomem::KernelVersion::new(5, 16, 0) {
                continue;
            }
            let top_page = u64::MAX - 0xfff;
            for addr in [view.range.start, view.range.end, view.range.start / 2 + view.range.end / 2] {
                if addr >= top_page && !s.arch.is_x86() {
                    // iomem_is_exclusive wraps at the top page: the kernel
                    // never reports it exclusive.
                    continue;
                }
                let v = d.page(addr);
                if s.arch.is_x86() && addr < 0x10_0000 {
                    continue;
                }
                if s.arch.is_x86() && addr >= top_page && v.value != PageValue::Deny {
                    continue;
                }
                prop_assert_eq!(v.value, PageValue::Deny, "{:#x}: {:?}", addr, v);
                if s.config.strict_devmem {
                    prop_assert!(d.mmap(addr, 0x1000, OpenMode::RDWR, false, true).result.is_err());
                    prop_assert!(d.pread(addr, 1).result.is_err());
                    prop_assert!(d.pwrite(addr, 1).result.is_err());
                }
            }
        }
    }

    /// The run computation equals the page-by-page evaluation, and access
    /// runs equal per-page pread/pwrite/mmap.
    #[test]
    fn range_verdicts_agree_with_pages(s in scene(), sync in any::<bool>()) {
        let t = build(&s);
        let d = Devmem::new(&t, policy(&t, &s));
        let q = Range::new(s.base.wrapping_add(s.query.0), s.base.wrapping_add(s.query.1));
        if q.is_empty() {
            return Ok(());
        }
        let fast = d.page_runs(q);
        let slow = d.page_runs_slow(q);
        prop_assert_eq!(&fast, &slow);
        let mode = if sync { OpenMode::RDWR_SYNC } else { OpenMode::RDWR };
        let runs = d.access_runs(q, mode);
        let mut next = fast.first().map(|r| r.range.start);
        for r in &runs {
            prop_assert_eq!(Some(r.range.start), next);
            next = r.range.end.checked_add(1);
            let mut page = r.range.start;
            loop {
                prop_assert_eq!(d.page(page), r.decision);
                prop_assert_eq!(d.page_exact(page), r.decision);
                prop_assert_eq!(d.pread(page, 0x1000).result, r.read.result, "read at {:#x}", page);
                prop_assert_eq!(d.pwrite(page, 0x1000).result, r.write.result, "write at {:#x}", page);
                let m = d.mmap(page, 0x1000, mode, false, true);
                prop_assert_eq!((m.result, m.uncertain), (r.mmap.result, r.mmap.uncertain), "mmap at {:#x}", page);
                if page >= r.range.end - 0xfff {
                    break;
                }
                page += 0x1000;
            }
        }
    }
}

/// The whole 64-bit space with the boundaries at its very top.
#[test]
fn whole_space_runs_cover_everything_once() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let n = t.name_intern("top");
    let id = t.create(ResourceSpec::new(u64::MAX - 0x1800, u64::MAX, n, Flags::from_bits_retain(0x8800_0200))).unwrap();
    t.request_resource(root, id).unwrap();
    for arch in [Arch::X86_64 { phys_bits: 46 }, Arch::Generic] {
        let d = Devmem::new(&t, Policy::new(&t, arch));
        let runs = d.page_runs(Range::FULL);
        assert_eq!(runs.first().unwrap().range.start, 0);
        assert_eq!(runs.last().unwrap().range.end, u64::MAX);
        let tail = d.page_runs_slow(Range::new(u64::MAX - 0x3fff, u64::MAX));
        let fast_tail = d.page_runs(Range::new(u64::MAX - 0x3fff, u64::MAX));
        assert_eq!(fast_tail, tail);
        // The top page is never exclusive (the walk wraps).
        assert_eq!(d.page(u64::MAX).value, PageValue::Allow);
        assert_eq!(d.page(u64::MAX - 0x1000).value, PageValue::Deny);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Arbitrary addresses, lengths, descriptors and high_memory never make
    /// any call panic (overflow included), on either rule set.
    #[test]
    fn arbitrary_calls_never_panic(
        s in scene(),
        addr in prop_oneof![any::<u64>(), Just(u64::MAX), Just(u64::MAX - 0xfff), Just(0u64)],
        len in prop_oneof![any::<u64>(), Just(u64::MAX), Just(0u64), Just(1u64), Just(0x1000u64)],
        write in any::<bool>(),
        sync in any::<bool>(),
        h in prop_oneof![any::<u64>(), Just(0u64)],
        bits in prop_oneof![any::<u8>(), 0u8..=13],
    ) {
        let t = build(&s);
        let mut p = policy(&t, &s);
        p.high_memory.addr = h;
        // Impossible widths (rejected by Arch::validate) still never panic.
        match &mut p.arch {
            Arch::X86_64 { phys_bits } => *phys_bits = bits,
            Arch::Arm64 { pa_bits } => *pa_bits = bits,
            Arch::Generic => {}
        }
        let d = Devmem::new(&t, p);
        let mode = OpenMode { write, sync };
        let _ = d.page(addr);
        let _ = d.pread(addr, len);
        let _ = d.pwrite(addr, len);
        let _ = d.mmap(addr, len, mode, write, true);
        for access in [iomem_devmem::Access::Open, iomem_devmem::Access::Read, iomem_devmem::Access::Write, iomem_devmem::Access::Mmap] {
            let _ = d.check(iomem_devmem::Request { access, addr, len, mode }, None);
        }
        let end = addr.saturating_add(len.min(0x10_0000));
        let _ = d.access_runs(Range::new(addr, end), mode);
        let _ = d.safe_ranges(Range::new(addr, end));
    }
}

/// Runs are made in batches of a few hundred with boundary pages held
/// across batches: a range with thousands of runs, nested and unaligned
/// resources, gives the same runs as the page-by-page rule.
#[test]
fn many_runs_cross_batches_exactly() {
    let mut t = ResourceTree::default();
    let root = t.iomem_root();
    let n = t.name_intern("r");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let kinds = [0x8100_0200u32, 0x0100_0200, 0x8000_0200, 0x0000_0200, 0x8100_0000];
    for i in 0..1500u64 {
        // A parent of 3-6 pages, unaligned at one end in one case of four.
        let start = 0x10_0000 + i * 0x8000 + if rand(4) == 0 { 0x123 } else { 0 };
        let end = start + 0x3000 + rand(4) * 0x1000 - 1 - if rand(4) == 0 { 0x80 } else { 0 };
        let flags = Flags::from_bits_retain(kinds[rand(kinds.len() as u64) as usize]);
        let id = t.create(ResourceSpec::new(start, end, n, flags)).unwrap();
        t.insert_resource(root, id).unwrap();
        if rand(2) == 0 {
            // A busy child claim, page-aligned or not.
            let cs = start + 0x1000 + rand(2) * 0x10;
            let child = t.create(ResourceSpec::new(cs, cs + 0xfff, n, Flags::from_bits_retain(0x8000_0200))).unwrap();
            t.insert_resource(id, child).unwrap();
        }
    }
    let q = Range::new(0x10_0000 - 0x3000, 0x10_0000 + 1500 * 0x8000 + 0x2fff);
    for arch in [Arch::X86_64 { phys_bits: 46 }, Arch::Generic] {
        let d = Devmem::new(&t, Policy::new(&t, arch));
        let fast = d.page_runs(q);
        assert!(fast.len() > 2000, "{} runs: too few to cross batches", fast.len());
        assert_eq!(fast, d.page_runs_slow(q), "{arch:?}");
        assert_eq!(d.page_runs_iter(q).pages(), Some(q));
        assert_eq!(d.page_runs_iter(Range::new(0x10_1234, 0x10_1234)).pages(), Some(Range::new(0x10_1000, 0x10_1fff)));
        assert_eq!(d.page_runs_iter(Range::new(0x2000, 0x1fff)).pages(), None);
        let covered: u128 = d.access_runs(q, OpenMode::RDWR).iter().map(|r| r.range.len() / 0x1000).sum();
        assert_eq!(covered, q.len() / 0x1000);
    }
}
