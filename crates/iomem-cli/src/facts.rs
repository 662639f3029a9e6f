//! What is known about the kernel whose tree is shown: its release (and so
//! the version-dependent rules), architecture, the `/dev/mem` options of its
//! configuration and its command line. Each fact records whether it was read
//! or assumed, so that output can say which.

use iomem::infer::Arch;
use iomem::{KernelProfile, KernelVersion, TreeConfig};
use iomem_devmem::capture::{CaptureError, arch_from_config};

use crate::source::{Source, SystemInfo};

/// Parses an architecture name as `uname -m`, Debian or Kconfig spell it.
pub(crate) fn arch_from_name(name: &str) -> Option<Arch> {
    match name {
        "x86" | "x86_64" | "amd64" | "i386" | "i686" => Some(Arch::X86),
        "arm64" | "aarch64" => Some(Arch::Arm64),
        "" => None,
        _ => Some(Arch::Other),
    }
}

/// The name of an architecture in output.
pub(crate) const fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86 => "x86",
        Arch::Arm64 => "arm64",
        Arch::Other => "other",
    }
}

/// A fact and whether it was read from the system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fact<T> {
    /// The value used.
    pub(crate) value: T,
    /// True if nothing said so and a default was taken.
    pub(crate) assumed: bool,
}

/// The kernel facts of a shown system.
#[derive(Clone, Debug)]
pub(crate) struct KernelFacts {
    /// The release string (`uname -r`), if known.
    pub(crate) release: Option<String>,
    /// The version-dependent rules (mainline when the release is unknown).
    pub(crate) profile: Fact<KernelProfile>,
    /// The architecture, if known.
    pub(crate) arch: Option<Arch>,
    /// `CONFIG_IO_STRICT_DEVMEM` as the `/dev/mem` policy uses it (set by
    /// [`crate::system::load`]; assumed as Debian's, set, when the
    /// configuration does not say).
    pub(crate) io_strict: Fact<bool>,
    /// `strict_iomem_checks` after boot (`CONFIG_STRICT_DEVMEM`, then
    /// `iomem=`), assumed when the configuration or the command line is
    /// unknown.
    pub(crate) strict_checks: Fact<bool>,
    /// Where the configuration came from.
    pub(crate) config_path: Option<String>,
}

impl KernelFacts {
    /// Gathers the facts; `arch` overrides what the system says. The
    /// `/dev/mem` options start as the defaults the policy assumes and are
    /// set from the policy once it is read.
    pub(crate) fn gather(source: &Source, info: &SystemInfo, arch: Option<Arch>) -> Result<KernelFacts, CaptureError> {
        let parsed = info.release.as_deref().and_then(KernelProfile::from_release);
        let profile = match parsed {
            Some(p) => Fact { value: p, assumed: false },
            None => Fact { value: KernelProfile::mainline(), assumed: true },
        };
        let from_config = match &info.config {
            Some((_, text)) => arch_from_config(text)?.map(|a| if a.is_x86() { Arch::X86 } else { Arch::Arm64 }),
            None => None,
        };
        let arch = arch
            .or(from_config)
            .or_else(|| info.release.as_deref().and_then(arch_of_release))
            .or_else(|| (*source == Source::Live).then(|| arch_from_name(std::env::consts::ARCH)).flatten());
        let debian = iomem_devmem::KernelConfig::DEBIAN;
        Ok(KernelFacts {
            release: info.release.clone(),
            profile,
            arch,
            io_strict: Fact { value: debian.io_strict_devmem, assumed: true },
            strict_checks: Fact { value: debian.strict_devmem, assumed: true },
            config_path: info.config.as_ref().map(|(p, _)| p.clone()),
        })
    }

    /// The kernel version whose rules apply.
    pub(crate) fn version(&self) -> KernelVersion {
        self.profile.value.version
    }

    /// The platform and rules of the tree to parse into.
    pub(crate) fn tree_config(&self) -> TreeConfig {
        let platform = match self.arch {
            Some(Arch::Arm64) => TreeConfig::arm64(),
            _ => TreeConfig::x86_64(),
        };
        platform.with_profile(self.profile.value)
    }
}

/// The architecture a distribution release string names (`6.1.0-56-amd64`,
/// `6.8.0-45-generic` says nothing).
fn arch_of_release(release: &str) -> Option<Arch> {
    let suffix = release.rsplit(['-', '.', '+']).next()?;
    match arch_from_name(suffix) {
        Some(Arch::Other) | None => None,
        a => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iomem::ExclusiveRule;

    #[test]
    fn release_suffixes() {
        assert_eq!(arch_of_release("6.1.0-56-amd64"), Some(Arch::X86));
        assert_eq!(arch_of_release("6.1.0-56-arm64"), Some(Arch::Arm64));
        assert_eq!(arch_of_release("6.12.117+deb12-amd64"), Some(Arch::X86));
        assert_eq!(arch_of_release("6.9.7-200.fc40.x86_64"), Some(Arch::X86));
        assert_eq!(arch_of_release("6.8.0-45-generic"), None);
    }

    #[test]
    fn example_facts() {
        let source = Source::Example;
        let info = source.info(None);
        let f = KernelFacts::gather(&source, &info, None).unwrap();
        assert_eq!(f.arch, Some(Arch::X86));
        assert!(!f.profile.assumed);
        assert_eq!(f.profile.value.exclusive, ExclusiveRule::SystemRamExclusive);
    }

    #[test]
    fn unknown_kernel_assumes_mainline() {
        let source = Source::File("x".into());
        let f = KernelFacts::gather(&source, &SystemInfo::default(), None).unwrap();
        assert!(f.profile.assumed);
        assert!(f.io_strict.assumed);
        assert!(f.strict_checks.assumed);
        assert_eq!(f.arch, None);
    }
}
