//! The inference rules (the table in the module docs of [`super`]).
//!
//! Resources are decided in pre-order, so a parent's inference is known
//! when its children are decided: claims inherit from it, and a child's
//! place (inside a PCI window, inside a BAR, ...) is read from the rule
//! that decided its parent.

use alloc::vec::Vec;

use super::names::{
    is_acpi_device, is_bdf, is_device_tree_node, is_devm_claim_of, is_guid, is_kernel_image, is_old_pci_bus,
    is_pci_bus, is_pnp, is_x86_legacy_port, is_x86_rom, numbered, numbered_pair,
};
use super::snapshot::{Node, Snapshot};
use super::{Arch, InferHints, InferRule, InferRule as R, Inference};
use crate::flags::{Desc, Flags};
use crate::profile::KernelVersion;

const MIB: u64 = 1 << 20;
const GIB4: u64 = 1 << 32;

const MEM: Flags = Flags::MEM;
const IO: Flags = Flags::IO;
const BUSY: Flags = Flags::BUSY;
const SYSTEM_RAM: Flags = Flags::SYSTEM_RAM;
/// Bits that only exist since v4.6 (SYSRAM) or later.
const SYSRAM_FAMILY: Flags = Flags::from_bits_retain(
    Flags::SYSRAM.bits() | Flags::SYSRAM_DRIVER_MANAGED.bits() | Flags::SYSRAM_MERGEABLE.bits(),
);
/// The v5.8–v5.9 driver-managed marker in the bus-specific byte.
const OLD_DRIVER_MANAGED: Flags = Flags::from_bits_retain(0x80);
/// Every meaningful bit but the type field: "only the type is known".
const ALL_BUT_TYPE: Flags = Flags::from_bits_retain(Inference::MEANINGFUL.bits() & !Flags::TYPE_BITS.bits());

/// What a claim by an unknown driver may have done differently: cleared
/// BUSY afterwards, asked for EXCLUSIVE, or shared the range as MUXED.
const CLAIM_UNKNOWNS: Flags =
    Flags::from_bits_retain(Flags::BUSY.bits() | Flags::EXCLUSIVE.bits() | Flags::MUXED.bits());

/// PCI drivers whose claim is known, with whether it is exclusive
/// (`pci_request_selected_regions_exclusive`). Anything else inside a BAR
/// is assumed to be a plain busy claim.
const KNOWN_PCI_DRIVERS: &[(&str, bool)] = &[
    ("virtio-pci-modern", false),
    ("e1000e", true),
    ("e1000", false),
    ("igb", false),
    ("ahci", false),
    ("nvme", false),
    ("xhci-hcd", false),
    ("ehci_hcd", false),
];

/// What the rules know about the machine.
pub(super) struct Ctx {
    /// Hinted, or guessed from names that exist on one architecture only.
    arch: Option<Arch>,
    kernel: Option<KernelVersion>,
    /// The tree below the ioport root.
    io: bool,
}

impl Ctx {
    pub(super) fn new(hints: &InferHints, snap: &Snapshot<'_>, io: bool) -> Ctx {
        let arch = hints.arch.or_else(|| guess_arch(snap));
        Ctx { arch, kernel: hints.kernel, io }
    }

    fn x86(&self) -> bool {
        self.arch == Some(Arch::X86)
    }

    fn arm64(&self) -> bool {
        self.arch == Some(Arch::Arm64)
    }

    /// Whether the kernel is at least `major.minor`; `None` without a hint.
    fn since(&self, major: u16, minor: u16) -> Option<bool> {
        self.kernel.map(|k| k.at_least(major, minor))
    }

    fn root_type(&self) -> Flags {
        if self.io { IO } else { MEM }
    }

    /// Applies what a kernel older than v4.6 lacks: the SYSRAM bits and
    /// descriptors did not exist (both certain then).
    fn era(&self, mut inf: Inference) -> Inference {
        if self.since(4, 6) == Some(false) {
            inf.flags = Flags::from_bits_retain(inf.flags.bits() & !SYSRAM_FAMILY.bits());
            inf.known |= SYSRAM_FAMILY;
            inf.desc = Desc::NONE;
            inf.desc_known = true;
        }
        inf
    }
}

/// Construction helpers (private to the rules).
impl Inference {
    /// A rule whose every bit and descriptor is certain (refined below).
    fn rule(rule: InferRule, flags: Flags, desc: Desc) -> Inference {
        Inference::certain(flags, desc, rule)
    }

