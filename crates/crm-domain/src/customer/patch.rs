//! Partial updates of a customer: a [`CustomerPatch`] turns the version read into the full
//! input to write, so that [`CustomerService::patch`](super::CustomerService::patch) can apply
//! it again to a fresher version when another writer came first. [`MergePatch`] is the JSON
//! merge patch (RFC 7396) over an adapter's JSON form of the editable fields
//! ([`CustomerJson`]).

use serde_json::{Map, Value};

use super::input::CustomerInput;
use super::model::Customer;
use crate::error::DomainError;

/// A change of some editable fields of a customer, applied to the version it is based on.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait CustomerPatch: Send + Sync {
    /// The input that replaces every editable field of `current`: its fields with the change
    /// applied.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when the changed fields are malformed.
    fn apply(&self, current: &Customer) -> Result<CustomerInput, DomainError>;
}

/// The editable fields of a customer as one JSON object, as an adapter writes them (the HTTP
/// API's write body): the document a [`MergePatch`] changes.
pub trait CustomerJson: Send + Sync {
    /// The editable fields of `customer` as a JSON object.
    ///
    /// # Errors
    /// [`DomainError::Internal`] when it cannot be written.
    fn fields(&self, customer: &Customer) -> Result<Value, DomainError>;

    /// The input an object of editable fields describes.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming a malformed or unknown field.
    fn input(&self, fields: Value) -> Result<CustomerInput, DomainError>;
}

/// A JSON merge patch (RFC 7396) of a customer's editable fields, in the form `J` writes
/// them: members present replace the stored value, `null` clears it, absent members stay.
#[derive(Debug, Clone, PartialEq)]
pub struct MergePatch<J> {
    patch: Value,
    json: J,
}

impl<J: CustomerJson> MergePatch<J> {
    /// A merge patch of the fields as `json` writes them.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `body` (`not_an_object`) when `patch` is not a JSON
    /// object.
    pub fn new(patch: Value, json: J) -> Result<Self, DomainError> {
        if !patch.is_object() {
            return Err(DomainError::invalid(
                "body",
                "not_an_object",
                "a merge patch must be a JSON object",
            ));
        }
        Ok(Self { patch, json })
    }
}

impl<J: CustomerJson> CustomerPatch for MergePatch<J> {
    fn apply(&self, current: &Customer) -> Result<CustomerInput, DomainError> {
        let mut fields = self.json.fields(current)?;
        merge_patch(&mut fields, &self.patch);
        self.json.input(fields)
    }
}

