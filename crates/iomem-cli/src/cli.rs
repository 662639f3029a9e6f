//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::source::Source;
use iomem::infer::Arch;

/// The Linux physical address map (/proc/iomem), exactly as the kernel keeps it.
#[derive(Debug, Parser)]
#[command(
    name = "iomem",
    version,
    propagate_version = true,
    max_term_width = 80,
    after_help = "Examples:\n  iomem show --example             the annotated map of a recorded VM\n  \
                  sudo iomem check 0xfed00000       why /dev/mem refuses (or allows) an address\n  \
                  sudo iomem safe                   what a memory-acquisition tool may read\n  \
                  iomem blocks                      memory blocks, as lsmem shows them\n  \
                  iomem simulate                    a virtio-mem resize, step by step\n\n\
                  Each command has its own --help with examples; `iomem man` prints the manual."
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Colour the human output: auto (on a terminal, unless NO_COLOR is
    /// set), always, never. JSON and --format proc are never coloured.
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub(crate) color: crate::output::color::ColorChoice,
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
    #[command(
        after_help = "Examples:\n  iomem show --example\n  sudo iomem show --verdicts\n  iomem show --root /tmp/sim/shrink-3G --json\n  iomem show --file dump.txt --format proc"
    )]
    Show(ShowArgs),
    /// Explain what /dev/mem does at physical addresses, and why.
    ///
    /// For each address: what open, read, write and mmap do, the rule and
    /// the resource that decided, and what would change it.
    ///
    /// Addresses are hexadecimal (`0x` optional, as /proc/iomem prints
    /// them): ADDR (one byte; mmap of its page), ADDR-END (inclusive) or
    /// ADDR+LEN (LEN hexadecimal, or decimal with a K, M, G or T suffix),
    /// several per call. A live machine is judged from /proc/iomem (read
    /// as root), /proc/cmdline, the kernel configuration
    /// (/boot/config-RELEASE or /proc/config.gz), the lockdown state, the
    /// CPU's address width and the credentials of this very process;
    /// --assume changes any of them ("what if").
    #[command(
        after_help = "Examples:\n  sudo iomem check 0xfed00000 0x100000000+2M\n  iomem check --example 0x100000000 0xfe000000\n  iomem check --root DIR --assume iomem=relaxed --json 0-ffffffffffffffff"
    )]
    Check(CheckArgs),
    /// List what a memory-acquisition tool may read or map through /dev/mem.
    ///
    /// The physical ranges a whole-page read returns, the ranges that read
    /// as zeros, the ranges mmap maps, and the System RAM it cannot read
    /// (virtio-mem device regions called out: their unplugged parts must
    /// never be touched).
    #[command(
        after_help = "Examples:\n  sudo iomem safe\n  iomem safe --example --json\n  iomem safe --root DIR --assume STRICT_DEVMEM=n"
    )]
    Safe(SafeArgs),
    /// List memory blocks as lsmem does, with their virtio-mem device.
    ///
    /// The memory blocks of /sys/devices/system/memory, as util-linux lsmem
    /// shows them, and which virtio-mem device each belongs to.
    ///
    /// Rows merge consecutive blocks of equal state and zones, exactly as
    /// `lsmem -o RANGE,SIZE,STATE,BLOCK,ZONES` does; --all gives one row per
    /// block. The DEVICE column (which lsmem cannot show) comes from
    /// /proc/iomem: the virtio-mem device region holding the row.
    #[command(
        after_help = "Examples:\n  iomem blocks\n  iomem blocks --sysroot /mnt/capture --all\n  iomem blocks --example --json"
    )]
    Blocks(BlocksArgs),
    /// Draw the physical address map as an SVG picture.
    ///
    /// Every resource as a box nested in its parent, coloured by kind (RAM, kernel, reserved
    /// and firmware, PCI, device, virtio-mem plugged and unplugged), the
    /// /dev/mem verdict of read and mmap as two stripes beside the address
    /// axis, and a label per resource (name, range, size).
    ///
    /// The address axis is gap-compressed: every boundary has its address
    /// on the left, heights grow with the logarithm of the size (so a 4 KiB
    /// region stays visible next to a terabyte), and holes in the map are
    /// cut short with a break mark. Labels never collide. The system is
    /// read as `show` reads it (live, --file, --root, --example) and
    /// --assume changes the verdicts ("what if"). Without --svg or --json,
    /// prints a short summary (sizes by kind and by verdict). A tree of
    /// more than 2000 resources is drawn to the depth that fits, or with its
    /// top level in groups (the picture says so).
    #[command(
        after_help = "Examples:\n  iomem map --example --svg map.svg\n  sudo iomem map --svg - | rsvg-convert -o map.png\n  iomem map --root /tmp/sim/shrink-3G --assume iomem=relaxed --svg relaxed.svg\n  iomem map --file dump.txt --json"
    )]
    Map(MapArgs),
    /// Show what changed between two dumps or captured systems.
    ///
    /// Resources added, removed, resized or re-flagged, shown in their
    /// tree, and memory blocks whose state or zones changed.
    ///
    /// A and B are each a /proc/iomem (or /proc/ioports) dump or a captured
    /// system directory (a recording's step, or `iomem simulate --out`'s).
    /// Resources are matched under matched parents: the same name and range,
    /// else the same name and start, else the same name and an overlapping
    /// range. Lines start with `+` (only in B), `-` (only in A), `~`
    /// (changed), or a space (the tree around a change).
    #[command(
        after_help = "Examples:\n  iomem diff fixtures/kernel/6.1.0-56-amd64/strict-sbm2M/{a-size0,b-grow-1G}\n  iomem simulate --out /tmp/sim && iomem diff /tmp/sim/grow-8G /tmp/sim/shrink-3G\n  iomem diff before.txt after.txt --json"
    )]
    Diff(DiffArgs),
    /// Print the shell completion script for SHELL.
    #[command(
        after_help = "Examples:\n  iomem completions bash > /etc/bash_completion.d/iomem\n  iomem completions zsh > \"${fpath[1]}/_iomem\"\n  iomem completions fish > ~/.config/fish/completions/iomem.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command.
    #[command(after_help = "Examples:\n  iomem man | man -l -\n  iomem man --dir /usr/local/share/man/man1")]
    Man(ManArgs),
    /// Simulate a virtio-mem resize end to end, step by step.
    ///
    /// The host device, the guest driver, memory hotplug, /proc/iomem and
    /// the /dev/mem policy, run together in virtual time.
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
    #[command(
        after_help = "Examples:\n  iomem simulate\n  iomem simulate docs/scenario.toml --trace\n  iomem simulate --replay fixtures/kernel/6.1.0-56-amd64/strict-sbm2M --out /tmp/sim\n  iomem show --root /tmp/sim/c-shrink-300M"
    )]
    Simulate(SimulateArgs),
}

