//! Fuzz targets of the iomem workspace, one function per input surface.
//!
//! The AFL++ binaries in `src/bin/` are one-line wrappers around these
//! functions, and `tests/regressions.rs` replays every saved finding
//! (`regressions/<target>/*`) through the same functions, so a crash found
//! by the fuzzer becomes a regression test by copying one file.
//!
//! Every function takes the raw input bytes, never panics on its own for any
//! input, and asserts the properties the libraries promise; a panic is a
//! finding. The input formats (which byte selects what) are documented on
//! each function and in `README.md`.

pub mod driver;
pub mod scenario;

use std::sync::OnceLock;

use iomem::infer::{self, Arch as InferArch, InferHints};
use iomem::procfs::{self, DumpKind, ParseOptions, Reader};
use iomem::{
    Desc, ExclusiveParams, ExclusiveRule, Flags, KernelProfile, KernelVersion, ResourceId, ResourceTree, TreeConfig,
};

/// A fuzz target: its name and the function that runs one input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target by name, as `run.sh` and the regression test know them.
pub const TARGETS: &[Target] = &[
    ("procfs_parse", procfs_parse),
    ("infer_flags", infer_flags),
    ("system_readers", system_readers),
    ("virtio_mem_device", virtio_mem_device),
    ("driver_answers", driver::driver_answers),
    ("scenario_files", scenario::scenario_files),
];

/// One-time setup, called by the binaries before the fuzzing loop, so that
/// lazily built state (the fixed tree of `system_readers`) is not built
/// during the first execution of each process (which AFL++ would see as
/// unstable coverage).
pub fn init() {
    let _ = fixed_tree();
}

// ===== procfs_parse ========================================================

/// The parser mode chosen by the first input byte of `procfs_parse`.
#[derive(Clone, Copy, Debug)]
pub struct ProcfsMode {
    /// Parser options (lenient, kind, annotations, platform and profile).
    pub options: ParseOptions,
    /// Architecture hint given to the flag inference.
    pub arch: Option<InferArch>,
}

impl ProcfsMode {
    /// Decodes the mode byte:
    ///
    /// | bits | meaning |
    /// |---|---|
    /// | 0 | lenient |
    /// | 1–2 | kind: 0 auto, 1 iomem, 2 ioports, 3 auto |
    /// | 3 | annotations (`[flags=… desc=…]`) |
    /// | 4–5 | kernel profile: mainline, v5.16, v6.1, v6.12 (all v5.16+) |
    /// | 6 | arm64 platform (else x86-64) |
    /// | 7 | give the architecture as an inference hint |
    pub fn from_byte(m: u8) -> ProcfsMode {
        let kind = match (m >> 1) & 3 {
            1 => DumpKind::Iomem,
            2 => DumpKind::Ioports,
            _ => DumpKind::Auto,
        };
        let profile = match (m >> 4) & 3 {
            0 => KernelProfile::mainline(),
            1 => KernelProfile::v5_16(),
            2 => KernelProfile::v6_1(),
            _ => KernelProfile::v6_12(),
        };
        let arm64 = m & 0x40 != 0;
        let platform = if arm64 { TreeConfig::arm64() } else { TreeConfig::x86_64() };
        let options =
            ParseOptions { lenient: m & 1 != 0, kind, annotations: m & 8 != 0, config: platform.with_profile(profile) };
        let arch = (m & 0x80 != 0).then_some(if arm64 { InferArch::Arm64 } else { InferArch::X86 });
        ProcfsMode { options, arch }
    }
}

