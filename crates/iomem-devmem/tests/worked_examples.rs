//! devmem-policy.md §10: the example machine, its per-page verdicts under
//! configurations A–E on x86 and on the generic rule, the syscall results,
//! and the revocation walk-through.

use iomem::{KernelProfile, Range, ResourceTree};
use iomem_devmem::{Arch, Caller, Devmem, HighMemory, HighMemorySource, KernelConfig, Lockdown, OpenMode, Policy};

mod common;
use common as example;

fn tree(profile: KernelProfile) -> ResourceTree {
    example::tree_with(profile)
}

#[derive(Clone, Copy, Debug)]
enum Cfg {
    A,
    B,
    C,
    D,
    E,
}

fn policy(t: &ResourceTree, arch: Arch, cfg: Cfg) -> Policy {
    let (io_strict, strict_devmem, cmdline) = match cfg {
        Cfg::A => (true, true, ""),
        Cfg::B => (true, true, "iomem=relaxed"),
        Cfg::C => (false, true, ""),
        Cfg::D => (false, true, "iomem=relaxed"),
        Cfg::E => (false, false, ""),
    };
    let config = KernelConfig { devmem: true, strict_devmem, io_strict_devmem: io_strict, x86_pat: true };
    let mut p = Policy::new(t, arch).with_config(config, cmdline);
    p.high_memory = HighMemory { addr: 0x2_0000_0000, source: HighMemorySource::Given };
    p
}

const X86: Arch = Arch::X86_64 { phys_bits: 46 };

/// (row, address, A, B, C, D) of §10.2.
const X86_ROWS: [(&str, u64, u8, u8, u8, u8); 15] = [
    ("1", 0x0, 1, 1, 1, 1),
    ("2", 0x50000, 2, 2, 2, 2),
    ("3", 0x9f000, 2, 2, 2, 2),
    ("4", 0xa0000, 1, 1, 1, 1),
    ("5", 0xf0000, 1, 1, 1, 1),
    ("6", 0x100_0000, 0, 0, 0, 0),
    ("7", 0x8000_0000, 1, 1, 1, 1),
    ("8", 0xe000_0000, 0, 1, 1, 1),
    ("9", 0xf000_0000, 1, 1, 1, 1),
    ("10", 0xf000_4000, 0, 1, 0, 1),
    ("11", 0x1_0000_0000, 0, 0, 0, 0),
    ("12", 0x1_8000_0000, 0, 0, 0, 0),
    ("13", 0x1_9000_0000, 0, 0, 0, 0),
    ("14", 0x1_c000_0000, 0, 0, 0, 0),
    ("15", 0x2_4000_0000, 1, 1, 1, 1),
];

fn v(t: &ResourceTree, arch: Arch, cfg: Cfg, addr: u64) -> u8 {
    Devmem::new(t, policy(t, arch, cfg)).page(addr).value.number()
}

#[test]
fn x86_verdicts_10_2() {
    let t = tree(KernelProfile::mainline());
    for (row, addr, a, b, c, d) in X86_ROWS {
        let got = [Cfg::A, Cfg::B, Cfg::C, Cfg::D].map(|cfg| v(&t, X86, cfg, addr));
        assert_eq!(got, [a, b, c, d], "row {row} at {addr:#x}");
    }
    // 14′: a kernel before the v6.12/stable region_intersects fix.
    let old = tree(KernelProfile::v6_1_unpatched());
    let got = [Cfg::A, Cfg::B, Cfg::C, Cfg::D].map(|cfg| v(&old, X86, cfg, 0x1_c000_0000));
    assert_eq!(got, [0, 1, 1, 1], "row 14'");
}

#[test]
fn generic_verdicts_10_3() {
    let t = tree(KernelProfile::mainline());
    let arm = Arch::Arm64 { pa_bits: 48 };
    let rows: [(u64, [u8; 4]); 15] = [
        (0x0, [0, 1, 1, 1]),
        (0x50000, [0, 0, 0, 0]),
        (0x9f000, [0, 1, 1, 1]),
        (0xa0000, [1, 1, 1, 1]),
        (0xf0000, [0, 1, 1, 1]),
        (0x100_0000, [0, 0, 0, 0]),
        (0x8000_0000, [1, 1, 1, 1]),
        (0xe000_0000, [0, 1, 1, 1]),
        (0xf000_0000, [1, 1, 1, 1]),
        (0xf000_4000, [0, 1, 0, 1]),
        (0x1_0000_0000, [0, 0, 0, 0]),
        (0x1_8000_0000, [0, 0, 0, 0]),
        (0x1_9000_0000, [0, 0, 0, 0]),
        (0x1_c000_0000, [0, 0, 0, 0]),
        (0x2_4000_0000, [1, 1, 1, 1]),
    ];
    for (addr, want) in rows {
        let got = [Cfg::A, Cfg::B, Cfg::C, Cfg::D].map(|cfg| v(&t, arm, cfg, addr));
        assert_eq!(got, want, "{addr:#x}");
    }
    // Row 13 before v5.16: 1 in all four configurations.
    let old = tree(KernelProfile::v5_15());
    let got = [Cfg::A, Cfg::B, Cfg::C, Cfg::D].map(|cfg| v(&old, arm, cfg, 0x1_9000_0000));
    assert_eq!(got, [1, 1, 1, 1]);
}

