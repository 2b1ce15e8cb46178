//! Throttling of failed sign-ins, per account (the email, case-insensitively), in this
//! instance's memory: after [`MAX_FAILURES`] wrong passwords within [`WINDOW`], sign-ins to
//! that account are refused (429, with the wait) until the window since the first of them
//! has passed. Each attempt is counted when it starts, before the (slow) password check, so
//! that concurrent attempts cannot outrun the count; a successful sign-in clears it. Unknown
//! emails are counted like known ones, so that the answer tells nothing about which emails
//! exist. Each instance counts on its own: N instances allow N times the attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong passwords allowed per account within [`WINDOW`].
pub const MAX_FAILURES: u32 = 5;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Accounts remembered at most; past it, expired entries are dropped, then all.
const MAX_ACCOUNTS: usize = 100_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
}

/// The failed sign-ins seen by this instance.
#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

fn account(email: &str) -> String {
    email.trim().to_lowercase()
}

impl SignInThrottle {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        // Entries are plain values: a panic while the lock was held leaves nothing torn.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a sign-in attempt on the account before its password is checked, so that
    /// attempts sent at once are all counted; `Err(seconds to wait)` while the account is
    /// locked out (the attempt is then not counted). A success clears the count
    /// ([`SignInThrottle::succeeded`]), so only wrong passwords accumulate.
    pub fn attempt(&self, email: &str, now: Instant) -> Result<(), u64> {
        let mut map = self.map();
        let key = account(email);
        if let Some(f) = map.get_mut(&key) {
            if now >= f.first + WINDOW {
                *f = Failures {
                    count: 0,
                    first: now,
                };
            }
            if f.count >= MAX_FAILURES {
                return Err((f.first + WINDOW - now).as_secs().max(1));
            }
            f.count += 1;
            return Ok(());
        }
        if map.len() >= MAX_ACCOUNTS {
            // Expired entries go; live ones stay (so that flooding the table with other
            // emails cannot lift an account's lockout).
            map.retain(|_, f| now < f.first + WINDOW);
            if map.len() >= MAX_ACCOUNTS {
                tracing::warn!("the sign-in throttle is full; this attempt is not counted");
                return Ok(());
            }
        }
        map.insert(
            key,
            Failures {
                count: 1,
                first: now,
            },
        );
        Ok(())
    }

    /// Records a successful sign-in: the account starts again from zero.
    pub fn succeeded(&self, email: &str) {
        self.map().remove(&account(email));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_locked_after_too_many_failures_until_the_window_passes() {
        let t = SignInThrottle::default();
        let start = Instant::now();
        // Attempts are counted as they start: a burst of them at once is limited too.
        for _ in 0..MAX_FAILURES {
            assert!(t.attempt("Ada@Acme.test", start).is_ok());
        }
        let wait = t.attempt("ADA@acme.test ", start).unwrap_err();
        assert_eq!(wait, WINDOW.as_secs());
        assert!(
            t.attempt("bob@acme.test", start).is_ok(),
            "other accounts are not locked"
        );
        // After the window, counting starts again.
        assert!(t.attempt("ada@acme.test", start + WINDOW).is_ok());
    }

    #[test]
    fn a_success_clears_the_count() {
        let t = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            t.attempt("ada@acme.test", now).unwrap();
        }
        t.succeeded("ada@acme.test");
        for _ in 0..MAX_FAILURES {
            assert!(t.attempt("ada@acme.test", now).is_ok());
        }
    }
}
