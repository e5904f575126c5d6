//! The console under attack, shared by the proptest in
//! `hardening_fuzz.rs` and the cargo-fuzz targets in `fuzz/` (which
//! include this file by path), so both check the same properties.
//!
//! A [`Console`] is a real monitor (built-in commands, the monitor thread,
//! the telnet decoder, the session code) served over the in-memory
//! transport, with a few tasks whose names hold the kind of bytes an
//! attacker could get into a task name or a panic message.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt, future};
use monitor_core::{
    BoxedFuture, Executor, Spawner, TaskRegistry,
    dispatch::{Dispatcher, Hooks, Precmd, Reply},
    transport::{MemoryConnector, MemoryStream, MemoryTransport},
};
use monitor_server::{Monitor, MonitorBuilder};

/// The token of the consoles built with `auth: true`.
pub const TOKEN: &str = "fuzz-token-0123456789abcdef";
pub const PROMPT: &str = "monitor >>> ";
const CHALLENGE: &[u8] = b"Authentication required: send \"auth TOKEN\"\r\n";
const FAILED: &[u8] = b"Authentication failed.\r\n";
const FAILED_LAST: &[u8] = b"Authentication failed; disconnecting.\r\n";
const INTRO_START: &[u8] = b"Async Rust monitor:";

/// Names a hostile client or request could have put into task names.
pub const TASK_NAMES: &[&str] = &[
    "plain-worker",
    "evil\x1b]0;pwned\x07\x1b[2Jname",
    "csi-\u{9b}31m-red",
    "multi\r\nline\ttask",
    "ünïcødé-✓",
];

/// Runs each task on a thread of its own: the tasks here only wait to be
/// cancelled, and this keeps the harness free of any runtime.
#[derive(Debug)]
struct ThreadPerTask;

impl Executor for ThreadPerTask {
    fn spawn(&self, future: BoxedFuture) {
        std::thread::spawn(move || future::block_on(future));
    }
}

/// Refuses `signal` lines that would really hurt the process running the
/// fuzzer: USR1/USR2 (their default action ends the process, and libFuzzer
/// uses them to stop), and ending signals whenever any option is present
/// (`--confirm`, however spelled). Everything else reaches the command.
struct SafeSignals;

const ENDING: &[&str] = &[
    "HUP", "INT", "QUIT", "ABRT", "KILL", "TERM", "ALRM", "PIPE", "STOP", "TSTP",
];

impl<C> Hooks<C> for SafeSignals {
    fn precmd(&self, _ctx: &mut C, dispatcher: &Dispatcher<C>, line: &str) -> Precmd {
        let precmd = dispatcher.resolve_line(line);
        if let Precmd::Run { command, args } = &precmd
            && command == "signal"
        {
            let normal = |w: &String| {
                let upper = w.trim().to_ascii_uppercase();
                upper.strip_prefix("SIG").unwrap_or(&upper).to_owned()
            };
            let names: Vec<String> = args.iter().map(normal).collect();
            let option = args.iter().any(|w| w.starts_with('-'));
            let harmful = names
                .iter()
                .any(|n| n == "USR1" || n == "USR2" || (option && ENDING.contains(&n.as_str())));
            if harmful {
                return Precmd::Reply(Reply::error("signal refused by the fuzz harness"));
            }
        }
        precmd
    }
}

/// A monitor over the memory transport, and the tasks it shows.
pub struct Console {
    pub connector: MemoryConnector,
    pub auth: bool,
    pub monitor: Monitor,
    pub spawner: Spawner,
}

impl Console {
    /// A console with every built-in command; with `auth`, sessions must
    /// send `auth TOKEN` first (failures wait only 1 ms here).
    pub fn new(auth: bool) -> Self {
        let registry = TaskRegistry::new();
        let spawner = Spawner::new(ThreadPerTask, Arc::clone(&registry));
        for name in TASK_NAMES {
            drop(
                spawner
                    .task()
                    .name(*name)
                    .spawn(std::future::pending::<()>()),
            );
        }
        // A terminated task with a hostile name too, for `ps-terminated`.
        // (Not one that panics: cargo-fuzz aborts on any panic, caught or
        // not, which is what finds a panicking command.)
        let ended = spawner
            .task()
            .name("ended-\x1b[6n\x1b]52;c;cHduZWQ=\x07")
            .spawn(std::future::pending::<()>());
        let _ = monitor_core::TaskIntrospect::cancel(&*registry, ended.id());
        let _ = future::block_on(ended);
        let (transport, connector) = MemoryTransport::new();
        let mut builder = MonitorBuilder::new(registry)
            .no_tcp()
            .transport(transport)
            .max_sessions(64)
            .max_line(256)
            .command_timeout(Duration::from_millis(100))
            .hooks(SafeSignals);
        if auth {
            builder = builder
                .auth_token(TOKEN)
                .auth_delay(Duration::from_millis(1));
        }
        let monitor = builder.start().expect("monitor starts");
        Self {
            connector,
            auth,
            monitor,
            spawner,
        }
    }

