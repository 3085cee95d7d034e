//! The address entity of a customer, its input rules and the great-circle geometry of the
//! radius search.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::FieldError;
use crate::ids::{CustomerId, TenantId, UserId};
use crate::values::{CountryCode, PhoneError, PhoneNumber, TextKind, check_text};

/// An address of a customer (UUID v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AddressId(pub Uuid);

impl fmt::Display for AddressId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_enum!(
    /// What an address is for. A customer has at most one default address per type.
    AddressType {
        /// Where invoices go.
        Billing => "billing",
        /// Where goods are delivered.
        Shipping => "shipping",
        /// An office.
        Office => "office",
        /// A warehouse.
        Warehouse => "warehouse",
        /// A home.
        Home => "home",
        /// Anything else.
        Other => "other",
    }
);

/// Most addresses one customer holds (a create beyond is a 422 `too_many` with this limit).
pub const MAX_ADDRESSES_PER_CUSTOMER: usize = 50;
/// Longest `label`, in characters.
pub const MAX_LABEL_CHARS: usize = 100;
/// Longest `recipient_name`, `line1` and `line2`, in characters.
pub const MAX_LINE_CHARS: usize = 255;
/// Longest `district`, `city` and `region`, in characters.
pub const MAX_PLACE_CHARS: usize = 100;
/// Longest `postal_code`, in characters.
pub const MAX_POSTAL_CODE_CHARS: usize = 20;
/// Longest `delivery_notes`, in characters.
pub const MAX_DELIVERY_NOTES_CHARS: usize = 1000;
/// The Earth's mean radius (IUGG R1) the great-circle distances use, in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;
/// Largest radius of a radius search, in kilometres: half the Earth's circumference, beyond
/// which every point is inside.
pub const MAX_RADIUS_KM: f64 = 20_015.0;

/// The validated, editable fields of an address.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressFields {
    /// What it is for.
    pub address_type: AddressType,
    /// A name for people (`Gudang Cikarang`), 1..=100 characters.
    pub label: Option<String>,
    /// Who receives deliveries there, 1..=255 characters.
    pub recipient_name: Option<String>,
    /// Phone there, E.164 (a national number is read in `country`, which defaults to the
    /// tenant's country).
    pub phone: Option<PhoneNumber>,
    /// Street and number, 1..=255 characters; required.
    pub line1: String,
    /// More of the street address, 1..=255 characters.
    pub line2: Option<String>,
    /// District (kecamatan, borough), 1..=100 characters.
    pub district: Option<String>,
    /// City, 1..=100 characters; required.
    pub city: String,
    /// Region (province, state), 1..=100 characters.
    pub region: Option<String>,
    /// Postal code, 1..=20 characters.
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country; defaults to the tenant's.
    pub country: CountryCode,
    /// WGS 84 position, degrees: latitude in -90..=90 and longitude in -180..=180, both or
    /// neither.
    pub position: Option<GeoPoint>,
    /// Notes for whoever delivers, 1..=1000 characters, may span lines.
    pub delivery_notes: Option<String>,
}

/// An address as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    /// Id (UUID v7; newer addresses sort after older ones).
    pub id: AddressId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The customer it belongs to.
    pub customer_id: CustomerId,
    /// Editable fields.
    pub fields: AddressFields,
    /// The customer's default address of its type (at most one per customer and type, and
    /// exactly one while the type has addresses).
    pub is_default: bool,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Who changed it last.
    pub updated_by: Option<UserId>,
    /// Creation time (UTC, microseconds).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC, microseconds).
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: 1 on creation, +1 on every change (being made or
    /// unmade the default included).
    pub version: i64,
}

