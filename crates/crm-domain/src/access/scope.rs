//! Ownership: which customers a caller reaches inside their tenant.
//!
//! The tenant setting `sales_scope` ([`SalesScope`]) decides whether the `sales` role reaches
//! every customer of the tenant (`all`, the default) or only the customers assigned to the
//! caller (`assigned`, the "update own records" rule). [`Visibility::of`] turns the caller and
//! the setting into the one condition every customer read and write applies, on top of the
//! tenant: a customer outside it is "not found", as another tenant's is.

use std::fmt;

use super::model::{Actor, Role};
use crate::ids::UserId;

/// The tenant setting `sales_scope`: which customers callers whose strongest role is `sales`
/// reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SalesScope {
    /// `all` (default): every customer of the tenant.
    #[default]
    All,
    /// `assigned`: only the customers whose `assigned_to` is the caller's user id.
    Assigned,
}

impl SalesScope {
    /// The key of the setting in the tenant's settings object.
    pub const SETTING: &'static str = "sales_scope";

    /// Every value, in order.
    pub const ALL: [SalesScope; 2] = [SalesScope::All, SalesScope::Assigned];

    /// The setting's wire value: `all` or `assigned`.
    pub fn as_str(self) -> &'static str {
        match self {
            SalesScope::All => "all",
            SalesScope::Assigned => "assigned",
        }
    }

    /// The scope named `s` (`all` or `assigned`, exactly); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for SalesScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which customers of their tenant a caller reaches: the condition every customer query and
/// every read or write of one customer (and of its orders, points, tiers, segments and
/// analytics) applies on top of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Every customer of the tenant.
    All,
    /// Only the customers whose `assigned_to` is exactly this user id (case-sensitive, as the
    /// token's `sub`); unassigned customers are outside it.
    AssignedTo(UserId),
}

impl Visibility {
    /// The rule: a caller whose strongest role is `sales` ([`Actor::strongest_role`]) reaches only
    /// the customers assigned to them when the tenant's scope is [`SalesScope::Assigned`];
    /// everyone else (admins, managers, a sales user who is also a manager, viewers, callers
    /// holding explicit permissions only) reaches every customer of the tenant.
    pub fn of(actor: &Actor, scope: SalesScope) -> Self {
        if scope == SalesScope::Assigned && Self::may_restrict(actor) {
            Visibility::AssignedTo(actor.user_id.clone())
        } else {
            Visibility::All
        }
    }

    /// Whether the tenant's `sales_scope` can restrict `actor` at all (its strongest role is
    /// `sales`): when not, callers need not read the setting.
    pub fn may_restrict(actor: &Actor) -> bool {
        actor.strongest_role() == Some(Role::Sales)
    }

    /// Whether a customer assigned to `assigned_to` is inside this visibility.
    pub fn allows(&self, assigned_to: Option<&UserId>) -> bool {
        match self {
            Visibility::All => true,
            Visibility::AssignedTo(user) => assigned_to == Some(user),
        }
    }

    /// The user the caller is restricted to, if any.
    pub fn restricted_to(&self) -> Option<&UserId> {
        match self {
            Visibility::All => None,
            Visibility::AssignedTo(user) => Some(user),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use uuid::Uuid;

    fn actor(user: &str, roles: &[&str], perms: &[&str]) -> Actor {
        Actor::new(
            TenantId(Uuid::nil()),
            UserId::parse(user).unwrap(),
            roles.iter().copied(),
            perms.iter().copied(),
        )
    }

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn the_setting_reads_all_and_assigned_only() {
        assert_eq!(SalesScope::parse("all"), Some(SalesScope::All));
        assert_eq!(SalesScope::parse("assigned"), Some(SalesScope::Assigned));
        assert_eq!(SalesScope::parse("Assigned"), None);
        assert_eq!(SalesScope::parse(""), None);
        assert_eq!(SalesScope::default(), SalesScope::All);
    }

    #[test]
    fn with_assigned_a_sales_user_sees_only_their_customers() {
        let v = Visibility::of(&actor("alice", &["sales"], &[]), SalesScope::Assigned);
        assert_eq!(v, Visibility::AssignedTo(user("alice")));
        assert!(v.allows(Some(&user("alice"))));
        assert!(!v.allows(Some(&user("bob"))));
        assert!(!v.allows(Some(&user("Alice"))), "user ids compare exactly");
        assert!(!v.allows(None), "unassigned customers are outside");
    }

    #[test]
    fn with_all_a_sales_user_sees_every_customer() {
        let v = Visibility::of(&actor("alice", &["sales"], &[]), SalesScope::All);
        assert_eq!(v, Visibility::All);
        assert!(v.allows(None) && v.allows(Some(&user("bob"))));
    }

    #[test]
    fn only_callers_whose_strongest_role_is_sales_are_restricted() {
        let scoped = |roles: &[&str], perms: &[&str]| {
            Visibility::of(&actor("u", roles, perms), SalesScope::Assigned) != Visibility::All
        };
        assert!(scoped(&["sales"], &[]));
        assert!(scoped(&["sales", "viewer"], &[]));
        assert!(
            scoped(&["sales"], &["customers.delete"]),
            "explicit permissions do not lift the scope"
        );
        assert!(!scoped(&["sales", "manager"], &[]));
        assert!(!scoped(&["admin", "sales"], &[]));
        assert!(!scoped(&["manager"], &[]));
        assert!(!scoped(&["admin"], &[]));
        assert!(!scoped(&["viewer"], &[]), "viewers read every customer");
        assert!(!scoped(&[], &["customers.view", "customers.edit"]));
    }
}
