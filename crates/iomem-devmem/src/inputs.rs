//! The inputs of the `/dev/mem` decision besides the resource tree
//! (devmem-policy.md §1), typed, with parsers for the text files a Linux
//! machine exposes them in.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use iomem::Range;

// ----- kernel configuration ----------------------------------------------

/// The kernel configuration options the policy depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelConfig {
    /// `CONFIG_DEVMEM`: the `/dev/mem` minor exists.
    pub devmem: bool,
    /// `CONFIG_STRICT_DEVMEM`: `devmem_is_allowed` is consulted.
    pub strict_devmem: bool,
    /// `CONFIG_IO_STRICT_DEVMEM`: busy ranges are exclusive under strict
    /// checks, and claims revoke mappings.
    pub io_strict_devmem: bool,
    /// `CONFIG_X86_PAT` (and PAT enabled at run time).
    pub x86_pat: bool,
}

impl KernelConfig {
    /// Debian's stock kernels (amd64 and arm64): DEVMEM, STRICT_DEVMEM,
    /// IO_STRICT_DEVMEM and X86_PAT all set.
    pub const DEBIAN: KernelConfig =
        KernelConfig { devmem: true, strict_devmem: true, io_strict_devmem: true, x86_pat: true };

    /// The Kconfig defaults: DEVMEM=y, STRICT_DEVMEM=y (x86, arm64),
    /// IO_STRICT_DEVMEM=n, X86_PAT=y.
    pub const KCONFIG_DEFAULTS: KernelConfig =
        KernelConfig { devmem: true, strict_devmem: true, io_strict_devmem: false, x86_pat: true };
}

/// Which options a configuration file set explicitly, and which were taken
/// from [`KernelConfig::KCONFIG_DEFAULTS`] because the file did not mention
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedConfig {
    /// The resulting configuration.
    pub config: KernelConfig,
    /// Options (without `CONFIG_`) absent from the file.
    pub defaulted: Vec<&'static str>,
}

/// A malformed line in a kernel configuration file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("kernel config line {line}: {what}: {text:?}")]
pub struct ConfigError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub what: &'static str,
    /// The line.
    pub text: String,
}

/// The options read from a configuration file.
const OPTIONS: [&str; 4] = ["DEVMEM", "STRICT_DEVMEM", "IO_STRICT_DEVMEM", "X86_PAT"];

/// Parses a kernel `.config` (`/boot/config-*`, `/proc/config.gz`
/// decompressed): `CONFIG_X=y|m|n|value` and `# CONFIG_X is not set`.
/// Unrelated options and comments are ignored; an option this policy needs
/// but the file lacks takes its Kconfig default and is listed in
/// [`ParsedConfig::defaulted`].
pub fn parse_kernel_config(text: &str) -> Result<ParsedConfig, ConfigError> {
    let mut found: [Option<bool>; 4] = [None; 4];
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let (name, value) = if let Some(rest) = line.strip_prefix("# CONFIG_") {
            match rest.strip_suffix(" is not set") {
                Some(name) => (name, false),
                None => continue,
            }
        } else if let Some(rest) = line.strip_prefix("CONFIG_") {
            let Some((name, v)) = rest.split_once('=') else {
                return Err(ConfigError {
                    line: i + 1,
                    what: "an option line without '='",
                    text: crate::capture::excerpt(raw),
                });
            };
            (name, v == "y" || v == "m")
        } else if line.is_empty() || line.starts_with('#') {
            continue;
        } else {
            return Err(ConfigError {
                line: i + 1,
                what: "neither an option, a comment nor blank",
                text: crate::capture::excerpt(raw),
            });
        };
        if let Some(k) = OPTIONS.iter().position(|o| *o == name) {
            found[k] = Some(value);
        }
    }
    let d = KernelConfig::KCONFIG_DEFAULTS;
    let defaults = [d.devmem, d.strict_devmem, d.io_strict_devmem, d.x86_pat];
    let mut defaulted = Vec::new();
    let mut v = [false; 4];
    for k in 0..4 {
        v[k] = found[k].unwrap_or_else(|| {
            defaulted.push(OPTIONS[k]);
            defaults[k]
        });
    }
    Ok(ParsedConfig {
        config: KernelConfig {
            devmem: v[0],
            strict_devmem: v[1],
            // Kconfig: IO_STRICT_DEVMEM depends on STRICT_DEVMEM.
            io_strict_devmem: v[2] && v[1],
            x86_pat: v[3],
        },
        defaulted,
    })
}

