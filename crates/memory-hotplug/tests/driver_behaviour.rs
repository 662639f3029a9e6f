//! The driver's worker (§6), offline threshold (§7), module parameters
//! (§2), removal, kdump and suspend, and every edge case of the spec's
//! checklist (§18), each against the device model with the hotplug layer.

mod common;

use common::*;
use memory_hotplug::OnlineType;
use virtio_mem::config::offset;
use virtio_mem_driver::{DriverConfig, ModuleParams, Phase, PmEvent, SbmState};

const ADDR: u64 = 0x1_4000_0000;
const NACK: u16 = 1;
const BUSY: u16 = 2;
const ERROR: u16 = 3;

fn guest(online: OnlineType) -> Guest {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(online);
    g.add_device(props(ADDR, 4 * GIB, 2 * MIB), DriverConfig::new(0));
    g.probe(0).unwrap();
    g
}

fn kinds(g: &mut Guest) -> Vec<(u16, u64, u16)> {
    g.take_requests(0).iter().map(describe).collect()
}

fn with_params(params: ModuleParams, bs: u64) -> Guest {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(OnlineType::OnlineMovable);
    let mut c = DriverConfig::new(0);
    c.params = params;
    g.add_device(props(ADDR, 4 * GIB, bs), c);
    g.probe(0).unwrap();
    g
}

// ----- §6: the worker and its timer ----------------------------------------

#[test]
fn busy_backs_off_50_100_200_300_300_and_success_resets() {
    let mut g = guest(OnlineType::OnlineMovable);
    g.script(0).answers.extend([Some(BUSY); 5]);
    g.resize(0, 128 * MIB);
    assert!(g.drivers[0].timer_armed());
    let mut intervals = Vec::new();
    let mut last = 0;
    for _ in 0..5 {
        let at = g.fire_next_timer().unwrap();
        intervals.push(at - last);
        last = at;
    }
    assert_eq!(intervals, [50_000, 100_000, 200_000, 300_000, 300_000]);
    // The sixth attempt went through.
    assert_eq!(g.drivers[0].snapshot().plugged_size, 128 * MIB);
    assert!(!g.drivers[0].timer_armed());
    assert_eq!(g.drivers[0].retry_timer_ms(), 50_000, "reset by a run ending in success");
    g.check_invariants();
}

#[test]
fn enospc_arms_nothing_and_keeps_the_backoff() {
    let mut g = guest(OnlineType::Offline);
    g.script(0).answers.push_back(Some(BUSY));
    g.resize(0, 2 * GIB);
    g.fire_next_timer();
    // 1 GiB added, offline: the threshold stops it with -ENOSPC.
    assert_eq!(g.drivers[0].snapshot().plugged_size, GIB);
    assert!(!g.drivers[0].timer_armed(), "ENOSPC arms no timer");
    assert_eq!(g.drivers[0].retry_timer_ms(), 100_000, "ENOSPC does not reset the back-off");
}

#[test]
fn nack_retries_at_once() {
    let mut g = guest(OnlineType::OnlineMovable);
    g.script(0).answers.extend([Some(NACK), Some(NACK)]);
    g.resize(0, 128 * MIB);
    let k = kinds(&mut g);
    assert_eq!(k, [(PLUG, ADDR, 64), (PLUG, ADDR, 64), (PLUG, ADDR, 64)]);
    assert!(!g.drivers[0].timer_armed());
    assert_eq!(g.drivers[0].snapshot().plugged_size, 128 * MIB);
}

#[test]
fn unknown_answers_and_queueing_failures_back_off() {
    let mut g = guest(OnlineType::OnlineMovable);
    g.script(0).answers.push_back(Some(7));
    g.resize(0, 128 * MIB);
    assert!(g.drivers[0].timer_armed());
    assert!(!g.drivers[0].snapshot().broken);
    g.script(0).failing_submits = 1;
    g.fire_next_timer();
    assert!(g.drivers[0].timer_armed(), "a queueing failure counts as an unknown answer");
    g.fire_next_timer();
    assert_eq!(g.drivers[0].snapshot().plugged_size, 128 * MIB);
}

