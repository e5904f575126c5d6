//! The telnet-aware line codec.

use futures_lite::future;
use monitor_core::transport::MemoryStream;
use monitor_server::transport::telnet::{
    Event, LineDecoder, LineReader, encode_output, encode_output_bytes,
};
use proptest::prelude::*;

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const GA: u8 = 249;
const EL: u8 = 248;
const EC: u8 = 247;
const AYT: u8 = 246;
const IP: u8 = 244;
const BRK: u8 = 243;
const NOP: u8 = 241;
const SE: u8 = 240;

/// Decodes `input` fed at once, followed by the end of the stream.
fn decode(max_line: usize, input: &[u8]) -> Vec<Event> {
    let mut decoder = LineDecoder::new(max_line);
    let mut events = Vec::new();
    decoder.feed(input, &mut events);
    decoder.finish(&mut events);
    events
}

/// Decodes `input` fed in the given pieces, followed by the end of the stream.
fn decode_pieces<'a>(max_line: usize, pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<Event> {
    let mut decoder = LineDecoder::new(max_line);
    let mut events = Vec::new();
    for piece in pieces {
        decoder.feed(piece, &mut events);
    }
    decoder.finish(&mut events);
    events
}

fn line(text: &str) -> Event {
    Event::Line(text.to_owned())
}

#[test]
fn every_line_end_kind() {
    assert_eq!(decode(80, b"a\n"), [line("a"), Event::Eof]);
    assert_eq!(decode(80, b"a\r\n"), [line("a"), Event::Eof]);
    assert_eq!(decode(80, b"a\r\0"), [line("a"), Event::Eof]);
    assert_eq!(decode(80, b"a\r"), [line("a"), Event::Eof]);
    // A bare CR followed by text ends the line; the text starts the next.
    assert_eq!(decode(80, b"a\rb\n"), [line("a"), line("b"), Event::Eof]);
    // Empty lines are lines, but CR LF is one line end, not two.
    assert_eq!(
        decode(80, b"\r\n\n\r\0\r\r\n"),
        [line(""), line(""), line(""), line(""), line(""), Event::Eof]
    );
    // LF CR is two line ends.
    assert_eq!(
        decode(80, b"a\n\rb"),
        [line("a"), line(""), line("b"), Event::Eof]
    );
}

#[test]
fn line_is_reported_when_its_cr_arrives() {
    let mut decoder = LineDecoder::new(80);
    let mut events = Vec::new();
    decoder.feed(b"ps\r", &mut events);
    assert_eq!(events, [line("ps")]);
    decoder.feed(b"\n", &mut events);
    decoder.feed(b"help\r", &mut events);
    decoder.feed(b"\0", &mut events);
    assert_eq!(events, [line("ps"), line("help")]);
}

#[test]
fn partial_line_at_end_of_stream_is_reported() {
    assert_eq!(decode(80, b"ps"), [line("ps"), Event::Eof]);
    assert_eq!(decode(80, b""), [Event::Eof]);
}

/// Input that exercises every feature, for the split tests.
fn rich_input() -> Vec<u8> {
    let mut input = Vec::new();
    input.extend_from_slice(b"ps -a\r\n");
    input.extend_from_slice(&[IAC, DO, 1, IAC, WILL, 31, IAC, DONT, 3, IAC, WONT, 24]);
    input.extend_from_slice(b"t\xc3\xa4sk\r\0");
    input.extend_from_slice(&[IAC, SB, 31, 0, 80, IAC, IAC, 24, IAC, SE]);
    input.extend_from_slice(b"x\r");
    input.extend_from_slice(&[IAC, AYT, b'y', IAC, IAC, b'\n']);
    input.extend_from_slice(b"abc\x08d\x7f\x7fe\x01\tf\n");
    input.extend_from_slice(b"0123456789ABCDEF!\n"); // 17 bytes: too long for 16
    input.extend_from_slice(b"\xc3(\n");
    input.extend_from_slice(&[
        b'g', IAC, IP, b'h', 3, b'i', IAC, NOP, IAC, GA, b'\r', b'\n',
    ]);
    input.extend_from_slice(b"\x04last");
    input
}

