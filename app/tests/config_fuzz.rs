//! Property tests for the configuration parser: whatever the file holds, it
//! answers with a configuration or an error that points into the file —
//! never a panic — and what it accepts is read back exactly.

use std::time::Duration;

use monitor_app::Config;
use proptest::prelude::*;

mod config_check;

/// Parses `text`, failing the test when the parser breaks its promise.
fn parse_checked(text: &str) -> Option<Config> {
    config_check::parse_checked(text).unwrap_or_else(|problem| panic!("{problem}"))
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,8}"
}

fn func() -> impl Strategy<Value = String> {
    "[a-z]{1,6}\\.[a-z]{1,6}"
}

#[derive(Debug, Clone)]
struct Spec {
    modules: Vec<String>,
    schedules: Vec<(String, u64, String)>,
    servers: Vec<(String, bool, String, u16)>,
    listeners: Vec<(String, String, Vec<String>)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(func(), 0..3),
        prop::collection::btree_map(name(), (1u64..100_000, func()), 0..4),
        prop::collection::btree_map(name(), (any::<bool>(), func(), any::<u16>()), 0..3),
        prop::collection::btree_map(name(), (name(), prop::collection::vec(func(), 1..3)), 0..3),
    )
        .prop_map(|(modules, schedules, servers, listeners)| Spec {
            modules,
            schedules: schedules
                .into_iter()
                .map(|(n, (ms, f))| (n, ms, f))
                .collect(),
            servers: servers
                .into_iter()
                .map(|(n, (protocol, f, port))| (n, protocol, f, port))
                .collect(),
            listeners: listeners
                .into_iter()
                .map(|(section, (signal, funcs))| (section, signal, funcs))
                .collect(),
        })
}

fn render(spec: &Spec) -> String {
    let mut text = String::new();
    let quoted = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    text.push_str(&format!("[app]\nmodules = [{}]\n", quoted(&spec.modules)));
    for (name, ms, func) in &spec.schedules {
        text.push_str(&format!(
            "[schedule.{name}]\nevery = \"{ms}ms\"\nfunc = \"{func}\"\n"
        ));
    }
    for (name, protocol, func, port) in &spec.servers {
        let kind = if *protocol { "protocol" } else { "factory" };
        text.push_str(&format!(
            "[server.{name}]\n{kind} = \"{func}\"\nport = {port}\n"
        ));
    }
    for (section, signal, funcs) in &spec.listeners {
        text.push_str(&format!(
            "[listen.{section}]\n{signal} = [{}]\n",
            quoted(funcs)
        ));
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        parse_checked(&text);
    }

    #[test]
    fn toml_shaped_noise_never_panics(
        lines in prop::collection::vec(
            prop_oneof![
                "\\[[a-z.]{0,12}\\]",
                "[a-z_-]{1,8} = [0-9\"a-z\\[\\], .-]{0,12}",
                "[a-z_]{1,8} = \"[0-9a-z]{0,4}(ms|s|m|h|x)?\"",
            ],
            0..12,
        )
    ) {
        parse_checked(&lines.join("\n"));
    }

    #[test]
    fn valid_files_read_back_exactly(spec in spec()) {
        let text = render(&spec);
        let config = parse_checked(&text).expect("a generated valid file parses");
        prop_assert_eq!(&config.app.modules, &spec.modules);
        prop_assert_eq!(config.schedules.len(), spec.schedules.len());
        for (name, ms, func) in &spec.schedules {
            let schedule = &config.schedules[name];
            prop_assert_eq!(schedule.every, Duration::from_millis(*ms));
            prop_assert_eq!(&schedule.func, func);
        }
        for (name, _, _, port) in &spec.servers {
            prop_assert_eq!(
                config.servers[name].bind.to_string(),
                format!("127.0.0.1:{port}")
            );
        }
        for (section, signal, funcs) in &spec.listeners {
            prop_assert_eq!(&config.listeners[section][signal], funcs);
        }
    }

    #[test]
    fn mutated_valid_files_never_panic(
        spec in spec(),
        at in any::<prop::sample::Index>(),
        insert in prop::option::of(any::<char>()),
    ) {
        let mut text = render(&spec);
        let chars: Vec<char> = text.chars().collect();
        if !chars.is_empty() {
            let i = at.index(chars.len());
            let mut mutated: Vec<char> = chars.clone();
            match insert {
                Some(c) => mutated.insert(i, c),
                None => { mutated.remove(i); }
            }
            text = mutated.into_iter().collect();
        }
        parse_checked(&text);
    }
}
