//! `iomem map`: the picture of a system's physical address map
//! (`--svg FILE`), its layout as JSON (`--json`), or a short summary; and
//! the models behind `iomem simulate --svg`.
//!
//! This file turns systems and simulation runs into the plain models of
//! [`crate::svg`] (which draws them without any I/O) and writes the result.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use iomem::procfs::{DumpKind, ParseOptions};
use iomem::{Desc, Flags, Range, ResourceId, ResourceTree};
use iomem_devmem::{AccessRun, Devmem, OpenMode, Outcome, Policy, Rule, Success};
use iomem_sim::{Run, Scenario, StepReport};
use serde::Serialize;

use crate::cli::MapArgs;
use crate::commands::check::load_with_assumptions;
use crate::output::size::human;
use crate::output::text::escape;
use crate::svg::map::{MapLayout, MapModel, MapResource, VerdictRun};
use crate::svg::timeline::{DeviceStep, TimelineDevice, TimelineModel, TimelineStep};
use crate::svg::{Kind, Verdict};
use crate::system::System;

/// The most resources drawn one by one; a larger tree is drawn to the
/// depth that fits, or with its top level in groups.
pub(crate) const MAX_DRAWN: usize = 2000;
/// The most groups a top level too large to draw is cut into.
const MAX_GROUPS: usize = 500;
/// The version of the documented JSON of `map --json`.
const SCHEMA_VERSION: u32 = 1;

/// Runs `map`.
pub(crate) fn run(args: &MapArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    svg_on_stdout(args.svg.as_deref(), args.json)?;
    let sys = load_with_assumptions(&args.system, false, warn)?;
    let model = system_model(&sys);
    let layout = crate::svg::map::layout(&model.map);
    if let Some(path) = &args.svg {
        write_svg(path, &crate::svg::map::to_svg(&model.map), out, warn)?;
    }
    if args.json {
        json(&sys, &model, &layout, out)?;
    } else if args.svg.is_none() {
        summary(&model, &layout, out)?;
    }
    Ok(())
}

/// Whether `--svg` names standard output (`-`); an error if `--json` wants
/// it too.
pub(crate) fn svg_on_stdout(svg: Option<&Path>, json: bool) -> anyhow::Result<bool> {
    let stdout = svg.is_some_and(|p| p == Path::new("-"));
    if stdout && json {
        bail!("--svg - and --json both write to standard output: give --svg a file name");
    }
    Ok(stdout)
}

/// Writes an SVG document to `path` (`-`: to `out`), and says so on
/// `warn`.
pub(crate) fn write_svg(path: &Path, doc: &str, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    if path == Path::new("-") {
        out.write_all(doc.as_bytes())?;
        return Ok(());
    }
    std::fs::write(path, doc).with_context(|| format!("{}: cannot write the picture", path.display()))?;
    writeln!(warn, "iomem: wrote {}", path.display())?;
    Ok(())
}

/// A map model and what was left out of it.
pub(crate) struct SystemModel {
    /// What is drawn.
    pub(crate) map: MapModel,
    /// Resources in the tree.
    pub(crate) total: usize,
}

/// The model of a loaded system.
fn system_model(sys: &System) -> SystemModel {
    let dump = &sys.dump;
    let iomem = dump.kind != DumpKind::Ioports;
    let file = if iomem { "/proc/iomem" } else { "/proc/ioports" };
    let title = format!("{file} of {}", escape(&sys.source.describe()));
    let mut notes = vec![format!("Read from {}", escape(&sys.path))];
    let facts = &sys.facts;
    let release = facts.release.as_deref().map_or_else(|| "unknown".to_string(), |r| escape(r).into_owned());
    let assumed = if facts.profile.assumed { " (assumed)" } else { "" };
    notes.push(format!("Kernel {release}: rules of Linux {}{assumed}", facts.version()));
    let policy = iomem.then_some(&sys.policy);
    if iomem {
        let checks = if sys.policy.strict_iomem { "strict checks" } else { "relaxed checks (iomem=relaxed)" };
        notes.push(format!(
            "Stripes: /dev/mem pread and mmap of whole pages, O_RDWR without O_SYNC, with {checks}{}",
            if facts.strict_checks.assumed { " (assumed)" } else { "" }
        ));
        let opened = Devmem::new(&dump.tree, sys.policy.clone()).open(OpenMode::RDWR);
        if opened.result.is_err() {
            notes.push(format!(
                "Opening /dev/mem fails here ({}): the stripes show what the policy allows once it can be opened",
                opened.result_name()
            ));
        }
    }
    for a in &sys.assumptions {
        notes.push(format!("Assumed: {a}"));
    }
    model_of_tree(&dump.tree, dump.root, policy, title, notes)
}

