//! People and access over real HTTP: members, ownership, API keys, escalation, restricted
//! projects, the audit log, and tenant isolation over the whole route table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use warden_client::Client;
use warden_model::{OrgId, UserId};

impl TestApp {
    /// Adds a user to the org (no role yet) and returns its id.
    async fn user(&self, email: &str) -> String {
        let org = OrgId::parse(&self.org_id).unwrap();
        self.store
            .add_user_to_org("test", org, email)
            .await
            .unwrap()
            .value
            .to_string()
    }

    /// A personal key acting as the user.
    async fn personal_key(&self, user: &str) -> Client {
        let org = OrgId::parse(&self.org_id).unwrap();
        let name = warden_model::Name::parse("name", "laptop").unwrap();
        let w = self
            .store
            .create_personal_key("test", org, UserId::parse(user).unwrap(), &name, None)
            .await
            .unwrap();
        self.owner.with_key(w.value.1)
    }

    /// Creates an org API key holding `role` and returns a client with it.
    async fn key_with_role(&self, role: &str) -> Client {
        let r = self
            .owner
            .post(
                &self.org_path("/api-keys"),
                &json!({"name": format!("{role} key"), "role_id": role}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        self.owner.with_key(r.body["secret"].as_str().unwrap())
    }

    async fn set_member(&self, scope: &str, principal: &str, role: &str) -> warden_client::Reply {
        self.owner
            .put(
                &format!("{scope}/members/{principal}"),
                &json!({"role_id": role}),
            )
            .await
            .unwrap()
    }

    async fn me_key_principal(&self) -> String {
        self.owner.get("/v1/me").await.unwrap().body["principal"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn members_are_added_changed_filtered_and_removed() {
    let app = spawn_app().await;
    let ada = app.user("ada@acme.test").await;
    let org = app.org_path("");
    let r = app.set_member(&org, &format!("user:{ada}"), "member").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["role_name"], "Member");
    assert_eq!(r.body["email"], "ada@acme.test");
    assert!(r.revision().is_some());
    let r = app.set_member(&org, &format!("user:{ada}"), "Admin").await;
    assert_eq!(
        r.body["role_name"], "Admin",
        "a principal holds one role per scope: the new one replaces it"
    );

    let all = app.owner.list_all(&app.org_path("/members")).await.unwrap();
    assert_eq!(
        all.len(),
        3,
        "the bootstrap owner user and key, and ada: {all:?}"
    );
    let admins = app
        .owner
        .list_all(&app.org_path("/members?role_id=Admin"))
        .await
        .unwrap();
    assert_eq!(admins.len(), 1);
    let keys = app
        .owner
        .list_all(&app.org_path("/members?principal_type=api_key"))
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let r = app
        .owner
        .get(&app.org_path("/members?principal_type=robot"))
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_query");

    let before = app.revision().await;
    let r = app.set_member(&org, &format!("user:{ada}"), "Nope").await;
    assert_error(&r, 422, "unknown_role");
    assert!(
        r.error_message().unwrap().contains("`Owner`"),
        "lists the available names"
    );
    let r = app.set_member(&org, "user:not-a-uuid", "Member").await;
    assert_error(&r, 400, "invalid_principal");
    let stranger = UserId::new();
    let r = app
        .set_member(&org, &format!("user:{stranger}"), "Member")
        .await;
    assert_error(&r, 404, "not_found");
    assert_eq!(app.revision().await, before);

    let r = app
        .owner
        .delete(&app.org_path(&format!("/members/user:{ada}")))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app
        .owner
        .get(&app.org_path(&format!("/members/user:{ada}")))
        .await
        .unwrap();
    assert_error(&r, 404, "not_found");
}

#[tokio::test]
async fn project_members_must_belong_to_the_org() {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let pscope = format!("/v1/projects/{project}");
    let ada = app.user("ada@acme.test").await;
    let r = app
        .set_member(&pscope, &format!("user:{ada}"), "Manager")
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (globex, _) = app.other_org("Globex").await;
    let globex_me = globex.get("/v1/me").await.unwrap().body;
    let globex_key = globex_me["principal"].as_str().unwrap();
    let before = app.revision().await;
    let r = app.set_member(&pscope, globex_key, "Member").await;
    assert_error(&r, 404, "not_found");
    // An org role cannot be given in a project.
    let org_roles = app.owner.list_all(&app.org_path("/roles")).await.unwrap();
    let admin_id = org_roles.iter().find(|r| r["name"] == "Admin").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .set_member(&pscope, &format!("user:{ada}"), &admin_id)
        .await;
    assert_error(&r, 422, "unknown_role");
    assert_eq!(app.revision().await, before);
}

#[tokio::test]
async fn an_org_keeps_an_owner_and_only_owners_make_owners() {
    let app = spawn_app().await;
    let org = app.org_path("");
    let key = app.me_key_principal().await;
    let owners = app
        .owner
        .list_all(&app.org_path("/members?role_id=Owner"))
        .await
        .unwrap();
    let user = owners
        .iter()
        .find(|m| m["principal_type"] == "user")
        .unwrap()["principal"]
        .as_str()
        .unwrap()
        .to_owned();
    // Two Owners: the bootstrap user and its key. The key does not count as a person: the
    // user stays Owner while no other user is one.
    let before = app.revision().await;
    let r = app.set_member(&org, &user, "Admin").await;
    assert_error(&r, 409, "last_owner");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("who is a person"),
        "{:?}",
        r.body
    );
    let r = app
        .owner
        .delete(&app.org_path(&format!("/members/{user}")))
        .await
        .unwrap();
    assert_error(&r, 409, "last_owner");
    assert_eq!(app.revision().await, before);
    // Another user made Owner: now either of them may go.
    let grace = app.user("grace@acme.test").await;
    let r = app
        .set_member(&org, &format!("user:{grace}"), "Owner")
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = app.set_member(&org, &user, "Admin").await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // An Admin holds every permission but cannot make an Owner or touch one.
    let admin = app.key_with_role("Admin").await;
    let ada = app.user("ada@acme.test").await;
    let before = app.revision().await;
    let r = admin
        .put(
            &app.org_path(&format!("/members/user:{ada}")),
            &json!({"role_id": "Owner"}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "owner_required");
    let r = admin
        .put(
            &app.org_path(&format!("/members/{key}")),
            &json!({"role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "owner_required");
    let r = admin
        .post(
            &app.org_path("/transfer-ownership"),
            &json!({"user_id": ada}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "owner_required");
    assert_eq!(app.revision().await, before);

    // The Owner can.
    let r = app.set_member(&org, &format!("user:{ada}"), "Owner").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn transfer_of_ownership_demotes_the_caller() {
    let app = spawn_app().await;
    let key = app.me_key_principal().await;
    let ada = app.user("ada@acme.test").await;
    let r = app
        .owner
        .post(
            &app.org_path("/transfer-ownership"),
            &json!({"user_id": ada}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["role_name"], "Owner");
    let me = app.owner.get("/v1/me").await.unwrap().body;
    assert_eq!(
        me["role"]["name"], "Admin",
        "the caller was demoted to Admin: {me}"
    );
    assert_eq!(me["principal"], key.as_str());

    // In a project: the org Owner (now ada) makes bob project Owner; ada had no project
    // role, so nobody is demoted there.
    let project = app.project("Chatbot").await;
    let bob = app.user("bob@acme.test").await;
    let ada_client = app.personal_key(&ada).await;
    let r = ada_client
        .post(
            &format!("/v1/projects/{project}/transfer-ownership"),
            &json!({"user_id": bob}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    // And bob hands it on, becoming Manager.
    let bob_client = app.personal_key(&bob).await;
    let r = bob_client
        .post(
            &format!("/v1/projects/{project}/transfer-ownership"),
            &json!({"user_id": ada}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let m = app
        .owner
        .get(&format!("/v1/projects/{project}/members/user:{bob}"))
        .await
        .unwrap();
    assert_eq!(m.body["role_name"], "Manager");
}

#[tokio::test]
async fn api_keys_show_their_secret_once_and_stop_working_when_invalid_or_expired() {
    let app = spawn_app().await;
    let r = app
        .owner
        .post(
            &app.org_path("/api-keys"),
            &json!({"name": "ci", "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body["last_chars"].as_str().unwrap(),
        &secret[secret.len() - 6..]
    );
    assert_eq!(r.body["role_name"], "Member");
    let got = app
        .owner
        .get(&app.org_path(&format!("/api-keys/{id}")))
        .await
        .unwrap();
    assert!(got.body.get("secret").is_none(), "the secret is shown once");
    assert!(!got.body.to_string().contains(&secret));
    let listed = app
        .owner
        .list_all(&app.org_path("/api-keys"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert!(!Value::Array(listed).to_string().contains(&secret));

    let ci = app.owner.with_key(&secret);
    let me = ci.get("/v1/me").await.unwrap();
    assert_eq!(me.body["role"]["name"], "Member");
    let last_used = app
        .owner
        .get(&app.org_path(&format!("/api-keys/{id}")))
        .await
        .unwrap()
        .body["last_used_at"]
        .clone();
    assert!(last_used.is_string() || last_used.is_null());

    let r = app
        .owner
        .patch(
            &app.org_path(&format!("/api-keys/{id}")),
            &json!({"name": "ci-2", "valid": false}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["valid"], false);
    let r = ci.get("/v1/me").await.unwrap();
    assert_error(&r, 401, "unauthenticated");
    assert!(r.error_message().unwrap().contains("invalidated"));
    // Authenticated keys are cached: each change to a key is seen by the next request.
    let r = app
        .owner
        .patch(
            &app.org_path(&format!("/api-keys/{id}")),
            &json!({"valid": true}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(ci.get("/v1/me").await.unwrap().status, 200);
    let r = app
        .owner
        .patch(
            &app.org_path(&format!("/api-keys/{id}")),
            &json!({"valid": false}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_error(&ci.get("/v1/me").await.unwrap(), 401, "unauthenticated");

    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = app
        .owner
        .post(
            &app.org_path("/api-keys"),
            &json!({"name": "brief", "role_id": "Member", "expires_at": soon}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let brief = app.owner.with_key(r.body["secret"].as_str().unwrap());
    assert_eq!(brief.get("/v1/me").await.unwrap().status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let r = brief.get("/v1/me").await.unwrap();
    assert_error(&r, 401, "unauthenticated");
    assert!(r.error_message().unwrap().contains("expired"));

    let r = app
        .owner
        .delete(&app.org_path(&format!("/api-keys/{id}")))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = ci.get("/v1/me").await.unwrap();
    assert_error(&r, 401, "unauthenticated");

    let before = app.revision().await;
    for bad in [
        json!({"name": "", "role_id": "Member"}),
        json!({"name": "x", "role_id": "Member", "expires_at": "tomorrow"}),
        json!({"name": "x", "role_id": "Member", "expires_at": "2001-01-01T00:00:00Z"}),
        json!({"name": "x"}),
        json!({"name": "x", "role_id": "Member", "scope": "org"}),
    ] {
        let r = app
            .owner
            .post(&app.org_path("/api-keys"), &bad)
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
    }
    let r = app
        .owner
        .post(
            &app.org_path("/api-keys"),
            &json!({"name": "x", "role_id": "Ghost"}),
        )
        .await
        .unwrap();
    assert_error(&r, 422, "unknown_role");
    assert_eq!(app.revision().await, before);
}

#[tokio::test]
async fn project_keys_act_only_in_their_project() {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let other = app.project("Other").await;
    let r = app
        .owner
        .post(
            &format!("/v1/projects/{project}/api-keys"),
            &json!({"name": "ingest", "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let key = app.owner.with_key(r.body["secret"].as_str().unwrap());
    let me = key.get("/v1/me").await.unwrap().body;
    assert_eq!(me["scope"], "project");
    assert!(me["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "dataset:read"));
    assert_eq!(
        key.get(&format!("/v1/projects/{project}/policies"))
            .await
            .unwrap()
            .status,
        200
    );
    assert_error(
        &key.get(&format!("/v1/projects/{other}/policies"))
            .await
            .unwrap(),
        403,
        "forbidden",
    );
    assert_error(
        &key.get(&app.org_path("/policies")).await.unwrap(),
        403,
        "forbidden",
    );
}

#[tokio::test]
async fn nobody_grants_what_they_do_not_hold() {
    let app = spawn_app().await;
    let org = app.org_path("");
    // A role that may manage roles, policies, members and keys, but holds only dataset:read
    // of the data permissions.
    let r = app
        .owner
        .post(
            &app.org_path("/roles"),
            &json!({"name": "Delegate", "permissions": [
                "role:create", "role:read", "role:update", "policy:create", "policy:read", "policy:update",
                "member:read", "member:update", "api_key:create", "api_key:read", "dataset:read"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let delegate = app.key_with_role("Delegate").await;
    let before = app.revision().await;

    // role create
    let r = delegate
        .post(
            &app.org_path("/roles"),
            &json!({"name": "Deleter", "permissions": ["dataset:read", "dataset:delete"]}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "escalation");
    assert!(
        r.error_message().unwrap().contains("`dataset:delete`"),
        "names what is lacking"
    );
    assert_eq!(
        r.body["error"]["details"]["missing"],
        json!(["dataset:delete"])
    );
    // role create through a policy
    let admin_policy = app.policy(&org, "Trace admin", &["trace:delete"]).await;
    let r = delegate
        .post(
            &app.org_path("/roles"),
            &json!({"name": "Tracer", "policy_ids": [admin_policy["id"]]}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "escalation");
    let before = before.max(app.revision().await);
    // policy create and update
    let r = delegate
        .post(
            &app.org_path("/policies"),
            &json!({"name": "Sneaky", "permission_ids": ["project:delete"]}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "escalation");
    let ok = delegate
        .post(
            &app.org_path("/policies"),
            &json!({"name": "Readers", "permission_ids": ["dataset:read"]}),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    let before = before.max(app.revision().await);
    let r = delegate
        .patch(
            &app.org_path(&format!("/policies/{}", ok.body["id"].as_str().unwrap())),
            &json!({"permission_ids": ["dataset:read", "golden:delete"]}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "escalation");
    // role update
    let mine = delegate
        .post(
            &app.org_path("/roles"),
            &json!({"name": "Reader", "permissions": ["dataset:read"]}),
        )
        .await
        .unwrap();
    assert_eq!(mine.status, 201, "{:?}", mine.body);
    let before = before.max(app.revision().await);
    let r = delegate
        .patch(
            &app.org_path(&format!("/roles/{}", mine.body["id"].as_str().unwrap())),
            &json!({"permissions": ["dataset:read", "prompt:delete"]}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "escalation");
    // membership
    let ada = app.user("ada@acme.test").await;
    let before = before.max(app.revision().await);
    let r = delegate
        .put(
            &app.org_path(&format!("/members/user:{ada}")),
            &json!({"role_id": "Admin"}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "escalation");
    // API key
    let r = delegate
        .post(
            &app.org_path("/api-keys"),
            &json!({"name": "mine", "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_error(&r, 403, "escalation");
    assert_eq!(app.revision().await, before, "nothing refused was written");
    // What it holds, it may give.
    let r = delegate
        .put(
            &app.org_path(&format!("/members/user:{ada}")),
            &json!({"role_id": "Reader"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn restricted_projects_honour_only_the_owner_and_their_own_members() {
    let app = spawn_app().await;
    let project = app.project("Secret").await;
    let ada = app.user("ada@acme.test").await;
    app.set_member(&app.org_path(""), &format!("user:{ada}"), "Member")
        .await;
    let ada_key = app.personal_key(&ada).await;
    let can_read = |me: &Value| {
        me["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "dataset:read")
    };
    let me = ada_key
        .get(&format!("/v1/me?project_id={project}"))
        .await
        .unwrap()
        .body;
    assert!(can_read(&me), "an org Member works in every project: {me}");
    let r = app
        .owner
        .patch(
            &format!("/v1/projects/{project}"),
            &json!({"restricted": true}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let me = ada_key
        .get(&format!("/v1/me?project_id={project}"))
        .await
        .unwrap()
        .body;
    assert!(
        !can_read(&me),
        "a restricted project ignores org roles: {me}"
    );
    assert_error(
        &ada_key
            .get(&format!("/v1/projects/{project}"))
            .await
            .unwrap(),
        403,
        "forbidden",
    );
    // The org Owner still reaches it.
    assert_eq!(
        app.owner
            .get(&format!("/v1/projects/{project}"))
            .await
            .unwrap()
            .status,
        200
    );
    // A project membership does.
    app.set_member(
        &format!("/v1/projects/{project}"),
        &format!("user:{ada}"),
        "Member",
    )
    .await;
    let me = ada_key
        .get(&format!("/v1/me?project_id={project}"))
        .await
        .unwrap()
        .body;
    assert!(can_read(&me), "{me}");
}

#[tokio::test]
async fn the_audit_log_records_every_change_without_secrets() {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let policy = app
        .policy(
            &format!("/v1/projects/{project}"),
            "Annotator",
            &["dataset:read", "dataset:update"],
        )
        .await;
    let key = app
        .owner
        .post(
            &app.org_path("/api-keys"),
            &json!({"name": "ci", "role_id": "Member"}),
        )
        .await
        .unwrap();
    let secret = key.body["secret"].as_str().unwrap().to_owned();
    let events = app
        .owner
        .list_all(&app.org_path("/audit-events"))
        .await
        .unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key.create",
            "policy.create",
            "project.create",
            "org.bootstrap"
        ],
        "newest first"
    );
    let revisions: Vec<u64> = events
        .iter()
        .map(|e| e["revision"].as_u64().unwrap())
        .collect();
    assert!(revisions.windows(2).all(|w| w[0] > w[1]));
    let policy_event = &events[1];
    assert_eq!(
        policy_event["target"],
        format!("policy:{}", policy["id"].as_str().unwrap())
    );
    assert!(policy_event["before"].is_null());
    assert_eq!(policy_event["after"]["name"], "Annotator");
    assert_eq!(policy_event["actor"], app.me_key_principal().await);
    let all = Value::Array(events.clone()).to_string();
    assert!(!all.contains(&secret), "no secret in the audit log");

    let only = app
        .owner
        .list_all(&app.org_path("/audit-events?action=policy.create"))
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    let ranged = app
        .owner
        .list_all(&app.org_path(&format!(
            "/audit-events?since_revision={}&until_revision={}",
            revisions[2], revisions[1]
        )))
        .await
        .unwrap();
    assert_eq!(ranged.len(), 2);
    let project_events = app
        .owner
        .list_all(&format!("/v1/projects/{project}/audit-events"))
        .await
        .unwrap();
    let actions: Vec<&str> = project_events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["policy.create", "project.create"]);
    let page = app
        .owner
        .get(&app.org_path("/audit-events?limit=1"))
        .await
        .unwrap();
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert!(page.body["next_cursor"].is_string());
    assert_error(
        &app.owner
            .get(&app.org_path("/audit-events?cursor=zzz"))
            .await
            .unwrap(),
        400,
        "invalid_cursor",
    );
    let member = app.key_with_role("Member").await;
    assert_error(
        &member.get(&app.org_path("/audit-events")).await.unwrap(),
        403,
        "forbidden",
    );
}

/// Walks the server's own route table: every route that names an org or a project, called
/// with a valid key of another org on this org's ids, answers 404 and changes nothing. A
/// route added later is covered without editing this test.
#[tokio::test]
async fn another_orgs_key_reaches_nothing_on_any_route() {
    let app = spawn_app().await;
    let project = app.project("Chatbot").await;
    let policy = app
        .policy(&app.org_path(""), "Readers", &["dataset:read"])
        .await;
    let ada = app.user("ada@acme.test").await;
    app.set_member(&app.org_path(""), &format!("user:{ada}"), "Member")
        .await;
    let (globex, _) = app.other_org("Globex").await;
    let before = app.revision().await;
    let snapshot = app
        .owner
        .get(&app.org_path("/audit-events?limit=100"))
        .await
        .unwrap()
        .body;
    let mut checked = 0;
    for route in warden_server::routes::table() {
        let spec = route.spec;
        if !(spec.path.contains("{org}") || spec.path.contains("{project}")) {
            continue;
        }
        let url = spec
            .path
            .replace("{org}", &app.org_id)
            .replace("{project}", &project)
            .replace("{id}", policy["id"].as_str().unwrap())
            .replace("{principal}", &format!("user:{ada}"))
            .replace("{team}", "core")
            .replace("{user}", &ada);
        // A body that would be valid if the scope were the caller's, so that only the
        // scope can be what refuses it.
        let body = match spec.method {
            Method::POST | Method::PUT | Method::PATCH => {
                Some(json!({"name": "x", "role_id": "Member"}))
            }
            _ => None,
        };
        let r = globex
            .send(spec.method.clone(), &url, body.as_ref(), &[])
            .await
            .unwrap();
        assert_eq!(
            r.status, 404,
            "{} {} answered {} {:?}",
            spec.method, spec.path, r.status, r.body
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} routes walked");
    assert_eq!(app.revision().await, before, "nothing changed");
    assert_eq!(
        app.owner
            .get(&app.org_path("/audit-events?limit=100"))
            .await
            .unwrap()
            .body,
        snapshot
    );
}

#[tokio::test]
async fn removing_a_user_from_the_org_stops_its_personal_keys_at_once() {
    let app = spawn_app().await;
    let ada = app.user("ada@acme.test").await;
    app.set_member(&app.org_path(""), &format!("user:{ada}"), "Member")
        .await;
    let ada_key = app.personal_key(&ada).await;
    // Used twice, so that the second answer comes from the server's key cache.
    assert_eq!(ada_key.get("/v1/me").await.unwrap().status, 200);
    assert_eq!(ada_key.get("/v1/me").await.unwrap().status, 200);
    let r = app
        .owner
        .delete(&app.org_path(&format!("/members/user:{ada}")))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = ada_key.get("/v1/me").await.unwrap();
    assert_error(&r, 401, "unauthenticated");
}
