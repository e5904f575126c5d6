//! `monitor-cli --hosts A,B,… COMMAND`: one command against several
//! monitors, answers merged into one view with a host column (one view of
//! many processes, as aiomonitor#402 asks).

use std::process::ExitCode;

use crate::{
    EXIT_CONNECTION, EXIT_FAILED,
    catalog::Outcome,
    conn::{self, Connection, Endpoint, Options, Reply},
    print_stdout,
    style::Style,
};

/// Reads one `--hosts` entry: `HOST:PORT`, `[IPV6]:PORT`, a bare `PORT`
/// (on 127.0.0.1) or `unix:PATH`.
pub(crate) fn parse_endpoint(entry: &str) -> Result<Endpoint, String> {
    let entry = entry.trim();
    let invalid = || {
        format!(
            "invalid --hosts entry {entry:?} (expected HOST:PORT, PORT or unix:PATH, separated \
             by commas)"
        )
    };
    #[cfg(unix)]
    if let Some(path) = entry.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(invalid());
        }
        return Ok(Endpoint::Unix(path.into()));
    }
    if let Ok(port) = entry.parse::<u16>() {
        return Ok(Endpoint::Tcp {
            host: "127.0.0.1".to_owned(),
            port,
        });
    }
    let (host, port) = entry.rsplit_once(':').ok_or_else(invalid)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(':') && !entry.starts_with('[') {
        return Err(invalid());
    }
    let port = port.parse::<u16>().map_err(|_| invalid())?;
    Ok(Endpoint::Tcp {
        host: host.to_owned(),
        port,
    })
}

/// Runs `line` on every host at once, then prints the answers merged:
/// JSON values as one JSON array (each object gains a `"host"` field; a
/// value that is not an array of objects becomes `{"host", "value"}`),
/// text with each line prefixed by its host. Errors go to stderr, prefixed
/// the same way. Exit status: 3 if a host could not be reached, else 1 if a
/// command failed, else 0.
pub(crate) fn run(endpoints: &[Endpoint], options: &Options, line: &str, style: Style) -> ExitCode {
    let hosts: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
    let replies: Vec<Result<Reply, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = endpoints
            .iter()
            .map(|endpoint| {
                scope.spawn(move || ask(endpoint, options, line).map_err(|err| err.to_string()))
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err("the request panicked".to_owned()))
            })
            .collect()
    });
    let label_width = hosts.iter().map(|h| h.chars().count()).max().unwrap_or(0);
    let mut unreachable = false;
    let mut failed = false;
    let all_json = replies
        .iter()
        .all(|reply| reply.as_ref().map_or(true, |r| r.json && !r.failed));
    let mut merged: Vec<serde_json::Value> = Vec::new();
    for (host, reply) in hosts.iter().zip(&replies) {
        let reply = match reply {
            Ok(reply) => reply,
            Err(message) => {
                unreachable = true;
                eprintln!(
                    "{}",
                    style.error(&format!("{host}: monitor-cli: {message}"))
                );
                continue;
            }
        };
        if all_json {
            merge_json(&mut merged, host, &reply.text);
            continue;
        }
        let (output, error) = match reply.outcome() {
            Outcome::Success => (reply.text.as_str(), None),
            Outcome::Failure { output, error } => {
                failed = true;
                (&reply.text[..output.len()], Some(error))
            }
        };
        let mut text = String::new();
        for line in output.lines() {
            text.push_str(&format!("{host:<label_width$}  {line}\n"));
        }
        print_stdout(&text);
        if let Some(error) = error {
            eprintln!("{}", style.error(&format!("{host:<label_width$}  {error}")));
        }
    }
    if all_json && replies.iter().any(Result::is_ok) {
        print_stdout(&format!("{}\n", serde_json::Value::Array(merged)));
    }
    if unreachable {
        ExitCode::from(EXIT_CONNECTION)
    } else if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn ask(endpoint: &Endpoint, options: &Options, line: &str) -> Result<Reply, conn::Error> {
    let (mut conn, _intro, _warnings) = Connection::open(endpoint, options)?;
    let reply = conn.request(line)?;
    Ok(reply)
}

/// Adds one host's JSON value to the merged array.
fn merge_json(merged: &mut Vec<serde_json::Value>, host: &str, text: &str) {
    use serde_json::Value;
    let value: Value = serde_json::from_str(text.trim()).unwrap_or(Value::String(text.to_owned()));
    match value {
        Value::Array(items) if items.iter().all(Value::is_object) => {
            for mut item in items {
                if let Value::Object(fields) = &mut item {
                    fields.insert("host".to_owned(), Value::from(host));
                }
                merged.push(item);
            }
        }
        other => merged.push(serde_json::json!({ "host": host, "value": other })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_host_port_port_or_unix_paths() {
        assert_eq!(
            parse_endpoint("db1:50101"),
            Ok(Endpoint::Tcp {
                host: "db1".into(),
                port: 50101
            })
        );
        assert_eq!(
            parse_endpoint("50103"),
            Ok(Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 50103
            })
        );
        assert_eq!(
            parse_endpoint("[::1]:7"),
            Ok(Endpoint::Tcp {
                host: "::1".into(),
                port: 7
            })
        );
        #[cfg(unix)]
        assert_eq!(
            parse_endpoint("unix:/run/a.sock"),
            Ok(Endpoint::Unix("/run/a.sock".into()))
        );
        for bad in ["", "db1", "db1:http", "::1:7", "unix:", ":80"] {
            let err = parse_endpoint(bad).unwrap_err();
            assert!(err.contains("HOST:PORT"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn json_answers_merge_into_one_array_with_hosts() {
        let mut merged = Vec::new();
        merge_json(&mut merged, "a", "[{\"id\":1},{\"id\":2}]\n");
        merge_json(&mut merged, "b", "{\"workers\":2}\n");
        assert_eq!(
            serde_json::Value::Array(merged).to_string(),
            r#"[{"host":"a","id":1},{"host":"a","id":2},{"host":"b","value":{"workers":2}}]"#
        );
    }
}