/// The model of a tree below `root`, with the verdicts of `policy` (none:
/// not judged, as for I/O ports).
pub(crate) fn model_of_tree(
    tree: &ResourceTree,
    root: ResourceId,
    policy: Option<&Policy>,
    title: String,
    mut notes: Vec<String>,
) -> SystemModel {
    let devmem = policy.map(|p| Devmem::new(tree, p.clone()));
    let regions: HashSet<ResourceId> = devmem
        .as_ref()
        .map_or_else(HashSet::new, |d| d.device_regions(Range::FULL).into_iter().map(|g| g.resource).collect());
    // Resources per depth, to decide what fits.
    let mut per_depth: Vec<usize> = Vec::new();
    if let Ok(walk) = tree.preorder(root) {
        for (_, depth) in walk {
            if per_depth.len() <= depth {
                per_depth.resize(depth + 1, 0);
            }
            per_depth[depth] += 1;
        }
    }
    let total: usize = per_depth.iter().sum();
    let mut fits = 0;
    let mut max_depth = None;
    for (d, n) in per_depth.iter().enumerate() {
        if fits + n > MAX_DRAWN {
            break;
        }
        fits += n;
        max_depth = Some(d);
    }
    let mut resources = Vec::with_capacity(fits.min(MAX_DRAWN));
    match max_depth {
        Some(max) => {
            collect(tree, root, max, &regions, &mut resources);
            if max + 1 < per_depth.len() {
                notes.push(format!(
                    "A huge tree: {total} resources; drawn to depth {max} ({} resources), deeper ones left out",
                    resources.len()
                ));
            }
        }
        None => {
            let top = per_depth.first().copied().unwrap_or(0);
            let group = top.div_ceil(MAX_GROUPS).max(1);
            aggregate(tree, root, group, &mut resources);
            notes.push(format!(
                "A huge tree: {total} resources, {top} of them at the top level; drawn as {} groups of up to {group} \
                 consecutive top-level resources",
                resources.len()
            ));
        }
    }
    let runs = match &devmem {
        Some(d) if !resources.is_empty() => {
            let end = resources.iter().filter(|r| r.depth == 0).map(|r| r.end.max(r.start)).max().unwrap_or(0);
            d.access_runs_iter(Range::new(0, end), OpenMode::RDWR).map(|r| verdict_run(&r)).collect()
        }
        _ => Vec::new(),
    };
    notes.push(
        "Axis: every boundary's address on the left; heights grow with the logarithm of the size, holes are cut \
         short (gap)"
            .to_string(),
    );
    SystemModel { map: MapModel { title, notes, resources, runs }, total }
}

/// The resources to depth `max`, in pre-order, with their kinds.
fn collect(
    tree: &ResourceTree,
    root: ResourceId,
    max: usize,
    regions: &HashSet<ResourceId>,
    out: &mut Vec<MapResource>,
) {
    let Ok(mut walk) = tree.preorder(root) else { return };
    // Depth of the device region the walk is in, if any.
    let mut region_depth: Option<usize> = None;
    while let Some((id, depth)) = walk.next() {
        if region_depth.is_some_and(|d| depth <= d) {
            region_depth = None;
        }
        let Ok(v) = tree.get(id) else { continue };
        let in_region = region_depth.is_some();
        if regions.contains(&id) {
            region_depth = Some(depth);
        }
        let kind =
            if regions.contains(&id) { Kind::VirtioUnplugged } else { kind_of(v.name, v.flags, v.desc, in_region) };
        out.push(MapResource {
            start: v.range.start,
            end: v.range.end,
            depth,
            name: v.name.map(str::to_string),
            kind,
            count: 1,
        });
        if depth >= max {
            walk.skip_children();
        }
    }
}