#[test]
fn error_breaks_the_device_for_good() {
    // §18 item 3.
    let mut g = guest(OnlineType::OnlineMovable);
    g.script(0).answers.push_back(Some(ERROR));
    g.resize(0, 128 * MIB);
    assert!(g.dmesg().iter().any(|l| l == "virtio_mem virtio0: unknown error, marking device broken: -22"));
    assert!(g.drivers[0].snapshot().broken);
    assert!(!g.drivers[0].timer_armed());
    g.take_requests(0);
    g.resize(0, 256 * MIB);
    assert!(kinds(&mut g).is_empty(), "a broken driver sends nothing");
}

#[test]
fn a_config_change_mid_way_restarts_with_fresh_config() {
    // §18 item 9: after the third PLUG the host asks for 300 MiB.
    let mut g = guest(OnlineType::OnlineMovable);
    g.script(0).after.push((3, Box::new(|d: &mut Device| d.resize(300 * MIB).unwrap())));
    g.resize(0, GIB);
    let k = kinds(&mut g);
    assert_eq!(&k[..3], &[(PLUG, ADDR, 64), (PLUG, ADDR + 128 * MIB, 64), (PLUG, ADDR + 256 * MIB, 64)]);
    // 384 MiB plugged, 300 requested: 42 single sub-blocks from the top.
    let rest: Vec<_> = (22..64).rev().map(|sb| (UNPLUG, ADDR + 256 * MIB + sb * 2 * MIB, 1)).collect();
    assert_eq!(&k[3..], &rest[..]);
    // One refresh per resize, each logged.
    let refreshes = g.dmesg().iter().filter(|l| l.contains("requested size")).count();
    assert_eq!(refreshes, 3);
    g.check_invariants();
}

#[test]
fn removals_requeue_the_worker_without_logging_again() {
    let mut g = guest(OnlineType::OnlineMovable);
    g.resize(0, GIB);
    let before = g.dmesg().len();
    g.resize(0, 300 * MIB);
    let new: Vec<_> = g.dmesg()[before..].to_vec();
    assert_eq!(new, ["virtio_mem virtio0: plugged size: 0x40000000", "virtio_mem virtio0: requested size: 0x12c00000"]);
}

// ----- §7: the offline threshold -------------------------------------------------

#[test]
fn offline_threshold_waits_for_half_to_be_onlined() {
    // §18 item 8.
    let mut g = guest(OnlineType::Offline);
    g.resize(0, 2 * GIB);
    assert_eq!(g.drivers[0].snapshot().plugged_size, GIB);
    assert_eq!(g.drivers[0].snapshot().offline_size, GIB);
    g.take_requests(0);
    // Onlining three blocks (384 MiB) is not enough: 640 MiB + 512 > 1 GiB.
    for b in 40..43 {
        g.write_state(b, "online_movable").unwrap();
    }
    assert!(kinds(&mut g).is_empty());
    // The fourth brings offline memory to 512 MiB: the worker resumes and
    // adds four more blocks (up to the threshold again).
    g.write_state(43, "online_movable").unwrap();
    let k = kinds(&mut g);
    assert_eq!(k, (48..52).map(|mb| (PLUG, mb * 128 * MIB, 64)).collect::<Vec<_>>());
    g.check_invariants();
}

// ----- §2: module parameters -------------------------------------------------

#[test]
fn force_bbm_uses_memory_block_sized_big_blocks() {
    let mut g = with_params(ModuleParams { force_bbm: true, ..ModuleParams::default() }, 2 * MIB);
    assert!(g.dmesg().iter().any(|l| l == "virtio_mem virtio0: big block size: 0x8000000"));
    g.resize(0, 256 * MIB);
    assert_eq!(kinds(&mut g), [(PLUG, ADDR, 64), (PLUG, ADDR + 128 * MIB, 64)]);
    g.check_invariants();
}

