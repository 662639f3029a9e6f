//! Flags from text: reconstructs each resource's flags and descriptor from
//! its name and place, the way the kernel sets them, for trees parsed from
//! `/proc/iomem` (which shows names, not flags).
//!
//! Every `/dev/mem` verdict depends on flags (BUSY, EXCLUSIVE, SYSRAM and
//! the driver-managed marker), so each [`Inference`] says which bits are
//! certain ([`Inference::known`]) and which are the most likely value but
//! an assumption ([`Inference::assumed`]), and names the rule that decided.
//! A bit is *known* only when the name and place determine it on every
//! kernel the specification covers (with the given [`InferHints`]);
//! otherwise the likeliest value is chosen and marked assumed.
//!
//! Sources: resource-tree.md §13 (observed flags on x86-64 and arm64),
//! §5.11 (what `__request_region` inherits; drivers that clear BUSY), §8
//! (hot-plugged RAM), devmem-policy.md §10.1 (CXL / Soft Reserved / dax /
//! kmem), and, where the specification is silent, what the kernel code
//! that creates each name does (cited per rule below).
//!
//! # Rules
//!
//! "known" lists what is certain; everything else in the flag word is
//! assumed. *on x86* means the architecture is x86, hinted or guessed from
//! names only x86 creates (`IOAPIC 0`, `Video ROM`, `PCI MMCONFIG …`); an
//! x86-only name on another architecture gets the same values, assumed.
//! *kernel* means the hint's kernel version decides. A *claim* is a resource made by
//! `__request_region`: `type|ext_type(parent) | BUSY`, desc of the parent
//! (§5.11); below a busy parent it must predate that parent (which was
//! inserted above it later), so the root's type and desc NONE are used and
//! the desc is assumed.
//!
//! | rule | name, place | flags | desc | known | evidence |
//! |---|---|---|---|---|---|
//! | `system-ram` | `System RAM` | MEM\|SYSRAM\|BUSY | NONE | all but MERGEABLE (a hot-added `System RAM` may be mergeable) | §13.1 observed; arm64 `request_standard_resources`; `add_memory` §8 |
//! | `virtio-mem-ram` | `System RAM (virtio_mem)` | 0x87000200 (v5.10+), 0x81000280 (v5.8–5.9) | parent's | MEM, SYSRAM, BUSY; the rest by kernel | §8 observed |
//! | `kmem-ram` | `System RAM (kmem)` | 0x83000200 (v5.10+) | parent's | as above | devmem-policy §10.1 |
//! | `driver-managed-ram` | other `System RAM (…)` | 0x83000200 | parent's | MEM, SYSRAM, BUSY | `add_memory_driver_managed` §8 |
//! | `crash-kernel` | `Crash kernel…` | MEM\|SYSRAM\|BUSY | CRASH_KERNEL | all | generic `crashk_res` |
//! | `kernel-image` | `Kernel code/rodata/data/bss` | MEM\|SYSRAM (+BUSY on x86 and unknown arch) | NONE | all on x86 and arm64; BUSY assumed elsewhere | §13.1; arm64 `mem_res[]` has no BUSY |
//! | `memmap-alloc` | `Memmap Alloc` | MEM\|SYSRAM\|BUSY | RESERVED | all | x86 `memmap=` reservations |
//! | `e820-reserved-low` / `-high` | `Reserved` starting below / at or above 1 MiB | MEM(\|BUSY below 1 MiB) | RESERVED | flags on x86, desc on v5.0+ | §13.1 observed; e820 `do_mark_busy` |
//! | `e820-reserved-old-low` / `-high` | `reserved` on x86 (pre-v4.12 name) | as above | NONE | flags on x86 | same rule, old name |
//! | `memblock-reserved` | `reserved` below `System RAM` (arm64 and others) | MEM\|BUSY | NONE | arm64 | `reserve_region_with_split` §5.10 |
//! | `memblock-nomap` | `reserved` at top level (arm64 and others) | MEM | NONE | flags on arm64 | arm64 nomap regions |
//! | `e820-acpi`, `e820-nvs`, `e820-unusable`, `e820-pram`, `ram-buffer` | `ACPI Tables`, `ACPI Non-volatile Storage`, `Unusable memory`, `Persistent Memory (legacy)` (busy below 1 MiB), `RAM buffer` | MEM\|BUSY (PRAM: MEM) | ACPI_TABLES, ACPI_NV_STORAGE, NONE, PERSISTENT_MEMORY_LEGACY, NONE | all on x86 | e820 types; `do_mark_busy` |
//! | `pmem`, `soft-reserved` | `Persistent Memory`, `Soft Reserved` (any architecture) | MEM | PERSISTENT_MEMORY, SOFT_RESERVED | all | e820 / NFIT / EFI; devmem-policy §10.1 |
//! | `x86-rom` | `System/Video/Adapter/Extension ROM` | MEM\|READONLY\|BUSY | NONE | all on x86 | §13.1 (MIPS boards reuse `System ROM`) |
//! | `x86-video-ram` | `Video RAM area` | MEM\|BUSY | NONE | all on x86 | x86 `video_ram_resource` |
//! | `x86-ioapic`, `x86-lapic` | `IOAPIC N`, `Local APIC` | MEM\|BUSY | NONE | all on x86 | §13.1 |
//! | `x86-hpet` | `HPET N` | MEM | NONE | all on x86 | §13.1 |
//! | `pci-mmconfig`, `pci-ecam` | `PCI MMCONFIG …`, `PCI ECAM…` | MEM\|BUSY | NONE | all (MMCONFIG: on x86) | §13.1, §13.2 |
//! | `pci-host-window` | `PCI Bus DDDD:BB` not inside another PCI window | MEM\|WINDOW, low byte 0x01 | NONE | all but PREFETCH, MEM_64, low byte (and WINDOW off x86) | §13.1 (ACPI `_CRS`) |
//! | `pci-dt-host-window` | DT node with PCI children (`pcie@10000000`) | MEM | NONE | all but WINDOW, PREFETCH, MEM_64, low byte | §13.2 |
//! | `pci-bridge-window` | `PCI Bus …` inside a PCI window; `PCI Bus #BB` | MEM (+PREFETCH\|MEM_64 above 4 GiB) | NONE | all but WINDOW, PREFETCH, MEM_64, low byte | bridge windows are never busy |
//! | `pci-bar` | `DDDD:BB:DD.F` not inside a BAR | MEM\|SIZEALIGN, PREFETCH/MEM_64 and low byte by size, place and driver | NONE | all but PREFETCH, MEM_64, READONLY, low byte (MEM_64 certain above 4 GiB) | §13.1 |
//! | `pci-driver-claim` | any child of a BAR | MEM\|BUSY (+EXCLUSIVE for `e1000e`) | NONE | all for known drivers (`virtio-pci-modern`, `e1000e`, …); BUSY, EXCLUSIVE assumed otherwise | §13.1; `pci_request_selected_regions_exclusive` |
//! | `virtio-mem-device` | `virtioN` with `System RAM (virtio_mem)` children, at top level or below non-busy resources | MEM\|SYSRAM\|EXCLUSIVE (v5.16+) | the parent's (NONE at top level) | all but EXCLUSIVE without a kernel | §13.1; §8; `__request_region` descends into non-busy containers (§5.11) |
//! | `virtio-mem-device-empty` | childless `virtioN` at top level or below non-busy resources, 1 MiB aligned (QEMU's smallest device block) | as above | as above | MEM only | §13.1 (`a-size0` steps) |
//! | `hmem-device` | `hmem.N` | MEM | SOFT_RESERVED (v6.0+) | flags | platform-device resource |
//! | `cxl-window` | `CXL Window N` | MEM | CXL | all | `cxl_acpi` |
//! | `cxl-region` | `regionN` inside a CXL window | MEM | NONE | flags when it has children | `cxl` region driver |
//! | `dax-kmem` | `daxX.Y` with `System RAM (…)` children | MEM\|SYSRAM | parent's | MEM, BUSY | `dax/kmem` sets SYSTEM_RAM, clears BUSY |
//! | `dax-device` | childless `daxX.Y` | claim | parent's | MEM | device-dax claim |
//! | `pmem-namespace` | `namespaceX.Y` | claim | parent's | all | pmem driver claim |
//! | `pnp-system` | `pnp BB:DD` | claim without BUSY | parent's | all | §5.11, §13.1 (`pnp 00:06`) |
//! | `x86-iommu` | `dmarN` | MEM\|BUSY | NONE | all on x86 | Intel IOMMU `map_iommu` |
//! | `iommu` | `amd_iommu`, `IOMMU` | MEM\|BUSY | NONE | MEM | |
//! | `vmbus-mmio` | a GUID | MEM\|BUSY\|EXCLUSIVE | NONE | all | Hyper-V `vmbus_allocate_mmio` |
//! | `x86-stolen-memory` | `Graphics Stolen Memory` | MEM | NONE | MEM | x86 early quirks |
//! | `hpet-acpi-device` | ACPI device below `HPET N` | MEM | NONE | all | §13.1 (`PNP0103:00`) |
//! | `devm-claim` | `<dev> <parent name>` | claim | parent's | all | `devm_ioremap_resource` naming |
//! | `same-name-claim` | same name as its parent | claim | parent's | all but BUSY, EXCLUSIVE, MUXED | driver claim of its own device |
//! | `acpi-device`, `platform-device` | ACPI device name (`PNP0103:00`); device-tree node name (`pl011@9000000`, `/soc/…`) | MEM | NONE | MEM; BUSY when a child is a certain claim | platform-device resources are inserted, not requested; a driver's claim shows as a child |
//! | `container` / `claim` / `unknown` | anything else: with children / inside a non-busy parent / otherwise (`cc_base`, `9000000.pl011`) | MEM / claim / MEM\|BUSY | NONE / parent's / NONE | type (+BUSY of a container with a certain claim child) / all but BUSY, EXCLUSIVE, MUXED / type | a literal or device name is what drivers pass to `request_mem_region` |
//!
//! `/proc/ioports` trees (type IO): `pci-host-window` / `pci-bridge-window`
//! (IO\|WINDOW / IO, not busy), `pci-bar` (IO\|SIZEALIGN, low byte 0x01),
//! `pci-driver-claim` (IO\|BUSY), `pnp-system` (IO, not busy),
//! `x86-legacy-ports` (`dma1`, `pic1`, `timer0`, `keyboard`, …: IO\|BUSY,
//! known on x86), `pci-conf` (`PCI conf1`: IO\|BUSY), `port-claim` (any
//! other: IO\|BUSY with BUSY, EXCLUSIVE and MUXED assumed — superio drivers
//! use `request_muxed_region` — or IO non-busy, assumed, when it has
//! children).
//!
//! Kernel versions: before v4.6 there is no SYSRAM bit and no descriptor
//! (both known clear when the hint says so); the driver-managed marker is
//! 0x80 in the low byte on v5.8–v5.9 and `SYSRAM_DRIVER_MANAGED` from
//! v5.10; the virtio-mem device region carries EXCLUSIVE from v5.16.
//! Without a kernel hint the current rules are assumed and every bit that
//! differs between those versions is marked assumed.
//!
//! Deliberate difference from devmem-policy.md §10.1: its example lists a
//! kmem-bound `dax0.0` as `MEM`; the kmem driver sets `SYSTEM_RAM` on it
//! (and clears BUSY) before adding the memory, so the inference says
//! MEM\|SYSRAM and marks SYSRAM assumed. No verdict depends on it (the busy
//! `System RAM (kmem)` child decides).