fn probe(d: &Devmem<'_>, addr: u64) -> (&'static str, &'static str) {
    let read = d.pread(addr, 1);
    let mmap = d.mmap(addr, 4096, OpenMode::RDONLY_SYNC, false, true);
    (read.result_name(), mmap.result_name())
}

#[test]
fn syscalls_10_4() {
    let t = tree(KernelProfile::mainline());
    let a = Devmem::new(&t, policy(&t, X86, Cfg::A));
    assert_eq!(probe(&a, 0x50000), ("zeros", "ok"));
    assert_eq!(probe(&a, 0x100_0000), ("EPERM", "EPERM"));
    assert_eq!(probe(&a, 0xe000_0000), ("EPERM", "EPERM"));
    assert_eq!(probe(&a, 0x1_9000_0000), ("EPERM", "EPERM"));
    assert_eq!(probe(&a, 0x2_4000_0000), ("EFAULT", "ok"));
    // Writes: V = 2 drops the data, V = 0 refuses.
    assert_eq!(a.pwrite(0x50000, 16).result_name(), "dropped");
    assert_eq!(a.pwrite(0x8000_0000, 16).result_name(), "ok");
    // A read over an allowed and a forbidden page fails as a whole.
    assert_eq!(a.pread(0xdfff_f000, 0x2000).result_name(), "EPERM");
    // With H still at 0x180000000 (before any hot-add), row 13 reads EFAULT.
    let mut p = policy(&t, X86, Cfg::A);
    p.high_memory.addr = 0x1_8000_0000;
    let before = Devmem::new(&t, p);
    assert_eq!(probe(&before, 0x1_9000_0000), ("EFAULT", "EPERM"));

    // Config E (STRICT_DEVMEM=n): V is not consulted; before v6.16 the x86
    // PAT hook refuses mmap of V = 0 pages with EINVAL.
    let old = tree(KernelProfile::v6_12());
    let e = Devmem::new(&old, policy(&old, X86, Cfg::E));
    for addr in [0x100_0000u64, 0x1_0000_0000, 0x1_8000_0000, 0x1_9000_0000, 0x1_c000_0000] {
        assert_eq!(probe(&e, addr), ("ok", "EINVAL"), "{addr:#x}");
    }
    for addr in [0x50000u64, 0x9f000] {
        assert_eq!(probe(&e, addr).1, "ok", "{addr:#x} has V = 2");
    }
    let new = tree(KernelProfile::mainline());
    let e = Devmem::new(&new, policy(&new, X86, Cfg::E));
    assert_eq!(probe(&e, 0x1_0000_0000), ("ok", "ok"));
    assert_eq!(e.pread(0x50000, 1).result_name(), "ok", "no zero-fill without STRICT_DEVMEM");

    // Open-level rows.
    let mut p = policy(&t, X86, Cfg::A);
    p.config.devmem = false;
    assert_eq!(Devmem::new(&t, p).open(OpenMode::RDWR).result_name(), "ENXIO");
    let mut p = policy(&t, X86, Cfg::A);
    p.caller = Caller::root().with_cap(iomem_devmem::inputs::cap::SYS_RAWIO, false);
    assert_eq!(Devmem::new(&t, p).open(OpenMode::RDWR).result_name(), "EPERM");
    let mut p = policy(&t, X86, Cfg::A);
    p.lockdown = Lockdown::Integrity;
    assert_eq!(Devmem::new(&t, p).open(OpenMode::RDWR).result_name(), "EPERM");
    let mut p = policy(&t, X86, Cfg::A);
    p.caller = Caller::user(65534, 65534);
    assert_eq!(Devmem::new(&t, p).open(OpenMode::RDONLY_SYNC).result_name(), "EACCES");
    // Lockdown did not exist before v5.4.
    let mut old = tree(KernelProfile::for_version(iomem::KernelVersion::new(5, 3, 0)));
    old.set_profile(KernelProfile::for_version(iomem::KernelVersion::new(5, 3, 0)));
    let mut p = policy(&old, X86, Cfg::A);
    p.lockdown = Lockdown::Integrity;
    assert_eq!(Devmem::new(&old, p).open(OpenMode::RDWR).result_name(), "ok");
}

