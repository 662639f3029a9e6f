//! What a machine is made of before anything runs: its architecture and
//! kernel, its boot memory and the iomem tree at boot, its memory-block
//! geometry and online policy, and its virtio-mem devices (where QEMU puts
//! them, which virtio index they get). Built from a captured system (a
//! directory mirroring `/`, as the recordings' first step) or built in.

use std::fs;
use std::path::Path;

use iomem::infer::{Arch as InferArch, InferHints};
use iomem::procfs::{ParseOptions, parse};
use iomem::{Flags, KernelProfile, ResourceTree, TreeConfig};
use memory_hotplug::{BootRange, OnlineType};
use virtio_mem::Profile;

use crate::error::SimError;

/// The guest architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimArch {
    /// x86-64 (QEMU `pc` / `q35`).
    X86_64,
    /// arm64 (QEMU `virt`).
    Arm64,
}

/// One virtio-mem device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSpec {
    /// QEMU's device id (`vm0`).
    pub id: String,
    /// The virtio index (`virtio<index>` in the guest).
    pub index: u32,
    /// Region start.
    pub addr: u64,
    /// Region size.
    pub region_size: u64,
    /// Device block size.
    pub block_size: u64,
    /// NUMA node.
    pub node: u16,
    /// Requested size at creation.
    pub requested_size: u64,
}

/// A machine before it runs.
#[derive(Clone, Debug)]
pub struct MachineSpec {
    /// What it is, in words.
    pub description: String,
    /// The architecture.
    pub arch: SimArch,
    /// `uname -r`.
    pub kernel_release: String,
    /// The kernel's version-dependent rules.
    pub profile: KernelProfile,
    /// The kernel command line.
    pub cmdline: String,
    /// The iomem tree at boot, with flags.
    pub tree: ResourceTree,
    /// Linux memory block size.
    pub block_size: u64,
    /// Boot RAM (top-level System RAM).
    pub boot_ram: Vec<BootRange>,
    /// `auto_online_blocks` at boot.
    pub online_type: OnlineType,
    /// The virtio-mem devices.
    pub devices: Vec<DeviceSpec>,
    /// Where the guest's memory use takes its pages (seeded for a
    /// pseudo-random but reproducible placement).
    pub alloc_order: memory_hotplug::AllocOrder,
    /// Files of the captured system copied into every simulated step
    /// unchanged (path relative to the root, contents): the command line,
    /// the release, the kernel configuration, lockdown, credentials.
    pub static_files: Vec<(String, Vec<u8>)>,
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// "4G", "2M", "512M", "1536M", "4096" (bytes) → bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, shift) = match t.as_bytes().last()? {
        b'K' | b'k' => (&t[..t.len() - 1], 10),
        b'M' | b'm' => (&t[..t.len() - 1], 20),
        b'G' | b'g' => (&t[..t.len() - 1], 30),
        b'T' | b't' => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

impl MachineSpec {
    /// The machine in one line: its description and each device (id,
    /// region size, block size), as the scenario finally set them.
    pub fn summary(&self) -> String {
        let devices: Vec<String> = self
            .devices
            .iter()
            .map(|d| {
                format!(
                    "{} (virtio{}): {} in {} blocks",
                    d.id,
                    d.index,
                    size_text(d.region_size),
                    size_text(d.block_size)
                )
            })
            .collect();
        match devices.len() {
            0 => format!("{}, no virtio-mem device", self.description),
            _ => format!("{}; {}", self.description, devices.join(", ")),
        }
    }

