//! Arbitrary text as monitor-app's configuration file: the TOML parser,
//! the lowering into sections, durations, addresses and names.
//!
//! Checks, besides "nothing panics": a refused file gets a one-line error
//! naming the file and a line that exists, and an accepted one also passes
//! `App::check` or fails it the same way (every name it uses is checked
//! against an app with nothing registered).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use monitor_app::{App, ConfigError};
use monitor_core_fuzz::config_check::parse_checked;

static APP: LazyLock<App> = LazyLock::new(|| App::builder().name("fuzz").build());

fuzz_target!(|text: &str| {
    let config = match parse_checked(text) {
        Ok(Some(config)) => config,
        Ok(None) => return,
        Err(problem) => panic!("{problem}"),
    };
    match APP.check(&config) {
        Ok(()) | Err(ConfigError::Invalid { .. }) => {}
        Err(other) => panic!("check gave a non-config error: {other}"),
    }
});
