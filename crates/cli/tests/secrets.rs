//! Secrets stay secret: API key secrets, invitation tokens, passwords and console sessions
//! made and used through every path (bootstrap, the API, the console, refusals) appear in
//! no log line of the server (at the most verbose level), no error, no audit entry, no
//! change-log entry and nowhere in the database's files: only their hashes are kept.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/logs.rs"]
mod logs;

use std::process::{Command, Stdio};

use common::{warden, without_warden_env};
use serde_json::{json, Value};

const OWNER_PASSWORD: &str = "owner-passphrase-7Qx";
const GRACE_PASSWORD: &str = "grace-passphrase-9Kz";
const WRONG_PASSWORD: &str = "wrong-passphrase-3Jd";

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn field(text: &str, pointer: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {text}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_an_error_the_audit_log_or_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("warden.db").display());
    let boot = without_warden_env(&mut warden())
        .current_dir(dir.path())
        .args(["bootstrap", "--database", &db, "--org", "Acme"])
        .args(["--owner-email", "ada@acme.example"])
        .env("WARDEN_OWNER_PASSWORD", OWNER_PASSWORD)
        .env("WARDEN_LOG", "trace")
        .output()
        .unwrap();
    assert!(boot.status.success());
    let owner_key = String::from_utf8(boot.stdout).unwrap().trim().to_owned();
    let bootstrap_log = String::from_utf8(boot.stderr).unwrap();

    let mut child = without_warden_env(&mut warden())
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
        .env("WARDEN_LOG", "trace")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let log = logs::LogLines::read(child.stderr.take().unwrap());
    let api = Api {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: log.wait_for("warden listening on ").trim().to_owned(),
    };
    let owner = Some(owner_key.as_str());
    let (_, me) = api.call("GET", "/v1/me", owner, None).await;
    let org = field(&me, "/org/id");
    let mut secrets = vec![owner_key.clone(), OWNER_PASSWORD.to_owned()];
    let mut answers = Vec::new();

    // An org key and a project key.
    let (s, made) = api
        .call(
            "POST",
            &format!("/v1/orgs/{org}/api-keys"),
            owner,
            Some(json!({"name": "ingest", "role_id": "Member"})),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let org_key = field(&made, "/secret");
    let org_key_id = field(&made, "/id");
    secrets.push(org_key.clone());
    let (_, project) = api
        .call(
            "POST",
            &format!("/v1/orgs/{org}/projects"),
            owner,
            Some(json!({"name": "Chatbot"})),
        )
        .await;
    let project = field(&project, "/id");
    let (_, made) = api
        .call(
            "POST",
            &format!("/v1/projects/{project}/api-keys"),
            owner,
            Some(json!({"name": "eval", "role_id": "Member"})),
        )
        .await;
    secrets.push(field(&made, "/secret"));

    // An invitation, resent (a second token), accepted with a password.
    let (_, invited) = api
        .call(
            "POST",
            &format!("/v1/orgs/{org}/invitations"),
            owner,
            Some(json!({"emails": ["grace@acme.example"], "role_id": "Member"})),
        )
        .await;
    let first_token = field(&invited, "/invitations/0/token");
    let invitation = field(&invited, "/invitations/0/id");
    secrets.push(first_token.clone());
    let (_, resent) = api
        .call(
            "POST",
            &format!("/v1/orgs/{org}/invitations/{invitation}/resend"),
            owner,
            None,
        )
        .await;
    let token = field(&resent, "/token");
    secrets.push(token.clone());
    // The stale token, refused: the refusal does not echo it.
    answers.push(
        api.call(
            "POST",
            "/v1/invitations/accept",
            None,
            Some(json!({"token": first_token, "name": "Grace", "password": GRACE_PASSWORD})),
        )
        .await,
    );
    let (s, accepted) = api
        .call(
            "POST",
            "/v1/invitations/accept",
            None,
            Some(json!({"token": token, "name": "Grace", "password": GRACE_PASSWORD})),
        )
        .await;
    assert_eq!(s, 201, "{accepted}");
    secrets.push(GRACE_PASSWORD.to_owned());

    // Signing in through the API (a personal key), and a wrong password.
    let (s, signed) = api
        .call(
            "POST",
            "/v1/auth/tokens",
            None,
            Some(json!({"email": "grace@acme.example", "password": GRACE_PASSWORD})),
        )
        .await;
    assert_eq!(s, 201, "{signed}");
    secrets.push(field(&signed, "/secret"));
    answers.push(
        api.call(
            "POST",
            "/v1/auth/tokens",
            None,
            Some(json!({"email": "grace@acme.example", "password": WRONG_PASSWORD})),
        )
        .await,
    );
    secrets.push(WRONG_PASSWORD.to_owned());

    // The console: a sign-in form (its nonce), the session cookie's secret.
    let page = api
        .http
        .get(format!("{}/console/sign-in", api.base))
        .send()
        .await
        .unwrap();
    let nonce_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let nonce = nonce_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let signed_in = api
        .http
        .post(format!("{}/console/sign-in", api.base))
        .header("cookie", format!("warden_sign_in={nonce}"))
        .form(&[
            ("csrf", nonce.as_str()),
            ("email", "ada@acme.example"),
            ("password", OWNER_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let session = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find_map(|c| c.strip_prefix("warden_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    secrets.push(session.clone());
    let console = api
        .http
        .get(format!("{}/console/org/members", api.base))
        .header("cookie", format!("warden_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 200);

    // Keys used after they stop working: the refusals do not echo them.
    api.call(
        "PATCH",
        &format!("/v1/orgs/{org}/api-keys/{org_key_id}"),
        owner,
        Some(json!({"valid": false})),
    )
    .await;
    answers.push(api.call("GET", "/v1/me", Some(&org_key), None).await);
    answers.push(
        api.call("GET", "/v1/me", Some("wdn_not-a-real-key-0000"), None)
            .await,
    );
    secrets.push("wdn_not-a-real-key-0000".to_owned());
    answers.push(
        api.call(
            "GET",
            &format!("/v1/orgs/{org}/audit-events?limit=100"),
            owner,
            None,
        )
        .await,
    );

    // Stop the server cleanly, so that everything is written out, then look everywhere.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let server_log = log.text();
    assert!(
        server_log.contains("TRACE") || server_log.contains("DEBUG"),
        "the log is at its most verbose"
    );
    // The requests that carried the secrets were logged (without them).
    for path in [
        "/v1/auth/tokens",
        "/v1/invitations/accept",
        "/console/sign-in",
    ] {
        assert!(server_log.contains(path), "{path} in the log");
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("warden.db")
        {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    assert!(!files.is_empty());
    let store = warden_store::Store::open(
        &db,
        std::sync::Arc::new(warden_model::Catalogue::default_llmops()),
    )
    .await
    .unwrap();
    let change_log = store.change_log_text().await.unwrap();
    for secret in &secrets {
        assert!(
            !server_log.contains(secret.as_str()),
            "a secret in the server's log"
        );
        assert!(
            !bootstrap_log.contains(secret.as_str()),
            "a secret in bootstrap's log"
        );
        assert!(
            !change_log.contains(secret.as_str()),
            "a secret in the change log"
        );
        for (status, body) in &answers {
            assert!(
                !body.contains(secret.as_str()),
                "a secret in an answer ({status}): {body}"
            );
        }
        for (name, bytes) in &files {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "a secret in {name}");
        }
    }
    println!(
        "secrets: {} secrets checked against {} log lines, {} answers, a change log of {} bytes and {} database file(s)",
        secrets.len(),
        server_log.lines().count(),
        answers.len(),
        change_log.len(),
        files.len()
    );
}