fn rich_expected() -> Vec<Event> {
    vec![
        line("ps -a"),
        Event::Reply(vec![IAC, WONT, 1]),
        Event::Reply(vec![IAC, DO, 31]),
        line("täsk"),
        Event::WindowSize {
            width: 80,
            height: 0xff18,
        },
        line("x"),
        Event::Reply(b"[yes]\r\n".to_vec()),
        Event::InvalidUtf8, // y 0xFF
        line("ae\tf"),      // abc, ab, abd, ab, a, ae
        Event::TooLong { limit: 16 },
        Event::InvalidUtf8,
        Event::Interrupt,
        Event::Interrupt,
        line("i"),
        Event::Eof,
        line("last"),
        Event::Eof,
    ]
}

#[test]
fn rich_input_decodes_as_expected() {
    assert_eq!(decode(16, &rich_input()), rich_expected());
}

#[test]
fn split_at_every_position_gives_the_same_events() {
    let input = rich_input();
    let expected = rich_expected();
    for split in 0..=input.len() {
        let (a, b) = input.split_at(split);
        assert_eq!(decode_pieces(16, [a, b]), expected, "split at {split}");
    }
    for first in 0..=input.len() {
        for second in first..=input.len() {
            let pieces = [&input[..first], &input[first..second], &input[second..]];
            assert_eq!(
                decode_pieces(16, pieces),
                expected,
                "split at {first} and {second}"
            );
        }
    }
    assert_eq!(decode_pieces(16, input.chunks(1)), expected, "byte by byte");
}

#[test]
fn crlf_split_across_feeds_makes_no_empty_line() {
    for input in [&b"a\r\nb\r\n"[..], b"a\r\0b\r\0"] {
        for split in 0..=input.len() {
            let (x, y) = input.split_at(split);
            assert_eq!(
                decode_pieces(80, [x, y]),
                [line("a"), line("b"), Event::Eof]
            );
        }
    }
}

#[test]
fn options_are_refused_without_loops() {
    assert_eq!(
        decode(80, &[IAC, DO, 1]),
        [Event::Reply(vec![IAC, WONT, 1]), Event::Eof]
    );
    assert_eq!(
        decode(80, &[IAC, WILL, 3]),
        [Event::Reply(vec![IAC, DONT, 3]), Event::Eof]
    );
    // Refusals and acknowledgements are not answered.
    assert_eq!(decode(80, &[IAC, DONT, 1, IAC, WONT, 3]), [Event::Eof]);
    // Negotiation in the middle of a line does not disturb the line.
    let mut input = b"he".to_vec();
    input.extend_from_slice(&[IAC, DO, 24, IAC, WILL, 255]);
    input.extend_from_slice(b"lp\n");
    assert_eq!(
        decode(80, &input),
        [
            Event::Reply(vec![IAC, WONT, 24]),
            Event::Reply(vec![IAC, DONT, 255]),
            line("help"),
            Event::Eof
        ]
    );
}

#[test]
fn window_size_is_accepted_once_and_reported() {
    // A client offering its size gets DO NAWS, once; a repeated offer and
    // the client's own DO NAWS (asking the server for a size) are not
    // accepted again.
    assert_eq!(
        decode(80, &[IAC, WILL, 31, IAC, WILL, 31, IAC, DO, 31]),
        [
            Event::Reply(vec![IAC, DO, 31]),
            Event::Reply(vec![IAC, WONT, 31]),
            Event::Eof
        ]
    );
    let mut input = b"a".to_vec();
    // Window size 120x255: 255 is escaped as IAC IAC.
    input.extend_from_slice(&[IAC, SB, 31, 0, 120, 0, IAC, IAC, IAC, SE]);
    input.extend_from_slice(b"b\n");
    assert_eq!(
        decode(80, &input),
        [
            Event::WindowSize {
                width: 120,
                height: 255
            },
            line("ab"),
            Event::Eof
        ]
    );
    // A short or long NAWS report is no size at all.
    assert_eq!(
        decode(
            80,
            &[
                IAC, SB, 31, 0, 80, 0, IAC, SE, IAC, SB, 31, 0, 80, 0, 24, 0, IAC, SE
            ]
        ),
        [Event::Eof]
    );
}

