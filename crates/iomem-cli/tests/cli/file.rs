//! `iomem show --file`: the public dumps of `fixtures/iomem/`.

use crate::common::{dump, dumps, fixtures, iomem, scratch, tree_lines};

/// The dumps that cannot be shown as they are.
const ZEROED: &str = "019";
const MALFORMED: &str = "029";

#[test]
fn well_formed_dumps_round_trip_byte_for_byte() {
    let mut exact = 0;
    for path in dumps() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with(ZEROED) || name.starts_with(MALFORMED) {
            continue;
        }
        let run = iomem(&["show", "--format", "proc", "--file", path.to_str().unwrap()]);
        let input = std::fs::read(&path).unwrap();
        assert!(run.status.success(), "{name}: {}", run.stderr);
        if run.stderr.is_empty() {
            assert_eq!(run.raw_stdout, input, "{name}: well-formed input must come back byte for byte");
            exact += 1;
        } else {
            // Not the kernel's exact text: each difference is named, and
            // the output is the kernel's rendering, not the input.
            assert!(run.stderr.lines().all(|l| l.starts_with("iomem: note: ") && l.contains(": line ")), "{name}");
            assert_ne!(run.raw_stdout, input, "{name}: a note was printed, so the text differs");
        }
    }
    assert!(exact >= 15, "only {exact} dumps round-tripped");
}

#[test]
fn dumps_with_formatting_quirks_are_noted() {
    // 017 ends with a blank line, which the kernel never prints.
    let path = dump("017");
    let run = iomem(&["show", "--format", "proc", "--file", path.to_str().unwrap()]);
    assert!(run.stderr.contains("blank line ignored"), "{}", run.stderr);
    let input = std::fs::read_to_string(&path).unwrap();
    assert_eq!(run.ok(), input.trim_end_matches(['\n', ' ']).to_string() + "\n");
}

#[test]
fn zeroed_dump_is_refused_with_the_reason() {
    let path = dump(ZEROED);
    let run = iomem(&["show", "--file", path.to_str().unwrap()]);
    let err = run.err();
    assert!(err.contains("CAP_SYS_ADMIN"), "{err}");
    assert!(err.contains(&path.display().to_string()), "names the file: {err}");
    assert!(err.contains("as root"), "says how to fix it: {err}");
    assert_eq!(err.lines().count(), 1, "one line per problem: {err}");
}

#[test]
fn malformed_dump_names_line_and_column() {
    let path = dump(MALFORMED);
    let run = iomem(&["show", "--file", path.to_str().unwrap()]);
    let err = run.err();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("line 9, column 1"), "{err}");
    assert!(err.contains("'.'"), "says what is wrong: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn lenient_skips_the_malformed_lines_with_warnings() {
    let path = dump(MALFORMED);
    let run = iomem(&["show", "--lenient", "--file", path.to_str().unwrap()]);
    let text = run.ok();
    assert!(run.stderr.contains("warning"), "{}", run.stderr);
    assert!(run.stderr.contains("line 9, column 1"), "{}", run.stderr);
    // Line 9 and the three lines nested below it are skipped: four warnings.
    assert_eq!(run.stderr.lines().filter(|l| l.contains("warning")).count(), 4, "{}", run.stderr);
    assert!(text.contains("CXL Window 1"));
    assert!(!text.contains("CXL Window 2"));
    assert_eq!(tree_lines(text).len(), 8);
}