/// The top level in groups of `group` consecutive resources.
fn aggregate(tree: &ResourceTree, root: ResourceId, group: usize, out: &mut Vec<MapResource>) {
    let Ok(mut walk) = tree.preorder(root) else { return };
    let mut current: Option<(MapResource, Option<String>)> = None;
    let flush = |current: &mut Option<(MapResource, Option<String>)>, out: &mut Vec<MapResource>| {
        if let Some((mut r, last)) = current.take() {
            let first = crate::svg::label_name(r.name.as_deref(), 16);
            let last = crate::svg::label_name(last.as_deref(), 16);
            r.name = Some(format!("{} resources: {first} … {last}", r.count));
            out.push(r);
        }
    };
    while let Some((id, _)) = walk.next() {
        walk.skip_children();
        let Ok(v) = tree.get(id) else { continue };
        match &mut current {
            Some((r, last)) if (r.count as usize) < group => {
                r.end = r.end.max(v.range.end);
                r.count += 1;
                *last = v.name.map(str::to_string);
            }
            _ => {
                flush(&mut current, out);
                let r = MapResource {
                    start: v.range.start,
                    end: v.range.end,
                    depth: 0,
                    name: v.name.map(str::to_string),
                    kind: Kind::Aggregate,
                    count: 1,
                };
                current = Some((r, v.name.map(str::to_string)));
            }
        }
    }
    flush(&mut current, out);
}

/// What a resource is, from its name, flags and descriptor (`in_region`:
/// inside a virtio-mem device region).
pub(crate) fn kind_of(name: Option<&str>, flags: Flags, desc: Desc, in_region: bool) -> Kind {
    let name = name.unwrap_or("");
    let ram = flags.contains(Flags::SYSTEM_RAM);
    if in_region && ram {
        return Kind::VirtioPlugged;
    }
    if name.starts_with("Kernel ") || name == "Crash kernel" {
        return Kind::Kernel;
    }
    if ram {
        return Kind::Ram;
    }
    let lower = name.to_ascii_lowercase();
    let firmware_desc = [Desc::RESERVED, Desc::SOFT_RESERVED, Desc::ACPI_TABLES, Desc::ACPI_NV_STORAGE];
    if firmware_desc.contains(&desc)
        || flags.contains(Flags::READONLY)
        || lower.contains("reserved")
        || lower.starts_with("acpi")
        || lower.ends_with(" rom")
    {
        return Kind::Reserved;
    }
    if flags.contains(Flags::WINDOW) || lower.starts_with("pci") || lower.contains("pcie") || is_pci_address(name) {
        return Kind::Pci;
    }
    Kind::Device
}

/// `DDDD:BB:DD.F`, a PCI device's name.
fn is_pci_address(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11].iter().all(|&i| b[i].is_ascii_hexdigit())
}

/// A verdict of one call.
fn verdict(o: &Outcome, exclusive: bool) -> Verdict {
    match o.result {
        Ok(Success::Zeros | Success::PartlyZeros) => Verdict::Zeros,
        Ok(_) => Verdict::Ok,
        Err(_) if o.rule == Rule::Page && exclusive => Verdict::Exclusive,
        Err(_) => Verdict::Refused,
    }
}

