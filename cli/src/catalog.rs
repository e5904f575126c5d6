//! What the server's `help` says about its commands, and how to tell a
//! failed reply from a successful one.
//!
//! The command list is read from the server rather than built in, because
//! an application can register its own commands and aliases.

/// One command as listed by `help`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandInfo {
    pub(crate) name: String,
    pub(crate) aliases: Vec<String>,
    /// The argument list as shown in usage, e.g. `[--json] TASK_ID`.
    pub(crate) args: String,
}

impl CommandInfo {
    /// Whether the usage names an argument, e.g. `TASK_ID`.
    pub(crate) fn takes(&self, arg: &str) -> bool {
        self.args
            .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '<' | '>' | '.'))
            .any(|word| word == arg)
    }

    /// The options in the usage (`-f`, `--sort`, `--json`, ...).
    pub(crate) fn options(&self) -> impl Iterator<Item = &str> {
        self.args
            .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '|' | '='))
            .filter(|word| word.starts_with('-') && word.len() > 1)
    }
}

/// The server's commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Catalog {
    commands: Vec<CommandInfo>,
}

impl Catalog {
    /// Reads the listing printed by `help`.
    ///
    /// The default layout is one indented line per command:
    /// `    cancel TASK_ID: Cancel a task. (aliases: ca)`. Applications may
    /// change that template; any layout with the name first on an indented
    /// or bulleted line, and aliases as `(aliases: a, b)`, still parses.
    /// Anything else yields fewer completions, never an error.
    pub(crate) fn parse_help(text: &str) -> Self {
        let commands = text.lines().filter_map(parse_help_line).collect();
        Self { commands }
    }

    #[cfg(test)]
    pub(crate) fn commands(&self) -> &[CommandInfo] {
        &self.commands
    }

