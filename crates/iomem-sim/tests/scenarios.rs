//! Scenario files: the documented example parses and runs with every
//! invariant holding, the built-in story tells what it promises, and every
//! mistake in a file is an error naming the line and the field.

use std::path::Path;

use iomem_sim::{Action, Scenario, run};

fn docs() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenario.toml")
}

#[test]
fn the_documented_example_runs() {
    let s = Scenario::load(&docs()).unwrap();
    assert_eq!(s.steps.len(), 9);
    assert_eq!(s.machine.devices.len(), 1);
    assert_eq!(s.machine.devices[0].addr, 0x1_4000_0000, "QEMU's device-memory area above 5 GiB of RAM");
    let r = run(&s, None, |_, _| {}).unwrap();
    for report in &r.reports {
        assert!(report.invariants_hold(), "{}: {:?}", report.name, report.invariants);
    }
    let last = r.reports.last().unwrap();
    assert_eq!(last.devices[0].plugged_size, 512 << 20);
    assert!(last.log.iter().any(|l| l.ends_with("device still has system memory added")));
    let probe = r.reports.iter().find(|x| x.name == "probe").unwrap();
    assert!(probe.devmem.iter().all(|p| p.mmap == "EPERM" && p.read == "EPERM"), "{:?}", probe.devmem);
}

#[test]
fn the_built_in_story() {
    let s = Scenario::built_in();
    let r = run(&s, None, |_, _| {}).unwrap();
    let by = |n: &str| r.reports.iter().find(|x| x.name == n).unwrap();
    assert_eq!(by("grow-8G").devices[0].plugged_size, 8 << 30);
    // The shrink stops where migration runs out of free memory: short of
    // 3 GiB, still plugged, retrying with the timer.
    let shrink = by("shrink-3G");
    assert!(shrink.devices[0].plugged_size > 3 << 30 && shrink.devices[0].plugged_size < 8 << 30);
    assert!(!shrink.settled);
    let probe = by("probe-devmem");
    assert!(probe.devmem.iter().all(|p| p.mmap == "EPERM"), "refused inside the region");
    assert!(by("unload-driver").log.iter().any(|l| l.ends_with("device still has system memory added")));
    for report in &r.reports {
        assert!(report.invariants_hold(), "{}: {:?}", report.name, report.invariants);
    }
}

fn error_of(text: &str) -> String {
    Scenario::from_toml(text, Path::new("s.toml")).unwrap_err().to_string()
}

#[test]
fn mistakes_name_the_line_and_the_field() {
    let dev = "[[device]]\nid = \"vm0\"\nsize = \"4G\"\n";
    let cases = [
        (format!("{dev}[[step]]\naction = \"explode\"\n"), "s.toml:5: step[0].action: unknown action \"explode\""),
        (
            format!("{dev}[[step]]\naction = \"resize\"\nsize = \"lots\"\n"),
            "s.toml:6: step[0].size: \"lots\" is not a size",
        ),
        (format!("{dev}[[step]]\naction = \"resize\"\n"), "s.toml:5: step[0].size: \"resize\" needs `size`"),
        (
            format!("{dev}[[step]]\naction = \"resize\"\ndevice = \"vm9\"\nsize = \"1G\"\n"),
            "s.toml:6: step[0].device: no device \"vm9\"",
        ),
        ("[[device]]\nsize = \"3M\"\nblock_size = \"2M\"\n".to_string(), "s.toml:2: device[0]: a 0x300000-byte region"),
        (format!("{dev}[[step]]\naction = \"online\"\n"), "s.toml:5: step[0].block: needs `block`"),
        (
            format!("{dev}[[step]]\naction = \"wait\"\ntime = \"soon\"\n"),
            "s.toml:6: step[0].time: \"soon\" is not a duration",
        ),
        (
            format!("{dev}[[step]]\naction = \"probe-devmem\"\naddresses = [\"0xzz\"]\n"),
            "s.toml:6: step[0].addresses: \"0xzz\"",
        ),
        ("[machine]\nauto_online = \"sometimes\"\n".to_string(), "s.toml:2: machine.auto_online: \"sometimes\""),
        (
            format!("{dev}[[step]]\naction = \"observe\"\nname = \"a/b\"\n"),
            "s.toml:6: step[0].name: \"a/b\" cannot name a directory",
        ),
        ("[[step]]\nactoin = \"observe\"\n".to_string(), "s.toml:2: (syntax): unknown field `actoin`"),
        ("[[step]\n".to_string(), "s.toml:1: (syntax)"),
    ];
    for (text, expected) in cases {
        let e = error_of(&text);
        assert!(e.starts_with(expected), "expected {expected:?}\n     got {e:?}");
    }
}

