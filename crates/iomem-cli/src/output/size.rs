//! Sizes in binary units for people: exact when the size is a whole number
//! of some unit (`619 KiB`, `2047 MiB`), otherwise rounded to one decimal
//! and marked with `~` (`~2.3 MiB`); the range beside it is always exact.

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// The most digits an exact count may have before a larger, rounded unit
/// reads better.
const MAX_EXACT: u128 = 9999;

/// Formats a byte count (up to 2^64).
pub(crate) fn human(bytes: u128) -> String {
    // The largest unit giving an exact count of at most four digits.
    for (i, unit) in UNITS.iter().enumerate().rev() {
        let scale = 1u128 << (10 * i);
        if bytes % scale == 0 && bytes / scale <= MAX_EXACT && (bytes >= scale || i == 0) {
            return format!("{} {unit}", bytes / scale);
        }
    }
    // Not exact in any unit: the largest unit not above it, with one
    // decimal below 100 (`~14.0 MiB`), whole above (`~748 MiB`), so that the
    // result never exceeds nine characters.
    let i = UNITS.iter().enumerate().rev().map(|(i, _)| i).find(|&i| bytes >= 1u128 << (10 * i)).unwrap_or(0);
    let scale = 1u128 << (10 * i);
    let tenths = (bytes * 10 + scale / 2) / scale;
    if tenths < 1000 {
        format!("~{}.{} {}", tenths / 10, tenths % 10, UNITS[i])
    } else {
        format!("~{} {}", (bytes + scale / 2) / scale, UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn exact_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(0x400), "1 KiB");
        assert_eq!(human(0x1000), "4 KiB");
        assert_eq!(human(0x9ec00), "635 KiB");
        assert_eq!(human(0x7ff0_0000), "2047 MiB");
        assert_eq!(human(0x1_0000_0000), "4 GiB");
        assert_eq!(human(0x18000000), "384 MiB");
        assert_eq!(human(1025), "1025 B");
        assert_eq!(human(1u128 << 64), "16 EiB");
    }

    #[test]
    fn rounded_sizes() {
        // Kernel code of the example: 0x01000000-0x01e01d31.
        assert_eq!(human(0xe01d32), "~14.0 MiB");
        assert_eq!(human(0x248980), "~2.3 MiB");
        assert_eq!(human(10001), "~9.8 KiB");
        // A PCI window of a cloud VM: 748 MiB less 4 KiB.
        assert_eq!(human(0x2ebff000), "~748 MiB");
        assert_eq!(human(0x3ff0_0001), "~1023 MiB");
        for bytes in [1u128, 999, 0x2ebff000, 0x3ff0_0001, 0xe01d32, (1 << 64) - 1] {
            assert!(human(bytes).len() <= 9, "{bytes}: {}", human(bytes));
        }
    }
}
