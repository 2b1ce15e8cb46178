#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `/openapi.json` is true to the router: every route is documented, every documented
//! operation is served, and what the server answers matches the documented schemas.

mod common;

use std::collections::BTreeSet;

use common::{assert_error, spawn_app};
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

/// The documented schema of `method path`'s success answer.
fn success_schema(doc: &Value, method: &str, path: &str, status: u16) -> Value {
    let schema = doc["paths"][path][method]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"]
        .clone();
    assert!(!schema.is_null(), "{method} {path} documents no {status}");
    schema
}

/// Found by schemathesis: a delete answers `{id, deleted, revision}` and adds
/// `roles_changed` or `memberships_removed` only when it changed some, but the document
/// required both (it described answers as they would be deserialized). Every delete route
/// is sent a real object here, plainly and with `?cascade=true` where a dependant is
/// removed, and each answer must match the documented schema.
#[tokio::test]
async fn every_delete_answers_as_documented() {
    let app = spawn_app().await;
    let doc = app.anonymous().get("/openapi.json").await.unwrap().body;
    let user = app.add_user_to_org("deleted@acme.test").await;
    let project = app.project("Docs").await;
    let team = app.team("Doomed").await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    let mut checked = Vec::new();
    let mut expect = |path: &str, r: &warden_client::Reply, extra: Option<&str>| {
        assert_eq!(r.status, 200, "DELETE {path}: {}", r.body);
        let schema = success_schema(&doc, "delete", path, 200);
        let errors = validate(&doc, &schema, &r.body);
        assert!(
            errors.is_empty(),
            "DELETE {path} does not match its schema: {errors:?}\n{}",
            r.body
        );
        if let Some(field) = extra {
            assert!(
                r.body[field].as_array().is_some_and(|a| !a.is_empty()),
                "{field} in {}",
                r.body
            );
        }
        checked.push(path.to_owned());
    };

    let owner = &app.owner;
    let r = owner
        .put(
            &app.org_path(&format!("/teams/{team_id}/users/{user}")),
            &json!({}),
        )
        .await
        .unwrap();
    assert!(r.status.is_success(), "{}", r.body);
    let r = owner
        .delete(&app.org_path(&format!("/teams/{team_id}/users/{user}")))
        .await
        .unwrap();
    expect("/v1/orgs/{org}/teams/{team}/users/{user}", &r, None);
    let r = owner
        .delete(&app.org_path(&format!("/teams/{team_id}")))
        .await
        .unwrap();
    expect("/v1/orgs/{org}/teams/{team}", &r, None);

    // The project first: removing the user from the org removes it from the projects too.
    for (template, base) in [
        ("/v1/projects/{project}", format!("/v1/projects/{project}")),
        ("/v1/orgs/{org}", app.org_path("")),
    ] {
        // A policy alone, then one a role uses (cascade: the role changes).
        let policy = app.policy(&base, "Alone", &["dataset:read"]).await;
        let r = owner
            .delete(&format!(
                "{base}/policies/{}",
                policy["id"].as_str().unwrap()
            ))
            .await
            .unwrap();
        expect(&format!("{template}/policies/{{id}}"), &r, None);
        let policy = app.policy(&base, "Used", &["dataset:read"]).await;
        let policy_id = policy["id"].as_str().unwrap();
        let role = app.role(&base, "User of it", &[policy_id]).await;
        let r = owner
            .delete(&format!("{base}/policies/{policy_id}?cascade=true"))
            .await
            .unwrap();
        expect(
            &format!("{template}/policies/{{id}}"),
            &r,
            Some("roles_changed"),
        );

        // A role alone, then one a member holds (cascade: the membership goes).
        let role_id = role["id"].as_str().unwrap();
        let r = owner
            .delete(&format!("{base}/roles/{role_id}"))
            .await
            .unwrap();
        expect(&format!("{template}/roles/{{id}}"), &r, None);
        let policy = app.policy(&base, "Held", &["dataset:read"]).await;
        let role = app
            .role(&base, "Held role", &[policy["id"].as_str().unwrap()])
            .await;
        let role_id = role["id"].as_str().unwrap();
        let r = owner
            .put(
                &format!("{base}/members/user:{user}"),
                &json!({"role_id": role_id}),
            )
            .await
            .unwrap();
        assert!(r.status.is_success(), "{}", r.body);
        let r = owner
            .delete(&format!("{base}/roles/{role_id}?cascade=true"))
            .await
            .unwrap();
        expect(
            &format!("{template}/roles/{{id}}"),
            &r,
            Some("memberships_removed"),
        );

        // A membership, and an API key.
        let r = owner
            .put(
                &format!("{base}/members/user:{user}"),
                &json!({"role_id": "Member"}),
            )
            .await
            .unwrap();
        assert!(r.status.is_success(), "{}", r.body);
        let r = owner
            .delete(&format!("{base}/members/user:{user}"))
            .await
            .unwrap();
        expect(&format!("{template}/members/{{principal}}"), &r, None);
        let r = owner
            .post(
                &format!("{base}/api-keys"),
                &json!({"name": "doomed", "role_id": "Member"}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let r = owner
            .delete(&format!(
                "{base}/api-keys/{}",
                r.body["id"].as_str().unwrap()
            ))
            .await
            .unwrap();
        expect(&format!("{template}/api-keys/{{id}}"), &r, None);
    }

    let r = owner
        .delete(&format!("/v1/projects/{project}"))
        .await
        .unwrap();
    expect("/v1/projects/{project}", &r, None);

    // Every delete route of the document was sent a real object.
    let deletes: BTreeSet<String> = operations(&doc)
        .into_iter()
        .filter(|(m, _)| m == "DELETE")
        .map(|(_, p)| p)
        .collect();
    let checked: BTreeSet<String> = checked.into_iter().collect();
    assert_eq!(deletes, checked);
}

/// Found by schemathesis (valid data refused): the document let `limit` be any integer from
/// 0 and `principal_type` any string, and left out `/v1/me`'s `?project_id=`, while the
/// server refuses a `limit` outside 1–100 (1–1000 for the catalogue) and a principal type
/// other than `user`, `team` and `api_key`. Every documented query parameter with bounds
/// or an enum is sent its edges here, on real objects: inside them it is accepted, outside
/// them refused with 400 `invalid_query`, whose `details.field` names the parameter (the
/// audit log, the catalogue and who-can named none).
#[tokio::test]
async fn query_parameters_are_bounded_as_documented() {
    let app = spawn_app().await;
    let project = app.project("Docs").await;
    let team = app.team("Docs Team").await;
    let team_key = team["key"].as_str().unwrap().to_owned();
    let doc = app.anonymous().get("/openapi.json").await.unwrap().body;
    let mut limits = 0;
    let mut enums = 0;
    for (method, path) in operations(&doc) {
        if method != "GET" {
            continue;
        }
        let url = path
            .replace("{org}", &app.org_id)
            .replace("{project}", &project)
            .replace("{permission}", "dataset:read")
            .replace("{team}", &team_key);
        let params = doc["paths"][&path]["get"]["parameters"].as_array().unwrap();
        for p in params.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().unwrap();
            let schema = &p["schema"];
            let get = |value: String| {
                let url = format!("{url}?{name}={value}");
                let owner = &app.owner;
                async move { (owner.get(&url).await.unwrap(), url) }
            };
            if name == "limit" {
                let min = schema["minimum"].as_u64();
                let max = schema["maximum"].as_u64();
                assert_eq!(min, Some(1), "GET {path}: `limit` documents its minimum");
                let max = max.unwrap_or_else(|| panic!("GET {path}: `limit` has no maximum"));
                for ok in [1, max] {
                    let (r, url) = get(ok.to_string()).await;
                    assert_eq!(r.status, 200, "GET {url}: {}", r.body);
                }
                for bad in [0, max + 1] {
                    let (r, url) = get(bad.to_string()).await;
                    assert_error(&r, 400, "invalid_query");
                    assert_eq!(r.body["error"]["details"]["field"], name, "GET {url}");
                }
                limits += 1;
            }
            if let Some(values) = schema["enum"].as_array() {
                for v in values {
                    let (r, url) = get(v.as_str().unwrap().to_owned()).await;
                    assert_eq!(r.status, 200, "GET {url}: {}", r.body);
                }
                let (r, url) = get("robot".into()).await;
                assert_error(&r, 400, "invalid_query");
                assert_eq!(r.body["error"]["details"]["field"], name, "GET {url}");
                enums += 1;
            }
        }
    }
    assert!(limits >= 19, "only {limits} lists document `limit`");
    assert!(enums >= 4, "only {enums} query enums");

    // `/v1/me` documents `?project_id=`, and answers for the project it names.
    let me = &doc["paths"]["/v1/me"]["get"]["parameters"];
    assert!(
        me.as_array()
            .unwrap()
            .iter()
            .any(|p| p["in"] == "query" && p["name"] == "project_id"),
        "{me}"
    );
    let r = app
        .owner
        .get(&format!("/v1/me?project_id={project}"))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["project_id"], project.as_str());
    assert_eq!(r.body["scope"], "project");
}

