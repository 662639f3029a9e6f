//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::source::Source;
use iomem::infer::Arch;

/// The Linux physical address map (/proc/iomem), exactly as the kernel keeps it.
#[derive(Debug, Parser)]
#[command(name = "iomem", version, propagate_version = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options that contradict each other in a way clap's declarations cannot
/// say: reported like clap's usage errors, with exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the resource tree of a machine, a captured system or a dump.
    ///
    /// Reads /proc/iomem of the running machine unless --file, --root or
    /// --example says otherwise. The default output is an annotated tree:
    /// sizes, flags in kernel names (inferred ones marked `?`, since
    /// /proc/iomem does not show flags) and the regions /dev/mem refuses
    /// (iomem_is_exclusive). Reading the live file needs CAP_SYS_ADMIN
    /// (root): everybody else gets zeros.
    Show(ShowArgs),
    /// Explain what /dev/mem does at physical addresses: open, read, write
    /// and mmap, the rule and the resource that decided, and what would
    /// change it.
    ///
    /// Addresses are hexadecimal (`0x` optional, as /proc/iomem prints
    /// them): ADDR (one byte; mmap of its page), ADDR-END (inclusive) or
    /// ADDR+LEN (LEN hexadecimal, or decimal with a K, M, G or T suffix),
    /// several per call. A live machine is judged from /proc/iomem (read
    /// as root), /proc/cmdline, the kernel configuration
    /// (/boot/config-RELEASE or /proc/config.gz), the lockdown state, the
    /// CPU's address width and the credentials of this very process;
    /// --assume changes any of them ("what if").
    Check(CheckArgs),
    /// List the physical ranges a memory-acquisition tool may read through
    /// /dev/mem on this system, the ranges that read as zeros, the ranges
    /// mmap maps, and the System RAM it cannot read (virtio-mem device
    /// regions called out: their unplugged parts must never be touched).
    Safe(SafeArgs),
    /// The memory blocks (/sys/devices/system/memory), as util-linux lsmem
    /// shows them, and which virtio-mem device each belongs to.
    ///
    /// Rows merge consecutive blocks of equal state and zones, exactly as
    /// `lsmem -o RANGE,SIZE,STATE,BLOCK,ZONES` does; --all gives one row per
    /// block. The DEVICE column (which lsmem cannot show) comes from
    /// /proc/iomem: the virtio-mem device region holding the row.
    ///
    /// Examples:
    ///   iomem blocks
    ///   iomem blocks --sysroot /mnt/capture --all
    ///   iomem blocks --example --json
    Blocks(BlocksArgs),
    /// Simulate virtio-mem end to end: the host device, the guest driver,
    /// memory hotplug, /proc/iomem and the /dev/mem policy, step by step in
    /// virtual time.
    ///
    /// With no argument, a built-in story: a VM with 4 GiB of boot RAM and
    /// a 16 GiB virtio-mem device; the host asks for 8 GiB, a program fills
    /// memory, the host shrinks to 3 GiB (the driver migrates what it can
    /// and stops where it must), a tool probes /dev/mem inside the region
    /// and is refused, the driver is unloaded. SCENARIO is a TOML file
    /// (docs/scenario.toml shows the format) or a recording of a real
    /// kernel (a directory with scenario.txt, as fixtures/kernel/*/*/):
    /// a recording is replayed from its first step and every later step is
    /// compared with what the real kernel did.
    ///
    /// Examples:
    ///   iomem simulate
    ///   iomem simulate docs/scenario.toml --trace
    ///   iomem simulate --replay fixtures/kernel/6.1.0-56-amd64/strict-sbm2M --out /tmp/sim
    ///   iomem show --root /tmp/sim/c-shrink-300M
    Simulate(SimulateArgs),
}

