//! Role-based access: permissions, the default roles and the authenticated caller ([`Actor`]).
//! See DESIGN.md §2. The bottom of the context graph: it depends on identifiers only.

mod error;
mod model;

pub use error::Forbidden;
pub use model::{Actor, Permission, Role};
