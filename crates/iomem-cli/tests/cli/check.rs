//! `iomem check`: the /dev/mem verdicts of the binary against what the real
//! kernels did (fixtures/kernel/*/observed/devmem.tsv), the example, "what
//! if" assumptions and error messages.

use std::collections::BTreeMap;

use crate::common::{fixtures, iomem, unwrapped};

/// (address, fd flags) -> (op -> result) from a recording.
fn observed(step: &str) -> BTreeMap<(String, String), BTreeMap<String, (String, String)>> {
    let tsv = std::fs::read_to_string(fixtures().join("kernel").join(step).join("observed/devmem.tsv")).unwrap();
    let mut out: BTreeMap<(String, String), BTreeMap<String, (String, String)>> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let addr = format!("{:#x}", u64::from_str_radix(f[0].trim_start_matches("0x"), 16).unwrap());
        out.entry((addr, f[2].to_string())).or_default().insert(f[3].to_string(), (f[4].to_string(), f[5].to_string()));
    }
    out
}

/// Runs `check --json` for every probed address of a step, once per
/// descriptor the probe used, and compares open, 1-byte read and mmap.
fn compare_step(step: &str) -> usize {
    let obs = observed(step);
    let root = fixtures().join("kernel").join(step);
    let x86 = !step.contains("arm64");
    let mut compared = 0;
    for (fd, extra) in [("O_RDWR", vec![]), ("O_RDONLY|O_SYNC", vec!["--sync", "--rdonly"])] {
        let addrs: Vec<String> = obs.keys().filter(|(_, f)| f == fd).map(|(a, _)| a.clone()).collect();
        let mut args: Vec<String> = vec!["check".into(), "--json".into(), "--root".into(), root.display().to_string()];
        if x86 {
            // QEMU's default x86 CPU (fixtures/kernel/README.md).
            args.extend(["--assume".into(), "phys_bits=40".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(addrs.iter().cloned());
        let json = iomem(&args).json();
        let results = json.as_array().unwrap();
        assert_eq!(results.len(), addrs.len());
        for r in results {
            let addr = r["address"].as_str().unwrap().to_string();
            let ops = &obs[&(addr.clone(), fd.to_string())];
            let open = r["open"]["result"].as_str().unwrap();
            assert_eq!(open, ops["open"].0, "{step} {addr} {fd} open");
            if open != "ok" {
                compared += 1;
                continue;
            }
            let read = r["read"]["result"].as_str().unwrap();
            let (obs_read, zero) = &ops["pread1"];
            match read {
                "zeros" => assert_eq!((obs_read.as_str(), zero.as_str()), ("ok", "zero"), "{step} {addr} {fd} read"),
                other => assert_eq!(other, obs_read, "{step} {addr} {fd} read"),
            }
            let mmap = r["mmap"]["result"].as_str().unwrap();
            let obs_mmap = ops["mmap"].0.as_str();
            if r["mmap"]["uncertain"] == "memtype" && obs_mmap == "EAGAIN" {
                assert_eq!(mmap, "ok");
            } else {
                assert_eq!(mmap, obs_mmap, "{step} {addr} {fd} mmap");
            }
            compared += 1;
        }
    }
    compared
}

#[test]
fn verdicts_match_the_recorded_kernels() {
    let steps = [
        "6.1.0-56-amd64/strict-sbm2M/c-shrink-300M",
        "6.1.0-56-amd64/strict-sbm2M/a-size0",
        "6.1.0-56-amd64/relaxed-sbm2M/c-shrink-300M",
        "6.1.0-56-amd64/default-sbm2M/b-grow-1G",
        "6.1.0-56-amd64/strict-sbm2M-q35/b-grow-1G",
        "6.1.0-56-amd64/nonroot/b-grow-1G",
        "6.1.0-56-amd64/lockdown-integrity/c-shrink-300M",
        "6.12.117+deb12-amd64/strict-bbm1G/c-shrink-1G",
        "6.1.0-56-arm64/strict-sbm2M/c-shrink-300M",
    ];
    let total: usize = steps.iter().map(|s| compare_step(s)).sum();
    println!("{total} recorded probes compared");
    assert!(total > 1000, "{total} comparisons");
}

#[test]
fn example_explains_the_virtio_mem_region() {
    let run = iomem(&["check", "--example", "0x100000000", "0xfe000000"]);
    let text = &unwrapped(run.ok());
    assert!(text.contains("kernel: 6.1.0-56-amd64"), "{text}");
    assert!(text.contains("high_memory 0x140000000 (recorded)"), "{text}");
    assert!(text.contains("System RAM marked EXCLUSIVE"), "{text}");
    assert!(text.contains("iomem=relaxed would not help"), "{text}");
    assert!(text.contains("'virtio-pci-modern' [0xfe000000-0xfe003fff] (MEM|BUSY)"), "{text}");
    assert!(text.contains("booting with iomem=relaxed would make it succeed"), "{text}");

    let relaxed =
        iomem(&["check", "--example", "--json", "--assume", "iomem=relaxed", "0xfe000000", "0x100000000"]).json();
    assert_eq!(relaxed[0]["mmap"]["result"], "ok");
    assert_eq!(relaxed[1]["mmap"]["result"], "EPERM");
    assert_eq!(relaxed[1]["mmap"]["decided_by"]["name"], "virtio0");
}

#[test]
fn ranges_list_their_runs() {
    let json = iomem(&["check", "--example", "--json", "0x0+1M"]).json();
    let runs = json[0]["runs"].as_array().unwrap();
    assert!(runs.len() >= 3, "{runs:?}");
    assert_eq!(runs[0]["start"], "0x0");
    assert_eq!(runs.last().unwrap()["end"], "0xfffff");
    assert!(runs.iter().any(|r| r["read"] == "zeros" && r["page_rule"] == "page.x86-ram-first-mib"));
    assert_eq!(json[0]["read"]["data"], "partly-zeros");
}

#[test]
fn what_if_assumptions() {
    let j = iomem(&["check", "--example", "--json", "--assume", "lockdown=integrity", "0x0"]).json();
    assert_eq!(j[0]["open"]["result"], "EPERM");
    assert_eq!(j[0]["open"]["rule"], "open.lockdown");
    assert_eq!(j[0]["read"]["result"], "EPERM", "an open failure is every operation's result");
    let j = iomem(&["check", "--example", "--json", "--assume", "uid=1000", "0x0"]).json();
    assert_eq!(j[0]["open"]["result"], "EACCES");
    let j = iomem(&["check", "--example", "--json", "--assume", "DEVMEM=n", "0x0"]).json();
    assert_eq!(j[0]["open"]["result"], "ENXIO");
    let j = iomem(&["check", "--example", "--json", "--assume", "high_memory=0x7ffe0000", "0xfec00000"]).json();
    assert_eq!(j[0]["read"]["result"], "EFAULT");
    let j = iomem(&[
        "check",
        "--example",
        "--json",
        "--assume",
        "kernel=5.15.0",
        "--assume",
        "iomem=relaxed",
        "0x150000000",
    ])
    .json();
    // Before v5.16 on x86 the region is still RAM (the parent carries
    // SYSTEM_RAM): denied by the RAM test, not by exclusivity.
    assert_eq!(j[0]["mmap"]["rule"], "page.x86-ram");
    let t = iomem(&["check", "--example", "--assume", "DEVMEM=n", "0x0"]);
    assert!(t.ok().lines().next().unwrap().contains("no /dev/mem driver"), "said first: {}", t.stdout);
}

#[test]
fn the_whole_space_is_a_valid_range() {
    let j = iomem(&["check", "--example", "--json", "0-ffffffffffffffff"]).json();
    assert_eq!(j[0]["length"], "0x10000000000000000");
    assert_eq!(j[0]["runs"][0]["start"], "0x0");
    assert_eq!(j[0]["runs"].as_array().unwrap().last().unwrap()["end"], "0xffffffffffffffff");
    // No call can name 2^64 bytes: the count is capped at u64::MAX, which
    // the VFS refuses for read (count > SSIZE_MAX) and which reaches beyond
    // the 40-bit address width for mmap.
    assert_eq!(
        (j[0]["read"]["result"].as_str(), j[0]["read"]["rule"].as_str()),
        (Some("EINVAL"), Some("vfs.arguments"))
    );
    assert_eq!(j[0]["mmap"]["rule"], "mmap.phys-addr-bits");
}

#[test]
fn bad_arguments_are_explained() {
    let e = iomem(&["check", "--example", "0x2000-0x1000"]);
    assert!(e.err().contains("the end is below the start"), "{}", e.stderr);
    let e = iomem(&["check", "--example", "0xzz"]);
    assert!(e.err().contains("hexadecimal"), "{}", e.stderr);
    let e = iomem(&["check", "--example", "--assume", "frobnicate=1", "0x0"]);
    assert!(e.err().contains("iomem=relaxed|strict"), "{}", e.stderr);
    let e = iomem(&["check", "--file", "/nonexistent/dump", "0x0"]);
    assert!(e.err().contains("/nonexistent/dump: no such file"), "{}", e.stderr);
    let zeroed = fixtures().join("iomem/019-x86_64-qemu-q35-nonroot-zeroed.txt");
    let e = iomem(&["check", "--file", zeroed.to_str().unwrap(), "0x0"]);
    assert!(e.err().contains("CAP_SYS_ADMIN"), "{}", e.stderr);
}

#[test]
fn json_fields_are_documented() {
    let doc = std::fs::read_to_string(crate::common::repo().join("docs/json-schema.md")).unwrap();
    let section = doc.split("# `iomem check --json`").nth(1).expect("check section");
    let j = iomem(&["check", "--example", "--json", "0x1000", "0x0+8K"]).json();
    // Every documented top-level field is present, and every present field
    // is documented.
    let documented: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `[]."))
        .filter_map(|l| l.split('`').next())
        .filter(|f| !f.contains(' '))
        .collect();
    assert!(documented.len() >= 8, "{documented:?}");
    for obj in j.as_array().unwrap() {
        for f in &documented {
            assert!(obj.get(*f).is_some(), "documented field {f} missing");
        }
        for (k, _) in obj.as_object().unwrap() {
            assert!(
                section.contains(&format!("`[].{k}`")) || section.contains(&format!(".{k}`")),
                "undocumented field {k}"
            );
        }
        for access in ["open", "read", "write", "mmap"] {
            for (k, _) in obj[access].as_object().unwrap() {
                assert!(section.contains(&format!("`….{k}`")), "undocumented field {access}.{k}");
            }
        }
    }
}

#[test]
fn safe_ranges_of_the_example() {
    let j = iomem(&["safe", "--example", "--json"]).json();
    let forbidden = j["forbidden_ram"].as_array().unwrap();
    let virtio: Vec<_> = forbidden.iter().filter(|f| f["why"] == "device-managed-region").collect();
    assert_eq!(virtio.first().unwrap()["start"], "0x100000000");
    assert_eq!(virtio.last().unwrap()["end"], "0x1ffffffff");
    assert!(virtio.iter().all(|f| f["resource"] == "virtio0"));
    let boot = forbidden.iter().find(|f| f["why"] == "ram").unwrap();
    assert_eq!((boot["start"].as_str(), boot["errno"].as_str()), (Some("0x100000"), Some("EPERM")));
    let readable = j["readable"].as_array().unwrap();
    assert_eq!(readable[0]["start"], "0x0");
    // Nothing readable at or above high_memory (0x140000000).
    for r in readable {
        let end = u64::from_str_radix(r["end"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        assert!(end < 0x1_4000_0000, "{r}");
    }
    assert_eq!(j["zero_filled"][0]["start"], "0x1000");
    let text = unwrapped(iomem(&["safe", "--example"]).ok());
    assert!(text.contains("must never be touched"), "{text}");
}

#[test]
fn pat_memtypes_settle_the_o_sync_question() {
    // A captured system with the PAT list: the ACPI range is held
    // write-back, so an O_SYNC mapping conflicts (EAGAIN) — no caveat left.
    let dir = std::env::temp_dir().join(format!("iomem-pat-{}", std::process::id()));
    let step = fixtures().join("kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M");
    for rel in ["proc/iomem", "proc/cmdline", "proc/sys/kernel/osrelease", "boot/config-6.1.0-56-amd64"] {
        let to = dir.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(step.join(rel), to).unwrap();
    }
    let pat = dir.join("sys/kernel/debug/x86/pat_memtype_list");
    std::fs::create_dir_all(pat.parent().unwrap()).unwrap();
    std::fs::write(&pat, "PAT memtype list:\nPAT: [mem 0x000000007ffe0000-0x000000007ffe2000] write-back\n").unwrap();
    let root = dir.display().to_string();
    let j = iomem(&["check", "--json", "--sync", "--rdonly", "--root", &root, "0x7ffe0000", "0x7fff0000"]).json();
    assert_eq!(j[0]["mmap"]["result"], "EAGAIN");
    assert_eq!(j[0]["mmap"]["rule"], "mmap.memtype-conflict");
    assert_eq!(j[1]["mmap"]["result"], "ok");
    assert_eq!(j[1]["mmap"]["uncertain"], serde_json::Value::Null);
    std::fs::write(&pat, "PAT: [mem 0x7ffe0000-oops] write-back\n").unwrap();
    let run = iomem(&["check", "--json", "--sync", "--root", &root, "0x7ffe0000"]);
    assert!(run.stderr.contains("pat_memtype_list line 1"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}