#[test]
fn a_step_that_cannot_be_done_says_which() {
    let s = Scenario::from_toml(
        "[[device]]\nsize = \"1G\"\n[[step]]\nname = \"too-much\"\naction = \"fill\"\nsize = \"64G\"\n",
        Path::new("s.toml"),
    )
    .unwrap();
    assert_eq!(s.steps[0].actions, [Action::Fill { mib: 64 << 10, kernel: false }]);
    let e = run(&s, None, |_, _| {}).err().unwrap().to_string();
    assert_eq!(e, "step too-much: not enough free memory for 65536 MiB");
}

#[test]
fn a_seed_makes_memory_placement_reproducible() {
    let s = Scenario::load(&docs()).unwrap();
    assert_eq!(s.machine.alloc_order, memory_hotplug::AllocOrder::Seeded(7));
    let a = run(&s, None, |_, _| {}).unwrap();
    let b = run(&s, None, |_, _| {}).unwrap();
    for (x, y) in a.reports.iter().zip(&b.reports) {
        assert_eq!((&x.proc_iomem, &x.requests, &x.log), (&y.proc_iomem, &y.requests, &y.log), "{}", x.name);
    }
    let seeded = |seed: u64| {
        let mut m = iomem_sim::Machine::new({
            let mut spec = s.machine.clone();
            spec.alloc_order = memory_hotplug::AllocOrder::Seeded(seed);
            spec
        })
        .unwrap();
        m.step("load", &[Action::LoadDriver { device: None }]).unwrap();
        m.step("grow", &[Action::Resize { device: 0, size: 2 << 30 }]).unwrap();
        m.step("fill", &[Action::Fill { mib: 1024, kernel: false }]).unwrap();
        m.os()
            .pages()
            .iter()
            .filter(|r| matches!(r.state, memory_hotplug::PageState::Used { .. }))
            .map(|r| r.start)
            .collect::<Vec<_>>()
    };
    assert_eq!(seeded(1), seeded(1));
    assert_ne!(seeded(1), seeded(2), "another seed places the pages elsewhere");
}

/// `rmmod virtio_mem` with two bound devices: the driver core detaches the
/// last-bound device first, so the kernel logs `virtio1`'s line before
/// `virtio0`'s (seen on Debian 6.1.0-57 and 6.12.118 in every run of
/// `cargo xtask kernel-check --scenario two-devices`).
#[test]
fn unloading_detaches_the_last_bound_device_first() {
    let text = "[[device]]\nid = \"vm0\"\nsize = \"2G\"\n[[device]]\nid = \"vm1\"\nsize = \"2G\"\nblock_size = \"128M\"\n\
                [[step]]\nname = \"load\"\naction = \"load-driver\"\n\
                [[step]]\nname = \"load-again\"\naction = \"load-driver\"\n\
                [[step]]\nname = \"grow0\"\naction = \"resize\"\ndevice = \"vm0\"\nsize = \"1G\"\n\
                [[step]]\nname = \"grow1\"\naction = \"resize\"\ndevice = \"vm1\"\nsize = \"1G\"\n\
                [[step]]\nname = \"rmmod\"\naction = \"unload-driver\"\n";
    let s = Scenario::from_toml(text, Path::new("two.toml")).unwrap();
    let r = run(&s, None, |_, _| {}).unwrap();
    let rmmod = r.reports.iter().find(|x| x.name == "rmmod").unwrap();
    let still: Vec<&String> =
        rmmod.log.iter().filter(|l| l.ends_with("device still has system memory added")).collect();
    assert_eq!(still.len(), 2, "{:?}", rmmod.log);
    assert!(still[0].contains("virtio1") && still[1].contains("virtio0"), "{still:?}");
    // Loading a module that is already loaded binds nothing a second time.
    let again = r.reports.iter().find(|x| x.name == "load-again").unwrap();
    assert!(!again.log.iter().any(|l| l.contains("start address")), "{:?}", again.log);
    for report in &r.reports {
        assert!(report.invariants_hold(), "{}: {:?}", report.name, report.invariants);
    }
}
