//! aliases
