//! Resource flag bits and descriptors with their exact kernel values
//! (`include/linux/ioport.h`; resource-tree.md §2.3–§2.5).

use core::fmt;

bitflags::bitflags! {
    /// `struct resource.flags`. Only the low 32 bits of the kernel's
    /// `unsigned long` are ever used, so the type is a `u32`.
    ///
    /// The type field (`TYPE_BITS`) holds one of [`Flags::IO`], [`Flags::MEM`],
    /// [`Flags::REG`], [`Flags::IRQ`], [`Flags::DMA`], [`Flags::BUS`]; note
    /// that `REG` (0x300) contains the `MEM` bit, so "has MEM" tests are true
    /// for it while type equality is not. The low byte is bus specific and
    /// opaque to the tree (see [`bus`]), but part of flag equality.
    #[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Flags: u32 {
        /// `IORESOURCE_BITS`: bus-specific low byte.
        const BITS = 0x0000_00ff;
        /// `IORESOURCE_TYPE_BITS`: the type field.
        const TYPE_BITS = 0x0000_1f00;
        /// `IORESOURCE_IO`: I/O port space.
        const IO = 0x0000_0100;
        /// `IORESOURCE_MEM`: memory space.
        const MEM = 0x0000_0200;
        /// `IORESOURCE_REG`: register offsets (contains the MEM bit).
        const REG = 0x0000_0300;
        /// `IORESOURCE_IRQ`: interrupt line.
        const IRQ = 0x0000_0400;
        /// `IORESOURCE_DMA`: DMA channel.
        const DMA = 0x0000_0800;
        /// `IORESOURCE_BUS`: bus number range.
        const BUS = 0x0000_1000;
        /// `IORESOURCE_PREFETCH`: no side effects on read.
        const PREFETCH = 0x0000_2000;
        /// `IORESOURCE_READONLY`.
        const READONLY = 0x0000_4000;
        /// `IORESOURCE_CACHEABLE`.
        const CACHEABLE = 0x0000_8000;
        /// `IORESOURCE_RANGELENGTH`.
        const RANGELENGTH = 0x0001_0000;
        /// `IORESOURCE_SHADOWABLE`.
        const SHADOWABLE = 0x0002_0000;
        /// `IORESOURCE_SIZEALIGN`: size indicates alignment.
        const SIZEALIGN = 0x0004_0000;
        /// `IORESOURCE_STARTALIGN`: start field is alignment.
        const STARTALIGN = 0x0008_0000;
        /// `IORESOURCE_MEM_64`: 64-bit memory BAR.
        const MEM_64 = 0x0010_0000;
        /// `IORESOURCE_WINDOW`: forwarded by a bridge.
        const WINDOW = 0x0020_0000;
        /// `IORESOURCE_MUXED`: software-multiplexed region.
        const MUXED = 0x0040_0000;
        /// `IORESOURCE_EXT_TYPE_BITS`: the extended-type field.
        const EXT_TYPE_BITS = 0x0100_0000;
        /// `IORESOURCE_SYSRAM`: System RAM modifier (extended type).
        const SYSRAM = 0x0100_0000;
        /// `IORESOURCE_SYSRAM_DRIVER_MANAGED`: RAM added by a driver (v5.10+).
        const SYSRAM_DRIVER_MANAGED = 0x0200_0000;
        /// `IORESOURCE_SYSRAM_MERGEABLE`: may be merged with neighbours (v5.10+).
        const SYSRAM_MERGEABLE = 0x0400_0000;
        /// `IORESOURCE_EXCLUSIVE`: user space may not map it.
        const EXCLUSIVE = 0x0800_0000;
        /// `IORESOURCE_DISABLED`.
        const DISABLED = 0x1000_0000;
        /// `IORESOURCE_UNSET`: no address assigned yet.
        const UNSET = 0x2000_0000;
        /// `IORESOURCE_AUTO`.
        const AUTO = 0x4000_0000;
        /// `IORESOURCE_BUSY`: a driver owns the range.
        const BUSY = 0x8000_0000;
        /// `IORESOURCE_SYSTEM_RAM` = `MEM | SYSRAM` (0x01000200).
        const SYSTEM_RAM = 0x0100_0200;
    }
}

