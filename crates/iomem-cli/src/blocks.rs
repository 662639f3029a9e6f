//! The memory-block view (`/sys/devices/system/memory`): the blocks as
//! sysfs shows them, merged into rows the way util-linux `lsmem` merges them
//! (consecutive blocks with the same state and zones), with sizes printed as
//! lsmem prints them, and the virtio-mem device each row belongs to.

use crate::source::{Source, SourceError};

/// `sys/devices/system/memory`, relative to a system root.
pub(crate) const MEMORY: &str = "sys/devices/system/memory";

/// One memory block device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    /// N of `memoryN`.
    pub(crate) id: u64,
    /// `state`.
    pub(crate) state: String,
    /// `valid_zones`, split.
    pub(crate) zones: Vec<String>,
}

/// The whole view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Blocks {
    /// `block_size_bytes`.
    pub(crate) block_size: u64,
    /// `auto_online_blocks`, if present.
    pub(crate) auto_online: Option<String>,
    /// Whether lsmem would show zones: util-linux reads `valid_zones` only
    /// when `memory0/valid_zones` exists (so not on arm64 guests, whose
    /// memory starts above block 0).
    pub(crate) lsmem_zones: bool,
    /// Every block, by id.
    pub(crate) blocks: Vec<Block>,
}

/// Why the view cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BlocksError {
    /// A file could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The directory is not there.
    #[error(
        "{0}: no such directory (the memory-block view needs /sys/devices/system/memory: a kernel without memory \
         hotplug, or a capture without it, has none)"
    )]
    Missing(String),
    /// A dump alone has no memory blocks.
    #[error(
        "a /proc/iomem dump has no memory blocks: use --root DIR (a captured system), --example or the live machine"
    )]
    NotASystem,
    /// A file holds something unexpected.
    #[error("{path}: {what}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        what: String,
    },
}

impl Blocks {
    /// Reads the view of a system.
    pub(crate) fn read(source: &Source) -> Result<Blocks, BlocksError> {
        if matches!(source, Source::File(_)) {
            return Err(BlocksError::NotASystem);
        }
        let names = source.list(MEMORY)?.ok_or_else(|| BlocksError::Missing(source.display_path(MEMORY)))?;
        let text = |rel: &str| -> Result<Option<String>, BlocksError> {
            Ok(source.read_small(rel, "sysfs attribute")?.map(|b| String::from_utf8_lossy(&b).trim().to_string()))
        };
        let malformed = |rel: &str, what: String| BlocksError::Malformed { path: source.display_path(rel), what };
        let bs_rel = format!("{MEMORY}/block_size_bytes");
        let bs = text(&bs_rel)?.ok_or_else(|| malformed(&bs_rel, "missing".into()))?;
        let block_size = u64::from_str_radix(&bs, 16)
            .ok()
            .filter(|v| v.is_power_of_two())
            .ok_or_else(|| malformed(&bs_rel, format!("{:?} is not a power-of-two hex number", excerpt(&bs))))?;
        let auto_online = text(&format!("{MEMORY}/auto_online_blocks"))?;
        let mut blocks = Vec::new();
        for name in names {
            let Some(id) = name.strip_prefix("memory").and_then(|n| n.parse::<u64>().ok()) else { continue };
            let dir = format!("{MEMORY}/{name}");
            let state = text(&format!("{dir}/state"))?.ok_or_else(|| malformed(&dir, "no state file".into()))?;
            let zones = text(&format!("{dir}/valid_zones"))?.unwrap_or_default();
            blocks.push(Block { id, state, zones: zones.split_whitespace().map(str::to_string).collect() });
        }
        blocks.sort_by_key(|b| b.id);
        let lsmem_zones = source.has(&format!("{MEMORY}/memory0/valid_zones"));
        Ok(Blocks { block_size, auto_online, lsmem_zones, blocks })
    }

    /// Online and offline bytes.
    pub(crate) fn totals(&self) -> (u64, u64) {
        let n = |s: &str| self.blocks.iter().filter(|b| b.state == s).count() as u64 * self.block_size;
        (n("online"), n("offline"))
    }
}

/// A row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    /// First address.
    pub(crate) start: u64,
    /// Last address.
    pub(crate) end: u64,
    /// The state.
    pub(crate) state: String,
    /// First and last block.
    pub(crate) first: u64,
    /// Last block.
    pub(crate) last: u64,
    /// The zones of the row's blocks, in order (lsmem's spelling: `None`
    /// for a block in more than one).
    pub(crate) zones: Vec<String>,
    /// The zones lsmem shows (empty when it reads none).
    pub(crate) lsmem_zones: Vec<String>,
    /// The virtio-mem device whose region holds the row.
    pub(crate) device: Option<String>,
}

