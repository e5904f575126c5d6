//! Colour, only where someone will see it.

use std::io::IsTerminal;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    Always,
    Never,
}

/// How to decorate text for one output stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    color: bool,
}

impl Style {
    /// The style for a stream that `is_terminal` or not.
    pub(crate) fn new(choice: ColorChoice, is_terminal: bool) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            // https://no-color.org: set and not empty means no colour.
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Self { color }
    }

    pub(crate) fn stdout(choice: ColorChoice) -> Self {
        Self::new(choice, std::io::stdout().is_terminal())
    }

    pub(crate) fn stderr(choice: ColorChoice) -> Self {
        Self::new(choice, std::io::stderr().is_terminal())
    }

    /// An error message: red.
    pub(crate) fn error(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// A note from the client itself, as opposed to the server: dim yellow.
    pub(crate) fn note(self, text: &str) -> String {
        self.paint("33", text)
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_asked_or_on_a_terminal() {
        assert_eq!(
            Style::new(ColorChoice::Always, false).error("x"),
            "\x1b[31mx\x1b[0m"
        );
        assert_eq!(Style::new(ColorChoice::Never, true).error("x"), "x");
        assert_eq!(Style::new(ColorChoice::Auto, false).error("x"), "x");
    }
}