    /// The built-in default: an x86-64 QEMU `pc` guest with 4 GiB of boot
    /// RAM (below 3 GiB and above 4 GiB, as QEMU splits it), a current
    /// Debian kernel, `iomem=strict`, and one 16 GiB virtio-mem device with
    /// 2 MiB blocks at the start of the device-memory area, auto-onlined to
    /// ZONE_MOVABLE.
    pub fn built_in() -> MachineSpec {
        let boot_ram = vec![
            BootRange { start: 0x1000, end: 0x9_fc00 },
            BootRange { start: 0x10_0000, end: 0xc000_0000 },
            BootRange { start: 0x1_0000_0000, end: 0x1_4000_0000 },
        ];
        let mut tree = ResourceTree::new(TreeConfig::x86_64().with_profile(KernelProfile::v6_12()));
        let root = tree.iomem_root();
        for r in &boot_ram {
            let _ = tree.request_region(root, r.start, r.end - r.start, "System RAM", Flags::SYSTEM_RAM);
        }
        let release = "6.12.117+deb12-amd64".to_string();
        let cmdline = "console=ttyS0 iomem=strict memhp_default_state=online_movable".to_string();
        MachineSpec {
            description: "built-in: x86-64 QEMU pc, 4 GiB boot RAM, Debian 6.12".into(),
            arch: SimArch::X86_64,
            profile: KernelProfile::v6_12(),
            tree,
            block_size: 128 * MIB,
            boot_ram,
            online_type: OnlineType::OnlineMovable,
            devices: vec![DeviceSpec {
                id: "vm0".into(),
                index: 0,
                addr: device_memory_base(SimArch::X86_64, 0x1_4000_0000),
                region_size: 16 * GIB,
                block_size: 2 * MIB,
                node: 0,
                requested_size: 0,
            }],
            alloc_order: memory_hotplug::AllocOrder::LowestFirst,
            static_files: vec![
                ("proc/cmdline".into(), format!("{cmdline}\n").into_bytes()),
                ("proc/sys/kernel/osrelease".into(), format!("{release}\n").into_bytes()),
                (
                    format!("boot/config-{release}"),
                    b"CONFIG_X86_64=y\nCONFIG_DEVMEM=y\nCONFIG_STRICT_DEVMEM=y\nCONFIG_IO_STRICT_DEVMEM=y\nCONFIG_X86_PAT=y\n"
                        .to_vec(),
                ),
                ("sys/kernel/security/lockdown".into(), b"[none] integrity confidentiality\n".to_vec()),
            ],
            kernel_release: release,
            cmdline,
        }
    }

    /// A machine from a captured system (`root` mirrors `/`): its
    /// `/proc/iomem` (with the real flags of `observed/iomem-flags.txt` when
    /// the capture has them, else inferred), its memory blocks, release and
    /// command line. The devices are added by the caller.
    pub fn from_captured(root: &Path) -> Result<MachineSpec, SimError> {
        let read = |rel: &str| fs::read(root.join(rel)).map_err(|e| SimError::io(root.join(rel), e));
        let text = |rel: &str| read(rel).map(|b| String::from_utf8_lossy(&b).trim().to_string());
        let release = text("proc/sys/kernel/osrelease")?;
        let profile = KernelProfile::from_release(&release)
            .ok_or_else(|| SimError::invalid(root.join("proc/sys/kernel/osrelease"), "not a kernel release"))?;
        let cmdline = text("proc/cmdline")?;
        let arch =
            if release.contains("arm64") || release.contains("aarch64") { SimArch::Arm64 } else { SimArch::X86_64 };
        let platform = match arch {
            SimArch::X86_64 => TreeConfig::x86_64(),
            SimArch::Arm64 => TreeConfig::arm64(),
        }
        .with_profile(profile);
        let flags = root.join("observed/iomem-flags.txt");
        let tree = if flags.is_file() {
            let bytes = read("observed/iomem-flags.txt")?;
            let options = ParseOptions { annotations: true, config: platform, ..ParseOptions::default() };
            parse(&bytes, &options).map_err(|e| SimError::invalid(flags, e.to_string()))?.tree
        } else {
            let bytes = read("proc/iomem")?;
            let options = ParseOptions { config: platform, ..ParseOptions::default() };
            let mut dump =
                parse(&bytes, &options).map_err(|e| SimError::invalid(root.join("proc/iomem"), e.to_string()))?;
            let hints = InferHints {
                arch: Some(if arch == SimArch::X86_64 { InferArch::X86 } else { InferArch::Arm64 }),
                kernel: Some(profile.version),
            };
            let iomem = dump.tree.iomem_root();
            iomem::infer::infer_flags(&mut dump.tree, iomem, &hints);
            dump.tree
        };
        let memory = "sys/devices/system/memory";
        let block_size = u64::from_str_radix(&text(&format!("{memory}/block_size_bytes"))?, 16)
            .map_err(|_| SimError::invalid(root.join(memory).join("block_size_bytes"), "not a hex number"))?;
        let online_type = OnlineType::parse(&text(&format!("{memory}/auto_online_blocks"))?)
            .ok_or_else(|| SimError::invalid(root.join(memory).join("auto_online_blocks"), "not an online type"))?;
        // Boot RAM: the top-level System RAM resources.
        let mut boot_ram = Vec::new();
        if let Ok(children) = tree.children(tree.iomem_root()) {
            for id in children {
                if let Ok(v) = tree.get(id) {
                    if v.name == Some("System RAM") {
                        boot_ram.push(BootRange { start: v.range.start, end: v.range.end + 1 });
                    }
                }
            }
        }
        let mut static_files = Vec::new();
        for rel in [
            "proc/cmdline".to_string(),
            "proc/sys/kernel/osrelease".to_string(),
            format!("boot/config-{release}"),
            "sys/kernel/security/lockdown".to_string(),
            "observed/probe-credentials.txt".to_string(),
        ] {
            if let Ok(bytes) = fs::read(root.join(&rel)) {
                static_files.push((rel, bytes));
            }
        }
        Ok(MachineSpec {
            description: format!("captured system {}", root.display()),
            arch,
            kernel_release: release,
            profile,
            cmdline,
            tree,
            block_size,
            boot_ram,
            online_type,
            devices: Vec::new(),
            alloc_order: memory_hotplug::AllocOrder::LowestFirst,
            static_files,
        })
    }

