//! `iomem simulate`: run a scenario (built in, a TOML file, or a recording
//! of a real kernel) on the simulated machine and tell it step by step;
//! for a recording, compare every step with what the kernel did.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};

use anyhow::bail;
use iomem_sim::{Action, Run, Scenario, StepConformance, StepReport};
use serde::Serialize;

use crate::cli::SimulateArgs;
use crate::output::size::human;
use crate::output::text::{escape, write_wrapped};

/// The version of the documented JSON schema of `simulate --json`.
const SCHEMA_VERSION: u32 = 1;

/// Runs `simulate`.
pub(crate) fn run(args: &SimulateArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let svg_on_stdout = crate::commands::map::svg_on_stdout(args.svg.as_deref(), args.json)?;
    let mut scenario = match (&args.replay, &args.scenario) {
        (Some(dir), _) => {
            if !dir.join("scenario.txt").is_file() {
                bail!("{}: not a recording (no scenario.txt in it)", dir.display());
            }
            Scenario::from_recording(dir)?
        }
        (None, Some(path)) => Scenario::load(path)?,
        (None, None) => Scenario::built_in(),
    };
    scenario.settle_ms = args.settle.saturating_mul(1000);
    let bar = progress_bar(scenario.steps.len() as u64, args.json);
    let result = iomem_sim::run(&scenario, args.out.as_deref(), |i, name| {
        if let Some(b) = &bar {
            b.set_position(i as u64);
            b.set_message(name.to_string());
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let result = result?;
    if let Some(path) = &args.svg {
        crate::commands::map::write_svg(path, &crate::commands::map::simulation_svg(&scenario, &result), out, warn)?;
    }
    if args.json {
        json(&scenario, &result, out)?;
    } else if !svg_on_stdout {
        text(&scenario, &result, args.trace, out)?;
    }
    if let Some(dir) = &args.out {
        writeln!(warn, "iomem: wrote {} steps as captured systems under {}", result.reports.len(), dir.display())?;
    }
    let broken: Vec<String> = result
        .reports
        .iter()
        .flat_map(|r| r.invariants.iter().filter(|i| !i.ok).map(move |i| format!("{}: {}", r.name, i.name)))
        .collect();
    if !broken.is_empty() {
        bail!("invariants broken: {}", broken.join(", "));
    }
    let differing = result.conformance.iter().flat_map(|c| c.checks.iter()).filter(|c| c.difference.is_some()).count();
    if differing > 0 {
        bail!("the simulation differs from the recording in {differing} checks");
    }
    Ok(())
}

fn progress_bar(steps: u64, json: bool) -> Option<indicatif::ProgressBar> {
    if json || !std::io::stderr().is_terminal() || steps < 2 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(steps);
    let style = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").ok()?;
    bar.set_style(style);
    Some(bar)
}

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    machine: &'a str,
    kernel: &'a str,
    recording: Option<String>,
    steps: &'a [StepReport],
    conformance: &'a [StepConformance],
}

fn json(scenario: &Scenario, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
    let doc = Document {
        schema_version: SCHEMA_VERSION,
        machine: &scenario.machine.summary(),
        kernel: &scenario.machine.kernel_release,
        recording: scenario.recording.as_ref().map(|(d, _)| d.display().to_string()),
        steps: &run.reports,
        conformance: &run.conformance,
    };
    let mut w = std::io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, &doc)?;
    writeln!(w)?;
    Ok(())
}

fn action_text(a: &Action, scenario: &Scenario) -> String {
    let dev = |i: usize| scenario.machine.devices.get(i).map_or_else(|| format!("device {i}"), |d| d.id.clone());
    match a {
        Action::Observe => "the state as it is".into(),
        Action::LoadDriver { device: None } => "load the driver (insmod virtio_mem)".into(),
        Action::LoadDriver { device: Some(i) } => format!("bind the driver to {}", dev(*i)),
        Action::UnloadDriver { device: None } => "unload the driver (rmmod virtio_mem)".into(),
        Action::UnloadDriver { device: Some(i) } => format!("unbind the driver from {}", dev(*i)),
        Action::Resize { device, size } => format!("the host asks {} for {}", dev(*device), human(u128::from(*size))),
        Action::Fill { mib, kernel: false } => format!("a program fills {mib} MiB"),
        Action::Fill { mib, kernel: true } => format!("the kernel takes {mib} MiB"),
        Action::Free { mib: Some(m) } => format!("programs free {m} MiB"),
        Action::Free { mib: None } => "programs free all their memory".into(),
        Action::SetState { block, state } => format!("echo {state} > memory{block}/state"),
        Action::AutoOnline { online_type } => format!("echo {online_type} > auto_online_blocks"),
        Action::ProbeDevmem { addresses } => {
            let list: Vec<String> = addresses.iter().map(|a| format!("{a:#x}")).collect();
            format!("a tool probes /dev/mem at {}", list.join(", "))
        }
        Action::Wait { ms } => format!("{} s pass", ms / 1000),
    }
}

fn text(scenario: &Scenario, run: &Run, trace: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let m = &scenario.machine;
    write_wrapped(out, &format!("machine: {}", escape(&m.summary())), 2)?;
    write_wrapped(out, &format!("kernel: {}; command line: {}", escape(&m.kernel_release), escape(&m.cmdline)), 2)?;
    for d in &m.devices {
        writeln!(
            out,
            "device {} = virtio{}: {:#x}-{:#x} ({} in {} blocks)",
            d.id,
            d.index,
            d.addr,
            d.addr + d.region_size - 1,
            human(u128::from(d.region_size)),
            human(u128::from(d.block_size))
        )?;
    }
    let Some(start) = run.reports.first() else { return Ok(()) };
    let boot: BTreeSet<u64> = start.blocks.iter().map(|b| b.id).collect();
    let total = run.reports.len() - 1;
    for (i, (r, prev)) in run.reports.iter().skip(1).zip(&run.reports).enumerate() {
        writeln!(out)?;
        let what: Vec<String> = r.actions.iter().map(|a| action_text(a, scenario)).collect();
        let title = format!(
            "[{}/{total}] {}: {}  (t = {:.3} s)",
            i + 1,
            escape(&r.name),
            what.join("; "),
            r.time_ms as f64 / 1000.0
        );
        write_wrapped(out, &title, 4)?;
        requests(r, trace, out)?;
        iomem_diff(prev, r, out)?;
        blocks(r, &boot, out)?;
        for d in &r.devices {
            let line = format!(
                "  {} ({}): requested {}, plugged {}, usable {}{}",
                d.id,
                d.name,
                human(u128::from(d.requested_size)),
                human(u128::from(d.plugged_size)),
                human(u128::from(d.usable_region_size)),
                if d.plugged_size == d.requested_size || d.driver != Some("running") {
                    String::new()
                } else {
                    "  (not reached: the driver retries later)".to_string()
                }
            );
            write_wrapped(out, &line, 4)?;
        }
        writeln!(out, "  guest: MemTotal {}, high_memory {:#x}", human(u128::from(r.mem_total)), r.high_memory)?;
        for p in &r.devmem {
            writeln!(out, "  /dev/mem at {:#x}: open {}, read {}, mmap {}", p.address, p.open, p.read, p.mmap)?;
        }
        for l in &r.log {
            write_wrapped(out, &format!("  log: {}", escape(l)), 7)?;
        }
        let failed: Vec<_> = r.invariants.iter().filter(|i| !i.ok).collect();
        if failed.is_empty() {
            writeln!(out, "  invariants: all {} hold", r.invariants.len())?;
        }
        for f in failed {
            writeln!(out, "  INVARIANT BROKEN {}: {}", f.name, escape(&f.detail))?;
        }
    }
    if !run.conformance.is_empty() {
        conformance(scenario, run, out)?;
    }
    Ok(())
}

/// The step's requests, summarised: runs of equal requests with equal
/// answers, with the first and last address.
fn requests(r: &StepReport, trace: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if r.requests.is_empty() {
        writeln!(out, "  requests: none")?;
        return Ok(());
    }
    if trace {
        writeln!(out, "  requests and answers:")?;
        for l in &r.requests {
            writeln!(out, "    {l}")?;
        }
        return Ok(());
    }
    // (what, first address, last address, count)
    let mut groups: Vec<(String, Option<String>, Option<String>, usize)> = Vec::new();
    let mut lines = r.requests.iter().peekable();
    while let Some(l) = lines.next() {
        let (label, addr) = if let Some(rest) = l.strip_prefix("virtio_mem_resized_usable_region ") {
            (format!("usable region {}", rest.replace("new_size", " → new_size")), None)
        } else if let Some(rest) = l.strip_prefix("virtio_mem_") {
            let mut words = rest.split_whitespace();
            let kind = words.next().unwrap_or("").trim_end_matches("_request").to_uppercase();
            let addr = words.clone().find_map(|w| w.strip_prefix("addr=")).map(str::to_string);
            let nb = words.find_map(|w| w.strip_prefix("nb_blocks=")).map(|n| format!(" nb_blocks={n}"));
            let answer = match lines.peek().and_then(|n| n.strip_prefix("virtio_mem_send_response type=")) {
                Some(t) => {
                    let t = t.to_string();
                    lines.next();
                    match t.as_str() {
                        "0" => " → ACK".to_string(),
                        "1" => " → NACK".to_string(),
                        "2" => " → BUSY".to_string(),
                        "3" => " → ERROR".to_string(),
                        other => format!(" → type {other}"),
                    }
                }
                None => String::new(),
            };
            (format!("{kind}{}{answer}", nb.unwrap_or_default()), addr)
        } else {
            (l.clone(), None)
        };
        match groups.last_mut() {
            Some(g) if g.0 == label && addr.is_some() => {
                g.2 = addr;
                g.3 += 1;
            }
            _ => groups.push((label, addr.clone(), addr, 1)),
        }
    }
    writeln!(out, "  requests:")?;
    for (label, first, last, n) in groups {
        let at = match (first, last) {
            (Some(f), Some(l)) if n > 1 => format!(" at {f} … {l}"),
            (Some(f), _) => format!(" at {f}"),
            _ => String::new(),
        };
        let count = if n > 1 { format!("{n}× ") } else { String::new() };
        writeln!(out, "    {count}{label}{at}")?;
    }
    Ok(())
}

/// What changed in `/proc/iomem`.
fn iomem_diff(prev: &StepReport, r: &StepReport, out: &mut dyn Write) -> anyhow::Result<()> {
    let old: BTreeSet<&str> = prev.proc_iomem.lines().collect();
    let new: BTreeSet<&str> = r.proc_iomem.lines().collect();
    let removed: Vec<&str> = prev.proc_iomem.lines().filter(|l| !new.contains(l)).collect();
    let added: Vec<&str> = r.proc_iomem.lines().filter(|l| !old.contains(l)).collect();
    if removed.is_empty() && added.is_empty() {
        writeln!(out, "  /proc/iomem: unchanged")?;
        return Ok(());
    }
    writeln!(out, "  /proc/iomem:")?;
    for l in removed {
        writeln!(out, "    - {}", escape(l))?;
    }
    for l in added {
        writeln!(out, "    + {}", escape(l))?;
    }
    Ok(())
}

/// The hot-plugged memory blocks, merged into runs of equal state.
fn blocks(r: &StepReport, boot: &BTreeSet<u64>, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut runs: Vec<(u64, u64, &str, &str)> = Vec::new();
    for b in r.blocks.iter().filter(|b| !boot.contains(&b.id)) {
        match runs.last_mut() {
            Some(last) if last.1 + 1 == b.id && last.2 == b.state && last.3 == b.valid_zones => last.1 = b.id,
            _ => runs.push((b.id, b.id, &b.state, &b.valid_zones)),
        }
    }
    if runs.is_empty() {
        writeln!(out, "  hot-plugged memory blocks: none")?;
        return Ok(());
    }
    let list: Vec<String> = runs
        .iter()
        .map(|(a, b, s, z)| {
            let ids = if a == b { format!("memory{a}") } else { format!("memory{a}-{b}") };
            format!("{ids} {s} ({z})")
        })
        .collect();
    writeln!(out, "  hot-plugged memory blocks: {}", list.join(", "))?;
    Ok(())
}

fn conformance(scenario: &Scenario, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
    // Each check and its column heading (short, so the table fits 80
    // columns; the legend below says which is which).
    let names = [
        ("proc-iomem", "iomem"),
        ("iomem-flags", "flags"),
        ("memory-blocks", "blocks"),
        ("requests", "requests"),
        ("device", "device"),
        ("dmesg", "dmesg"),
        ("high-memory", "high-mem"),
    ];
    let dir = scenario.recording.as_ref().map_or(String::new(), |(d, _)| d.display().to_string());
    writeln!(out)?;
    write_wrapped(out, &format!("conformance with the recording {}:", escape(&dir)), 2)?;
    let width = run.conformance.iter().map(|c| c.step.len()).max().unwrap_or(4).max(4);
    write!(out, "  {:width$}", "step")?;
    for (_, heading) in names {
        write!(out, "  {heading:<7}")?;
    }
    writeln!(out)?;
    let (mut compared, mut differing) = (0, 0);
    for c in &run.conformance {
        write!(out, "  {:width$}", escape(&c.step))?;
        for (n, heading) in names {
            let cell = match c.checks.iter().find(|x| x.name == n) {
                None => "-",
                Some(x) if x.difference.is_none() => "match",
                Some(_) => "DIFFERS",
            };
            compared += usize::from(cell != "-");
            differing += usize::from(cell == "DIFFERS");
            write!(out, "  {cell:<w$}", w = heading.len().max(7))?;
        }
        writeln!(out)?;
    }
    for c in &run.conformance {
        for x in c.checks.iter().filter(|x| x.difference.is_some()) {
            writeln!(out, "  {} {}: {}", escape(&c.step), x.name, escape(x.difference.as_deref().unwrap_or("")))?;
        }
    }
    if differing == 0 {
        writeln!(out, "  all {compared} checks match ('-': not recorded for that step)")?;
    }
    write_wrapped(
        out,
        "  iomem: /proc/iomem byte for byte; flags: the real flags (observed/iomem-flags.txt); blocks: every \
         memory block's state and zones; requests: QEMU's request trace; device: its sizes; dmesg: the \
         driver's log lines, device by device; high-mem: the kernel's high_memory",
        4,
    )?;
    Ok(())
}