/// Names of the single-bit flags above the type field, in bit order, as the
/// kernel headers spell them without the `IORESOURCE_` prefix.
const BIT_NAMES: &[(u32, &str)] = &[
    (0x0000_2000, "PREFETCH"),
    (0x0000_4000, "READONLY"),
    (0x0000_8000, "CACHEABLE"),
    (0x0001_0000, "RANGELENGTH"),
    (0x0002_0000, "SHADOWABLE"),
    (0x0004_0000, "SIZEALIGN"),
    (0x0008_0000, "STARTALIGN"),
    (0x0010_0000, "MEM_64"),
    (0x0020_0000, "WINDOW"),
    (0x0040_0000, "MUXED"),
    (0x0080_0000, "BIT23"),
    (0x0100_0000, "SYSRAM"),
    (0x0200_0000, "SYSRAM_DRIVER_MANAGED"),
    (0x0400_0000, "SYSRAM_MERGEABLE"),
    (0x0800_0000, "EXCLUSIVE"),
    (0x1000_0000, "DISABLED"),
    (0x2000_0000, "UNSET"),
    (0x4000_0000, "AUTO"),
    (0x8000_0000, "BUSY"),
];

/// The resource type field (`resource_type()`), as an enumeration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// No type bits set.
    None,
    /// `IORESOURCE_IO`.
    Io,
    /// `IORESOURCE_MEM`.
    Mem,
    /// `IORESOURCE_REG`.
    Reg,
    /// `IORESOURCE_IRQ`.
    Irq,
    /// `IORESOURCE_DMA`.
    Dma,
    /// `IORESOURCE_BUS`.
    Bus,
    /// Any other combination of the five type bits.
    Other(u32),
}

impl ResourceType {
    /// The kernel's spelling of the type (`IO`, `MEM`, ...), or `None` for
    /// an empty type field.
    pub fn name(self) -> Option<&'static str> {
        match self {
            ResourceType::None | ResourceType::Other(_) => None,
            ResourceType::Io => Some("IO"),
            ResourceType::Mem => Some("MEM"),
            ResourceType::Reg => Some("REG"),
            ResourceType::Irq => Some("IRQ"),
            ResourceType::Dma => Some("DMA"),
            ResourceType::Bus => Some("BUS"),
        }
    }
}

impl Flags {
    /// `resource_type()`: the raw 5-bit type field.
    pub const fn type_bits(self) -> u32 {
        self.bits() & Self::TYPE_BITS.bits()
    }

    /// `resource_ext_type()`: the raw extended-type field.
    pub const fn ext_type_bits(self) -> u32 {
        self.bits() & Self::EXT_TYPE_BITS.bits()
    }

    /// The type field decoded.
    pub const fn resource_type(self) -> ResourceType {
        match self.type_bits() {
            0 => ResourceType::None,
            0x100 => ResourceType::Io,
            0x200 => ResourceType::Mem,
            0x300 => ResourceType::Reg,
            0x400 => ResourceType::Irq,
            0x800 => ResourceType::Dma,
            0x1000 => ResourceType::Bus,
            other => ResourceType::Other(other),
        }
    }

    /// True if every bit of `required` is set (`(flags & required) == required`).
    pub const fn has_all(self, required: Flags) -> bool {
        self.bits() & required.bits() == required.bits()
    }

    /// True if the resource is busy (`IORESOURCE_BUSY`).
    pub const fn is_busy(self) -> bool {
        self.bits() & Self::BUSY.bits() != 0
    }

    /// The bus-specific low byte.
    pub const fn low_byte(self) -> u8 {
        (self.bits() & 0xff) as u8
    }

    /// The kernel names of the set flags, in the form of
    /// `observed/iomem-flags.txt`: the type first (`MEM`, `IO`, ...), then
    /// each set bit in ascending order, then `BITSn` for a non-zero low byte
    /// (`n` in lower-case hex). An empty flag word yields no names.
    pub fn names(self) -> FlagNames {
        FlagNames { flags: self, stage: 0 }
    }
}

/// Iterator over [`Flags::names`].
#[derive(Clone, Debug)]
pub struct FlagNames {
    flags: Flags,
    stage: usize,
}

impl Iterator for FlagNames {
    type Item = FlagName;

    fn next(&mut self) -> Option<FlagName> {
        // stage 0: type; 1..=BIT_NAMES.len(): bits; then the low byte.
        loop {
            let stage = self.stage;
            self.stage += 1;
            if stage == 0 {
                match self.flags.resource_type() {
                    ResourceType::None => continue,
                    ResourceType::Other(bits) => return Some(FlagName::Type(bits)),
                    t => return t.name().map(FlagName::Named),
                }
            }
            if let Some(&(bit, name)) = BIT_NAMES.get(stage - 1) {
                if self.flags.bits() & bit != 0 {
                    return Some(FlagName::Named(name));
                }
                continue;
            }
            if stage == BIT_NAMES.len() + 1 && self.flags.low_byte() != 0 {
                return Some(FlagName::Bits(self.flags.low_byte()));
            }
            return None;
        }
    }
}

