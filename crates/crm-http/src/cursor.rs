//! Opaque, signed list cursors. A cursor is `base64url(version | created_at µs | id | mac)`
//! where `mac` is the first 16 bytes of HMAC-SHA256 over the rest, so a cursor cannot be forged
//! or edited: anything else is a 400.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use crm_domain::CustomerId;
use crm_domain::customer::CustomerCursor;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::problem::ApiError;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const BODY_LEN: usize = 1 + 8 + 16;

/// Encodes and verifies cursors with a server secret.
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec(..)")
    }
}

impl CursorCodec {
    /// A codec keyed by `secret` (the server derives it from its JWT secret).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_LEN] {
        let mut out = [0u8; MAC_LEN];
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) {
            mac.update(b"crm-cursor");
            mac.update(body);
            out.copy_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
        }
        out
    }

    /// The opaque form of a position.
    pub fn encode(&self, c: &CustomerCursor) -> String {
        let mut bytes = Vec::with_capacity(BODY_LEN + MAC_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&c.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(c.id.0.as_bytes());
        let mac = self.mac(&bytes);
        bytes.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cursor back.
    ///
    /// # Errors
    /// A 400 naming `cursor` when it is malformed, edited or signed with another key.
    pub fn decode(&self, raw: &str) -> Result<CustomerCursor, ApiError> {
        let bad = || {
            ApiError::bad(
                "cursor",
                "the cursor is malformed or was not issued by this server",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        if bytes.len() != BODY_LEN + MAC_LEN || bytes[0] != VERSION {
            return Err(bad());
        }
        let (body, mac) = bytes.split_at(BODY_LEN);
        // Constant-time comparison through the hmac crate.
        let mut check = Hmac::<Sha256>::new_from_slice(&self.key).map_err(|_| bad())?;
        check.update(b"crm-cursor");
        check.update(body);
        check.verify_truncated_left(mac).map_err(|_| bad())?;
        let micros = i64::from_be_bytes(body[1..9].try_into().map_err(|_| bad())?);
        let id = Uuid::from_slice(&body[9..25]).map_err(|_| bad())?;
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        Ok(CustomerCursor {
            created_at,
            id: CustomerId(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> CustomerCursor {
        CustomerCursor {
            created_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: CustomerId(Uuid::now_v7()),
        }
    }

    #[test]
    fn a_cursor_round_trips() {
        let codec = CursorCodec::new(b"k");
        let c = cursor();
        assert_eq!(codec.decode(&codec.encode(&c)).unwrap(), c);
    }

    #[test]
    fn an_edited_or_foreign_cursor_is_refused() {
        let codec = CursorCodec::new(b"k");
        let mut bytes = URL_SAFE_NO_PAD.decode(codec.encode(&cursor())).unwrap();
        bytes[5] ^= 1;
        assert!(codec.decode(&URL_SAFE_NO_PAD.encode(&bytes)).is_err());
        assert!(
            CursorCodec::new(b"other")
                .decode(&codec.encode(&cursor()))
                .is_err()
        );
        assert!(codec.decode("not-a-cursor").is_err());
    }
}
