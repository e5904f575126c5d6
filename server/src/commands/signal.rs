//! `signal SIGNAME`: send a signal to this process.

use monitor_core::dispatch::{Arg, Command, CommandError};

use super::MonitorContext;

/// A signal the console knows by name, and whether sending it is harmless
/// enough to skip `--confirm` (it does not end, stop or crash the process
/// by default).
struct Known {
    name: &'static str,
    #[cfg(unix)]
    number: libc::c_int,
    harmless: bool,
}

#[cfg(unix)]
macro_rules! known {
    ($($name:literal => $number:ident, $harmless:literal;)*) => {
        &[$(Known { name: $name, number: libc::$number, harmless: $harmless }),*]
    };
}

#[cfg(unix)]
const SIGNALS: &[Known] = known! {
    "HUP" => SIGHUP, false;
    "INT" => SIGINT, false;
    "QUIT" => SIGQUIT, false;
    "ABRT" => SIGABRT, false;
    "KILL" => SIGKILL, false;
    "TERM" => SIGTERM, false;
    "ALRM" => SIGALRM, false;
    "PIPE" => SIGPIPE, false;
    "STOP" => SIGSTOP, false;
    "TSTP" => SIGTSTP, false;
    "USR1" => SIGUSR1, false;
    "USR2" => SIGUSR2, false;
    "CHLD" => SIGCHLD, true;
    "CONT" => SIGCONT, true;
    "WINCH" => SIGWINCH, true;
    "URG" => SIGURG, true;
};

#[cfg(not(unix))]
const SIGNALS: &[Known] = &[];

fn names() -> String {
    SIGNALS
        .iter()
        .map(|known| known.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The names `signal` accepts, for completion and help.
pub fn signal_names() -> impl Iterator<Item = &'static str> {
    SIGNALS.iter().map(|known| known.name)
}

pub(super) fn command() -> Command<MonitorContext> {
    Command::new("signal")
        .about(
            "Send a signal to this process, e.g. signal USR1.\n\n\
             Signals that end, stop or crash the process unless it handles them (TERM, KILL, INT, \
             QUIT, HUP, ABRT, ALRM, PIPE, STOP, TSTP, USR1, USR2) are only sent with --confirm; \
             CHLD, CONT, WINCH and URG are sent directly. Names may be given with \
             or without SIG, in any case.",
        )
        .arg(Arg::string("SIGNAME").help("the signal's name, e.g. USR1 or SIGTERM"))
        .arg(Arg::flag("confirm").help("required for signals that end or stop the process"))
        .local()
        .run(|_, args, out| {
            let raw: String = args.get("SIGNAME").ok_or("missing SIGNAME")?;
            let upper = raw.trim().to_ascii_uppercase();
            let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
            let Some(known) = SIGNALS.iter().find(|known| known.name == bare) else {
                return Err(CommandError::new(format!(
                    "unknown signal {raw:?}; known signals: {}",
                    names()
                )));
            };
            if !known.harmless && !args.flag("confirm") {
                return Err(CommandError::new(format!(
                    "SIG{} would end or stop this process; repeat with --confirm to send it",
                    known.name
                )));
            }
            send(known)?;
            out.line(format!(
                "Sent SIG{} to process {}",
                known.name,
                std::process::id()
            ));
            Ok(())
        })
}

#[cfg(unix)]
fn send(known: &Known) -> Result<(), CommandError> {
    // SAFETY: `kill` has no memory-safety preconditions; it is given our own
    // pid and a valid signal number from libc.
    let result = unsafe { libc::kill(libc::getpid(), known.number) };
    if result == 0 {
        Ok(())
    } else {
        Err(CommandError::new(format!(
            "could not send SIG{}: {}",
            known.name,
            std::io::Error::last_os_error()
        )))
    }
}

#[cfg(not(unix))]
fn send(_: &Known) -> Result<(), CommandError> {
    Err(CommandError::new("signals are only supported on Unix"))
}
