//! Closed request bodies built from a closed body plus members (`CustomerCreate`,
//! `CustomerReplace`, `AddressReplace`, `ContactReplace`).
//!
//! Those bodies are Rust structs that `#[serde(flatten)]` a `deny_unknown_fields` body
//! ([`crate::customers::dto::CustomerWrite`], [`crate::addresses::AddressWrite`],
//! [`crate::contacts::ContactWrite`]) and add members of their own. utoipa documents them as
//! `allOf: [{"$ref": base}, {extra members}]`, but the base says `additionalProperties: false`,
//! and under JSON Schema (OpenAPI 3.1) that refusal applies inside the `allOf` too: no instance
//! carrying one of the extra members (`addresses`, `contacts`, `id`) would validate, although
//! the server accepts exactly those. [`close`] rewrites each such composition into one object
//! schema: the base's properties and required members plus the extra ones, still
//! `additionalProperties: false` (the server refuses unknown members).

use std::collections::BTreeMap;
use utoipa::openapi::RefOr;

use utoipa::openapi::schema::{AdditionalProperties, Object, Schema};

/// Rewrites every component schema that is an `allOf` of one closed object `$ref` and inline
/// object parts into one closed object (see the module documentation): a copy of the base with
/// the parts' properties and required members added and the composition's description. Other
/// schemas are left as they are.
pub fn close(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let Some(components) = api.components.as_mut() else {
        return api;
    };
    let merged: Vec<(String, Object)> = components
        .schemas
        .iter()
        .filter_map(|(name, schema)| match schema {
            RefOr::T(Schema::AllOf(all)) => {
                merged(&components.schemas, &all.items, all.description.clone())
                    .map(|object| (name.clone(), object))
            }
            _ => None,
        })
        .collect();
    for (name, object) in merged {
        components
            .schemas
            .insert(name, RefOr::T(Schema::Object(object)));
    }
    api
}

/// The one closed object that `allOf: parts` stands for, when the parts are exactly one `$ref`
/// to a closed object schema and inline object schemas; `None` otherwise.
fn merged(
    schemas: &BTreeMap<String, RefOr<Schema>>,
    parts: &[RefOr<Schema>],
    description: Option<String>,
) -> Option<Object> {
    let lookup = |reference: &str| schemas.get(reference.strip_prefix("#/components/schemas/")?);
    let mut base: Option<Object> = None;
    let mut extra: Vec<&Object> = Vec::new();
    for part in parts {
        match part {
            RefOr::Ref(reference) => match lookup(&reference.ref_location)? {
                RefOr::T(Schema::Object(object))
                    if base.is_none()
                        && matches!(
                            object.additional_properties.as_deref(),
                            Some(AdditionalProperties::FreeForm(false))
                        ) =>
                {
                    base = Some(object.clone())
                }
                _ => return None,
            },
            RefOr::T(Schema::Object(object)) => extra.push(object),
            RefOr::T(_) => return None,
        }
    }
    let mut out = base?;
    for object in extra {
        out.properties.extend(
            object
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        for member in &object.required {
            if !out.required.contains(member) {
                out.required.push(member.clone());
            }
        }
    }
    if description.is_some() {
        out.description = description;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_published_create_and_replace_bodies_admit_their_nested_members() {
        let doc = serde_json::to_value(crate::openapi()).unwrap();
        for (name, member) in [
            ("CustomerCreate", "addresses"),
            ("CustomerCreate", "contacts"),
            ("CustomerReplace", "addresses"),
            ("AddressReplace", "id"),
            ("ContactReplace", "id"),
        ] {
            let schema = &doc["components"]["schemas"][name];
            assert!(schema.get("allOf").is_none(), "{name} is still an allOf");
            assert!(
                schema["properties"].get(member).is_some(),
                "{name}.{member}"
            );
            assert!(
                schema["properties"].get("name").is_some() || name.starts_with("Address"),
                "{name} lost its base"
            );
            assert_eq!(schema["additionalProperties"], json!(false), "{name}");
        }
    }
}
