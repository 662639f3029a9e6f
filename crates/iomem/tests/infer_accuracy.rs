//! Flags from text, measured: for every recorded step that has the real
//! flags (`observed/iomem-flags.txt`), parse the plain `proc/iomem`, infer
//! flags and descriptors with the step's hints, and compare each resource
//! with the truth. Every bit a `/dev/mem` verdict depends on (BUSY,
//! EXCLUSIVE, MEM and SYSRAM) and every descriptor must be right on every
//! resource; every wrong bit must be marked assumed. The per-bit table is
//! printed with `--nocapture`.
//!
//! The real dumps of `fixtures/iomem/` are run through inference as a smoke
//! test with spot checks.

mod dump_support;

use dump_support::{Step, kernel_steps, real_dumps};
use iomem::infer::{Arch, InferHints, Inference, InferenceMap, annotated, guess_arch, infer_flags};
use iomem::procfs::{ParseOptions, ParsedDump, parse};
use iomem::{Desc, Flags, KernelVersion, ResourceId};

/// The bits a `/dev/mem` verdict depends on (devmem-policy.md §4):
/// `region_intersects(SYSTEM_RAM)` tests MEM|SYSRAM, `page_is_ram` adds
/// BUSY, `iomem_is_exclusive` tests BUSY, EXCLUSIVE and SYSTEM_RAM.
const VERDICT_BITS: Flags = Flags::from_bits_retain(0x8000_0000 | 0x0800_0000 | 0x0100_0000 | 0x0000_0200);

/// The rows of the accuracy table: single bits by kernel name, the low
/// byte and the type field as wholes.
fn columns() -> Vec<(String, u32)> {
    let mut cols = vec![("TYPE (0x1f00)".to_string(), 0x1f00), ("BITS (0xff)".to_string(), 0xff)];
    for bit in 13..32 {
        let mask = 1u32 << bit;
        if mask == 0x0080_0000 {
            continue;
        }
        let name = Flags::from_bits_retain(mask).to_string();
        cols.push((format!("{name} ({mask:#x})"), mask));
    }
    cols
}

fn hints_for(step: &Step) -> InferHints {
    let arch = if step.kernel.ends_with("-amd64") {
        Arch::X86
    } else if step.kernel.ends_with("-arm64") {
        Arch::Arm64
    } else {
        Arch::Other
    };
    let release = String::from_utf8(step.read("proc/sys/kernel/osrelease")).expect("osrelease is text");
    let kernel = KernelVersion::parse_release(&release);
    assert!(kernel.is_some(), "{}: osrelease {release:?}", step.label());
    InferHints { arch: Some(arch), kernel }
}

fn parse_plain(bytes: &[u8], label: &str) -> ParsedDump {
    parse(bytes, &ParseOptions::default()).unwrap_or_else(|e| panic!("{label}: {e}"))
}

#[derive(Default)]
struct Tally {
    right: usize,
    total: usize,
}

