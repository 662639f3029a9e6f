//! The rules of the inference, by name: what [`super::Inference::rule`]
//! says decided a resource (the ids of the module docs' table).

use core::fmt;

macro_rules! rules {
    ($($variant:ident = $id:literal,)*) => {
        /// The rule that decided an inference: its id (e.g. `pci-bar`) is
        /// what the module docs' table, `iomem show` and the JSON output
        /// name. Compares equal to its id as a string.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum InferRule {
            $(
                #[doc = concat!("`", $id, "`")]
                $variant,
            )*
        }

        impl InferRule {
            /// Every rule, in the order of this list.
            pub const ALL: &'static [InferRule] = &[$(InferRule::$variant,)*];

            /// The rule's id, as the documentation and the output name it.
            pub const fn id(self) -> &'static str {
                match self {
                    $(InferRule::$variant => $id,)*
                }
            }
        }
    };
}

rules! {
    AcpiDevice = "acpi-device",
    Claim = "claim",
    Container = "container",
    CrashKernel = "crash-kernel",
    CxlRegion = "cxl-region",
    CxlWindow = "cxl-window",
    DaxDevice = "dax-device",
    DaxKmem = "dax-kmem",
    DevmClaim = "devm-claim",
    DriverManagedRam = "driver-managed-ram",
    E820Acpi = "e820-acpi",
    E820Nvs = "e820-nvs",
    E820Pram = "e820-pram",
    E820ReservedHigh = "e820-reserved-high",
    E820ReservedLow = "e820-reserved-low",
    E820ReservedOldHigh = "e820-reserved-old-high",
    E820ReservedOldLow = "e820-reserved-old-low",
    E820Unusable = "e820-unusable",
    HmemDevice = "hmem-device",
    HpetAcpiDevice = "hpet-acpi-device",
    Iommu = "iommu",
    KernelImage = "kernel-image",
    KmemRam = "kmem-ram",
    MemblockNomap = "memblock-nomap",
    MemblockReserved = "memblock-reserved",
    MemmapAlloc = "memmap-alloc",
    PciBar = "pci-bar",
    PciBridgeWindow = "pci-bridge-window",
    PciConf = "pci-conf",
    PciDriverClaim = "pci-driver-claim",
    PciDtHostWindow = "pci-dt-host-window",
    PciEcam = "pci-ecam",
    PciHostWindow = "pci-host-window",
    PciMmconfig = "pci-mmconfig",
    PlatformDevice = "platform-device",
    Pmem = "pmem",
    PmemNamespace = "pmem-namespace",
    PnpSystem = "pnp-system",
    PortClaim = "port-claim",
    PortContainer = "port-container",
    RamBuffer = "ram-buffer",
    SameNameClaim = "same-name-claim",
    SoftReserved = "soft-reserved",
    SystemRam = "system-ram",
    Unknown = "unknown",
    VirtioMemDevice = "virtio-mem-device",
    VirtioMemDeviceEmpty = "virtio-mem-device-empty",
    VirtioMemRam = "virtio-mem-ram",
    VmbusMmio = "vmbus-mmio",
    X86Hpet = "x86-hpet",
    X86Ioapic = "x86-ioapic",
    X86Iommu = "x86-iommu",
    X86Lapic = "x86-lapic",
    X86LegacyPorts = "x86-legacy-ports",
    X86Rom = "x86-rom",
    X86StolenMemory = "x86-stolen-memory",
    X86VideoRam = "x86-video-ram",
    Annotated = "annotated",
}

impl fmt::Display for InferRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Shown as its id, quoted (as the `&str` it replaced was).
impl fmt::Debug for InferRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.id(), f)
    }
}

impl PartialEq<str> for InferRule {
    fn eq(&self, other: &str) -> bool {
        self.id() == other
    }
}

impl PartialEq<&str> for InferRule {
    fn eq(&self, other: &&str) -> bool {
        self.id() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_compare_as_strings() {
        let mut ids: alloc::vec::Vec<&str> = InferRule::ALL.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), InferRule::ALL.len());
        assert_eq!(InferRule::PciBar, "pci-bar");
        assert_eq!(alloc::format!("{} {:?}", InferRule::SystemRam, InferRule::SystemRam), "system-ram \"system-ram\"");
    }

    #[test]
    fn an_inference_is_16_bytes() {
        // A million-resource dump keeps one per resource.
        assert_eq!(core::mem::size_of::<super::super::Inference>(), 16);
    }
}
