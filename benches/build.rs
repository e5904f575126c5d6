//! Declares the `tokio_unstable` cfg, which the console-subscriber build
//! of the harness checks for (it is set through RUSTFLAGS, not a feature).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tokio_unstable)");
}