#[test]
fn inference_matches_the_real_kernels_flags_on_every_recorded_resource() {
    let cols = columns();
    let mut tallies: Vec<Tally> = cols.iter().map(|_| Tally::default()).collect();
    let mut desc = Tally::default();
    let mut whole = Tally::default();
    let mut certain_resources = 0;
    // rule -> (resources, entirely certain, assumed bits seen)
    let mut rules: std::collections::BTreeMap<&'static str, (usize, usize, u32)> = Default::default();
    let mut steps = 0;
    let mut failures = Vec::new();
    for step in kernel_steps().into_iter().filter(|s| s.has("observed/iomem-flags.txt")) {
        let label = step.label();
        let hints = hints_for(&step);
        let mut plain = parse_plain(&step.read("proc/iomem"), &label);
        let map = infer_flags(&mut plain.tree, plain.root, &hints);
        let truth = parse(
            &step.read("observed/iomem-flags.txt"),
            &ParseOptions { annotations: true, ..ParseOptions::default() },
        )
        .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(plain.lines.len(), truth.lines.len(), "{label}");
        assert_eq!(map.len(), plain.lines.len(), "{label}: every resource is inferred");
        for (pl, tl) in plain.lines.iter().zip(&truth.lines) {
            let v = plain.tree.get(pl.resource).unwrap();
            let t = truth.tree.get(tl.resource).unwrap();
            let inf = map.get(pl.resource).expect("inferred");
            // infer_flags wrote what it returned into the tree.
            assert_eq!((v.flags, v.desc), (inf.flags, inf.desc), "{label}");
            let what = format!("{label}: {:?} {:?} rule {}", v.range, v.name.unwrap_or(""), inf.rule);
            let wrong = Flags::from_bits_retain(inf.flags.bits() ^ t.flags.bits());
            for ((_, mask), tally) in cols.iter().zip(&mut tallies) {
                tally.total += 1;
                tally.right += usize::from(wrong.bits() & mask == 0);
            }
            desc.total += 1;
            desc.right += usize::from(inf.desc == t.desc);
            whole.total += 1;
            whole.right += usize::from(wrong.is_empty() && inf.desc == t.desc);
            certain_resources += usize::from(inf.is_certain());
            let r = rules.entry(inf.rule.id()).or_default();
            r.0 += 1;
            r.1 += usize::from(inf.is_certain());
            r.2 |= inf.assumed().bits();
            if wrong.intersects(VERDICT_BITS) {
                failures.push(format!("{what}: verdict bits wrong: inferred {} real {}", inf.flags, t.flags));
            }
            if inf.desc != t.desc {
                failures.push(format!("{what}: desc {} but real {}", inf.desc, t.desc));
            }
            let unflagged = Flags::from_bits_retain(wrong.bits() & inf.known.bits());
            if !unflagged.is_empty() {
                failures.push(format!("{what}: wrong bits {unflagged} marked known (real {})", t.flags));
            }
            if inf.desc != t.desc && inf.desc_known {
                failures.push(format!("{what}: wrong desc marked known"));
            }
        }
        steps += 1;
    }
    println!("\nFlag inference vs the real kernels: {steps} steps, {} resources\n", whole.total);
    println!("| bit | right / total |");
    println!("|---|---|");
    for ((name, _), t) in cols.iter().zip(&tallies) {
        println!("| {name} | {} / {} |", t.right, t.total);
    }
    println!("| desc | {} / {} |", desc.right, desc.total);
    println!("| whole flag word and desc | {} / {} |", whole.right, whole.total);
    println!("| inferred entirely certain | {certain_resources} / {} |", whole.total);
    println!("\n| rule | resources | entirely certain | bits ever assumed |");
    println!("|---|---|---|---|");
    for (rule, (n, certain, assumed)) in &rules {
        println!("| {rule} | {n} | {certain} | {} |", Flags::from_bits_retain(*assumed));
    }
    assert_eq!(steps, 50, "every recorded step with flags");
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
    // The figures above are checked, not just printed: all verdict bits and
    // descriptors right (asserted per resource), and the rest nearly so.
    for ((name, _), t) in cols.iter().zip(&tallies) {
        assert!(t.right * 100 >= t.total * 95, "{name}: {} / {}", t.right, t.total);
    }
}

#[test]
fn without_hints_every_wrong_bit_is_still_marked_assumed() {
    // No architecture, no kernel: the architecture is guessed from names
    // and version-dependent bits become assumptions. Whatever is wrong must
    // be marked so; with the current-kernel defaults nothing is.
    let mut resources = 0;
    let mut assumed_verdict_bits = 0;
    for step in kernel_steps().into_iter().filter(|s| s.has("observed/iomem-flags.txt")) {
        let label = step.label();
        let mut plain = parse_plain(&step.read("proc/iomem"), &label);
        let map = infer_flags(&mut plain.tree, plain.root, &InferHints::default());
        let truth = parse(
            &step.read("observed/iomem-flags.txt"),
            &ParseOptions { annotations: true, ..ParseOptions::default() },
        )
        .unwrap();
        for (pl, tl) in plain.lines.iter().zip(&truth.lines) {
            let inf = map.get(pl.resource).unwrap();
            let t = truth.tree.get(tl.resource).unwrap();
            let wrong = inf.flags.bits() ^ t.flags.bits();
            assert_eq!(wrong & inf.known.bits(), 0, "{label}: {inf:?} vs {}", t.flags);
            assert!(inf.desc == t.desc || !inf.desc_known, "{label}: {inf:?}");
            assert_eq!(wrong & VERDICT_BITS.bits(), 0, "{label}: {inf:?} vs {}", t.flags);
            resources += 1;
            assumed_verdict_bits += usize::from(inf.assumed().intersects(VERDICT_BITS));
        }
    }
    // The virtio-mem regions' EXCLUSIVE (v5.16+) is the version-dependent
    // verdict bit here (and everything about a region with nothing added).
    assert!(assumed_verdict_bits > 0 && assumed_verdict_bits < resources / 4, "{assumed_verdict_bits}/{resources}");
}

