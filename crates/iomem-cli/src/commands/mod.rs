//! The commands. Each takes its arguments and two writers (results, and
//! warnings for standard error) so that tests and the binary share one path.

mod blocks;
pub(crate) mod check;
mod diff;
mod docs;
pub(crate) mod map;
mod safe;
mod show;
mod simulate;

use std::io::Write;

use crate::cli::{Cli, Command};

/// Runs a parsed command line.
pub(crate) fn run(cli: &Cli, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    match &cli.command {
        Command::Show(args) => show::run(args, out, warn),
        Command::Check(args) => check::run(args, out, warn),
        Command::Safe(args) => safe::run(args, out, warn),
        Command::Simulate(args) => simulate::run(args, out, warn),
        Command::Blocks(args) => blocks::run(args, out, warn),
        Command::Map(args) => map::run(args, out, warn),
        Command::Diff(args) => diff::run(args, out, warn),
        Command::Completions(args) => docs::completions(args, out),
        Command::Man(args) => docs::man(args, out, warn),
    }
}
