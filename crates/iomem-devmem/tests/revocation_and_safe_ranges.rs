//! devmem-policy.md §8 and §10.5 (revocation), and the safe-range query.

mod common;

use iomem::{Flags, JournalEntry, Range};
use iomem_devmem::{Arch, Devmem, Fault, KernelConfig, Mappings, NoRevocation, OpenMode, RamDenial};

const X86: Arch = Arch::X86_64 { phys_bits: 46 };

/// The example machine before drvA loads: its BAR is idle.
fn before_drva() -> iomem::ResourceTree {
    let mut t = common::tree();
    let drva = t.deepest_containing(t.iomem_root(), 0xe000_0000).unwrap().unwrap();
    assert_eq!(t.get(drva).unwrap().name, Some("drvA"));
    t.release_resource(drva).unwrap();
    t.free(drva).unwrap();
    t.journal_mut().record_claims = true;
    t
}

#[test]
fn walkthrough_10_5_config_a() {
    let mut t = before_drva();
    let mut maps = Mappings::new();
    // 1. The idle BAR maps.
    let policy = common::policy_a(&t, X86);
    let id = maps.mmap(&Devmem::new(&t, policy.clone()), 0xe000_0000, 0x100_0000, OpenMode::RDWR).unwrap();
    let other = maps.mmap(&Devmem::new(&t, policy.clone()), 0xf000_0000, 0x1000, OpenMode::RDWR).unwrap();
    // 2. drvA claims the region: nested under the BAR, a claim on the root.
    t.request_mem_region(0xe000_0000, 0x100_0000, "drvA").unwrap();
    let claims = t.journal_mut().drain();
    assert!(matches!(claims.as_slice(), [JournalEntry::IomemClaim { .. }]));
    let d = Devmem::new(&t, policy.clone());
    let rev = maps.apply_journal(&d, &claims);
    assert_eq!(rev[0].zapped, Ok(Range::new(0xe000_0000, 0xe0ff_ffff)));
    assert_eq!(rev[0].hit, vec![(id, Range::new(0xe000_0000, 0xe0ff_ffff))]);
    // 3. The old mapping SIGBUSes; pread and new mmaps get EPERM.
    assert_eq!(maps.access(id, 0xe000_1000), Err(Fault::SigBus { page: 0xe000_1000 }));
    assert_eq!(maps.access(other, 0xf000_0000), Ok(()));
    assert_eq!(d.pread(0xe000_0000, 4).result_name(), "EPERM");
    assert!(maps.mmap(&d, 0xe000_0000, 0x1000, OpenMode::RDWR).is_err());
    // 4. drvA releases: new mmaps work again, the old VMA stays dead.
    t.release_mem_region(0xe000_0000, 0x100_0000).unwrap().unwrap();
    let d = Devmem::new(&t, policy);
    let fresh = maps.mmap(&d, 0xe000_0000, 0x1000, OpenMode::RDWR).unwrap();
    assert_eq!(maps.access(fresh, 0xe000_0000), Ok(()));
    assert!(maps.access(id, 0xe000_0000).is_err());
}

#[test]
fn relaxed_and_non_io_strict_revoke_nothing() {
    for (cfg, cmdline, why) in [
        (KernelConfig::DEBIAN, "iomem=relaxed", NoRevocation::StillAllowed),
        (KernelConfig { io_strict_devmem: false, ..KernelConfig::DEBIAN }, "", NoRevocation::NotIoStrict),
    ] {
        let mut t = before_drva();
        let mut maps = Mappings::new();
        let policy = common::policy_a(&t, X86).with_config(cfg, cmdline);
        let id = maps.mmap(&Devmem::new(&t, policy.clone()), 0xe000_0000, 0x1000, OpenMode::RDWR).unwrap();
        t.request_mem_region(0xe000_0000, 0x100_0000, "drvA").unwrap();
        let claims = t.journal_mut().drain();
        let rev = maps.apply_journal(&Devmem::new(&t, policy.clone()), &claims);
        assert_eq!(rev[0].zapped, Err(why));
        assert_eq!(maps.access(id, 0xe000_0000), Ok(()), "the mapping keeps working");
    }
    // Config C with request_mem_region_exclusive: new reads and mmaps are
    // refused, the old mapping survives.
    let mut t = before_drva();
    let mut maps = Mappings::new();
    let policy =
        common::policy_a(&t, X86).with_config(KernelConfig { io_strict_devmem: false, ..KernelConfig::DEBIAN }, "");
    let id = maps.mmap(&Devmem::new(&t, policy.clone()), 0xe000_0000, 0x1000, OpenMode::RDWR).unwrap();
    t.request_mem_region_exclusive(0xe000_0000, 0x100_0000, "drvA").unwrap();
    let claims = t.journal_mut().drain();
    let d = Devmem::new(&t, policy);
    assert_eq!(maps.apply_journal(&d, &claims)[0].zapped, Err(NoRevocation::NotIoStrict));
    assert_eq!(maps.access(id, 0xe000_0000), Ok(()));
    assert_eq!(d.pread(0xe000_0000, 1).result_name(), "EPERM");
    // Before v5.8 nothing is revoked either.
    let mut t = before_drva();
    t.set_profile(iomem::KernelProfile::v5_7());
    let mut maps = Mappings::new();
    let policy = common::policy_a(&t, X86);
    maps.mmap(&Devmem::new(&t, policy.clone()), 0xe000_0000, 0x1000, OpenMode::RDWR).unwrap();
    t.request_mem_region(0xe000_0000, 0x100_0000, "drvA").unwrap();
    let claims = t.journal_mut().drain();
    assert_eq!(maps.apply_journal(&Devmem::new(&t, policy), &claims)[0].zapped, Err(NoRevocation::KernelTooOld));
}