/// `/proc/iomem` parser in every mode. Input: one mode byte
/// ([`ProcfsMode::from_byte`]), then the dump.
///
/// Asserts, besides "no panic":
/// * every parsed line is a resource below the returned root, in order;
/// * a well-formed dump (no note, nothing skipped) of a plain (not
///   annotated) parse renders back byte for byte (`ParsedDump::is_well_formed`);
/// * render → parse fixpoint: the rendering of the parsed tree parses
///   strictly, without any remark but the `\r` one, and renders identically;
/// * the safety promise: after `infer_flags` (v5.16+ profile), every page of
///   a resource flagged SYSTEM_RAM|EXCLUSIVE is exclusive even with
///   `iomem=relaxed` (`strict: false`).
pub fn procfs_parse(data: &[u8]) {
    let Some((&m, body)) = data.split_first() else { return };
    let mode = ProcfsMode::from_byte(m);
    let opts = mode.options;
    let mut dump = match procfs::parse(body, &opts) {
        Ok(d) => d,
        Err(e) => {
            // The messages quote and cut the input: exercise them too.
            let _ = e.to_string();
            return;
        }
    };
    for e in &dump.skipped {
        let _ = e.to_string();
    }
    for n in &dump.notes {
        let _ = n.to_string();
    }

    // The lines are the resources below the root, in input (= pre-)order.
    let tree = &dump.tree;
    let below: Vec<ResourceId> = tree.preorder(dump.root).expect("root is a live handle").map(|(id, _)| id).collect();
    assert_eq!(below.len(), dump.lines.len(), "parsed lines and resources below the root differ in number");
    for (l, id) in dump.lines.iter().zip(&below) {
        assert_eq!(l.resource, *id, "line {} is not the resource at its place in pre-order", l.line);
        assert_eq!(dump.line_of(l.resource), Some(l.line), "line_of disagrees with the line list");
    }

    let rendered = tree.render_proc(dump.root, Reader::Privileged).expect("root is a live handle");
    let well_formed = dump.is_well_formed();
    if well_formed && !opts.annotations {
        assert!(
            rendered.as_bytes() == body,
            "a well-formed dump does not render back byte for byte:\ninput:\n{}\nrendered:\n{}",
            String::from_utf8_lossy(body),
            rendered
        );
    }

    // Render -> parse -> render is a fixpoint. The rendering is what the
    // kernel prints for this tree, so it parses strictly (annotations off:
    // the rendering has none) as the same kind, with the same platform.
    let reopts = ParseOptions { lenient: false, kind: dump.kind, annotations: false, config: opts.config };
    let what = if well_formed { "well-formed input" } else { "input with notes or skipped lines" };
    match procfs::parse(rendered.as_bytes(), &reopts) {
        Ok(again) => {
            let rerendered = again.tree.render_proc(again.root, Reader::Privileged).expect("root is a live handle");
            assert!(
                rendered == rerendered,
                "render -> parse -> render is not a fixpoint ({what}):\nfirst:\n{rendered}\nsecond:\n{rerendered}"
            );
            assert_eq!(again.lines.len(), dump.lines.len(), "reparse of the rendering lost or gained lines ({what})");
            assert_eq!(again.kind, dump.kind, "reparse of the rendering changed the dump kind ({what})");
            if let Some(n) = again.notes.iter().find(|n| n.what != procfs::NoteKind::CarriageReturn) {
                panic!("the rendering of a parsed tree is not kernel text ({what}): {n}\n{rendered}");
            }
        }
        Err(e) => panic!("the rendering of a parsed tree does not parse again ({what}): {e}\n{rendered}"),
    }

    // The safety promise (iomem trees with a v5.16+ rule only).
    let root = dump.root;
    let tree = &mut dump.tree;
    if root != tree.iomem_root() || tree.profile().exclusive != ExclusiveRule::SystemRamExclusive {
        return;
    }
    let hints = InferHints { arch: mode.arch, kernel: Some(tree.profile().version) };
    infer::infer_flags(tree, root, &hints);
    check_system_ram_exclusive(tree, root);
}

/// Every page-aligned address inside a SYSTEM_RAM|EXCLUSIVE resource is
/// exclusive with `iomem=relaxed` (start, middle and end page per resource).
/// The top page of the address space is skipped: the kernel's walk stops at
/// `addr + PAGE_SIZE`, which wraps to 0 there, so nothing is ever exclusive
/// in it (resource-tree.md §6.6, kept deliberately by the model).
pub fn check_system_ram_exclusive(tree: &ResourceTree, root: ResourceId) {
    let ps = tree.config().page_size();
    let mask = !(ps - 1);
    let top_page = mask; // u64::MAX rounded down to a page
    let relaxed = ExclusiveParams { strict: false, io_strict: true };
    let sysram_excl = Flags::SYSTEM_RAM | Flags::EXCLUSIVE;
    for (id, _) in tree.preorder(root).expect("root is a live handle") {
        let v = tree.get(id).expect("pre-order yields live handles");
        if !v.flags.has_all(sysram_excl) {
            continue;
        }
        let Some(first) = v.range.start.checked_add(ps - 1).map(|a| a & mask) else { continue };
        let last = v.range.end & mask;
        if first > last || first > v.range.end {
            continue; // no page-aligned address inside
        }
        let middle = first + (((last - first) / 2) & mask);
        for addr in [first, middle, last] {
            if addr == top_page {
                continue;
            }
            assert!(
                tree.iomem_is_exclusive(addr, relaxed),
                "page {addr:#x} inside {:?} {:?} (flags {:#010x}) is not exclusive with iomem=relaxed\n{}",
                v.name,
                v.range,
                v.flags.bits(),
                tree.proc_iomem()
            );
        }
    }
}

