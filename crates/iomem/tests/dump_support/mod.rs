//! Fixture access shared by `procfs_dumps.rs` and `infer_accuracy.rs`.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::{Path, PathBuf};

/// The project's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Every real dump `fixtures/iomem/NNN-*.txt`, sorted by name.
pub fn real_dumps() -> Vec<(String, Vec<u8>)> {
    let dir = fixtures().join("iomem");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixtures/iomem exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| {
            let name = p.file_name().expect("file name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("readable dump"))
        })
        .collect();
    out.sort();
    out
}

/// One recorded step of `fixtures/kernel/<kernel>/<scenario>/<step>/`.
#[derive(Debug)]
pub struct Step {
    pub kernel: String,
    pub scenario: String,
    pub step: String,
    pub dir: PathBuf,
}

impl Step {
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.kernel, self.scenario, self.step)
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(rel)).unwrap_or_else(|e| panic!("{}: {rel}: {e}", self.label()))
    }

    pub fn has(&self, rel: &str) -> bool {
        self.dir.join(rel).exists()
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name().expect("file name").to_string_lossy().into_owned()
}

/// Every step directory of every scenario of every kernel, sorted.
pub fn kernel_steps() -> Vec<Step> {
    let mut out = Vec::new();
    for k in subdirs(&fixtures().join("kernel")) {
        for s in subdirs(&k) {
            for st in subdirs(&s) {
                out.push(Step { kernel: file_name(&k), scenario: file_name(&s), step: file_name(&st), dir: st });
            }
        }
    }
    out
}
