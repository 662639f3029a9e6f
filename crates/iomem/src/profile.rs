//! Kernel-version differences as an explicit, typed choice
//! (resource-tree.md §11; devmem-policy.md §9).
//!
//! A [`KernelProfile`] names a kernel version and the rule each
//! version-dependent function follows. The named constructors give the
//! profiles the project is tested against; every rule is a public field, so a
//! caller can describe a distribution kernel with an unusual set of stable
//! backports by overriding one field.

use core::fmt;

/// A kernel version `major.minor.sublevel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelVersion {
    /// Major number (`6` in 6.1.192).
    pub major: u16,
    /// Minor number (`1` in 6.1.192).
    pub minor: u16,
    /// Stable sublevel (`192` in 6.1.192; 0 when unknown).
    pub sublevel: u16,
}

impl KernelVersion {
    /// `major.minor.sublevel`.
    pub const fn new(major: u16, minor: u16, sublevel: u16) -> KernelVersion {
        KernelVersion { major, minor, sublevel }
    }

    /// True if this version is at least `major.minor`.
    pub const fn at_least(self, major: u16, minor: u16) -> bool {
        self.major > major || (self.major == major && self.minor >= minor)
    }

    /// Parses the leading `X.Y[.Z]` of a release string such as
    /// `6.1.0-56-amd64` or `6.12.117+deb12-amd64` (what
    /// `/proc/sys/kernel/osrelease` prints). Returns `None` if it does not
    /// start with two dot-separated numbers.
    pub fn parse_release(release: &str) -> Option<KernelVersion> {
        let mut numbers = [0u16; 3];
        let mut count = 0;
        let mut rest = release.trim();
        while count < 3 {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                break;
            }
            numbers[count] = rest[..digits].parse().ok()?;
            count += 1;
            rest = &rest[digits..];
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None => break,
            }
        }
        (count >= 2).then(|| KernelVersion::new(numbers[0], numbers[1], numbers[2]))
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.sublevel)
    }
}

/// Which resources `region_intersects` counts (resource-tree.md §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionIntersectsRule {
    /// Before v6.12 (and 6.1.y/5.x.y stable kernels without the autumn-2024
    /// backport): only top-level resources count; a non-matching top-level
    /// resource is "other" even if matching resources cover it.
    TopLevelOnly,
    /// v6.12+ and patched stable kernels: inside a non-matching top-level
    /// resource, matching descendants that cover the query count.
    Descendants,
}

/// How `iomem_is_exclusive` decides (resource-tree.md §6.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExclusiveRule {
    /// v4.4 and older: exclusive iff strict checks are on and an overlapping
    /// resource is BUSY and EXCLUSIVE.
    BusyAndExclusive,
    /// v4.5 … v5.15: with strict checks, a BUSY resource is exclusive if
    /// `CONFIG_IO_STRICT_DEVMEM` is set or it carries EXCLUSIVE.
    StrictBusy,
    /// v5.16+: additionally, a resource flagged SYSTEM_RAM|EXCLUSIVE is
    /// exclusive whatever its BUSY bit and whatever `iomem=` says.
    SystemRamExclusive,
}

/// Which part of the tree `walk_system_ram_res` and `walk_mem_res` search
/// (resource-tree.md §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WalkerScope {
    /// Before v5.13: top-level resources only.
    TopLevelOnly,
    /// v5.13+: the whole tree.
    WholeTree,
}

/// The free-region allocator family (resource-tree.md §5.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FreeRegionRule {
    /// v6.1 and older: descending only, stride = size, tested against the
    /// top level of the iomem root.
    Legacy,
    /// v6.2+: `alloc_free_mem_region` (ascending) and the descending
    /// variants, stride = alignment, tested against `base`'s subtree.
    Modern,
}

/// How hot-added, driver-managed System RAM is marked (resource-tree.md §11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DriverManagedMarker {
    /// Before v5.8: no marker (`add_memory_driver_managed` does not exist).
    None,
    /// v5.8–v5.9: bit 7 of the bus-specific byte (0x80).
    LowByteBit,
    /// v5.10+: `IORESOURCE_SYSRAM_DRIVER_MANAGED` (0x02000000).
    SysramDriverManaged,
}

