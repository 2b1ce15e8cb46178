//! Bad input over real HTTP: malformed and mistyped bodies, bad names, oversized lists and
//! bodies, foreign and malformed ids, bad query strings. Every refusal is checked for its
//! status, its code, a message that says something, and that nothing was written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use warden_client::Reply;
use warden_model::PolicyId;

// ---------------------------------------------------------------------------------------
// Fixture: every write route of policies, roles and projects
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Policy,
    Role,
    Project,
}

/// One write route with a body it accepts.
struct Target {
    label: &'static str,
    method: Method,
    path: String,
    kind: Kind,
    /// A body this route accepts (creates need a fresh name to succeed twice).
    valid: Value,
}

impl Target {
    fn is_create(&self) -> bool {
        self.method == Method::POST
    }
}

struct Fixture {
    app: TestApp,
    org: String,
    project: String,
    org_policy: String,
    project_policy: String,
    org_role: String,
    project_role: String,
    targets: Vec<Target>,
}

fn text(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {v}"))
        .to_owned()
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let org = app.org_path("");
    let project = format!("/v1/projects/{}", app.project("Chatbot").await);
    let org_policy = text(
        &app.policy(&org, "Org policy", &["dataset:read"]).await,
        "id",
    );
    let project_policy = text(
        &app.policy(&project, "Project policy", &["dataset:read"])
            .await,
        "id",
    );
    let org_role = text(
        &app.role(&org, "Org role", &[org_policy.as_str()]).await,
        "id",
    );
    let project_role = text(
        &app.role(&project, "Project role", &[project_policy.as_str()])
            .await,
        "id",
    );
    let new_policy = json!({"name": "New", "permission_ids": ["dataset:read"]});
    let new_role = json!({"name": "New", "permissions": ["dataset:read"]});
    let change = json!({"description": "changed"});
    let t = |label, method, path: String, kind, valid: &Value| Target {
        label,
        method,
        path,
        kind,
        valid: valid.clone(),
    };
    let targets = vec![
        t(
            "create org policy",
            Method::POST,
            format!("{org}/policies"),
            Kind::Policy,
            &new_policy,
        ),
        t(
            "create project policy",
            Method::POST,
            format!("{project}/policies"),
            Kind::Policy,
            &new_policy,
        ),
        t(
            "update org policy",
            Method::PATCH,
            format!("{org}/policies/{org_policy}"),
            Kind::Policy,
            &change,
        ),
        t(
            "update project policy",
            Method::PATCH,
            format!("{project}/policies/{project_policy}"),
            Kind::Policy,
            &change,
        ),
        t(
            "create org role",
            Method::POST,
            format!("{org}/roles"),
            Kind::Role,
            &new_role,
        ),
        t(
            "create project role",
            Method::POST,
            format!("{project}/roles"),
            Kind::Role,
            &new_role,
        ),
        t(
            "update org role",
            Method::PATCH,
            format!("{org}/roles/{org_role}"),
            Kind::Role,
            &change,
        ),
        t(
            "update project role",
            Method::PATCH,
            format!("{project}/roles/{project_role}"),
            Kind::Role,
            &change,
        ),
        t(
            "create project",
            Method::POST,
            format!("{org}/projects"),
            Kind::Project,
            &json!({"name": "New"}),
        ),
        t(
            "update project",
            Method::PATCH,
            project.clone(),
            Kind::Project,
            &change,
        ),
    ];
    Fixture {
        app,
        org,
        project,
        org_policy,
        project_policy,
        org_role,
        project_role,
        targets,
    }
}

/// The number of write targets (each test that needs a fresh app per target uses it).
const TARGETS: usize = 10;

/// `valid` with one field set.
fn with(valid: &Value, field: &str, value: Value) -> Value {
    let mut body = valid.clone();
    body[field] = value;
    body
}

async fn send(app: &TestApp, t: &Target, body: &Value) -> Reply {
    app.owner
        .send(t.method.clone(), &t.path, Some(body), &[])
        .await
        .unwrap()
}

async fn send_bytes(app: &TestApp, t: &Target, content_type: Option<&str>, body: &[u8]) -> Reply {
    app.owner
        .send_raw(t.method.clone(), &t.path, content_type, body.to_vec())
        .await
        .unwrap()
}