/// Arguments of `map`.
#[derive(Debug, Args)]
pub(crate) struct MapArgs {
    /// The system to read, and what-ifs (they change the verdicts).
    #[command(flatten)]
    pub(crate) system: PolicyArgs,
    /// Write the picture (SVG) to FILE; `-` writes it to standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) svg: Option<PathBuf>,
    /// Print the laid-out map as JSON: each drawn resource (start, end,
    /// depth, name, kind, read and mmap verdicts, y, height), the axis
    /// pieces and the verdict runs (docs/json-schema.md).
    #[arg(long)]
    pub(crate) json: bool,
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

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write iomem.1 and a page per command (iomem-show.1, ...) into DIR
    /// instead of printing iomem.1.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

/// Arguments of `diff`.
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The earlier system: a dump file or a captured-system directory.
    #[arg(value_name = "A")]
    pub(crate) a: PathBuf,
    /// The later system.
    #[arg(value_name = "B")]
    pub(crate) b: PathBuf,
    /// Compare the real flags that captured systems keep in
    /// observed/iomem-flags.txt instead of inferred ones.
    #[arg(long)]
    pub(crate) flags_from_observed: bool,
    /// Skip malformed dump lines with a warning instead of failing.
    #[arg(long)]
    pub(crate) lenient: bool,
    /// The kernel release whose rules apply to both (default: each
    /// system's own).
    #[arg(long, value_name = "RELEASE", value_parser = crate::assume::parse_release)]
    pub(crate) kernel: Option<String>,
    /// Compare /proc/ioports (of captured systems, or dumps read as such).
    #[arg(long)]
    pub(crate) ioports: bool,
    /// Print JSON (docs/json-schema.md).
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
    /// Also draw the run as an SVG picture to FILE (`-`: standard output,
    /// instead of the text): a timeline of each virtio-mem device's plugged
    /// and unplugged memory and memory blocks per step, and the address
    /// map after the last step.
    #[arg(long, value_name = "FILE")]
    pub(crate) svg: Option<PathBuf>,
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
