//! End-to-end tests of the `iomem` binary: each runs the real executable on
//! real data (the recordings in `fixtures/kernel/`, the public dumps in
//! `fixtures/iomem/`) and checks what it prints. One test binary with
//! modules, to keep linking cheap.

mod blocks;
mod check;
mod common;
mod conventions;
mod diff;
mod example;
mod file;
mod inference;
mod json_schema;
mod live;
mod map;
mod promise;
mod root;
mod simulate;
mod snapshot;
mod verdicts;
