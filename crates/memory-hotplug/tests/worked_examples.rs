//! The driver spec's worked examples (§17) end to end: the driver against
//! the device model through an in-process transport, the hotplug layer and
//! the iomem tree, asserting the exact request bytes and their order, the
//! tree's lines, the block states and every invariant after each step.

mod common;

use common::*;
use memory_hotplug::OnlineType;
use virtio_mem_driver::{DriverConfig, SbmState};

const ADDR: u64 = 0x1_4000_0000;

fn example(online: OnlineType) -> Guest {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(online);
    g.add_device(props(ADDR, 4 * GIB, 2 * MIB), DriverConfig::new(0));
    g
}

fn requests(g: &mut Guest) -> Vec<(u16, u64, u16)> {
    let ex = g.take_requests(0);
    for e in &ex {
        assert_eq!(e.response, ACK, "every answer is an ACK here: {e:?}");
        let (t, a, n) = describe(e);
        assert_eq!(e.request, request_bytes(t, a, n), "no stray bytes in the request");
    }
    ex.iter().map(describe).collect()
}

fn step0(g: &mut Guest) {
    g.probe(0).unwrap();
    assert_eq!(
        g.dmesg(),
        [
            "virtio_mem virtio0: start address: 0x140000000",
            "virtio_mem virtio0: region size: 0x100000000",
            "virtio_mem virtio0: device block size: 0x200000",
            "virtio_mem virtio0: nid: 0",
            "virtio_mem virtio0: memory block size: 0x8000000",
            "virtio_mem virtio0: subblock size: 0x200000",
            "virtio_mem virtio0: plugged size: 0x0",
            "virtio_mem virtio0: requested size: 0x0",
        ]
    );
    assert!(requests(g).is_empty(), "no request with requested size 0");
    assert_eq!(
        g.iomem_lines_from(0x1_0000_0000),
        ["100000000-13fffffff : System RAM", "140000000-23fffffff : virtio0"]
    );
    let virtio0 = g.os.tree().deepest_containing(g.os.tree().iomem_root(), ADDR).unwrap().unwrap();
    assert_eq!(g.os.tree().get(virtio0).unwrap().flags.bits(), 0x0900_0200, "MEM|SYSRAM|EXCLUSIVE, not busy");
    g.check_invariants();
}

fn step1(g: &mut Guest) {
    g.resize(0, GIB);
    let expected: Vec<_> = (0..8).map(|i| (PLUG, ADDR + i * 128 * MIB, 64)).collect();
    assert_eq!(requests(g), expected);
    assert_eq!(
        g.iomem_lines_from(ADDR),
        ["140000000-23fffffff : virtio0", "  140000000-17fffffff : System RAM (virtio_mem)"]
    );
    let child = g.os.tree().deepest_containing(g.os.tree().iomem_root(), ADDR).unwrap().unwrap();
    assert_eq!(g.os.tree().get(child).unwrap().flags.bits(), 0x8700_0200, "the merge bit included");
    let sysfs = g.os.sysfs();
    let b: Vec<_> = sysfs.blocks.iter().filter(|b| b.id >= 40).map(|b| b.phys_index.clone()).collect();
    assert_eq!(b, (0x28..=0x2f).map(|i| format!("{i:08x}\n")).collect::<Vec<_>>());
    assert_eq!(g.drivers[0].snapshot().plugged_size, GIB);
    assert_eq!(g.drivers[0].retry_timer_ms(), 50_000);
    g.check_invariants();
}