#[test]
fn first_mib_claims_are_never_revoked_and_unaligned_claims_leave_a_page() {
    let mut t = before_drva();
    let policy = common::policy_a(&t, X86);
    let mut maps = Mappings::new();
    let low = maps.mmap(&Devmem::new(&t, policy.clone()), 0xa0000, 0x20000, OpenMode::RDWR).unwrap();
    let bar = maps.mmap(&Devmem::new(&t, policy.clone()), 0xf000_0000, 0x4000, OpenMode::RDWR).unwrap();
    t.request_mem_region(0xa0000, 0x20000, "vga").unwrap();
    // 0x1801 bytes from 0xf0000800 end at 0xf0002000, in a third page, but
    // only ⌈0x1801 / 0x1000⌉ = 2 pages are zapped from the first one.
    t.request_mem_region(0xf000_0800, 0x1801, "unaligned").unwrap();
    let claims = t.journal_mut().drain();
    let rev = maps.apply_journal(&Devmem::new(&t, policy), &claims);
    assert_eq!(rev[0].zapped, Err(NoRevocation::StillAllowed));
    assert_eq!(maps.access(low, 0xa0000), Ok(()));
    assert_eq!(rev[1].zapped, Ok(Range::new(0xf000_0000, 0xf000_1fff)));
    assert!(maps.access(bar, 0xf000_1000).is_err());
    assert_eq!(maps.access(bar, 0xf000_2000), Ok(()), "the straddled last page stays mapped");
}

#[test]
fn memory_hot_add_is_a_claim_too() {
    // On a generic-rule kernel before v5.16 unplugged virtio-mem memory was
    // mappable; adding it (busy RAM) revokes such mappings.
    let mut t = common::tree_with(iomem::KernelProfile::v5_15());
    t.journal_mut().record_claims = true;
    let arm = Arch::Arm64 { pa_bits: 48 };
    let policy = common::policy_a(&t, arm);
    let mut maps = Mappings::new();
    let id = maps.mmap(&Devmem::new(&t, policy.clone()), 0x1_9000_0000, 0x1000, OpenMode::RDWR).unwrap();
    let ram = t.request_mem_region(0x1_8800_0000, 0x1000_0000, "System RAM (virtio_mem)").unwrap();
    assert!(t.get(ram).unwrap().flags.has_all(Flags::SYSTEM_RAM | Flags::BUSY));
    let claims = t.journal_mut().drain();
    let rev = maps.apply_journal(&Devmem::new(&t, policy), &claims);
    assert!(rev[0].zapped.is_ok());
    assert!(maps.access(id, 0x1_9000_0000).is_err());
}

