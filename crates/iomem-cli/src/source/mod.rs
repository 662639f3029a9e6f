//! Where the system comes from: the running machine (`/`), a captured system
//! (`--root DIR`, a directory that mirrors `/`), a saved dump alone
//! (`--file PATH`) or the built-in recording (`--example`).
//!
//! Every command reads its inputs through [`Source`], by path relative to the
//! system's root (`proc/iomem`, `proc/cmdline`, `boot/config-RELEASE`, ...),
//! so that a later command needing more files (`sys/kernel/security/lockdown`,
//! the memory block states) gets them from the same four kinds of systems
//! without knowing which one it was given.

mod example;

use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub(crate) use example::PROVENANCE as EXAMPLE_PROVENANCE;

use iomem::procfs::DumpKind;

/// `proc/iomem`, relative to a system root.
pub(crate) const PROC_IOMEM: &str = "proc/iomem";
/// `proc/ioports`, relative to a system root.
pub(crate) const PROC_IOPORTS: &str = "proc/ioports";
/// `proc/cmdline`, relative to a system root.
pub(crate) const PROC_CMDLINE: &str = "proc/cmdline";
/// `proc/sys/kernel/osrelease` (what `uname -r` prints).
pub(crate) const PROC_OSRELEASE: &str = "proc/sys/kernel/osrelease";
/// The recordings' tree with real flags (fixtures/kernel/README.md).
pub(crate) const OBSERVED_FLAGS: &str = "observed/iomem-flags.txt";
/// `proc/config.gz` (CONFIG_IKCONFIG_PROC).
pub(crate) const CONFIG_GZ: &str = "proc/config.gz";

/// The most a small system file (command line, configuration, lockdown,
/// credentials, cpuinfo, the PAT list, ...) may hold: far above any real
/// one (a distribution's kernel configuration is ~300 KiB, cpuinfo of a
/// 512-CPU machine ~1 MiB), far below what would hurt. Dumps are not
/// capped: a real `/proc/iomem` grows with the machine.
pub(crate) const SMALL_FILE_LIMIT: u64 = 16 << 20;

/// A system to read files from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The running machine: files under `/`.
    Live,
    /// A captured system: `DIR/proc/iomem`, `DIR/proc/cmdline`, ...
    Root(PathBuf),
    /// A saved dump and nothing else of its system.
    File(PathBuf),
    /// The built-in recording of a real machine ([`EXAMPLE_PROVENANCE`]).
    Example,
}

/// Why a file of the system could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    /// The file does not exist.
    #[error("{path}: no such file")]
    Missing {
        /// The file.
        path: String,
    },
    /// Any other I/O error.
    #[error("{path}: {}", explain_io(error))]
    Io {
        /// The file.
        path: String,
        /// What the OS said (not a `source`: the message already says it).
        error: io::Error,
    },
    /// `--root` does not name a directory.
    #[error("{path}: not a directory (--root wants a directory that mirrors /, holding proc/iomem)")]
    NotADirectory {
        /// The path given.
        path: String,
    },
    /// A file the built-in example does not have.
    #[error("the built-in example has no {what}")]
    NotInExample {
        /// What was asked for.
        what: &'static str,
    },
    /// `--flags-from-observed` without the observed tree.
    #[error(
        "{path}: no such file; --flags-from-observed needs the real flags that the recordings keep \
         in observed/iomem-flags.txt"
    )]
    NoObservedFlags {
        /// The missing file.
        path: String,
    },
    /// `--flags-from-observed` together with `--ioports`.
    #[error("observed flags exist for /proc/iomem only, not for /proc/ioports")]
    ObservedIoports,
    /// A small system file is larger than any real one.
    #[error("{path}: larger than {limit} bytes, which no real {what} is; not read")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit.
        limit: u64,
        /// What the file should be.
        what: &'static str,
    },
    /// `proc/config.gz` does not decompress.
    #[error("{path}: not a gzip-compressed kernel configuration ({reason})")]
    BadGzip {
        /// The file.
        path: String,
        /// What the decompressor said.
        reason: String,
    },
}