#[test]
fn variant_a_online_movable() {
    let mut g = example(OnlineType::OnlineMovable);
    step0(&mut g);
    step1(&mut g);
    assert!(g.sbm_states(0).iter().all(|(_, s)| *s == SbmState::Movable));
    assert!(g.block_states(40).iter().all(|(_, s)| s == "online"));
    assert_eq!(g.os.valid_zones(40).unwrap(), "Movable");
    assert_eq!(g.drivers[0].snapshot().offline_size, 0);

    // Step 2: 300 MiB. Five whole blocks from the top, then 42 single
    // sub-blocks of block 42 from its top.
    g.resize(0, 300 * MIB);
    let mut expected: Vec<_> = (43..48).rev().map(|mb| (UNPLUG, mb * 128 * MIB, 64)).collect();
    expected.extend((22..64).rev().map(|sb| (UNPLUG, 42 * 128 * MIB + sb * 2 * MIB, 1)));
    assert_eq!(requests(&mut g), expected);
    assert_eq!(
        g.iomem_lines_from(ADDR),
        ["140000000-23fffffff : virtio0", "  140000000-157ffffff : System RAM (virtio_mem)"]
    );
    assert_eq!(
        g.sbm_states(0),
        [
            (40, SbmState::Movable),
            (41, SbmState::Movable),
            (42, SbmState::MovablePartial),
            (43, SbmState::Unused),
            (44, SbmState::Unused),
            (45, SbmState::Unused),
            (46, SbmState::Unused),
            (47, SbmState::Unused),
        ]
    );
    assert_eq!(g.block_states(40), [(40, "online".into()), (41, "online".into()), (42, "online".into())]);
    assert_eq!(g.with_device(0, |d| d.plugged_size()), 0x12c0_0000);
    // MemTotal counts only plugged memory: 22 sub-blocks of block 42.
    let movable = g.os.pages().counts(virtio_mem_driver::Zone::Movable);
    assert_eq!((movable.present, movable.managed), (98304, 76800), "the recorded zoneinfo figures");
    g.check_invariants();

    // Step 3: back to 1 GiB: top up block 42 in one run, then reuse 43..47.
    g.resize(0, GIB);
    let mut expected = vec![(PLUG, 42 * 128 * MIB + 22 * 2 * MIB, 42)];
    expected.extend((43..48).map(|mb| (PLUG, mb * 128 * MIB, 64)));
    assert_eq!(requests(&mut g), expected);
    assert!(g.sbm_states(0).iter().all(|(_, s)| *s == SbmState::Movable));
    assert_eq!(g.sbm_states(0).len(), 8, "no new ids taken");
    assert_eq!(g.iomem_lines_from(ADDR)[1], "  140000000-17fffffff : System RAM (virtio_mem)");
    g.check_invariants();
}

#[test]
fn variant_b_nothing_onlines() {
    let mut g = example(OnlineType::Offline);
    step0(&mut g);
    step1(&mut g);
    assert!(g.sbm_states(0).iter().all(|(_, s)| *s == SbmState::Offline));
    assert!(g.block_states(40).iter().all(|(_, s)| s == "offline"));
    let snap = g.drivers[0].snapshot();
    assert_eq!(snap.offline_size, GIB, "exactly the threshold");
    assert_eq!(snap.offline_threshold, GIB);

    // Step 2: offline blocks are unplugged directly, one request per run.
    g.resize(0, 300 * MIB);
    let mut expected: Vec<_> = (43..48).rev().map(|mb| (UNPLUG, mb * 128 * MIB, 64)).collect();
    expected.push((UNPLUG, 42 * 128 * MIB + 22 * 2 * MIB, 42));
    assert_eq!(requests(&mut g), expected);
    assert_eq!(g.drivers[0].snapshot().offline_size, 384 * MIB);
    assert_eq!(g.sbm_states(0)[2], (42, SbmState::OfflinePartial));
    assert_eq!(g.iomem_lines_from(ADDR)[1], "  140000000-157ffffff : System RAM (virtio_mem)");
    g.check_invariants();

    // User space onlines block 42: accepted (OFFLINE_PARTIAL); the plugged
    // sub-blocks reach the allocator, the others stay fake-offline.
    g.write_state(42, "online_movable").unwrap();
    assert_eq!(g.sbm_states(0)[2], (42, SbmState::MovablePartial));
    let movable = g.os.pages().counts(virtio_mem_driver::Zone::Movable);
    assert_eq!((movable.present, movable.managed), (32768, 22 * 512));
    // Onlining a block the driver is not ready for is vetoed (§18 item 7).
    g.check_invariants();
}

#[test]
fn step4_kexec_with_memory_still_plugged() {
    let mut g = example(OnlineType::OnlineMovable);
    step0(&mut g);
    step1(&mut g);
    // A new kernel: no memory of the old one, the device still plugged
    // (kexec does not reset the system).
    let mut g2 = Guest::new(worked_example_config());
    g2.set_online_type(OnlineType::OnlineMovable);
    g2.adopt_device(g.devices[0].clone(), DriverConfig::new(0));
    g2.probe(0).unwrap();
    assert!(g2.dmesg().iter().any(|l| l == "virtio_mem virtio0: unplugging all memory is required"));
    let ex = g2.take_requests(0);
    let kinds: Vec<_> = ex.iter().map(describe).collect();
    assert_eq!(kinds[0], (UNPLUG_ALL, 0, 0));
    let plugs: Vec<_> = (0..8).map(|i| (PLUG, ADDR + i * 128 * MIB, 64)).collect();
    assert_eq!(&kinds[1..], &plugs[..]);
    g2.check_invariants();
}

