//! The JSON output. The schema is documented in `docs/json-schema.md` and
//! versioned by [`SCHEMA_VERSION`]: fields are only ever added within a
//! version; renaming, removing or retyping one increments it.
//!
//! Addresses are `0x`-prefixed hex strings because 64-bit addresses exceed
//! the integers JSON readers represent exactly (2^53 − 1 in JavaScript and
//! in every reader that maps numbers to doubles).

use std::io::{self, Write};

use iomem::procfs::DumpKind;
use serde::Serialize;

#[cfg(test)]
use super::Streamed;
use super::{flag_names, hex_into};
use crate::facts::arch_name;
use crate::flaginfo::assumed_names;
#[cfg(test)]
use crate::model::Rows;
use crate::model::{ExclusiveUnder, Report, Row, reason_name};
use crate::verdicts::{RowVerdicts, Verdict};

/// The version of the documented schema.
pub(crate) const SCHEMA_VERSION: u32 = 1;

#[cfg(test)]
#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    kind: &'static str,
    source: SourceJson,
    kernel: KernelJson,
    flags_from: &'static str,
    assumptions: &'a [String],
    resources: Streamed<ResourceRows<'a>>,
}

/// The rows of a report as their JSON objects.
#[cfg(test)]
type ResourceRows<'a> = std::iter::Map<Rows<'a>, fn(Row<'a>) -> ResourceJson>;

#[derive(Serialize)]
struct SourceJson {
    #[serde(rename = "type")]
    type_: &'static str,
    path: String,
    description: String,
}

#[derive(Serialize)]
struct KernelJson {
    release: Option<String>,
    rules_version: String,
    rules_assumed: bool,
    arch: Option<&'static str>,
    config: Option<String>,
    io_strict_devmem: bool,
    io_strict_devmem_assumed: bool,
    strict_iomem_checks: Option<bool>,
    strict_iomem_checks_assumed: bool,
}

#[derive(Serialize)]
struct ResourceJson {
    start: String,
    end: String,
    depth: usize,
    line: Option<usize>,
    name: Option<String>,
    flags: Vec<String>,
    flags_value: u32,
    desc: String,
    desc_value: u32,
    assumed: Vec<String>,
    rule: &'static str,
    exclusive: Option<ExclusiveJson>,
    verdicts: Option<VerdictsJson>,
}

/// `show --verdicts`: what a whole-page read and an mmap get.
#[derive(Serialize)]
struct VerdictsJson {
    read: &'static str,
    read_uncertain: bool,
    mmap: &'static str,
    mmap_uncertain: bool,
}

impl From<RowVerdicts> for VerdictsJson {
    fn from(v: RowVerdicts) -> VerdictsJson {
        let split = |v: Verdict| match v {
            Verdict::Same { result, uncertain } => (result, uncertain),
            Verdict::Mixed => ("mixed", false),
        };
        let ((read, read_uncertain), (mmap, mmap_uncertain)) = (split(v.read), split(v.mmap));
        VerdictsJson { read, read_uncertain, mmap, mmap_uncertain }
    }
}

#[derive(Serialize)]
struct ExclusiveJson {
    strict: UnderJson,
    relaxed: UnderJson,
}

#[derive(Serialize)]
struct UnderJson {
    exclusive: bool,
    reason: Option<&'static str>,
    inherited: bool,
}

impl From<ExclusiveUnder> for UnderJson {
    fn from(e: ExclusiveUnder) -> UnderJson {
        UnderJson { exclusive: e.exclusive, reason: e.reason.map(reason_name), inherited: e.inherited }
    }
}

fn resource(row: &Row<'_>) -> ResourceJson {
    let names = flag_names(row.flags, row.assumed);
    let mut assumed = assumed_names(row.assumed);
    if row.desc_assumed {
        assumed.push("desc".to_string());
    }
    ResourceJson {
        start: format!("{:#x}", row.start),
        end: format!("{:#x}", row.end),
        depth: row.depth,
        line: row.line,
        name: row.name.map(str::to_string),
        flags: names.into_iter().map(|(n, _)| n).collect(),
        flags_value: row.flags.bits(),
        desc: row.desc.to_string(),
        desc_value: row.desc.0,
        assumed,
        rule: row.rule,
        exclusive: row.exclusive.map(|e| ExclusiveJson { strict: e.strict.into(), relaxed: e.relaxed.into() }),
        verdicts: row.verdicts.map(VerdictsJson::from),
    }
}

/// The document around the resources, in the order of [`Document`].
#[derive(Serialize)]
struct Head<'a> {
    schema_version: u32,
    kind: &'static str,
    source: SourceJson,
    kernel: KernelJson,
    flags_from: &'static str,
    assumptions: &'a [String],
}