// ===== infer_flags =========================================================

/// Kernel versions `infer_flags` hints with (index 5 and above: none).
const KERNELS: [(u16, u16, u16); 5] = [(4, 4, 0), (5, 9, 0), (5, 15, 0), (6, 1, 0), (6, 12, 0)];

/// Flag inference with every hint. Input: one mode byte, then the dump.
///
/// Mode byte: bits 0–1 architecture hint (x86, arm64, other, none); bits
/// 2–4 kernel hint (4.4, 5.9, 5.15, 6.1, 6.12, none for 5–7; the tree gets
/// that version's profile, mainline without one); bits 5–6 dump kind (auto,
/// iomem, ioports, auto). The dump is parsed leniently.
///
/// Asserts: the map has exactly the resources below the root, in pre-order;
/// each inference equals the flags and descriptor written into the tree,
/// and `get` finds it; the type field is the root's (MEM or IO); a second
/// inference over the same tree gives the same map (inference reads names
/// and places only); before v4.6 no SYSRAM bit and no descriptor (both
/// known); before v5.10 no SYSRAM_DRIVER_MANAGED.
pub fn infer_flags(data: &[u8]) {
    let Some((&m, body)) = data.split_first() else { return };
    let arch = match m & 3 {
        0 => Some(InferArch::X86),
        1 => Some(InferArch::Arm64),
        2 => Some(InferArch::Other),
        _ => None,
    };
    let kernel = KERNELS.get(usize::from((m >> 2) & 7)).map(|&(a, b, c)| KernelVersion::new(a, b, c));
    let kind = match (m >> 5) & 3 {
        1 => DumpKind::Iomem,
        2 => DumpKind::Ioports,
        _ => DumpKind::Auto,
    };
    let profile = kernel.map_or_else(KernelProfile::mainline, KernelProfile::for_version);
    let platform = if arch == Some(InferArch::Arm64) { TreeConfig::arm64() } else { TreeConfig::x86_64() };
    let opts = ParseOptions { lenient: true, kind, annotations: false, config: platform.with_profile(profile) };
    let Ok(mut dump) = procfs::parse(body, &opts) else { return };
    let root = dump.root;
    let tree = &mut dump.tree;
    let hints = InferHints { arch, kernel };
    let _ = infer::guess_arch(tree, root);
    let map = infer::infer_flags(tree, root, &hints);

    let root_type = tree.get(root).expect("root is live").flags.type_bits();
    let below: Vec<ResourceId> = tree.preorder(root).expect("root is live").map(|(id, _)| id).collect();
    assert_eq!(map.len(), below.len(), "the inference map does not cover every resource below the root");
    assert_eq!(map.is_empty(), below.is_empty());
    for ((id, inf), want) in map.iter().zip(&below) {
        assert_eq!(id, *want, "the inference map is not in pre-order");
        let v = tree.get(id).expect("mapped handles are live");
        assert_eq!(v.flags, inf.flags, "flags written into the tree differ from the map ({})", inf.rule);
        assert_eq!(v.desc, inf.desc, "descriptor written into the tree differs from the map ({})", inf.rule);
        assert_eq!(map.get(id), Some(inf), "InferenceMap::get does not find the entry");
        assert_ne!(inf.rule, iomem::infer::InferRule::Annotated, "a name rule decided a plain tree");
        assert_eq!(
            inf.flags.type_bits(),
            root_type,
            "rule {} gave {:?} type {:#x} below a root of type {root_type:#x}",
            inf.rule,
            v.name,
            inf.flags.type_bits()
        );
        assert_eq!(inf.assumed().bits() & inf.known.bits() & Flags::from_bits_retain(!0x0080_0000).bits(), 0);
        if let Some(k) = kernel {
            if !k.at_least(4, 6) {
                assert!(
                    !inf.flags.contains(Flags::SYSRAM) && inf.known.contains(Flags::SYSRAM),
                    "rule {} on {:?}: SYSRAM set or not known clear before v4.6 (flags {:#010x})",
                    inf.rule,
                    v.name,
                    inf.flags.bits()
                );
                assert!(
                    inf.desc == Desc::NONE && inf.desc_known,
                    "rule {} on {:?}: descriptor {:?} (known: {}) before v4.6",
                    inf.rule,
                    v.name,
                    inf.desc,
                    inf.desc_known
                );
            }
            if !k.at_least(5, 10) {
                assert!(
                    !inf.flags.contains(Flags::SYSRAM_DRIVER_MANAGED),
                    "rule {} on {:?}: SYSRAM_DRIVER_MANAGED before v5.10",
                    inf.rule,
                    v.name
                );
            }
        }
    }
    // Inference depends on names and places only, not on the flags already
    // in the tree.
    let again = infer::infer_flags(tree, root, &hints);
    let first: Vec<_> = map.iter().map(|(id, inf)| (id, *inf)).collect();
    let second: Vec<_> = again.iter().map(|(id, inf)| (id, *inf)).collect();
    assert!(first == second, "a second inference over the inferred tree gives a different result");
    let _ = infer::annotated(tree, root);
}