/// How x86's `devmem_is_allowed` orders its tests (devmem-policy.md §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum X86DevmemRule {
    /// v4.10 and older: first MiB → allowed; exclusive → denied; not RAM
    /// (`page_is_ram`) → allowed; RAM → denied. No zero-filled reads.
    FirstMibAllowed,
    /// v4.11–v4.17 (CVE-2017-7889): `page_is_ram` first (first MiB → 2,
    /// zero-filled reads; else denied), then exclusive (first MiB → 1,
    /// else denied), else allowed.
    ZeroFillPageIsRam,
    /// v4.18+: as above, but the RAM test is `region_intersects(page,
    /// SYSTEM_RAM) != DISJOINT` (partial and non-busy RAM count).
    ZeroFillRegionIntersects,
}

/// Version-dependent rules of the `/dev/mem` driver (devmem-policy.md §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DevmemRules {
    /// x86 `devmem_is_allowed` variant.
    pub x86: X86DevmemRule,
    /// `open` checks kernel lockdown (v5.4+).
    pub lockdown: bool,
    /// A claim on the iomem root revokes existing mappings under
    /// `CONFIG_IO_STRICT_DEVMEM` (v5.8+).
    pub revocation: bool,
    /// x86 with PAT and `CONFIG_STRICT_DEVMEM=n` refuses mmap of pages with
    /// `V == 0` with `-EINVAL` (before v6.16).
    pub pat_refuses_without_strict: bool,
}

impl DevmemRules {
    /// The rules of a kernel version.
    pub const fn for_version(v: KernelVersion) -> DevmemRules {
        let x86 = if v.at_least(4, 18) {
            X86DevmemRule::ZeroFillRegionIntersects
        } else if v.at_least(4, 11) {
            X86DevmemRule::ZeroFillPageIsRam
        } else {
            X86DevmemRule::FirstMibAllowed
        };
        DevmemRules {
            x86,
            lockdown: v.at_least(5, 4),
            revocation: v.at_least(5, 8),
            pat_refuses_without_strict: !v.at_least(6, 16),
        }
    }
}

/// A kernel version and the rules its version-dependent functions follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelProfile {
    /// The version the rules were derived from (informative once fields are
    /// overridden).
    pub version: KernelVersion,
    /// `region_intersects` semantics.
    pub region_intersects: RegionIntersectsRule,
    /// `iomem_is_exclusive` semantics.
    pub exclusive: ExclusiveRule,
    /// Scope of `walk_system_ram_res` / `walk_mem_res`.
    pub walkers: WalkerScope,
    /// Free-region allocator family.
    pub free_region: FreeRegionRule,
    /// `merge_system_ram_resource` and `SYSRAM_MERGEABLE` exist (v5.10+).
    pub merge_system_ram: bool,
    /// Marker of driver-managed System RAM.
    pub driver_managed: DriverManagedMarker,
    /// `walk_system_ram_res_rev` exists (~v6.10+).
    pub walk_rev: bool,
    /// The `/dev/mem` driver's rules.
    pub devmem: DevmemRules,
}

impl KernelProfile {
    /// The rules of a kernel of the given version, assuming a stable kernel
    /// carries the `region_intersects` backport from 6.1.113 on (the autumn
    /// 2024 stable update); for other stable branches before v6.12 the
    /// top-level rule is assumed — override
    /// [`KernelProfile::region_intersects`] when a vendor kernel differs.
    pub const fn for_version(version: KernelVersion) -> KernelProfile {
        let v = version;
        let region_intersects = if v.at_least(6, 12) || (v.major == 6 && v.minor == 1 && v.sublevel >= 113) {
            RegionIntersectsRule::Descendants
        } else {
            RegionIntersectsRule::TopLevelOnly
        };
        let exclusive = if v.at_least(5, 16) {
            ExclusiveRule::SystemRamExclusive
        } else if v.at_least(4, 5) {
            ExclusiveRule::StrictBusy
        } else {
            ExclusiveRule::BusyAndExclusive
        };
        let walkers = if v.at_least(5, 13) { WalkerScope::WholeTree } else { WalkerScope::TopLevelOnly };
        let free_region = if v.at_least(6, 2) { FreeRegionRule::Modern } else { FreeRegionRule::Legacy };
        let driver_managed = if v.at_least(5, 10) {
            DriverManagedMarker::SysramDriverManaged
        } else if v.at_least(5, 8) {
            DriverManagedMarker::LowByteBit
        } else {
            DriverManagedMarker::None
        };
        KernelProfile {
            version,
            region_intersects,
            exclusive,
            walkers,
            free_region,
            merge_system_ram: v.at_least(5, 10),
            driver_managed,
            walk_rev: v.at_least(6, 10),
            devmem: DevmemRules::for_version(v),
        }
    }