#[test]
fn safe_ranges_of_the_example() {
    let t = common::tree();
    let d = Devmem::new(&t, common::policy_a(&t, X86));
    let s = d.safe_ranges(Range::FULL);
    // Readable: page 0 (busy Reserved in the first MiB), the VGA hole,
    // ROMs... and nothing at or above high_memory.
    assert!(s.readable.iter().any(|r| r.contains_addr(0)));
    assert!(s.readable.iter().all(|r| r.end < 0x2_0000_0000));
    assert!(s.readable.iter().any(|r| r.contains(Range::new(0x8000_0000, 0x8fff_ffff))));
    assert!(!s.readable.iter().any(|r| r.contains_addr(0xe000_0000)), "drvA is busy");
    assert!(s.zero_filled.iter().any(|r| r.contains_addr(0x50000)));
    assert!(s.mappable.iter().any(|r| r.contains_addr(0x3_0000_0000)), "mmap reaches above high_memory");
    let virtio = s.forbidden_ram.iter().find(|f| f.range.contains_addr(0x1_9000_0000)).unwrap();
    assert_eq!(virtio.why, RamDenial::DeviceManagedRegion);
    assert_eq!(virtio.range, Range::new(0x1_8000_0000, 0x1_bfff_ffff));
    let boot = s.forbidden_ram.iter().find(|f| f.range.contains_addr(0x100_0000)).unwrap();
    assert_eq!(boot.why, RamDenial::Ram);
    for r in s.readable.iter().chain(&s.zero_filled) {
        assert!(d.pread(r.start, 1).result.is_ok());
        assert!(d.pread(r.end, 1).result.is_ok());
    }
}

#[test]
fn device_regions_are_never_safe_whatever_the_kernel_allows() {
    let t = common::tree();
    // CONFIG_STRICT_DEVMEM=n: the kernel lets reads and maps through, also
    // into the virtio-mem region.
    let mut policy = common::policy_a(&t, X86);
    policy.config = KernelConfig { strict_devmem: false, io_strict_devmem: false, ..policy.config };
    policy.strict_iomem = false;
    let d = Devmem::new(&t, policy);
    assert!(d.mmap(0x1_9000_0000, 0x1000, OpenMode::RDWR, true, true).result.is_ok(), "the kernel maps it");
    let s = d.safe_ranges(Range::FULL);
    let region = Range::new(0x1_8000_0000, 0x1_bfff_ffff);
    assert_eq!(s.device_regions.len(), 1);
    assert_eq!(s.device_regions[0].range, region);
    for r in s.readable.iter().chain(&s.mappable).chain(&s.zero_filled) {
        assert!(!r.overlaps(region), "{r:?} reaches the device region");
    }
    // Every page of the region is listed as forbidden, with what the kernel
    // would do there.
    let listed: u64 = s
        .forbidden_ram
        .iter()
        .filter(|f| f.why == RamDenial::DeviceManagedRegion)
        .map(|f| f.range.end - f.range.start + 1)
        .sum();
    assert_eq!(listed, region.end - region.start + 1);
    assert!(s.forbidden_ram.iter().any(|f| f.why == RamDenial::DeviceManagedRegion && f.kernel_maps));
}

#[test]
fn a_zero_high_memory_closes_the_read_gate_instead_of_wrapping() {
    let t = common::tree();
    let mut policy = common::policy_a(&t, X86);
    policy.high_memory.addr = 0;
    let d = Devmem::new(&t, policy);
    for addr in [0u64, 0x1000, 0x8000_0000, 0x7fff_ffff_ffff_f000] {
        assert_eq!(d.pread(addr, 1).result.unwrap_err(), iomem::Errno::EFAULT, "{addr:#x}");
    }
}

#[test]
fn impossible_address_widths_are_rejected() {
    assert!(Arch::X86_64 { phys_bits: 40 }.validate().is_ok());
    assert!(Arch::Arm64 { pa_bits: 52 }.validate().is_ok());
    let e = Arch::Arm64 { pa_bits: 0 }.validate().unwrap_err();
    assert_eq!(e.to_string(), "arm64: 0-bit physical addresses are impossible (the architecture allows 32 to 52)");
    assert!(Arch::X86_64 { phys_bits: 64 }.validate().is_err());
    assert!(Arch::Generic.validate().is_ok());
    use iomem_devmem::capture::{CaptureError, arch_from_config};
    assert!(matches!(arch_from_config("CONFIG_ARM64=y\nCONFIG_ARM64_PA_BITS=0\n"), Err(CaptureError::Arch(_))));
    assert!(matches!(arch_from_config("CONFIG_ARM64=y\nCONFIG_ARM64_PA_BITS=x\n"), Err(CaptureError::PaBits(_))));
    assert_eq!(arch_from_config("CONFIG_ARM64=y\n").unwrap(), Some(Arch::Arm64 { pa_bits: 48 }));
}