#[test]
fn bbm_block_size_is_taken_only_when_valid() {
    let g = with_params(ModuleParams { bbm_block_size: 512 * MIB, ..ModuleParams::default() }, GIB);
    assert!(g.dmesg().iter().any(|l| l == "virtio_mem virtio0: bbm_block_size is too small"));
    assert!(g.dmesg().iter().any(|l| l == "virtio_mem virtio0: big block size: 0x40000000"));
    let g = with_params(ModuleParams { bbm_block_size: 3 * GIB, ..ModuleParams::default() }, GIB);
    assert!(g.dmesg().iter().any(|l| l == "virtio_mem virtio0: bbm_block_size is not a power of 2"));
    let mut g = with_params(ModuleParams { bbm_block_size: 2 * GIB, ..ModuleParams::default() }, GIB);
    assert!(g.dmesg().iter().any(|l| l == "virtio_mem virtio0: big block size: 0x80000000"));
    // 2 GiB big blocks: the region starts at 5 GiB, so the first usable
    // big block starts at 6 GiB (the head is never used, §18 item 2).
    g.resize(0, 3 * GIB);
    assert_eq!(kinds(&mut g), [(PLUG, 0x1_8000_0000, 2)]);
    g.check_invariants();
}

#[test]
fn unplug_online_false_unplugs_only_offline_memory() {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(OnlineType::OnlineMovable);
    let mut c = DriverConfig::new(0);
    c.params.unplug_online = false;
    g.add_device(props(ADDR, 4 * GIB, 2 * MIB), c);
    g.probe(0).unwrap();
    g.resize(0, 512 * MIB);
    g.take_requests(0);
    g.resize(0, 256 * MIB);
    assert!(kinds(&mut g).is_empty(), "everything is online: nothing is unplugged");
    assert!(!g.drivers[0].timer_armed(), "and the run ends with 0, not -EBUSY");
    // Offlining a block re-triggers the worker, which unplugs it.
    g.write_state(43, "offline").unwrap();
    assert_eq!(kinds(&mut g), [(UNPLUG, 43 * 128 * MIB, 64)]);
    g.write_state(42, "offline").unwrap();
    assert_eq!(kinds(&mut g), [(UNPLUG, 42 * 128 * MIB, 64)]);
    assert_eq!(g.drivers[0].snapshot().plugged_size, 256 * MIB);
    g.check_invariants();
}

// ----- §18: the checklist ----------------------------------------------------

#[test]
fn item1_amounts_are_floored_to_sub_blocks() {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(OnlineType::OnlineMovable);
    g.add_device(props(ADDR, 4 * GIB, MIB), DriverConfig::new(0));
    g.probe(0).unwrap();
    assert!(g.dmesg().iter().any(|l| l == "virtio_mem virtio0: subblock size: 0x200000"), "SB = max(DBS, PB)");
    g.resize(0, 301 * MIB);
    assert_eq!(g.drivers[0].snapshot().plugged_size, 300 * MIB, "the odd MiB is never plugged");
    assert!(!g.drivers[0].timer_armed(), "no error, no retry");
    let k = kinds(&mut g);
    assert_eq!(k.last().unwrap(), &(PLUG, ADDR + 256 * MIB, 44), "22 sub-blocks = 44 device blocks");
    g.check_invariants();
}

#[test]
fn item2_misaligned_heads_and_tails_are_never_used() {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(OnlineType::OnlineMovable);
    g.add_device(props(ADDR + 2 * MIB, 4 * GIB, 2 * MIB), DriverConfig::new(0));
    g.probe(0).unwrap();
    let d = g.dmesg();
    assert!(
        d.iter().any(|l| l.ends_with("The alignment of the physical start address can make some memory unusable."))
    );
    assert!(d.iter().any(|l| l.ends_with("The alignment of the physical end address can make some memory unusable.")));
    g.resize(0, 4 * GIB);
    let k = kinds(&mut g);
    assert_eq!(k.first().unwrap(), &(PLUG, 41 * 128 * MIB, 64), "block 40 holds the head: skipped");
    assert_eq!(k.len(), 31, "blocks 41..=71 lie wholly inside the region");
    assert!(!g.drivers[0].timer_armed(), "ENOSPC: nothing more is possible");
    g.check_invariants();
}

