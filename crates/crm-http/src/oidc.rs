//! OpenID Connect bearer tokens: tokens signed by an identity provider (Keycloak, Auth0, Entra
//! ID, Google, ...) with one of the keys it publishes at its JWKS URL, with the issuer and the
//! audience checked and the tenant and roles read from configurable (possibly nested) claims.
//!
//! Keys are cached by `kid`. A token naming a `kid` the cache does not hold makes the verifier
//! fetch the key set again, at most once per [`OidcSettings::min_refresh_interval`] (a flood of
//! random `kid`s cannot make us hammer the provider); the whole set is also fetched again at the
//! first use after [`OidcSettings::max_key_age`], so keys the provider withdrew disappear. A fetch
//! that fails (timeout, unreachable, not a key set) keeps the keys already cached: tokens signed
//! by them still verify, tokens naming any other `kid` are a 401.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crm_domain::TenantId;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Identity, LEEWAY_SECS, check_lifetime};

/// The signature algorithms accepted from the identity provider's keys. HMAC algorithms never
/// are: a symmetric key in a published key set would be a key everybody knows.
pub const ACCEPTED_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// The largest JWKS document read, bytes; a longer answer is a failed fetch.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The most keys kept from one key set (providers publish two or three); further ones are
/// ignored.
pub const MAX_JWKS_KEYS: usize = 64;

/// The shortest RSA modulus accepted, bits; shorter keys in the set are ignored.
pub const MIN_RSA_BITS: usize = 2048;

/// The most role names read from a token; further ones are ignored.
pub const MAX_ROLES: usize = 64;

/// The name of a claim, or a path to a nested one: `roles`, `realm_access.roles` (Keycloak),
/// `resource_access.crm.roles`, `https://crm.example.com/roles` (Auth0's namespaced claims).
///
/// A name is looked up literally first; when the claims hold no such member, the name is split at
/// a dot into a member and the rest of the path within it (every dot is tried, left to right),
/// so names that themselves contain dots still work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(String);

impl ClaimPath {
    /// The longest claim path, characters.
    pub const MAX_LEN: usize = 256;
    /// The most dots in a claim path.
    pub const MAX_DOTS: usize = 8;

    /// A claim path from its text.
    ///
    /// # Errors
    /// A sentence saying why, when the path is empty, longer than [`ClaimPath::MAX_LEN`], has
    /// more than [`ClaimPath::MAX_DOTS`] dots, or starts or ends with a dot.
    pub fn new(path: &str) -> Result<Self, String> {
        if path.is_empty() || path.len() > Self::MAX_LEN {
            return Err(format!(
                "a claim name has 1 to {} characters",
                Self::MAX_LEN
            ));
        }
        if path.starts_with('.') || path.ends_with('.') {
            return Err(format!("the claim name `{path}` starts or ends with a dot"));
        }
        if path.matches('.').count() > Self::MAX_DOTS {
            return Err(format!(
                "the claim name `{path}` has more than {} dots",
                Self::MAX_DOTS
            ));
        }
        Ok(Self(path.to_owned()))
    }

    /// The path as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value at this path in `claims`, if any.
    pub fn find<'a>(&self, claims: &'a Value) -> Option<&'a Value> {
        lookup(claims, &self.0)
    }
}

fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    if let Some(found) = object.get(path) {
        return Some(found);
    }
    path.match_indices('.').find_map(|(i, _)| {
        object
            .get(&path[..i])
            .and_then(|inner| lookup(inner, &path[i + 1..]))
    })
}

/// How tokens from the identity provider are checked and read.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The required `iss` (the provider's issuer URL, exactly as in its tokens).
    pub issuer: String,
    /// The accepted `aud` values: the token's audience must contain one of them.
    pub audiences: Vec<String>,
    /// Where the tenant id (a UUID string) is: default `tenant_id`.
    pub tenant_claim: ClaimPath,
    /// Where the role names are (an array of strings, or one string of space-separated names):
    /// default `roles`. Names that are not crm roles are ignored.
    pub roles_claim: ClaimPath,
    /// The shortest time between two fetches of the key set caused by unknown `kid`s.
    pub min_refresh_interval: Duration,
    /// The key set is fetched again at the first use after it is this old.
    pub max_key_age: Duration,
}

