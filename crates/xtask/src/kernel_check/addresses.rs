//! The guest's `/proc/iomem` as the harness reads it, and the physical
//! addresses probed at each step, labelled as the recordings label them
//! (fixtures/kernel/README.md, "Labels").

use std::collections::BTreeSet;

/// One line of `/proc/iomem`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Res {
    /// Nesting depth (two spaces per level).
    pub(crate) depth: usize,
    /// First address.
    pub(crate) start: u64,
    /// Last address (inclusive).
    pub(crate) end: u64,
    /// The name.
    pub(crate) name: String,
}

/// Parses `/proc/iomem` text (lines the harness cannot read are skipped:
/// `iomem show` is what is checked against the text, not this).
pub(crate) fn parse_iomem(text: &str) -> Vec<Res> {
    let mut out = Vec::new();
    for line in text.lines() {
        let depth = (line.len() - line.trim_start_matches(' ').len()) / 2;
        let Some((range, name)) = line.trim_start().split_once(" : ") else { continue };
        let Some((a, b)) = range.split_once('-') else { continue };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else { continue };
        out.push(Res { depth, start, end, name: name.to_string() });
    }
    out
}

/// The device regions the driver claimed: top-level resources named
/// `virtioN` (`[start, end]`, name).
pub(crate) fn device_regions(iomem: &[Res]) -> Vec<(u64, u64, String)> {
    iomem
        .iter()
        .filter(|r| {
            r.depth == 0
                && r.name.strip_prefix("virtio").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|r| (r.start, r.end, r.name.clone()))
        .collect()
}

/// One past the end of the highest System RAM (boot RAM or hot-plugged).
pub(crate) fn system_ram_end(iomem: &[Res]) -> u64 {
    iomem.iter().filter(|r| r.name.starts_with("System RAM")).map(|r| r.end.saturating_add(1)).max().unwrap_or(0)
}

const MIB: u64 = 1 << 20;
const PAGE: u64 = 0x1000;

fn size_label(n: u64) -> String {
    if n == 0 {
        "0".to_string()
    } else if n % MIB == 0 {
        format!("{}M", n / MIB)
    } else {
        format!("{n:#x}")
    }
}

/// What the chooser needs to know beyond `/proc/iomem`.
pub(crate) struct Inputs<'a> {
    /// The virtio-mem device regions QEMU reports: (index, start, size).
    pub(crate) devices: &'a [(usize, u64, u64)],
    /// Linux's memory block size.
    pub(crate) block_size: u64,
    /// The first address of every memory block that exists (is added).
    pub(crate) added: &'a BTreeSet<u64>,
    /// The kernel's `high_memory` (physical).
    pub(crate) high_memory: u64,
}

