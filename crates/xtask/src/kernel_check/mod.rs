//! `cargo xtask kernel-check`: the proof on real kernels, repeatable.
//!
//! For each Debian kernel (6.1 and 6.12 of bookworm, downloaded with
//! `apt-get download` and unpacked, never installed) and each scenario
//! (`scenario.rs`), it boots the kernel under QEMU with one or two
//! virtio-mem devices and, at every step (before the driver, the driver
//! loaded with nothing plugged, grown, shrunk, unloaded):
//!
//! * inside the guest, against its live files: `iomem show --format proc`
//!   must be byte-identical to `/proc/iomem`; `iomem check --json` at the
//!   probe addresses must say what `open`, `mmap` and `pread` on
//!   `/dev/mem` really return there (`devmem-probe`), with both descriptor
//!   kinds the probe uses; `iomem blocks --json` must list the memory
//!   blocks as sysfs shows them;
//! * on the host: the run is written as a recording in the layout of
//!   `fixtures/kernel/` and replayed by `iomem simulate --replay`, whose
//!   every conformance check must match.
//!
//! It prints a table of every check, keeps the raw material of failing
//! cases, and exits non-zero on any difference, and also when anything was
//! skipped.

mod addresses;
mod compare;
mod host;
mod initramfs;
mod qemu;
mod run;
mod scenario;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

use compare::{Check, Outcome};
use host::Kernel;
use initramfs::{Archive, Entry};
use qemu::{Accel, BootError};
use scenario::Scenario;

/// The kernels checked by default: Debian bookworm's 6.1 and 6.12.
pub(crate) const DEFAULT_KERNELS: &[&str] = &["linux-image-amd64", "linux-image-6.12-amd64"];

/// Which accelerator to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AccelChoice {
    /// KVM if /dev/kvm works and the first guest boots with it, else TCG.
    Auto,
    /// KVM only.
    Kvm,
    /// TCG (pure emulation) only.
    Tcg,
}

/// The options of `kernel-check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// The CI subset: one kernel (6.1), two scenarios (strict-sbm2M and
    /// relaxed-bbm128M).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Also write every run as a recording under DIR/<kernel>/<scenario>/,
    /// in the layout of fixtures/kernel/ (replacing what is there).
    #[arg(long, value_name = "DIR")]
    pub(crate) record: Option<PathBuf>,
    /// The kernel packages to check (meta packages are resolved to their
    /// image package); repeatable. Default: linux-image-amd64 and
    /// linux-image-6.12-amd64 (only the first with --quick).
    #[arg(long = "kernel", value_name = "PACKAGE")]
    pub(crate) kernels: Vec<String>,
    /// Only these scenarios (repeatable; see --list).
    #[arg(long = "scenario", value_name = "NAME")]
    pub(crate) scenarios: Vec<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    pub(crate) list: bool,
    /// The accelerator.
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto)]
    pub(crate) accel: AccelChoice,
    /// Downloads, builds, recordings and raw material (default:
    /// target/kernel-check in the workspace).
    #[arg(long, value_name = "DIR")]
    pub(crate) work_dir: Option<PathBuf>,
    /// Do not run apt-get update/install (the tools must be there).
    #[arg(long)]
    pub(crate) no_install: bool,
    /// Keep the raw material of passing cases too.
    #[arg(long)]
    pub(crate) keep: bool,
}

/// Prints a progress line on standard error.
pub(crate) fn log(msg: &str) {
    eprintln!("[kernel-check] {msg}");
}

/// Seconds with two decimals.
pub(crate) fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

/// The results of one kernel × scenario.
struct Case {
    kernel: String,
    scenario: String,
    /// (step, checks); empty if the case could not run.
    steps: Vec<(String, Vec<Check>)>,
    /// Why the case did not complete.
    error: Option<String>,
    /// Where its raw material is.
    raw: PathBuf,
    seconds: f64,
}

impl Case {
    fn failed(&self) -> bool {
        self.error.is_some() || self.steps.iter().flat_map(|(_, c)| c).any(|c| matches!(c.outcome, Outcome::Diff(_)))
    }
}

