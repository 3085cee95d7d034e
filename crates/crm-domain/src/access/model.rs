//! The model of access: permissions, the default roles and the authenticated caller.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, UserId};

/// A permission a caller may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// `customers.view`: read customers.
    #[serde(rename = "customers.view")]
    CustomersView,
    /// `customers.create`: create customers.
    #[serde(rename = "customers.create")]
    CustomersCreate,
    /// `customers.edit`: update customers.
    #[serde(rename = "customers.edit")]
    CustomersEdit,
    /// `customers.delete`: soft-delete and restore customers.
    #[serde(rename = "customers.delete")]
    CustomersDelete,
    /// `customers.manage`: segments, tiers, imports, exports, erasure, audit, hard delete.
    #[serde(rename = "customers.manage")]
    CustomersManage,
    /// `webhooks.manage`: register, change and delete webhook subscriptions, rotate their
    /// secrets, read and retry their deliveries (every event of the tenant leaves through
    /// them). Admin only, as the tenant's settings.
    #[serde(rename = "webhooks.manage")]
    WebhooksManage,
}

impl Permission {
    /// Every permission, in order.
    pub const ALL: [Permission; 6] = [
        Permission::CustomersView,
        Permission::CustomersCreate,
        Permission::CustomersEdit,
        Permission::CustomersDelete,
        Permission::CustomersManage,
        Permission::WebhooksManage,
    ];

    /// The permission's wire name, e.g. `customers.view`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CustomersView => "customers.view",
            Permission::CustomersCreate => "customers.create",
            Permission::CustomersEdit => "customers.edit",
            Permission::CustomersDelete => "customers.delete",
            Permission::CustomersManage => "customers.manage",
            Permission::WebhooksManage => "webhooks.manage",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(())
    }
}

/// The caller lacks `0` (403): the one failure of an access check. Converts into
/// [`crate::DomainError::Forbidden`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("missing permission {0}")]
pub struct Forbidden(pub Permission);

/// The default roles and what they grant. Ordered strongest first (`Admin < Manager < Sales <
/// Viewer`), so the first of a set of roles is the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Every permission.
    Admin,
    /// Every permission but `customers.manage` and `webhooks.manage`.
    Manager,
    /// View, create and edit.
    Sales,
    /// View only.
    Viewer,
}

impl Role {
    /// The role's name as it appears in a token's `roles` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Sales => "sales",
            Role::Viewer => "viewer",
        }
    }

    /// The permissions the role grants.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &Permission::ALL,
            Role::Manager => &[
                CustomersView,
                CustomersCreate,
                CustomersEdit,
                CustomersDelete,
            ],
            Role::Sales => &[CustomersView, CustomersCreate, CustomersEdit],
            Role::Viewer => &[CustomersView],
        }
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [Role::Admin, Role::Manager, Role::Sales, Role::Viewer]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(())
    }
}

/// The authenticated caller of a use case: who, for which tenant, allowed to do what.
///
/// Built once per request from the bearer token; the tenant never comes from anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The tenant every read and write of this caller is scoped to.
    pub tenant_id: TenantId,
    /// The user (token `sub`).
    pub user_id: UserId,
    /// Effective permissions: the union of the roles' grants and the explicit permissions.
    pub permissions: BTreeSet<Permission>,
    /// The known roles the caller holds (unknown role names are dropped).
    pub roles: BTreeSet<Role>,
    /// The id of the request acting (recorded on the events it causes), if any.
    pub request_id: Option<String>,
}

impl Actor {
    /// Builds an actor from role names and permission names; unknown names grant nothing.
    pub fn new<'a>(
        tenant_id: TenantId,
        user_id: UserId,
        roles: impl IntoIterator<Item = &'a str>,
        permissions: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut set = BTreeSet::new();
        let roles: BTreeSet<Role> = roles
            .into_iter()
            .filter_map(|r| r.parse::<Role>().ok())
            .collect();
        for role in &roles {
            set.extend(role.permissions().iter().copied());
        }
        set.extend(
            permissions
                .into_iter()
                .filter_map(|p| p.parse::<Permission>().ok()),
        );
        Self {
            tenant_id,
            user_id,
            permissions: set,
            roles,
            request_id: None,
        }
    }

    /// The same caller acting in the request with this id (recorded on its events).
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The strongest role the caller holds (`Admin` before `Manager` before `Sales` before
    /// `Viewer`); `None` for a caller with explicit permissions only.
    pub fn strongest_role(&self) -> Option<Role> {
        self.roles.first().copied()
    }

    /// Whether the caller holds `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// # Errors
    /// [`Forbidden`] naming `permission` when the caller lacks it (it converts into
    /// `DomainError::Forbidden`, a 403).
    pub fn require(&self, permission: Permission) -> Result<(), Forbidden> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(Forbidden(permission))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn actor(roles: &[&str], perms: &[&str]) -> Actor {
        Actor::new(
            TenantId(Uuid::nil()),
            UserId::parse("u1").unwrap(),
            roles.iter().copied(),
            perms.iter().copied(),
        )
    }

    #[test]
    fn admin_has_every_permission() {
        let a = actor(&["admin"], &[]);
        assert!(Permission::ALL.iter().all(|p| a.can(*p)));
        assert!(a.can(Permission::WebhooksManage));
    }

    #[test]
    fn manager_lacks_only_manage() {
        let a = actor(&["manager"], &[]);
        assert!(!a.can(Permission::CustomersManage));
        assert!(!a.can(Permission::WebhooksManage));
        assert!(a.can(Permission::CustomersDelete));
    }

    #[test]
    fn sales_can_view_create_edit_but_not_delete() {
        let a = actor(&["sales"], &[]);
        assert!(a.can(Permission::CustomersEdit) && a.can(Permission::CustomersCreate));
        assert_eq!(
            a.require(Permission::CustomersDelete),
            Err(Forbidden(Permission::CustomersDelete))
        );
    }

    #[test]
    fn viewer_only_views() {
        let a = actor(&["viewer"], &[]);
        assert_eq!(a.permissions.len(), 1);
        assert!(a.can(Permission::CustomersView));
    }

    #[test]
    fn the_strongest_role_comes_first_whatever_the_claim_order() {
        assert_eq!(
            actor(&["viewer", "sales", "manager"], &[]).strongest_role(),
            Some(Role::Manager)
        );
        assert_eq!(
            actor(&["sales", "viewer"], &[]).strongest_role(),
            Some(Role::Sales)
        );
        assert_eq!(
            actor(&["owner"], &["customers.view"]).strongest_role(),
            None
        );
    }

    #[test]
    fn explicit_permissions_add_to_roles_and_unknown_names_grant_nothing() {
        let a = actor(
            &["viewer", "superuser"],
            &["customers.create", "customers.fly"],
        );
        assert_eq!(a.permissions.len(), 2);
        assert!(a.can(Permission::CustomersCreate));
    }
}
