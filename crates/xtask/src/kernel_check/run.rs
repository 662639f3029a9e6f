//! One scenario on one kernel: boot, the steps, and at each step the
//! capture (the recording's files) and the in-guest checks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::addresses;
use super::compare::{self, Check, Outcome, Probe};
use super::host::{Kernel, relevant_config};
use super::qemu::{Accel, BootError, Guest, Machine};
use super::scenario::{Action, Scenario};
use super::{log, secs};

/// Pages per memory section on x86-64 (128 MiB of 4 KiB pages).
const PAGES_PER_SECTION: u64 = 0x8000;

/// One captured step.
pub(crate) struct Step {
    /// Its directory name.
    pub(crate) name: String,
    /// What it was (the `steps` line of scenario.txt, without the action).
    pub(crate) description: String,
    /// The `[action: …]` of scenario.txt.
    pub(crate) action: Option<String>,
    /// The recording's files of the step (relative paths).
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    /// Offset of QEMU's trace just before the step's action.
    pub(crate) trace_mark: u64,
    /// The in-guest checks.
    pub(crate) checks: Vec<Check>,
}

/// A finished scenario run.
pub(crate) struct Run {
    /// The steps.
    pub(crate) steps: Vec<Step>,
    /// `key=value` timings.
    pub(crate) timing: Vec<(String, String)>,
    /// The QEMU command line, as recordings show it.
    pub(crate) qemu_cmdline: String,
    /// `auto_online_blocks` at boot.
    pub(crate) boot_online: String,
    /// The guest's kernel command line.
    pub(crate) cmdline: String,
    /// Requests traced after the last step's capture.
    pub(crate) after_last: String,
}

/// The directories of one run.
pub(crate) struct Dirs {
    /// Raw material: console log, QEMU trace, the guest's outputs.
    pub(crate) raw: PathBuf,
    /// A short directory for QEMU's sockets.
    pub(crate) sockets: PathBuf,
}

/// Boots the scenario's machine and runs it. A boot that does not reach
/// the guest's prompt in `boot_limit` is reported as [`BootError::Timeout`].
pub(crate) fn run(
    kernel: &Kernel,
    initrd: &Path,
    scenario: &Scenario,
    accel: Accel,
    dirs: &Dirs,
    boot_limit: Duration,
) -> Result<Run, BootError> {
    if dirs.raw.exists() {
        fs::remove_dir_all(&dirs.raw).map_err(|e| BootError::Other(e.into()))?;
    }
    let append = scenario.append();
    let machine = Machine {
        kernel: &kernel.image,
        initrd,
        append: &append,
        devices: &scenario.devices,
        accel,
        raw_dir: &dirs.raw,
        socket_dir: &dirs.sockets,
    };
    let (mut guest, release) = Guest::boot(&machine, boot_limit).map_err(|e| match e {
        BootError::Other(_) => boot_panic(&dirs.raw).map_or(e, BootError::Panicked),
        e => e,
    })?;
    let mut timing = vec![("boot_to_ready_s".to_string(), secs(guest.started.elapsed()))];
    if release != kernel.release {
        return Err(BootError::Other(anyhow::anyhow!("the guest runs {release}, not {}", kernel.release)));
    }
    let result = steps(&mut guest, kernel, scenario, dirs, &mut timing);
    let (steps, end_mark, cmdline, boot_online) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = guest
                .run("dmesg", Duration::from_secs(30))
                .map(|(_, o, _)| fs::write(dirs.raw.join("dmesg-full.txt"), o));
            return Err(BootError::Other(e));
        }
    };
    let total = guest.started.elapsed();
    guest.power_off().map_err(BootError::Other)?;
    timing.push(("total_s".to_string(), secs(total)));
    timing.push(("accel".to_string(), accel.name().to_string()));
    let mut run = Run { steps, timing, qemu_cmdline: machine.shown(), boot_online, cmdline, after_last: String::new() };
    split_trace(&machine.trace_path(), &mut run, end_mark).map_err(BootError::Other)?;
    Ok(run)
}

