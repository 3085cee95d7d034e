//! Saved views of the customer list (the product documents' filter presets): a name, a filter
//! in the filter language, a sort and the columns to show; private to their owner or shared
//! with the tenant.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::access::{Actor, Permission};
use crate::customer::SortKey;
use crate::customer::filter::{Field, Filter};
use crate::error::{DomainError, FieldError, RepositoryError};
use crate::ids::{TenantId, UserId, ViewId};
use crate::ports::{Clock, IdGenerator};

/// Columns a view may show besides the filterable fields.
const EXTRA_COLUMNS: &[&str] = &[
    "id",
    "average_order_value",
    "tier_id",
    "metadata",
    "notes",
    "internal_notes",
];

/// A saved view.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedView {
    /// Id.
    pub id: ViewId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Who saved it.
    pub owner: UserId,
    /// Name, 1..=100 characters.
    pub name: String,
    /// The filter, in the filter language (validated).
    pub filter: Value,
    /// Sort keys.
    pub sort: Vec<SortKey>,
    /// Columns to show, in order.
    pub columns: Vec<String>,
    /// Visible to everyone in the tenant (otherwise only to the owner).
    pub shared: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A view as submitted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewInput {
    /// 1..=100 characters.
    pub name: Option<String>,
    /// A filter in the filter language (absent: every customer).
    pub filter: Option<Value>,
    /// Sort spec keys (`name`, `-created_at`).
    pub sort: Option<Vec<String>>,
    /// Column names (customer fields), at most 50.
    pub columns: Option<Vec<String>>,
    /// Share with the tenant.
    pub shared: Option<bool>,
}

/// Storage of saved views.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ViewRepository: Send + Sync {
    /// Views of the tenant that `user` owns or that are shared, by name.
    async fn visible_to(
        &self,
        tenant: TenantId,
        user: &UserId,
    ) -> Result<Vec<SavedView>, RepositoryError>;
    /// One view of the tenant.
    async fn find(
        &self,
        tenant: TenantId,
        id: ViewId,
    ) -> Result<Option<SavedView>, RepositoryError>;
    /// Stores a new view or replaces one.
    async fn save(&self, view: &SavedView) -> Result<(), RepositoryError>;
    /// Deletes a view.
    async fn delete(&self, tenant: TenantId, id: ViewId) -> Result<(), RepositoryError>;
}

/// The checked fields of a [`ViewInput`].
struct ValidView {
    name: String,
    filter: Value,
    sort: Vec<SortKey>,
    columns: Vec<String>,
    shared: bool,
}

fn validate(input: ViewInput) -> Result<ValidView, DomainError> {
    let mut errors = Vec::new();
    let name = input
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty() && n.chars().count() <= 100);
    if name.is_none() {
        errors.push(FieldError::new("name", "required", "1..=100 characters"));
    }
    let filter = input.filter.unwrap_or(Value::Null);
    if let Err(e) = Filter::parse(&filter, "filter") {
        errors.extend(e);
    }
    let sort = match SortKey::parse_list(&input.sort.unwrap_or_default().join(",")) {
        Ok(s) => s,
        Err(e) => {
            errors.push(FieldError::new("sort", "invalid", e));
            Vec::new()
        }
    };
    let columns = input.columns.unwrap_or_default();
    if columns.len() > 50 {
        errors.push(FieldError::new("columns", "too_many", "at most 50 columns"));
    }
    for (i, c) in columns.iter().enumerate() {
        if Field::parse(c).is_none() && !EXTRA_COLUMNS.contains(&c.as_str()) {
            errors.push(FieldError::new(
                format!("columns[{i}]"),
                "unknown_field",
                format!("`{c}` is not a customer field"),
            ));
        }
    }
    match (name, errors.is_empty()) {
        (Some(name), true) => Ok(ValidView {
            name,
            filter,
            sort,
            columns,
            shared: input.shared.unwrap_or(false),
        }),
        _ => Err(DomainError::Validation(errors)),
    }
}

