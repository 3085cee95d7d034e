//! crm's database schema, as SeaORM migrations that run unchanged on PostgreSQL and SQLite.
//!
//! Conventions (DESIGN.md §3): `tenant_id` leads every primary key, composite index and unique
//! key; money is a BIGINT count of ten-thousandths of the record's currency; uniqueness of
//! e-mail, phones and external refs holds among rows not soft-deleted (partial indexes).
//! One file `mYYYYMMDD_NNNNNN_name.rs` per migration; never edit one that has shipped.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_tenants_and_customers;
pub mod m20261121_000002_orders_loyalty_tiers;
mod m20261121_000003_customer_sorting;
mod m20261121_000004_customer_views;
mod m20261121_000005_customer_search;
mod m20261121_000006_search_terms_from_names;
mod m20261121_000007_analytics;
mod m20261121_000008_customer_segments;
mod m20261121_000009_import_errors;
mod m20261121_000010_search_terms_on_customers;
mod m20261121_000011_job_leases;
mod m20261121_000012_privacy;
mod m20261121_000013_customer_owner_index;
pub mod m20261121_000014_row_level_security;
mod m20261121_000015_customer_addresses;
mod m20261121_000016_customer_contacts;
mod m20261121_000017_events;
mod m20261121_000018_interactions_and_follow_ups;
mod m20261121_000019_notes;
mod m20261121_000020_documents;
mod m20261121_000021_webhooks;
mod m20261121_000022_reminders;

/// Every migration, oldest first. `Migrator::up(&db, None)` brings a database to the latest
/// schema; it runs on `crm-server migrate` and at server start.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_tenants_and_customers::Migration),
            Box::new(m20261121_000002_orders_loyalty_tiers::Migration),
            Box::new(m20261121_000003_customer_sorting::Migration),
            Box::new(m20261121_000004_customer_views::Migration),
            Box::new(m20261121_000005_customer_search::Migration),
            Box::new(m20261121_000006_search_terms_from_names::Migration),
            Box::new(m20261121_000007_analytics::Migration),
            Box::new(m20261121_000008_customer_segments::Migration),
            Box::new(m20261121_000009_import_errors::Migration),
            Box::new(m20261121_000010_search_terms_on_customers::Migration),
            Box::new(m20261121_000011_job_leases::Migration),
            Box::new(m20261121_000012_privacy::Migration),
            Box::new(m20261121_000013_customer_owner_index::Migration),
            Box::new(m20261121_000014_row_level_security::Migration),
            Box::new(m20261121_000015_customer_addresses::Migration),
            Box::new(m20261121_000016_customer_contacts::Migration),
            Box::new(m20261121_000017_events::Migration),
            Box::new(m20261121_000018_interactions_and_follow_ups::Migration),
            Box::new(m20261121_000019_notes::Migration),
            Box::new(m20261121_000020_documents::Migration),
            Box::new(m20261121_000021_webhooks::Migration),
            Box::new(m20261121_000022_reminders::Migration),
        ]
    }
}