mod names;
mod rule_ids;
mod rules;
mod snapshot;

use alloc::vec::Vec;

use crate::flags::{Desc, Flags};
use crate::profile::KernelVersion;
use crate::tree::{ResourceId, ResourceTree};
pub use rule_ids::InferRule;
use snapshot::Snapshot;

/// The architecture the dump comes from (a hint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86 / x86-64 (e820 firmware map, ACPI PCI windows).
    X86,
    /// arm64 (memblock map, device tree or ACPI).
    Arm64,
    /// Any other architecture, or one the caller cannot name: only
    /// architecture-independent rules are certain.
    Other,
}

/// What the caller knows about the machine the dump comes from.
/// `Default` is "nothing": the architecture is then guessed from names that
/// exist on one architecture only, and version-dependent bits are assumed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InferHints {
    /// The architecture, if known.
    pub arch: Option<Arch>,
    /// The kernel version (e.g. from `/proc/sys/kernel/osrelease`).
    pub kernel: Option<KernelVersion>,
}

/// The inferred flags and descriptor of one resource, with what is certain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Inference {
    /// The inferred flag word.
    pub flags: Flags,
    /// The inferred descriptor.
    pub desc: Desc,
    /// Bits whose value (set or clear) is certain; every other bit is an
    /// assumption.
    pub known: Flags,
    /// Whether the descriptor is certain.
    pub desc_known: bool,
    /// Stable id of the rule that decided (see the module docs).
    pub rule: InferRule,
}

