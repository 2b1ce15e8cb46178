//! The management API's rules over real HTTP, at org and at project scope: the permission
//! catalogue, policies, roles, projects, `If-Match`, revisions, tenant isolation and
//! authentication.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{assert_error, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use warden_client::{Client, Reply};
use warden_model::PolicyId;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The org scope and a new project scope of the app, each with a label for messages.
async fn both_scopes(app: &TestApp) -> Vec<(&'static str, String)> {
    let project = app.project("Chatbot").await;
    vec![
        ("org", app.org_path("")),
        ("project", format!("/v1/projects/{project}")),
    ]
}

/// A string field of a JSON object.
fn text(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {v}"))
        .to_owned()
}

/// One string field of every item.
fn field_of_each(items: &[Value], field: &str) -> Vec<String> {
    items.iter().map(|i| text(i, field)).collect()
}

/// A JSON array of strings, as a set.
fn string_set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// GETs a path as the owner and expects 200.
async fn read(app: &TestApp, path: &str) -> Reply {
    let r = app.owner.get(path).await.unwrap();
    assert_eq!(r.status, 200, "GET {path}: {:?}", r.body);
    r
}

/// A one-page list (the whole of it): its items.
async fn whole_list(client: &Client, path: &str) -> Vec<Value> {
    let r = client.get(path).await.unwrap();
    assert_eq!(r.status, 200, "GET {path}: {:?}", r.body);
    assert_eq!(r.body["has_more"], false, "{path} fits on one page");
    assert!(r.body["next_cursor"].is_null(), "{path}: {:?}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

/// Walks a list page by page with `limit`, checking each page's `has_more` and
/// `next_cursor`, and returns every item in order.
async fn walk_pages(client: &Client, path: &str, limit: u32) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let r = client.get(&url).await.unwrap();
        assert_eq!(r.status, 200, "GET {url}: {:?}", r.body);
        let page = r.body["items"].as_array().unwrap();
        assert!(page.len() <= limit as usize, "{url}: page over the limit");
        let has_more = r.body["has_more"]
            .as_bool()
            .unwrap_or_else(|| panic!("{url}: `has_more` is not a boolean: {:?}", r.body));
        items.extend(page.iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert!(has_more, "{url}: a next_cursor with has_more=false");
                assert_eq!(
                    page.len(),
                    limit as usize,
                    "{url}: a page before the last is full"
                );
                cursor = Some(c.to_owned());
            }
            None => {
                assert!(r.body["next_cursor"].is_null(), "{url}: {:?}", r.body);
                assert!(!has_more, "{url}: the last page says has_more=true");
                return items;
            }
        }
    }
    panic!("{path}: the list never ended")
}

/// Asserts that every id of `got` is distinct, and that they are exactly `expected`.
fn assert_each_exactly_once(got: &[String], expected: &[String], what: &str) {
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(
        distinct.len(),
        got.len(),
        "{what}: an item was listed twice: {got:?}"
    );
    let want: BTreeSet<&String> = expected.iter().collect();
    assert_eq!(distinct, want, "{what}: items missing or extra");
}

/// Asserts a refusal (status, code, a message that says something) and that nothing was
/// written: no `Warden-Revision` header and the store's revision unchanged.
async fn assert_refused(app: &TestApp, r: &Reply, status: u16, code: &str, revision_before: u64) {
    assert_error(r, status, code);
    assert!(
        r.revision().is_none(),
        "a refused request carries no Warden-Revision: {:?}",
        r.headers
    );
    assert_eq!(
        app.revision().await,
        revision_before,
        "a refused request must write nothing"
    );
}

/// The id of the permission `key` as the scope's permission list gives it.
async fn permission_id(app: &TestApp, scope: &str, key: &str) -> String {
    let all = whole_list(&app.owner, &format!("{scope}/permissions")).await;
    let p = all
        .iter()
        .find(|p| p["key"] == key)
        .unwrap_or_else(|| panic!("{scope} has no permission {key}"));
    text(p, "id")
}

/// Creates a role from a full body; returns it.
async fn role_with(app: &TestApp, scope: &str, body: Value) -> Value {
    let r = app
        .owner
        .post(&format!("{scope}/roles"), &body)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "POST {scope}/roles {body}: {:?}", r.body);
    r.body
}

/// The predefined role of a scope with this name.
async fn predefined_role(app: &TestApp, scope: &str, name: &str) -> Value {
    whole_list(&app.owner, &format!("{scope}/roles?is_predefined=true"))
        .await
        .into_iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{scope} has no predefined role {name}"))
}

async fn patch_with_if_match(app: &TestApp, path: &str, body: &Value, version: &str) -> Reply {
    app.owner
        .send(Method::PATCH, path, Some(body), &[("If-Match", version)])
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn org_permissions_include_every_project_permission() {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let org = whole_list(&app.owner, &app.org_path("/permissions")).await;
    let proj = whole_list(&app.owner, &format!("/v1/projects/{project}/permissions")).await;
    let org_keys: BTreeSet<String> = field_of_each(&org, "key").into_iter().collect();
    let proj_keys: BTreeSet<String> = field_of_each(&proj, "key").into_iter().collect();
    assert_eq!(
        org_keys.len(),
        org.len(),
        "each org permission is listed once"
    );
    assert!(proj_keys.len() > 50, "the project catalogue: {proj_keys:?}");
    let missing: Vec<&String> = proj_keys.difference(&org_keys).collect();
    assert!(
        missing.is_empty(),
        "org scope lacks project permissions {missing:?}"
    );
    for key in [
        "organization:read",
        "organization:update",
        "project:create",
        "access:check",
    ] {
        assert!(org_keys.contains(key), "org scope lacks {key}");
    }
    for p in &org {
        assert_eq!(p["scope"], "org", "{p}");
        assert_eq!(
            text(p, "key"),
            format!("{}:{}", text(p, "resource"), text(p, "action")),
            "{p}"
        );
        assert!(!text(p, "id").is_empty());
    }
}

#[tokio::test]
async fn project_permissions_exclude_org_only_ones() {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let proj = whole_list(&app.owner, &format!("/v1/projects/{project}/permissions")).await;
    let keys: BTreeSet<String> = field_of_each(&proj, "key").into_iter().collect();
    assert_eq!(
        keys.len(),
        proj.len(),
        "each project permission is listed once"
    );
    for org_only in [
        "organization:read",
        "organization:update",
        "project:create",
        "member:create",
        "team:read",
        "access:check",
    ] {
        assert!(!keys.contains(org_only), "project scope lists {org_only}");
    }
    for key in [
        "dataset:read",
        "project:read",
        "role:create",
        "queue_item:assign",
    ] {
        assert!(keys.contains(key), "project scope lacks {key}");
    }
    for p in &proj {
        assert_eq!(p["scope"], "project", "{p}");
    }
}

#[tokio::test]
async fn permission_ids_are_the_same_on_two_servers() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    let pa = a.project("Chatbot").await;
    let pb = b.project("Other name").await;
    let ids = |items: Vec<Value>| -> BTreeMap<String, String> {
        items
            .iter()
            .map(|p| (text(p, "key"), text(p, "id")))
            .collect()
    };
    let org_a = ids(whole_list(&a.owner, &a.org_path("/permissions")).await);
    let org_b = ids(whole_list(&b.owner, &b.org_path("/permissions")).await);
    assert_ne!(a.org_id, b.org_id);
    assert_eq!(org_a, org_b, "org permission ids differ between servers");
    let proj_a = ids(whole_list(&a.owner, &format!("/v1/projects/{pa}/permissions")).await);
    let proj_b = ids(whole_list(&b.owner, &format!("/v1/projects/{pb}/permissions")).await);
    assert_eq!(
        proj_a, proj_b,
        "project permission ids differ between servers"
    );
    // Pinned by the catalogue: stored ids must never change.
    assert_eq!(
        proj_a["dataset:read"],
        "5eb45646-1ca2-52e0-8f3b-a9495c138085"
    );
    // Ids are per scope.
    assert_ne!(org_a["dataset:read"], proj_a["dataset:read"]);
}

