//! Realistic inputs for the benchmarks of BENCHMARKS.md: `/proc/iomem`
//! dumps of two shapes at any size, and seeded random addresses inside
//! them.
//!
//! * [`Shape::Bars`]: an x86 machine whose PCI host window holds bridge
//!   windows (`PCI Bus DDDD:BB`), each with 16 BARs (`DDDD:BB:DD.0`, 64 KiB)
//!   and a driver claim over the first half of each BAR. Every window and
//!   BAR name is distinct (as on a real machine); claims share the few
//!   driver names.
//! * [`Shape::Virtio`]: the recorded x86 VM top level plus a virtio-mem
//!   device region (`virtio0`) holding unmerged `System RAM (virtio_mem)`
//!   blocks of 2 MiB, all sharing one name.
//!
//! The text is generated directly (no library code runs), so the same
//! bytes feed this crate's parser and its peer.

use std::fmt::Write;

/// The shape of a generated dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// PCI bridge windows, distinct BAR names, busy driver claims.
    Bars,
    /// A virtio-mem region with blocks sharing one name.
    Virtio,
}

impl Shape {
    /// Both shapes.
    pub const ALL: [Shape; 2] = [Shape::Bars, Shape::Virtio];

    /// A short name (`bars`, `virtio`).
    pub const fn name(self) -> &'static str {
        match self {
            Shape::Bars => "bars",
            Shape::Virtio => "virtio",
        }
    }

    /// The shape named `name`.
    pub fn from_name(name: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The low part of the recorded QEMU `pc` guest (Debian 6.1), below 4 GiB.
const LOW: &str = "\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000c0000-000c9bff : Video ROM
000ca000-000ca5ff : Adapter ROM
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-7ffdffff : System RAM
  01000000-01e01d31 : Kernel code
  02000000-028eafff : Kernel rodata
  02a00000-02c4897f : Kernel data
  03310000-043fffff : Kernel bss
7ffe0000-7fffffff : Reserved
80000000-febfffff : PCI Bus 0000:00
  fd000000-fdffffff : 0000:00:02.0
  fe000000-fe003fff : 0000:00:03.0
    fe000000-fe003fff : virtio-pci-modern
  febf0000-febf0fff : 0000:00:02.0
fec00000-fec003ff : IOAPIC 0
fed00000-fed003ff : HPET 0
  fed00000-fed003ff : PNP0103:00
fee00000-fee00fff : Local APIC
fffc0000-ffffffff : Reserved
100000000-17fffffff : System RAM
";

/// Lines of [`LOW`].
const LOW_LINES: usize = 25;

/// Start of the big region (PCI host window or virtio-mem device): 1 TiB.
pub const REGION: u64 = 0x100_0000_0000;
/// A virtio-mem block.
pub const VIRTIO_BLOCK: u64 = 2 << 20;
/// A BAR.
pub const BAR: u64 = 0x1_0000;
/// BARs per bridge window.
pub const BARS_PER_BRIDGE: u64 = 16;
/// Drivers whose claims sit in the BARs (shared names).
const DRIVERS: [&str; 8] = ["nvme", "virtio-pci-modern", "e1000e", "xhci-hcd", "ahci", "igb", "mlx5_core", "vfio-pci"];

/// A generated dump and where its big region lies.
#[derive(Clone, Debug)]
pub struct Dump {
    /// The `/proc/iomem` text.
    pub text: String,
    /// Resource lines.
    pub lines: usize,
    /// The populated span of the big region (first and last byte).
    pub span: (u64, u64),
}

/// A dump of `shape` with about `resources` lines (at least the fixed top
/// level plus one unit of the shape).
pub fn dump(shape: Shape, resources: usize) -> Dump {
    let mut text = String::with_capacity(resources * 48 + 4096);
    text.push_str(LOW);
    let mut lines = LOW_LINES;
    let span = match shape {
        Shape::Virtio => {
            let n = resources.saturating_sub(LOW_LINES + 1).max(1) as u64;
            let end = REGION + n * VIRTIO_BLOCK - 1;
            let _ = writeln!(text, "{REGION:08x}-{end:08x} : virtio0");
            for i in 0..n {
                let s = REGION + i * VIRTIO_BLOCK;
                let _ = writeln!(text, "  {s:08x}-{:08x} : System RAM (virtio_mem)", s + VIRTIO_BLOCK - 1);
            }
            lines += 1 + n as usize;
            (REGION, end)
        }
        Shape::Bars => {
            let per_bridge = 1 + 2 * BARS_PER_BRIDGE as usize;
            let bridges = (resources.saturating_sub(LOW_LINES + 1) / per_bridge).max(1) as u64;
            let bridge_size = BARS_PER_BRIDGE * BAR;
            let used_end = REGION + bridges * bridge_size - 1;
            // The host window is larger than what its bridges use.
            let host_end = REGION + (bridges * bridge_size).next_power_of_two() * 2 - 1;
            let _ = writeln!(text, "{REGION:08x}-{host_end:08x} : PCI Bus 0000:00");
            for b in 0..bridges {
                let (domain, bus) = (b / 256, b % 256);
                let bs = REGION + b * bridge_size;
                let _ = writeln!(text, "  {bs:08x}-{:08x} : PCI Bus {domain:04x}:{bus:02x}", bs + bridge_size - 1);
                for d in 0..BARS_PER_BRIDGE {
                    let s = bs + d * BAR;
                    let _ = writeln!(text, "    {s:08x}-{:08x} : {domain:04x}:{bus:02x}:{d:02x}.0", s + BAR - 1);
                    let driver = DRIVERS[((b * 7 + d) % DRIVERS.len() as u64) as usize];
                    let _ = writeln!(text, "      {s:08x}-{:08x} : {driver}", s + BAR / 2 - 1);
                }
            }
            lines += 1 + bridges as usize * per_bridge;
            (REGION, used_end)
        }
    };
    Dump { text, lines, span }
}

/// SplitMix64: a small, seeded, well-mixed generator (no dependency, the
/// same sequence on every machine).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi]`.
    pub fn in_range(&mut self, lo: u64, hi: u64) -> u64 {
        let width = u128::from(hi - lo) + 1;
        lo + ((u128::from(self.next_u64()) * width) >> 64) as u64
    }
}

