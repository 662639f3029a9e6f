//! `iomem diff A B`: the steps of a recording, dumps, and bad input.

use crate::common::{dump, dumps, fixtures, iomem, scratch};

fn step(name: &str) -> String {
    fixtures().join("kernel/6.1.0-56-amd64/strict-sbm2M").join(name).to_string_lossy().into_owned()
}

#[test]
fn a_grow_adds_the_driver_managed_ram_and_its_blocks() {
    let out = iomem(&["diff", &step("a-size0"), &step("b-grow-1G")]);
    let text = out.ok();
    assert!(text.contains("\n  100000000-1ffffffff  virtio0\n"), "the parent as context:\n{text}");
    assert!(text.contains("\n+   100000000-13fffffff  System RAM (virtio_mem)  [MEM|SYSRAM|"), "{text}");
    assert!(text.contains("\n+ memory32-39      online Movable\n"), "{text}");
    assert!(text.ends_with("1 added, 0 removed, 0 modified resources; 8 memory blocks changed\n"), "{text}");
}

#[test]
fn a_shrink_resizes_and_the_json_says_from_what() {
    let doc = iomem(&["diff", "--json", "--flags-from-observed", &step("b-grow-1G"), &step("c-shrink-300M")]).json();
    let r = doc["resources"].as_array().unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["change"], "modified");
    assert_eq!(r[0]["path"], serde_json::json!(["virtio0"]));
    assert_eq!((r[0]["start"].as_str(), r[0]["end"].as_str()), (Some("0x100000000"), Some("0x117ffffff")));
    assert_eq!(r[0]["old"]["end"], "0x13fffffff");
    assert!(doc["a"].as_str().unwrap().ends_with("observed/iomem-flags.txt"));
    let b = doc["blocks"].as_array().unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["change"], "removed");
    assert_eq!(b[0]["blocks"], serde_json::json!([35, 39]));
    assert_eq!(b[0]["old"]["state"], "online");
    assert!(b[0]["new"].is_null());
}

#[test]
fn the_driver_claims_its_region_exclusive() {
    let doc = iomem(&["diff", "--json", &step("0-nodriver"), &step("a-size0")]).json();
    let r = &doc["resources"][0];
    assert_eq!((r["change"].as_str(), r["name"].as_str()), (Some("added"), Some("virtio0")));
    assert_eq!(r["flags"]["flags"], serde_json::json!(["MEM", "SYSRAM", "EXCLUSIVE"]));
}

/// Whatever two real dumps are compared, the changes account for every
/// resource: |B| = |A| + added − removed (each with the resources below it),
/// and a dump compared with itself has no change.
#[test]
fn changes_account_for_every_resource_of_real_dumps() {
    let all = dumps();
    let count = |p: &std::path::Path| {
        iomem(&["show", "--json", "--lenient", "--file", p.to_str().unwrap()]).json()["resources"]
            .as_array()
            .unwrap()
            .len() as i64
    };
    let mut pairs = 0;
    for w in all.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let out = iomem(&["diff", "--json", "--lenient", a.to_str().unwrap(), b.to_str().unwrap()]);
        if !out.status.success() {
            // An ioports dump next to an iomem one, or a zeroed dump:
            // refused, with the reason.
            assert!(
                out.stderr.contains("compare like with like") || out.stderr.contains("every address is zero"),
                "{}",
                out.stderr
            );
            continue;
        }
        let doc = out.json();
        let mut delta = 0i64;
        for c in doc["resources"].as_array().unwrap() {
            let n = 1 + c["descendants"].as_i64().unwrap();
            match c["change"].as_str().unwrap() {
                "added" => delta += n,
                "removed" => delta -= n,
                _ => {}
            }
        }
        assert_eq!(count(b), count(a) + delta, "{} -> {}", a.display(), b.display());
        assert!(doc["blocks"].is_null(), "dumps have no memory blocks");
        pairs += 1;
    }
    assert!(pairs >= 15, "{pairs}");
    let one = dump("003");
    let same = iomem(&["diff", one.to_str().unwrap(), one.to_str().unwrap()]);
    assert!(same.ok().ends_with("0 added, 0 removed, 0 modified resources\n"), "{}", same.stdout);
}

#[test]
fn bad_input_is_named() {
    let missing = iomem(&["diff", &step("a-size0"), "/nonexistent/dump"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(missing.err().contains("reading B (/nonexistent/dump)"), "{}", missing.stderr);
    let dir = scratch("diff-bad");
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "00000000-00000fff : Reserved\nnot a line\n").unwrap();
    let out = iomem(&["diff", bad.to_str().unwrap(), &step("a-size0")]);
    assert!(out.err().contains("reading A") && out.stderr.contains("line 2"), "{}", out.stderr);
    let usage = iomem(&["diff", &step("a-size0")]);
    assert_eq!(usage.status.code(), Some(2));
}
