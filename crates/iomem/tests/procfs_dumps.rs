//! `/proc/iomem` and `/proc/ioports` text: every real dump of
//! `fixtures/iomem/` parses as the table below says and, where it is
//! well-formed, renders back byte for byte; every kind of malformed input
//! (the held-out kinds of `SOURCES.md` included) gets an error naming the
//! line, the column, the field and the problem; lenient mode keeps the rest;
//! the recordings' annotated trees (`observed/iomem-flags.txt`) give the
//! exact flags and the same tree as `proc/iomem`.

mod dump_support;

use dump_support::{fixtures, kernel_steps, real_dumps};
use iomem::procfs::{
    DumpError, DumpKind, Field, MAX_INDENT_DEPTH, Note, NoteKind, ParseError, ParseOptions, ParsedDump, Problem,
    Reader, parse, parse_str,
};
use iomem::{Desc, Flags, Range, ResourceSpec, ResourceTree};

// ---------------------------------------------------------------------------
// The real dumps
// ---------------------------------------------------------------------------

/// What parsing a real dump with default options must give.
#[derive(Debug)]
enum Expect {
    /// Parses; nothing skipped or noted; renders back byte for byte.
    WellFormed,
    /// Parses with exactly these notes.
    Notes(&'static [(usize, NoteKind)]),
    /// Strict mode fails at (line, column, field); lenient mode skips
    /// exactly these lines and keeps the rest.
    StrictError { line: usize, column: usize, field: Field, lenient_skips: &'static [usize] },
    /// Refused as an unprivileged (all-zero) dump.
    Unprivileged,
}

struct Row {
    file: &'static str,
    /// `SOURCES.md`'s kind: full / excerpt / fragment.
    source_kind: &'static str,
    /// `wc -l`.
    lines: usize,
    kind: DumpKind,
    expect: Expect,
}

const fn row(file: &'static str, source_kind: &'static str, lines: usize, kind: DumpKind, expect: Expect) -> Row {
    Row { file, source_kind, lines, kind, expect }
}

use DumpKind::{Iomem, Ioports};
use Expect::*;

/// One row per file present in `fixtures/iomem/` (the held-out files of
/// `SOURCES.md` are covered by the synthetic cases further down).
const TABLE: &[Row] = &[
    row("001-x86_64-xen-hvm-aws-m1large-amzn2.txt", "full", 23, Iomem, WellFormed),
    row("003-x86_64-thinkpad-x250-arch-5.3.txt", "full", 84, Iomem, WellFormed),
    row("005-mips-playstation2-frno7.txt", "full", 14, Iomem, WellFormed),
    row("007-x86_64-hyperv-gen2-coreos-sosreport.txt", "full", 20, Iomem, WellFormed),
    row("009-arm64-android-xiaomi-sweet-sm7150.txt", "full", 255, Iomem, WellFormed),
    row("011-x86_64-qemu-i440fx-e1000.txt", "full", 28, Iomem, WellFormed),
    row("013-arm32-android-qcom-jiofi-jmr540.txt", "full", 21, Iomem, WellFormed),
    row("015-x86_64-intel-alderlake-laptop-64bit-bars.txt", "full", 119, Iomem, WellFormed),
    // Empty names are what the kernel prints; the trailing blank line is not.
    row("017-arm64-android-hisilicon-kirin-empty-names.txt", "full", 142, Iomem, Notes(&[(142, NoteKind::BlankLine)])),
    row("019-x86_64-qemu-q35-nonroot-zeroed.txt", "full", 46, Iomem, Unprivileged),
    row("021-x86_64-desktop-intel-nvidia-vesafb-older-kernel.txt", "full", 64, Iomem, WellFormed),
    row("023-arm32-xilinx-zynq7000-amba-pl.txt", "full", 25, Iomem, WellFormed),
    row("025-x86_64-server-2.6-pci-bus-hash-zero-crashkernel.txt", "full", 49, Iomem, WellFormed),
    row("027-x86_64-cxl-physical-2windows-kmem-excerpt.txt", "excerpt", 8, Iomem, WellFormed),
    // The stray '.' before "4850000000-684fffffff : CXL Window 2".
    row(
        "029-x86_64-cxl-3windows-stray-dot-malformed-excerpt.txt",
        "excerpt",
        12,
        Iomem,
        StrictError { line: 9, column: 1, field: Field::Start, lenient_skips: &[9, 10, 11, 12] },
    ),
    row("031-x86_64-pmem-dax-kmem-excerpt.txt", "excerpt", 4, Iomem, WellFormed),
    row("033-x86_64-qemu-virtio-mem-unmerged-blocks-excerpt.txt", "excerpt", 19, Iomem, WellFormed),
    row("035-x86_64-qemu-two-virtio-mem-devices-excerpt.txt", "excerpt", 6, Iomem, WellFormed),
    row("037-x86_64-hmem-soft-reserved-dax-excerpt.txt", "excerpt", 3, Iomem, WellFormed),
    row("039-x86_64-vmware-vm-many-pcie-root-ports.txt", "full", 119, Iomem, WellFormed),
    row("041-arm64-ampere-altra-ava-workstation-12digit.txt", "full", 220, Iomem, WellFormed),
    row("043-arm64-qemu-virt-acpi-uefi-guest.txt", "full", 165, Iomem, WellFormed),
    row("045-x86_64-qemu-q35-jailhouse.ioports.txt", "full", 31, Ioports, WellFormed),
    row("047-x86_64-dell-server-megasas.ioports.txt", "full", 64, Ioports, WellFormed),
];

fn dump(file: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("iomem").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn strict() -> ParseOptions {
    ParseOptions::default()
}

fn lenient() -> ParseOptions {
    ParseOptions { lenient: true, ..ParseOptions::default() }
}

fn render(d: &ParsedDump) -> String {
    d.tree.render_proc(d.root, Reader::Privileged).expect("the dump's root is valid")
}

/// Non-blank lines of a text.
fn resource_lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count()
}

#[test]
fn the_table_covers_every_dump_present_and_agrees_with_sources_md() {
    let present: Vec<String> = real_dumps().into_iter().map(|(n, _)| n).collect();
    let listed: Vec<&str> = TABLE.iter().map(|r| r.file).collect();
    assert_eq!(present, listed, "every fixture has exactly one row, in name order");

    let sources = String::from_utf8(dump("SOURCES.md")).expect("SOURCES.md is UTF-8");
    for r in TABLE {
        let line = sources
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", r.file)))
            .unwrap_or_else(|| panic!("{} is listed in SOURCES.md", r.file));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(cells[2], r.source_kind, "{}: kind", r.file);
        assert_eq!(cells[cells.len() - 2], r.lines.to_string(), "{}: SOURCES.md line count", r.file);
        let wc = dump(r.file).iter().filter(|&&b| b == b'\n').count();
        assert_eq!(wc, r.lines, "{}: wc -l", r.file);
    }
}

#[test]
fn every_real_dump_parses_as_the_table_says() {
    for r in TABLE {
        let bytes = dump(r.file);
        let got = parse(&bytes, &strict());
        match &r.expect {
            WellFormed | Notes(_) => {
                let d = got.unwrap_or_else(|e| panic!("{}: {e}", r.file));
                assert_eq!(d.kind, r.kind, "{}", r.file);
                assert_eq!(d.lines.len(), resource_lines(&bytes), "{}: one resource per line", r.file);
                assert!(d.skipped.is_empty(), "{}", r.file);
                let expected_notes: Vec<Note> = match &r.expect {
                    Notes(n) => n.iter().map(|&(line, what)| Note { line, what }).collect(),
                    _ => Vec::new(),
                };
                assert_eq!(d.notes, expected_notes, "{}", r.file);
                assert_eq!(d.is_well_formed(), matches!(r.expect, WellFormed), "{}", r.file);
                if d.is_well_formed() {
                    assert!(render(&d).as_bytes() == &bytes[..], "{}: renders back byte for byte", r.file);
                }
                // The lines map onto the tree in order with their depths.
                let pre: Vec<(iomem::ResourceId, usize)> = d.tree.preorder(d.root).unwrap().collect();
                let from_lines: Vec<(iomem::ResourceId, usize)> =
                    d.lines.iter().map(|l| (l.resource, l.depth)).collect();
                assert_eq!(pre, from_lines, "{}", r.file);
                for l in &d.lines {
                    assert_eq!(d.line_of(l.resource), Some(l.line), "{}", r.file);
                }
            }
            StrictError { line, column, field, lenient_skips } => {
                let e = match got {
                    Err(DumpError::Line(e)) => e,
                    other => panic!("{}: expected a line error, got {other:?}", r.file),
                };
                assert_eq!((e.line, e.column, e.field), (*line, *column, *field), "{}: {e}", r.file);
                let d = parse(&bytes, &lenient()).unwrap_or_else(|e| panic!("{}: lenient: {e}", r.file));
                let skipped: Vec<usize> = d.skipped.iter().map(|s| s.line).collect();
                assert_eq!(&skipped, lenient_skips, "{}", r.file);
                assert_eq!(d.lines.len() + skipped.len(), resource_lines(&bytes), "{}", r.file);
                // The rest of the tree is intact: it renders as the input
                // without the skipped lines.
                let kept: Vec<&[u8]> = bytes
                    .split(|&b| b == b'\n')
                    .enumerate()
                    .filter(|(i, l)| !l.is_empty() && !skipped.contains(&(i + 1)))
                    .map(|(_, l)| l)
                    .collect();
                let mut expected = kept.join(&b'\n');
                expected.push(b'\n');
                assert_eq!(render(&d), String::from_utf8(expected).unwrap(), "{}", r.file);
            }
            Unprivileged => {
                assert_eq!(got.unwrap_err(), DumpError::Unprivileged { lines: r.lines }, "{}", r.file);
                assert_eq!(
                    parse(&bytes, &lenient()).unwrap_err(),
                    DumpError::Unprivileged { lines: r.lines },
                    "{}: lenient mode refuses it too",
                    r.file
                );
            }
        }
    }
}

#[test]
fn dump_029_reports_the_stray_dot_and_lenient_mode_explains_each_skip() {
    let bytes = dump("029-x86_64-cxl-3windows-stray-dot-malformed-excerpt.txt");
    let Err(DumpError::Line(e)) = parse(&bytes, &strict()) else { panic!("029 must fail") };
    assert_eq!(e.problem, Problem::Unexpected { found: "'.'".into(), expected: "a hex digit" });
    assert_eq!(
        e.to_string(),
        "line 9, column 1 (start address): expected a hex digit, found '.' in \".4850000000-684fffffff : CXL Window 2\""
    );
    let d = parse(&bytes, &lenient()).unwrap();
    for (s, line) in d.skipped[1..].iter().zip(10..) {
        assert_eq!((s.line, s.field, &s.problem), (line, Field::Indent, &Problem::ParentSkipped { parent_line: 9 }));
    }
    // The two complete CXL chains are kept.
    assert_eq!(d.lines.len(), 8);
}

#[test]
fn dump_017_renders_back_without_its_trailing_blank_line() {
    let bytes = dump("017-arm64-android-hisilicon-kirin-empty-names.txt");
    let d = parse(&bytes, &strict()).unwrap();
    let text = render(&d);
    assert_eq!(format!("{text}\n").as_bytes(), &bytes[..]);
    // The empty names survive (the line ends in ": ").
    assert!(text.contains("e804b000-e804bfff : \n"));
    let empty = d.lines.iter().filter(|l| d.tree.get(l.resource).unwrap().name == Some("")).count();
    assert_eq!(empty, 2);
}

#[test]
fn ioports_dumps_are_recognised_forced_and_rendered_with_the_ioport_width() {
    for file in ["045-x86_64-qemu-q35-jailhouse.ioports.txt", "047-x86_64-dell-server-megasas.ioports.txt"] {
        let bytes = dump(file);
        let auto = parse(&bytes, &strict()).unwrap();
        assert_eq!(auto.kind, Ioports);
        assert_eq!(auto.root, auto.tree.ioport_root());
        assert_eq!(auto.tree.config().ioport_end, 0xffff);
        assert_eq!(auto.tree.iomem_root(), auto.tree.iomem_root());
        assert_eq!(auto.tree.child_count(auto.tree.iomem_root()).unwrap(), 0);
        assert_eq!(auto.tree.proc_ioports().as_bytes(), &bytes[..]);
        // Forcing --ioports gives the same; forcing iomem renders 8 wide,
        // which the parser notes on every line.
        let forced = parse(&bytes, &ParseOptions { kind: Ioports, ..strict() }).unwrap();
        assert_eq!(render(&forced), render(&auto));
        let as_iomem = parse(&bytes, &ParseOptions { kind: Iomem, ..strict() }).unwrap();
        assert_eq!(as_iomem.kind, Iomem);
        assert_eq!(as_iomem.notes.len(), resource_lines(&bytes));
        assert!(as_iomem.notes.iter().all(|n| n.what == NoteKind::NumberFormat));
    }
    // "megasas: LSI" contains ": " and is kept whole.
    let d = parse(&dump("047-x86_64-dell-server-megasas.ioports.txt"), &strict()).unwrap();
    assert!(d.lines.iter().any(|l| d.tree.get(l.resource).unwrap().name == Some("megasas: LSI")));

    // An arm64 /proc/ioports (16 MiB port space) is printed 8 wide: forced
    // --ioports reads it exactly.
    let arm = "00000000-0000ffff : PCI Bus 0000:00\n  00001000-00001fff : PCI Bus 0000:01\n";
    let d = parse_str(arm, &ParseOptions { kind: Ioports, ..strict() }).unwrap();
    assert!(d.is_well_formed());
    assert_eq!(d.tree.config().ioport_end, 0x00ff_ffff);
    assert_eq!(render(&d), arm);
    // Forced --ioports with 4-digit starts but a port above 0xffff: the root
    // must be wider, so the 4-digit numbers are not the kernel's.
    let d = parse_str("0000-1ffff : wide\n", &ParseOptions { kind: Ioports, ..strict() }).unwrap();
    assert_eq!(d.notes, vec![Note { line: 1, what: NoteKind::NumberFormat }]);
    assert_eq!(render(&d), "00000000-0001ffff : wide\n");
}

// ---------------------------------------------------------------------------
// Unprivileged form
// ---------------------------------------------------------------------------

/// The unprivileged form of a dump, computed from the text alone: each
/// address replaced by zeros of the root's minimum width.
fn zeroed(text: &str, width: usize) -> String {
    let zero = "0".repeat(width);
    text.lines()
        .map(|l| {
            let indent = l.len() - l.trim_start_matches(' ').len();
            let (_, rest) = l.split_once(" : ").expect("resource line");
            format!("{}{zero}-{zero} : {rest}\n", " ".repeat(indent))
        })
        .collect()
}

#[test]
fn unprivileged_rendering_zeroes_every_address_at_the_root_width() {
    for (file, width) in [
        ("011-x86_64-qemu-i440fx-e1000.txt", 8),
        ("041-arm64-ampere-altra-ava-workstation-12digit.txt", 8),
        ("045-x86_64-qemu-q35-jailhouse.ioports.txt", 4),
    ] {
        let text = String::from_utf8(dump(file)).unwrap();
        let d = parse_str(&text, &strict()).unwrap();
        let hidden = d.tree.render_proc(d.root, Reader::Unprivileged).unwrap();
        assert_eq!(hidden, zeroed(&text, width), "{file}");
        // The zeroed text is recognised for what it is.
        assert_eq!(
            parse_str(&hidden, &strict()).unwrap_err(),
            DumpError::Unprivileged { lines: d.lines.len() },
            "{file}"
        );
    }
    // The recorded non-root dump has exactly this form.
    let d019 = String::from_utf8(dump("019-x86_64-qemu-q35-nonroot-zeroed.txt")).unwrap();
    assert_eq!(zeroed(&d019, 8), d019);
}

#[test]
fn zeroed_dumps_are_refused_in_every_shape() {
    // A second zeroed dump (the held-out 042 kind), an ioport one, one with
    // a malformed line among the zeros, and one with a blank last line.
    let cases = [
        ("00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n  00000000-00000000 : Kernel code\n", 3),
        ("0000-0000 : PCI Bus 0000:00\n  0000-0000 : dma1\n", 2),
        ("00000000-00000000 : Reserved\n\t00000000-00000000 : x\n00000000-00000000 : System RAM\n", 3),
        ("00000000-00000000 : Reserved\n   \n", 1),
    ];
    for (text, lines) in cases {
        assert_eq!(parse_str(text, &strict()).unwrap_err(), DumpError::Unprivileged { lines }, "{text:?}");
        assert_eq!(parse_str(text, &lenient()).unwrap_err(), DumpError::Unprivileged { lines }, "{text:?}");
    }
    // One zero-sized resource at 0 inside a real dump is not a zeroed dump
    // (025's "00000000-00000000 : Crash kernel").
    let d = parse_str("00000000-0009ebff : System RAM\n  00000000-00000000 : Crash kernel\n", &strict()).unwrap();
    assert_eq!(d.lines.len(), 2);
    let msg = DumpError::Unprivileged { lines: 46 }.to_string();
    assert!(msg.contains("CAP_SYS_ADMIN") && msg.contains("46 lines"), "{msg}");
}

// ---------------------------------------------------------------------------
// Malformed input: every Problem
// ---------------------------------------------------------------------------

fn strict_error(text: &[u8]) -> ParseError {
    match parse(text, &strict()) {
        Err(DumpError::Line(e)) => e,
        other => panic!("{:?}: expected a line error, got {other:?}", String::from_utf8_lossy(text)),
    }
}

fn assert_error(text: &[u8], line: usize, column: usize, field: Field, problem: Problem) -> ParseError {
    let e = strict_error(text);
    assert_eq!((e.line, e.column, e.field, &e.problem), (line, column, field, &problem), "{e}");
    // The message names the place and quotes the line.
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("line {line}, column {column} ({field}): ")), "{msg}");
    assert!(msg.contains(&format!("{:?}", e.text.chars().take(80).collect::<String>())), "{msg}");
    e
}

