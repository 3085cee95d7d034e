#![doc = include_str!("../README.md")]

mod addresses;
mod analytics;
mod contacts;
mod customers;
pub mod db;
mod documents;
mod entity;
mod error;
pub mod events;
pub mod export_file;
pub mod import_file;
mod imports;
mod interactions;
mod jobs;
mod notes;
mod orders;
mod privacy;
mod reminders;
mod segments;
mod sums;
mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
mod tiers;
mod views;
mod webhooks;

pub use addresses::{SeaAddressRepository, SeaAddressTransaction};
pub use analytics::SeaAnalyticsRepository;
pub use contacts::{SeaContactRepository, SeaContactTransaction};
pub use customers::SeaCustomerRepository;
pub use db::{Database, DbConfig, Scoped};
pub use documents::{ObjectDocumentStore, SeaDocumentRepository, SeaDocumentTransaction};
pub use error::map_db_err;
pub use events::{SeaEventFeed, SeaEventRepository};
pub use imports::{DiskImportFiles, FileRows, SeaImportRepository};
pub use interactions::{SeaInteractionRepository, SeaInteractionTransaction};
pub use jobs::SeaJobRepository;
pub use notes::{SeaNoteRepository, SeaNoteTransaction};
pub use orders::{SeaOrderRepository, SeaOrderTransaction};
pub use privacy::{SeaPrivacyRepository, SeaPrivacyTransaction};
pub use reminders::{SeaReminderRepository, SeaReminderTransaction};
pub use segments::SeaSegmentRepository;
pub use tenants::SeaTenantRepository;
pub use tiers::SeaTierRepository;
pub use views::SeaViewRepository;
pub use webhooks::{SeaDeliveryRepository, SeaWebhookRepository, SeaWebhookTransaction};