// ----- lockdown -----------------------------------------------------------

/// The kernel lockdown level (`/sys/kernel/security/lockdown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Lockdown {
    /// No lockdown.
    #[default]
    None,
    /// `integrity`: denies `/dev/mem` (v5.4+).
    Integrity,
    /// `confidentiality`: denies `/dev/mem` too.
    Confidentiality,
}

impl Lockdown {
    /// The kernel's name of the level.
    pub const fn name(self) -> &'static str {
        match self {
            Lockdown::None => "none",
            Lockdown::Integrity => "integrity",
            Lockdown::Confidentiality => "confidentiality",
        }
    }

    /// Parses the securityfs file, where the active level is bracketed:
    /// `none [integrity] confidentiality`. A bare level name is accepted too.
    pub fn parse(text: &str) -> Option<Lockdown> {
        let text = text.trim();
        let active = match (text.find('['), text.find(']')) {
            (Some(a), Some(b)) if a < b => &text[a + 1..b],
            _ => text,
        };
        match active {
            "none" => Some(Lockdown::None),
            "integrity" => Some(Lockdown::Integrity),
            "confidentiality" => Some(Lockdown::Confidentiality),
            _ => None,
        }
    }
}

// ----- the caller ---------------------------------------------------------

/// Linux capability numbers used here.
pub mod cap {
    /// `CAP_DAC_OVERRIDE`.
    pub const DAC_OVERRIDE: u32 = 1;
    /// `CAP_DAC_READ_SEARCH`.
    pub const DAC_READ_SEARCH: u32 = 2;
    /// `CAP_SYS_RAWIO`.
    pub const SYS_RAWIO: u32 = 17;
    /// `CAP_SYS_ADMIN`.
    pub const SYS_ADMIN: u32 = 21;
}

/// The process that opens `/dev/mem`: credentials at `open` time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Caller {
    /// Effective (filesystem) user id.
    pub uid: u32,
    /// Effective (filesystem) group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Effective capability set (bit n = capability n), in the initial user
    /// namespace.
    pub cap_effective: u64,
}

impl Caller {
    /// uid 0 with every capability.
    pub fn root() -> Caller {
        Caller { uid: 0, gid: 0, groups: Vec::new(), cap_effective: (1u64 << 41) - 1 }
    }

    /// An ordinary user without capabilities.
    pub fn user(uid: u32, gid: u32) -> Caller {
        Caller { uid, gid, groups: Vec::new(), cap_effective: 0 }
    }

    /// True if the capability is in the effective set.
    pub const fn has_cap(&self, cap: u32) -> bool {
        cap < 64 && self.cap_effective & (1u64 << cap) != 0
    }

    /// The same caller with a capability added or removed.
    pub fn with_cap(mut self, cap: u32, on: bool) -> Caller {
        if cap < 64 {
            if on {
                self.cap_effective |= 1 << cap;
            } else {
                self.cap_effective &= !(1 << cap);
            }
        }
        self
    }

    /// Reads `Uid:`, `Gid:`, `Groups:` and `CapEff:` from a
    /// `/proc/<pid>/status` text (the second, effective, id of each line).
    pub fn from_proc_status(text: &str) -> Option<Caller> {
        let mut uid = None;
        let mut gid = None;
        let mut groups = Vec::new();
        let mut caps = None;
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let mut fields = value.split_whitespace();
            match key {
                "Uid" => uid = fields.nth(1).and_then(|v| v.parse().ok()),
                "Gid" => gid = fields.nth(1).and_then(|v| v.parse().ok()),
                "Groups" => groups = fields.filter_map(|g| g.parse().ok()).collect(),
                "CapEff" => caps = fields.next().and_then(|v| u64::from_str_radix(v, 16).ok()),
                _ => {}
            }
        }
        Some(Caller { uid: uid?, gid: gid?, groups, cap_effective: caps? })
    }
}

