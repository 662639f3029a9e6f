//! The safety promise on every input, and bounded, exact handling of
//! inputs a fuzzer or a careless user would give: each test reproduces a
//! case that once told a user that virtio-mem memory could be read or
//! mapped, or cost unbounded time or memory, or lost bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::{iomem, scratch, tree_lines};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A device region nested in a firmware `Reserved` range (as some
/// hypervisors lay it out).
const NESTED: &str =
    "00100000-7ffdffff : System RAM\n100000000-3ffffffff : Reserved\n  100000000-1ffffffff : virtio0\n";

#[test]
fn a_nested_virtio_mem_region_is_refused_even_with_iomem_relaxed() {
    let dir = scratch("nested-virtio");
    let d = write(&dir, "d", NESTED.as_bytes());
    let d = d.to_str().unwrap();
    let run = iomem(&[
        "check",
        "--json",
        "--file",
        d,
        "--kernel",
        "6.1.0-56-amd64",
        "--assume",
        "iomem=relaxed",
        "0x180000000",
    ]);
    let v = run.json();
    assert_eq!(v[0]["mmap"]["result"], "EPERM", "{}", run.stdout);
    assert_eq!(v[0]["mmap"]["decided_by"]["name"], "virtio0");
    let safe = iomem(&["safe", "--json", "--file", d, "--kernel", "6.1.0-56-amd64"]).json();
    let inside = |list: &serde_json::Value| {
        list.as_array().unwrap().iter().any(|r| {
            let s = u64::from_str_radix(r["start"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
            let e = u64::from_str_radix(r["end"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
            s <= 0x1_ffff_ffff && e >= 0x1_0000_0000
        })
    };
    assert!(!inside(&safe["readable"]) && !inside(&safe["mappable"]), "{safe}");
    assert_eq!(safe["device_regions"][0]["resource"], "virtio0");
}

#[test]
fn a_virtio_mem_region_in_1_mib_blocks_is_recognised() {
    let dir = scratch("virtio-1m");
    let d = write(&dir, "d", b"00100000-7ffdffff : System RAM\n100100000-1002fffff : virtio0\n");
    let v = iomem(&["show", "--json", "--file", d.to_str().unwrap(), "--kernel", "6.1.0-56-amd64"]).json();
    let r = &v["resources"][1];
    assert_eq!(r["name"], "virtio0");
    assert_eq!(r["rule"], "virtio-mem-device-empty");
    assert_eq!(r["exclusive"]["relaxed"]["exclusive"], true, "{r}");
}

#[test]
fn safe_never_lists_a_device_region_even_where_the_kernel_allows_it() {
    let run = iomem(&["safe", "--json", "--example", "--assume", "STRICT_DEVMEM=n"]);
    let v = run.json();
    for list in ["readable", "mappable", "zero_filled"] {
        for r in v[list].as_array().unwrap() {
            let e = u64::from_str_radix(r["end"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
            let s = u64::from_str_radix(r["start"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
            assert!(e < 0x1_0000_0000 || s > 0x1_ffff_ffff, "{list} reaches the device region: {r}");
        }
    }
    // Both sides said: the kernel would allow the read below high_memory;
    // the tool says do not.
    let allowed = v["forbidden_ram"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kernel_allows_read"] == true)
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(allowed["why"], "device-managed-region");
    assert_eq!(allowed["errno"], serde_json::Value::Null);
    let text = iomem(&["safe", "--example", "--assume", "STRICT_DEVMEM=n"]);
    assert!(text.ok().contains("the kernel would allow reading it (not mapping): do not"), "{}", text.stdout);
}

#[test]
fn a_dump_without_system_ram_does_not_open_the_read_gate() {
    let dir = scratch("no-ram");
    let d = write(&dir, "d", b"fed00000-fed003ff : HPET 0\n");
    let v = iomem(&["check", "--json", "--file", d.to_str().unwrap(), "0x1000"]).json();
    assert_eq!(v[0]["read"]["result"], "EFAULT", "{v}");
    assert_eq!(v[0]["read"]["rule"], "gate.high-memory");
    let safe = iomem(&["safe", "--json", "--file", d.to_str().unwrap()]).json();
    assert_eq!(safe["readable"].as_array().unwrap().len(), 0, "{safe}");
    assert!(safe["assumptions"].to_string().contains("no System RAM"), "{safe}");
}

#[test]
fn impossible_address_widths_are_refused() {
    let dir = scratch("widths");
    let d = write(&dir, "d", NESTED.as_bytes());
    let d = d.to_str().unwrap();
    let run = iomem(&["check", "--file", d, "--arch", "arm64", "--assume", "phys_bits=0", "0x1000"]);
    let err = run.err();
    assert_eq!(run.status.code(), Some(1));
    assert!(err.contains("0-bit physical addresses are impossible") && err.contains("32 to 52"), "{err}");
    // The same width from a captured configuration.
    let root = scratch("widths-root");
    write(&root, "proc/iomem", NESTED.as_bytes());
    write(&root, "proc/sys/kernel/osrelease", b"6.1.0-56-arm64\n");
    write(&root, "boot/config-6.1.0-56-arm64", b"CONFIG_ARM64=y\nCONFIG_ARM64_PA_BITS=0\n");
    let run = iomem(&["check", "--root", root.to_str().unwrap(), "0x1000"]);
    let err = run.err();
    assert!(err.contains("config-6.1.0-56-arm64") && err.contains("impossible"), "{err}");
}

#[test]
fn a_zeroed_dump_is_refused_in_lenient_mode_too() {
    let dir = scratch("zeroed-lenient");
    let z = write(&dir, "z", b"00000000-00000000 : Reserved\n00000000-40000000 : PCI Bus 0000:00\n");
    for cmd in ["show", "safe"] {
        let run = iomem(&[cmd, "--file", z.to_str().unwrap(), "--lenient"]);
        assert!(run.err().contains("CAP_SYS_ADMIN"), "{cmd}: {}", run.stderr);
    }
}

#[test]
fn every_what_if_value_is_validated_alike() {
    for args in [
        &["safe", "--example", "--assume", "root=0"][..],
        &["safe", "--example", "--assume", "root=n"],
        &["safe", "--example", "--assume", "kernel=abc"],
        &["show", "--example", "--kernel", "garbage"],
        &["check", "--example", "--assume", "STRICT_DEVMEM=perhaps", "0x0"],
    ] {
        let run = iomem(args);
        assert_eq!(run.status.code(), Some(2), "{args:?} is a usage error: {}", run.stderr);
    }
    let run = iomem(&["safe", "--example", "--assume", "root=0"]);
    assert!(run.stderr.contains("uid=N"), "says what to write instead: {}", run.stderr);
}

#[test]
fn show_and_check_agree_on_the_same_dump() {
    // No configuration: every command assumes Debian's (IO_STRICT_DEVMEM
    // set), so the busy IOAPIC is exclusive under strict checks in both.
    let dir = scratch("one-truth");
    let d = write(&dir, "d", b"00100000-7ffdffff : System RAM\nfec00000-fec003ff : IOAPIC 0\n");
    let d = d.to_str().unwrap();
    let show = iomem(&["show", "--json", "--file", d]).json();
    let ioapic = &show["resources"][1];
    assert_eq!(ioapic["exclusive"]["strict"]["exclusive"], true, "{ioapic}");
    assert_eq!(show["kernel"]["io_strict_devmem"], true);
    assert_eq!(show["kernel"]["io_strict_devmem_assumed"], true);
    let check = iomem(&["check", "--json", "--file", d, "0xfec00000"]).json();
    assert_eq!(check[0]["mmap"]["result"], "EPERM", "{check}");
    assert_eq!(show["assumptions"], check[0]["assumptions"]);
    // And a what-if moves both.
    let show = iomem(&["show", "--json", "--file", d, "--assume", "IO_STRICT_DEVMEM=n"]).json();
    assert_eq!(show["resources"][1]["exclusive"]["strict"]["exclusive"], false);
}

#[test]
fn a_deep_chain_prints_in_bounded_width() {
    let dir = scratch("deep");
    let mut text = String::new();
    for i in 0..3000u64 {
        let indent = "  ".repeat(i.min(5) as usize);
        text.push_str(&format!("{indent}{:08x}-{:08x} : r{i}\n", i * 4096, 0xff_ffff_ffff - i * 4096));
    }
    let d = write(&dir, "deep", text.as_bytes());
    let out = iomem(&["show", "--file", d.to_str().unwrap()]);
    let lines = tree_lines(out.ok());
    assert_eq!(lines.len(), 3000);
    assert!(lines.iter().all(|l| l.len() < 200), "indentation is capped");
    assert!(lines.last().unwrap().contains("(depth 2999)"), "{}", lines.last().unwrap());
    let proc = iomem(&["show", "--format", "proc", "--file", d.to_str().unwrap()]);
    assert_eq!(proc.ok(), text, "the kernel's text is unchanged");
}

#[test]
fn a_compression_bomb_config_is_not_expanded() {
    let root = scratch("bomb");
    write(&root, "proc/iomem", b"00100000-7ffdffff : System RAM\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b'#'; 1 << 20];
    for _ in 0..40 {
        gz.write_all(&zeros).unwrap();
    }
    write(&root, "proc/config.gz", &gz.finish().unwrap());
    let run = iomem(&["check", "--root", root.to_str().unwrap(), "0x1000"]);
    run.ok();
    assert!(run.stderr.contains("config.gz: larger than"), "{}", run.stderr);
    assert!(run.stderr.len() < 400, "a short warning: {}", run.stderr);
}

#[test]
fn long_garbage_in_system_files_is_quoted_briefly_with_the_path_once() {
    let root = scratch("garbage");
    write(&root, "proc/iomem", b"00100000-7ffdffff : System RAM\n");
    let long = "x".repeat(100_000);
    write(&root, "sys/kernel/security/lockdown", long.as_bytes());
    let err = iomem(&["check", "--root", root.to_str().unwrap(), "0x1000"]).err().to_string();
    assert!(err.len() < 300, "{}", &err[..300.min(err.len())]);
    assert_eq!(err.matches("lockdown").count(), 2, "the path once, and the word in the reason: {err}");
    std::fs::remove_file(root.join("sys/kernel/security/lockdown")).unwrap();
    write(&root, "proc/sys/kernel/osrelease", b"6.1.0-56-amd64\n");
    write(&root, "boot/config-6.1.0-56-amd64", format!("CONFIG_X86_64=y\n{long}\n").as_bytes());
    let err = iomem(&["check", "--root", root.to_str().unwrap(), "0x1000"]).err().to_string();
    assert!(err.len() < 300 && err.contains("line 2"), "{}", &err[..300.min(err.len())]);
}

#[test]
fn control_characters_never_reach_the_terminal_raw() {
    let dir = scratch("escapes");
    let input = b"00000000-00000fff : A\x1b[31m\r\r\n";
    let d = write(&dir, "d", input);
    let text = iomem(&["show", "--file", d.to_str().unwrap()]);
    assert!(!text.stdout.contains('\x1b') && !text.stdout.contains('\r'), "{:?}", text.stdout);
    assert!(text.stdout.contains("A\\x{1b}[31m\\r\\r"), "{}", text.stdout);
    // The kernel's text stays byte-exact, and a round trip keeps the '\r'.
    let proc = iomem(&["show", "--format", "proc", "--file", d.to_str().unwrap()]);
    assert_eq!(proc.raw_stdout, input);
}
