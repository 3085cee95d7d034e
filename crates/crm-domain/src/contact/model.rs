//! The contact record.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::ids::{ContactId, CustomerId, TenantId, UserId};
use crate::values::{EmailAddress, PhoneNumber};

/// Most contacts one customer may have.
pub const MAX_CONTACTS: usize = 100;

string_enum!(
    /// What a contact does for the customer's business with the tenant.
    ContactRole {
        /// Decides on purchases.
        DecisionMaker => "decision_maker",
        /// Receives and pays invoices.
        Billing => "billing",
        /// Technical questions.
        Technical => "technical",
        /// Places orders.
        Purchasing => "purchasing",
        /// Receives deliveries.
        Shipping => "shipping",
        /// Anything else.
        Other => "other",
    }
);

string_enum!(
    /// How a contact prefers to be reached.
    PreferredChannel {
        /// E-mail.
        Email => "email",
        /// A phone call.
        Phone => "phone",
        /// WhatsApp.
        Whatsapp => "whatsapp",
        /// SMS.
        Sms => "sms",
        /// Face to face.
        InPerson => "in_person",
    }
);

/// The editable fields of a contact, validated (see [`super::ContactInput`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactDetails {
    /// Full name, 1..=255 characters, trimmed.
    pub name: String,
    /// Job title, up to 255 characters.
    pub job_title: Option<String>,
    /// Department, up to 255 characters.
    pub department: Option<String>,
    /// E-mail, lower-cased; unique among the customer's contacts.
    pub email: Option<EmailAddress>,
    /// Phone, E.164.
    pub phone: Option<PhoneNumber>,
    /// Mobile phone, E.164.
    pub mobile_phone: Option<PhoneNumber>,
    /// Roles (a set).
    pub roles: BTreeSet<ContactRole>,
    /// Preferred channel.
    pub preferred_channel: Option<PreferredChannel>,
    /// Language tag (BCP 47 form, `id`, `en-US`), up to 35 characters.
    pub language: Option<String>,
    /// Free text, several lines allowed, up to 10,000 characters.
    pub notes: Option<String>,
    /// Whether the contact may use the customer portal (stored; the portal comes later).
    pub portal_access: bool,
}

impl ContactDetails {
    /// What a customer search (`q`) reads of the contact: the lower-cased name and e-mail, one
    /// per line.
    pub fn search_text(&self) -> String {
        let mut text = self.name.to_lowercase();
        if let Some(e) = &self.email {
            text.push('\n');
            text.push_str(e.as_str());
        }
        text
    }

    /// The contact's phone and mobile phone as a customer search reads them: digits, in
    /// international and national form, one per line.
    pub fn search_phones(&self) -> String {
        [&self.phone, &self.mobile_phone]
            .into_iter()
            .flatten()
            .flat_map(PhoneNumber::search_forms)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A contact person of a customer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Id (UUID v7).
    pub id: ContactId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The customer it belongs to.
    pub customer_id: CustomerId,
    /// Editable fields.
    pub details: ContactDetails,
    /// Whether it is the customer's primary contact (exactly one is, once there are contacts).
    pub is_primary: bool,
    /// Optimistic-concurrency version: 1 on creation, +1 on every change (a promotion or
    /// demotion by another request's primary swap included).
    pub version: i64,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Who changed it last.
    pub updated_by: Option<UserId>,
    /// Creation time (UTC, microseconds); the oldest contact is promoted when the primary goes.
    pub created_at: DateTime<Utc>,
    /// Last change (UTC, microseconds).
    pub updated_at: DateTime<Utc>,
}

/// What a customer's response shows of its primary contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSummary {
    /// The contact.
    pub id: ContactId,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: Option<String>,
    /// Phone (E.164), or the mobile phone when it has no phone.
    pub phone: Option<String>,
}

impl From<&Contact> for ContactSummary {
    fn from(c: &Contact) -> Self {
        Self {
            id: c.id,
            name: c.details.name.clone(),
            email: c.details.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: c
                .details
                .phone
                .as_ref()
                .or(c.details.mobile_phone.as_ref())
                .map(|p| p.as_str().to_owned()),
        }
    }
}

/// The writes that turn a customer's stored contacts into the set a request lists
/// ([`super::replace_contacts`]): unchanged contacts appear in none of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactChanges {
    /// New contacts, in the request's order.
    pub added: Vec<Contact>,
    /// Stored contacts that change, `(before, after)`; `after.version` is `before.version + 1`.
    pub updated: Vec<(Contact, Contact)>,
    /// Stored contacts the request no longer lists, as they were.
    pub removed: Vec<Contact>,
}

impl ContactChanges {
    /// True when nothing is written.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}
