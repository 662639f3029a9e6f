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

use super::{Streamed, flag_names};
use crate::facts::arch_name;
use crate::flaginfo::assumed_names;
use crate::model::{ExclusiveUnder, Report, Row, Rows, reason_name};
use crate::verdicts::{RowVerdicts, Verdict};

/// The version of the documented schema.
pub(crate) const SCHEMA_VERSION: u32 = 1;

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
type ResourceRows<'a> = std::iter::Map<Rows<'a>, fn(Row) -> ResourceJson>;

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

fn resource(row: &Row) -> ResourceJson {
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
        name: row.name.clone(),
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

/// Writes the report as one pretty-printed JSON document and a newline,
/// streaming the resources.
pub(crate) fn write(report: &Report<'_>, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let sys = report.sys;
    let f = &sys.facts;
    let doc = Document {
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
        resources: Streamed::new(report.rows().map((|row| resource(&row)) as fn(Row) -> ResourceJson)),
    };
    let mut buffered = io::BufWriter::with_capacity(1 << 16, &mut *out);
    serde_json::to_writer_pretty(&mut buffered, &doc).map_err(io::Error::from)?;
    writeln!(buffered)?;
    buffered.flush()
}
