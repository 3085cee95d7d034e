//! Customer analytics: pure statistical models over customers' purchase histories, with no
//! database or I/O. The callers load the purchases, these modules compute.
//!
//! - [`clv`]: customer-lifetime-value models (BG/NBD purchase counts, Gamma-Gamma spend, and the
//!   discounted value that combines them).

pub mod clv;
