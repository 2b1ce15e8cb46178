//! The `warden` binary as a newcomer uses it: `serve` on the embedded default, `bootstrap`
//! printing only a key, catalogues refused with their line, presets loaded by name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{serve, warden, Server};
use serde_json::json;
use warden_client::Client;

fn bootstrap(dir: &std::path::Path, org: &str, extra: &[&str]) -> std::process::Output {
    warden()
        .current_dir(dir)
        .args([
            "bootstrap",
            "--org",
            org,
            "--owner-email",
            "ada@acme.example",
        ])
        .args(extra)
        .env_remove("WARDEN_DATABASE_URL")
        .env_remove("WARDEN_CATALOG")
        .output()
        .expect("run warden bootstrap")
}

/// Runs `warden serve` with `args` in `dir`, which must refuse to start; returns its stderr.
fn serve_refused(dir: &std::path::Path, args: &[&std::ffi::OsStr]) -> String {
    let out = warden()
        .current_dir(dir)
        .arg("serve")
        .args(args)
        .output()
        .expect("run warden serve");
    assert!(!out.status.success(), "serve {args:?} started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn serve_then_bootstrap_on_the_embedded_default_gives_a_working_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let out = bootstrap(dir.path(), "Acme", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.trim();
    assert_eq!(
        stdout.lines().count(),
        1,
        "bootstrap prints only the key on stdout: {stdout:?}"
    );
    assert!(key.starts_with("wdn_"), "{key}");
    assert!(
        dir.path().join("warden.db").exists(),
        "the default database is ./warden.db"
    );

    let client = Client::new(server.base.clone(), Some(key.to_owned()));
    let me = client.get("/v1/me").await.unwrap();
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["org"]["name"], "Acme");
    assert_eq!(me.body["role"]["name"], "Owner");
    let org = me.body["org"]["id"].as_str().unwrap();
    let r = client
        .post(
            &format!("/v1/orgs/{org}/policies"),
            &json!({"name": "Dataset Editor", "permission_ids": ["dataset:read"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);

    let again = bootstrap(dir.path(), "acme", &[]);
    assert!(!again.status.success());
    assert!(again.stdout.is_empty());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test]
async fn bootstrap_gives_the_owner_a_password_to_sign_in_with() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    // Too short: refused, nothing created.
    let short = warden()
        .current_dir(dir.path())
        .args([
            "bootstrap",
            "--org",
            "Acme",
            "--owner-email",
            "ada@acme.example",
        ])
        .env("WARDEN_OWNER_PASSWORD", "short")
        .env_remove("WARDEN_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("8 to 1024 characters"));
    // From a file (its first line), then signing in with it.
    let file = dir.path().join("password.txt");
    std::fs::write(&file, "analytical engine\nignored\n").unwrap();
    let out = bootstrap(
        dir.path(),
        "Acme",
        &["--owner-password-file", file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("sign in to the console"));
    let anon = Client::new(server.base.clone(), None);
    let r = anon
        .post(
            "/v1/auth/tokens",
            &json!({"email": "ada@acme.example", "password": "analytical engine"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    // A second org for the same Owner cannot change the password.
    let out = bootstrap(
        dir.path(),
        "Globex",
        &["--owner-password-file", file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already has a password"));
}

#[test]
fn a_bad_catalogue_is_refused_at_start_up_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "name = \"bad\"\n\n[org\nowner_role = 1\n").unwrap();
    let stderr = serve_refused(
        dir.path(),
        &[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--catalog".as_ref(),
            path.as_os_str(),
        ],
    );
    assert!(
        stderr.contains("bad.toml:3:"),
        "names the file and line: {stderr}"
    );

    let stderr = serve_refused(dir.path(), &["--catalog".as_ref(), "nope".as_ref()]);
    assert!(stderr.contains("`llmops`, `arize`, `adaptive`"), "{stderr}");
}

#[tokio::test]
async fn presets_are_served_by_name() {
    for (preset, role, permission) in [
        ("arize", "Annotator", "role_binding:create"),
        ("adaptive", "Platform Admin", "admin:manage_roles"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(dir.path(), &["--catalog", preset]);
        let out = bootstrap(dir.path(), "Acme", &["--catalog", preset]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let client = Client::new(
            server.base.clone(),
            Some(String::from_utf8(out.stdout).unwrap().trim().to_owned()),
        );
        let org = client.get("/v1/me").await.unwrap().body["org"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let roles = client
            .list_all(&format!("/v1/orgs/{org}/roles?is_predefined=true"))
            .await
            .unwrap();
        assert!(
            roles.iter().any(|r| r["name"] == role),
            "{preset} has {role}"
        );
        let perms = client
            .list_all(&format!("/v1/orgs/{org}/permissions"))
            .await
            .unwrap();
        assert!(
            perms.iter().any(|p| p["key"] == permission),
            "{preset} has {permission}"
        );
    }
}

#[tokio::test]
async fn a_config_file_sets_the_database_and_refuses_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "database_url = \"sqlite://x.db\"\ndatabase = \"typo\"\n",
    )
    .unwrap();
    let stderr = serve_refused(dir.path(), &["--config".as_ref(), bad.as_os_str()]);
    assert!(
        stderr.contains("bad.toml:2:") && stderr.contains("database"),
        "{stderr}"
    );
    // A proxy that is not an address or a network stops the start, naming it.
    std::fs::write(
        &bad,
        "trusted_proxies = [\"10.0.0.0/8\", \"lb.internal\"]\n",
    )
    .unwrap();
    let stderr = serve_refused(
        dir.path(),
        &[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--config".as_ref(),
            bad.as_os_str(),
        ],
    );
    assert!(
        stderr.contains("`lb.internal` in `trusted_proxies`"),
        "{stderr}"
    );

    let good = dir.path().join("warden.toml");
    std::fs::write(&good, "database_url = \"sqlite://from-config.db\"\ncatalog = \"arize\"\n[auth]\nadmins = [\"ada@acme.example\"]\n").unwrap();
    let out = warden()
        .current_dir(dir.path())
        .args([
            "bootstrap",
            "--org",
            "Acme",
            "--owner-email",
            "ada@acme.example",
            "--config",
        ])
        .arg(&good)
        .env_remove("WARDEN_DATABASE_URL")
        .env_remove("WARDEN_CATALOG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("from-config.db").exists(),
        "the file's database_url is used"
    );
    let server = serve(dir.path(), &["--config", good.to_str().unwrap()]);
    let client = Client::new(
        server.base.clone(),
        Some(String::from_utf8(out.stdout).unwrap().trim().to_owned()),
    );
    let org = client.get("/v1/me").await.unwrap().body["org"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let perms = client
        .list_all(&format!("/v1/orgs/{org}/permissions"))
        .await
        .unwrap();
    assert!(
        perms.iter().any(|p| p["key"] == "role_binding:create"),
        "the file's catalogue is used"
    );
}

/// Runs a client command against `server` with `key`; returns (exit code, stdout, stderr).
fn client(server: &Server, key: &str, args: &[&str]) -> (i32, String, String) {
    let out = warden()
        .args(args)
        .env("WARDEN_BASE_URL", &server.base)
        .env("WARDEN_API_KEY", key)
        .output()
        .expect("run warden");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn the_cli_manages_policies_roles_members_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let out = bootstrap(dir.path(), "Acme", &[]);
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let run = |args: &[&str]| client(&server, &key, args);

    let (code, out, _) = run(&["permissions", "list", "--resource", "dataset"]);
    assert_eq!(code, 0);
    assert!(
        out.lines().next().unwrap().starts_with("KEY"),
        "a table with headers: {out}"
    );
    assert!(out.contains("dataset:update"));

    let (code, out, err) = run(&[
        "policies",
        "create",
        "Dataset Editor",
        "--permission",
        "dataset:read,dataset:update",
        "--description",
        "Can edit datasets",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let policy = json_of(&out);
    assert_eq!(
        policy["permissions"],
        json!(["dataset:read", "dataset:update"])
    );
    let policy_id = policy["id"].as_str().unwrap().to_owned();

    let (code, _, err) = run(&[
        "policies",
        "create",
        "dataset editor",
        "--permission",
        "dataset:read",
    ]);
    assert_eq!(code, 1);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("409") && err.contains("name_taken"), "{err}");

    let (code, out, err) = run(&[
        "roles",
        "create",
        "Data Scientist",
        "--policy",
        &policy_id,
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json_of(&out)["effective_permissions"],
        json!(["dataset:read", "dataset:update"])
    );
    let (code, out, _) = run(&["roles", "get", "data scientist", "--output", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json_of(&out)["name"], "Data Scientist");
    let (code, _, err) = run(&["roles", "get", "Nobody"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("available") && err.contains("Data Scientist"),
        "{err}"
    );
    let (code, out, _) = run(&["roles", "list", "--predefined", "true", "--output", "json"]);
    assert_eq!(code, 0);
    let names: Vec<String> = json_of(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Owner", "Admin", "Member"]);
    let (code, _, err) = run(&["roles", "update", "Data Scientist", "--name", "Scientist"]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = run(&["projects", "create", "Chatbot", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let project = json_of(&out)["id"].as_str().unwrap().to_owned();
    let (code, out, err) = run(&[
        "api-keys",
        "create",
        "ingest",
        "--role",
        "Member",
        "--project",
        &project,
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let created = json_of(&out);
    let secret = created["secret"].as_str().unwrap().to_owned();
    let key_principal = format!("api_key:{}", created["id"].as_str().unwrap());
    let (code, out, _) = run(&["api-keys", "list", "--project", &project]);
    assert_eq!(code, 0);
    assert!(
        out.contains("ingest") && !out.contains(&secret),
        "the secret is shown once: {out}"
    );

    let (code, out, _) = run(&["members", "list", "--project", &project, "--output", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json_of(&out)[0]["principal"], key_principal.as_str());

    let (code, out, _) = run(&[
        "check",
        &key_principal,
        "dataset:read",
        "--project",
        &project,
    ]);
    assert_eq!(code, 0, "allowed exits 0");
    assert!(out.starts_with("allowed"));
    let (code, out, _) = run(&[
        "check",
        &key_principal,
        "project:delete",
        "--project",
        &project,
    ]);
    assert_eq!(code, 3, "denied exits 3");
    assert!(out.starts_with("denied"));
    let (code, out, _) = run(&[
        "explain",
        &key_principal,
        "dataset:read",
        "--project",
        &project,
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("role `Member`"), "{out}");

    let (code, out, _) = run(&["audit", "list", "--limit", "2", "--output", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json_of(&out).as_array().unwrap().len(), 2);
    let (code, _, err) = run(&["policies", "delete", &policy_id]);
    assert_eq!(code, 1);
    assert!(err.contains("in_use"), "{err}");
    let (code, _, err) = run(&["policies", "delete", &policy_id, "--cascade"]);
    assert_eq!(code, 0, "{err}");

    let out = warden()
        .args(["me"])
        .env("WARDEN_BASE_URL", &server.base)
        .env_remove("WARDEN_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARDEN_API_KEY"));
    let (code, _, err) = client(&server, "wdn_wrong", &["me"]);
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = warden().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("policies") && script.contains("api-keys"),
            "{shell}"
        );
    }
}

/// Runs `warden` with `args` and its standard output closed before it writes: as under
/// `warden ... | head -0`. Returns (exit code, stderr).
fn with_stdout_closed(server: Option<(&Server, &str)>, args: &[&str]) -> (i32, String) {
    let mut cmd = warden();
    cmd.args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some((server, key)) = server {
        cmd.env("WARDEN_BASE_URL", &server.base)
            .env("WARDEN_API_KEY", key);
    }
    let mut child = cmd.spawn().expect("run warden");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let (code, err) = with_stdout_closed(None, &["catalog"]);
    assert_eq!((code, err.as_str()), (0, ""));

    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let out = bootstrap(dir.path(), "Acme", &[]);
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    for args in [
        &["permissions", "list"][..],
        &["permissions", "list", "--output", "json"],
        &["audit", "list", "--output", "json"],
        &[
            "check",
            "user:00000000-0000-0000-0000-000000000000",
            "dataset:read",
        ],
        &[
            "explain",
            "user:00000000-0000-0000-0000-000000000000",
            "dataset:read",
        ],
    ] {
        let (code, err) = with_stdout_closed(Some((&server, &key)), args);
        assert!(
            !err.contains("panicked") && !err.contains("error"),
            "{args:?}: {err}"
        );
        assert!(
            code == 0 || (args[0] == "check" && code == 3),
            "{args:?}: exit {code}, {err}"
        );
    }
}
