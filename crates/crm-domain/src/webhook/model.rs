//! Webhook subscriptions, their input rules, the target safety rule and the configuration.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::{Host, Url};
use uuid::Uuid;

use super::error::WebhookError;
use super::signing::WebhookSecret;
use crate::error::FieldError;
use crate::event::{Event, EventTypeFilter, is_internal};
use crate::ids::TenantId;
use crate::values::{TextKind, check_text};

/// The longest `url`, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// The longest `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Subscriptions a tenant may have when the server configures no other limit.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 20;

/// A subscription's id (UUID v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriptionId(pub Uuid);

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The server's webhook configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `CRM_WEBHOOKS_ALLOW_PRIVATE`: plain `http` and loopback / private targets are accepted
    /// (tests, local development). Off in production.
    pub allow_private: bool,
    /// The most subscriptions one tenant may have (default 20).
    pub max_subscriptions: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
        }
    }
}

/// The editable fields of a subscription, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookFields {
    /// Where deliveries are POSTed: absolute, `https` (or `http` where private targets are
    /// allowed), no user info, at most [`MAX_URL_BYTES`] bytes.
    pub url: Url,
    /// Which events it receives: 1..=50 patterns (`*`, `customer.*`, `order.placed`).
    pub event_types: EventTypeFilter,
    /// For people, at most [`MAX_DESCRIPTION_CHARS`] characters, single line.
    pub description: Option<String>,
    /// Whether deliveries are made (a disabled subscription is inactive).
    pub active: bool,
}

/// The editable fields as a client sends them (a `POST` body, or the result of a `PATCH`
/// merge patch on the stored subscription). Absent: `description` none, `active` true.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookInput {
    /// The target URL. Required.
    pub url: Option<String>,
    /// Event type patterns. Required, 1..=50.
    pub event_types: Option<Vec<String>>,
    /// Free text.
    pub description: Option<String>,
    /// Active or not.
    pub active: Option<bool>,
}

impl WebhookInput {
    /// Checks every rule and returns the fields. The host of the URL is checked here only
    /// when it is an IP address literal or `localhost`; a name's DNS answers are checked by
    /// the sender before each delivery, with [`is_public_address`].
    ///
    /// # Errors
    /// Every broken rule, each naming its field: `url` (`required`, `too_long` 2048,
    /// `invalid_url`, `insecure_scheme`, `userinfo`, `private_target`), `event_types`
    /// (`required`, `too_many` 50, `event_types[i]` `invalid` / `too_long` 100), `description`
    /// (`too_long` 500, `invalid_characters`).
    pub fn validate(self, config: &WebhookConfig) -> Result<WebhookFields, Vec<FieldError>> {
        let mut errors = Vec::new();
        let url = match self.url.as_deref().map(str::trim) {
            None | Some("") => Err(WebhookError::UrlRequired),
            Some(raw) => check_url(raw, config.allow_private),
        }
        .map_err(|e| errors.push(e.field_error()))
        .ok();
        let event_types = match self.event_types.as_deref() {
            None | Some([]) => {
                errors.push(WebhookError::EventTypesRequired.field_error());
                None
            }
            Some(raw) => EventTypeFilter::parse("event_types", raw)
                .map_err(|e| errors.extend(e))
                .ok(),
        };
        let description = match self.description {
            Some(d) if d.trim().is_empty() => None,
            Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => {
                errors.push(
                    WebhookError::DescriptionTooLong {
                        limit: MAX_DESCRIPTION_CHARS,
                    }
                    .field_error(),
                );
                None
            }
            Some(d) => {
                if let Err(e) = check_text("description", &d, TextKind::SingleLine) {
                    errors.push(e);
                }
                Some(d)
            }
            None => None,
        };
        match (url, event_types) {
            (Some(url), Some(event_types)) if errors.is_empty() => Ok(WebhookFields {
                url,
                event_types,
                description,
                active: self.active.unwrap_or(true),
            }),
            _ => Err(errors),
        }
    }
}

