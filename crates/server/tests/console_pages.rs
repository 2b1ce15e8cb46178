//! Every console page and form that `console.rs` does not drive, over HTTP as a browser
//! sends them: the organization's Roles & Permissions and the edit pages of roles and
//! policies (both scopes), the Members pages (roles, the last Owner, invitations, transfer of
//! ownership, adding teams and users), accepting an invitation, teams, API keys, the audit
//! logs, the org's access page and deleting a project. Then, table-driven over the route
//! table of `console/mod.rs`: every POST refused without its CSRF token, what an org Member
//! may neither see nor do, another org's user finding none of Acme's project pages, and the
//! security headers of every page. Effects are checked through the JSON API or the store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::console::*;
use common::{spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use warden_client::Client;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A scope's settings pages (`base`, under `/console`) and its API path (`api`, under `/v1`).
struct Place {
    base: String,
    api: String,
}

/// Acme itself.
fn acme(app: &TestApp) -> Place {
    Place {
        base: "/console/org".into(),
        api: app.org_path(""),
    }
}

/// A new project of Acme; returns its id and its place.
async fn acme_project(app: &TestApp, name: &str) -> (String, Place) {
    let id = app.project(name).await;
    let place = Place {
        base: format!("/console/projects/{id}"),
        api: format!("/v1/projects/{id}"),
    };
    (id, place)
}

/// Olga, made an Owner of Acme, signed in.
async fn olga(app: &TestApp) -> Browser {
    acme_owner(app, "olga@acme.test").await;
    signed_in(app, "olga@acme.test").await
}

/// A page that must answer 200.
async fn page(b: &mut Browser, path: &str) -> Got {
    let r = b.get(path).await;
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r
}

/// The page a 303 leads to.
async fn follow(b: &mut Browser, r: &Got) -> Got {
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.location.clone().unwrap();
    page(b, &to).await
}

/// Posts `fields` with the CSRF token `csrf` (none when `None`).
async fn post_form(
    b: &mut Browser,
    path: &str,
    fields: &[(&'static str, String)],
    csrf: Option<&str>,
) -> Got {
    let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Some(token) = csrf {
        form.push(("csrf", token));
    }
    b.post(path, &form).await
}

/// The body of an API read that must answer 200, with Acme's Owner key.
async fn api(app: &TestApp, path: &str) -> Value {
    let r = app.owner.get(path).await.unwrap();
    assert_eq!(r.status, 200, "GET {path}: {:?}", r.body);
    r.body
}

/// The entry of an API list whose `field` is `value`.
async fn listed(client: &Client, path: &str, field: &str, value: &str) -> Option<Value> {
    client
        .list_all(path)
        .await
        .unwrap()
        .into_iter()
        .find(|v| v[field] == value)
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// The strings of a JSON array, sorted.
fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[track_caller]
fn assert_has(r: &Got, needle: &str) {
    assert!(
        r.body.contains(needle),
        "`{needle}` expected (status {}) in:\n{}",
        r.status,
        r.body
    );
}

#[track_caller]
fn assert_lacks(r: &Got, needle: &str) {
    assert!(
        !r.body.contains(needle),
        "`{needle}` not expected (status {}) in:\n{}",
        r.status,
        r.body
    );
}

/// The HTML of the select whose id is `id`.
fn select<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<select id=\"{id}\""))
        .unwrap_or_else(|| panic!("no select `{id}` in:\n{html}"));
    let end = start + html[start..].find("</select>").unwrap();
    &html[start..end]
}

/// The role a member holds, through the API.
async fn role_of(client: &Client, scope_api: &str, principal: &str) -> String {
    let r = client
        .get(&format!("{scope_api}/members/{principal}"))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{principal}: {:?}", r.body);
    r.body["role_name"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------
// Roles & Permissions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn org_roles_page_creates_a_policy_and_a_role() {
    let app = spawn_app().await;
    let mut b = olga(&app).await;
    let r = page(&mut b, "/console/org/roles").await;
    for role in ["Owner", "Admin", "Member"] {
        assert_has(
            &r,
            &format!("\">{role}</a> <span class=\"tag\">predefined</span></td>"),
        );
    }
    assert_has(&r, "No custom roles yet.");
    // The organization's matrix: its own resources, and those of its projects.
    assert_has(&r, r#"value="member:create" aria-label="member:create""#);
    assert_has(&r, r#"value="dataset:read" aria-label="dataset:read""#);
    assert_has(&r, r#"action="/console/org/policies""#);
    let csrf = hidden(&r.body, "csrf");

    let r = b
        .post(
            "/console/org/policies",
            &[
                ("csrf", &csrf),
                ("name", "Auditors"),
                ("description", "Read the audit log"),
                ("permission_ids", "audit_log:read"),
                ("permission_ids", "member:read"),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/roles?policy=Auditors#custom-policies"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Policy “Auditors” created.");
    assert_has(&p, "</span></td><td>member:read, audit_log:read</td>");
    let policy = listed(&app.owner, &app.org_path("/policies"), "name", "Auditors")
        .await
        .expect("the policy exists");
    assert_eq!(
        sorted(&policy["permissions"]),
        ["audit_log:read", "member:read"]
    );
    assert_eq!(policy["description"], "Read the audit log");
    let policy_id = id_of(&policy);
    assert_has(&p, &format!(r#"name="policy_ids" value="{policy_id}""#));

    let r = b
        .post(
            "/console/org/roles",
            &[
                ("csrf", &csrf),
                ("name", "Auditor"),
                ("description", "Reads the audit log"),
                ("policy_ids", &policy_id),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/roles?role=Auditor#custom-roles"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Role “Auditor” created.");
    let role = listed(&app.owner, &app.org_path("/roles"), "name", "Auditor")
        .await
        .expect("the role exists");
    assert_eq!(sorted(&role["policy_ids"]), vec![policy_id.clone()]);
    assert_eq!(
        sorted(&role["effective_permissions"]),
        ["audit_log:read", "member:read"]
    );
    assert_has(
        &p,
        &format!(
            "<a href=\"/console/org/roles/{}\">Auditor</a></td><td>Reads the audit log</td><td>Auditors</td>",
            id_of(&role)
        ),
    );
}

/// Opens the edit pages of a predefined role, a custom role and a custom policy of `place`
/// as Olga (an Owner of Acme), saves them, and has stale and duplicate saves refused.
async fn edit_roles_and_policies(app: &TestApp, place: &Place) {
    let mut b = signed_in(app, "olga@acme.test").await;
    let base = &place.base;

    // A predefined role: shown, not editable.
    let member_role = listed(
        &app.owner,
        &format!("{}/roles", place.api),
        "name",
        "Member",
    )
    .await
    .unwrap();
    let predefined = id_of(&member_role);
    let r = page(&mut b, &format!("{base}/roles/{predefined}")).await;
    assert_has(&r, "<h1>Role “Member”</h1>");
    assert_has(&r, "Predefined roles cannot be changed");
    assert_has(&r, "<code>dataset:read</code></td><td>the catalogue</td>");
    assert_lacks(&r, r#"name="version""#);
    assert_lacks(&r, &format!(r#"action="{base}/roles/{predefined}""#));

    // A custom role: a form carrying its version.
    let readers = id_of(&app.policy(&place.api, "Readers", &["dataset:read"]).await);
    let writers = id_of(&app.policy(&place.api, "Writers", &["dataset:update"]).await);
    let role = app.role(&place.api, "Analyst", &[&readers]).await;
    app.role(&place.api, "Viewer", &[&readers]).await;
    let role_id = id_of(&role);
    let role_api = format!("{}/roles/{role_id}", place.api);
    let path = format!("{base}/roles/{role_id}");
    let r = page(&mut b, &path).await;
    assert_has(&r, "<h1>Role “Analyst”</h1>");
    assert_has(
        &r,
        &format!(r#"<form class="stack" method="post" action="{path}">"#),
    );
    let version = hidden(&r.body, "version");
    assert_eq!(version, role["version"].to_string());
    assert_has(&r, &format!(r#"value="{readers}" checked"#));
    assert_lacks(&r, &format!(r#"value="{writers}" checked"#));
    assert_has(
        &r,
        "<code>dataset:read</code></td><td>policy “Readers”</td>",
    );
    let csrf = hidden(&r.body, "csrf");

    // Saved: the API has the new name, description and policies.
    let r = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Data analyst"),
                ("description", "Reads and edits"),
                ("policy_ids", &readers),
                ("policy_ids", &writers),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{base}/roles?saved=Data%20analyst#custom-roles").as_str()),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "“Data analyst” saved.");
    let saved = api(app, &role_api).await;
    assert_eq!(saved["name"], "Data analyst");
    assert_eq!(saved["description"], "Reads and edits");
    let mut both = vec![readers.clone(), writers.clone()];
    both.sort();
    assert_eq!(sorted(&saved["policy_ids"]), both);
    assert_eq!(
        sorted(&saved["effective_permissions"]),
        ["dataset:read", "dataset:update"]
    );

    // The form as opened before that save: refused (412), said, what was typed kept.
    let r = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Stale name"),
                ("description", "typed meanwhile"),
                ("policy_ids", &readers),
            ],
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert_has(
        &r,
        "Someone changed this role since you opened the page: reload it to see their changes, then save again.",
    );
    assert_has(&r, r#"value="Stale name""#);
    assert_has(&r, ">typed meanwhile</textarea>");
    assert_eq!(
        hidden(&r.body, "version"),
        version,
        "the refused form keeps the version it was opened on, so saving it again cannot overwrite the change unseen"
    );
    assert_eq!(api(app, &role_api).await["name"], "Data analyst");

    // The name of another role, custom or predefined: beside the name (409), kept.
    let version = hidden(&page(&mut b, &path).await.body, "version");
    for taken in ["Viewer", "Owner"] {
        let r = b
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("version", &version),
                    ("name", taken),
                    ("policy_ids", &readers),
                ],
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.body);
        assert_has(&r, r#"<p class="error" id="role-name-error">"#);
        assert_has(
            &r,
            r#"aria-invalid="true" aria-describedby="role-name-error""#,
        );
        assert_has(&r, &format!(r#"value="{taken}""#));
    }
    let unchanged = api(app, &role_api).await;
    assert_eq!(unchanged["name"], "Data analyst");
    assert_eq!(unchanged["version"], saved["version"]);

    // A custom policy: a form carrying its version, the roles using it said.
    let path = format!("{base}/policies/{writers}");
    let policy_api = format!("{}/policies/{writers}", place.api);
    let r = page(&mut b, &path).await;
    assert_has(&r, "<h1>Policy “Writers”</h1>");
    assert_has(&r, "Used by the role(s): Data analyst.");
    assert_has(&r, &format!(r#"method="post" action="{path}""#));
    assert_has(
        &r,
        r#"value="dataset:update" aria-label="dataset:update" checked"#,
    );
    let version = hidden(&r.body, "version");
    assert_eq!(
        version,
        api(app, &policy_api).await["version"].to_string(),
        "the form carries the policy's version"
    );
    let r = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Editors"),
                ("description", "Create and edit datasets"),
                ("permission_ids", "dataset:update"),
                ("permission_ids", "dataset:create"),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{base}/roles?saved=Editors#custom-policies").as_str()),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "“Editors” saved.");
    let saved = api(app, &policy_api).await;
    assert_eq!(saved["name"], "Editors");
    assert_eq!(saved["description"], "Create and edit datasets");
    assert_eq!(
        sorted(&saved["permissions"]),
        ["dataset:create", "dataset:update"]
    );
    // The role using it grants the new permission at once.
    assert!(
        sorted(&api(app, &role_api).await["effective_permissions"])
            .contains(&"dataset:create".to_owned()),
        "the role follows its policy"
    );

    // Stale: 412, said, the name and the boxes as typed.
    let r = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Stale"),
                ("permission_ids", "dataset:delete"),
            ],
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert_has(
        &r,
        "Someone changed this policy since you opened the page: reload it to see their changes, then save again.",
    );
    assert_has(&r, r#"value="Stale""#);
    assert_has(
        &r,
        r#"value="dataset:delete" aria-label="dataset:delete" checked"#,
    );
    assert_lacks(
        &r,
        r#"value="dataset:create" aria-label="dataset:create" checked"#,
    );
    assert_eq!(
        hidden(&r.body, "version"),
        version,
        "the refused form keeps the version it was opened on"
    );

    // Nothing ticked: beside the boxes, in the form's words.
    let version = hidden(&page(&mut b, &path).await.body, "version");
    let r = b
        .post(
            &path,
            &[("csrf", &csrf), ("version", &version), ("name", "Editors")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="policy-permissions-error">"#);
    assert_has(&r, "Tick at least one permission for the policy.");

    // A duplicate name: beside the name (409).
    let version = hidden(&page(&mut b, &path).await.body, "version");
    let r = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Readers"),
                ("permission_ids", "dataset:update"),
            ],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="policy-name-error">"#);
    assert_has(&r, r#"value="Readers""#);
    let unchanged = api(app, &policy_api).await;
    assert_eq!(unchanged["name"], "Editors");
    assert_eq!(unchanged["version"], saved["version"]);
}

#[tokio::test]
async fn org_role_and_policy_edit_pages_save_and_refuse_stale_and_duplicate_forms() {
    let app = spawn_app().await;
    acme_owner(&app, "olga@acme.test").await;
    edit_roles_and_policies(&app, &acme(&app)).await;
}

#[tokio::test]
async fn project_role_and_policy_edit_pages_save_and_refuse_stale_and_duplicate_forms() {
    let app = spawn_app().await;
    acme_owner(&app, "olga@acme.test").await;
    let (_, place) = acme_project(&app, "Chatbot").await;
    edit_roles_and_policies(&app, &place).await;
}

/// Rita manages roles and policies (through an org role) but may not delete datasets: in
/// `place`, every form that would grant `dataset:delete` is refused beside its boxes.
async fn escalation_is_refused_beside_the_boxes(app: &TestApp, place: &Place) {
    let org = app.org_path("");
    let admin = app
        .policy(
            &org,
            "Role admin",
            &[
                "role:create",
                "role:read",
                "role:update",
                "policy:create",
                "policy:read",
                "policy:update",
                "dataset:read",
                "dataset:update",
            ],
        )
        .await;
    let role = app.role(&org, "Role admin", &[&id_of(&admin)]).await;
    member(app, "rita@acme.test", &id_of(&role)).await;
    let deleters = id_of(
        &app.policy(&place.api, "Deleters", &["dataset:delete"])
            .await,
    );
    let readers = id_of(&app.policy(&place.api, "Readers", &["dataset:read"]).await);
    let reader = id_of(&app.role(&place.api, "Reader", &[&readers]).await);

    let mut b = signed_in(app, "rita@acme.test").await;
    let base = &place.base;
    let r = page(&mut b, &format!("{base}/roles")).await;
    assert_has(&r, "New policy");
    assert_has(&r, "New role");
    let csrf = hidden(&r.body, "csrf");
    let before = app.revision().await;

    // A new policy ticking it.
    let r = b
        .post(
            &format!("{base}/policies"),
            &[
                ("csrf", &csrf),
                ("name", "Cleanup"),
                ("permission_ids", "dataset:read"),
                ("permission_ids", "dataset:delete"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="policy-permissions-error">"#);
    assert_has(&r, "`dataset:delete`");
    assert_has(
        &r,
        r#"value="dataset:delete" aria-label="dataset:delete" checked"#,
    );
    assert_has(&r, r#"value="Cleanup""#);

    // A new role with the policy that grants it.
    let r = b
        .post(
            &format!("{base}/roles"),
            &[
                ("csrf", &csrf),
                ("name", "Cleaner"),
                ("policy_ids", &deleters),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="role-policies-error">"#);
    assert_has(&r, "`dataset:delete`");
    assert_has(&r, &format!(r#"value="{deleters}" checked"#));

    // Editing a policy to tick it.
    let path = format!("{base}/policies/{readers}");
    let version = hidden(&page(&mut b, &path).await.body, "version");
    let r = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Readers"),
                ("permission_ids", "dataset:read"),
                ("permission_ids", "dataset:delete"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="policy-permissions-error">"#);
    assert_has(&r, "`dataset:delete`");

    // Editing a role to add the policy that grants it.
    let path = format!("{base}/roles/{reader}");
    let version = hidden(&page(&mut b, &path).await.body, "version");
    let r = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Reader"),
                ("policy_ids", &readers),
                ("policy_ids", &deleters),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="role-policies-error">"#);
    assert_has(&r, "`dataset:delete`");

    // Nothing was written.
    assert_eq!(app.revision().await, before);
    let policies = format!("{}/policies", place.api);
    assert!(listed(&app.owner, &policies, "name", "Cleanup")
        .await
        .is_none());
    let roles = format!("{}/roles", place.api);
    assert!(listed(&app.owner, &roles, "name", "Cleaner")
        .await
        .is_none());
    let readers_now = api(app, &format!("{policies}/{readers}")).await;
    assert_eq!(sorted(&readers_now["permissions"]), ["dataset:read"]);
    let reader_now = api(app, &format!("{roles}/{reader}")).await;
    assert_eq!(sorted(&reader_now["policy_ids"]), [readers]);
}

#[tokio::test]
async fn org_forms_that_would_escalate_are_refused_beside_the_boxes() {
    let app = spawn_app().await;
    escalation_is_refused_beside_the_boxes(&app, &acme(&app)).await;
}

#[tokio::test]
async fn project_forms_that_would_escalate_are_refused_beside_the_boxes() {
    let app = spawn_app().await;
    let (_, place) = acme_project(&app, "Chatbot").await;
    escalation_is_refused_beside_the_boxes(&app, &place).await;
}

// ---------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------

/// Globex, whose Owner Boss has a password, and Ann, arrived through an invitation as
/// Member.
struct Globex {
    org: String,
    /// A client holding Globex's bootstrap Owner key.
    api: Client,
    boss: String,
    ann: String,
}

async fn globex_with_ann(app: &TestApp) -> Globex {
    let (org, key) = org_and_key(app, "Globex", "boss@globex.test").await;
    let api = app.owner.with_key(&key);
    let r = api
        .post(
            &format!("/v1/orgs/{org}/invitations"),
            &json!({"emails": ["ann@globex.test"], "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let token = r.body["invitations"][0]["token"].as_str().unwrap();
    let r = app
        .anonymous()
        .post(
            "/v1/invitations/accept",
            &json!({"token": token, "name": "Ann", "password": PASSWORD}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let ann = r.body["user"]["id"].as_str().unwrap().to_owned();
    let boss = listed(
        &api,
        &format!("/v1/orgs/{org}/members?principal_type=user"),
        "email",
        "boss@globex.test",
    )
    .await
    .unwrap()["principal_id"]
        .as_str()
        .unwrap()
        .to_owned();
    Globex {
        org,
        api,
        boss,
        ann,
    }
}

#[tokio::test]
async fn org_members_page_changes_a_role_and_keeps_the_last_owner() {
    let app = spawn_app().await;
    let g = globex_with_ann(&app).await;
    let org_api = format!("/v1/orgs/{}", g.org);
    let mut b = signed_in(&app, "boss@globex.test").await;
    let r = page(&mut b, "/console/org/members").await;
    assert_has(&r, r#"Ann (ann@globex.test) <span class="tag">user</span>"#);
    assert_has(&r, r#"<span class="tag">API key</span>"#);
    let ann_row = format!("role-user:{}", g.ann);
    let admin = option_value(&r.body, &ann_row, "Admin");
    let member_role = option_value(&r.body, &ann_row, "Member");
    let csrf = hidden(&r.body, "csrf");

    // Ann becomes Admin.
    let ann = format!("user:{}", g.ann);
    let r = b
        .post(
            "/console/org/members",
            &[("csrf", &csrf), ("principal", &ann), ("role_id", &admin)],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/members?changed=Admin"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Role set to Admin.");
    assert_has(&p, &format!(r#"value="{admin}" selected>Admin</option>"#));
    assert_eq!(role_of(&g.api, &org_api, &ann).await, "Admin");

    // The bootstrap key becomes Admin too: Boss is the last Owner.
    let key = g.api.get("/v1/me").await.unwrap().body["api_key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = format!("api_key:{key}");
    let r = b
        .post(
            "/console/org/members",
            &[("csrf", &csrf), ("principal", &key), ("role_id", &admin)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(role_of(&g.api, &org_api, &key).await, "Admin");

    // Boss demoting himself: refused in his row, the role tried still chosen.
    let before = app.revision().await;
    let boss = format!("user:{}", g.boss);
    let r = b
        .post(
            "/console/org/members",
            &[
                ("csrf", &csrf),
                ("principal", &boss),
                ("role_id", &member_role),
            ],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_has(
        &r,
        &format!(r#"<p class="error" id="row-{boss}-error" role="alert">"#),
    );
    assert_has(
        &r,
        "is the last Owner of the organization; make another member Owner first (or transfer ownership)",
    );
    let row = select(&r.body, &format!("role-{boss}"));
    assert!(row.contains(r#"aria-invalid="true""#), "{row}");
    assert!(
        row.contains(&format!(r#"value="{member_role}" selected"#)),
        "{row}"
    );
    assert_eq!(app.revision().await, before);
    assert_eq!(role_of(&g.api, &org_api, &boss).await, "Owner");

    // Removing himself: refused in his row too.
    let r = b
        .post(
            "/console/org/members/remove",
            &[("csrf", &csrf), ("principal", &boss)],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_has(
        &r,
        &format!(r#"<p class="error" id="row-{boss}-error" role="alert">"#),
    );
    assert_has(&r, "is the last Owner of the organization");
    assert_eq!(app.revision().await, before);
    assert_eq!(role_of(&g.api, &org_api, &boss).await, "Owner");
}

#[tokio::test]
async fn transfer_of_ownership_is_offered_to_the_owner_only_and_demotes_it_to_admin() {
    let app = spawn_app().await;
    let g = globex_with_ann(&app).await;
    let org_api = format!("/v1/orgs/{}", g.org);
    let (boss, ann) = (format!("user:{}", g.boss), format!("user:{}", g.ann));

    // Ann, a Member, is not offered it, and posting it anyway is refused.
    let mut a = signed_in(&app, "ann@globex.test").await;
    let r = page(&mut a, "/console/org/members").await;
    assert_lacks(&r, "Transfer ownership");
    assert_lacks(&r, "/transfer-ownership");
    let csrf = hidden(&r.body, "csrf");
    let before = app.revision().await;
    let r = a
        .post(
            "/console/org/transfer-ownership",
            &[("csrf", &csrf), ("user_id", &g.ann)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(app.revision().await, before);
    assert_eq!(role_of(&g.api, &org_api, &boss).await, "Owner");

    // Boss is offered it, with the other users as heirs.
    let mut b = signed_in(&app, "boss@globex.test").await;
    let r = page(&mut b, "/console/org/members").await;
    assert_has(&r, r#"action="/console/org/transfer-ownership""#);
    assert_eq!(
        option_value(&r.body, "transfer-user", "Ann (ann@globex.test)"),
        g.ann
    );
    assert!(
        !select(&r.body, "transfer-user").contains(&g.boss),
        "not to himself"
    );
    let csrf = hidden(&r.body, "csrf");
    let r = b
        .post(
            "/console/org/transfer-ownership",
            &[("csrf", &csrf), ("user_id", &g.ann)],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/members?transferred=Ann%20%28ann%40globex.test%29"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Ownership transferred to Ann (ann@globex.test).");
    assert_lacks(&p, "/transfer-ownership");
    assert_eq!(role_of(&g.api, &org_api, &ann).await, "Owner");
    assert_eq!(role_of(&g.api, &org_api, &boss).await, "Admin");
}

/// Olga invites people to `place` (where Bea is a member already), resends one invitation
/// and revokes another; `invited_to` is how the acceptance page names the place.
async fn invitations_are_sent_resent_and_revoked(app: &TestApp, place: &Place, invited_to: &str) {
    let mut b = signed_in(app, "olga@acme.test").await;
    let base = &place.base;
    let members = format!("{base}/members");
    let r = page(&mut b, &members).await;
    assert_has(&r, "Invite people");
    assert_has(&r, &format!(r#"action="{base}/invitations""#));
    assert!(
        !select(&r.body, "invite-role").contains(">Owner</option>"),
        "no one is invited as Owner"
    );
    let role = option_value(&r.body, "invite-role", "Member");
    let csrf = hidden(&r.body, "csrf");

    let r = b
        .post(
            &format!("{base}/invitations"),
            &[
                ("csrf", &csrf),
                ("emails", "dan@acme.test\neve@acme.test, bea@acme.test"),
                ("role_id", &role),
            ],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let tokens = accept_tokens(&r.body);
    assert_eq!(tokens.len(), 2, "{}", r.body);
    for (email, token) in ["dan@acme.test", "eve@acme.test"].iter().zip(&tokens) {
        assert_has(
            &r,
            &format!(
                "{email}<code>{}/console/invitations/accept?token={token}</code>",
                app.base
            ),
        );
    }
    assert_has(&r, "bea@acme.test was skipped: already a member");
    assert_has(&r, "<tr><td>dan@acme.test</td><td>Member</td>");

    // An address that is not one: beside the addresses, what was typed kept, nothing sent.
    let before = app.revision().await;
    let r = b
        .post(
            &format!("{base}/invitations"),
            &[
                ("csrf", &csrf),
                ("emails", "fay@acme.test, not-an-address"),
                ("role_id", &role),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="invite-emails-error">"#);
    assert_has(&r, ">fay@acme.test, not-an-address</textarea>");
    // Owner, in a forged form: beside the role.
    let owner = listed(&app.owner, &format!("{}/roles", place.api), "name", "Owner")
        .await
        .unwrap();
    let r = b
        .post(
            &format!("{base}/invitations"),
            &[
                ("csrf", &csrf),
                ("emails", "fay@acme.test"),
                ("role_id", &id_of(&owner)),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="invite-role-error">"#);
    assert_has(&r, "Owner cannot be given through an invitation");
    assert_eq!(app.revision().await, before);
    let pending = app
        .owner
        .list_all(&format!("{}/invitations?status=pending", place.api))
        .await
        .unwrap();
    let mut emails: Vec<&str> = pending
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    emails.sort();
    assert_eq!(emails, ["dan@acme.test", "eve@acme.test"]);
    let id_for = |email: &str| {
        id_of(
            pending
                .iter()
                .find(|i| i["email"] == email)
                .unwrap_or_else(|| panic!("{email} pending")),
        )
    };
    let (dan, eve) = (id_for("dan@acme.test"), id_for("eve@acme.test"));

    // The links are shown once.
    let r = page(&mut b, &members).await;
    assert!(accept_tokens(&r.body).is_empty(), "{}", r.body);
    assert_has(&r, &format!(r#"action="{base}/invitations/{dan}/resend""#));
    assert_has(&r, &format!(r#"action="{base}/invitations/{eve}/revoke""#));

    // Resent: a new link; the old one no longer works.
    let r = b
        .post(
            &format!("{base}/invitations/{dan}/resend"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = accept_tokens(&r.body);
    assert_eq!(fresh.len(), 1, "{}", r.body);
    assert_ne!(fresh[0], tokens[0]);
    assert_has(&r, "dan@acme.test<code>");
    let mut visitor = Browser::new(app);
    let old = page(
        &mut visitor,
        &format!("/console/invitations/accept?token={}", tokens[0]),
    )
    .await;
    assert_has(
        &old,
        "This invitation link is not valid, or it was replaced by a newer one",
    );
    let refused = app
        .anonymous()
        .post(
            "/v1/invitations/accept",
            &json!({"token": tokens[0], "name": "Dan", "password": PASSWORD}),
        )
        .await
        .unwrap();
    assert_eq!(refused.status, 404, "{:?}", refused.body);
    let new = page(
        &mut visitor,
        &format!("/console/invitations/accept?token={}", fresh[0]),
    )
    .await;
    assert_has(
        &new,
        &format!("dan@acme.test is invited to {invited_to} with the role Member."),
    );

    // Revoked: said, gone from the pending ones, its link refused.
    let r = b
        .post(
            &format!("{base}/invitations/{eve}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{base}/members?revoked=eve%40acme.test").as_str()),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "The invitation of eve@acme.test was revoked.");
    assert_lacks(&p, "<tr><td>eve@acme.test</td>");
    let inv = api(app, &format!("{}/invitations/{eve}", place.api)).await;
    assert_eq!(inv["status"], "revoked");
    let gone = page(
        &mut visitor,
        &format!("/console/invitations/accept?token={}", tokens[1]),
    )
    .await;
    assert_has(&gone, "This invitation was revoked");
}

#[tokio::test]
async fn org_invitations_are_sent_with_links_shown_once_resent_and_revoked() {
    let app = spawn_app().await;
    acme_owner(&app, "olga@acme.test").await;
    member(&app, "bea@acme.test", "Member").await;
    invitations_are_sent_resent_and_revoked(&app, &acme(&app), "Acme").await;
}

#[tokio::test]
async fn project_invitations_are_sent_with_links_shown_once_resent_and_revoked() {
    let app = spawn_app().await;
    acme_owner(&app, "olga@acme.test").await;
    member(&app, "bea@acme.test", "Member").await;
    let bea = user_id(&app, "bea@acme.test").await;
    let (_, place) = acme_project(&app, "Chatbot").await;
    let r = app
        .owner
        .put(
            &format!("{}/members/user:{bea}", place.api),
            &json!({"role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    invitations_are_sent_resent_and_revoked(&app, &place, "the project “Chatbot” of Acme").await;
}

#[tokio::test]
async fn a_team_joins_the_org_and_a_user_and_a_team_join_a_project() {
    let app = spawn_app().await;
    member(&app, "bea@acme.test", "Member").await;
    let bea = user_id(&app, "bea@acme.test").await;
    let team = id_of(&app.team("Annotators").await);
    let team_p = format!("team:{team}");
    let mut b = olga(&app).await;

    // The org: teams are offered (people join it by invitation).
    let r = page(&mut b, "/console/org/members").await;
    assert_has(&r, r#"<h2 id="add-member">Add a team</h2>"#);
    assert_has(&r, r#"<input type="hidden" name="add" value="1">"#);
    assert_eq!(
        option_value(&r.body, "add-principal", "Team Annotators"),
        team_p
    );
    assert!(!select(&r.body, "add-principal").contains("user:"));
    let member_role = option_value(&r.body, "add-role", "Member");
    let csrf = hidden(&r.body, "csrf");

    // A role that does not exist: refused beside the role, the team still chosen.
    let before = app.revision().await;
    let r = b
        .post(
            "/console/org/members",
            &[
                ("csrf", &csrf),
                ("add", "1"),
                ("principal", &team_p),
                ("role_id", "00000000-0000-0000-0000-000000000000"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="add-role-error">"#);
    assert_has(&r, &format!(r#"<option value="{team_p}" selected>"#));
    assert_eq!(app.revision().await, before);

    let r = b
        .post(
            "/console/org/members",
            &[
                ("csrf", &csrf),
                ("add", "1"),
                ("principal", &team_p),
                ("role_id", &member_role),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/members?changed=Member"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, r#"Annotators <span class="tag">team</span>"#);
    assert_lacks(&p, ">Team Annotators</option>");
    assert_eq!(
        role_of(&app.owner, &app.org_path(""), &team_p).await,
        "Member"
    );

    // A project: users of the org and teams are offered.
    let (_, place) = acme_project(&app, "Chatbot").await;
    let members = format!("{}/members", place.base);
    let r = page(&mut b, &members).await;
    assert_has(&r, r#"<h2 id="add-member">Add a user or team</h2>"#);
    assert_eq!(
        option_value(&r.body, "add-principal", "Bea (bea@acme.test)"),
        format!("user:{bea}")
    );
    assert_eq!(
        option_value(&r.body, "add-principal", "Team Annotators"),
        team_p
    );
    let manager = option_value(&r.body, "add-role", "Manager");
    let project_member = option_value(&r.body, "add-role", "Member");
    let r = b
        .post(
            &members,
            &[
                ("csrf", &csrf),
                ("add", "1"),
                ("principal", &format!("user:{bea}")),
                ("role_id", &manager),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{members}?changed=Manager").as_str()),
        "{}",
        r.body
    );
    let r = b
        .post(
            &members,
            &[
                ("csrf", &csrf),
                ("add", "1"),
                ("principal", &team_p),
                ("role_id", &project_member),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        role_of(&app.owner, &place.api, &format!("user:{bea}")).await,
        "Manager"
    );
    assert_eq!(role_of(&app.owner, &place.api, &team_p).await, "Member");
    let p = page(&mut b, &members).await;
    assert_has(&p, r#"Bea (bea@acme.test) <span class="tag">user</span>"#);
    assert_has(&p, r#"Annotators <span class="tag">team</span>"#);
}

#[tokio::test]
async fn project_ownership_is_transferred_and_its_owner_becomes_manager() {
    let app = spawn_app().await;
    let olga_id = acme_owner(&app, "olga@acme.test").await;
    member(&app, "bea@acme.test", "Member").await;
    let bea = user_id(&app, "bea@acme.test").await;
    let (_, place) = acme_project(&app, "Chatbot").await;
    for (who, role) in [(&olga_id, "Owner"), (&bea, "Member")] {
        let r = app
            .owner
            .put(
                &format!("{}/members/user:{who}", place.api),
                &json!({"role_id": role}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let mut b = signed_in(&app, "olga@acme.test").await;
    let members = format!("{}/members", place.base);
    let r = page(&mut b, &members).await;
    assert_has(
        &r,
        "The member you choose becomes Owner; you become Manager.",
    );
    assert_eq!(
        option_value(&r.body, "transfer-user", "Bea (bea@acme.test)"),
        bea
    );
    let csrf = hidden(&r.body, "csrf");
    let r = b
        .post(
            &format!("{}/transfer-ownership", place.base),
            &[("csrf", &csrf), ("user_id", &bea)],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{members}?transferred=Bea%20%28bea%40acme.test%29").as_str()),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Ownership transferred to Bea (bea@acme.test).");
    assert_eq!(
        role_of(&app.owner, &place.api, &format!("user:{bea}")).await,
        "Owner"
    );
    assert_eq!(
        role_of(&app.owner, &place.api, &format!("user:{olga_id}")).await,
        "Manager"
    );
}

// ---------------------------------------------------------------------------------------
// Accepting an invitation
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_invitation_link_opens_a_page_that_signs_the_new_person_in() {
    let app = spawn_app().await;
    let r = app
        .owner
        .post(
            &app.org_path("/invitations"),
            &json!({"emails": ["cy@acme.test"], "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let token = r.body["invitations"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let invitation = id_of(&r.body["invitations"][0]);
    let status = || async {
        api(&app, &app.org_path(&format!("/invitations/{invitation}"))).await["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let link = format!("/console/invitations/accept?token={token}");

    // The page: what the invitation leads to, a nonce in the form and in a cookie.
    let mut b = Browser::new(&app);
    let r = page(&mut b, &link).await;
    assert_has(&r, "cy@acme.test is invited to Acme with the role Member.");
    assert_eq!(hidden(&r.body, "token"), token);
    let nonce = hidden(&r.body, "csrf");
    assert_eq!(b.cookie("warden_sign_in"), Some(nonce.as_str()));

    // Passwords that differ: beside the second one, the name kept, no password echoed.
    let r = b
        .post(
            "/console/invitations/accept",
            &[
                ("csrf", &nonce),
                ("token", &token),
                ("name", "Cy"),
                ("password", PASSWORD),
                ("confirm", "another password"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="confirm-error">"#);
    assert_has(&r, "The two passwords differ");
    assert_has(&r, r#"value="Cy""#);
    assert_lacks(&r, PASSWORD);
    assert!(b.cookie("warden_session").is_none());
    assert_eq!(status().await, "pending");

    // A token that is not one: said.
    let nonce = hidden(&r.body, "csrf");
    let r = b
        .post(
            "/console/invitations/accept",
            &[
                ("csrf", &nonce),
                ("token", "wdn_not-a-token"),
                ("name", "Cy"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_has(&r, "This invitation link is not valid");
    assert!(b.cookie("warden_session").is_none());
    let r = page(&mut b, "/console/invitations/accept?token=wdn_not-a-token").await;
    assert_has(&r, "This invitation link is not valid");

    // A form posted from elsewhere, without the page's nonce: refused.
    let mut forged = Browser::new(&app);
    let before = app.revision().await;
    let r = forged
        .post(
            "/console/invitations/accept",
            &[
                ("csrf", "forged"),
                ("token", &token),
                ("name", "Mallory"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(forged.cookie("warden_session").is_none());
    assert_eq!(app.revision().await, before);
    assert_eq!(status().await, "pending");

    // Accepted: signed in, in the org with the invited role.
    let nonce = hidden(&page(&mut b, &link).await.body, "csrf");
    let r = b
        .post(
            "/console/invitations/accept",
            &[
                ("csrf", &nonce),
                ("token", &token),
                ("name", "Cy"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/console/org"));
    assert!(b.cookie("warden_session").is_some(), "{:?}", r.set_cookies);
    let r = page(&mut b, "/console/org").await;
    assert_has(&r, "Your role in this organization: Member");
    assert_has(&r, "Cy (cy@acme.test)");
    assert_eq!(status().await, "accepted");
    let cy = user_id(&app, "cy@acme.test").await;
    assert_eq!(
        role_of(&app.owner, &app.org_path(""), &format!("user:{cy}")).await,
        "Member"
    );
    // The password chosen signs in.
    let mut again = Browser::new(&app);
    assert_eq!(again.sign_in("cy@acme.test", PASSWORD).await.status, 303);

    // The link, once used, says so.
    let r = page(&mut Browser::new(&app), &link).await;
    assert_has(&r, "This invitation has already been accepted");
}

/// Posts the acceptance form as its page sends it, with the same password twice.
async fn accept(b: &mut Browser, token: &str, nonce: &str, name: &str, password: &str) -> Got {
    b.post(
        "/console/invitations/accept",
        &[
            ("csrf", nonce),
            ("token", token),
            ("name", name),
            ("password", password),
            ("confirm", password),
        ],
    )
    .await
}

#[tokio::test]
async fn a_person_with_an_account_accepts_with_its_own_password() {
    let app = spawn_app().await;
    org_with_owner(&app, "Globex", "boss@globex.test").await;
    let r = app
        .owner
        .post(
            &app.org_path("/invitations"),
            &json!({"emails": ["boss@globex.test"], "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let token = r.body["invitations"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = Browser::new(&app);
    let r = page(
        &mut b,
        &format!("/console/invitations/accept?token={token}"),
    )
    .await;
    assert_has(
        &r,
        "boss@globex.test is invited to Acme with the role Member.",
    );
    let before = app.revision().await;

    // No name: beside the name.
    let r = accept(&mut b, &token, &hidden(&r.body, "csrf"), " ", PASSWORD).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="name-error">"#);
    // Not the account's password: beside the password.
    let r = accept(
        &mut b,
        &token,
        &hidden(&r.body, "csrf"),
        "Boss",
        "not the password",
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="password-error">"#);
    assert_has(&r, "already has an account");
    assert_has(&r, r#"value="Boss""#);
    assert!(b.cookie("warden_session").is_none());
    assert_eq!(app.revision().await, before);

    // Its password: signed in to Acme, the org it was invited to.
    let r = accept(&mut b, &token, &hidden(&r.body, "csrf"), "Boss", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/console/org"));
    let r = page(&mut b, "/console/org").await;
    assert_has(&r, "<h1>Acme</h1>");
    assert_has(&r, "Your role in this organization: Member");
    let boss = user_id(&app, "boss@globex.test").await;
    assert_eq!(
        role_of(&app.owner, &app.org_path(""), &format!("user:{boss}")).await,
        "Member"
    );
}

// ---------------------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn teams_are_created_filled_emptied_renamed_and_deleted() {
    let app = spawn_app().await;
    member(&app, "bea@acme.test", "Member").await;
    let bea = user_id(&app, "bea@acme.test").await;
    let mut b = olga(&app).await;
    let teams_api = app.org_path("/teams");

    let r = page(&mut b, "/console/org/teams").await;
    assert_has(&r, "No teams yet.");
    assert_has(&r, r#"action="/console/org/teams""#);
    let csrf = hidden(&r.body, "csrf");

    // Created, its key derived from the name.
    let r = b
        .post(
            "/console/org/teams",
            &[
                ("csrf", &csrf),
                ("name", "Annotators"),
                ("key", ""),
                ("description", "Label data"),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/teams/annotators?created=1"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Team created: add its users");
    let team = api(&app, &format!("{teams_api}/annotators")).await;
    assert_eq!(team["name"], "Annotators");
    assert_eq!(team["description"], "Label data");

    // The same name: beside the name (409), what was typed kept. A bad key: beside the key.
    let r = b
        .post(
            "/console/org/teams",
            &[
                ("csrf", &csrf),
                ("name", "Annotators"),
                ("key", "others"),
                ("description", "twice"),
            ],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="team-name-error">"#);
    assert_has(&r, r#"value="others""#);
    assert_has(&r, ">twice</textarea>");
    let r = b
        .post(
            "/console/org/teams",
            &[
                ("csrf", &csrf),
                ("name", "Reviewers"),
                ("key", "Not a key!"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="team-key-error">"#);
    assert_eq!(app.owner.list_all(&teams_api).await.unwrap().len(), 1);
    let r = page(&mut b, "/console/org/teams").await;
    assert_has(
        &r,
        r#"<a href="/console/org/teams/annotators">Annotators</a>"#,
    );

    // Bea added, then taken out.
    let path = "/console/org/teams/annotators";
    let r = page(&mut b, path).await;
    assert_has(&r, "No users in this team yet.");
    assert_eq!(
        option_value(&r.body, "team-add-user", "Bea (bea@acme.test)"),
        bea
    );
    let r = b
        .post(
            &format!("{path}/users"),
            &[("csrf", &csrf), ("user_id", &bea)],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/teams/annotators?added=bea%40acme.test"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "bea@acme.test added to the team.");
    let users = app
        .owner
        .list_all(&format!("{teams_api}/annotators/users"))
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], bea.as_str());
    let r = b
        .post(
            &format!("{path}/users/remove"),
            &[("csrf", &csrf), ("user_id", &bea)],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/teams/annotators?removed=bea%40acme.test"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "bea@acme.test taken out of the team.");
    assert!(app
        .owner
        .list_all(&format!("{teams_api}/annotators/users"))
        .await
        .unwrap()
        .is_empty());

    // Settings: renamed and rekeyed.
    let version = hidden(&p.body, "version");
    assert_eq!(
        version,
        api(&app, &format!("{teams_api}/annotators")).await["version"].to_string()
    );
    let r = b
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Labelers"),
                ("key", "labelers"),
                ("description", "Labels data"),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/teams/labelers?saved=1"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Team saved.");
    let team = api(&app, &format!("{teams_api}/labelers")).await;
    assert_eq!(team["name"], "Labelers");
    assert_eq!(team["description"], "Labels data");
    let old = app
        .owner
        .get(&format!("{teams_api}/annotators"))
        .await
        .unwrap();
    assert_eq!(old.status, 404);

    // The form as opened before: refused (412), said, what was typed kept.
    let r = b
        .post(
            "/console/org/teams/labelers",
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Stale"),
                ("key", "labelers"),
            ],
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert_has(&r, "Someone changed this team since you opened the page");
    assert_has(&r, r#"value="Stale""#);
    assert_eq!(
        api(&app, &format!("{teams_api}/labelers")).await["name"],
        "Labelers"
    );

    // Deleted.
    let r = b
        .post("/console/org/teams/labelers/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org/teams?deleted=Labelers"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Team “Labelers” deleted.");
    assert_has(&p, "No teams yet.");
    let gone = app
        .owner
        .get(&format!("{teams_api}/labelers"))
        .await
        .unwrap();
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn a_stale_team_form_is_refused_and_keeps_the_version_it_was_opened_on() {
    let app = spawn_app().await;
    app.team("Annotators").await;
    let mut b = olga(&app).await;
    let path = "/console/org/teams/annotators";
    let r = page(&mut b, path).await;
    let (csrf, opened) = (hidden(&r.body, "csrf"), hidden(&r.body, "version"));
    // Someone changes the team meanwhile.
    let r = app
        .owner
        .patch(
            &app.org_path("/teams/annotators"),
            &json!({"description": "changed meanwhile"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let form = [
        ("csrf", csrf.as_str()),
        ("version", opened.as_str()),
        ("name", "Mine"),
        ("key", "annotators"),
        ("description", "mine"),
    ];
    let r = b.post(path, &form).await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert_has(&r, "Someone changed this team since you opened the page");
    assert_has(&r, r#"value="Mine""#);
    // The form shown again still carries the version it was opened on (as the role, policy
    // and project forms do): saving it again as it is must not overwrite the change unseen.
    assert_eq!(
        hidden(&r.body, "version"),
        opened,
        "the refused team form was given the current version"
    );
    let again: Vec<(&str, String)> = form
        .iter()
        .map(|(k, v)| {
            if *k == "version" {
                (*k, hidden(&r.body, "version"))
            } else {
                (*k, (*v).to_owned())
            }
        })
        .collect();
    let again: Vec<(&str, &str)> = again.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post(path, &again).await;
    assert_eq!(r.status, 412, "{}", r.body);
    let team = api(&app, &app.org_path("/teams/annotators")).await;
    assert_eq!(team["description"], "changed meanwhile");
}

// ---------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------

/// Olga creates a key in `place`, uses it, invalidates, restores and deletes it.
async fn api_keys_are_shown_once_invalidated_restored_and_deleted(app: &TestApp, place: &Place) {
    let mut b = signed_in(app, "olga@acme.test").await;
    let keys = format!("{}/api-keys", place.base);
    let keys_api = format!("{}/api-keys", place.api);
    let r = page(&mut b, &keys).await;
    assert_has(&r, "New API key");
    let role = option_value(&r.body, "key-role", "Member");
    let csrf = hidden(&r.body, "csrf");

    // An expiry in the past: beside the field, what was typed kept, nothing created.
    let before = app.revision().await;
    let r = b
        .post(
            &keys,
            &[
                ("csrf", &csrf),
                ("name", "Old key"),
                ("role_id", &role),
                ("expires_at", "2001-01-01T00:00"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="key-expires-error">"#);
    assert_has(&r, "is in the past");
    assert_has(&r, r#"value="2001-01-01T00:00""#);
    assert_has(&r, r#"value="Old key""#);
    assert_eq!(app.revision().await, before);
    assert!(listed(&app.owner, &keys_api, "name", "Old key")
        .await
        .is_none());

    // An expiry that is no time: beside the field as well.
    let r = b
        .post(
            &keys,
            &[
                ("csrf", &csrf),
                ("name", "Odd key"),
                ("role_id", &role),
                ("expires_at", "tomorrow"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="key-expires-error">"#);
    assert_eq!(app.revision().await, before);

    // Created: the secret shown once, and it works.
    let r = b
        .post(
            &keys,
            &[
                ("csrf", &csrf),
                ("name", "CI key"),
                ("role_id", &role),
                ("expires_at", "2099-01-01T12:30"),
            ],
        )
        .await;
    // Created, then shown by the page the form leads to (so reloading creates nothing),
    // through a short-lived HttpOnly cookie scoped to the console.
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{keys}?done=created&name=CI%20key").as_str()),
        "{}",
        r.body
    );
    let cookie = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("warden_new_key="))
        .expect("the new key's cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("Path=/console"), "{cookie}");
    let shown = b.get(r.location.as_deref().unwrap()).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let r = shown;
    assert_has(&r, "Key “CI key” created.");
    assert!(b.cookie("warden_new_key").is_none(), "the page clears it");
    let marker = r#"<code id="new-secret">"#;
    let at = r.body.find(marker).expect("the secret is shown") + marker.len();
    let secret = r.body[at..at + r.body[at..].find("</code>").unwrap()].to_owned();
    assert!(secret.len() > 20, "{secret}");
    let key = listed(&app.owner, &keys_api, "name", "CI key")
        .await
        .expect("the key is listed by the API");
    assert_eq!(key["expires_at"], "2099-01-01T12:30:00Z", "taken as UTC");
    assert_eq!(key["role_name"], "Member");
    let last = &secret[secret.len() - 6..];
    assert_eq!(key["last_chars"], last);
    let key_id = id_of(&key);
    let client = app.owner.with_key(&secret);
    let me = client.get("/v1/me").await.unwrap();
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["api_key"]["name"], "CI key");
    assert_eq!(me.body["role"]["name"], "Member");

    // Reloading the page that showed it: said, not shown again, no second key.
    let r = page(&mut b, &format!("{keys}?done=created&name=CI%20key")).await;
    assert_lacks(&r, &secret);
    assert_lacks(&r, r#"id="new-secret""#);
    assert_has(&r, "Its secret was shown once, when it was created.");
    let named_ci = app
        .owner
        .list_all(&keys_api)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k["name"] == "CI key")
        .count();
    assert_eq!(named_ci, 1);

    // The list never shows the secret again, only its last characters.
    let r = page(&mut b, &keys).await;
    assert_lacks(&r, &secret);
    assert_has(&r, &format!("<code>…{last}</code>"));
    assert_has(&r, "2099-01-01 12:30");
    assert_has(&r, r#"<span class="tag">active</span>"#);

    // Invalidated: refused by the API at once.
    let valid = format!("{keys}/{key_id}/valid");
    let r = b.post(&valid, &[("csrf", &csrf), ("valid", "false")]).await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{keys}?done=invalidated&name=CI%20key").as_str()),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Key “CI key” invalidated: it is refused from now on.");
    assert_has(&p, r#"<span class="tag">invalidated</span>"#);
    assert_has(&p, r#"<input type="hidden" name="valid" value="true">"#);
    assert_eq!(client.get("/v1/me").await.unwrap().status, 401);

    // Restored: works again.
    let r = b.post(&valid, &[("csrf", &csrf), ("valid", "true")]).await;
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Key “CI key” restored.");
    assert_eq!(client.get("/v1/me").await.unwrap().status, 200);

    // Deleted.
    let r = b
        .post(&format!("{keys}/{key_id}/delete"), &[("csrf", &csrf)])
        .await;
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Key “CI key” deleted.");
    assert_lacks(&p, "<td>CI key</td>");
    assert_eq!(client.get("/v1/me").await.unwrap().status, 401);
    assert!(listed(&app.owner, &keys_api, "name", "CI key")
        .await
        .is_none());
}

#[tokio::test]
async fn only_an_owner_creates_a_key_holding_the_owner_role() {
    let app = spawn_app().await;
    member(&app, "adam@acme.test", "Admin").await;
    let mut b = signed_in(&app, "adam@acme.test").await;
    let r = page(&mut b, "/console/org/api-keys").await;
    let owner = option_value(&r.body, "key-role", "Owner");
    let csrf = hidden(&r.body, "csrf");
    let before = app.revision().await;
    let r = b
        .post(
            "/console/org/api-keys",
            &[("csrf", &csrf), ("name", "Root"), ("role_id", &owner)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_has(&r, r#"<p class="error" id="key-role-error">"#);
    assert_has(&r, "only an Owner can create a key holding the Owner role");
    assert_has(&r, r#"value="Root""#);
    assert_eq!(app.revision().await, before);
    assert!(
        listed(&app.owner, &app.org_path("/api-keys"), "name", "Root")
            .await
            .is_none()
    );
}

#[tokio::test]
async fn org_api_keys_are_shown_once_invalidated_restored_and_deleted() {
    let app = spawn_app().await;
    acme_owner(&app, "olga@acme.test").await;
    api_keys_are_shown_once_invalidated_restored_and_deleted(&app, &acme(&app)).await;
}

#[tokio::test]
async fn project_api_keys_are_shown_once_invalidated_restored_and_deleted() {
    let app = spawn_app().await;
    acme_owner(&app, "olga@acme.test").await;
    let (_, place) = acme_project(&app, "Chatbot").await;
    api_keys_are_shown_once_invalidated_restored_and_deleted(&app, &place).await;
}

// ---------------------------------------------------------------------------------------
// Audit logs, access, deleting a project
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn org_and_project_audit_logs_list_changes_filtered_by_action() {
    let app = spawn_app().await;
    let mut b = olga(&app).await;
    let (_, project) = acme_project(&app, "Chatbot").await;
    let csrf = hidden(&page(&mut b, "/console/org/roles").await.body, "csrf");
    let r = b
        .post(
            "/console/org/policies",
            &[
                ("csrf", &csrf),
                ("name", "Auditors"),
                ("permission_ids", "audit_log:read"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let policy = id_of(
        &listed(&app.owner, &app.org_path("/policies"), "name", "Auditors")
            .await
            .unwrap(),
    );
    let r = b
        .post(
            "/console/org/roles",
            &[
                ("csrf", &csrf),
                ("name", "Auditor"),
                ("policy_ids", &policy),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b
        .post(
            &format!("{}/policies", project.base),
            &[
                ("csrf", &csrf),
                ("name", "Labelers"),
                ("permission_ids", "dataset:read"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The org's log: every change, by whom, newest first.
    let r = page(&mut b, "/console/org/audit").await;
    assert_has(&r, "<h1>Audit log</h1>");
    assert_has(&r, "<code>policy.create</code> policy “Auditors”");
    assert_has(&r, "<code>role.create</code> role “Auditor”");
    assert_has(&r, "<td>olga@acme.test</td>");
    let role_at = r.body.find("<code>role.create</code>").unwrap();
    let policy_at = r
        .body
        .find("<code>policy.create</code> policy “Auditors”")
        .unwrap();
    assert!(role_at < policy_at, "newest first");
    // As the API has it.
    let events = app
        .owner
        .get(&app.org_path("/audit-events?action=role.create"))
        .await
        .unwrap();
    assert_eq!(events.status, 200, "{:?}", events.body);
    let revision = events.body["items"][0]["revision"].as_u64().unwrap();
    assert_has(&r, &format!("<td class=\"optional\">{revision}</td>"));

    // Filtered by action.
    let r = page(&mut b, "/console/org/audit?action=role.create").await;
    assert_has(&r, "<code>role.create</code> role “Auditor”");
    assert_lacks(&r, "<code>policy.create</code>");
    assert_has(&r, r#"value="role.create""#);
    assert_has(&r, "Show every change");
    // More than a page: the link to older changes keeps the filter.
    for i in 0..52 {
        app.policy(
            &app.org_path(""),
            &format!("Bulk {i:02}"),
            &["dataset:read"],
        )
        .await;
    }
    let r = page(&mut b, "/console/org/audit?action=policy.create").await;
    assert_eq!(r.body.matches("<code>policy.create</code>").count(), 50);
    assert_has(&r, "policy “Bulk 51”");
    let marker = "<a href=\"/console/org/audit?before=";
    let at = r.body.find(marker).expect("a link to older changes");
    let link = &r.body[at + "<a href=\"".len()..];
    let link = link[..link.find('"').unwrap()]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(link.ends_with("&action=policy.create"), "{link}");
    let older = page(&mut b, &link).await;
    assert_lacks(&older, "Older changes");
    let older_rows = older.body.matches("<code>policy.create</code>").count();
    assert_eq!(
        older_rows, 4,
        "52 bulk, Auditors and Labelers, 50 on the first page"
    );
    assert_has(&older, "policy “Auditors”");
    assert_lacks(&older, "<code>role.create</code>");
    let r = page(&mut b, "/console/org/audit?action=team.delete").await;
    assert_has(&r, "No changes with this action yet.");

    // The project's log holds its own changes only.
    let r = page(&mut b, &format!("{}/audit", project.base)).await;
    assert_has(&r, "<code>policy.create</code> policy “Labelers”");
    assert_lacks(&r, "policy “Auditors”");
    let r = page(
        &mut b,
        &format!("{}/audit?action=policy.create", project.base),
    )
    .await;
    assert_has(&r, "<code>policy.create</code> policy “Labelers”");
    let r = page(
        &mut b,
        &format!("{}/audit?action=role.create", project.base),
    )
    .await;
    assert_has(&r, "No changes with this action yet.");
}

#[tokio::test]
async fn org_access_page_explains_each_permission_with_its_grants() {
    let app = spawn_app().await;
    member(&app, "bea@acme.test", "Member").await;
    let bea = user_id(&app, "bea@acme.test").await;
    let team = id_of(&app.team("Annotators").await);
    let r = app
        .owner
        .send(
            Method::PUT,
            &app.org_path(&format!("/teams/annotators/users/{bea}")),
            None,
            &[],
        )
        .await
        .unwrap();
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = app
        .owner
        .put(
            &app.org_path(&format!("/members/team:{team}")),
            &json!({"role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut b = olga(&app).await;

    let principal = format!("user:{bea}");
    let path = format!("/console/org/access/{principal}");
    let members = page(&mut b, "/console/org/members").await;
    assert_has(&members, &format!(r#"href="{path}""#));
    let r = page(&mut b, &path).await;
    assert_has(&r, "<h1>Access of Bea (bea@acme.test)</h1>");
    assert_has(
        &r,
        "<code>dataset:read</code></td><td>role Member (organization)",
    );
    assert_has(&r, "role Member (organization), through team Annotators");
    assert_lacks(&r, "<code>member:create</code>");
    // Exactly the permissions the API's effective permissions lists.
    let effective = api(
        &app,
        &app.org_path(&format!("/principals/{principal}/permissions")),
    )
    .await;
    let permissions = sorted(&effective["permissions"]);
    assert!(permissions.contains(&"member:read".to_owned()));
    for p in &permissions {
        assert_has(&r, &format!("<tr><td><code>{p}</code></td>"));
    }
    assert_eq!(r.body.matches("<tr><td><code>").count(), permissions.len());
}

#[tokio::test]
async fn deleting_a_project_needs_its_name_typed() {
    let app = spawn_app().await;
    let (project, place) = acme_project(&app, "Chatbot").await;
    let mut b = olga(&app).await;
    let r = page(&mut b, &format!("{}/settings", place.base)).await;
    assert_has(&r, "Delete this project");
    let delete = format!("{}/delete", place.base);
    assert_has(&r, &format!(r#"action="{delete}""#));
    let csrf = hidden(&r.body, "csrf");

    // A wrong name: beside the field, what was typed kept, nothing deleted.
    let before = app.revision().await;
    for typed in ["chatbot", ""] {
        let r = b
            .post(&delete, &[("csrf", &csrf), ("confirm", typed)])
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_has(&r, r#"<p class="error" id="confirm-error">"#);
        assert_has(&r, "to confirm that it should be deleted.");
        assert_has(
            &r,
            r#"aria-invalid="true" aria-describedby="confirm-error""#,
        );
        assert_has(
            &r,
            &format!(r#"name="confirm" type="text" autocomplete="off" value="{typed}""#),
        );
    }
    assert_eq!(app.revision().await, before);
    assert_eq!(api(&app, &place.api).await["name"], "Chatbot");

    // The name: deleted, and its pages are gone.
    let r = b
        .post(&delete, &[("csrf", &csrf), ("confirm", "Chatbot")])
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some("/console/org?deleted=Chatbot"),
        "{}",
        r.body
    );
    let p = follow(&mut b, &r).await;
    assert_has(&p, "Project “Chatbot” deleted.");
    assert_eq!(app.owner.get(&place.api).await.unwrap().status, 404);
    assert!(project_names(&app, &app.org_id).await.is_empty());
    let r = b
        .get(&format!("/console/projects/{project}/settings"))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

// ---------------------------------------------------------------------------------------
// Table-driven: CSRF, authorization, another org, security headers
// ---------------------------------------------------------------------------------------

/// Every POST route of the console, as `console/mod.rs` declares them (`scoped()` routes
/// under both `/console/org` and `/console/projects/{project}`), read from its source, so
/// that a form added there without a row in [`session_forms`] fails these tests.
fn console_post_routes() -> BTreeSet<String> {
    let src = include_str!("../src/console/mod.rs");
    let start = src.find("fn scoped()").expect("scoped() in mod.rs");
    let router = src.find("pub fn router()").expect("router() in mod.rs");
    let end = src[router..]
        .find("\n}\n")
        .map(|e| router + e)
        .expect("the end of router()");
    // The string literals naming a path, with where they start and end.
    let mut literals = Vec::new();
    let mut at = start;
    while let Some(open) = src[at..end].find('"').map(|o| at + o) {
        let close = open + 1 + src[open + 1..].find('"').unwrap();
        let text = &src[open + 1..close];
        if text.starts_with('/') && !text.contains("{suffix}") {
            literals.push((open, close, text));
        }
        at = close + 1;
    }
    let mut routes = BTreeSet::new();
    for (i, (open, close, path)) in literals.iter().enumerate() {
        let until = literals.get(i + 1).map(|l| l.0).unwrap_or(end);
        if !src[*close..until].contains("post(") {
            continue;
        }
        if *open < router {
            routes.insert(format!("/console/org{path}"));
            routes.insert(format!("/console/projects/{{project}}{path}"));
        } else {
            routes.insert((*path).to_owned());
        }
    }
    assert!(routes.len() > 30, "{routes:?}");
    routes
}

/// What a scope of [`World`] holds.
struct Things {
    base: String,
    role: String,
    role_version: String,
    /// Used by `role`.
    policy: String,
    policy_version: String,
    /// Used by nothing.
    spare_policy: String,
    invitation: String,
    invitation_token: String,
    key: String,
}

/// What every console form acts on, in Acme, made through the API: Olga (an Owner), Bea (an
/// org Member, also a Member of the project and in the team), the project "Chatbot", the
/// team "Annotators", and in the org and in the project a custom policy used by a custom
/// role, an unused policy, a pending invitation (of zed@acme.test) and an API key.
struct World {
    project: String,
    olga: String,
    bea: String,
    org: Things,
    proj: Things,
}

async fn things(app: &TestApp, api: &str, base: String) -> Things {
    let policy = app.policy(api, "Readers", &["dataset:read"]).await;
    let spare = app.policy(api, "Spare", &["dataset:update"]).await;
    let role = app.role(api, "Analysts", &[&id_of(&policy)]).await;
    let r = app
        .owner
        .post(
            &format!("{api}/invitations"),
            &json!({"emails": ["zed@acme.test"], "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let invitation = &r.body["invitations"][0];
    let key = app
        .owner
        .post(
            &format!("{api}/api-keys"),
            &json!({"name": "CI", "role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(key.status, 201, "{:?}", key.body);
    Things {
        base,
        role: id_of(&role),
        role_version: role["version"].to_string(),
        policy: id_of(&policy),
        policy_version: policy["version"].to_string(),
        spare_policy: id_of(&spare),
        invitation: id_of(invitation),
        invitation_token: invitation["token"].as_str().unwrap().to_owned(),
        key: id_of(&key.body),
    }
}

async fn world(app: &TestApp) -> World {
    let olga = acme_owner(app, "olga@acme.test").await;
    member(app, "bea@acme.test", "Member").await;
    let bea = user_id(app, "bea@acme.test").await;
    let project = app.project("Chatbot").await;
    app.team("Annotators").await;
    let r = app
        .owner
        .send(
            Method::PUT,
            &app.org_path(&format!("/teams/annotators/users/{bea}")),
            None,
            &[],
        )
        .await
        .unwrap();
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = app
        .owner
        .put(
            &format!("/v1/projects/{project}/members/user:{bea}"),
            &json!({"role_id": "Member"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let org = things(app, &app.org_path(""), "/console/org".into()).await;
    let proj = things(
        app,
        &format!("/v1/projects/{project}"),
        format!("/console/projects/{project}"),
    )
    .await;
    World {
        project,
        olga,
        bea,
        org,
        proj,
    }
}

/// A POST form of a signed-in user: its route as mod.rs declares it, the path it is posted
/// to in the [`World`], and fields that would change something if it were accepted.
struct Form {
    route: String,
    path: String,
    fields: Vec<(&'static str, String)>,
}

fn form<const N: usize>(
    route: impl Into<String>,
    path: impl Into<String>,
    fields: [(&'static str, &str); N],
) -> Form {
    Form {
        route: route.into(),
        path: path.into(),
        fields: fields.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
    }
}

/// Every form of a signed-in session, one per POST route of the console but the two posted
/// before any session (sign-in, accepting an invitation).
fn session_forms(w: &World) -> Vec<Form> {
    let p = format!("/console/projects/{}", w.project);
    let team = "/console/org/teams/annotators";
    let mut out = vec![
        form("/console/sign-out", "/console/sign-out", []),
        form(
            "/console/org/projects",
            "/console/org/projects",
            [("name", "Forged")],
        ),
        form(
            "/console/org/teams",
            "/console/org/teams",
            [("name", "Forged")],
        ),
        form(
            "/console/org/teams/{team}",
            team,
            [("version", "1"), ("name", "Forged"), ("key", "forged")],
        ),
        form(
            "/console/org/teams/{team}/users",
            format!("{team}/users"),
            [("user_id", &w.olga)],
        ),
        form(
            "/console/org/teams/{team}/users/remove",
            format!("{team}/users/remove"),
            [("user_id", &w.bea)],
        ),
        form(
            "/console/org/teams/{team}/delete",
            format!("{team}/delete"),
            [],
        ),
        form(
            "/console/projects/{project}/settings",
            format!("{p}/settings"),
            [("name", "Forged"), ("restricted", "on")],
        ),
        form(
            "/console/projects/{project}/delete",
            format!("{p}/delete"),
            [("confirm", "Chatbot")],
        ),
    ];
    let bea = format!("user:{}", w.bea);
    for (prefix, t, higher) in [
        ("/console/org", &w.org, "Admin"),
        ("/console/projects/{project}", &w.proj, "Manager"),
    ] {
        let b = &t.base;
        out.extend([
            form(
                format!("{prefix}/roles"),
                format!("{b}/roles"),
                [("name", "Forged"), ("policy_ids", &t.policy)],
            ),
            form(
                format!("{prefix}/roles/{{id}}"),
                format!("{b}/roles/{}", t.role),
                [
                    ("version", &t.role_version),
                    ("name", "Forged"),
                    ("policy_ids", &t.spare_policy),
                ],
            ),
            form(
                format!("{prefix}/roles/{{id}}/delete"),
                format!("{b}/roles/{}/delete", t.role),
                [],
            ),
            form(
                format!("{prefix}/policies"),
                format!("{b}/policies"),
                [("name", "Forged"), ("permission_ids", "dataset:read")],
            ),
            form(
                format!("{prefix}/policies/{{id}}"),
                format!("{b}/policies/{}", t.policy),
                [
                    ("version", &t.policy_version),
                    ("name", "Forged"),
                    ("permission_ids", "dataset:delete"),
                ],
            ),
            form(
                format!("{prefix}/policies/{{id}}/delete"),
                format!("{b}/policies/{}/delete", t.spare_policy),
                [],
            ),
            form(
                format!("{prefix}/members"),
                format!("{b}/members"),
                [("principal", &bea), ("role_id", higher)],
            ),
            form(
                format!("{prefix}/members/remove"),
                format!("{b}/members/remove"),
                [("principal", &bea)],
            ),
            form(
                format!("{prefix}/invitations"),
                format!("{b}/invitations"),
                [("emails", "yan@acme.test"), ("role_id", "Member")],
            ),
            form(
                format!("{prefix}/invitations/{{id}}/resend"),
                format!("{b}/invitations/{}/resend", t.invitation),
                [],
            ),
            form(
                format!("{prefix}/invitations/{{id}}/revoke"),
                format!("{b}/invitations/{}/revoke", t.invitation),
                [],
            ),
            form(
                format!("{prefix}/transfer-ownership"),
                format!("{b}/transfer-ownership"),
                [("user_id", &w.bea)],
            ),
            form(
                format!("{prefix}/api-keys"),
                format!("{b}/api-keys"),
                [("name", "Forged"), ("role_id", "Member")],
            ),
            form(
                format!("{prefix}/api-keys/{{id}}/valid"),
                format!("{b}/api-keys/{}/valid", t.key),
                [("valid", "false")],
            ),
            form(
                format!("{prefix}/api-keys/{{id}}/delete"),
                format!("{b}/api-keys/{}/delete", t.key),
                [],
            ),
        ]);
    }
    out
}

#[tokio::test]
async fn every_console_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let forms = session_forms(&w);
    let mut covered: BTreeSet<String> = forms.iter().map(|f| f.route.clone()).collect();
    covered.insert("/console/sign-in".into());
    covered.insert("/console/invitations/accept".into());
    assert_eq!(
        covered,
        console_post_routes(),
        "every POST route of console/mod.rs has a form here"
    );

    let mut b = signed_in(&app, "olga@acme.test").await;
    let csrf = hidden(&page(&mut b, "/console/org").await.body, "csrf");
    // Another session's token is no better than none.
    let mut bea = signed_in(&app, "bea@acme.test").await;
    let beas = hidden(&page(&mut bea, "/console/org").await.body, "csrf");
    assert_ne!(csrf, beas);
    let before = app.revision().await;
    for f in &forms {
        for token in [None, Some("forged"), Some(beas.as_str()), Some(&csrf[1..])] {
            let r = post_form(&mut b, &f.path, &f.fields, token).await;
            assert_eq!(
                r.status, 403,
                "POST {} with the token {token:?}: {}",
                f.path, r.body
            );
            assert_has(&r, "this form did not come from this session");
            assert_eq!(
                app.revision().await,
                before,
                "POST {} with the token {token:?} wrote",
                f.path
            );
        }
    }
    // Still signed in: the forged sign-out did not sign out.
    page(&mut b, "/console/org").await;

    // The forms posted before any session: a nonce that is not the page's is refused.
    let mut visitor = Browser::new(&app);
    page(&mut visitor, "/console/sign-in").await;
    let r = visitor
        .post(
            "/console/sign-in",
            &[
                ("csrf", "forged"),
                ("email", "olga@acme.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    page(
        &mut visitor,
        &format!(
            "/console/invitations/accept?token={}",
            w.org.invitation_token
        ),
    )
    .await;
    let r = visitor
        .post(
            "/console/invitations/accept",
            &[
                ("csrf", "forged"),
                ("token", &w.org.invitation_token),
                ("name", "Zed"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(visitor.cookie("warden_session").is_none());
    assert_eq!(app.revision().await, before);
    let inv = api(
        &app,
        &app.org_path(&format!("/invitations/{}", w.org.invitation)),
    )
    .await;
    assert_eq!(inv["status"], "pending");

    // With the token, the same forms do change things (so the refusals above mean
    // something): one of them, as an example.
    let r = post_form(&mut b, "/console/org/teams", &forms[2].fields, Some(&csrf)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(app.revision().await > before);
}

#[tokio::test]
async fn an_org_member_is_refused_what_its_role_does_not_allow_and_offered_no_such_form() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let mut b = signed_in(&app, "bea@acme.test").await;
    let p = format!("/console/projects/{}", w.project);
    let bea = format!("user:{}", w.bea);

    // Pages its role does not open: 403, naming the permission it lacks.
    let refused = [
        ("/console/org/api-keys".to_owned(), "api_key:read"),
        ("/console/org/audit".to_owned(), "audit_log:read"),
        (format!("/console/org/access/{bea}"), "access:check"),
        (format!("{p}/api-keys"), "api_key:read"),
        (format!("{p}/audit"), "audit_log:read"),
        (format!("{p}/access/{bea}"), "access:check"),
    ];
    for (path, permission) in &refused {
        let r = b.get(path).await;
        assert_eq!(r.status, 403, "GET {path}: {}", r.body);
        assert_has(&r, &format!("`{permission}`"));
    }

    // Pages it may read, without the forms and tabs it may not use.
    let no_tabs = [
        r#"href="/console/org/api-keys""#,
        r#"href="/console/org/audit""#,
    ];
    let project_tabs = [
        format!(r#"href="{p}/api-keys""#),
        format!(r#"href="{p}/audit""#),
    ];
    let member_forms = [
        "Invite people",
        "/invitations\"",
        "Change role",
        "/members/remove\"",
        "Transfer ownership",
        "/transfer-ownership\"",
        r#"name="add""#,
        "View access",
        "/resend\"",
        "/revoke\"",
    ];
    let role_forms = ["New role", "New policy", "/delete\""];
    let edit_forms = [r#"name="version""#, "<button type=\"submit\">Save</button>"];
    let mut readable: Vec<(String, &str, Vec<String>)> = vec![
        (
            "/console/org".into(),
            "<h1>Acme</h1>",
            vec![r#"action="/console/org/projects""#.into()],
        ),
        (
            "/console/org/members".into(),
            "<h1>Members</h1>",
            member_forms.iter().map(|s| s.to_string()).collect(),
        ),
        (
            "/console/org/teams".into(),
            "<h1>Teams</h1>",
            vec!["New team".into(), r#"action="/console/org/teams""#.into()],
        ),
        (
            "/console/org/teams/annotators".into(),
            "<h1>Team “Annotators”</h1>",
            vec![
                "Take out".into(),
                "Add a user".into(),
                r#"name="version""#.into(),
                "Delete team".into(),
            ],
        ),
        (
            "/console/org/roles".into(),
            "<h2 id=\"default-roles\">Default roles</h2>",
            role_forms.iter().map(|s| s.to_string()).collect(),
        ),
        (
            format!("/console/org/roles/{}", w.org.role),
            "<h1>Role “Analysts”</h1>",
            edit_forms.iter().map(|s| s.to_string()).collect(),
        ),
        (
            format!("/console/org/policies/{}", w.org.policy),
            "<h1>Policy “Readers”</h1>",
            edit_forms.iter().map(|s| s.to_string()).collect(),
        ),
        (
            format!("{p}/settings"),
            "<h1>General</h1>",
            vec![r#"name="version""#.into(), "Delete this project".into()],
        ),
        (
            format!("{p}/members"),
            "<h1>Members</h1>",
            member_forms.iter().map(|s| s.to_string()).collect(),
        ),
        (
            format!("{p}/roles"),
            "<h2 id=\"default-roles\">Default roles</h2>",
            role_forms.iter().map(|s| s.to_string()).collect(),
        ),
        (
            format!("{p}/roles/{}", w.proj.role),
            "<h1>Role “Analysts”</h1>",
            edit_forms.iter().map(|s| s.to_string()).collect(),
        ),
        (
            format!("{p}/policies/{}", w.proj.policy),
            "<h1>Policy “Readers”</h1>",
            edit_forms.iter().map(|s| s.to_string()).collect(),
        ),
    ];
    for (path, _, absent) in readable.iter_mut() {
        let tabs: Vec<String> = if path.starts_with(&p) {
            project_tabs.to_vec()
        } else {
            no_tabs.iter().map(|s| s.to_string()).collect()
        };
        absent.extend(tabs);
    }
    // An Owner is offered each of them (so that their absence below means something).
    let mut owner = signed_in(&app, "olga@acme.test").await;
    for (path, present, offered) in &readable {
        let r = page(&mut owner, path).await;
        assert_has(&r, present);
        for o in offered {
            assert_has(&r, o);
        }
    }
    for (path, present, absent) in &readable {
        let r = page(&mut b, path).await;
        assert_has(&r, present);
        for a in absent {
            assert!(
                !r.body.contains(a.as_str()),
                "GET {path}: `{a}` is offered to a Member:\n{}",
                r.body
            );
        }
    }

    // Posting those forms anyway: 403, nothing written.
    let csrf = hidden(&page(&mut b, "/console/org").await.body, "csrf");
    let before = app.revision().await;
    for f in session_forms(&w)
        .iter()
        .filter(|f| f.route != "/console/sign-out")
    {
        let r = post_form(&mut b, &f.path, &f.fields, Some(&csrf)).await;
        assert_eq!(r.status, 403, "POST {}: {}", f.path, r.body);
        assert_eq!(app.revision().await, before, "POST {} wrote", f.path);
    }
    assert_eq!(role_of(&app.owner, &app.org_path(""), &bea).await, "Member");
}

#[tokio::test]
async fn another_orgs_user_finds_none_of_acmes_project_pages() {
    let app = spawn_app().await;
    let w = world(&app).await;
    org_with_owner(&app, "Globex", "boss@globex.test").await;
    let mut b = signed_in(&app, "boss@globex.test").await;
    let p = format!("/console/projects/{}", w.project);
    let bea = format!("user:{}", w.bea);
    let pages = [
        format!("{p}/settings"),
        format!("{p}/roles"),
        format!("{p}/roles/{}", w.proj.role),
        format!("{p}/policies/{}", w.proj.policy),
        format!("{p}/members"),
        format!("{p}/access/{bea}"),
        format!("{p}/api-keys"),
        format!("{p}/audit"),
        // Acme's org objects, named under Globex's own pages.
        format!("/console/org/roles/{}", w.org.role),
        format!("/console/org/policies/{}", w.org.policy),
        "/console/org/teams/annotators".to_owned(),
    ];
    for path in &pages {
        let r = b.get(path).await;
        assert_eq!(r.status, 404, "GET {path}: {}", r.body);
        assert_lacks(&r, "Chatbot");
        assert_lacks(&r, "Acme");
    }
    // Posting to them: 404 as well, nothing written.
    let csrf = hidden(&page(&mut b, "/console/org").await.body, "csrf");
    let before = app.revision().await;
    for f in session_forms(&w)
        .iter()
        .filter(|f| f.path.starts_with(&p) || f.route.contains('{'))
    {
        let r = post_form(&mut b, &f.path, &f.fields, Some(&csrf)).await;
        assert_eq!(r.status, 404, "POST {}: {}", f.path, r.body);
        assert_lacks(&r, "Chatbot");
        assert_eq!(app.revision().await, before, "POST {} wrote", f.path);
    }
}

#[track_caller]
fn assert_secure_headers(r: &Got, path: &str) {
    let header = |name: &str| {
        r.headers
            .get(name)
            .unwrap_or_else(|| panic!("{path}: no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("x-frame-options"), "DENY", "{path}");
    assert_eq!(header("cache-control"), "no-store", "{path}");
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{path}: {csp}");
    }
}

#[tokio::test]
async fn every_console_page_is_sent_unframed_uncached_and_under_a_strict_csp() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let p = format!("/console/projects/{}", w.project);
    let bea = format!("user:{}", w.bea);

    // Every page of a signed-in Owner.
    let mut b = signed_in(&app, "olga@acme.test").await;
    let pages = [
        "/console/org".to_owned(),
        "/console/org/teams".into(),
        "/console/org/teams/annotators".into(),
        format!("{p}/settings"),
    ]
    .into_iter()
    .chain([&w.org, &w.proj].into_iter().flat_map(|t| {
        let base = &t.base;
        [
            format!("{base}/roles"),
            format!("{base}/roles/{}", t.role),
            format!("{base}/policies/{}", t.policy),
            format!("{base}/members"),
            format!("{base}/access/{bea}"),
            format!("{base}/api-keys"),
            format!("{base}/audit"),
        ]
    }));
    for path in pages {
        let r = page(&mut b, &path).await;
        assert_secure_headers(&r, &path);
    }
    // Pages of forms that were refused or answered.
    let csrf = hidden(&page(&mut b, "/console/org").await.body, "csrf");
    let r = b
        .post(
            "/console/org/api-keys",
            &[("csrf", &csrf), ("name", "Shown"), ("role_id", "Member")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = page(&mut b, r.location.as_deref().unwrap()).await;
    assert_has(&r, r#"<code id="new-secret">"#);
    assert_secure_headers(&r, "a new key's secret");
    let r = b
        .post("/console/org/teams", &[("csrf", &csrf), ("name", " ")])
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_secure_headers(&r, "a refused form");
    // Error pages.
    let r = b.get(&format!("/console/projects/{}/roles", w.bea)).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_secure_headers(&r, "not found");
    let r = b.post("/console/org/teams", &[("csrf", "forged")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_secure_headers(&r, "a forged form");
    let mut member = signed_in(&app, "bea@acme.test").await;
    let r = member.get("/console/org/audit").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_secure_headers(&r, "not allowed");
    // The pages before any session.
    let mut visitor = Browser::new(&app);
    for path in [
        "/console/sign-in".to_owned(),
        format!(
            "/console/invitations/accept?token={}",
            w.org.invitation_token
        ),
    ] {
        let r = page(&mut visitor, &path).await;
        assert_secure_headers(&r, &path);
    }
}
