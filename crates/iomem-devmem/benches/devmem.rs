//! `/dev/mem` verdict benchmarks (BENCHMARKS.md, "/dev/mem policy").
//!
//! Trees: a real x86 VM top level (QEMU pc, Debian 6.1) plus
//! * `virtio`: a virtio-mem region (`virtio0`, SYSTEM_RAM|EXCLUSIVE) holding
//!   N unmerged busy `System RAM (virtio_mem)` blocks of 128 MiB;
//! * `bars`: a non-busy PCI window holding N/2 64 KiB BARs, each with a
//!   busy driver claim over its first half (N resources in all) — the worst
//!   case for range verdicts, since every claim and every gap is its own
//!   run under strict checks, and nothing can be pruned.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use iomem::procfs::{ParseOptions, parse_str};
use iomem::{Flags, Range, ResourceTree};
use iomem_devmem::{Arch, Devmem, Policy};

const TOP: &str = include_str!("../../../fixtures/kernel/6.1.0-56-amd64/strict-sbm2M/a-size0/observed/iomem-flags.txt");

fn base() -> ResourceTree {
    let opts = ParseOptions { annotations: true, ..ParseOptions::default() };
    let mut t = parse_str(TOP, &opts).unwrap().tree;
    // Drop the recorded virtio0 so that the bench controls the region.
    let v = t.deepest_containing(t.iomem_root(), 0x1_0000_0000).unwrap().unwrap();
    t.release_resource(v).unwrap();
    t.free(v).unwrap();
    t
}

const REGION: u64 = 0x100_0000_0000; // 1 TiB

fn virtio_tree(n: u64) -> ResourceTree {
    let mut t = base();
    let block = 0x800_0000u64; // 128 MiB
    let dev = t.request_mem_region(REGION, n * block, "virtio0").unwrap();
    t.set_flags(dev, Flags::SYSTEM_RAM | Flags::EXCLUSIVE).unwrap();
    let name = t.name_new("System RAM (virtio_mem)");
    for i in 0..n {
        let r = t.request_mem_region(REGION + i * block, block, name).unwrap();
        t.set_flags(r, Flags::from_bits_retain(0x8300_0200)).unwrap();
    }
    t
}

fn bars_tree(resources: u64) -> ResourceTree {
    let n = resources / 2;
    let mut t = base();
    let bar = 0x1_0000u64;
    let win = t.request_mem_region(REGION, n * bar, "PCI Bus 0000:40").unwrap();
    t.set_flags(win, Flags::from_bits_retain(0x0020_0201)).unwrap();
    let bar_name = t.name_new("0000:40:00.0");
    let drv = t.name_new("drv");
    for i in 0..n {
        let b = t.request_region(win, REGION + i * bar, bar, bar_name, Flags::empty()).unwrap();
        t.set_flags(b, Flags::from_bits_retain(0x0004_0200)).unwrap();
        t.request_mem_region(REGION + i * bar, bar / 2, drv).unwrap();
    }
    t
}

fn x86(t: &ResourceTree) -> Devmem<'_> {
    Devmem::new(t, Policy::new(t, Arch::X86_64 { phys_bits: 46 }))
}

fn page_verdict(c: &mut Criterion) {
    let mut g = c.benchmark_group("devmem/page");
    for n in [1_000u64, 10_000, 100_000] {
        let vt = virtio_tree(n);
        let bt = bars_tree(n);
        let (dv, db) = (x86(&vt), x86(&bt));
        // Cheapest: a hole low in the map. Most expensive: the last block
        // or claim, at the bottom of the largest child list.
        let last_block = REGION + (n - 1) * 0x800_0000;
        let last_bar = REGION + (n / 2 - 1) * 0x1_0000;
        g.bench_with_input(BenchmarkId::new("virtio/hole", n), &n, |b, _| b.iter(|| dv.page(black_box(0xa_0000))));
        g.bench_with_input(BenchmarkId::new("virtio/last-block", n), &n, |b, _| {
            b.iter(|| dv.page(black_box(last_block + 0x1000)))
        });
        g.bench_with_input(BenchmarkId::new("bars/last-claim", n), &n, |b, _| b.iter(|| db.page(black_box(last_bar))));
        g.bench_with_input(BenchmarkId::new("bars/last-gap", n), &n, |b, _| {
            b.iter(|| db.page(black_box(last_bar + 0x8000)))
        });
    }
    g.finish();
}

fn range_verdict(c: &mut Criterion) {
    let mut g = c.benchmark_group("devmem/range");
    g.sample_size(10);
    let n = 100_000u64;
    let vt = virtio_tree(n);
    let bt = bars_tree(n);
    let (dv, db) = (x86(&vt), x86(&bt));
    let generic = Devmem::new(&bt, Policy::new(&bt, Arch::Arm64 { pa_bits: 48 }));
    eprintln!(
        "runs over the whole space: virtio {} , bars {} (x86), bars {} (generic)",
        dv.page_runs(Range::FULL).len(),
        db.page_runs(Range::FULL).len(),
        generic.page_runs(Range::FULL).len()
    );
    g.bench_function("virtio/whole-64-bit-space/100000", |b| b.iter(|| dv.page_runs(black_box(Range::FULL))));
    g.bench_function("bars/whole-64-bit-space/100000", |b| b.iter(|| db.page_runs(black_box(Range::FULL))));
    g.bench_function("bars-generic/whole-64-bit-space/100000", |b| {
        b.iter(|| generic.page_runs(black_box(Range::FULL)))
    });
    g.bench_function("bars/access-runs-whole-space/100000", |b| {
        b.iter(|| db.access_runs(black_box(Range::FULL), iomem_devmem::OpenMode::RDWR))
    });
    // Page by page is feasible only on a part: 1 GiB of the BAR window
    // (262144 pages) beside the run computation over the same range.
    let gib = Range::new(REGION, REGION + 0x3fff_ffff);
    g.bench_function("bars/1GiB/runs", |b| b.iter(|| db.page_runs(black_box(gib))));
    g.bench_function("bars/1GiB/page-by-page", |b| b.iter(|| db.page_runs_slow(black_box(gib))));
    g.bench_function("virtio/1GiB/runs", |b| b.iter(|| dv.page_runs(black_box(gib))));
    g.bench_function("virtio/1GiB/page-by-page", |b| b.iter(|| dv.page_runs_slow(black_box(gib))));
    g.finish();
}

criterion_group!(benches, page_verdict, range_verdict);
criterion_main!(benches);
