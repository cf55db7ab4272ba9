//! `.github/rerunbot.yml`: schema, defaults, validation.
