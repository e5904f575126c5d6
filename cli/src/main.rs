//! `monitor-cli`: the console client of the async Rust runtime monitor.
//!
//! With a command (`monitor-cli ps --json`) it runs that one command and
//! exits with its status; without one it is an interactive console with
//! line editing, history and completion, the comfortable alternative to
//! `nc 127.0.0.1 50101`.

mod catalog;
mod conn;
mod hosts;
mod interactive;
mod style;
mod top;

use std::{
    io::{self, BufRead, IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use clap::Parser;

use crate::{
    catalog::{Catalog, Outcome},
    conn::{Connection, Endpoint, Options},
    style::{ColorChoice, Style},
};

/// The monitor's default TCP port (`monitor_server::MONITOR_PORT`), repeated
/// here so the client does not link the server crate.
const DEFAULT_PORT: u16 = 50101;

/// The command failed (the server reported an error).
const EXIT_FAILED: u8 = 1;
/// Could not connect or authenticate, or the connection broke or timed
/// out. (2 is clap's code for bad `monitor-cli` arguments.)
const EXIT_CONNECTION: u8 = 3;

/// Console client for the async Rust runtime monitor.
///
/// Without COMMAND: an interactive console with history, Tab completion of
/// commands, task ids and signal names. With COMMAND: runs it, prints its
/// output and exits 0 on success, 1 if the command failed, 3 if the monitor
/// could not be reached. With commands piped on stdin: runs each line.
#[derive(Debug, Parser)]
#[command(
    name = "monitor-cli",
    version,
    after_help = "Examples:\n  monitor-cli                      interactive console on 127.0.0.1:50101\n  \
                  monitor-cli ps --json            one command, JSON on stdout\n  \
                  monitor-cli --port 6000 where 42\n  \
                  monitor-cli --unix /run/app.sock cancel 42\n  \
                  monitor-cli --hosts 50101,50103 ps   one view of two processes\n  \
                  monitor-cli top -i 2s              busiest tasks, refreshed until q\n  \
                  printf 'ps\\nstacktrace\\n' | monitor-cli\n\n\
                  Options go before COMMAND: everything after it is sent to the monitor."
)]
struct Cli {
    /// The monitor's host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// The monitor's TCP port.
    #[arg(long, short = 'p', default_value_t = DEFAULT_PORT)]
    port: u16,

    /// Connect to this Unix domain socket instead of TCP.
    #[cfg(unix)]
    #[arg(long, value_name = "PATH", conflicts_with_all = ["host", "port", "hosts"])]
    unix: Option<PathBuf>,

    /// Run COMMAND on several monitors at once and merge the answers with
    /// a host column (JSON replies: one array, each object with a "host"
    /// field). Entries: HOST:PORT, PORT (on 127.0.0.1) or unix:PATH,
    /// separated by commas.
    #[arg(
        long,
        value_name = "HOST:PORT,...",
        value_delimiter = ',',
        value_parser = hosts::parse_endpoint,
        conflicts_with_all = ["host", "port"],
        requires = "command"
    )]
    hosts: Vec<Endpoint>,

    /// Seconds to wait for the connection and for each reply.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    timeout: Duration,

    /// The monitor's auth token, sent as `auth TOKEN` when the monitor asks
    /// for one. Prefer the environment variable: arguments are visible to
    /// other users in the process list.
    #[arg(long, env = "MONITOR_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// The monitor's prompt, when the application changed it to something
    /// that is not found automatically (e.g. one containing a newline).
    #[arg(long, value_name = "TEXT")]
    prompt: Option<String>,

    /// When to colour output.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    /// A console command and its arguments, e.g. `ps --json` or `where 42`.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!(
            "{text:?} must be a positive number of seconds, e.g. 10 or 0.5"
        )),
    }
}

impl Cli {
    fn endpoint(&self) -> Endpoint {
        #[cfg(unix)]
        if let Some(path) = &self.unix {
            return Endpoint::Unix(path.clone());
        }
        Endpoint::Tcp {
            host: self.host.clone(),
            port: self.port,
        }
    }

