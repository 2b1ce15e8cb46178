use std::sync::Arc;

use warden_engine::Index;
use warden_model::{Catalogue, Description, Name, Principal, Scope};

use crate::*;

struct Db {
    store: Store,
    url: String,
    _dir: tempfile::TempDir,
}

async fn fresh() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::open(&url, Arc::new(Catalogue::default_llmops()))
        .await
        .unwrap();
    Db {
        store,
        url,
        _dir: dir,
    }
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

#[tokio::test]
async fn the_secret_is_not_stored() {
    let db = fresh().await;
    let boot = db
        .store
        .bootstrap(&name("Acme"), "ada@example.com")
        .await
        .unwrap();
    db.store.close().await;
    let bytes = std::fs::read(db.url.trim_start_matches("sqlite://")).unwrap();
    let wal = std::fs::read(format!("{}-wal", db.url.trim_start_matches("sqlite://")))
        .unwrap_or_default();
    let needle = boot.secret.as_bytes();
    for file in [&bytes, &wal] {
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
    let reopened = Store::open(&db.url, Arc::new(Catalogue::default_llmops()))
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
