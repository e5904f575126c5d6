//! Whatever a user types, the dispatcher answers and does not panic.

use std::{sync::Arc, time::Duration};

use futures_lite::future::block_on;
use monitor_core::dispatch::{Arg, Command, Dispatcher, Session};
use proptest::prelude::*;

fn dispatcher() -> Arc<Dispatcher<Vec<String>>> {
    let mut d = Dispatcher::new();
    // Short enough that a fuzzed `wait 1m` cannot slow the run down.
    d.set_timeout(Duration::from_millis(20));
    d.register(
        Command::<Vec<String>>::new("cancel")
            .alias("ca")
            .arg(Arg::task_id("TASK_ID"))
            .arg(Arg::flag("force").short('f'))
            .run(|log, args, out| {
                log.push(format!("{:?}", args.get::<monitor_core::TaskId>("TASK_ID")));
                out.line("ok");
                Ok(())
            }),
    )
    .unwrap()
    .register(
        Command::new("wait")
            .arg(Arg::duration("FOR"))
            .arg(Arg::int("TIMES").optional())
            .arg(Arg::option("label", "TEXT").short('l'))
            .run_async(|_log: &mut Vec<String>, args| {
                let pause: std::time::Duration = args.get("FOR").unwrap();
                async move {
                    futures_timer::Delay::new(pause).await;
                    Ok("waited".to_owned())
                }
            }),
    )
    .unwrap()
    .register(
        Command::new("say")
            .arg(Arg::string("WORDS").optional().variadic())
            .run(|_, args, out| {
                out.line(args.get_all::<String>("WORDS").join(" "));
                Ok(())
            }),
    )
    .unwrap()
    .register(Command::new("exit").run(|_, _, out| {
        out.exit();
        Ok(())
    }))
    .unwrap();
    Arc::new(d)
}

/// Lines that look like commands, to get past resolution into argument
/// parsing, plus anything at all.
fn line() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("cancel".to_owned()),
        Just("ca".to_owned()),
        Just("wait".to_owned()),
        Just("say".to_owned()),
        Just("help".to_owned()),
        Just("--help".to_owned()),
        Just("-f".to_owned()),
        Just("--label".to_owned()),
        Just("#".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("\\".to_owned()),
        Just("--".to_owned()),
        "[0-9]{1,25}",
        "[0-9]{1,3}(ms|s|m|h|x)",
        "\\PC{0,12}",
    ];
    prop_oneof![
        "\\PC{0,4096}",
        ".{0,4096}",
        prop::collection::vec(word, 0..12).prop_map(|w| w.join(" ")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_line_gets_a_well_formed_answer(lines in prop::collection::vec(line(), 1..4)) {
        let mut session = Session::new(dispatcher(), Vec::new());
        for line in &lines {
            let reply = block_on(session.handle_line(line));
            prop_assert!(reply.text.is_empty() || reply.text.ends_with('\n'));
            // Errors are one line; only `help` with several names writes
            // the help it found before naming the unknown ones.
            if reply.is_error && !reply.text.contains("help: no command") {
                prop_assert_eq!(reply.text.matches('\n').count(), 1, "{:?}", reply.text);
            }
            if line.trim().is_empty() {
                continue;
            }
            prop_assert!(!reply.text.is_empty() || reply.exit, "no answer to {:?}", line);
            prop_assert_eq!(session.lastcmd(), Some(line.trim()));
        }
    }
}
