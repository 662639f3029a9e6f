//! Output of `iomem check`: a short report per address for people, and the
//! documented JSON array (docs/json-schema.md, "iomem check --json").

use std::io::{self, Write};

use iomem_devmem::{Access, Arch, Explanation, HighMemorySource, OpenMode, Outcome, Success, Uncertainty};
use serde::Serialize;

use super::color::of_result;
use super::hex_into;

use super::Streamed;
use super::text::{escape, write_wrapped};
use crate::commands::check::Verdicts;
use crate::system::System;

fn uncertain_name(u: Option<Uncertainty>) -> Option<&'static str> {
    u.map(|u| match u {
        Uncertainty::MemtypeMayConflict => "memtype",
        Uncertainty::HighMemoryEstimated => "high_memory",
    })
}

/// The one-line header facts.
fn describe_system(sys: &System, mode: OpenMode) -> Vec<String> {
    let p = &sys.policy;
    let profile = sys.dump.tree.profile();
    let mut lines = Vec::new();
    if p.node.is_none() {
        lines.push(if p.config.devmem {
            "/dev/mem does not exist on this machine (the node was removed, or a container without it): every \
             access fails at open"
                .to_string()
        } else {
            "/dev/mem does not exist on this machine: its kernel was built without CONFIG_DEVMEM, so every access \
             fails at open"
                .to_string()
        });
    } else if !p.config.devmem {
        lines.push("this kernel has no /dev/mem driver (CONFIG_DEVMEM=n): every access fails at open".to_string());
    }
    lines.push(format!("system: {} ({})", sys.source.describe(), sys.path));
    lines.push(match sys.flags_from {
        crate::flaginfo::FlagsFrom::Annotations => "flags: read from the kernel (annotated dump)".to_string(),
        crate::flaginfo::FlagsFrom::Inference => {
            "flags: inferred from names and places (/proc/iomem shows none); assumed ones are named in the reasons"
                .to_string()
        }
    });
    let arch = match p.arch {
        Arch::X86_64 { phys_bits } => format!("x86-64, {phys_bits}-bit physical addresses"),
        Arch::Arm64 { pa_bits } => format!("arm64, {pa_bits}-bit physical addresses"),
        Arch::Generic => "generic devmem_is_allowed".to_string(),
    };
    lines.push(format!(
        "kernel: {} (rules of {}), {arch}",
        sys.facts.release.as_deref().unwrap_or("unknown release"),
        profile.version
    ));
    let yn = |b: bool| if b { "y" } else { "n" };
    lines.push(format!(
        "config: DEVMEM={} STRICT_DEVMEM={} IO_STRICT_DEVMEM={} X86_PAT={}; strict iomem checks {}{}; lockdown {}",
        yn(p.config.devmem),
        yn(p.config.strict_devmem),
        yn(p.config.io_strict_devmem),
        yn(p.config.x86_pat),
        if p.strict_iomem { "on" } else { "off" },
        iomem::cmdline::values(&sys.cmdline, "iomem").map(|v| format!(" (iomem={v})")).collect::<String>(),
        p.lockdown.name()
    ));
    lines.push(format!(
        "caller: uid {}, CAP_SYS_RAWIO {}; descriptor {mode}; high_memory {:#x} ({})",
        p.caller.uid,
        if p.caller.has_cap(iomem_devmem::inputs::cap::SYS_RAWIO) { "yes" } else { "no" },
        p.high_memory.addr,
        match p.high_memory.source {
            HighMemorySource::Recorded => "recorded",
            HighMemorySource::Given => "given",
            HighMemorySource::Estimated => "estimated",
        }
    ));
    lines
}