#[test]
fn subnegotiation_is_skipped() {
    let mut input = b"a".to_vec();
    // Terminal type "IS xterm": not an option the server accepted.
    input.extend_from_slice(&[IAC, SB, 24, 0, b'x', b't', IAC, IAC, b'm', IAC, SE]);
    input.extend_from_slice(b"b\n");
    assert_eq!(decode(80, &input), [line("ab"), Event::Eof]);

    // Line ends and commands inside are payload, not text.
    let mut input = vec![IAC, SB, 24, b'\r', b'\n', 3, IAC, SE];
    input.extend_from_slice(b"c\n");
    assert_eq!(decode(80, &input), [line("c"), Event::Eof]);

    // A client that forgets IAC SE: the next command ends the
    // subnegotiation and is obeyed.
    let mut input = vec![IAC, SB, 24, 1, IAC, DO, 1];
    input.extend_from_slice(b"d\n");
    assert_eq!(
        decode(80, &input),
        [Event::Reply(vec![IAC, WONT, 1]), line("d"), Event::Eof]
    );
}

#[test]
fn endless_subnegotiation_is_abandoned() {
    let mut input = vec![IAC, SB, 24];
    input.extend(std::iter::repeat_n(b'z', 5000));
    input.extend_from_slice(b"\nok\n");
    let events = decode(80, &input);
    // The payload is not swallowed forever: decoding resumes, the rest of
    // the junk is one over-long line, and the next line is read normally.
    assert_eq!(
        events,
        [Event::TooLong { limit: 80 }, line("ok"), Event::Eof]
    );
}

#[test]
fn iac_iac_is_a_literal_255() {
    // 0xFF is never UTF-8, so the line becomes invalid rather than
    // vanishing or being taken for a command.
    assert_eq!(
        decode(80, &[b'a', IAC, IAC, b'\n']),
        [Event::InvalidUtf8, Event::Eof]
    );
    assert_eq!(
        decode(80, &[b'a', IAC, NOP, b'\n']),
        [line("a"), Event::Eof]
    );
}

#[test]
fn other_commands_are_consumed() {
    let input = [
        b'a', IAC, NOP, IAC, GA, IAC, 242, IAC, 245, IAC, SE, IAC, 17, b'b', b'\n',
    ];
    assert_eq!(decode(80, &input), [line("ab"), Event::Eof]);
    assert_eq!(
        decode(80, &[IAC, AYT]),
        [Event::Reply(b"[yes]\r\n".to_vec()), Event::Eof]
    );
}

#[test]
fn interrupts_drop_the_partial_line() {
    assert_eq!(
        decode(80, &[b'a', IAC, IP, b'b', b'\n']),
        [Event::Interrupt, line("b"), Event::Eof]
    );
    assert_eq!(
        decode(80, &[b'a', IAC, BRK, b'\n']),
        [Event::Interrupt, line(""), Event::Eof]
    );
    assert_eq!(
        decode(80, b"sleep 100\x03ps\n"),
        [Event::Interrupt, line("ps"), Event::Eof]
    );
}

#[test]
fn erasing() {
    assert_eq!(decode(80, b"helo\x08lo\n"), [line("hello"), Event::Eof]);
    assert_eq!(decode(80, b"x\x7f\x7f\x7fy\n"), [line("y"), Event::Eof]);
    // A whole multi-byte character goes at once.
    assert_eq!(
        decode(80, "aé€😀\x08\x08\x08b\n".as_bytes()),
        [line("ab"), Event::Eof]
    );
    assert_eq!(
        decode(80, &[b'a', b'b', IAC, EC, b'\n']),
        [line("a"), Event::Eof]
    );
    assert_eq!(
        decode(80, &[b'a', b'b', IAC, EL, b'c', b'\n']),
        [line("c"), Event::Eof]
    );
}

