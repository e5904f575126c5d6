//! Browser tests of the monitor's web UI; the tests live in `tests/` and
//! run with `cargo test -p browser-tests --features browser`.
#![deny(missing_docs)]
