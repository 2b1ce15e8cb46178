//! Shared state: the store, the catalogue and the engine's current snapshot.
//!
//! The engine is published through an `ArcSwap`: a reader takes the current `Arc<Index>`
//! without locking and keeps a consistent view for as long as it holds it. Only the
//! follower (one task at a time, behind an async mutex) builds a new snapshot, by applying
//! the change log's entries in revision order, and swaps it in. A write handler waits for
//! the follower to reach its revision before it answers, so that every acknowledged write
//! is visible to the decisions that follow it.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{watch, Mutex};
use warden_engine::Index;
use warden_model::Catalogue;
use warden_store::{Backend, ChangeListener, Heard, Store, StoreError};

use crate::keycache::{may_change_keys, KeyCache};
use crate::throttle::Throttle;
use crate::ServerConfig;

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub store: Store,
    pub catalogue: Arc<Catalogue>,
    pub engine: Follower,
    pub config: ServerConfig,
    pub invitations: InvitationSettings,
    pub sign_ins: Throttle,
    pub key_failures: Throttle,
    /// Requests being handled, bounded by `ServerConfig::max_concurrent_requests`.
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

/// How invitations behave in this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvitationSettings {
    /// How long an invitation (and each resend of it) can be accepted.
    pub lifetime: time::Duration,
}

impl Default for InvitationSettings {
    fn default() -> Self {
        InvitationSettings {
            lifetime: time::Duration::days(7),
        }
    }
}

impl AppState {
    /// Loads the engine from the store and returns the state.
    pub async fn new(store: Store, config: ServerConfig) -> Result<Self, StoreError> {
        let catalogue = config.catalogue.clone();
        // Lifetimes are capped at a century, so that an expiry date can always be written.
        let century = time::Duration::days(36_525);
        let lifetime = time::Duration::try_from(config.invitation_lifetime)
            .unwrap_or(century)
            .min(century);
        let invitations = InvitationSettings { lifetime };
        let engine = Follower::load(&store, &catalogue).await?;
        Ok(AppState(Arc::new(Inner {
            store,
            catalogue,
            engine,
            invitations,
            sign_ins: Throttle::sign_ins(),
            key_failures: Throttle::new(config.failed_auth_limit, crate::throttle::KEY_WINDOW),
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_requests)),
            config,
        })))
    }

    /// The server's settings.
    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    /// Waits, at most the configured time, until the engine has applied `revision`.
    /// Returns the engine's snapshot once it has, or `None` when it has not in time.
    pub async fn at_least(&self, revision: u64) -> Result<Option<Arc<Index>>, StoreError> {
        let deadline = tokio::time::Instant::now() + self.0.config.consistency_wait;
        loop {
            let snapshot = self.engine();
            if snapshot.revision() >= revision {
                return Ok(Some(snapshot));
            }
            self.catch_up().await?;
            if self.engine().revision() >= revision {
                continue;
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.0.catalogue
    }

    /// Failed sign-ins, by account, for throttling.
    pub fn sign_ins(&self) -> &Throttle {
        &self.0.sign_ins
    }

    /// The slots of requests handled at once.
    pub fn in_flight(&self) -> &tokio::sync::Semaphore {
        &self.0.in_flight
    }

    /// Failed API key authentications, by client address, for throttling.
    pub fn key_failures(&self) -> &Throttle {
        &self.0.key_failures
    }

    /// How invitations behave.
    pub fn invitations(&self) -> InvitationSettings {
        self.0.invitations
    }

    /// Authenticated keys, kept current with the engine.
    pub(crate) fn keys(&self) -> &KeyCache {
        &self.0.engine.keys
    }

    /// The engine's current snapshot.
    pub fn engine(&self) -> Arc<Index> {
        self.0.engine.current.load_full()
    }

    /// Brings the engine up to the last committed revision.
    pub async fn catch_up(&self) -> Result<u64, StoreError> {
        self.0.engine.catch_up(&self.0.store).await
    }

    /// Catches up with the change log before a refusal is given, so that the refusal agrees
    /// with the database. Returns whether anything new was applied; an unreachable database
    /// is not an error here (the refusal stands, on what this instance knows).
    ///
    /// While the follower knows the database to be unreachable, it does not try: refusals
    /// are then answered at once, not after a connection attempt each.
    pub async fn caught_up_now(&self) -> bool {
        if !self
            .0
            .engine
            .database_up
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return false;
        }
        match self.catch_up().await {
            // Whether or not this call applied anything, the engine now holds every commit
            // made before it: deciding again is what the caller needs.
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "could not catch up before refusing");
                false
            }
        }
    }

    /// Waits until the engine has applied `revision`, catching up as needed (bounded, as
    /// for `min_revision`: a revision this store committed is normally applied at once).
    ///
    /// Called once a write is committed, so it never fails: the write is durable whatever
    /// happens here. Should the database become unreachable between the commit and the
    /// catch-up, the write is still acknowledged (with its revision, which `min_revision`
    /// can ask for) and this instance applies it as soon as the database is back.
    pub async fn reach(&self, revision: u64) {
        if self.0.engine.current.load().revision() >= revision {
            return;
        }
        match self.at_least(revision).await {
            Ok(Some(_)) => {}
            Ok(None) => tracing::warn!(
                revision,
                applied = self.engine().revision(),
                "the engine did not reach a committed revision in time"
            ),
            Err(e) => tracing::warn!(
                revision,
                applied = self.engine().revision(),
                error = %e,
                "a committed write could not be applied yet"
            ),
        }
    }

    /// [`AppState::reach`] for a write that revoked, deleted or changed API keys: should
    /// this instance not apply it in time, no key is trusted from memory any more, so that
    /// the acknowledged revocation holds here too until the write is applied.
    pub async fn reach_changing_keys(&self, revision: u64) {
        self.reach(revision).await;
        if self.engine().revision() < revision {
            self.keys().clear();
        }
    }

    /// Follows the change log in the background, for writes made by other processes
    /// (`warden bootstrap` on the same file, other instances). On PostgreSQL the follower
    /// is woken by each commit's notification; on both it also polls every `every`, which
    /// catches up whatever a lost notification did not announce.
    pub fn spawn_follower(&self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        let state = self.clone();
        tokio::spawn(async move {
            let mut listener = state.listen().await;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Logged on each change only, not on every failed round.
            let mut database_up = true;
            loop {
                let heard = tokio::select! {
                    _ = tick.tick() => None,
                    heard = heard(&mut listener, every) => heard,
                    _ = shutdown.changed() => return,
                };
                let behind = match heard {
                    Some(Heard::Committed(revision)) => revision > state.engine().revision(),
                    Some(Heard::Missed) | None => true,
                };
                if listener.is_none() && state.store().backend() == Backend::Postgres {
                    listener = state.listen().await;
                }
                if behind {
                    match state.catch_up().await {
                        Ok(revision) => {
                            if !database_up {
                                tracing::info!(
                                    revision,
                                    "the database is back; following the change log again"
                                );
                                database_up = true;
                            }
                        }
                        Err(e) if database_up => {
                            tracing::warn!(
                                error = %e,
                                revision = state.engine().revision(),
                                "could not follow the change log; decisions are answered at the last applied revision until the database is back"
                            );
                            database_up = false;
                        }
                        Err(e) => tracing::debug!(error = %e, "still cannot follow the change log"),
                    }
                }
            }
        });
    }

    /// A listener for other instances' commits, when the store has them.
    async fn listen(&self) -> Option<ChangeListener> {
        match self.store().listen().await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "could not listen for changes; polling only");
                None
            }
        }
    }
}

