//! Prometheus metrics (request counts and latencies per route, served at `/metrics`) and the
//! access log.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::state::AppState;

/// The registry and the HTTP metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

impl Metrics {
    /// Registers `crm_http_requests_total{method,route,status}` and
    /// `crm_http_request_duration_seconds{method,route}`.
    ///
    /// # Errors
    /// The registry's error when a metric is malformed (a bug).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "crm_http_requests_total",
                "HTTP requests served, by method, route template and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "crm_http_request_duration_seconds",
                "HTTP request latency in seconds, by method and route template",
            ),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
        })
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The route label of a request no route matched: raw paths never become label values.
pub const UNMATCHED: &str = "unmatched";

/// The method label: one of the standard methods the API knows, else `other`, so clients
/// sending arbitrary extension methods cannot grow the label set.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware recording every request under a bounded method label ([`method_label`]) and
/// its route template (`/api/v1/customers/{id}`), so
/// ids never become label values.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_owned());
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let res = next.call(req).await?;
    let status = res.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(m) = metrics {
        m.observe(method, &route, status, seconds);
    }
    // One access-log line per request, inside the request's span (which carries the request id).
    // Values of refused input are not logged: they may be personal data.
    let elapsed_ms = seconds * 1000.0;
    if status >= 500 {
        tracing::error!(%method, %route, status, elapsed_ms, "request failed");
    } else {
        tracing::info!(%method, %route, status, elapsed_ms, "request served");
    }
    Ok(res)
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_known_set_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        for raw in ["ZQ1X", "get", "PROPFIND", "TRACE", "CONNECT"] {
            let m = Method::from_bytes(raw.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "other", "{raw}");
        }
    }
}
