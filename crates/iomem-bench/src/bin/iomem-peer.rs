//! The peer of the whole-process figures: the `procfs-core` crate's flat
//! `/proc/iomem` reader doing the work that corresponds to each `iomem`
//! command on the same file.
//!
//! * `iomem-peer proc FILE`: parse, print every line back in the kernel's
//!   format (`iomem show --format proc`).
//! * `iomem-peer json FILE`: parse, print the flat list as pretty JSON
//!   (`iomem show --json`).
//! * `iomem-peer ram FILE`: parse, print the ranges named `System RAM…`
//!   (what a flat reader can say for `iomem check` / `iomem safe`: it has
//!   no tree, no flags and no policy).

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

use procfs_core::{FromBufRead, Iomem};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, file] = args.as_slice() else {
        eprintln!("usage: iomem-peer proc|json|ram FILE");
        return ExitCode::from(2);
    };
    match run(mode, file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iomem-peer: {file}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mode: &str, file: &str) -> Result<(), Box<dyn std::error::Error>> {
    let f = std::fs::File::open(file)?;
    let Iomem(entries) = Iomem::from_buf_read(BufReader::new(f))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    match mode {
        "proc" => {
            for (indent, m) in &entries {
                let (s, e) = m.address;
                writeln!(out, "{:w$}{s:08x}-{e:08x} : {}", "", m.name, w = indent * 2)?;
            }
        }
        "json" => {
            serde_json::to_writer_pretty(&mut out, &Iomem(entries))?;
            writeln!(out)?;
        }
        "ram" => {
            for (_, m) in entries.iter().filter(|(_, m)| m.name.starts_with("System RAM")) {
                writeln!(out, "{:#x}-{:#x}", m.address.0, m.address.1)?;
            }
        }
        _ => return Err("mode must be proc, json or ram".into()),
    }
    out.flush()?;
    Ok(())
}
