//! Scenarios: a machine and its steps. Written by people in TOML (see
//! `docs/scenario.toml`), read from a recording's `scenario.txt` (only its
//! inputs: machine, command line, devices, online policy, each step's
//! action), or built in.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::SimError;
use crate::machine::Action;
use crate::spec::{MachineSpec, parse_size, virtio_indexes};

/// One step: a name and what happens in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The step's name (a directory name in outputs).
    pub name: String,
    /// What happens, in order.
    pub actions: Vec<Action>,
}

/// A machine and its steps.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The machine.
    pub machine: MachineSpec,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// For a recording: its directory and the first step's directory (the
    /// machine's starting state).
    pub recording: Option<(PathBuf, PathBuf)>,
    /// How long (virtual ms) each step waits for the devices to reach their
    /// requested size.
    pub settle_ms: u64,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl Scenario {
    /// The built-in story: a VM with 4 GiB of boot RAM and a 16 GiB
    /// virtio-mem device; the host asks for 8 GiB, a program fills memory,
    /// the host shrinks to 3 GiB (the driver migrates what it can and stops
    /// where it must), a tool probes `/dev/mem` inside the region and is
    /// refused, then the driver is unloaded.
    pub fn built_in() -> Scenario {
        let machine = MachineSpec::built_in();
        let region = machine.devices[0].addr;
        let step = |name: &str, actions: Vec<Action>| Step { name: name.into(), actions };
        Scenario {
            steps: vec![
                step("load-driver", vec![Action::LoadDriver { device: None }]),
                step("grow-8G", vec![Action::Resize { device: 0, size: 8 * GIB }]),
                step("fill-9G", vec![Action::Fill { mib: 9 * 1024, kernel: false }]),
                step("shrink-3G", vec![Action::Resize { device: 0, size: 3 * GIB }]),
                step("probe-devmem", vec![Action::ProbeDevmem { addresses: vec![region, region + 8 * GIB - 4096] }]),
                step("unload-driver", vec![Action::UnloadDriver { device: None }]),
            ],
            machine,
            recording: None,
            settle_ms: crate::machine::DEFAULT_SETTLE_MS,
        }
    }

    /// Reads a scenario: a TOML file, or a recording's directory (with a
    /// `scenario.txt`).
    pub fn load(path: &Path) -> Result<Scenario, SimError> {
        if path.is_dir() {
            if !path.join("scenario.txt").is_file() {
                return Err(SimError::invalid(
                    path,
                    "a directory without scenario.txt: a scenario is a TOML file or a recording's directory \
                     (fixtures/kernel/<kernel>/<scenario>/)",
                ));
            }
            return Scenario::from_recording(path);
        }
        let text = fs::read_to_string(path).map_err(|e| SimError::io(path, e))?;
        Scenario::from_toml(&text, path)
    }

    /// A recording (`<kernel>/<scenario>/` with `scenario.txt` and one
    /// directory per step): the machine from its first step, the steps'
    /// actions from `scenario.txt`. Nothing the recording says about
    /// outcomes is read.
    pub fn from_recording(dir: &Path) -> Result<Scenario, SimError> {
        let file = dir.join("scenario.txt");
        let text = fs::read_to_string(&file).map_err(|e| SimError::io(&file, e))?;
        Scenario::from_recording_text(dir, &text)
    }

    /// [`Scenario::from_recording`] with the text of its `scenario.txt`
    /// given (the steps' directories are still read from `dir`).
    pub fn from_recording_text(dir: &Path, text: &str) -> Result<Scenario, SimError> {
        let file = dir.join("scenario.txt");
        let inputs = RecordingInputs::parse(text, &file)?;
        let first = inputs.steps.first().ok_or_else(|| SimError::invalid(&file, "no steps"))?;
        let first_dir = dir.join(&first.0);
        let mut machine = MachineSpec::from_captured(&first_dir)?;
        let indexes = virtio_indexes(&inputs.qemu);
        for (id, size, block) in &inputs.devices {
            let index = indexes.iter().find(|(i, _)| i == id).map(|(_, n)| *n).unwrap_or(0);
            machine.add_device(id, index, *size, *block);
        }
        let device_index = |id: &str| -> Result<usize, SimError> {
            machine
                .devices
                .iter()
                .position(|d| d.id == id)
                .ok_or_else(|| SimError::invalid(&file, format!("step names device {id:?}, which is not defined")))
        };
        let mut steps = Vec::new();
        let mut loaded = false;
        for (name, description, action) in inputs.steps.iter().skip(1) {
            let mut actions = Vec::new();
            let load = |actions: &mut Vec<Action>, loaded: &mut bool| {
                if !*loaded {
                    if let Some(t) = &inputs.online_at_load {
                        actions.push(Action::AutoOnline { online_type: t.clone() });
                    }
                }
                *loaded = true;
                actions.push(Action::LoadDriver { device: None });
            };
            match action.as_deref() {
                None if description.starts_with("driver loaded") => load(&mut actions, &mut loaded),
                None => actions.push(Action::Observe),
                Some(a) => {
                    let words: Vec<&str> =
                        a.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty()).collect();
                    match words.as_slice() {
                        ["qom-set", id, "requested-size", size, ..] => {
                            let size = size
                                .parse()
                                .map_err(|_| SimError::invalid(&file, format!("step {name}: bad size {size:?}")))?;
                            actions.push(Action::Resize { device: device_index(id)?, size });
                        }
                        ["rmmod", ..] => actions.push(Action::UnloadDriver { device: None }),
                        ["insmod", ..] => load(&mut actions, &mut loaded),
                        ["fill", n, "MiB", ..] => {
                            let mib = n
                                .parse()
                                .map_err(|_| SimError::invalid(&file, format!("step {name}: bad fill size {n:?}")))?;
                            actions.push(Action::Fill { mib, kernel: false });
                        }
                        _ => return Err(SimError::invalid(&file, format!("step {name}: unknown action {a:?}"))),
                    }
                }
            }
            steps.push(Step { name: name.clone(), actions });
        }
        Ok(Scenario {
            machine,
            steps,
            recording: Some((dir.to_path_buf(), first_dir)),
            settle_ms: crate::machine::DEFAULT_SETTLE_MS,
        })
    }

    /// A scenario file (see `docs/scenario.toml`); `path` names it in
    /// errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Scenario, SimError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let file: FileScenario = toml::from_str(text).map_err(|e| SimError::Scenario {
            path: path.to_path_buf(),
            line: e.span().map_or(0, |s| line_of(s.start)),
            field: String::from("(syntax)"),
            what: e.message().to_string(),
        })?;
        let bad = |span: std::ops::Range<usize>, field: &str, what: String| SimError::Scenario {
            path: path.to_path_buf(),
            line: line_of(span.start),
            field: field.to_string(),
            what,
        };
        let size_of = |v: &Spanned<String>, field: &str| {
            parse_size(v.get_ref()).ok_or_else(|| {
                bad(v.span(), field, format!("{:?} is not a size (a number with K, M, G or T)", v.get_ref()))
            })
        };
        let mut machine = match file.machine.as_ref().and_then(|m| m.root.as_ref()) {
            Some(root) => {
                let dir = path.parent().unwrap_or(Path::new(".")).join(root.get_ref());
                let mut m =
                    MachineSpec::from_captured(&dir).map_err(|e| bad(root.span(), "machine.root", e.to_string()))?;
                m.devices.clear();
                m
            }
            None => {
                let mut m = MachineSpec::built_in();
                if !file.devices.is_empty() {
                    m.devices.clear();
                }
                m
            }
        };
        if let Some(t) = file.machine.as_ref().and_then(|m| m.auto_online.as_ref()) {
            machine.online_type = memory_hotplug::OnlineType::parse(t.get_ref()).ok_or_else(|| {
                bad(
                    t.span(),
                    "machine.auto_online",
                    format!("{:?}: expected offline, online, online_kernel or online_movable", t.get_ref()),
                )
            })?;
        }
        if let Some(seed) = file.machine.as_ref().and_then(|m| m.seed.as_ref()) {
            let v = u64::try_from(*seed.get_ref())
                .map_err(|_| bad(seed.span(), "machine.seed", "a seed is a non-negative integer".into()))?;
            machine.alloc_order = memory_hotplug::AllocOrder::Seeded(v);
        }
        for (i, d) in file.devices.iter().enumerate() {
            let size = size_of(&d.size, &format!("device[{i}].size"))?;
            let block = match &d.block_size {
                Some(b) => size_of(b, &format!("device[{i}].block_size"))?,
                None => 2 * MIB,
            };
            if block == 0 || !block.is_power_of_two() || block < MIB || size == 0 || size % block != 0 {
                return Err(bad(
                    d.size.span(),
                    &format!("device[{i}]"),
                    format!(
                        "a {size:#x}-byte region in {block:#x}-byte blocks is impossible: the block size must be a power of two of at least 1 MiB dividing the size"
                    ),
                ));
            }
            let id = d.id.as_ref().map_or_else(|| format!("vm{i}"), |s| s.get_ref().clone());
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            machine.add_device(&id, index, size, block);
        }
        let mut steps = Vec::new();
        for (i, s) in file.steps.iter().enumerate() {
            let field = |f: &str| format!("step[{i}].{f}");
            let missing = |f: &str| bad(s.action.span(), &field(f), format!("{:?} needs `{f}`", s.action.get_ref()));
            let device = match &s.device {
                None => 0,
                Some(d) => machine.devices.iter().position(|x| &x.id == d.get_ref()).ok_or_else(|| {
                    bad(d.span(), &field("device"), format!("no device {:?} (define it with [[device]])", d.get_ref()))
                })?,
            };
            let action = match s.action.get_ref().as_str() {
                "observe" => Action::Observe,
                "load-driver" => Action::LoadDriver { device: s.device.as_ref().map(|_| device) },
                "unload-driver" => Action::UnloadDriver { device: s.device.as_ref().map(|_| device) },
                "resize" => {
                    if machine.devices.is_empty() {
                        return Err(bad(s.action.span(), &field("action"), "the machine has no device".into()));
                    }
                    Action::Resize { device, size: size_of(need(&s.size, || missing("size"))?, &field("size"))? }
                }
                "fill" => Action::Fill {
                    mib: size_of(need(&s.size, || missing("size"))?, &field("size"))? / MIB,
                    kernel: s.kernel.unwrap_or(false),
                },
                "free" => Action::Free {
                    mib: s.size.as_ref().map(|v| size_of(v, &field("size"))).transpose()?.map(|b| b / MIB),
                },
                "online" | "offline" => {
                    let block = s.block.as_ref().ok_or_else(|| {
                        bad(s.action.span(), &field("block"), "needs `block` (a memory block number)".into())
                    })?;
                    let state = if s.action.get_ref() == "offline" {
                        "offline".to_string()
                    } else {
                        s.zone.as_ref().map_or("online".to_string(), |z| match z.get_ref().as_str() {
                            "movable" => "online_movable".to_string(),
                            "kernel" => "online_kernel".to_string(),
                            _ => "online".to_string(),
                        })
                    };
                    let block = u64::try_from(*block.get_ref())
                        .map_err(|_| bad(block.span(), &field("block"), "a block number is not negative".into()))?;
                    Action::SetState { block, state }
                }
                "auto-online" => {
                    let t = need(&s.online_type, || missing("online_type"))?;
                    if memory_hotplug::OnlineType::parse(t.get_ref()).is_none() {
                        return Err(bad(
                            t.span(),
                            &field("online_type"),
                            format!("{:?}: expected offline, online, online_kernel or online_movable", t.get_ref()),
                        ));
                    }
                    Action::AutoOnline { online_type: t.get_ref().clone() }
                }
                "probe-devmem" => {
                    let list = s
                        .addresses
                        .as_ref()
                        .ok_or_else(|| bad(s.action.span(), &field("addresses"), "needs `addresses`".into()))?;
                    let mut addresses = Vec::new();
                    for a in list {
                        let t = a.get_ref().trim();
                        let hex = t.strip_prefix("0x").unwrap_or(t);
                        addresses.push(u64::from_str_radix(hex, 16).map_err(|_| {
                            bad(a.span(), &field("addresses"), format!("{t:?} is not a hexadecimal address"))
                        })?);
                    }
                    Action::ProbeDevmem { addresses }
                }
                "wait" => {
                    let t = need(&s.time, || missing("time"))?;
                    Action::Wait {
                        ms: parse_ms(t.get_ref()).ok_or_else(|| {
                            bad(
                                t.span(),
                                &field("time"),
                                format!("{:?} is not a duration (e.g. 50s, 500ms)", t.get_ref()),
                            )
                        })?,
                    }
                }
                other => {
                    return Err(bad(
                        s.action.span(),
                        &field("action"),
                        format!(
                            "unknown action {other:?}; one of observe, load-driver, unload-driver, resize, fill, free, online, offline, auto-online, probe-devmem, wait"
                        ),
                    ));
                }
            };
            let name =
                s.name.as_ref().map_or_else(|| format!("{}-{}", i + 1, s.action.get_ref()), |n| n.get_ref().clone());
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                let span = s.name.as_ref().map_or(s.action.span(), Spanned::span);
                return Err(bad(span, &field("name"), format!("{name:?} cannot name a directory")));
            }
            steps.push(Step { name, actions: vec![action] });
        }
        Ok(Scenario { machine, steps, recording: None, settle_ms: crate::machine::DEFAULT_SETTLE_MS })
    }
}

