//! Lines built from the built-in commands' names, options and values (and
//! arbitrary words) through a live console session: shell-style splitting,
//! command resolution, clap argument mapping and every built-in handler.
//!
//! Checks: no built-in command panics on any line, replies are complete
//! lines, no raw escape sequence is sent, and the session answers every
//! line until `exit`.

#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use monitor_core_fuzz::harness::{Console, LineSession, VOCABULARY, check_reply};

static CONSOLE: LazyLock<Console> = LazyLock::new(|| Console::new(false));

#[derive(Debug, Arbitrary)]
enum Word {
    Known(u8),
    Raw(String),
    Number(i64),
    Duration(u16, u8),
}

impl Word {
    fn render(&self) -> String {
        match self {
            Word::Known(i) => VOCABULARY[usize::from(*i) % VOCABULARY.len()].to_owned(),
            // Control characters would be telnet-level events (Ctrl-C,
            // Ctrl-D, line ends) rather than argument bytes; the
            // session_bytes target covers those.
            Word::Raw(text) => text
                .chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect(),
            Word::Number(n) => n.to_string(),
            Word::Duration(n, unit) => {
                let unit = ["ms", "s", "m", "h", "", "x", "us"][usize::from(*unit) % 7];
                format!("{n}{unit}")
            }
        }
    }
}

fuzz_target!(|lines: Vec<Vec<Word>>| {
    let mut session = LineSession::open(&CONSOLE);
    for words in lines.iter().take(16) {
        let line = words.iter().map(Word::render).collect::<Vec<_>>().join(" ");
        match session.cmd(&line) {
            Some(reply) => {
                if let Err(problem) = check_reply(&line, &reply) {
                    panic!("{problem}");
                }
            }
            // `exit`, or a resolved prefix of it: a fresh session goes on.
            None => session = LineSession::open(&CONSOLE),
        }
    }
});