    fn options(&self) -> Options {
        Options {
            timeout: self.timeout,
            prompt: self.prompt.clone(),
            token: self.token.clone(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let errors = Style::stderr(cli.color);
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}", errors.error(&format!("monitor-cli: {err}")));
            ExitCode::from(EXIT_CONNECTION)
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, conn::Error> {
    if !cli.hosts.is_empty() {
        let line = shell_words::join(&cli.command);
        let style = Style::stderr(cli.color);
        return Ok(hosts::run(&cli.hosts, &cli.options(), &line, style));
    }
    let endpoint = cli.endpoint();
    let (mut conn, intro, warnings) = Connection::open(&endpoint, &cli.options())?;
    // Tables fit the terminal they are printed on; piped output keeps the
    // server's default width.
    if let Some((terminal_size::Width(columns), _)) = terminal_size::terminal_size() {
        conn.set_width(columns.clamp(20, 1000))?;
    }
    let errors = Style::stderr(cli.color);
    for warning in &warnings {
        eprintln!(
            "{}",
            errors.note(&format!("monitor-cli: warning: {warning}"))
        );
    }
    if !cli.command.is_empty() {
        let line = shell_words::join(&cli.command);
        let full_screen = top::is_top(&cli.command)
            && !cli.command.iter().any(|word| word == "--json")
            && io::stdin().is_terminal()
            && io::stdout().is_terminal();
        if full_screen {
            return top::run(&mut conn, &line, cli.timeout, cli.color);
        }
        return one_shot(&mut conn, &line, cli.color);
    }
    if io::stdin().is_terminal() {
        interactive::run(conn, &intro, cli.color)
    } else {
        batch(&mut conn, cli.color)
    }
}

/// The server's command list; an empty one (unusual help layout, or a
/// failure) only costs completions and exact error detection.
fn fetch_catalog(conn: &mut Connection) -> Result<Catalog, conn::Error> {
    let reply = conn.request("help")?;
    if reply.closed {
        return Err(conn::Error::Closed { text: reply.text });
    }
    Ok(Catalog::parse_help(&reply.text))
}

/// Runs one command: output on stdout, the error on stderr.
fn one_shot(
    conn: &mut Connection,
    line: &str,
    color: ColorChoice,
) -> Result<ExitCode, conn::Error> {
    let catalog = fetch_catalog(conn)?;
    let ok = run_line(conn, &catalog, line, color)?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// Runs each line of stdin, like a script; fails if any command failed.
fn batch(conn: &mut Connection, color: ColorChoice) -> Result<ExitCode, conn::Error> {
    let catalog = fetch_catalog(conn)?;
    let mut all_ok = true;
    for line in io::stdin().lock().lines() {
        let line = line.map_err(conn::Error::Io)?;
        let line = line.trim();
        // An empty line would repeat the previous command on the server.
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        all_ok &= run_line(conn, &catalog, line, color)?;
        if is_exit(&catalog, line) {
            break;
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    })
}

/// Whether `line` runs the server's `exit` command.
fn is_exit(catalog: &Catalog, line: &str) -> bool {
    let word = line.split_whitespace().next().unwrap_or_default();
    catalog
        .resolve(word)
        .map_or(word == "exit", |c| c.name == "exit")
}

/// Sends `line`, prints the reply to stdout (the error part to stderr) and
/// returns whether it succeeded.
fn run_line(
    conn: &mut Connection,
    catalog: &Catalog,
    line: &str,
    color: ColorChoice,
) -> Result<bool, conn::Error> {
    let reply = match conn.request(line) {
        Ok(reply) => reply,
        Err(error @ conn::Error::SessionControl(_)) => {
            // Refused before sending: the session goes on.
            eprintln!("monitor-cli: {error}");
            return Ok(false);
        }
        Err(other) => return Err(other),
    };
    if reply.closed && !is_exit(catalog, line) {
        return Err(conn::Error::Closed { text: reply.text });
    }
    match reply.outcome() {
        Outcome::Success => {
            print_stdout(&reply.text);
            Ok(true)
        }
        Outcome::Failure { output, error } => {
            print_stdout(&output);
            eprintln!("{}", Style::stderr(color).error(&error));
            Ok(false)
        }
    }
}

/// Writes to stdout; a closed pipe (`monitor-cli ps | head -1`) is not an
/// error worth a panic.
fn print_stdout(text: &str) {
    let mut out = io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_after_the_command_belong_to_it() {
        let cli =
            Cli::try_parse_from(["monitor-cli", "--port", "7", "ps", "--json", "-p", "x"]).unwrap();
        assert_eq!(cli.port, 7);
        assert_eq!(cli.command, ["ps", "--json", "-p", "x"]);
        assert_eq!(
            shell_words::join(["ps", "-f", "my task"]),
            "ps -f 'my task'"
        );
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("ten").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