    /// Sends `chunks` as one session (each chunk one write, so lines and
    /// telnet commands are split wherever the input says), then ends the
    /// input and returns everything the server said until it hung up.
    ///
    /// # Panics
    ///
    /// If the server neither hangs up nor goes quiet within 10 s.
    pub fn session(&self, chunks: &[Vec<u8>]) -> Vec<u8> {
        let stream = self.connector.connect().expect("connect");
        let (mut reader, mut writer) = futures_lite::io::split(stream);
        let send = async move {
            for chunk in chunks {
                if writer.write_all(chunk).await.is_err() {
                    // The server hung up (exit, failed authentication).
                    return;
                }
            }
            let _ = writer.close().await;
        };
        let receive = async move {
            let mut out = Vec::new();
            let _ = reader.read_to_end(&mut out).await;
            out
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        future::block_on(
            async { Some(future::zip(send, receive).await.1) }.or(async {
                async_io::Timer::at(deadline).await;
                None
            }),
        )
        .expect("the session ended within 10 s of the end of its input")
    }
}

/// What is wrong with `output`, the server's side of a session whose
/// client sent `input`, or `Ok` when it is well-formed:
///
/// * telnet commands in it are only refusals (`IAC WONT x`, `IAC DONT x`),
///   and `IAC DO NAWS` when the client offered its window size
///   (`IAC WILL NAWS`): the one option the server takes up;
/// * apart from those, it holds no control character but CR LF, TAB and
///   the NUL of CR NUL: no escape sequence reaches the person's terminal,
///   whatever task names, panic messages or input lines contained;
/// * with a token, the client hears only the challenge and at most three
///   failures until it has sent the token, and is never answered at all
///   (not even telnet negotiation) before that.
pub fn check_session(auth: bool, input: &[u8], output: &[u8]) -> Result<(), String> {
    let mut text = output;
    if auth {
        text = text
            .strip_prefix(CHALLENGE)
            .ok_or_else(|| format!("no challenge first: {:?}", lossy(output)))?;
        let mut failures = 0;
        loop {
            if let Some(rest) = text.strip_prefix(FAILED) {
                text = rest;
            } else if let Some(rest) = text.strip_prefix(FAILED_LAST) {
                failures += 1;
                if !rest.is_empty() {
                    return Err(format!("output after disconnecting: {:?}", lossy(rest)));
                }
                text = rest;
                break;
            } else {
                break;
            }
            failures += 1;
        }
        if failures > 3 {
            return Err(format!("{failures} failed attempts allowed"));
        }
        if !text.is_empty() {
            if !text.starts_with(INTRO_START) {
                return Err(format!("answered before authentication: {:?}", lossy(text)));
            }
            if !contains(input, TOKEN.as_bytes()) {
                return Err("authenticated without the token".into());
            }
        }
    }
    // IAC WILL NAWS somewhere in the input (perhaps as data after an
    // escaped IAC: the check allows, it does not demand).
    let offered_naws = contains(input, &[0xff, 251, 31]);
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            0xff => {
                match text.get(i + 1) {
                    Some(252 | 254) if i + 2 < text.len() => i += 3,
                    Some(253) if offered_naws && text.get(i + 2) == Some(&31) => i += 3,
                    _ => return Err(format!("bad telnet command at {i}: {:?}", lossy(text))),
                }
                continue;
            }
            b'\r' | b'\n' | b'\t' => {}
            0 if i > 0 && text[i - 1] == b'\r' => {}
            0xc2 if matches!(text.get(i + 1), Some(0x80..=0x9f)) => {
                return Err(format!("raw C1 control at {i}: {:?}", lossy(text)));
            }
            byte if byte < 0x20 || byte == 0x7f => {
                return Err(format!("raw control {byte:#04x} at {i}: {:?}", lossy(text)));
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn lossy(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut end = text.len().min(600);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// One session driven line by line, for the argument mapping properties.
pub struct LineSession {
    stream: MemoryStream,
    pending: Vec<u8>,
}

impl LineSession {
    /// Connects to a console without a token and reads the intro.
    pub fn open(console: &Console) -> Self {
        assert!(!console.auth, "line sessions are for consoles without auth");
        let mut session = Self {
            stream: console.connector.connect().expect("connect"),
            pending: Vec::new(),
        };
        let intro = session.read_reply().expect("intro and prompt");
        assert!(intro.starts_with("Async Rust monitor:"), "{intro:?}");
        session
    }

    /// Sends `line` and returns the reply (without the prompt), or `None`
    /// when the session ended instead.
    pub fn cmd(&mut self, line: &str) -> Option<String> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        future::block_on(async {
            self.stream.write_all(&bytes).await.ok()?;
            self.stream.flush().await.ok()
        })?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = find(&self.pending, PROMPT.as_bytes()) {
                let reply = String::from_utf8_lossy(&self.pending[..at]).replace("\r\n", "\n");
                self.pending.drain(..at + PROMPT.len());
                return Some(reply);
            }
            let mut buf = [0u8; 4096];
            let n = future::block_on(self.stream.read(&mut buf).or(async {
                async_io::Timer::at(deadline).await;
                Err(std::io::ErrorKind::TimedOut.into())
            }));
            match n {
                Ok(0) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(err) => panic!("no prompt within 10 s ({err}): {:?}", lossy(&self.pending)),
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What is wrong with `reply`, the answer to `line` from a line session,
/// or `Ok`: no built-in command panics on any input, every error is one
/// line, and the line is answered (an empty line may repeat nothing).
pub fn check_reply(line: &str, reply: &str) -> Result<(), String> {
    if reply.lines().any(reports_a_panic) {
        return Err(format!("{line:?} made a command panic: {reply:?}"));
    }
    if reply.contains('\x1b') || reply.contains('\u{9b}') {
        return Err(format!("{line:?} got a raw escape: {reply:?}"));
    }
    if !reply.is_empty() && !reply.ends_with('\n') {
        return Err(format!("{line:?} got an unterminated reply: {reply:?}"));
    }
    Ok(())
}

/// Whether `line` is the dispatcher's report of a panic: `NAME: command
/// panicked: …` or `HOOK hook panicked: …` at the start of a line. The
/// word "panicked" alone is no sign: replies echo what was typed (`help:
/// no command "panicked"`).
fn reports_a_panic(line: &str) -> bool {
    let hook = ["precmd", "postcmd", "emptyline", "default"]
        .iter()
        .any(|hook| line.starts_with(&format!("{hook} hook panicked: ")));
    let command = line.split_once(": ").is_some_and(|(name, rest)| {
        !name.contains([' ', '"']) && rest.starts_with("command panicked: ")
    });
    hook || command
}

#[test]
fn only_the_dispatchers_panic_reports_count_as_panics() {
    assert!(reports_a_panic("ps: command panicked: index out of bounds"));
    assert!(reports_a_panic("precmd hook panicked: boom"));
    assert!(!reports_a_panic(
        "help: no command \"eYYpanickedYY\" (type \"help\" for the list of commands)"
    ));
    assert!(!reports_a_panic(
        "Unknown command \"x: command panicked: \". Type \"help\" for the list of commands."
    ));
}

/// Words that lead the argument mapping into the built-in commands.
pub const VOCABULARY: &[&str] = &[
    "ps",
    "p",
    "ps-terminated",
    "pt",
    "pst",
    "where",
    "w",
    "where-terminated",
    "wt",
    "cancel",
    "ca",
    "stacktrace",
    "st",
    "signal",
    "help",
    "h",
    "?",
    "exit",
    "--json",
    "--filter",
    "-f",
    "--sort",
    "-s",
    "id",
    "age",
    "busy",
    "polls",
    "poll",
    "--limit",
    "-n",
    "--help",
    "-h",
    "--",
    "--confirm",
    "CHLD",
    "SIGCHLD",
    "cont",
    "WINCH",
    "URG",
    "USR1",
    "TERM",
    "KILL",
    "NOPE",
    "#1",
    "1",
    "2",
    "3",
    "0",
    "-1",
    "18446744073709551615",
    "99999999999999999999",
    "'",
    "\"",
    "\\",
    "#",
    "=",
    "''",
    "\"\"",
    "\t",
];