#[test]
fn control_characters_are_dropped_except_tab() {
    assert_eq!(
        decode(80, b"a\x01\x02\tb\x1b[A\x00\x07\n"),
        [line("a\tb[A"), Event::Eof]
    );
}

#[test]
fn ctrl_d_on_an_empty_line_is_eof() {
    assert_eq!(decode(80, b"\x04"), [Event::Eof, Event::Eof]);
    assert_eq!(
        decode(80, b"ps\n\x04"),
        [line("ps"), Event::Eof, Event::Eof]
    );
    // Elsewhere it is just dropped.
    assert_eq!(decode(80, b"ps\x04\n"), [line("ps"), Event::Eof]);
}

#[test]
fn line_length_limit() {
    assert_eq!(decode(4, b"abcd\n"), [line("abcd"), Event::Eof]);
    assert_eq!(
        decode(4, b"abcde\nok\n"),
        [Event::TooLong { limit: 4 }, line("ok"), Event::Eof]
    );
    // Reported once per line, however long it is, and only as soon as the
    // limit is crossed.
    assert_eq!(
        decode(4, b"abcdefghijklmnop\r\nabcdefgh\rok"),
        [
            Event::TooLong { limit: 4 },
            Event::TooLong { limit: 4 },
            line("ok"),
            Event::Eof
        ]
    );
    // Control characters and telnet commands do not count.
    let mut input = b"ab\x01\x02".to_vec();
    input.extend_from_slice(&[IAC, NOP, IAC, DO, 1, b'c', b'd', b'\n']);
    assert_eq!(
        decode(4, &input),
        [Event::Reply(vec![IAC, WONT, 1]), line("abcd"), Event::Eof]
    );
    // Multi-byte characters count in bytes.
    assert_eq!(decode(4, "éé\n".as_bytes()), [line("éé"), Event::Eof]);
    assert_eq!(
        decode(4, "ééa\n".as_bytes()),
        [Event::TooLong { limit: 4 }, Event::Eof]
    );
    // A zero limit allows empty lines only.
    assert_eq!(
        decode(0, b"\na\n"),
        [line(""), Event::TooLong { limit: 0 }, Event::Eof]
    );
}

#[test]
fn huge_line_never_grows_the_buffer_past_the_limit() {
    const LIMIT: usize = 1000;
    let mut decoder = LineDecoder::new(LIMIT);
    let mut events = Vec::new();
    let chunk = [b'x'; 4096];
    for _ in 0..256 {
        // 1 MiB in total.
        decoder.feed(&chunk, &mut events);
        assert!(
            decoder.buffer_capacity() <= LIMIT,
            "{}",
            decoder.buffer_capacity()
        );
    }
    assert_eq!(events, [Event::TooLong { limit: LIMIT }]);
    decoder.feed(b"\nps\n", &mut events);
    assert_eq!(events, [Event::TooLong { limit: LIMIT }, line("ps")]);
    assert!(decoder.buffer_capacity() <= LIMIT);

    // A line of exactly the limit fits in exactly the limit.
    let mut decoder = LineDecoder::new(LIMIT);
    let mut events = Vec::new();
    decoder.feed(&[b'y'; LIMIT], &mut events);
    decoder.feed(b"\n", &mut events);
    assert_eq!(events, [Event::Line("y".repeat(LIMIT))]);
    assert!(decoder.buffer_capacity() <= LIMIT);
}

#[test]
fn invalid_utf8_line_is_reported_and_the_next_is_fine() {
    assert_eq!(
        decode(80, b"\xc3\x28\nok\n"),
        [Event::InvalidUtf8, line("ok"), Event::Eof]
    );
    assert_eq!(
        decode(80, b"cut \xe2\x82"),
        [Event::InvalidUtf8, Event::Eof]
    );
}

