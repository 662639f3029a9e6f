//! Replays QEMU's own recordings (fixtures/kernel/*/*/*/observed/) against
//! the device: the host resizes and every driver request, in step order.
//! Every trace line the device produces (usable-region updates, requests,
//! state answers, responses, unplug-all) must equal QEMU's line for line,
//! and each step's final plugged and requested sizes must equal QEMU's
//! `query-memory-devices` output in `device.txt`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use virtio_mem::profile::{USABLE_EXTENT_ARM, USABLE_EXTENT_X86};
use virtio_mem::{
    BlockRange, DeviceProperties, InProcessTransport, Profile, Request, SimulatedMemory, TraceEvent, VirtioMemDevice,
    VirtioMemTransport,
};

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kernel")
}

/// "4G", "2M", "512M" → bytes.
fn parse_size(text: &str) -> u64 {
    let (digits, unit) = text.split_at(text.len() - 1);
    let value: u64 = digits.parse().unwrap_or_else(|_| panic!("bad size {text}"));
    value
        * match unit {
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            other => panic!("unknown unit {other} in {text}"),
        }
}

fn parse_hex(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("bad hex {text}"))
}

/// `key=value` tokens of the first `device=` line of a device.txt.
fn device_line(step: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(step.join("observed/device.txt")).expect("device.txt");
    let line = text.lines().find(|line| line.starts_with("device=")).expect("a device line");
    line.split_whitespace()
        .filter_map(|token| token.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// The scenario's device properties, from scenario.txt and the first step.
fn scenario_properties(scenario: &Path, first_step: &Path) -> DeviceProperties {
    let text = fs::read_to_string(scenario.join("scenario.txt")).expect("scenario.txt");
    let device =
        text.lines().find_map(|line| line.strip_prefix("virtio-mem device: ")).expect("a virtio-mem device line");
    assert!(!text.contains("vm1"), "replay handles single-device scenarios only");
    let field = |name: &str| {
        device
            .split_whitespace()
            .find_map(|token| token.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing in {device}"))
    };
    let region_size = parse_size(field("size="));
    let block_size = parse_size(field("block-size="));
    let arm = text.contains("qemu-system-aarch64");
    let recorded = device_line(first_step);
    assert_eq!(parse_hex(&recorded["max-size"]), region_size);
    assert_eq!(parse_hex(&recorded["block-size"]), block_size);
    let qemu_line = text.lines().find(|line| line.contains("-device virtio-mem-pci")).expect("qemu command line");
    let initial_requested = qemu_line
        .split([',', ' '])
        .find_map(|token| token.strip_prefix("requested-size="))
        .map_or(0, |value| value.parse::<u64>().expect("requested-size"));
    let mut properties = DeviceProperties::new(parse_hex(&recorded["memaddr"]), region_size, block_size)
        .with_requested_size(initial_requested)
        .with_trace(true);
    properties.profile = Profile::Qemu { usable_extent: if arm { USABLE_EXTENT_ARM } else { USABLE_EXTENT_X86 } };
    properties
}

/// The driver request a request trace line records, if it is one.
fn recorded_request(line: &str) -> Option<Request> {
    let range = |rest: &str| {
        let mut addr = None;
        let mut nb_blocks = None;
        for token in rest.split_whitespace() {
            if let Some(value) = token.strip_prefix("addr=") {
                addr = Some(parse_hex(value));
            } else if let Some(value) = token.strip_prefix("nb_blocks=") {
                nb_blocks = Some(value.parse::<u16>().expect("nb_blocks"));
            }
        }
        BlockRange::new(addr.expect("addr"), nb_blocks.expect("nb_blocks"))
    };
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    match name {
        "virtio_mem_plug_request" => Some(Request::Plug(range(rest))),
        "virtio_mem_unplug_request" => Some(Request::Unplug(range(rest))),
        "virtio_mem_state_request" => Some(Request::State(range(rest))),
        "virtio_mem_unplug_all_request" => Some(Request::UnplugAll),
        _ => None,
    }
}

/// The Linux driver's handshake: accept everything offered.
fn load_driver(transport: &mut InProcessTransport<SimulatedMemory>) {
    transport.set_status(0);
    transport.set_status(1 | 2);
    let offered = transport.device_features();
    transport.set_driver_features(offered);
    transport.set_status(1 | 2 | 8);
    transport.set_status(1 | 2 | 8 | 4);
    assert_eq!(transport.status(), 1 | 2 | 8 | 4, "driver activation");
    // The driver reads the config at probe (R1: it never writes it).
    transport.read_config_space().expect("config read");
}

#[derive(Default)]
struct Totals {
    scenarios: usize,
    steps: usize,
    requests: usize,
    trace_lines: usize,
    resizes: usize,
    device_checks: usize,
}

fn replay_scenario(scenario: &Path, totals: &mut Totals) {
    let mut steps: Vec<PathBuf> = fs::read_dir(scenario)
        .expect("scenario dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.join("observed").is_dir())
        .collect();
    steps.sort();
    let first = steps.first().expect("at least one step");
    assert!(first.ends_with("0-nodriver"), "first step is 0-nodriver");
    let properties = scenario_properties(scenario, first);
    let mut transport: Option<InProcessTransport<SimulatedMemory>> = None;
    for step in &steps {
        let name = step.file_name().and_then(|n| n.to_str()).expect("name");
        let where_ = format!("{}", step.strip_prefix(fixtures_root()).unwrap().display());
        let action = fs::read_to_string(step.join("observed/action.txt")).unwrap_or_default();
        let command = action.lines().find_map(|line| line.strip_prefix("command=")).unwrap_or("");
        // The host or guest action that starts the step.
        if name == "0-nodriver" {
            // QEMU start: realize, then the machine's first system reset.
            let device =
                VirtioMemDevice::new(properties, SimulatedMemory::new()).expect("scenario properties are valid");
            let mut device = device;
            device.system_reset();
            transport = Some(InProcessTransport::new(device));
        } else {
            let transport = transport.as_mut().expect("device exists");
            if name == "a-size0" || command.starts_with("insmod") {
                load_driver(transport);
            } else if let Some(size) = command.strip_prefix("qom-set vm0 requested-size ") {
                let size: u64 = size.trim().parse().expect("size");
                transport.device_mut().resize(size).expect("resize accepted");
                assert!(transport.take_interrupts().config_changed, "{where_}");
                totals.resizes += 1;
            } else if command.starts_with("rmmod") {
                // Driver removal resets the virtio device (status 0).
                transport.set_status(0);
            } else {
                assert!(command.starts_with("fill"), "{where_}: unhandled action {command:?}");
            }
        }
        let transport = transport.as_mut().expect("device exists");
        // The driver's requests of this step, as QEMU recorded them.
        let log = fs::read_to_string(step.join("observed/requests.log")).expect("requests.log");
        let expected: Vec<&str> = log.lines().filter(|line| !line.is_empty()).collect();
        for line in &expected {
            if let Some(request) = recorded_request(line) {
                transport.request(request).unwrap_or_else(|error| panic!("{where_}: {line}: {error}"));
                totals.requests += 1;
            }
        }
        let produced: Vec<String> =
            transport.device_mut().take_trace().iter().filter_map(TraceEvent::to_qemu_trace).collect();
        assert_eq!(produced, expected, "{where_}: trace differs from QEMU's");
        totals.trace_lines += expected.len();
        // QEMU's view at the end of the step.
        let recorded = device_line(step);
        let device = transport.device();
        let config = device.config();
        assert_eq!(parse_hex(&recorded["memaddr"]), config.addr, "{where_}");
        assert_eq!(parse_hex(&recorded["max-size"]), config.region_size);
        assert_eq!(parse_hex(&recorded["block-size"]), config.block_size);
        assert_eq!(parse_hex(&recorded["requested-size"]), config.requested_size, "{where_}: requested-size");
        assert_eq!(parse_hex(&recorded["size"]), config.plugged_size, "{where_}: plugged size");
        assert_eq!(recorded["node"].parse::<u16>().expect("node"), config.node_id);
        device.check_invariants().expect("invariants hold");
        assert_eq!(device.backend().violation_count(), 0);
        assert_eq!(device.driver_config_writes(), 0);
        totals.device_checks += 1;
        totals.steps += 1;
    }
    let leftover = scenario.join("requests-after-last-step.log");
    if let Ok(text) = fs::read_to_string(leftover) {
        assert!(text.trim().is_empty(), "requests after the last step");
    }
    totals.scenarios += 1;
}

#[test]
fn replays_every_recorded_scenario_exactly_as_qemu_answered() {
    let root = fixtures_root();
    let mut scenarios: Vec<PathBuf> = fs::read_dir(&root)
        .expect("fixtures/kernel")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.is_dir())
        .flat_map(|kernel| {
            fs::read_dir(kernel)
                .expect("kernel dir")
                .map(|entry| entry.expect("entry").path())
                .filter(|path| path.join("scenario.txt").is_file())
                .collect::<Vec<_>>()
        })
        .collect();
    scenarios.sort();
    // Two devices share one request trace; the simulated machine
    // (crates/iomem-sim/tests/replay.rs) replays those scenarios whole.
    let (multi, single): (Vec<PathBuf>, Vec<PathBuf>) = scenarios.into_iter().partition(|s| {
        fs::read_to_string(s.join("scenario.txt")).is_ok_and(|t| t.contains("virtio-mem device: id=vm1"))
    });
    assert_eq!(multi.len(), 2, "the two-device recordings");
    let scenarios = single;
    let mut totals = Totals::default();
    for scenario in &scenarios {
        replay_scenario(scenario, &mut totals);
    }
    println!(
        "replayed {} scenarios, {} steps, {} host resizes, {} driver requests, {} trace lines, {} device.txt checks",
        totals.scenarios, totals.steps, totals.resizes, totals.requests, totals.trace_lines, totals.device_checks
    );
    // x86-64 (6.1 and 6.12) and arm64 recordings are all present.
    assert!(scenarios.iter().any(|s| s.to_string_lossy().contains("arm64")));
    assert!(scenarios.iter().any(|s| s.to_string_lossy().contains("6.12")));
    assert_eq!(totals.scenarios, 22);
    assert!(totals.requests > 500, "{} requests", totals.requests);
}