fn unexpected(found: &str, expected: &'static str) -> Problem {
    Problem::Unexpected { found: found.into(), expected }
}

#[test]
fn a_missing_separator_is_reported_where_it_goes_wrong() {
    assert_error(b"00000000-00000fff Reserved\n", 1, 19, Field::Separator, unexpected("'R'", SEP));
    assert_error(b"00000000-00000fff: Reserved\n", 1, 18, Field::Separator, unexpected("':'", SEP));
    assert_error(b"00000000-00000fff\n", 1, 18, Field::Separator, unexpected("end of line", SEP));
    assert_error(b"00000000-00000fff :Reserved\n", 1, 20, Field::Separator, unexpected("'R'", SEP));
    // A non-hex character inside the end address ends the number there.
    assert_error(b"00000000-0000zfff : x\n", 1, 14, Field::Separator, unexpected("'z'", SEP));
}

const SEP: &str = "' : ' between the end address and the name";

#[test]
fn malformed_addresses_name_the_field() {
    assert_error(b"0000000g-00000fff : x\n", 1, 8, Field::Dash, unexpected("'g'", "'-' after the start address"));
    assert_error(b"00000000 00000fff : x\n", 1, 9, Field::Dash, unexpected("a space", "'-' after the start address"));
    assert_error(b"00000000-: x\n", 1, 10, Field::End, unexpected("':'", "a hex digit"));
    assert_error(b"x0000000-00000fff : x\n", 1, 1, Field::Start, unexpected("'x'", "a hex digit"));
    assert_error(b"  \xc3\xa9-1 : x\n", 1, 3, Field::Start, unexpected("byte 0xc3", "a hex digit"));
}

