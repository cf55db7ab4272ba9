//! The pure core (command, policy, reply) imports no I/O module: the rules
//! are judged on data alone (DESIGN.md §3). Reads the sources, so a new
//! `use crate::taskcluster::...` in a rule fails here rather than in review.

use std::path::{Path, PathBuf};

const PURE: [&str; 4] = ["src/command", "src/policy", "src/reply", "src/reply.rs"];
const IO: [&str; 8] = [
    "taskcluster",
    "github",
    "store",
    "webhook",
    "sandbox",
    "pipeline",
    "dispatch",
    "worker",
];

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

#[test]
fn the_rules_import_no_io_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in PURE {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 10, "found the pure core's sources");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        for (n, line) in text.lines().enumerate() {
            for module in IO {
                if line.contains(&format!("crate::{module}::"))
                    || line.contains(&format!("crate::{module};"))
                    || line.contains(&format!("crate::{module}}}"))
                    || line.contains(&format!("crate::{{{module}"))
                {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "I/O imports in the pure core:\n{}",
        found.join("\n")
    );
}
