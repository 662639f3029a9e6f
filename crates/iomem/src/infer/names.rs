//! Name patterns of resources real kernels create (what `/proc/iomem`
//! prints for them). Pure predicates on the name text.

/// `prefix` followed by one or more decimal digits (`virtio0`, `dmar1`,
/// `IOAPIC 0`, `region2`, `hmem.0`).
pub(super) fn numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `<digits>.<digits>` after `prefix` (`dax0.0`, `namespace3.0`).
pub(super) fn numbered_pair(name: &str, prefix: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else { return false };
    let Some((a, b)) = rest.split_once('.') else { return false };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(a) && digits(b)
}

/// Exactly `n` hex digits. Works on bytes: names may hold any text and
/// slicing a `str` inside a character would panic.
fn hex_digits(s: &[u8], n: usize) -> bool {
    s.len() == n && s.iter().all(u8::is_ascii_hexdigit)
}

/// A PCI device name as the kernel prints it, `DDDD:BB:DD.F` (`0000:00:02.0`).
pub(super) fn is_bdf(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 12
        && hex_digits(&b[..4], 4)
        && b[4] == b':'
        && hex_digits(&b[5..7], 2)
        && b[7] == b':'
        && hex_digits(&b[8..10], 2)
        && b[10] == b'.'
        && (b'0'..=b'7').contains(&b[11])
}

/// A PCI bus resource name: `PCI Bus DDDD:BB` (current) or `PCI Bus #BB`
/// (2.6-era kernels).
pub(super) fn is_pci_bus(name: &str) -> bool {
    match name.as_bytes().strip_prefix(b"PCI Bus ") {
        Some(rest) => match rest.strip_prefix(b"#") {
            Some(bus) => hex_digits(bus, 2),
            None => rest.len() == 7 && hex_digits(&rest[..4], 4) && rest[4] == b':' && hex_digits(&rest[5..], 2),
        },
        None => false,
    }
}

/// The old (2.6-era) `PCI Bus #BB` form, used for bridge windows.
pub(super) fn is_old_pci_bus(name: &str) -> bool {
    name.starts_with("PCI Bus #") && is_pci_bus(name)
}

/// An ACPI device name `<HID>:<instance>`: a 7- or 8-character hardware ID
/// (`PNP0103`, `INT34C5`, `MSFT0101`, `LNRO0005`, `QEMU0002`) whose last
/// four characters are hex, then `:` and two hex digits.
pub(super) fn is_acpi_device(name: &str) -> bool {
    let Some((hid, inst)) = name.split_once(':') else { return false };
    let hid = hid.as_bytes();
    if hid.len() != 7 && hid.len() != 8 {
        return false;
    }
    let (vendor, number) = hid.split_at(hid.len() - 4);
    vendor.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && vendor[0].is_ascii_uppercase()
        && hex_digits(number, 4)
        && hex_digits(inst.as_bytes(), 2)
}

/// A PnP device claimed by the PnP system-board driver: `pnp BB:DD`.
pub(super) fn is_pnp(name: &str) -> bool {
    name.as_bytes()
        .strip_prefix(b"pnp ")
        .is_some_and(|r| r.len() == 5 && hex_digits(&r[..2], 2) && r[2] == b':' && hex_digits(&r[3..], 2))
}

/// A GUID (`5620e0c7-8062-4dce-aeb7-520c7ef76171`): a Hyper-V VMBus device.
pub(super) fn is_guid(name: &str) -> bool {
    let parts: [usize; 5] = [8, 4, 4, 4, 12];
    let mut it = name.split('-');
    parts.iter().all(|&n| it.next().is_some_and(|p| hex_digits(p.as_bytes(), n))) && it.next().is_none()
}

/// A device-tree node name, the name of the resource a platform device was
/// created with (`pl011@9000000`, `/soc/i2c@0x884000`,
/// `/amba_pl/axi_quad_spi@41e00000`).
pub(super) fn is_device_tree_node(name: &str) -> bool {
    (name.contains('@') || name.starts_with('/')) && !name.contains(' ')
}