#[tokio::test]
async fn permissions_are_filtered_by_resource() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let items = whole_list(&app.owner, &format!("{scope}/permissions?resource=dataset")).await;
        for p in &items {
            assert_eq!(p["resource"], "dataset", "{label}: {p}");
        }
        assert_eq!(
            field_of_each(&items, "key")
                .into_iter()
                .collect::<BTreeSet<_>>(),
            set_of(&[
                "dataset:create",
                "dataset:read",
                "dataset:update",
                "dataset:delete",
                "dataset:evaluate"
            ]),
            "{label}"
        );
    }
    let project = app.project("Other").await;
    let org_only = whole_list(
        &app.owner,
        &app.org_path("/permissions?resource=organization"),
    )
    .await;
    assert_eq!(
        field_of_each(&org_only, "key")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        set_of(&["organization:read", "organization:update"])
    );
    let none = whole_list(
        &app.owner,
        &format!("/v1/projects/{project}/permissions?resource=organization"),
    )
    .await;
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn permission_pages_walk_every_permission_once() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let path = format!("{scope}/permissions");
        let all = field_of_each(&whole_list(&app.owner, &path).await, "id");
        for limit in [1, 7, 50] {
            let walked = field_of_each(&walk_pages(&app.owner, &path, limit).await, "id");
            assert_each_exactly_once(&walked, &all, &format!("{label} limit {limit}"));
            assert_eq!(walked, all, "{label} limit {limit}: the order is stable");
        }
        // A filtered list pages too: 5 dataset permissions in pages of 2.
        let filtered = format!("{scope}/permissions?resource=dataset");
        let all = field_of_each(&whole_list(&app.owner, &filtered).await, "id");
        let walked = field_of_each(&walk_pages(&app.owner, &filtered, 2).await, "id");
        assert_eq!(walked.len(), 5);
        assert_each_exactly_once(&walked, &all, &format!("{label} dataset"));
    }
}

