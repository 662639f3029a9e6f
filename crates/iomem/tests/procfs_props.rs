//! Property tests of the dump parser and the flag inference: nothing panics
//! on any input; every valid tree (nested deeper than the printed depth cap
//! included) renders, parses back to the same tree and renders identically.

use iomem::infer::{Arch, InferHints, infer_flags};
use iomem::procfs::{DumpKind, ParseOptions, Reader, parse, parse_str};
use proptest::prelude::*;

/// Bytes that dumps are made of, plus the troublemakers.
fn dumpish_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => prop::sample::select(b"0123456789abcdef".to_vec()),
        2 => prop::sample::select(b"ABCDEF".to_vec()),
        6 => Just(b' '),
        3 => Just(b'-'),
        3 => Just(b':'),
        4 => Just(b'\n'),
        1 => prop::sample::select(b"\t\r.[]=xX|".to_vec()),
        1 => any::<u8>(),
    ]
}

/// A tiny deterministic generator, so that a tree is one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

const NAMES: &[&str] = &[
    "System RAM",
    "Reserved",
    "reserved",
    "Kernel code",
    "PCI Bus 0000:00",
    "PCI Bus 0000:01",
    "0000:00:02.0",
    "virtio-pci-modern",
    "virtio0",
    "System RAM (virtio_mem)",
    "System RAM (kmem)",
    "pnp 00:06",
    "dax0.0",
    "region0",
    "CXL Window 0",
    "Soft Reserved",
    "IOAPIC 0",
    "PNP0103:00",
    "pl011@9000000",
    "9000000.pl011 pl011@9000000",
    "",
    "<BAD>",
    "a : b",
    "é名",
];

/// Appends the children of `[start, end]` at `depth`, as the kernel prints
/// them (indentation capped at depth 5).
fn gen_children(rng: &mut Rng, start: u64, end: u64, depth: usize, text: &mut String, count: &mut usize) {
    let fanout = if depth > 9 { 0 } else { rng.below(if depth < 3 { 4 } else { 3 }) };
    let span = end - start;
    if fanout == 0 || span < 2 {
        return;
    }
    // Split [start, end] into `fanout` slots; each child lies in its slot.
    let slot = span / fanout;
    for i in 0..fanout {
        let lo = start + i * slot;
        let hi = if i + 1 == fanout { end } else { lo + slot - 1 };
        if hi < lo || rng.below(5) == 0 {
            continue;
        }
        let s = lo + rng.below((hi - lo) / 2 + 1);
        let e = s + rng.below(hi - s + 1);
        let name = NAMES[rng.below(NAMES.len() as u64) as usize];
        let indent = 2 * depth.min(5);
        text.push_str(&format!("{:indent$}{s:08x}-{e:08x} : {name}\n", ""));
        *count += 1;
        gen_children(rng, s, e, depth + 1, text, count);
    }
}

fn gen_dump(seed: u64, top: u64) -> (String, usize) {
    let mut rng = Rng(seed | 1);
    let mut text = String::new();
    let mut count = 0;
    gen_children(&mut rng, 0, top, 0, &mut text, &mut count);
    (text, count)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn parsing_never_panics(bytes in prop::collection::vec(dumpish_byte(), 0..400),
                            lenient: bool, annotations: bool, kind in 0u8..3) {
        let kind = [DumpKind::Auto, DumpKind::Iomem, DumpKind::Ioports][kind as usize];
        let options = ParseOptions { lenient, annotations, kind, ..ParseOptions::default() };
        if let Ok(mut d) = parse(&bytes, &options) {
            // Whatever parsed is a valid tree: it renders, and a well-formed
            // input renders back byte for byte.
            let text = d.tree.render_proc(d.root, Reader::Privileged).unwrap();
            if d.is_well_formed() && !annotations {
                prop_assert_eq!(text.as_bytes(), &bytes[..]);
            }
            let map = infer_flags(&mut d.tree, d.root, &InferHints::default());
            prop_assert_eq!(map.len(), d.lines.len());
        }
    }

    #[test]
    fn every_valid_tree_round_trips(seed: u64, wide: bool, arch in 0u8..4) {
        let top = if wide { u64::MAX } else { 0xffff_ffff };
        let (text, count) = gen_dump(seed, top);
        prop_assume!(count > 0);
        let mut d = parse_str(&text, &ParseOptions { kind: DumpKind::Iomem, ..ParseOptions::default() })
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert!(d.is_well_formed(), "{:?}", d.notes);
        prop_assert_eq!(d.lines.len(), count);
        prop_assert_eq!(d.tree.render_proc(d.root, Reader::Privileged).unwrap(), text.clone());
        // Rendering what was parsed and parsing it again is the identity.
        let again = parse_str(&d.tree.proc_iomem(), &ParseOptions::default()).unwrap();
        let depths: Vec<usize> = d.lines.iter().map(|l| l.depth).collect();
        let depths_again: Vec<usize> = again.lines.iter().map(|l| l.depth).collect();
        prop_assert_eq!(depths, depths_again);
        let arch = [None, Some(Arch::X86), Some(Arch::Arm64), Some(Arch::Other)][arch as usize];
        let map = infer_flags(&mut d.tree, d.root, &InferHints { arch, kernel: None });
        prop_assert_eq!(map.len(), count);
        for l in &d.lines {
            let inf = map.get(l.resource).unwrap();
            // A resource of a parsed plain dump is decided by a rule, never
            // marked as annotated.
            prop_assert_ne!(inf.rule, iomem::infer::InferRule::Annotated);
            prop_assert_eq!(d.tree.get(l.resource).unwrap().flags, inf.flags);
        }
    }
}