    fn assume(mut self, bits: Flags) -> Inference {
        self.known = Flags::from_bits_retain(self.known.bits() & !bits.bits());
        self
    }

    fn assume_if(self, cond: bool, bits: Flags) -> Inference {
        if cond { self.assume(bits) } else { self }
    }

    fn assume_desc(mut self) -> Inference {
        self.desc_known = false;
        self
    }

    fn assume_desc_if(self, cond: bool) -> Inference {
        if cond { self.assume_desc() } else { self }
    }

    fn is_busy(&self) -> bool {
        self.flags.is_busy()
    }
}

/// Infers every node, parents first.
pub(super) fn infer_all(ctx: &Ctx, snap: &Snapshot<'_>) -> Vec<Inference> {
    let mut out: Vec<Inference> = Vec::with_capacity(snap.len());
    for i in 0..snap.len() {
        let node = snap.node(i);
        let place = Place { ctx, snap, index: i, node, name: node.name(), done: &out };
        let inf = if ctx.io { place.ioport() } else { place.iomem() };
        out.push(ctx.era(inf));
    }
    out
}

/// The architecture the names reveal (see [`super::guess_arch`]).
pub(super) fn guess_arch(snap: &Snapshot<'_>) -> Option<Arch> {
    let x86 = snap.nodes().any(|n| {
        let s = n.name();
        // Not "System ROM": MIPS boards use that name too.
        matches!(s, "Video ROM" | "Adapter ROM")
            || numbered(s, "IOAPIC ")
            || numbered(s, "HPET ")
            || s.starts_with("PCI MMCONFIG")
            || matches!(s, "Local APIC" | "Video RAM area" | "ACPI Tables" | "ACPI Non-volatile Storage" | "RAM buffer")
    });
    let arm64 = snap.nodes().any(|n| {
        let s = n.name();
        matches!(s, "GICD" | "GICR") || s.starts_with("ARMH") || s.starts_with("arm-smmu-v3") || s.starts_with("LNRO")
    });
    match (x86, arm64) {
        (true, false) => Some(Arch::X86),
        (false, true) => Some(Arch::Arm64),
        _ => None,
    }
}

/// One node with everything the rules may look at.
struct Place<'a, 't> {
    ctx: &'a Ctx,
    snap: &'a Snapshot<'t>,
    index: usize,
    node: Node<'t>,
    /// `node.name()`, read once.
    name: &'t str,
    /// Inferences of the nodes before this one (its ancestors included).
    done: &'a [Inference],
}

