//! The decision API over real HTTP: check, batch, explain, effective permissions, who-can,
//! AuthZEN, and read-your-writes through `min_revision`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use warden_client::Client;
use warden_model::{OrgId, UserId};

struct World {
    app: TestApp,
    project: String,
    ada: String,
    bob: String,
    annotator_role: String,
    annotator_policy: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let org = OrgId::parse(&app.org_id).unwrap();
    let ada = app
        .store
        .add_user_to_org("t", org, "ada@acme.test")
        .await
        .unwrap()
        .value
        .to_string();
    let bob = app
        .store
        .add_user_to_org("t", org, "bob@acme.test")
        .await
        .unwrap()
        .value
        .to_string();
    let scope = format!("/v1/projects/{project}");
    let policy = app
        .policy(&scope, "Annotator", &["dataset:read", "dataset:update"])
        .await;
    let role = app
        .role(&scope, "Annotator", &[policy["id"].as_str().unwrap()])
        .await;
    let r = app
        .owner
        .put(
            &format!("{scope}/members/user:{ada}"),
            &json!({"role_id": "Annotator"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    World {
        project,
        ada,
        bob,
        annotator_role: role["id"].as_str().unwrap().to_owned(),
        annotator_policy: policy["id"].as_str().unwrap().to_owned(),
        app,
    }
}

async fn check(c: &Client, body: Value) -> warden_client::Reply {
    c.post("/v1/check", &body).await.unwrap()
}

#[tokio::test]
async fn check_answers_with_its_revision_and_sees_every_acknowledged_write() {
    let w = world().await;
    let c = &w.app.owner;
    let r = check(c, json!({"principal": format!("user:{}", w.ada), "permission": "dataset:update", "project_id": w.project})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["allowed"], true);
    assert!(r.body["revision"].as_u64().unwrap() >= 1);
    let r = check(c, json!({"principal": format!("user:{}", w.ada), "permission": "dataset:delete", "project_id": w.project})).await;
    assert_eq!(r.body["allowed"], false);
    let r = check(c, json!({"principal": format!("user:{}", w.bob), "permission": "dataset:read", "project_id": w.project})).await;
    assert_eq!(r.body["allowed"], false);
    // by permission id, at org scope
    let perms = c
        .list_all(&w.app.org_path("/permissions?resource=organization"))
        .await
        .unwrap();
    let id = perms
        .iter()
        .find(|p| p["key"] == "organization:read")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = c.get("/v1/me").await.unwrap().body;
    let r = check(
        c,
        json!({"principal": me["principal"], "permission": id, "org_id": w.app.org_id}),
    )
    .await;
    assert_eq!(r.body["allowed"], true);

    // A write's revision, then a check at that revision: the write is visible.
    let w1 = c
        .put(
            &format!("/v1/projects/{}/members/user:{}", w.project, w.bob),
            &json!({"role_id": "Member"}),
        )
        .await
        .unwrap();
    let rev = w1.revision().unwrap();
    let r = check(c, json!({"principal": format!("user:{}", w.bob), "permission": "dataset:read", "project_id": w.project, "min_revision": rev})).await;
    assert_eq!(r.body["allowed"], true);
    assert!(r.body["revision"].as_u64().unwrap() >= rev);
    // A revision never written cannot be waited for: refused, not "retry shortly".
    let r = check(c, json!({"principal": format!("user:{}", w.bob), "permission": "dataset:read", "project_id": w.project, "min_revision": rev + 1000})).await;
    assert_error(&r, 422, "unknown_revision");
    assert_eq!(r.body["error"]["details"]["latest"], rev);
}

#[tokio::test]
async fn decisions_stay_inside_the_callers_org() {
    let w = world().await;
    let (globex, globex_org) = w.app.other_org("Globex").await;
    // Globex asking about Acme's project: not found.
    let r = check(&globex, json!({"principal": format!("user:{}", w.ada), "permission": "dataset:read", "project_id": w.project})).await;
    assert_error(&r, 404, "not_found");
    // Acme asking about its project for a principal of Globex: not allowed.
    let gme = globex.get("/v1/me").await.unwrap().body;
    let r = check(&w.app.owner, json!({"principal": gme["principal"], "permission": "dataset:read", "project_id": w.project})).await;
    assert_eq!(r.body["allowed"], false);
    let r = check(&w.app.owner, json!({"principal": format!("user:{}", w.ada), "permission": "dataset:read", "org_id": globex_org})).await;
    assert_error(&r, 404, "not_found");
    // A key without access:check may not ask.
    let k = w
        .app
        .owner
        .post(
            &w.app.org_path("/api-keys"),
            &json!({"name": "m", "role_id": "Member"}),
        )
        .await
        .unwrap();
    let member = w.app.owner.with_key(k.body["secret"].as_str().unwrap());
    let r = check(&member, json!({"principal": format!("user:{}", w.ada), "permission": "dataset:read", "project_id": w.project})).await;
    assert_error(&r, 403, "forbidden");
    let r = member
        .post("/v1/check/constant", &json!({"principal": format!("user:{}", w.ada), "permission": "dataset:read", "project_id": w.project}))
        .await
        .unwrap();
    assert_error(&r, 403, "forbidden");
}

#[tokio::test]
async fn the_constant_floor_answers_allowed_at_revision_zero_without_deciding() {
    let w = world().await;
    // Bob holds nothing, yet the floor says allowed: it makes no decision.
    let body = json!({"principal": format!("user:{}", w.bob), "permission": "dataset:delete", "project_id": w.project});
    let r = w.app.owner.post("/v1/check/constant", &body).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, json!({"allowed": true, "revision": 0}));
    // It reads the body like /v1/check does.
    let r = w
        .app
        .owner
        .post("/v1/check/constant", &json!({"principal": "nobody"}))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    let r = w
        .app
        .anonymous()
        .post("/v1/check/constant", &body)
        .await
        .unwrap();
    assert_error(&r, 401, "unauthenticated");
}

#[tokio::test]
async fn bad_questions_are_refused_with_what_to_change() {
    let w = world().await;
    let c = &w.app.owner;
    for (body, code) in [
        (
            json!({"principal": "ada", "permission": "dataset:read", "project_id": w.project}),
            "invalid_principal",
        ),
        (
            json!({"principal": format!("user:{}", w.ada), "permission": "dataset:fly", "project_id": w.project}),
            "unknown_permission",
        ),
        (
            json!({"principal": format!("user:{}", w.ada), "permission": "dataset:read"}),
            "invalid_scope",
        ),
        (
            json!({"principal": format!("user:{}", w.ada), "permission": "dataset:read", "project_id": w.project, "org_id": w.app.org_id}),
            "invalid_scope",
        ),
        (
            json!({"principal": format!("user:{}", w.ada), "permission": "dataset:read", "project_id": "nope"}),
            "invalid_id",
        ),
        (
            json!({"principal": format!("user:{}", w.ada), "permission": "dataset:read", "project_id": w.project, "extra": 1}),
            "invalid_body",
        ),
    ] {
        let r = check(c, body.clone()).await;
        assert_error(&r, 400, code);
    }
}

#[tokio::test]
async fn a_batch_is_answered_at_one_revision_in_order() {
    let w = world().await;
    let (_, globex_org) = w.app.other_org("Globex").await;
    let ada = format!("user:{}", w.ada);
    let checks = json!([
        {"principal": ada, "permission": "dataset:read", "project_id": w.project},
        {"principal": ada, "permission": "dataset:delete", "project_id": w.project},
        {"principal": ada, "permission": "dataset:read", "org_id": globex_org},
        {"principal": ada, "permission": "dataset:read", "org_id": w.app.org_id},
    ]);
    let r = w
        .app
        .owner
        .post("/v1/check/batch", &json!({"checks": checks}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let allowed: Vec<bool> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["allowed"].as_bool().unwrap())
        .collect();
    assert_eq!(allowed, [true, false, false, false]);
    assert_eq!(r.body["results"][2]["error"]["code"], "not_found");
    assert!(r.body["revision"].is_u64());
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"principal": ada, "permission": "dataset:read", "project_id": w.project}))
        .collect();
    assert_error(
        &w.app
            .owner
            .post("/v1/check/batch", &json!({"checks": many}))
            .await
            .unwrap(),
        400,
        "invalid_batch",
    );
    assert_error(
        &w.app
            .owner
            .post("/v1/check/batch", &json!({"checks": []}))
            .await
            .unwrap(),
        400,
        "invalid_batch",
    );
    let thousand: Vec<Value> = (0..1000)
        .map(|_| json!({"principal": ada, "permission": "dataset:read", "project_id": w.project}))
        .collect();
    let r = w
        .app
        .owner
        .post("/v1/check/batch", &json!({"checks": thousand}))
        .await
        .unwrap();
    assert_eq!(r.body["results"].as_array().unwrap().len(), 1000);
    let r = w.app.owner.post("/v1/check/batch", &json!({"checks": [{"principal": "x", "permission": "dataset:read", "project_id": w.project}]})).await.unwrap();
    assert_error(&r, 400, "invalid_principal");
    assert!(r.error_message().unwrap().contains("checks[0]"));
}

