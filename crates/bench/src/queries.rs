//! The queries every engine answers, the naive rules that say what the answer must be, and
//! the plain `HashMap` reference.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use warden_model::{Principal, Scope, UserId};

use crate::data::{DataSet, PRef, SRef};

/// One question: may `principal` do `keys[bit]` in `scope`?
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub principal: Principal,
    /// `None` for a principal the model does not know.
    pub pref: Option<PRef>,
    pub sref: SRef,
    pub scope: Scope,
    /// The permission's index in [`DataSet::keys`], which is also the engine's bit.
    pub bit: usize,
}

/// A seeded random mix of queries: 88% users (most in teams), 5% teams, 5% API keys, 2%
/// unknown principals; a quarter at org scope, the rest in projects (60% in a project the
/// principal or one of its teams is a member of, 40% anywhere in its org); 5% ask about
/// a scope of another org; the permission is uniform over the catalogue.
pub fn generate(ds: &DataSet, n: usize, seed: u64) -> Vec<Query> {
    let mut rng = StdRng::seed_from_u64(seed);
    let by_p = ds.by_principal();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let x: f64 = rng.gen();
        let pref = if x < 0.88 {
            Some(PRef::User(rng.gen_range(0..ds.users.len())))
        } else if x < 0.93 {
            Some(PRef::Team(rng.gen_range(0..ds.teams.len())))
        } else if x < 0.98 && !ds.api_keys.is_empty() {
            Some(PRef::Key(rng.gen_range(0..ds.api_keys.len())))
        } else {
            None
        };
        let principal = match pref {
            Some(p) => ds.principal(p),
            None => Principal::User(UserId(
                uuid::Builder::from_random_bytes(rng.gen()).into_uuid(),
            )),
        };
        let home = match pref {
            Some(p) => ds.principal_org(p),
            None => rng.gen_range(0..ds.orgs.len()),
        };
        let org = if ds.orgs.len() > 1 && rng.gen_bool(0.05) {
            (home + rng.gen_range(1..ds.orgs.len())) % ds.orgs.len()
        } else {
            home
        };
        let sref = if rng.gen_bool(0.25) {
            SRef::Org(org)
        } else {
            let mut own: Vec<usize> = vec![];
            if org == home {
                if let Some(p) = pref {
                    let mut holders = vec![p];
                    if let PRef::User(u) = p {
                        holders.extend(ds.users[u].teams.iter().map(|&t| PRef::Team(t)));
                    }
                    for h in holders {
                        for (s, _) in by_p.get(&h).into_iter().flatten() {
                            if let SRef::Project(pj) = s {
                                own.push(*pj);
                            }
                        }
                    }
                }
            }
            if !own.is_empty() && rng.gen_bool(0.6) {
                SRef::Project(own[rng.gen_range(0..own.len())])
            } else {
                let ps = &ds.orgs[org].projects;
                SRef::Project(ps[rng.gen_range(0..ps.len())])
            }
        };
        out.push(Query {
            principal,
            pref,
            sref,
            scope: ds.scope(sref),
            bit: rng.gen_range(0..ds.keys.len()),
        });
    }
    out
}

/// The rules, written as plainly as possible, over the data set (not over the engine).
pub struct Naive<'a> {
    ds: &'a DataSet,
    by_p: HashMap<PRef, Vec<(SRef, usize)>>,
    bit_of: HashMap<&'a str, usize>,
}

impl<'a> Naive<'a> {
    pub fn new(ds: &'a DataSet) -> Self {
        Naive {
            ds,
            by_p: ds.by_principal(),
            bit_of: ds
                .keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.as_str(), i))
                .collect(),
        }
    }

    /// Every permission bit `p` holds in `s`: the roles of its memberships in `s`, of its
    /// memberships in the org of `s` (in a restricted project only the org Owner role), and
    /// the same for each of its teams; an invalid API key holds nothing.
    pub fn effective(&self, p: PRef, s: SRef) -> HashSet<u16> {
        let ds = self.ds;
        let org = ds.org_of(s);
        let mut out = HashSet::new();
        if ds.principal_org(p) != org {
            return out;
        }
        if let PRef::Key(k) = p {
            if !ds.api_keys[k].valid {
                return out;
            }
        }
        let mut holders = vec![p];
        if let PRef::User(u) = p {
            holders.extend(ds.users[u].teams.iter().map(|&t| PRef::Team(t)));
        }
        let restricted = matches!(s, SRef::Project(pj) if ds.projects[pj].restricted);
        for h in holders {
            for &(ms, r) in self.by_p.get(&h).into_iter().flatten() {
                let applies = ms == s
                    || (ms == SRef::Org(org)
                        && matches!(s, SRef::Project(_))
                        && (!restricted || ds.roles[r].org_owner));
                if applies {
                    for k in &ds.roles[r].effective {
                        if let Some(&b) = self.bit_of.get(k.as_str()) {
                            out.insert(b as u16);
                        }
                    }
                }
            }
        }
        out
    }

    /// The answer to a query.
    pub fn check(&self, q: &Query) -> bool {
        match q.pref {
            Some(p) => self.effective(p, q.sref).contains(&(q.bit as u16)),
            None => false,
        }
    }
}

/// The plain `HashMap` reference: `HashMap<(Principal, Scope), HashSet<u16>>` of precomputed
/// effective permission bits, one entry per (principal, scope) pair the queries ask about
/// that holds anything; a check is one lookup and one set test. `S` is the hasher: the
/// standard library's SipHash ([`Reference`]) or rustc-hash's Fx, the engine's own
/// ([`FxReference`]).
pub struct HashReference<S> {
    map: HashMap<(Principal, Scope), HashSet<u16, S>, S>,
}

/// The reference with the standard library's hasher.
pub type Reference = HashReference<std::collections::hash_map::RandomState>;
/// The reference with the hasher the engine uses.
pub type FxReference = HashReference<rustc_hash::FxBuildHasher>;

impl<S: std::hash::BuildHasher + Default> HashReference<S> {
    /// Precomputes, with [`Naive::effective`], the pairs `queries` ask about.
    pub fn build(naive: &Naive, queries: &[Query]) -> Self {
        let mut map: HashMap<(Principal, Scope), HashSet<u16, S>, S> = HashMap::default();
        for q in queries {
            let Some(p) = q.pref else { continue };
            if map.contains_key(&(q.principal, q.scope)) {
                continue;
            }
            let eff = naive.effective(p, q.sref);
            if !eff.is_empty() {
                map.insert((q.principal, q.scope), eff.into_iter().collect());
            }
        }
        HashReference { map }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    #[inline]
    pub fn check(&self, principal: Principal, bit: usize, scope: Scope) -> bool {
        self.map
            .get(&(principal, scope))
            .is_some_and(|s| s.contains(&(bit as u16)))
    }
}
