//! Macros shared by the HTTP modules.

/// Declares an API enum (snake_case on the wire, with a schema) mirroring a domain enum, with
/// conversions both ways.
macro_rules! api_enum {
    ($(#[$doc:meta])* $name:ident => $domain:ty { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $(#[allow(missing_docs)] $variant),+ }

        impl From<$name> for $domain {
            fn from(v: $name) -> Self {
                type D = $domain;
                match v { $($name::$variant => D::$variant),+ }
            }
        }

        impl From<$domain> for $name {
            fn from(v: $domain) -> Self {
                type D = $domain;
                match v { $(D::$variant => $name::$variant),+ }
            }
        }
    };
}