#[test]
fn too_long_hex_is_refused_but_extra_leading_zeros_are_only_noted() {
    assert_error(b"10000000000000000-10000000000000001 : x\n", 1, 1, Field::Start, Problem::TooLong { digits: 17 });
    assert_error(b"00000000-10000000000000000 : x\n", 1, 10, Field::End, Problem::TooLong { digits: 17 });
    let d = parse_str("00000000000000000000001000-ffffffffffffffff : x\n", &strict()).unwrap();
    assert_eq!(d.notes, vec![Note { line: 1, what: NoteKind::NumberFormat }]);
    assert_eq!(render(&d), "00001000-ffffffffffffffff : x\n");
}

#[test]
fn an_inverted_range_is_reported_at_the_end_address() {
    assert_error(
        b"00000000-000fffff : A\n  00002000-00001fff : B\n",
        2,
        12,
        Field::End,
        Problem::Inverted { start: 0x2000, end: 0x1fff },
    );
}

#[test]
fn overlapping_or_unordered_siblings_are_refused() {
    let e = assert_error(
        b"00000000-00000fff : A\n00000800-00001fff : B\n",
        2,
        1,
        Field::Line,
        Problem::NotAfterSibling {
            range: Range::new(0x800, 0x1fff),
            sibling_range: Range::new(0, 0xfff),
            sibling_line: 1,
        },
    );
    assert!(e.to_string().contains("siblings never overlap"), "{e}");
    // Descending order, nested.
    assert_error(
        b"00000000-0000ffff : P\n  00002000-00002fff : A\n  00001000-00001fff : B\n",
        3,
        3,
        Field::Line,
        Problem::NotAfterSibling {
            range: Range::new(0x1000, 0x1fff),
            sibling_range: Range::new(0x2000, 0x2fff),
            sibling_line: 2,
        },
    );
}

