//! The annotated text of small dumps, compared with reviewed snapshots in
//! `tests/snapshots/`. After an intended change of the output, regenerate
//! them with `UPDATE_SNAPSHOTS=1 cargo test -p iomem-cli --test cli snapshot`
//! and review the diff before committing.

use std::path::Path;

use crate::common::{dump, iomem};

fn assert_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 creates it)", path.display()));
    if expected != actual {
        let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
        panic!(
            "{name}: output differs from {} (first differing line: {first:?})\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

/// Runs with the dump's path relative to the repository root, so the
/// header is the same on every machine.
fn show_relative(prefix: &str, extra: &[&str]) -> String {
    let path = dump(prefix);
    let rel = format!("fixtures/iomem/{}", path.file_name().unwrap().to_string_lossy());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_iomem"));
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).args(["show", "--file", &rel]).args(extra);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn two_virtio_mem_devices() {
    assert_snapshot("035-two-virtio-mem-devices", &show_relative("035", &["--kernel", "5.8.0"]));
}

#[test]
fn qemu_i440fx_guest() {
    assert_snapshot("011-qemu-i440fx", &show_relative("011", &[]));
}

#[test]
fn example() {
    assert_snapshot("example", iomem(&["show", "--example"]).ok());
}
