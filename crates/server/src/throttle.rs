//! Throttling of failed authentications, in this instance's memory: after `limit` failures
//! for one key within `window`, further attempts are refused (429, with the wait) until the
//! window since the first of them has passed. Two throttles use it:
//!
//! - sign-ins, per account (the email, case-insensitively): 5 wrong passwords in 15
//!   minutes. Each attempt is counted when it starts, before the (slow) password check, so
//!   that concurrent attempts cannot outrun the count; a successful sign-in clears it.
//!   Unknown emails are counted like known ones, so that the answer tells nothing about
//!   which emails exist.
//! - API keys, per client address: a client that keeps sending keys that are unknown,
//!   invalidated or expired is refused for a while, which keeps it from making the
//!   database look secrets up at will. Only failures count, and a success clears nothing,
//!   so a client holding one good key cannot reset its count between guesses.
//!
//! Each instance counts on its own: N instances allow N times the attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong passwords allowed per account within [`SIGN_IN_WINDOW`].
pub const SIGN_IN_FAILURES: u32 = 5;
/// How long wrong passwords are remembered.
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long failed API key authentications are remembered.
pub const KEY_WINDOW: Duration = Duration::from_secs(60);
/// Keys (accounts, addresses) remembered at most; past it, expired entries are dropped.
const CAPACITY: usize = 100_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
}

/// Failed attempts seen by this instance, by key.
pub struct Throttle {
    failures: Mutex<HashMap<String, Failures>>,
    limit: u32,
    window: Duration,
}

impl Throttle {
    /// At most `limit` failures per key within `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Throttle {
            failures: Mutex::new(HashMap::new()),
            limit,
            window,
        }
    }

    /// The throttle of sign-ins: 5 wrong passwords per account in 15 minutes.
    pub fn sign_ins() -> Self {
        Self::new(SIGN_IN_FAILURES, SIGN_IN_WINDOW)
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        // Entries are plain values: a panic while the lock was held leaves nothing torn.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live entry of `key`: an expired one starts again from zero.
    fn live<'a>(
        &self,
        map: &'a mut HashMap<String, Failures>,
        key: &str,
        now: Instant,
    ) -> Option<&'a mut Failures> {
        let f = map.get_mut(key)?;
        if now >= f.first + self.window {
            *f = Failures {
                count: 0,
                first: now,
            };
        }
        Some(f)
    }

    /// `Err(seconds to wait)` while `key` is locked out; counts nothing.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut map = self.map();
        match self.live(&mut map, key, now) {
            Some(f) if f.count >= self.limit => Err((f.first + self.window - now).as_secs().max(1)),
            _ => Ok(()),
        }
    }

    /// Counts a failure of `key`.
    pub fn failed(&self, key: &str, now: Instant) {
        let mut map = self.map();
        if let Some(f) = self.live(&mut map, key, now) {
            f.count = f.count.saturating_add(1);
            return;
        }
        if map.len() >= CAPACITY {
            // Expired entries go; live ones stay (so that flooding the table with other
            // keys cannot lift a lockout).
            let window = self.window;
            map.retain(|_, f| now < f.first + window);
            if map.len() >= CAPACITY {
                tracing::warn!("a throttle is full; this failure is not counted");
                return;
            }
        }
        map.insert(
            key.to_owned(),
            Failures {
                count: 1,
                first: now,
            },
        );
    }

    /// Counts an attempt on `key` before it is checked, so that attempts sent at once are
    /// all counted; `Err(seconds to wait)` while `key` is locked out (the attempt is then
    /// not counted). A success clears the count ([`Throttle::succeeded`]), so only failures
    /// accumulate.
    pub fn attempt(&self, key: &str, now: Instant) -> Result<(), u64> {
        self.check(key, now)?;
        self.failed(key, now);
        Ok(())
    }

    /// Records a success: `key` starts again from zero.
    pub fn succeeded(&self, key: &str) {
        self.map().remove(key);
    }
}

/// The key of an account in the sign-in throttle.
pub fn account(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_locked_after_too_many_failures_until_the_window_passes() {
        let t = Throttle::sign_ins();
        let start = Instant::now();
        // Attempts are counted as they start: a burst of them at once is limited too.
        for _ in 0..SIGN_IN_FAILURES {
            assert!(t.attempt(&account("Ada@Acme.test"), start).is_ok());
        }
        let wait = t.attempt(&account("ADA@acme.test "), start).unwrap_err();
        assert_eq!(wait, SIGN_IN_WINDOW.as_secs());
        assert!(
            t.attempt(&account("bob@acme.test"), start).is_ok(),
            "other accounts are not locked"
        );
        // After the window, counting starts again.
        assert!(t
            .attempt(&account("ada@acme.test"), start + SIGN_IN_WINDOW)
            .is_ok());
    }

    #[test]
    fn a_success_clears_the_count() {
        let t = Throttle::sign_ins();
        let now = Instant::now();
        for _ in 0..SIGN_IN_FAILURES - 1 {
            t.attempt("ada@acme.test", now).unwrap();
        }
        t.succeeded("ada@acme.test");
        for _ in 0..SIGN_IN_FAILURES {
            assert!(t.attempt("ada@acme.test", now).is_ok());
        }
    }

    #[test]
    fn only_failures_count_and_checking_counts_nothing() {
        let t = Throttle::new(3, KEY_WINDOW);
        let now = Instant::now();
        for _ in 0..10 {
            assert!(t.check("127.0.0.1", now).is_ok());
        }
        for _ in 0..3 {
            t.failed("127.0.0.1", now);
        }
        assert_eq!(t.check("127.0.0.1", now), Err(KEY_WINDOW.as_secs()));
        assert!(
            t.check("10.0.0.1", now).is_ok(),
            "other addresses are not locked"
        );
        let later = now + Duration::from_secs(20);
        assert_eq!(t.check("127.0.0.1", later), Err(40));
        assert!(t.check("127.0.0.1", now + KEY_WINDOW).is_ok());
    }
}
