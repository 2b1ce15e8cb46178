use std::sync::Arc;

use warden_engine::Index;
use warden_model::{Catalogue, Description, Name, Principal, Scope};

use crate::*;

/// A store on a fresh database (PostgreSQL when `WARDEN_TEST_DATABASE_URL` is set).
struct Db {
    store: Store,
    db: testing::TestDatabase,
}

async fn fresh() -> Db {
    let db = testing::TestDatabase::new().await.unwrap();
    let store = Store::open(db.url(), Arc::new(Catalogue::default_llmops()))
        .await
        .unwrap();
    Db { store, db }
}

fn name(s: &str) -> Name {
    Name::parse("name", s).unwrap()
}

fn new_policy(n: &str, perms: &[&str]) -> NewPolicy {
    NewPolicy {
        name: name(n),
        description: Description::default(),
        permissions: perms.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn bootstrap_makes_an_org_its_owner_and_an_owner_key() {
    let db = fresh().await;
    let boot = db
        .store
        .bootstrap(&name("Acme"), "Ada@Example.com")
        .await
        .unwrap();
    assert_eq!(boot.revision, 1);
    let key = db
        .store
        .find_api_key(&boot.secret)
        .await
        .unwrap()
        .expect("the key is found by its secret");
    assert_eq!(key.org_id, boot.org_id);
    assert!(key.valid);
    assert!(db
        .store
        .find_api_key("wdn_not-a-key")
        .await
        .unwrap()
        .is_none());
    let scope = Scope::org(boot.org_id);
    let roles = db
        .store
        .list_roles(scope, Some(true), Page::default())
        .await
        .unwrap();
    let names: Vec<&str> = roles.items.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Owner", "Admin", "Member"]);
    let owner = &roles.items[0];
    assert_eq!(
        db.store
            .membership(scope, Principal::User(boot.user_id))
            .await
            .unwrap(),
        Some(owner.id)
    );
    assert_eq!(
        db.store
            .membership(scope, Principal::ApiKey(boot.api_key_id))
            .await
            .unwrap(),
        Some(owner.id)
    );
    let err = db
        .store
        .bootstrap(&name("ACME"), "b@example.com")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: "name_taken",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        db.store.revision().await.unwrap(),
        1,
        "a refused write leaves no change-log entry"
    );
}

/// Everything the database holds: its files on SQLite, every row of every table as text on
/// PostgreSQL.
async fn stored_bytes(db: &testing::TestDatabase) -> Vec<Vec<u8>> {
    match db.backend() {
        Backend::Sqlite => {
            let path = db.url().trim_start_matches("sqlite://");
            let bytes = std::fs::read(path).unwrap();
            let wal = std::fs::read(format!("{path}-wal")).unwrap_or_default();
            vec![bytes, wal]
        }
        Backend::Postgres => {
            use sqlx::{Connection, Row};
            let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
            let tables: Vec<String> = sqlx::query(
                "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("t"))
            .collect();
            let mut rows = Vec::new();
            for table in tables {
                let text: String = sqlx::query(&format!(
                    "SELECT COALESCE(string_agg(t::text, ' '), '') AS rows FROM {table} t"
                ))
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get("rows");
                rows.push(text.into_bytes());
            }
            rows
        }
    }
}

#[tokio::test]
async fn the_secret_is_not_stored() {
    let db = fresh().await;
    let boot = db
        .store
        .bootstrap(&name("Acme"), "ada@example.com")
        .await
        .unwrap();
    db.store.close().await;
    let needle = boot.secret.as_bytes();
    for file in stored_bytes(&db.db).await {
        assert!(
            !file.windows(needle.len()).any(|w| w == needle),
            "the secret must not be in the database"
        );
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_a_reopen() {
    let db = fresh().await;
    let boot = db
        .store
        .bootstrap(&name("Acme"), "ada@example.com")
        .await
        .unwrap();
    let scope = Scope::org(boot.org_id);
    let w = db
        .store
        .create_policy("test", scope, new_policy("Readers", &["dataset:read"]))
        .await
        .unwrap();
    db.store.close().await;
    let reopened = Store::open(db.db.url(), Arc::new(Catalogue::default_llmops()))
        .await
        .unwrap();
    let p = reopened.get_policy(scope, w.value.id).await.unwrap();
    assert_eq!(p.permissions, ["dataset:read"]);
    assert_eq!(reopened.revision().await.unwrap(), w.revision);
}

#[tokio::test]
async fn the_change_log_is_gapless_and_replaying_it_equals_loading_the_tables() {
    let db = fresh().await;
    let s = &db.store;
    let boot = s.bootstrap(&name("Acme"), "ada@example.com").await.unwrap();
    let org = Scope::org(boot.org_id);
    let project = s
        .create_project(
            "t",
            boot.org_id,
            NewProject {
                name: name("P"),
                description: Description::default(),
                restricted: false,
            },
        )
        .await
        .unwrap()
        .value;
    let pscope = Scope::project(boot.org_id, project.id);
    let readers = s
        .create_policy(
            "t",
            pscope,
            new_policy("Readers", &["dataset:read", "trace:read"]),
        )
        .await
        .unwrap()
        .value;
    let writers = s
        .create_policy("t", pscope, new_policy("Writers", &["dataset:update"]))
        .await
        .unwrap()
        .value;
    let role = s
        .create_role(
            "t",
            pscope,
            NewRole {
                name: name("Annotator"),
                description: Description::default(),
                policy_ids: vec![readers.id, writers.id],
                permissions: vec![],
            },
        )
        .await
        .unwrap()
        .value;
    assert_eq!(
        role.effective_permissions,
        ["dataset:read", "dataset:update", "trace:read"]
    );
    let org_role = s
        .create_role(
            "t",
            org,
            NewRole {
                name: name("Auditor"),
                description: Description::default(),
                policy_ids: vec![],
                permissions: vec!["audit_log:read".into()],
            },
        )
        .await
        .unwrap()
        .value;
    s.update_policy(
        "t",
        pscope,
        writers.id,
        PolicyPatch {
            permissions: Some(vec!["golden:update".into()]),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let err = s
        .delete_policy("t", pscope, readers.id, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { code: "in_use", .. }),
        "{err}"
    );
    s.delete_policy("t", pscope, readers.id, true)
        .await
        .unwrap();
    s.update_project(
        "t",
        project.id,
        ProjectPatch {
            restricted: Some(true),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    s.delete_role("t", org, org_role.id, false).await.unwrap();

    let revision = s.revision().await.unwrap();
    let entries = s.changes_since(0, 10_000).await.unwrap();
    let revisions: Vec<u64> = entries.iter().map(|e| e.revision).collect();
    assert_eq!(
        revisions,
        (1..=revision).collect::<Vec<_>>(),
        "no gap, in order"
    );

    let cat = Catalogue::default_llmops();
    let mut replayed = Index::new(cat.all_keys(), &cat.org.owner_role);
    for e in &entries {
        replayed.apply(e.revision, &e.effects);
    }
    let (rev, effects) = s.load().await.unwrap();
    assert_eq!(rev, revision);
    let mut loaded = Index::new(cat.all_keys(), &cat.org.owner_role);
    loaded.apply(rev, &effects);

    let owner = Principal::ApiKey(boot.api_key_id);
    for scope in [org, pscope] {
        assert_eq!(
            replayed.effective(owner, scope),
            loaded.effective(owner, scope)
        );
        assert_eq!(
            replayed.check(owner, "dataset:read", scope),
            loaded.check(owner, "dataset:read", scope)
        );
    }
    let after = s.get_role(pscope, role.id).await.unwrap();
    assert_eq!(
        after.effective_permissions,
        ["golden:update"],
        "the cascade removed the policy from the role"
    );
}

/// Two stores on one database, as two instances of a deployment: their concurrent writes
/// are serialized by the database, so revisions are gapless and each entry's effects are
/// those of the write that got its revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_stores_get_gapless_revisions() {
    let db = fresh().await;
    let other = Store::open(db.db.url(), Arc::new(Catalogue::default_llmops()))
        .await
        .unwrap();
    let boot = db
        .store
        .bootstrap(&name("Acme"), "ada@example.com")
        .await
        .unwrap();
    let scope = Scope::org(boot.org_id);
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        writes.spawn(async move {
            let w = store
                .create_policy("t", scope, new_policy(&format!("P{i}"), &["dataset:read"]))
                .await
                .unwrap();
            (w.revision, w.value.id)
        });
    }
    let mut written = Vec::new();
    while let Some(w) = writes.join_next().await {
        written.push(w.unwrap());
    }
    written.sort_unstable();
    let revisions: Vec<u64> = written.iter().map(|(r, _)| *r).collect();
    assert_eq!(revisions, (2..=21).collect::<Vec<_>>());
    let log = other.changes_since(1, 100).await.unwrap();
    assert_eq!(log.len(), 20);
    for (entry, (revision, id)) in log.iter().zip(&written) {
        assert_eq!(entry.revision, *revision);
        let created = entry.effects.iter().any(
            |e| matches!(e, warden_model::Effect::PutPolicy { policy_id, .. } if policy_id == id),
        );
        assert!(
            created,
            "revision {revision} holds the write that returned it"
        );
    }
    other.close().await;
}

/// On PostgreSQL a listener hears every commit, with its revision, in commit order.
#[tokio::test]
async fn a_listener_hears_each_commit() {
    let db = fresh().await;
    let Some(mut listener) = db.store.listen().await.unwrap() else {
        assert_eq!(
            db.db.backend(),
            Backend::Sqlite,
            "only SQLite has no listener"
        );
        return;
    };
    let boot = db
        .store
        .bootstrap(&name("Acme"), "ada@example.com")
        .await
        .unwrap();
    let w = db
        .store
        .create_policy(
            "t",
            Scope::org(boot.org_id),
            new_policy("Readers", &["dataset:read"]),
        )
        .await
        .unwrap();
    let wait = std::time::Duration::from_secs(5);
    for expected in [boot.revision, w.revision] {
        let heard = tokio::time::timeout(wait, listener.next()).await.unwrap();
        assert_eq!(heard.unwrap(), Heard::Committed(expected));
    }
}

#[tokio::test]
async fn a_catalogue_that_lacks_what_the_database_uses_is_refused_at_open() {
    let db = fresh().await;
    let boot = db
        .store
        .bootstrap(&name("Acme"), "ada@acme.test")
        .await
        .unwrap();
    db.store
        .create_policy(
            "test",
            Scope::org(boot.org_id),
            new_policy("Editors", &["dataset:update"]),
        )
        .await
        .unwrap();
    let open = |catalogue: Catalogue| Store::open(db.db.url(), Arc::new(catalogue));

    // Another preset: its roles are not the ones the org was made with.
    let err = open(Catalogue::preset("arize").unwrap())
        .await
        .err()
        .unwrap();
    let StoreError::WrongCatalogue { catalogue, missing } = &err else {
        panic!("{err}");
    };
    assert_eq!(catalogue, "arize");
    assert!(
        missing.contains(&"org role `owner`".to_owned()),
        "{missing:?}"
    );
    let message = err.to_string();
    assert!(message.contains("--catalog"), "{message}");

    // The same catalogue without a permission a custom policy grants.
    let text = include_str!("../../model/catalogues/llmops.toml");
    let narrower = text.replace(
        "actions = [\"create\", \"read\", \"update\", \"delete\", \"evaluate\"]",
        "actions = [\"create\", \"read\", \"delete\", \"evaluate\"]",
    );
    assert_ne!(narrower, text);
    let err = open(Catalogue::parse("narrower.toml", &narrower).unwrap())
        .await
        .err()
        .unwrap();
    let StoreError::WrongCatalogue { missing, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(missing, &["org permission `dataset:update`".to_owned()]);

    // One that adds to it passes, as does the one it was made with.
    let wider = text.replacen(
        "[[project.resources]]",
        "[[project.resources]]\nname = \"notebook\"\ndescription = \"Notebooks\"\nactions = [\"read\"]\n\n[[project.resources]]",
        1,
    );
    let store = open(Catalogue::parse("wider.toml", &wider).unwrap())
        .await
        .unwrap();
    assert!(store
        .catalogue()
        .scope(warden_model::ScopeKind::Project)
        .has("notebook:read"));
    open(Catalogue::default_llmops()).await.unwrap();
}