// ---------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn policies_are_created_with_permission_ids_or_keys() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let read_id = permission_id(&app, &scope, "dataset:read").await;
        let update_id = permission_id(&app, &scope, "dataset:update").await;
        let trace_id = permission_id(&app, &scope, "trace:read").await;
        let before = app.revision().await;
        let r = app
            .owner
            .post(
                &format!("{scope}/policies"),
                &json!({
                    "name": "Dataset editors",
                    "description": "read and change datasets",
                    "permission_ids": [read_id, "dataset:update", "trace:read"],
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{label}: {:?}", r.body);
        let p = &r.body;
        assert_eq!(p["name"], "Dataset editors", "{label}");
        assert_eq!(p["description"], "read and change datasets", "{label}");
        assert_eq!(p["is_predefined"], false, "{label}");
        assert_eq!(p["scope"], label, "{label}");
        assert_eq!(p["org_id"], app.org_id, "{label}");
        assert_eq!(p["version"], 1, "{label}");
        if label == "org" {
            assert!(p["project_id"].is_null(), "{label}: {p}");
        } else {
            assert_eq!(
                format!("/v1/projects/{}", text(p, "project_id")),
                scope,
                "{label}"
            );
        }
        assert_eq!(
            string_set(&p["permissions"]),
            set_of(&["dataset:read", "dataset:update", "trace:read"]),
            "{label}"
        );
        assert_eq!(
            string_set(&p["permission_ids"]),
            [read_id.clone(), update_id, trace_id]
                .into_iter()
                .collect::<BTreeSet<_>>(),
            "{label}"
        );
        // Each id stands beside its key.
        let keys = p["permissions"].as_array().unwrap();
        let ids = p["permission_ids"].as_array().unwrap();
        assert_eq!(keys.len(), ids.len(), "{label}");
        for (k, id) in keys.iter().zip(ids) {
            assert_eq!(
                id.as_str().unwrap(),
                permission_id(&app, &scope, k.as_str().unwrap()).await,
                "{label}: the id of {k}"
            );
        }
        let rev = r.revision().expect("a create returns Warden-Revision");
        assert!(rev > before, "{label}: {rev} after {before}");
        assert_eq!(app.revision().await, rev, "{label}");
        assert_eq!(r.etag().as_deref(), Some("1"), "{label}");

        // Only ids.
        let r = app
            .owner
            .post(
                &format!("{scope}/policies"),
                &json!({"name": "Only ids", "permission_ids": [read_id]}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{label}: {:?}", r.body);
        assert_eq!(r.body["permissions"], json!(["dataset:read"]), "{label}");
        assert_eq!(r.body["permission_ids"], json!([read_id]), "{label}");
        assert_eq!(r.body["description"], "", "{label}");
    }
}

#[tokio::test]
async fn a_policy_is_read_back_by_id() {
    let app = spawn_app().await;
    let scopes = both_scopes(&app).await;
    for (label, scope) in &scopes {
        let created = app
            .policy(scope, "Readers", &["dataset:read", "golden:read"])
            .await;
        let id = text(&created, "id");
        let r = read(&app, &format!("{scope}/policies/{id}")).await;
        assert_eq!(r.body, created, "{label}: GET returns what POST returned");
        assert_eq!(r.etag().as_deref(), Some("1"), "{label}");
        assert_eq!(
            r.headers.get("etag").unwrap().to_str().unwrap(),
            "\"1\"",
            "{label}: the ETag is quoted"
        );

        // An id that names nothing.
        let before = app.revision().await;
        let r = app
            .owner
            .get(&format!("{scope}/policies/{}", PolicyId::new()))
            .await
            .unwrap();
        assert_refused(&app, &r, 404, "not_found", before).await;
    }
    // A policy is found only in its own scope.
    let org_policy = app
        .policy(&scopes[0].1, "Org only", &["dataset:read"])
        .await;
    let r = app
        .owner
        .get(&format!(
            "{}/policies/{}",
            scopes[1].1,
            text(&org_policy, "id")
        ))
        .await
        .unwrap();
    assert_error(&r, 404, "not_found");
}

#[tokio::test]
async fn policy_lists_page_through_every_policy_once() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let mut created = Vec::new();
        for i in 0..7 {
            let p = app
                .policy(&scope, &format!("Policy {i}"), &["dataset:read"])
                .await;
            created.push(text(&p, "id"));
        }
        let path = format!("{scope}/policies");
        let all = field_of_each(&whole_list(&app.owner, &path).await, "id");
        for id in &created {
            assert!(all.contains(id), "{label}: {id} not listed");
        }
        for limit in [1, 3, 6, 7, 100] {
            let walked = field_of_each(&walk_pages(&app.owner, &path, limit).await, "id");
            assert_each_exactly_once(&walked, &all, &format!("{label} limit {limit}"));
            assert_eq!(walked, all, "{label} limit {limit}: oldest first, stable");
        }
        // Exactly a full page: no further page is announced.
        let custom = format!("{scope}/policies?is_predefined=false");
        let r = read(&app, &format!("{custom}&limit=7")).await;
        assert_eq!(r.body["items"].as_array().unwrap().len(), 7, "{label}");
        assert_eq!(r.body["has_more"], false, "{label}: {:?}", r.body);
        assert!(r.body["next_cursor"].is_null(), "{label}");
        let r = read(&app, &format!("{custom}&limit=3")).await;
        assert_eq!(r.body["has_more"], true, "{label}");
        assert!(r.body["next_cursor"].is_string(), "{label}");
        let walked = field_of_each(&walk_pages(&app.owner, &custom, 3).await, "id");
        assert_each_exactly_once(&walked, &created, &format!("{label} custom"));
    }
}

#[tokio::test]
async fn policy_update_changes_fields_and_replaces_the_permission_list() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let p = app
            .policy(&scope, "Readers", &["dataset:read", "dataset:update"])
            .await;
        let path = format!("{scope}/policies/{}", text(&p, "id"));
        let before = app.revision().await;
        let r = app
            .owner
            .patch(
                &path,
                &json!({"name": "Tracers", "description": "read traces", "permission_ids": ["trace:read"]}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(r.body["name"], "Tracers", "{label}");
        assert_eq!(r.body["description"], "read traces", "{label}");
        assert_eq!(
            r.body["permissions"],
            json!(["trace:read"]),
            "{label}: the list is replaced wholly"
        );
        assert_eq!(
            r.body["permission_ids"],
            json!([permission_id(&app, &scope, "trace:read").await]),
            "{label}"
        );
        assert_eq!(r.body["version"], 2, "{label}");
        assert_eq!(r.body["id"], p["id"], "{label}");
        assert!(r.revision().unwrap() > before, "{label}");
        let got = read(&app, &path).await;
        assert_eq!(got.body, r.body, "{label}: GET shows the update");

        // One field alone leaves the others.
        let r = app
            .owner
            .patch(&path, &json!({"description": "only this"}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(r.body["name"], "Tracers", "{label}");
        assert_eq!(r.body["description"], "only this", "{label}");
        assert_eq!(r.body["permissions"], json!(["trace:read"]), "{label}");
        let r = app
            .owner
            .patch(&path, &json!({"name": "Renamed"}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(r.body["name"], "Renamed", "{label}");
        assert_eq!(r.body["description"], "only this", "{label}");
        assert_eq!(r.body["permissions"], json!(["trace:read"]), "{label}");
        assert_eq!(r.body["version"], 4, "{label}");
    }
}

#[tokio::test]
async fn a_policy_update_without_fields_is_refused() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let p = app.policy(&scope, "Readers", &["dataset:read"]).await;
        let path = format!("{scope}/policies/{}", text(&p, "id"));
        let before = app.revision().await;
        let r = app.owner.patch(&path, &json!({})).await.unwrap();
        assert_refused(&app, &r, 400, "empty_update", before).await;
        assert_eq!(read(&app, &path).await.body, p, "{label}: unchanged");
    }
}

#[tokio::test]
async fn policy_names_are_unique_regardless_of_case() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        // The same name in the other scope is no conflict: both loops create it.
        let first = app.policy(&scope, "Annotators", &["dataset:read"]).await;
        let before = app.revision().await;
        let r = app
            .owner
            .post(
                &format!("{scope}/policies"),
                &json!({"name": "ANNOTATORS", "permission_ids": ["dataset:read"]}),
            )
            .await
            .unwrap();
        assert_refused(&app, &r, 409, "name_taken", before).await;
        assert!(
            r.error_message().unwrap().contains("Annotators"),
            "{label}: the message names the existing policy: {:?}",
            r.body
        );
        assert_eq!(r.body["error"]["details"]["field"], "name", "{label}");

        // A rename onto it.
        let other = app.policy(&scope, "Reviewers", &["dataset:read"]).await;
        let other_path = format!("{scope}/policies/{}", text(&other, "id"));
        let before = app.revision().await;
        let r = app
            .owner
            .patch(&other_path, &json!({"name": "  annotators "}))
            .await
            .unwrap();
        assert_refused(&app, &r, 409, "name_taken", before).await;
        assert_eq!(
            read(&app, &other_path).await.body,
            other,
            "{label}: unchanged"
        );
        assert_eq!(
            read(&app, &format!("{scope}/policies/{}", text(&first, "id")))
                .await
                .body,
            first,
            "{label}"
        );

        // A policy may change the case of its own name.
        let r = app
            .owner
            .patch(&other_path, &json!({"name": "REVIEWERS"}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(r.body["name"], "REVIEWERS", "{label}");
    }
}

#[tokio::test]
async fn a_policy_used_by_a_role_is_deleted_only_with_cascade() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let policy = app.policy(&scope, "Curation", &["dataset:update"]).await;
        let policy_id = text(&policy, "id");
        let role = role_with(
            &app,
            &scope,
            json!({"name": "Curators", "policy_ids": [policy_id], "permissions": ["trace:read"]}),
        )
        .await;
        let role_id = text(&role, "id");
        let policy_path = format!("{scope}/policies/{policy_id}");
        let role_path = format!("{scope}/roles/{role_id}");

        let before = app.revision().await;
        let r = app.owner.delete(&policy_path).await.unwrap();
        assert_refused(&app, &r, 409, "in_use", before).await;
        assert!(
            r.error_message().unwrap().contains("Curators"),
            "{label}: the message names the role: {:?}",
            r.body
        );
        assert!(
            r.error_message().unwrap().contains("cascade"),
            "{label}: the message says how to proceed: {:?}",
            r.body
        );
        assert_eq!(
            r.body["error"]["details"]["roles"],
            json!([{"id": role_id, "name": "Curators"}]),
            "{label}"
        );
        assert_eq!(read(&app, &policy_path).await.body, policy, "{label}: kept");
        assert_eq!(read(&app, &role_path).await.body, role, "{label}: kept");

        let r = app
            .owner
            .delete(&format!("{policy_path}?cascade=true"))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(r.body["deleted"], true, "{label}");
        assert_eq!(r.body["id"], policy_id, "{label}");
        assert_eq!(r.body["roles_changed"], json!([role_id]), "{label}");
        let rev = r.revision().unwrap();
        assert!(rev > before, "{label}");
        assert_eq!(r.body["revision"], rev, "{label}");

        let r = app.owner.get(&policy_path).await.unwrap();
        assert_error(&r, 404, "not_found");
        let role = read(&app, &role_path).await.body;
        assert_eq!(role["policy_ids"], json!([]), "{label}: {role}");
        assert_eq!(role["policies"], json!([]), "{label}");
        assert_eq!(role["permissions"], json!(["trace:read"]), "{label}");
        assert_eq!(
            role["effective_permissions"],
            json!(["trace:read"]),
            "{label}"
        );

        // An unused policy goes without cascade.
        let unused = app.policy(&scope, "Unused", &["dataset:read"]).await;
        let r = app
            .owner
            .delete(&format!("{scope}/policies/{}", text(&unused, "id")))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert!(r.revision().is_some(), "{label}");
    }
}

#[tokio::test]
async fn unknown_permissions_are_refused_by_name() {
    let app = spawn_app().await;
    let scopes = both_scopes(&app).await;
    for (label, scope) in &scopes {
        let before = app.revision().await;
        let r = app
            .owner
            .post(
                &format!("{scope}/policies"),
                &json!({"name": "Flyers", "permission_ids": ["dataset:read", "dataset:fly"]}),
            )
            .await
            .unwrap();
        assert_refused(&app, &r, 422, "unknown_permissions", before).await;
        assert!(
            r.error_message().unwrap().contains("dataset:fly"),
            "{label}: {:?}",
            r.body
        );
        assert_eq!(
            r.body["error"]["details"]["unknown"],
            json!(["dataset:fly"]),
            "{label}"
        );

        let p = app.policy(scope, "Readers", &["dataset:read"]).await;
        let path = format!("{scope}/policies/{}", text(&p, "id"));
        let before = app.revision().await;
        let r = app
            .owner
            .patch(&path, &json!({"permission_ids": ["nope:nope"]}))
            .await
            .unwrap();
        assert_refused(&app, &r, 422, "unknown_permissions", before).await;
        assert!(r.error_message().unwrap().contains("nope:nope"), "{label}");
        assert_eq!(read(&app, &path).await.body, p, "{label}: unchanged");
    }
    // An org-only permission is unknown in a project.
    let project = &scopes[1].1;
    let before = app.revision().await;
    let r = app
        .owner
        .post(
            &format!("{project}/policies"),
            &json!({"name": "Org readers", "permission_ids": ["organization:read"]}),
        )
        .await
        .unwrap();
    assert_refused(&app, &r, 422, "unknown_permissions", before).await;
    assert!(r.error_message().unwrap().contains("organization:read"));
    // Permission ids are per scope: a project permission id is not an org one.
    let project_id_of_read = permission_id(&app, project, "dataset:read").await;
    let r = app
        .owner
        .post(
            &app.org_path("/policies"),
            &json!({"name": "Cross", "permission_ids": [project_id_of_read]}),
        )
        .await
        .unwrap();
    assert_refused(&app, &r, 422, "unknown_permissions", before).await;
    assert!(r.error_message().unwrap().contains(&project_id_of_read));
}

// ---------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn roles_grant_the_union_of_their_policies_and_permissions() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let p1 = app
            .policy(&scope, "Datasets", &["dataset:read", "dataset:update"])
            .await;
        let p2 = app
            .policy(&scope, "Traces", &["trace:read", "dataset:read"])
            .await;
        let (id1, id2) = (text(&p1, "id"), text(&p2, "id"));
        let prompt_read = permission_id(&app, &scope, "prompt:read").await;
        let before = app.revision().await;
        let r = app
            .owner
            .post(
                &format!("{scope}/roles"),
                &json!({
                    "name": "Analyst",
                    "description": "reads most things",
                    "policy_ids": [id1, id2],
                    "permissions": [prompt_read, "dataset:read"],
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{label}: {:?}", r.body);
        let role = &r.body;
        assert!(r.revision().unwrap() > before, "{label}");
        assert_eq!(r.etag().as_deref(), Some("1"), "{label}");
        assert_eq!(role["name"], "Analyst", "{label}");
        assert_eq!(role["description"], "reads most things", "{label}");
        assert_eq!(role["is_predefined"], false, "{label}");
        assert_eq!(role["scope"], label, "{label}");
        assert_eq!(role["policy_ids"], json!([id1, id2]), "{label}");
        assert_eq!(
            role["policies"],
            json!([{"id": id1, "name": "Datasets"}, {"id": id2, "name": "Traces"}]),
            "{label}"
        );
        assert_eq!(
            string_set(&role["permissions"]),
            set_of(&["prompt:read", "dataset:read"]),
            "{label}: permission ids are stored as keys"
        );
        assert_eq!(
            role["permission_ids"].as_array().unwrap().len(),
            2,
            "{label}: {role}"
        );
        let effective = role["effective_permissions"].as_array().unwrap();
        assert_eq!(
            string_set(&role["effective_permissions"]),
            set_of(&[
                "dataset:read",
                "dataset:update",
                "trace:read",
                "prompt:read"
            ]),
            "{label}"
        );
        assert_eq!(effective.len(), 4, "{label}: no duplicates: {effective:?}");
        let got = read(&app, &format!("{scope}/roles/{}", text(role, "id"))).await;
        assert_eq!(&got.body, role, "{label}: GET returns what POST returned");
        assert_eq!(got.etag().as_deref(), Some("1"), "{label}");

        // Policies only, and permissions only.
        let only_policies = app.role(&scope, "Editors", &[id1.as_str()]).await;
        assert_eq!(
            string_set(&only_policies["effective_permissions"]),
            set_of(&["dataset:read", "dataset:update"]),
            "{label}"
        );
        assert_eq!(only_policies["permissions"], json!([]), "{label}");
        let only_permissions = role_with(
            &app,
            &scope,
            json!({"name": "Prompters", "permissions": ["prompt:read", "prompt:update"]}),
        )
        .await;
        assert_eq!(only_permissions["policy_ids"], json!([]), "{label}");
        assert_eq!(
            string_set(&only_permissions["effective_permissions"]),
            set_of(&["prompt:read", "prompt:update"]),
            "{label}"
        );
    }
}

#[tokio::test]
async fn a_role_without_policies_or_permissions_is_refused() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let before = app.revision().await;
        for body in [
            json!({"name": "Nothing"}),
            json!({"name": "Nothing", "policy_ids": [], "permissions": []}),
            json!({"name": "Nothing", "policy_ids": []}),
        ] {
            let r = app
                .owner
                .post(&format!("{scope}/roles"), &body)
                .await
                .unwrap();
            assert_refused(&app, &r, 400, "empty_role", before).await;
        }
        let custom = whole_list(&app.owner, &format!("{scope}/roles?is_predefined=false")).await;
        assert!(custom.is_empty(), "{label}: {custom:?}");
    }
}