#[test]
fn ioports_dumps_are_recognised_and_forced() {
    for prefix in ["045", "047"] {
        let path = dump(prefix);
        let input = std::fs::read(&path).unwrap();
        let auto = iomem(&["show", "--json", "--file", path.to_str().unwrap()]).json();
        assert_eq!(auto["kind"], "ioports", "{prefix}");
        let first = &auto["resources"][0];
        assert_eq!(first["flags"][0], "IO");
        assert!(first["exclusive"].is_null(), "no /dev/mem exclusivity for ports");
        for args in [&["--format", "proc"][..], &["--format", "proc", "--ioports"][..]] {
            let mut all = vec!["show"];
            all.extend(args);
            all.extend(["--file", path.to_str().unwrap()]);
            let run = iomem(&all);
            assert_eq!(run.raw_stdout, input, "{prefix} {args:?}: {}", run.stderr);
        }
        let text = iomem(&["show", "--file", path.to_str().unwrap()]).ok().to_string();
        assert!(text.starts_with(&format!("# {}", path.display())), "{text}");
        // The ioport root's 4-digit width, and no exclusive-mark column.
        assert!(tree_lines(&text)[0].starts_with("0000-"), "{text}");
    }
}

#[test]
fn forcing_ioports_on_an_iomem_dump_uses_the_wide_root() {
    // An iomem dump read as ioports: its addresses exceed 0xffff, so the
    // ioport root is widened and the 8-digit rule applies.
    let path = dump("011");
    let doc = iomem(&["show", "--ioports", "--json", "--file", path.to_str().unwrap()]).json();
    assert_eq!(doc["kind"], "ioports");
    let run = iomem(&["show", "--ioports", "--format", "proc", "--file", path.to_str().unwrap()]);
    assert_eq!(run.raw_stdout, std::fs::read(&path).unwrap());
}

#[test]
fn missing_file_is_named() {
    let run = iomem(&["show", "--file", "/nonexistent/dir/iomem.txt"]);
    let err = run.err();
    assert!(err.contains("/nonexistent/dir/iomem.txt: no such file"), "{err}");
}

#[test]
fn annotated_dumps_are_detected() {
    let dir = scratch("annotated");
    let src = fixtures().join("kernel/6.12.117+deb12-amd64/strict-sbm2M/c-shrink-300M/observed/iomem-flags.txt");
    let copy = dir.join("flags.txt");
    std::fs::copy(&src, &copy).unwrap();
    let doc = iomem(&["show", "--json", "--file", copy.to_str().unwrap()]).json();
    assert_eq!(doc["flags_from"], "annotations");
    assert!(doc["kernel"]["release"].is_null(), "a lone file says nothing about its kernel");
    let virtio = doc["resources"].as_array().unwrap().iter().find(|r| r["name"] == "virtio0").unwrap().clone();
    assert_eq!(virtio["flags_value"], 0x0900_0200);
    // Without a kernel, mainline rules: SYSTEM_RAM|EXCLUSIVE decides.
    assert_eq!(virtio["exclusive"]["relaxed"]["exclusive"], true);
    // The kernel text of an annotated dump is the plain /proc/iomem.
    let run = iomem(&["show", "--format", "proc", "--file", copy.to_str().unwrap()]);
    let proc = std::fs::read(src.parent().unwrap().parent().unwrap().join("proc/iomem")).unwrap();
    assert_eq!(run.raw_stdout, proc);
    // A damaged annotation is an error at its line.
    let text = std::fs::read_to_string(&src).unwrap().replacen("desc=NONE]", "desc=BOGUS]", 1);
    std::fs::write(&copy, text).unwrap();
    let err = iomem(&["show", "--file", copy.to_str().unwrap()]).err().to_string();
    assert!(err.contains("line 2,") && err.contains("flags annotation"), "{err}");
}

#[test]
fn kernel_override_selects_the_rules() {
    // Before v5.16 a SYSTEM_RAM|EXCLUSIVE region is not exclusive under
    // iomem=relaxed (spec §6.6).
    let src = fixtures().join("kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M/observed/iomem-flags.txt");
    let old = iomem(&["show", "--json", "--kernel", "5.15.0", "--file", src.to_str().unwrap()]).json();
    assert_eq!(old["kernel"]["rules_version"], "5.15.0");
    let virtio = old["resources"].as_array().unwrap().iter().find(|r| r["name"] == "virtio0").unwrap().clone();
    assert_eq!(virtio["exclusive"]["relaxed"]["exclusive"], false);
}
