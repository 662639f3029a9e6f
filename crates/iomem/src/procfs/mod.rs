//! `/proc/iomem` and `/proc/ioports` text: byte-exact rendering and a
//! lossless parser of real dumps (resource-tree.md §9).

mod error;
mod line;
mod parse;
mod render;

pub use error::{DumpError, Field, Note, NoteKind, ParseError, Problem};
pub use parse::{DumpKind, ParseOptions, ParsedDump, ParsedLine, ParsedLines, ParsedLinesIter, parse, parse_str};
pub use render::{MAX_INDENT_DEPTH, Reader, min_width};