/// Which dump to read and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct DumpRequest {
    /// `/proc/ioports` instead of `/proc/iomem` (for `--file`: force the
    /// ioports reading of the dump).
    pub(crate) ioports: bool,
    /// Read `observed/iomem-flags.txt` (real flags) instead of `proc/iomem`.
    pub(crate) observed_flags: bool,
}

/// The bytes of a dump and how to parse them.
#[derive(Clone, Debug)]
pub(crate) struct DumpText {
    /// Where it came from, for messages.
    pub(crate) path: String,
    /// The file's bytes.
    pub(crate) bytes: Vec<u8>,
    /// Every line carries a `[flags=… desc=…]` annotation.
    pub(crate) annotated: bool,
    /// Which file to parse it as.
    pub(crate) kind: DumpKind,
    /// It is the running machine's own file (affects advice in errors).
    pub(crate) live: bool,
}

/// The optional facts of a system besides its dump.
#[derive(Debug, Default)]
pub(crate) struct SystemInfo {
    /// `proc/sys/kernel/osrelease`, trimmed.
    pub(crate) release: Option<String>,
    /// `proc/cmdline`, trimmed.
    pub(crate) cmdline: Option<String>,
    /// The kernel configuration's text and the file it came from
    /// (`boot/config-RELEASE`, else `proc/config.gz` decompressed).
    pub(crate) config: Option<(String, String)>,
    /// Optional files that exist but could not be read.
    pub(crate) warnings: Vec<SourceError>,
}

impl Source {
    /// A short description for headers and the JSON `source` object.
    pub(crate) fn describe(&self) -> String {
        match self {
            Source::Live => "the running machine".to_string(),
            Source::Root(dir) => format!("the captured system {}", dir.display()),
            Source::File(path) => format!("the dump {}", path.display()),
            Source::Example => format!("the built-in example: {}", example::SUMMARY),
        }
    }