/// Runs `kernel-check`.
pub(crate) fn main(opts: &Options) -> ExitCode {
    let started = Instant::now();
    let mut scenarios: Vec<Scenario> = scenario::all();
    if opts.list {
        for s in &scenarios {
            let quick = if s.quick { " (--quick)" } else { "" };
            println!("{}{quick}: {} — steps {}", s.name, s.append(), s.step_names().join(", "));
        }
        return ExitCode::SUCCESS;
    }
    if opts.quick {
        scenarios.retain(|s| s.quick);
    }
    if !opts.scenarios.is_empty() {
        for want in &opts.scenarios {
            if !scenarios.iter().any(|s| s.name == want) {
                eprintln!("kernel-check: no scenario {want:?} (see --list)");
                return ExitCode::from(2);
            }
        }
        scenarios.retain(|s| opts.scenarios.iter().any(|w| w == s.name));
    }
    let kernels: Vec<String> = if !opts.kernels.is_empty() {
        opts.kernels.clone()
    } else if opts.quick {
        DEFAULT_KERNELS[..1].iter().map(|s| s.to_string()).collect()
    } else {
        DEFAULT_KERNELS.iter().map(|s| s.to_string()).collect()
    };
    let work = opts.work_dir.clone().unwrap_or_else(|| host::workspace_root().join("target/kernel-check"));
    log(&format!(
        "kernels {}; scenarios {}; work directory {}",
        kernels.join(", "),
        scenarios.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
        work.display()
    ));
    let mut cases: Vec<Case> = Vec::new();
    let not_run = |why: &str, kernel: &str, cases: &mut Vec<Case>| {
        for s in &scenarios {
            cases.push(Case {
                kernel: kernel.to_string(),
                scenario: s.name.to_string(),
                steps: s.step_names().into_iter().map(|n| (n, Vec::new())).collect(),
                error: Some(format!("NOT RUN: {why}")),
                raw: PathBuf::new(),
                seconds: 0.0,
            });
        }
    };

    // The host's tools.
    let mut setup_error = None;
    if !opts.no_install {
        if let Err(e) = host::install_packages() {
            setup_error = Some(format!("installing the Debian packages failed: {e:#}"));
        }
    }
    let missing = host::missing_tools();
    if setup_error.is_none() && !missing.is_empty() {
        setup_error = Some(format!("missing tools: {}", missing.join(", ")));
    }
    let busybox = match &setup_error {
        None => host::static_busybox().map_err(|e| e.to_string()),
        Some(e) => Err(e.clone()),
    };
    let busybox = match busybox {
        Ok(b) => b,
        Err(why) => {
            for k in &kernels {
                not_run(&why, k, &mut cases);
            }
            return finish(&cases, &[], started, &work, None);
        }
    };

    // The guest's binaries.
    let bins = match host::build_guest_binaries(&work.join("cargo-target")) {
        Ok(b) => b,
        Err(e) => {
            for k in &kernels {
                not_run(&format!("building the guest binaries failed: {e:#}"), k, &mut cases);
            }
            return finish(&cases, &[], started, &work, None);
        }
    };

    // Host binary of the simulator: the same static release build.
    let sim = bins.iomem.clone();
    let mut accel = match opts.accel {
        AccelChoice::Tcg => Accel::Tcg,
        AccelChoice::Kvm => Accel::Kvm,
        AccelChoice::Auto => {
            if kvm_opens() {
                Accel::Kvm
            } else {
                log("accelerator: TCG (/dev/kvm cannot be opened)");
                Accel::Tcg
            }
        }
    };
    let mut accel_verified = opts.accel != AccelChoice::Auto || accel == Accel::Tcg;
    let mut accel_notes = Vec::new();
    let qemu_version = host::run(Command::new("qemu-system-x86_64").arg("--version"))
        .map(|v| v.lines().next().unwrap_or("").to_string())
        .unwrap_or_default();

    for requested in &kernels {
        let kernel = match host::resolve_kernel(requested)
            .and_then(|p| host::fetch_kernel(&p, &work.join("debs"), &work.join("kernels")))
        {
            Ok(k) => k,
            Err(e) => {
                log(&format!("KERNEL {requested} UNAVAILABLE: {e:#}"));
                not_run(&format!("kernel package {requested} unavailable: {e:#}"), requested, &mut cases);
                continue;
            }
        };
        log(&format!(
            "kernel {} ({} → {} {}); boot modules: {}",
            kernel.release,
            kernel.package.requested,
            kernel.package.package,
            kernel.package.version,
            kernel.boot_modules.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" ")
        ));
        let initrd = work.join(format!("initramfs-{}.cpio", kernel.release));
        if let Err(e) = build_initramfs(&kernel, &busybox, &bins, &initrd) {
            not_run(&format!("building the initramfs failed: {e:#}"), &kernel.release, &mut cases);
            continue;
        }
        for s in &scenarios {
            let case_start = Instant::now();
            let base = work.join("runs").join(&kernel.release).join(s.name);
            let dirs = run::Dirs {
                raw: base.join("raw"),
                sockets: std::env::temp_dir().join(format!("kcheck-{}", std::process::id())),
            };
            log(&format!("[{}] {} ({})", kernel.release, s.name, accel.name()));
            let mut result = run::run(&kernel, &initrd, s, accel, &dirs, boot_limit(accel));
            if let Err(BootError::Timeout(d)) = &result {
                if accel == Accel::Kvm && !accel_verified {
                    let note = format!(
                        "KVM: /dev/kvm opens, but the guest did not reach its prompt within {}s under it; using TCG",
                        d.as_secs()
                    );
                    log(&note);
                    accel_notes.push(note);
                    accel = Accel::Tcg;
                    accel_verified = true;
                    result = run::run(&kernel, &initrd, s, accel, &dirs, boot_limit(accel));
                }
            }
            // A kernel that panics while booting (before any step ran) is
            // booted once more, and the report says so; a second panic fails.
            if let Err(BootError::Panicked(line)) = &result {
                let note = format!(
                    "{} {}: the guest kernel panicked while booting ({line}); booted it once more",
                    kernel.release, s.name
                );
                log(&note);
                accel_notes.push(note);
                result = run::run(&kernel, &initrd, s, accel, &dirs, boot_limit(accel));
            }
            let _ = fs::remove_dir_all(&dirs.sockets);
            let mut case = Case {
                kernel: kernel.release.clone(),
                scenario: s.name.to_string(),
                steps: Vec::new(),
                error: None,
                raw: dirs.raw.clone(),
                seconds: 0.0,
            };
            match result {
                Err(e) => case.error = Some(format!("{e}")),
                Ok(r) => {
                    accel_verified = true;
                    let rec = base.join("recording");
                    let written = write_recording(&rec, &kernel, s, &r, accel, &qemu_version);
                    let sim_checks = match written {
                        Err(e) => {
                            case.error = Some(format!("writing the recording failed: {e:#}"));
                            BTreeMap::new()
                        }
                        Ok(()) => simulate(&sim, &rec, &dirs.raw),
                    };
                    for (i, step) in r.steps.iter().enumerate() {
                        let mut checks = step.checks.clone();
                        match sim_checks.get(&step.name) {
                            Some(c) => checks.extend(c.iter().cloned()),
                            None if i == 0 => {}
                            None => checks.push(Check::new(
                                "sim:replay",
                                Outcome::Diff(
                                    sim_checks
                                        .get("")
                                        .and_then(|c| c.first())
                                        .map(|c| match &c.outcome {
                                            Outcome::Diff(d) => d.clone(),
                                            _ => String::new(),
                                        })
                                        .unwrap_or_else(|| "the simulator compared nothing for this step".into()),
                                ),
                            )),
                        }
                        case.steps.push((step.name.clone(), checks));
                    }
                    if let Some(dir) = &opts.record {
                        let dest = dir.join(&kernel.release).join(s.name);
                        if let Err(e) = copy_dir(&rec, &dest) {
                            case.error = Some(format!("copying the recording to {} failed: {e:#}", dest.display()));
                        } else {
                            log(&format!("  recorded {}", dest.display()));
                        }
                    }
                }
            }
            case.seconds = case_start.elapsed().as_secs_f64();
            if !case.failed() && !opts.keep {
                let _ = fs::remove_dir_all(&case.raw);
            }
            log(&format!(
                "[{}] {}: {} in {:.0}s",
                case.kernel,
                case.scenario,
                if case.failed() { "DIFFERENCES" } else { "all match" },
                case.seconds
            ));
            cases.push(case);
        }
    }
    finish(&cases, &accel_notes, started, &work, Some(accel))
}

