//! The check shared by the configuration parser's property test
//! (`app/tests/config_fuzz.rs`) and its cargo-fuzz target
//! (`fuzz/fuzz_targets/app_config.rs`), so both hold the parser to the
//! same promise.

// `pub` for the fuzz crate, which includes this file as a module of its
// library; within a test binary nothing outside can reach it.
#![allow(unreachable_pub)]

use std::path::Path;

use monitor_app::{Config, ConfigError};

/// Parses `text` as `fuzz.toml`: `Ok(Some(config))` when it is accepted,
/// `Ok(None)` when it is refused with an error that points into the file
/// (that file's name, a line that exists, a one-line message), and `Err`
/// describing what broke the promise otherwise.
pub fn parse_checked(text: &str) -> Result<Option<Config>, String> {
    match Config::parse(text, Path::new("fuzz.toml")) {
        Ok(config) => Ok(Some(config)),
        Err(ConfigError::Invalid {
            path,
            line,
            message,
        }) => {
            if path != Path::new("fuzz.toml") {
                return Err(format!("error names {}, not fuzz.toml", path.display()));
            }
            if message.is_empty() || message.contains('\n') {
                return Err(format!("not a one-line message: {message:?}"));
            }
            if let Some(line) = line {
                let lines = text.lines().count().max(1) + 1;
                if !(1..=lines).contains(&line) {
                    return Err(format!("line {line} of {lines}: {message}"));
                }
            }
            Ok(None)
        }
        Err(other) => Err(format!("parse gave a non-parse error: {other}")),
    }
}