/// Asserts that a bad input was refused with `status` and `code`, with a message that says
/// something, and that nothing was written.
async fn assert_refused(
    app: &TestApp,
    what: &str,
    r: &Reply,
    status: u16,
    code: &str,
    revision_before: u64,
) {
    assert_eq!(
        (r.status.as_u16(), r.error_code()),
        (status, Some(code)),
        "{what}: expected {status} {code}, got {} {:?}",
        r.status,
        r.body
    );
    assert_error(r, status, code);
    assert!(
        r.revision().is_none(),
        "{what}: a refusal carries no Warden-Revision"
    );
    assert_eq!(
        app.revision().await,
        revision_before,
        "{what}: a refused request must write nothing"
    );
}

/// Asserts a write was accepted; returns the object.
fn assert_accepted(what: &str, t: &Target, r: &Reply) -> Value {
    let want = if t.is_create() { 201 } else { 200 };
    assert_eq!(r.status.as_u16(), want, "{what}: {:?}", r.body);
    assert!(r.revision().is_some(), "{what}: no Warden-Revision");
    r.body.clone()
}

/// The list field of a policy or role body that holds permissions.
fn permission_field(kind: Kind) -> &'static str {
    match kind {
        Kind::Policy => "permission_ids",
        _ => "permissions",
    }
}

// ---------------------------------------------------------------------------------------
// Malformed bodies
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_refused_as_invalid_json() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in &f.targets {
        for raw in [
            &b"{\"name\":"[..],
            b"{\"name\": \"x\",}",
            b"",
            b"not json",
            b"{'name': 'x'}",
        ] {
            let r = send_bytes(&f.app, t, Some("application/json"), raw).await;
            let what = format!("{}: {:?}", t.label, String::from_utf8_lossy(raw));
            assert_refused(&f.app, &what, &r, 400, "invalid_json", before).await;
        }
    }
}

#[tokio::test]
async fn wrongly_typed_fields_are_refused_as_invalid_body() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in &f.targets {
        let mut bad: Vec<(&str, Value)> = vec![
            ("name", with(&t.valid, "name", json!(5))),
            ("description", with(&t.valid, "description", json!(5))),
            ("name", with(&t.valid, "name", json!(["x"]))),
        ];
        match t.kind {
            Kind::Policy => {
                bad.push((
                    "permission_ids",
                    with(&t.valid, "permission_ids", json!("x")),
                ));
                bad.push((
                    "permission_ids",
                    with(&t.valid, "permission_ids", json!([5])),
                ));
            }
            Kind::Role => {
                bad.push(("policy_ids", with(&t.valid, "policy_ids", json!("x"))));
                bad.push(("permissions", with(&t.valid, "permissions", json!("x"))));
                bad.push((
                    "permissions",
                    with(&t.valid, "permissions", json!({"a": 1})),
                ));
            }
            Kind::Project => {
                bad.push(("restricted", with(&t.valid, "restricted", json!("yes"))));
            }
        }
        for (field, body) in bad {
            let r = send(&f.app, t, &body).await;
            let what = format!("{}: {body}", t.label);
            assert_refused(&f.app, &what, &r, 400, "invalid_body", before).await;
            assert!(
                r.error_message().unwrap().contains(field),
                "{what}: the message names `{field}`: {:?}",
                r.body
            );
        }
        // Not an object at all.
        for body in [json!([]), json!("name"), json!(null), json!(5)] {
            let r = send(&f.app, t, &body).await;
            let what = format!("{}: {body}", t.label);
            assert_refused(&f.app, &what, &r, 400, "invalid_body", before).await;
        }
    }
}

#[tokio::test]
async fn unknown_fields_are_refused_naming_them() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in &f.targets {
        for field in ["colour", "Name", "permission", "id"] {
            let body = with(&t.valid, field, json!("red"));
            let r = send(&f.app, t, &body).await;
            let what = format!("{}: {body}", t.label);
            assert_refused(&f.app, &what, &r, 400, "invalid_body", before).await;
            assert!(
                r.error_message().unwrap().contains(&format!("`{field}`")),
                "{what}: the message names the field: {:?}",
                r.body
            );
        }
    }
}

#[tokio::test]
async fn a_body_without_a_json_content_type_is_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in &f.targets {
        let bytes = t.valid.to_string().into_bytes();
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let r = send_bytes(&f.app, t, ct, &bytes).await;
            let what = format!("{} with content type {ct:?}", t.label);
            assert_refused(&f.app, &what, &r, 415, "unsupported_media_type", before).await;
            assert!(
                r.error_message().unwrap().contains("application/json"),
                "{what}: {:?}",
                r.body
            );
        }
    }
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in &f.targets {
        let body = with(&t.valid, "description", json!("d".repeat(1024 * 1024 + 10)));
        let r = send(&f.app, t, &body).await;
        assert_refused(&f.app, t.label, &r, 413, "body_too_large", before).await;
    }
}

