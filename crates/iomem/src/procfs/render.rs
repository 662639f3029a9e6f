//! `/proc/iomem` and `/proc/ioports` text, byte for byte (resource-tree.md
//! §9).

use alloc::string::String;
use core::fmt::{self, Write};

use crate::error::Error;
use crate::tree::{ResourceId, ResourceTree};

/// The deepest indentation level the kernel prints; deeper resources are
/// indented like level 5.
pub const MAX_INDENT_DEPTH: usize = 5;

/// Who opened the file: the kernel prints real addresses only to an opener
/// with CAP_SYS_ADMIN in the initial user namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Reader {
    /// CAP_SYS_ADMIN: real addresses.
    #[default]
    Privileged,
    /// Anybody else (including root in a container user namespace): every
    /// address prints as zeros.
    Unprivileged,
}

/// The minimum hex width of addresses below `root`: 4 if the root ends
/// below 0x10000 (x86 ioports), else 8.
pub fn min_width(root_end: u64) -> usize {
    if root_end < 0x10000 { 4 } else { 8 }
}

/// Bytes of text handed to the writer at a time.
const CHUNK: usize = 1 << 16;

/// Appends `v` in lower-case hex, zero-padded to at least `width` digits
/// (`{v:0width$x}`).
fn push_hex(buf: &mut String, v: u64, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - v.leading_zeros() as usize).div_ceil(4).max(1);
    for _ in digits..width {
        buf.push('0');
    }
    let mut tmp = [0u8; 16];
    for (i, t) in tmp[..digits].iter_mut().enumerate() {
        *t = DIGITS[((v >> ((digits - 1 - i) * 4)) & 0xf) as usize];
    }
    // Hex digits are ASCII.
    buf.push_str(core::str::from_utf8(&tmp[..digits]).unwrap_or(""));
}

impl ResourceTree {
    /// Writes the `/proc` text of the tree below `root` (the root itself is
    /// not printed): pre-order, `<indent><start>-<end> : <name>\n`, two
    /// spaces per level capped at depth 5, lowercase hex zero-padded to the
    /// minimum width, names verbatim (`<BAD>` for a missing name).
    pub fn write_proc(&self, root: ResourceId, reader: Reader, out: &mut impl Write) -> Result<fmt::Result, Error> {
        let root_ix = self.ix(root)?;
        let width = min_width(self.node(root_ix).end);
        let mut it = crate::tree::Preorder::new(self, root_ix);
        // Lines are formatted by hand into a buffer handed to `out` in
        // large pieces (`core::fmt` padding per number costs more than the
        // rest of the line).
        let mut buf = String::with_capacity(CHUNK + 256);
        let result = (|| {
            while let Some((ix, depth)) = it.next_ix() {
                let n = self.node(ix);
                let (s, e) = match reader {
                    Reader::Privileged => (n.start, n.end),
                    Reader::Unprivileged => (0, 0),
                };
                let name = self.names.text(n.name).unwrap_or("<BAD>");
                for _ in 0..depth.min(MAX_INDENT_DEPTH) {
                    buf.push_str("  ");
                }
                push_hex(&mut buf, s, width);
                buf.push('-');
                push_hex(&mut buf, e, width);
                buf.push_str(" : ");
                buf.push_str(name);
                buf.push('\n');
                if buf.len() >= CHUNK {
                    out.write_str(&buf)?;
                    buf.clear();
                }
            }
            out.write_str(&buf)
        })();
        Ok(result)
    }

    /// The `/proc` text of the tree below `root` as a string.
    pub fn render_proc(&self, root: ResourceId, reader: Reader) -> Result<String, Error> {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_proc(root, reader, &mut s)?;
        Ok(s)
    }

    /// `/proc/iomem` as the privileged reader sees it.
    pub fn proc_iomem(&self) -> String {
        self.render_proc(self.iomem_root(), Reader::Privileged).unwrap_or_default()
    }

    /// `/proc/ioports` as the privileged reader sees it.
    pub fn proc_ioports(&self) -> String {
        self.render_proc(self.ioport_root(), Reader::Privileged).unwrap_or_default()
    }

    /// The annotated form of the recordings' `observed/iomem-flags.txt`:
    /// each `/proc` line followed by ` [flags=0xFLAGS DECODED desc=DESC]`
    /// (what [`super::parse`] reads with [`super::ParseOptions::annotations`]).
    pub fn render_annotated(&self, root: ResourceId) -> Result<String, Error> {
        let root_ix = self.ix(root)?;
        let width = min_width(self.node(root_ix).end);
        let mut out = String::new();
        let mut it = crate::tree::Preorder::new(self, root_ix);
        while let Some((ix, depth)) = it.next_ix() {
            let n = self.node(ix);
            let indent = depth.min(MAX_INDENT_DEPTH) * 2;
            let name = self.names.text(n.name).unwrap_or("<BAD>");
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "{:indent$}{:0width$x}-{:0width$x} : {name} [flags={:#010x} {} desc={}]",
                "",
                n.start,
                n.end,
                n.flags.bits(),
                n.flags,
                n.desc
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn hex_is_the_formatters() {
        for v in [0u64, 1, 0xf, 0x10, 0xfff, 0x1000, 0x9fbff, 0xdead_beef, 1 << 32, u64::MAX - 1, u64::MAX] {
            for width in [0, 1, 4, 8, 16, 20] {
                let mut s = String::new();
                push_hex(&mut s, v, width);
                assert_eq!(s, format!("{v:0width$x}"));
            }
        }
    }
}