fn head<'a>(report: &Report<'a>) -> Head<'a> {
    let sys = report.sys;
    let f = &sys.facts;
    Head {
        schema_version: SCHEMA_VERSION,
        kind: if report.kind() == DumpKind::Ioports { "ioports" } else { "iomem" },
        source: SourceJson {
            type_: sys.source.type_name(),
            path: sys.path.clone(),
            description: sys.source.describe(),
        },
        kernel: KernelJson {
            release: f.release.clone(),
            rules_version: f.version().to_string(),
            rules_assumed: f.profile.assumed,
            arch: f.arch.map(arch_name),
            config: f.config_path.clone(),
            io_strict_devmem: f.io_strict.value,
            io_strict_devmem_assumed: f.io_strict.assumed,
            strict_iomem_checks: Some(f.strict_checks.value),
            strict_iomem_checks_assumed: f.strict_checks.assumed,
        },
        flags_from: sys.flags_from.name(),
        assumptions: &sys.assumptions,
    }
}

/// Writes the report as one pretty-printed JSON document and a newline,
/// streaming the resources: byte for byte what `serde_json`'s pretty
/// printer makes of [`Document`] (tested), but each resource's fields after
/// its name — which take few distinct values in a tree (flags, rule,
/// exclusivity, verdicts) — are formatted once per distinct value and
/// copied, and the fields before (range, depth, line, name) are written
/// directly.
pub(crate) fn write(report: &Report<'_>, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, &mut *out);
    let head = serde_json::to_string_pretty(&head(report)).map_err(io::Error::from)?;
    // `{ ... \n}`: reopen the object for its last field.
    w.write_all(head.strip_suffix("\n}").unwrap_or(&head).as_bytes())?;
    w.write_all(b",\n  \"resources\": [")?;
    let mut tails = Tails::default();
    let mut any = false;
    for row in report.rows() {
        w.write_all(if any { b",\n    {\n" } else { b"\n    {\n" })?;
        any = true;
        // Numbers by hand, not through `core::fmt` (15 % of the profile of
        // `show --json` on a million rows).
        let mut dec = itoa::Buffer::new();
        w.write_all(b"      \"start\": \"")?;
        w.write_all(hex_into(&mut [0; 18], row.start))?;
        w.write_all(b"\",\n      \"end\": \"")?;
        w.write_all(hex_into(&mut [0; 18], row.end))?;
        w.write_all(b"\",\n      \"depth\": ")?;
        w.write_all(dec.format(row.depth).as_bytes())?;
        w.write_all(b",\n      \"line\": ")?;
        match row.line {
            Some(l) => w.write_all(dec.format(l).as_bytes())?,
            None => w.write_all(b"null")?,
        }
        w.write_all(b",\n      \"name\": ")?;
        match row.name {
            Some(n) => json_string(&mut w, n)?,
            None => w.write_all(b"null")?,
        }
        w.write_all(b",\n")?;
        w.write_all(tails.of(&row)?.as_bytes())?;
    }
    w.write_all(if any { b"\n  ]\n}\n" } else { b"]\n}\n" })?;
    w.flush()
}

/// A JSON string as `serde_json` writes it (quotes, `"` and `\` and
/// control characters escaped, everything else verbatim).
fn json_string(w: &mut impl Write, s: &str) -> io::Result<()> {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return serde_json::to_writer(w, s).map_err(io::Error::from);
    }
    w.write_all(b"\"")?;
    w.write_all(s.as_bytes())?;
    w.write_all(b"\"")
}

/// The formatted fields after the name, by the row's values (every field
/// of a row but its range, depth, line and name takes part in the key).
/// The last few tails used are tried first: consecutive rows mostly repeat
/// one (a BAR, its driver's claim, the next BAR), and then no hashing is
/// needed.
struct Tails<'a> {
    /// Each distinct tail with a row that has it.
    all: Vec<(Row<'a>, String)>,
    /// Indices into `all`, by a first split of the keys.
    by_key: std::collections::HashMap<TailHash, Vec<usize>>,
    /// Indices into `all`, most recently used first (`NONE`: empty).
    recent: [usize; RECENT],
}

/// Tails tried before the hash map.
const RECENT: usize = 4;
/// An empty entry of [`Tails::recent`].
const NONE: usize = usize::MAX;

impl Default for Tails<'_> {
    fn default() -> Self {
        Tails { all: Vec::new(), by_key: std::collections::HashMap::new(), recent: [NONE; RECENT] }
    }
}