/// The next thing `listener` hears; never resolves without one. An error (the database is
/// unreachable) is logged and reported, after a pause, as possibly missed commits.
async fn heard(listener: &mut Option<ChangeListener>, pause: Duration) -> Option<Heard> {
    let Some(l) = listener else {
        return std::future::pending().await;
    };
    match l.next().await {
        Ok(heard) => Some(heard),
        Err(e) => {
            tracing::warn!(error = %e, "lost the change notifications; reconnecting");
            tokio::time::sleep(pause).await;
            None
        }
    }
}

/// The fewest dead slots (of entities deleted since the index was built) worth a rebuild.
const REBUILD_MIN_DEAD: u64 = 10_000;

/// Whether `index` holds more slots of deleted entities than of live ones (and enough of
/// them to be worth a rebuild): a server that creates and deletes without end (API keys,
/// sessions, projects) would otherwise grow its index without bound.
fn worth_rebuilding(index: &Index, min_dead: u64) -> bool {
    let dead = index.dead_slots();
    dead >= min_dead && dead.saturating_mul(2) > index.slots() as u64
}

/// Keeps the engine current.
pub(crate) struct Follower {
    pub current: ArcSwap<Index>,
    /// Emptied with every entry applied that may change a key, before the snapshot that
    /// holds it is published.
    pub keys: KeyCache,
    /// Whether the last attempt to read the change log reached the database.
    pub database_up: std::sync::atomic::AtomicBool,
    lock: Mutex<()>,
}

impl Follower {
    async fn load(store: &Store, catalogue: &Catalogue) -> Result<Self, StoreError> {
        let (revision, effects) = store.load().await?;
        let mut index = Index::new(catalogue.all_keys(), &catalogue.org.owner_role);
        index.apply(revision, &effects);
        tracing::info!(revision, effects = effects.len(), "engine loaded");
        Ok(Follower {
            current: ArcSwap::from_pointee(index),
            keys: KeyCache::default(),
            database_up: std::sync::atomic::AtomicBool::new(true),
            lock: Mutex::new(()),
        })
    }