fn verdict_run(r: &AccessRun) -> VerdictRun {
    let exclusive = r.decision.exclusive.is_some();
    VerdictRun {
        start: r.range.start,
        end: r.range.end,
        read: verdict(&r.read, exclusive),
        mmap: verdict(&r.mmap, exclusive),
        read_why: format!("{} ({})", r.read.result_name(), r.read.rule_id()),
        mmap_why: format!("{} ({})", r.mmap.result_name(), r.mmap.rule_id()),
    }
}

/// The summary `map` prints without `--svg`.
fn summary(model: &SystemModel, layout: &MapLayout, out: &mut dyn Write) -> anyhow::Result<()> {
    let m = &model.map;
    writeln!(out, "{}", m.title)?;
    let (first, last) = (layout.axis.segs.first(), layout.axis.segs.last());
    let holes = layout.axis.segs.iter().filter(|s| s.broken).count();
    match (first, last) {
        (Some(f), Some(l)) => {
            writeln!(
                out,
                "{} resources ({} drawn) from {:#x} to {:#x}",
                model.total,
                m.resources.len(),
                f.start,
                l.end - 1
            )?;
            writeln!(out, "axis: {} pieces, {holes} holes cut short", layout.axis.segs.len())?;
        }
        _ => writeln!(out, "no resources")?,
    }
    let mut kinds: BTreeMap<Kind, (usize, u128)> = BTreeMap::new();
    for r in &m.resources {
        let e = kinds.entry(r.kind).or_default();
        e.0 += r.count as usize;
        e.1 += u128::from(r.end.wrapping_sub(r.start)) + 1;
    }
    writeln!(out, "\n{:<22} {:>9} {:>10}", "KIND", "RESOURCES", "SIZE")?;
    for (k, (n, size)) in &kinds {
        writeln!(out, "{:<22} {:>9} {:>10}", k.label(), n, human(*size))?;
    }
    if !m.runs.is_empty() {
        writeln!(out, "\n{:<22} {:>10} {:>10}", "/DEV/MEM", "READ", "MMAP")?;
        for v in [Verdict::Ok, Verdict::Zeros, Verdict::Refused, Verdict::Exclusive] {
            let bytes = |get: fn(&VerdictRun) -> Verdict| -> u128 {
                m.runs.iter().filter(|r| get(r) == v).map(|r| u128::from(r.end - r.start) + 1).sum()
            };
            writeln!(out, "{:<22} {:>10} {:>10}", v.label(), human(bytes(|r| r.read)), human(bytes(|r| r.mmap)))?;
        }
    }
    writeln!(out, "\nDraw it: iomem map --svg FILE (- for standard output); --json: the layout")?;
    Ok(())
}

#[derive(Serialize)]
struct JsonResource<'a> {
    start: String,
    end: String,
    depth: usize,
    name: Option<&'a str>,
    kind: &'static str,
    count: u64,
    read: &'static str,
    mmap: &'static str,
    y: f64,
    height: f64,
}

#[derive(Serialize)]
struct JsonSegment {
    start: String,
    end: String,
    y: f64,
    height: f64,
    gap: bool,
    broken: bool,
}

#[derive(Serialize)]
struct JsonRun<'a> {
    start: String,
    end: String,
    read: &'static str,
    mmap: &'static str,
    read_detail: &'a str,
    mmap_detail: &'a str,
}

#[derive(Serialize)]
struct JsonSource<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    path: &'a str,
}

#[derive(Serialize)]
struct JsonMap<'a> {
    schema_version: u32,
    kind: &'static str,
    source: JsonSource<'a>,
    total_resources: usize,
    width: f64,
    height: f64,
    notes: &'a [String],
    resources: Vec<JsonResource<'a>>,
    segments: Vec<JsonSegment>,
    runs: Vec<JsonRun<'a>>,
}

