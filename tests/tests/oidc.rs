//! Tokens from an OpenID Connect provider (issue 16, identity providers): a JWKS endpoint on the
//! loopback serves public keys generated here (RSA 2048 and P-256), tokens are signed with their
//! private halves, and the server checks signature, `kid`, `alg`, `iss`, `aud`, lifetime and the
//! configured tenant and roles claims, on SQLite and PostgreSQL.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crm_blackbox_tests::{DbBackend, Reply, TestApp, on_both_backends};
use crm_server::Config;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const ISSUER: &str = "https://idp.test/realms/crm";
const AUDIENCE: &str = "crm-api";

/// A private key to sign with and its public JWK (with a `kid`).
struct Pair {
    signing: EncodingKey,
    jwk: Jwk,
}

fn rsa_pair(kid: &str) -> (Pair, rsa::RsaPublicKey) {
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let signing = EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes());
    let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.into());
    (Pair { signing, jwk }, private.to_public_key())
}

fn ec_pair(kid: &str) -> Pair {
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let signing = EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes());
    let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.into());
    Pair { signing, jwk }
}

/// The keys of this test binary, generated once.
struct Keys {
    /// Published as `rsa-1`.
    rsa: Pair,
    /// `rsa-1`'s public key, PKCS#1 DER and PEM: the bytes an algorithm-confusion attack uses as
    /// an HMAC secret.
    rsa_public_der: Vec<u8>,
    rsa_public_pem: String,
    /// Never published.
    other_rsa: Pair,
    /// Published as `ec-1`.
    ec: Pair,
    /// Published only when a test rotates keys (`ec-2`).
    rotated: Pair,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let (rsa, public) = rsa_pair("rsa-1");
    Keys {
        rsa,
        rsa_public_der: public.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        rsa_public_pem: public.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap(),
        other_rsa: rsa_pair("rsa-1").0,
        ec: ec_pair("ec-1"),
        rotated: ec_pair("ec-2"),
    }
});

/// How the loopback provider answers.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Serve,
    Fail,
    Hang,
}

/// A JWKS endpoint on the loopback: the current key set, how often it was fetched, and a switch
/// to make it fail or hang.
struct Provider {
    url: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
}