/// Arguments of `blocks`.
#[derive(Debug, Args)]
pub(crate) struct BlocksArgs {
    /// The system to read (not a --file dump: a dump has no memory blocks).
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// One row per memory block instead of merged rows.
    #[arg(long)]
    pub(crate) all: bool,
    /// Print JSON: `{"memory": [{"start", "end", "size", "state", "blocks":
    /// [first, last], "zones": [...], "device"}, ...]}` with numbers as
    /// integers (docs/json-schema.md).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// A scenario file (TOML) or a recording directory; default: the
    /// built-in story.
    #[arg(value_name = "SCENARIO", conflicts_with = "replay")]
    pub(crate) scenario: Option<PathBuf>,
    /// Replay a recording of a real kernel (a directory with scenario.txt)
    /// and compare every step; the exit status is 0 only if everything that
    /// can be known matches.
    #[arg(long, value_name = "DIR")]
    pub(crate) replay: Option<PathBuf>,
    /// Write every step as a captured system under DIR/<step>/ (proc/iomem,
    /// observed/iomem-flags.txt, sys/devices/system/memory/…,
    /// observed/requests.log, …): `iomem show --root DIR/<step>` reads it.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Print the whole run as JSON (docs/json-schema.md).
    #[arg(long)]
    pub(crate) json: bool,
    /// Print every request and answer, not a summary.
    #[arg(long)]
    pub(crate) trace: bool,
    /// How long (virtual seconds) a step waits for the devices to reach
    /// their requested size, retry timers included.
    #[arg(long, value_name = "SECONDS", default_value_t = 200)]
    pub(crate) settle: u64,
}

/// Which system to read. Shared by every command that reads one.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub(crate) struct SourceArgs {
    /// A saved dump of /proc/iomem or /proc/ioports (or an annotated dump
    /// with `[flags=… desc=…]` on every line, as the recordings'
    /// observed/iomem-flags.txt).
    #[arg(long, value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,
    /// A captured system: a directory that mirrors / (DIR/proc/iomem,
    /// DIR/proc/cmdline, DIR/proc/sys/kernel/osrelease,
    /// DIR/boot/config-RELEASE, DIR/sys/devices/system/memory, ...).
    /// `--sysroot` is the same (lsmem's spelling).
    #[arg(long, value_name = "DIR", visible_alias = "sysroot")]
    pub(crate) root: Option<PathBuf>,
    /// The built-in example: a real recorded QEMU pc guest (Debian kernel
    /// 6.1.0-56-amd64, iomem=strict) with a virtio-mem device of 4 GiB at
    /// 0x100000000 and 300 MiB plugged, with the real flags read from the
    /// running kernel (fixtures/kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M).
    #[arg(long)]
    pub(crate) example: bool,
}

impl SourceArgs {
    /// The system these arguments name.
    pub(crate) fn source(&self) -> Source {
        if let Some(f) = &self.file {
            Source::File(f.clone())
        } else if let Some(r) = &self.root {
            Source::Root(r.clone())
        } else if self.example {
            Source::Example
        } else {
            Source::Live
        }
    }
}

/// Output formats of `show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The annotated tree.
    Text,
    /// The kernel's own text, byte for byte.
    Proc,
    /// JSON, schema in docs/json-schema.md.
    Json,
}

/// Architectures for `--arch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ArchArg {
    /// x86 / x86-64.
    X86,
    /// arm64.
    Arm64,
    /// Any other.
    Other,
}

impl From<ArchArg> for Arch {
    fn from(a: ArchArg) -> Arch {
        match a {
            ArchArg::X86 => Arch::X86,
            ArchArg::Arm64 => Arch::Arm64,
            ArchArg::Other => Arch::Other,
        }
    }
}

/// Arguments of `show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The system to read, and what-ifs (they change the exclusive marks).
    #[command(flatten)]
    pub(crate) system: PolicyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub(crate) json: bool,
    /// Show /proc/ioports (live or under --root), or read the --file dump as
    /// /proc/ioports (dumps whose addresses are all 4 digits are recognised
    /// without it).
    #[arg(long)]
    pub(crate) ioports: bool,
    /// Add each resource's /dev/mem verdicts: what a whole-page read and an
    /// mmap get on its pages through a descriptor opened O_RDWR without
    /// O_SYNC (`ok`, `zeros`, an errno, `mixed` when its pages differ: `iomem
    /// check START-END` lists them; `?` when the verdict rests on an
    /// estimate), on this configuration (--assume changes it).
    #[arg(long, conflicts_with = "ioports")]
    pub(crate) verdicts: bool,
}

