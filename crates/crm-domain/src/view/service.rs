//! Use cases on saved views, with the checks of a submitted view.

use std::sync::Arc;

use serde_json::Value;

use super::model::{EXTRA_COLUMNS, SavedView, ViewInput};
use super::ports::ViewRepository;
use crate::access::{Actor, Permission};
use crate::customer::SortKey;
use crate::customer::filter::{Field, Filter};
use crate::error::{DomainError, FieldError};
use crate::ids::ViewId;
use crate::ports::{Clock, IdGenerator};
use crate::values::{TextKind, check_text};

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
    } else if let Some(Err(e)) = name
        .as_deref()
        .map(|n| check_text("name", n, TextKind::SingleLine))
    {
        errors.push(e);
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
    #[tracing::instrument(name = "ViewService::list", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
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
    #[tracing::instrument(name = "ViewService::get", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, view_id = %id))]
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
    #[tracing::instrument(name = "ViewService::create", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
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
    #[tracing::instrument(name = "ViewService::replace", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, view_id = %id))]
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
    #[tracing::instrument(name = "ViewService::delete", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, view_id = %id))]
    pub async fn delete(&self, actor: &Actor, id: ViewId) -> Result<(), DomainError> {
        let current = self.get(actor, id).await?;
        Self::may_change(actor, &current)?;
        Ok(self.views.delete(actor.tenant_id, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TenantId, UserId};
    use crate::testing::{clock, ids};
    use crate::view::MockViewRepository;
    use chrono::Utc;
    use serde_json::json;
    use uuid::Uuid;

    const TENANT: TenantId = TenantId(Uuid::from_u128(1));

    fn actor(user: &str, role: &str) -> Actor {
        Actor::new(TENANT, UserId::parse(user).unwrap(), [role], [])
    }

    fn service(repo: MockViewRepository) -> ViewService {
        ViewService::new(Arc::new(repo), Arc::new(clock(Utc::now)), Arc::new(ids()))
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