/// Rounds a coordinate to two decimals, as the SVG has it.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn json(sys: &System, model: &SystemModel, layout: &MapLayout, out: &mut dyn Write) -> anyhow::Result<()> {
    let m = &model.map;
    let doc = JsonMap {
        schema_version: SCHEMA_VERSION,
        kind: if sys.dump.kind == DumpKind::Ioports { "ioports" } else { "iomem" },
        source: JsonSource { kind: sys.source.type_name(), path: &sys.path },
        total_resources: model.total,
        width: round(layout.width),
        height: round(layout.height),
        notes: &m.notes,
        resources: layout
            .placed
            .iter()
            .map(|p| {
                let r = &m.resources[p.index];
                JsonResource {
                    start: format!("{:#x}", r.start),
                    end: format!("{:#x}", r.end),
                    depth: r.depth,
                    name: r.name.as_deref(),
                    kind: r.kind.id(),
                    count: r.count,
                    read: p.read.id(),
                    mmap: p.mmap.id(),
                    y: round(p.rect.y0),
                    height: round(p.rect.y1 - p.rect.y0),
                }
            })
            .collect(),
        segments: layout
            .axis
            .segs
            .iter()
            .map(|s| JsonSegment {
                start: format!("{:#x}", s.start),
                end: format!("{:#x}", s.end - 1),
                y: round(s.y),
                height: round(s.h),
                gap: s.gap,
                broken: s.broken,
            })
            .collect(),
        runs: m
            .runs
            .iter()
            .map(|r| JsonRun {
                start: format!("{:#x}", r.start),
                end: format!("{:#x}", r.end),
                read: r.read.id(),
                mmap: r.mmap.id(),
                read_detail: &r.read_why,
                mmap_detail: &r.mmap_why,
            })
            .collect(),
    };
    let mut w = std::io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, &doc)?;
    writeln!(w)?;
    Ok(())
}

/// A set of disjoint `[start, end)` address ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Ranges(BTreeMap<u128, u128>);

impl Ranges {
    /// Adds `[s, e)`, merging with what it touches.
    fn add(&mut self, mut s: u128, mut e: u128) {
        if s >= e {
            return;
        }
        // Ranges starting at or before `e` that reach `s`.
        while let Some((&rs, &re)) = self.0.range(..=e).next_back() {
            if re < s {
                break;
            }
            self.0.remove(&rs);
            s = s.min(rs);
            e = e.max(re);
        }
        self.0.insert(s, e);
    }

    /// Removes `[s, e)`.
    fn remove(&mut self, s: u128, e: u128) {
        if s >= e {
            return;
        }
        let touched: Vec<(u128, u128)> =
            self.0.range(..e).rev().take_while(|&(_, &re)| re > s).map(|(&a, &b)| (a, b)).collect();
        for (rs, re) in touched {
            self.0.remove(&rs);
            if rs < s {
                self.0.insert(rs, s);
            }
            if re > e {
                self.0.insert(e, re);
            }
        }
    }

    /// Bytes in the set.
    fn total(&self) -> u128 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    /// As inclusive `u64` ranges (clipped to the 64-bit space).
    fn inclusive(&self) -> Vec<(u64, u64)> {
        self.0
            .iter()
            .filter_map(|(&s, &e)| Some((u64::try_from(s).ok()?, u64::try_from(e - 1).unwrap_or(u64::MAX))))
            .collect()
    }
}