    /// One past the end of boot RAM.
    pub fn boot_ram_end(&self) -> u64 {
        self.boot_ram.iter().map(|r| r.end).max().unwrap_or(0)
    }

    /// Adds a device where QEMU would put it: first fit in the
    /// device-memory area, aligned to the block size.
    pub fn add_device(&mut self, id: &str, index: u32, region_size: u64, block_size: u64) -> DeviceSpec {
        let base = device_memory_base(self.arch, self.boot_ram_end());
        let mut addr = base;
        for d in &self.devices {
            addr = addr.max(d.addr + d.region_size);
        }
        let align = block_size.max(2 * MIB);
        addr = addr.div_ceil(align) * align;
        let d = DeviceSpec { id: id.to_string(), index, addr, region_size, block_size, node: 0, requested_size: 0 };
        self.devices.push(d.clone());
        d
    }

    /// The device profile QEMU uses on this architecture (the usable
    /// region's extent: 256 MiB on x86-64, 1 GiB on arm64).
    pub fn device_profile(&self) -> Profile {
        match self.arch {
            SimArch::X86_64 => Profile::qemu_x86_64(),
            SimArch::Arm64 => Profile::qemu_arm64(),
        }
    }
}

/// Where QEMU's device-memory area starts: x86 `pc`/`q35` at 4 GiB plus the
/// RAM above 4 GiB, rounded up to 1 GiB; arm64 `virt` right after RAM,
/// rounded up to 1 GiB.
pub fn device_memory_base(arch: SimArch, ram_end: u64) -> u64 {
    let start = match arch {
        SimArch::X86_64 => ram_end.max(4 * GIB),
        SimArch::Arm64 => ram_end,
    };
    start.div_ceil(GIB) * GIB
}

/// The virtio index of each `-device virtio-*` on a QEMU command line, in
/// order (virtio-pci / virtio-mmio devices each take the next index; a
/// `virtconsole` is a port of a virtio-serial device, not a device).
pub fn virtio_indexes(qemu_cmdline: &str) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut next = 0;
    let mut words = qemu_cmdline.split_whitespace();
    while let Some(w) = words.next() {
        if w != "-device" {
            continue;
        }
        let Some(arg) = words.next() else { break };
        let kind = arg.split(',').next().unwrap_or("");
        if kind.starts_with("virtio-") {
            let id = arg.split(',').find_map(|p| p.strip_prefix("id=")).unwrap_or("").to_string();
            out.push((id, next));
            next += 1;
        }
    }
    out
}

/// A size in the largest binary unit that divides it.
fn size_text(bytes: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} B")
}
