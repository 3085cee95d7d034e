//! Bearer-token authentication (HS256 with a shared secret; RS256, PS256, ES256 and EdDSA from
//! an OpenID Connect provider's keys, [`crate::oidc`]) and the per-request caller.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::RwLock;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use crm_domain::{Actor, DomainError, TenantId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::oidc::{ACCEPTED_ALGORITHMS, OidcVerifier};
use crate::problem::ApiError;
use crate::state::AppState;

/// The claims crm reads from a bearer token (DESIGN.md §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The tenant every request of this token is scoped to.
    pub tenant_id: Uuid,
    /// Role names (`admin`, `manager`, `sales`, `viewer`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Extra permission names (`customers.view`, ...).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issue time, seconds since the Unix epoch; not in the future.
    #[serde(default)]
    pub iat: i64,
    /// Not valid before, seconds since the Unix epoch (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// For a customer-portal user: the customer they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Uuid>,
}

/// The longest a token may live: its `exp` may be at most this far ahead of now (30 days).
/// A token claiming more (an absurd `exp`) is refused, so a leaked token cannot outlive a
/// secret rotation by years.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The shortest HS256 secret accepted, bytes (RFC 7518 §3.2: a key at least as long as the
/// hash output, 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// Signs and verifies tokens with one shared secret (HS256).
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    /// Keys from a secret (at least 32 bytes is advisable).
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Mints a token for `sub` in `tenant` with `roles`, valid for `ttl`.
    ///
    /// # Errors
    /// The signer's error (never expected with HS256).
    pub fn mint(
        &self,
        tenant: TenantId,
        sub: &str,
        roles: &[String],
        ttl: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            tenant_id: tenant.0,
            roles: roles.to_vec(),
            permissions: Vec::new(),
            exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)),
            iat: now,
            nbf: None,
            customer_id: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies a token's signature, expiry and `nbf` (with [`LEEWAY_SECS`]), and that it is
    /// neither issued in the future nor valid for longer than [`MAX_TOKEN_LIFETIME`] from now;
    /// returns its claims.
    ///
    /// # Errors
    /// The verifier's error: bad signature, expired, not yet valid, malformed, missing claims,
    /// an `iat` in the future or an `exp` beyond the longest lifetime.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
        check_lifetime(claims.iat, claims.exp)?;
        Ok(claims)
    }
}