impl Inference {
    /// The bits that mean something: every bit but the unused 0x00800000.
    pub const MEANINGFUL: Flags = Flags::from_bits_retain(!0x0080_0000);

    /// The bits whose value is assumed (not [`Inference::known`]),
    /// restricted to [`Inference::MEANINGFUL`].
    pub fn assumed(&self) -> Flags {
        Flags::from_bits_retain(Self::MEANINGFUL.bits() & !self.known.bits())
    }

    /// True if every meaningful bit and the descriptor are certain.
    pub fn is_certain(&self) -> bool {
        self.assumed().is_empty() && self.desc_known
    }

    /// An inference where everything is certain (an annotated dump).
    pub const fn certain(flags: Flags, desc: Desc, rule: InferRule) -> Inference {
        Inference { flags, desc, known: Self::MEANINGFUL, desc_known: true, rule }
    }
}

/// The inference of every resource below a root, by handle.
#[derive(Clone, Debug, Default)]
pub struct InferenceMap {
    /// The resources, in pre-order (the order of `/proc/iomem`).
    ids: Vec<ResourceId>,
    /// Their inferences, in the same order (two vectors rather than one of
    /// pairs: the rules produce the inferences in place, and a million
    /// resources are not copied once more).
    infs: Vec<Inference>,
    /// Index into both by arena slot (`u32::MAX` = none).
    by_slot: Vec<u32>,
}

