//! Throttling of failed sign-ins, per account (the email, case-insensitively), in this
//! instance's memory: after [`MAX_FAILURES`] wrong passwords within [`WINDOW`], sign-ins to
//! that account are refused (429, with the wait) until the window since the first of them
//! has passed. A successful sign-in clears the account's count. Unknown emails are counted
//! like known ones, so that the answer tells nothing about which emails exist.

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

    /// `Err(seconds to wait)` while the account is locked out.
    pub fn check(&self, email: &str, now: Instant) -> Result<(), u64> {
        match self.map().get(&account(email)) {
            Some(f) if f.count >= MAX_FAILURES && now < f.first + WINDOW => {
                Err((f.first + WINDOW - now).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Records a wrong password (or an unknown email).
    pub fn failed(&self, email: &str, now: Instant) {
        let mut map = self.map();
        if map.len() >= MAX_ACCOUNTS {
            map.retain(|_, f| now < f.first + WINDOW);
            if map.len() >= MAX_ACCOUNTS {
                map.clear();
            }
        }
        let f = map.entry(account(email)).or_insert(Failures {
            count: 0,
            first: now,
        });
        if now >= f.first + WINDOW {
            *f = Failures {
                count: 0,
                first: now,
            };
        }
        f.count += 1;
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
        for _ in 0..MAX_FAILURES {
            assert!(t.check("Ada@Acme.test", start).is_ok());
            t.failed("ada@acme.test ", start);
        }
        let wait = t.check("ADA@acme.test", start).unwrap_err();
        assert_eq!(wait, WINDOW.as_secs());
        assert!(
            t.check("bob@acme.test", start).is_ok(),
            "other accounts are not locked"
        );
        assert!(t.check("ada@acme.test", start + WINDOW).is_ok());
        // After the window, counting starts again.
        t.failed("ada@acme.test", start + WINDOW);
        assert!(t.check("ada@acme.test", start + WINDOW).is_ok());
    }

    #[test]
    fn a_success_clears_the_count() {
        let t = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            t.failed("ada@acme.test", now);
        }
        t.succeeded("ada@acme.test");
        t.failed("ada@acme.test", now);
        assert!(t.check("ada@acme.test", now).is_ok());
    }
}
