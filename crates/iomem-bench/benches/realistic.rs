//! Benchmarks on realistic inputs (BENCHMARKS.md, "Realistic inputs"):
//! seeded random addresses beside fixed ones, dumps with distinct names
//! beside shared ones, the x86 BAR-heavy tree and the virtio-mem tree at
//! 1K / 100K / 1M resources, and the `procfs-core` crate's parser on the
//! same bytes in the same run.
//!
//! Select sizes with `IOMEM_BENCH_SIZES=1k,100k,1m` (default: all three).

#![allow(missing_docs)]

use std::hint::black_box;
use std::io::Cursor;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use iomem::infer::{Arch as InferArch, InferHints, infer_flags};
use iomem::procfs::{ParseOptions, parse};
use iomem::{ExclusiveParams, Flags, KernelVersion, Range, ResourceTree};
use iomem_bench::{SEED, Shape, dump, random_addresses};
use iomem_devmem::{Arch, Devmem, OpenMode, Policy};
use procfs_core::{FromBufRead, Iomem};

/// Random addresses per set: 8 MiB of them, more than the L2 cache, so
/// that the queries do not find their own previous paths cached.
const RANDOM: usize = 1 << 20;

fn sizes() -> Vec<(usize, &'static str)> {
    let all = [(1_000, "1k"), (100_000, "100k"), (1_000_000, "1m")];
    match std::env::var("IOMEM_BENCH_SIZES") {
        Ok(v) => all.into_iter().filter(|(_, l)| v.split(',').any(|w| w == *l)).collect(),
        Err(_) => all.to_vec(),
    }
}

/// A dump parsed, with flags inferred as `iomem show` does (x86, 6.1).
fn tree_of(text: &str) -> ResourceTree {
    let mut t = parse(text.as_bytes(), &ParseOptions::default()).expect("generated dumps parse").tree;
    let root = t.iomem_root();
    let hints = InferHints { arch: Some(InferArch::X86), kernel: Some(KernelVersion::new(6, 1, 0)) };
    infer_flags(&mut t, root, &hints);
    t
}

/// Sorted starts of the resources at the deepest level of the big region:
/// a bare binary search over them is the bound of one level's search.
fn leaf_starts(text: &str, shape: Shape) -> Vec<u64> {
    let indent = match shape {
        Shape::Virtio => "  ",
        Shape::Bars => "    ",
    };
    let mut v: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with(indent) && !l[indent.len()..].starts_with(' '))
        .filter_map(|l| u64::from_str_radix(l.trim_start().split('-').next()?, 16).ok())
        .collect();
    v.sort_unstable();
    v
}

fn parsing(c: &mut Criterion) {
    for (n, label) in sizes() {
        for shape in Shape::ALL {
            let d = dump(shape, n);
            let mut g = c.benchmark_group(format!("parse/{}/{label}", shape.name()));
            g.throughput(Throughput::Bytes(d.text.len() as u64));
            if n >= 100_000 {
                g.sample_size(10);
            }
            g.bench_function("iomem", |b| {
                b.iter(|| parse(black_box(d.text.as_bytes()), &ParseOptions::default()).unwrap())
            });
            g.bench_function("procfs-core", |b| {
                b.iter(|| Iomem::from_buf_read(Cursor::new(black_box(d.text.as_bytes()))).unwrap())
            });
            g.finish();
        }
    }
}

fn queries(c: &mut Criterion) {
    let strict = ExclusiveParams { strict: true, io_strict: true };
    for (n, label) in sizes() {
        for shape in Shape::ALL {
            let d = dump(shape, n);
            let t = tree_of(&d.text);
            let root = t.iomem_root();
            let random = random_addresses(SEED, RANDOM, d.span.0, d.span.1);
            let fixed = d.span.1 - 0x100;
            let keys = leaf_starts(&d.text, shape);
            let mut g = c.benchmark_group(format!("query/{}/{label}", shape.name()));
            let mut i = 0usize;
            let mut next = || {
                i = (i + 1) & (RANDOM - 1);
                random[i]
            };
            g.bench_function(BenchmarkId::new("page_is_ram", "random"), |b| {
                b.iter(|| t.page_is_ram(black_box(next()) >> 12))
            });
            g.bench_function(BenchmarkId::new("page_is_ram", "fixed-last"), |b| {
                b.iter(|| t.page_is_ram(black_box(fixed) >> 12))
            });
            if shape == Shape::Virtio {
                // The blocks with holes: no dense run of System RAM, so the
                // query searches the blocks.
                let holes = with_holes(&t, d.span.0);
                g.bench_function(BenchmarkId::new("page_is_ram", "random-with-holes"), |b| {
                    b.iter(|| holes.page_is_ram(black_box(next()) >> 12))
                });
            }
            g.bench_function(BenchmarkId::new("bare-binary-search", "random"), |b| {
                b.iter(|| {
                    let a = black_box(next());
                    keys.partition_point(|&s| s <= a)
                })
            });
            g.bench_function(BenchmarkId::new("iomem_is_exclusive", "random"), |b| {
                b.iter(|| t.iomem_is_exclusive(black_box(next()), strict))
            });
            g.bench_function(BenchmarkId::new("deepest_containing", "random"), |b| {
                b.iter(|| t.deepest_containing(root, black_box(next())).unwrap())
            });
            let devmem = Devmem::new(&t, Policy::new(&t, Arch::X86_64 { phys_bits: 46 }));
            g.bench_function(BenchmarkId::new("devmem_page", "random"), |b| b.iter(|| devmem.page(black_box(next()))));
            g.finish();
            let bytes = t.heap_bytes() - t.name_heap_bytes();
            eprintln!(
                "memory/{}/{label}: {} resources, {bytes} heap bytes without names = {:.1} B/resource; names {} B",
                shape.name(),
                t.len(),
                bytes as f64 / t.len() as f64,
                t.name_heap_bytes()
            );
        }
    }
}

