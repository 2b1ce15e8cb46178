//! Authenticated API keys kept in memory, so that a request learns who is calling without a
//! database round trip (and, while the database is unreachable, still learns it for every
//! key used since the last change to keys).
//!
//! Entries are keyed by the secret's stored hash (never the secret itself) and hold what
//! authentication read from the `api_keys` table. Every change to that table is a write that
//! appends a change-log entry, and the follower empties the cache whenever it applies an
//! entry that may have changed a key row ([`may_change_keys`]), before it publishes the new
//! engine snapshot: once a write that invalidates, renames or deletes a key is acknowledged,
//! no request sees the key as it was. Entries that only change policies, roles, teams or
//! grants leave the cache alone. A lookup that raced with such a change (read the row
//! before the change, finished after the cache was emptied) is not kept: insertion is
//! refused unless the cache's generation is the one seen before the read. Unknown secrets
//! are never cached, so guessing cannot grow the cache; its size is bounded all the same.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use warden_model::Effect;
use warden_store::ApiKeyAuth;

/// Whether a change-log entry with these effects may have changed a row of `api_keys`, and
/// so must empty the cache. Errs on the safe side: only effects that cannot touch a key
/// (policies, roles, teams, a grant given, a project created or changed) leave it alone, and
/// an entry with no effects at all (a write the engine has nothing to learn from) empties it
/// too. A key goes away with `DeleteApiKey`, with its project (`DeleteProject`), or, for a
/// personal key, with its user's last membership (`DeleteMembership`).
pub(crate) fn may_change_keys(effects: &[Effect]) -> bool {
    effects.is_empty()
        || effects.iter().any(|e| {
            !matches!(
                e,
                Effect::PutOrg { .. }
                    | Effect::PutProject { .. }
                    | Effect::PutPolicy { .. }
                    | Effect::DeletePolicy { .. }
                    | Effect::PutRole { .. }
                    | Effect::DeleteRole { .. }
                    | Effect::PutMembership { .. }
                    | Effect::PutTeam { .. }
                    | Effect::DeleteTeam { .. }
                    | Effect::PutTeamUser { .. }
                    | Effect::DeleteTeamUser { .. }
            )
        })
}

/// The most keys held at once; past it the cache starts again empty.
const MAX_KEYS: usize = 100_000;

/// A key as authentication knows it.
#[derive(Debug)]
pub(crate) struct CachedKey {
    pub key: ApiKeyAuth,
    /// `expires_at`, parsed once.
    pub expires: Option<time::OffsetDateTime>,
    /// When this server last recorded the key's use (Unix seconds).
    pub touched: AtomicI64,
}

#[derive(Default)]
struct Entries {
    generation: u64,
    keys: HashMap<String, Arc<CachedKey>>,
}

/// The cache. Cheap to share behind the server state.
#[derive(Default)]
pub(crate) struct KeyCache {
    inner: RwLock<Entries>,
}

impl KeyCache {
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        // A panic while the lock was held cannot leave the map half-updated in a way that
        // matters (entries are whole `Arc`s), so a poisoned lock is still usable.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The key whose secret hashes to `hash`, if cached.
    pub fn get(&self, hash: &str) -> Option<Arc<CachedKey>> {
        self.read().keys.get(hash).cloned()
    }

    /// The generation to pass to [`KeyCache::insert`]: read it before reading the row.
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    /// Keeps `key` unless the cache was emptied since `generation` was read.
    pub fn insert(&self, hash: String, generation: u64, key: Arc<CachedKey>) {
        let mut entries = self.write();
        if entries.generation != generation {
            return;
        }
        if entries.keys.len() >= MAX_KEYS {
            entries.keys.clear();
        }
        entries.keys.insert(hash, key);
    }

    /// Forgets every key (a change-log entry was applied).
    pub fn clear(&self) {
        let mut entries = self.write();
        entries.generation += 1;
        entries.keys.clear();
    }

    /// How many keys are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.read().keys.len()
    }
}

fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

impl CachedKey {
    /// What authentication keeps of a row of `api_keys`.
    pub fn from_row(key: ApiKeyAuth) -> Self {
        let expires = key.expires_at.as_deref().and_then(parse_time);
        let touched = key
            .last_used_at
            .as_deref()
            .and_then(parse_time)
            .map_or(0, |t| t.unix_timestamp());
        CachedKey::new(key, expires, touched)
    }

    pub fn new(key: ApiKeyAuth, expires: Option<time::OffsetDateTime>, touched: i64) -> Self {
        CachedKey {
            key,
            expires,
            touched: AtomicI64::new(touched),
        }
    }

    /// Whether the key's use should be recorded now (at most once a minute per key and
    /// server); claims the recording when it should.
    pub fn claim_touch(&self, now: i64) -> bool {
        let last = self.touched.load(Ordering::Relaxed);
        now - last > 60
            && self
                .touched
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use warden_model::{ApiKeyId, OrgId};

    fn key() -> Arc<CachedKey> {
        Arc::new(CachedKey::new(
            ApiKeyAuth {
                id: ApiKeyId(uuid::Uuid::now_v7()),
                org_id: OrgId(uuid::Uuid::now_v7()),
                project_id: None,
                user_id: None,
                name: "k".into(),
                valid: true,
                expires_at: None,
                last_used_at: None,
            },
            None,
            0,
        ))
    }

    #[test]
    fn a_lookup_that_raced_with_a_change_is_not_kept() {
        let cache = KeyCache::default();
        let seen = cache.generation();
        cache.clear();
        cache.insert("h".into(), seen, key());
        assert!(cache.get("h").is_none());
        cache.insert("h".into(), cache.generation(), key());
        assert!(cache.get("h").is_some());
        cache.clear();
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn size_is_bounded() {
        let cache = KeyCache::default();
        let generation = cache.generation();
        for i in 0..MAX_KEYS + 5 {
            cache.insert(i.to_string(), generation, key());
        }
        assert_eq!(cache.len(), 5);
    }

    #[test]
    fn only_entries_that_may_change_a_key_empty_the_cache() {
        use warden_model::{PolicyId, Principal, ProjectId, RoleId, Scope, UserId};
        let org = OrgId(uuid::Uuid::now_v7());
        let scope = Scope::org(org);
        let key_id = ApiKeyId(uuid::Uuid::now_v7());
        let policy = Effect::PutPolicy {
            policy_id: PolicyId(uuid::Uuid::now_v7()),
            scope,
            permissions: vec![],
        };
        let grant = Effect::PutMembership {
            scope,
            principal: Principal::ApiKey(key_id),
            role_id: RoleId(uuid::Uuid::now_v7()),
        };
        assert!(!may_change_keys(&[policy.clone(), grant]));
        for changes in [
            Effect::PutApiKey {
                api_key_id: key_id,
                scope,
                valid: false,
            },
            Effect::DeleteApiKey { api_key_id: key_id },
            Effect::DeleteProject {
                project_id: ProjectId(uuid::Uuid::now_v7()),
            },
            Effect::DeleteMembership {
                scope,
                principal: Principal::User(UserId(uuid::Uuid::now_v7())),
            },
        ] {
            assert!(
                may_change_keys(&[policy.clone(), changes.clone()]),
                "{changes:?}"
            );
        }
        assert!(
            may_change_keys(&[]),
            "an entry without effects is not trusted"
        );
    }

    #[test]
    fn use_is_claimed_once_a_minute() {
        let k = key();
        assert!(k.claim_touch(1_000));
        assert!(!k.claim_touch(1_030));
        assert!(k.claim_touch(1_061));
    }
}