/// Applies a step's device trace (QEMU's `virtio_mem_*` lines) to the
/// plugged ranges of each device (`regions`: start, size, block size):
/// PLUG and UNPLUG requests answered with ACK (`type=0`), and
/// `unplugged_all`. Requests name addresses, so each finds its device; an
/// `unplugged_all` names none and is applied only when there is one device
/// (with more, the device whose plugged size became 0 is cleared by the
/// caller).
fn apply_trace(lines: &[String], regions: &[(u64, u64, u64)], plugged: &mut [Ranges]) {
    enum Pending {
        Plug(usize, u128, u128),
        Unplug(usize, u128, u128),
    }
    let device_of =
        |addr: u64| regions.iter().position(|&(a, s, _)| addr >= a && u128::from(addr) < u128::from(a) + u128::from(s));
    let mut pending = None;
    for l in lines {
        let field = |name: &str| l.split_whitespace().find_map(|w| w.strip_prefix(name));
        let range = || {
            let addr = u64::from_str_radix(field("addr=0x")?, 16).ok()?;
            let n: u128 = field("nb_blocks=")?.parse().ok()?;
            let dev = device_of(addr)?;
            let bs = u128::from(regions[dev].2);
            Some((dev, u128::from(addr), u128::from(addr) + n.saturating_mul(bs)))
        };
        if l.starts_with("virtio_mem_plug_request ") {
            pending = range().map(|(d, s, e)| Pending::Plug(d, s, e));
        } else if l.starts_with("virtio_mem_unplug_request ") {
            pending = range().map(|(d, s, e)| Pending::Unplug(d, s, e));
        } else if let Some(t) = l.strip_prefix("virtio_mem_send_response type=") {
            match (pending.take(), t.trim() == "0") {
                (Some(Pending::Plug(d, s, e)), true) => plugged[d].add(s, e),
                (Some(Pending::Unplug(d, s, e)), true) => plugged[d].remove(s, e),
                _ => {}
            }
        } else if l.starts_with("virtio_mem_unplugged_all") {
            if let [only] = plugged {
                *only = Ranges::default();
            }
        } else if l.starts_with("virtio_mem_state_request") || l.starts_with("virtio_mem_unplug_all_request") {
            pending = None;
        }
    }
}

/// The picture of a simulation run: the timeline of every device and the
/// map of the last step.
pub(crate) fn simulation_svg(scenario: &Scenario, run: &Run) -> String {
    crate::svg::timeline::to_svg(&timeline_model(scenario, run))
}

/// Parses a step's annotated tree with the machine's tree configuration.
fn step_tree(scenario: &Scenario, r: &StepReport) -> Option<ResourceTree> {
    let options =
        ParseOptions { annotations: true, config: *scenario.machine.tree.config(), ..ParseOptions::default() };
    iomem::procfs::parse(r.iomem_flags.as_bytes(), &options).ok().map(|d| d.tree)
}

