//! The `warden` binary as a newcomer uses it: `serve` on the embedded default, `bootstrap`
//! printing only a key, catalogues refused with their line, presets loaded by name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use warden_client::Client;

fn warden() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warden"))
}

/// A `warden serve` process on an ephemeral port; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &std::path::Path, extra: &[&str]) -> Server {
    let mut child = warden()
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("WARDEN_DATABASE_URL")
        .env_remove("WARDEN_CATALOG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start warden serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(url) = line.strip_prefix("warden listening on ") {
            let base = url.trim().to_owned();
            // Keep draining stderr so that the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Server { child, base };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("warden serve did not print its address");
}

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

#[test]
fn a_bad_catalogue_is_refused_at_start_up_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "name = \"bad\"\n\n[org\nowner_role = 1\n").unwrap();
    let out = warden()
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--catalog"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:3:"),
        "names the file and line: {stderr}"
    );

    let out = warden()
        .current_dir(dir.path())
        .args(["serve", "--catalog", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`llmops`, `arize`, `adaptive`"));
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