impl Row {
    /// Bytes.
    pub(crate) fn size(&self) -> u64 {
        self.end - self.start + 1
    }

    /// lsmem's BLOCK column.
    pub(crate) fn block_text(&self) -> String {
        if self.first == self.last { self.first.to_string() } else { format!("{}-{}", self.first, self.last) }
    }

    /// lsmem's ZONES column.
    pub(crate) fn zones_text(&self) -> String {
        self.lsmem_zones.join("/")
    }
}

/// lsmem's zone names: `none` is `None`.
fn lsmem_zone(z: &str) -> String {
    if z == "none" { "None".to_string() } else { z.to_string() }
}

/// The rows: one per block with `all`, else consecutive blocks of equal
/// state (and zones, where lsmem reads them) merged, as
/// `lsmem -o RANGE,SIZE,STATE,BLOCK,ZONES` does. `devices` are the device
/// regions (`[start, end]`, name).
pub(crate) fn rows(view: &Blocks, all: bool, devices: &[(u64, u64, String)]) -> Vec<Row> {
    let bs = view.block_size;
    let mut out: Vec<Row> = Vec::new();
    for b in &view.blocks {
        let zones: Vec<String> = b.zones.iter().map(|z| lsmem_zone(z)).collect();
        let shown = if view.lsmem_zones { zones.clone() } else { Vec::new() };
        let start = b.id * bs;
        if let Some(last) = out.last_mut() {
            if !all && last.last + 1 == b.id && last.state == b.state && last.lsmem_zones == shown {
                last.last = b.id;
                last.end = start + bs - 1;
                for z in zones {
                    if !last.zones.contains(&z) {
                        last.zones.push(z);
                    }
                }
                continue;
            }
        }
        out.push(Row {
            start,
            end: start + bs - 1,
            state: b.state.clone(),
            first: b.id,
            last: b.id,
            zones,
            lsmem_zones: shown,
            device: None,
        });
    }
    for r in &mut out {
        r.device = devices.iter().find(|(s, e, _)| r.start >= *s && r.end <= *e).map(|(_, _, n)| n.clone());
    }
    out
}

/// A size as util-linux prints it (`size_to_human_string` with one-letter
/// suffixes): `128M`, `1.9G`, `0B` — the tenths rounded from the remainder
/// in 1/1024 units, as lsmem does.
pub(crate) fn lsmem_size(bytes: u64) -> String {
    const LETTERS: &[u8] = b"BKMGTPE";
    let mut exp = 0u32;
    while exp < 60 && bytes >= 1u64 << (exp + 10) {
        exp += 10;
    }
    let letter = LETTERS[(exp / 10) as usize] as char;
    if exp == 0 {
        return format!("{bytes}{letter}");
    }
    let mut dec = bytes >> exp;
    let rem = bytes & ((1u64 << exp) - 1);
    let mut frac = if rem == 0 { 0 } else { ((rem >> (exp - 10)) + 50) / 100 };
    if frac == 10 {
        dec += 1;
        frac = 0;
    }
    if frac == 0 { format!("{dec}{letter}") } else { format!("{dec}.{frac}{letter}") }
}

fn excerpt(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_lsmem_prints_them() {
        assert_eq!(lsmem_size(0), "0B");
        assert_eq!(lsmem_size(128 << 20), "128M");
        assert_eq!(lsmem_size(1920 << 20), "1.9G");
        assert_eq!(lsmem_size(2432 << 20), "2.4G");
        assert_eq!(lsmem_size(384 << 20), "384M");
        assert_eq!(lsmem_size(2 << 30), "2G");
        assert_eq!(lsmem_size((2 << 30) - (1 << 20)), "2G", "rounds up into the next unit");
        assert_eq!(lsmem_size(1 << 40), "1T");
    }

    #[test]
    fn merging_follows_state_zones_and_contiguity() {
        let b = |id, state: &str, z: &str| Block { id, state: state.into(), zones: vec![z.into()] };
        let view = Blocks {
            block_size: 128 << 20,
            auto_online: None,
            lsmem_zones: true,
            blocks: vec![
                b(0, "online", "none"),
                b(1, "online", "DMA32"),
                b(2, "online", "DMA32"),
                b(5, "online", "DMA32"),
            ],
        };
        let r = rows(&view, false, &[]);
        assert_eq!(r.iter().map(Row::block_text).collect::<Vec<_>>(), ["0", "1-2", "5"]);
        assert_eq!(r[0].zones_text(), "None");
        assert_eq!(rows(&view, true, &[]).len(), 4);
    }
}