/// The lifetime rules every token obeys, whoever signed it: issued (`iat`, seconds since the
/// Unix epoch; 0 when absent) no later than now plus [`LEEWAY_SECS`], and expiring (`exp`) no
/// later than [`MAX_TOKEN_LIFETIME`] (plus the leeway) from now.
///
/// # Errors
/// `ImmatureSignature` for an `iat` in the future, `InvalidClaimFormat("exp")` for an `exp`
/// beyond the longest lifetime.
pub fn check_lifetime(iat: i64, exp: i64) -> Result<(), jsonwebtoken::errors::Error> {
    use jsonwebtoken::errors::ErrorKind;
    let now = chrono::Utc::now().timestamp();
    let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
    let longest = i64::try_from(MAX_TOKEN_LIFETIME.as_secs()).unwrap_or(i64::MAX);
    if iat > now.saturating_add(leeway) {
        return Err(ErrorKind::ImmatureSignature.into());
    }
    if exp > now.saturating_add(longest).saturating_add(leeway) {
        return Err(ErrorKind::InvalidClaimFormat("exp".into()).into());
    }
    Ok(())
}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`.
    pub sub: String,
    /// The tenant every request of the token is scoped to.
    pub tenant: TenantId,
    /// Role names as the token lists them (names that are not crm roles are ignored later).
    pub roles: Vec<String>,
    /// Permission names (HS256 tokens only).
    pub permissions: Vec<String>,
}

/// Verifies bearer tokens by their algorithm: HS256 with the shared secret when one is
/// configured, RS256/PS256/ES256/EdDSA with the identity provider's keys when a JWKS URL is
/// configured. Any other algorithm (`none` included, which does not even parse), and a family
/// whose verifier is not configured, is refused.
#[derive(Debug)]
pub struct Authenticator {
    hs256: Option<JwtKeys>,
    oidc: Option<OidcVerifier>,
}

impl Authenticator {
    /// An authenticator with the HS256 keys and/or the OpenID Connect verifier; with neither,
    /// every token is refused.
    pub fn new(hs256: Option<JwtKeys>, oidc: Option<OidcVerifier>) -> Self {
        Self { hs256, oidc }
    }

    /// HS256 only (development, the CLI's tokens, embedding).
    pub fn hs256(keys: JwtKeys) -> Self {
        Self::new(Some(keys), None)
    }

    /// The identity provider's verifier, when configured.
    pub fn oidc(&self) -> Option<&OidcVerifier> {
        self.oidc.as_ref()
    }

    /// Verifies `token` with the verifier of its algorithm.
    ///
    /// # Errors
    /// A sentence for the 401: malformed token, algorithm not accepted, or the verifier's
    /// refusal.
    pub async fn verify(&self, token: &str) -> Result<Identity, String> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| format!("the token's header is malformed: {e}"))?;
        match header.alg {
            Algorithm::HS256 => {
                let keys = self.hs256.as_ref().ok_or(
                    "HS256 tokens are not accepted: this server verifies tokens with its identity \
                     provider's keys",
                )?;
                let claims = keys.verify(token).map_err(|e| e.to_string())?;
                Ok(Identity {
                    sub: claims.sub,
                    tenant: TenantId(claims.tenant_id),
                    roles: claims.roles,
                    permissions: claims.permissions,
                })
            }
            alg if ACCEPTED_ALGORITHMS.contains(&alg) => match &self.oidc {
                Some(oidc) => oidc.verify(token, &header).await,
                None => Err(format!(
                    "{alg:?} tokens are not accepted: no identity provider is configured"
                )),
            },
            alg => Err(format!("the token's algorithm {alg:?} is not accepted")),
        }
    }
}

/// Tenants known to exist, so that a valid token for a tenant that does not exist is refused
/// without a database round trip per request once it is known.
#[derive(Debug, Default)]
pub struct KnownTenants(RwLock<HashSet<TenantId>>);

impl KnownTenants {
    fn contains(&self, id: TenantId) -> bool {
        self.0.read().map(|s| s.contains(&id)).unwrap_or(false)
    }

    fn insert(&self, id: TenantId) {
        if let Ok(mut s) = self.0.write() {
            s.insert(id);
        }
    }
}

/// The authenticated caller of a request, resolved once from the bearer token. The tenant
/// comes from the token only.
#[derive(Debug, Clone)]
pub struct Caller(pub Actor);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    /// Authenticates the bearer token, then spends the request's cells from the caller's and
    /// the tenant's rate-limit buckets (a heavy route costs more, [`crate::rate_limit`]); the
    /// buckets' state goes into the request's extensions for the response's `RateLimit`
    /// fields. A failed authentication is charged to the client IP's bucket: past it, a 429
    /// instead of the 401.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| {
                    ApiError::Domain(DomainError::Internal("app state missing".into()))
                })?;
            let identity = match authenticate(&state, &req).await {
                Ok(identity) => identity,
                Err(e @ ApiError::Unauthorized(_)) => {
                    if let Some(peer) = req.peer_addr() {
                        state
                            .rate_limits
                            .auth_failure(peer.ip())
                            .map_err(ApiError::RateLimited)?;
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let heavy = crate::rate_limit::is_heavy(req.method(), req.match_pattern().as_deref());
            let status = state
                .rate_limits
                .admit(identity.tenant, &identity.sub, heavy)
                .map_err(ApiError::RateLimited)?;
            req.extensions_mut().insert(status);
            let user = UserId::parse(&identity.sub)
                .ok_or_else(|| ApiError::Unauthorized("the token's sub is empty".into()))?;
            let actor = Actor::new(
                identity.tenant,
                user,
                identity.roles.iter().map(String::as_str),
                identity.permissions.iter().map(String::as_str),
            );
            // The request's id (tracing-actix-web's, logged with every line of the request)
            // goes on every event the request causes.
            let request_id = req
                .extensions()
                .get::<tracing_actix_web::RequestId>()
                .map(|id| id.to_string());
            Ok(Caller(match request_id {
                Some(id) => actor.with_request_id(id),
                None => actor,
            }))
        })
    }
}

/// The verified identity of the request's bearer token, whose tenant exists.
async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Identity, ApiError> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::Unauthorized("an Authorization: Bearer token is required".into())
        })?;
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
        })?;
    let identity = state
        .auth
        .verify(token.trim())
        .await
        .map_err(|e| ApiError::Unauthorized(format!("the bearer token is invalid: {e}")))?;
    if identity.sub.is_empty() {
        return Err(ApiError::Unauthorized("the token's sub is empty".into()));
    }
    let tenant = identity.tenant;
    if !state.known_tenants.contains(tenant) {
        match state.services.tenants.get(tenant).await {
            Ok(_) => state.known_tenants.insert(tenant),
            Err(DomainError::NotFound { .. }) => {
                return Err(ApiError::Unauthorized(
                    "the token's tenant does not exist".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies_with_the_same_secret_only() {
        let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let tenant = TenantId(Uuid::now_v7());
        let token = keys
            .mint(tenant, "alice", &["admin".into()], Duration::from_secs(60))
            .unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.tenant_id, claims.sub.as_str()), (tenant.0, "alice"));
        let other = JwtKeys::from_secret(b"another secret, another secret!!");
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let claims = Claims {
            sub: "a".into(),
            tenant_id: Uuid::nil(),
            roles: vec![],
            permissions: vec![],
            exp: chrono::Utc::now().timestamp() - 3600,
            iat: 0,
            nbf: None,
            customer_id: None,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        assert!(keys.verify(&token).is_err());
    }

    fn signed(keys: &JwtKeys, f: impl FnOnce(&mut Claims)) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = Claims {
            sub: "a".into(),
            tenant_id: Uuid::nil(),
            roles: vec!["admin".into()],
            permissions: vec![],
            exp: now + 3600,
            iat: now,
            nbf: None,
            customer_id: None,
        };
        f(&mut claims);
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
    }

    #[test]
    fn a_token_living_longer_than_the_longest_lifetime_is_refused() {
        let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let day = 24 * 3600;
        assert!(keys.verify(&signed(&keys, |c| c.exp += 29 * day)).is_ok());
        assert!(keys.verify(&signed(&keys, |c| c.exp += 31 * day)).is_err());
        assert!(keys.verify(&signed(&keys, |c| c.exp = i64::MAX)).is_err());
    }

    #[test]
    fn a_token_issued_or_valid_only_in_the_future_is_refused() {
        let keys = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let now = chrono::Utc::now().timestamp();
        assert!(keys.verify(&signed(&keys, |c| c.iat = now + 3600)).is_err());
        assert!(
            keys.verify(&signed(&keys, |c| c.nbf = Some(now + 3600)))
                .is_err()
        );
        assert!(
            keys.verify(&signed(&keys, |c| c.nbf = Some(now - 10)))
                .is_ok()
        );
        assert!(
            keys.verify(&signed(&keys, |c| c.iat = now + 5)).is_ok(),
            "within the leeway"
        );
    }
}