/// The addresses to probe with their labels, sorted by address (the first
/// reason an address was chosen names it).
pub(crate) fn choose(iomem: &[Res], inp: &Inputs<'_>) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = Vec::new();
    let mut add = |a: u64, label: String| {
        if !out.iter().any(|(x, _)| *x == a) {
            out.push((a, label));
        }
    };
    for (a, l) in [
        (0x0, "low1M-page0"),
        (0x1000, "low1M-ram"),
        (0x9f000, "low1M-ram-top"),
        (0x9fc00, "low1M-reserved-9fc00"),
        (0xa0000, "low1M-vga-window"),
        (0xc0000, "low1M-video-rom"),
        (0xe0000, "low1M-reserved-e0000"),
        (0xf0000, "low1M-system-rom"),
        (0xff000, "low1M-last-page"),
        (0x100000, "ram-1M"),
    ] {
        add(a, l.to_string());
    }
    for (name, label) in [("Kernel code", "ram-kernel-code"), ("Kernel bss", "ram-kernel-bss")] {
        if let Some(r) = iomem.iter().find(|r| r.name == name) {
            add(r.start, label.to_string());
        }
    }
    add(0x4000_0000, "ram-1G".to_string());
    if let Some(top) =
        iomem.iter().filter(|r| r.depth == 0 && r.name == "System RAM" && r.start >= MIB).max_by_key(|r| r.end)
    {
        add(top.end + 1 - PAGE, "ram-last-page".to_string());
    }
    for r in iomem.iter().filter(|r| r.depth == 0 && r.name == "Reserved" && r.start >= MIB) {
        add(r.start, format!("reserved@{:x}", r.start));
    }
    for r in iomem.iter().filter(|r| r.depth == 0 && r.name.starts_with("ACPI")) {
        add(r.start, format!("acpi:{}", r.name));
    }
    for (a, l) in
        [(0xfec0_0000, "ioapic"), (0xfed0_0000, "hpet"), (0xfee0_0000, "lapic"), (0xfffc_0000, "bios-rom-fffc0000")]
    {
        add(a, l.to_string());
    }
    for r in iomem.iter().filter(|r| r.name.starts_with("PCI Bus") && r.start >= MIB) {
        let covered = iomem.iter().any(|x| x.depth > r.depth && x.start <= r.start && r.start <= x.end);
        add(r.start, format!("pci-window-start-{}", if covered { "occupied" } else { "free" }));
    }
    for (i, r) in iomem.iter().enumerate() {
        if r.name.starts_with("0000:") && r.start >= MIB {
            let child = iomem[i + 1..].iter().take_while(|x| x.depth > r.depth).find(|x| x.depth == r.depth + 1);
            let tag = child.map_or("unclaimed".to_string(), |c| format!("claimed-{}", c.name));
            add(r.start, format!("pci-bar-{}-{tag}", r.name));
        }
    }
    for &(idx, start, size) in inp.devices {
        let pre = if idx == 0 { "vmem".to_string() } else { format!("vmem{idx}") };
        let blocks = size / inp.block_size;
        for mb in 0..blocks {
            let base = start + mb * inp.block_size;
            if inp.added.contains(&base) {
                for off in [0, 44 * MIB, 64 * MIB, 104 * MIB, inp.block_size - PAGE] {
                    if off < inp.block_size {
                        add(base + off, format!("{pre}-mb{mb}+{}:added", size_label(off)));
                    }
                }
            } else if mb <= 8 || mb == 15 || mb == 16 || mb + 1 == blocks {
                add(base, format!("{pre}-mb{mb}+0:not-added"));
            }
        }
        add(start + size - PAGE, format!("{pre}-last-page"));
        add(start + size, format!("{pre}-end-first-byte-after"));
    }
    if inp.high_memory > 0 {
        add(inp.high_memory - 1, "high_memory-1".to_string());
        add(inp.high_memory, "high_memory".to_string());
    }
    for r in iomem.iter().filter(|r| r.start >= MIB && !r.name.starts_with("System RAM")) {
        add(r.start, format!("res-start:{}", r.name));
    }
    let top = inp.devices.iter().map(|&(_, a, s)| a + s).max().unwrap_or(0);
    if top < 0x3f00_0000_0000 {
        add(0x3f00_0000_0000, "unassigned-high".to_string());
    }
    let mut out: Vec<(u64, String)> = out
        .into_iter()
        .map(|(a, l)| {
            let l =
                l.chars().map(|c| if c.is_ascii_alphanumeric() || "_.:+@-".contains(c) { c } else { '_' }).collect();
            (a, l)
        })
        .collect();
    out.sort_by_key(|(a, _)| *a);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const IOMEM: &str = "00000000-00000fff : Reserved
00001000-0009fbff : System RAM
000a0000-000bffff : PCI Bus 0000:00
00100000-7ffdffff : System RAM
  01000000-01bfffff : Kernel code
  02c00000-02ffffff : Kernel bss
7ffe0000-7fffffff : Reserved
febf0000-febf3fff : 0000:00:03.0
  febf0000-febf3fff : virtio-pci-modern
fed00000-fed003ff : HPET 0
  fed00000-fed003ff : PNP0103:00
100000000-1ffffffff : virtio0
  100000000-13fffffff : System RAM (virtio_mem)
";

    #[test]
    fn parses_and_finds_regions() {
        let r = parse_iomem(IOMEM);
        assert_eq!(r.len(), 13);
        assert_eq!(r[4], Res { depth: 1, start: 0x100_0000, end: 0x1bf_ffff, name: "Kernel code".into() });
        assert_eq!(device_regions(&r), [(0x1_0000_0000, 0x1_ffff_ffff, "virtio0".to_string())]);
        assert_eq!(system_ram_end(&r), 0x1_4000_0000);
    }

    #[test]
    fn labels_follow_the_recordings() {
        let r = parse_iomem(IOMEM);
        let added: BTreeSet<u64> = (0..8).map(|n| 0x1_0000_0000 + n * (128 << 20)).collect();
        let devices = [(0, 0x1_0000_0000, 4 << 30)];
        let inp = Inputs { devices: &devices, block_size: 128 << 20, added: &added, high_memory: 0x1_4000_0000 };
        let a = choose(&r, &inp);
        let label = |addr: u64| a.iter().find(|(x, _)| *x == addr).map(|(_, l)| l.as_str());
        assert_eq!(label(0x9f000), Some("low1M-ram-top"));
        assert_eq!(label(0x100_0000), Some("ram-kernel-code"));
        assert_eq!(label(0x7ffd_f000), Some("ram-last-page"));
        assert_eq!(label(0x7ffe_0000), Some("reserved@7ffe0000"));
        assert_eq!(label(0xfebf_0000), Some("pci-bar-0000:00:03.0-claimed-virtio-pci-modern"));
        assert_eq!(label(0x1_0000_0000), Some("vmem-mb0+0:added"));
        assert_eq!(label(0x1_07ff_f000), Some("vmem-mb0+0x7fff000:added"));
        assert_eq!(label(0x1_4000_0000), Some("vmem-mb8+0:not-added"));
        assert_eq!(label(0x1_3fff_ffff), Some("high_memory-1"));
        assert_eq!(label(0x1_ffff_f000), Some("vmem-last-page"));
        assert_eq!(label(0x2_0000_0000), Some("vmem-end-first-byte-after"));
        assert_eq!(label(0xfed0_0000), Some("hpet"));
        assert_eq!(label(0x3f00_0000_0000), Some("unassigned-high"));
        assert!(a.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(a.iter().all(|(_, l)| !l.contains(' ')));
    }
}