/// The tree with every 512th block of the device released (the first
/// block holds `first_block`).
fn with_holes(t: &ResourceTree, first_block: u64) -> ResourceTree {
    let mut t = t.clone();
    let root = t.iomem_root();
    let block = t.deepest_containing(root, first_block).unwrap().expect("a block");
    let region = t.parent(block).unwrap().expect("the device region");
    let blocks: Vec<_> = t.children(region).unwrap().collect();
    for b in blocks.into_iter().step_by(512) {
        t.release_resource(b).unwrap();
    }
    t
}

/// What every `check` and `safe` call pays before its answer: the policy
/// (with `high_memory` estimated from the tree), the range verdict over
/// the whole space and the whole-page access runs.
fn setup(c: &mut Criterion) {
    let arch = Arch::X86_64 { phys_bits: 46 };
    for (n, label) in sizes() {
        for shape in Shape::ALL {
            let d = dump(shape, n);
            let t = tree_of(&d.text);
            let mut g = c.benchmark_group(format!("setup/{}/{label}", shape.name()));
            if n >= 100_000 {
                g.sample_size(10);
            }
            g.bench_function("Policy::new", |b| b.iter(|| Policy::new(black_box(&t), arch)));
            let devmem = Devmem::new(&t, Policy::new(&t, arch));
            g.bench_function("page_runs(full)", |b| b.iter(|| devmem.page_runs(Range::FULL)));
            g.bench_function("access_runs(full)", |b| b.iter(|| devmem.access_runs(Range::FULL, OpenMode::RDWR)));
            g.bench_function("safe_ranges(full)", |b| b.iter(|| devmem.safe_ranges(Range::FULL)));
            g.bench_function("infer_flags", |b| {
                b.iter_batched(
                    || t.clone(),
                    |mut t| {
                        let root = t.iomem_root();
                        infer_flags(&mut t, root, &InferHints::default())
                    },
                    criterion::BatchSize::LargeInput,
                )
            });
            g.finish();
        }
    }
}

/// Many zero-size (inverted) siblings, made by `adjust_resource(r, s, 0)`
/// on each of `k` claims, below one window, then one real claim after
/// them: the queries behind them must not walk back over them.
fn zero_size(c: &mut Criterion) {
    let mut g = c.benchmark_group("zero-size-siblings");
    for k in [1_000u64, 100_000] {
        let mut t = ResourceTree::default();
        let base = 0x1_0000_0000u64;
        let win = t.request_mem_region(base, (k + 16) * 0x1000, "window").unwrap();
        t.set_flags(win, Flags::MEM).unwrap();
        let name = t.name_intern("claim");
        for i in 0..k {
            let r = t.request_mem_region(base + i * 0x1000, 0x1000, name).unwrap();
            t.adjust_resource(r, base + i * 0x1000, 0).unwrap();
        }
        let last = base + (k + 8) * 0x1000;
        let ram = t.request_mem_region(last, 0x1000, "System RAM").unwrap();
        t.set_flags(ram, Flags::SYSTEM_RAM | Flags::BUSY).unwrap();
        let root = t.iomem_root();
        // An address after every inverted sibling, in a gap: the search
        // lands behind all of them.
        let gap = base + (k + 4) * 0x1000;
        g.bench_function(BenchmarkId::new("deepest_containing/gap-after", k), |b| {
            b.iter(|| t.deepest_containing(root, black_box(gap)).unwrap())
        });
        g.bench_function(BenchmarkId::new("page_is_ram/gap-after", k), |b| {
            b.iter(|| t.page_is_ram(black_box(gap) >> 12))
        });
        g.bench_function(BenchmarkId::new("page_is_ram/ram", k), |b| b.iter(|| t.page_is_ram(black_box(last) >> 12)));
    }
    g.finish();
}

criterion_group!(benches, parsing, queries, setup, zero_size);
criterion_main!(benches);
