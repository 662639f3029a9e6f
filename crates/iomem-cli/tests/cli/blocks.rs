//! `iomem blocks`: the rows util-linux `lsmem` prints, on every captured
//! system of the recordings (compared with the real lsmem when it is
//! installed), plus the virtio-mem device of each row, JSON and errors.

use std::process::Command;

use crate::common::{iomem, scratch, steps};

/// (RANGE, SIZE, STATE, BLOCK, ZONES) of each row, and the DEVICE of ours
/// (`device`). ZONES may be empty (lsmem shows none on some systems).
fn fields(text: &str, device: bool) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let mut t: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            let dev = if device { t.pop() } else { None };
            if t.len() == 4 {
                t.push(String::new());
            }
            t.extend(dev);
            t
        })
        .collect()
}

fn lsmem(args: &[&str]) -> Option<String> {
    let out = Command::new("lsmem").args(args).env("LC_ALL", "C").output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn rows_equal_lsmem_on_every_captured_system() {
    let have_lsmem = lsmem(&["--version"]).is_some();
    let mut compared = 0;
    for step in steps() {
        if !step.join("sys/devices/system/memory").is_dir() {
            continue;
        }
        let dir = step.to_str().unwrap();
        for all in [false, true] {
            let mut args = vec!["blocks", "--sysroot", dir];
            if all {
                args.push("--all");
            }
            let ours = iomem(&args);
            let ours: Vec<Vec<String>> = fields(ours.ok(), true)
                .into_iter()
                .map(|mut r| {
                    r.truncate(5);
                    r
                })
                .collect();
            assert!(!ours.is_empty(), "{dir}");
            if have_lsmem {
                let mut l = vec!["--sysroot", dir, "-o", "RANGE,SIZE,STATE,BLOCK,ZONES"];
                if all {
                    l.push("--all");
                }
                let theirs = fields(&lsmem(&l).expect("lsmem runs"), false);
                assert_eq!(ours, theirs, "{dir} (all={all})");
                compared += 1;
            }
        }
    }
    if have_lsmem {
        assert!(compared >= 100, "compared {compared} outputs");
    } else {
        eprintln!("lsmem is not installed: rows checked for shape only");
    }
}

#[test]
fn the_device_column_and_the_summary() {
    let out = iomem(&["blocks", "--example"]);
    let text = out.ok();
    let rows = fields(text, true);
    assert_eq!(
        rows.last().unwrap(),
        &["0x0000000100000000-0x0000000117ffffff", "384M", "online", "32-34", "Movable", "virtio0"]
    );
    assert_eq!(rows[0][5], "-", "boot memory belongs to no device");
    assert!(text.contains("Memory block size:      128M"), "{text}");
    assert!(text.contains("Total online memory:    2.4G"), "{text}");
}

#[test]
fn json_numbers_are_integers() {
    let v = iomem(&["blocks", "--example", "--json"]).json();
    let last = v["memory"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["start"], 0x1_0000_0000u64);
    assert_eq!(last["end"], 0x1_17ff_ffffu64);
    assert_eq!(last["size"], 384u64 << 20);
    assert_eq!(last["blocks"], serde_json::json!([32, 34]));
    assert_eq!(last["zones"], serde_json::json!(["Movable"]));
    assert_eq!(last["device"], "virtio0");
    assert_eq!(v["block_size"], 128u64 << 20);
}

#[test]
fn systems_without_memory_blocks_say_why() {
    let dir = scratch("blocks-none");
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    std::fs::write(dir.join("proc/iomem"), "00100000-7ffdffff : System RAM\n").unwrap();
    let run = iomem(&["blocks", "--root", dir.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stderr.contains("sys/devices/system/memory: no such directory"), "{}", run.stderr);
    let f = dir.join("proc/iomem");
    let run = iomem(&["blocks", "--file", f.to_str().unwrap()]);
    assert!(run.err().contains("a /proc/iomem dump has no memory blocks"), "{}", run.stderr);
    // A garbled block size.
    std::fs::create_dir_all(dir.join("sys/devices/system/memory/memory1")).unwrap();
    std::fs::write(dir.join("sys/devices/system/memory/block_size_bytes"), "lots\n").unwrap();
    let run = iomem(&["blocks", "--root", dir.to_str().unwrap()]);
    assert!(run.err().contains("block_size_bytes: \"lots\" is not a power-of-two hex number"), "{}", run.stderr);
}
