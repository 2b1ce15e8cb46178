#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `/openapi.json` is true to the router: every route is documented, every documented
//! operation is served, and what the server answers matches the documented schemas.

mod common;

use std::collections::BTreeSet;

use common::spawn_app;
use reqwest::Method;
use serde_json::{json, Value};

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// Validates `instance` against a schema of the document (which may `$ref` its components).
fn validate(doc: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    let validator = jsonschema::validator_for(&root).expect("the documented schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_of_the_router() {
    let app = spawn_app().await;
    let r = app.anonymous().get("/openapi.json").await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body["openapi"], "3.1.0");
    let documented = operations(&r.body);
    let routed: BTreeSet<(String, String)> = warden_server::routes::table()
        .into_iter()
        .map(|route| {
            (
                route.spec.method.as_str().to_owned(),
                route.spec.path.to_owned(),
            )
        })
        .collect();
    assert_eq!(documented, routed);
    for must in [
        "/v1/me",
        "/v1/orgs/{org}/policies/{id}",
        "/v1/projects/{project}/roles",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            documented.iter().any(|(_, p)| p == must),
            "{must} is documented"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_and_answers_as_documented() {
    let app = spawn_app().await;
    let project = app.project("Docs").await;
    let policy = app
        .policy(&app.org_path(""), "Readers", &["dataset:read"])
        .await;
    let policy_id = policy["id"].as_str().unwrap().to_owned();
    let me = app.owner.get("/v1/me").await.unwrap().body;
    let owner_key = me["principal"].as_str().unwrap().to_owned();
    let team = app.team("Docs Team").await;
    let team_key = team["key"].as_str().unwrap().to_owned();
    let user_id = app.add_user_to_org("docs@acme.test").await;
    let doc = app.anonymous().get("/openapi.json").await.unwrap().body;
    let mut checked = 0;
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        // Read-only calls on real ids; writes are sent an empty object, which must be
        // refused by validation (400), never by routing (404 route_not_found / 405).
        let url = path
            .replace("{org}", &app.org_id)
            .replace("{project}", &project)
            .replace("{id}", &policy_id)
            .replace("{principal}", &owner_key)
            .replace("{permission}", "dataset:read")
            .replace("{team}", &team_key)
            .replace("{user}", &user_id);
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (m == Method::POST || m == Method::PATCH).then(|| json!({}));
        let m_is_delete = m == Method::DELETE;
        if m_is_delete {
            // Deleting is exercised elsewhere; here only that the route exists: a random
            // id must be not found, not unrouted.
            let url = url
                .replace(&policy_id, "01900000-0000-7000-8000-000000000000")
                .replace(&owner_key, "user:01900000-0000-7000-8000-000000000000")
                .replace(&team_key, "no-such-team");
            let r = app.owner.send(m, &url, None, &[]).await.unwrap();
            assert_ne!(r.error_code(), Some("route_not_found"), "{method} {path}");
            assert_ne!(r.status, 405, "{method} {path}");
            checked += 1;
            continue;
        }
        let r = app
            .owner
            .send(m.clone(), &url, body.as_ref(), &[])
            .await
            .unwrap();
        assert_ne!(r.error_code(), Some("route_not_found"), "{method} {path}");
        assert_ne!(r.status, 405, "{method} {path}");
        let status = r.status.as_u16().to_string();
        let schema = if r.status.is_success() {
            op["responses"][&status]["content"]["application/json"]["schema"].clone()
        } else {
            json!({"$ref": "#/components/schemas/Error"})
        };
        assert!(
            !schema.is_null(),
            "{method} {path} answered {status}, which is not documented"
        );
        if path != "/openapi.json" {
            let errors = validate(&doc, &schema, &r.body);
            assert!(
                errors.is_empty(),
                "{method} {path} ({status}) does not match its schema: {errors:?}\n{}",
                r.body
            );
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} operations checked");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_api_error_body() {
    let app = spawn_app().await;
    let r = app.owner.get("/v1/nothing-here").await.unwrap();
    common::assert_error(&r, 404, "route_not_found");
    let r = app
        .owner
        .send(Method::PUT, "/v1/me", None, &[])
        .await
        .unwrap();
    common::assert_error(&r, 405, "method_not_allowed");
}