#[tokio::test]
async fn a_role_may_not_take_a_predefined_role_name() {
    let app = spawn_app().await;
    let scopes = both_scopes(&app).await;
    let cases = [
        (&scopes[0].1, "owner", "Owner"),
        (&scopes[0].1, "ADMIN", "Admin"),
        (&scopes[1].1, "MANAGER", "Manager"),
        (&scopes[1].1, " member ", "Member"),
    ];
    for (scope, name, existing) in cases {
        let before = app.revision().await;
        let r = app
            .owner
            .post(
                &format!("{scope}/roles"),
                &json!({"name": name, "permissions": ["dataset:read"]}),
            )
            .await
            .unwrap();
        assert_refused(&app, &r, 409, "name_taken", before).await;
        let msg = r.error_message().unwrap();
        assert!(msg.contains("predefined"), "{scope} {name}: {msg}");
        assert!(msg.contains(existing), "{scope} {name}: {msg}");
    }
    // Renaming a custom role onto a predefined name.
    for (label, scope) in &scopes {
        let role = role_with(
            &app,
            scope,
            json!({"name": "Custom", "permissions": ["dataset:read"]}),
        )
        .await;
        let path = format!("{scope}/roles/{}", text(&role, "id"));
        let before = app.revision().await;
        let r = app
            .owner
            .patch(&path, &json!({"name": "OWNER"}))
            .await
            .unwrap();
        assert_refused(&app, &r, 409, "name_taken", before).await;
        assert!(
            r.error_message().unwrap().contains("predefined"),
            "{label}: {:?}",
            r.body
        );
        assert_eq!(read(&app, &path).await.body, role, "{label}: unchanged");
        // And onto another custom role's name, regardless of case.
        role_with(
            &app,
            scope,
            json!({"name": "Second", "permissions": ["dataset:read"]}),
        )
        .await;
        let before = app.revision().await;
        let r = app
            .owner
            .patch(&path, &json!({"name": "second"}))
            .await
            .unwrap();
        assert_refused(&app, &r, 409, "name_taken", before).await;
        let r = app
            .owner
            .post(
                &format!("{scope}/roles"),
                &json!({"name": "SECOND", "permissions": ["dataset:read"]}),
            )
            .await
            .unwrap();
        assert_refused(&app, &r, 409, "name_taken", before).await;
    }
}