/// An address as a client writes it: every member optional, checked by
/// [`AddressInput::validate`]. `is_default` is a request (see
/// [`crate::address::AddressService`] for how defaults move).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressInput {
    /// `billing`, `shipping`, `office`, `warehouse`, `home` or `other`; required.
    pub address_type: Option<String>,
    /// Label.
    pub label: Option<String>,
    /// Recipient.
    pub recipient_name: Option<String>,
    /// Phone, E.164 or national.
    pub phone: Option<String>,
    /// Street; required.
    pub line1: Option<String>,
    /// More street.
    pub line2: Option<String>,
    /// District.
    pub district: Option<String>,
    /// City; required.
    pub city: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country code; the tenant's when absent.
    pub country: Option<String>,
    /// Latitude, degrees.
    pub latitude: Option<f64>,
    /// Longitude, degrees.
    pub longitude: Option<f64>,
    /// Delivery notes.
    pub delivery_notes: Option<String>,
    /// Make it the default of its type (`true`), or not (`false`); absent keeps the current
    /// state (a new address: default when it is the first of its type).
    pub is_default: Option<bool>,
}

impl From<&Address> for AddressInput {
    /// The input that writes `a`'s fields back unchanged (without `is_default`): what a merge
    /// patch applies to.
    fn from(a: &Address) -> Self {
        let f = &a.fields;
        AddressInput {
            address_type: Some(f.address_type.as_str().to_owned()),
            label: f.label.clone(),
            recipient_name: f.recipient_name.clone(),
            phone: f.phone.as_ref().map(|p| p.as_str().to_owned()),
            line1: Some(f.line1.clone()),
            line2: f.line2.clone(),
            district: f.district.clone(),
            city: Some(f.city.clone()),
            region: f.region.clone(),
            postal_code: f.postal_code.clone(),
            country: Some(f.country.as_str().to_owned()),
            latitude: f.position.map(|p| p.latitude),
            longitude: f.position.map(|p| p.longitude),
            delivery_notes: f.delivery_notes.clone(),
            is_default: None,
        }
    }
}

/// Collects field errors, naming fields under a prefix (`addresses[1].`).
struct Checker<'a> {
    prefix: &'a str,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn name(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    fn fail(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        let name = self.name(field);
        self.errors.push(FieldError::new(name, code, message));
    }

    /// Trimmed text; empty is `None`; control characters ([`check_text`]) and more than
    /// `max` characters are errors.
    fn text(
        &mut self,
        field: &str,
        value: Option<String>,
        max: usize,
        kind: TextKind,
    ) -> Option<String> {
        let v = value?.trim().to_owned();
        if v.is_empty() {
            return None;
        }
        if let Err(e) = check_text(&self.name(field), &v, kind) {
            self.errors.push(e);
            return None;
        }
        if v.chars().count() > max {
            let name = self.name(field);
            self.errors.push(
                FieldError::new(
                    name,
                    "too_long",
                    format!("must be at most {max} characters"),
                )
                .with_limit(max),
            );
            return None;
        }
        Some(v)
    }

    fn line(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        self.text(field, value, max, TextKind::SingleLine)
    }

    fn required(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        let had_errors = self.errors.len();
        let v = self.line(field, value, max);
        if v.is_none() && self.errors.len() == had_errors {
            self.fail(field, "required", "is required");
        }
        v
    }
}

