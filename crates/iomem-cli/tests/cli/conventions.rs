//! The command's conventions: bad input on every command is an error on
//! stderr naming what and where, with exit status 1 (2 for usage errors),
//! never a panic; `--color` and `NO_COLOR`; help with examples; shell
//! completions and manual pages; tables within 80 columns.

use std::path::Path;

use crate::common::{fixtures, iomem, scratch};

/// Every failure is a one-line `iomem: error:` (or clap's usage text), and
/// never a panic.
#[track_caller]
fn fails(args: &[&str], status: i32, needle: &str) {
    let r = iomem(args);
    assert_eq!(r.status.code(), Some(status), "{args:?}: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    assert!(r.stderr.contains(needle), "{args:?}: expected {needle:?} in {}", r.stderr);
}

#[test]
fn bad_input_is_named_on_every_command() {
    let dir = scratch("conventions-bad");
    let d = |p: &str| dir.join(p).to_string_lossy().into_owned();
    std::fs::create_dir_all(dir.join("a-dir")).unwrap();
    std::fs::create_dir_all(dir.join("no-memory/proc")).unwrap();
    std::fs::copy(
        fixtures().join("kernel/6.1.0-56-amd64/strict-sbm2M/a-size0/proc/iomem"),
        dir.join("no-memory/proc/iomem"),
    )
    .unwrap();
    std::fs::write(dir.join("bad.txt"), "00000000-00000fff : Reserved\n  garbage\n").unwrap();
    std::fs::write(dir.join("bad.toml"), "[[device]]\nsize = \"4G\"\n[[step]]\naction = \"resize\"\n").unwrap();

    // Missing files.
    fails(&["show", "--file", &d("missing.txt")], 1, "missing.txt: no such file");
    fails(&["check", "--file", &d("missing.txt"), "0x1000"], 1, "no such file");
    fails(&["safe", "--file", &d("missing.txt")], 1, "no such file");
    fails(&["simulate", &d("missing.toml")], 1, "missing.toml: no such file");
    fails(&["diff", &d("missing.txt"), &d("bad.txt")], 1, "reading A");
    fails(&["blocks", "--root", &d("missing")], 1, "not a directory");
    // A directory where a file belongs, and a file where a directory does.
    fails(&["show", "--file", &d("a-dir")], 1, "a directory, where a file belongs");
    fails(&["safe", "--file", &d("a-dir")], 1, "a directory, where a file belongs");
    fails(&["show", "--root", &d("bad.txt")], 1, "not a directory");
    fails(&["simulate", &d("a-dir")], 1, "a directory without scenario.txt");
    fails(&["simulate", "--replay", &d("a-dir")], 1, "not a recording");
    // Malformed dumps and scenarios: line and what.
    fails(&["show", "--file", &d("bad.txt")], 1, "line 2");
    fails(&["check", "--file", &d("bad.txt"), "0x0"], 1, "line 2");
    fails(&["safe", "--file", &d("bad.txt")], 1, "line 2");
    fails(&["simulate", &d("bad.toml")], 1, "bad.toml:4: step[0].size");
    // Impossible addresses are usage errors.
    fails(&["check", "--example", "0xzz"], 2, "not a 64-bit hexadecimal number");
    fails(&["check", "--example", "0x10-0x5"], 2, "the end is below the start");
    fails(&["check", "--example", "0xffffffffffffffff+2"], 2, "passes the end of the 64-bit space");
    fails(&["check", "--example", "0x1000+0"], 2, "the length is zero");
    // A root without memory blocks; a dump has none.
    fails(&["blocks", "--root", &d("no-memory")], 1, "sys/devices/system/memory: no such directory");
    fails(&["blocks", "--file", &d("bad.txt")], 1, "a /proc/iomem dump has no memory blocks");
    // Usage errors.
    fails(&["show", "--example", "--file", &d("bad.txt")], 2, "cannot be used with");
    fails(&["frobnicate"], 2, "unrecognized subcommand");
    fails(&["show", "--color", "sometimes"], 2, "invalid value");
}

#[test]
fn unreadable_files_name_the_permission() {
    // Root reads everything; the case exists for everybody else.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")) {
        eprintln!("running as root: unreadable files cannot be made; skipped");
        return;
    }
    let dir = scratch("conventions-perm");
    let f = dir.join("secret.txt");
    std::fs::write(&f, "00000000-00000fff : Reserved\n").unwrap();
    std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    fails(&["show", "--file", f.to_str().unwrap()], 1, "permission denied");
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let has_escape = |args: &[&str]| iomem(args).ok().contains('\x1b');
    assert!(has_escape(&["show", "--example", "--color", "always"]));
    assert!(has_escape(&["check", "--example", "0x100000000", "--color=always"]));
    assert!(!has_escape(&["show", "--example"]), "a pipe is not a terminal");
    assert!(!has_escape(&["show", "--example", "--color", "never"]));
    assert!(!has_escape(&["show", "--example", "--json", "--color", "always"]), "JSON is never coloured");
    assert!(!has_escape(&["show", "--example", "--format", "proc", "--color", "always"]));
    let with_no_color = std::process::Command::new(env!("CARGO_BIN_EXE_iomem"))
        .args(["show", "--example", "--color", "auto"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&with_no_color.stdout).contains('\x1b'));
}

#[test]
fn every_command_helps_with_examples() {
    for cmd in ["show", "check", "safe", "blocks", "map", "diff", "simulate", "completions", "man"] {
        let help = iomem(&[cmd, "--help"]);
        let text = help.ok();
        assert!(text.contains("Examples:\n  "), "{cmd} --help has no examples:\n{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{cmd} --help is wider than 80 columns");
    }
    assert!(iomem(&["--help"]).ok().contains("Examples:"));
}

#[test]
fn completions_and_manual_pages_come_from_the_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = iomem(&["completions", shell]);
        let text = script.ok();
        for cmd in ["show", "check", "blocks", "simulate"] {
            assert!(text.contains(cmd), "{shell} completions lack {cmd}");
        }
    }
    let page = iomem(&["man"]);
    assert!(page.ok().starts_with(".ie") || page.stdout.contains(".TH iomem 1"), "{}", page.stdout);
    let dir = scratch("man-pages");
    iomem(&["man", "--dir", dir.to_str().unwrap()]).ok();
    for name in ["iomem", "iomem-show", "iomem-check", "iomem-safe", "iomem-blocks", "iomem-diff", "iomem-simulate"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.1"))).unwrap();
        assert!(text.contains(&format!(".TH {}", name.to_uppercase())), "{name}.1");
    }
    assert!(!Path::new(&dir.join("iomem-help.1")).exists());
}

#[test]
fn tables_fit_80_columns() {
    let steps = fixtures().join("kernel/6.1.0-56-amd64/strict-sbm2M/c-shrink-300M");
    let recording = fixtures().join("kernel/6.1.0-56-amd64/strict-sbm2M");
    for args in [
        vec!["blocks", "--example"],
        vec!["blocks", "--example", "--all"],
        vec!["safe", "--example"],
        vec!["check", "--example", "0x100000000-0x1ffffffff"],
        vec!["blocks", "--root", steps.to_str().unwrap()],
        vec!["simulate"],
        vec!["simulate", "--replay", recording.to_str().unwrap()],
    ] {
        let out = iomem(&args);
        for line in out.ok().lines() {
            // Only a word that cannot be broken (a long path) may be wider.
            let unbreakable = !line.trim().contains(' ');
            assert!(
                line.chars().count() <= 80 || unbreakable,
                "{args:?}: {line:?} is {} columns",
                line.chars().count()
            );
        }
    }
}
