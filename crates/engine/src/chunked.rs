//! Persistent containers for the snapshot scheme: cloning is cheap (a vector of `Arc`s) and
//! a write copies only the chunk or shard it touches, so that a new snapshot costs
//! microseconds whatever the size of the model.

use std::hash::Hash;
use std::sync::Arc;

use rustc_hash::FxHashMap;

/// Entries per chunk: small enough that copying one is cheap, large enough that the
/// vector of chunks stays short.
const CHUNK: usize = 1024;

/// A growable array of `T` in copy-on-write chunks.
#[derive(Debug, Clone)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T: Clone> Chunked<T> {
    pub fn new() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn get(&self, i: u32) -> Option<&T> {
        let i = i as usize;
        self.chunks.get(i / CHUNK).and_then(|c| c.get(i % CHUNK))
    }

    /// A mutable reference, copying the chunk if a snapshot shares it.
    pub fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        let i = i as usize;
        self.chunks
            .get_mut(i / CHUNK)
            .and_then(|c| Arc::make_mut(c).get_mut(i % CHUNK))
    }

    /// Appends and returns the new index.
    pub fn push(&mut self, value: T) -> u32 {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        if let Some(last) = self.chunks.last_mut() {
            Arc::make_mut(last).push(value);
        }
        self.len += 1;
        (self.len - 1) as u32
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|c| c.iter())
    }
}

/// Keys that can pick their shard without hashing (ids are UUIDs with random low bits).
pub(crate) trait ShardKey: Hash + Eq + Copy {
    fn shard(&self) -> usize;
}

const SHARDS: usize = 64;

/// An append-only map from ids to dense indices, in copy-on-write shards.
#[derive(Debug, Clone)]
pub(crate) struct Interner<K> {
    shards: Vec<Arc<FxHashMap<K, u32>>>,
}

impl<K: ShardKey> Interner<K> {
    pub fn new() -> Self {
        Interner {
            shards: (0..SHARDS)
                .map(|_| Arc::new(FxHashMap::default()))
                .collect(),
        }
    }

    #[inline]
    pub fn get(&self, k: &K) -> Option<u32> {
        self.shards
            .get(k.shard() % SHARDS)
            .and_then(|s| s.get(k).copied())
    }

    /// Records `k → idx` (copying one shard if a snapshot shares it).
    pub fn insert(&mut self, k: K, idx: u32) {
        if let Some(s) = self.shards.get_mut(k.shard() % SHARDS) {
            Arc::make_mut(s).insert(k, idx);
        }
    }
}

fn low_byte(u: &uuid::Uuid) -> usize {
    u.as_bytes()[15] as usize
}

impl ShardKey for uuid::Uuid {
    fn shard(&self) -> usize {
        low_byte(self)
    }
}

impl ShardKey for warden_model::Principal {
    fn shard(&self) -> usize {
        low_byte(&self.uuid())
    }
}

impl ShardKey for warden_model::RoleId {
    fn shard(&self) -> usize {
        low_byte(&self.0)
    }
}

impl ShardKey for warden_model::PolicyId {
    fn shard(&self) -> usize {
        low_byte(&self.0)
    }
}
