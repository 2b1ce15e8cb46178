//! A plain read of an org's access tables, for audits and for tests that compare the
//! engine with a naive reading of the store.