/// The URL rules of [`WebhookInput::validate`].
fn check_url(raw: &str, allow_private: bool) -> Result<Url, WebhookError> {
    if raw.len() > MAX_URL_BYTES {
        return Err(WebhookError::UrlTooLong {
            limit: MAX_URL_BYTES,
        });
    }
    let url = Url::parse(raw).map_err(|e| WebhookError::InvalidUrl {
        reason: e.to_string(),
    })?;
    match (url.scheme(), allow_private) {
        ("https", _) | ("http", true) => {}
        ("http", false) => return Err(WebhookError::InsecureScheme),
        (other, _) => {
            return Err(WebhookError::InvalidUrl {
                reason: format!("scheme `{}` is not http(s)", other.escape_debug()),
            });
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookError::UserInfo);
    }
    let refused = |address: String| Err(WebhookError::PrivateTarget { address });
    match url.host() {
        None => Err(WebhookError::InvalidUrl {
            reason: "no host".into(),
        }),
        Some(_) if allow_private => Ok(url),
        Some(Host::Ipv4(ip)) if !is_public_address(IpAddr::V4(ip)) => refused(ip.to_string()),
        Some(Host::Ipv6(ip)) if !is_public_address(IpAddr::V6(ip)) => refused(ip.to_string()),
        Some(Host::Domain(name))
            if name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost") =>
        {
            refused(name.to_owned())
        }
        Some(_) => Ok(url),
    }
}

/// The target safety rule: whether a delivery may go to `ip`. Refused: unspecified
/// (`0.0.0.0`, `::`), loopback (127/8, `::1`), private (10/8, 172.16/12, 192.168/16),
/// link-local (169.254/16, fe80::/10), unique-local (fc00::/7), the deprecated site-local
/// (fec0::/10), multicast (224/4, ff00::/8),
/// broadcast (255.255.255.255), the documentation ranges (192.0.2/24, 198.51.100/24,
/// 203.0.113/24, 2001:db8::/32), carrier-grade NAT (100.64/10, RFC 6598), "this network"
/// (0/8), IETF protocol assignments (192.0.0/24), benchmarking (198.18/15), reserved (240/4),
/// and IPv4-mapped / IPv4-compatible / NAT64 (64:ff9b::/96) IPv6 forms of any refused IPv4
/// address. Everything else is public.
///
/// The sender resolves a target's name itself and checks every address with this rule
/// before connecting (and connects to the address it checked), so a name that resolves to
/// a private address is refused as well.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b & 0xfe) == 18)
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96)
    // carry an IPv4 address: the IPv4 rule decides.
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || (s[5] == 0 && !(s[6] == 0 && s[7] <= 1))) {
        return is_public_v4(embedded);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8))
}

/// A webhook subscription, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Id (UUID v7).
    pub id: SubscriptionId,
    /// Owning tenant: it receives this tenant's events only.
    pub tenant_id: TenantId,
    /// Target URL.
    pub url: Url,
    /// Which events it receives.
    pub event_types: EventTypeFilter,
    /// For people.
    pub description: Option<String>,
    /// Whether deliveries are made.
    pub active: bool,
    /// The signing secret (never shown after create and rotation; its `Debug` is redacted).
    pub secret: WebhookSecret,
    /// Creation time (UTC, microseconds).
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: 1 on creation, +1 on every change.
    pub version: i64,
    /// Since when every attempt of every delivery has failed (cleared by a success); a
    /// subscription failing for [`super::DISABLE_AFTER`] is disabled.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the server disabled it (cleared when a client activates it again).
    pub disabled_reason: Option<String>,
}

impl Subscription {
    /// The subscription's editable fields.
    pub fn fields(&self) -> WebhookFields {
        WebhookFields {
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            description: self.description.clone(),
            active: self.active,
        }
    }

    /// Whether `event` is delivered to this subscription: it is active, of the same tenant,
    /// its type matches `event_types`, and it is not about an internal note
    /// ([`crate::event::is_internal`]: a webhook's receiver is an external system, and internal
    /// notes stay with the tenant's staff, as in the customer list export).
    pub fn receives(&self, event: &Event) -> bool {
        self.active
            && event.event.tenant_id == self.tenant_id
            && self.event_types.matches(&event.event.event_type)
            && !is_internal(event)
    }

    /// The fields as the API shows them, the shape whose differences are a `webhook.updated`
    /// event's `changes` (never the secret).
    pub fn snapshot(&self) -> Value {
        json!({
            "url": self.url.as_str(),
            "event_types": self.event_types.to_strings(),
            "description": self.description,
            "active": self.active,
            "disabled_reason": self.disabled_reason,
        })
    }
}

