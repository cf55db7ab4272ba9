//! Tests of the rules: one named row per rule of DESIGN.md §6 (the table and
//! every bullet under it), selection, classification, roles, properties.

mod props;
mod rules;
mod selection;
