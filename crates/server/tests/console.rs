//! The web console over HTTP, as a browser sends it: sign-in with its nonce, the session
//! cookie, CSRF tokens on every form, pages offering only what the user may do, rule
//! errors beside the field with what was typed kept, sign-out, and throttled sign-ins.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::console::*;
use common::{spawn_app, TestApp};
use reqwest::header::COOKIE;
use serde_json::json;

#[tokio::test]
async fn the_owner_signs_in_creates_a_project_and_signs_out() {
    let app = spawn_app().await;
    let org = org_with_owner(&app, "Globex", "boss@globex.test").await;
    let mut b = Browser::new(&app);

    // Not signed in: every page leads to the sign-in form.
    let r = b.get("/").await;
    assert_eq!(r.location.as_deref(), Some("/console"));
    let r = b.get("/console").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/console/sign-in"));
    let r = b.get("/console/org").await;
    assert_eq!(r.location.as_deref(), Some("/console/sign-in"));

    // The form is labelled and carries a nonce also set as a cookie.
    let page = b.get("/console/sign-in").await;
    assert!(page.body.contains(r#"<label for="email">Email</label>"#));
    assert!(page
        .body
        .contains(r#"<label for="password">Password</label>"#));
    assert!(b.cookie("warden_sign_in").is_some());
    assert_eq!(
        b.cookie("warden_sign_in").unwrap(),
        hidden(&page.body, "csrf")
    );

    // A wrong password: said on the form, the email kept, no session.
    let r = b.sign_in("boss@globex.test", "not the password").await;
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains("the email or the password is wrong"),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"value="boss@globex.test""#));
    assert!(b.cookie("warden_session").is_none());

    // A sign-in form posted without its nonce (from another site): refused.
    let mut other = Browser::new(&app);
    let r = other
        .post(
            "/console/sign-in",
            &[
                ("csrf", "forged"),
                ("email", "boss@globex.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(other.cookie("warden_session").is_none());

    // The right password: a session cookie, HttpOnly and SameSite=Strict.
    let r = b.sign_in(" Boss@Globex.test ", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/console/org"));
    let session = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("warden_session="))
        .unwrap();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP: not Secure");

    // The overview: the org, the Owner's role, the new-project form.
    let resp = b
        .http
        .get(format!("{}/console/org", b.base))
        .header(
            COOKIE,
            format!("warden_session={}", b.cookie("warden_session").unwrap()),
        )
        .send()
        .await
        .unwrap();
    let h = resp.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let r = b.get("/console/org").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<h1>Globex</h1>"));
    assert!(r.body.contains("Your role in this organization: Owner"));
    assert!(r.body.contains("boss@globex.test"));
    assert!(r.body.contains(r#"action="/console/org/projects""#));
    let csrf = hidden(&r.body, "csrf");

    // Without the CSRF token: 403, nothing created.
    let r = b
        .post(
            "/console/org/projects",
            &[("name", "Chatbot"), ("csrf", "nope")],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(project_names(&app, &org).await.is_empty());

    // With it: created, and listed.
    let r = b
        .post(
            "/console/org/projects",
            &[
                ("name", "Chatbot"),
                ("description", "support bot"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/console/org?created=Chatbot"));
    assert_eq!(project_names(&app, &org).await, ["Chatbot"]);
    let r = b.get(r.location.as_deref().unwrap()).await;
    assert!(r.body.contains("Project “Chatbot” created."));
    assert!(r.body.contains(">Chatbot</a></td>"), "{}", r.body);

    // A rule refused: the message beside the field, what was typed kept.
    let r = b
        .post(
            "/console/org/projects",
            &[
                ("name", "Chatbot"),
                ("description", "again <b>"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains(r#"id="project-name-error""#), "{}", r.body);
    assert!(r.body.contains(r#"aria-invalid="true""#));
    assert!(r.body.contains(r#"value="Chatbot""#));
    assert!(
        r.body.contains("again &#60;b&#62;") || r.body.contains("again &lt;b&gt;"),
        "typed text is kept, escaped: {}",
        r.body
    );
    let r = b
        .post("/console/org/projects", &[("name", "  "), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains(r#"id="project-name-error""#));
    assert_eq!(project_names(&app, &org).await, ["Chatbot"]);

    // Acme's data is not reachable: the session is Globex's.
    assert!(!r.body.contains("Acme"));

    // Sign out: the session's key is gone; the cookie no longer opens anything.
    let stale = b.cookie("warden_session").unwrap().to_owned();
    let r = b.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/console/sign-in"));
    assert!(b.cookie("warden_session").is_none());
    b.cookies.push(("warden_session".into(), stale));
    let r = b.get("/console/org").await;
    assert_eq!(r.location.as_deref(), Some("/console/sign-in"));
}

#[tokio::test]
async fn behind_tls_the_session_cookie_is_secure() {
    let app = spawn_app().await;
    org_with_owner(&app, "Globex", "boss@globex.test").await;
    let mut b = Browser::new(&app);
    let page = b.get("/console/sign-in").await;
    let nonce = hidden(&page.body, "csrf");
    let req = b
        .http
        .post(format!("{}/console/sign-in", b.base))
        .header("x-forwarded-proto", "https")
        .form(&[
            ("csrf", nonce.as_str()),
            ("email", "boss@globex.test"),
            ("password", PASSWORD),
        ]);
    let r = b.send(req).await;
    assert_eq!(r.status, 303);
    let session = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with("warden_session="))
        .unwrap();
    assert!(session.ends_with("; Secure"), "{session}");
}

#[tokio::test]
async fn a_member_is_offered_only_what_its_role_allows() {
    let app = spawn_app().await;
    member(&app, "bea@acme.test", "Member").await;
    let mut b = Browser::new(&app);
    let r = b.sign_in("bea@acme.test", PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = b.get("/console/org").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Your role in this organization: Member"));
    assert!(
        !r.body.contains(r#"action="/console/org/projects""#),
        "no new-project form for a Member"
    );
    // Posting the form anyway, with a valid token: refused as the API refuses it.
    let csrf = hidden(&r.body, "csrf");
    let r = b
        .post(
            "/console/org/projects",
            &[("name", "Sneaky"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("project:create"), "{}", r.body);
    assert!(project_names(&app, &app.org_id).await.is_empty());
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_account_in_the_console_and_the_api() {
    let app = spawn_app().await;
    member(&app, "bea@acme.test", "Member").await;
    let mut b = Browser::new(&app);
    for _ in 0..warden_server::throttle::SIGN_IN_FAILURES {
        let r = b.sign_in("bea@acme.test", "guess").await;
        assert_eq!(r.status, 401);
    }
    // Now even the right password is refused, with the wait.
    let r = b.sign_in("bea@acme.test", PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("too many wrong passwords"));
    assert!(r.retry_after.is_some());
    assert!(b.cookie("warden_session").is_none());
    let r = app
        .anonymous()
        .post(
            "/v1/auth/tokens",
            &json!({"email": "BEA@acme.test", "password": PASSWORD}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "too_many_attempts");
    // Other accounts are not affected.
    member(&app, "cy@acme.test", "Member").await;
    assert_eq!(b.sign_in("cy@acme.test", PASSWORD).await.status, 303);
}

/// Signs in as the Owner of a fresh org `Globex` with one project; returns the browser, the
/// project's Roles & Permissions path and the page.
async fn owner_on_roles_page(app: &TestApp) -> (Browser, String, Got) {
    let org = org_with_owner(app, "Globex", "boss@globex.test").await;
    let mut b = Browser::new(app);
    assert_eq!(b.sign_in("boss@globex.test", PASSWORD).await.status, 303);
    let csrf = hidden(&b.get("/console/org").await.body, "csrf");
    let r = b
        .post(
            "/console/org/projects",
            &[("name", "Chatbot"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303);
    let project = app
        .store
        .list_projects(
            warden_model::OrgId::parse(&org).unwrap(),
            warden_store::Page::default(),
        )
        .await
        .unwrap()
        .items[0]
        .id;
    let path = format!("/console/projects/{project}/roles");
    let overview = b.get("/console/org").await;
    assert!(
        overview.body.contains(&format!(r#"href="{path}""#)),
        "the project links to its settings"
    );
    let page = b.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    (b, path, page)
}

#[tokio::test]
async fn seed_003_new_policy_and_new_role_in_project_settings() {
    let app = spawn_app().await;
    let (mut b, path, page) = owner_on_roles_page(&app).await;
    let policies_path = path.replace("/roles", "/policies");

    // The default roles, marked and not editable; no custom ones yet.
    for role in ["Owner", "Manager", "Member"] {
        assert!(
            page.body.contains(&format!(
                "\">{role}</a> <span class=\"tag\">predefined</span></td>"
            )),
            "{role}"
        );
    }
    assert!(page.body.contains("No custom roles yet."));
    // The matrix offers only permissions that exist.
    assert!(page
        .body
        .contains(r#"value="dataset:read" aria-label="dataset:read""#));
    assert!(page.body.contains(r#"value="trace:evaluate""#));
    assert!(!page.body.contains(r#"value="golden:evaluate""#));
    assert!(!page.body.contains(r#"value="annotation_queue:evaluate""#));
    let csrf = hidden(&page.body, "csrf");

    // New Policy "Annotator": dataset:read and dataset:update.
    let r = b
        .post(
            &policies_path,
            &[
                ("csrf", &csrf),
                ("name", "Annotator"),
                ("description", "Read and edit datasets"),
                ("permission_ids", "dataset:read"),
                ("permission_ids", "dataset:update"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Policy “Annotator” created."));
    assert!(page.body.contains("dataset:read, dataset:update"));
    let policy_id = {
        let marker = r#"name="policy_ids" value=""#;
        let at = page.body.find(marker).unwrap() + marker.len();
        page.body[at..at + 36].to_owned()
    };

    // A permission that does not exist (a forged form): refused beside the matrix.
    let r = b
        .post(
            &policies_path,
            &[
                ("csrf", &csrf),
                ("name", "Odd"),
                ("permission_ids", "dataset:fly"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains(r#"id="policy-permissions-error""#),
        "{}",
        r.body
    );
    assert!(r.body.contains("dataset:fly"));
    assert!(r.body.contains(r#"value="Odd""#), "the name typed is kept");

    // New Role "Annotator" with the policy.
    let r = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Annotator"),
                ("description", "Labels datasets"),
                ("policy_ids", &policy_id),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Role “Annotator” created."));
    assert!(page.body.contains("\">Annotator</a></td><td>Labels datasets</td><td>Annotator</td><td class=\"optional\">2</td>"), "{}", page.body);

    // The same name again: refused beside the name, what was typed and ticked kept.
    let r = b
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Annotator"),
                ("description", "twice"),
                ("policy_ids", &policy_id),
            ],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains(r#"id="role-name-error""#), "{}", r.body);
    assert!(r.body.contains(">twice</textarea>"));
    assert!(r.body.contains(&format!(r#"value="{policy_id}" checked"#)));
    // No policy: refused beside the policies.
    let r = b.post(&path, &[("csrf", &csrf), ("name", "Empty")]).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains(r#"id="role-policies-error""#), "{}", r.body);
    assert!(r.body.contains("Choose at least one policy for the role."));
    // Without the CSRF token: 403, nothing written.
    let r = b
        .post(
            &path,
            &[
                ("csrf", "x"),
                ("name", "Forged"),
                ("policy_ids", &policy_id),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = b
        .post(
            &policies_path,
            &[("name", "Forged"), ("permission_ids", "dataset:read")],
        )
        .await;
    assert_eq!(r.status, 403);
    let page = b.get(&path).await;
    assert!(!page.body.contains("Forged"));

    // Deleting the policy while the role uses it: refused, naming the role.
    let delete_policy = format!("{policies_path}/{policy_id}/delete");
    assert!(page.body.contains(&format!(r#"action="{delete_policy}""#)));
    let r = b.post(&delete_policy, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body
            .contains("This policy is used by the role(s) “Annotator”: take it out of them first."),
        "{}",
        r.body
    );
    // Delete the role, then the policy.
    let role_id = {
        let link = r.body.find("\">Annotator</a></td><td>Labels").unwrap();
        let marker = &format!("<a href=\"{path}/");
        let at = r.body[..link].rfind(marker.as_str()).unwrap() + marker.len();
        r.body[at..at + 36].to_owned()
    };
    let r = b
        .post(&format!("{path}/{role_id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("“Annotator” deleted."));
    assert!(page.body.contains("No custom roles yet."));
    let r = b.post(&delete_policy, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    // Without the token, nothing is deleted.
    let r = b.post(&delete_policy, &[("csrf", "x")]).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn project_settings_of_another_org_are_not_found_and_members_get_no_forms() {
    let app = spawn_app().await;
    let (_, path, _) = owner_on_roles_page(&app).await;
    // An Acme member cannot open Globex's project.
    member(&app, "bea@acme.test", "Member").await;
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("bea@acme.test", PASSWORD).await.status, 303);
    let r = b.get(&path).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(!r.body.contains("Chatbot"));
    // In an Acme project, a Member reads the roles but is offered no form.
    let project = app.project("Search").await;
    let r = b.get(&format!("/console/projects/{project}/roles")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Default roles"));
    assert!(!r.body.contains("New role"));
    assert!(!r.body.contains("New policy"));
    let csrf = hidden(&r.body, "csrf");
    let r = b
        .post(
            &format!("/console/projects/{project}/policies"),
            &[
                ("csrf", &csrf),
                ("name", "Mine"),
                ("permission_ids", "dataset:read"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn seed_003_assign_the_role_to_a_member_and_see_its_access() {
    let app = spawn_app().await;
    let (org, key) = org_and_key(&app, "Globex", "boss@globex.test").await;
    // A second person in Globex, arrived through an invitation.
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

    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("boss@globex.test", PASSWORD).await.status, 303);
    let csrf = hidden(&b.get("/console/org").await.body, "csrf");
    b.post(
        "/console/org/projects",
        &[("name", "Chatbot"), ("csrf", &csrf)],
    )
    .await;
    let project = project_id(&app, &org).await;
    let roles = format!("/console/projects/{project}/roles");
    b.post(
        &roles.replace("/roles", "/policies"),
        &[
            ("csrf", &csrf),
            ("name", "Annotator"),
            ("permission_ids", "dataset:read"),
            ("permission_ids", "dataset:update"),
        ],
    )
    .await;
    let page = b.get(&roles).await;
    let policy = {
        let marker = r#"name="policy_ids" value=""#;
        let at = page.body.find(marker).unwrap() + marker.len();
        page.body[at..at + 36].to_owned()
    };
    let r = b
        .post(
            &roles,
            &[
                ("csrf", &csrf),
                ("name", "Annotator"),
                ("policy_ids", &policy),
            ],
        )
        .await;
    assert_eq!(r.status, 303);

    // Members: Ann is offered; give her the Annotator role.
    let members = format!("/console/projects/{project}/members");
    let page = b.get(&members).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!(
            r#"<option value="user:{ann}">Ann (ann@globex.test)</option>"#
        )),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"selected>Member</option>"#),
        "the add form proposes Member, not Owner"
    );
    let role_id = {
        let at = page.body.find(">Annotator</option>").unwrap();
        let start = page.body[..at].rfind("value=\"").unwrap() + 7;
        page.body[start..start + 36].to_owned()
    };
    let principal = format!("user:{ann}");
    let r = b
        .post(
            &members,
            &[
                ("csrf", &csrf),
                ("principal", &principal),
                ("role_id", &role_id),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Role set to Annotator."));
    assert!(page.body.contains("Ann (ann@globex.test)"));
    assert!(page.body.contains(&format!(
        r#"<option value="{role_id}" selected>Annotator</option>"#
    )));
    // The API agrees.
    let r = api
        .post(
            "/v1/check",
            &json!({"principal": principal, "permission": "dataset:update", "project_id": project}),
        )
        .await
        .unwrap();
    assert_eq!(r.body["allowed"], true, "{:?}", r.body);

    // Her access page: each permission with where it comes from.
    let access = format!("/console/projects/{project}/access/{principal}");
    assert!(page.body.contains(&format!(r#"href="{access}""#)));
    let page = b.get(&access).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Access of Ann (ann@globex.test)"));
    assert!(
        page.body.contains(
            "<code>dataset:update</code></td><td>role Member (organization)<br>role Annotator (project), policy Annotator</td>"
        ),
        "{}",
        page.body
    );

    // The role she holds cannot be deleted: said, with what to do.
    let r = b
        .post(&format!("{roles}/{role_id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("This role is held by 1 member(s)"),
        "{}",
        r.body
    );

    // Removing her: gone from the list, the API agrees.
    let r = b
        .post(
            &format!("{members}/remove"),
            &[("csrf", &csrf), ("principal", &principal)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Member removed."));
    assert!(!page.body.contains("Role of Ann (ann@globex.test)"));
    assert!(
        page.body.contains(r#">Ann (ann@globex.test)</option>"#),
        "offered to add again"
    );
    // Without the CSRF token nothing changes.
    let r = b
        .post(
            &members,
            &[
                ("csrf", "x"),
                ("principal", &principal),
                ("role_id", &role_id),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = api
        .post(
            "/v1/check",
            &json!({"principal": principal, "permission": "dataset:update", "project_id": project}),
        )
        .await
        .unwrap();
    assert_eq!(
        r.body["allowed"], true,
        "an org Member may still update datasets: {:?}",
        r.body
    );

    // The project's audit log: every step, by whom, newest first.
    let page = b.get(&format!("/console/projects/{project}/audit")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    for needle in [
        "<code>policy.create</code> policy “Annotator”",
        "<code>role.create</code> role “Annotator”",
        "<code>member.set</code>",
        "boss@globex.test",
    ] {
        assert!(body.contains(needle), "{needle} in {body}");
    }
    let newest = body.find("<code>member.set</code>").unwrap();
    assert!(
        newest < body.find("<code>role.create</code>").unwrap(),
        "newest first"
    );
}

async fn project_id(app: &TestApp, org: &str) -> String {
    app.store
        .list_projects(
            warden_model::OrgId::parse(org).unwrap(),
            warden_store::Page::default(),
        )
        .await
        .unwrap()
        .items[0]
        .id
        .to_string()
}

#[tokio::test]
async fn project_general_settings_restrict_the_project_with_concurrent_changes_caught() {
    let app = spawn_app().await;
    let (mut b, roles, _) = owner_on_roles_page(&app).await;
    let settings = roles.replace("/roles", "/settings");
    let page = b.get(&settings).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains(r#"<label class="check" for="project-restricted">Restricted</label>"#));
    assert!(!page
        .body
        .contains(r#"name="restricted" value="on" checked"#));
    let csrf = hidden(&page.body, "csrf");
    let version = hidden(&page.body, "version");

    // Restrict it.
    let r = b
        .post(
            &settings,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Chatbot"),
                ("description", "support"),
                ("restricted", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = b.get(r.location.as_deref().unwrap()).await;
    assert!(page.body.contains("Settings saved."));
    assert!(page.body.contains(r#"aria-describedby="restricted-help""#));
    assert!(
        page.body.contains("checked aria-describedby"),
        "{}",
        page.body
    );
    let project = roles.split('/').nth(3).unwrap();
    let p = app
        .store
        .get_project(warden_model::ProjectId::parse(project).unwrap())
        .await
        .unwrap();
    assert!(p.restricted);
    assert_eq!(p.description, "support");

    // A form opened before that change: refused, saying why, nothing changed.
    let r = b
        .post(
            &settings,
            &[("csrf", &csrf), ("version", &version), ("name", "Renamed")],
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert!(r.body.contains("Someone changed this project"));
    assert!(
        r.body.contains(r#"value="Renamed""#),
        "what was typed is kept"
    );
    // An empty name: beside the field.
    let version = hidden(&b.get(&settings).await.body, "version");
    let r = b
        .post(
            &settings,
            &[("csrf", &csrf), ("version", &version), ("name", " ")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains(r#"id="project-name-error""#));
    let p = app
        .store
        .get_project(warden_model::ProjectId::parse(project).unwrap())
        .await
        .unwrap();
    assert_eq!((p.name.as_str(), p.restricted), ("Chatbot", true));
}
