#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Invitations through the REST API: create, list, get, resend, revoke at org and project
//! scope, and accepting one with its token.

mod common;

use std::time::Duration;

use common::{assert_error, spawn_app, spawn_app_with_config, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use warden_client::Reply;
use warden_model::{Catalogue, OrgId, Principal, ProjectId, Scope, UserId};

const PASSWORD: &str = "correct horse battery staple";

fn org_base(app: &TestApp) -> String {
    app.org_path("")
}

fn project_base(project: &str) -> String {
    format!("/v1/projects/{project}")
}

async fn invite(app: &TestApp, base: &str, emails: &[&str], role: &str) -> Reply {
    app.owner
        .post(
            &format!("{base}/invitations"),
            &json!({"emails": emails, "role_id": role}),
        )
        .await
        .unwrap()
}

/// Invites one email; returns the invitation's id and token.
async fn invite_one(app: &TestApp, base: &str, email: &str, role: &str) -> (String, String) {
    let r = invite(app, base, &[email], role).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let created = r.body["invitations"].as_array().unwrap();
    assert_eq!(created.len(), 1, "{:?}", r.body);
    (
        created[0]["id"].as_str().unwrap().to_owned(),
        created[0]["token"].as_str().unwrap().to_owned(),
    )
}

async fn accept(app: &TestApp, token: &str, name: &str, password: &str) -> Reply {
    app.anonymous()
        .post(
            "/v1/invitations/accept",
            &json!({"token": token, "name": name, "password": password}),
        )
        .await
        .unwrap()
}

async fn get(app: &TestApp, path: &str) -> Reply {
    app.owner.get(path).await.unwrap()
}

async fn post_empty(app: &TestApp, path: &str) -> Reply {
    app.owner.send(Method::POST, path, None, &[]).await.unwrap()
}

/// The id of a predefined role of a scope, by name.
async fn role_id(app: &TestApp, base: &str, name: &str) -> String {
    let r = get(app, &format!("{base}/roles?is_predefined=true")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["name"] == name)
        .unwrap_or_else(|| panic!("no role `{name}` in {base}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn items(r: &Reply) -> &Vec<Value> {
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["items"].as_array().unwrap()
}

async fn count_with_status(app: &TestApp, base: &str, status: &str) -> usize {
    items(&get(app, &format!("{base}/invitations?status={status}")).await).len()
}

fn user_of(r: &Reply) -> Principal {
    Principal::User(UserId::parse(r.body["user"]["id"].as_str().unwrap()).unwrap())
}

/// Asserts that no secret of an invitation reached the change log.
async fn assert_log_holds_no_secret(app: &TestApp, tokens: &[&str]) {
    let log = app.store.change_log_text().await.unwrap();
    assert!(log.contains("invitation"), "the log records invitations");
    for token in tokens {
        assert!(!log.contains(token), "a token reached the change log");
    }
    assert!(!log.contains(PASSWORD), "a password reached the change log");
    assert!(!log.contains("$argon2"), "a password hash reached the log");
    assert!(!log.contains("password_hash"));
    assert!(!log.contains("token_hash"));
}

#[tokio::test]
async fn an_org_invitation_is_created_listed_and_accepted() {
    let app = spawn_app().await;
    let base = org_base(&app);
    let member = role_id(&app, &base, "Member").await;
    let before = app.revision().await;

    let r = invite(
        &app,
        &base,
        &["ada@example.com", "ADA@Example.com", "owner@acme.test"],
        "Member",
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(app.revision().await, before + 1, "one write for the batch");
    assert_eq!(r.revision(), Some(before + 1));
    let created = r.body["invitations"].as_array().unwrap();
    assert_eq!(created.len(), 1, "duplicates count once: {:?}", r.body);
    let inv = &created[0];
    assert_eq!(inv["email"], "ada@example.com");
    assert_eq!(inv["status"], "pending");
    assert_eq!(inv["scope"], "org");
    assert_eq!(inv["org_id"], app.org_id.as_str());
    assert!(inv["project_id"].is_null());
    assert_eq!(inv["role_id"], member.as_str());
    assert_eq!(inv["role_name"], "Member");
    assert!(inv["accepted_at"].is_null());
    let token = inv["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 40, "a token is a long random secret");
    let id = inv["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body["skipped"],
        json!([{"email": "owner@acme.test", "reason": "already a member"}])
    );

    // Inviting the same email again is skipped and writes nothing.
    let rev = app.revision().await;
    let r = invite(&app, &base, &["Ada@example.com"], &member).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["invitations"], json!([]));
    assert_eq!(
        r.body["skipped"],
        json!([{"email": "Ada@example.com", "reason": "already invited"}])
    );
    assert_eq!(app.revision().await, rev);

    // Reads never show the token.
    let got = get(&app, &format!("{base}/invitations/{id}")).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["status"], "pending");
    assert_eq!(got.body["email"], "ada@example.com");
    assert!(got.body.get("token").is_none());
    assert_eq!(got.etag().as_deref(), Some("1"));
    let list = get(&app, &format!("{base}/invitations")).await;
    assert_eq!(items(&list).len(), 1);
    assert!(items(&list)[0].get("token").is_none());
    assert_eq!(count_with_status(&app, &base, "pending").await, 1);
    assert_eq!(count_with_status(&app, &base, "accepted").await, 0);
    assert_eq!(count_with_status(&app, &base, "revoked").await, 0);
    assert_eq!(count_with_status(&app, &base, "expired").await, 0);

    // Accepting makes the user and its membership.
    let r = accept(&app, &token, "Ada Lovelace", PASSWORD).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["user"]["email"], "ada@example.com");
    assert_eq!(r.body["user"]["name"], "Ada Lovelace");
    assert_eq!(r.body["scope"], "org");
    assert_eq!(r.body["org_id"], app.org_id.as_str());
    assert!(r.body["project_id"].is_null());
    assert_eq!(r.body["role"], json!({"id": member, "name": "Member"}));
    assert!(r.revision().is_some());
    let org = Scope::org(OrgId::parse(&app.org_id).unwrap());
    let held = app.store.membership(org, user_of(&r)).await.unwrap();
    assert_eq!(held.map(|r| r.to_string()), Some(member.clone()));

    // The token works once.
    let rev = app.revision().await;
    let again = accept(&app, &token, "Ada", PASSWORD).await;
    assert_error(&again, 409, "already_accepted");
    assert_eq!(app.revision().await, rev);

    let got = get(&app, &format!("{base}/invitations/{id}")).await;
    assert_eq!(got.body["status"], "accepted");
    assert!(got.body["accepted_at"].is_string());
    assert_eq!(count_with_status(&app, &base, "accepted").await, 1);
    assert_eq!(count_with_status(&app, &base, "pending").await, 0);

    // Now a member: a new invitation is skipped.
    let r = invite(&app, &base, &["ada@example.com"], "Member").await;
    assert_eq!(
        r.body["skipped"],
        json!([{"email": "ada@example.com", "reason": "already a member"}])
    );
    assert_eq!(app.revision().await, rev);

    assert_log_holds_no_secret(&app, &[&token]).await;
}

#[tokio::test]
async fn a_project_invitation_gives_a_project_role_and_no_org_role() {
    let app = spawn_app().await;
    let project = app.project("Evals").await;
    let base = project_base(&project);
    let manager = role_id(&app, &base, "Manager").await;

    let r = invite(
        &app,
        &base,
        &["bob@example.com", " Bob@Example.com ", "BOB@example.com"],
        &manager,
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let created = r.body["invitations"].as_array().unwrap();
    assert_eq!(created.len(), 1, "{:?}", r.body);
    assert_eq!(r.body["skipped"], json!([]));
    let inv = &created[0];
    assert_eq!(inv["scope"], "project");
    assert_eq!(inv["project_id"], project.as_str());
    assert_eq!(inv["role_name"], "Manager");
    let id = inv["id"].as_str().unwrap().to_owned();
    let token = inv["token"].as_str().unwrap().to_owned();

    let list = get(&app, &format!("{base}/invitations")).await;
    assert_eq!(items(&list).len(), 1);
    assert_eq!(items(&list)[0]["id"], id.as_str());
    // The org's own list is another scope.
    let org_list = get(&app, &format!("{}/invitations", org_base(&app))).await;
    assert!(items(&org_list).is_empty());
    let got = get(&app, &format!("{base}/invitations/{id}")).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(
        get(&app, &format!("{}/invitations/{id}", org_base(&app)))
            .await
            .status,
        404,
        "a project invitation is not one of the org"
    );

    let r = accept(&app, &token, "Bob", PASSWORD).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["scope"], "project");
    assert_eq!(r.body["project_id"], project.as_str());
    assert_eq!(r.body["role"]["name"], "Manager");
    let org_id = OrgId::parse(&app.org_id).unwrap();
    let in_project = Scope::project(org_id, ProjectId::parse(&project).unwrap());
    let user = user_of(&r);
    assert_eq!(
        app.store
            .membership(in_project, user)
            .await
            .unwrap()
            .map(|r| r.to_string()),
        Some(manager)
    );
    assert_eq!(
        app.store
            .membership(Scope::org(org_id), user)
            .await
            .unwrap(),
        None,
        "a project invitation gives no org role"
    );
    let log = app.store.change_log_text().await.unwrap();
    assert!(
        log.contains("\"joined_org\":true"),
        "the user joined the org"
    );

    assert_error(
        &accept(&app, &token, "Bob", PASSWORD).await,
        409,
        "already_accepted",
    );
    let r = invite(&app, &base, &["bob@example.com"], "Member").await;
    assert_eq!(
        r.body["skipped"],
        json!([{"email": "bob@example.com", "reason": "already a member"}])
    );
    assert_log_holds_no_secret(&app, &[&token]).await;
}

#[tokio::test]
async fn owner_cannot_be_given_through_an_invitation() {
    let app = spawn_app().await;
    let project = app.project("Evals").await;
    let org = org_base(&app);
    let proj = project_base(&project);
    let org_owner = role_id(&app, &org, "Owner").await;
    let project_owner = role_id(&app, &proj, "Owner").await;
    let before = app.revision().await;
    for (base, role) in [
        (&org, "Owner"),
        (&org, "owner"),
        (&org, org_owner.as_str()),
        (&proj, "Owner"),
        (&proj, project_owner.as_str()),
    ] {
        let r = invite(&app, base, &["eve@example.com"], role).await;
        assert_error(&r, 422, "owner_by_invitation");
        assert!(
            r.error_message().unwrap().contains("transfer ownership"),
            "{:?}",
            r.body
        );
    }
    assert_eq!(app.revision().await, before);
}

#[tokio::test]
async fn resending_replaces_the_token() {
    let app = spawn_app().await;
    let project = app.project("Evals").await;
    for base in [org_base(&app), project_base(&project)] {
        let email = "carol@example.com";
        let (id, old) = invite_one(&app, &base, email, "Member").await;
        let before = get(&app, &format!("{base}/invitations/{id}")).await.body;
        let rev = app.revision().await;
        let r = post_empty(&app, &format!("{base}/invitations/{id}/resend")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(app.revision().await, rev + 1);
        assert_eq!(r.body["id"], id.as_str());
        assert_eq!(r.body["status"], "pending");
        assert_eq!(r.body["version"], before["version"].as_i64().unwrap() + 1);
        assert!(r.body["expires_at"].as_str() >= before["expires_at"].as_str());
        let new = r.body["token"].as_str().unwrap().to_owned();
        assert_ne!(new, old);

        let rev = app.revision().await;
        let r = accept(&app, &old, "Carol", PASSWORD).await;
        assert_error(&r, 404, "not_found");
        assert!(r
            .error_message()
            .unwrap()
            .contains("not found or already used"));
        assert!(
            !r.body.to_string().contains(&old),
            "the token is not echoed"
        );
        assert_eq!(app.revision().await, rev);
        let r = accept(&app, &new, "Carol", PASSWORD).await;
        assert_eq!(r.status, 201, "{:?}", r.body);

        // An accepted invitation is not sent again.
        let rev = app.revision().await;
        let r = post_empty(&app, &format!("{base}/invitations/{id}/resend")).await;
        assert_error(&r, 409, "not_pending");
        assert_eq!(app.revision().await, rev);
        assert_log_holds_no_secret(&app, &[&old, &new]).await;
    }
}

#[tokio::test]
async fn a_revoked_invitation_cannot_be_accepted() {
    let app = spawn_app().await;
    let project = app.project("Evals").await;
    for base in [org_base(&app), project_base(&project)] {
        let (id, token) = invite_one(&app, &base, "dan@example.com", "Member").await;
        let rev = app.revision().await;
        let r = post_empty(&app, &format!("{base}/invitations/{id}/revoke")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["status"], "revoked");
        assert!(r.body.get("token").is_none());
        assert_eq!(app.revision().await, rev + 1);
        assert_eq!(count_with_status(&app, &base, "revoked").await, 1);
        assert_eq!(count_with_status(&app, &base, "pending").await, 0);

        let rev = app.revision().await;
        assert_error(&accept(&app, &token, "Dan", PASSWORD).await, 409, "revoked");
        assert_error(
            &post_empty(&app, &format!("{base}/invitations/{id}/revoke")).await,
            409,
            "not_pending",
        );
        assert_error(
            &post_empty(&app, &format!("{base}/invitations/{id}/resend")).await,
            409,
            "not_pending",
        );
        assert_eq!(app.revision().await, rev);

        // A revoked invitation does not block a new one.
        let (_, again) = invite_one(&app, &base, "dan@example.com", "Member").await;
        let r = accept(&app, &again, "Dan", PASSWORD).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

#[tokio::test]
async fn invitations_expire_after_the_configured_lifetime() {
    let app = spawn_app_with_config(Catalogue::default_llmops(), |c| {
        c.invitation_lifetime = Duration::from_secs(1);
    })
    .await;
    let project = app.project("Evals").await;
    for base in [org_base(&app), project_base(&project)] {
        let (id, token) = invite_one(&app, &base, "fay@example.com", "Member").await;
        tokio::time::sleep(Duration::from_millis(1100)).await;

        let got = get(&app, &format!("{base}/invitations/{id}")).await;
        assert_eq!(got.body["status"], "expired", "{:?}", got.body);
        assert_eq!(count_with_status(&app, &base, "expired").await, 1);
        assert_eq!(count_with_status(&app, &base, "pending").await, 0);

        let rev = app.revision().await;
        let r = accept(&app, &token, "Fay", PASSWORD).await;
        assert_error(&r, 409, "expired");
        assert!(r.error_message().unwrap().contains("ask"), "{:?}", r.body);
        assert_eq!(app.revision().await, rev);

        // An expired invitation can be resent: a new token and a new expiry.
        let r = post_empty(&app, &format!("{base}/invitations/{id}/resend")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["status"], "pending");
        assert!(r.body["expires_at"].as_str() > got.body["expires_at"].as_str());
        tokio::time::sleep(Duration::from_millis(1100)).await;

        // Inviting the email again replaces the expired invitation.
        let r = invite(&app, &base, &["fay@example.com"], "Member").await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["invitations"].as_array().unwrap().len(), 1);
        assert_eq!(r.body["skipped"], json!([]));
        let newer = r.body["invitations"][0]["id"].as_str().unwrap().to_owned();
        assert_ne!(newer, id);
        let old = get(&app, &format!("{base}/invitations/{id}")).await;
        assert_eq!(old.body["status"], "expired");
        // The old one cannot come back while the newer one is pending.
        let r = post_empty(&app, &format!("{base}/invitations/{id}/resend")).await;
        assert_error(&r, 409, "already_invited");
        assert!(r.error_message().unwrap().contains(&newer));
        // An expired invitation can still be revoked.
        let r = post_empty(&app, &format!("{base}/invitations/{id}/revoke")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["status"], "revoked");
    }
}

#[tokio::test]
async fn another_org_sees_none_of_these_invitations() {
    let app = spawn_app().await;
    let project = app.project("Evals").await;
    let (org_inv, _) = invite_one(&app, &org_base(&app), "gus@example.com", "Member").await;
    let (proj_inv, _) =
        invite_one(&app, &project_base(&project), "gus@example.com", "Member").await;
    let (globex, globex_id) = app.other_org("Globex").await;
    let rev = app.revision().await;
    let body = json!({"emails": ["mallory@example.com"], "role_id": "Member"});
    for (base, id) in [
        (org_base(&app), &org_inv),
        (project_base(&project), &proj_inv),
    ] {
        for (method, path, body) in [
            (Method::GET, format!("{base}/invitations"), None),
            (Method::POST, format!("{base}/invitations"), Some(&body)),
            (Method::GET, format!("{base}/invitations/{id}"), None),
            (
                Method::POST,
                format!("{base}/invitations/{id}/resend"),
                None,
            ),
            (
                Method::POST,
                format!("{base}/invitations/{id}/revoke"),
                None,
            ),
        ] {
            let r = globex.send(method.clone(), &path, body, &[]).await.unwrap();
            assert_error(&r, 404, "not_found");
        }
    }
    // Its own scope does not reach them by id either.
    let own = format!("/v1/orgs/{globex_id}");
    for path in [
        format!("{own}/invitations/{org_inv}"),
        format!("{own}/invitations/{proj_inv}"),
    ] {
        assert_error(&globex.get(&path).await.unwrap(), 404, "not_found");
    }
    for path in [
        format!("{own}/invitations/{org_inv}/revoke"),
        format!("{own}/invitations/{org_inv}/resend"),
    ] {
        let r = globex.send(Method::POST, &path, None, &[]).await.unwrap();
        assert_error(&r, 404, "not_found");
    }
    let list = globex.get(&format!("{own}/invitations")).await.unwrap();
    assert!(items(&list).is_empty());
    assert_eq!(app.revision().await, rev);
    // And the invitations are untouched.
    let got = get(&app, &format!("{}/invitations/{org_inv}", org_base(&app))).await;
    assert_eq!(got.body["status"], "pending");
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let base = org_base(&app);
    let path = format!("{base}/invitations");
    let (id, token) = invite_one(&app, &base, "hal@example.com", "Member").await;
    let rev = app.revision().await;

    let r = app
        .owner
        .send_raw(
            Method::POST,
            &path,
            Some("application/json"),
            b"{\"emails\": [".to_vec(),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_json");
    let r = app
        .owner
        .post(
            &path,
            &json!({"emails": ["a@example.com"], "role_id": "Member", "note": "hi"}),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_body");
    assert!(r.error_message().unwrap().contains("note"), "{:?}", r.body);
    let r = app
        .owner
        .post(&path, &json!({"emails": ["a@example.com"]}))
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_body");
    assert_error(&invite(&app, &base, &[], "Member").await, 400, "empty_list");
    let many: Vec<String> = (0..101).map(|i| format!("u{i}@example.com")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let r = invite(&app, &base, &many, "Member").await;
    assert_error(&r, 400, "too_many");
    assert!(r.error_message().unwrap().contains("101"));
    let r = invite(
        &app,
        &base,
        &["ok@example.com", "not-an-email", "x@nodot"],
        "Member",
    )
    .await;
    assert_error(&r, 400, "invalid_email");
    let message = r.error_message().unwrap();
    assert!(message.contains("`not-an-email`"), "{message}");
    assert!(message.contains("`x@nodot`"), "{message}");
    assert!(!message.contains("ok@example.com"), "{message}");
    let r = invite(&app, &base, &["ok@example.com"], "Nobody").await;
    assert_error(&r, 422, "unknown_role");
    assert!(r.error_message().unwrap().contains("`Nobody`"));
    let r = invite(
        &app,
        &base,
        &["ok@example.com"],
        "01900000-0000-7000-8000-000000000000",
    )
    .await;
    assert_error(&r, 404, "not_found");

    assert_error(
        &get(&app, &format!("{path}?status=lost")).await,
        400,
        "invalid_query",
    );
    assert_error(
        &get(&app, &format!("{path}?limit=0")).await,
        400,
        "invalid_query",
    );
    assert_error(&get(&app, &format!("{path}/nope")).await, 400, "invalid_id");
    assert_error(
        &get(
            &app,
            &format!("{path}/01900000-0000-7000-8000-000000000000"),
        )
        .await,
        404,
        "not_found",
    );
    assert_error(
        &post_empty(&app, &format!("{path}/nope/resend")).await,
        400,
        "invalid_id",
    );

    // Accepting.
    let r = accept(&app, &token, "Hal", "short").await;
    assert_error(&r, 400, "invalid_field");
    assert!(r.error_message().unwrap().contains("`password`"));
    let r = accept(&app, &token, "Hal", &"p".repeat(1025)).await;
    assert_error(&r, 400, "invalid_field");
    let r = accept(&app, &token, "   ", PASSWORD).await;
    assert_error(&r, 400, "invalid_field");
    assert!(r.error_message().unwrap().contains("`name`"));
    assert_error(
        &accept(&app, "wdn_not-a-token", "Hal", PASSWORD).await,
        404,
        "not_found",
    );
    assert_error(&accept(&app, "", "Hal", PASSWORD).await, 404, "not_found");
    let r = app
        .anonymous()
        .post(
            "/v1/invitations/accept",
            &json!({"token": token, "name": "Hal", "password": PASSWORD, "admin": true}),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_body");
    let r = app
        .anonymous()
        .send_raw(
            Method::POST,
            "/v1/invitations/accept",
            Some("application/json"),
            b"not json".to_vec(),
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_json");

    // Managing invitations needs a key.
    let r = app.anonymous().get(&path).await.unwrap();
    assert_error(&r, 401, "unauthenticated");

    assert_eq!(app.revision().await, rev);
    let got = get(&app, &format!("{path}/{id}")).await;
    assert_eq!(
        got.body["status"], "pending",
        "nothing changed the invitation"
    );
    // The password refused above was never stored: the right one still works.
    assert_eq!(accept(&app, &token, "Hal", PASSWORD).await.status, 201);
}

#[tokio::test]
async fn an_existing_account_accepts_with_its_own_password() {
    let app = spawn_app().await;
    let project = app.project("Evals").await;
    let (_, first) = invite_one(&app, &org_base(&app), "ivy@example.com", "Member").await;
    let r = accept(&app, &first, "Ivy", PASSWORD).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let user = r.body["user"]["id"].clone();

    let base = project_base(&project);
    let (id, second) = invite_one(&app, &base, "IVY@example.com", "Member").await;
    let rev = app.revision().await;
    let r = accept(&app, &second, "Someone Else", "another password").await;
    assert_error(&r, 422, "wrong_password");
    assert_eq!(app.revision().await, rev);
    let r = accept(&app, &second, "Someone Else", PASSWORD).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["user"]["id"], user, "the same user");
    assert_eq!(r.body["user"]["name"], "Ivy", "the account keeps its name");
    let got = get(&app, &format!("{base}/invitations/{id}")).await;
    assert_eq!(got.body["status"], "accepted");
}

#[tokio::test]
async fn lists_are_paginated() {
    let app = spawn_app().await;
    let base = org_base(&app);
    let r = invite(
        &app,
        &base,
        &["a@example.com", "b@example.com", "c@example.com"],
        "Member",
    )
    .await;
    assert_eq!(r.body["invitations"].as_array().unwrap().len(), 3);
    let first = get(&app, &format!("{base}/invitations?limit=2")).await;
    assert_eq!(items(&first).len(), 2);
    assert_eq!(first.body["has_more"], true);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = get(
        &app,
        &format!("{base}/invitations?limit=2&status=pending&cursor={cursor}"),
    )
    .await;
    assert_eq!(items(&second).len(), 1);
    assert_eq!(second.body["has_more"], false);
    assert_eq!(items(&second)[0]["email"], "c@example.com");
}

/// The llmops catalogue with an org Owner that lacks `dataset:delete`, so that the bootstrap
/// key can be shown a role that holds more than it does.
fn catalogue_without_dataset_delete() -> Catalogue {
    let text = warden_model::catalogue::PRESETS
        .iter()
        .find(|(n, _)| *n == "llmops")
        .unwrap()
        .1;
    let owner = "description = \"Full access to the organization and all its projects; can transfer ownership.\"\npermissions = [\"*\"]\n";
    assert!(text.contains(owner), "the org Owner of the catalogue moved");
    let text = text.replace(owner, &format!("{owner}except = [\"dataset:delete\"]\n"));
    Catalogue::parse("test", &text).unwrap()
}

#[tokio::test]
async fn an_invitation_grants_only_what_the_caller_holds() {
    let app = spawn_app_with_config(catalogue_without_dataset_delete(), |_| {}).await;
    let project = app.project("Evals").await;
    let rev = app.revision().await;
    // Admin (everything) at org scope holds `dataset:delete`, which the key lacks.
    let r = invite(&app, &org_base(&app), &["jo@example.com"], "Admin").await;
    assert_error(&r, 403, "escalation");
    assert!(r.error_message().unwrap().contains("`dataset:delete`"));
    assert_eq!(
        r.body["error"]["details"]["missing"],
        json!(["dataset:delete"])
    );
    // So does Manager in a project.
    let r = invite(
        &app,
        &project_base(&project),
        &["jo@example.com"],
        "Manager",
    )
    .await;
    assert_error(&r, 403, "escalation");
    assert_eq!(app.revision().await, rev);
    // So does Member; a role within what the key holds is fine.
    let r = invite(&app, &org_base(&app), &["jo@example.com"], "Member").await;
    assert_error(&r, 403, "escalation");
    let policy = app
        .policy(&org_base(&app), "Readers", &["dataset:read"])
        .await;
    app.role(&org_base(&app), "Reader", &[policy["id"].as_str().unwrap()])
        .await;
    let rev = app.revision().await;
    let r = invite(&app, &org_base(&app), &["jo@example.com"], "Reader").await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(app.revision().await, rev + 1);
}