/// A new subscription or a rotation: the subscription and its secret, the one time the secret
/// is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedWebhook {
    /// The subscription as stored.
    pub subscription: Subscription,
    /// Its signing secret (`whsec_…`), to show to the caller once.
    pub secret: WebhookSecret,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str) -> WebhookInput {
        WebhookInput {
            url: Some(url.into()),
            event_types: Some(vec!["customer.*".into()]),
            ..Default::default()
        }
    }

    fn codes(e: Vec<FieldError>) -> Vec<(String, &'static str)> {
        e.into_iter().map(|e| (e.field, e.code)).collect()
    }

    fn strict() -> WebhookConfig {
        WebhookConfig::default()
    }

    fn lax() -> WebhookConfig {
        WebhookConfig {
            allow_private: true,
            ..WebhookConfig::default()
        }
    }

    #[test]
    fn a_public_https_url_with_patterns_is_accepted_active() {
        let f = input("https://hooks.example.com/crm")
            .validate(&strict())
            .unwrap();
        assert!(f.active);
        assert_eq!(f.url.as_str(), "https://hooks.example.com/crm");
        assert_eq!(f.event_types.to_strings(), ["customer.*"]);
    }

    #[test]
    fn plain_http_and_private_targets_need_allow_private() {
        for (url, code) in [
            ("http://hooks.example.com/", "insecure_scheme"),
            ("https://127.0.0.1:8080/", "private_target"),
            ("https://[::1]/", "private_target"),
            ("https://10.1.2.3/", "private_target"),
            ("https://localhost/", "private_target"),
            ("https://[::ffff:192.168.1.1]/", "private_target"),
        ] {
            assert_eq!(
                codes(input(url).validate(&strict()).unwrap_err()),
                vec![("url".into(), code)],
                "{url}"
            );
            assert!(input(url).validate(&lax()).is_ok(), "{url}");
        }
    }

    #[test]
    fn url_rules_name_the_url() {
        for (url, code) in [
            ("not a url", "invalid_url"),
            ("ftp://example.com/", "invalid_url"),
            ("https://user:pw@example.com/", "userinfo"),
            ("https://user@example.com/", "userinfo"),
            ("", "required"),
        ] {
            assert_eq!(
                codes(input(url).validate(&lax()).unwrap_err()),
                vec![("url".into(), code)],
                "{url}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        let e = input(&long).validate(&strict()).unwrap_err();
        assert_eq!((e[0].code, e[0].limit), ("too_long", Some(2048)));
        let exact = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES - 20));
        assert_eq!(exact.len(), MAX_URL_BYTES);
        assert!(input(&exact).validate(&strict()).is_ok());
    }

    #[test]
    fn event_types_are_required_bounded_and_well_formed() {
        let mut i = input("https://example.com/");
        i.event_types = Some(vec![]);
        assert_eq!(
            codes(i.clone().validate(&strict()).unwrap_err()),
            vec![("event_types".into(), "required")]
        );
        i.event_types = Some((1..=51).map(|n| "a".repeat(n)).collect());
        let e = i.clone().validate(&strict()).unwrap_err();
        assert_eq!((e[0].code, e[0].limit), ("too_many", Some(50)));
        i.event_types = Some(vec!["*".into(), "Order.Placed".into()]);
        assert_eq!(
            codes(i.validate(&strict()).unwrap_err()),
            vec![("event_types[1]".into(), "invalid")]
        );
    }

    #[test]
    fn description_is_at_most_500_characters() {
        let mut i = input("https://example.com/");
        i.description = Some("é".repeat(500));
        assert!(i.clone().validate(&strict()).is_ok());
        i.description = Some("é".repeat(501));
        let e = i.validate(&strict()).unwrap_err();
        assert_eq!(
            (e[0].field.as_str(), e[0].code, e[0].limit),
            ("description", "too_long", Some(500))
        );
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "240.0.0.1",
            "0.1.2.3",
            "192.0.0.8",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert!(!is_public_address(addr), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert!(is_public_address(addr), "{ip} is public");
        }
    }
}