    /// The JSON name of the kind of source.
    pub(crate) const fn type_name(&self) -> &'static str {
        match self {
            Source::Live => "live",
            Source::Root(_) => "root",
            Source::File(_) => "file",
            Source::Example => "example",
        }
    }

    /// How a file of the system is named in messages.
    pub(crate) fn display_path(&self, rel: &str) -> String {
        match self {
            Source::Live => format!("/{rel}"),
            Source::Root(dir) => dir.join(rel).display().to_string(),
            Source::File(path) => path.display().to_string(),
            Source::Example => format!("{}/{rel}", example::STEP),
        }
    }

    /// Reads a file of the system by its path relative to the system root;
    /// `None` if the system has no such file (a `--file` source has none
    /// but its dump).
    pub(crate) fn read(&self, rel: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let path = match self {
            Source::Live => Path::new("/").join(rel),
            Source::Root(dir) => dir.join(rel),
            Source::File(_) => return Ok(None),
            Source::Example => return Ok(example::file(rel).map(|s| s.as_bytes().to_vec())),
        };
        read_optional(&path)
    }

    /// The names in a directory of the system (`None` if it has no such
    /// directory; a `--file` source has none).
    pub(crate) fn list(&self, rel: &str) -> Result<Option<Vec<String>>, SourceError> {
        let path = match self {
            Source::Live => Path::new("/").join(rel),
            Source::Root(dir) => {
                if !dir.is_dir() {
                    return Err(SourceError::NotADirectory { path: dir.display().to_string() });
                }
                dir.join(rel)
            }
            Source::File(_) => return Ok(None),
            Source::Example => return Ok(example::list(rel)),
        };
        match std::fs::read_dir(&path) {
            Ok(entries) => {
                let mut names = Vec::new();
                for e in entries {
                    let e = e.map_err(|e| io_error(&path, e))?;
                    names.push(e.file_name().to_string_lossy().into_owned());
                }
                names.sort();
                Ok(Some(names))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path, e)),
        }
    }

    /// True if the system has a file (errors count as absent).
    pub(crate) fn has(&self, rel: &str) -> bool {
        match self {
            Source::Live => Path::new("/").join(rel).is_file(),
            Source::Root(dir) => dir.join(rel).is_file(),
            Source::File(_) => false,
            Source::Example => example::file(rel).is_some(),
        }
    }

    fn read_required(&self, rel: &str) -> Result<Vec<u8>, SourceError> {
        if let Source::Root(dir) = self {
            if !dir.is_dir() {
                return Err(SourceError::NotADirectory { path: dir.display().to_string() });
            }
        }
        self.read(rel)?.ok_or_else(|| SourceError::Missing { path: self.display_path(rel) })
    }

    /// Reads the dump to show.
    pub(crate) fn dump(&self, req: DumpRequest) -> Result<DumpText, SourceError> {
        let live = *self == Source::Live;
        let kind = if req.ioports { DumpKind::Ioports } else { DumpKind::Auto };
        match self {
            Source::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
                let annotated = looks_annotated(&bytes);
                Ok(DumpText { path: path.display().to_string(), bytes, annotated, kind, live })
            }
            Source::Example if req.ioports => Err(SourceError::NotInExample { what: "/proc/ioports" }),
            // The example is a recording with real flags: always use them.
            Source::Example => {
                let bytes = self.read_required(OBSERVED_FLAGS)?;
                Ok(DumpText { path: self.display_path(OBSERVED_FLAGS), bytes, annotated: true, kind, live })
            }
            Source::Live | Source::Root(_) if req.observed_flags => {
                if req.ioports {
                    return Err(SourceError::ObservedIoports);
                }
                let bytes = self.read_required(OBSERVED_FLAGS).map_err(|e| match e {
                    SourceError::Missing { path } => SourceError::NoObservedFlags { path },
                    e => e,
                })?;
                Ok(DumpText { path: self.display_path(OBSERVED_FLAGS), bytes, annotated: true, kind, live })
            }
            Source::Live | Source::Root(_) => {
                let rel = if req.ioports { PROC_IOPORTS } else { PROC_IOMEM };
                let bytes = self.read_required(rel)?;
                Ok(DumpText { path: self.display_path(rel), bytes, annotated: false, kind, live })
            }
        }
    }

    /// Reads a small system file (see [`SMALL_FILE_LIMIT`]); `what` names
    /// it in errors.
    pub(crate) fn read_small(&self, rel: &str, what: &'static str) -> Result<Option<Vec<u8>>, SourceError> {
        let path = match self {
            Source::Live => Path::new("/").join(rel),
            Source::Root(dir) => dir.join(rel),
            Source::File(_) | Source::Example => return self.read(rel),
        };
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        let mut bytes = Vec::new();
        file.take(SMALL_FILE_LIMIT + 1).read_to_end(&mut bytes).map_err(|e| io_error(&path, e))?;
        if bytes.len() as u64 > SMALL_FILE_LIMIT {
            return Err(SourceError::TooLarge { path: path.display().to_string(), limit: SMALL_FILE_LIMIT, what });
        }
        Ok(Some(bytes))
    }

    /// A small text file, lossily decoded; unreadable ones are recorded in
    /// `warnings` and count as absent.
    pub(crate) fn text(&self, rel: &str, what: &'static str, warnings: &mut Vec<SourceError>) -> Option<String> {
        match self.read_small(rel, what) {
            Ok(b) => b.map(|b| String::from_utf8_lossy(&b).into_owned()),
            Err(e) => {
                warnings.push(e);
                None
            }
        }
    }

    /// The kernel configuration: `boot/config-RELEASE`, else
    /// `proc/config.gz` decompressed (at most [`SMALL_FILE_LIMIT`] bytes of
    /// either, so a compression bomb costs nothing).
    fn kernel_config(&self, release: Option<&str>, warnings: &mut Vec<SourceError>) -> Option<(String, String)> {
        if let Some(release) = release {
            let rel = format!("boot/config-{release}");
            if let Some(t) = self.text(&rel, "kernel configuration", warnings) {
                return Some((self.display_path(&rel), t));
            }
        }
        let gz = self.text_bytes(CONFIG_GZ, warnings)?;
        let path = self.display_path(CONFIG_GZ);
        let mut out = Vec::new();
        let decoded = flate2::read::GzDecoder::new(&gz[..]).take(SMALL_FILE_LIMIT + 1).read_to_end(&mut out);
        match decoded {
            Err(e) => {
                warnings.push(SourceError::BadGzip { path, reason: e.to_string() });
                None
            }
            Ok(_) if out.len() as u64 > SMALL_FILE_LIMIT => {
                warnings.push(SourceError::TooLarge {
                    path,
                    limit: SMALL_FILE_LIMIT,
                    what: "kernel configuration (decompressed)",
                });
                None
            }
            Ok(_) => Some((path, String::from_utf8_lossy(&out).into_owned())),
        }
    }

    fn text_bytes(&self, rel: &str, warnings: &mut Vec<SourceError>) -> Option<Vec<u8>> {
        match self.read_small(rel, "compressed kernel configuration") {
            Ok(b) => b,
            Err(e) => {
                warnings.push(e);
                None
            }
        }
    }

    /// Reads the optional facts: kernel release, command line and
    /// configuration. `release` overrides the system's own release string
    /// (`--kernel`).
    pub(crate) fn info(&self, release: Option<&str>) -> SystemInfo {
        let mut info = SystemInfo::default();
        let trimmed = |t: Option<String>| t.map(|t| t.trim().to_string());
        let own_release = trimmed(self.text(PROC_OSRELEASE, "kernel release", &mut info.warnings));
        info.cmdline = trimmed(self.text(PROC_CMDLINE, "kernel command line", &mut info.warnings));
        info.release = release.map(str::to_string).or(own_release);
        info.config = self.kernel_config(info.release.as_deref(), &mut info.warnings);
        info
    }
}