fn boot_limit(accel: Accel) -> Duration {
    match accel {
        Accel::Kvm => Duration::from_secs(30),
        Accel::Tcg => Duration::from_secs(240),
    }
}

fn kvm_opens() -> bool {
    fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
}

/// Builds the initramfs: busybox, `/init`, the boot modules (in order,
/// listed in `/etc/boot-modules`), `virtio_mem.ko`, the kernel's full
/// configuration (`/boot/config-RELEASE`, which `iomem` reads), `iomem`
/// and `devmem-probe`.
fn build_initramfs(kernel: &Kernel, busybox: &Path, bins: &host::GuestBinaries, out: &Path) -> anyhow::Result<()> {
    let mut a = Archive::default();
    for d in ["proc", "sys", "dev", "tmp", "etc", "lib/modules", "boot", "root"] {
        a.add(d, Entry::Dir);
    }
    a.add("dev/console", Entry::CharDev(5, 1));
    a.file("init", 0o755, include_bytes!("guest-init.sh").to_vec());
    a.file("bin/busybox", 0o755, fs::read(busybox)?);
    a.add("bin/sh", Entry::Symlink("busybox".into()));
    a.file("bin/iomem", 0o755, fs::read(&bins.iomem)?);
    a.file("bin/devmem-probe", 0o755, fs::read(&bins.probe)?);
    let mut list = String::new();
    for (name, bytes) in &kernel.boot_modules {
        a.file(&format!("lib/modules/{name}.ko"), 0o644, bytes.clone());
        let _ = writeln!(list, "{name}");
    }
    a.file("lib/modules/virtio_mem.ko", 0o644, kernel.virtio_mem.clone());
    a.file("etc/boot-modules", 0o644, list.into_bytes());
    a.file(&format!("boot/config-{}", kernel.release), 0o644, fs::read(&kernel.config)?);
    fs::write(out, a.finish()).with_context(|| format!("{}", out.display()))?;
    Ok(())
}

