//! PLUG/UNPLUG/STATE/UNPLUG_ALL handling over a 16 TiB region of 2 MiB
//! blocks (8M blocks), compared with a 4 GiB region to show that a request's
//! cost depends only on the bitmap range it touches.
//!
//! Run: `cargo bench -p virtio-mem --bench requests -- --warm-up-time 1 --measurement-time 3`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use virtio_mem::{BlockRange, DeviceProperties, Features, NoBackend, Request, Response, VirtioMemDevice};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;
const ADDR: u64 = TIB;
const BLOCK: u64 = 2 * MIB;

fn device(region: u64) -> VirtioMemDevice<NoBackend> {
    let mut device = VirtioMemDevice::new(DeviceProperties::new(ADDR, region, BLOCK), NoBackend).unwrap();
    device.set_driver_features((Features::VERSION_1 | Features::UNPLUGGED_INACCESSIBLE).bits());
    device.set_status(1 | 2 | 8 | 4).unwrap();
    device.resize(region).unwrap();
    device
}

/// Request bytes for PLUG then UNPLUG of `nb` blocks at spread-out places
/// of the region (a multiplicative stride visits words all over the bitmap).
fn request_pairs(region: u64, nb: u16) -> Vec<([u8; 24], [u8; 24])> {
    let slots = region / BLOCK / u64::from(nb);
    (0..4096u64)
        .map(|i| {
            let slot = (i * 2_654_435_761) % slots;
            let range = BlockRange::new(ADDR + slot * u64::from(nb) * BLOCK, nb);
            (Request::Plug(range).encode(), Request::Unplug(range).encode())
        })
        .collect()
}

fn plug_unplug_chains(c: &mut Criterion) {
    let mut group = c.benchmark_group("plug_unplug_chain");
    for (label, region) in [("4GiB", 4 * GIB), ("16TiB", 16 * TIB)] {
        for nb in [1u16, 64, u16::MAX] {
            if region / BLOCK < u64::from(nb) {
                continue; // 65535 blocks do not fit in 4 GiB
            }
            let mut dev = device(region);
            let pairs = request_pairs(region, nb);
            // Two requests per iteration.
            group.throughput(Throughput::Elements(2));
            let id = BenchmarkId::new(format!("{label}/nb={nb}"), "");
            let mut next = 0usize;
            let mut response = [0u8; 10];
            group.bench_function(id, |b| {
                b.iter(|| {
                    let (plug, unplug) = &pairs[next % pairs.len()];
                    next += 1;
                    dev.process_chain(&[black_box(plug)], &mut [&mut response]);
                    debug_assert_eq!(response, Response::Ack.encode());
                    dev.process_chain(&[black_box(unplug)], &mut [&mut response]);
                    black_box(&response);
                })
            });
            assert_eq!(dev.plugged_size(), 0);
            assert_eq!(dev.stats().responses[0], dev.stats().requests);
        }
    }
    group.finish();
}

fn typed_execute(c: &mut Criterion) {
    let mut group = c.benchmark_group("execute");
    let mut dev = device(16 * TIB);
    let blocks = 16 * TIB / BLOCK;
    let mut index = 0u64;
    group.throughput(Throughput::Elements(2));
    group.bench_function("16TiB/nb=1/plug+unplug", |b| {
        b.iter(|| {
            index = (index + 2_654_435_761) % blocks;
            let range = BlockRange::new(ADDR + index * BLOCK, 1);
            black_box(dev.execute(Request::Plug(range)));
            black_box(dev.execute(Request::Unplug(range)));
        })
    });
    // STATE over the largest range a request can name, all plugged: the
    // answer needs every word of the range (no early exit).
    let whole = BlockRange::new(ADDR + 64 * BLOCK, u16::MAX);
    assert_eq!(dev.execute(Request::Plug(whole)), Response::Ack);
    group.throughput(Throughput::Elements(1));
    group.bench_function("16TiB/nb=65535/state(all plugged)", |b| {
        b.iter(|| black_box(dev.execute(Request::State(black_box(whole)))))
    });
    group.finish();
}

fn unplug_all(c: &mut Criterion) {
    let mut group = c.benchmark_group("unplug_all");
    group.sample_size(20);
    for (label, region) in [("4GiB", 4 * GIB), ("16TiB", 16 * TIB)] {
        let mut dev = device(region);
        let last = BlockRange::new(ADDR + region - BLOCK, 1);
        group.throughput(Throughput::Bytes(region / BLOCK / 8));
        group.bench_function(label, |b| {
            b.iter(|| {
                dev.execute(Request::Plug(last));
                black_box(dev.execute(Request::UnplugAll))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, plug_unplug_chains, typed_execute, unplug_all);
criterion_main!(benches);
