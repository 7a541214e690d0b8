//! Versa's domain vocabulary: what a function, a version and an alias are, how they are named,
//! and which values are valid.
//!
//! Everything here is pure: no IO, no clock, no randomness, no JSON. Callers pass timestamps and
//! fresh revision ids in. Validation produces [`validate::Violation`]s that carry the field name
//! and constraint text AWS uses, so the HTTP layer can render AWS's exact messages without
//! knowing the rules.

pub mod arn;
pub mod function;
pub mod layer;
pub mod limits;
pub mod name;
pub mod policy;
pub mod runtime;
pub mod scope;
pub mod validate;

#[cfg(test)]
mod proptests;
