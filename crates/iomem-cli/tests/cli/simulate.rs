//! `iomem simulate`: the built-in story, scenario files, replays of the
//! recordings (with the conformance table and the exit status), the
//! captured systems it writes (read back by `show` and `check`), JSON, and
//! errors.

use crate::common::{fixtures, iomem, repo, scratch, unwrapped};

#[test]
fn replaying_a_recording_matches_and_writes_captured_systems() {
    let out = scratch("sim-replay");
    let rec = fixtures().join("kernel/6.1.0-56-amd64/strict-sbm2M");
    let run = iomem(&["simulate", "--replay", rec.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let text = run.ok();
    assert!(text.contains("conformance with the recording"), "{text}");
    assert!(text.contains("all 21 checks match"), "{text}");
    assert!(text.contains("64× UNPLUG nb_blocks=64") || text.contains("5× UNPLUG nb_blocks=64"), "{text}");
    // The simulated step reads like the recorded one.
    let step = out.join("c-shrink-300M");
    let recorded = std::fs::read(rec.join("c-shrink-300M/proc/iomem")).unwrap();
    let shown = iomem(&["show", "--format", "proc", "--root", step.to_str().unwrap()]);
    assert_eq!(shown.raw_stdout, recorded);
    let check = iomem(&["check", "--json", "--root", step.to_str().unwrap(), "0x117e00000"]).json();
    assert_eq!(check[0]["mmap"]["result"], "EPERM");
}

#[test]
fn a_differing_recording_fails_with_the_first_difference() {
    let dir = scratch("sim-edited");
    let rec = fixtures().join("kernel/6.1.0-56-amd64/unload");
    copy(&rec, &dir);
    let log = dir.join("b-grow-512M/observed/requests.log");
    let t = std::fs::read_to_string(&log).unwrap().replace("addr=0x118000000", "addr=0x110000000");
    std::fs::write(&log, t).unwrap();
    let run = iomem(&["simulate", "--replay", dir.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stdout.contains("b-grow-512M requests: line 8:"), "{}", run.stdout);
    assert!(run.stderr.contains("differs from the recording in 1 checks"), "{}", run.stderr);
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn the_scenario_example_runs_as_json() {
    let v = iomem(&["simulate", "--json", repo().join("docs/scenario.toml").to_str().unwrap()]).json();
    assert_eq!(v["schema_version"], 1);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 10, "the start and nine steps");
    assert_eq!(steps[2]["devices"][0]["plugged_size"], 2u64 << 30);
    assert_eq!(steps[2]["devices"][0]["addr"], "0x140000000");
    assert!(steps.iter().all(|s| s["invariants"].as_array().unwrap().iter().all(|i| i["ok"] == true)));
    assert_eq!(v["conformance"].as_array().unwrap().len(), 0);
}

#[test]
fn trace_prints_every_request() {
    let rec = fixtures().join("kernel/6.1.0-56-amd64/strict-bbm1G");
    let run = iomem(&["simulate", "--trace", rec.to_str().unwrap()]);
    assert!(run.ok().contains("    virtio_mem_plug_request addr=0x140000000 nb_blocks=1"), "{}", run.stdout);
}

#[test]
fn scenario_mistakes_are_errors_with_line_and_field() {
    let dir = scratch("sim-bad");
    let f = dir.join("bad.toml");
    std::fs::write(&f, "[[device]]\nsize = \"4G\"\n[[step]]\naction = \"resize\"\nsize = \"much\"\n").unwrap();
    let run = iomem(&["simulate", f.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stderr.contains("bad.toml:5: step[0].size: \"much\" is not a size"), "{}", run.stderr);
    let run = iomem(&["simulate", "--replay", dir.to_str().unwrap()]);
    assert!(run.err().contains("not a recording"), "{}", run.stderr);
    let run = iomem(&["simulate", dir.join("missing.toml").to_str().unwrap()]);
    assert!(run.err().contains("missing.toml"), "{}", run.stderr);
}

#[test]
fn the_built_in_story_with_no_argument() {
    let run = iomem(&["simulate"]);
    let text = &unwrapped(run.ok());
    for expected in [
        "machine: built-in",
        "grow-8G: the host asks vm0 for 8 GiB",
        "64× PLUG nb_blocks=64 → ACK",
        "(not reached: the driver retries later)",
        "/dev/mem at 0x140000000: open ok, read EPERM, mmap EPERM",
        "device still has system memory added",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains("INVARIANT BROKEN"));
}
