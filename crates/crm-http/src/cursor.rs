//! Opaque, signed list cursors. A cursor is `base64url(version | kind | time µs | id | mac)`
//! where `kind` names the list it belongs to and `mac` is the first 16 bytes of HMAC-SHA256
//! over the rest, so a cursor cannot be forged, edited or used on another list: anything else
//! is a 400.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::problem::ApiError;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const BODY_LEN: usize = 2 + 8 + 16;

/// The list a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CursorKind {
    /// The customer list (`created_at`, id).
    Customers = 1,
    /// Order lists (`placed_at`, id).
    Orders = 2,
    /// A customer's consent history (`at`, id).
    ConsentHistory = 3,
    /// Interaction lists (`occurred_at`, id; numbered after migration 18).
    Interactions = 18,
    /// Follow-up lists, the work queue (`due_at`, id).
    FollowUps = 19,
    /// A customer's notes (pinned, `created_at`, id). Kinds 190..=199 are the notes'.
    CustomerNotes = 190,
    /// The tenant-wide note list (`created_at`, id).
    Notes = 191,
    /// A note's revisions (event id).
    NoteHistory = 192,
    /// The event log's lists (timeline, history, audit; the list is in the payload).
    Events = 17,
    /// A customer's documents (`created_at`, id).
    Documents = 20,
    /// The tenant's expiring documents (`expires_at`, id).
    ExpiringDocuments = 21,
    /// The tenant's webhook subscriptions (id).
    Webhooks = 22,
    /// A webhook's deliveries (id, newest first).
    WebhookDeliveries = 23,
}

/// Encodes and verifies cursors with a server secret.
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

/// The 400 of a `cursor` parameter that does not decode into the list's position.
pub(crate) fn bad_cursor() -> ApiError {
    ApiError::bad(
        "cursor",
        "the cursor is malformed or was not issued by this server for this list",
    )
}

/// Reads `limit` (default [`crm_domain::customer::DEFAULT_PAGE_SIZE`]) and `cursor` (a signed JSON payload of `kind`, refused when
/// issued for another list) of a paged route; any other parameter is a 400 naming it.
///
/// # Errors
/// A 400 naming `limit`, `cursor` or the unknown parameter.
pub(crate) fn page_query(
    req: &actix_web::HttpRequest,
    state: &crate::AppState,
    kind: CursorKind,
) -> Result<(u32, Option<serde_json::Value>), ApiError> {
    let mut limit = crm_domain::customer::DEFAULT_PAGE_SIZE;
    let mut cursor = None;
    crate::query::each_param(req.query_string(), &["limit", "cursor"], |name, value| {
        match name {
            "limit" => limit = crate::query::limit(value)?,
            _ => cursor = Some(state.cursors.decode_json(kind, value)?),
        }
        Ok(())
    })?;
    Ok((limit, cursor))
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

    /// The opaque form of a position (`at`, `id`) in a list of `kind`.
    pub fn encode_position(&self, kind: CursorKind, at: DateTime<Utc>, id: Uuid) -> String {
        let mut bytes = Vec::with_capacity(BODY_LEN + MAC_LEN);
        bytes.push(VERSION);
        bytes.push(kind as u8);
        bytes.extend_from_slice(&at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(id.as_bytes());
        let mac = self.mac(&bytes);
        bytes.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a position of a list of `kind` back.
    ///
    /// # Errors
    /// A 400 naming `cursor` when it is malformed, edited, signed with another key or issued
    /// for another list.
    pub fn decode_position(
        &self,
        kind: CursorKind,
        raw: &str,
    ) -> Result<(DateTime<Utc>, Uuid), ApiError> {
        let bad = || {
            ApiError::bad(
                "cursor",
                "the cursor is malformed or was not issued by this server for this list",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        if bytes.len() != BODY_LEN + MAC_LEN || bytes[0] != VERSION || bytes[1] != kind as u8 {
            return Err(bad());
        }
        let (body, mac) = bytes.split_at(BODY_LEN);
        // Constant-time comparison through the hmac crate.
        let mut check = Hmac::<Sha256>::new_from_slice(&self.key).map_err(|_| bad())?;
        check.update(b"crm-cursor");
        check.update(body);
        check.verify_truncated_left(mac).map_err(|_| bad())?;
        let micros = i64::from_be_bytes(body[2..10].try_into().map_err(|_| bad())?);
        let id = Uuid::from_slice(&body[10..26]).map_err(|_| bad())?;
        let at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        Ok((at, id))
    }

    /// The opaque form of any JSON payload for a list of `kind` (version, kind, payload, MAC).
    pub fn encode_json(&self, kind: CursorKind, payload: &serde_json::Value) -> String {
        let mut bytes = vec![VERSION, kind as u8];
        bytes.extend_from_slice(payload.to_string().as_bytes());
        let mac = self.mac(&bytes);
        bytes.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a JSON payload cursor back.
    ///
    /// # Errors
    /// A 400 naming `cursor` when it is malformed, edited, foreign or for another list.
    pub fn decode_json(&self, kind: CursorKind, raw: &str) -> Result<serde_json::Value, ApiError> {
        let bad = || {
            ApiError::bad(
                "cursor",
                "the cursor is malformed or was not issued by this server for this list",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        if bytes.len() < 2 + MAC_LEN || bytes[0] != VERSION || bytes[1] != kind as u8 {
            return Err(bad());
        }
        let (body, mac) = bytes.split_at(bytes.len() - MAC_LEN);
        let mut check = Hmac::<Sha256>::new_from_slice(&self.key).map_err(|_| bad())?;
        check.update(b"crm-cursor");
        check.update(body);
        check.verify_truncated_left(mac).map_err(|_| bad())?;
        serde_json::from_slice(&body[2..]).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_round_trips() {
        let codec = CursorCodec::new(b"k");
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        let raw = codec.encode_position(CursorKind::Orders, at, id);
        assert_eq!(
            codec.decode_position(CursorKind::Orders, &raw).unwrap(),
            (at, id)
        );
    }

    #[test]
    fn an_edited_foreign_or_misplaced_cursor_is_refused() {
        let codec = CursorCodec::new(b"k");
        let raw = codec.encode_json(
            CursorKind::Customers,
            &serde_json::json!({"s": "name", "v": ["a"]}),
        );
        assert!(codec.decode_json(CursorKind::Customers, &raw).is_ok());
        let mut bytes = URL_SAFE_NO_PAD.decode(&raw).unwrap();
        bytes[4] ^= 1;
        assert!(
            codec
                .decode_json(CursorKind::Customers, &URL_SAFE_NO_PAD.encode(&bytes))
                .is_err()
        );
        assert!(
            CursorCodec::new(b"other")
                .decode_json(CursorKind::Customers, &raw)
                .is_err()
        );
        assert!(codec.decode_json(CursorKind::Orders, &raw).is_err());
        assert!(
            codec
                .decode_json(CursorKind::Customers, "not-a-cursor")
                .is_err()
        );
    }
}