/// The system every command reads, and how to read it.
#[derive(Debug, Args)]
pub(crate) struct SystemArgs {
    /// Which system to read.
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Skip malformed lines (and the lines nested below them) with a warning
    /// instead of failing.
    #[arg(long)]
    pub(crate) lenient: bool,
    /// With --root: take the tree and its real flags from
    /// DIR/observed/iomem-flags.txt (the recordings' annotated dump) instead
    /// of inferring the flags of DIR/proc/iomem.
    #[arg(long, requires = "root")]
    pub(crate) flags_from_observed: bool,
    /// The kernel release whose rules apply (as `uname -r` prints it, e.g.
    /// 6.1.0-56-amd64); default: the system's proc/sys/kernel/osrelease,
    /// else current mainline.
    #[arg(long, value_name = "RELEASE", value_parser = crate::assume::parse_release)]
    pub(crate) kernel: Option<String>,
    /// The architecture (default: from the kernel configuration or release).
    #[arg(long, value_enum)]
    pub(crate) arch: Option<ArchArg>,
}

impl SystemArgs {
    /// What to read, for [`crate::system::load`].
    pub(crate) fn load_request(&self, ioports: bool) -> crate::system::LoadRequest {
        crate::system::LoadRequest {
            lenient: self.lenient,
            observed_flags: self.flags_from_observed,
            kernel: self.kernel.clone(),
            arch: self.arch.map(Into::into),
            ioports,
        }
    }
}

/// The system and the "what if" changes of the `/dev/mem` commands.
#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    /// The system to read.
    #[command(flatten)]
    pub(crate) system: SystemArgs,
    /// What if: change one input, e.g. `--assume iomem=relaxed`,
    /// `--assume STRICT_DEVMEM=n`, `--assume lockdown=none`, `--assume root`,
    /// `--assume uid=1000`, `--assume high_memory=0x140000000`,
    /// `--assume phys_bits=40`, `--assume kernel=5.15.0`. Repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::assume::parse)]
    pub(crate) assume: Vec<crate::assume::Assume>,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Addresses: ADDR, ADDR-END or ADDR+LEN (hexadecimal).
    #[arg(required = true, value_name = "ADDR[-END|+LEN]")]
    pub(crate) addresses: Vec<String>,
    /// The system and what-ifs.
    #[command(flatten)]
    pub(crate) system: PolicyArgs,
    /// Print a JSON array, one object per address (docs/json-schema.md).
    #[arg(long)]
    pub(crate) json: bool,
    /// Judge a descriptor opened with O_SYNC (uncached mappings; on x86 an
    /// O_SYNC mapping of memory the kernel holds write-back fails with
    /// EAGAIN).
    #[arg(long)]
    pub(crate) sync: bool,
    /// Judge open, read and mmap through an O_RDONLY descriptor (write is
    /// always judged through O_RDWR).
    #[arg(long)]
    pub(crate) rdonly: bool,
}

/// Arguments of `safe`.
#[derive(Debug, Args)]
pub(crate) struct SafeArgs {
    /// The system and what-ifs.
    #[command(flatten)]
    pub(crate) system: PolicyArgs,
    /// Print JSON: `{"readable": [...], "zero_filled": [...], "mappable":
    /// [...], "forbidden_ram": [...]}` with 0x-prefixed hex `start`/`end`.
    #[arg(long)]
    pub(crate) json: bool,
}

impl ShowArgs {
    /// The output format, `--json` included.
    pub(crate) fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sources_are_exclusive() {
        assert!(Cli::try_parse_from(["iomem", "show", "--example", "--file", "x"]).is_err());
        assert!(Cli::try_parse_from(["iomem", "show", "--flags-from-observed"]).is_err());
        let Command::Show(a) = Cli::try_parse_from(["iomem", "show", "--json"]).unwrap().command else {
            panic!("show expected");
        };
        assert_eq!(a.format(), Format::Json);
        assert_eq!(a.system.system.source.source(), Source::Live);
        assert!(Cli::try_parse_from(["iomem", "check"]).is_err(), "check needs an address");
        let Command::Check(c) =
            Cli::try_parse_from(["iomem", "check", "--example", "0x1000", "0x2000+4K", "--assume", "iomem=relaxed"])
                .unwrap()
                .command
        else {
            panic!("check expected");
        };
        assert_eq!(c.addresses, ["0x1000", "0x2000+4K"]);
        assert_eq!(c.system.assume, [crate::assume::Assume::Iomem("relaxed")]);
        // Bad values are usage errors, for --kernel and --assume alike.
        for bad in [["iomem", "show", "--kernel", "garbage"], ["iomem", "safe", "--assume", "kernel=abc"]] {
            let e = Cli::try_parse_from(bad).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad:?}");
        }
    }
}
