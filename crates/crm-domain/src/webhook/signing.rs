//! Standard Webhooks signing: secrets, the signature a delivery carries and the check a
//! receiver runs.
//!
//! Source: the Standard Webhooks specification
//! (<https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>)
//! and its reference libraries. A delivery carries three headers:
//! - `webhook-id`: the message id, the same on every attempt of one delivery (receivers
//!   deduplicate on it);
//! - `webhook-timestamp`: the attempt's time, integer seconds since the Unix epoch;
//! - `webhook-signature`: space-separated `v1,<base64>` signatures, where `<base64>` is the
//!   standard-alphabet, padded base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed by
//!   the secret's bytes (the base64 part of `whsec_<base64>`, decoded).
//!
//! A receiver recomputes the signature over the raw body bytes it received, compares it in
//! constant time with each `v1` signature of the header, and refuses a timestamp further than
//! its tolerance (5 minutes is usual) from its own clock, which stops replays.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ports::Random;

/// The prefix of a secret's string form.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes of a generated secret (the specification asks for 24..=64).
pub const SECRET_BYTES: usize = 32;
/// The message id header.
pub const HEADER_ID: &str = "webhook-id";
/// The timestamp header (seconds since the Unix epoch).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The signature header (`v1,<base64>`, space-separated when several).
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A signing secret: `whsec_` + base64 of its key bytes. Its `Debug` and `Display` never show
/// the key (`whsec_…`); [`WebhookSecret::expose`] is the one way to read it, for storage and
/// for the one response that shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

/// Why a secret's string form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No `whsec_` prefix, or the rest is not base64.
    #[error("a webhook secret is `whsec_` followed by base64")]
    Malformed,
    /// The key has fewer than 24 or more than 64 bytes.
    #[error("a webhook secret's key has 24 to 64 bytes")]
    BadLength,
}

impl WebhookSecret {
    /// A new secret of [`SECRET_BYTES`] random bytes from `random` (a CSPRNG in production).
    pub fn generate(random: &dyn Random) -> Self {
        let mut key = vec![0u8; SECRET_BYTES];
        random.fill(&mut key);
        Self { key }
    }

    /// A secret from its string form (`whsec_<base64>`, as stored).
    ///
    /// # Errors
    /// [`SecretError`].
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let b64 = s
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Malformed)?;
        let key = STANDARD.decode(b64).map_err(|_| SecretError::Malformed)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::BadLength);
        }
        Ok(Self { key })
    }

    /// The string form, `whsec_<base64>`: for storage and for the one response that shows it.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// The HMAC key bytes.
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_…)")
    }
}

impl fmt::Display for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("whsec_…")
    }
}

fn mac(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: new_from_slice never fails (the fallback, an all-zero
    // key, is unreachable).
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.key())
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value of a message: `v1,` + base64 of HMAC-SHA256 over
/// `{msg_id}.{timestamp}.{body}` keyed by the secret; `timestamp` in seconds since the Unix
/// epoch, `body` the exact bytes sent.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, msg_id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// The three Standard Webhooks headers of one attempt, as (name, value) pairs.
pub fn signed_headers(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    vec![
        (HEADER_ID.to_owned(), msg_id.to_owned()),
        (HEADER_TIMESTAMP.to_owned(), timestamp.to_string()),
        (
            HEADER_SIGNATURE.to_owned(),
            sign(secret, msg_id, timestamp, body),
        ),
    ]
}

/// Why a receiver refuses a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header is absent (its name).
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not an integer.
    #[error("the webhook-timestamp header is not an integer")]
    InvalidTimestamp,
    /// The timestamp is further than the tolerance from now (seconds off).
    #[error("the message timestamp is {0} s away from now, beyond the tolerance")]
    TimestampOutOfTolerance(i64),
    /// No `v1` signature of the header matches.
    #[error("no signature matches")]
    NoMatchingSignature,
}