/// Writes a run as a recording in the layout of fixtures/kernel/.
fn write_recording(
    dir: &Path,
    kernel: &Kernel,
    s: &Scenario,
    r: &run::Run,
    accel: Accel,
    qemu_version: &str,
) -> anyhow::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    let mut t = String::new();
    let _ = writeln!(t, "scenario: {}", s.name);
    let _ = writeln!(
        t,
        "kernel: {} (Debian package {} {})",
        kernel.release, kernel.package.package, kernel.package.version
    );
    let _ = writeln!(t, "qemu: qemu-system-x86_64 ({qemu_version}), accelerator {}", accel.name());
    let _ = writeln!(t, "machine: pc, cpu (default), 2 vCPUs, memory 2G,slots=2,maxmem=10G");
    let _ = writeln!(t, "kernel cmdline: {}", r.cmdline.trim());
    for (n, d) in s.devices.iter().enumerate() {
        let _ = writeln!(
            t,
            "virtio-mem device: id={} region size={} block-size={} (memdev vmem{n})",
            d.id,
            qemu::qemu_size(d.region_size),
            qemu::qemu_size(d.block_size)
        );
    }
    let _ =
        writeln!(t, "auto_online_blocks: {} at boot, {} when virtio_mem was loaded", r.boot_online, s.online_policy);
    let _ = writeln!(
        t,
        "introspection module (iomem-flags.txt, kernel-functions.tsv): not loaded; kernel-functions.tsv holds only \
         its first line, high_memory and max_pfn, derived from the kernel log's e820 last_pfn and the end of \
         /proc/kpageflags (no per-address rows)"
    );
    let _ = writeln!(t, "probe credentials: uid 0 with all capabilities");
    let _ = writeln!(t, "recorded by: cargo xtask kernel-check (crates/xtask)");
    let _ = writeln!(t);
    let _ = writeln!(t, "steps (one directory each, in this order):");
    for step in &r.steps {
        let action = step.action.as_ref().map_or(String::new(), |a| format!(" [action: {a}]"));
        let _ = writeln!(t, "  {}: {}{action}", step.name, step.description);
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "timing (seconds, measured on the recording machine):");
    for (k, v) in &r.timing {
        let _ = writeln!(t, "  {k}={v}");
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "qemu command line (paths replaced by <kernel>, <initrd>, <tmp>):");
    let _ = writeln!(t, "  {}", r.qemu_cmdline);
    fs::write(dir.join("scenario.txt"), t)?;
    for step in &r.steps {
        for (rel, bytes) in &step.files {
            let p = dir.join(&step.name).join(rel);
            if let Some(parent) = p.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(&p, bytes)?;
        }
    }
    if !r.after_last.is_empty() {
        fs::write(dir.join("requests-after-last-step.log"), &r.after_last)?;
    }
    Ok(())
}