/// The `/dev/mem` device node: file mode and owner (the VFS checks them
/// before the driver is reached).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceNode {
    /// Permission bits (e.g. `0o640`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl DeviceNode {
    /// The usual node: `crw-r----- root kmem` (Debian: kmem is gid 15).
    pub const DEFAULT: DeviceNode = DeviceNode { mode: 0o640, uid: 0, gid: 15 };

    /// The VFS permission check (`generic_permission`) for opening with the
    /// given access: owner, group or other bits, with CAP_DAC_OVERRIDE
    /// bypassing both and CAP_DAC_READ_SEARCH bypassing read.
    pub fn permits(&self, caller: &Caller, want_write: bool) -> bool {
        let bits = if caller.uid == self.uid {
            self.mode >> 6
        } else if caller.gid == self.gid || caller.groups.contains(&self.gid) {
            self.mode >> 3
        } else {
            self.mode
        } & 0o7;
        let read_ok = bits & 0o4 != 0;
        let write_ok = bits & 0o2 != 0;
        if caller.has_cap(cap::DAC_OVERRIDE) {
            return true;
        }
        let read_ok = read_ok || caller.has_cap(cap::DAC_READ_SEARCH);
        read_ok && (!want_write || write_ok)
    }
}

// ----- architecture ---------------------------------------------------------

/// The architecture rule set (devmem-policy.md §4–§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86-64: x86 `devmem_is_allowed`, the `high_memory` read/write gate,
    /// mmap limited to `phys_bits` (the CPU's physical address width).
    X86_64 {
        /// Physical address bits of the CPU (QEMU's default `qemu64`: 40).
        phys_bits: u8,
    },
    /// arm64: generic `devmem_is_allowed`, the memory-map read/write gate,
    /// mmap limited to `pa_bits` (`CONFIG_ARM64_PA_BITS`).
    Arm64 {
        /// Configured physical address bits (Debian: 48).
        pa_bits: u8,
    },
    /// Other architectures using the generic library rule (riscv, arm):
    /// `p + count <= high_memory` gate, no mmap width limit.
    Generic,
}

/// An architecture whose physical address width no machine can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{arch}: {bits}-bit physical addresses are impossible (the architecture allows {min} to {max})")]
pub struct ArchError {
    /// The architecture's name.
    pub arch: &'static str,
    /// The width given.
    pub bits: u8,
    /// The smallest possible width.
    pub min: u8,
    /// The largest possible width.
    pub max: u8,
}

impl Arch {
    /// Physical address widths an x86-64 CPU can report (CPUID
    /// 0x80000008; QEMU accepts `phys-bits` 32 to 52, the architectural
    /// maximum is 52).
    pub const X86_64_PHYS_BITS: core::ops::RangeInclusive<u8> = 32..=52;
    /// Physical address widths of arm64 (ID_AA64MMFR0 PARange: 32 to 52
    /// bits; `CONFIG_ARM64_PA_BITS` is 48 or 52).
    pub const ARM64_PA_BITS: core::ops::RangeInclusive<u8> = 32..=52;

    /// The architecture, if its physical address width is possible. The
    /// policy never panics or wraps on impossible widths either, but its
    /// answers for them mean nothing: inputs should be checked here.
    pub fn validate(self) -> Result<Arch, ArchError> {
        let (bits, allowed) = match self {
            Arch::X86_64 { phys_bits } => (phys_bits, Self::X86_64_PHYS_BITS),
            Arch::Arm64 { pa_bits } => (pa_bits, Self::ARM64_PA_BITS),
            Arch::Generic => return Ok(self),
        };
        if allowed.contains(&bits) {
            Ok(self)
        } else {
            Err(ArchError { arch: self.name(), bits, min: *allowed.start(), max: *allowed.end() })
        }
    }

    /// True for x86.
    pub const fn is_x86(self) -> bool {
        matches!(self, Arch::X86_64 { .. })
    }

    /// A short name.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 { .. } => "x86-64",
            Arch::Arm64 { .. } => "arm64",
            Arch::Generic => "generic",
        }
    }
}

// ----- high_memory ----------------------------------------------------------

/// Where a `high_memory` value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HighMemorySource {
    /// Read from the running kernel (e.g. the recordings' introspection
    /// module).
    Recorded,
    /// Given by the user.
    Given,
    /// Estimated from the current tree: the end of the highest busy System
    /// RAM. The real value can be higher, because the kernel raises it on
    /// memory hot-add and never lowers it on hot-remove.
    Estimated,
}