#[tokio::test]
async fn an_update_without_fields_is_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in f.targets.iter().filter(|t| !t.is_create()) {
        let r = send(&f.app, t, &json!({})).await;
        assert_refused(&f.app, t.label, &r, 400, "empty_update", before).await;
        // Nulls are absent fields.
        let r = send(&f.app, t, &json!({"name": null, "description": null})).await;
        assert_refused(&f.app, t.label, &r, 400, "empty_update", before).await;
    }
}

#[tokio::test]
async fn a_malformed_if_match_is_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in f.targets.iter().filter(|t| !t.is_create()) {
        for v in ["abc", "\"one\"", "1.5"] {
            let r = f
                .app
                .owner
                .send(
                    t.method.clone(),
                    &t.path,
                    Some(&t.valid),
                    &[("If-Match", v)],
                )
                .await
                .unwrap();
            let what = format!("{} If-Match {v}", t.label);
            assert_refused(&f.app, &what, &r, 400, "invalid_header", before).await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Names and descriptions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn empty_blank_and_control_names_are_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in &f.targets {
        for name in ["", "   ", "\t", "\n", "a\nb", "tab\there", "nul\u{0}"] {
            let body = with(&t.valid, "name", json!(name));
            let r = send(&f.app, t, &body).await;
            let what = format!("{}: name {name:?}", t.label);
            assert_refused(&f.app, &what, &r, 400, "invalid_field", before).await;
            assert_eq!(r.body["error"]["details"]["field"], "name", "{what}");
            assert!(r.error_message().unwrap().contains("name"), "{what}");
        }
    }
}

#[tokio::test]
async fn names_are_limited_to_255_characters() {
    let f = fixture().await;
    for (i, t) in f.targets.iter().enumerate() {
        // A letter unique to the target, so that no two accepted names collide.
        let letter = char::from(b'a' + i as u8);
        let before = f.app.revision().await;
        for too_long in [
            letter.to_string().repeat(256),
            format!("{letter}{}", "é".repeat(255)),
            "x".repeat(10_000),
        ] {
            let body = with(&t.valid, "name", json!(too_long));
            let r = send(&f.app, t, &body).await;
            let what = format!("{}: a {}-character name", t.label, too_long.chars().count());
            assert_refused(&f.app, &what, &r, 400, "invalid_field", before).await;
            assert!(
                r.error_message().unwrap().contains("255"),
                "{what}: {:?}",
                r.body
            );
            assert_eq!(r.body["error"]["details"]["field"], "name", "{what}");
        }
        let max = letter.to_string().repeat(255);
        let r = send(&f.app, t, &with(&t.valid, "name", json!(max))).await;
        let got = assert_accepted(&format!("{}: 255 characters", t.label), t, &r);
        assert_eq!(got["name"], max, "{}", t.label);
        // Characters, not bytes: 255 two-byte characters are accepted.
        let wide = format!("{}{}", letter.to_ascii_uppercase(), "é".repeat(254));
        assert_eq!(wide.chars().count(), 255);
        let r = send(&f.app, t, &with(&t.valid, "name", json!(wide))).await;
        let got = assert_accepted(&format!("{}: 255 wide characters", t.label), t, &r);
        assert_eq!(got["name"], wide, "{}", t.label);
    }
}

#[tokio::test]
async fn descriptions_are_limited_to_1000_characters() {
    let f = fixture().await;
    for (i, t) in f.targets.iter().enumerate() {
        let before = f.app.revision().await;
        for too_long in ["d".repeat(1001), "é".repeat(1001)] {
            let body = with(&t.valid, "description", json!(too_long));
            let r = send(&f.app, t, &body).await;
            let what = format!("{}: a 1001-character description", t.label);
            assert_refused(&f.app, &what, &r, 400, "invalid_field", before).await;
            assert_eq!(r.body["error"]["details"]["field"], "description", "{what}");
            assert!(
                r.error_message().unwrap().contains("1000"),
                "{what}: {:?}",
                r.body
            );
        }
        let mut body = with(&t.valid, "description", json!("é".repeat(1000)));
        if t.is_create() {
            body["name"] = json!(format!("Described {i}"));
        }
        let r = send(&f.app, t, &body).await;
        let got = assert_accepted(&format!("{}: 1000 characters", t.label), t, &r);
        assert_eq!(got["description"], "é".repeat(1000), "{}", t.label);
    }
}

#[tokio::test]
async fn unicode_names_are_kept_intact() {
    let name = "Données 数据 🚀";
    for i in 0..TARGETS {
        // A fresh app per target, so that each can use the very same name.
        let f = fixture().await;
        let t = &f.targets[i];
        let r = send(&f.app, t, &with(&t.valid, "name", json!(name))).await;
        let got = assert_accepted(t.label, t, &r);
        assert_eq!(got["name"], name, "{}", t.label);
        let path = match (t.kind, t.is_create()) {
            (Kind::Project, true) => format!("/v1/projects/{}", text(&got, "id")),
            (_, true) => format!("{}/{}", t.path, text(&got, "id")),
            (_, false) => t.path.clone(),
        };
        let read = f.app.owner.get(&path).await.unwrap();
        assert_eq!(read.status, 200, "{}: {:?}", t.label, read.body);
        assert_eq!(read.body["name"], name, "{}: read back intact", t.label);
        // Surrounding blanks are trimmed, the rest kept.
        let r = send(
            &f.app,
            t,
            &with(
                &t.valid,
                "name",
                json!(format!("  {name} v2 \u{00e9}\u{0301} ")),
            ),
        )
        .await;
        let got = assert_accepted(t.label, t, &r);
        assert_eq!(
            got["name"],
            format!("{name} v2 \u{00e9}\u{0301}"),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn non_ascii_names_are_unique_regardless_of_case() {
    let f = fixture().await;
    let app = &f.app;
    // (where a create goes, where an update of another object of the same kind goes)
    let scopes = [
        (format!("{}/policies", f.org), Kind::Policy),
        (format!("{}/policies", f.project), Kind::Policy),
        (format!("{}/roles", f.org), Kind::Role),
        (format!("{}/roles", f.project), Kind::Role),
        (format!("{}/projects", f.org), Kind::Project),
    ];
    for (collection, kind) in scopes {
        let body = |name: &str| match kind {
            Kind::Policy => json!({"name": name, "permission_ids": ["dataset:read"]}),
            Kind::Role => json!({"name": name, "permissions": ["dataset:read"]}),
            Kind::Project => json!({"name": name}),
        };
        let r = app.owner.post(&collection, &body("éditeur")).await.unwrap();
        assert_eq!(r.status, 201, "{collection}: {:?}", r.body);
        let before = app.revision().await;
        for clash in ["ÉDITEUR", "Éditeur", " éDiTeUr "] {
            let r = app.owner.post(&collection, &body(clash)).await.unwrap();
            let what = format!("{collection}: {clash:?} after \"éditeur\"");
            assert_refused(app, &what, &r, 409, "name_taken", before).await;
        }
        // A rename onto it.
        let r = app.owner.post(&collection, &body("Ωmega")).await.unwrap();
        assert_eq!(r.status, 201, "{collection}: {:?}", r.body);
        let other = match kind {
            Kind::Project => format!("/v1/projects/{}", text(&r.body, "id")),
            _ => format!("{collection}/{}", text(&r.body, "id")),
        };
        let before = app.revision().await;
        let r = app
            .owner
            .patch(&other, &json!({"name": "ÉDITEUR"}))
            .await
            .unwrap();
        assert_refused(
            app,
            &format!("rename {other}"),
            &r,
            409,
            "name_taken",
            before,
        )
        .await;
        // The same letters differently cased are the same name for its owner too.
        let r = app
            .owner
            .patch(&other, &json!({"name": "ωMEGA"}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{other}: {:?}", r.body);
        assert_eq!(r.body["name"], "ωMEGA");
    }
}

// ---------------------------------------------------------------------------------------
// Lists in bodies
// ---------------------------------------------------------------------------------------

/// Every (target, list field, a valid entry) of the fixture.
fn list_fields(f: &Fixture) -> Vec<(&Target, &'static str, String)> {
    let mut out = Vec::new();
    for t in &f.targets {
        match t.kind {
            Kind::Policy | Kind::Role => {
                out.push((t, permission_field(t.kind), "dataset:read".to_owned()));
            }
            Kind::Project => {}
        }
        if t.kind == Kind::Role {
            let policy = if t.path.starts_with(&f.org) {
                f.org_policy.clone()
            } else {
                f.project_policy.clone()
            };
            out.push((t, "policy_ids", policy));
        }
    }
    out
}

#[tokio::test]
async fn lists_of_more_than_1000_entries_are_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for (t, field, entry) in list_fields(&f) {
        for n in [1001, 10_000] {
            let body = with(&t.valid, field, json!(vec![entry.clone(); n]));
            let r = send(&f.app, t, &body).await;
            let what = format!("{}: {n} entries in `{field}`", t.label);
            assert_refused(&f.app, &what, &r, 400, "too_many", before).await;
            assert!(
                r.error_message().unwrap().contains(field),
                "{what}: {:?}",
                r.body
            );
            assert!(r.error_message().unwrap().contains("1000"), "{what}");
        }
        // Distinct entries too: 10,000 permission ids that each name something.
        let many: Vec<String> = (0..10_000).map(|_| PolicyId::new().to_string()).collect();
        let r = send(&f.app, t, &with(&t.valid, field, json!(many))).await;
        let what = format!("{}: 10,000 distinct entries in `{field}`", t.label);
        assert_refused(&f.app, &what, &r, 400, "too_many", before).await;
    }
}

#[tokio::test]
async fn a_thousand_duplicates_are_accepted_once() {
    let f = fixture().await;
    for (i, (t, field, entry)) in list_fields(&f).into_iter().enumerate() {
        let mut body = with(&t.valid, field, json!(vec![entry.clone(); 1000]));
        if t.is_create() {
            body["name"] = json!(format!("Duplicates {i}"));
        }
        let r = send(&f.app, t, &body).await;
        let what = format!("{}: 1000 × {entry} in `{field}`", t.label);
        let got = assert_accepted(&what, t, &r);
        let shown = if field == "policy_ids" {
            "policy_ids"
        } else {
            "permissions"
        };
        assert_eq!(got[shown], json!([entry]), "{what}: deduplicated");
    }
}

#[tokio::test]
async fn empty_permission_lists_are_refused_for_policies() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in f.targets.iter().filter(|t| t.kind == Kind::Policy) {
        let r = send(&f.app, t, &with(&t.valid, "permission_ids", json!([]))).await;
        assert_refused(&f.app, t.label, &r, 400, "empty_list", before).await;
    }
}

#[tokio::test]
async fn malformed_policy_ids_are_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for t in f.targets.iter().filter(|t| t.kind == Kind::Role) {
        let body = with(&t.valid, "policy_ids", json!(["not-a-uuid", f.org_policy]));
        let r = send(&f.app, t, &body).await;
        assert_refused(&f.app, t.label, &r, 400, "invalid_id", before).await;
        assert!(
            r.error_message().unwrap().contains("not-a-uuid"),
            "{}: {:?}",
            t.label,
            r.body
        );
    }
}

// ---------------------------------------------------------------------------------------
// Ids of another org, and ids that are not ids
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_policy_id_of_another_org_is_as_unknown_as_a_made_up_one() {
    let f = fixture().await;
    let (globex, globex_org) = f.app.other_org("Globex").await;
    let r = globex
        .post(
            &format!("/v1/orgs/{globex_org}/policies"),
            &json!({"name": "Globex secret policy", "permission_ids": ["dataset:read"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let foreign = text(&r.body, "id");
    let made_up = PolicyId::new().to_string();
    let before = f.app.revision().await;
    for t in f.targets.iter().filter(|t| t.kind == Kind::Role) {
        let foreign_r = send(&f.app, t, &with(&t.valid, "policy_ids", json!([foreign]))).await;
        let what = format!("{}: Globex's policy", t.label);
        assert_refused(&f.app, &what, &foreign_r, 422, "unknown_policies", before).await;
        let made_up_r = send(&f.app, t, &with(&t.valid, "policy_ids", json!([made_up]))).await;
        assert_refused(&f.app, t.label, &made_up_r, 422, "unknown_policies", before).await;
        // Word for word the same answer, but for the id: nothing tells that it exists.
        assert_eq!(
            foreign_r.error_message().unwrap().replace(&foreign, "ID"),
            made_up_r.error_message().unwrap().replace(&made_up, "ID"),
            "{what}"
        );
        assert_eq!(
            foreign_r.body["error"]["details"]["unknown"],
            json!([foreign])
        );
        assert!(
            !foreign_r.error_message().unwrap().contains("Globex"),
            "{what}"
        );
    }
    // Globex's policy through Acme's own paths.
    for path in [
        format!("{}/policies/{foreign}", f.org),
        format!("{}/policies/{foreign}", f.project),
    ] {
        for method in [Method::GET, Method::PATCH, Method::DELETE] {
            let body = (method == Method::PATCH).then(|| json!({"name": "Mine"}));
            let r = f
                .app
                .owner
                .send(method.clone(), &path, body.as_ref(), &[])
                .await
                .unwrap();
            assert_refused(
                &f.app,
                &format!("{method} {path}"),
                &r,
                404,
                "not_found",
                before,
            )
            .await;
        }
    }
    let r = globex
        .get(&format!("/v1/orgs/{globex_org}/policies/{foreign}"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["name"], "Globex secret policy",
        "Globex's policy unchanged"
    );
}

#[tokio::test]
async fn a_project_of_another_org_is_not_found() {
    let f = fixture().await;
    let (globex, globex_org) = f.app.other_org("Globex").await;
    let r = globex
        .post(
            &format!("/v1/orgs/{globex_org}/projects"),
            &json!({"name": "Globex project"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let gp = format!("/v1/projects/{}", text(&r.body, "id"));
    let globex_project = r.body.clone();
    let before = f.app.revision().await;
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, gp.clone(), None),
        (Method::PATCH, gp.clone(), Some(json!({"name": "Mine"}))),
        (Method::DELETE, gp.clone(), None),
        (Method::GET, format!("{gp}/permissions"), None),
        (Method::GET, format!("{gp}/policies"), None),
        (
            Method::POST,
            format!("{gp}/policies"),
            Some(json!({"name": "Mine", "permission_ids": ["dataset:read"]})),
        ),
        (Method::GET, format!("{gp}/roles"), None),
        (
            Method::POST,
            format!("{gp}/roles"),
            Some(json!({"name": "Mine", "permissions": ["dataset:read"]})),
        ),
        (Method::GET, format!("/v1/orgs/{globex_org}"), None),
        (Method::GET, format!("/v1/orgs/{globex_org}/projects"), None),
        (Method::GET, format!("/v1/orgs/{globex_org}/policies"), None),
        (
            Method::POST,
            format!("/v1/orgs/{globex_org}/roles"),
            Some(json!({"name": "Mine", "permissions": ["dataset:read"]})),
        ),
    ];
    for (method, path, body) in cases {
        let r = f
            .app
            .owner
            .send(method.clone(), &path, body.as_ref(), &[])
            .await
            .unwrap();
        let what = format!("{method} {path}");
        assert_refused(&f.app, &what, &r, 404, "not_found", before).await;
        assert!(
            !r.error_message().unwrap().contains("Globex"),
            "{what}: {:?}",
            r.body
        );
    }
    let r = globex.get(&gp).await.unwrap();
    assert_eq!(r.body, globex_project, "Globex's project unchanged");
}

#[tokio::test]
async fn path_ids_that_are_not_uuids_are_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    let org = &f.org;
    let project = &f.project;
    let new_policy = json!({"name": "New", "permission_ids": ["dataset:read"]});
    let new_role = json!({"name": "New", "permissions": ["dataset:read"]});
    let change = json!({"description": "changed"});
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/orgs/not-a-uuid".into(), None),
        (Method::GET, "/v1/orgs/not-a-uuid/policies".into(), None),
        (
            Method::POST,
            "/v1/orgs/not-a-uuid/policies".into(),
            Some(new_policy.clone()),
        ),
        (Method::GET, "/v1/orgs/not-a-uuid/roles".into(), None),
        (
            Method::POST,
            "/v1/orgs/not-a-uuid/roles".into(),
            Some(new_role.clone()),
        ),
        (Method::GET, "/v1/orgs/not-a-uuid/permissions".into(), None),
        (
            Method::POST,
            "/v1/orgs/not-a-uuid/projects".into(),
            Some(json!({"name": "New"})),
        ),
        (Method::GET, format!("{org}/roles/xyz"), None),
        (
            Method::PATCH,
            format!("{org}/roles/xyz"),
            Some(change.clone()),
        ),
        (Method::DELETE, format!("{org}/roles/xyz"), None),
        (Method::GET, format!("{org}/policies/xyz"), None),
        (
            Method::PATCH,
            format!("{org}/policies/xyz"),
            Some(change.clone()),
        ),
        (Method::DELETE, format!("{org}/policies/xyz"), None),
        (Method::GET, format!("{project}/roles/12345"), None),
        (
            Method::PATCH,
            format!("{project}/roles/12345"),
            Some(change.clone()),
        ),
        (Method::DELETE, format!("{project}/policies/12345"), None),
        (Method::GET, "/v1/projects/not-a-uuid".into(), None),
        (
            Method::PATCH,
            "/v1/projects/not-a-uuid".into(),
            Some(change.clone()),
        ),
        (Method::DELETE, "/v1/projects/not-a-uuid".into(), None),
        (Method::GET, "/v1/projects/not-a-uuid/policies".into(), None),
        (
            Method::POST,
            "/v1/projects/not-a-uuid/roles".into(),
            Some(new_role.clone()),
        ),
        // One character short of a UUID.
        (
            Method::GET,
            format!("{org}/roles/{}", &f.org_role[..35]),
            None,
        ),
    ];
    for (method, path, body) in cases {
        let r = f
            .app
            .owner
            .send(method.clone(), &path, body.as_ref(), &[])
            .await
            .unwrap();
        let what = format!("{method} {path}");
        assert_refused(&f.app, &what, &r, 400, "invalid_id", before).await;
        assert!(
            r.error_message().unwrap().contains("UUID"),
            "{what}: the message says what an id looks like: {:?}",
            r.body
        );
    }
}

// ---------------------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_list_queries_are_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    let lists = [
        format!("{}/policies", f.org),
        format!("{}/policies", f.project),
        format!("{}/roles", f.org),
        format!("{}/roles", f.project),
        format!("{}/projects", f.org),
    ];
    for list in &lists {
        for (query, code) in [
            ("limit=0", "invalid_query"),
            ("limit=101", "invalid_query"),
            ("limit=-1", "invalid_query"),
            ("limit=ten", "invalid_query"),
            ("limit=99999999999", "invalid_query"),
            ("cursor=garbage", "invalid_cursor"),
            ("cursor=YTpub3QtYS11dWlk", "invalid_cursor"),
        ] {
            let path = format!("{list}?{query}");
            let r = f.app.owner.get(&path).await.unwrap();
            assert_refused(&f.app, &path, &r, 400, code, before).await;
        }
        // The bounds themselves are fine.
        for query in ["limit=1", "limit=100", "cursor="] {
            let path = format!("{list}?{query}");
            let r = f.app.owner.get(&path).await.unwrap();
            assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        }
    }
    for list in &lists[..4] {
        let path = format!("{list}?is_predefined=maybe");
        let r = f.app.owner.get(&path).await.unwrap();
        assert_refused(&f.app, &path, &r, 400, "invalid_query", before).await;
    }
}

#[tokio::test]
async fn bad_permission_list_queries_are_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    for list in [
        format!("{}/permissions", f.org),
        format!("{}/permissions", f.project),
    ] {
        // The catalogue is read whole: up to 1000 a page.
        for (query, code) in [
            ("limit=0", "invalid_query"),
            ("limit=1001", "invalid_query"),
            ("limit=ten", "invalid_query"),
            ("cursor=garbage", "invalid_cursor"),
        ] {
            let path = format!("{list}?{query}");
            let r = f.app.owner.get(&path).await.unwrap();
            assert_refused(&f.app, &path, &r, 400, code, before).await;
        }
        for query in ["limit=1", "limit=1000"] {
            let path = format!("{list}?{query}");
            let r = f.app.owner.get(&path).await.unwrap();
            assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        }
    }
}

#[tokio::test]
async fn bad_delete_queries_are_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    let objects = [
        format!("{}/policies/{}", f.org, f.org_policy),
        format!("{}/policies/{}", f.project, f.project_policy),
        format!("{}/roles/{}", f.org, f.org_role),
        format!("{}/roles/{}", f.project, f.project_role),
    ];
    for object in &objects {
        for query in ["cascade=maybe", "cascade=", "cascade=1"] {
            let path = format!("{object}?{query}");
            let r = f.app.owner.delete(&path).await.unwrap();
            assert_refused(&f.app, &path, &r, 400, "invalid_query", before).await;
        }
        let r = f.app.owner.get(object).await.unwrap();
        assert_eq!(r.status, 200, "{object} still exists: {:?}", r.body);
    }
}

#[tokio::test]
async fn unknown_query_parameters_are_refused() {
    let f = fixture().await;
    let before = f.app.revision().await;
    // Projects come last so that a failure there hides nothing else.
    let mut paths = vec![
        format!("{}/permissions?colour=red", f.org),
        format!("{}/permissions?colour=red", f.project),
        format!("{}/policies?colour=red", f.org),
        format!("{}/policies?limit=10&colour=red", f.project),
        format!("{}/roles?colour=red", f.org),
        format!("{}/roles?is_predefined=true&colour=red", f.project),
    ];
    for object in [
        format!("{}/policies/{}", f.org, f.org_policy),
        format!("{}/roles/{}", f.project, f.project_role),
    ] {
        for query in ["colour=red", "cascade=true&colour=red"] {
            let path = format!("{object}?{query}");
            let r = f.app.owner.delete(&path).await.unwrap();
            assert_refused(
                &f.app,
                &format!("DELETE {path}"),
                &r,
                400,
                "invalid_query",
                before,
            )
            .await;
            assert!(
                r.error_message().unwrap().contains("colour"),
                "{path}: {:?}",
                r.body
            );
        }
        assert_eq!(
            f.app.owner.get(&object).await.unwrap().status,
            200,
            "{object} kept"
        );
    }
    paths.push(format!("{}/projects?colour=red", f.org));
    paths.push(format!("{}/projects?limit=10&colour=red", f.org));
    for path in paths {
        let r = f.app.owner.get(&path).await.unwrap();
        assert_refused(
            &f.app,
            &format!("GET {path}"),
            &r,
            400,
            "invalid_query",
            before,
        )
        .await;
        assert!(
            r.error_message().unwrap().contains("colour"),
            "{path}: the message names the parameter: {:?}",
            r.body
        );
    }
}

// ---------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------

/// Found by schemathesis: a `min_revision` beyond every revision ever written was answered
/// 503 `not_consistent` ("retry shortly") once the wait ran out, though no retry can reach
/// it. It is refused with 422 `unknown_revision`, naming the field and the latest revision,
/// on every decision route; a revision written is still answered.
#[tokio::test]
async fn a_min_revision_never_written_is_refused_not_retried() {
    let app = common::spawn_app_with_config(warden_model::Catalogue::default_llmops(), |c| {
        c.consistency_wait = std::time::Duration::from_millis(50);
    })
    .await;
    let project = app.project("Decisions").await;
    let me = app.owner.get("/v1/me").await.unwrap().body;
    let principal = me["principal"].as_str().unwrap().to_owned();
    let key_id = principal.trim_start_matches("api_key:").to_owned();
    let written = app.revision().await;
    let never = written + 1000;
    let question =
        json!({"principal": principal, "permission": "dataset:read", "project_id": project});
    let evaluation = json!({
        "subject": {"type": "api_key", "id": key_id},
        "action": {"name": "dataset:read"},
        "resource": {"type": "project", "id": project},
    });
    let with_revision = |body: &Value, field: &str, rev: u64| {
        let mut body = body.clone();
        match field {
            "min_revision" => body["min_revision"] = json!(rev),
            _ => body["context"] = json!({"min_revision": rev}),
        }
        body
    };
    let routes: [(&str, Value, &str); 5] = [
        ("/v1/check", question.clone(), "min_revision"),
        ("/v1/explain", question.clone(), "min_revision"),
        (
            "/v1/check/batch",
            json!({"checks": [question]}),
            "min_revision",
        ),
        (
            "/access/v1/evaluation",
            evaluation.clone(),
            "context.min_revision",
        ),
        (
            "/access/v1/evaluations",
            json!({"evaluations": [evaluation]}),
            "context.min_revision",
        ),
    ];
    for (path, body, field) in routes {
        let r = app
            .owner
            .post(path, &with_revision(&body, field, never))
            .await
            .unwrap();
        assert_error(&r, 422, "unknown_revision");
        assert_eq!(r.body["error"]["details"]["field"], field, "{path}");
        assert_eq!(r.body["error"]["details"]["latest"], written, "{path}");
        assert!(
            r.error_message().unwrap().contains(&never.to_string()),
            "{path}: {:?}",
            r.body
        );
        let r = app
            .owner
            .post(path, &with_revision(&body, field, written))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
    }
}

/// Found by fuzzing (fuzz/corpus/json_routes/regression-expiry-past-year-9999.json): an
/// `expires_at` whose offset puts it past the year 9999 in UTC made the handler panic while
/// converting it to UTC. It is refused, in both scopes, and nothing is written; the last
/// time that can be kept is accepted.
#[tokio::test]
async fn an_expiry_past_the_year_9999_in_utc_is_refused() {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let before = app.revision().await;
    for scope in [app.org_path(""), format!("/v1/projects/{project}")] {
        for expires_at in [
            "9999-12-31T23:59:59.999999999-23:59",
            "9999-12-31T23:59:59-00:01",
        ] {
            let r = app
                .owner
                .post(
                    &format!("{scope}/api-keys"),
                    &json!({"name": "CI", "role_id": "Member", "expires_at": expires_at}),
                )
                .await
                .unwrap();
            assert_error(&r, 400, "invalid_field");
            assert!(
                r.error_message().unwrap().contains("year 10000"),
                "{:?}",
                r.body
            );
        }
    }
    assert_eq!(app.revision().await, before, "nothing was written");
    let r = app
        .owner
        .post(
            &app.org_path("/api-keys"),
            &json!({"name": "CI", "role_id": "Member", "expires_at": "9999-12-31T23:59:59+00:00"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["expires_at"], "9999-12-31T23:59:59Z");
}