#[tokio::test]
async fn predefined_roles_are_listed_and_filtered() {
    let app = spawn_app().await;
    let scopes = both_scopes(&app).await;
    let expected = [
        set_of(&["Owner", "Admin", "Member"]),
        set_of(&["Owner", "Manager", "Member"]),
    ];
    for ((label, scope), predefined_names) in scopes.iter().zip(expected) {
        let custom = role_with(
            &app,
            scope,
            json!({"name": "Custom", "permissions": ["dataset:read"]}),
        )
        .await;
        let predefined = whole_list(&app.owner, &format!("{scope}/roles?is_predefined=true")).await;
        assert_eq!(
            field_of_each(&predefined, "name")
                .into_iter()
                .collect::<BTreeSet<_>>(),
            predefined_names,
            "{label}"
        );
        for r in &predefined {
            assert_eq!(r["is_predefined"], true, "{label}: {r}");
            assert_eq!(r["scope"], *label, "{label}: {r}");
            assert!(
                !r["effective_permissions"].as_array().unwrap().is_empty(),
                "{label}: {r}"
            );
        }
        let customs = whole_list(&app.owner, &format!("{scope}/roles?is_predefined=false")).await;
        assert_eq!(customs, vec![custom.clone()], "{label}");
        let all = whole_list(&app.owner, &format!("{scope}/roles")).await;
        assert_eq!(all.len(), predefined.len() + 1, "{label}");
        let all_ids: Vec<String> = field_of_each(&all, "id");
        let mut parts = field_of_each(&predefined, "id");
        parts.push(text(&custom, "id"));
        assert_each_exactly_once(&all_ids, &parts, label);
        // The Owner role of each scope grants everything of the scope, role:create included.
        let owner = predefined_role(&app, scope, "Owner").await;
        assert!(
            string_set(&owner["effective_permissions"]).contains("role:create"),
            "{label}: {owner}"
        );
    }
}

#[tokio::test]
async fn predefined_roles_cannot_be_changed_or_deleted() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        for name in ["Owner", "Member"] {
            let role = predefined_role(&app, &scope, name).await;
            let path = format!("{scope}/roles/{}", text(&role, "id"));
            let before = app.revision().await;
            for body in [
                json!({"name": "Boss"}),
                json!({"description": "changed"}),
                json!({"permissions": ["dataset:read"]}),
            ] {
                let r = app.owner.patch(&path, &body).await.unwrap();
                assert_refused(&app, &r, 409, "predefined", before).await;
                assert!(
                    r.error_message().unwrap().contains(name),
                    "{label} {name}: {:?}",
                    r.body
                );
            }
            for del in [path.clone(), format!("{path}?cascade=true")] {
                let r = app.owner.delete(&del).await.unwrap();
                assert_refused(&app, &r, 409, "predefined", before).await;
            }
            assert_eq!(
                read(&app, &path).await.body,
                role,
                "{label} {name}: unchanged"
            );
        }
    }
}

#[tokio::test]
async fn a_role_may_only_use_policies_of_its_own_scope() {
    let app = spawn_app().await;
    let org = app.org_path("");
    let a = format!("/v1/projects/{}", app.project("Alpha").await);
    let b = format!("/v1/projects/{}", app.project("Beta").await);
    let org_policy = text(
        &app.policy(&org, "Org policy", &["dataset:read"]).await,
        "id",
    );
    let a_policy = text(
        &app.policy(&a, "Alpha policy", &["dataset:read"]).await,
        "id",
    );
    let cases = [
        ("org policy in a project role", &a, &org_policy),
        ("project policy in an org role", &org, &a_policy),
        ("project policy in another project's role", &b, &a_policy),
    ];
    for (what, scope, foreign) in cases {
        let before = app.revision().await;
        let r = app
            .owner
            .post(
                &format!("{scope}/roles"),
                &json!({"name": "Borrower", "policy_ids": [foreign]}),
            )
            .await
            .unwrap();
        assert_refused(&app, &r, 422, "policy_of_another_scope", before).await;
        assert!(
            r.error_message().unwrap().contains(foreign.as_str()),
            "{what}: the message names the policy: {:?}",
            r.body
        );
        assert_eq!(
            r.body["error"]["details"]["other_scope"],
            json!([foreign]),
            "{what}"
        );

        // The same through an update.
        let own = role_with(
            &app,
            scope,
            json!({"name": format!("Own {what}"), "permissions": ["dataset:read"]}),
        )
        .await;
        let path = format!("{scope}/roles/{}", text(&own, "id"));
        let before = app.revision().await;
        let r = app
            .owner
            .patch(&path, &json!({"policy_ids": [foreign]}))
            .await
            .unwrap();
        assert_refused(&app, &r, 422, "policy_of_another_scope", before).await;
        assert_eq!(read(&app, &path).await.body, own, "{what}: unchanged");
    }
}

#[tokio::test]
async fn unknown_policy_ids_are_refused_by_id() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let known = text(&app.policy(&scope, "Known", &["dataset:read"]).await, "id");
        let unknown = PolicyId::new().to_string();
        let before = app.revision().await;
        let r = app
            .owner
            .post(
                &format!("{scope}/roles"),
                &json!({"name": "Ghost", "policy_ids": [known, unknown]}),
            )
            .await
            .unwrap();
        assert_refused(&app, &r, 422, "unknown_policies", before).await;
        assert!(
            r.error_message().unwrap().contains(&unknown),
            "{label}: {:?}",
            r.body
        );
        assert!(
            !r.error_message().unwrap().contains(&known),
            "{label}: only the unknown id is named: {:?}",
            r.body
        );
        assert_eq!(
            r.body["error"]["details"]["unknown"],
            json!([unknown]),
            "{label}"
        );

        let role = app.role(&scope, "Real", &[known.as_str()]).await;
        let path = format!("{scope}/roles/{}", text(&role, "id"));
        let before = app.revision().await;
        let r = app
            .owner
            .patch(&path, &json!({"policy_ids": [unknown]}))
            .await
            .unwrap();
        assert_refused(&app, &r, 422, "unknown_policies", before).await;
        assert!(r.error_message().unwrap().contains(&unknown), "{label}");
        assert_eq!(read(&app, &path).await.body, role, "{label}: unchanged");
    }
}