/// The name `devm_ioremap_resource` gives its claim since v5.9:
/// `"<device> <resource name>"`, here with the parent's name as the
/// resource name (`9000000.pl011 pl011@9000000`, `INT34C5:00 INT34C5:00`,
/// `i2c_designware.0 lpss_dev`).
pub(super) fn is_devm_claim_of(name: &str, parent: &str) -> bool {
    name.strip_suffix(parent)
        .and_then(|dev| dev.strip_suffix(' '))
        .is_some_and(|dev| !dev.is_empty() && !dev.contains(' '))
}

/// The kernel image resources below System RAM.
pub(super) fn is_kernel_image(name: &str) -> bool {
    matches!(name, "Kernel code" | "Kernel rodata" | "Kernel data" | "Kernel bss")
}

/// x86's BIOS ROM resources (`probe_roms`).
pub(super) fn is_x86_rom(name: &str) -> bool {
    matches!(name, "System ROM" | "Video ROM" | "Adapter ROM" | "Extension ROM")
}

/// x86's legacy ioport claims (`standard_io_resources`).
pub(super) fn is_x86_legacy_port(name: &str) -> bool {
    matches!(name, "dma1" | "pic1" | "timer0" | "timer1" | "keyboard" | "dma page reg" | "pic2" | "dma2" | "fpu")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(numbered("virtio0", "virtio") && numbered("virtio12", "virtio") && !numbered("virtio", "virtio"));
        assert!(!numbered("virtio-pci-modern", "virtio"));
        assert!(numbered_pair("dax0.0", "dax") && numbered_pair("namespace3.0", "namespace"));
        assert!(!numbered_pair("dax0", "dax") && !numbered_pair("dax.0", "dax"));
        assert!(is_bdf("0000:00:02.0") && is_bdf("000d:03:00.1") && !is_bdf("0000:00:02.8"));
        assert!(!is_bdf("0000:00:1f.5 0000:00:1f.5"));
        assert!(is_pci_bus("PCI Bus 0000:00") && is_pci_bus("PCI Bus #0d") && is_old_pci_bus("PCI Bus #01"));
        assert!(!is_pci_bus("PCI Bus") && !is_old_pci_bus("PCI Bus 0000:01"));
        for id in ["PNP0103:00", "INT34C5:00", "MSFT0101:00", "LNRO0005:1f", "QEMU0002:00", "ARMHC600:00", "IFX0785:00"]
        {
            assert!(is_acpi_device(id), "{id}");
        }
        assert!(!is_acpi_device("pnp 00:06") && !is_acpi_device("0000:00:02.0") && !is_acpi_device("INT34C5:00 x"));
        // Multi-byte text where a slice boundary would fall never panics.
        for odd in ["ééééééééééé:", "é:00", "PCI Bus ééé:é", "pnp é:0", "ééééééééééé"] {
            assert!(!is_acpi_device(odd) && !is_bdf(odd) && !is_pci_bus(odd) && !is_pnp(odd), "{odd}");
        }
        assert!(is_pnp("pnp 00:06") && !is_pnp("pnp 0:06"));
        assert!(is_guid("5620e0c7-8062-4dce-aeb7-520c7ef76171") && !is_guid("5620e0c7-8062-4dce-aeb7"));
        assert!(is_device_tree_node("pl011@9000000") && is_device_tree_node("/soc/i2c@0x884000"));
        assert!(!is_device_tree_node("9000000.pl011 pl011@9000000") && !is_device_tree_node("9000000.pl011"));
        assert!(!is_device_tree_node("dax0.0") && !is_device_tree_node("System RAM"));
        assert!(is_devm_claim_of("9000000.pl011 pl011@9000000", "pl011@9000000"));
        assert!(is_devm_claim_of("INT34C5:00 INT34C5:00", "INT34C5:00"));
        assert!(!is_devm_claim_of("INT34C5:00", "INT34C5:00") && !is_devm_claim_of(" x", "x"));
    }
}