/// Flags, assumed bits, descriptor and rule: a first split of the keys.
type TailHash = (u32, u32, u32, &'static str);

/// True if two rows print the same fields after their names. (The
/// pattern names every field, so a new one must be placed here.)
fn same_tail(a: &Row<'_>, b: &Row<'_>) -> bool {
    let Row {
        start: _,
        end: _,
        depth: _,
        line: _,
        name: _,
        flags,
        desc,
        assumed,
        desc_assumed,
        rule,
        exclusive,
        verdicts,
    } = *a;
    flags == b.flags
        && desc == b.desc
        && assumed == b.assumed
        && desc_assumed == b.desc_assumed
        && rule == b.rule
        && exclusive == b.exclusive
        && verdicts == b.verdicts
}

impl<'a> Tails<'a> {
    fn of(&mut self, row: &Row<'a>) -> io::Result<&str> {
        let hit = self.recent.iter().position(|&i| i != NONE && same_tail(&self.all[i].0, row));
        let (at, i) = match hit {
            Some(at) => (at, self.recent[at]),
            None => (RECENT - 1, self.find_or_add(row)?),
        };
        // To the front.
        self.recent[..=at].rotate_right(1);
        self.recent[0] = i;
        Ok(&self.all[i].1)
    }

    fn find_or_add(&mut self, row: &Row<'a>) -> io::Result<usize> {
        let list = self.by_key.entry((row.flags.bits(), row.assumed.bits(), row.desc.0, row.rule)).or_default();
        if let Some(&i) = list.iter().find(|&&i| same_tail(&self.all[i].0, row)) {
            return Ok(i);
        }
        self.all.push((row.clone(), tail(row)?));
        list.push(self.all.len() - 1);
        Ok(self.all.len() - 1)
    }
}

/// The lines of a resource object after its name (with the closing brace,
/// without a newline after it), indented as an element of the resource
/// array: serde_json's own rendering of the object, cut after the five
/// fields written directly.
fn tail(row: &Row<'_>) -> io::Result<String> {
    let object = serde_json::to_string_pretty(&resource(row)).map_err(io::Error::from)?;
    // Strings are escaped, so every field is one line: skip "{" and the
    // start, end, depth, line and name lines.
    let rest = object.splitn(7, '\n').nth(6).unwrap_or("}");
    Ok(rest.split('\n').map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n"))
}

/// The reference: the whole document through serde_json's pretty printer.
#[cfg(test)]
fn write_serde(report: &Report<'_>, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let Head { schema_version, kind, source, kernel, flags_from, assumptions } = head(report);
    let doc = Document {
        schema_version,
        kind,
        source,
        kernel,
        flags_from,
        assumptions,
        resources: Streamed::new(report.rows().map((|row| resource(&row)) as fn(Row<'_>) -> ResourceJson)),
    };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::from)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;
    use crate::system::{LoadRequest, load};

    fn both(sys: &crate::system::System) {
        let report = Report { sys, verdicts: None };
        let (mut fast, mut reference) = (Vec::new(), Vec::new());
        write(&report, &mut fast).unwrap();
        write_serde(&report, &mut reference).unwrap();
        assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(reference).unwrap());
    }

    #[test]
    fn fast_output_is_serde_jsons_byte_for_byte() {
        both(&load(Source::Example, &LoadRequest::default()).unwrap());
        let dir = std::env::temp_dir().join(format!("iomem-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("dump.txt");
        let text = "00000000-00000fff : Reserved\n00001000-0009ffff : System RAM\n\
                    000a0000-000bffff : a \"quoted\" \\ name\twith tab\n  000a0000-000a0fff : ünïcode €\n\
                    00100000-7fffffff : System RAM\n  01000000-01ffffff : Kernel code\n\
                    80000000-febfffff : PCI Bus 0000:00\n  fd000000-fdffffff : 0000:00:02.0\n\
                    100000000-1ffffffff : virtio0\n  100000000-107ffffff : System RAM (virtio_mem)\n\
                    ffffffffffff0000-ffffffffffffffff : \n";
        std::fs::write(&file, text).unwrap();
        let sys = load(Source::File(file.clone()), &LoadRequest { lenient: true, ..LoadRequest::default() }).unwrap();
        both(&sys);
        std::fs::remove_dir_all(&dir).unwrap();
        // Every real dump of the repository (many distinct tails, in every
        // order the recently-used ones can be met).
        let dumps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/iomem");
        let mut n = 0;
        for entry in std::fs::read_dir(&dumps).unwrap() {
            let path = entry.unwrap().path();
            let request = LoadRequest { lenient: true, ..LoadRequest::default() };
            if let Ok(sys) = load(Source::File(path), &request) {
                both(&sys);
                n += 1;
            }
        }
        assert!(n >= 20, "{n} dumps");
    }
}