/// The timeline model of a run.
fn timeline_model(scenario: &Scenario, run: &Run) -> TimelineModel {
    let m = &scenario.machine;
    let mut notes = vec![format!("Kernel {}; command line: {}", escape(&m.kernel_release), escape(&m.cmdline))];
    if let Some((dir, _)) = &scenario.recording {
        notes.push(format!("Replay of the recording {}", escape(&dir.display().to_string())));
    }
    notes.push(
        "One column per step; each band is a device region, first address at the top; the dashed line marks where \
         the requested size would end"
            .to_string(),
    );
    let Some(first) = run.reports.first() else {
        return TimelineModel { title: "virtio-mem simulation (no steps)".into(), notes, ..TimelineModel::default() };
    };
    let devices: Vec<TimelineDevice> = first
        .devices
        .iter()
        .map(|d| TimelineDevice {
            label: format!("{} = {}", escape(&d.id), escape(&d.name)),
            addr: d.addr,
            size: d.region_size.max(1),
            block_size: d.block_size,
        })
        .collect();
    let regions: Vec<(u64, u64, u64)> = devices.iter().map(|d| (d.addr, d.size, d.block_size)).collect();
    // The starting state: nothing plugged, or (a captured system) the
    // memory the guest added, which is a guess at block granularity.
    let mut plugged: Vec<Ranges> = vec![Ranges::default(); devices.len()];
    let mut known: Vec<bool> = first.devices.iter().map(|d| d.plugged_size == 0).collect();
    if let Some(tree) = known.iter().any(|k| !k).then(|| step_tree(scenario, first)).flatten() {
        for (i, d) in devices.iter().enumerate() {
            for (s, e) in added_memory(&tree, d) {
                plugged[i].add(s, e);
            }
        }
    }
    let mut steps = Vec::with_capacity(run.reports.len());
    for r in &run.reports {
        apply_trace(&r.requests, &regions, &mut plugged);
        let block_size = u64::from_str_radix(r.sysfs.block_size_bytes.trim().trim_start_matches("0x"), 16).unwrap_or(0);
        let mut device_steps = Vec::with_capacity(devices.len());
        for (i, d) in devices.iter().enumerate() {
            let Some(state) = r.devices.get(i) else {
                device_steps.push(DeviceStep::default());
                continue;
            };
            if state.plugged_size == 0 {
                plugged[i] = Ranges::default();
                known[i] = true;
            }
            let exact = known[i] && plugged[i].total() == u128::from(state.plugged_size);
            device_steps.push(DeviceStep {
                plugged: plugged[i].inclusive(),
                exact,
                blocks: block_runs(r, block_size, d),
                requested: state.requested_size,
                plugged_size: state.plugged_size,
                usable: state.usable_region_size,
            });
        }
        steps.push(TimelineStep { name: r.name.clone(), time_ms: r.time_ms, devices: device_steps });
    }
    let final_map = run.reports.last().and_then(|last| {
        let tree = step_tree(scenario, last)?;
        let arch = match m.arch {
            iomem_sim::SimArch::X86_64 => iomem_devmem::Arch::X86_64 { phys_bits: 40 },
            iomem_sim::SimArch::Arm64 => iomem_devmem::Arch::Arm64 { pa_bits: 48 },
        };
        let mut policy = Policy::new(&tree, arch).with_config(iomem_devmem::KernelConfig::DEBIAN, &m.cmdline);
        policy.high_memory =
            iomem_devmem::HighMemory { addr: last.high_memory, source: iomem_devmem::HighMemorySource::Given };
        let title = format!("/proc/iomem after the last step ({})", escape(&last.name));
        let notes = vec![
            "Stripes: /dev/mem pread and mmap of whole pages by root, O_RDWR without O_SYNC, with the simulated \
             kernel's configuration (Debian's) and command line"
                .to_string(),
        ];
        Some(model_of_tree(&tree, tree.iomem_root(), Some(&policy), title, notes).map)
    });
    TimelineModel {
        title: format!("virtio-mem simulation: {}", escape(&m.summary())),
        notes,
        devices,
        steps,
        final_map,
    }
}

/// The System RAM the guest added inside a device's region (`[start,
/// end)` ranges).
fn added_memory(tree: &ResourceTree, d: &TimelineDevice) -> Vec<(u128, u128)> {
    let (lo, hi) = (u128::from(d.addr), u128::from(d.addr) + u128::from(d.size));
    let Ok(walk) = tree.preorder(tree.iomem_root()) else { return Vec::new() };
    walk.filter_map(|(id, depth)| {
        let v = tree.get(id).ok()?;
        let (s, e) = (u128::from(v.range.start), u128::from(v.range.end) + 1);
        (depth > 0 && v.flags.contains(Flags::SYSTEM_RAM) && s >= lo && e <= hi).then_some((s, e))
    })
    .collect()
}

