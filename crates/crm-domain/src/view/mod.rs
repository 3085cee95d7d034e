//! Saved views of the customer list (the product documents' filter presets): a name, a filter
//! in the filter language, a sort and the columns to show; private to their owner or shared
//! with the tenant.
//!
//! - `model`: [`SavedView`], [`ViewInput`];
//! - `ports`: [`ViewRepository`];
//! - `service`: [`ViewService`].

mod model;
mod ports;
mod service;

pub use model::{SavedView, ViewInput};
#[cfg(any(test, feature = "mock"))]
pub use ports::MockViewRepository;
pub use ports::ViewRepository;
pub use service::ViewService;