// ===== system_readers ======================================================

/// The fixed tree `system_readers` judges policies on: a real recording
/// (QEMU `pc`, Debian 6.1, virtio-mem device with 1 GiB plugged), flags
/// inferred for x86 and v6.1.
const FIXED_IOMEM: &str = "\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000c0000-000c9bff : Video ROM
000ca000-000ca5ff : Adapter ROM
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-7ffdffff : System RAM
  01000000-01e01d31 : Kernel code
  02000000-028eafff : Kernel rodata
  02a00000-02c4897f : Kernel data
  03310000-043fffff : Kernel bss
7ffe0000-7fffffff : Reserved
80000000-febfffff : PCI Bus 0000:00
  fd000000-fdffffff : 0000:00:02.0
  fe000000-fe003fff : 0000:00:03.0
    fe000000-fe003fff : virtio-pci-modern
  febf0000-febf0fff : 0000:00:02.0
fec00000-fec003ff : IOAPIC 0
fed00000-fed003ff : HPET 0
  fed00000-fed003ff : PNP0103:00
fee00000-fee00fff : Local APIC
fffc0000-ffffffff : Reserved
100000000-1ffffffff : virtio0
  100000000-13fffffff : System RAM (virtio_mem)
380000000-3ffffffff : PCI Bus 0000:00
fd00000000-ffffffffff : Reserved
";

/// Addresses whose `/dev/mem` page verdict `system_readers` checks.
const FIXED_ADDRESSES: [u64; 12] = [
    0,
    0x9f000,
    0xa0000,
    0xc0000,
    0x100000,
    0x1000000,
    0xfe000000,
    0xfed00000,
    0x100000000,
    0x140000000,
    0xfd00000000,
    u64::MAX,
];

fn fixed_tree() -> &'static ResourceTree {
    static TREE: OnceLock<ResourceTree> = OnceLock::new();
    TREE.get_or_init(|| {
        let opts =
            ParseOptions { config: TreeConfig::x86_64().with_profile(KernelProfile::v6_1()), ..Default::default() };
        let mut dump = procfs::parse_str(FIXED_IOMEM, &opts).expect("the fixed dump parses");
        let hints = InferHints { arch: Some(InferArch::X86), kernel: Some(KernelVersion::new(6, 1, 0)) };
        infer::infer_flags(&mut dump.tree, dump.root, &hints);
        dump.tree
    })
}

/// Names of the NUL-separated fields of a `system_readers` input, in order.
pub const SYSTEM_FIELDS: [&str; 7] =
    ["cmdline", "osrelease", "config", "lockdown", "status", "cpuinfo", "pat_memtype_list"];

