//! Role-based access: permissions, the default roles, the authenticated caller ([`Actor`]), the
//! one failure of an access check ([`Forbidden`]), and ownership: the tenant's
//! [`SalesScope`] and the [`Visibility`] of customers it gives a caller. See DESIGN.md §2. The
//! bottom of the context graph: it depends on identifiers only.

mod model;
mod scope;

pub use model::{Actor, Forbidden, Permission, Role};
pub use scope::{SalesScope, Visibility};
