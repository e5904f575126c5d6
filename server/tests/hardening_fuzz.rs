//! The fuzz targets of `fuzz/` in miniature, run by `cargo test`: hostile
//! byte streams into full console sessions, and command lines built from
//! the built-in commands' own vocabulary. The harness and the properties
//! checked are the very ones the cargo-fuzz targets use
//! (`hardening_support`).

mod hardening_support;

use std::sync::LazyLock;

use hardening_support::{Console, LineSession, TOKEN, VOCABULARY, check_reply, check_session};
use proptest::prelude::*;

static OPEN: LazyLock<Console> = LazyLock::new(|| Console::new(false));
static LOCKED: LazyLock<Console> = LazyLock::new(|| Console::new(true));

/// Bytes a hostile or confused client sends: telnet commands, control
/// characters, long runs, invalid UTF-8, command lines, auth attempts.
fn chunk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        Just(vec![255, 253, 1]),         // IAC DO ECHO
        Just(vec![255, 250, 31, 0, 80]), // IAC SB NAWS … (unterminated)
        Just(vec![255, 246]),            // IAC AYT
        Just(vec![255, 244]),            // IAC IP
        Just(vec![3]),                   // Ctrl-C
        Just(vec![4]),                   // Ctrl-D
        Just(b"\r\n".to_vec()),
        Just(b"\r\0".to_vec()),
        Just(vec![b'a'; 300]),         // longer than the 256-byte limit
        Just(vec![0xc3, 0x28, b'\n']), // invalid UTF-8
        Just(b"auth nope\n".to_vec()),
        Just(format!("auth {TOKEN}\n").into_bytes()),
        prop::sample::select(VOCABULARY).prop_map(|w| format!("{w} ").into_bytes()),
        "[ -~]{0,40}\n".prop_map(String::into_bytes),
    ]
}

/// A command line from the built-ins' vocabulary and arbitrary words.
fn line() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        4 => prop::sample::select(VOCABULARY).prop_map(str::to_owned),
        1 => "[0-9]{1,22}",
        1 => "[0-9]{1,4}(ms|s|m|h|x|)",
        1 => "[^\\p{Cc}]{0,12}",
    ];
    prop::collection::vec(word, 0..8).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn hostile_byte_streams_get_well_formed_answers(
        auth in any::<bool>(),
        chunks in prop::collection::vec(chunk(), 0..24),
    ) {
        let console = if auth { &*LOCKED } else { &*OPEN };
        let output = console.session(&chunks);
        let sent = chunks.concat();
        if let Err(problem) = check_session(auth, &sent, &output) {
            prop_assert!(false, "{}", problem);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn builtin_commands_map_any_arguments_without_panicking(
        lines in prop::collection::vec(line(), 1..8),
    ) {
        let mut session = LineSession::open(&OPEN);
        for line in &lines {
            match session.cmd(line) {
                Some(reply) => {
                    if let Err(problem) = check_reply(line, &reply) {
                        prop_assert!(false, "{}", problem);
                    }
                }
                None => session = LineSession::open(&OPEN),
            }
        }
    }
}
