//! Logging setup: `RUST_LOG` filter (default `info`), text or JSON lines.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber for the process (the binary calls this
/// once; tests install their own).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // A second init (e.g. `demo` after a test harness) keeps the first one.
    drop(result);
}