#[test]
fn a_child_outside_its_parent_is_refused() {
    assert_error(
        b"00001000-00001fff : A\n  00000000-00001fff : B\n",
        2,
        3,
        Field::Line,
        Problem::OutsideParent {
            range: Range::new(0, 0x1fff),
            parent_range: Range::new(0x1000, 0x1fff),
            parent_line: 1,
        },
    );
}

#[test]
fn orphan_indented_lines_are_refused_and_skipped_leniently() {
    // The held-out 012 kind: a fragment whose parents were cut away.
    let text = "  fe000000-fe003fff : virtio-pci-modern\n\
                100000000-1ffffffff : virtio0\n\
                \x20   100000000-117ffffff : System RAM (virtio_mem)\n\
                \x20 118000000-11fffffff : System RAM (virtio_mem)\n";
    let e = assert_error(text.as_bytes(), 1, 1, Field::Indent, Problem::Orphan { depth: 1, above: None });
    assert!(e.to_string().contains("no resource line above"), "{e}");
    let d = parse_str(text, &lenient()).unwrap();
    let skipped: Vec<(usize, Problem)> = d.skipped.iter().map(|s| (s.line, s.problem.clone())).collect();
    assert_eq!(
        skipped,
        vec![(1, Problem::Orphan { depth: 1, above: None }), (3, Problem::Orphan { depth: 2, above: Some(0) })]
    );
    assert_eq!(
        render(&d),
        "100000000-1ffffffff : virtio0\n  118000000-11fffffff : System RAM (virtio_mem)\n",
        "the rest of the tree is kept"
    );
    assert!(!d.is_well_formed());
    // In strict mode the second orphan is reported once the first is gone.
    let e = strict_error(text.split_once('\n').unwrap().1.as_bytes());
    assert_eq!((e.line, e.column, e.problem), (2, 1, Problem::Orphan { depth: 2, above: Some(0) }));
}

