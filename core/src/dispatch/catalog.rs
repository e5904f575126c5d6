//! The registered commands as data: names, aliases, help and usage.

use super::{
    args::{arg_help, arg_list},
    template::Template,
};

/// Fields available in [`Dispatcher::set_help_template`] and
/// [`Dispatcher::set_help_short_template`](super::Dispatcher::set_help_short_template).
///
/// - `cmd_name`: the command's name, e.g. `cancel`
/// - `arg_list`: its arguments, e.g. `[--json] TASK_ID`
/// - `cmd_arg_sep`: a space when `arg_list` is not empty, else nothing
/// - `usage`: `cmd_name`, `cmd_arg_sep` and `arg_list` together
/// - `doc`: the whole help text given to [`Command::about`](super::Command::about)
/// - `doc_firstline`: its first line
/// - `aliases`: `aliases: ca, c` and a newline, or nothing without aliases
/// - `alias_note`: ` (aliases: ca, c)`, or nothing without aliases
/// - `arg_help`: an empty line, `arguments:` and one line per argument with
///   its help, or nothing for a command without arguments
///
/// [`Dispatcher::set_help_template`]: super::Dispatcher::set_help_template
pub const HELP_FIELDS: &[&str] = &[
    "cmd_name",
    "arg_list",
    "cmd_arg_sep",
    "usage",
    "doc",
    "doc_firstline",
    "aliases",
    "alias_note",
    "arg_help",
];

/// The default `help CMD` template.
pub const DEFAULT_HELP_TEMPLATE: &str = "usage: {usage}\n{aliases}{doc}\n{arg_help}";

/// The default template for each line of the `help` listing.
pub const DEFAULT_HELP_SHORT_TEMPLATE: &str =
    "    {cmd_name}{cmd_arg_sep}{arg_list}: {doc_firstline}{alias_note}";

/// What is known about one registered command.
#[derive(Debug, Clone)]
pub struct CommandInfo {
    name: String,
    aliases: Vec<String>,
    about: String,
    arg_list: String,
    arg_help: String,
    pub(crate) clap: clap::Command,
}

impl CommandInfo {
    pub(crate) fn new(
        name: String,
        aliases: Vec<String>,
        about: String,
        clap: clap::Command,
    ) -> Self {
        Self {
            arg_list: arg_list(&clap),
            arg_help: arg_help(&clap),
            name,
            aliases,
            about,
            clap,
        }
    }

    /// The canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The other names, in the order they were added.
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    /// The whole help text.
    pub fn about(&self) -> &str {
        &self.about
    }

    /// The first line of the help text.
    pub fn summary(&self) -> &str {
        self.about.lines().next().unwrap_or_default().trim()
    }

    /// The arguments as shown in usage, e.g. `[--json] TASK_ID`.
    pub fn arg_list(&self) -> &str {
        &self.arg_list
    }

    /// The usage line, e.g. `cancel TASK_ID`.
    pub fn usage(&self) -> String {
        if self.arg_list.is_empty() {
            self.name.clone()
        } else {
            format!("{} {}", self.name, self.arg_list)
        }
    }

    fn render(&self, template: &Template) -> String {
        let sep = if self.arg_list.is_empty() { "" } else { " " };
        let usage = self.usage();
        let alias_list = self.aliases.join(", ");
        let (aliases, alias_note) = if self.aliases.is_empty() {
            (String::new(), String::new())
        } else {
            (
                format!("aliases: {alias_list}\n"),
                format!(" (aliases: {alias_list})"),
            )
        };
        let arg_help = if self.arg_help.is_empty() {
            String::new()
        } else {
            format!("\narguments:\n{}", self.arg_help)
        };
        template.render(&[
            ("cmd_name", &self.name),
            ("arg_list", &self.arg_list),
            ("cmd_arg_sep", sep),
            ("usage", &usage),
            ("doc", self.about.trim_end()),
            ("doc_firstline", self.summary()),
            ("aliases", &aliases),
            ("alias_note", &alias_note),
            ("arg_help", &arg_help),
        ])
    }
}