/// The kernel's panic line, if the console log of a failed boot has one.
fn boot_panic(raw: &Path) -> Option<String> {
    let console = fs::read_to_string(raw.join("console.log")).ok()?;
    let line = console.lines().find(|l| l.contains("Kernel panic - not syncing"))?;
    Some(line.split_once("] ").map_or(line, |(_, rest)| rest).trim().to_string())
}

type StepsResult = (Vec<Step>, u64, String, String);

fn steps(
    g: &mut Guest,
    kernel: &Kernel,
    scenario: &Scenario,
    dirs: &Dirs,
    timing: &mut Vec<(String, String)>,
) -> anyhow::Result<StepsResult> {
    let cmdline = g.sh("cat /proc/cmdline")?;
    let boot_pfn = boot_max_pfn(&g.sh("dmesg | grep 'last_pfn = ' || true")?)?;
    let mut regions = Vec::new();
    for (n, d) in scenario.devices.iter().enumerate() {
        let addr = g.qom_get(&d.id, "memaddr")?.as_u64().context("memaddr")?;
        regions.push((n, addr, d.region_size));
    }
    let mut cx = Capture { kernel, dirs, cmdline: cmdline.clone(), boot_pfn, regions, ram_end_seen: 0 };
    let names = scenario.step_names();
    let mut steps = Vec::new();

    // 0-nodriver's requests start with QEMU (the machine reset).
    let s = cx.capture(g, &names[0], "before insmod virtio_mem".into(), None, None)?;
    let boot_online = s
        .files
        .get("sys/devices/system/memory/auto_online_blocks")
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default();
    steps.push(s);

    let mark = g.trace_offset();
    g.sh(&format!("echo {} > /sys/devices/system/memory/auto_online_blocks", scenario.online_policy))?;
    let t = Instant::now();
    let (rc, out, err) = g.run("insmod /lib/modules/virtio_mem.ko", Duration::from_secs(120))?;
    if rc != 0 {
        bail!("insmod virtio_mem failed: {}{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err));
    }
    let (_, size) = settle(g, None)?;
    timing.push(("insmod_settle_s".to_string(), secs(t.elapsed())));
    let sizes: Vec<String> = size.iter().map(u64::to_string).collect();
    let desc = format!("driver loaded, requested-size=0, size={}", sizes.join(","));
    let mut s = cx.capture(g, &names[1], desc, None, None)?;
    s.trace_mark = mark;
    steps.push(s);

    let mut requested = vec![0u64; scenario.devices.len()];
    for (i, action) in scenario.actions.iter().enumerate() {
        let name = &names[i + 2];
        let mark = g.trace_offset();
        let t = Instant::now();
        let (desc, action_txt, summary, reached) = match action {
            Action::Resize { device, size } => {
                let id = scenario.devices[*device].id.clone();
                g.set_requested_size(&id, *size)?;
                requested[*device] = *size;
                let (reached, plugged) = settle(g, Some((&id, *size)))?;
                let plugged = plugged[*device];
                timing.push((format!("{name}_settle_s"), secs(t.elapsed())));
                let how = match reached {
                    Some(r) => {
                        timing.push((format!("{name}_reached_s"), secs(r)));
                        format!("reached after {}s", secs(r))
                    }
                    None => {
                        timing.push((format!("{name}_reached"), format!("no (size={plugged})")));
                        "NOT reached within 120s".to_string()
                    }
                };
                let desc = format!("{id} requested-size={size}, plugged size={plugged} ({how})");
                let cmd = format!("qom-set {id} requested-size {size}");
                (desc, format!("command={cmd}\n"), cmd, Some(reached.is_some()))
            }
            Action::Rmmod => {
                let (rc, out, err) = g.run("rmmod virtio_mem", Duration::from_secs(120))?;
                settle(g, None)?;
                timing.push((format!("{name}_s"), secs(t.elapsed())));
                let mut txt = String::from("command=rmmod virtio_mem\n");
                txt.push_str(&String::from_utf8_lossy(&out));
                txt.push_str(&String::from_utf8_lossy(&err));
                let _ = writeln!(txt, "rc={rc}");
                ("after 'rmmod virtio_mem'".to_string(), txt, format!("rmmod virtio_mem, rc={rc}"), None)
            }
        };
        let mut s = cx.capture(g, name, desc, Some(action_txt), Some(summary))?;
        s.trace_mark = mark;
        if let Some(reached) = reached {
            let outcome = if reached {
                Outcome::Match("QEMU's plugged size reached the request".into())
            } else {
                Outcome::Diff("QEMU's plugged size never reached the requested size".into())
            };
            s.checks.insert(0, Check::new("reached", outcome));
        }
        steps.push(s);
    }
    let end = g.trace_offset();
    let (_, dmesg, _) = g.run("dmesg", Duration::from_secs(60))?;
    fs::write(dirs.raw.join("dmesg-full.txt"), dmesg)?;
    Ok((steps, end, cmdline, boot_online))
}

/// `max_pfn` at boot, from the kernel log's `e820: last_pfn = 0x7ffe0
/// max_arch_pfn = …` (the first such line is `e820__end_of_ram_pfn`).
fn boot_max_pfn(dmesg: &str) -> anyhow::Result<u64> {
    let v = dmesg
        .lines()
        .find_map(|l| l.split("last_pfn = 0x").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .context("the kernel log has no 'last_pfn = ' line")?;
    Ok(u64::from_str_radix(v, 16)?)
}

/// Waits until QEMU's plugged size of `target`'s device equals the request
/// (at most 120 s), then until the guest's `/proc/iomem` and memory block
/// states stop changing. Returns the seconds until the size was reached
/// (`None` if never) and every device's plugged size.
fn settle(g: &mut Guest, target: Option<(&str, u64)>) -> anyhow::Result<(Option<Duration>, Vec<u64>)> {
    let t = Instant::now();
    let mut reached = None;
    if let Some((id, want)) = target {
        while t.elapsed() < Duration::from_secs(120) {
            if g.qom_get(id, "size")?.as_u64() == Some(want) {
                reached = Some(t.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let mut prev: Option<String> = None;
    let mut stable = 0;
    let t2 = Instant::now();
    while t2.elapsed() < Duration::from_secs(60) {
        let cur = g.sh("cat /proc/iomem /sys/devices/system/memory/memory*/state")?;
        if prev.as_deref() == Some(cur.as_str()) {
            stable += 1;
            if stable >= 2 {
                break;
            }
        } else {
            stable = 0;
        }
        prev = Some(cur);
        std::thread::sleep(Duration::from_millis(500));
    }
    let devs = g.qmp("query-memory-devices", Value::Null)?;
    let sizes =
        devs.as_array().map(|a| a.iter().filter_map(|d| d["data"]["size"].as_u64()).collect()).unwrap_or_default();
    Ok((reached, sizes))
}

/// What every capture needs.
struct Capture<'a> {
    kernel: &'a Kernel,
    dirs: &'a Dirs,
    cmdline: String,
    /// `max_pfn` at boot.
    boot_pfn: u64,
    /// (index, start, size) of each device region.
    regions: Vec<(usize, u64, u64)>,
    /// The highest end of System RAM seen so far in this boot.
    ram_end_seen: u64,
}

const SYSFS_CMD: &str = "cd /sys/devices/system/memory && for f in block_size_bytes auto_online_blocks \
                         memory[0-9]*/state memory[0-9]*/phys_index memory[0-9]*/valid_zones; do \
                         printf '%s\\t%s\\n' \"$f\" \"$(cat $f)\"; done";

impl Capture<'_> {
    fn capture(
        &mut self,
        g: &mut Guest,
        name: &str,
        description: String,
        action_txt: Option<String>,
        action: Option<String>,
    ) -> anyhow::Result<Step> {
        log(&format!("  {name}: capture"));
        let raw = self.dirs.raw.join(name);
        fs::create_dir_all(&raw)?;
        let save = |file: &str, bytes: &[u8]| fs::write(raw.join(file), bytes);
        let run = |g: &mut Guest, cmd: &str| g.run(cmd, Duration::from_secs(600));
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut checks = Vec::new();

        let (_, proc_iomem, _) = run(g, "cat /proc/iomem")?;
        save("proc-iomem.txt", &proc_iomem)?;
        let show = run(g, "iomem show --format proc")?;
        save("iomem-show-proc.txt", &show.1)?;
        save("iomem-show-proc.stderr", &show.2)?;
        checks.push(Check::new("show", compare::show(&proc_iomem, &show)));

        let sysfs_text = g.sh(SYSFS_CMD)?;
        save("sysfs.txt", sysfs_text.as_bytes())?;
        let sysfs: BTreeMap<String, String> = sysfs_text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_string(), format!("{v}\n")))
            .collect();
        let block_size = sysfs
            .get("block_size_bytes")
            .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
            .context("block_size_bytes")?;
        let added: BTreeSet<u64> = sysfs
            .keys()
            .filter_map(|k| k.strip_suffix("/state")?.strip_prefix("memory")?.parse::<u64>().ok())
            .map(|n| n * block_size)
            .collect();

        let iomem_text = String::from_utf8_lossy(&proc_iomem).into_owned();
        let iomem = addresses::parse_iomem(&iomem_text);
        // high_memory: the kernel's max_pfn is its boot value until memory
        // is hot-added above it, and then the end of the highest memory
        // ever added (section aligned, never lowered). /proc/kpageflags
        // ends at max_pfn rounded up to a section.
        let kp = g.sh("devmem-probe --kpageflags-end")?;
        let kp_end = serde_json::from_str::<Value>(&kp)?["kpageflags_end_pfn"].as_u64().context("kpageflags end")?;
        let max_pfn = if kp_end == self.boot_pfn.next_multiple_of(PAGES_PER_SECTION) { self.boot_pfn } else { kp_end };
        let high_memory = max_pfn << 12;
        self.ram_end_seen = self.ram_end_seen.max(addresses::system_ram_end(&iomem));
        let hm = if high_memory == self.ram_end_seen {
            Outcome::Match(format!("{high_memory:#x}"))
        } else {
            Outcome::Diff(format!(
                "kernel (boot last_pfn {:#x}, kpageflags end {kp_end:#x}) {high_memory:#x}, highest System RAM \
                 seen in this boot {:#x}",
                self.boot_pfn, self.ram_end_seen
            ))
        };
        checks.push(Check::new("high-memory", hm));

        let inputs = addresses::Inputs { devices: &self.regions, block_size, added: &added, high_memory };
        let addrs = addresses::choose(&iomem, &inputs);
        let list: String = addrs.iter().map(|(a, l)| format!("{a:#x}:{l}\n")).collect();
        g.put("/tmp/addrs", list.as_bytes())?;
        let (rc, probe_out, probe_err) = run(g, "devmem-probe $(cat /tmp/addrs)")?;
        save("probe.jsonl", &probe_out)?;
        if rc != 0 {
            bail!("devmem-probe failed (exit {rc}): {}", String::from_utf8_lossy(&probe_err));
        }
        let probes = compare::parse_probe(&probe_out)?;

        let targets: String = addrs.iter().map(|(a, _)| format!("{a:#x} {a:#x}+0x10\n")).collect();
        g.put("/tmp/targets", targets.as_bytes())?;
        let mut devmem_diffs = Vec::new();
        let mut estimate_diffs = Vec::new();
        let (mut compared, mut excused) = (0, 0);
        for (fd, flags, file) in [("O_RDWR", "", "rdwr"), ("O_RDONLY|O_SYNC", " --sync --rdonly", "rdonly-sync")] {
            let given = format!("iomem check --json{flags} --assume high_memory={high_memory:#x} $(cat /tmp/targets)");
            let estimated = format!("iomem check --json{flags} $(cat /tmp/targets)");
            for (cmd, out_name, diffs, allow) in [
                (given, format!("check-{file}.json"), &mut devmem_diffs, None),
                (estimated, format!("check-{file}-estimate.json"), &mut estimate_diffs, Some("high_memory")),
            ] {
                let (rc, out, err) = run(g, &cmd)?;
                save(&out_name, &out)?;
                save(&format!("{out_name}.stderr"), &err)?;
                if rc != 0 {
                    diffs.push(format!("{cmd} failed (exit {rc}): {}", String::from_utf8_lossy(&err).trim()));
                    continue;
                }
                match compare::parse_check(&out) {
                    Ok(v) => {
                        let (n, d, e) = compare::devmem(&probes, fd, &v, &addrs, allow);
                        if allow.is_none() {
                            compared += n;
                        } else {
                            excused += e;
                        }
                        diffs.extend(d);
                    }
                    Err(e) => diffs.push(format!("{e}")),
                }
            }
        }
        let summarise = |diffs: &[String], ok: String| {
            if diffs.is_empty() {
                Outcome::Match(ok)
            } else {
                Outcome::Diff(format!("{} (of {} differences)", diffs[0], diffs.len()))
            }
        };
        let listing = |diffs: &[String]| diffs.iter().map(|d| format!("{d}\n")).collect::<String>();
        save("devmem-differences.txt", listing(&devmem_diffs).as_bytes())?;
        save("estimate-differences.txt", listing(&estimate_diffs).as_bytes())?;
        checks.push(Check::new(
            "devmem",
            summarise(&devmem_diffs, format!("{} addresses, {compared} results", addrs.len())),
        ));
        checks.push(Check::new(
            "estimate",
            summarise(&estimate_diffs, format!("{excused} results differ, all marked uncertain: high_memory")),
        ));

        let blocks = run(g, "iomem blocks --json")?;
        save("iomem-blocks.json", &blocks.1)?;
        save("iomem-blocks.stderr", &blocks.2)?;
        let outcome = match compare::expected_blocks(&sysfs, &iomem) {
            Ok(rows) => compare::blocks(&rows, &blocks),
            Err(e) => Outcome::Diff(format!("sysfs: {e}")),
        };
        checks.push(Check::new("blocks", outcome));

        // The recording's files.
        let rel = &self.kernel.release;
        files.insert("proc/iomem".into(), proc_iomem.clone());
        files.insert("proc/cmdline".into(), self.cmdline.clone().into_bytes());
        files.insert("proc/sys/kernel/osrelease".into(), format!("{rel}\n").into_bytes());
        files.insert("proc/meminfo".into(), g.sh("cat /proc/meminfo")?.into_bytes());
        let config = fs::read_to_string(&self.kernel.config)?;
        files.insert(format!("boot/config-{rel}"), relevant_config(&config, rel).into_bytes());
        files.insert(
            "sys/kernel/security/lockdown".into(),
            g.sh("cat /sys/kernel/security/lockdown 2>&1 || true")?.into_bytes(),
        );
        for (k, v) in &sysfs {
            files.insert(format!("sys/devices/system/memory/{k}"), v.clone().into_bytes());
        }
        files.insert("observed/devmem.tsv".into(), devmem_tsv(&probes).into_bytes());
        files.insert("observed/kpageflags.tsv".into(), kpageflags_tsv(&probes).into_bytes());
        files
            .insert("observed/dmesg-virtio_mem.txt".into(), g.sh("dmesg | grep -i 'virtio.mem' || true")?.into_bytes());
        files.insert("observed/device.txt".into(), device_txt(g, &description)?.into_bytes());
        files.insert(
            "observed/kernel-functions.tsv".into(),
            format!(
                "# high_memory={high_memory:#x} max_pfn={max_pfn:#x}\naddress\tlabel\tregion_intersects_sysram\t\
                 page_is_ram\tread_range_ok\tiomem_is_exclusive\tdevmem_is_allowed\n"
            )
            .into_bytes(),
        );
        if let Some(a) = action_txt {
            files.insert("observed/action.txt".into(), a.into_bytes());
        }
        Ok(Step { name: name.to_string(), description, action, files, trace_mark: 0, checks })
    }
}

/// `observed/device.txt`: QEMU's `query-memory-devices`.
fn device_txt(g: &mut Guest, note: &str) -> anyhow::Result<String> {
    let devs = g.qmp("query-memory-devices", Value::Null)?;
    let mut out = format!("# {note}\n");
    for d in devs.as_array().into_iter().flatten() {
        if d["type"].as_str() != Some("virtio-mem") {
            continue;
        }
        let x = &d["data"];
        let h = |k: &str| format!("{:#x}", x[k].as_u64().unwrap_or(0));
        let _ = writeln!(
            out,
            "device={} type=virtio-mem memaddr={} max-size={} block-size={} requested-size={} size={} node={}",
            x["id"].as_str().unwrap_or("?"),
            h("memaddr"),
            h("max-size"),
            h("block-size"),
            h("requested-size"),
            h("size"),
            x["node"].as_u64().unwrap_or(0)
        );
    }
    Ok(out)
}

/// `observed/devmem.tsv` (fixtures/kernel/README.md).
fn devmem_tsv(probes: &[Probe]) -> String {
    let mut out = String::from("address\tlabel\tfd_flags\top\tresult\tzero_or_data\n");
    for p in probes {
        for (k, op) in ["open", "mmap", "pread1", "pread16"].iter().enumerate() {
            let data = if k >= 2 && p.ops[k] == "ok" { p.data[k - 2].as_str() } else { "-" };
            let _ = writeln!(out, "0x{:012x}\t{}\t{}\t{op}\t{}\t{data}", p.addr, p.label, p.fd, p.ops[k]);
        }
    }
    out
}

/// `observed/kpageflags.tsv`: one row per address.
fn kpageflags_tsv(probes: &[Probe]) -> String {
    const NAMES: &[(u32, &str)] = &[
        (5, "lru"),
        (7, "slab"),
        (10, "buddy"),
        (11, "mmap"),
        (12, "anon"),
        (15, "compound_head"),
        (16, "compound_tail"),
        (20, "nopage"),
        (23, "offline"),
        (24, "zero_page"),
        (26, "pgtable"),
        (32, "reserved"),
    ];
    let mut out = String::from("address\tlabel\tkpageflags\tnames\n");
    let mut seen = BTreeSet::new();
    for p in probes {
        if !seen.insert(p.addr) {
            continue;
        }
        let (word, names) = match &p.kpageflags {
            None => ("-".to_string(), "-".to_string()),
            Some(w) => match u64::from_str_radix(w.trim_start_matches("0x"), 16) {
                Ok(v) => {
                    let n: Vec<&str> = NAMES.iter().filter(|(b, _)| v >> b & 1 == 1).map(|(_, n)| *n).collect();
                    (format!("{v:#x}"), if n.is_empty() { "-".to_string() } else { n.join(",") })
                }
                Err(_) => (w.clone(), "-".to_string()),
            },
        };
        let _ = writeln!(out, "0x{:012x}\t{}\t{word}\t{names}", p.addr, p.label);
    }
    out
}

/// Cuts QEMU's trace into the steps' `observed/requests.log`: a step's
/// requests run from its action to the next step's action (the first step
/// from QEMU's start, the last to the end of its capture).
fn split_trace(path: &Path, run: &mut Run, end: u64) -> anyhow::Result<()> {
    let data = fs::read(path).unwrap_or_default();
    let boundary = |off: u64| -> usize {
        let mut o = usize::try_from(off).unwrap_or(usize::MAX).min(data.len());
        while o > 0 && o < data.len() && data[o - 1] != b'\n' {
            o += 1;
        }
        o
    };
    let n = run.steps.len();
    for i in 0..n {
        let a = boundary(run.steps[i].trace_mark);
        let b = if i + 1 < n { boundary(run.steps[i + 1].trace_mark) } else { boundary(end) };
        let text = clean_trace(&data[a..b.max(a)]);
        run.steps[i].files.insert("observed/requests.log".into(), text.into_bytes());
    }
    run.after_last = clean_trace(&data[boundary(end)..]);
    Ok(())
}

/// QEMU's trace lines without a `PID@SECONDS:` prefix (written when
/// `-msg timestamp=on`) and without trailing spaces.
pub(crate) fn clean_trace(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.split_once(':') {
            Some((pre, rest))
                if pre.split_once('@').is_some_and(|(pid, t)| {
                    pid.bytes().all(|b| b.is_ascii_digit()) && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                }) =>
            {
                rest
            }
            _ => line,
        };
        let line = line.trim_end();
        if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The JSON the sim's `--json` prints for one recording, compressed into
/// checks per step: `sim:<name>`.
pub(crate) fn sim_checks(doc: &Value) -> BTreeMap<String, Vec<Check>> {
    let mut out = BTreeMap::new();
    for c in doc["conformance"].as_array().into_iter().flatten() {
        let step = c["step"].as_str().unwrap_or("?").to_string();
        let checks = c["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| {
                let name = format!("sim:{}", k["name"].as_str().unwrap_or("?"));
                let outcome = match k["difference"].as_str() {
                    None => Outcome::Match("identical".into()),
                    Some(d) => Outcome::Diff(d.to_string()),
                };
                Check { name, outcome }
            })
            .collect();
        out.insert(step, checks);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_lines_are_cleaned() {
        let raw = b"1234@1700000000.123456:virtio_mem_unplugged_all \nvirtio_mem_send_response type=0\n\n";
        assert_eq!(clean_trace(raw), "virtio_mem_unplugged_all\nvirtio_mem_send_response type=0\n");
    }

    #[test]
    fn boot_pfn_from_the_log() {
        let log = "[    0.000000] e820: last_pfn = 0x7ffe0 max_arch_pfn = 0x400000000\n";
        assert_eq!(boot_max_pfn(log).unwrap(), 0x7ffe0);
        assert!(boot_max_pfn("nothing").is_err());
    }

    #[test]
    fn probe_tables() {
        let p = compare::parse_probe(
            br#"{"address":"0x1000","label":"low1M-ram","fd":"O_RDONLY|O_SYNC","open":"ok","mmap":"ok","pread1":"ok","pread1_data":"zero","pread16":"EFAULT","pread16_data":null,"kpageflags":"0x100000400"}"#,
        )
        .unwrap();
        assert_eq!(
            devmem_tsv(&p),
            "address\tlabel\tfd_flags\top\tresult\tzero_or_data\n\
             0x000000001000\tlow1M-ram\tO_RDONLY|O_SYNC\topen\tok\t-\n\
             0x000000001000\tlow1M-ram\tO_RDONLY|O_SYNC\tmmap\tok\t-\n\
             0x000000001000\tlow1M-ram\tO_RDONLY|O_SYNC\tpread1\tok\tzero\n\
             0x000000001000\tlow1M-ram\tO_RDONLY|O_SYNC\tpread16\tEFAULT\t-\n"
        );
        assert_eq!(
            kpageflags_tsv(&p),
            "address\tlabel\tkpageflags\tnames\n0x000000001000\tlow1M-ram\t0x100000400\tbuddy,reserved\n"
        );
    }
}