#[test]
fn three_leading_spaces_on_the_first_line_are_an_odd_indent() {
    // The held-out 040 kind.
    let text = "   00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n00100000-7ffdffff : System RAM\n  01000000-01e01d31 : Kernel code\n";
    let e = assert_error(text.as_bytes(), 1, 1, Field::Indent, Problem::OddIndent { spaces: 3 });
    assert!(e.to_string().contains("two spaces per level"), "{e}");
    let d = parse_str(text, &lenient()).unwrap();
    assert_eq!(d.skipped.len(), 1);
    assert_eq!((d.skipped[0].line, &d.skipped[0].problem), (1, &Problem::OddIndent { spaces: 3 }));
    assert_eq!(render(&d), text.split_once('\n').unwrap().1);
}

#[test]
fn tabs_are_not_indentation() {
    assert_error(
        b"00000000-000fffff : A\n\t00001000-00001fff : B\n",
        2,
        1,
        Field::Indent,
        unexpected("a tab", "spaces for indentation"),
    );
    assert_error(
        b"00000000-000fffff : A\n  \t00001000-00001fff : B\n",
        2,
        3,
        Field::Indent,
        unexpected("a tab", "spaces for indentation"),
    );
    // Lenient: the tab line and what is nested below it go, the rest stays.
    let text = "00000000-000fffff : A\n\t00001000-00001fff : B\n  00001000-00001fff : C\n00100000-001fffff : D\n";
    let d = parse_str(text, &lenient()).unwrap();
    let skipped: Vec<(usize, Field)> = d.skipped.iter().map(|s| (s.line, s.field)).collect();
    assert_eq!(skipped, vec![(2, Field::Indent), (3, Field::Indent)]);
    assert_eq!(d.skipped[1].problem, Problem::ParentSkipped { parent_line: 2 });
    assert_eq!(render(&d), "00000000-000fffff : A\n00100000-001fffff : D\n");
}

/// A chain nested `depth` deep, each level one page smaller at the top.
fn chain(depth: usize) -> (ResourceTree, String) {
    let mut t = ResourceTree::default();
    let mut parent = t.iomem_root();
    let mut text = String::new();
    for d in 0..depth {
        let end = 0xffff - d as u64 * 0x1000;
        let name = t.name_new(&format!("level{d}"));
        let r = t.create(ResourceSpec::new(0, end, name, Flags::MEM)).unwrap();
        t.request_resource(parent, r).unwrap();
        let indent = 2 * d.min(MAX_INDENT_DEPTH);
        text.push_str(&format!("{:indent$}00000000-{end:08x} : level{d}\n", ""));
        parent = r;
    }
    (t, text)
}