/// RFC 7396 JSON merge patch: `null` removes a member, objects merge recursively, anything
/// else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
        let mut target = json!({"a": [1, 2], "b": "x"});
        merge_patch(&mut target, &json!({"a": [3], "b": {"c": 1}, "n": null}));
        assert_eq!(target, json!({"a": [3], "b": {"c": 1}}));
    }

    #[derive(Debug)]
    struct NoJson;

    impl CustomerJson for NoJson {
        fn fields(&self, _: &Customer) -> Result<Value, DomainError> {
            Ok(json!({}))
        }
        fn input(&self, _: Value) -> Result<CustomerInput, DomainError> {
            Ok(CustomerInput::default())
        }
    }

    #[test]
    fn a_merge_patch_is_an_object() {
        for body in [json!([]), json!("x"), json!(null), json!(1)] {
            match MergePatch::new(body.clone(), NoJson) {
                Err(DomainError::Validation(errors)) => {
                    assert_eq!(errors[0].field, "body", "{body}");
                    assert_eq!(errors[0].code, "not_an_object", "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        assert!(MergePatch::new(json!({}), NoJson).is_ok());
    }

    mod service {
        //! `CustomerService::patch` against mockall mocks of its ports.

        use std::sync::Arc;
        use std::sync::atomic::{AtomicI64, Ordering};

        use chrono::{TimeZone, Utc};
        use serde_json::{Value, json};
        use uuid::Uuid;

        use crate::customer::{
            Customer, CustomerInput, CustomerJson, CustomerService, MergePatch, MockCustomerPatch,
            MockCustomerRepository,
        };
        use crate::error::{DomainError, RepositoryError};
        use crate::ids::CustomerId;
        use crate::testing::{TENANT, actor, clock, customer, ids, now, tenants};

        const ID: CustomerId = CustomerId(Uuid::from_u128(2));

        fn service(repo: MockCustomerRepository) -> CustomerService {
            CustomerService::new(
                Arc::new(repo),
                Arc::new(tenants(now)),
                Arc::new(clock(now)),
                Arc::new(ids()),
            )
        }

        fn input(name: &str) -> CustomerInput {
            CustomerInput {
                name: Some(name.into()),
                email: Some("budi@example.com".into()),
                ..Default::default()
            }
        }

        fn stored(version: i64) -> Customer {
            let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
            Customer {
                version,
                ..customer(ID, at)
            }
        }

        /// A repository whose customer [`ID`] is read at `versions[0]`, then `versions[1]`,
        /// ... (the last one repeating), and whose e-mail is its own.
        fn repo(versions: &'static [i64]) -> MockCustomerRepository {
            let mut repo = MockCustomerRepository::new();
            repo.expect_find_by_unique()
                .returning(|_, _, _| Ok(Some(ID)));
            let reads = AtomicI64::new(0);
            repo.expect_find().returning(move |tenant, id, _| {
                let n = reads.fetch_add(1, Ordering::SeqCst) as usize;
                let version = versions[n.min(versions.len() - 1)];
                Ok((tenant == TENANT && id == ID).then(|| stored(version)))
            });
            repo
        }

        /// The name and e-mail as a JSON object.
        #[derive(Debug)]
        struct NameAndEmail;

        impl CustomerJson for NameAndEmail {
            fn fields(&self, c: &Customer) -> Result<Value, DomainError> {
                Ok(json!({
                    "name": c.profile.name,
                    "email": c.profile.email.as_ref().map(|e| e.as_str()),
                }))
            }

            fn input(&self, fields: Value) -> Result<CustomerInput, DomainError> {
                let text = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_owned);
                Ok(CustomerInput {
                    name: text("name"),
                    email: text("email"),
                    ..Default::default()
                })
            }
        }

        #[tokio::test]
        async fn a_merge_patch_changes_the_fields_it_names_and_keeps_the_others() {
            let mut repo = repo(&[4]);
            repo.expect_update_profile()
                .withf(|u| {
                    u.tenant_id == TENANT
                        && u.id == ID
                        && u.expected_version == 4
                        && u.profile.name == "Budi Baru"
                        && u.profile.email.as_ref().map(|e| e.as_str()) == Some("budi@example.com")
                })
                .times(1)
                .returning(|u| {
                    let mut c = stored(5);
                    c.profile = u.profile;
                    Ok(c)
                });
            let patch = MergePatch::new(json!({"name": "Budi Baru"}), NameAndEmail).unwrap();
            let c = service(repo)
                .patch(&actor("sales"), ID, &patch, None)
                .await
                .unwrap();
            assert_eq!((c.profile.name.as_str(), c.version), ("Budi Baru", 5));
        }

        #[tokio::test]
        async fn without_if_match_a_concurrent_change_is_patched_again_on_the_fresh_version() {
            // Attempt 1 reads version 1 (the patch's read, the write's read), the write is
            // stale, the write's re-read finds version 2: a failed precondition. Attempt 2
            // reads version 2 twice and writes.
            let mut repo = repo(&[1, 1, 2]);
            let mut writes = mockall::Sequence::new();
            repo.expect_update_profile()
                .withf(|u| u.expected_version == 1)
                .times(1)
                .in_sequence(&mut writes)
                .returning(|_| Err(RepositoryError::Stale));
            repo.expect_update_profile()
                .withf(|u| u.expected_version == 2 && u.profile.name == "on 2")
                .times(1)
                .in_sequence(&mut writes)
                .returning(|_| Ok(stored(3)));
            let mut patch = MockCustomerPatch::new();
            let mut applied = mockall::Sequence::new();
            for version in [1, 2] {
                patch
                    .expect_apply()
                    .withf(move |c| c.version == version)
                    .times(1)
                    .in_sequence(&mut applied)
                    .returning(|c| Ok(input(&format!("on {}", c.version))));
            }
            let c = service(repo)
                .patch(&actor("sales"), ID, &patch, None)
                .await
                .unwrap();
            assert_eq!(c.version, 3);
        }

        #[tokio::test]
        async fn without_if_match_the_patch_never_answers_412_and_gives_up_with_503() {
            // Every write's read finds a newer version than the patch's read.
            // Two reads an attempt (the patch's and the write's), PATCH_ATTEMPTS (8) attempts.
            let mut repo = repo(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
            repo.expect_update_profile().never();
            let mut patch = MockCustomerPatch::new();
            patch
                .expect_apply()
                .times(crate::customer::PATCH_ATTEMPTS)
                .returning(|_| Ok(input("Budi Baru")));
            let err = service(repo)
                .patch(&actor("sales"), ID, &patch, None)
                .await
                .unwrap_err();
            assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");
        }

        #[tokio::test]
        async fn a_stale_if_match_is_a_failed_precondition_without_a_write() {
            let mut repo = repo(&[3]);
            repo.expect_update_profile().never();
            let mut patch = MockCustomerPatch::new();
            patch.expect_apply().never();
            let err = service(repo)
                .patch(&actor("sales"), ID, &patch, Some(2))
                .await
                .unwrap_err();
            assert_eq!(
                err,
                DomainError::PreconditionFailed {
                    expected: 2,
                    current: 3
                }
            );
        }

        #[tokio::test]
        async fn with_if_match_a_concurrent_change_is_not_retried() {
            let mut repo = repo(&[2, 2, 3]);
            repo.expect_update_profile()
                .times(1)
                .returning(|_| Err(RepositoryError::Stale));
            let mut patch = MockCustomerPatch::new();
            patch
                .expect_apply()
                .times(1)
                .returning(|_| Ok(input("Budi Baru")));
            let err = service(repo)
                .patch(&actor("sales"), ID, &patch, Some(2))
                .await
                .unwrap_err();
            assert_eq!(
                err,
                DomainError::PreconditionFailed {
                    expected: 2,
                    current: 3
                }
            );
        }

        #[tokio::test]
        async fn a_malformed_patch_writes_nothing() {
            let mut repo = repo(&[1]);
            repo.expect_update_profile().never();
            let mut patch = MockCustomerPatch::new();
            patch.expect_apply().times(1).returning(|_| {
                Err(DomainError::invalid(
                    "is_vip",
                    "invalid_type",
                    "not a boolean",
                ))
            });
            let err = service(repo)
                .patch(&actor("sales"), ID, &patch, None)
                .await
                .unwrap_err();
            assert!(matches!(err, DomainError::Validation(_)), "{err:?}");
        }
    }
}