#[tokio::test]
async fn a_batch_reads_escaped_strings_media_types_and_refuses_trailing_data() {
    let w = world().await;
    let path = "/v1/check/batch";
    // `\u0075` is `u`, `\/` is `/`: strings with escapes answer as their plain forms do.
    let body = format!(
        r#"{{"checks": [{{"principal": "\u0075ser:{}", "permission": "dataset:read", "project_id": "{}"}}, {{"principal": "user:{}", "permission": "dataset\u003aupdate", "project_id": "{}"}}]}}"#,
        w.ada, w.project, w.ada, w.project
    );
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.warden+json",
    ] {
        let r = w
            .app
            .owner
            .send_raw(Method::POST, path, Some(ct), body.clone().into_bytes())
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{ct}: {:?}", r.body);
        assert_eq!(r.body["results"][0]["allowed"], true, "{ct}");
        assert_eq!(r.body["results"][1]["allowed"], true, "{ct}");
    }
    for ct in [
        None,
        Some("text/plain"),
        Some("application/jsonx"),
        Some("json"),
    ] {
        let r = w
            .app
            .owner
            .send_raw(Method::POST, path, ct, body.clone().into_bytes())
            .await
            .unwrap();
        assert_error(&r, 415, "unsupported_media_type");
    }
    let trailing = format!("{body} {{}}");
    let r = w
        .app
        .owner
        .send_raw(
            Method::POST,
            path,
            Some("application/json"),
            trailing.into_bytes(),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_json");
    let r = w
        .app
        .owner
        .send_raw(
            Method::POST,
            path,
            Some("application/json"),
            br#"{"checks": [{"principal": 7}]}"#.to_vec(),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_body");
    assert!(
        r.error_message().unwrap().contains("checks[0].principal"),
        "{:?}",
        r.body
    );
    let r = w
        .app
        .owner
        .post(
            path,
            &json!({"checks": [{"principal": format!("user:{}", w.ada), "permission": "dataset:read"}]}),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_scope");
    assert!(r.error_message().unwrap().contains("checks[0].project_id"));
    let r = w
        .app
        .owner
        .post(
            path,
            &json!({"checks": [{"principal": format!("user:{}", w.ada), "permission": "dataset:fly", "project_id": w.project}]}),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "unknown_permission");
    assert!(r.error_message().unwrap().contains("checks[0].permission"));
}

#[tokio::test]
async fn explain_names_every_grant_or_why_there_is_none() {
    let w = world().await;
    let c = &w.app.owner;
    let ada = format!("user:{}", w.ada);
    let r = c
        .post(
            "/v1/explain",
            &json!({"principal": ada, "permission": "dataset:read", "project_id": w.project}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["allowed"], true);
    let g = &r.body["grants"][0];
    assert_eq!(g["role"]["id"], w.annotator_role.as_str());
    assert_eq!(g["role"]["name"], "Annotator");
    assert_eq!(g["policy"]["id"], w.annotator_policy.as_str());
    assert_eq!(g["policy"]["name"], "Annotator");
    assert_eq!(g["membership_scope"], "project");
    assert!(g["via_team"].is_null());
    assert!(r.body["reason"].is_null());

    let r = c
        .post(
            "/v1/explain",
            &json!({"principal": ada, "permission": "trace:delete", "project_id": w.project}),
        )
        .await
        .unwrap();
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["reason"]["code"], "not_in_role");
    assert_eq!(r.body["reason"]["roles"][0]["name"], "Annotator");
    let bob = format!("user:{}", w.bob);
    let r = c
        .post(
            "/v1/explain",
            &json!({"principal": bob, "permission": "dataset:read", "project_id": w.project}),
        )
        .await
        .unwrap();
    assert_eq!(r.body["reason"]["code"], "no_membership");

    // An org Member in a restricted project: the org role is ignored.
    c.put(
        &w.app.org_path(&format!("/members/user:{}", w.bob)),
        &json!({"role_id": "Member"}),
    )
    .await
    .unwrap();
    c.patch(
        &format!("/v1/projects/{}", w.project),
        &json!({"restricted": true}),
    )
    .await
    .unwrap();
    let r = c
        .post(
            "/v1/explain",
            &json!({"principal": bob, "permission": "dataset:read", "project_id": w.project}),
        )
        .await
        .unwrap();
    assert_eq!(r.body["allowed"], false);
    assert_eq!(r.body["reason"]["code"], "restricted_project");
    assert_eq!(r.body["reason"]["roles"][0]["name"], "Member");
}

#[tokio::test]
async fn effective_permissions_and_who_can() {
    let w = world().await;
    let c = &w.app.owner;
    let r = c
        .get(&format!(
            "/v1/projects/{}/principals/user:{}/permissions",
            w.project, w.ada
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["permissions"],
        json!(["dataset:read", "dataset:update"])
    );
    let r = c
        .get(
            &w.app
                .org_path(&format!("/principals/user:{}/permissions", w.ada)),
        )
        .await
        .unwrap();
    assert_eq!(
        r.body["permissions"],
        json!([]),
        "ada holds nothing at org scope"
    );

    let holders = c
        .list_all(&format!(
            "/v1/projects/{}/permissions/dataset:update/principals",
            w.project
        ))
        .await
        .unwrap();
    let principals: Vec<&str> = holders
        .iter()
        .map(|h| h["principal"].as_str().unwrap())
        .collect();
    assert!(principals.contains(&format!("user:{}", w.ada).as_str()));
    assert!(!principals.contains(&format!("user:{}", w.bob).as_str()));
    assert!(
        holders.iter().any(|h| h["principal_type"] == "api_key"),
        "the org Owner key holds everything"
    );
    let users = c
        .list_all(&format!(
            "/v1/projects/{}/permissions/dataset:update/principals?principal_type=user",
            w.project
        ))
        .await
        .unwrap();
    assert!(users.iter().all(|h| h["principal_type"] == "user"));
    // pagination walks every holder once
    let page = c
        .get(&format!(
            "/v1/projects/{}/permissions/dataset:update/principals?limit=1",
            w.project
        ))
        .await
        .unwrap();
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["has_more"], true);
    let paged = {
        let mut all = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(cu) => format!(
                    "/v1/projects/{}/permissions/dataset:update/principals?limit=1&cursor={cu}",
                    w.project
                ),
                None => format!(
                    "/v1/projects/{}/permissions/dataset:update/principals?limit=1",
                    w.project
                ),
            };
            let p = c.get(&url).await.unwrap().body;
            all.extend(
                p["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["principal"].as_str().unwrap().to_owned()),
            );
            match p["next_cursor"].as_str() {
                Some(n) => cursor = Some(n.to_owned()),
                None => break,
            }
        }
        all
    };
    assert_eq!(paged, principals);
    assert_error(
        &c.get(&format!(
            "/v1/projects/{}/permissions/dataset:fly/principals",
            w.project
        ))
        .await
        .unwrap(),
        400,
        "unknown_permission",
    );
}

#[tokio::test]
async fn authzen_evaluations_map_onto_the_same_engine() {
    let w = world().await;
    let c = &w.app.owner;
    let conf = w
        .app
        .anonymous()
        .get("/.well-known/authzen-configuration")
        .await
        .unwrap();
    assert_eq!(conf.status, 200);
    assert!(conf.body["access_evaluation_endpoint"]
        .as_str()
        .unwrap()
        .ends_with("/access/v1/evaluation"));
    let r = c
        .post(
            "/access/v1/evaluation",
            &json!({"subject": {"type": "user", "id": w.ada}, "action": {"name": "dataset:update"}, "resource": {"type": "project", "id": w.project}}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["decision"], true);
    assert!(r.body["context"]["revision"].is_u64());
    let r = c
        .post(
            "/access/v1/evaluations",
            &json!({
                "subject": {"type": "user", "id": w.ada},
                "resource": {"type": "project", "id": w.project},
                "evaluations": [
                    {"action": {"name": "dataset:read"}},
                    {"action": {"name": "dataset:delete"}},
                    {"action": {"name": "dataset:read"}, "subject": {"type": "user", "id": w.bob}},
                    {"action": {"name": "dataset:read"}, "resource": {"type": "organization", "id": w.app.org_id}}
                ]
            }),
        )
        .await
        .unwrap();
    let d: Vec<bool> = r.body["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision"].as_bool().unwrap())
        .collect();
    assert_eq!(d, [true, false, false, false]);
    let r = c
        .post(
            "/access/v1/evaluations",
            &json!({"subject": {"type": "user", "id": w.ada}, "resource": {"type": "project", "id": w.project},
                    "options": {"evaluations_semantic": "deny_on_first_deny"},
                    "evaluations": [{"action": {"name": "dataset:read"}}, {"action": {"name": "dataset:delete"}}, {"action": {"name": "dataset:read"}}]}),
        )
        .await
        .unwrap();
    assert_eq!(
        r.body["evaluations"].as_array().unwrap().len(),
        2,
        "stops at the first deny"
    );
    let r = c
        .post("/access/v1/evaluation", &json!({"subject": {"type": "robot", "id": w.ada}, "action": {"name": "x"}, "resource": {"type": "project", "id": w.project}}))
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_subject");
    // unknown permissions are denials, not errors
    let r = c
        .post("/access/v1/evaluation", &json!({"subject": {"type": "user", "id": w.ada}, "action": {"name": "dataset:fly"}, "resource": {"type": "project", "id": w.project}}))
        .await
        .unwrap();
    assert_eq!(r.body["decision"], false);
    let _ = UserId::new();
}