    /// Current mainline (the mid-2025 state the specification describes).
    pub const fn mainline() -> KernelProfile {
        KernelProfile::for_version(KernelVersion::new(6, 17, 0))
    }

    /// A late v6.1 LTS kernel (Debian bookworm's 6.1.0-56 is 6.1.192), which
    /// carries the `region_intersects` backport (resource-tree.md §11.1).
    pub const fn v6_1() -> KernelProfile {
        KernelProfile::for_version(KernelVersion::new(6, 1, 192))
    }

    /// An early v6.1 LTS kernel, before the autumn-2024 `region_intersects`
    /// backport.
    pub const fn v6_1_unpatched() -> KernelProfile {
        KernelProfile::for_version(KernelVersion::new(6, 1, 0))
    }

    /// v5.7: before `/dev/mem` revocation (v5.8) and the exclusive System
    /// RAM rule (v5.16).
    pub const fn v5_7() -> KernelProfile {
        KernelProfile::for_version(KernelVersion::new(5, 7, 0))
    }

    /// v5.15: revocation, but not yet the exclusive System RAM rule.
    pub const fn v5_15() -> KernelProfile {
        KernelProfile::for_version(KernelVersion::new(5, 15, 0))
    }

    /// v5.16: the first kernel with the exclusive System RAM rule.
    pub const fn v5_16() -> KernelProfile {
        KernelProfile::for_version(KernelVersion::new(5, 16, 0))
    }

    /// v6.12 (Debian trixie, or bookworm's 6.12.117+deb12 backport).
    pub const fn v6_12() -> KernelProfile {
        KernelProfile::for_version(KernelVersion::new(6, 12, 117))
    }

    /// The profile for a release string as `/proc/sys/kernel/osrelease`
    /// prints it. Distribution release strings that do not reveal the stable
    /// sublevel (Debian's `6.1.0-56-amd64`) are taken as the latest stable of
    /// that branch, since distributions ship current stable updates.
    pub fn from_release(release: &str) -> Option<KernelProfile> {
        let mut v = KernelVersion::parse_release(release)?;
        if v.sublevel == 0 && v.major == 6 && v.minor == 1 {
            v.sublevel = 192;
        }
        Some(KernelProfile::for_version(v))
    }
}

impl Default for KernelProfile {
    fn default() -> Self {
        KernelProfile::mainline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_strings() {
        assert_eq!(KernelVersion::parse_release("6.12.117+deb12-amd64"), Some(KernelVersion::new(6, 12, 117)));
        assert_eq!(KernelVersion::parse_release("6.1.0-56-amd64"), Some(KernelVersion::new(6, 1, 0)));
        assert_eq!(KernelVersion::parse_release("5.3"), Some(KernelVersion::new(5, 3, 0)));
        assert_eq!(KernelVersion::parse_release("linux"), None);
        assert_eq!(KernelVersion::parse_release("6"), None);
    }

    #[test]
    fn version_rules() {
        let p = KernelProfile::for_version(KernelVersion::new(5, 15, 0));
        assert_eq!(p.exclusive, ExclusiveRule::StrictBusy);
        assert_eq!(p.region_intersects, RegionIntersectsRule::TopLevelOnly);
        assert_eq!(KernelProfile::v6_1().region_intersects, RegionIntersectsRule::Descendants);
        assert_eq!(KernelProfile::v6_1_unpatched().region_intersects, RegionIntersectsRule::TopLevelOnly);
        assert_eq!(KernelProfile::v6_1().free_region, FreeRegionRule::Legacy);
        assert_eq!(KernelProfile::mainline().free_region, FreeRegionRule::Modern);
        assert_eq!(KernelProfile::from_release("6.1.0-56-amd64"), Some(KernelProfile::v6_1()));
        let old = KernelProfile::for_version(KernelVersion::new(4, 4, 0));
        assert_eq!(old.exclusive, ExclusiveRule::BusyAndExclusive);
        assert_eq!(old.walkers, WalkerScope::TopLevelOnly);
    }
}
