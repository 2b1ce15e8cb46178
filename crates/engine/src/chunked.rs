//! Persistent containers for the snapshot scheme: cloning is cheap (a vector of `Arc`s) and
//! a write copies only the chunk or shard it touches, so that a new snapshot costs
//! microseconds whatever the size of the model.

use std::sync::Arc;

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

/// Rows of `stride` words each, held densely in copy-on-write chunks of `CHUNK` rows: the
/// roles' check data (flags and effective bits) without a pointer per row, so that the few
/// thousand roles of a model take a few cache lines each and stay in cache.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    stride: usize,
    chunks: Vec<Arc<Vec<u64>>>,
    len: usize,
}

impl Rows {
    /// An empty table of rows of `stride` words (at least one).
    pub fn new(stride: usize) -> Self {
        Rows {
            stride: stride.max(1),
            chunks: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    pub fn get(&self, i: u32) -> Option<&[u64]> {
        let i = i as usize;
        let at = (i % CHUNK) * self.stride;
        self.chunks
            .get(i / CHUNK)
            .and_then(|c| c.get(at..at + self.stride))
    }

    /// A mutable row, copying the chunk if a snapshot shares it.
    pub fn get_mut(&mut self, i: u32) -> Option<&mut [u64]> {
        let i = i as usize;
        let at = (i % CHUNK) * self.stride;
        self.chunks
            .get_mut(i / CHUNK)
            .and_then(|c| Arc::make_mut(c).get_mut(at..at + self.stride))
    }

    /// Appends a row of zeros and returns its index.
    pub fn push(&mut self) -> u32 {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks
                .push(Arc::new(Vec::with_capacity(CHUNK * self.stride)));
        }
        if let Some(last) = self.chunks.last_mut() {
            let c = Arc::make_mut(last);
            c.resize(c.len() + self.stride, 0);
        }
        self.len += 1;
        (self.len - 1) as u32
    }
}

/// Keys that can pick their shard without hashing (ids are UUIDs with random low bits).
pub(crate) trait ShardKey: Eq + Copy {
    fn shard(&self) -> usize;
    /// The hash that places the key in its shard's table.
    fn hash64(&self) -> u64;
}

const SHARDS: usize = 64;

/// An append-only map from ids to dense indices, in copy-on-write shards.
#[derive(Debug, Clone)]
pub(crate) struct Interner<K> {
    shards: Vec<Arc<Table<K>>>,
}

impl<K: ShardKey> Interner<K> {
    pub fn new() -> Self {
        Interner {
            shards: (0..SHARDS).map(|_| Arc::new(Table::new())).collect(),
        }
    }

    #[inline]
    pub fn get(&self, k: &K) -> Option<u32> {
        self.shards.get(k.shard() % SHARDS).and_then(|s| s.get(k))
    }