/// The captured-system text readers. Input: two header bytes, eight bytes of
/// an address (little endian), then up to seven NUL-separated fields
/// ([`SYSTEM_FIELDS`]); a missing field is absent (`None`), bytes that are
/// not UTF-8 are decoded lossily.
///
/// Header byte 0: bit `i` set makes field `i` absent even if present.
/// Header byte 1: bits 0–1 architecture override for `policy_from_text`
/// (none, x86-64 with `32 + (bits 2–5)` physical bits, arm64 with 48 or 52
/// (bit 2) PA bits, generic); bits 6–7 whether `/dev/mem` exists (unknown,
/// yes, no, unknown).
///
/// Asserts, besides "no panic": `IO_STRICT_DEVMEM` implies `STRICT_DEVMEM`;
/// an architecture read from a config is valid; lockdown names and kernel
/// versions read back; PAT ranges are not inverted; on the fixed tree with
/// the policy read from the texts, the fast page verdict equals the literal
/// one at a few addresses and at the input's address.
pub fn system_readers(data: &[u8]) {
    let Some((header, rest)) = data.split_first_chunk::<2>() else { return };
    let [absent, h1] = *header;
    let mut fields: [Option<String>; 7] = Default::default();
    let mut addr = 0;
    // Without the address there are no fields: everything is absent.
    if let Some((a, rest)) = rest.split_first_chunk::<8>() {
        addr = u64::from_le_bytes(*a);
        for (i, f) in rest.split(|&b| b == 0).take(7).enumerate() {
            if absent & (1 << i) == 0 {
                fields[i] = Some(String::from_utf8_lossy(f).into_owned());
            }
        }
    }
    let [cmdline, osrelease, config, lockdown, status, cpuinfo, pat] = &fields;

    use iomem_devmem::capture::{self, SystemText};
    use iomem_devmem::inputs::{self, Caller, Lockdown};

    if let Some(c) = cmdline {
        exercise_cmdline(c);
    }
    if let Some(r) = osrelease {
        if let Some(v) = KernelVersion::parse_release(r) {
            assert_eq!(KernelVersion::parse_release(&v.to_string()), Some(v), "a kernel version does not read back");
        }
        let _ = KernelProfile::from_release(r);
    }
    if let Some(c) = config {
        match inputs::parse_kernel_config(c) {
            Ok(p) => {
                assert!(!p.config.io_strict_devmem || p.config.strict_devmem, "IO_STRICT_DEVMEM without STRICT_DEVMEM");
                let _ = p.defaulted.len();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        match capture::arch_from_config(c) {
            Ok(Some(a)) => assert_eq!(a.validate(), Ok(a), "arch_from_config returned an impossible width"),
            Ok(None) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let Some(level) = lockdown.as_deref().and_then(Lockdown::parse) {
        assert_eq!(Lockdown::parse(level.name()), Some(level), "a lockdown name does not read back");
    }
    if let Some(s) = status {
        let _ = Caller::from_proc_status(s);
    }
    if let Some(c) = cpuinfo {
        let _ = capture::phys_bits_from_cpuinfo(c);
    }
    if let Some(p) = pat {
        match iomem_devmem::Memtypes::parse_pat_memtype_list(p) {
            Ok(iomem_devmem::Memtypes::Known(list)) => {
                for (r, _) in &list {
                    assert!(r.start <= r.end, "an inverted PAT range {r:?}");
                }
            }
            Ok(iomem_devmem::Memtypes::Unknown) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }

    let arch = match h1 & 3 {
        0 => None,
        1 => Some(iomem_devmem::Arch::X86_64 { phys_bits: 32 + ((h1 >> 2) & 15) }),
        2 => Some(iomem_devmem::Arch::Arm64 { pa_bits: if h1 & 4 != 0 { 52 } else { 48 } }),
        _ => Some(iomem_devmem::Arch::Generic),
    };
    let texts = SystemText {
        cmdline: cmdline.as_deref(),
        osrelease: osrelease.as_deref(),
        kernel_config: config.as_deref(),
        lockdown: lockdown.as_deref(),
        proc_status: status.as_deref(),
        cpuinfo: cpuinfo.as_deref(),
        devmem_node_exists: match h1 >> 6 {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        },
    };
    let tree = fixed_tree();
    match capture::policy_from_text(tree, &texts, arch) {
        Ok(sp) => {
            assert_eq!(sp.policy.arch.validate(), Ok(sp.policy.arch), "policy_from_text accepted an impossible width");
            for a in &sp.assumptions {
                let _ = a.what.len();
            }
            let devmem = iomem_devmem::Devmem::new(tree, sp.policy);
            for a in FIXED_ADDRESSES.into_iter().chain([addr]) {
                let fast = devmem.page(a);
                let exact = devmem.page_exact(a);
                assert_eq!(fast, exact, "Devmem::page and page_exact disagree at {a:#x}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Every `iomem::cmdline` function on one command line.
fn exercise_cmdline(c: &str) {
    use iomem::cmdline::{self, GetOption};
    let params: Vec<_> = cmdline::params(c).collect();
    for p in &params {
        assert!(!p.key.contains(' ') || c.contains('"'), "a parameter key with a space outside quotes: {:?}", p.key);
        if let Some(v) = p.value {
            let (_, used) = cmdline::simple_strtoull(v);
            assert!(used <= v.len());
            let mut s = v;
            // get_option never consumes a '-' after a number (IntDash), so
            // step over it as the kernel's get_options does.
            for _ in 0..=v.len() + 1 {
                let before = s.len();
                match cmdline::get_option(&mut s) {
                    GetOption::None => break,
                    GetOption::IntDash(_) => s = s.strip_prefix('-').unwrap_or(s),
                    GetOption::Int(_) | GetOption::IntComma(_) => {}
                }
                assert!(s.len() < before, "get_option made no progress on {v:?}");
            }
        }
    }
    for v in cmdline::values(c, "iomem") {
        let _ = cmdline::apply_iomem_param(true, v);
        let _ = cmdline::apply_iomem_param(false, v);
    }
    let _ = cmdline::strict_iomem_checks(true, c);
    let _ = cmdline::strict_iomem_checks(false, c);
    let (_, used) = cmdline::simple_strtoull(c);
    assert!(used <= c.len());
}

// ===== virtio_mem_device ===================================================

const MIB: u64 = 1 << 20;
/// Guest-physical address of the fuzzed device's region.
pub const DEVICE_ADDR: u64 = 0x1_0000_0000;

use virtio_mem::{
    BlockRange, Chain, ChainOutcome, ConfigSpace, DeviceProperties, Features, Profile, Request, RequestQueue, Response,
    SimulatedMemory, VirtioMemDevice,
};

type Device = VirtioMemDevice<SimulatedMemory>;

/// A byte reader that yields zeros when the input runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

fn activate(device: &mut Device) {
    let offered = device.device_features() | Features::VERSION_1;
    device.virtio_reset();
    device.set_driver_features(offered.bits());
    let _ = device.set_status(1 | 2 | 8 | 4);
}

/// A request from three bytes: type (0–3, 4+ unknown), block index
/// relative to the region (-4 …), number of blocks (255: 0xffff).
fn structured_request(device: &Device, t: u8, block: u8, nb: u8) -> [u8; 24] {
    let bs = device.block_size();
    let misalign = if block & 0x80 != 0 { 4096 } else { 0 };
    let index = i64::from(block & 0x7f) - 4;
    let addr = (DEVICE_ADDR as i64 + index * bs as i64) as u64 + misalign;
    let nb = if nb == 0xff { u16::MAX } else { u16::from(nb) };
    let mut bytes = Request::Plug(BlockRange::new(addr, nb)).encode();
    bytes[0..2].copy_from_slice(&u16::from(t % 6).to_le_bytes());
    bytes
}

fn check_device(device: &Device, step: usize, op: u8) {
    if let Err(error) = device.check_invariants() {
        panic!("step {step} (op {op:#04x}): invariant broken: {error}");
    }
    assert_eq!(
        device.plugged_size(),
        device.bitmap().count_ones() * device.block_size(),
        "step {step} (op {op:#04x}): plugged_size out of step with the bitmap"
    );
    let config = device.config();
    assert_eq!(ConfigSpace::decode(&config.encode()), Some(config), "config space does not decode back");
    assert_eq!(config.plugged_size, device.plugged_size());
}

/// The virtio-mem device driven by a sequence of operations. Input: one
/// setup byte, then operations of one opcode byte and their argument bytes
/// (missing argument bytes read as zero).
///
/// Setup byte: bits 0–1 profile (QEMU with a 16 MiB usable extent, QEMU
/// x86-64, cloud-hypervisor, Firecracker with 8 MiB slots); bit 2
/// UNPLUGGED_INACCESSIBLE not offered; bit 3 tracing; bits 4–5 initial
/// requested size (0, 4, 16, 32 blocks). Region: 64 MiB of 2 MiB blocks at
/// 4 GiB (128 MiB for cloud-hypervisor, which requires it); the device is
/// activated once before the first operation.
///
/// Opcodes (`op % 12`): 0 resize, 1 raw descriptor chain, 2 structured
/// request through `process_chain`, 3 structured request through `execute`,
/// 4 config read/write, 5 status write, 6 driver features, 7 (re)activate,
/// 8 resets, 9 host toggles and injected backend failures, 10 guest memory
/// access, 11 a batch through `RequestQueue`. See the code for the argument
/// bytes.
///
/// After every operation: `check_invariants()` is Ok, `plugged_size` equals
/// the bitmap, the config space round-trips; plus per-operation checks (a
/// refused resize changes nothing, a config read returns the config bytes,
/// a transport reset keeps every block, a completed chain carries its
/// response, plugged memory keeps what was written).
pub fn virtio_mem_device(data: &[u8]) {
    let Some((&setup, ops)) = data.split_first() else { return };
    let profile = match setup & 3 {
        0 => Profile::Qemu { usable_extent: 16 * MIB },
        1 => Profile::qemu_x86_64(),
        2 => Profile::CloudHypervisor,
        _ => Profile::Firecracker { slot_size: 8 * MIB },
    };
    let bs = 2 * MIB;
    let region = if profile == Profile::CloudHypervisor { 128 * MIB } else { 64 * MIB };
    let blocks = region / bs;
    let requested = [0, 4, 16, 32][usize::from((setup >> 4) & 3)] * bs;
    let mut properties =
        DeviceProperties::new(DEVICE_ADDR, region, bs).with_profile(profile).with_requested_size(requested);
    properties.unplugged_inaccessible = setup & 4 == 0;
    properties.trace = setup & 8 != 0;
    let mut device = VirtioMemDevice::new(properties, SimulatedMemory::new())
        .unwrap_or_else(|e| panic!("valid properties refused: {e}"));
    activate(&mut device);
    check_device(&device, 0, setup);

    let mut input = Bytes(ops);
    let mut step = 0;
    while !input.0.is_empty() {
        step += 1;
        let op = input.u8();
        match op % 12 {
            0 => {
                let b = input.u8();
                let size = if b == 0xff {
                    input.u64()
                } else {
                    u64::from(b & 0x7f) % (blocks + 2) * bs + if b & 0x80 != 0 { MIB } else { 0 }
                };
                let before = (device.requested_size(), device.usable_region_size(), device.plugged_size());
                if device.resize(size).is_err() {
                    let after = (device.requested_size(), device.usable_region_size(), device.plugged_size());
                    assert_eq!(before, after, "a refused resize to {size:#x} changed the device");
                }
            }
            1 => {
                let len = usize::from(input.u8() % 48);
                let request = input.take(len).to_vec();
                let split = usize::from(input.u8()) % (request.len() + 1);
                let (a, b) = request.split_at(split);
                let r = input.u8();
                let mut w1 = vec![0u8; usize::from(r % 16)];
                let mut w2 = vec![0u8; usize::from(r >> 4)];
                let _ = device.process_chain(&[a, b], &mut [&mut w1, &mut w2]);
            }
            2 => {
                let (t, block, nb) = (input.u8(), input.u8(), input.u8());
                let request = structured_request(&device, t, block, nb);
                let mut response = [0u8; 10];
                if let ChainOutcome::Completed { response: r, used_len } =
                    device.process_chain(&[&request], &mut [&mut response])
                {
                    assert_eq!(used_len, 10);
                    assert_eq!(response, r.encode(), "the written response is not the returned one");
                }
            }
            3 => {
                let (t, block, nb) = (input.u8(), input.u8(), input.u8());
                let bytes = structured_request(&device, t, block, nb);
                if let Ok(request) = Request::decode(&bytes) {
                    let response: Response = device.execute(request);
                    let _ = response.encode();
                }
            }
            4 => {
                let offset = usize::from(input.u8() % 64);
                let len = usize::from(input.u8() % 64);
                let mut buf = vec![0u8; len];
                let ok = device.read_config(offset, &mut buf).is_ok();
                let bytes = device.config().encode();
                assert_eq!(ok, offset + len <= bytes.len(), "config read at {offset}+{len}");
                if ok {
                    assert_eq!(buf[..], bytes[offset..offset + len], "config read returned other bytes");
                }
                let ok = device.write_config(offset, &buf).is_ok();
                assert_eq!(ok, offset + len <= bytes.len(), "config write at {offset}+{len}");
                assert_eq!(device.config().encode(), bytes, "a config write changed the config space");
            }
            5 => {
                let _ = device.set_status(input.u8());
            }
            6 => {
                let offered = device.device_features();
                let features = match input.u8() % 4 {
                    0 => (offered | Features::VERSION_1).bits(),
                    1 => ((offered - Features::UNPLUGGED_INACCESSIBLE) | Features::VERSION_1).bits(),
                    2 => input.u64(),
                    _ => 0,
                };
                device.set_driver_features(features);
            }
            7 => activate(&mut device),
            8 => {
                let plugged = device.plugged_size();
                match input.u8() % 3 {
                    0 => device.system_reset(),
                    1 => {
                        device.wakeup_reset();
                        assert_eq!(device.plugged_size(), plugged, "a wakeup reset changed the plugged size");
                    }
                    _ => {
                        device.virtio_reset();
                        assert_eq!(device.plugged_size(), plugged, "a virtio reset changed the plugged size");
                    }
                }
            }
            9 => {
                let b = input.u8();
                match b % 5 {
                    0 => device.set_migration_in_progress(b & 0x80 != 0),
                    1 => device.set_removal_pending(b & 0x80 != 0),
                    2 => device.backend_mut().fail_next_discards(u32::from(b >> 5)),
                    3 => device.backend_mut().fail_next_populates(u32::from(b >> 5)),
                    _ => {
                        if device.can_remove().is_ok() {
                            assert_eq!(device.plugged_size(), 0, "removable with memory plugged");
                            assert_eq!(device.requested_size(), 0, "removable with memory requested");
                        }
                        let _ = device.take_config_interrupt();
                        let _ = device.take_trace();
                    }
                }
            }
            10 => {
                let kind = input.u8();
                let block = u64::from(input.u8()) % (blocks + 1);
                let offset = u64::from(input.u16_like()) * 64;
                let len = usize::from(input.u8() % 80);
                let addr = (DEVICE_ADDR + block * bs + offset % bs).wrapping_sub(u64::from(kind >> 7) * 8);
                let pattern: Vec<u8> = (0..len).map(|i| (i as u8) ^ op).collect();
                let first = addr.saturating_sub(DEVICE_ADDR) / bs;
                let last = (addr + len as u64).saturating_sub(DEVICE_ADDR + 1) / bs;
                let all_plugged = addr >= DEVICE_ADDR && len > 0 && (first..=last).all(|b| device.is_block_plugged(b));
                match kind % 4 {
                    0 => {
                        let mut buf = vec![0u8; len];
                        let _ = device.cpu_read(addr, &mut buf);
                    }
                    1 => {
                        if device.cpu_write(addr, &pattern).is_ok() && all_plugged {
                            let mut buf = vec![0u8; len];
                            let _ = device.cpu_read(addr, &mut buf);
                            assert_eq!(buf, pattern, "plugged memory at {addr:#x} did not keep what was written");
                        }
                    }
                    2 => {
                        let mut buf = vec![0u8; len];
                        let _ = device.dma_read(addr, &mut buf);
                    }
                    _ => {
                        let _ = device.dma_write(addr, &pattern);
                    }
                }
            }
            _ => {
                let n = usize::from(input.u8() % 4) + 1;
                let mut queue = RequestQueue::new(4);
                for _ in 0..n {
                    let (t, block, nb) = (input.u8(), input.u8(), input.u8());
                    let request = structured_request(&device, t, block, nb);
                    let response_len = usize::from(input.u8() % 16);
                    let _ = queue.add(Chain::new(&request, response_len));
                }
                let run = device.process_queue(&mut queue);
                assert!(run.completed <= n);
                let mut used = 0;
                while queue.pop_used().is_some() {
                    used += 1;
                }
                assert_eq!(used, run.completed, "completed chains and used elements differ");
            }
        }
        check_device(&device, step, op);
    }
}

impl Bytes<'_> {
    fn u16_like(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
}

// ===== regression replay ===================================================

/// Replays saved findings: every file in `regressions/<target>/` is run
/// through its target; the test lists every file that still panics.
/// `cargo test --lib` (a plain `cargo test` would also link the AFL
/// binaries, which only `cargo afl build` can).
///
/// `FUZZ_REPLAY=<target>:<file> cargo test --lib replay_one -- --nocapture`
/// runs one input with the normal panic output (and `RUST_BACKTRACE=1`).
#[cfg(test)]
mod regressions {
    use std::path::Path;

    fn target(name: &str) -> fn(&[u8]) {
        super::TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).unwrap_or_else(|| panic!("no target {name}"))
    }

    #[test]
    fn saved_findings_no_longer_fail() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
        let mut failing = Vec::new();
        let mut ran = 0;
        for (name, f) in super::TARGETS {
            let Ok(dir) = std::fs::read_dir(root.join(name)) else { continue };
            let mut files: Vec<_> = dir.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
            files.sort();
            for file in files {
                if file.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".md")) {
                    continue;
                }
                let data = std::fs::read(&file).expect("readable");
                ran += 1;
                if std::panic::catch_unwind(|| f(&data)).is_err() {
                    failing.push(file.display().to_string());
                }
            }
        }
        eprintln!("replayed {ran} saved findings");
        assert!(failing.is_empty(), "{} saved findings still fail:\n{}", failing.len(), failing.join("\n"));
    }

    /// `FUZZ_REPLAY=<target>:<path>`: one file (panics as the target does)
    /// or every file of a directory (lists those that panic).
    #[test]
    fn replay_one() {
        let Ok(spec) = std::env::var("FUZZ_REPLAY") else { return };
        let (name, path) = spec.split_once(':').expect("FUZZ_REPLAY=<target>:<path>");
        let f = target(name);
        let path = Path::new(path);
        if path.is_file() {
            f(&std::fs::read(path).expect("readable input"));
            return;
        }
        let mut files: Vec<_> =
            std::fs::read_dir(path).expect("a file or directory").filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        let failing: Vec<String> = files
            .iter()
            .filter(|p| p.is_file())
            .filter(|p| std::panic::catch_unwind(|| f(&std::fs::read(p).expect("readable"))).is_err())
            .map(|p| p.display().to_string())
            .collect();
        eprintln!("replayed {} inputs, {} panicked", files.len(), failing.len());
        assert!(failing.is_empty(), "panicking inputs:\n{}", failing.join("\n"));
    }
}
