//! Declares the `tokio_unstable` cfg so `--cfg tokio_unstable` builds (needed
//! by the `hooks` and `taskdump` features) do not warn about an unknown cfg.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tokio_unstable)");
}