/// `H`, the physical address of `high_memory` (devmem-policy.md §1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HighMemory {
    /// One past the last directly mapped RAM byte.
    pub addr: u64,
    /// Where the value comes from.
    pub source: HighMemorySource,
}

// ----- PAT memory types -------------------------------------------------

/// An x86 PAT caching mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheMode {
    /// `write-back`.
    WriteBack,
    /// `uncached-minus` (UC-).
    UncachedMinus,
    /// `uncached`.
    Uncached,
    /// `write-combining`.
    WriteCombining,
    /// `write-through`.
    WriteThrough,
}

impl CacheMode {
    /// Parses the names `/sys/kernel/debug/x86/pat_memtype_list` prints.
    pub fn parse(name: &str) -> Option<CacheMode> {
        Some(match name {
            "write-back" => CacheMode::WriteBack,
            "uncached-minus" => CacheMode::UncachedMinus,
            "uncached" => CacheMode::Uncached,
            "write-combining" => CacheMode::WriteCombining,
            "write-through" => CacheMode::WriteThrough,
            _ => return None,
        })
    }

    /// The kernel's name.
    pub const fn name(self) -> &'static str {
        match self {
            CacheMode::WriteBack => "write-back",
            CacheMode::UncachedMinus => "uncached-minus",
            CacheMode::Uncached => "uncached",
            CacheMode::WriteCombining => "write-combining",
            CacheMode::WriteThrough => "write-through",
        }
    }
}

/// What is known about the memory types the kernel (and other mappers)
/// hold for non-RAM ranges (devmem-policy.md §7.3). It is not visible in
/// `/proc/iomem`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Memtypes {
    /// Unknown: an `O_SYNC` mmap of firmware-reserved memory above 1 MiB
    /// (where the kernel keeps e.g. ACPI tables mapped write-back) may fail
    /// with `-EAGAIN`; the verdict says so instead of guessing.
    #[default]
    Unknown,
    /// The reservations, e.g. from `/sys/kernel/debug/x86/pat_memtype_list`.
    Known(Vec<(Range, CacheMode)>),
}

/// A malformed `pat_memtype_list` line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pat_memtype_list line {line}: expected 'PAT: [mem 0x…-0x…] <type>', got {text:?}")]
pub struct MemtypeError {
    /// 1-based line number.
    pub line: usize,
    /// The line.
    pub text: String,
}

impl Memtypes {
    /// Parses `/sys/kernel/debug/x86/pat_memtype_list`: a header line, then
    /// `PAT: [mem 0x<start>-0x<end>] <type>` per reservation, where `end` is
    /// exclusive.
    pub fn parse_pat_memtype_list(text: &str) -> Result<Memtypes, MemtypeError> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || !t.starts_with("PAT:") {
                continue;
            }
            let err = || MemtypeError { line: i + 1, text: line.to_string() };
            let rest = t.strip_prefix("PAT: [mem ").ok_or_else(err)?;
            let (range, kind) = rest.split_once("] ").ok_or_else(err)?;
            let (s, e) = range.split_once('-').ok_or_else(err)?;
            let hex = |v: &str| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok();
            let (s, e) = (hex(s).ok_or_else(err)?, hex(e).ok_or_else(err)?);
            if e <= s {
                return Err(err());
            }
            let mode = CacheMode::parse(kind.trim()).ok_or_else(err)?;
            out.push((Range::new(s, e - 1), mode));
        }
        Ok(Memtypes::Known(out))
    }
}

// ----- open mode --------------------------------------------------------

/// How `/dev/mem` was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpenMode {
    /// `O_RDWR` (else `O_RDONLY`).
    pub write: bool,
    /// `O_SYNC` / `O_DSYNC`: mappings are uncached (UC- with PAT).
    pub sync: bool,
}

impl OpenMode {
    /// `O_RDONLY|O_SYNC`, the form tools like `devmem` use.
    pub const RDONLY_SYNC: OpenMode = OpenMode { write: false, sync: true };
    /// `O_RDWR`.
    pub const RDWR: OpenMode = OpenMode { write: true, sync: false };
    /// `O_RDWR|O_SYNC`.
    pub const RDWR_SYNC: OpenMode = OpenMode { write: true, sync: true };
}

impl fmt::Display for OpenMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.write { "O_RDWR" } else { "O_RDONLY" })?;
        if self.sync {
            f.write_str("|O_SYNC")?;
        }
        Ok(())
    }
}
