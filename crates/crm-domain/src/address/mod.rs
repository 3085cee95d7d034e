//! Addresses of customers: typed (`billing`, `shipping`, ...), one default per customer and
//! type, optional WGS 84 coordinates for delivery and the radius search.
//!
//! - `model`: [`Address`], [`AddressInput`] and its rules, [`AddressType`], the limits, and
//!   the great-circle geometry ([`GeoPoint`], [`Near`]; haversine on a sphere of radius
//!   [`EARTH_RADIUS_KM`] = 6371.0088 km);
//! - `ports`: [`AddressRepository`] and its unit of work [`AddressTransaction`];
//! - `service`: [`AddressService`] (`list`, `get`, `create`, `patch`, `delete`,
//!   `defaults_of`) and the default rules;
//! - `error`: [`AddressError`].

mod error;
mod events;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use error::AddressError;
pub use events::{added_event, address_json, removed_event, updated_event};
pub use model::{
    Address, AddressChanges, AddressFields, AddressId, AddressInput, AddressType, EARTH_RADIUS_KM,
    GeoPoint, MAX_ADDRESSES_PER_CUSTOMER, MAX_DELIVERY_NOTES_CHARS, MAX_LABEL_CHARS,
    MAX_LINE_CHARS, MAX_PLACE_CHARS, MAX_POSTAL_CODE_CHARS, MAX_RADIUS_KM, Near, new_addresses,
    replace_addresses,
};
pub use ports::{AddressRepository, AddressTransaction};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockAddressRepository, MockAddressTransaction};
#[cfg(any(test, feature = "mock"))]
pub use service::MockAddressPatch;
pub use service::{AddressPatch, AddressService, MAX_DEFAULTS_OF, lock_writable};
