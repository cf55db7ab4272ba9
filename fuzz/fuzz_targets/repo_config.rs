//! Fuzzes the `.github/rerunbot.yml` parser: any text gives a config or an
//! error whose line lies within the text; never a panic. libFuzzer's
//! `-timeout` catches a document that makes it slow (YAML aliases).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = rerunbot::repo_config::parse(text) {
        let lines = text.lines().count() + 1;
        assert!(e.line.is_none_or(|l| l >= 1 && l <= lines), "{e:?}");
        assert!(!e.message.is_empty());
    }
});