#[test]
fn the_depth_cap_prints_ten_spaces_and_parses_back_by_containment() {
    let (t, text) = chain(7);
    let rendered = t.proc_iomem();
    assert_eq!(rendered, text);
    let indents: Vec<usize> = rendered.lines().map(|l| l.len() - l.trim_start().len()).collect();
    assert_eq!(indents, [0, 2, 4, 6, 8, 10, 10]);
    let d = parse_str(&rendered, &strict()).unwrap();
    assert!(d.is_well_formed());
    let depths: Vec<usize> = d.lines.iter().map(|l| l.depth).collect();
    assert_eq!(depths, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(render(&d), rendered);

    // After the 7-deep chain, a 10-space line inside level5 but outside
    // level6 is level6's sibling (depth 6); one inside level4 only is at
    // depth 5; one at 10 spaces inside nothing at depth >= 4 is refused.
    let more = format!("{rendered}          0000a000-0000afff : sib6\n          0000b000-0000bfff : sib5\n");
    let d = parse_str(&more, &strict()).unwrap();
    let depths: Vec<usize> = d.lines.iter().map(|l| l.depth).collect();
    assert_eq!(depths, [0, 1, 2, 3, 4, 5, 6, 6, 5]);
    assert_eq!(render(&d), more);
    let bad = format!("{rendered}          00010000-00010fff : outside\n");
    let e = strict_error(bad.as_bytes());
    assert_eq!((e.line, e.column, e.field), (8, 11, Field::Line));
    assert!(matches!(e.problem, Problem::OutsideParent { parent_line: 5, .. }), "{e}");
    // More than 10 spaces is never printed by the kernel.
    let deep = format!("{rendered}            00000000-00000fff : deeper\n");
    assert_error(deep.as_bytes(), 8, 1, Field::Indent, Problem::TooDeep { spaces: 12 });
}

#[test]
fn names_print_as_is_empty_names_and_bad_names_included() {
    // An empty name leaves the line ending in ": ".
    let text = "e804b000-e804bfff : \n";
    let d = parse_str(text, &strict()).unwrap();
    assert!(d.is_well_formed());
    assert_eq!(d.tree.get(d.lines.get(0).unwrap().resource).unwrap().name, Some(""));
    assert_eq!(render(&d), text);
    // Names with brackets, colons and trailing spaces are kept verbatim.
    let text = "b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]\nc0000000-c0000fff : megasas: LSI  \n";
    let d = parse_str(text, &strict()).unwrap();
    assert_eq!(render(&d), text);
    // A resource without a name prints <BAD>; reading that back gives the
    // text "<BAD>", which renders the same.
    let mut t = ResourceTree::default();
    let r =
        t.create(ResourceSpec { range: Range::new(0x1000, 0x1fff), name: None, flags: Flags::MEM, desc: Desc::NONE });
    t.request_resource(t.iomem_root(), r.unwrap()).unwrap();
    assert_eq!(t.proc_iomem(), "00001000-00001fff : <BAD>\n");
    let d = parse_str(&t.proc_iomem(), &strict()).unwrap();
    assert_eq!(d.tree.get(d.lines.get(0).unwrap().resource).unwrap().name, Some("<BAD>"));
    assert_eq!(render(&d), t.proc_iomem());
}

#[test]
fn a_corrupted_non_utf8_name_is_refused_or_decoded_lossily() {
    // The held-out 032 kind.
    let text = b"00000000-00000fff : Res\xffrved\n00001000-0009fbff : System RAM\n";
    assert_error(text, 1, 24, Field::Name, Problem::NameEncoding { byte: 0xff });
    let d = parse(text, &lenient()).unwrap();
    assert!(d.skipped.is_empty());
    assert_eq!(d.notes, vec![Note { line: 1, what: NoteKind::LossyName }]);
    assert_eq!(d.tree.get(d.lines.get(0).unwrap().resource).unwrap().name, Some("Res\u{fffd}rved"));
    assert_eq!(d.lines.len(), 2);
    // Printable garbage is just a name: the kernel prints names as-is.
    let odd = "00000000-00000fff : Re$erv#d \u{7f}x\n";
    assert_eq!(render(&parse_str(odd, &strict()).unwrap()), odd);
}

#[test]
fn parsed_lines_give_each_line_its_number_resource_depth_and_annotation() {
    // A blank line shifts the numbering; a capped indentation resolves by
    // containment; an annotated line keeps its flags.
    let text = "00000000-00000fff : Reserved\n\n\
                00100000-7fffffff : System RAM\n\
                \x20 01000000-01ffffff : Kernel code\n";
    let d = parse_str(text, &lenient()).unwrap();
    let got: Vec<(usize, usize, Option<&str>)> =
        d.lines.iter().map(|l| (l.line, l.depth, d.tree.get(l.resource).unwrap().name)).collect();
    assert_eq!(got, [(1, 0, Some("Reserved")), (3, 0, Some("System RAM")), (4, 1, Some("Kernel code"))]);
    assert_eq!(d.lines.len(), 3);
    assert!(!d.lines.is_empty());
    assert_eq!(d.lines.get(3), None);
    assert_eq!(d.lines.iter().len(), 3);
    assert_eq!(d.lines.iter().rev().map(|l| l.line).collect::<Vec<_>>(), [4, 3, 1]);
    assert_eq!((&d.lines).into_iter().map(|l| l.line).sum::<usize>(), 8);
    for l in &d.lines {
        assert_eq!(d.line_of(l.resource), Some(l.line));
        assert!(!l.annotated);
    }
    assert_eq!(d.line_of(d.root), None, "the root is no line");

    // A freed resource's slot reused by another: the line's handle still
    // says where it came from; the newcomer, in the same slot, is no line.
    let mut d = d;
    let kernel = d.lines.get(2).unwrap().resource;
    d.tree.release_resource(kernel).unwrap();
    d.tree.free(kernel).unwrap();
    let name = d.tree.name_new("new");
    let newcomer = d.tree.create(ResourceSpec::new(0x100, 0x1ff, name, Flags::MEM)).unwrap();
    assert_eq!(newcomer.slot(), kernel.slot(), "the slot is reused");
    assert_eq!(d.line_of(kernel), Some(4));
    assert_eq!(d.line_of(newcomer), None);

    let annotated = "00000000-00000fff : Reserved [flags=0x80000200 MEM|BUSY desc=RESERVED]\n";
    let d = parse_str(annotated, &ParseOptions { annotations: true, ..strict() }).unwrap();
    assert!(d.lines.get(0).unwrap().annotated);
}

#[test]
fn lenient_mode_keeps_the_rest_of_the_tree_and_reports_each_skipped_line() {
    let text = "00000000-00000fff : Reserved\n\
                00001000-0009fbff : System RAM\n\
                \x20 00002000-00001fff : inverted\n\
                \x20   00002000-00002fff : below inverted\n\
                \x20 00003000-00003fff : fine\n\
                00090000-000a0fff : overlaps System RAM\n\
                \x20 00090000-00090fff : below overlap\n\
                000c0000-000c9bff : Video ROM\n";
    let d = parse_str(text, &lenient()).unwrap();
    let skipped: Vec<(usize, usize, Field)> = d.skipped.iter().map(|s| (s.line, s.column, s.field)).collect();
    assert_eq!(
        skipped,
        vec![(3, 12, Field::End), (4, 1, Field::Indent), (6, 1, Field::Line), (7, 1, Field::Indent)],
        "{:#?}",
        d.skipped
    );
    assert_eq!(d.skipped[1].problem, Problem::ParentSkipped { parent_line: 3 });
    assert_eq!(d.skipped[3].problem, Problem::ParentSkipped { parent_line: 6 });
    assert_eq!(
        render(&d),
        "00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n  00003000-00003fff : fine\n000c0000-000c9bff : Video ROM\n"
    );
    // Every line skipped: the first reason is the error.
    let e = parse_str("  00000000-00000fff : A\n", &lenient()).unwrap_err();
    assert!(matches!(e, DumpError::Line(ParseError { line: 1, field: Field::Indent, .. })), "{e}");
    assert_eq!(parse_str("", &lenient()).unwrap_err(), DumpError::Empty);
    assert_eq!(parse_str(" \n\n", &strict()).unwrap_err(), DumpError::Empty);
}

// ---------------------------------------------------------------------------
// Notes: parsed, but not byte for byte what the kernel prints
// ---------------------------------------------------------------------------

fn notes(text: &[u8]) -> (Vec<Note>, String) {
    let d = parse(text, &strict()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!d.is_well_formed());
    let r = render(&d);
    (d.notes, r)
}

fn note(line: usize, what: NoteKind) -> Note {
    Note { line, what }
}

#[test]
fn every_note_kind() {
    let canonical = "00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n";
    // Whitespace-only last line (the held-out 030 kind) and a blank line.
    assert_eq!(
        notes(b"00000000-00000fff : Reserved\n\n00001000-0009fbff : System RAM\n \t \n"),
        (vec![note(2, NoteKind::BlankLine), note(4, NoteKind::BlankLine)], canonical.into())
    );
    // CRLF line ends: noted, and the '\r' stays in the name (the kernel
    // prints names verbatim and a name may end in '\r'), so the text
    // renders back byte for byte and a render-parse round trip is exact.
    let crlf = "00000000-00000fff : Reserved\r\n00001000-0009fbff : System RAM\r\n";
    assert_eq!(
        notes(crlf.as_bytes()),
        (vec![note(1, NoteKind::CarriageReturn), note(2, NoteKind::CarriageReturn)], crlf.into())
    );
    let d = parse(b"00000000-00000fff : A\r\r\n", &strict()).unwrap();
    assert_eq!(d.tree.get(d.lines.get(0).unwrap().resource).unwrap().name, Some("A\r\r"));
    let again = parse(render(&d).as_bytes(), &strict()).unwrap();
    assert_eq!(render(&again), render(&d));
    // Upper-case hex, short and over-long padding.
    assert_eq!(
        notes(b"00000000-00000FFF : Reserved\n1000-9fbff : System RAM\n"),
        (vec![note(1, NoteKind::NumberFormat), note(2, NoteKind::NumberFormat)], canonical.into())
    );
    assert_eq!(
        notes(b"000000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n"),
        (vec![note(1, NoteKind::NumberFormat)], canonical.into())
    );
    // " :" with the trailing space of an empty name trimmed.
    assert_eq!(
        notes(b"e804b000-e804bfff :\n"),
        (vec![note(1, NoteKind::MissingSpaceAfterColon)], "e804b000-e804bfff : \n".into())
    );
    // No newline at the end.
    assert_eq!(
        notes(b"00000000-00000fff : Reserved\n00001000-0009fbff : System RAM"),
        (vec![note(2, NoteKind::NoFinalNewline)], canonical.into())
    );
    // Lossy name (lenient only): see a_corrupted_non_utf8_name_...
    let d = parse(b"00000000-00000fff : \xfe\n", &lenient()).unwrap();
    assert_eq!(d.notes, vec![note(1, NoteKind::LossyName)]);
    // Several at once come out in line order.
    let d = parse(b"00000000-00000FFF : Reserved\r\n\r\n00001000-0009fbff : System RAM", &strict()).unwrap();
    assert_eq!(
        d.notes,
        vec![
            note(1, NoteKind::CarriageReturn),
            note(1, NoteKind::NumberFormat),
            // A lone "\r" is a blank line.
            note(2, NoteKind::BlankLine),
            note(3, NoteKind::NoFinalNewline),
        ]
    );
    assert_eq!(note(2, NoteKind::BlankLine).to_string(), "line 2: blank or whitespace-only line ignored");
}

// ---------------------------------------------------------------------------
// Annotated dumps: observed/iomem-flags.txt
// ---------------------------------------------------------------------------

/// The flags and descriptor of an annotated line, read independently of the
/// parser: `... [flags=0xHHHHHHHH NAMES desc=NAME]`.
fn annotation_of(line: &str) -> (u32, String) {
    let (_, ann) = line.rsplit_once(" [flags=0x").expect("annotated line");
    let ann = ann.strip_suffix(']').expect("closing bracket");
    let (hex, rest) = ann.split_once(' ').expect("flags then names");
    let desc = rest.rsplit_once(" desc=").expect("desc").1;
    (u32::from_str_radix(hex, 16).expect("hex flags"), desc.to_string())
}

fn shape(d: &ParsedDump) -> Vec<(usize, Range, String)> {
    d.lines
        .iter()
        .map(|l| {
            let v = d.tree.get(l.resource).unwrap();
            (l.depth, v.range, v.name.unwrap_or("<BAD>").to_string())
        })
        .collect()
}

#[test]
fn every_annotated_tree_parses_exactly_and_equals_its_proc_iomem() {
    let options = ParseOptions { annotations: true, ..strict() };
    let mut steps = 0;
    for step in kernel_steps().into_iter().filter(|s| s.has("observed/iomem-flags.txt")) {
        let label = step.label();
        let text = String::from_utf8(step.read("observed/iomem-flags.txt")).unwrap();
        let annotated = parse_str(&text, &options).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(annotated.is_well_formed(), "{label}");
        assert!(annotated.lines.iter().all(|l| l.annotated), "{label}");
        for (l, src) in annotated.lines.iter().zip(text.lines()) {
            let v = annotated.tree.get(l.resource).unwrap();
            let (bits, desc) = annotation_of(src);
            assert_eq!(v.flags.bits(), bits, "{label}: {src}");
            assert_eq!(v.desc.to_string(), desc, "{label}: {src}");
        }
        let plain_bytes = step.read("proc/iomem");
        let plain = parse(&plain_bytes, &strict()).unwrap_or_else(|e| panic!("{label}: proc/iomem: {e}"));
        assert!(plain.is_well_formed(), "{label}");
        assert_eq!(shape(&annotated), shape(&plain), "{label}: same names, ranges and nesting");
        assert!(render(&annotated).as_bytes() == &plain_bytes[..], "{label}");
        steps += 1;
    }
    assert_eq!(steps, 50, "every recorded step with flags");
}

#[test]
fn malformed_annotations_are_reported() {
    let options = ParseOptions { annotations: true, ..strict() };
    let err = |text: &str| match parse_str(text, &options) {
        Err(DumpError::Line(e)) => e,
        other => panic!("{text:?}: {other:?}"),
    };
    let e = err("00000000-00000fff : Reserved\n");
    assert_eq!((e.column, e.field), (29, Field::Annotation));
    assert_eq!(e.problem, Problem::Annotation("missing ' [flags=' at the end"));
    let e = err("00000000-00000fff : Reserved [flags=0x80000200 MEM desc=RESERVED]\n");
    assert_eq!((e.column, e.problem), (37, Problem::Annotation("the decoded flag names do not match the flag word")));
    let e = err("00000000-00000fff : Reserved [flags=0x80000200 MEM|BUSY desc=WHATEVER]\n");
    assert_eq!(e.problem, Problem::Annotation("unknown descriptor name"));
    let e = err("00000000-00000fff : Reserved [flags=80000200 MEM|BUSY desc=NONE]\n");
    assert_eq!(e.problem, Problem::Annotation("the flag word must start with 0x"));
    let e = err("00000000-00000fff : Reserved [flags=0x180000200 MEM|BUSY desc=NONE]\n");
    assert_eq!(e.problem, Problem::Annotation("the flag word is not a 32-bit hex number"));
    let e = err("00000000-00000fff : Reserved [flags=0x80000200 MEM|BUSY desc=NONE\n");
    assert_eq!(e.problem, Problem::Annotation("the annotation does not end with ']'"));
    // A name that itself contains brackets keeps them.
    let d = parse_str(
        "b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff] [flags=0x80000200 MEM|BUSY desc=NONE]\n",
        &options,
    )
    .unwrap();
    let v = d.tree.get(d.lines.get(0).unwrap().resource).unwrap();
    assert_eq!((v.name, v.flags.bits(), v.desc), (Some("PCI MMCONFIG 0000 [bus 00-ff]"), 0x8000_0200, Desc::NONE));
}

#[test]
fn annotated_rendering_equals_every_recorded_flags_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kernel");
    let mut checked = 0;
    for kernel in std::fs::read_dir(&root).unwrap() {
        let kernel = kernel.unwrap().path();
        if !kernel.is_dir() {
            continue;
        }
        for scenario in std::fs::read_dir(&kernel).unwrap() {
            let scenario = scenario.unwrap().path();
            if !scenario.is_dir() {
                continue;
            }
            for step in std::fs::read_dir(&scenario).unwrap() {
                let file = step.unwrap().path().join("observed/iomem-flags.txt");
                let Ok(text) = std::fs::read(&file) else { continue };
                let options = ParseOptions { annotations: true, ..ParseOptions::default() };
                let d = parse(&text, &options).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                let rendered = d.tree.render_annotated(d.root).unwrap();
                assert_eq!(rendered.as_bytes(), &text[..], "{}", file.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "{checked}");
}
