//! `/proc/iomem` and `/proc/ioports` text: byte-exact rendering and a
//! lossless parser of real dumps (resource-tree.md §9).

mod parse;
mod render;

pub use parse::{
    DumpError, DumpKind, Field, Note, NoteKind, ParseError, ParseOptions, ParsedDump, ParsedLine, Problem, parse,
    parse_str,
};
pub use render::{MAX_INDENT_DEPTH, Reader, min_width};