impl AddressInput {
    /// Checks every rule and returns the fields and the `is_default` request. Field errors
    /// are named `prefix` + the API field (`addresses[1].postal_code` for prefix
    /// `addresses[1].`); every broken rule is reported at once.
    ///
    /// Rules: `type` one of [`AddressType`]; `line1` and `city` required; lengths bounded
    /// ([`MAX_LABEL_CHARS`], [`MAX_LINE_CHARS`], [`MAX_PLACE_CHARS`],
    /// [`MAX_POSTAL_CODE_CHARS`], [`MAX_DELIVERY_NOTES_CHARS`]); no control characters
    /// (line breaks and tabs allowed in `delivery_notes` only); `country` ISO 3166-1 alpha-2,
    /// else `default_country` (then required); `phone` valid, national numbers read in the
    /// address's country; `latitude`/`longitude` both or neither, finite, in range.
    ///
    /// # Errors
    /// The [`FieldError`]s.
    pub fn validate(
        self,
        prefix: &str,
        default_country: Option<CountryCode>,
    ) -> Result<(AddressFields, Option<bool>), Vec<FieldError>> {
        let mut c = Checker {
            prefix,
            errors: Vec::new(),
        };
        let address_type = match c.required("type", self.address_type, 32) {
            Some(t) => match t.parse::<AddressType>() {
                Ok(t) => Some(t),
                Err(message) => {
                    c.fail("type", "invalid_value", message);
                    None
                }
            },
            None => None,
        };
        let label = c.line("label", self.label, MAX_LABEL_CHARS);
        let recipient_name = c.line("recipient_name", self.recipient_name, MAX_LINE_CHARS);
        let line1 = c.required("line1", self.line1, MAX_LINE_CHARS);
        let line2 = c.line("line2", self.line2, MAX_LINE_CHARS);
        let district = c.line("district", self.district, MAX_PLACE_CHARS);
        let city = c.required("city", self.city, MAX_PLACE_CHARS);
        let region = c.line("region", self.region, MAX_PLACE_CHARS);
        let postal_code = c.line("postal_code", self.postal_code, MAX_POSTAL_CODE_CHARS);
        let country = match c.line("country", self.country, 8) {
            Some(raw) => {
                let parsed = CountryCode::parse(&raw);
                if parsed.is_none() {
                    c.fail(
                        "country",
                        "invalid_country",
                        format!("`{raw}` is not an ISO 3166-1 alpha-2 country code"),
                    );
                }
                parsed
            }
            None => {
                if default_country.is_none() {
                    c.fail(
                        "country",
                        "required",
                        "is required: the tenant has no default country",
                    );
                }
                default_country
            }
        };
        let phone = match c.line("phone", self.phone, 64) {
            Some(raw) => match PhoneNumber::parse(&raw, country.or(default_country)) {
                Ok(p) => Some(p),
                Err(PhoneError::NoCountry) => {
                    c.fail(
                        "phone",
                        "phone_country_unknown",
                        format!("`{raw}` has no +country prefix and the address has no country"),
                    );
                    None
                }
                Err(PhoneError::Invalid) => {
                    c.fail(
                        "phone",
                        "invalid_phone",
                        format!("`{raw}` is not a valid phone number"),
                    );
                    None
                }
            },
            None => None,
        };
        let position = match (self.latitude, self.longitude) {
            (None, None) => None,
            (Some(_), None) => {
                c.fail(
                    "longitude",
                    "required",
                    "is required with latitude (both or neither)",
                );
                None
            }
            (None, Some(_)) => {
                c.fail(
                    "latitude",
                    "required",
                    "is required with longitude (both or neither)",
                );
                None
            }
            (Some(lat), Some(lng)) => {
                let lat_ok = lat.is_finite() && (-90.0..=90.0).contains(&lat);
                let lng_ok = lng.is_finite() && (-180.0..=180.0).contains(&lng);
                if !lat_ok {
                    c.fail(
                        "latitude",
                        "out_of_range",
                        "must be between -90 and 90 degrees",
                    );
                }
                if !lng_ok {
                    c.fail(
                        "longitude",
                        "out_of_range",
                        "must be between -180 and 180 degrees",
                    );
                }
                (lat_ok && lng_ok)
                    .then(|| GeoPoint::new(lat, lng))
                    .flatten()
            }
        };
        let delivery_notes = c.text(
            "delivery_notes",
            self.delivery_notes,
            MAX_DELIVERY_NOTES_CHARS,
            TextKind::MultiLine,
        );
        if !c.errors.is_empty() {
            return Err(c.errors);
        }
        match (address_type, line1, city, country) {
            (Some(address_type), Some(line1), Some(city), Some(country)) => Ok((
                AddressFields {
                    address_type,
                    label,
                    recipient_name,
                    phone,
                    line1,
                    line2,
                    district,
                    city,
                    region,
                    postal_code,
                    country,
                    position,
                    delivery_notes,
                },
                self.is_default,
            )),
            _ => Err(vec![FieldError::new(
                format!("{prefix}line1"),
                "required",
                "is required",
            )]),
        }
    }
}

