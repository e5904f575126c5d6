//! Token authentication: the first thing a session does when the monitor
//! has a token, before it learns anything about the application.
//!
//! The exchange is deliberately tiny and line-based, so `nc` users can type
//! it: the server says [`CHALLENGE`], the client sends `auth TOKEN`. Until
//! that succeeds the client gets nothing else: no intro, no prompt, no task
//! count, not even answers to telnet negotiation (which would tell a
//! scanner what is listening).

use std::{
    io,
    sync::Mutex,
    time::{Duration, Instant},
};

use futures_io::AsyncRead;
use futures_lite::FutureExt as _;

use crate::pace::Pace;
use crate::session::Writer;
use crate::transport::telnet::{Event, LineReader};

/// What an unauthenticated client is told, and all it is told.
pub(crate) const CHALLENGE: &str = "Authentication required: send \"auth TOKEN\"\n";

/// Failed attempts a session may make before it is disconnected.
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// How long a client has, from connecting, to authenticate (capped by the
/// idle timeout). Long enough for a person to paste a token after every
/// failure delay; short enough that a silent scanner cannot keep one of the
/// few session places for the whole idle timeout.
pub(crate) const AUTH_WINDOW: Duration = Duration::from_secs(30);

/// The shortest token accepted: 16 bytes. A session may try three times per
/// connection, and someone who can reach the port may reconnect at will,
/// so the token itself must be too long to guess, like 32 hex digits from
/// `openssl rand -hex 16`.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// The token and how failures are slowed down.
pub(crate) struct Auth {
    pub(crate) token: String,
    /// The delay after a session's first failure; it doubles after each one.
    pub(crate) delay: Duration,
    /// Guesses over network listeners (TCP, custom transports, HTTP).
    network: GuessBudget,
    /// Guesses over owner-only listeners (Unix sockets): a budget of their
    /// own, so a network attacker spending theirs cannot make the owner
    /// wait.
    local: GuessBudget,
}

impl Auth {
    pub(crate) fn new(token: String, delay: Duration) -> Self {
        Self {
            token,
            delay,
            network: GuessBudget::new(delay),
            local: GuessBudget::new(delay),
        }
    }

    /// Whether `guess` is the token, checked as one guess of the network
    /// budget (the one the console's TCP port spends too): it waits for its
    /// turn and for the budget to have room for one more wrong guess, is
    /// compared in constant time, and is charged to the budget when wrong.
    /// A right guess costs nothing, so a program sending its bearer token
    /// with every request is not slowed down while nobody guesses.
    #[cfg(feature = "http")]
    pub(crate) async fn guess_over_network(&self, guess: &[u8]) -> bool {
        self.network
            .attempt(|| constant_time_eq(guess, self.token.as_bytes()))
            .await
    }
}

/// How many wrong token guesses may be checked, over all the connections of
/// one kind of listener together: one per `auth_delay` (one a second by
/// default) after a burst of [`MAX_ATTEMPTS`].
///
/// A per-session delay alone does not bound guessing: an attacker opens
/// many connections, sends one guess on each and learns from the absence
/// of an instant welcome that it was wrong. So every credential a client
/// offers waits for this budget to have room for one more wrong guess
/// before it is compared, whatever connection (or protocol: the console
/// and HTTP spend the same network budget) it came on; a session keeps its
/// place while it waits, and one that leaves before its turn has tested
/// nothing. Only wrong guesses are charged: the right token never makes
/// the budget smaller.
struct GuessBudget {
    /// Waiting guesses take their turns in order (the lock is fair), so a
    /// flood of guesses delays the owner's by at most one per waiting
    /// guess rather than for ever.
    turn: async_lock::Mutex<()>,
    pace: Mutex<Pace>,
}

impl GuessBudget {
    fn new(delay: Duration) -> Self {
        Self {
            turn: async_lock::Mutex::new(()),
            pace: Mutex::new(Pace::per_interval(delay, u64::from(MAX_ATTEMPTS))),
        }
    }

