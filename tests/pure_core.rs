//! The pure core imports no I/O: the rules are judged on data alone
//! (DESIGN.md §3). Since the core is its own crate (core/), a `use
//! crate::taskcluster::...` there no longer compiles; what can still creep in
//! is an I/O crate in its manifest, or the rules reaching for the webhook
//! payloads instead of the data the pipeline hands them. Both are read here
//! from the sources, so they fail in CI rather than in review.

use std::path::{Path, PathBuf};

/// Crates that do network, database, runtime or subprocess work.
const IO_CRATES: [&str; 14] = [
    "tokio",
    "sqlx",
    "reqwest",
    "hyper",
    "hyper-util",
    "axum",
    "octocrab",
    "lapin",
    "hawk",
    "jsonwebtoken",
    "futures-util",
    "tracing-subscriber",
    "json-e",
    "jsonschema",
];

/// The rules and their wording; they see commands, task snapshots and
/// configuration, never a delivery.
const RULES: [&str; 4] = [
    "core/src/command",
    "core/src/policy",
    "core/src/reply",
    "core/src/reply.rs",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for e in entries {
            rust_files(&e, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// The crate names of one `[section]` of a manifest.
fn section_crates(manifest: &str, section: &str) -> Vec<String> {
    let mut crates = Vec::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == section;
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            if let Some((name, _)) = line.split_once('=') {
                crates.push(name.trim().to_owned());
            }
        }
    }
    crates
}

#[test]
fn the_core_crate_depends_on_no_io_crate() {
    let manifest = std::fs::read_to_string(root().join("core/Cargo.toml")).expect("read");
    let crates = section_crates(&manifest, "[dependencies]");
    assert!(
        crates.iter().any(|c| c == "serde"),
        "read the core's dependencies: {crates:?}"
    );
    let io: Vec<_> = crates
        .iter()
        .filter(|c| IO_CRATES.contains(&c.as_str()))
        .collect();
    assert!(io.is_empty(), "I/O crates in core/Cargo.toml: {io:?}");
}

#[test]
fn the_rules_never_read_a_delivery() {
    let mut files = Vec::new();
    for dir in RULES {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 10, "found the rules' sources");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        for (n, line) in text.lines().enumerate() {
            if line.contains("crate::webhook") || line.contains("crate::config") {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the rules import deliveries or operator settings:\n{}",
        found.join("\n")
    );
}