#[tokio::test]
async fn a_role_update_replaces_its_lists_wholly() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let p1 = text(&app.policy(&scope, "One", &["dataset:read"]).await, "id");
        let p2 = text(&app.policy(&scope, "Two", &["trace:read"]).await, "id");
        let p3 = text(
            &app.policy(&scope, "Three", &["golden:read", "golden:update"])
                .await,
            "id",
        );
        let role = role_with(
            &app,
            &scope,
            json!({"name": "Mixed", "policy_ids": [p1, p2], "permissions": ["prompt:read"]}),
        )
        .await;
        let path = format!("{scope}/roles/{}", text(&role, "id"));

        let r = app
            .owner
            .patch(&path, &json!({"policy_ids": [p3]}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(r.body["policy_ids"], json!([p3]), "{label}");
        assert_eq!(
            r.body["permissions"],
            json!(["prompt:read"]),
            "{label}: kept"
        );
        assert_eq!(
            string_set(&r.body["effective_permissions"]),
            set_of(&["golden:read", "golden:update", "prompt:read"]),
            "{label}"
        );
        assert_eq!(r.body["version"], 2, "{label}");

        let r = app
            .owner
            .patch(&path, &json!({"permissions": ["trace:delete"]}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(r.body["policy_ids"], json!([p3]), "{label}: kept");
        assert_eq!(r.body["permissions"], json!(["trace:delete"]), "{label}");
        assert_eq!(
            string_set(&r.body["effective_permissions"]),
            set_of(&["golden:read", "golden:update", "trace:delete"]),
            "{label}"
        );

        let r = app
            .owner
            .patch(
                &path,
                &json!({"name": "Renamed", "description": "new words", "policy_ids": [p2, p1]}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(r.body["name"], "Renamed", "{label}");
        assert_eq!(r.body["description"], "new words", "{label}");
        assert_eq!(r.body["policy_ids"], json!([p2, p1]), "{label}");
        assert_eq!(read(&app, &path).await.body, r.body, "{label}");

        let before = app.revision().await;
        let r = app.owner.patch(&path, &json!({})).await.unwrap();
        assert_refused(&app, &r, 400, "empty_update", before).await;
    }
}

#[tokio::test]
async fn a_role_update_may_not_leave_it_empty() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let policy = text(&app.policy(&scope, "One", &["dataset:read"]).await, "id");
        let policies_only = app.role(&scope, "Policies only", &[policy.as_str()]).await;
        let permissions_only = role_with(
            &app,
            &scope,
            json!({"name": "Permissions only", "permissions": ["dataset:read"]}),
        )
        .await;
        let both = role_with(
            &app,
            &scope,
            json!({"name": "Both", "policy_ids": [policy], "permissions": ["trace:read"]}),
        )
        .await;
        let cases = [
            (&policies_only, json!({"policy_ids": []})),
            (&permissions_only, json!({"permissions": []})),
            (&both, json!({"policy_ids": [], "permissions": []})),
        ];
        for (role, body) in cases {
            let path = format!("{scope}/roles/{}", text(role, "id"));
            let before = app.revision().await;
            let r = app.owner.patch(&path, &body).await.unwrap();
            assert_refused(&app, &r, 422, "empty_role", before).await;
            assert_eq!(
                &read(&app, &path).await.body,
                role,
                "{label} {body}: unchanged"
            );
        }
        // Emptying one list of a role that keeps the other is fine.
        let path = format!("{scope}/roles/{}", text(&both, "id"));
        let r = app
            .owner
            .patch(&path, &json!({"policy_ids": []}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(
            r.body["effective_permissions"],
            json!(["trace:read"]),
            "{label}"
        );
    }
}

#[tokio::test]
async fn custom_roles_are_deleted() {
    let app = spawn_app().await;
    for (label, scope) in both_scopes(&app).await {
        let role = role_with(
            &app,
            &scope,
            json!({"name": "Temporary", "permissions": ["dataset:read"]}),
        )
        .await;
        let path = format!("{scope}/roles/{}", text(&role, "id"));
        let before = app.revision().await;
        let r = app.owner.delete(&path).await.unwrap();
        assert_eq!(r.status, 200, "{label}: {:?}", r.body);
        assert_eq!(r.body["deleted"], true, "{label}");
        assert!(r.revision().unwrap() > before, "{label}");
        let r = app.owner.get(&path).await.unwrap();
        assert_error(&r, 404, "not_found");
        let before = app.revision().await;
        let r = app.owner.delete(&path).await.unwrap();
        assert_refused(&app, &r, 404, "not_found", before).await;
    }
}

// ---------------------------------------------------------------------------------------
// If-Match and revisions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn if_match_refuses_a_stale_version_and_accepts_the_current_one() {
    let app = spawn_app().await;
    let org = app.org_path("");
    let project = format!("/v1/projects/{}", app.project("Chatbot").await);
    let org_policy = text(
        &app.policy(&org, "Org policy", &["dataset:read"]).await,
        "id",
    );
    let proj_policy = text(
        &app.policy(&project, "Project policy", &["dataset:read"])
            .await,
        "id",
    );
    let org_role = text(
        &app.role(&org, "Org role", &[org_policy.as_str()]).await,
        "id",
    );
    let proj_role = text(
        &app.role(&project, "Project role", &[proj_policy.as_str()])
            .await,
        "id",
    );
    let objects = [
        format!("{org}/policies/{org_policy}"),
        format!("{project}/policies/{proj_policy}"),
        format!("{org}/roles/{org_role}"),
        format!("{project}/roles/{proj_role}"),
        project.clone(),
    ];
    for path in objects {
        let got = read(&app, &path).await;
        assert_eq!(got.etag().as_deref(), Some("1"), "{path}");
        assert_eq!(
            got.headers.get("etag").unwrap().to_str().unwrap(),
            "\"1\"",
            "{path}"
        );
        assert_eq!(got.body["version"], 1, "{path}");

        let r = patch_with_if_match(&app, &path, &json!({"description": "second"}), "\"1\"").await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        assert_eq!(r.etag().as_deref(), Some("2"), "{path}");
        assert_eq!(r.body["version"], 2, "{path}");
        let current = read(&app, &path).await;
        assert_eq!(current.etag().as_deref(), Some("2"), "{path}");

        // Stale: someone else's change came first.
        let before = app.revision().await;
        let r = patch_with_if_match(&app, &path, &json!({"description": "lost"}), "\"1\"").await;
        assert_refused(&app, &r, 412, "version_mismatch", before).await;
        let after = read(&app, &path).await;
        assert_eq!(after.body, current.body, "{path}: nothing changed");
        assert_eq!(after.etag().as_deref(), Some("2"), "{path}");

        // A version from the future is as stale.
        let r = patch_with_if_match(&app, &path, &json!({"description": "lost"}), "\"9\"").await;
        assert_refused(&app, &r, 412, "version_mismatch", before).await;

        let r = patch_with_if_match(&app, &path, &json!({"description": "third"}), "\"2\"").await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        assert_eq!(r.etag().as_deref(), Some("3"), "{path}");
        assert_eq!(r.body["description"], "third", "{path}");
        assert!(r.revision().unwrap() > before, "{path}");
        // Without If-Match the write is unconditional.
        let r = app
            .owner
            .patch(&path, &json!({"description": "fourth"}))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        assert_eq!(r.etag().as_deref(), Some("4"), "{path}");
    }
}

#[tokio::test]
async fn every_write_returns_a_newer_revision() {
    let app = spawn_app().await;
    let mut revisions = vec![app.revision().await];
    let mut record = |r: &Reply, what: &str| {
        assert!(r.status.is_success(), "{what}: {} {:?}", r.status, r.body);
        let rev = r
            .revision()
            .unwrap_or_else(|| panic!("{what}: no Warden-Revision header"));
        assert!(
            rev > *revisions.last().unwrap(),
            "{what}: revision {rev} after {revisions:?}"
        );
        revisions.push(rev);
    };
    let org = app.org_path("");
    let o = &app.owner;
    let r = o
        .post(&format!("{org}/projects"), &json!({"name": "Chatbot"}))
        .await
        .unwrap();
    record(&r, "create project");
    let project = format!("/v1/projects/{}", text(&r.body, "id"));
    for scope in [&org, &project] {
        let r = o
            .post(
                &format!("{scope}/policies"),
                &json!({"name": "P", "permission_ids": ["dataset:read"]}),
            )
            .await
            .unwrap();
        record(&r, "create policy");
        let policy = format!("{scope}/policies/{}", text(&r.body, "id"));
        let r = o.patch(&policy, &json!({"name": "P2"})).await.unwrap();
        record(&r, "update policy");
        let r = o
            .post(
                &format!("{scope}/roles"),
                &json!({"name": "R", "policy_ids": [text(&r.body, "id")]}),
            )
            .await
            .unwrap();
        record(&r, "create role");
        let role = format!("{scope}/roles/{}", text(&r.body, "id"));
        let r = o
            .patch(&role, &json!({"permissions": ["trace:read"]}))
            .await
            .unwrap();
        record(&r, "update role");
        let r = o.delete(&format!("{policy}?cascade=true")).await.unwrap();
        record(&r, "delete policy");
        let r = o.delete(&role).await.unwrap();
        record(&r, "delete role");
    }
    let r = o
        .patch(&project, &json!({"restricted": true}))
        .await
        .unwrap();
    record(&r, "update project");
    let r = o.delete(&project).await.unwrap();
    record(&r, "delete project");
    assert_eq!(app.revision().await, *revisions.last().unwrap());
}

// ---------------------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn projects_are_created_read_listed_and_changed() {
    let app = spawn_app().await;
    let before = app.revision().await;
    let r = app
        .owner
        .post(
            &app.org_path("/projects"),
            &json!({"name": "Chatbot", "description": "support bot"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(r.revision().unwrap() > before);
    assert_eq!(r.etag().as_deref(), Some("1"));
    let created = r.body.clone();
    assert_eq!(created["name"], "Chatbot");
    assert_eq!(created["description"], "support bot");
    assert_eq!(created["restricted"], false);
    assert_eq!(created["org_id"], app.org_id);
    assert_eq!(created["version"], 1);
    let id = text(&created, "id");
    let path = format!("/v1/projects/{id}");

    // Its predefined roles.
    let roles = whole_list(&app.owner, &format!("{path}/roles")).await;
    assert_eq!(
        field_of_each(&roles, "name")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        set_of(&["Owner", "Manager", "Member"])
    );
    for role in &roles {
        assert_eq!(role["is_predefined"], true, "{role}");
        assert_eq!(role["project_id"], json!(id), "{role}");
    }

    let got = read(&app, &path).await;
    assert_eq!(got.body, created);
    assert_eq!(got.etag().as_deref(), Some("1"));

    // Listed, and pages walk every project once.
    let mut ids = vec![id.clone()];
    for i in 0..4 {
        ids.push(app.project(&format!("Project {i}")).await);
    }
    let listed = field_of_each(
        &walk_pages(&app.owner, &app.org_path("/projects"), 2).await,
        "id",
    );
    assert_each_exactly_once(&listed, &ids, "projects");
    assert_eq!(listed, ids, "projects are listed oldest first");
    let r = read(&app, &app.org_path("/projects?limit=5")).await;
    assert_eq!(r.body["has_more"], false);
    assert!(r.body["next_cursor"].is_null());

    // Changes.
    let r = app
        .owner
        .patch(&path, &json!({"name": "Support bot"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["name"], "Support bot");
    assert_eq!(r.body["restricted"], false);
    assert_eq!(r.body["description"], "support bot");
    assert!(r.revision().is_some());
    let r = app
        .owner
        .patch(&path, &json!({"restricted": true}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["restricted"], true);
    assert_eq!(r.body["name"], "Support bot");
    let r = app
        .owner
        .patch(&path, &json!({"description": "", "restricted": false}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["description"], "");
    assert_eq!(r.body["restricted"], false);
    assert_eq!(r.body["version"], 4);
    assert_eq!(read(&app, &path).await.body, r.body);

    let before = app.revision().await;
    let r = app.owner.patch(&path, &json!({})).await.unwrap();
    assert_refused(&app, &r, 400, "empty_update", before).await;
}

#[tokio::test]
async fn project_names_are_unique_regardless_of_case() {
    let app = spawn_app().await;
    let first = app.project("Chatbot").await;
    let before = app.revision().await;
    let r = app
        .owner
        .post(&app.org_path("/projects"), &json!({"name": "CHATBOT"}))
        .await
        .unwrap();
    assert_refused(&app, &r, 409, "name_taken", before).await;
    assert!(
        r.error_message().unwrap().contains("CHATBOT")
            || r.error_message().unwrap().contains("Chatbot")
    );

    let second = app.project("Search").await;
    let path = format!("/v1/projects/{second}");
    let kept = read(&app, &path).await.body;
    let before = app.revision().await;
    let r = app
        .owner
        .patch(&path, &json!({"name": "chatbot"}))
        .await
        .unwrap();
    assert_refused(&app, &r, 409, "name_taken", before).await;
    assert_eq!(read(&app, &path).await.body, kept, "unchanged");
    assert_eq!(
        read(&app, &format!("/v1/projects/{first}")).await.body["name"],
        "Chatbot"
    );
    let r = app
        .owner
        .patch(&path, &json!({"name": "SEARCH"}))
        .await
        .unwrap();
    assert_eq!(
        r.status, 200,
        "a project may change the case of its name: {:?}",
        r.body
    );
}

#[tokio::test]
async fn deleting_a_project_removes_it_and_leaves_the_others() {
    let app = spawn_app().await;
    let doomed = app.project("Doomed").await;
    let kept = app.project("Kept").await;
    let doomed_path = format!("/v1/projects/{doomed}");
    let kept_path = format!("/v1/projects/{kept}");
    let doomed_policy = app
        .policy(&doomed_path, "Shared name", &["dataset:read"])
        .await;
    app.role(
        &doomed_path,
        "Shared role",
        &[text(&doomed_policy, "id").as_str()],
    )
    .await;
    let kept_policy = app
        .policy(&kept_path, "Shared name", &["dataset:read"])
        .await;
    let kept_role = app
        .role(
            &kept_path,
            "Shared role",
            &[text(&kept_policy, "id").as_str()],
        )
        .await;
    let org_policy = app
        .policy(&app.org_path(""), "Org policy", &["dataset:read"])
        .await;
    let kept_before = read(&app, &kept_path).await.body;
    let kept_roles_before = whole_list(&app.owner, &format!("{kept_path}/roles")).await;

    let before = app.revision().await;
    let r = app.owner.delete(&doomed_path).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["deleted"], true);
    assert_eq!(r.body["id"], doomed);
    assert!(r.revision().unwrap() > before);

    for gone in [
        doomed_path.clone(),
        format!("{doomed_path}/policies"),
        format!("{doomed_path}/roles"),
        format!("{doomed_path}/policies/{}", text(&doomed_policy, "id")),
    ] {
        let r = app.owner.get(&gone).await.unwrap();
        assert_error(&r, 404, "not_found");
    }
    let listed = field_of_each(
        &whole_list(&app.owner, &app.org_path("/projects")).await,
        "id",
    );
    assert_eq!(listed, vec![kept.clone()]);

    assert_eq!(read(&app, &kept_path).await.body, kept_before);
    assert_eq!(
        whole_list(&app.owner, &format!("{kept_path}/roles")).await,
        kept_roles_before
    );
    assert_eq!(
        read(
            &app,
            &format!("{kept_path}/policies/{}", text(&kept_policy, "id"))
        )
        .await
        .body,
        kept_policy
    );
    assert_eq!(
        read(
            &app,
            &format!("{kept_path}/roles/{}", text(&kept_role, "id"))
        )
        .await
        .body,
        kept_role
    );
    assert_eq!(
        read(
            &app,
            &app.org_path(&format!("/policies/{}", text(&org_policy, "id")))
        )
        .await
        .body,
        org_policy
    );

    // Twice is not found, and writes nothing.
    let before = app.revision().await;
    let r = app.owner.delete(&doomed_path).await.unwrap();
    assert_refused(&app, &r, 404, "not_found", before).await;
    // Its name is free again.
    let again = app.project("Doomed").await;
    assert_ne!(again, doomed);
}

// ---------------------------------------------------------------------------------------
// Tenant isolation
// ---------------------------------------------------------------------------------------

/// Everything of Acme that another org could try to read or change, as Acme's owner sees it.
async fn acme_state(app: &TestApp, paths: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for p in paths {
        out.push(read(app, p).await.body);
    }
    out
}

#[tokio::test]
async fn another_org_gets_404_on_every_route_of_this_org() {
    let app = spawn_app().await;
    let org = app.org_path("");
    let project_id = app.project("Chatbot").await;
    let project = format!("/v1/projects/{project_id}");
    let org_policy = text(
        &app.policy(&org, "Org readers", &["dataset:read"]).await,
        "id",
    );
    let proj_policy = text(
        &app.policy(&project, "Project readers", &["dataset:read"])
            .await,
        "id",
    );
    let org_role = text(
        &app.role(&org, "Org role", &[org_policy.as_str()]).await,
        "id",
    );
    let proj_role = text(
        &app.role(&project, "Project role", &[proj_policy.as_str()])
            .await,
        "id",
    );
    let (globex, globex_org) = app.other_org("Globex").await;
    let globex_scope = format!("/v1/orgs/{globex_org}");

    let watched = vec![
        org.clone(),
        project.clone(),
        format!("{org}/projects"),
        format!("{org}/policies/{org_policy}"),
        format!("{project}/policies/{proj_policy}"),
        format!("{org}/roles/{org_role}"),
        format!("{project}/roles/{proj_role}"),
        format!("{org}/policies"),
        format!("{project}/policies"),
        format!("{org}/roles"),
        format!("{project}/roles"),
    ];
    let before_state = acme_state(&app, &watched).await;
    let globex_policies_before = whole_list(&globex, &format!("{globex_scope}/policies")).await;
    let before = app.revision().await;

    let new_policy = json!({"name": "Stolen", "permission_ids": ["dataset:read"]});
    let new_role = json!({"name": "Stolen", "permissions": ["dataset:read"]});
    let rename = json!({"name": "Hijacked"});
    let get = |p: String| (Method::GET, p, None);
    let post = |p: String, b: &Value| (Method::POST, p, Some(b.clone()));
    let patch = |p: String| (Method::PATCH, p, Some(rename.clone()));
    let delete = |p: String| (Method::DELETE, p, None);
    let mut cases: Vec<(Method, String, Option<Value>)> = vec![
        get(org.clone()),
        get(format!("{org}/permissions")),
        get(format!("{project}/permissions")),
        get(format!("{org}/projects")),
        post(format!("{org}/projects"), &json!({"name": "Stolen"})),
        get(format!("{org}/policies")),
        post(format!("{org}/policies"), &new_policy),
        get(format!("{project}/policies")),
        post(format!("{project}/policies"), &new_policy),
        get(format!("{org}/roles")),
        post(format!("{org}/roles"), &new_role),
        get(format!("{project}/roles")),
        post(format!("{project}/roles"), &new_role),
        get(project.clone()),
        patch(project.clone()),
        delete(project.clone()),
    ];
    for item in [
        format!("{org}/policies/{org_policy}"),
        format!("{project}/policies/{proj_policy}"),
        format!("{org}/roles/{org_role}"),
        format!("{project}/roles/{proj_role}"),
        // Acme's ids through Globex's own org scope.
        format!("{globex_scope}/policies/{org_policy}"),
        format!("{globex_scope}/roles/{org_role}"),
    ] {
        cases.push(get(item.clone()));
        cases.push(patch(item.clone()));
        cases.push(delete(item.clone()));
        cases.push(delete(format!("{item}?cascade=true")));
    }
    // A role of Globex may not borrow Acme's policy either: it is as unknown as a made-up id.
    let r = globex
        .post(
            &format!("{globex_scope}/roles"),
            &json!({"name": "Borrower", "policy_ids": [org_policy]}),
        )
        .await
        .unwrap();
    assert_refused(&app, &r, 422, "unknown_policies", before).await;

    for (method, path, body) in cases {
        let r = globex
            .send(method.clone(), &path, body.as_ref(), &[])
            .await
            .unwrap();
        assert_eq!(
            r.status, 404,
            "{method} {path} by another org: expected 404, got {} {:?}",
            r.status, r.body
        );
        assert_refused(&app, &r, 404, "not_found", before).await;
        let msg = r.error_message().unwrap();
        for secret in [
            "Acme",
            "Chatbot",
            "Org readers",
            "Project readers",
            "Org role",
        ] {
            assert!(
                !msg.contains(secret),
                "{method} {path} leaks {secret}: {msg}"
            );
        }
    }
    assert_eq!(
        acme_state(&app, &watched).await,
        before_state,
        "Acme unchanged"
    );
    assert_eq!(
        whole_list(&globex, &format!("{globex_scope}/policies")).await,
        globex_policies_before,
        "Globex gained nothing"
    );
}

// ---------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn requests_without_an_api_key_are_unauthenticated() {
    let app = spawn_app().await;
    let project = format!("/v1/projects/{}", app.project("Chatbot").await);
    let kept = read(&app, &project).await.body;
    let anonymous = app.anonymous();
    let before = app.revision().await;
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/v1/me".into(), None),
        (Method::GET, app.org_path(""), None),
        (Method::GET, app.org_path("/permissions"), None),
        (Method::GET, app.org_path("/policies"), None),
        (
            Method::POST,
            app.org_path("/policies"),
            Some(json!({"name": "P", "permission_ids": ["dataset:read"]})),
        ),
        (
            Method::POST,
            app.org_path("/projects"),
            Some(json!({"name": "New"})),
        ),
        (
            Method::PATCH,
            project.clone(),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::DELETE, project.clone(), None),
    ];
    for (method, path, body) in cases {
        let r = anonymous
            .send(method.clone(), &path, body.as_ref(), &[])
            .await
            .unwrap();
        assert_eq!(r.status, 401, "{method} {path}: {:?}", r.body);
        assert_refused(&app, &r, 401, "unauthenticated", before).await;
        assert!(
            r.error_message().unwrap().contains("Authorization"),
            "{method} {path}: the message says how to authenticate: {:?}",
            r.body
        );
    }
    assert_eq!(read(&app, &project).await.body, kept);
}

#[tokio::test]
async fn unknown_or_malformed_keys_are_unauthenticated() {
    let app = spawn_app().await;
    let before = app.revision().await;
    let garbage = app.owner.with_key("garbage");
    for path in ["/v1/me".to_owned(), app.org_path("/policies")] {
        let r = garbage.get(&path).await.unwrap();
        assert_refused(&app, &r, 401, "unauthenticated", before).await;
    }
    let r = garbage
        .post(&app.org_path("/projects"), &json!({"name": "New"}))
        .await
        .unwrap();
    assert_refused(&app, &r, 401, "unauthenticated", before).await;
    // A real-looking but made-up key.
    let made_up = app.owner.with_key(format!("wdn_{}", "x".repeat(40)));
    let r = made_up.get("/v1/me").await.unwrap();
    assert_refused(&app, &r, 401, "unauthenticated", before).await;
    // Not a bearer token.
    for header in ["Basic b3duZXI6cGFzcw==", "Bearer", "Bearer    ", "garbage"] {
        let r = app
            .anonymous()
            .send(Method::GET, "/v1/me", None, &[("Authorization", header)])
            .await
            .unwrap();
        assert_refused(&app, &r, 401, "unauthenticated", before).await;
    }
    let projects = whole_list(&app.owner, &app.org_path("/projects")).await;
    assert!(projects.is_empty(), "{projects:?}");
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_key() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    let r = anonymous.get("/healthz").await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "ok");
    let r = anonymous.get("/readyz").await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "ready");
    assert_eq!(r.body["database"], "up");
    assert!(r.body["revision"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn me_names_the_org_the_owner_role_and_its_permissions() {
    let app = spawn_app().await;
    let r = read(&app, "/v1/me").await;
    let me = &r.body;
    assert_eq!(me["org"]["id"], app.org_id, "{me}");
    assert_eq!(me["org"]["name"], "Acme", "{me}");
    assert_eq!(me["scope"], "org", "{me}");
    assert_eq!(me["role"]["name"], "Owner", "{me}");
    let permissions = string_set(&me["permissions"]);
    for key in [
        "role:create",
        "policy:delete",
        "project:create",
        "organization:read",
    ] {
        assert!(
            permissions.contains(key),
            "{key} missing from {permissions:?}"
        );
    }
    assert!(text(me, "principal").starts_with("api_key:"), "{me}");
    let owner = predefined_role(&app, &app.org_path(""), "Owner").await;
    assert_eq!(me["role"]["id"], owner["id"], "{me}");
}