/// Where the provider's public keys come from.
#[async_trait]
pub trait JwksSource: Send + Sync {
    /// The provider's current key set.
    ///
    /// # Errors
    /// Why the set could not be had (unreachable, timeout, status, too large, not a key set).
    async fn fetch(&self) -> Result<JwkSet, String>;
}

/// Fetches the key set over HTTP(S) from the provider's `jwks_uri`, with a timeout and a size cap
/// ([`MAX_JWKS_BYTES`]). Members of the set that do not parse as keys are skipped.
pub struct HttpJwks {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl std::fmt::Debug for HttpJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpJwks({})", self.url)
    }
}

impl HttpJwks {
    /// A source for `url`, each fetch (connect, answer and body) bounded by `timeout`.
    ///
    /// # Errors
    /// A sentence saying why: the URL does not parse, or is `http://` to a host other than the
    /// loopback (keys must come over TLS), or the client cannot be built.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("the JWKS URL `{url}`: {e}"))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(format!(
                    "the JWKS URL `{url}` must be https:// (http:// only to the loopback)"
                ));
            }
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            // Fetches are rare and run on whichever worker's runtime needs them: no connection
            // is kept for a runtime that did not open it.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| format!("building the JWKS client: {e}"))?;
        Ok(Self { client, url })
    }
}

#[async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<JwkSet, String> {
        let mut res = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("fetching {}: {e}", self.url))?;
        if !res.status().is_success() {
            return Err(format!("{} answered {}", self.url, res.status()));
        }
        if res
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(format!(
                "{} is larger than {MAX_JWKS_BYTES} bytes",
                self.url
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| format!("reading {}: {e}", self.url))?
        {
            if body.len().saturating_add(chunk.len()) > MAX_JWKS_BYTES {
                return Err(format!(
                    "{} is larger than {MAX_JWKS_BYTES} bytes",
                    self.url
                ));
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body).map_err(|e| format!("{}: {e}", self.url))
    }
}

/// A key set from its JSON text, skipping members that are not keys this library knows.
///
/// # Errors
/// When the text is not a JSON object with a `keys` array.
pub fn parse_jwks(body: &[u8]) -> Result<JwkSet, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not a JWK set: {e}"))?;
    let keys = value
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("not a JWK set: no `keys` array")?;
    Ok(JwkSet {
        keys: keys
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .collect(),
    })
}

/// One usable public key: what it verifies and with which algorithms.
struct CachedKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The keys of the last successful fetch.
#[derive(Default)]
struct KeyCache {
    by_kid: HashMap<String, CachedKey>,
    /// Keys published without a `kid`.
    anonymous: Vec<CachedKey>,
    fetched_at: Option<Instant>,
}

impl KeyCache {
    fn from_set(set: &JwkSet) -> Self {
        let mut cache = Self {
            fetched_at: Some(Instant::now()),
            ..Self::default()
        };
        for jwk in &set.keys {
            if cache.by_kid.len() + cache.anonymous.len() >= MAX_JWKS_KEYS {
                tracing::warn!(
                    keys = set.keys.len(),
                    "the identity provider's key set has more than {MAX_JWKS_KEYS} keys; the rest are ignored"
                );
                break;
            }
            let Some(key) = usable(jwk) else { continue };
            match &jwk.common.key_id {
                Some(kid) => {
                    cache.by_kid.insert(kid.clone(), key);
                }
                None => cache.anonymous.push(key),
            }
        }
        cache
    }

    fn len(&self) -> usize {
        self.by_kid.len() + self.anonymous.len()
    }

    /// The key for a token's `kid` and `alg`: by `kid`, or, for a token without one, the only
    /// key of the set that verifies `alg`.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        match kid {
            Some(kid) => self
                .by_kid
                .get(kid)
                .filter(|k| k.algorithms.contains(&alg))
                .map(|k| k.key.clone()),
            None => {
                let mut candidates = self
                    .by_kid
                    .values()
                    .chain(&self.anonymous)
                    .filter(|k| k.algorithms.contains(&alg));
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => Some(only.key.clone()),
                    _ => None,
                }
            }
        }
    }
}