fn io_error(path: &Path, e: io::Error) -> SourceError {
    let path = path.display().to_string();
    if e.kind() == io::ErrorKind::NotFound { SourceError::Missing { path } } else { SourceError::Io { path, error: e } }
}

/// An I/O error in words that say what to do.
pub(crate) fn explain_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::IsADirectory => {
            "a directory, where a file belongs (a captured system is read with --root DIR)".into()
        }
        io::ErrorKind::PermissionDenied => format!("permission denied ({e}); reading it needs root or a readable copy"),
        _ => e.to_string(),
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, SourceError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// True if the text is an annotated dump (the recordings'
/// `observed/iomem-flags.txt`): every non-blank line contains ` [flags=`
/// and ends with `]`.
pub(crate) fn looks_annotated(bytes: &[u8]) -> bool {
    const OPEN: &[u8] = b" [flags=";
    let mut any = false;
    for line in bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !line.ends_with(b"]") || !line.windows(OPEN.len()).any(|w| w == OPEN) {
            return false;
        }
        any = true;
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotated_detection() {
        assert!(looks_annotated(b"00000000-00000fff : Reserved [flags=0x80000200 MEM|BUSY desc=RESERVED]\n"));
        assert!(!looks_annotated(b"00000000-00000fff : Reserved\n"));
        // One plain line is enough to read the whole dump as plain text.
        assert!(!looks_annotated(b"0-1 : a [flags=0x200 MEM desc=NONE]\n2-3 : PCI MMCONFIG [bus 00-ff]\n"));
        assert!(!looks_annotated(b""));
        assert!(!looks_annotated(b"\n\n"));
    }

    #[test]
    fn example_reads_like_a_root() {
        let s = Source::Example;
        let dump = s.dump(DumpRequest::default()).unwrap();
        assert!(dump.annotated);
        assert!(s.read(PROC_IOMEM).unwrap().is_some());
        assert!(s.read("proc/nonexistent").unwrap().is_none());
        let info = s.info(None);
        assert_eq!(info.release.as_deref(), Some("6.1.0-56-amd64"));
        assert!(info.cmdline.unwrap().contains("iomem=strict"));
        assert!(info.config.is_some());
        assert!(matches!(
            s.dump(DumpRequest { ioports: true, ..Default::default() }),
            Err(SourceError::NotInExample { .. })
        ));
    }

    #[test]
    fn missing_files_are_named() {
        let s = Source::File(PathBuf::from("/nonexistent/iomem.txt"));
        let e = s.dump(DumpRequest::default()).unwrap_err();
        assert_eq!(e.to_string(), "/nonexistent/iomem.txt: no such file");
        let r = Source::Root(PathBuf::from("/nonexistent-root"));
        assert!(matches!(r.dump(DumpRequest::default()), Err(SourceError::NotADirectory { .. })));
    }
}
