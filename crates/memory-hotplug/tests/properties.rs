//! Random sequences of host resizes, guest memory use, user-space online /
//! offline requests, device hiccups and driver reloads keep every
//! invariant: the driver and the device agree on what is plugged, the tree
//! matches the added blocks, no unplugged memory is ever written (or read,
//! with UNPLUGGED_INACCESSIBLE), no byte a program stored is lost, and
//! `/dev/mem` allows no page of the device region.

mod common;

use common::*;
use memory_hotplug::{AllocOrder, BootRange, HotplugConfig, OnlineType};
use proptest::prelude::*;
use virtio_mem_driver::DriverConfig;

const ADDR: u64 = 0x1_0000_0000;
const REGION: u64 = 2 * GIB;

#[derive(Clone, Debug)]
enum Op {
    /// The host asks for this many 2 MiB blocks.
    Resize(u64),
    /// A program allocates this many MiB (movable) or the kernel does.
    Fill { mib: u64, movable: bool },
    /// The n-th live allocation is freed.
    Free(usize),
    /// User space writes `memoryN/state`.
    State { block: u64, text: &'static str },
    /// `auto_online_blocks` changes.
    AutoOnline(OnlineType),
    /// The device answers the next requests itself or with BUSY/NACK.
    Hiccup(Vec<Option<u16>>),
    /// Time passes to the next retry.
    Timer,
    /// The guest allocates from the top of memory from now on.
    Order(bool),
}

fn op() -> impl Strategy<Value = Op> {
    let types = prop_oneof![
        Just(OnlineType::Offline),
        Just(OnlineType::Online),
        Just(OnlineType::OnlineKernel),
        Just(OnlineType::OnlineMovable)
    ];
    let texts = prop_oneof![Just("online"), Just("online_kernel"), Just("online_movable"), Just("offline")];
    prop_oneof![
        4 => (0u64..=REGION / (2 * MIB)).prop_map(Op::Resize),
        2 => (1u64..96, any::<bool>()).prop_map(|(mib, movable)| Op::Fill { mib, movable }),
        1 => (0usize..8).prop_map(Op::Free),
        2 => ((ADDR / (128 * MIB))..(ADDR + REGION) / (128 * MIB), texts).prop_map(|(block, text)| Op::State { block, text }),
        1 => types.prop_map(Op::AutoOnline),
        1 => prop::collection::vec(prop_oneof![Just(None), Just(Some(1u16)), Just(Some(2u16))], 1..4).prop_map(Op::Hiccup),
        2 => Just(Op::Timer),
        1 => any::<bool>().prop_map(Op::Order),
    ]
}

fn guest(online: OnlineType, bs: u64) -> Guest {
    let config = HotplugConfig::x86_64(vec![
        BootRange { start: 0x1000, end: 0x9_fc00 },
        BootRange { start: 0x10_0000, end: 0x8000_0000 },
    ]);
    let mut g = Guest::new(config);
    g.set_online_type(online);
    g.add_device(props(ADDR, REGION, bs), DriverConfig::new(0));
    g.probe(0).unwrap();
    g
}

fn run(g: &mut Guest, ops: &[Op]) {
    g.check_invariants();
    for op in ops {
        match op {
            Op::Resize(blocks) => {
                let bs = g.with_device(0, |d| d.block_size());
                let size = (blocks * 2 * MIB / bs) * bs;
                if g.with_device(0, |d| d.resize(size)).is_ok() {
                    g.drivers[0].handle_interrupts();
                    g.settle();
                }
            }
            Op::Fill { mib, movable } => {
                let _ = g.os.allocate(mib * MIB / 4096, *movable);
            }
            Op::Free(n) => {
                let id = g.os.allocations().nth(*n).map(|(id, _)| id);
                if let Some(id) = id {
                    g.os.free_allocation(id);
                }
            }
            Op::State { block, text } => {
                let _ = g.write_state(*block, text);
            }
            Op::AutoOnline(t) => g.set_online_type(*t),
            Op::Hiccup(answers) => g.script(0).answers.extend(answers.iter().copied()),
            Op::Timer => {
                g.fire_next_timer();
            }
            Op::Order(high) => {
                g.os.set_alloc_order(if *high { AllocOrder::HighestFirst } else { AllocOrder::LowestFirst })
            }
        }
        g.check_invariants();
    }
    // Whatever happened, with the hiccups gone and time passing, the driver
    // reaches a steady state and the invariants still hold.
    g.script(0).answers.clear();
    for _ in 0..8 {
        if g.fire_next_timer().is_none() {
            break;
        }
    }
    g.check_invariants();
    assert!(!g.drivers[0].snapshot().broken, "a correct device never breaks the driver");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn sbm_sequences_keep_every_invariant(
        online in prop_oneof![Just(OnlineType::Offline), Just(OnlineType::OnlineMovable), Just(OnlineType::Online)],
        ops in prop::collection::vec(op(), 1..24),
    ) {
        let mut g = guest(online, 2 * MIB);
        run(&mut g, &ops);
    }

    #[test]
    fn bbm_sequences_keep_every_invariant(
        online in prop_oneof![Just(OnlineType::Offline), Just(OnlineType::OnlineMovable), Just(OnlineType::Online)],
        ops in prop::collection::vec(op(), 1..24),
    ) {
        let mut g = guest(online, 256 * MIB);
        run(&mut g, &ops);
    }
}
