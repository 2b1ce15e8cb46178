//! Test fixtures: a real server on an ephemeral port with a fresh database, driven over
//! HTTP, and helpers named after what they make. The database is a SQLite file, or a fresh
//! PostgreSQL database when `WARDEN_TEST_DATABASE_URL` names a server
//! (`warden_store::testing`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod console;

use std::sync::Arc;

use serde_json::{json, Value};
use warden_client::{Client, Reply};
use warden_model::{Catalogue, Name};
use warden_store::testing::TestDatabase;

/// A running server and an org bootstrapped in it.
pub struct TestApp {
    pub base: String,
    /// A client holding the org Owner's key.
    pub owner: Client,
    pub org_id: String,
    pub store: warden_store::Store,
    /// The Owner's key, for clients of other instances.
    pub owner_key: String,
    catalogue: Arc<Catalogue>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    /// Dropped last: the server is told to stop first.
    _db: TestDatabase,
}

/// Starts a server on a fresh database and bootstraps the org `Acme`.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Catalogue::default_llmops()).await
}

/// Starts a server with a given catalogue.
pub async fn spawn_app_with(catalogue: Catalogue) -> TestApp {
    spawn_app_with_config(catalogue, |_| {}).await
}

/// Starts a server with a given catalogue and a configuration changed by `configure` (such
/// as a short invitation lifetime), and bootstraps the org `Acme`.
pub async fn spawn_app_with_config(
    catalogue: Catalogue,
    configure: impl FnOnce(&mut warden_server::ServerConfig),
) -> TestApp {
    let database = TestDatabase::new().await.expect("a fresh test database");
    let db = database.url().to_owned();
    let catalogue = Arc::new(catalogue);
    let store = warden_store::Store::open(&db, catalogue.clone())
        .await
        .expect("open store");
    let boot = store
        .bootstrap(&Name::parse("org", "Acme").unwrap(), "owner@acme.test")
        .await
        .expect("bootstrap");
    let mut config = warden_server::ServerConfig::new(db, catalogue.clone());
    configure(&mut config);
    let (base, tx) = serve(config).await;
    TestApp {
        owner: Client::new(base.clone(), Some(boot.secret.clone())),
        base,
        org_id: boot.org_id.to_string(),
        store,
        owner_key: boot.secret,
        catalogue,
        _shutdown: tx,
        _db: database,
    }
}

/// Builds and serves a server on an ephemeral port; returns its base URL and what stops it.
async fn serve(config: warden_server::ServerConfig) -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = warden_server::build(config).await.expect("build app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(listener, async move {
        let _ = rx.await;
    }));
    (base, tx)
}

/// Another server over the same database, as another instance of the deployment.
pub struct Instance {
    pub base: String,
    /// A client of this instance holding the org Owner's key.
    pub owner: Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    /// Starts another instance over this app's database, configured by `configure`.
    pub async fn another_instance(
        &self,
        configure: impl FnOnce(&mut warden_server::ServerConfig),
    ) -> Instance {
        let mut config =
            warden_server::ServerConfig::new(self._db.url().to_owned(), self.catalogue.clone());
        configure(&mut config);
        let (base, tx) = serve(config).await;
        Instance {
            owner: Client::new(base.clone(), Some(self.owner_key.clone())),
            base,
            _shutdown: tx,
        }
    }

    /// The backend the app's database runs on.
    pub fn backend(&self) -> warden_store::Backend {
        self._db.backend()
    }

    /// A client without a key.
    pub fn anonymous(&self) -> Client {
        Client::new(self.base.clone(), None)
    }

    pub fn org_path(&self, rest: &str) -> String {
        format!("/v1/orgs/{}{rest}", self.org_id)
    }

    /// Bootstraps a second org in the same server; returns its owner client and id.
    pub async fn other_org(&self, name: &str) -> (Client, String) {
        let boot = self
            .store
            .bootstrap(
                &Name::parse("org", name).unwrap(),
                &format!("owner@{}.test", name.to_lowercase()),
            )
            .await
            .expect("bootstrap other org");
        (
            Client::new(self.base.clone(), Some(boot.secret)),
            boot.org_id.to_string(),
        )
    }

    /// Creates a project; returns its id.
    pub async fn project(&self, name: &str) -> String {
        let r = self
            .owner
            .post(&self.org_path("/projects"), &json!({"name": name}))
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a policy in a scope base path (`/v1/orgs/X` or `/v1/projects/Y`).
    pub async fn policy(&self, scope: &str, name: &str, perms: &[&str]) -> Value {
        let r = self
            .owner
            .post(
                &format!("{scope}/policies"),
                &json!({"name": name, "permission_ids": perms}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body
    }

    /// Creates a role using the given policy ids.
    pub async fn role(&self, scope: &str, name: &str, policy_ids: &[&str]) -> Value {
        let r = self
            .owner
            .post(
                &format!("{scope}/roles"),
                &json!({"name": name, "policy_ids": policy_ids}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body
    }

    /// The change-log revision, to prove that a refused request wrote nothing.
    pub async fn revision(&self) -> u64 {
        self.store.revision().await.unwrap()
    }

    /// Makes a user (created if new) belong to this org, through the store (there is no
    /// members API yet); returns its id.
    pub async fn add_user_to_org(&self, email: &str) -> String {
        let org = warden_model::OrgId::parse(&self.org_id).unwrap();
        self.store
            .add_org_user_by_email("test", org, email)
            .await
            .expect("add user to org")
            .to_string()
    }

    /// Creates a team in this org; returns its body.
    pub async fn team(&self, name: &str) -> Value {
        let r = self
            .owner
            .post(&self.org_path("/teams"), &json!({"name": name}))
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body
    }

    /// Waits until the server's engine has applied every committed revision, after writes
    /// made through the store directly.
    pub async fn synced(&self) {
        let target = self.revision().await;
        for _ in 0..400 {
            let r = self.owner.get("/v1/me").await.unwrap();
            if r.body["revision"].as_u64().unwrap_or(0) >= target {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the server's engine did not reach revision {target}");
    }
}

/// Asserts a 4xx with the given status and code, and a message that is not empty.
pub fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(
        r.status.as_u16(),
        status,
        "expected {status} {code}, got {} {:?}",
        r.status,
        r.body
    );
    assert_eq!(r.error_code(), Some(code), "{:?}", r.body);
    let msg = r.error_message().unwrap_or_default();
    assert!(
        msg.len() > 10,
        "the message must say what to change: {msg:?}"
    );
}
