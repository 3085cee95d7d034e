//! The customer aggregate: model, input rules, storage port and use cases.

mod bulk;
mod error;
mod events;
mod fields;
pub mod filter;
mod input;
mod model;
mod ownership;
mod patch;
mod ports;
pub mod search;
mod service;
#[cfg(test)]
mod service_tests;

pub use bulk::{BulkAction, BulkResult, BulkTarget, MAX_BULK_IDS};
pub use error::{CustomerErased, DeleteCustomerError, OPEN_ORDERS_LISTED};
pub use events::{
    MAX_STATUS_REASON_CHARS, UNTRACKED_FIELDS, checked_status_reason, created_events,
    deletion_event, profile_changes, profile_json, status_needs_reason, update_events,
};
pub use fields::{
    API_FIELDS, CUSTOMER_FIELDS, CustomerField, DEFAULT_EXPORT_COLUMNS, EXPORT_COLUMNS,
    IMPORT_TARGETS, READ_ONLY_FIELDS,
};
pub use input::{
    CustomerInput, MAX_METADATA_BYTES, MAX_NOTES_CHARS, MAX_TAG_CHARS, MAX_TAGS, NestedInput,
    NestedReplace, ValidationContext,
};
pub use model::{
    AcquisitionSource, Customer, CustomerProfile, CustomerRfm, CustomerStatus, CustomerType,
    Gender, LifecycleStage, LoyaltyStatus, NewCustomer, PurchaseStats, UniqueField, customer_code,
};
pub use ownership::assignee;
#[cfg(any(test, feature = "mock"))]
pub use patch::MockCustomerPatch;
pub use patch::{CustomerJson, CustomerPatch, MergePatch, merge_patch};
pub use ports::{
    CustomerAggregates, CustomerBatch, CustomerParts, CustomerQuery, CustomerRepository, Deleted,
    DeletionChange, IdempotencyKey, IdempotencyRecord, MemberChanges, Position, ProfileUpdate,
    SortField, SortKey, SortValue, load_live, load_visible, sort_name,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockCustomerBatch, MockCustomerRepository};
pub use service::{
    Created, CustomerService, CustomerStats, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PATCH_ATTEMPTS, Page,
};
