//! `iomem completions SHELL` and `iomem man`: shell completions and manual
//! pages, generated from the same clap definition the command parses with,
//! so they never fall out of step with it.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

/// Runs `completions`.
pub(crate) fn completions(args: &CompletionsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "iomem", out);
    Ok(())
}

/// Runs `man`: `iomem.1` on standard output, or with `--dir` one page per
/// command (`iomem.1`, `iomem-show.1`, ...) written there.
pub(crate) fn man(args: &ManArgs, out: &mut dyn Write, warn: &mut dyn Write) -> anyhow::Result<()> {
    let cmd = Cli::command();
    let Some(dir) = &args.dir else {
        clap_mangen::Man::new(cmd).render(out)?;
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut pages = vec![("iomem".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("iomem-{}", sub.get_name());
        let page = sub.clone().display_name(name.clone()).bin_name(format!("iomem {}", sub.get_name()));
        pages.push((name, page));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut bytes = Vec::new();
        clap_mangen::Man::new(page).title(name.to_uppercase()).render(&mut bytes)?;
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        writeln!(warn, "iomem: wrote {}", path.display())?;
    }
    Ok(())
}
