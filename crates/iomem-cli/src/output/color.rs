//! Colour on a terminal: `--color auto|always|never`, and `NO_COLOR`
//! (<https://no-color.org>: set and not empty, it turns colour off unless
//! `--color always` asks for it). Only the human formats are coloured;
//! `--format proc` and JSON never are.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::ValueEnum;

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// Colour when standard output is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Decides once, at start-up, whether output is coloured.
pub(crate) fn init(choice: ColorChoice) {
    ENABLED.store(decide(choice, std::env::var_os("NO_COLOR"), std::io::stdout().is_terminal()), Ordering::Relaxed);
}

fn decide(choice: ColorChoice, no_color: Option<std::ffi::OsString>, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// The colours used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paint {
    /// Allowed, added.
    Good,
    /// Refused, removed, exclusive.
    Bad,
    /// Partly, changed, exclusive with strict checks only.
    Warn,
    /// Context.
    Dim,
}

impl Paint {
    const fn code(self) -> &'static str {
        match self {
            Paint::Good => "\x1b[32m",
            Paint::Bad => "\x1b[1;31m",
            Paint::Warn => "\x1b[33m",
            Paint::Dim => "\x1b[2m",
        }
    }

    /// `text` in this colour, when colour is on.
    pub(crate) fn paint(self, text: &str) -> String {
        if ENABLED.load(Ordering::Relaxed) { format!("{}{text}\x1b[0m", self.code()) } else { text.to_string() }
    }

    /// `text` padded with spaces to `width` visible columns, then painted
    /// (escape codes must not count as width).
    pub(crate) fn paint_padded(self, text: &str, width: usize) -> String {
        self.paint(&format!("{text:<width$}"))
    }
}

/// The colour of a `/dev/mem` result name: `ok` good, `zeros`/`mixed`
/// partial, an errno bad.
pub(crate) fn of_result(result: &str) -> Paint {
    match result.trim_end_matches('?') {
        "ok" | "dropped" => Paint::Good,
        "zeros" | "mixed" => Paint::Warn,
        _ => Paint::Bad,
    }
}

#[cfg(test)]
mod tests {
    use super::{ColorChoice, decide};

    #[test]
    fn no_color_and_terminals_decide_auto_only() {
        assert!(decide(ColorChoice::Auto, None, true));
        assert!(!decide(ColorChoice::Auto, None, false), "not on a pipe");
        assert!(!decide(ColorChoice::Auto, Some("1".into()), true), "NO_COLOR");
        assert!(decide(ColorChoice::Auto, Some("".into()), true), "an empty NO_COLOR is unset");
        assert!(decide(ColorChoice::Always, Some("1".into()), false), "--color always wins");
        assert!(!decide(ColorChoice::Never, None, true));
    }
}
