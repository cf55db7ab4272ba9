//! The rules matrix (DESIGN.md §6). Pure.

pub mod plan;