/// The addresses of a customer being created (the nested create of `POST /customers`),
/// checked as a whole: [`replace_addresses`] over no stored address, every element new. At
/// most [`MAX_ADDRESSES_PER_CUSTOMER`]; each by [`AddressInput::validate`] with errors named
/// `addresses[i].field`; per type, the one marked `is_default: true` is the default (a second
/// such mark is `addresses[i].is_default` `duplicate_default`), else the first of the type.
/// Ids come from `new_id` in order, so the array's order is the addresses' age order.
///
/// # Errors
/// Every [`FieldError`] found.
#[allow(clippy::too_many_arguments)]
pub fn new_addresses(
    inputs: Vec<AddressInput>,
    default_country: Option<CountryCode>,
    tenant: TenantId,
    customer: CustomerId,
    by: Option<UserId>,
    now: DateTime<Utc>,
    new_id: impl FnMut() -> Uuid,
) -> Result<Vec<Address>, Vec<FieldError>> {
    let elements = inputs.into_iter().map(|i| (None, i)).collect();
    replace_addresses(
        &[],
        elements,
        default_country,
        tenant,
        customer,
        by,
        now,
        new_id,
    )
    .map(|changes| changes.added)
}

/// The writes that turn a customer's stored addresses into the set a request lists
/// ([`replace_addresses`]): unchanged addresses appear in none of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressChanges {
    /// New addresses, in the request's order.
    pub added: Vec<Address>,
    /// Stored addresses that change, `(before, after)`; `after.version` is `before.version + 1`.
    pub updated: Vec<(Address, Address)>,
    /// Stored addresses the request no longer lists, as they were.
    pub removed: Vec<Address>,
}

