//! Parsing a dump into a tree, with errors that name the file and, for a
//! zeroed dump, say why and how to get a real one.

use iomem::TreeConfig;
use iomem::procfs::{DumpError, ParseError, ParseOptions, ParsedDump, parse};

use crate::source::DumpText;

/// Why a dump cannot be shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// A malformed line (not in lenient mode).
    #[error("{path}: {error}")]
    Line {
        /// The file.
        path: String,
        /// Where and what.
        error: ParseError,
    },
    /// Every address is zero.
    #[error(
        "{path}: every address is zero ({lines} lines): the kernel hid the addresses because the reader \
         lacks CAP_SYS_ADMIN; {advice}"
    )]
    Unprivileged {
        /// The file.
        path: String,
        /// Number of lines.
        lines: usize,
        /// How to get a real dump.
        advice: &'static str,
    },
    /// Any other reason the dump cannot be used (no resource line, ...).
    #[error("{path}: {error}")]
    Dump {
        /// The file.
        path: String,
        /// What is wrong.
        error: DumpError,
    },
}

/// Parses a dump as the parser's strict or lenient mode says.
pub(crate) fn parse_dump(text: &DumpText, lenient: bool, config: TreeConfig) -> Result<ParsedDump, LoadError> {
    let options = ParseOptions { lenient, kind: text.kind, annotations: text.annotated, config };
    parse(&text.bytes, &options).map_err(|e| match e {
        DumpError::Line(error) => LoadError::Line { path: text.path.clone(), error },
        DumpError::Unprivileged { lines } => {
            let advice = if text.live {
                "run it as root (sudo iomem show) or give it CAP_SYS_ADMIN; root inside a container \
                 user namespace sees zeros too"
            } else {
                "save the dump as root (sudo cat /proc/iomem > FILE)"
            };
            LoadError::Unprivileged { path: text.path.clone(), lines, advice }
        }
        error => LoadError::Dump { path: text.path.clone(), error },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iomem::procfs::DumpKind;

    fn text(bytes: &str, live: bool) -> DumpText {
        DumpText { path: "x".into(), bytes: bytes.as_bytes().to_vec(), annotated: false, kind: DumpKind::Auto, live }
    }

    #[test]
    fn zeroed_dump_explains_the_privilege() {
        let e = parse_dump(&text("00000000-00000000 : System RAM\n", true), false, TreeConfig::default()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("CAP_SYS_ADMIN"), "{msg}");
        assert!(msg.contains("sudo iomem show"), "{msg}");
        let e = parse_dump(&text("00000000-00000000 : System RAM\n", false), false, TreeConfig::default()).unwrap_err();
        assert!(e.to_string().contains("sudo cat /proc/iomem"));
    }

    #[test]
    fn empty_dump_is_named() {
        let e = parse_dump(&text("\n", false), false, TreeConfig::default()).unwrap_err();
        assert_eq!(e.to_string(), "x: the dump contains no resource line");
    }

    #[test]
    fn malformed_line_names_file_line_and_column() {
        let e = parse_dump(&text("0-1 : a\n.2-3 : b\n", false), false, TreeConfig::default()).unwrap_err();
        assert!(e.to_string().starts_with("x: line 2, column 1 "), "{e}");
    }
}