/// Found by schemathesis (nearly every generated question refused with 400): the document
/// let a question name both `project_id` and `org_id`, or neither, while the server needs
/// exactly one. The document says so now (`oneOf`); what it allows is answered, what it
/// refuses is refused with 400 `invalid_scope`, for `/v1/check`, `/v1/explain` and each
/// item of `/v1/check/batch`.
#[tokio::test]
async fn a_question_names_exactly_one_scope_as_documented() {
    let app = spawn_app().await;
    let project = app.project("Docs").await;
    let doc = app.anonymous().get("/openapi.json").await.unwrap().body;
    let me = app.owner.get("/v1/me").await.unwrap().body;
    let ask = json!({"principal": me["principal"], "permission": "dataset:read"});
    let scoped = |fields: &[(&str, Value)]| {
        let mut q = ask.clone();
        for (k, v) in fields {
            q[*k] = v.clone();
        }
        q
    };
    let good = [
        scoped(&[("project_id", json!(project))]),
        scoped(&[("org_id", json!(app.org_id))]),
        scoped(&[("org_id", json!(app.org_id)), ("project_id", Value::Null)]),
    ];
    let bad = [
        scoped(&[]),
        scoped(&[
            ("org_id", json!(app.org_id)),
            ("project_id", json!(project)),
        ]),
        scoped(&[("org_id", Value::Null), ("project_id", Value::Null)]),
    ];
    for path in ["/v1/check", "/v1/explain", "/v1/check/batch"] {
        let schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]
            .clone();
        let body = |q: &Value| {
            if path == "/v1/check/batch" {
                json!({"checks": [q]})
            } else {
                q.clone()
            }
        };
        for q in &good {
            let b = body(q);
            let errors = validate(&doc, &schema, &b);
            assert!(
                errors.is_empty(),
                "{path}: the document refuses {b}: {errors:?}"
            );
            let r = app.owner.post(path, &b).await.unwrap();
            assert_eq!(r.status, 200, "{path} {b}: {}", r.body);
        }
        for q in &bad {
            let b = body(q);
            assert!(
                !validate(&doc, &schema, &b).is_empty(),
                "{path}: the document allows {b}"
            );
            let r = app.owner.post(path, &b).await.unwrap();
            assert_error(&r, 400, "invalid_scope");
        }
    }
}
