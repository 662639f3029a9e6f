//! The host's side of the preparations: Debian packages (the tools, and the
//! kernels, downloaded and unpacked without being installed), the virtio
//! modules of each kernel in dependency order, and the static binaries
//! that run in the guest.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::log;

/// The Debian packages the check needs on the host, and a program each
/// provides (to tell whether it is there).
pub(crate) const HOST_PACKAGES: &[(&str, &str)] =
    &[("qemu-system-x86", "qemu-system-x86_64"), ("busybox-static", "busybox"), ("xz-utils", "xz"), ("zstd", "zstd")];

/// Runs a command, failing with its output when it fails.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether a program is on the PATH.
pub(crate) fn have(program: &str) -> bool {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file())).unwrap_or(false)
}

/// `apt-get update` and `apt-get install` of the host packages.
pub(crate) fn install_packages() -> anyhow::Result<()> {
    log("apt-get update");
    run(Command::new("apt-get").args(["update", "-qq"])).context("apt-get update")?;
    let names: Vec<&str> = HOST_PACKAGES.iter().map(|(p, _)| *p).collect();
    log(&format!("apt-get install {}", names.join(" ")));
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&names)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context("apt-get install")?;
    Ok(())
}

/// The programs of [`HOST_PACKAGES`] that are missing.
pub(crate) fn missing_tools() -> Vec<String> {
    let mut missing: Vec<String> =
        HOST_PACKAGES.iter().filter(|(_, prog)| !have(prog)).map(|(p, prog)| format!("{prog} ({p})")).collect();
    for prog in ["apt-get", "apt-cache", "dpkg-deb"] {
        if !have(prog) {
            missing.push(prog.to_string());
        }
    }
    missing
}

/// A static busybox (Debian's busybox-static installs it as /bin/busybox).
pub(crate) fn static_busybox() -> anyhow::Result<PathBuf> {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        let path = Path::new(p);
        if path.is_file() {
            let bytes = fs::read(path)?;
            if !has_interp(&bytes) {
                return Ok(path.to_path_buf());
            }
        }
    }
    bail!("no static busybox at /bin/busybox (Debian package busybox-static)")
}

/// Whether an ELF file asks for a dynamic loader (has a PT_INTERP header).
fn has_interp(elf: &[u8]) -> bool {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        return true;
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&elf[o..o + 8]);
        u64::from_le_bytes(b) as usize
    };
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        at + 4 <= elf.len() && u32::from_le_bytes([elf[at], elf[at + 1], elf[at + 2], elf[at + 3]]) == 3
    })
}

/// A kernel to check: the package that names it and what it resolved to.
#[derive(Clone, Debug)]
pub(crate) struct KernelPackage {
    /// What the user or the default named (`linux-image-amd64`).
    pub(crate) requested: String,
    /// The image package (`linux-image-6.1.0-57-amd64`).
    pub(crate) package: String,
    /// Its version (`6.1.192-3`).
    pub(crate) version: String,
}

/// Resolves a meta package to the image package it depends on, with the
/// candidate version `apt-cache policy` reports.
pub(crate) fn resolve_kernel(requested: &str) -> anyhow::Result<KernelPackage> {
    let policy = run(Command::new("apt-cache").args(["policy", requested]))?;
    let candidate = policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate: "))
        .map(str::to_string)
        .filter(|c| c != "(none)")
        .with_context(|| format!("apt-cache policy {requested}: no candidate (is the archive in sources.list?)"))?;
    let depends = run(Command::new("apt-cache").args(["depends", requested]))?;
    let image = depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|d| d.starts_with("linux-image-") && d.as_bytes().get(12).is_some_and(u8::is_ascii_digit))
        .map(str::to_string);
    let package = image.unwrap_or_else(|| requested.to_string());
    let version = if package == requested {
        candidate
    } else {
        let p = run(Command::new("apt-cache").args(["policy", &package]))?;
        p.lines()
            .find_map(|l| l.trim().strip_prefix("Candidate: "))
            .map(str::to_string)
            .filter(|c| c != "(none)")
            .with_context(|| format!("apt-cache policy {package}: no candidate"))?
    };
    Ok(KernelPackage { requested: requested.to_string(), package, version })
}

/// An unpacked kernel package.
#[derive(Clone, Debug)]
pub(crate) struct Kernel {
    /// The package.
    pub(crate) package: KernelPackage,
    /// `uname -r`.
    pub(crate) release: String,
    /// `boot/vmlinuz-RELEASE`.
    pub(crate) image: PathBuf,
    /// `boot/config-RELEASE`.
    pub(crate) config: PathBuf,
    /// The modules to load at boot, in order (name, decompressed bytes).
    pub(crate) boot_modules: Vec<(String, Vec<u8>)>,
    /// `virtio_mem.ko`, decompressed.
    pub(crate) virtio_mem: Vec<u8>,
}

