//! Customer analytics: pure rules that turn a tenant's order history into scores and segments.
//!
//! No database here. The storage layer gathers the inputs (and may compile the same rules to
//! SQL); these modules define what the answers must be, so both backends and the Rust code agree.
//!
//! - [`rfm`]: recency / frequency / monetary quintile scores and the named R×F segments.

pub mod rfm;