    /// Waits for this guess's turn and for the budget to allow one more
    /// wrong guess, then runs `check` (synchronously, under the budget's
    /// lock, so nothing else spends that room in between) and charges the
    /// budget when it fails. Returns what `check` said.
    async fn attempt(&self, check: impl FnOnce() -> bool) -> bool {
        let _turn = self.turn.lock().await;
        loop {
            let wait = lock(&self.pace).wait(Instant::now());
            if wait.is_zero() {
                break;
            }
            async_io::Timer::after(wait).await;
        }
        let mut pace = lock(&self.pace);
        let granted = check();
        if !granted {
            pace.charge(1, Instant::now());
        }
        granted
    }
}

/// The budget's state stays consistent whatever panicked while it was
/// held (only arithmetic runs under it), so a poisoned lock is used as is.
fn lock(pace: &Mutex<Pace>) -> std::sync::MutexGuard<'_, Pace> {
    pace.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a token was refused by the builder.
pub(crate) fn check_token(token: &str, max_line: usize) -> Result<(), String> {
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "the auth token must be at least {MIN_TOKEN_LEN} bytes long (e.g. the output of \
             `openssl rand -hex 16`), not {}",
            token.len()
        ));
    }
    // The decoder drops control characters and the line is trimmed and
    // split on whitespace, so such a token could never be typed back.
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the auth token must not contain whitespace or control characters".into());
    }
    // The `auth` line may be shell-quoted, like every console line (a
    // client may quote the token it sends); quotes and backslashes in the
    // token itself would then mean two different things.
    if token.contains(['\'', '"', '\\']) {
        return Err("the auth token must not contain quotes or backslashes".into());
    }
    if token.len() + "auth ".len() > max_line {
        return Err(format!(
            "the auth token is longer than a line may be ({max_line} bytes with \"auth \")"
        ));
    }
    Ok(())
}

/// Compares `guess` with `secret` in a time that depends only on the
/// secret's length, never on where the first differing byte is.
///
/// A plain `==` returns at the first difference, so response times would
/// let a patient client find the token byte by byte. Ten lines here are
/// easier to audit than a dependency (`subtle`) for this one use; the
/// secret's length is not hidden, but it is at least [`MIN_TOKEN_LEN`]
/// bytes of a token that should be random.
pub(crate) fn constant_time_eq(guess: &[u8], secret: &[u8]) -> bool {
    let mut diff = u8::from(guess.len() != secret.len());
    for (i, &expected) in secret.iter().enumerate() {
        let got = guess.get(i).copied().unwrap_or(0);
        diff |= got ^ expected;
    }
    // Keeps the optimiser from turning the loop back into an early exit.
    std::hint::black_box(diff) == 0
}

/// Whether `line` is `auth` followed by the right token, typed as it is
/// or shell-quoted (`auth 'TOKEN'`), as the console reads every line.
fn accepts(line: &str, token: &str) -> bool {
    let words = shell_words::split(line).unwrap_or_default();
    let raw = line
        .trim()
        .strip_prefix("auth")
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .map_or("", str::trim);
    let guess = match words.as_slice() {
        [auth, word] if auth == "auth" => word.as_str(),
        // Also where the shell syntax would drop part of it (a leading
        // `#` starts a comment).
        _ => raw,
    };
    // Always compare, even when the line is not an `auth` line at all (the
    // guess is then empty, which never matches a token of 16 bytes or
    // more), so that the answer takes the same time either way.
    constant_time_eq(guess.as_bytes(), token.as_bytes())
}

/// The outcome of [`authenticate`].
pub(crate) enum Outcome {
    /// The client sent the token; serve the console.
    Granted,
    /// The client failed, left, timed out or broke the connection; the
    /// caller closes it.
    Denied,
}

