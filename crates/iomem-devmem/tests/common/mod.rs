// Shared by the devmem test files: the example machine of
// devmem-policy.md §10.1 (included with `include!`).
#![allow(dead_code)]

use iomem::procfs::{ParseOptions, parse_str};
use iomem::{KernelProfile, ResourceTree};
use iomem_devmem::{Arch, HighMemory, HighMemorySource, KernelConfig, Policy};

/// §10.1, with the flags real kernels give such resources.
pub(crate) const EXAMPLE: &str = "\
00000000-00000fff : Reserved [flags=0x80000200 MEM|BUSY desc=RESERVED]
00001000-0009fbff : System RAM [flags=0x81000200 MEM|SYSRAM|BUSY desc=NONE]
0009fc00-0009ffff : Reserved [flags=0x80000200 MEM|BUSY desc=RESERVED]
000a0000-000bffff : PCI Bus 0000:00 [flags=0x00200201 MEM|WINDOW|BITS1 desc=NONE]
000f0000-000fffff : Reserved [flags=0x80000200 MEM|BUSY desc=RESERVED]
  000f0000-000fffff : System ROM [flags=0x80004200 MEM|READONLY|BUSY desc=NONE]
00100000-7fffffff : System RAM [flags=0x81000200 MEM|SYSRAM|BUSY desc=NONE]
  01000000-01ffffff : Kernel code [flags=0x81000200 MEM|SYSRAM|BUSY desc=NONE]
80000000-8fffffff : Reserved [flags=0x00000200 MEM desc=RESERVED]
c0000000-febfffff : PCI Bus 0000:00 [flags=0x00200201 MEM|WINDOW|BITS1 desc=NONE]
  e0000000-efffffff : 0000:00:02.0 [flags=0x00040200 MEM|SIZEALIGN desc=NONE]
    e0000000-e0ffffff : drvA [flags=0x80000200 MEM|BUSY desc=NONE]
  f0000000-f0003fff : 0000:00:03.0 [flags=0x00040200 MEM|SIZEALIGN desc=NONE]
  f0004000-f0004fff : 0000:00:04.0 [flags=0x00040200 MEM|SIZEALIGN desc=NONE]
    f0004000-f0004fff : drvB [flags=0x88000200 MEM|EXCLUSIVE|BUSY desc=NONE]
100000000-17fffffff : System RAM [flags=0x81000200 MEM|SYSRAM|BUSY desc=NONE]
180000000-1bfffffff : virtio0 [flags=0x09000200 MEM|SYSRAM|EXCLUSIVE desc=NONE]
  180000000-187ffffff : System RAM (virtio_mem) [flags=0x87000200 MEM|SYSRAM|SYSRAM_DRIVER_MANAGED|SYSRAM_MERGEABLE|BUSY desc=NONE]
1c0000000-1ffffffff : Soft Reserved [flags=0x00000200 MEM desc=SOFT_RESERVED]
  1c0000000-1ffffffff : dax0.0 [flags=0x00000200 MEM desc=NONE]
    1c0000000-1ffffffff : System RAM (kmem) [flags=0x83000200 MEM|SYSRAM|SYSRAM_DRIVER_MANAGED|BUSY desc=NONE]
";

/// The example with `profile`'s rules.
pub(crate) fn tree_with(profile: KernelProfile) -> ResourceTree {
    let opts = ParseOptions { annotations: true, ..ParseOptions::default() };
    let mut t = parse_str(EXAMPLE, &opts).unwrap().tree;
    t.set_profile(profile);
    t
}

/// The example with current mainline rules.
pub(crate) fn tree() -> ResourceTree {
    tree_with(KernelProfile::mainline())
}

/// Configuration A (Debian: STRICT, IO_STRICT, no iomem=), H = 0x200000000.
pub(crate) fn policy_a(t: &ResourceTree, arch: Arch) -> Policy {
    let mut p = Policy::new(t, arch).with_config(KernelConfig::DEBIAN, "");
    p.high_memory = HighMemory { addr: 0x2_0000_0000, source: HighMemorySource::Given };
    p
}