impl InferenceMap {
    fn new(ids: Vec<ResourceId>, infs: Vec<Inference>) -> InferenceMap {
        debug_assert_eq!(ids.len(), infs.len());
        let max = ids.iter().map(|id| id.slot() as usize + 1).max().unwrap_or(0);
        let mut by_slot = alloc::vec![u32::MAX; max];
        for (i, id) in ids.iter().enumerate() {
            by_slot[id.slot() as usize] = i as u32;
        }
        InferenceMap { ids, infs, by_slot }
    }

    /// The inference of a resource, if it was below the root.
    pub fn get(&self, id: ResourceId) -> Option<&Inference> {
        let i = *self.by_slot.get(id.slot() as usize)? as usize;
        // The slot may have been reused by another resource since: compare
        // the whole handle.
        (self.ids.get(i) == Some(&id)).then(|| &self.infs[i])
    }

    /// Every resource and its inference, in `/proc/iomem` order.
    pub fn iter(&self) -> impl Iterator<Item = (ResourceId, &Inference)> + '_ {
        self.ids.iter().copied().zip(&self.infs)
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True if there is none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Infers the flags and descriptor of every resource below `root` (the
/// iomem or the ioport root) from names and places, writes them into the
/// tree and returns them with their certainty. A handle that is not a live
/// resource of `tree` gives an empty map.
pub fn infer_flags(tree: &mut ResourceTree, root: ResourceId, hints: &InferHints) -> InferenceMap {
    let io = root == tree.ioport_root();
    let Some(snap) = Snapshot::take(tree, root) else { return InferenceMap::default() };
    let infs = rules::infer_all(&rules::Ctx::new(hints, &snap, io), &snap);
    let ids: Vec<ResourceId> = snap.slots().map(|slot| tree.handle(slot)).collect();
    drop(snap);
    // The handles were just read from this tree: their slots are live.
    tree.set_flags_desc_bulk(ids.iter().zip(&infs).map(|(id, inf)| (id.slot(), inf.flags, inf.desc)));
    InferenceMap::new(ids, infs)
}

/// The inference map of a tree whose flags are real (an annotated dump such
/// as `observed/iomem-flags.txt`): everything certain, rule `annotated`.
pub fn annotated(tree: &ResourceTree, root: ResourceId) -> InferenceMap {
    let Ok(mut pre) = tree.preorder(root) else { return InferenceMap::default() };
    let (mut ids, mut infs) = (Vec::with_capacity(tree.len()), Vec::with_capacity(tree.len()));
    while let Some((ix, _)) = pre.next_ix() {
        let (flags, desc) = tree.flags_desc(ix);
        ids.push(tree.handle(ix));
        infs.push(Inference::certain(flags, desc, InferRule::Annotated));
    }
    InferenceMap::new(ids, infs)
}

/// The architecture a tree's names reveal: x86 if any name exists only on
/// x86 (`Video ROM`, `IOAPIC 0`, `Local APIC`, `PCI MMCONFIG …`, e820
/// names), arm64 if any exists only on arm64 (`GICD`, `ARMH…` ACPI IDs,
/// `arm-smmu-v3…`, `LNRO…`), `None` if neither or both.
pub fn guess_arch(tree: &ResourceTree, root: ResourceId) -> Option<Arch> {
    Snapshot::take(tree, root).and_then(|snap| rules::guess_arch(&snap))
}