    /// `index` rebuilt from the tables, which drops the slots of deleted entities; `index`
    /// itself when the tables cannot be read now (a later round tries again). The tables
    /// may be ahead of `index`: the rebuild is at their revision.
    async fn rebuilt(&self, store: &Store, index: Index) -> Index {
        let (revision, effects) = match store.load().await {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::warn!(error = %e, "could not rebuild the engine; keeping it as it is");
                return index;
            }
        };
        if revision < index.revision() {
            return index;
        }
        let mut fresh = index.empty_like();
        fresh.apply(revision, &effects);
        tracing::info!(
            revision,
            dropped = index.slots().saturating_sub(fresh.slots()),
            slots = fresh.slots(),
            "engine rebuilt from the tables"
        );
        // Entries between the two revisions were not looked at: keys they may have changed
        // are authenticated again.
        if revision > index.revision() {
            self.keys.clear();
        }
        fresh
    }

    async fn catch_up(&self, store: &Store) -> Result<u64, StoreError> {
        let result = self.catch_up_locked(store).await;
        let up = !matches!(&result, Err(e) if e.is_unavailable());
        self.database_up
            .store(up, std::sync::atomic::Ordering::Relaxed);
        result
    }

    async fn catch_up_locked(&self, store: &Store) -> Result<u64, StoreError> {
        let _only_one = self.lock.lock().await;
        loop {
            let base = self.current.load_full();
            let entries = store.changes_since(base.revision(), 1000).await?;
            if entries.is_empty() {
                return Ok(base.revision());
            }
            // Entries are applied in order and without a gap: a missing revision (a commit
            // not visible yet) ends this round, and a later one starts from there.
            let mut next = (*base).clone();
            let mut gap = None;
            let mut keys_changed = false;
            for entry in &entries {
                if entry.revision != next.revision() + 1 {
                    gap = Some(entry.revision);
                    break;
                }
                next.apply(entry.revision, &entry.effects);
                keys_changed |= may_change_keys(&entry.effects);
            }
            let reached = next.revision();
            if reached > base.revision() {
                if keys_changed {
                    self.keys.clear();
                }
                let next = if worth_rebuilding(&next, REBUILD_MIN_DEAD) {
                    self.rebuilt(store, next).await
                } else {
                    next
                };
                self.current.store(Arc::new(next));
            }
            if let Some(found) = gap {
                tracing::debug!(
                    applied = reached,
                    found,
                    "a gap in the change log; waiting for it to fill"
                );
                return Ok(reached);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use warden_model::{Description, Name, Principal, Scope};
    use warden_store::testing::TestDatabase;

    #[tokio::test]
    async fn an_index_full_of_deleted_entities_is_rebuilt_from_the_tables() {
        let db = TestDatabase::new().await.unwrap();
        let catalogue = Arc::new(Catalogue::default_llmops());
        let store = Store::open(db.url(), catalogue.clone()).await.unwrap();
        let boot = store
            .bootstrap(&Name::parse("org", "Acme").unwrap(), "ada@acme.test")
            .await
            .unwrap();
        let follower = Follower::load(&store, &catalogue).await.unwrap();
        let scope = Scope::org(boot.org_id);
        let (live_slots, owner) = {
            let index = follower.current.load_full();
            (index.slots(), Principal::ApiKey(boot.api_key_id))
        };
        // Policies made and deleted: each leaves a dead slot behind in the index.
        for i in 0..20 {
            let made = store
                .create_policy(
                    "test",
                    scope,
                    warden_store::NewPolicy {
                        name: Name::parse("name", &format!("p{i}")).unwrap(),
                        description: Description::parse("").unwrap(),
                        permissions: vec!["dataset:read".into()],
                    },
                )
                .await
                .unwrap();
            store
                .delete_policy("test", scope, made.value.id, false)
                .await
                .unwrap();
        }
        follower.catch_up(&store).await.unwrap();
        let grown = follower.current.load_full();
        assert_eq!(grown.dead_slots(), 20);
        assert_eq!(grown.slots(), live_slots + 20);
        assert!(worth_rebuilding(&grown, 10));
        assert!(!worth_rebuilding(&grown, REBUILD_MIN_DEAD));

        let rebuilt = follower.rebuilt(&store, (*grown).clone()).await;
        assert_eq!(rebuilt.revision(), grown.revision());
        assert_eq!((rebuilt.slots(), rebuilt.dead_slots()), (live_slots, 0));
        assert!(!worth_rebuilding(&rebuilt, 10));
        for permission in ["dataset:read", "member:update", "access:check"] {
            assert_eq!(
                rebuilt.check(owner, permission, scope),
                grown.check(owner, permission, scope),
                "{permission}"
            );
        }
        assert!(rebuilt.check(owner, "dataset:read", scope));
    }
}