#[test]
fn mmap_edges() {
    let t = tree(KernelProfile::mainline());
    let a = Devmem::new(&t, policy(&t, Arch::X86_64 { phys_bits: 40 }, Cfg::A));
    assert_eq!(a.mmap(0x3f00_0000_0000, 4096, OpenMode::RDWR, false, true).result_name(), "EINVAL");
    assert_eq!(a.mmap(0xfd_0000_0000, 4096, OpenMode::RDWR, false, true).result_name(), "ok");
    assert_eq!(a.mmap(0, 0, OpenMode::RDWR, false, true).result_name(), "EINVAL");
    assert_eq!(a.mmap(0xa0000, 4096, OpenMode::RDONLY_SYNC, true, true).result_name(), "EACCES");
    assert_eq!(a.mmap(u64::MAX - 0xfff, 0x2000, OpenMode::RDWR, false, true).result_name(), "EINVAL");
    // arm64: the mapping must end below 2^48 (exclusive end).
    let arm = Devmem::new(&t, policy(&t, Arch::Arm64 { pa_bits: 48 }, Cfg::A));
    assert_eq!(arm.mmap(0xffff_ffff_f000, 4096, OpenMode::RDWR, false, true).result_name(), "EINVAL");
    assert_eq!(arm.mmap(0xffff_ffff_e000, 4096, OpenMode::RDWR, false, true).result_name(), "ok");
    // Generic: no width check; a mapping ending exactly at 2^64 skips the
    // page checks entirely.
    let g = Devmem::new(&t, policy(&t, Arch::Generic, Cfg::A));
    assert_eq!(g.mmap(u64::MAX - 0xfff, 0x1000, OpenMode::RDWR, false, true).result_name(), "ok");
}

#[test]
fn read_gates() {
    let t = tree(KernelProfile::mainline());
    let a = Devmem::new(&t, policy(&t, X86, Cfg::A));
    // x86: p + count - 1 <= H - 1 in wrapping arithmetic.
    assert_eq!(a.pread(0, 0).result_name(), "EFAULT");
    assert_eq!(a.pread(0x1_ffff_ffff, 1).result_name(), "EPERM");
    assert_eq!(a.pread(0x1_ffff_ffff, 2).result_name(), "EFAULT");
    let g = Devmem::new(&t, policy(&t, Arch::Generic, Cfg::B));
    assert_eq!(g.pread(0x2_0000_0000, 0).result_name(), "ok");
    assert_eq!(g.pread(0x1_ffff_fff0, 0x10).result_name(), "EPERM");
    // arm64: only ranges inside RAM of the memory map pass.
    let arm = Devmem::new(&t, policy(&t, Arch::Arm64 { pa_bits: 48 }, Cfg::B));
    assert_eq!(arm.pread(0x8000_0000, 1).result_name(), "EFAULT");
    assert_eq!(arm.pread(0x10_0000, 1).result_name(), "EPERM");
    // The boot RAM range [0x100000, 0x7fffffff] ends there: crossing it fails.
    assert_eq!(arm.pread(0x7fff_fff0, 0x20).result_name(), "EFAULT");
}

#[test]
fn runs_match_pages_on_the_example() {
    let t = tree(KernelProfile::mainline());
    for arch in [X86, Arch::Arm64 { pa_bits: 48 }] {
        for cfg in [Cfg::A, Cfg::B, Cfg::C, Cfg::D] {
            let d = Devmem::new(&t, policy(&t, arch, cfg));
            let slow = d.page_runs_slow(Range::new(0, 0x20_0000));
            let fast = d.page_runs(Range::new(0, 0x20_0000));
            assert_eq!(fast, slow, "{arch:?} {cfg:?}");
            let whole = d.page_runs(Range::FULL);
            assert_eq!(whole.first().unwrap().range.start, 0);
            assert_eq!(whole.last().unwrap().range.end, u64::MAX);
            for w in whole.windows(2) {
                assert_eq!(w[0].range.end + 1, w[1].range.start);
                assert_ne!(w[0].decision, w[1].decision, "runs are maximal");
            }
            for r in &whole {
                for addr in [r.range.start, r.range.end & !0xfff] {
                    assert_eq!(d.page(addr), r.decision, "{arch:?} {cfg:?} {addr:#x}");
                }
            }
        }
    }
}