#[test]
fn item4_unplug_all_is_retried_until_acked_and_never_breaks() {
    let mut g = Guest::new(worked_example_config());
    g.add_device(props(ADDR, 4 * GIB, 2 * MIB).with_requested_size(GIB), DriverConfig::new(0));
    // The device has memory plugged before the driver probes (a previous
    // kernel plugged it).
    g.with_device(0, |d| {
        use virtio_mem::{BlockRange, Request};
        d.set_driver_features(d.device_features().bits());
        d.set_status(1 | 2 | 8 | 4).unwrap();
        d.execute(Request::Plug(BlockRange::new(ADDR, 64)));
        d.virtio_reset();
    });
    g.script(0).answers.extend([Some(ERROR), Some(NACK), Some(BUSY)]);
    g.probe(0).unwrap();
    for _ in 0..3 {
        assert!(g.drivers[0].timer_armed());
        assert!(!g.drivers[0].snapshot().broken);
        g.fire_next_timer();
    }
    let k = kinds(&mut g);
    assert_eq!(&k[..4], &[(UNPLUG_ALL, 0, 0); 4]);
    assert_eq!(g.drivers[0].snapshot().plugged_size, GIB, "then plugged as asked");
    g.check_invariants();
}

#[test]
fn item5_online_memory_in_use_is_migrated_before_it_is_unplugged() {
    let mut g = guest(OnlineType::OnlineMovable);
    g.resize(0, GIB);
    // A program fills most of the new memory (the highest pages first).
    g.os.set_alloc_order(memory_hotplug::AllocOrder::HighestFirst);
    let pages = 700 * MIB / 4096;
    let id = g.os.allocate(pages, true).unwrap();
    g.resize(0, 300 * MIB);
    // The data moved to boot memory and survived.
    g.check_invariants();
    assert!(g.os.allocations().any(|(a, _)| a == id));
    assert_eq!(g.drivers[0].snapshot().plugged_size, 300 * MIB);
}

#[test]
fn item5_unmovable_memory_stops_the_unplug_where_it_must() {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(OnlineType::OnlineKernel);
    g.add_device(props(ADDR, 4 * GIB, 2 * MIB), DriverConfig::new(0));
    g.probe(0).unwrap();
    g.resize(0, 256 * MIB);
    // Kernel memory lands in the new Normal zone and cannot move.
    g.os.set_alloc_order(memory_hotplug::AllocOrder::HighestFirst);
    g.os.allocate(4, false).unwrap();
    g.take_requests(0);
    g.resize(0, 0);
    // Block 41 (holding the kernel page) cannot be emptied: its other 63
    // sub-blocks are unplugged one by one; block 40 goes whole.
    let snap = g.drivers[0].snapshot();
    assert_eq!(snap.plugged_size, 2 * MIB, "one sub-block stays");
    assert!(g.drivers[0].timer_armed(), "-EBUSY: retried later");
    g.check_invariants();
}

#[test]
fn item6_an_unplugged_block_that_cannot_be_removed_is_retried() {
    let mut g = guest(OnlineType::OnlineMovable);
    g.resize(0, 256 * MIB);
    g.take_requests(0);
    // Offlining fails once (say, a page was pinned for a moment).
    g.os.inject.offline.push(iomem::Errno::EBUSY);
    g.resize(0, 128 * MIB);
    assert_eq!(kinds(&mut g), [(UNPLUG, 41 * 128 * MIB, 64)]);
    let snap = g.drivers[0].snapshot();
    assert!(snap.have_unplugged_mb);
    assert_eq!(g.sbm_states(0)[1], (41, SbmState::MovablePartial), "unplugged, still added");
    assert!(g.drivers[0].timer_armed());
    g.fire_next_timer();
    assert!(!g.drivers[0].snapshot().have_unplugged_mb);
    assert_eq!(g.sbm_states(0)[1], (41, SbmState::Unused));
    g.check_invariants();
}

