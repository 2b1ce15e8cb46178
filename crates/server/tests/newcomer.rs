//! The path a newcomer walks in the README: invite a user, accept, sign in, put the user in
//! a team that holds a project role, see the effect through `/v1/me` with the user's own
//! key, read it in the audit log, and fail to escalate. Then the deployment settings that
//! decide what arriving users get.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, spawn_app, spawn_app_with_config, TestApp};
use serde_json::{json, Value};
use warden_client::Client;
use warden_model::Catalogue;

/// Invites `email` to `scope` with `role`, accepts as the invitee, and signs in.
async fn arrive(app: &TestApp, scope: &str, email: &str, role: &str) -> (String, Client) {
    let r = app
        .owner
        .post(
            &format!("{scope}/invitations"),
            &json!({"emails": [email], "role_id": role}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let token = r.body["invitations"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let anon = app.anonymous();
    let r = anon
        .post(
            "/v1/invitations/accept",
            &json!({"token": token, "name": "Ada Lovelace", "password": "analytical engine"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let user = r.body["user"]["id"].as_str().unwrap().to_owned();
    let r = anon
        .post(
            "/v1/auth/tokens",
            &json!({"email": email, "password": "analytical engine"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["user_id"], user.as_str());
    (user, app.owner.with_key(r.body["secret"].as_str().unwrap()))
}

fn perms(me: &Value) -> Vec<String> {
    me["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn invite_accept_team_me_audit_and_no_escalation() {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let pscope = format!("/v1/projects/{project}");
    // Invited to the org as a Member: works in every project, manages nothing.
    let (ada, ada_key) = arrive(&app, &app.org_path(""), "ada@acme.test", "Member").await;
    let me = ada_key.get("/v1/me").await.unwrap().body;
    assert_eq!(me["principal"], format!("user:{ada}"));
    assert_eq!(me["role"]["name"], "Member");
    assert!(!perms(&me).contains(&"role:create".to_owned()));

    // A restricted project: nothing through the org role; then a team with a project role.
    app.owner
        .patch(&pscope, &json!({"restricted": true}))
        .await
        .unwrap();
    let me = ada_key
        .get(&format!("/v1/me?project_id={project}"))
        .await
        .unwrap()
        .body;
    assert!(perms(&me).is_empty(), "{me}");
    let policy = app
        .policy(&pscope, "Annotator", &["dataset:read", "dataset:update"])
        .await;
    app.role(&pscope, "Annotator", &[policy["id"].as_str().unwrap()])
        .await;
    let team = app.team("Annotators").await;
    let team_id = team["id"].as_str().unwrap();
    let r = app
        .owner
        .put(
            &format!("{pscope}/members/team:{team_id}"),
            &json!({"role_id": "Annotator"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .owner
        .put(
            &app.org_path(&format!("/teams/annotators/users/{ada}")),
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let me = ada_key
        .get(&format!("/v1/me?project_id={project}"))
        .await
        .unwrap()
        .body;
    assert_eq!(perms(&me), ["dataset:read", "dataset:update"], "{me}");

    // The audit log tells the story.
    let events = app
        .owner
        .list_all(&app.org_path("/audit-events"))
        .await
        .unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "invitation.create",
        "invitation.accept",
        "team.create",
        "member.set",
        "team.user_add",
    ] {
        assert!(
            actions
                .iter()
                .any(|x| x.starts_with(a.split('_').next().unwrap())),
            "{a} in {actions:?}"
        );
    }
    let accept = events
        .iter()
        .find(|e| e["action"] == "invitation.accept")
        .unwrap();
    assert_eq!(accept["actor"], format!("user:{ada}"));
    assert!(
        !Value::Array(events.clone())
            .to_string()
            .contains("analytical engine"),
        "no password in the log"
    );

    // Ada cannot give herself more.
    let r = ada_key
        .put(
            &format!("{pscope}/members/user:{ada}"),
            &json!({"role_id": "Owner"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{:?}", r.body);
    let r = ada_key
        .post(
            &format!("{pscope}/roles"),
            &json!({"name": "Mine", "permissions": ["dataset:delete"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{:?}", r.body);
    let r = ada_key
        .post(
            &app.org_path("/api-keys"),
            &json!({"name": "mine", "role_id": "Admin"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{:?}", r.body);
}

#[tokio::test]
async fn signing_in_needs_the_right_password_and_says_nothing_more() {
    let app = spawn_app().await;
    arrive(&app, &app.org_path(""), "ada@acme.test", "Member").await;
    let anon = app.anonymous();
    for body in [
        json!({"email": "ada@acme.test", "password": "wrong password"}),
        json!({"email": "nobody@acme.test", "password": "analytical engine"}),
        json!({"email": "owner@acme.test", "password": "no password was ever set"}),
    ] {
        let r = anon.post("/v1/auth/tokens", &body).await.unwrap();
        assert_error(&r, 401, "unauthenticated");
        assert_eq!(
            r.error_message(),
            Some("the email or the password is wrong")
        );
    }
    let r = anon
        .post("/v1/auth/tokens", &json!({"email": "ada@acme.test"}))
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_body");
    let (_, other_org) = app.other_org("Globex").await;
    let r = anon.post("/v1/auth/tokens", &json!({"email": "ada@acme.test", "password": "analytical engine", "org_id": other_org})).await.unwrap();
    assert_error(&r, 401, "unauthenticated");
}

#[tokio::test]
async fn arrival_settings_give_admins_owner_and_everyone_the_default_team_and_role() {
    let app = spawn_app_with_config(Catalogue::default_llmops(), |c| {
        c.auth.admins = vec!["Boss@Acme.test".into()];
        c.auth.default_org_role = Some("member".into());
        c.auth.default_team = Some("everyone".into());
    })
    .await;
    app.team("Everyone").await;
    let project = app.project("Chatbot").await;
    // A project invitation: the default org role and the default team come with it.
    let (ada, ada_key) = arrive(
        &app,
        &format!("/v1/projects/{project}"),
        "ada@acme.test",
        "Member",
    )
    .await;
    let me = ada_key.get("/v1/me").await.unwrap().body;
    assert_eq!(me["role"]["name"], "Member", "the default org role: {me}");
    let users = app
        .owner
        .list_all(&app.org_path("/teams/everyone/users"))
        .await
        .unwrap();
    assert!(users.iter().any(|u| u["id"] == ada.as_str()), "{users:?}");
    // An admin's email: Owner of the org, whatever the invitation said.
    let (_, boss_key) = arrive(&app, &app.org_path(""), "boss@acme.test", "Member").await;
    let me = boss_key.get("/v1/me").await.unwrap().body;
    assert_eq!(me["role"]["name"], "Owner", "{me}");
}