/// Runs the authentication exchange on a fresh session.
///
/// Every line counts as an attempt (empty, too long and non-UTF-8 ones
/// too). After each failure the session sleeps `delay`, doubling, before it
/// says so; the third failure ends the session. Failures are logged to
/// stderr with the peer, never with what was sent: a mistyped token is
/// still mostly the token.
pub(crate) async fn authenticate<R: AsyncRead + Unpin>(
    reader: &mut LineReader<R>,
    out: &mut Writer,
    auth: &Auth,
    local: bool,
    peer: &str,
    idle_timeout: Duration,
) -> Outcome {
    let budget = if local { &auth.local } else { &auth.network };
    let deadline = Instant::now() + AUTH_WINDOW.min(idle_timeout);
    if out.text(CHALLENGE).await.is_err() {
        return Outcome::Denied;
    }
    let mut failures = 0u32;
    let mut delay = auth.delay;
    loop {
        let event = reader
            .next_event()
            .or(async {
                async_io::Timer::at(deadline).await;
                Err(io::ErrorKind::TimedOut.into())
            })
            .await;
        let line = match event {
            Ok(Event::Line(line)) => Some(line),
            Ok(Event::TooLong { .. } | Event::InvalidUtf8) => None,
            // Negotiation and Ctrl-C get no answer before authentication.
            Ok(Event::Reply(_) | Event::Interrupt | Event::WindowSize { .. }) => continue,
            Ok(Event::Eof) => return Outcome::Denied,
            Err(err) => {
                if err.kind() == io::ErrorKind::TimedOut {
                    eprintln!("monitor: {peer} did not authenticate in time; disconnecting");
                }
                return Outcome::Denied;
            }
        };
        // Every attempt, even one that cannot match, waits for the budget:
        // the answer must not tell a well-formed guess from a malformed one.
        let checked = async {
            Some(
                budget
                    .attempt(|| line.is_some_and(|line| accepts(&line, &auth.token)))
                    .await,
            )
        }
        .or(async {
            async_io::Timer::at(deadline).await;
            None
        })
        .await;
        let Some(granted) = checked else {
            eprintln!("monitor: {peer} did not authenticate in time; disconnecting");
            return Outcome::Denied;
        };
        if granted {
            eprintln!("monitor: {peer} authenticated");
            return Outcome::Granted;
        }
        failures += 1;
        let last = failures >= MAX_ATTEMPTS;
        eprintln!(
            "monitor: authentication failed for {peer} (attempt {failures} of {MAX_ATTEMPTS}){}",
            if last { "; disconnecting" } else { "" }
        );
        // The delay comes before the answer, so a client cannot pipeline
        // guesses: it learns nothing until the delay is over.
        async_io::Timer::after(delay).await;
        delay = delay.saturating_mul(2);
        let answer = if last {
            "Authentication failed; disconnecting.\n"
        } else {
            "Authentication failed.\n"
        };
        if out.text(answer).await.is_err() || last {
            return Outcome::Denied;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdeg", b"abcdef"));
        assert!(!constant_time_eq(b"abcde", b"abcdef"));
        assert!(!constant_time_eq(b"abcdefg", b"abcdef"));
        assert!(!constant_time_eq(b"", b"abcdef"));
        assert!(constant_time_eq(b"", b""));
        // A prefix padded with NULs must not pass for the shorter secret.
        assert!(!constant_time_eq(b"abc\0", b"abc"));
    }

    #[test]
    fn only_auth_lines_with_the_token_are_accepted() {
        let token = "0123456789abcdef";
        assert!(accepts("auth 0123456789abcdef", token));
        assert!(accepts("  auth \t0123456789abcdef  ", token));
        assert!(accepts("auth '0123456789abcdef'", token));
        assert!(accepts("auth \"0123456789abcdef\"", token));
        assert!(accepts("auth #123456789abcdef", "#123456789abcdef"));
        assert!(!accepts("auth '0123456789abcdef", token));
        assert!(!accepts("auth0123456789abcdef", token));
        assert!(!accepts("AUTH 0123456789abcdef", token));
        assert!(!accepts("auth 0123456789abcdeF", token));
        assert!(!accepts("auth 0123456789abcdef extra", token));
        assert!(!accepts("auth", token));
        assert!(!accepts("", token));
        assert!(!accepts("ps", token));
    }

    #[test]
    fn weak_or_untypeable_tokens_are_refused() {
        assert!(check_token("0123456789abcdef", 4096).is_ok());
        assert!(check_token("short", 4096).is_err());
        assert!(check_token("0123456789 abcdef", 4096).is_err());
        assert!(check_token("0123456789abcdef\n", 4096).is_err());
        assert!(check_token("0123456789'abcdef", 4096).is_err());
        assert!(check_token("0123456789\\abcdef", 4096).is_err());
        assert!(check_token("q83vEjRWeJ+/A9sKx=", 4096).is_ok());
        assert!(check_token("0123456789abcdef", 16).is_err());
    }
}
