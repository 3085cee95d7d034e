//! Ports every service uses: time and identifiers.

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

/// Drops sub-microsecond precision, which PostgreSQL does not keep, so a value read back
/// equals the one written.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The current time.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC, truncated to microseconds.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(Utc::now())
    }
}

/// New record ids.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A new UUID v7 (RFC 9562 §5.7): time-ordered, so newer records sort after older ones.
    fn new_id(&self) -> Uuid;
}

/// UUID v7 from the system clock and a random tail.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Randomness: secret bytes and retry jitter. Injected, so tests are deterministic.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Random: Send + Sync {
    /// Fills `buf` with bytes from a cryptographically secure generator (webhook secrets).
    fn fill(&self, buf: &mut [u8]);

    /// A number uniformly distributed in `[0, 1)` (jitter; need not be cryptographic).
    fn unit(&self) -> f64;
}

/// The operating system's generator, through `rand`'s thread-local CSPRNG (ChaCha, seeded and
/// reseeded from the OS).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&self, buf: &mut [u8]) {
        use rand::RngCore;
        rand::rng().fill_bytes(buf);
    }

    fn unit(&self) -> f64 {
        use rand::Rng;
        rand::rng().random::<f64>()
    }
}