#[test]
fn reader_reads_events_and_repeats_eof() {
    future::block_on(async {
        let mut input = b"ps\r\n".to_vec();
        input.extend_from_slice(&[IAC, DO, 1]);
        input.extend_from_slice(b"help");
        let mut reader = LineReader::new(&input[..], 80);
        assert_eq!(reader.next_event().await.unwrap(), line("ps"));
        assert_eq!(
            reader.next_event().await.unwrap(),
            Event::Reply(vec![IAC, WONT, 1])
        );
        assert_eq!(reader.next_event().await.unwrap(), line("help"));
        for _ in 0..3 {
            assert_eq!(reader.next_event().await.unwrap(), Event::Eof);
        }
    });
}

#[test]
fn reader_handles_a_huge_line_from_a_stream() {
    use futures_lite::AsyncWriteExt;

    let (mut client, server) = MemoryStream::pair();
    future::block_on(async {
        let write = async {
            let junk = vec![b'q'; 1 << 20];
            client.write_all(&junk).await.unwrap();
            client.write_all(b"\r\nexit\r\n").await.unwrap();
            client.close().await.unwrap();
        };
        let read = async {
            let mut reader = LineReader::new(server, 4096);
            let mut events = Vec::new();
            loop {
                let event = reader.next_event().await.unwrap();
                let eof = event == Event::Eof;
                events.push(event);
                if eof {
                    break events;
                }
            }
        };
        let ((), events) = future::zip(write, read).await;
        assert_eq!(
            events,
            [Event::TooLong { limit: 4096 }, line("exit"), Event::Eof]
        );
    });
}

#[test]
fn output_uses_crlf() {
    assert_eq!(encode_output("ps\n"), b"ps\r\n");
    assert_eq!(encode_output("a\nb\r\nc"), b"a\r\nb\r\nc");
    assert_eq!(encode_output("\n\n"), b"\r\n\r\n");
    assert_eq!(encode_output("100%\r"), b"100%\r\0");
    assert_eq!(encode_output("täsk\n"), "täsk\r\n".as_bytes());
    assert_eq!(encode_output(""), b"");
    assert_eq!(
        encode_output_bytes(&[b'a', 0xff, b'\n']),
        [b'a', 0xff, 0xff, b'\r', b'\n']
    );
}

/// Bytes that are likely to matter, mixed with any byte at all.
fn wire_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => any::<u8>(),
        2 => prop::sample::select(b"ab\xc3\xa9 ".to_vec()),
        2 => prop::sample::select(vec![IAC, SB, SE, DO, DONT, WILL, WONT, IP, AYT, EC, EL]),
        2 => prop::sample::select(b"\r\n\0\x03\x04\x08\x7f\t".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn splitting_never_changes_the_events(
        input in prop::collection::vec(wire_byte(), 0..400),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        max_line in 0usize..24,
    ) {
        let whole = decode(max_line, &input);

        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for cut in cuts {
            pieces.push(&input[start..cut]);
            start = cut;
        }
        pieces.push(&input[start..]);

        let mut decoder = LineDecoder::new(max_line);
        let mut split = Vec::new();
        for piece in pieces {
            decoder.feed(piece, &mut split);
            prop_assert!(decoder.buffer_capacity() <= max_line);
        }
        decoder.finish(&mut split);
        prop_assert_eq!(&split, &whole);

        prop_assert_eq!(whole.last(), Some(&Event::Eof));
        for event in &whole {
            match event {
                Event::Line(text) => {
                    prop_assert!(text.len() <= max_line, "{:?}", text);
                    prop_assert!(
                        !text.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f),
                        "{:?}", text
                    );
                }
                Event::TooLong { limit } => prop_assert_eq!(*limit, max_line),
                Event::Reply(bytes) => prop_assert!(bytes.first() == Some(&IAC) || bytes == b"[yes]\r\n"),
                _ => {}
            }
        }
    }
}
