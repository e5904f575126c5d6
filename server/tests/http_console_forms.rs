//! The console page's action forms: one typed field per declared argument
//! (a number for `Arg::int`, a select for `Arg::choice`, a checkbox for a
//! flag, …), turned back into the console's words, so the console's own
//! parser checks what a browser sends.
#![cfg(feature = "http")]

mod http_support;

use std::{net::SocketAddr, sync::Arc};

use monitor_core::{TaskRegistry, dispatch::Arg};
use monitor_server::{MonitorBuilder, console::Namespace};

use http_support::{Response, get, request};

fn start() -> monitor_server::Monitor {
    let namespace = Namespace::new()
        .action(
            "deploy",
            "deploy a build",
            [
                Arg::string("WHO").help("who deploys"),
                Arg::int("COUNT").optional(),
                Arg::choice("mode", &["fast", "slow"]).long("mode"),
                Arg::flag("dry"),
                Arg::duration("wait").long("wait"),
            ],
            |args| {
                let who: String = args.get("WHO").unwrap_or_default();
                let count: i64 = args.get("COUNT").unwrap_or(1);
                let mode: String = args.get("mode").unwrap_or_else(|| "fast".into());
                let dry = args.flag("dry");
                let wait: Option<std::time::Duration> = args.get("wait");
                async move {
                    Ok(format!(
                        "deploy [{who}] x{count} {mode} dry={dry} wait={wait:?}"
                    ))
                }
            },
        )
        .action(
            "tag",
            "tag things",
            [Arg::string("NAMES").variadic()],
            |args| {
                let names: Vec<String> = args.get_all("NAMES");
                async move { Ok(format!("tagged {names:?}")) }
            },
        );
    MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .http_port(0)
        .namespace(namespace)
        .console_enabled(false)
        .executor(Arc::new(Inline))
        .start()
        .unwrap()
}

/// Runs an action's future on a thread of its own.
struct Inline;

impl monitor_core::Executor for Inline {
    fn spawn(&self, future: monitor_core::BoxedFuture) {
        std::thread::spawn(move || futures_lite::future::block_on(future));
    }
}

fn call(addr: SocketAddr, name: &str, token: &str, fields: &[(&str, &str)]) -> Response {
    let mut body = form_urlencoded::Serializer::new(String::new());
    body.append_pair("csrf", token);
    for (key, value) in fields {
        body.append_pair(key, value);
    }
    request(
        addr,
        "POST",
        &format!("/console/{name}"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.finish().as_bytes(),
    )
}

fn outcome(page: &Response) -> String {
    assert_eq!(page.status, 200, "{page:?}");
    let start = page.body.find("id=\"outcome\"").expect("an outcome");
    let text = &page.body[start..];
    let text = &text[text.find('>').unwrap() + 1..];
    text[..text.find("</p>").unwrap()].to_owned()
}

#[test]
fn actions_declare_their_fields_in_the_api_and_the_page() {
    let monitor = start();
    let addr = monitor.http_addr().unwrap();
    let namespace = get(addr, "/api/namespace").json();
    let deploy = namespace
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == "deploy")
        .unwrap();
    let args = deploy["args"].as_array().unwrap();
    let names: Vec<&str> = args.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["WHO", "COUNT", "mode", "dry", "wait"]);
    assert_eq!(args[0]["type"], "text");
    assert_eq!(args[0]["required"], true);
    assert_eq!(args[0]["help"], "who deploys");
    assert_eq!(args[1]["type"], "int");
    assert_eq!(args[1]["required"], false);
    assert_eq!(args[2]["type"], "choice");
    assert_eq!(args[2]["choices"], serde_json::json!(["fast", "slow"]));
    assert_eq!(args[2]["long"], "mode");
    assert_eq!(args[3]["type"], "flag");
    assert_eq!(args[4]["type"], "duration");

    let page = get(addr, "/console").body;
    assert!(
        page.contains("type=\"text\" name=\"arg.WHO\" required"),
        "{page}"
    );
    assert!(page.contains("type=\"number\" step=\"1\" name=\"arg.COUNT\""));
    assert!(page.contains("<select name=\"arg.mode\">"), "{page}");
    assert!(page.contains("<option value=\"slow\">slow</option>"));
    assert!(page.contains("type=\"checkbox\" name=\"arg.dry\""));
    assert!(page.contains("name=\"arg.wait\" placeholder=\"500ms, 2s, 1m30s\""));
    assert!(page.contains("name=\"arg.NAMES\""));
}

#[test]
fn typed_fields_become_the_console_words_and_its_parser_still_judges_them() {
    let monitor = start();
    let addr = monitor.http_addr().unwrap();
    let token = {
        let page = get(addr, "/console").body;
        page.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned()
    };
    let all = call(
        addr,
        "deploy",
        &token,
        &[
            ("arg.WHO", "web team"),
            ("arg.COUNT", "3"),
            ("arg.mode", "slow"),
            ("arg.dry", "1"),
            ("arg.wait", "2s"),
        ],
    );
    assert_eq!(
        outcome(&all),
        "deploy [web team] x3 slow dry=true wait=Some(2s)"
    );
    // Optional fields left empty are left out.
    let few = call(
        addr,
        "deploy",
        &token,
        &[
            ("arg.WHO", "ops"),
            ("arg.COUNT", ""),
            ("arg.mode", ""),
            ("arg.wait", ""),
        ],
    );
    assert_eq!(outcome(&few), "deploy [ops] x1 fast dry=false wait=None");
    // What a browser lets through, the console's parser refuses, saying why.
    let bad = call(
        addr,
        "deploy",
        &token,
        &[("arg.WHO", "ops"), ("arg.COUNT", "three")],
    );
    let message = outcome(&bad);
    assert!(
        bad.body.contains("class=\"notice error\"") && message.contains("three"),
        "{message}"
    );
    let bad = call(
        addr,
        "deploy",
        &token,
        &[("arg.WHO", "ops"), ("arg.mode", "warp")],
    );
    assert!(outcome(&bad).contains("warp"), "{}", bad.body);
    let missing = call(addr, "deploy", &token, &[]);
    assert!(missing.body.contains("class=\"notice error\""));
    // A variadic field splits like the prompt does.
    let tagged = call(addr, "tag", &token, &[("arg.NAMES", "a 'b c'")]);
    assert_eq!(
        outcome(&tagged).replace("&quot;", "\""),
        "tagged [\"a\", \"b c\"]"
    );
    let broken = call(addr, "tag", &token, &[("arg.NAMES", "'open")]);
    broken.assert_error(400);
    // The one-line form still works, and nothing happens without the token.
    let line = call(addr, "tag", &token, &[("args", "x y")]);
    assert_eq!(
        outcome(&line).replace("&quot;", "\""),
        "tagged [\"x\", \"y\"]"
    );
    call(addr, "tag", "wrong", &[("arg.NAMES", "x")]).assert_error(403);
}
