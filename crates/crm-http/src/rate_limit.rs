//! Rate limits: token buckets (GCRA, the `governor` crate) per token subject and per tenant,
//! checked by the [`Caller`](crate::Caller) extractor right after authentication (so before any
//! body is read), and per client IP on failed authentication.
//!
//! A request costs one cell; a heavy one (an import, an export, an analytics or statistics
//! recompute: [`HEAVY_ROUTES`]) costs [`RateLimitSettings::heavy_cost`] cells. Refused requests
//! get a 429 problem with `Retry-After` (seconds) and the fields of the IETF draft
//! `draft-ietf-httpapi-ratelimit-headers` (revision 09): `RateLimit-Policy` lists each bucket as
//! `"<name>";q=<burst>;w=<seconds to refill it>`, `RateLimit` its state as
//! `"<name>";r=<cells left>;t=<seconds until full>`. Admitted requests carry both fields too.
//!
//! Memory is bounded: the keyed stores forget, every [`SWEEP_EVERY`], each key whose bucket is
//! full again (`retain_recent`), so they hold only the callers of the last refill window.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, http::Method};
use crm_domain::TenantId;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};

/// How often the keyed stores drop the keys whose buckets are full again.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The routes (method, route template) that count as heavy requests: imports, exports and the
/// recomputes that walk a whole tenant.
pub const HEAVY_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/imports"),
    ("GET", "/api/v1/exports/customers"),
    ("GET", "/api/v1/customers/{id}/export"),
    ("POST", "/api/v1/analytics/rfm/recompute"),
    ("POST", "/api/v1/analytics/clv/fit"),
    ("POST", "/api/v1/customers/statistics/recompute"),
    ("POST", "/api/v1/customer-tiers/reevaluate"),
];

/// Whether a request to `route` (the matched route template) with `method` is heavy.
pub fn is_heavy(method: &Method, route: Option<&str>) -> bool {
    route.is_some_and(|route| {
        HEAVY_ROUTES
            .iter()
            .any(|(m, r)| *r == route && method.as_str() == *m)
    })
}

/// The slowest rate accepted, cells per second: one a day.
pub const MIN_RATE: f64 = 1.0 / 86_400.0;

/// The fastest rate accepted, cells per second.
pub const MAX_RATE: f64 = 1e9;

/// One token bucket: refilled at `per_second` cells per second, holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Cells added per second (may be below 1: 0.1 is one cell every 10 s).
    pub per_second: f64,
    /// The bucket's size: the most cells spent at once.
    pub burst: NonZeroU32,
}

impl Rate {
    /// A bucket, or `None` (no limit) when `per_second` is 0.
    ///
    /// # Errors
    /// A sentence when `per_second` is outside [`MIN_RATE`]..=[`MAX_RATE`] (negative, not a
    /// number, infinite), or `burst` is 0.
    pub fn new(per_second: f64, burst: u32) -> Result<Option<Self>, String> {
        if per_second == 0.0 {
            return Ok(None);
        }
        if !(MIN_RATE..=MAX_RATE).contains(&per_second) {
            return Err(format!(
                "a rate is 0 (off) or a number of requests per second from {MIN_RATE} (one a \
                 day) to 10^9, not {per_second}"
            ));
        }
        let burst = NonZeroU32::new(burst).ok_or("a burst is at least 1")?;
        Ok(Some(Self { per_second, burst }))
    }

    fn quota(&self) -> Quota {
        // `Rate::new` keeps the period within 1 ns..=1 day; a hand-built `Rate` gets the nearest.
        let period = Duration::try_from_secs_f64(1.0 / self.per_second)
            .unwrap_or(Duration::from_secs(86_400))
            .clamp(Duration::from_nanos(1), Duration::from_secs(86_400));
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(self.burst)
    }

    /// Seconds to refill `cells` cells, rounded up.
    fn seconds_for(&self, cells: u32) -> u64 {
        (f64::from(cells) / self.per_second).ceil() as u64
    }
}

/// The limits in force; `None` turns a limit off.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitSettings {
    /// Per token subject (a tenant's user): every token with the same `sub` in the same tenant
    /// shares the bucket, so minting more tokens buys no more requests.
    pub per_token: Option<Rate>,
    /// Per tenant: all its callers together.
    pub per_tenant: Option<Rate>,
    /// Per client IP (the TCP peer, IPv6 by /64), charged only by requests whose authentication
    /// failed.
    pub auth_failures_per_ip: Option<Rate>,
    /// Cells a heavy request costs (clamped to each bucket's burst).
    pub heavy_cost: NonZeroU32,
}

