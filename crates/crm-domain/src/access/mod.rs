//! Role-based access: permissions, the default roles, the authenticated caller ([`Actor`]) and
//! the one failure of an access check ([`Forbidden`]). See DESIGN.md §2. The bottom of the
//! context graph: it depends on identifiers only.

mod model;

pub use model::{Actor, Forbidden, Permission, Role};
