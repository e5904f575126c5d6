//! The built-in `help` command.

use super::{args::Arg, command::Command, error::CommandError};

/// `help [COMMAND...]`, aliases `h` and `?`. Built with the public API so
/// that it behaves exactly like a user's command.
pub(crate) fn help_command<C>() -> Command<C> {
    Command::new("help")
        .alias("h")
        .alias("?")
        .about(
            "Show the commands, or help for the named ones.\n\n\
             Without arguments, lists every command with its aliases and a \
             summary. With command names, shows their usage and full help.",
        )
        .arg(
            Arg::string("COMMAND")
                .optional()
                .variadic()
                .help("commands to describe"),
        )
        .local()
        .run(|_ctx, args, out| {
            let catalog = out.catalog();
            let names: Vec<String> = args.get_all("COMMAND");
            if names.is_empty() {
                out.write(catalog.help_summary());
                return Ok(());
            }
            let mut unknown = Vec::new();
            for name in &names {
                match catalog.help(name) {
                    Some(help) => out.write(help),
                    None => unknown.push(format!("{name:?}")),
                }
            }
            if unknown.is_empty() {
                Ok(())
            } else {
                Err(CommandError::new(format!(
                    "no command {} (type \"help\" for the list of commands)",
                    unknown.join(", ")
                )))
            }
        })
}