impl RateLimitSettings {
    /// No limits at all (embedding, tests).
    pub fn off() -> Self {
        Self {
            per_token: None,
            per_tenant: None,
            auth_failures_per_ip: None,
            heavy_cost: NonZeroU32::MIN,
        }
    }
}

/// Which bucket refused or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The caller's own bucket (tenant and `sub`).
    Token,
    /// The tenant's bucket.
    Tenant,
    /// The client IP's bucket of failed authentications.
    AuthFailures,
}

impl Scope {
    /// The policy name in the `RateLimit` fields and the problem's `scope` member.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Token => "token",
            Scope::Tenant => "tenant",
            Scope::AuthFailures => "auth-failures",
        }
    }
}

/// A refusal: which bucket, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    /// The bucket that is empty.
    pub scope: Scope,
    /// Seconds until the request's cost is available again (at least 1): `Retry-After`.
    pub retry_after: u64,
    /// The bucket's size.
    pub limit: u32,
    /// What the request would have cost.
    pub cost: u32,
    /// The `RateLimit-Policy` field value.
    pub policy: String,
}

impl RateLimited {
    /// The `RateLimit` field value: the refusing bucket, empty, full again in `retry_after`.
    pub fn state_field(&self) -> String {
        format!("\"{}\";r=0;t={}", self.scope.name(), self.retry_after)
    }
}

/// The buckets that admitted a request, for its response's `RateLimit-Policy` and `RateLimit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimitStatus {
    /// `(scope, burst, refill seconds, cells left, seconds until full)` per bucket.
    buckets: Vec<(Scope, u32, u64, u32, u64)>,
}