#[test]
fn item7_onlining_is_vetoed_unless_the_block_is_ready() {
    use virtio_mem_driver::{MemoryEvent, MemoryNotify, NotifyResult, PageOps};
    struct NoPages(Vec<String>);
    impl PageOps for NoPages {
        fn online_to_allocator(&mut self, _: u64, _: u32) {}
        fn keep_offline(&mut self, _: u64, _: u32) {}
        fn drop_offline_refs(&mut self, _: u64, _: u64) {}
        fn take_offline_refs(&mut self, _: u64, _: u64) {}
        fn log(&mut self, _: virtio_mem_driver::LogLevel, d: &str, m: std::fmt::Arguments<'_>) {
            self.0.push(format!("{d}: {m}"));
        }
    }
    let mut g = guest(OnlineType::OnlineMovable);
    g.resize(0, 128 * MIB);
    let pages = 128 * MIB / 4096;
    let mut ops = NoPages(Vec::new());
    // Block 40 is online (MOVABLE); 41 is not tracked (UNUSED).
    for mb in [40u64, 41] {
        let n = MemoryNotify { event: MemoryEvent::GoingOnline, start_pfn: mb * pages, nr_pages: pages, zone: None };
        assert_eq!(g.drivers[0].hooks().memory_notify(&n, &mut ops), NotifyResult::Bad);
    }
    assert_eq!(ops.0, ["virtio0: memory block onlining denied"; 2]);
    // A range that is not one aligned memory block is refused too.
    let n = MemoryNotify { event: MemoryEvent::GoingOnline, start_pfn: 40 * pages, nr_pages: 2 * pages, zone: None };
    assert_eq!(g.drivers[0].hooks().memory_notify(&n, &mut ops), NotifyResult::Bad);
    // Outside the region: none of its business.
    let n = MemoryNotify { event: MemoryEvent::GoingOnline, start_pfn: 8 * pages, nr_pages: pages, zone: None };
    assert_eq!(g.drivers[0].hooks().memory_notify(&n, &mut ops), NotifyResult::Done);
}

#[test]
fn item11_suspend_and_hibernation() {
    let mut g = guest(OnlineType::OnlineMovable);
    assert_eq!(g.drivers[0].pm_notify(&mut g.os, PmEvent::HibernationPrepare), Err(iomem::Errno::EPERM));
    assert_eq!(g.drivers[0].pm_notify(&mut g.os, PmEvent::RestorePrepare), Err(iomem::Errno::EPERM));
    assert!(g.dmesg().iter().any(|l| l.ends_with("hibernation is not supported.")));
    assert_eq!(g.drivers[0].pm_notify(&mut g.os, PmEvent::SuspendPrepare), Ok(()));
    // Nothing plugged: freezing is fine.
    assert_eq!(g.drivers[0].freeze(&mut g.os, false), Ok(()));
    g.drivers[0].restore(&mut g.os).unwrap();
    g.settle();
    g.resize(0, 128 * MIB);
    let persistent = g.drivers[0].snapshot().features.contains(virtio_mem::Features::PERSISTENT_SUSPEND);
    let r = g.drivers[0].freeze(&mut g.os, false);
    if persistent {
        assert_eq!(r, Ok(()));
    } else {
        assert_eq!(r, Err(iomem::Errno::EPERM));
        assert!(g.dmesg().iter().any(|l| l.ends_with("suspending with plugged memory is not supported")));
    }
    assert_eq!(g.drivers[0].freeze(&mut g.os, true), Ok(()), "suspend-to-idle is always fine");
    // Kernels before suspend support refuse both ways.
    let mut old = Guest::new(worked_example_config());
    let mut c = DriverConfig::new(0);
    c.rules = virtio_mem_driver::DriverRules::for_version(iomem::KernelVersion::new(6, 1, 0));
    old.add_device(props(ADDR, 4 * GIB, 2 * MIB), c);
    old.probe(0).unwrap();
    assert_eq!(old.drivers[0].freeze(&mut old.os, true), Err(iomem::Errno::EPERM));
    assert!(old.dmesg().iter().any(|l| l.ends_with("save/restore not supported.")));
}

