//! Finding the configuration, and every kind of bad input: each message
//! names the file, the line, the key and what is accepted; `check` exits
//! non-zero and nothing starts.

use std::{
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use monitor_app::{App, AppContext, Config, ConfigError, ConfigSource, DEFAULT_SEARCH_PATH};
use monitor_core::{Spawner, TaskRegistry};
use monitor_smol::SmolExecutor;

fn app() -> App {
    App::builder()
        .name("t")
        .module("m.setup", |_: &AppContext| ())
        .scheduler("s.tick", |_: AppContext, _: String| async {})
        .listener("l.print", |_: AppContext, _: String, _: String| async {})
        .protocol("p.echo", |_: AppContext, _conn| async {})
        .command("c.hello", |_: AppContext, args: Vec<String>| async move {
            if args == ["fail"] {
                Err::<(), _>("asked to fail")
            } else {
                Ok(())
            }
        })
        .build()
}

/// The message `check` gives for `text` in a file called `test.toml`.
#[track_caller]
fn error_for(text: &str) -> String {
    let result = Config::parse(text, Path::new("test.toml")).and_then(|c| app().check(&c));
    match result {
        Ok(()) => panic!("accepted:\n{text}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn unknown_section() {
    assert_eq!(
        error_for("[app]\nmodules = []\n\n[schedul.tick]\nevery = 2\n"),
        "test.toml:4: unknown section `schedul`, expected one of `app`, `schedule`, `server`, \
         `listen`, `commands`, `monitor`"
    );
    assert_eq!(
        error_for("[database]\n"),
        "test.toml:1: unknown section `database`, expected one of `app`, `schedule`, \
         `server`, `listen`, `commands`, `monitor`"
    );
}

#[test]
fn unknown_key() {
    assert_eq!(
        error_for("[schedule.tick]\nevery = 2\nfnc = \"s.tick\"\n"),
        "test.toml:3: in [schedule.tick]: unknown key `fnc`, expected `every` or `func`"
    );
    assert_eq!(
        error_for("[server.web]\nprotocol = \"p.echo\"\nport = 80\nbacklog = 5\n"),
        "test.toml:4: in [server.web]: unknown key `backlog`, expected one of `protocol`, \
         `factory`, `address`, `port`, `unix`"
    );
    let message = error_for("[monitor]\nprot = 50101\n");
    assert!(
        message.starts_with("test.toml:2: in [monitor]: unknown key `prot`, expected one of"),
        "{message}"
    );
}

#[test]
fn missing_key() {
    assert_eq!(
        error_for("[schedule.tick]\nfunc = \"s.tick\"\n"),
        "test.toml:1: [schedule.tick]: missing key `every`"
    );
    assert_eq!(
        error_for("[server.web]\nprotocol = \"p.echo\"\n"),
        "test.toml:1: [server.web] needs port = N (TCP, with address = \"HOST\", default \
         127.0.0.1; 0 picks any free port) or unix = \"PATH\""
    );
    assert_eq!(
        error_for("[server.web]\nport = 8080\n"),
        "test.toml:1: [server.web] needs a protocol = \"NAME\" or a factory = \"NAME\" (a \
         registered server protocol or factory)"
    );
}

#[test]
fn unregistered_function_names() {
    assert_eq!(
        error_for("[schedule.tick]\nevery = 2\nfunc = \"s.tock\"\n"),
        "test.toml:3: [schedule.tick] func = \"s.tock\": no scheduler function is registered \
         under that name; registered scheduler functions: s.tick"
    );
    assert_eq!(
        error_for("[app]\nmodules = [\"m.setup\",\n  \"m.other\"]\n"),
        "test.toml:3: [app] modules = \"m.other\": no module function is registered under \
         that name; registered module functions: m.setup"
    );
    assert_eq!(
        error_for("[listen.ears]\nboom = [\"l.print\", \"l.shout\"]\n"),
        "test.toml:2: [listen.ears] boom = \"l.shout\": no listener function is registered \
         under that name; registered listener functions: l.print"
    );
    assert_eq!(
        error_for("[server.web]\nfactory = \"p.echo\"\nport = 0\n"),
        "test.toml:2: [server.web] factory = \"p.echo\": no server factory function is \
         registered under that name; no server factory functions are registered"
    );
    assert_eq!(
        error_for("[commands]\nhi = \"c.hi\"\n"),
        "test.toml:2: [commands] hi = \"c.hi\": no command function is registered under that \
         name; registered command functions: c.hello"
    );
}

#[test]
fn bad_durations() {
    for (every, shown) in [
        ("\"2x\"", "\"2x\""),
        ("\"5\"", "\"5\""),
        ("0", "0"),
        ("-3", "-3"),
        ("\"0s\"", "\"0s\""),
    ] {
        assert_eq!(
            error_for(&format!(
                "[schedule.tick]\nevery = {every}\nfunc = \"s.tick\"\n"
            )),
            format!(
                "test.toml:2: in [schedule.tick], key `every`: bad duration {shown}: expected \
                 seconds as a positive number (2, 0.5) or a string with a unit (\"500ms\", \
                 \"2s\", \"1m30s\")"
            )
        );
    }
    let message = error_for("[app]\ngrace = \"soon\"\n");
    assert!(
        message.starts_with("test.toml:2: in [app], key `grace`: bad duration \"soon\""),
        "{message}"
    );
    let message = error_for("[app]\nstart_timeout = 0\n");
    assert!(
        message.starts_with("test.toml:2: in [app], key `start_timeout`: bad duration 0"),
        "{message}"
    );
}

#[test]
fn bad_values_and_combinations() {
    assert_eq!(
        error_for("[server.web]\nprotocol = \"p.echo\"\nport = 70000\n"),
        "test.toml:3: in [server.web], key `port`: invalid value: integer `70000`, expected a \
         port number (0 to 65535)"
    );
    assert_eq!(
        error_for("[server.web]\nprotocol = \"p.echo\"\nfactory = \"f\"\nport = 1\n"),
        "test.toml:3: [server.web] has both protocol and factory: give exactly one (protocol: \
         the runner binds; factory: the function binds)"
    );
    assert_eq!(
        error_for("[server.web]\nprotocol = \"p.echo\"\nunix = \"/tmp/s\"\nport = 1\n"),
        "test.toml:3: [server.web] has both unix and address/port: a server listens on a Unix \
         socket (unix = \"PATH\") or on TCP (address, port), not both"
    );
    assert_eq!(
        error_for("[listen.ears]\nboom = []\n"),
        "test.toml:2: in [listen.ears], key `boom`: an empty list subscribes nothing: name at \
         least one listener function"
    );
    assert_eq!(
        error_for("[commands]\nrun = \"c.hello\"\n"),
        "test.toml:2: [commands] cannot redefine `run`: `run` and `check` are built in; choose \
         another command name"
    );
    assert_eq!(
        error_for("[schedule.tick\n"),
        "test.toml:1: [schedule.tick: unclosed table, expected `]`"
    );
}

#[test]
fn accepted_forms() {
    let config = Config::parse(
        "[app]\nmodules = [\"m.setup\"]\ngrace = \"250ms\"\nstart_timeout = \"1m\"\n\
         [schedule.a]\nevery = 0.5\nfunc = \"s.tick\"\n\
         [schedule.b]\nevery = \"1m30s\"\nfunc = \"s.tick\"\n\
         [server.tcp]\nprotocol = \"p.echo\"\nport = 0\n\
         [server.sock]\nprotocol = \"p.echo\"\nunix = \"/run/t.sock\"\n\
         [listen.x]\none = \"l.print\"\ntwo = [\"l.print\", \"l.print\"]\n\
         [commands]\nhello = \"c.hello\"\n\
         [monitor]\nport = 0\ntoken_env = \"T_TOKEN\"\nhttp_port = 8080\n",
        Path::new("ok.toml"),
    )
    .unwrap();
    app().check(&config).unwrap();
    assert_eq!(config.app.grace.as_millis(), 250);
    assert_eq!(config.app.start_timeout.as_secs(), 60);
    assert_eq!(config.schedules["a"].every.as_millis(), 500);
    assert_eq!(config.schedules["b"].every.as_secs(), 90);
    assert_eq!(config.servers["tcp"].bind.to_string(), "127.0.0.1:0");
    assert_eq!(config.servers["sock"].bind.to_string(), "unix:/run/t.sock");
    assert_eq!(config.listeners["x"]["two"].len(), 2);
    assert_eq!(config.line_of("schedule.b.func"), Some(10));
    assert_eq!(config.monitor.token_env.as_deref(), Some("T_TOKEN"));
}

// --- search order ---------------------------------------------------------

/// A working directory with `app.toml`, `etc/app.toml` and a stand-in for
/// `/etc/app.toml` (tests must not write /etc).
fn layout() -> (tempfile::TempDir, ConfigSource) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("system/etc")).unwrap();
    for (path, grace) in [
        ("app.toml", "1s"),
        ("etc/app.toml", "2s"),
        ("system/etc/app.toml", "3s"),
    ] {
        fs::write(root.join(path), format!("[app]\ngrace = \"{grace}\"\n")).unwrap();
    }
    let source = ConfigSource::Search {
        base: root.to_owned(),
        paths: vec![
            PathBuf::from(DEFAULT_SEARCH_PATH[0]),
            PathBuf::from(DEFAULT_SEARCH_PATH[1]),
            root.join("system/etc/app.toml"),
        ],
    };
    (dir, source)
}

#[test]
fn default_search_path_is_the_seeds() {
    assert_eq!(
        DEFAULT_SEARCH_PATH,
        ["app.toml", "etc/app.toml", "/etc/app.toml"]
    );
}

#[test]
fn search_order_first_found_wins() {
    let (dir, source) = layout();
    let grace = |source: &ConfigSource| Config::load(source).unwrap().app.grace.as_secs();
    assert_eq!(grace(&source), 1, "app.toml first");
    fs::remove_file(dir.path().join("app.toml")).unwrap();
    assert_eq!(grace(&source), 2, "then etc/app.toml");
    fs::remove_file(dir.path().join("etc/app.toml")).unwrap();
    assert_eq!(grace(&source), 3, "then /etc/app.toml");
    let loaded = Config::load(&source).unwrap();
    assert_eq!(loaded.file, Some(dir.path().join("system/etc/app.toml")));
    fs::remove_file(dir.path().join("system/etc/app.toml")).unwrap();
    let message = Config::load(&source).unwrap_err().to_string();
    let root = dir.path().display();
    assert_eq!(
        message,
        format!(
            "no configuration file found: looked for {root}/app.toml, {root}/etc/app.toml, \
             {root}/system/etc/app.toml (first found wins); pass -c FILE to use another"
        )
    );
}

#[test]
fn named_file_overrides_the_search_and_must_exist() {
    let (dir, _) = layout();
    let named = dir.path().join("etc/app.toml");
    let config = Config::load(&ConfigSource::File(named)).unwrap();
    assert_eq!(config.app.grace.as_secs(), 2);

    let missing = dir.path().join("custom.toml");
    let err = Config::load(&ConfigSource::File(missing.clone())).unwrap_err();
    assert!(matches!(err, ConfigError::Read { named: true, .. }));
    assert!(
        err.to_string().starts_with(&format!(
            "cannot read configuration file {} (given with -c): ",
            missing.display()
        )),
        "{err}"
    );
}

// --- the command line -----------------------------------------------------

struct Cli {
    code: ExitCode,
    out: String,
    err: String,
}

fn cli(app: &App, args: &[&str]) -> Cli {
    let spawner = Spawner::new(SmolExecutor::new(), TaskRegistry::global().clone());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = app.main_with(
        std::iter::once("t").chain(args.iter().copied()),
        spawner,
        None,
        &mut out,
        &mut err,
    );
    Cli {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

#[test]
fn check_prints_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.toml");
    fs::write(
        &file,
        "[app]\nmodules = [\"m.setup\"]\n[schedule.tick]\nevery = 2\nfunc = \"s.tick\"\n\
         [server.echo]\nprotocol = \"p.echo\"\nport = 8888\n\
         [listen.x]\nboom = [\"l.print\", \"l.print\"]\n[commands]\nhello = \"c.hello\"\n\
         [monitor]\nport = 50111\ntoken_env = \"T_TOKEN\"\nhttp_port = 8080\n",
    )
    .unwrap();
    let run = cli(&app(), &["-c", file.to_str().unwrap(), "check"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert_eq!(
        run.out,
        format!(
            "{}: ok\n\
             modules   m.setup\n\
             schedule  tick: every 2s calls s.tick\n\
             server    echo: 127.0.0.1:8888 with protocol p.echo\n\
             listen    x: boom → l.print, l.print\n\
             command   hello → c.hello\n\
             monitor   127.0.0.1:50111, console port 50112, token from $T_TOKEN\n\
             web UI    127.0.0.1:8080\n",
            file.display()
        )
    );
}

#[test]
fn check_exits_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    fs::write(
        &file,
        "[schedule.tick]\nevery = \"soon\"\nfunc = \"s.tick\"\n",
    )
    .unwrap();
    let run = cli(&app(), &["-c", file.to_str().unwrap(), "check"]);
    assert_eq!(run.code, ExitCode::FAILURE);
    assert!(run.out.is_empty());
    assert_eq!(
        run.err,
        format!(
            "t: {}:2: in [schedule.tick], key `every`: bad duration \"soon\": expected seconds \
             as a positive number (2, 0.5) or a string with a unit (\"500ms\", \"2s\", \
             \"1m30s\")\n",
            file.display()
        )
    );

    let missing = dir.path().join("nope.toml");
    let run = cli(&app(), &["-c", missing.to_str().unwrap(), "run"]);
    assert_eq!(run.code, ExitCode::FAILURE);
    assert!(
        run.err.starts_with(&format!(
            "t: cannot read configuration file {} (given with -c): ",
            missing.display()
        )),
        "{}",
        run.err
    );
}

#[test]
fn search_path_is_injectable_into_the_cli() {
    let (dir, source) = layout();
    let app = App::builder().name("t").search_path(source).build();
    let run = cli(&app, &["check"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert!(
        run.out
            .starts_with(&format!("{}: ok\n", dir.path().join("app.toml").display())),
        "{}",
        run.out
    );
}

#[test]
fn configured_commands_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.toml");
    fs::write(&file, "[commands]\nhello = \"c.hello\"\n").unwrap();
    let c = file.to_str().unwrap();

    let run = cli(&app(), &["-c", c, "hello", "world"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);

    let run = cli(&app(), &["-c", c, "hello", "fail"]);
    assert_eq!(run.code, ExitCode::FAILURE);
    assert_eq!(run.err, "t: command `hello` failed: error: asked to fail\n");

    let run = cli(&app(), &["-c", c, "frob"]);
    assert_eq!(run.code, ExitCode::FAILURE);
    assert_eq!(
        run.err,
        format!(
            "t: unknown command `frob`; commands: run, check, hello (more can be added under \
             [commands] in {c})\n"
        )
    );

    let run = cli(&app(), &[]);
    assert_ne!(run.code, ExitCode::SUCCESS);
    assert!(
        run.err.contains("Usage: t [OPTIONS] <COMMAND>"),
        "{}",
        run.err
    );

    let run = cli(&app(), &["--help"]);
    assert_eq!(run.code, ExitCode::SUCCESS);
    assert!(
        run.out.contains("check  Validate the configuration"),
        "{}",
        run.out
    );
}