/// The check a receiver runs on a delivery: `headers` as received (names compared without
/// case), `body` the raw bytes, `now` the receiver's clock (seconds since the Unix epoch),
/// `tolerance_secs` how far the message's timestamp may be from it, either way.
///
/// # Errors
/// [`VerifyError`]: a missing header, a malformed or too distant timestamp, or no matching
/// `v1` signature (other versions in the header are ignored).
pub fn verify(
    secret: &WebhookSecret,
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let header = |name: &'static str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .ok_or(VerifyError::MissingHeader(name))
    };
    let id = header(HEADER_ID)?;
    let timestamp: i64 = header(HEADER_TIMESTAMP)?
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    let signatures = header(HEADER_SIGNATURE)?;
    let off = now.saturating_sub(timestamp);
    if off.saturating_abs() > tolerance_secs {
        return Err(VerifyError::TimestampOutOfTolerance(off));
    }
    for candidate in signatures.split(' ') {
        let Some(b64) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = STANDARD.decode(b64) else {
            continue;
        };
        // verify_slice compares in constant time.
        if mac(secret, id, timestamp, body).verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatchingSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' tests.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    struct Counting;
    impl Random for Counting {
        fn fill(&self, buf: &mut [u8]) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = i as u8;
            }
        }
        fn unit(&self) -> f64 {
            0.5
        }
    }

    #[test]
    fn the_reference_libraries_example_signs_to_its_published_signature() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(
            sign(&secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        let headers = vec![
            ("Webhook-Id".to_owned(), SPEC_ID.to_owned()),
            ("webhook-timestamp".to_owned(), SPEC_TIMESTAMP.to_string()),
            (
                "webhook-signature".to_owned(),
                format!("v2,abc v1,bm9wZQ== {SPEC_SIGNATURE}"),
            ),
        ];
        verify(&secret, &headers, SPEC_BODY, SPEC_TIMESTAMP + 10, 300).unwrap();
    }

    #[test]
    fn a_generated_secret_is_whsec_and_32_bytes_and_never_printed() {
        let secret = WebhookSecret::generate(&Counting);
        let shown = secret.expose();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(secret.key().len(), 32);
        assert_eq!(WebhookSecret::parse(&shown).unwrap(), secret);
        let b64 = shown.trim_start_matches("whsec_");
        assert!(!format!("{secret:?}").contains(b64));
        assert!(!format!("{secret}").contains(b64));
        assert_eq!(
            WebhookSecret::parse("whsec_AAAA"),
            Err(SecretError::BadLength)
        );
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Malformed)
        );
    }

    #[test]
    fn signed_headers_round_trip_through_verify() {
        let secret = WebhookSecret::generate(&Counting);
        let body = br#"{"type":"customer.created"}"#;
        let headers = signed_headers(&secret, "msg_1", 1_700_000_000, body);
        assert_eq!(verify(&secret, &headers, body, 1_700_000_000, 300), Ok(()));
    }

    #[test]
    fn tampering_with_body_id_timestamp_or_secret_fails() {
        let secret = WebhookSecret::generate(&Counting);
        let body = br#"{"a":1}"#;
        let headers = signed_headers(&secret, "msg_1", 1_700_000_000, body);
        let now = 1_700_000_000;
        assert_eq!(
            verify(&secret, &headers, br#"{"a":2}"#, now, 300),
            Err(VerifyError::NoMatchingSignature)
        );
        let mut other_id = headers.clone();
        other_id[0].1 = "msg_2".into();
        assert_eq!(
            verify(&secret, &other_id, body, now, 300),
            Err(VerifyError::NoMatchingSignature)
        );
        let mut other_time = headers.clone();
        other_time[1].1 = (now + 1).to_string();
        assert_eq!(
            verify(&secret, &other_time, body, now, 300),
            Err(VerifyError::NoMatchingSignature)
        );
        let other_secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(
            verify(&other_secret, &headers, body, now, 300),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn stale_future_and_missing_headers_are_refused() {
        let secret = WebhookSecret::generate(&Counting);
        let headers = signed_headers(&secret, "msg_1", 1_000, b"{}");
        assert_eq!(
            verify(&secret, &headers, b"{}", 1_301, 300),
            Err(VerifyError::TimestampOutOfTolerance(301))
        );
        assert_eq!(
            verify(&secret, &headers, b"{}", 699, 300),
            Err(VerifyError::TimestampOutOfTolerance(-301))
        );
        assert_eq!(
            verify(&secret, &headers[1..], b"{}", 1_000, 300),
            Err(VerifyError::MissingHeader(HEADER_ID))
        );
        let mut bad = headers.clone();
        bad[1].1 = "12.5".into();
        assert_eq!(
            verify(&secret, &bad, b"{}", 1_000, 300),
            Err(VerifyError::InvalidTimestamp)
        );
    }
}
