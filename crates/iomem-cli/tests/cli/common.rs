//! Running the binary and finding fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The result of one run.
pub(crate) struct Run {
    pub(crate) status: std::process::ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) raw_stdout: Vec<u8>,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub(crate) fn ok(&self) -> &str {
        assert!(self.status.success(), "iomem failed: {}\nstderr: {}", self.status, self.stderr);
        &self.stdout
    }

    /// Asserts failure and returns stderr.
    #[track_caller]
    pub(crate) fn err(&self) -> &str {
        assert!(!self.status.success(), "iomem succeeded unexpectedly\nstdout: {}", self.stdout);
        &self.stderr
    }

    /// The stdout parsed as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON: {e}\n{}", self.stdout))
    }
}

/// Runs `iomem ARGS`.
pub(crate) fn iomem<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_iomem"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("the iomem binary runs");
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw_stdout: out.stdout,
    }
}

/// The repository's `fixtures/` directory.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A public dump by its number prefix (`"029"`).
pub(crate) fn dump(prefix: &str) -> PathBuf {
    let dir = fixtures().join("iomem");
    let mut found = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{prefix}-")));
    found.next().unwrap_or_else(|| panic!("no fixture {prefix}-*"))
}

/// Every public dump (`fixtures/iomem/NNN-*.txt`), sorted.
pub(crate) fn dumps() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures().join("iomem"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "txt")
                && p.file_name().unwrap().to_string_lossy().as_bytes()[0].is_ascii_digit()
        })
        .collect();
    v.sort();
    v
}

/// Every recorded step directory (`fixtures/kernel/K/S/STEP/` with a
/// `proc/iomem`), sorted.
pub(crate) fn steps() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for kernel in subdirs(&fixtures().join("kernel")) {
        for scenario in subdirs(&kernel) {
            for step in subdirs(&scenario) {
                if step.join("proc/iomem").is_file() {
                    v.push(step);
                }
            }
        }
    }
    v.sort();
    v
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect()
}

/// A fresh scratch directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("iomem-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Lines of the tree part of the text output (not the `#` header, not the
/// legend).
pub(crate) fn tree_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#') && !l.starts_with("Legend:")).collect()
}

/// Human output with its line wrapping undone (each line break and the
/// indentation after it become one space), so phrases can be searched
/// whatever the wrapping.
pub(crate) fn unwrapped(text: &str) -> String {
    text.split('\n').map(str::trim).collect::<Vec<_>>().join(" ")
}
