//! Walks the server's own route table so that every route, including those added later, is
//! held to the same rules of bad input: a body that is not JSON, a body with an unknown
//! field, and no key at all are each refused with a 4xx that says what to change, and
//! nothing is written.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_route_refuses_bad_bodies_and_missing_keys_without_writing() {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let policy = app
        .policy(&app.org_path(""), "Readers", &["dataset:read"])
        .await;
    let team = app.team("Core").await;
    let user = app.add_user_to_org("ada@acme.test").await;
    let me = app.owner.get("/v1/me").await.unwrap().body;
    let key = me["principal"].as_str().unwrap().to_owned();
    let before = app.revision().await;
    let mut bodies = 0;
    for route in warden_server::routes::table() {
        let spec = route.spec;
        let url = spec
            .path
            .replace("{org}", &app.org_id)
            .replace("{project}", &project)
            .replace("{id}", policy["id"].as_str().unwrap())
            .replace("{principal}", &key)
            .replace("{team}", team["key"].as_str().unwrap())
            .replace("{user}", &user)
            .replace("{permission}", "dataset:read");
        if spec.authenticated {
            let r = app
                .anonymous()
                .send(spec.method.clone(), &url, None, &[])
                .await
                .unwrap();
            assert_eq!(
                r.status, 401,
                "{} {} without a key: {:?}",
                spec.method, spec.path, r.body
            );
            assert!(
                r.error_message()
                    .unwrap_or_default()
                    .contains("Authorization"),
                "{} {}",
                spec.method,
                spec.path
            );
        }
        if spec.request.is_none() {
            continue;
        }
        assert!(matches!(
            spec.method,
            Method::POST | Method::PUT | Method::PATCH
        ));
        let r = app
            .owner
            .send_raw(
                spec.method.clone(),
                &url,
                Some("application/json"),
                b"{,}".to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(
            r.status, 400,
            "{} {} with broken JSON: {:?}",
            spec.method, spec.path, r.body
        );
        assert_eq!(
            r.error_code(),
            Some("invalid_json"),
            "{} {}",
            spec.method,
            spec.path
        );
        let r = app
            .owner
            .send(
                spec.method.clone(),
                &url,
                Some(&json!({"surely_not_a_field": 1})),
                &[],
            )
            .await
            .unwrap();
        assert!(
            r.status.is_client_error(),
            "{} {} with an unknown field: {:?}",
            spec.method,
            spec.path,
            r.body
        );
        let message = r.error_message().unwrap_or_default();
        assert!(
            message.len() > 10,
            "{} {}: {message}",
            spec.method,
            spec.path
        );
        let r = app
            .owner
            .send_raw(
                spec.method.clone(),
                &url,
                Some("text/plain"),
                b"{}".to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(
            r.status, 415,
            "{} {} without a JSON content type: {:?}",
            spec.method, spec.path, r.body
        );
        bodies += 1;
    }
    assert!(bodies >= 25, "only {bodies} routes with bodies");
    assert_eq!(app.revision().await, before, "nothing was written");
}