    /// Records `k → idx` (copying one shard if a snapshot shares it).
    pub fn insert(&mut self, k: K, idx: u32) {
        if let Some(s) = self.shards.get_mut(k.shard() % SHARDS) {
            Arc::make_mut(s).insert(k, idx);
        }
    }
}

/// One shard of an [`Interner`]: open addressing with linear probing, keys and values side
/// by side and nothing ever removed. A lookup reads the slot its hash points at (and
/// usually nothing more), where a `HashMap` reads its control bytes and then the slot: one
/// dependent cache miss fewer on every check. At most half full, so probes stay short.
#[derive(Debug, Clone)]
struct Table<K> {
    /// A power of two in length (or empty).
    slots: Vec<Option<(K, u32)>>,
    len: usize,
}

impl<K: ShardKey> Table<K> {
    fn new() -> Self {
        Table {
            slots: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    fn home(&self, k: &K) -> usize {
        k.hash64() as usize & self.slots.len().wrapping_sub(1)
    }

    #[inline]
    fn get(&self, k: &K) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.home(k);
        // The table is never full, so an empty slot ends every probe.
        loop {
            match self.slots.get(i)? {
                Some((key, v)) if key == k => return Some(*v),
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
    }

    fn insert(&mut self, k: K, v: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(&k);
        while let Some(slot) = self.slots.get_mut(i) {
            match slot {
                Some((key, old)) if *key == k => {
                    *old = v;
                    return;
                }
                Some(_) => i = (i + 1) & mask,
                None => {
                    *slot = Some((k, v));
                    self.len += 1;
                    return;
                }
            }
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![None; size]);
        self.len = 0;
        for (k, v) in old.into_iter().flatten() {
            self.insert(k, v);
        }
    }
}

/// Ids to dense indices for the entries that hold their own id (principals): sharded and
/// copy-on-write like [`Interner`], but a slot holds only the index and 32 bits of the id's
/// hash, 8 bytes, and the id itself is compared in the entry, which the caller reads next
/// anyway. The table stays small enough to sit in cache (about 2 MB for 100,000
/// principals), so that a check misses the cache once, on the entry, not twice.
#[derive(Debug, Clone)]
pub(crate) struct Directory<K> {
    shards: Vec<Arc<Slots>>,
    key: std::marker::PhantomData<K>,
}

/// One shard of a [`Directory`]: linear probing, at most half full, nothing removed.
#[derive(Debug, Clone)]
struct Slots {
    /// (hash, index) pairs; `index == FREE` marks a free slot. A power of two in length (or
    /// empty).
    slots: Vec<(u32, u32)>,
    len: usize,
}

/// The index of a free slot (no model has 2³² principals).
const FREE: u32 = u32::MAX;

impl<K: ShardKey> Directory<K> {
    pub fn new() -> Self {
        Directory {
            shards: (0..SHARDS)
                .map(|_| {
                    Arc::new(Slots {
                        slots: Vec::new(),
                        len: 0,
                    })
                })
                .collect(),
            key: std::marker::PhantomData,
        }
    }

    /// The index of `k`, where `is(i)` says whether entry `i` holds `k`.
    #[inline]
    pub fn get(&self, k: &K, is: impl Fn(u32) -> bool) -> Option<u32> {
        let shard = self.shards.get(k.shard() % SHARDS)?;
        let h = k.hash64() as u32;
        let mask = shard.slots.len().wrapping_sub(1);
        let mut i = h as usize & mask;
        // Never full, so a free slot ends every probe.
        loop {
            let &(fp, idx) = shard.slots.get(i)?;
            if idx == FREE {
                return None;
            }
            if fp == h && is(idx) {
                return Some(idx);
            }
            i = (i + 1) & mask;
        }
    }

    /// Records `k → idx`; `k` must not be there yet (copies one shard if a snapshot shares
    /// it).
    pub fn insert(&mut self, k: &K, idx: u32) {
        if let Some(s) = self.shards.get_mut(k.shard() % SHARDS) {
            Arc::make_mut(s).insert(k.hash64() as u32, idx);
        }
    }
}

impl Slots {
    fn insert(&mut self, h: u32, idx: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            let size = (self.slots.len() * 2).max(16);
            let old = std::mem::replace(&mut self.slots, vec![(0, FREE); size]);
            self.len = 0;
            for (h, idx) in old.into_iter().filter(|s| s.1 != FREE) {
                self.insert(h, idx);
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        while let Some(slot) = self.slots.get_mut(i) {
            if slot.1 == FREE {
                *slot = (h, idx);
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

/// A hash of a UUID: both halves folded and multiplied, the high bits folded down (the
/// table takes the low ones). Ids are random in their low half (v4, or v7's `rand_b`), so
/// this spreads them as well as a general hasher does, in a few instructions. Collisions
/// cost only a longer probe: keys are always compared in full.
#[inline]
fn mix(u: &uuid::Uuid, salt: u64) -> u64 {
    let (a, b) = u.as_u64_pair();
    let h = (a.rotate_left(29) ^ b ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 32)
}

/// The shard of a UUID: its last byte, random in both v4 and v7 ids.
#[inline]
fn low_byte(u: &uuid::Uuid) -> usize {
    u.as_bytes()[15] as usize
}

impl ShardKey for uuid::Uuid {
    fn shard(&self) -> usize {
        low_byte(self)
    }
    fn hash64(&self) -> u64 {
        mix(self, 0)
    }
}

impl ShardKey for warden_model::Principal {
    fn shard(&self) -> usize {
        low_byte(&self.uuid())
    }
    fn hash64(&self) -> u64 {
        let kind = match self {
            warden_model::Principal::User(_) => 0,
            warden_model::Principal::Team(_) => 1,
            warden_model::Principal::ApiKey(_) => 2,
        };
        mix(&self.uuid(), kind)
    }
}

impl ShardKey for warden_model::RoleId {
    fn shard(&self) -> usize {
        low_byte(&self.0)
    }
    fn hash64(&self) -> u64 {
        mix(&self.0, 0)
    }
}

impl ShardKey for warden_model::PolicyId {
    fn shard(&self) -> usize {
        low_byte(&self.0)
    }
    fn hash64(&self) -> u64 {
        mix(&self.0, 0)
    }
}