#[test]
fn the_arm64_recordings_are_inferred_as_their_devmem_outcomes_imply() {
    // arm64 flags were not recorded; resource-tree.md §13.2 gives what the
    // /dev/mem outcomes imply. Check those implications.
    for step in kernel_steps().into_iter().filter(|s| s.kernel.ends_with("-arm64")) {
        let label = step.label();
        let hints = hints_for(&step);
        let mut d = parse_plain(&step.read("proc/iomem"), &label);
        let map = infer_flags(&mut d.tree, d.root, &hints);
        assert_eq!(map.len(), d.lines.len(), "{label}");
        for (id, inf) in map.iter() {
            let v = d.tree.get(id).unwrap();
            let name = v.name.unwrap_or("");
            let busy = inf.flags.is_busy();
            match name {
                "System RAM" | "System RAM (virtio_mem)" | "PCI ECAM" | "virtio-pci-modern" | "rtc-pl031" => {
                    assert!(busy, "{label}: {name} is busy")
                }
                "9000000.pl011 pl011@9000000" | "9030000.pl061 pl061@9030000" => {
                    assert!(busy && inf.known.contains(Flags::BUSY), "{label}: {name}")
                }
                "pcie@10000000" | "pl011@9000000" | "pl031@9010000" | "pl061@9030000" => {
                    assert!(!busy, "{label}: {name} is not busy")
                }
                "virtio1" => {
                    assert_eq!(inf.flags.bits(), 0x0900_0200, "{label}");
                    assert!(!busy);
                }
                "Kernel code" | "Kernel data" => {
                    assert_eq!(inf.flags, Flags::SYSTEM_RAM, "{label}: arm64 image resources carry no BUSY");
                    assert!(inf.is_certain());
                }
                "reserved" => {
                    assert_eq!((inf.rule.id(), inf.flags.bits()), ("memblock-reserved", 0x8000_0200), "{label}")
                }
                _ => {}
            }
            // The unclaimed BAR at 0x10000000 maps: not busy.
            if v.range.start == 0x1000_0000 && name == "0000:00:01.0" {
                assert!(!busy, "{label}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The real dumps: smoke test and spot checks
// ---------------------------------------------------------------------------

/// Hints from a dump's file name (`…-x86_64-…`, `…-arm64-…`).
fn hints_from_file(file: &str) -> InferHints {
    let arch = if file.contains("-x86_64-") {
        Some(Arch::X86)
    } else if file.contains("-arm64-") {
        Some(Arch::Arm64)
    } else {
        Some(Arch::Other)
    };
    InferHints { arch, kernel: None }
}

struct Inferred {
    dump: ParsedDump,
    map: InferenceMap,
}

impl Inferred {
    fn of(file: &str, hints: InferHints) -> Inferred {
        let bytes = real_dumps().into_iter().find(|(n, _)| n == file).expect("fixture").1;
        Inferred::of_text(&bytes, hints)
    }

    fn of_text(bytes: &[u8], hints: InferHints) -> Inferred {
        let file = "text";
        let options = ParseOptions { lenient: true, ..ParseOptions::default() };
        let mut dump = parse(bytes, &options).unwrap_or_else(|e| panic!("{file}: {e}"));
        let map = infer_flags(&mut dump.tree, dump.root, &hints);
        Inferred { dump, map }
    }

    /// The resources named `name`, in order.
    fn named(&self, name: &str) -> Vec<(ResourceId, Inference)> {
        self.map
            .iter()
            .filter(|(id, _)| self.dump.tree.get(*id).unwrap().name == Some(name))
            .map(|(id, inf)| (id, *inf))
            .collect()
    }

    fn one(&self, name: &str) -> Inference {
        let all = self.named(name);
        assert!(!all.is_empty(), "no resource named {name:?}");
        all[0].1
    }
}

fn check(inf: &Inference, rule: &str, flags: u32, desc: Desc) {
    assert_eq!((inf.rule.id(), inf.flags.bits(), inf.desc), (rule, flags, desc), "{inf:?}");
}

#[test]
fn every_real_dump_is_inferred_without_panicking_and_every_resource_gets_a_rule() {
    for (file, bytes) in real_dumps() {
        let options = ParseOptions { lenient: true, ..ParseOptions::default() };
        let Ok(mut dump) = parse(&bytes, &options) else {
            // Only the unprivileged dump is refused.
            assert!(file.starts_with("019-"), "{file}");
            continue;
        };
        for hints in [InferHints::default(), hints_from_file(&file)] {
            let map = infer_flags(&mut dump.tree, dump.root, &hints);
            assert_eq!(map.len(), dump.lines.len(), "{file}");
            for l in &dump.lines {
                let inf = map.get(l.resource).unwrap_or_else(|| panic!("{file}: line {} has no inference", l.line));
                assert_ne!(inf.rule, iomem::infer::InferRule::Annotated, "{file}: a plain dump");
                // Assumed bits are a subset of the meaningful ones, and the
                // type is always known.
                assert!(Inference::MEANINGFUL.contains(inf.assumed()), "{file}");
                assert!(inf.known.contains(Flags::TYPE_BITS), "{file}: line {}", l.line);
                let root_type = if dump.root == dump.tree.ioport_root() { Flags::IO } else { Flags::MEM };
                assert_eq!(inf.flags.type_bits(), root_type.bits(), "{file}: line {}", l.line);
            }
        }
    }
}

#[test]
fn the_architecture_is_guessed_from_names_that_exist_on_one_only() {
    let guess = |file: &str| {
        let bytes = real_dumps().into_iter().find(|(n, _)| n == file).unwrap().1;
        let d = parse(&bytes, &ParseOptions::default()).unwrap();
        guess_arch(&d.tree, d.root)
    };
    assert_eq!(guess("003-x86_64-thinkpad-x250-arch-5.3.txt"), Some(Arch::X86));
    assert_eq!(guess("025-x86_64-server-2.6-pci-bus-hash-zero-crashkernel.txt"), Some(Arch::X86));
    assert_eq!(guess("041-arm64-ampere-altra-ava-workstation-12digit.txt"), Some(Arch::Arm64));
    assert_eq!(guess("043-arm64-qemu-virt-acpi-uefi-guest.txt"), Some(Arch::Arm64));
    // A phone's device-tree dump names nothing architecture-specific.
    assert_eq!(guess("009-arm64-android-xiaomi-sweet-sm7150.txt"), None);
    assert_eq!(guess("027-x86_64-cxl-physical-2windows-kmem-excerpt.txt"), None);
}

#[test]
fn virtio_mem_children_of_033_and_035() {
    let x = Inferred::of("033-x86_64-qemu-virtio-mem-unmerged-blocks-excerpt.txt", InferHints::default());
    let dev = x.one("virtio0");
    check(&dev, "virtio-mem-device", 0x0900_0200, Desc::NONE);
    // Without a kernel version EXCLUSIVE (v5.16+) is an assumption; the
    // rest is certain.
    assert_eq!(dev.assumed(), Flags::EXCLUSIVE);
    let ram = x.named("System RAM (virtio_mem)");
    assert_eq!(ram.len(), 16);
    for (id, inf) in &ram {
        check(inf, "virtio-mem-ram", 0x8700_0200, Desc::NONE);
        assert!(inf.known.contains(Flags::SYSTEM_RAM | Flags::BUSY));
        assert!(inf.assumed().contains(Flags::SYSRAM_DRIVER_MANAGED), "marker depends on the kernel");
        assert_eq!(x.dump.tree.parent(*id).unwrap(), Some(x.named("virtio0")[0].0));
    }
    // With a v6.1 kernel everything about them is certain.
    let hints = InferHints { arch: Some(Arch::X86), kernel: Some(KernelVersion::new(6, 1, 0)) };
    let x = Inferred::of("033-x86_64-qemu-virtio-mem-unmerged-blocks-excerpt.txt", hints);
    assert!(x.one("virtio0").is_certain());
    assert!(x.named("System RAM (virtio_mem)").iter().all(|(_, i)| i.is_certain()));
    // v5.10 (before the EXCLUSIVE flag) and v5.8 (low-byte marker).
    let old = InferHints { arch: Some(Arch::X86), kernel: Some(KernelVersion::new(5, 10, 0)) };
    let x = Inferred::of("035-x86_64-qemu-two-virtio-mem-devices-excerpt.txt", old);
    check(&x.one("virtio1"), "virtio-mem-device", 0x0100_0200, Desc::NONE);
    let older = InferHints { arch: Some(Arch::X86), kernel: Some(KernelVersion::new(5, 8, 0)) };
    let x = Inferred::of("035-x86_64-qemu-two-virtio-mem-devices-excerpt.txt", older);
    check(&x.one("System RAM (virtio_mem)"), "virtio-mem-ram", 0x8100_0280, Desc::NONE);
}

#[test]
fn virtio_mem_regions_wherever_the_driver_can_request_them() {
    let v6_1 = InferHints { arch: Some(Arch::X86), kernel: Some(KernelVersion::new(6, 1, 0)) };
    // Nested in a non-busy firmware range: the request descends into it and
    // the region inherits its descriptor.
    let x = Inferred::of_text(
        b"00100000-7ffdffff : System RAM\n100000000-3ffffffff : Reserved\n  100000000-1ffffffff : virtio0\n",
        v6_1,
    );
    let dev = x.one("virtio0");
    check(&dev, "virtio-mem-device-empty", 0x0900_0200, Desc::RESERVED);
    assert!(dev.assumed().contains(Flags::EXCLUSIVE | Flags::BUSY), "marked as a guess: {dev:?}");
    // With memory added below it, at depth 1.
    let x = Inferred::of_text(
        b"100000000-3ffffffff : Reserved\n  100000000-1ffffffff : virtio0\n    100000000-107ffffff : System RAM (virtio_mem)\n",
        v6_1,
    );
    check(&x.one("virtio0"), "virtio-mem-device", 0x0900_0200, Desc::RESERVED);
    // 1 MiB device blocks (QEMU's smallest): 1 MiB-aligned regions count.
    let x = Inferred::of_text(b"100100000-1002fffff : virtio3\n", v6_1);
    check(&x.one("virtio3"), "virtio-mem-device-empty", 0x0900_0200, Desc::NONE);
    // Never below a busy resource (a request cannot nest there), never
    // misaligned.
    let x = Inferred::of_text(b"100000000-1ffffffff : System RAM\n  100000000-10fffffff : virtio0\n", v6_1);
    assert_ne!(x.one("virtio0").rule, "virtio-mem-device-empty");
    let x = Inferred::of_text(b"100080000-1002fffff : virtio0\n", v6_1);
    assert_ne!(x.one("virtio0").rule, "virtio-mem-device-empty");
}

#[test]
fn cxl_chains_of_027_and_029() {
    let x = Inferred::of("027-x86_64-cxl-physical-2windows-kmem-excerpt.txt", hints_from_file("-x86_64-"));
    for window in ["CXL Window 0", "CXL Window 1"] {
        let w = x.one(window);
        check(&w, "cxl-window", 0x0000_0200, Desc::CXL);
        assert!(w.is_certain());
    }
    check(&x.one("region0"), "cxl-region", 0x0000_0200, Desc::NONE);
    assert!(x.one("region0").known.contains(Flags::BUSY), "its dax child proves it is not busy");
    let dax = x.one("dax0.0");
    check(&dax, "dax-kmem", 0x0100_0200, Desc::NONE);
    assert!(dax.known.contains(Flags::BUSY) && dax.assumed().contains(Flags::SYSRAM));
    for (_, kmem) in x.named("System RAM (kmem)") {
        check(&kmem, "kmem-ram", 0x8300_0200, Desc::NONE);
    }
    // 029: the first window sits inside Soft Reserved and has no region; its
    // dax and kmem inherit the window's CXL descriptor. The malformed third
    // window was skipped.
    let x = Inferred::of("029-x86_64-cxl-3windows-stray-dot-malformed-excerpt.txt", hints_from_file("-x86_64-"));
    check(&x.one("Soft Reserved"), "soft-reserved", 0x0000_0200, Desc::SOFT_RESERVED);
    check(&x.one("dax5.0"), "dax-kmem", 0x0100_0200, Desc::CXL);
    let kmem = x.named("System RAM (kmem)");
    assert_eq!(kmem.len(), 2);
    check(&kmem[0].1, "kmem-ram", 0x8300_0200, Desc::CXL);
    check(&kmem[1].1, "kmem-ram", 0x8300_0200, Desc::NONE);
}

#[test]
fn soft_reserved_of_037_and_pmem_of_031() {
    let x = Inferred::of("037-x86_64-hmem-soft-reserved-dax-excerpt.txt", InferHints::default());
    check(&x.one("hmem.0"), "hmem-device", 0x0000_0200, Desc::SOFT_RESERVED);
    let sr = x.one("Soft Reserved");
    check(&sr, "soft-reserved", 0x0000_0200, Desc::SOFT_RESERVED);
    assert!(sr.is_certain());
    // device-dax without kmem: a busy claim inheriting SOFT_RESERVED.
    let dax = x.one("dax0.0");
    check(&dax, "dax-device", 0x8000_0200, Desc::SOFT_RESERVED);
    assert!(dax.assumed().contains(Flags::BUSY));

    let x = Inferred::of("031-x86_64-pmem-dax-kmem-excerpt.txt", hints_from_file("-x86_64-"));
    check(&x.one("Persistent Memory"), "pmem", 0x0000_0200, Desc::PERSISTENT_MEMORY);
    check(&x.one("namespace3.0"), "pmem-namespace", 0x8000_0200, Desc::PERSISTENT_MEMORY);
    check(&x.one("dax3.0"), "dax-kmem", 0x0100_0200, Desc::PERSISTENT_MEMORY);
    check(&x.one("System RAM (kmem)"), "kmem-ram", 0x8300_0200, Desc::PERSISTENT_MEMORY);
}

#[test]
fn x86_platform_names_of_003_007_011_015_and_039() {
    let x86 = hints_from_file("-x86_64-");
    let x = Inferred::of("003-x86_64-thinkpad-x250-arch-5.3.txt", x86);
    // e1000e claims its BARs exclusively.
    for (_, claim) in x.named("e1000e") {
        check(&claim, "pci-driver-claim", 0x8800_0200, Desc::NONE);
        assert!(claim.is_certain());
    }
    check(&x.one("ACPI Tables"), "e820-acpi", 0x8000_0200, Desc::ACPI_TABLES);
    check(&x.one("ACPI Non-volatile Storage"), "e820-nvs", 0x8000_0200, Desc::ACPI_NV_STORAGE);
    check(&x.one("RAM buffer"), "ram-buffer", 0x8000_0200, Desc::NONE);
    check(&x.one("dmar0"), "x86-iommu", 0x8000_0200, Desc::NONE);
    check(&x.one("pnp 00:00"), "pnp-system", 0x0000_0200, Desc::NONE);
    // pnp 00:01 inside e820 Reserved inherits its descriptor, and so do the
    // claims nested in it.
    let pnp01 = x.named("pnp 00:01");
    assert_eq!(pnp01.len(), 5);
    assert!(pnp01.iter().any(|(_, i)| i.desc == Desc::RESERVED));
    let itco = x.named("iTCO_wdt.0.auto");
    check(&itco[0].1, "container", 0x0000_0200, Desc::NONE);
    check(&itco[1].1, "same-name-claim", 0x8000_0200, Desc::NONE);
    check(&x.one("MSFT0101:00"), "acpi-device", 0x0000_0200, Desc::NONE);
    check(&x.one("Graphics Stolen Memory"), "x86-stolen-memory", 0x0000_0200, Desc::NONE);
    // The Reserved inside PCI MMCONFIG (above 1 MiB) is not busy.
    let reserved = x.named("Reserved");
    check(&reserved[0].1, "e820-reserved-low", 0x8000_0200, Desc::RESERVED);
    assert!(reserved.iter().any(|(_, i)| i.rule == "e820-reserved-high" && !i.flags.is_busy()));

    let x = Inferred::of("007-x86_64-hyperv-gen2-coreos-sosreport.txt", x86);
    check(&x.one("5620e0c7-8062-4dce-aeb7-520c7ef76171"), "vmbus-mmio", 0x8800_0200, Desc::NONE);
    check(&x.one("Local APIC"), "x86-lapic", 0x8000_0200, Desc::NONE);

    let x = Inferred::of("011-x86_64-qemu-i440fx-e1000.txt", x86);
    check(&x.one("Video RAM area"), "x86-video-ram", 0x8000_0200, Desc::NONE);
    check(&x.one("e1000"), "pci-driver-claim", 0x8000_0200, Desc::NONE);
    let bars = x.named("0000:00:02.0");
    check(&bars[0].1, "pci-bar", 0x0004_2208, Desc::NONE); // 32 MiB frame buffer
    check(&bars[1].1, "pci-bar", 0x0004_0200, Desc::NONE);

    let x = Inferred::of("015-x86_64-intel-alderlake-laptop-64bit-bars.txt", x86);
    // The host window nested in the busy low Reserved is still a window.
    check(&x.named("PCI Bus 0000:00")[0].1, "pci-host-window", 0x0020_0201, Desc::NONE);
    check(&x.one("PCI Bus 0000:02"), "pci-bridge-window", 0x0000_0200, Desc::NONE);
    check(&x.one("PCI ECAM 0000 [bus 00-ff]"), "pci-ecam", 0x8000_0200, Desc::NONE);
    let high_bar = x.named("0000:00:02.0")[0].1;
    check(&high_bar, "pci-bar", 0x0014_220c, Desc::NONE);
    assert!(high_bar.known.contains(Flags::MEM_64), "a BAR above 4 GiB is 64-bit");
    // MFD cells inside a BAR are containers; the claims inside them are
    // certain by their devm name.
    let lpss = x.named("lpss_dev");
    check(&lpss[0].1, "container", 0x0000_0200, Desc::NONE);
    assert!(lpss[0].1.known.contains(Flags::BUSY));
    check(&x.one("i2c_designware.0 lpss_dev"), "devm-claim", 0x8000_0200, Desc::NONE);
    check(&x.one("lpss_priv"), "pci-driver-claim", 0x8000_0200, Desc::NONE);

    let x = Inferred::of("039-x86_64-vmware-vm-many-pcie-root-ports.txt", x86);
    check(&x.one("PCI MMCONFIG 0000 [bus 00-7f]"), "pci-mmconfig", 0x8000_0200, Desc::NONE);
    // pnp 00:06 inside the e820 Reserved inside the busy MMCONFIG window.
    check(&x.named("pnp 00:06")[0].1, "pnp-system", 0x0000_0200, Desc::RESERVED);
    // The Reserved below Local APIC is e820's, inserted late, not busy.
    let under_lapic = x.named("Reserved").into_iter().find(|(id, _)| {
        let p = x.dump.tree.parent(*id).unwrap().unwrap();
        x.dump.tree.get(p).unwrap().name == Some("Local APIC")
    });
    check(&under_lapic.unwrap().1, "e820-reserved-high", 0x0000_0200, Desc::RESERVED);
    // The PnP system driver claims the HPET range on this machine (not busy).
    check(&x.one("pnp 00:04"), "pnp-system", 0x0000_0200, Desc::NONE);
}

#[test]
fn old_kernels_and_arm64_names_of_025_041_and_043() {
    // 025: a 2.6-era x86 server, guessed x86 from its ROMs.
    let x = Inferred::of("025-x86_64-server-2.6-pci-bus-hash-zero-crashkernel.txt", InferHints::default());
    check(&x.one("Crash kernel"), "crash-kernel", 0x8100_0200, Desc::CRASH_KERNEL);
    let reserved = x.named("reserved");
    check(&reserved[0].1, "e820-reserved-old-high", 0x0000_0200, Desc::NONE);
    check(&x.named("PCI Bus #01")[0].1, "pci-bridge-window", 0x0000_0200, Desc::NONE);
    check(&x.one("0000:00:1f.2"), "pci-bar", 0x0004_0200, Desc::NONE);
    check(&x.named("e1000e")[0].1, "pci-driver-claim", 0x8800_0200, Desc::NONE);
    // With a 2.6 kernel hint there is no SYSRAM bit and no descriptor.
    let hints = InferHints { arch: Some(Arch::X86), kernel: Some(KernelVersion::new(2, 6, 32)) };
    let x = Inferred::of("025-x86_64-server-2.6-pci-bus-hash-zero-crashkernel.txt", hints);
    check(&x.one("Crash kernel"), "crash-kernel", 0x8000_0200, Desc::NONE);
    check(&x.named("System RAM")[0].1, "system-ram", 0x8000_0200, Desc::NONE);
    assert!(x.one("Crash kernel").is_certain());

    // 041: Ampere Altra (arm64, ACPI), guessed arm64.
    let x = Inferred::of("041-arm64-ampere-altra-ava-workstation-12digit.txt", InferHints::default());
    let reserved = x.named("reserved");
    check(&reserved[0].1, "memblock-nomap", 0x0000_0200, Desc::NONE);
    assert!(reserved.iter().any(|(_, i)| i.rule == "memblock-reserved" && i.flags.bits() == 0x8000_0200));
    check(&x.named("PCI ECAM")[0].1, "pci-ecam", 0x8000_0200, Desc::NONE);
    check(&x.one("Kernel code"), "kernel-image", 0x0100_0200, Desc::NONE);
    check(&x.named("pnp 00:00")[0].1, "pnp-system", 0x0000_0200, Desc::NONE);
    check(&x.one("efifb"), "pci-driver-claim", 0x8000_0200, Desc::NONE);

    // 043: ACPI platform devices with devm claims, certain both ways.
    let x = Inferred::of("043-arm64-qemu-virt-acpi-uefi-guest.txt", InferHints::default());
    let dev = x.one("ARMH0011:00");
    check(&dev, "acpi-device", 0x0000_0200, Desc::NONE);
    assert!(dev.known.contains(Flags::BUSY));
    let claim = x.one("ARMH0011:00 ARMH0011:00");
    check(&claim, "devm-claim", 0x8000_0200, Desc::NONE);
    assert!(claim.known.contains(Flags::BUSY));
    check(&x.one("fw_cfg_mem"), "claim", 0x8000_0200, Desc::NONE);
    check(&x.named("virtio-pci-modern")[0].1, "pci-driver-claim", 0x8000_0200, Desc::NONE);
    check(&x.one("LNRO0005:00"), "acpi-device", 0x0000_0200, Desc::NONE);
}

#[test]
fn names_x86_shares_with_other_architectures_stay_assumed_there() {
    // 005: a MIPS PlayStation 2 names its boot ROM "System ROM"; nothing
    // x86-only appears, so the architecture stays unknown and the x86 rule
    // is applied as an assumption.
    let x = Inferred::of("005-mips-playstation2-frno7.txt", InferHints::default());
    let rom = x.one("System ROM");
    check(&rom, "x86-rom", 0x8000_4200, Desc::NONE);
    assert!(rom.assumed().contains(Flags::BUSY) && !rom.desc_known);
    let code = x.one("Kernel code");
    check(&code, "kernel-image", 0x8100_0200, Desc::NONE);
    assert_eq!(code.assumed(), Flags::BUSY);
    check(&x.one("Graphics Synthesizer"), "unknown", 0x8000_0200, Desc::NONE);
    // 013 (arm32 Android): device-tree nodes are platform resources, a
    // device name is a driver's claim, both assumed.
    let x = Inferred::of("013-arm32-android-qcom-jiofi-jmr540.txt", InferHints::default());
    check(&x.one("/soc/pinctrl@1000000"), "platform-device", 0x0000_0200, Desc::NONE);
    let claim = x.one("78b8000.i2c");
    check(&claim, "unknown", 0x8000_0200, Desc::NONE);
    assert!(claim.assumed().contains(Flags::BUSY));
    let phy = x.named("phy_csr");
    check(&phy[0].1, "container", 0x0000_0200, Desc::NONE);
    check(&phy[1].1, "same-name-claim", 0x8000_0200, Desc::NONE);
}

#[test]
fn ioport_dumps_get_io_rules() {
    let x = Inferred::of("045-x86_64-qemu-q35-jailhouse.ioports.txt", hints_from_file("-x86_64-"));
    check(&x.named("PCI Bus 0000:00")[0].1, "pci-host-window", 0x0020_0100, Desc::NONE);
    check(&x.one("dma1"), "x86-legacy-ports", 0x8000_0100, Desc::NONE);
    check(&x.one("PCI conf1"), "pci-conf", 0x8000_0100, Desc::NONE);
    let x = Inferred::of("047-x86_64-dell-server-megasas.ioports.txt", hints_from_file("-x86_64-"));
    check(&x.one("megasas: LSI"), "pci-driver-claim", 0x8000_0100, Desc::NONE);
}

#[test]
fn annotated_trees_are_certain_and_equal_the_truth() {
    let step = kernel_steps()
        .into_iter()
        .find(|s| s.label() == "6.1.0-56-amd64/strict-sbm2M/c-shrink-300M")
        .expect("the step of resource-tree.md §13.1");
    let d =
        parse(&step.read("observed/iomem-flags.txt"), &ParseOptions { annotations: true, ..ParseOptions::default() })
            .unwrap();
    let map = annotated(&d.tree, d.root);
    assert_eq!(map.len(), d.lines.len());
    for (id, inf) in map.iter() {
        let v = d.tree.get(id).unwrap();
        assert_eq!((inf.flags, inf.desc, inf.rule.id()), (v.flags, v.desc, "annotated"));
        assert!(inf.is_certain() && inf.assumed().is_empty());
    }
    // A handle of another tree is not in the map.
    let other = parse(b"00000000-00000fff : x\n", &ParseOptions::default()).unwrap();
    assert!(map.get(other.lines.get(0).unwrap().resource).is_none());
}