/// One element of [`Flags::names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagName {
    /// A named type or bit (`MEM`, `BUSY`, ...).
    Named(&'static str),
    /// An unnamed combination of type bits, printed as `TYPE0x...`.
    Type(u32),
    /// The bus-specific low byte, printed as `BITSn`.
    Bits(u8),
}

impl fmt::Display for FlagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagName::Named(n) => f.write_str(n),
            FlagName::Type(bits) => write!(f, "TYPE{bits:#x}"),
            FlagName::Bits(b) => write!(f, "BITS{b:x}"),
        }
    }
}

impl fmt::Display for Flags {
    /// `MEM|SYSRAM|BUSY` style; `0` for an empty flag word.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for name in self.names() {
            if !first {
                f.write_str("|")?;
            }
            first = false;
            write!(f, "{name}")?;
        }
        if first {
            f.write_str("0")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#010x} {})", self.bits(), self)
    }
}

impl Flags {
    /// Parses one flag name as printed by [`Flags::names`] (`MEM`, `BUSY`,
    /// `BITS1`, ...). Returns `None` for an unknown name.
    pub fn from_kernel_name(name: &str) -> Option<Flags> {
        let bits = match name {
            "IO" => 0x100,
            "MEM" => 0x200,
            "REG" => 0x300,
            "IRQ" => 0x400,
            "DMA" => 0x800,
            "BUS" => 0x1000,
            _ => {
                if let Some(hex) = name.strip_prefix("BITS") {
                    let v = u8::from_str_radix(hex, 16).ok()?;
                    return Some(Flags::from_bits_retain(u32::from(v)));
                }
                BIT_NAMES.iter().find(|(_, n)| *n == name)?.0
            }
        };
        Some(Flags::from_bits_retain(bits))
    }
}

/// Bus-specific meanings of the low byte (resource-tree.md §2.4). Opaque to
/// the tree; listed so that callers can build realistic flag words.
pub mod bus {
    /// IRQ: rising edge.
    pub const IRQ_HIGHEDGE: u32 = 0x01;
    /// IRQ: falling edge.
    pub const IRQ_LOWEDGE: u32 = 0x02;
    /// IRQ: high level.
    pub const IRQ_HIGHLEVEL: u32 = 0x04;
    /// IRQ: low level.
    pub const IRQ_LOWLEVEL: u32 = 0x08;
    /// IRQ: shareable.
    pub const IRQ_SHAREABLE: u32 = 0x10;
    /// IRQ: optional.
    pub const IRQ_OPTIONAL: u32 = 0x20;
    /// IRQ: wake capable.
    pub const IRQ_WAKECAPABLE: u32 = 0x40;
    /// MEM: writeable.
    pub const MEM_WRITEABLE: u32 = 0x01;
    /// MEM: cacheable.
    pub const MEM_CACHEABLE: u32 = 0x02;
    /// MEM: range length.
    pub const MEM_RANGELENGTH: u32 = 0x04;
    /// MEM: width mask.
    pub const MEM_TYPE_MASK: u32 = 0x18;
    /// MEM: shadowable.
    pub const MEM_SHADOWABLE: u32 = 0x20;
    /// MEM: expansion ROM.
    pub const MEM_EXPANSIONROM: u32 = 0x40;
    /// MEM: non-posted.
    pub const MEM_NONPOSTED: u32 = 0x80;
    /// v5.8–v5.9 marker for driver-managed System RAM (later moved to
    /// [`super::Flags::SYSRAM_DRIVER_MANAGED`]).
    pub const MEM_DRIVER_MANAGED: u32 = 0x80;
    /// IO: 16-bit address decoding.
    pub const IO_16BIT_ADDR: u32 = 0x01;
    /// IO: fixed.
    pub const IO_FIXED: u32 = 0x02;
    /// IO: sparse.
    pub const IO_SPARSE: u32 = 0x04;
    /// PCI ROM: enabled.
    pub const ROM_ENABLE: u32 = 0x01;
    /// PCI ROM: shadow copy.
    pub const ROM_SHADOW: u32 = 0x02;
    /// PCI: fixed.
    pub const PCI_FIXED: u32 = 0x10;
    /// PCI: enhanced allocation BEI.
    pub const PCI_EA_BEI: u32 = 0x20;
}

