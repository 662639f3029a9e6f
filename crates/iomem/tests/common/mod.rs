//! Code shared by the integration tests (and, through `#[path]`, the
//! benchmarks).

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod model;
