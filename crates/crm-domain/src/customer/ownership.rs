//! Ownership of customers: what a caller restricted to their own customers may store in
//! `assigned_to` (the other half of [`Visibility`]: who reaches a customer).

use crate::access::Visibility;
use crate::error::FieldError;
use crate::ids::UserId;

/// The `assigned_to` a write by a caller with `visibility` stores, given the one the request
/// asks for (`field` names it in the API: `assigned_to`, `action.assigned_to`).
///
/// An unrestricted caller ([`Visibility::All`]) stores what it asks for. A caller restricted to
/// the customers assigned to them ([`Visibility::AssignedTo`], a `sales` user under the tenant
/// setting `sales_scope: "assigned"`) keeps every customer it writes assigned to themself: no
/// owner (absent or `null`) means themself, and naming another user is refused, because the
/// customer would vanish from their reach on the next read (hand a customer over through a
/// manager or admin instead).
///
/// # Errors
/// A [`FieldError`] on `field` with code `not_assignable`, naming the caller's user id (the
/// only value allowed) and the one asked for.
pub fn assignee(
    visibility: &Visibility,
    requested: Option<UserId>,
    field: &str,
) -> Result<Option<UserId>, FieldError> {
    let Some(me) = visibility.restricted_to() else {
        return Ok(requested);
    };
    match requested {
        None => Ok(Some(me.clone())),
        Some(user) if user == *me => Ok(Some(user)),
        Some(user) => Err(FieldError::new(
            field,
            "not_assignable",
            format!(
                "with the tenant's sales_scope \"assigned\" a sales user keeps their customers \
                 assigned to themself (`{me}`); `{user}` is another user: ask a manager to hand \
                 the customer over"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn an_unrestricted_caller_stores_what_it_asks_for() {
        assert_eq!(
            assignee(&Visibility::All, Some(user("bob")), "assigned_to"),
            Ok(Some(user("bob")))
        );
        assert_eq!(assignee(&Visibility::All, None, "assigned_to"), Ok(None));
    }

    #[test]
    fn a_restricted_caller_keeps_customers_assigned_to_themself() {
        let alice = Visibility::AssignedTo(user("alice"));
        assert_eq!(
            assignee(&alice, None, "assigned_to"),
            Ok(Some(user("alice")))
        );
        assert_eq!(
            assignee(&alice, Some(user("alice")), "assigned_to"),
            Ok(Some(user("alice")))
        );
        let e = assignee(&alice, Some(user("bob")), "action.assigned_to").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.code),
            ("action.assigned_to", "not_assignable")
        );
        assert!(
            e.message.contains("`alice`") && e.message.contains("`bob`"),
            "{}",
            e.message
        );
    }
}