/// `count` addresses drawn uniformly from `[lo, hi]` with `seed`.
pub fn random_addresses(seed: u64, count: usize, lo: u64, hi: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    (0..count).map(|_| rng.in_range(lo, hi)).collect()
}

/// The seed of every benchmark's random addresses.
pub const SEED: u64 = 0x0001_03e3_5eed;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_parse_and_have_the_promised_size() {
        for shape in Shape::ALL {
            for n in [1_000, 20_000] {
                let d = dump(shape, n);
                assert_eq!(d.text.lines().count(), d.lines);
                assert!(d.lines <= n && d.lines + 40 >= n, "{shape:?} {n}: {}", d.lines);
                let parsed = iomem::procfs::parse_str(&d.text, &iomem::procfs::ParseOptions::default()).unwrap();
                assert!(parsed.is_well_formed());
                assert_eq!(parsed.tree.len(), d.lines + 2);
                assert_eq!(parsed.tree.proc_iomem(), d.text);
            }
        }
    }

    #[test]
    fn bar_names_are_distinct() {
        let d = dump(Shape::Bars, 100_000);
        let mut names: Vec<&str> =
            d.text.lines().filter_map(|l| l.split_once(" : ")).map(|(_, n)| n).filter(|n| n.contains(':')).collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        // Distinct apart from the names of bus 0 the fixed low map already
        // has (`PCI Bus 0000:00`, `0000:00:02.0`, `0000:00:03.0`), which
        // the host window and the first bridge repeat.
        assert!(all - names.len() <= 6, "{all} names, {} distinct", names.len());
        assert!(names.len() > 50_000);
    }

    #[test]
    fn random_is_seeded_and_in_range() {
        let a = random_addresses(SEED, 1000, 10, 20);
        assert_eq!(a, random_addresses(SEED, 1000, 10, 20));
        assert!(a.iter().all(|&x| (10..=20).contains(&x)));
        assert!(a.contains(&10) && a.contains(&20));
    }
}
