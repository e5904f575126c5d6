//! The harness shared by the fuzz targets: the very file the proptest in
//! `server/tests/hardening_fuzz.rs` uses, so both check the same properties.

#[path = "../../server/tests/hardening_support/mod.rs"]
pub mod harness;

/// The configuration parser's check, shared with `app/tests/config_fuzz.rs`.
#[path = "../../app/tests/config_check/mod.rs"]
pub mod config_check;