/// Whether a published key may verify tokens, and with which algorithms: signature keys only
/// (`use` absent or `sig`), RSA of at least [`MIN_RSA_BITS`] (RS256, PS256), EC P-256 (ES256),
/// Ed25519 (EdDSA); a declared `alg` must be one of those of the key's type and narrows it.
fn usable(jwk: &Jwk) -> Option<CachedKey> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let modulus = URL_SAFE_NO_PAD.decode(p.n.trim_end_matches('=')).ok()?;
            let leading_zeros = modulus.iter().take_while(|b| **b == 0).count();
            let bits = (modulus.len() - leading_zeros).saturating_mul(8);
            if bits < MIN_RSA_BITS {
                return None;
            }
            vec![Algorithm::RS256, Algorithm::PS256]
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            vec![Algorithm::ES256]
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        None => family,
        Some(declared) => {
            let alg = Algorithm::try_from(declared).ok()?;
            if !family.contains(&alg) {
                return None;
            }
            vec![alg]
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(CachedKey { key, algorithms })
}

/// Verifies identity-provider tokens against the cached key set.
pub struct OidcVerifier {
    settings: OidcSettings,
    source: Box<dyn JwksSource>,
    cache: RwLock<KeyCache>,
    /// When the key set was last fetched (or tried); held during a fetch so that concurrent
    /// requests wait for it instead of fetching too.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    validation: Validation,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.settings.issuer)
            .field("audiences", &self.settings.audiences)
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    /// A verifier reading keys from `source`; no key is fetched before [`OidcVerifier::refresh`]
    /// or the first token.
    pub fn new(settings: OidcSettings, source: Box<dyn JwksSource>) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = ACCEPTED_ALGORITHMS.to_vec();
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&settings.audiences);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        Self {
            settings,
            source,
            cache: RwLock::new(KeyCache::default()),
            last_fetch: tokio::sync::Mutex::new(None),
            validation,
        }
    }

    /// Fetches the key set now (at start-up), whatever the refresh interval.
    ///
    /// # Errors
    /// The fetch's error; the keys already cached are kept.
    pub async fn refresh(&self) -> Result<usize, String> {
        let mut last = self.last_fetch.lock().await;
        self.fetch(&mut last).await
    }

    async fn fetch(&self, last: &mut Option<Instant>) -> Result<usize, String> {
        *last = Some(Instant::now());
        let set = self.source.fetch().await?;
        let fresh = KeyCache::from_set(&set);
        let n = fresh.len();
        if let Ok(mut cache) = self.cache.write() {
            *cache = fresh;
        }
        tracing::info!(keys = n, "fetched the identity provider's keys");
        Ok(n)
    }

    /// Fetches the key set again unless a fetch started less than the refresh interval ago
    /// (another request's fetch in flight is waited for).
    async fn refresh_if_due(&self) {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.settings.min_refresh_interval) {
            return;
        }
        if let Err(e) = self.fetch(&mut last).await {
            tracing::warn!(error = %e, "could not fetch the identity provider's keys; keeping the cached ones");
        }
    }

    fn cached(&self, kid: Option<&str>, alg: Algorithm) -> (Option<DecodingKey>, bool) {
        match self.cache.read() {
            Ok(cache) => (
                cache.find(kid, alg),
                cache
                    .fetched_at
                    .is_none_or(|t| t.elapsed() >= self.settings.max_key_age),
            ),
            Err(_) => (None, true),
        }
    }

    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, String> {
        let (key, stale) = self.cached(kid, alg);
        if let (Some(key), false) = (&key, stale) {
            return Ok(key.clone());
        }
        self.refresh_if_due().await;
        self.cached(kid, alg).0.ok_or_else(|| match kid {
            Some(kid) => format!("no {alg:?} key of the identity provider has the kid `{kid}`"),
            None => format!(
                "the token has no kid and no single {alg:?} key of the identity provider matches"
            ),
        })
    }

    /// Verifies a token whose header is `header`: signature by a provider key of the header's
    /// `kid` and `alg`, `iss`, `aud`, `exp`, `nbf`, the lifetime rules of
    /// [`check_lifetime`], then reads the subject, tenant and roles.
    ///
    /// # Errors
    /// A sentence for the 401: algorithm not accepted, unknown key, bad signature, wrong issuer
    /// or audience, expired, missing or malformed claims.
    pub async fn verify(&self, token: &str, header: &Header) -> Result<Identity, String> {
        let alg = header.alg;
        if !ACCEPTED_ALGORITHMS.contains(&alg) {
            return Err(format!(
                "the token's algorithm {alg:?} is not accepted (RS256, PS256, ES256, EdDSA)"
            ));
        }
        let key = self.key_for(header.kid.as_deref(), alg).await?;
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| e.to_string())?
            .claims;
        let number = |name: &str| claims.get(name).and_then(Value::as_f64).map(|v| v as i64);
        check_lifetime(number("iat").unwrap_or(0), number("exp").unwrap_or(0))
            .map_err(|e| e.to_string())?;
        self.identity(&claims)
    }

    fn identity(&self, claims: &Value) -> Result<Identity, String> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let tenant_claim = self.settings.tenant_claim.as_str();
        let tenant = self
            .settings
            .tenant_claim
            .find(claims)
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| {
                format!("the token's `{tenant_claim}` claim is missing or not a UUID")
            })?;
        let roles = match self.settings.roles_claim.find(claims) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .take(MAX_ROLES)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => s
                .split_whitespace()
                .take(MAX_ROLES)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Identity {
            sub,
            tenant: TenantId(tenant),
            roles,
            permissions: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_paths_find_plain_nested_and_dotted_names() {
        let claims = json!({
            "roles": ["admin"],
            "realm_access": {"roles": ["manager", "offline_access"]},
            "resource_access": {"crm": {"roles": ["sales"]}},
            "https://crm.example.com/tenant": "t",
        });
        let at = |p: &str| ClaimPath::new(p).unwrap().find(&claims).cloned();
        assert_eq!(at("roles"), Some(json!(["admin"])));
        assert_eq!(
            at("realm_access.roles"),
            Some(json!(["manager", "offline_access"]))
        );
        assert_eq!(at("resource_access.crm.roles"), Some(json!(["sales"])));
        assert_eq!(at("https://crm.example.com/tenant"), Some(json!("t")));
        assert_eq!(at("realm_access.missing"), None);
        assert_eq!(at("roles.0"), None);
    }

    #[test]
    fn bad_claim_paths_are_refused() {
        for p in ["", ".roles", "roles.", "a.b.c.d.e.f.g.h.i.j"] {
            assert!(ClaimPath::new(p).is_err(), "{p}");
        }
        assert!(ClaimPath::new(&"x".repeat(257)).is_err());
    }

    #[test]
    fn only_signature_keys_of_accepted_types_are_kept() {
        let set = parse_jwks(
            json!({"keys": [
                {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
                {"kty": "RSA", "kid": "short", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]), "e": "AQAB"},
                {"kty": "RSA", "kid": "enc", "use": "enc", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256]), "e": "AQAB"},
                {"kty": "RSA", "kid": "rsa", "use": "sig", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256]), "e": "AQAB"},
                {"kty": "RSA", "kid": "rsa-ps", "alg": "PS256", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256]), "e": "AQAB"},
                {"kty": "RSA", "kid": "rsa-as-es", "alg": "ES256", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256]), "e": "AQAB"},
                {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
                "not a key",
            ]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let cache = KeyCache::from_set(&set);
        let mut kids: Vec<_> = cache.by_kid.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["rsa", "rsa-ps"]);
        assert!(cache.find(Some("rsa"), Algorithm::RS256).is_some());
        assert!(cache.find(Some("rsa"), Algorithm::ES256).is_none());
        assert!(cache.find(Some("rsa-ps"), Algorithm::RS256).is_none());
        assert!(cache.find(Some("hmac"), Algorithm::HS256).is_none());
        // Without a kid: only when exactly one key fits.
        assert!(cache.find(None, Algorithm::RS256).is_some());
        assert!(cache.find(None, Algorithm::PS256).is_none());
    }

    #[test]
    fn a_jwks_url_must_be_https_unless_on_the_loopback() {
        let t = Duration::from_secs(1);
        assert!(HttpJwks::new("https://idp.example.com/certs", t).is_ok());
        assert!(HttpJwks::new("http://127.0.0.1:8081/certs", t).is_ok());
        assert!(HttpJwks::new("http://localhost/certs", t).is_ok());
        assert!(HttpJwks::new("http://idp.example.com/certs", t).is_err());
        assert!(HttpJwks::new("ftp://idp.example.com/certs", t).is_err());
        assert!(HttpJwks::new("not a url", t).is_err());
    }
}