/// `iomem simulate --replay REC --json`: its conformance and invariants,
/// per step (key "" holds a failure of the whole run).
fn simulate(iomem: &Path, rec: &Path, raw: &Path) -> BTreeMap<String, Vec<Check>> {
    let out = Command::new(iomem).args(["simulate", "--replay"]).arg(rec).arg("--json").stdin(Stdio::null()).output();
    let mut map = BTreeMap::new();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            map.insert(String::new(), vec![Check::new("sim:replay", Outcome::Diff(format!("cannot run iomem: {e}")))]);
            return map;
        }
    };
    let _ = fs::create_dir_all(raw);
    let _ = fs::write(raw.join("simulate.json"), &out.stdout);
    let _ = fs::write(raw.join("simulate.stderr"), &out.stderr);
    let doc: Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) => v,
        Err(_) => {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            map.insert(
                String::new(),
                vec![Check::new("sim:replay", Outcome::Diff(format!("iomem simulate --replay failed: {why}")))],
            );
            return map;
        }
    };
    let mut map = run::sim_checks(&doc);
    for step in doc["steps"].as_array().into_iter().flatten().skip(1) {
        let name = step["name"].as_str().unwrap_or("?").to_string();
        let broken: Vec<String> = step["invariants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["ok"].as_bool() != Some(true))
            .map(|i| format!("{}: {}", i["name"].as_str().unwrap_or("?"), i["detail"].as_str().unwrap_or("")))
            .collect();
        let outcome = if broken.is_empty() {
            Outcome::Match("every invariant holds".into())
        } else {
            Outcome::Diff(broken.join("; "))
        };
        map.entry(name).or_default().push(Check::new("sim:invariants", outcome));
    }
    map
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        fs::remove_dir_all(to)?;
    }
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

/// The order of the table's columns.
const COLUMNS: &[&str] = &[
    "reached",
    "show",
    "devmem",
    "estimate",
    "blocks",
    "high-memory",
    "sim:proc-iomem",
    "sim:iomem-flags",
    "sim:memory-blocks",
    "sim:requests",
    "sim:device",
    "sim:dmesg",
    "sim:high-memory",
    "sim:invariants",
    "sim:replay",
];

/// The columns that are not one check per step: the flags comparison and
/// the replay's own verdict appear only where the recording allows them.
const NOT_PER_STEP: &[&str] = &["sim:iomem-flags", "sim:replay"];

/// The checks of every step (named when a case could not run).
fn planned() -> Vec<&'static str> {
    COLUMNS.iter().copied().filter(|c| !NOT_PER_STEP.contains(c)).collect()
}