/// The memory blocks inside a device's region, merged into runs of equal
/// state: first, last address, online.
fn block_runs(r: &StepReport, block_size: u64, d: &TimelineDevice) -> Vec<(u64, u64, bool)> {
    let mut runs: Vec<(u64, u64, bool)> = Vec::new();
    if block_size == 0 {
        return runs;
    }
    let end = u128::from(d.addr) + u128::from(d.size);
    for b in &r.blocks {
        let Some(start) = b.id.checked_mul(block_size) else { continue };
        if start < d.addr || u128::from(start) >= end {
            continue;
        }
        let last = start.saturating_add(block_size - 1);
        let online = b.state == "online";
        match runs.last_mut() {
            Some(run) if run.2 == online && run.1.checked_add(1) == Some(start) => run.1 = last,
            _ => runs.push((start, last, online)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names_and_flags() {
        let mem = Flags::MEM;
        assert_eq!(kind_of(Some("System RAM"), Flags::SYSTEM_RAM | Flags::BUSY, Desc::NONE, false), Kind::Ram);
        assert_eq!(kind_of(Some("System RAM (virtio_mem)"), Flags::SYSTEM_RAM, Desc::NONE, true), Kind::VirtioPlugged);
        assert_eq!(kind_of(Some("Kernel code"), Flags::SYSTEM_RAM, Desc::NONE, false), Kind::Kernel);
        assert_eq!(kind_of(Some("Reserved"), mem, Desc::RESERVED, false), Kind::Reserved);
        assert_eq!(kind_of(Some("Video ROM"), mem | Flags::READONLY, Desc::NONE, false), Kind::Reserved);
        assert_eq!(kind_of(Some("ACPI Tables"), mem, Desc::NONE, false), Kind::Reserved);
        assert_eq!(kind_of(Some("PCI Bus 0000:00"), mem | Flags::WINDOW, Desc::NONE, false), Kind::Pci);
        assert_eq!(kind_of(Some("0000:00:02.0"), mem, Desc::NONE, false), Kind::Pci);
        assert_eq!(kind_of(Some("IOAPIC 0"), mem, Desc::NONE, false), Kind::Device);
        assert_eq!(kind_of(None, Flags::empty(), Desc::NONE, false), Kind::Device);
        assert!(!is_pci_address("0000:00:02"));
    }

    #[test]
    fn range_sets() {
        let mut r = Ranges::default();
        r.add(10, 20);
        r.add(20, 30);
        r.add(40, 50);
        assert_eq!(r.inclusive(), [(10, 29), (40, 49)]);
        r.add(25, 45);
        assert_eq!(r.inclusive(), [(10, 49)]);
        r.remove(15, 20);
        assert_eq!(r.inclusive(), [(10, 14), (20, 49)]);
        r.remove(0, 100);
        assert_eq!(r.total(), 0);
        r.add(5, 5);
        assert_eq!(r.total(), 0);
    }

    #[test]
    fn traces_plug_and_unplug() {
        let regions = [(0x1000_0000u64, 0x1000_0000u64, 0x20_0000u64)];
        let mut p = vec![Ranges::default()];
        let lines: Vec<String> = [
            "virtio_mem_resized_usable_region old_size=0x0new_size=0x10000000",
            "virtio_mem_plug_request addr=0x10000000 nb_blocks=4",
            "virtio_mem_send_response type=0",
            "virtio_mem_plug_request addr=0x10800000 nb_blocks=1",
            "virtio_mem_send_response type=1",
            "virtio_mem_unplug_request addr=0x10200000 nb_blocks=1",
            "virtio_mem_send_response type=0",
            "virtio_mem_plug_request addr=0x90000000 nb_blocks=1",
            "virtio_mem_send_response type=0",
        ]
        .map(String::from)
        .to_vec();
        apply_trace(&lines, &regions, &mut p);
        assert_eq!(p[0].inclusive(), [(0x1000_0000, 0x101f_ffff), (0x1040_0000, 0x107f_ffff)]);
        apply_trace(&["virtio_mem_unplug_all_request".into(), "virtio_mem_unplugged_all".into()], &regions, &mut p);
        assert_eq!(p[0].total(), 0);
    }

    #[test]
    fn the_built_in_story_draws() {
        let scenario = Scenario::built_in();
        let run = iomem_sim::run(&scenario, None, |_, _| {}).unwrap();
        let m = timeline_model(&scenario, &run);
        assert_eq!(m.steps.len(), run.reports.len());
        for (s, r) in m.steps.iter().zip(&run.reports) {
            let d = &s.devices[0];
            assert!(d.exact, "{}", s.name);
            let total: u128 = d.plugged.iter().map(|&(a, b)| u128::from(b - a) + 1).sum();
            assert_eq!(total, u128::from(r.devices[0].plugged_size), "{}", s.name);
        }
        assert!(m.final_map.as_ref().is_some_and(|f| f.resources.iter().any(|r| r.kind == Kind::VirtioPlugged)));
        let svg = simulation_svg(&scenario, &run);
        assert!(svg.contains("class=\"plugged\""));
    }
}
