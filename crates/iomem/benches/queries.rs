//! Per-address queries on large trees, side by side with the reference
//! model's linear walk on the same tree; memory per node; `/proc/iomem`
//! parse and render throughput. Figures go to the workspace BENCHMARKS.md.

#![allow(missing_docs)]

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/common/model.rs"]
mod model;

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use iomem::procfs::{ParseOptions, Reader, parse};
use iomem::{ExclusiveParams, Flags, ResourceTree};
use model::Model;

const TOP: &str =
    include_str!("../../../fixtures/kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M/observed/iomem-flags.txt");
const BLOCK: u64 = 0x8000; // 32 KiB per virtio-mem block: 100K blocks fit below 4 GiB of device space
const BASE: u64 = 0x1_0000_0000;

/// The recorded x86 VM top level (without its virtio-mem child) plus a
/// `virtio0` region (SYSTEM_RAM|EXCLUSIVE, not busy) holding `n` busy,
/// unmerged `System RAM (virtio_mem)` blocks.
fn build(n: u64) -> ResourceTree {
    build_with(n, None)
}

/// The same tree, but the device region is a non-busy window holding `n`
/// busy driver claims (MEM|BUSY): the shape where `iomem_is_exclusive`'s
/// walk really passes every sibling below the address.
fn build_claims(n: u64) -> ResourceTree {
    build_with(n, Some((Flags::MEM, Flags::MEM | Flags::BUSY)))
}

fn build_with(n: u64, flags: Option<(Flags, Flags)>) -> ResourceTree {
    let text: String = TOP.lines().filter(|l| !l.contains("virtio_mem")).map(|l| format!("{l}\n")).collect();
    let opts = ParseOptions { annotations: true, ..ParseOptions::default() };
    let mut t = parse(text.as_bytes(), &opts).expect("fixture parses").tree;
    let root = t.iomem_root();
    let dev = t.lookup_resource(root, BASE).unwrap().expect("virtio0 in the fixture");
    let end = BASE + n * BLOCK - 1;
    t.adjust_resource(dev, BASE, end - BASE + 1).expect("room for the device");
    let name = t.name_intern("System RAM (virtio_mem)");
    let mut f = Flags::SYSTEM_RAM | Flags::BUSY | Flags::SYSRAM_DRIVER_MANAGED | Flags::SYSRAM_MERGEABLE;
    if let Some((window, claim)) = flags {
        t.set_flags(dev, window).unwrap();
        f = claim;
    }
    for i in 0..n {
        let r = t.create(iomem::ResourceSpec::new(BASE + i * BLOCK, BASE + (i + 1) * BLOCK - 1, name, f)).unwrap();
        t.request_resource(dev, r).unwrap();
    }
    t
}

/// The same tree in the model, linked directly (a linear PLACE per child
/// would take quadratic time to build).
fn to_model(t: &ResourceTree) -> Model {
    let mut m = Model::new(model::Config::x86_mainline());
    let mut ids = HashMap::new();
    let mut last_child: HashMap<usize, usize> = HashMap::new();
    ids.insert(t.iomem_root(), model::IOMEM);
    for (id, _) in t.preorder(t.iomem_root()).unwrap() {
        let v = t.get(id).unwrap();
        let me = m.create(v.range.start, v.range.end, None, v.flags, v.desc);
        let parent = ids[&v.parent.unwrap()];
        m.res[me].parent = Some(parent);
        match last_child.insert(parent, me) {
            Some(prev) => m.res[prev].sibling = Some(me),
            None => m.res[parent].child = Some(me),
        }
        ids.insert(id, me);
    }
    m
}

fn queries(c: &mut Criterion) {
    let strict = ExclusiveParams { strict: true, io_strict: true };
    for n in [1_000u64, 10_000, 100_000] {
        let t = build(n);
        let m = to_model(&t);
        let root = t.iomem_root();
        // Cheapest: the first page; most expensive: the last block.
        let points = [("first", 0x0u64), ("last", BASE + (n - 1) * BLOCK + 0x10)];
        let mut g = c.benchmark_group(format!("queries/{n}"));
        for (label, a) in points {
            g.bench_function(BenchmarkId::new("lib/page_is_ram", label), |b| {
                b.iter(|| t.page_is_ram(black_box(a) >> 12))
            });
            g.bench_function(BenchmarkId::new("model/page_is_ram", label), |b| {
                b.iter(|| m.page_is_ram(black_box(a) >> 12))
            });
            g.bench_function(BenchmarkId::new("lib/deepest", label), |b| {
                b.iter(|| t.deepest_containing(root, black_box(a)).unwrap())
            });
            g.bench_function(BenchmarkId::new("model/deepest", label), |b| {
                b.iter(|| m.containing_chain(model::IOMEM, black_box(a)).unwrap().pop())
            });
            g.bench_function(BenchmarkId::new("lib/is_exclusive", label), |b| {
                b.iter(|| t.iomem_is_exclusive(black_box(a), strict))
            });
            g.bench_function(BenchmarkId::new("model/is_exclusive", label), |b| {
                b.iter(|| m.iomem_is_exclusive(black_box(a), true, true))
            });
        }
        // iomem_is_exclusive where the walk passes every sibling: the last
        // of n busy claims in a non-busy window.
        let tc = build_claims(n);
        let mc = to_model(&tc);
        let last = BASE + (n - 1) * BLOCK + 0x10;
        assert!(tc.iomem_is_exclusive(last, strict) && mc.iomem_is_exclusive(last, true, true).is_some());
        g.bench_function(BenchmarkId::new("lib/is_exclusive-claims", "last"), |b| {
            b.iter(|| tc.iomem_is_exclusive(black_box(last), strict))
        });
        g.bench_function(BenchmarkId::new("model/is_exclusive-claims", "last"), |b| {
            b.iter(|| mc.iomem_is_exclusive(black_box(last), true, true))
        });
        g.finish();
        let nodes = t.len();
        let bytes = t.heap_bytes() - t.name_heap_bytes();
        eprintln!(
            "memory/{n}: {nodes} resources, {bytes} heap bytes without names = {:.1} B/node",
            bytes as f64 / nodes as f64
        );
    }
}

fn procfs(c: &mut Criterion) {
    let t = build(100_000);
    let text = t.render_proc(t.iomem_root(), Reader::Privileged).unwrap();
    let mut g = c.benchmark_group("procfs/100k");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse", |b| b.iter(|| parse(black_box(text.as_bytes()), &ParseOptions::default()).unwrap()));
    g.bench_function("render", |b| b.iter(|| t.render_proc(t.iomem_root(), Reader::Privileged).unwrap()));
    g.finish();
}

criterion_group!(benches, queries, procfs);
criterion_main!(benches);