/// Prints the table and the differences; the exit status.
fn finish(cases: &[Case], notes: &[String], started: Instant, work: &Path, accel: Option<Accel>) -> ExitCode {
    let mut columns: Vec<String> = COLUMNS
        .iter()
        .filter(|c| cases.iter().flat_map(|k| &k.steps).flat_map(|(_, cs)| cs).any(|x| x.name == **c))
        .map(|c| c.to_string())
        .collect();
    for c in cases.iter().flat_map(|k| &k.steps).flat_map(|(_, cs)| cs) {
        if !columns.contains(&c.name) {
            columns.push(c.name.clone());
        }
    }
    let kw = cases.iter().map(|c| c.kernel.len()).max().unwrap_or(6).max(6);
    let sw = cases.iter().map(|c| c.scenario.len()).max().unwrap_or(8).max(8);
    let tw = cases.iter().flat_map(|c| &c.steps).map(|(s, _)| s.len()).max().unwrap_or(4).max(4);
    let mut out = String::new();
    let _ = writeln!(out, "\nkernel-check: conformance (ok = match, DIFF = difference, skip = not run, - = n/a)");
    let mut head = format!("{:kw$}  {:sw$}  {:tw$}", "kernel", "scenario", "step");
    for c in &columns {
        let _ = write!(head, "  {c}");
    }
    let _ = writeln!(out, "{head}");
    let _ = writeln!(out, "{}", "-".repeat(head.len()));
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    let mut diffs = Vec::new();
    let mut skips = Vec::new();
    for case in cases {
        if let Some(e) = &case.error {
            let _ = writeln!(out, "{:kw$}  {:sw$}  {:tw$}  ERROR: {e}", case.kernel, case.scenario, "-");
            if e.starts_with("NOT RUN") {
                let steps: Vec<&str> = case.steps.iter().map(|(s, _)| s.as_str()).collect();
                let planned = planned();
                skipped += steps.len() * planned.len();
                skips.push(format!(
                    "{} {}: steps {} × checks {}: {e}",
                    case.kernel,
                    case.scenario,
                    steps.join(", "),
                    planned.join(", ")
                ));
                continue;
            } else {
                failed += 1;
                diffs.push(format!("{} {}: {e}", case.kernel, case.scenario));
            }
        }
        for (step, checks) in &case.steps {
            let mut line = format!("{:kw$}  {:sw$}  {:tw$}", case.kernel, case.scenario, step);
            for c in &columns {
                let cell = match checks.iter().find(|x| &x.name == c).map(|x| &x.outcome) {
                    None => "-",
                    Some(Outcome::Match(_)) => "ok",
                    Some(Outcome::Diff(_)) => "DIFF",
                    Some(Outcome::Skipped(_)) => "skip",
                };
                let _ = write!(line, "  {cell:w$}", w = c.len());
            }
            let _ = writeln!(out, "{}", line.trim_end());
            for c in checks {
                match &c.outcome {
                    Outcome::Match(_) => passed += 1,
                    Outcome::Diff(d) => {
                        failed += 1;
                        diffs.push(format!("{} {} {} {}: {d}", case.kernel, case.scenario, step, c.name));
                    }
                    Outcome::Skipped(why) => {
                        skipped += 1;
                        skips.push(format!("{} {} {} {}: skipped: {why}", case.kernel, case.scenario, step, c.name));
                    }
                }
            }
        }
    }
    if !diffs.is_empty() {
        let _ = writeln!(out, "\nDifferences (the first of each check):");
        for d in &diffs {
            let _ = writeln!(out, "  {d}");
        }
        let _ = writeln!(out, "\nRaw material of the failing cases (console log, QEMU trace, guest outputs):");
        for c in cases.iter().filter(|c| c.failed() && !c.raw.as_os_str().is_empty()) {
            let _ = writeln!(out, "  {} {}: {}", c.kernel, c.scenario, c.raw.display());
        }
    }
    if !skips.is_empty() {
        eprintln!("\n!!! kernel-check: {skipped} CHECKS SKIPPED — see the end of the report; exit status 2 !!!");
        let _ = writeln!(out, "\n!!! SKIPPED CHECKS — this run does NOT prove conformance !!!");
        for s in &skips {
            let _ = writeln!(out, "  {s}");
        }
    }
    for n in notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    let times: Vec<String> = cases
        .iter()
        .filter(|c| c.seconds > 0.0)
        .map(|c| format!("{} {} {:.0}s", c.kernel, c.scenario, c.seconds))
        .collect();
    if !times.is_empty() {
        let _ = writeln!(out, "\ntimes: {}", times.join(", "));
    }
    let _ = writeln!(
        out,
        "wall clock {:.0}s, accelerator {}, work directory {}",
        started.elapsed().as_secs_f64(),
        accel.map_or("none", Accel::name),
        work.display()
    );
    let _ = writeln!(out, "kernel-check: {passed} passed, {failed} failed, {skipped} skipped");
    print!("{out}");
    if failed > 0 {
        ExitCode::FAILURE
    } else if skipped > 0 || passed == 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    /// A case that could not run names every per-step check as skipped:
    /// all the table's columns but the two that are not per step.
    #[test]
    fn planned_checks_are_the_per_step_columns() {
        let planned = super::planned();
        assert_eq!(planned.len(), super::COLUMNS.len() - 2);
        assert!(planned.contains(&"devmem") && planned.contains(&"sim:invariants"));
        assert!(!planned.contains(&"sim:replay") && !planned.contains(&"sim:iomem-flags"));
    }
}