impl<'t> Place<'_, 't> {
    fn name(&self) -> &'t str {
        self.name
    }

    fn start(&self) -> u64 {
        self.node.range().start
    }

    fn parent(&self) -> Option<(Node<'t>, &Inference)> {
        self.node.parent().map(|p| (self.snap.node(p), &self.done[p]))
    }

    fn parent_rule(&self) -> Option<InferRule> {
        self.parent().map(|(_, inf)| inf.rule)
    }

    fn children(&self) -> impl Iterator<Item = Node<'t>> + '_ {
        self.snap.children(self.index).map(|c| self.snap.node(c))
    }

    fn has_children(&self) -> bool {
        self.snap.has_children(self.index)
    }

    /// A child that can only be a `__request_region` claim made inside
    /// this resource, which proves this resource is not busy (a request
    /// never nests inside a busy resource).
    fn has_certain_claim_child(&self) -> bool {
        let me = self.name();
        self.children().any(|c| {
            let s = c.name();
            is_devm_claim_of(s, me)
                || s.starts_with("System RAM (")
                || is_pnp(s)
                || KNOWN_PCI_DRIVERS.iter().any(|(d, _)| *d == s)
        })
    }

    /// A `__request_region` claim inside the parent (§5.11): the parent's
    /// type and extended type plus BUSY, and the parent's descriptor. Below
    /// a busy parent the claim must predate it (the parent was inserted
    /// above it later), so the root's type and desc NONE are assumed.
    fn claim(&self, rule: InferRule) -> Inference {
        match self.parent() {
            Some((_, p)) if !p.is_busy() => {
                let flags = Flags::from_bits_retain(p.flags.type_bits() | p.flags.ext_type_bits()) | BUSY;
                let inf = Inference::rule(rule, flags, p.desc).assume_desc_if(!p.desc_known);
                // The ext-type bit comes from the parent: as certain as it.
                inf.assume_if(!p.known.contains(Flags::SYSRAM), Flags::SYSRAM)
            }
            Some(_) => Inference::rule(rule, self.ctx.root_type() | BUSY, Desc::NONE).assume_desc(),
            None => Inference::rule(rule, self.ctx.root_type() | BUSY, Desc::NONE),
        }
    }

    /// A resource whose children are claims: not busy (certain when a child
    /// is a certain claim), descriptor NONE (inserted, not requested).
    fn container(&self, rule: InferRule) -> Inference {
        Inference::rule(rule, self.ctx.root_type(), Desc::NONE)
            .assume(ALL_BUT_TYPE)
            .assume_desc()
            .with_busy_known(self.has_certain_claim_child())
    }

    // ----- /proc/iomem ---------------------------------------------------

    fn iomem(&self) -> Inference {
        let name = self.name();
        if let Some(inf) = self.ram(name).or_else(|| self.firmware(name)).or_else(|| self.platform(name)) {
            return inf;
        }
        if let Some(inf) = self.memory_devices(name).or_else(|| self.pci(name)) {
            return inf;
        }
        self.devices(name)
    }

    /// System RAM and what lives inside it.
    fn ram(&self, name: &str) -> Option<Inference> {
        let ctx = self.ctx;
        let inf = if name == "System RAM" {
            // Boot RAM and add_memory() RAM alike; only hot-added RAM could
            // be mergeable.
            Inference::rule(R::SystemRam, SYSTEM_RAM | BUSY, Desc::NONE).assume(Flags::SYSRAM_MERGEABLE)
        } else if let Some(driver) = name.strip_prefix("System RAM (").and_then(|r| r.strip_suffix(')')) {
            self.driver_managed_ram(driver)
        } else if name.starts_with("Crash kernel") {
            Inference::rule(R::CrashKernel, SYSTEM_RAM | BUSY, Desc::CRASH_KERNEL)
        } else if is_kernel_image(name) {
            if ctx.arm64() {
                // arm64 registers the image as System RAM without BUSY.
                Inference::rule(R::KernelImage, SYSTEM_RAM, Desc::NONE)
            } else {
                Inference::rule(R::KernelImage, SYSTEM_RAM | BUSY, Desc::NONE).assume_if(!ctx.x86(), BUSY)
            }
        } else if name == "Memmap Alloc" {
            Inference::rule(R::MemmapAlloc, SYSTEM_RAM | BUSY, Desc::RESERVED)
        } else if name == "reserved" {
            self.lower_case_reserved()
        } else {
            return None;
        };
        Some(inf)
    }

    /// `System RAM (<driver>)`: hot-added, driver-managed RAM (§8).
    fn driver_managed_ram(&self, driver: &str) -> Inference {
        let (rule, mergeable, merge_known) = match driver {
            "virtio_mem" => (R::VirtioMemRam, true, true),
            "kmem" => (R::KmemRam, false, true),
            _ => (R::DriverManagedRam, false, false),
        };
        let (desc, desc_known) = self.parent().map_or((Desc::NONE, true), |(_, p)| (p.desc, p.desc_known));
        let marker_bits = Flags::SYSRAM_DRIVER_MANAGED | Flags::SYSRAM_MERGEABLE | OLD_DRIVER_MANAGED;
        let inf = match self.ctx.since(5, 10) {
            Some(false) => {
                // v5.8–v5.9 marked driver-managed RAM in the low byte and
                // could not merge; before v5.8 there was no marker.
                let marker = if self.ctx.since(5, 8) == Some(true) { OLD_DRIVER_MANAGED } else { Flags::empty() };
                Inference::rule(rule, SYSTEM_RAM | BUSY | marker, desc)
            }
            modern => {
                let merge = if mergeable { Flags::SYSRAM_MERGEABLE } else { Flags::empty() };
                Inference::rule(rule, SYSTEM_RAM | BUSY | Flags::SYSRAM_DRIVER_MANAGED | merge, desc)
                    .assume_if(!merge_known, Flags::SYSRAM_MERGEABLE)
                    .assume_if(modern.is_none(), marker_bits)
            }
        };
        inf.assume_desc_if(!desc_known)
    }

    /// `reserved`: e820's old name on x86; memblock elsewhere.
    fn lower_case_reserved(&self) -> Inference {
        let ctx = self.ctx;
        if ctx.x86() {
            // Before v4.12 e820 called its reserved ranges "reserved", and
            // had no descriptor for them yet.
            let low = self.start() < MIB;
            let rule = if low { R::E820ReservedOldLow } else { R::E820ReservedOldHigh };
            return Inference::rule(rule, if low { MEM | BUSY } else { MEM }, Desc::NONE);
        }
        let below_ram = self.parent_rule() == Some(R::SystemRam);
        let inf = if below_ram || self.node.parent().is_some() {
            // reserve_region_with_split(System RAM, ..., "reserved"), §5.10.
            Inference::rule(R::MemblockReserved, MEM | BUSY, Desc::NONE)
        } else {
            // A no-map memblock region: plain MEM, not busy.
            Inference::rule(R::MemblockNomap, MEM, Desc::NONE).assume_desc()
        };
        inf.assume_if(!ctx.arm64(), ALL_BUT_TYPE).assume_desc_if(!ctx.arm64())
    }

    /// e820 and other firmware ranges, and x86's fixed platform resources.
    fn firmware(&self, name: &str) -> Option<Inference> {
        let ctx = self.ctx;
        let low = self.start() < MIB;
        // Names only x86 code creates: certain on x86; elsewhere (another
        // architecture reusing a name) the same values are assumed.
        let x86_only = |inf: Inference| inf.assume_if(!ctx.x86(), ALL_BUT_TYPE).assume_desc_if(!ctx.x86());
        let inf = match name {
            "Reserved" if ctx.x86() || ctx.arch.is_none() => {
                // e820 do_mark_busy: busy below 1 MiB, not above (§13.1).
                let rule = if low { R::E820ReservedLow } else { R::E820ReservedHigh };
                x86_only(Inference::rule(rule, if low { MEM | BUSY } else { MEM }, Desc::RESERVED))
                    .assume_desc_if(ctx.since(5, 0) != Some(true))
            }
            // riscv/loongarch spell no-map memblock ranges "Reserved".
            "Reserved" => Inference::rule(R::MemblockNomap, MEM, Desc::NONE).assume(ALL_BUT_TYPE).assume_desc(),
            "ACPI Tables" => x86_only(Inference::rule(R::E820Acpi, MEM | BUSY, Desc::ACPI_TABLES)),
            "ACPI Non-volatile Storage" => x86_only(Inference::rule(R::E820Nvs, MEM | BUSY, Desc::ACPI_NV_STORAGE)),
            "Unusable memory" => x86_only(Inference::rule(R::E820Unusable, MEM | BUSY, Desc::NONE)),
            "Persistent Memory (legacy)" => x86_only(Inference::rule(
                R::E820Pram,
                if low { MEM | BUSY } else { MEM },
                Desc::PERSISTENT_MEMORY_LEGACY,
            )),
            // e820 type 7 or an ACPI NFIT range (any architecture): never busy.
            "Persistent Memory" => Inference::rule(R::Pmem, MEM, Desc::PERSISTENT_MEMORY),
            // e820 or EFI soft-reserved memory (any architecture).
            "Soft Reserved" => Inference::rule(R::SoftReserved, MEM, Desc::SOFT_RESERVED),
            "RAM buffer" => x86_only(Inference::rule(R::RamBuffer, MEM | BUSY, Desc::NONE)),
            "Video RAM area" => x86_only(Inference::rule(R::X86VideoRam, MEM | BUSY, Desc::NONE)),
            "Local APIC" => x86_only(Inference::rule(R::X86Lapic, MEM | BUSY, Desc::NONE)),
            "Graphics Stolen Memory" => {
                // Inserted by x86 early quirks (not busy); i915 may have
                // requested it instead on some kernels.
                Inference::rule(R::X86StolenMemory, MEM, Desc::NONE).assume(ALL_BUT_TYPE).assume_desc()
            }
            _ if is_x86_rom(name) => x86_only(Inference::rule(R::X86Rom, MEM | Flags::READONLY | BUSY, Desc::NONE)),
            _ if numbered(name, "IOAPIC ") => x86_only(Inference::rule(R::X86Ioapic, MEM | BUSY, Desc::NONE)),
            _ if numbered(name, "HPET ") => x86_only(Inference::rule(R::X86Hpet, MEM, Desc::NONE)),
            _ if name.starts_with("PCI MMCONFIG") => x86_only(Inference::rule(R::PciMmconfig, MEM | BUSY, Desc::NONE)),
            // x86 (newer name of MMCONFIG) and the generic ECAM host driver.
            _ if name == "PCI ECAM" || name.starts_with("PCI ECAM ") => {
                Inference::rule(R::PciEcam, MEM | BUSY, Desc::NONE)
            }
            _ => return None,
        };
        Some(inf)
    }

    /// Fixed names of platform drivers.
    fn platform(&self, name: &str) -> Option<Inference> {
        let inf = if numbered(name, "dmar") {
            Inference::rule(R::X86Iommu, MEM | BUSY, Desc::NONE).assume_if(!self.ctx.x86(), ALL_BUT_TYPE)
        } else if matches!(name, "amd_iommu" | "IOMMU") {
            Inference::rule(R::Iommu, MEM | BUSY, Desc::NONE).assume(ALL_BUT_TYPE).assume_desc()
        } else if is_guid(name) {
            // Hyper-V VMBus MMIO: request_mem_region_exclusive.
            Inference::rule(R::VmbusMmio, MEM | BUSY | Flags::EXCLUSIVE, Desc::NONE)
        } else if is_pnp(name) {
            // The PnP system driver clears BUSY on its own claims (§5.11).
            let claim = self.claim(R::PnpSystem);
            Inference { flags: claim.flags - BUSY, ..claim }
        } else {
            return None;
        };
        Some(inf)
    }

    /// virtio-mem, hmem, CXL, dax, pmem namespaces.
    fn memory_devices(&self, name: &str) -> Option<Inference> {
        let ctx = self.ctx;
        let inf = if numbered(name, "virtio") {
            return self.virtio_mem_device();
        } else if numbered(name, "hmem.") {
            Inference::rule(R::HmemDevice, MEM, Desc::SOFT_RESERVED).assume_desc_if(ctx.since(6, 0) != Some(true))
        } else if numbered(name, "CXL Window ") {
            Inference::rule(R::CxlWindow, MEM, Desc::CXL)
        } else if numbered(name, "region") && self.parent_rule() == Some(R::CxlWindow) {
            Inference::rule(R::CxlRegion, MEM, Desc::NONE).assume_desc().assume_if(!self.has_children(), BUSY)
        } else if numbered_pair(name, "dax") {
            if self.children().any(|c| c.name().starts_with("System RAM (")) {
                // dax/kmem: requested, then flags set to SYSTEM_RAM (BUSY
                // cleared) so that the memory can be added inside.
                let (desc, desc_known) = self.parent().map_or((Desc::NONE, true), |(_, p)| (p.desc, p.desc_known));
                Inference::rule(R::DaxKmem, SYSTEM_RAM, desc).assume(ALL_BUT_TYPE - BUSY).assume_desc_if(!desc_known)
            } else {
                // device-dax claims its range (busy) unless kmem took it.
                self.claim(R::DaxDevice).assume(ALL_BUT_TYPE)
            }
        } else if numbered_pair(name, "namespace") {
            self.claim(R::PmemNamespace)
        } else {
            return None;
        };
        Some(inf)
    }

    /// `virtioN`: the virtio-mem device region (§13.1), not busy, flagged
    /// SYSTEM_RAM (and EXCLUSIVE from v5.16).
    ///
    /// The driver requests its region with `__request_mem_region` from the
    /// iomem root, which descends into whatever non-busy resource contains
    /// it (a firmware `Reserved` range on some hypervisors, §5.11), so the
    /// region may sit at any depth below non-busy parents; it inherits the
    /// descriptor and extended type of the resource it lands in. Device
    /// blocks are powers of two of at least 1 MiB (QEMU's minimum) and the
    /// region is block-aligned, so a region is at least 1 MiB-aligned.
    fn virtio_mem_device(&self) -> Option<Inference> {
        let exclusive = self.ctx.since(5, 16);
        let flags = if exclusive == Some(false) { SYSTEM_RAM } else { SYSTEM_RAM | Flags::EXCLUSIVE };
        // A request never nests inside a busy resource.
        let (desc, desc_known) = match self.parent() {
            None => (Desc::NONE, true),
            Some((_, p)) if !p.is_busy() => (p.desc, p.desc_known),
            Some(_) => return None,
        };
        if self.children().any(|c| c.name() == "System RAM (virtio_mem)") {
            return Some(
                Inference::rule(R::VirtioMemDevice, flags, desc)
                    .assume_if(exclusive.is_none(), Flags::EXCLUSIVE)
                    .assume_desc_if(!desc_known),
            );
        }
        // With nothing added yet, only the name and the place say it: a
        // childless region aligned to virtio-mem's smallest device block.
        let r = self.node.range();
        let aligned = r.start % MIB == 0 && r.len() % u128::from(MIB) == 0 && !r.is_empty();
        (!self.has_children() && aligned)
            .then(|| Inference::rule(R::VirtioMemDeviceEmpty, flags, desc).assume(ALL_BUT_TYPE).assume_desc())
    }

    /// PCI windows, BARs and the claims inside BARs.
    fn pci(&self, name: &str) -> Option<Inference> {
        let ctx = self.ctx;
        let parent_rule = self.parent_rule();
        let in_window = matches!(parent_rule, Some(R::PciHostWindow | R::PciDtHostWindow | R::PciBridgeWindow));
        let inf = if is_pci_bus(name) {
            if in_window || is_old_pci_bus(name) {
                self.bridge_window()
            } else {
                // ACPI _CRS host bridge window (x86): MEM|WINDOW, writeable.
                Inference::rule(R::PciHostWindow, MEM | Flags::WINDOW | Flags::from_bits_retain(0x01), Desc::NONE)
                    .assume(Flags::PREFETCH | Flags::MEM_64 | Flags::BITS)
                    .assume_if(!ctx.x86(), Flags::WINDOW)
            }
        } else if parent_rule == Some(R::PciBar) {
            self.bar_claim(name)
        } else if is_bdf(name) {
            self.bar()
        } else if is_device_tree_node(name) && self.children().any(|c| is_bdf(c.name()) || is_pci_bus(c.name())) {
            // A device-tree host bridge window (`pcie@10000000`), §13.2.
            Inference::rule(R::PciDtHostWindow, MEM, Desc::NONE)
                .assume(Flags::WINDOW | Flags::PREFETCH | Flags::MEM_64 | Flags::BITS)
        } else {
            return None;
        };
        Some(inf)
    }

    /// A PCI-to-PCI bridge window: never busy; prefetchable 64-bit above
    /// 4 GiB (assumed), plain MEM below.
    fn bridge_window(&self) -> Inference {
        let high = self.node.range().end >= GIB4;
        let flags = if high { MEM | Flags::PREFETCH | Flags::MEM_64 | Flags::from_bits_retain(0x01) } else { MEM };
        Inference::rule(R::PciBridgeWindow, flags, Desc::NONE)
            .assume(Flags::WINDOW | Flags::PREFETCH | Flags::MEM_64 | Flags::BITS)
    }

    /// A BAR: MEM|SIZEALIGN plus what the BAR register says, guessed from
    /// place, size and driver: 64-bit prefetchable above 4 GiB and for
    /// virtio-pci modern BARs, prefetchable 32-bit for 8 MiB and more
    /// (frame buffers), plain 32-bit otherwise.
    fn bar(&self) -> Inference {
        let r = self.node.range();
        let high = r.end >= GIB4;
        let virtio_modern = self.children().any(|c| c.name() == "virtio-pci-modern");
        let (prefetch, mem64) = if high || virtio_modern {
            (true, true)
        } else if r.len() >= u128::from(8 * MIB) {
            (true, false)
        } else {
            (false, false)
        };
        let mut flags = MEM | Flags::SIZEALIGN;
        if prefetch {
            flags |= Flags::PREFETCH | Flags::from_bits_retain(0x08);
        }
        if mem64 {
            flags |= Flags::MEM_64 | Flags::from_bits_retain(0x04);
        }
        Inference::rule(R::PciBar, flags, Desc::NONE)
            .assume(Flags::PREFETCH | Flags::MEM_64 | Flags::READONLY | Flags::BITS)
            // A 32-bit BAR cannot hold an address above 4 GiB.
            .with_known_if(high, Flags::MEM_64 | Flags::from_bits_retain(0x04))
    }

    /// A child of a BAR: a driver's claim (`pci_request_region`), or a
    /// platform-device resource of an MFD whose own children are claims.
    fn bar_claim(&self, name: &str) -> Inference {
        if self.has_children() {
            return self.container(R::Container);
        }
        let bar_name = self.parent().map_or("", |(p, _)| p.name());
        let known = KNOWN_PCI_DRIVERS.iter().find(|(d, _)| *d == name);
        let claim = self.claim(R::PciDriverClaim);
        match known {
            Some(&(_, true)) => Inference { flags: claim.flags | Flags::EXCLUSIVE, ..claim },
            Some(_) => claim,
            None if is_devm_claim_of(name, bar_name) => claim,
            None => claim.assume(BUSY | Flags::EXCLUSIVE),
        }
    }

    /// Device resources and claims identified by their name pattern, and
    /// the fallback.
    fn devices(&self, name: &str) -> Inference {
        if let Some((p, pinf)) = self.parent() {
            if is_devm_claim_of(name, p.name()) {
                return self.claim(R::DevmClaim);
            }
            if name == p.name() && !self.has_children() {
                return self.claim(R::SameNameClaim).assume(CLAIM_UNKNOWNS);
            }
            if is_acpi_device(name) && pinf.rule == R::X86Hpet {
                return Inference::rule(R::HpetAcpiDevice, MEM, Desc::NONE);
            }
        }
        if is_acpi_device(name) || is_device_tree_node(name) {
            // Platform-device resources are inserted, not requested: not
            // busy; a driver's claim shows as a child.
            let rule = if is_acpi_device(name) { R::AcpiDevice } else { R::PlatformDevice };
            return Inference::rule(rule, MEM, Desc::NONE)
                .assume(ALL_BUT_TYPE)
                .assume_desc()
                .with_busy_known(self.has_certain_claim_child());
        }
        if self.has_children() {
            return self.container(R::Container);
        }
        match self.parent() {
            Some((_, p)) if !p.is_busy() => self.claim(R::Claim).assume(CLAIM_UNKNOWNS),
            _ => Inference::rule(R::Unknown, MEM | BUSY, Desc::NONE).assume(ALL_BUT_TYPE).assume_desc(),
        }
    }

    // ----- /proc/ioports -------------------------------------------------

    fn ioport(&self) -> Inference {
        let name = self.name();
        let ctx = self.ctx;
        let parent_rule = self.parent_rule();
        if is_pci_bus(name) {
            let in_window = matches!(parent_rule, Some(R::PciHostWindow | R::PciBridgeWindow));
            return if in_window || is_old_pci_bus(name) {
                Inference::rule(R::PciBridgeWindow, IO, Desc::NONE).assume(Flags::WINDOW | Flags::BITS)
            } else {
                Inference::rule(R::PciHostWindow, IO | Flags::WINDOW, Desc::NONE)
                    .assume(Flags::BITS)
                    .assume_if(!ctx.x86(), Flags::WINDOW)
            };
        }
        if parent_rule == Some(R::PciBar) {
            let known = KNOWN_PCI_DRIVERS.iter().any(|(d, _)| *d == name);
            return self.claim(R::PciDriverClaim).assume_if(!known, BUSY);
        }
        if is_bdf(name) {
            // An I/O BAR: bit 0 of the register (I/O space) in the low byte.
            return Inference::rule(R::PciBar, IO | Flags::SIZEALIGN | Flags::from_bits_retain(0x01), Desc::NONE);
        }
        if is_pnp(name) {
            let claim = self.claim(R::PnpSystem);
            return Inference { flags: claim.flags - BUSY, ..claim };
        }
        if is_x86_legacy_port(name) {
            return Inference::rule(R::X86LegacyPorts, IO | BUSY, Desc::NONE).assume_if(!ctx.x86(), ALL_BUT_TYPE);
        }
        if name.starts_with("PCI conf") {
            return Inference::rule(R::PciConf, IO | BUSY, Desc::NONE).assume_if(!ctx.x86(), ALL_BUT_TYPE);
        }
        if self.has_children() {
            return Inference::rule(R::PortContainer, IO, Desc::NONE)
                .assume(ALL_BUT_TYPE)
                .with_busy_known(self.has_certain_claim_child());
        }
        self.claim(R::PortClaim).assume(CLAIM_UNKNOWNS)
    }
}

/// Refinements that mark bits certain again.
impl Inference {
    fn with_known_if(mut self, cond: bool, bits: Flags) -> Inference {
        if cond {
            self.known |= bits;
        }
        self
    }

    fn with_busy_known(self, known: bool) -> Inference {
        self.with_known_if(known, BUSY)
    }
}
