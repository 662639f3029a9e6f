//! Explanations: the deciding rule and resource, and exact what-ifs.

mod common;
use common as example;

use iomem_devmem::{Access, Arch, Change, Devmem, OpenMode, Request};

fn req(access: Access, addr: u64) -> Request {
    Request { access, addr, len: if access == Access::Mmap { 4096 } else { 1 }, mode: OpenMode::RDONLY_SYNC }
}

fn relaxed(e: &iomem_devmem::Explanation) -> Option<&iomem_devmem::WhatIf> {
    e.what_if.iter().find(|w| w.change == Change::IomemRelaxed)
}

#[test]
fn busy_driver_claim_relaxed_helps() {
    let t = example::tree();
    let d = Devmem::new(&t, example::policy_a(&t, Arch::X86_64 { phys_bits: 46 }));
    let e = d.check(req(Access::Mmap, 0xe000_0000), None);
    assert_eq!(e.outcome.result_name(), "EPERM");
    assert_eq!(e.outcome.rule_id(), "page.x86-exclusive");
    assert_eq!(e.decided_by.as_ref().unwrap().name, "drvA");
    assert!(e.reason.contains("'drvA' [0xe0000000-0xe0ffffff] (MEM|BUSY)"), "{}", e.reason);
    assert!(e.reason.contains("CONFIG_IO_STRICT_DEVMEM=y"), "{}", e.reason);
    let r = relaxed(&e).unwrap();
    assert!(r.helps && r.result == "ok", "{r:?}");
    let io = e.what_if.iter().find(|w| w.change == Change::IoStrictDevmemOff).unwrap();
    assert!(io.helps);
}

#[test]
fn virtio_mem_region_relaxed_never_helps() {
    let t = example::tree();
    for arch in [Arch::X86_64 { phys_bits: 46 }, Arch::Arm64 { pa_bits: 48 }] {
        let d = Devmem::new(&t, example::policy_a(&t, arch));
        let e = d.check(req(Access::Mmap, 0x1_9000_0000), None);
        assert_eq!(e.outcome.result_name(), "EPERM");
        assert_eq!(e.decided_by.as_ref().unwrap().name, "virtio0");
        let r = relaxed(&e).expect("the answer to 'would iomem=relaxed help' is always given for page denials");
        assert!(!r.helps, "{r:?}");
        assert!(r.sentence.contains("would not help"), "{}", r.sentence);
        if let Arch::Arm64 { .. } = arch {
            assert!(e.reason.contains("even with iomem=relaxed"), "{}", e.reason);
        }
    }
}

#[test]
fn read_above_high_memory_suggests_mmap() {
    let t = example::tree();
    let d = Devmem::new(&t, example::policy_a(&t, Arch::X86_64 { phys_bits: 46 }));
    let e = d.check(req(Access::Read, 0x2_4000_0000), None);
    assert_eq!(e.outcome.result_name(), "EFAULT");
    assert!(e.reason.contains("high_memory (0x200000000)"), "{}", e.reason);
    let m = e.what_if.iter().find(|w| w.change == Change::UseMmap).unwrap();
    assert!(m.helps);
}

#[test]
fn open_failures_name_their_cause() {
    let t = example::tree();
    let mut p = example::policy_a(&t, Arch::X86_64 { phys_bits: 46 });
    p.caller = iomem_devmem::Caller::root().with_cap(iomem_devmem::inputs::cap::SYS_RAWIO, false);
    let d = Devmem::new(&t, p);
    let e = d.check(req(Access::Read, 0), None);
    assert_eq!(e.outcome.result_name(), "EPERM");
    assert_eq!(e.outcome.rule_id(), "open.no-cap-sys-rawio");
    assert!(e.what_if.iter().any(|w| w.change == Change::GrantCapSysRawio && w.helps));
    let mut p = example::policy_a(&t, Arch::X86_64 { phys_bits: 46 });
    p.lockdown = iomem_devmem::Lockdown::Integrity;
    let e = Devmem::new(&t, p).check(req(Access::Open, 0), None);
    assert_eq!(e.outcome.rule_id(), "open.lockdown");
    assert!(e.reason.contains("integrity"));
    assert!(e.what_if.iter().any(|w| w.change == Change::NoLockdown && w.helps));
}

#[test]
fn o_sync_on_firmware_tables_is_flagged_uncertain() {
    let t = example::tree();
    let d = Devmem::new(&t, example::policy_a(&t, Arch::X86_64 { phys_bits: 46 }));
    let e = d.check(req(Access::Mmap, 0x8000_0000), None);
    assert_eq!(e.outcome.result_name(), "ok");
    assert!(e.outcome.uncertain.is_some());
    assert!(e.reason.contains("EAGAIN"), "{}", e.reason);
    let w = e.what_if.iter().find(|w| w.change == Change::WithoutOSync).unwrap();
    assert_eq!(w.result, "ok");
    // An MMIO BAR is not firmware memory: no caveat.
    let e = d.check(req(Access::Mmap, 0xf000_0000), None);
    assert!(e.outcome.uncertain.is_none());
}