/// The annotated text report, one address at a time as each is judged.
pub(crate) fn text<'a>(
    sys: &System,
    mode: OpenMode,
    results: impl Iterator<Item = Verdicts<'a>>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for l in describe_system(sys, mode) {
        write_wrapped(out, &escape(&l), 2)?;
    }
    for a in &sys.assumptions {
        write_wrapped(out, &escape(&format!("assumed: {a}")), 2)?;
    }
    for mut v in results {
        let runs = std::mem::replace(&mut v.runs, Box::new(std::iter::empty()));
        let v = &v;
        writeln!(out)?;
        let t = v.target;
        let what = if t.ranged { format!("{:#x}-{:#x}", t.start, t.end) } else { format!("{:#x}", t.start) };
        let inside = if v.containing.is_empty() {
            "in no resource".to_string()
        } else {
            let chain: Vec<String> =
                v.containing.iter().map(|(n, r)| format!("'{}' [{:#x}-{:#x}]", escape(n), r.start, r.end)).collect();
            format!("in {}", chain.join(" > "))
        };
        write_wrapped(out, &format!("{what}  {inside}"), 2)?;
        let mut previous_reason: Option<&str> = None;
        for e in &v.accesses {
            let name = e.request.access.name();
            let result = label(&e.outcome);
            let reason = if previous_reason == Some(e.reason.as_str()) { "(same reason)" } else { e.reason.as_str() };
            previous_reason = Some(e.reason.as_str());
            let caveat = match e.outcome.uncertain {
                Some(Uncertainty::MemtypeMayConflict) => " [may be EAGAIN]",
                Some(Uncertainty::HighMemoryEstimated) => " [high_memory estimated]",
                None => "",
            };
            let result = of_result(result).paint_padded(result, 7);
            let line = format!("  {name:<5}  {result}{caveat}  {}: {}", e.outcome.rule_id(), escape(reason));
            write_wrapped(out, &line, 18)?;
        }
        // What would change the results, grouped by sentence.
        let mut lines: Vec<(String, Vec<&'static str>)> = Vec::new();
        for e in &v.accesses {
            for w in &e.what_if {
                match lines.iter_mut().find(|(s, _)| *s == w.sentence) {
                    Some((_, accesses)) => accesses.push(e.request.access.name()),
                    None => lines.push((w.sentence.clone(), vec![e.request.access.name()])),
                }
            }
        }
        if !lines.is_empty() {
            writeln!(out, "  what would change it:")?;
            for (sentence, accesses) in lines {
                write_wrapped(out, &format!("    {}: {}", accesses.join(", "), escape(&sentence)), 6)?;
            }
        }
        let mut runs = runs.peekable();
        if runs.peek().is_some() {
            writeln!(out, "  whole pages of the range (read / write / mmap):")?;
            // A line per run (a million on a BAR-heavy tree): assembled in
            // a buffer written out 64 KiB at a time (a write per piece through
            // `dyn Write` was a tenth of `check` on such a tree), each result
            // painted once per distinct name.
            let mut paints = Paints::default();
            let mut chunk: Vec<u8> = Vec::with_capacity(RUN_CHUNK + 256);
            let mut buf = [0; 18];
            for r in runs {
                chunk.extend_from_slice(b"    ");
                chunk.extend_from_slice(hex_into(&mut buf, r.range.start));
                chunk.push(b'-');
                chunk.extend_from_slice(hex_into(&mut buf, r.range.end));
                chunk.extend_from_slice(b"  ");
                chunk.extend_from_slice(paints.of(&r.read).as_bytes());
                chunk.extend_from_slice(b" / ");
                chunk.extend_from_slice(paints.of(&r.write).as_bytes());
                chunk.extend_from_slice(b" / ");
                chunk.extend_from_slice(paints.of(&r.mmap).as_bytes());
                chunk.extend_from_slice(b"  ");
                chunk.extend_from_slice(r.decision.rule.id().as_bytes());
                chunk.push(b'\n');
                if chunk.len() >= RUN_CHUNK {
                    out.write_all(&chunk)?;
                    chunk.clear();
                }
            }
            out.write_all(&chunk)?;
        }
    }
    Ok(())
}

/// How many bytes of run lines [`text`] gathers before a write.
const RUN_CHUNK: usize = 64 * 1024;

fn label(o: &Outcome) -> &'static str {
    o.result_name()
}

