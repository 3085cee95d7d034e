//! The webhook transport (issue 14): [`ReqwestWebhookSender`], the [`WebhookSender`] that
//! POSTs one delivery attempt with reqwest.
//!
//! Target safety: the sender resolves the URL's host itself, and unless private targets are
//! allowed (`CRM_WEBHOOKS_ALLOW_PRIVATE=true`) keeps only the addresses that
//! [`is_public_address`] accepts; a host with none is refused as a connection error, before
//! any connection. The request then goes only to the checked addresses: it is sent by a client
//! whose resolver ([`Pinned`]) answers every name with exactly those addresses, so no second
//! DNS answer can swap in a private address (no DNS rebinding) and no name falls through to
//! the system resolver. No proxy is used, and redirects are not followed (a 3xx is the answer,
//! a failure).
//!
//! Clients are kept per set of checked addresses (at most [`MAX_CLIENTS`], the least recently
//! used dropped), so attempts to the same receiver reuse its connections (and TLS sessions)
//! instead of building a client, its TLS configuration and a new connection each time: a
//! client only ever connects to the addresses of its key, so reuse never skips a check.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use crm_domain::webhook::{AttemptOutcome, WebhookSender, is_public_address};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::redirect::Policy;
use url::{Host, Url};

/// The most addresses of one host tried.
const MAX_ADDRESSES: usize = 8;

/// Sends webhook attempts with reqwest (rustls), checking every target address first.
#[derive(Debug, Default)]
pub struct ReqwestWebhookSender {
    allow_private: bool,
    /// Clients by their checked addresses, with when each was last used.
    clients: std::sync::Mutex<HashMap<Vec<SocketAddr>, (reqwest::Client, Instant)>>,
}

/// The most clients (sets of receiver addresses) kept at once.
pub const MAX_CLIENTS: usize = 256;

impl ReqwestWebhookSender {
    /// A sender; `allow_private` lets deliveries go to loopback and private addresses (tests,
    /// local development), never in production.
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            clients: std::sync::Mutex::default(),
        }
    }

    /// The client that connects only to `addresses` (kept, or built and kept).
    ///
    /// # Errors
    /// reqwest's, when the client cannot be built.
    fn client(&self, mut addresses: Vec<SocketAddr>) -> Result<reqwest::Client, reqwest::Error> {
        addresses.sort_unstable();
        let now = Instant::now();
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((client, used)) = clients.get_mut(&addresses) {
            *used = now;
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(Pinned(addresses.clone())))
            .redirect(Policy::none())
            .connect_timeout(crm_domain::webhook::DELIVERY_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .no_proxy()
            .user_agent(concat!("crm-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        if clients.len() >= MAX_CLIENTS
            && let Some(oldest) = clients
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
        {
            clients.remove(&oldest);
        }
        clients.insert(addresses, (client.clone(), now));
        Ok(client)
    }

    /// The addresses of `url`'s host that a delivery may connect to.
    ///
    /// # Errors
    /// Why none may: no host, DNS failed or took longer than `timeout`, or every address is
    /// refused.
    async fn addresses(&self, url: &Url, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "the url has no port".to_owned())?;
        let found: Vec<SocketAddr> = match url.host() {
            None => return Err("the url has no host".into()),
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(Host::Domain(name)) => {
                tokio::time::timeout(timeout, tokio::net::lookup_host((name, port)))
                    .await
                    .map_err(|_| format!("could not resolve {name} within {timeout:?}"))?
                    .map_err(|e| format!("could not resolve {name}: {e}"))?
                    .take(MAX_ADDRESSES)
                    .collect()
            }
        };
        let allowed: Vec<SocketAddr> = found
            .iter()
            .copied()
            .filter(|a| self.allow_private || is_public_address(a.ip()))
            .collect();
        if allowed.is_empty() {
            let refused: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
            return Err(if refused.is_empty() {
                "the host resolved to no address".to_owned()
            } else {
                format!(
                    "refused: the host resolves to non-public addresses only ({})",
                    refused.join(", ")
                )
            });
        }
        Ok(allowed)
    }
}

/// The resolver of one attempt's client: every name resolves to the addresses checked before
/// (reqwest uses the URL's port).
struct Pinned(Vec<SocketAddr>);

impl Resolve for Pinned {
    fn resolve(&self, _name: Name) -> Resolving {
        let addrs: Addrs = Box::new(self.0.clone().into_iter());
        Box::pin(std::future::ready(Ok(addrs)))
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// An error and its causes on one line (reqwest's own message is only the outermost).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait]
impl WebhookSender for ReqwestWebhookSender {
    async fn send(
        &self,
        url: &Url,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        timeout: Duration,
    ) -> AttemptOutcome {
        let started = Instant::now();
        let failed = |message: String, started: Instant| AttemptOutcome::ConnectionError {
            message,
            latency_ms: millis(started),
        };
        let addresses = match self.addresses(url, timeout).await {
            Ok(found) => found,
            Err(message) => return failed(message, started),
        };
        let client = match self.client(addresses) {
            Ok(c) => c,
            Err(e) => return failed(format!("the HTTP client: {}", describe(&e)), started),
        };
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            match (HeaderName::try_from(k), HeaderValue::try_from(v)) {
                (Ok(k), Ok(v)) => {
                    map.insert(k, v);
                }
                _ => return failed("a header could not be encoded".into(), started),
            }
        }
        let started = Instant::now();
        match client
            .post(url.clone())
            .timeout(timeout)
            .headers(map)
            .body(body)
            .send()
            .await
        {
            Ok(res) => AttemptOutcome::Response {
                status: res.status().as_u16(),
                latency_ms: millis(started),
            },
            Err(e) if e.is_timeout() => AttemptOutcome::Timeout {
                latency_ms: millis(started),
            },
            Err(e) => failed(describe(&e), started),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_private_target_is_refused_before_any_connection() {
        let sender = ReqwestWebhookSender::new(false);
        for url in [
            "http://127.0.0.1:9/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest",
            "http://localhost:9/hook",
        ] {
            let outcome = sender
                .send(
                    &Url::parse(url).unwrap(),
                    vec![],
                    b"{}".to_vec(),
                    Duration::from_secs(1),
                )
                .await;
            match outcome {
                AttemptOutcome::ConnectionError { message, .. } => {
                    assert!(message.contains("refused"), "{url}: {message}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn an_allowed_private_target_gets_its_answer_and_redirects_are_not_followed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            socket
                .write_all(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
        });
        let outcome = ReqwestWebhookSender::new(true)
            .send(
                &Url::parse(&format!("http://localhost:{port}/hook")).unwrap(),
                vec![("webhook-id".into(), "msg_1".into())],
                b"{}".to_vec(),
                Duration::from_secs(5),
            )
            .await;
        assert!(
            matches!(outcome, AttemptOutcome::Response { status: 302, .. }),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn attempts_to_one_receiver_reuse_its_connection() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while socket.read(&mut buf).await.unwrap_or(0) > 0 {
                        let answer = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let sender = ReqwestWebhookSender::new(true);
        let url = Url::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap();
        for _ in 0..3 {
            let outcome = sender
                .send(&url, vec![], b"{}".to_vec(), Duration::from_secs(5))
                .await;
            assert!(
                matches!(outcome, AttemptOutcome::Response { status: 204, .. }),
                "{outcome:?}"
            );
        }
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "three attempts, one connection"
        );
        assert_eq!(sender.clients.lock().unwrap().len(), 1);
    }
}