#[test]
fn step5_unload_keeps_added_memory_and_reload_fails() {
    // Variant A after step 2.
    let mut g = example(OnlineType::OnlineMovable);
    step0(&mut g);
    step1(&mut g);
    g.resize(0, 300 * MIB);
    g.take_requests(0);
    let before = g.os.proc_iomem();
    g.drivers[0].remove(&mut g.os);
    assert_eq!(g.dmesg().last().unwrap(), "virtio_mem virtio0: device still has system memory added");
    assert_eq!(g.os.proc_iomem(), before, "the tree is unchanged");
    assert!(g.take_requests(0).is_empty(), "no request at removal");
    assert_eq!(g.with_device(0, |d| d.plugged_size()), 0x12c0_0000, "a device reset does not unplug");
    check_devmem_refuses(g.os.tree(), ADDR, 4 * GIB);
    // Reload: the parent cannot be claimed again.
    g.rebind(0, DriverConfig::new(0));
    let e = g.probe(0).unwrap_err();
    assert_eq!(e.0, iomem::Errno::EBUSY);
    let tail: Vec<_> = g.dmesg().into_iter().rev().take(3).collect();
    assert_eq!(
        tail,
        [
            "virtio_mem: probe of virtio0 failed with error -16",
            "virtio_mem virtio0: reloading the driver is not supported",
            "virtio_mem virtio0: could not reserve device region",
        ]
    );
    assert!(g.take_requests(0).is_empty(), "no UNPLUG_ALL from a failed probe");
    check_devmem_refuses(g.os.tree(), ADDR, 4 * GIB);
}

#[test]
fn step5_variant_b_removes_the_offline_partial_block() {
    let mut g = example(OnlineType::Offline);
    step0(&mut g);
    step1(&mut g);
    g.resize(0, 300 * MIB);
    g.drivers[0].remove(&mut g.os);
    assert_eq!(
        g.iomem_lines_from(ADDR),
        ["140000000-23fffffff : virtio0", "  140000000-14fffffff : System RAM (virtio_mem)"]
    );
    assert_eq!(g.block_states(40), [(40, "offline".into()), (41, "offline".into())]);
}

#[test]
fn bbm_example() {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(OnlineType::OnlineMovable);
    g.add_device(props(ADDR, 4 * GIB, GIB), DriverConfig::new(0));
    g.probe(0).unwrap();
    assert!(g.dmesg().iter().any(|l| l == "virtio_mem virtio0: big block size: 0x40000000"));
    assert_eq!(g.drivers[0].snapshot().offline_threshold, 2 * GIB);
    g.resize(0, 2 * GIB);
    assert_eq!(requests(&mut g), [(PLUG, ADDR, 1), (PLUG, ADDR + GIB, 1)]);
    assert_eq!(g.iomem_lines_from(ADDR)[1], "  140000000-1bfffffff : System RAM (virtio_mem)");
    assert_eq!(g.block_states(40).len(), 16);
    g.check_invariants();
    g.resize(0, GIB);
    assert_eq!(requests(&mut g), [(UNPLUG, ADDR + GIB, 1)]);
    assert_eq!(g.iomem_lines_from(ADDR)[1], "  140000000-17fffffff : System RAM (virtio_mem)");
    assert_eq!(g.block_states(40).len(), 8);
    g.check_invariants();
}

/// The founding rule (§11.1, M33): from the probe on, the parent claim
/// (SYSTEM_RAM | EXCLUSIVE, not busy) makes `/dev/mem` refuse every page of
/// the region, plugged or not, under `iomem=strict` and `iomem=relaxed`,
/// through plug, unplug and an unload that leaves memory added.
#[test]
fn dev_mem_refuses_every_page_at_every_step_of_the_drivers_life() {
    let mut g = example(OnlineType::OnlineMovable);
    let refuses = |g: &Guest| check_devmem_refuses(g.os.tree(), ADDR, 4 * GIB);
    g.probe(0).unwrap();
    refuses(&g);
    for size in [GIB, 300 * MIB, 2 * GIB + 2 * MIB, 128 * MIB] {
        g.resize(0, size);
        refuses(&g);
    }
    g.drivers[0].remove(&mut g.os);
    refuses(&g);
    // A driver that never claimed the region leaves it unprotected (the
    // kernel before the driver loads): the check is not vacuous.
    let mut bare = Guest::new(worked_example_config());
    bare.add_device(props(ADDR, 4 * GIB, 2 * MIB), DriverConfig::new(0));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| refuses(&bare)));
    assert!(r.is_err(), "without the claim, /dev/mem allows the region's pages");
}