impl AddressChanges {
    /// True when nothing is written.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}

/// The full new set of a customer's addresses (the `addresses` of `PUT /customers/{id}`)
/// against the stored ones (`current`): an element with an id updates that stored address, one
/// without creates one (ids from `new_id`, in order), stored addresses not listed are removed.
///
/// Rules, with errors named by the element's path (`addresses[i].field`): at most
/// [`MAX_ADDRESSES_PER_CUSTOMER`] elements (`addresses` `too_many`, with the limit); an id
/// that is not one of `current` is `addresses[i].id` `unknown_address`, an id listed twice
/// `addresses[i].id` `duplicate`; each element by [`AddressInput::validate`]. One default per
/// type: the element marked `is_default: true` (a second mark of the type is
/// `addresses[i].is_default` `duplicate_default`), else the stored default when listed with
/// its type and not marked `false`, else the first element of the type.
///
/// # Errors
/// Every [`FieldError`] found.
#[allow(clippy::too_many_arguments)]
pub fn replace_addresses(
    current: &[Address],
    inputs: Vec<(Option<AddressId>, AddressInput)>,
    default_country: Option<CountryCode>,
    tenant: TenantId,
    customer: CustomerId,
    by: Option<UserId>,
    now: DateTime<Utc>,
    mut new_id: impl FnMut() -> Uuid,
) -> Result<AddressChanges, Vec<FieldError>> {
    if inputs.len() > MAX_ADDRESSES_PER_CUSTOMER {
        return Err(vec![
            FieldError::new(
                "addresses",
                "too_many",
                format!("a customer holds at most {MAX_ADDRESSES_PER_CUSTOMER} addresses"),
            )
            .with_limit(MAX_ADDRESSES_PER_CUSTOMER),
        ]);
    }
    let mut errors = Vec::new();
    let mut checked = Vec::new();
    let mut listed: Vec<AddressId> = Vec::new();
    for (i, (id, input)) in inputs.into_iter().enumerate() {
        let stored = match id {
            None => None,
            Some(id) if listed.contains(&id) => {
                errors.push(FieldError::new(
                    format!("addresses[{i}].id"),
                    "duplicate",
                    format!("address {id} is listed twice"),
                ));
                None
            }
            Some(id) => {
                listed.push(id);
                let found = current.iter().find(|a| a.id == id);
                if found.is_none() {
                    errors.push(FieldError::new(
                        format!("addresses[{i}].id"),
                        "unknown_address",
                        format!("{id} is not an address of this customer"),
                    ));
                }
                found
            }
        };
        match input.validate(&format!("addresses[{i}]."), default_country) {
            Ok((fields, want)) => checked.push((i, stored, fields, want)),
            Err(e) => errors.extend(e),
        }
    }
    let mut marked: Vec<AddressType> = Vec::new();
    for (i, _, fields, want) in &checked {
        if *want == Some(true) {
            if marked.contains(&fields.address_type) {
                errors.push(FieldError::new(
                    format!("addresses[{i}].is_default"),
                    "duplicate_default",
                    format!(
                        "another {} address of the request is already the default",
                        fields.address_type
                    ),
                ));
            }
            marked.push(fields.address_type);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Per type, the index in `checked` of its default.
    let default_of = |t: AddressType| -> Option<usize> {
        let of_type = || {
            checked
                .iter()
                .enumerate()
                .filter(|(_, c)| c.2.address_type == t)
        };
        of_type()
            .find(|(_, c)| c.3 == Some(true))
            .or_else(|| {
                of_type().find(|(_, c)| {
                    c.3 != Some(false)
                        && c.1
                            .is_some_and(|s| s.is_default && s.fields.address_type == t)
                })
            })
            .or_else(|| of_type().next())
            .map(|(k, _)| k)
    };
    let defaults: Vec<Option<usize>> = checked
        .iter()
        .map(|c| default_of(c.2.address_type))
        .collect();
    let mut changes = AddressChanges::default();
    for (k, (_, stored, fields, _)) in checked.iter().enumerate() {
        let is_default = defaults[k] == Some(k);
        match stored {
            Some(before) => {
                if before.fields == *fields && before.is_default == is_default {
                    continue;
                }
                let after = Address {
                    fields: fields.clone(),
                    is_default,
                    updated_by: by.clone(),
                    updated_at: now,
                    version: before.version + 1,
                    ..(*before).clone()
                };
                changes.updated.push(((*before).clone(), after));
            }
            None => changes.added.push(Address {
                id: AddressId(new_id()),
                tenant_id: tenant,
                customer_id: customer,
                fields: fields.clone(),
                is_default,
                created_by: by.clone(),
                updated_by: by.clone(),
                created_at: now,
                updated_at: now,
                version: 1,
            }),
        }
    }
    changes.removed = current
        .iter()
        .filter(|a| !listed.contains(&a.id))
        .cloned()
        .collect();
    Ok(changes)
}

/// A WGS 84 position in degrees (latitude -90..=90, longitude -180..=180).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    /// Latitude, degrees north.
    pub latitude: f64,
    /// Longitude, degrees east.
    pub longitude: f64,
}

impl GeoPoint {
    /// The point, when both coordinates are finite and in range.
    pub fn new(latitude: f64, longitude: f64) -> Option<Self> {
        ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(
            Self {
                latitude,
                longitude,
            },
        )
    }

    /// The point as a unit vector `[x, y, z]` from the Earth's centre (x towards 0°E on the
    /// equator, z towards the north pole). Stored beside the coordinates, so the database
    /// compares distances with products and sums only (the same IEEE arithmetic on both
    /// backends, no trigonometric SQL functions, which SQLite lacks).
    pub fn unit_vector(self) -> [f64; 3] {
        let (lat, lng) = (self.latitude.to_radians(), self.longitude.to_radians());
        [lat.cos() * lng.cos(), lat.cos() * lng.sin(), lat.sin()]
    }

    /// The great-circle distance to `other` in kilometres, by the haversine formula on a
    /// sphere of radius [`EARTH_RADIUS_KM`].
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        let (p1, p2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dp = p2 - p1;
        let dl = (other.longitude - self.longitude).to_radians();
        let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
    }
}

/// A radius search: customers with an address within `radius_km` of `center` (great-circle
/// distance, [`GeoPoint::distance_km`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    /// The centre.
    pub center: GeoPoint,
    /// The radius, kilometres, in `0..=`[`MAX_RADIUS_KM`].
    pub radius_km: f64,
}

impl Near {
    /// Reads `near=LAT,LNG` and `within_km=R`.
    ///
    /// # Errors
    /// A [`FieldError`] naming `near` or `within_km`.
    pub fn parse(near: &str, within_km: &str) -> Result<Self, FieldError> {
        let bad_near = || {
            FieldError::new(
                "near",
                "invalid",
                "must be `LAT,LNG` in degrees (latitude -90..=90, longitude -180..=180)",
            )
        };
        let (lat, lng) = near.split_once(',').ok_or_else(bad_near)?;
        let lat: f64 = lat.trim().parse().map_err(|_| bad_near())?;
        let lng: f64 = lng.trim().parse().map_err(|_| bad_near())?;
        let center = GeoPoint::new(lat, lng).ok_or_else(bad_near)?;
        let radius_km: f64 = within_km.trim().parse().map_err(|_| {
            FieldError::new("within_km", "invalid", "must be a number of kilometres")
        })?;
        if !radius_km.is_finite() || !(0.0..=MAX_RADIUS_KM).contains(&radius_km) {
            return Err(FieldError::new(
                "within_km",
                "out_of_range",
                format!("must be between 0 and {MAX_RADIUS_KM} km"),
            ));
        }
        Ok(Self { center, radius_km })
    }

