//! Identifiers. Records use UUID v7 (time-ordered, RFC 9562 §5.7); users are identified by the
//! identity provider's subject string.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

uuid_id!(
    /// A tenant: one business whose data is isolated from every other's.
    TenantId
);
uuid_id!(
    /// A customer record (UUID v7).
    CustomerId
);

/// A user of the service: the `sub` claim of the bearer token (1..=255 characters). Users live
/// in the identity provider, not here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// Accepts a trimmed, non-empty string of at most 255 characters.
    ///
    /// # Errors
    /// `None` when empty after trimming or longer than 255 characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let t = raw.trim();
        (!t.is_empty() && t.chars().count() <= 255).then(|| Self(t.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
uuid_id!(
    /// An order (UUID v7).
    OrderId
);
uuid_id!(
    /// A membership tier of a tenant (UUID v7).
    TierId
);
uuid_id!(
    /// An entry of a customer's loyalty-points ledger (UUID v7).
    LedgerEntryId
);
uuid_id!(
    /// A saved view of the customer list (UUID v7).
    ViewId
);
uuid_id!(
    /// A background job (UUID v7).
    JobId
);
uuid_id!(
    /// A customer segment (UUID v7).
    SegmentId
);
uuid_id!(
    /// A recorded consent grant or withdrawal (UUID v7).
    ConsentEventId
);
uuid_id!(
    /// The record of a customer's erasure (UUID v7).
    ErasureId
);
uuid_id!(
    /// A contact person of a customer (UUID v7).
    ContactId
);
uuid_id!(
    /// A logged interaction with a customer (UUID v7).
    InteractionId
);
uuid_id!(
    /// A follow-up task on a customer (UUID v7).
    FollowUpId
);