/// How a typed word maps to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution<'a> {
    /// Exactly one command: by name, by alias, or by a unique prefix.
    Found(&'a CommandInfo),
    /// A prefix of several commands; their canonical names, sorted.
    Ambiguous(Vec<&'a str>),
    /// No command has this name, alias or prefix.
    Unknown,
}

impl PartialEq for CommandInfo {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for CommandInfo {}

/// The registered commands and the help templates; shared by every session.
///
/// Commands reach it through [`Output::catalog`](super::Output::catalog),
/// hooks through [`Dispatcher::catalog`](super::Dispatcher::catalog).
#[derive(Debug, Clone)]
pub struct Catalog {
    pub(crate) commands: Vec<CommandInfo>,
    pub(crate) help_template: Template,
    pub(crate) help_short_template: Template,
}

impl Catalog {
    pub(crate) fn new() -> Self {
        Self {
            commands: Vec::new(),
            help_template: Template::new(DEFAULT_HELP_TEMPLATE, HELP_FIELDS)
                .expect("the default help template is valid"),
            help_short_template: Template::new(DEFAULT_HELP_SHORT_TEMPLATE, HELP_FIELDS)
                .expect("the default short help template is valid"),
        }
    }

    /// Every command, in registration order.
    pub fn commands(&self) -> impl Iterator<Item = &CommandInfo> {
        self.commands.iter()
    }

    /// The command whose name or alias is exactly `word`.
    pub fn get(&self, word: &str) -> Option<&CommandInfo> {
        self.position(word).map(|i| &self.commands[i])
    }

    pub(crate) fn position(&self, word: &str) -> Option<usize> {
        self.commands
            .iter()
            .position(|c| c.name == word)
            .or_else(|| {
                self.commands
                    .iter()
                    .position(|c| c.aliases.iter().any(|a| a == word))
            })
    }

    /// Resolves a typed word: exact name, then alias, then a prefix of
    /// names and aliases that points to a single command (`wh` → `where`).
    pub fn resolve(&self, word: &str) -> Resolution<'_> {
        if let Some(info) = self.get(word) {
            return Resolution::Found(info);
        }
        if word.is_empty() {
            return Resolution::Unknown;
        }
        let mut matches: Vec<&CommandInfo> = self
            .commands
            .iter()
            .filter(|c| c.name.starts_with(word) || c.aliases.iter().any(|a| a.starts_with(word)))
            .collect();
        matches.sort_by(|a, b| a.name.cmp(&b.name));
        match matches.as_slice() {
            [] => Resolution::Unknown,
            [one] => Resolution::Found(one),
            many => Resolution::Ambiguous(many.iter().map(|c| c.name.as_str()).collect()),
        }
    }

    /// The command name closest to a mistyped `word`, if one is close enough
    /// to be a plausible typo.
    pub fn suggest(&self, word: &str) -> Option<&str> {
        let typed = word.chars().count();
        self.commands
            .iter()
            .map(|c| (strsim::damerau_levenshtein(word, &c.name), c.name.as_str()))
            // One or two edits, and never more edits than typed characters:
            // "x" is not a typo of "ps".
            .filter(|&(distance, _)| distance <= 2 && distance < typed)
            .min()
            .map(|(_, name)| name)
    }

    /// `help CMD`: the command's help rendered with the help template, or
    /// `None` when `word` names no single command.
    pub fn help(&self, word: &str) -> Option<String> {
        match self.resolve(word) {
            Resolution::Found(info) => {
                let mut help = info.render(&self.help_template);
                // Empty fields (no help text, no aliases) would leave runs of
                // blank lines; one is enough.
                while help.contains("\n\n\n") {
                    help = help.replace("\n\n\n", "\n\n");
                }
                Some(help)
            }
            _ => None,
        }
    }

    /// `help`: every command on one line via the short help template, sorted
    /// by name, under a heading.
    pub fn help_summary(&self) -> String {
        let mut commands: Vec<&CommandInfo> = self.commands.iter().collect();
        commands.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = String::from("Available commands:\n");
        for info in commands {
            let line = info.render(&self.help_short_template);
            out.push_str(&line);
            if !line.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}