    /// The smallest dot product of unit vectors ([`GeoPoint::unit_vector`]) of a point within
    /// the radius and the centre: `cos(radius / R)`. A point is within when its dot product
    /// with the centre is at least this.
    pub fn min_dot(&self) -> f64 {
        (self.radius_km / EARTH_RADIUS_KM)
            .min(std::f64::consts::PI)
            .cos()
    }

    /// The latitude/longitude box around the circle, `(min_lat, max_lat, min_lng, max_lng)`,
    /// for an index to narrow the candidates before the exact test. Near a pole or across
    /// the antimeridian the box spans every longitude.
    pub fn bounding_box(&self) -> (f64, f64, f64, f64) {
        let angular = (self.radius_km / EARTH_RADIUS_KM).to_degrees();
        let min_lat = self.center.latitude - angular;
        let max_lat = self.center.latitude + angular;
        if min_lat <= -90.0 || max_lat >= 90.0 {
            return (min_lat.max(-90.0), max_lat.min(90.0), -180.0, 180.0);
        }
        // The widest longitude span of the circle, at the latitude where it touches its box.
        let sin_ratio =
            (self.radius_km / EARTH_RADIUS_KM).sin() / self.center.latitude.to_radians().cos();
        if sin_ratio >= 1.0 {
            return (min_lat, max_lat, -180.0, 180.0);
        }
        let dlng = sin_ratio.asin().to_degrees();
        let (min_lng, max_lng) = (self.center.longitude - dlng, self.center.longitude + dlng);
        if min_lng < -180.0 || max_lng > 180.0 {
            return (min_lat, max_lat, -180.0, 180.0);
        }
        (min_lat, max_lat, min_lng, max_lng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> AddressInput {
        AddressInput {
            address_type: Some("billing".into()),
            line1: Some("Jl. Sudirman 1".into()),
            city: Some("Jakarta".into()),
            ..Default::default()
        }
    }

    fn id() -> Option<CountryCode> {
        CountryCode::parse("ID")
    }

    fn fields(
        r: Result<(AddressFields, Option<bool>), Vec<FieldError>>,
    ) -> Vec<(String, &'static str)> {
        r.unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn a_minimal_address_takes_the_tenant_country_and_reads_national_phones_in_it() {
        let (f, d) = AddressInput {
            phone: Some("0812 3456 7890".into()),
            ..valid()
        }
        .validate("", id())
        .unwrap();
        assert_eq!(f.country.as_str(), "ID");
        assert_eq!(f.phone.unwrap().as_str(), "+6281234567890");
        assert_eq!(d, None);
    }

    #[test]
    fn type_line1_and_city_are_required_and_errors_carry_the_prefix() {
        let errors = fields(AddressInput::default().validate("addresses[1].", id()));
        assert_eq!(
            errors,
            vec![
                ("addresses[1].type".into(), "required"),
                ("addresses[1].line1".into(), "required"),
                ("addresses[1].city".into(), "required"),
            ]
        );
    }

    #[test]
    fn coordinates_come_in_pairs_and_in_range() {
        let one = AddressInput {
            latitude: Some(-6.2),
            ..valid()
        };
        assert_eq!(
            fields(one.validate("", id())),
            vec![("longitude".into(), "required")]
        );
        let far = AddressInput {
            latitude: Some(91.0),
            longitude: Some(-181.0),
            ..valid()
        };
        assert_eq!(
            fields(far.validate("", id())),
            vec![
                ("latitude".into(), "out_of_range"),
                ("longitude".into(), "out_of_range")
            ]
        );
    }

    #[test]
    fn text_is_bounded_and_free_of_control_characters() {
        let bad = AddressInput {
            postal_code: Some("1".repeat(21)),
            city: Some("Jak\u{0}arta".into()),
            delivery_notes: Some("lantai 2\nbelakang".into()),
            address_type: Some("moon".into()),
            country: Some("XX".into()),
            ..valid()
        };
        assert_eq!(
            fields(bad.validate("", id())),
            vec![
                ("type".into(), "invalid_value"),
                ("city".into(), "invalid_characters"),
                ("postal_code".into(), "too_long"),
                ("country".into(), "invalid_country"),
            ]
        );
    }

    #[test]
    fn without_a_tenant_country_the_country_is_required() {
        assert_eq!(
            fields(valid().validate("", None)),
            vec![("country".into(), "required")]
        );
    }

    #[test]
    fn a_nested_create_marks_one_default_per_type_and_names_elements() {
        let tenant = TenantId(Uuid::from_u128(1));
        let customer = CustomerId(Uuid::from_u128(2));
        let mut n = 0u128;
        let mut ids = || {
            n += 1;
            Uuid::from_u128(n)
        };
        let ship = |is_default| AddressInput {
            address_type: Some("shipping".into()),
            is_default,
            ..valid()
        };
        let made = new_addresses(
            vec![valid(), ship(None), ship(Some(true)), valid()],
            id(),
            tenant,
            customer,
            None,
            chrono::Utc::now(),
            &mut ids,
        )
        .unwrap();
        let defaults: Vec<bool> = made.iter().map(|a| a.is_default).collect();
        assert_eq!(defaults, vec![true, false, true, false]);
        assert!(made.windows(2).all(|w| w[0].id < w[1].id), "request order");

        let err = new_addresses(
            vec![ship(Some(true)), AddressInput::default(), ship(Some(true))],
            id(),
            tenant,
            customer,
            None,
            chrono::Utc::now(),
            &mut ids,
        )
        .unwrap_err();
        let fields: Vec<(String, &str)> = err.into_iter().map(|e| (e.field, e.code)).collect();
        assert!(
            fields.contains(&("addresses[1].line1".into(), "required")),
            "{fields:?}"
        );
        assert!(
            fields.contains(&("addresses[2].is_default".into(), "duplicate_default")),
            "{fields:?}"
        );
        let too_many = new_addresses(
            vec![valid(); 51],
            id(),
            tenant,
            customer,
            None,
            chrono::Utc::now(),
            &mut ids,
        )
        .unwrap_err();
        assert_eq!(
            (too_many[0].code, too_many[0].limit),
            ("too_many", Some(50))
        );
    }

    #[test]
    fn a_replaced_set_keeps_the_marked_else_the_previous_else_the_first_default() {
        let tenant = TenantId(Uuid::from_u128(1));
        let customer = CustomerId(Uuid::from_u128(2));
        let mut n = 100u128;
        let mut ids = || {
            n += 1;
            Uuid::from_u128(n)
        };
        let now = chrono::Utc::now();
        let stored = new_addresses(
            vec![valid(), valid(), valid()],
            id(),
            tenant,
            customer,
            None,
            now,
            &mut ids,
        )
        .unwrap();
        let (a, b, c) = (stored[0].id, stored[1].id, stored[2].id);
        let replace = |elements: Vec<(Option<AddressId>, AddressInput)>,
                       ids: &mut dyn FnMut() -> Uuid| {
            replace_addresses(&stored, elements, id(), tenant, customer, None, now, ids)
        };
        // The previous default (a) is listed: it stays; b is unchanged; c is removed.
        let kept = replace(
            vec![(Some(b), valid()), (Some(a), valid()), (None, valid())],
            &mut ids,
        )
        .unwrap();
        assert!(kept.updated.is_empty(), "nothing changed on a and b");
        assert_eq!(kept.removed.iter().map(|x| x.id).collect::<Vec<_>>(), [c]);
        assert_eq!(kept.added.len(), 1);
        assert!(!kept.added[0].is_default);
        // A marked element wins; the previous default is unset.
        let marked = replace(
            vec![
                (Some(a), valid()),
                (
                    None,
                    AddressInput {
                        is_default: Some(true),
                        ..valid()
                    },
                ),
            ],
            &mut ids,
        )
        .unwrap();
        assert_eq!(marked.updated.len(), 1);
        assert!(!marked.updated[0].1.is_default);
        assert_eq!(marked.updated[0].1.version, 2);
        assert!(marked.added[0].is_default);
        // The previous default left out: the first of the type.
        let first = replace(vec![(Some(c), valid()), (Some(b), valid())], &mut ids).unwrap();
        assert_eq!(first.updated.len(), 1);
        assert_eq!(first.updated[0].1.id, c);
        assert!(first.updated[0].1.is_default);
        // Foreign and repeated ids are named by the element's path.
        let bad = replace(
            vec![
                (Some(AddressId(Uuid::from_u128(9))), valid()),
                (Some(a), valid()),
                (Some(a), valid()),
            ],
            &mut ids,
        )
        .unwrap_err();
        let fields: Vec<(String, &str)> = bad.into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            fields,
            [
                ("addresses[0].id".to_owned(), "unknown_address"),
                ("addresses[2].id".to_owned(), "duplicate"),
            ]
        );
        // An empty set removes every address.
        assert_eq!(replace(vec![], &mut ids).unwrap().removed.len(), 3);
    }

    #[test]
    fn haversine_jakarta_bandung_is_about_116_km() {
        let jakarta = GeoPoint::new(-6.2088, 106.8456).unwrap();
        let bandung = GeoPoint::new(-6.9175, 107.6191).unwrap();
        let surabaya = GeoPoint::new(-7.2575, 112.7521).unwrap();
        let jb = jakarta.distance_km(bandung);
        assert!((jb - 116.0).abs() < 1.5, "{jb}");
        let js = jakarta.distance_km(surabaya);
        assert!((js - 662.0).abs() < 5.0, "{js}");
        assert_eq!(jakarta.distance_km(jakarta), 0.0);
    }

    #[test]
    fn the_dot_product_test_agrees_with_the_haversine_distance() {
        let jakarta = GeoPoint::new(-6.2088, 106.8456).unwrap();
        let bandung = GeoPoint::new(-6.9175, 107.6191).unwrap();
        let d = jakarta.distance_km(bandung);
        let [a, b, c] = jakarta.unit_vector();
        let [x, y, z] = bandung.unit_vector();
        let dot = a * x + b * y + c * z;
        let inside = Near {
            center: jakarta,
            radius_km: d + 0.01,
        };
        let outside = Near {
            center: jakarta,
            radius_km: d - 0.01,
        };
        assert!(dot >= inside.min_dot());
        assert!(dot < outside.min_dot());
        let (min_lat, max_lat, min_lng, max_lng) = inside.bounding_box();
        assert!((min_lat..=max_lat).contains(&bandung.latitude));
        assert!((min_lng..=max_lng).contains(&bandung.longitude));
    }

    #[test]
    fn near_parses_and_bounds_its_parameters() {
        let n = Near::parse("-6.2088, 106.8456", "150").unwrap();
        assert_eq!(n.radius_km, 150.0);
        assert_eq!(Near::parse("x", "1").unwrap_err().field, "near");
        assert_eq!(Near::parse("91,0", "1").unwrap_err().field, "near");
        assert_eq!(Near::parse("0,0", "-1").unwrap_err().field, "within_km");
        assert_eq!(Near::parse("0,0", "NaN").unwrap_err().field, "within_km");
        let pole = Near::parse("89.9,0", "100").unwrap();
        assert_eq!(pole.bounding_box().2, -180.0);
    }
}