/// Painted result names, by name.
#[derive(Default)]
struct Paints(Vec<(&'static str, String)>);

impl Paints {
    fn of(&mut self, o: &Outcome) -> &str {
        let name = o.result_name();
        // The names are a handful of literals: their addresses match
        // before their texts need comparing.
        let same = |n: &&str| core::ptr::eq(n.as_ptr(), name.as_ptr()) && n.len() == name.len() || *n == name;
        let i = match self.0.iter().position(|(n, _)| same(n)) {
            Some(i) => i,
            None => {
                self.0.push((name, of_result(name).paint(name)));
                self.0.len() - 1
            }
        };
        &self.0[i].1
    }
}

#[derive(Serialize)]
struct ResourceJson {
    name: String,
    start: String,
    end: String,
    flags: Vec<String>,
    assumed: Vec<String>,
}

#[derive(Serialize)]
struct WhatIfJson {
    change: &'static str,
    result: &'static str,
    helps: bool,
    sentence: String,
}

#[derive(Serialize)]
struct AccessJson {
    result: &'static str,
    data: Option<&'static str>,
    rule: &'static str,
    reason: String,
    uncertain: Option<&'static str>,
    decided_by: Option<ResourceJson>,
    what_if: Vec<WhatIfJson>,
}

#[derive(Serialize)]
struct ContainingJson {
    name: String,
    start: String,
    end: String,
}

#[derive(Serialize)]
struct RunJson {
    start: String,
    end: String,
    page_rule: &'static str,
    read: &'static str,
    write: &'static str,
    mmap: &'static str,
}

#[derive(Serialize)]
struct AddressJson<'a> {
    address: String,
    end: String,
    length: String,
    open_flags: String,
    containing: Vec<ContainingJson>,
    open: AccessJson,
    read: AccessJson,
    write: AccessJson,
    mmap: AccessJson,
    runs: Streamed<Box<dyn Iterator<Item = RunJson> + 'a>>,
    assumptions: Vec<String>,
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// The result in the documented vocabulary: `ok`, `zeros` (a read that
/// succeeds with zeros by policy), or the errno name. A write the kernel
/// reports as done but drops is `ok` to its caller; `data` says so.
fn result_json(o: &Outcome) -> &'static str {
    match o.result {
        Ok(Success::Zeros) => "zeros",
        Ok(_) => "ok",
        Err(e) => e.name(),
    }
}

/// What happened to the data of a successful read or write.
fn data_json(e: &Explanation) -> Option<&'static str> {
    match (e.request.access, e.outcome.result) {
        (Access::Read, Ok(Success::Data)) | (Access::Write, Ok(Success::Written)) => Some("real"),
        (Access::Read, Ok(Success::Zeros)) => Some("zeros"),
        (Access::Read, Ok(Success::PartlyZeros)) => Some("partly-zeros"),
        (Access::Write, Ok(Success::Dropped)) => Some("dropped"),
        (Access::Write, Ok(Success::PartlyDropped)) => Some("partly-dropped"),
        _ => None,
    }
}

fn access_json(e: &Explanation) -> AccessJson {
    AccessJson {
        result: result_json(&e.outcome),
        data: data_json(e),
        rule: e.outcome.rule_id(),
        reason: e.reason.clone(),
        uncertain: uncertain_name(e.outcome.uncertain),
        decided_by: e.decided_by.as_ref().map(|r| ResourceJson {
            name: r.name.clone(),
            start: hex(r.range.start),
            end: hex(r.range.end),
            flags: r.flags.names().map(|n| n.to_string()).collect(),
            assumed: crate::flaginfo::assumed_names(r.assumed),
        }),
        what_if: e
            .what_if
            .iter()
            .map(|w| WhatIfJson {
                change: w.change.id(),
                result: w.result,
                helps: w.helps,
                sentence: w.sentence.clone(),
            })
            .collect(),
    }
}

/// The JSON array, one object per address, streamed as each is judged.
pub(crate) fn json<'a>(
    sys: &System,
    results: impl Iterator<Item = Verdicts<'a>>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docs = results.filter_map(|v| address_json(sys, v));
    let mut w = io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut w, &Streamed::new(docs))?;
    writeln!(w)?;
    Ok(())
}

fn address_json<'a>(sys: &System, v: Verdicts<'a>) -> Option<AddressJson<'a>> {
    {
        let by = |a: Access| v.accesses.iter().find(|e| e.request.access == a).map(access_json);
        let (Some(open), Some(read), Some(write), Some(mmap)) =
            (by(Access::Open), by(Access::Read), by(Access::Write), by(Access::Mmap))
        else {
            return None;
        };
        let mode = v.accesses.first().map(|e| e.request.mode).unwrap_or(OpenMode::RDWR);
        Some(AddressJson {
            address: hex(v.target.start),
            end: hex(v.target.end),
            length: format!("{:#x}", v.target.len()),
            open_flags: mode.to_string(),
            containing: v
                .containing
                .iter()
                .map(|(n, r)| ContainingJson { name: n.clone(), start: hex(r.start), end: hex(r.end) })
                .collect(),
            open,
            read,
            write,
            mmap,
            runs: Streamed::new(Box::new(v.runs.map(|r| RunJson {
                start: hex(r.range.start),
                end: hex(r.range.end),
                page_rule: r.decision.rule.id(),
                read: result_json(&r.read),
                write: result_json(&r.write),
                mmap: result_json(&r.mmap),
            }))),
            assumptions: sys.assumptions.clone(),
        })
    }
}
