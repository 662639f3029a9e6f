//! The driver against the device's cloud-hypervisor and Firecracker
//! profiles (device spec §9): the same resizes reach the same sizes, and
//! every invariant holds, whatever order the device checks requests in.

mod common;

use common::*;
use memory_hotplug::OnlineType;
use virtio_mem::Profile;
use virtio_mem_driver::DriverConfig;

const ADDR: u64 = 0x1_4000_0000;

fn round_trip(profile: Profile, online: OnlineType) -> Guest {
    let mut g = Guest::new(worked_example_config());
    g.set_online_type(online);
    g.add_device(props(ADDR, 4 * GIB, 2 * MIB).with_profile(profile), DriverConfig::new(0));
    g.probe(0).unwrap();
    for size in [GIB, 300 * MIB, 2 * GIB, 0, 512 * MIB] {
        g.resize(0, size);
        g.check_invariants();
        let snap = g.drivers[0].snapshot();
        // Nothing onlines offline memory: the offline threshold (1 GiB)
        // stops the plug (§7).
        let expected = if online == OnlineType::Offline { size.min(GIB) } else { size };
        assert_eq!(snap.plugged_size, expected, "{} {online:?}: {size:#x}", profile.name());
        assert!(!snap.broken);
        assert!(!g.drivers[0].timer_armed());
    }
    g
}

#[test]
fn cloud_hypervisor() {
    for online in [OnlineType::OnlineMovable, OnlineType::Offline, OnlineType::Online] {
        let g = round_trip(Profile::cloud_hypervisor(), online);
        // Its usable region is the whole region from the start.
        assert_eq!(g.drivers[0].snapshot().usable_region_size, 4 * GIB);
    }
}

#[test]
fn firecracker() {
    for online in [OnlineType::OnlineMovable, OnlineType::Offline, OnlineType::Online] {
        round_trip(Profile::firecracker(), online);
    }
}

#[test]
fn qemu_arm64_extent() {
    round_trip(Profile::qemu_arm64(), OnlineType::OnlineMovable);
}

/// Firecracker drops its usable region to 0 on UNPLUG_ALL (device spec
/// §9): after a kexec the driver unplugs everything and then cannot plug
/// until the host resizes again. Faithful on both sides.
#[test]
fn firecracker_after_kexec_waits_for_the_next_resize() {
    let mut g = round_trip(Profile::firecracker(), OnlineType::OnlineMovable);
    let mut k = Guest::new(worked_example_config());
    k.set_online_type(OnlineType::OnlineMovable);
    k.adopt_device(g.devices[0].clone(), DriverConfig::new(0));
    g.take_requests(0);
    k.probe(0).unwrap();
    let req: Vec<_> = k.take_requests(0).iter().map(describe).collect();
    assert_eq!(req, [(UNPLUG_ALL, 0, 0)]);
    let snap = k.drivers[0].snapshot();
    assert_eq!((snap.plugged_size, snap.usable_region_size), (0, 0));
    assert!(!k.drivers[0].timer_armed(), "-ENOSPC: waiting for a config change");
    k.check_invariants();
    k.resize(0, 640 * MIB);
    assert_eq!(k.drivers[0].snapshot().plugged_size, 640 * MIB);
    k.check_invariants();
}
