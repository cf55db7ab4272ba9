//! Comment bodies several end-to-end tests send.

/// A rerun and a retrigger of two copies, in one comment.
pub const TWO_COMMANDS: &str =
    "/rerun source-test-mozlint-eslint\n/retrigger 2 test-linux64/opt-mochitest-browser-chrome-1";