#[test]
fn item12_another_owner_of_the_online_page_hook_fails_the_probe() {
    let mut g = Guest::new(worked_example_config());
    g.os.set_foreign_online_page_hook(true);
    g.add_device(props(ADDR, 4 * GIB, 2 * MIB), DriverConfig::new(0));
    let e = g.probe(0).unwrap_err();
    assert_eq!(e.0, iomem::Errno::EINVAL);
    assert_eq!(g.drivers[0].phase(), Phase::Failed);
    assert!(!g.os.proc_iomem().contains("virtio0"), "everything unwound: {}", g.os.proc_iomem());
}

#[test]
fn item13_reused_ids_are_not_checked_against_the_usable_end() {
    let mut g = guest(OnlineType::OnlineMovable);
    g.resize(0, GIB);
    g.resize(0, 300 * MIB);
    g.take_requests(0);
    // The driver now reads a usable size ending after block 45 (a device
    // could not shrink it; this shows the assumption the driver relies on).
    g.script(0).config.insert(offset::USABLE_REGION_SIZE, 6 * 128 * MIB);
    g.resize(0, GIB);
    let k = kinds(&mut g);
    assert!(k.contains(&(PLUG, 47 * 128 * MIB, 64)), "UNUSED block 47 is reused past the usable end: {k:?}");
}

#[test]
fn item14_config_values_are_not_validated_errors_break_the_device() {
    let mut g = guest(OnlineType::OnlineMovable);
    // The driver reads a requested size beyond the region.
    g.script(0).config.insert(offset::REQUESTED_SIZE, 5 * GIB);
    g.script(0).config.insert(offset::USABLE_REGION_SIZE, 5 * GIB);
    g.resize(0, 4 * GIB);
    let snap = g.drivers[0].snapshot();
    assert!(snap.broken, "the device's ERROR for a block outside the region breaks the driver");
    assert_eq!(snap.plugged_size, 4 * GIB);
}

#[test]
fn item15_a_growing_usable_region_lets_a_stopped_plug_continue() {
    let mut g = guest(OnlineType::OnlineMovable);
    // The driver sees only 256 MiB usable at first.
    g.script(0).config.insert(offset::USABLE_REGION_SIZE, 256 * MIB);
    g.resize(0, GIB);
    assert_eq!(g.drivers[0].snapshot().plugged_size, 256 * MIB, "-ENOSPC at the usable end");
    assert!(!g.drivers[0].timer_armed());
    g.script(0).config.clear();
    // The next config interrupt raises the usable end; the same run plugs
    // the rest.
    g.with_device(0, |d| d.resize(GIB + 2 * MIB)).unwrap();
    g.drivers[0].handle_interrupts();
    g.settle();
    assert_eq!(g.drivers[0].snapshot().plugged_size, GIB + 2 * MIB);
    g.check_invariants();
}

// ----- removal, kdump, versions ---------------------------------------------

#[test]
fn unloading_with_nothing_added_releases_the_parent() {
    let mut g = guest(OnlineType::OnlineMovable);
    g.resize(0, 256 * MIB);
    g.resize(0, 0);
    g.drivers[0].remove(&mut g.os);
    assert!(!g.os.proc_iomem().contains("virtio0"));
    assert!(!g.os.online_page_hook_installed());
    // A fresh probe works again.
    g.rebind(0, DriverConfig::new(0));
    g.probe(0).unwrap();
    assert!(g.os.proc_iomem().contains("140000000-23fffffff : virtio0"));
}

