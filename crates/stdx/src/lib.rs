//! Small std-like helpers shared by every Versa crate.
//!
//! Rule of thumb: a helper lands here when two crates need it and it is a few lines of obvious
//! code; anything with domain meaning belongs in `model`.

pub mod duty;
pub mod hex;
pub mod json;
pub mod repoll;
pub mod time;