impl RateLimitStatus {
    /// The `RateLimit-Policy` field value, or `None` without buckets.
    pub fn policy_field(&self) -> Option<String> {
        (!self.buckets.is_empty()).then(|| {
            self.buckets
                .iter()
                .map(|(s, q, w, _, _)| format!("\"{}\";q={q};w={w}", s.name()))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// The `RateLimit` field value, or `None` without buckets.
    pub fn state_field(&self) -> Option<String> {
        (!self.buckets.is_empty()).then(|| {
            self.buckets
                .iter()
                .map(|(s, _, _, r, t)| format!("\"{}\";r={r};t={t}", s.name()))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

type Limiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

struct Keyed<K: Hash + Eq + Clone> {
    scope: Scope,
    rate: Rate,
    limiter: Limiter<K>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(scope: Scope, rate: Rate) -> Self {
        Self {
            scope,
            rate,
            limiter: RateLimiter::dashmap(rate.quota()).with_middleware(),
            clock: DefaultClock::default(),
        }
    }

    fn policy(&self) -> String {
        let q = self.rate.burst.get();
        format!(
            "\"{}\";q={q};w={}",
            self.scope.name(),
            self.rate.seconds_for(q)
        )
    }

    /// Spends `cost` cells (clamped to the burst) of `key`'s bucket: `(cells left, seconds
    /// until full)`, or the seconds until they are available.
    fn spend(&self, key: &K, cost: NonZeroU32) -> Result<(u32, u64), u64> {
        let cost = cost.min(self.rate.burst);
        match self.limiter.check_key_n(key, cost) {
            Ok(Ok(snapshot)) => {
                let left = snapshot.remaining_burst_capacity();
                let used = self.rate.burst.get().saturating_sub(left);
                Ok((left, self.rate.seconds_for(used)))
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
            }
            // Never with the clamp; the whole bucket's refill time all the same.
            Err(_) => Err(self.rate.seconds_for(self.rate.burst.get()).max(1)),
        }
    }

    fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The rate limiters of a server.
pub struct RateLimits {
    token: Option<Keyed<[u8; 16]>>,
    tenant: Option<Keyed<TenantId>>,
    auth_failures: Option<Keyed<IpAddr>>,
    heavy_cost: NonZeroU32,
    last_sweep: Mutex<Instant>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_token", &self.token.as_ref().map(|k| k.rate))
            .field("per_tenant", &self.tenant.as_ref().map(|k| k.rate))
            .field(
                "auth_failures_per_ip",
                &self.auth_failures.as_ref().map(|k| k.rate),
            )
            .field("heavy_cost", &self.heavy_cost)
            .finish()
    }
}

impl RateLimits {
    /// Limiters for `settings`.
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            token: settings.per_token.map(|r| Keyed::new(Scope::Token, r)),
            tenant: settings.per_tenant.map(|r| Keyed::new(Scope::Tenant, r)),
            auth_failures: settings
                .auth_failures_per_ip
                .map(|r| Keyed::new(Scope::AuthFailures, r)),
            heavy_cost: settings.heavy_cost,
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    fn policy(&self) -> String {
        [
            self.token.as_ref().map(Keyed::policy),
            self.tenant.as_ref().map(Keyed::policy),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// Admits a request of `sub` in `tenant` (heavy or not), spending its cells from the
    /// caller's bucket, then the tenant's.
    ///
    /// # Errors
    /// [`RateLimited`] naming the empty bucket.
    pub fn admit(
        &self,
        tenant: TenantId,
        sub: &str,
        heavy: bool,
    ) -> Result<RateLimitStatus, RateLimited> {
        self.maybe_sweep();
        let cost = if heavy {
            self.heavy_cost
        } else {
            NonZeroU32::MIN
        };
        let mut status = RateLimitStatus::default();
        if let Some(token) = &self.token {
            let mut hash = Sha256::new();
            hash.update(tenant.0.as_bytes());
            hash.update(sub.as_bytes());
            let digest = hash.finalize();
            let mut key = [0u8; 16];
            key.copy_from_slice(&digest[..16]);
            self.spend(token, &key, cost, &mut status)?;
        }
        if let Some(per_tenant) = &self.tenant {
            self.spend(per_tenant, &tenant, cost, &mut status)?;
        }
        Ok(status)
    }

    fn spend<K: Hash + Eq + Clone>(
        &self,
        bucket: &Keyed<K>,
        key: &K,
        cost: NonZeroU32,
        status: &mut RateLimitStatus,
    ) -> Result<(), RateLimited> {
        let burst = bucket.rate.burst.get();
        match bucket.spend(key, cost) {
            Ok((left, full_in)) => {
                status.buckets.push((
                    bucket.scope,
                    burst,
                    bucket.rate.seconds_for(burst),
                    left,
                    full_in,
                ));
                Ok(())
            }
            Err(retry_after) => Err(RateLimited {
                scope: bucket.scope,
                retry_after,
                limit: burst,
                cost: cost.min(bucket.rate.burst).get(),
                policy: self.policy(),
            }),
        }
    }

    /// Records a failed authentication from `ip` (IPv6 addresses by their /64).
    ///
    /// # Errors
    /// [`RateLimited`] when `ip` has failed too often: the caller answers 429 instead of 401.
    pub fn auth_failure(&self, ip: IpAddr) -> Result<(), RateLimited> {
        self.maybe_sweep();
        let Some(bucket) = &self.auth_failures else {
            return Ok(());
        };
        let key = match ip {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
            v4 => v4,
        };
        bucket
            .spend(&key, NonZeroU32::MIN)
            .map(|_| ())
            .map_err(|retry_after| RateLimited {
                scope: Scope::AuthFailures,
                retry_after,
                limit: bucket.rate.burst.get(),
                cost: 1,
                policy: bucket.policy(),
            })
    }

    /// How many keys the stores hold now (callers, tenants and IPs seen within the last refill
    /// window and sweep period).
    pub fn tracked_keys(&self) -> usize {
        self.token.as_ref().map_or(0, |k| k.limiter.len())
            + self.tenant.as_ref().map_or(0, |k| k.limiter.len())
            + self.auth_failures.as_ref().map_or(0, |k| k.limiter.len())
    }

    /// Drops every key whose bucket is full again, now.
    pub fn sweep(&self) {
        if let Some(k) = &self.token {
            k.sweep();
        }
        if let Some(k) = &self.tenant {
            k.sweep();
        }
        if let Some(k) = &self.auth_failures {
            k.sweep();
        }
    }

    fn maybe_sweep(&self) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        if last.elapsed() >= SWEEP_EVERY {
            *last = Instant::now();
            drop(last);
            self.sweep();
        }
    }
}

/// Middleware: copies the [`RateLimitStatus`] the `Caller` extractor left in the request into
/// the response's `RateLimit-Policy` and `RateLimit` fields.
///
/// # Errors
/// The inner service's error, unchanged.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let status = res.request().extensions().get::<RateLimitStatus>().cloned();
    if let Some(status) = status {
        let fields = [
            ("ratelimit-policy", status.policy_field()),
            ("ratelimit", status.state_field()),
        ];
        for (name, value) in fields {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                res.headers_mut()
                    .insert(HeaderName::from_static(name), value);
            }
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn limits(token: Option<(f64, u32)>, tenant: Option<(f64, u32)>, heavy: u32) -> RateLimits {
        let rate = |r: Option<(f64, u32)>| r.and_then(|(p, b)| Rate::new(p, b).unwrap());
        RateLimits::new(&RateLimitSettings {
            per_token: rate(token),
            per_tenant: rate(tenant),
            auth_failures_per_ip: rate(Some((0.01, 2))),
            heavy_cost: NonZeroU32::new(heavy).unwrap(),
        })
    }

    #[test]
    fn a_token_bucket_refuses_past_its_burst_and_names_itself() {
        let l = limits(Some((0.01, 3)), None, 2);
        let t = TenantId(Uuid::now_v7());
        let left: Vec<_> = (0..3)
            .map(|_| l.admit(t, "a", false).unwrap().state_field().unwrap())
            .collect();
        assert_eq!(
            left,
            [
                "\"token\";r=2;t=100",
                "\"token\";r=1;t=200",
                "\"token\";r=0;t=300"
            ]
        );
        let refused = l.admit(t, "a", false).unwrap_err();
        assert_eq!(refused.scope, Scope::Token);
        assert!((1..=100).contains(&refused.retry_after), "{refused:?}");
        assert_eq!(refused.policy, "\"token\";q=3;w=300");
        // Another subject has its own bucket.
        assert!(l.admit(t, "b", false).is_ok());
    }

    #[test]
    fn heavy_requests_cost_more_and_the_tenant_bucket_is_shared() {
        let l = limits(Some((0.01, 10)), Some((0.01, 12)), 4);
        let t = TenantId(Uuid::now_v7());
        let s = l.admit(t, "a", true).unwrap();
        assert_eq!(
            s.state_field().unwrap(),
            "\"token\";r=6;t=400, \"tenant\";r=8;t=400"
        );
        l.admit(t, "a", true).unwrap();
        assert_eq!(l.admit(t, "a", true).unwrap_err().scope, Scope::Token);
        l.admit(t, "b", true).unwrap();
        // The tenant has 12 - 4 - 4 - 4 = 0 cells left (the refused request spent the token's
        // bucket nothing and the tenant's nothing).
        assert_eq!(l.admit(t, "c", false).unwrap_err().scope, Scope::Tenant);
        assert!(l.admit(TenantId(Uuid::now_v7()), "a", false).is_ok());
    }

    #[test]
    fn a_heavy_cost_above_the_burst_is_clamped() {
        let l = limits(Some((0.01, 3)), None, 10);
        let t = TenantId(Uuid::now_v7());
        assert_eq!(
            l.admit(t, "a", true).unwrap().state_field().unwrap(),
            "\"token\";r=0;t=300"
        );
    }

    #[test]
    fn auth_failures_are_counted_per_ip_and_ipv6_per_prefix() {
        let l = limits(None, None, 1);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff".parse().unwrap();
        assert!(l.auth_failure(a).is_ok());
        assert!(l.auth_failure(b).is_ok());
        assert_eq!(l.auth_failure(a).unwrap_err().scope, Scope::AuthFailures);
        assert!(l.auth_failure("127.0.0.1".parse().unwrap()).is_ok());
    }

    #[test]
    fn keys_whose_buckets_refilled_are_forgotten() {
        let l = limits(Some((1000.0, 1)), Some((1000.0, 1)), 1);
        for i in 0..500 {
            let _ = l.admit(TenantId(Uuid::now_v7()), &i.to_string(), false);
        }
        assert_eq!(l.tracked_keys(), 1000);
        std::thread::sleep(Duration::from_millis(20));
        l.sweep();
        assert_eq!(l.tracked_keys(), 0);
    }

    #[test]
    fn rates_are_checked() {
        assert_eq!(Rate::new(0.0, 0), Ok(None));
        assert!(Rate::new(-1.0, 5).is_err());
        assert!(Rate::new(f64::NAN, 5).is_err());
        assert!(Rate::new(f64::INFINITY, 5).is_err());
        assert!(Rate::new(1e-300, 5).is_err(), "a period beyond Duration");
        assert!(Rate::new(5.0, 0).is_err());
        assert!(Rate::new(0.5, 1).unwrap().is_some());
    }

    #[test]
    fn heavy_routes_are_routes_of_the_api() {
        let doc = crate::openapi();
        for (method, route) in HEAVY_ROUTES {
            let path = route.trim_start_matches("/api/v1");
            let item = doc
                .paths
                .paths
                .get(&format!("/api/v1{path}"))
                .unwrap_or_else(|| panic!("{route} is not a route"));
            let op = match *method {
                "GET" => item.get.as_ref(),
                "POST" => item.post.as_ref(),
                _ => None,
            };
            assert!(op.is_some(), "{method} {route} is not a route");
        }
        assert!(is_heavy(&Method::POST, Some("/api/v1/imports")));
        assert!(!is_heavy(&Method::GET, Some("/api/v1/imports")));
        assert!(!is_heavy(&Method::GET, None));
    }
}