/// A field that must be there.
fn need(v: &Option<Spanned<String>>, missing: impl FnOnce() -> SimError) -> Result<&Spanned<String>, SimError> {
    v.as_ref().ok_or_else(missing)
}

/// "50s", "500ms", "2m" → milliseconds.
fn parse_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(n) = t.strip_suffix("ms") {
        return n.trim().parse().ok();
    }
    if let Some(n) = t.strip_suffix('s') {
        return n.trim().parse::<u64>().ok()?.checked_mul(1000);
    }
    if let Some(n) = t.strip_suffix('m') {
        return n.trim().parse::<u64>().ok()?.checked_mul(60_000);
    }
    None
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScenario {
    machine: Option<FileMachine>,
    #[serde(default, rename = "device")]
    devices: Vec<FileDevice>,
    #[serde(default, rename = "step")]
    steps: Vec<FileStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMachine {
    root: Option<Spanned<String>>,
    auto_online: Option<Spanned<String>>,
    seed: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDevice {
    id: Option<Spanned<String>>,
    size: Spanned<String>,
    block_size: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStep {
    name: Option<Spanned<String>>,
    action: Spanned<String>,
    device: Option<Spanned<String>>,
    size: Option<Spanned<String>>,
    kernel: Option<bool>,
    block: Option<Spanned<i64>>,
    zone: Option<Spanned<String>>,
    online_type: Option<Spanned<String>>,
    addresses: Option<Vec<Spanned<String>>>,
    time: Option<Spanned<String>>,
}

/// The inputs of a recording's `scenario.txt`.
struct RecordingInputs {
    qemu: String,
    /// (id, region size, block size).
    devices: Vec<(String, u64, u64)>,
    /// The online type written before the driver loaded.
    online_at_load: Option<String>,
    /// (name, description, action).
    steps: Vec<(String, String, Option<String>)>,
}

impl RecordingInputs {
    fn parse(text: &str, file: &Path) -> Result<RecordingInputs, SimError> {
        let mut inputs =
            RecordingInputs { qemu: String::new(), devices: Vec::new(), online_at_load: None, steps: Vec::new() };
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if let Some(d) = line.strip_prefix("virtio-mem device: ") {
                let field = |name: &str| d.split_whitespace().find_map(|w| w.strip_prefix(name));
                let (Some(id), Some(size), Some(block)) = (field("id="), field("size="), field("block-size=")) else {
                    return Err(SimError::invalid(file, format!("cannot read the device line {d:?}")));
                };
                let size = parse_size(size).ok_or_else(|| SimError::invalid(file, format!("bad size {size:?}")))?;
                let block =
                    parse_size(block).ok_or_else(|| SimError::invalid(file, format!("bad block size {block:?}")))?;
                inputs.devices.push((id.to_string(), size, block));
            } else if let Some(a) = line.strip_prefix("auto_online_blocks: ") {
                // "offline at boot, online_movable when virtio_mem was loaded"
                inputs.online_at_load =
                    a.split(", ").find_map(|p| p.strip_suffix(" when virtio_mem was loaded")).map(str::to_string);
            } else if line.starts_with("steps") {
                while let Some(l) = lines.peek() {
                    let Some(rest) = l.strip_prefix("  ") else { break };
                    let Some((name, description)) = rest.split_once(": ") else { break };
                    // A step is a directory of the recording: a plain name,
                    // never a path that leaves it.
                    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
                        return Err(SimError::invalid(file, format!("step name {name:?} is not a directory name")));
                    }
                    let action =
                        description.rfind("[action: ").map(|i| description[i + 9..].trim_end_matches(']').to_string());
                    inputs.steps.push((name.to_string(), description.to_string(), action));
                    lines.next();
                }
            } else if line.starts_with("qemu command line") {
                if let Some(cmd) = lines.next() {
                    inputs.qemu = cmd.trim().to_string();
                }
            }
        }
        Ok(inputs)
    }
}
