//! `cargo xtask`: the project's own tasks (`.cargo/config.toml` makes
//! `cargo xtask …` an alias of `cargo run -q -p xtask -- …`).
//!
//! * `cargo xtask kernel-check [--quick] [--record DIR]`: boots Debian's
//!   kernels under QEMU with virtio-mem devices and checks `iomem show`,
//!   `iomem check`, `iomem blocks` and `iomem simulate --replay` against
//!   what the real kernel does (see `kernel_check`).

mod kernel_check;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The project's tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Proof on real kernels: boot Debian's 6.1 and 6.12 kernels under QEMU
    /// with virtio-mem devices; at each step of each scenario compare what
    /// `iomem` says inside the guest (show, check, blocks) with what the
    /// kernel does, and replay the run with `iomem simulate --replay`.
    ///
    /// Installs its Debian packages (apt-get), downloads the kernels
    /// without installing them, and needs root. Exit status: 0 if every
    /// check matched, 1 on any difference or failure, 2 if checks were
    /// skipped (packages, kernels or commands missing) and nothing differed.
    KernelCheck(kernel_check::Options),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.task {
        Task::KernelCheck(opts) => kernel_check::main(&opts),
    }
}