impl Provider {
    async fn start(keys: Vec<Jwk>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/realms/crm/protocol/openid-connect/certs",
            listener.local_addr().unwrap()
        );
        let provider = Self {
            url,
            keys: Arc::new(Mutex::new(keys)),
            fetches: Arc::new(AtomicUsize::new(0)),
            mode: Arc::new(Mutex::new(Mode::Serve)),
        };
        let (keys, fetches, mode) = (
            provider.keys.clone(),
            provider.fetches.clone(),
            provider.mode.clone(),
        );
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (keys, fetches, mode) = (keys.clone(), fetches.clone(), mode.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let mode = *mode.lock().unwrap();
                    let (status, body) = match mode {
                        Mode::Hang => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        Mode::Fail => ("500 Internal Server Error", "{}".to_owned()),
                        Mode::Serve => {
                            ("200 OK", json!({"keys": *keys.lock().unwrap()}).to_string())
                        }
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        provider
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// The server with `provider` as its identity provider (keys fetched again at most once a
/// second, fetches bounded by 1 s), no HS256 secret, then `tweak`.
async fn spawn(
    backend: DbBackend,
    provider: &Provider,
    tweak: impl FnOnce(&mut Config),
) -> Option<(TestApp, tempfile::TempDir)> {
    // Without CRM_JWT_SECRET the cursor secret is generated into the data folder.
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(backend, |c| {
        c.jwt_secret = None;
        c.data_dir = dir.path().to_path_buf();
        c.auth_jwks_url = Some(provider.url.clone());
        c.auth_issuer = Some(ISSUER.into());
        c.auth_audience = Some(AUDIENCE.into());
        c.auth_jwks_min_refresh_secs = 1;
        c.auth_jwks_timeout_secs = 1;
        tweak(c);
    })
    .await?;
    Some((app, dir))
}

fn published() -> Vec<Jwk> {
    vec![KEYS.rsa.jwk.clone(), KEYS.ec.jwk.clone()]
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims of a provider token for `role` in `tenant`.
fn claims(tenant: impl ToString, role: &str) -> Value {
    json!({
        "sub": format!("{role}-oidc"),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now(),
        "exp": now() + 600,
        "tenant_id": tenant.to_string(),
        "roles": [role],
    })
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, Some("rsa-1"), &KEYS.rsa.signing, claims)
}

fn es256(claims: &Value) -> String {
    sign(Algorithm::ES256, Some("ec-1"), &KEYS.ec.signing, claims)
}

/// `claims` with `key` set to `value` (`null` removes it).
fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

async fn list(app: &TestApp, token: &str) -> Reply {
    app.get("/api/v1/customers", token).await
}

fn assert_401(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.body);
    r.assert_problem(401);
    assert_eq!(r.body["type"], "/problems/unauthorized", "{what}");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
}

async fn tokens_signed_with_the_providers_rsa_and_ec_keys_are_accepted(backend: DbBackend) {
    let provider = Provider::start(published()).await;
    let Some((app, _dir)) = spawn(backend, &provider, |_| {}).await else {
        return;
    };
    assert_eq!(provider.fetches(), 1, "the key set is fetched at start-up");
    let tenant = app.tenant("A").await.0;
    let admin = rs256(&claims(tenant, "admin"));
    assert_eq!(list(&app, &admin).await.status, 200);
    let created = app
        .post(
            "/api/v1/customers",
            &admin,
            json!({"name": "Budi", "email": "budi@example.com"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let viewer = es256(&claims(tenant, "viewer"));
    let r = list(&app, &viewer).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = app
        .post("/api/v1/customers", &viewer, json!({"name": "Sari"}))
        .await;
    r.assert_problem(403);
    // Cached keys: no fetch per request.
    assert_eq!(provider.fetches(), 1);
    // Another tenant's provider token sees nothing of A.
    let other = app.tenant("B").await.0;
    let r = list(&app, &rs256(&claims(other, "admin"))).await;
    assert_eq!(r.body["data"], json!([]), "{}", r.body);
    // With only the provider configured, HS256 tokens (the CLI's) are refused.
    assert_401(
        &list(&app, &app.token(app.tenant("C").await, "admin")).await,
        "HS256",
    );
}

async fn claim_names_are_configurable_and_may_be_nested(backend: DbBackend) {
    let provider = Provider::start(published()).await;
    let Some((app, _dir)) = spawn(backend, &provider, |c| {
        c.auth_tenant_claim = "https://crm.test/tenant_id".into();
        c.auth_roles_claim = "realm_access.roles".into();
    })
    .await
    else {
        return;
    };
    let tenant = app.tenant("A").await.0.to_string();
    let keycloak = |roles: Value| {
        json!({
            "sub": "f3b1c0de", "iss": ISSUER, "aud": [AUDIENCE, "account"],
            "iat": now(), "exp": now() + 600,
            "https://crm.test/tenant_id": tenant,
            "realm_access": {"roles": roles},
            "roles": ["admin"],
        })
    };
    let manager = rs256(&keycloak(json!(["offline_access", "manager"])));
    assert_eq!(list(&app, &manager).await.status, 200);
    // A manager lacks customers.manage: the top-level `roles` claim is not read.
    app.get("/api/v1/exports/customers", &manager)
        .await
        .assert_problem(403);
    // Only role names that are not crm roles: no permission at all.
    let nobody = rs256(&keycloak(json!(["offline_access", "uma_authorization"])));
    list(&app, &nobody).await.assert_problem(403);
    let no_roles = rs256(&with(keycloak(json!([])), "realm_access", Value::Null));
    list(&app, &no_roles).await.assert_problem(403);
    // The tenant only from the configured claim.
    let default_name = rs256(&with(
        with(
            keycloak(json!(["admin"])),
            "https://crm.test/tenant_id",
            Value::Null,
        ),
        "tenant_id",
        json!(tenant),
    ));
    assert_401(&list(&app, &default_name).await, "tenant in tenant_id");
}

async fn tokens_failing_a_check_are_401_problems(backend: DbBackend) {
    let provider = Provider::start(published()).await;
    let Some((app, _dir)) = spawn(backend, &provider, |_| {}).await else {
        return;
    };
    let tenant = app.tenant("A").await.0;
    let good = claims(tenant, "admin");
    assert_eq!(list(&app, &rs256(&good)).await.status, 200);
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": "rsa-1"}).to_string()),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong issuer",
            rs256(&with(
                good.clone(),
                "iss",
                json!("https://evil.test/realms/crm"),
            )),
        ),
        ("no issuer", rs256(&with(good.clone(), "iss", Value::Null))),
        (
            "wrong audience",
            rs256(&with(good.clone(), "aud", json!("another-api"))),
        ),
        (
            "no audience",
            rs256(&with(good.clone(), "aud", Value::Null)),
        ),
        (
            "expired",
            rs256(&with(good.clone(), "exp", json!(now() - 3600))),
        ),
        (
            "not yet valid",
            rs256(&with(good.clone(), "nbf", json!(now() + 3600))),
        ),
        (
            "issued in the future",
            rs256(&with(good.clone(), "iat", json!(now() + 3600))),
        ),
        (
            "living 31 days",
            rs256(&with(good.clone(), "exp", json!(now() + 31 * 24 * 3600))),
        ),
        ("no sub", rs256(&with(good.clone(), "sub", Value::Null))),
        (
            "tenant not a UUID",
            rs256(&with(good.clone(), "tenant_id", json!("A"))),
        ),
        (
            "no tenant",
            rs256(&with(good.clone(), "tenant_id", Value::Null)),
        ),
        ("unknown tenant", rs256(&claims(Uuid::now_v7(), "admin"))),
        (
            "unknown kid",
            sign(Algorithm::RS256, Some("nope"), &KEYS.rsa.signing, &good),
        ),
        (
            "signed by another key",
            sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &KEYS.other_rsa.signing,
                &good,
            ),
        ),
        (
            "an EC signature naming the RSA key",
            sign(Algorithm::ES256, Some("rsa-1"), &KEYS.ec.signing, &good),
        ),
        (
            "HS256 keyed with the RSA public key (DER)",
            sign(
                Algorithm::HS256,
                Some("rsa-1"),
                &EncodingKey::from_secret(&KEYS.rsa_public_der),
                &good,
            ),
        ),
        (
            "HS256 keyed with the RSA public key (PEM)",
            sign(
                Algorithm::HS256,
                Some("rsa-1"),
                &EncodingKey::from_secret(KEYS.rsa_public_pem.as_bytes()),
                &good,
            ),
        ),
        (
            "RS384",
            sign(Algorithm::RS384, Some("rsa-1"), &KEYS.rsa.signing, &good),
        ),
        ("alg none", none),
        ("garbage", "a.b.c".into()),
    ];
    for (what, token) in &cases {
        assert_401(&list(&app, token).await, what);
    }
    // The unknown kid made one fetch at most (once a second); the server still answers.
    assert!(provider.fetches() <= 3, "{} fetches", provider.fetches());
    assert_eq!(list(&app, &rs256(&good)).await.status, 200);
}

async fn a_key_published_after_start_is_accepted_after_a_refresh(backend: DbBackend) {
    let provider = Provider::start(published()).await;
    let Some((app, _dir)) = spawn(backend, &provider, |_| {}).await else {
        return;
    };
    let tenant = app.tenant("A").await.0;
    let token = sign(
        Algorithm::ES256,
        Some("ec-2"),
        &KEYS.rotated.signing,
        &claims(tenant, "admin"),
    );
    assert_401(&list(&app, &token).await, "before rotation");
    // The provider rotates: the new key is published, the old RSA key withdrawn.
    *provider.keys.lock().unwrap() = vec![KEYS.ec.jwk.clone(), KEYS.rotated.jwk.clone()];
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = provider.fetches();
    let r = list(&app, &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(provider.fetches(), before + 1);
    // The withdrawn key is gone with the refresh.
    assert_401(
        &list(&app, &rs256(&claims(tenant, "admin"))).await,
        "withdrawn key",
    );
    assert_eq!(
        list(&app, &es256(&claims(tenant, "admin"))).await.status,
        200
    );
}

async fn a_flood_of_unknown_kids_fetches_the_key_set_at_most_once_per_interval(backend: DbBackend) {
    let provider = Provider::start(published()).await;
    let Some((app, _dir)) = spawn(backend, &provider, |c| {
        c.auth_jwks_min_refresh_secs = 2;
    })
    .await
    else {
        return;
    };
    let tenant = app.tenant("A").await.0;
    let good = claims(tenant, "admin");
    // Signed up front (RSA signing is slow in a debug build): 2 × 30 tokens, each naming a
    // random kid.
    let tokens: Vec<String> = (0..60)
        .map(|_| {
            let kid = Uuid::new_v4().to_string();
            sign(Algorithm::ES256, Some(&kid), &KEYS.ec.signing, &good)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = provider.fetches();
    let started = Instant::now();
    for flood in tokens.chunks(30) {
        let replies =
            futures_util::future::join_all(flood.iter().map(|token| list(&app, token))).await;
        for r in &replies {
            assert_401(r, "random kid");
        }
    }
    let fetched = provider.fetches() - before;
    if started.elapsed() < Duration::from_secs(2) {
        assert_eq!(
            fetched, 1,
            "one fetch for 60 unknown kids within the interval"
        );
    } else {
        // A slow machine: one fetch per interval started.
        let intervals = started.elapsed().as_secs() / 2 + 1;
        assert!(
            (1..=intervals as usize).contains(&fetched),
            "{fetched} fetches in {:?}",
            started.elapsed()
        );
    }
    assert_eq!(list(&app, &rs256(&good)).await.status, 200);
}

async fn an_unreachable_provider_keeps_cached_keys_and_refuses_unknown_ones(backend: DbBackend) {
    let provider = Provider::start(published()).await;
    let Some((app, _dir)) = spawn(backend, &provider, |_| {}).await else {
        return;
    };
    let tenant = app.tenant("A").await.0;
    let unknown = sign(
        Algorithm::ES256,
        Some("ec-2"),
        &KEYS.rotated.signing,
        &claims(tenant, "admin"),
    );
    for mode in [Mode::Hang, Mode::Fail] {
        provider.set_mode(mode);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let started = Instant::now();
        assert_401(&list(&app, &unknown).await, "unknown kid, provider down");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the fetch is bounded by its timeout: {:?}",
            started.elapsed()
        );
        let r = list(&app, &rs256(&claims(tenant, "admin"))).await;
        assert_eq!(r.status, 200, "cached key, provider down: {}", r.body);
    }
    // A server that starts while the provider is unreachable still starts, and refuses.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let down = TestApp::spawn_with(backend, |c| {
        c.jwt_secret = None;
        c.data_dir = dir.path().to_path_buf();
        c.auth_jwks_url = Some(format!("http://127.0.0.1:{port}/certs"));
        c.auth_issuer = Some(ISSUER.into());
        c.auth_audience = Some(AUDIENCE.into());
        c.auth_jwks_timeout_secs = 1;
    })
    .await
    .unwrap();
    let tenant = down.tenant("A").await.0;
    assert_401(
        &list(&down, &rs256(&claims(tenant, "admin"))).await,
        "no keys",
    );
}

async fn hs256_is_accepted_beside_the_provider_only_with_a_secret(backend: DbBackend) {
    let provider = Provider::start(published()).await;
    // The harness's CRM_JWT_SECRET kept.
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.auth_jwks_url = Some(provider.url.clone());
        c.auth_issuer = Some(ISSUER.into());
        c.auth_audience = Some(AUDIENCE.into());
    })
    .await
    else {
        return;
    };
    let tenant = app.tenant("A").await;
    assert_eq!(list(&app, &app.token(tenant, "admin")).await.status, 200);
    assert_eq!(
        list(&app, &rs256(&claims(tenant.0, "admin"))).await.status,
        200
    );
    let confused = sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &EncodingKey::from_secret(&KEYS.rsa_public_der),
        &json!({"sub": "x", "tenant_id": tenant.0, "exp": now() + 600, "iat": now(), "roles": ["admin"]}),
    );
    assert_401(
        &list(&app, &confused).await,
        "HS256 keyed with the RSA public key",
    );
}

on_both_backends!(
    tokens_signed_with_the_providers_rsa_and_ec_keys_are_accepted,
    claim_names_are_configurable_and_may_be_nested,
    tokens_failing_a_check_are_401_problems,
    a_key_published_after_start_is_accepted_after_a_refresh,
    a_flood_of_unknown_kids_fetches_the_key_set_at_most_once_per_interval,
    an_unreachable_provider_keeps_cached_keys_and_refuses_unknown_ones,
    hs256_is_accepted_beside_the_provider_only_with_a_secret,
);