/// Downloads (`apt-get download`, into `debs`) and unpacks (`dpkg-deb -x`,
/// under `kernels`) a kernel package, reusing earlier downloads.
pub(crate) fn fetch_kernel(pkg: &KernelPackage, debs: &Path, kernels: &Path) -> anyhow::Result<Kernel> {
    fs::create_dir_all(debs)?;
    let prefix = format!("{}_", pkg.package);
    let version_in_name = pkg.version.replace(':', "%3a");
    let find = || -> Option<PathBuf> {
        fs::read_dir(debs).ok()?.flatten().map(|e| e.path()).find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&prefix) && n.contains(&format!("_{version_in_name}_")) && n.ends_with(".deb")
            })
        })
    };
    let deb = match find() {
        Some(d) => d,
        None => {
            log(&format!("apt-get download {}={}", pkg.package, pkg.version));
            run(Command::new("apt-get")
                .args(["download", &format!("{}={}", pkg.package, pkg.version)])
                .current_dir(debs))?;
            find().with_context(|| format!("apt-get download {} left no .deb in {}", pkg.package, debs.display()))?
        }
    };
    let root = kernels.join(format!("{}_{}", pkg.package, version_in_name));
    if !root.join(".unpacked").is_file() {
        log(&format!("dpkg-deb -x {}", deb.display()));
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        fs::create_dir_all(&root)?;
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        fs::write(root.join(".unpacked"), "")?;
    }
    let boot = root.join("boot");
    let image = fs::read_dir(&boot)
        .with_context(|| format!("{}: no boot/ in the package", boot.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-")))
        .with_context(|| format!("{}: no vmlinuz", boot.display()))?;
    let release = image.file_name().and_then(|n| n.to_str()).unwrap_or_default()["vmlinuz-".len()..].to_string();
    let config = boot.join(format!("config-{release}"));
    if !config.is_file() {
        bail!("{}: missing", config.display());
    }
    let modroot = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| root.join(d).join(&release))
        .find(|d| d.is_dir())
        .with_context(|| format!("{}: no lib/modules/{release}", root.display()))?;
    let modules = Modules::index(&modroot)?;
    let mut order = Vec::new();
    for m in ["virtio_pci", "virtio_mem"] {
        modules.resolve(m, &mut order)?;
    }
    let mut boot_modules = Vec::new();
    let mut virtio_mem = None;
    for name in order {
        let bytes = modules.bytes(&name)?;
        if name == "virtio_mem" {
            virtio_mem = Some(bytes);
        } else {
            boot_modules.push((name, bytes));
        }
    }
    let virtio_mem = virtio_mem.with_context(|| format!("{release}: virtio_mem is not a module"))?;
    Ok(Kernel { package: pkg.clone(), release, image, config, boot_modules, virtio_mem })
}

/// The modules of an unpacked kernel package.
struct Modules {
    /// Module name (with `_`) → file.
    files: BTreeMap<String, PathBuf>,
    /// Names of built-in modules.
    builtin: Vec<String>,
}

fn module_name(file_name: &str) -> Option<String> {
    let stem = file_name.split(".ko").next()?;
    file_name.contains(".ko").then(|| stem.replace('-', "_"))
}

impl Modules {
    fn index(modroot: &Path) -> anyhow::Result<Modules> {
        let mut files = BTreeMap::new();
        let mut stack = vec![modroot.join("kernel")];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))?.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Some(n) = p.file_name().and_then(|n| n.to_str()).and_then(module_name) {
                    files.insert(n, p);
                }
            }
        }
        let builtin = fs::read_to_string(modroot.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.rsplit('/').next().and_then(module_name))
            .collect();
        Ok(Modules { files, builtin })
    }

    /// The module's decompressed bytes.
    fn bytes(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let path = &self.files[name];
        let p = path.to_string_lossy();
        let tool = if p.ends_with(".ko.xz") {
            Some("xz")
        } else if p.ends_with(".ko.zst") {
            Some("zstd")
        } else if p.ends_with(".ko.gz") {
            Some("gzip")
        } else {
            None
        };
        match tool {
            None => Ok(fs::read(path)?),
            Some(tool) => {
                let out = Command::new(tool)
                    .args(["-dc"])
                    .arg(path)
                    .stdin(Stdio::null())
                    .output()
                    .with_context(|| format!("cannot run {tool} to decompress {}", path.display()))?;
                if !out.status.success() {
                    bail!("{tool} -dc {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
                }
                Ok(out.stdout)
            }
        }
    }

    /// Appends `name` and the modules it depends on (`depends=` of its
    /// `.modinfo` section), dependencies first; built-in ones are skipped.
    fn resolve(&self, name: &str, order: &mut Vec<String>) -> anyhow::Result<()> {
        if order.iter().any(|n| n == name) {
            return Ok(());
        }
        if !self.files.contains_key(name) {
            if self.builtin.iter().any(|b| b == name) {
                return Ok(());
            }
            bail!("module {name}: neither a file in the package nor built in");
        }
        let bytes = self.bytes(name)?;
        for dep in modinfo_depends(&bytes) {
            self.resolve(&dep, order)?;
        }
        order.push(name.to_string());
        Ok(())
    }
}

