//! Arbitrary bytes, split at arbitrary points, into a full console session
//! over the in-memory transport: telnet decoder, authentication, line
//! limits, dispatcher, built-in commands, output encoding.
//!
//! Checks, besides "nothing panics and the session ends": the output
//! carries no raw control characters (no escape sequence reaches the
//! person's terminal), and a console with a token says nothing but the
//! challenge before it is given the token.

#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use monitor_core_fuzz::harness::{Console, TOKEN, check_session};

static OPEN: LazyLock<Console> = LazyLock::new(|| Console::new(false));
static LOCKED: LazyLock<Console> = LazyLock::new(|| Console::new(true));

#[derive(Debug, Arbitrary)]
struct Input {
    /// Whether to talk to the console that wants a token.
    auth: bool,
    /// Whether to send the right `auth` line first, to get past it.
    token_first: bool,
    /// The bytes, one write each.
    chunks: Vec<Vec<u8>>,
}

fuzz_target!(|input: Input| {
    let console = if input.auth { &*LOCKED } else { &*OPEN };
    let mut chunks = input.chunks;
    if input.auth && input.token_first {
        chunks.insert(0, format!("auth {TOKEN}\r\n").into_bytes());
    }
    let output = console.session(&chunks);
    let sent = chunks.concat();
    if let Err(problem) = check_session(input.auth, &sent, &output) {
        panic!("{problem}");
    }
});
