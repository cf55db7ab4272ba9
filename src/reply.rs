//! The status reply (DESIGN.md §11): pure markdown rendering.
