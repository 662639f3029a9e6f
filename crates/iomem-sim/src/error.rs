//! Errors with what, where and why.

use std::path::{Path, PathBuf};

/// Why a machine, a scenario or a recording cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file could not be read or written.
    #[error("{}: {}", path.display(), explain(error))]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said (in the message, so not a `source` too).
        error: std::io::Error,
    },
    /// A file's contents are not what they must be.
    #[error("{}: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A scenario file is wrong at a line.
    #[error("{}:{line}: {field}: {what}", path.display())]
    Scenario {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// The field (`steps[2].action`, ...).
        field: String,
        /// What is wrong.
        what: String,
    },
    /// A step cannot be carried out on this machine.
    #[error("step {step}: {what}")]
    Step {
        /// The step's name.
        step: String,
        /// What is wrong.
        what: String,
    },
}

impl SimError {
    pub(crate) fn io(path: impl AsRef<Path>, error: std::io::Error) -> SimError {
        SimError::Io { path: path.as_ref().to_path_buf(), error }
    }

    pub(crate) fn invalid(path: impl AsRef<Path>, what: impl Into<String>) -> SimError {
        SimError::Invalid { path: path.as_ref().to_path_buf(), what: what.into() }
    }
}

/// An I/O error in words.
fn explain(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::IsADirectory => "a directory, where a file belongs".to_string(),
        _ => e.to_string(),
    }
}