    /// Resolves a typed word the way the server does: exact name, then
    /// alias, then a prefix that points to a single command.
    pub(crate) fn resolve(&self, word: &str) -> Option<&CommandInfo> {
        if let Some(info) = self.commands.iter().find(|c| c.name == word) {
            return Some(info);
        }
        if let Some(info) = self
            .commands
            .iter()
            .find(|c| c.aliases.iter().any(|a| a == word))
        {
            return Some(info);
        }
        if word.is_empty() {
            return None;
        }
        let mut matches = self
            .commands
            .iter()
            .filter(|c| c.name.starts_with(word) || c.aliases.iter().any(|a| a.starts_with(word)));
        match (matches.next(), matches.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// Command words starting with `prefix`: names, plus the aliases whose
    /// command's name does not match too (so `st` offers `stacktrace`, not
    /// also `st` and `stack`, while `q` still offers `q` and `quit`).
    pub(crate) fn complete_command(&self, prefix: &str) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        for info in &self.commands {
            if info.name.starts_with(prefix) {
                words.push(info.name.clone());
            } else {
                words.extend(
                    info.aliases
                        .iter()
                        .filter(|a| a.starts_with(prefix))
                        .cloned(),
                );
            }
        }
        words.sort();
        words.dedup();
        words
    }
}

fn parse_help_line(line: &str) -> Option<CommandInfo> {
    // Command lines are indented or bulleted; the heading is not.
    let indented = line.starts_with([' ', '\t', '*', '-']);
    if !indented {
        return None;
    }
    let body = line
        .trim_start()
        .trim_start_matches(['*', '-'])
        .trim_start();
    let name_end = body.find([' ', ':', '\t']).unwrap_or(body.len());
    let name = &body[..name_end];
    if name.is_empty() || name.contains(['"', '\'', '(', ')', ',']) {
        return None;
    }
    let rest = &body[name_end..];
    let (rest, aliases) = match rest.rfind("(aliases: ") {
        Some(at) if rest.trim_end().ends_with(')') => {
            let list = rest[at + "(aliases: ".len()..].trim_end();
            let list = &list[..list.len() - 1];
            let aliases = list
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect();
            (&rest[..at], aliases)
        }
        _ => (rest, Vec::new()),
    };
    // The usage ends at the first ": " (before the summary); usage never
    // contains one.
    let args = rest.split(": ").next().unwrap_or_default();
    let args = args.trim().trim_end_matches(':').trim().to_owned();
    Some(CommandInfo {
        name: name.to_owned(),
        aliases,
        args,
    })
}

/// How a reply turned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The command worked; everything is output.
    Success,
    /// The command failed: `output` is what it printed before failing,
    /// `error` the error itself.
    Failure { output: String, error: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "\
Available commands:
    cancel TASK_ID: Cancel a task: its future is dropped at its next poll, running its destructors. (aliases: ca)
    exit: Leave the monitor (the application keeps running). Ctrl-D does the same. (aliases: quit, q)
    help [COMMAND]...: Show the commands, or help for the named ones. (aliases: h, ?)
    ps [--filter TEXT] [--sort KEY] [--limit limit] [--json]: List the live tasks. (aliases: p)
    ps-terminated [--filter TEXT] [--json]: List recently ended tasks, newest first. (aliases: pt, pst)
    signal [--confirm] SIGNAME: Send a signal to this process, e.g. signal USR1.
    stacktrace [--json]: Show which task each thread is polling right now, and for how long. (aliases: st, stack)
    where [--json] TASK_ID: Show where a task is (aliases: w)
    where-terminated [--json] TASK_ID: Show how an ended task ended. (aliases: wt)
";

    fn catalog() -> Catalog {
        Catalog::parse_help(HELP)
    }

    #[test]
    fn help_listing_parses_names_aliases_and_args() {
        let catalog = catalog();
        let names: Vec<_> = catalog.commands().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "cancel",
                "exit",
                "help",
                "ps",
                "ps-terminated",
                "signal",
                "stacktrace",
                "where",
                "where-terminated"
            ]
        );
        let help = catalog.resolve("help").unwrap();
        assert_eq!(help.aliases, ["h", "?"]);
        let ps = catalog.resolve("ps").unwrap();
        assert_eq!(
            ps.args,
            "[--filter TEXT] [--sort KEY] [--limit limit] [--json]"
        );
        assert_eq!(
            ps.options().collect::<Vec<_>>(),
            ["--filter", "--sort", "--limit", "--json"]
        );
        assert!(catalog.resolve("where").unwrap().takes("TASK_ID"));
        assert!(catalog.resolve("signal").unwrap().takes("SIGNAME"));
        assert!(!ps.takes("TASK_ID"));
        assert_eq!(
            catalog.resolve("signal").unwrap().aliases,
            Vec::<String>::new()
        );
    }

    #[test]
    fn other_layouts_still_give_names() {
        let catalog = Catalog::parse_help(
            "Available commands:\n* add A [B]\n* where TASK_ID (aliases: w)\n\nnot a command\n",
        );
        let where_ = catalog.resolve("w").unwrap();
        assert_eq!(where_.name, "where");
        assert_eq!(where_.args, "TASK_ID");
        assert_eq!(catalog.resolve("add").unwrap().args, "A [B]");
    }

    #[test]
    fn resolution_follows_the_server() {
        let catalog = catalog();
        assert_eq!(catalog.resolve("w").unwrap().name, "where");
        assert_eq!(catalog.resolve("wt").unwrap().name, "where-terminated");
        assert_eq!(catalog.resolve("can").unwrap().name, "cancel");
        assert_eq!(catalog.resolve("sig").unwrap().name, "signal");
        // `s` starts signal and stacktrace: ambiguous.
        assert_eq!(catalog.resolve("s"), None);
        assert_eq!(catalog.resolve("nope"), None);
    }

    #[test]
    fn command_completion_prefers_names_over_their_aliases() {
        let catalog = catalog();
        assert_eq!(catalog.complete_command("st"), ["stacktrace"]);
        assert_eq!(catalog.complete_command("sta"), ["stacktrace"]);
        assert_eq!(catalog.complete_command("p"), ["ps", "ps-terminated"]);
        assert_eq!(catalog.complete_command("q"), ["q", "quit"]);
        assert_eq!(catalog.complete_command("?"), ["?"]);
        assert_eq!(catalog.complete_command("").len(), 9);
    }
}