/// `struct resource.desc` (`IORES_DESC_*`). An open set: known values have
/// constants and names; any other value is kept as is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Desc(pub u32);

impl Desc {
    /// `IORES_DESC_NONE`; as a search key it matches any descriptor.
    pub const NONE: Desc = Desc(0);
    /// `IORES_DESC_CRASH_KERNEL`.
    pub const CRASH_KERNEL: Desc = Desc(1);
    /// `IORES_DESC_ACPI_TABLES`.
    pub const ACPI_TABLES: Desc = Desc(2);
    /// `IORES_DESC_ACPI_NV_STORAGE`.
    pub const ACPI_NV_STORAGE: Desc = Desc(3);
    /// `IORES_DESC_PERSISTENT_MEMORY`.
    pub const PERSISTENT_MEMORY: Desc = Desc(4);
    /// `IORES_DESC_PERSISTENT_MEMORY_LEGACY`.
    pub const PERSISTENT_MEMORY_LEGACY: Desc = Desc(5);
    /// `IORES_DESC_DEVICE_PRIVATE_MEMORY`.
    pub const DEVICE_PRIVATE_MEMORY: Desc = Desc(6);
    /// `IORES_DESC_RESERVED`.
    pub const RESERVED: Desc = Desc(7);
    /// `IORES_DESC_SOFT_RESERVED`.
    pub const SOFT_RESERVED: Desc = Desc(8);
    /// `IORES_DESC_CXL`.
    pub const CXL: Desc = Desc(9);

    const NAMES: [&'static str; 10] = [
        "NONE",
        "CRASH_KERNEL",
        "ACPI_TABLES",
        "ACPI_NV_STORAGE",
        "PERSISTENT_MEMORY",
        "PERSISTENT_MEMORY_LEGACY",
        "DEVICE_PRIVATE_MEMORY",
        "RESERVED",
        "SOFT_RESERVED",
        "CXL",
    ];

    /// The enum name without the `IORES_DESC_` prefix, if the value is known.
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES.get(self.0 as usize).copied()
    }

    /// Parses a name as printed by [`Desc::name`] or a decimal number.
    pub fn from_name(name: &str) -> Option<Desc> {
        if let Some(i) = Self::NAMES.iter().position(|n| *n == name) {
            return Some(Desc(i as u32));
        }
        name.parse().ok().map(Desc)
    }

    /// True if, used as a search key, this descriptor matches `other`
    /// (`NONE` matches anything).
    pub const fn matches(self, other: Desc) -> bool {
        self.0 == 0 || self.0 == other.0
    }
}

impl fmt::Display for Desc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for Desc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Desc({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn exact_values() {
        assert_eq!(Flags::SYSTEM_RAM.bits(), 0x0100_0200);
        assert_eq!((Flags::SYSTEM_RAM | Flags::BUSY).bits(), 0x8100_0200);
        assert_eq!((Flags::SYSTEM_RAM | Flags::EXCLUSIVE).bits(), 0x0900_0200);
        assert_eq!(Flags::REG.resource_type(), ResourceType::Reg);
        assert!(Flags::REG.contains(Flags::MEM));
        assert_eq!(Desc::CXL.0, 9);
        assert_eq!(Desc::RESERVED.name(), Some("RESERVED"));
    }

    #[test]
    fn names_match_recorded_decoding() {
        let cases = [
            (0x8000_0200, "MEM|BUSY"),
            (0x0020_0201, "MEM|WINDOW|BITS1"),
            (0x0004_2208, "MEM|PREFETCH|SIZEALIGN|BITS8"),
            (0x0014_220c, "MEM|PREFETCH|SIZEALIGN|MEM_64|BITSc"),
            (0x8700_0200, "MEM|SYSRAM|SYSRAM_DRIVER_MANAGED|SYSRAM_MERGEABLE|BUSY"),
            (0x0900_0200, "MEM|SYSRAM|EXCLUSIVE"),
            (0x8000_4200, "MEM|READONLY|BUSY"),
            (0, "0"),
        ];
        for (bits, text) in cases {
            assert_eq!(Flags::from_bits_retain(bits).to_string(), text);
            let parsed = text
                .split('|')
                .filter(|n| *n != "0")
                .map(|n| Flags::from_kernel_name(n).unwrap())
                .fold(Flags::empty(), |a, b| a | b);
            assert_eq!(parsed.bits(), bits, "{text}");
        }
    }
}