#[test]
fn kdump_mode_sends_state_requests_only() {
    let mut g = guest(OnlineType::OnlineMovable);
    g.resize(0, 256 * MIB);
    g.take_requests(0);
    // A crash kernel: the device keeps its memory plugged.
    let mut k = Guest::new(worked_example_config());
    k.os.set_kdump(true, true);
    k.adopt_device(g.devices[0].clone(), DriverConfig::new(0));
    k.probe(0).unwrap();
    assert!(k.dmesg().iter().any(|l| l.ends_with("memory hot(un)plug disabled in kdump kernel")));
    assert!(!k.os.proc_iomem().contains("virtio0"), "no resource in kdump mode");
    assert!(k.drivers[0].kdump_pfn_is_ram(0x1000), "outside the region");
    assert!(k.drivers[0].kdump_pfn_is_ram(ADDR / 4096), "plugged");
    assert!(k.drivers[0].kdump_pfn_is_ram(ADDR / 4096 + 1), "cached");
    assert!(!k.drivers[0].kdump_pfn_is_ram((ADDR + 256 * MIB) / 4096), "unplugged");
    let req: Vec<_> = k.take_requests(0).iter().map(describe).collect();
    assert_eq!(req, [(3, ADDR, 1), (3, ADDR + 256 * MIB, 1)], "one STATE per device block, cached");
    let ranges = k.drivers[0].kdump_ram_ranges(&mut k.os).unwrap();
    assert_eq!(ranges, [(ADDR, ADDR + 256 * MIB)]);
    // The worker never runs in kdump mode; config interrupts are ignored.
    k.with_device(0, |d| d.resize(GIB)).unwrap();
    k.drivers[0].handle_interrupts();
    assert!(!k.drivers[0].work_pending());
    // Without vmcore support the probe fails.
    let mut n = Guest::new(worked_example_config());
    n.os.set_kdump(true, false);
    n.add_device(props(ADDR, 4 * GIB, 2 * MIB), DriverConfig::new(0));
    assert_eq!(n.probe(0).unwrap_err().0, iomem::Errno::EBUSY);
    assert!(n.dmesg().iter().any(|l| l.ends_with("disabled in kdump kernel without vmcore")));
}

#[test]
fn kernels_before_5_16_claim_the_region_without_exclusive() {
    let mut g = Guest::new(worked_example_config());
    let mut c = DriverConfig::new(0);
    c.rules = virtio_mem_driver::DriverRules::for_version(iomem::KernelVersion::new(5, 15, 0));
    // Such a driver does not know UNPLUGGED_INACCESSIBLE: a device that
    // requires it refuses FEATURES_OK, and the probe fails.
    g.add_device(props(ADDR, 4 * GIB, 2 * MIB), c.clone());
    assert_eq!(g.probe(0).unwrap_err().0, iomem::Errno::ENODEV);
    let mut g = Guest::new(worked_example_config());
    let mut p = props(ADDR, 4 * GIB, 2 * MIB);
    p.unplugged_inaccessible = false;
    g.add_device(p, c);
    g.probe(0).unwrap();
    let id = g.os.tree().deepest_containing(g.os.tree().iomem_root(), ADDR).unwrap().unwrap();
    assert_eq!(g.os.tree().get(id).unwrap().flags.bits(), 0x0100_0200, "MEM|SYSRAM");
    let snap = g.drivers[0].snapshot();
    assert!(!snap.features.contains(virtio_mem::Features::UNPLUGGED_INACCESSIBLE));
}

#[test]
fn two_devices_share_the_hook_and_stay_apart() {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(OnlineType::OnlineMovable);
    g.add_device(props(ADDR, 4 * GIB, 2 * MIB), DriverConfig::new(0));
    g.add_device(props(ADDR + 4 * GIB, 4 * GIB, 2 * MIB), DriverConfig::new(1));
    g.probe(0).unwrap();
    g.probe(1).unwrap();
    g.resize(0, 256 * MIB);
    g.resize(1, 128 * MIB + 64 * MIB);
    g.check_invariants();
    let lines = g.iomem_lines_from(ADDR);
    assert_eq!(
        lines,
        [
            "140000000-23fffffff : virtio0",
            "  140000000-14fffffff : System RAM (virtio_mem)",
            "240000000-33fffffff : virtio1",
            "  240000000-24fffffff : System RAM (virtio_mem)",
        ]
    );
    g.drivers[0].remove(&mut g.os);
    assert!(g.os.online_page_hook_installed(), "the second device still holds the hook");
}
