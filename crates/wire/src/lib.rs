//! The JSON shapes of the Lambda REST API (2015-03-31), with AWS's member names and casing.
//!
//! **Boundary:** this crate has no logic. Request shapes use `Option` for every member so that
//! the caller, not serde, decides what a missing member means and which error it gets. Response
//! shapes skip absent optional members, because AWS omits them rather than sending `null`.
//! Conversion from and to domain types lives in `api`.

pub mod alias;
pub mod events;
pub mod function;
pub mod layer;
pub mod policy;
