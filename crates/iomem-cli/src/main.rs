//! `iomem`: the Linux physical address map of a live machine, a captured
//! system or a saved dump, as the kernel's text, an annotated tree or JSON.
//!
//! This file only wires the command line to [`commands`] and turns errors
//! into one line each on standard error and a non-zero exit status.

mod assume;
mod blocks;
mod cli;
mod commands;
mod diff;
mod facts;
mod flaginfo;
mod load;
mod model;
mod output;
mod source;
mod svg;
mod system;
mod verdicts;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: on million-resource dumps the
/// command spends far less in page faults and frees (BENCHMARKS.md, "Whole
/// process").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    output::color::init(cli.color);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut warn = io::stderr();
    let result = commands::run(&cli, &mut out, &mut warn).and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `iomem show | head`: the reader left; that is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("iomem: error: {e:#}");
            if e.downcast_ref::<cli::UsageError>().is_some() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}