/// Use cases on saved views. Anyone who can view customers keeps views; a view is seen by its
/// owner, or by everyone when shared; it is changed by its owner, or by `customers.manage` when
/// shared. A private view of someone else is "not found".
pub struct ViewService {
    views: Arc<dyn ViewRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl ViewService {
    /// Wires the service.
    pub fn new(
        views: Arc<dyn ViewRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { views, clock, ids }
    }

    /// The views the caller sees.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`].
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SavedView>, DomainError> {
        actor.require(Permission::CustomersView)?;
        Ok(self
            .views
            .visible_to(actor.tenant_id, &actor.user_id)
            .await?)
    }

    /// One view the caller sees.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when absent, another tenant's, or someone else's private view.
    pub async fn get(&self, actor: &Actor, id: ViewId) -> Result<SavedView, DomainError> {
        actor.require(Permission::CustomersView)?;
        self.views
            .find(actor.tenant_id, id)
            .await?
            .filter(|v| v.shared || v.owner == actor.user_id)
            .ok_or(DomainError::NotFound { entity: "view" })
    }

    /// Saves a new view owned by the caller.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming the bad field (filter errors carry their path).
    pub async fn create(&self, actor: &Actor, input: ViewInput) -> Result<SavedView, DomainError> {
        actor.require(Permission::CustomersView)?;
        let ValidView {
            name,
            filter,
            sort,
            columns,
            shared,
        } = validate(input)?;
        let now = self.clock.now();
        let view = SavedView {
            id: ViewId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            owner: actor.user_id.clone(),
            name,
            filter,
            sort,
            columns,
            shared,
            created_at: now,
            updated_at: now,
        };
        self.views.save(&view).await?;
        Ok(view)
    }

    fn may_change(actor: &Actor, view: &SavedView) -> Result<(), DomainError> {
        if view.owner == actor.user_id || (view.shared && actor.can(Permission::CustomersManage)) {
            Ok(())
        } else {
            Err(DomainError::Forbidden(Permission::CustomersManage))
        }
    }

    /// Replaces a view.
    ///
    /// # Errors
    /// As [`ViewService::get`] and [`ViewService::create`]; [`DomainError::Forbidden`] for a
    /// shared view of someone else without `customers.manage`.
    pub async fn replace(
        &self,
        actor: &Actor,
        id: ViewId,
        input: ViewInput,
    ) -> Result<SavedView, DomainError> {
        let current = self.get(actor, id).await?;
        Self::may_change(actor, &current)?;
        let ValidView {
            name,
            filter,
            sort,
            columns,
            shared,
        } = validate(input)?;
        let view = SavedView {
            name,
            filter,
            sort,
            columns,
            shared,
            updated_at: self.clock.now(),
            ..current
        };
        self.views.save(&view).await?;
        Ok(view)
    }

    /// Deletes a view.
    ///
    /// # Errors
    /// As [`ViewService::replace`].
    pub async fn delete(&self, actor: &Actor, id: ViewId) -> Result<(), DomainError> {
        let current = self.get(actor, id).await?;
        Self::may_change(actor, &current)?;
        Ok(self.views.delete(actor.tenant_id, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockIdGenerator};
    use serde_json::json;
    use uuid::Uuid;

    const TENANT: TenantId = TenantId(Uuid::from_u128(1));

    fn actor(user: &str, role: &str) -> Actor {
        Actor::new(TENANT, UserId::parse(user).unwrap(), [role], [])
    }

    fn service(repo: MockViewRepository) -> ViewService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(Utc::now);
        let mut ids = MockIdGenerator::new();
        ids.expect_new_id().returning(Uuid::now_v7);
        ViewService::new(Arc::new(repo), Arc::new(clock), Arc::new(ids))
    }

    fn view(owner: &str, shared: bool) -> SavedView {
        SavedView {
            id: ViewId(Uuid::from_u128(7)),
            tenant_id: TENANT,
            owner: UserId::parse(owner).unwrap(),
            name: "VIPs".into(),
            filter: Value::Null,
            sort: vec![],
            columns: vec![],
            shared,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_view_stores_a_valid_filter_sort_and_columns() {
        let mut repo = MockViewRepository::new();
        repo.expect_save()
            .withf(|v| v.owner.as_str() == "ani" && v.sort.len() == 1)
            .times(1)
            .returning(|_| Ok(()));
        let input = ViewInput {
            name: Some("Big spenders".into()),
            filter: Some(
                json!({"all": [{"field": "total_spent", "op": "gte", "value": "1000000"}]}),
            ),
            sort: Some(vec!["-total_spent".into()]),
            columns: Some(vec!["name".into(), "total_spent".into()]),
            shared: Some(true),
        };
        let v = service(repo)
            .create(&actor("ani", "sales"), input)
            .await
            .unwrap();
        assert!(v.shared);
    }

    #[tokio::test]
    async fn a_bad_filter_sort_or_column_is_named() {
        let mut repo = MockViewRepository::new();
        repo.expect_save().never();
        let input = ViewInput {
            name: Some("x".into()),
            filter: Some(json!({"all": [{"field": "colour", "op": "eq", "value": "red"}]})),
            sort: Some(vec!["height".into()]),
            columns: Some(vec!["name".into(), "shoe".into()]),
            shared: None,
        };
        let err = service(repo)
            .create(&actor("ani", "sales"), input)
            .await
            .unwrap_err();
        let DomainError::Validation(e) = err else {
            panic!("{err:?}")
        };
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["filter.all[0].field", "sort", "columns[1]"]);
    }

    #[tokio::test]
    async fn someone_elses_private_view_is_not_found() {
        let mut repo = MockViewRepository::new();
        repo.expect_find()
            .returning(|_, _| Ok(Some(view("budi", false))));
        let err = service(repo)
            .get(&actor("ani", "admin"), ViewId(Uuid::from_u128(7)))
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::NotFound { entity: "view" });
    }

    #[tokio::test]
    async fn a_shared_view_is_changed_by_its_owner_or_a_manager_only() {
        let mut repo = MockViewRepository::new();
        repo.expect_find()
            .returning(|_, _| Ok(Some(view("budi", true))));
        repo.expect_delete().times(1).returning(|_, _| Ok(()));
        let svc = service(repo);
        let id = ViewId(Uuid::from_u128(7));
        assert_eq!(
            svc.delete(&actor("ani", "sales"), id).await.unwrap_err(),
            DomainError::Forbidden(Permission::CustomersManage)
        );
        svc.delete(&actor("ani", "admin"), id).await.unwrap();
    }
}