/// The `depends=` list of a module's `.modinfo` strings.
fn modinfo_depends(ko: &[u8]) -> Vec<String> {
    let key = b"\0depends=";
    let Some(at) = ko.windows(key.len()).position(|w| w == key) else { return Vec::new() };
    let rest = &ko[at + key.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The workspace root (the directory holding `crates/`).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
}

/// The static guest binaries: `iomem` (release build of iomem-cli) and
/// `devmem-probe`, for x86_64-unknown-linux-gnu with `+crt-static`.
pub(crate) struct GuestBinaries {
    /// `iomem`.
    pub(crate) iomem: PathBuf,
    /// `devmem-probe`.
    pub(crate) probe: PathBuf,
}

/// Builds the static guest binaries into their own target directory.
pub(crate) fn build_guest_binaries(target_dir: &Path) -> anyhow::Result<GuestBinaries> {
    const TRIPLE: &str = "x86_64-unknown-linux-gnu";
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for (package, bin) in [("iomem-cli", "iomem"), ("xtask", "devmem-probe")] {
        log(&format!("cargo build --release -p {package} --bin {bin} (static, {TRIPLE})"));
        let status = Command::new(&cargo)
            .args(["build", "--release", "--locked", "-p", package, "--bin", bin, "--target", TRIPLE])
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", target_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .stdin(Stdio::null())
            .status()
            .context("cannot run cargo")?;
        if !status.success() {
            bail!("cargo build -p {package} --bin {bin} failed ({status})");
        }
    }
    let dir = target_dir.join(TRIPLE).join("release");
    let bins = GuestBinaries { iomem: dir.join("iomem"), probe: dir.join("devmem-probe") };
    for b in [&bins.iomem, &bins.probe] {
        if has_interp(&fs::read(b).with_context(|| format!("{}", b.display()))?) {
            bail!("{} is not static", b.display());
        }
    }
    Ok(bins)
}

/// The lines of a kernel configuration that the recordings keep
/// (fixtures/kernel/README.md, `boot/config-<kernel>`).
pub(crate) fn relevant_config(config: &str, release: &str) -> String {
    const EXACT: &[&str] = &[
        "DEVMEM",
        "STRICT_DEVMEM",
        "IO_STRICT_DEVMEM",
        "VIRTIO_MEM",
        "MEMORY_HOTREMOVE",
        "X86_PAT",
        "X86_5LEVEL",
        "PHYS_ADDR_T_64BIT",
        "ARM64_VA_BITS",
        "ARCH_HAS_DEVMEM_IS_ALLOWED",
        "GENERIC_LIB_DEVMEM_IS_ALLOWED",
        "ZONE_DEVICE",
        "ZONE_DMA32",
        "MODULE_SIG",
        "MODULE_SIG_FORCE",
        "MEMORY_BALLOON",
        "CONTIG_ALLOC",
        "MIGRATION",
        "X86_64",
        "ARM64",
        "PGTABLE_LEVELS",
    ];
    const PREFIX: &[&str] = &[
        "MEMORY_HOTPLUG",
        "MHP_",
        "ARCH_MHP_",
        "SECURITY_LOCKDOWN",
        "LOCK_DOWN_",
        "ARM64_PA_BITS",
        "ARCH_ENABLE_MEMORY_HOT",
        "SPARSEMEM",
    ];
    let mut out = format!("# selected lines of boot/config-{release} from the kernel package\n");
    for line in config.lines() {
        let body = line.strip_prefix("# ").unwrap_or(line);
        let Some(rest) = body.strip_prefix("CONFIG_") else { continue };
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let after = &rest[name.len()..];
        let shape = if line.starts_with("# ") { after == " is not set" } else { after.starts_with('=') };
        let arm64_pages = name.starts_with("ARM64_") && name.ends_with("K_PAGES");
        if shape && (EXACT.contains(&name.as_str()) || PREFIX.iter().any(|p| name.starts_with(p)) || arm64_pages) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modinfo_depends_list() {
        let ko = b"\x7fELF....\0license=GPL\0depends=virtio_ring,virtio\0retpoline=Y\0";
        assert_eq!(modinfo_depends(ko), ["virtio_ring", "virtio"]);
        assert!(modinfo_depends(b"\0depends=\0").is_empty());
        assert!(modinfo_depends(b"nothing").is_empty());
    }

    #[test]
    fn module_names() {
        assert_eq!(module_name("virtio_mem.ko.xz").as_deref(), Some("virtio_mem"));
        assert_eq!(module_name("virtio-pci.ko").as_deref(), Some("virtio_pci"));
        assert_eq!(module_name("modules.dep"), None);
    }

    #[test]
    fn config_selection_matches_the_recordings() {
        let config = "CONFIG_X86_64=y\nCONFIG_STRICT_DEVMEM=y\n# CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE is not set\n\
                      CONFIG_DEVMEM_FOO=y\nCONFIG_SPARSEMEM_VMEMMAP=y\nCONFIG_HZ=250\n# comment\n";
        let out = relevant_config(config, "6.1.0-57-amd64");
        assert_eq!(
            out,
            "# selected lines of boot/config-6.1.0-57-amd64 from the kernel package\nCONFIG_X86_64=y\n\
             CONFIG_STRICT_DEVMEM=y\n# CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE is not set\nCONFIG_SPARSEMEM_VMEMMAP=y\n"
        );
    }
}
