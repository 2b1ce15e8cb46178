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
use warden_store::{Store, StoreError};

use crate::keycache::KeyCache;
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
            config,
            invitations,
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

    /// Waits until the engine has applied `revision`, catching up as needed.
    pub async fn reach(&self, revision: u64) -> Result<(), StoreError> {
        if self.0.engine.current.load().revision() >= revision {
            return Ok(());
        }
        self.catch_up().await.map(|_| ())
    }

    /// Follows the change log in the background, for writes made by other processes
    /// (`warden bootstrap` on the same file, other instances).
    pub fn spawn_follower(&self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = state.catch_up().await {
                            tracing::warn!(error = %e, "could not follow the change log");
                        }
                    }
                    _ = shutdown.changed() => return,
                }
            }
        });
    }
}

/// Keeps the engine current.
pub(crate) struct Follower {
    pub current: ArcSwap<Index>,
    /// Emptied with every entry applied, before the snapshot that holds it is published.
    pub keys: KeyCache,
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
            lock: Mutex::new(()),
        })
    }

    async fn catch_up(&self, store: &Store) -> Result<u64, StoreError> {
        let _only_one = self.lock.lock().await;
        loop {
            let base = self.current.load_full();
            let entries = store.changes_since(base.revision(), 1000).await?;
            if entries.is_empty() {
                return Ok(base.revision());
            }
            let mut next = (*base).clone();
            for entry in &entries {
                next.apply(entry.revision, &entry.effects);
            }
            // Any entry may have changed a key (every change to `api_keys` writes one).
            self.keys.clear();
            self.current.store(Arc::new(next));
        }
    }
}
