#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Teams: CRUD by id and by key, their users, isolation between orgs, refused input, no
//! escalation, and what the engine makes of a team's roles.

mod common;

use common::{assert_error, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use warden_client::Client;
use warden_engine::Index;
use warden_model::{Name, OrgId, Principal, ProjectId, RoleId, Scope, TeamId, UserId};

fn org_of(app: &TestApp) -> OrgId {
    OrgId::parse(&app.org_id).unwrap()
}

fn id_of<T>(body: &Value, parse: fn(&str) -> Result<T, warden_model::IdError>) -> T {
    parse(body["id"].as_str().expect("an id")).unwrap()
}

/// The engine as the store describes it now (what every server instance loads).
async fn index(app: &TestApp) -> Index {
    let (rev, effects) = app.store.load().await.unwrap();
    let cat = app.store.catalogue();
    let mut index = Index::new(cat.all_keys(), &cat.org.owner_role);
    index.apply(rev, &effects);
    index
}

/// A project and a role of it that grants `dataset:read`.
async fn project_with_reader_role(app: &TestApp, name: &str) -> (ProjectId, RoleId) {
    let project = app.project(name).await;
    let scope = format!("/v1/projects/{project}");
    let policy = app.policy(&scope, "Readers", &["dataset:read"]).await;
    let role = app
        .role(&scope, "Reader", &[policy["id"].as_str().unwrap()])
        .await;
    (
        ProjectId::parse(&project).unwrap(),
        id_of(&role, RoleId::parse),
    )
}

#[tokio::test]
async fn teams_are_created_read_updated_and_deleted_by_id_and_by_key() {
    let app = spawn_app().await;
    let before = app.revision().await;
    let r = app
        .owner
        .post(
            &app.org_path("/teams"),
            &json!({"name": "Data Science", "description": "models and metrics"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["key"], "data-science");
    assert_eq!(r.body["name"], "Data Science");
    assert_eq!(r.body["description"], "models and metrics");
    assert_eq!(r.body["org_id"], app.org_id.as_str());
    assert_eq!(r.body["user_count"], 0);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.revision(), Some(before + 1));
    assert_eq!(r.etag().as_deref(), Some("1"));
    let id = r.body["id"].as_str().unwrap().to_owned();

    for team in [id.as_str(), "data-science"] {
        let r = app
            .owner
            .get(&app.org_path(&format!("/teams/{team}")))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["id"], id.as_str());
        assert_eq!(r.etag().as_deref(), Some("1"));
    }
    let r = app.owner.get(&app.org_path("/teams")).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["has_more"], false);

    // By key, with the version it was read at.
    let r = app
        .owner
        .send(
            Method::PATCH,
            &app.org_path("/teams/data-science"),
            Some(&json!({"name": "Data Sci", "description": ""})),
            &[("If-Match", "\"1\"")],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["name"], "Data Sci");
    assert_eq!(r.body["key"], "data-science", "a rename keeps the key");
    assert_eq!(r.body["description"], "");
    assert_eq!(r.body["version"], 2);
    assert!(r.revision().is_some());

    // A stale version is refused and writes nothing.
    let rev = app.revision().await;
    let r = app
        .owner
        .send(
            Method::PATCH,
            &app.org_path(&format!("/teams/{id}")),
            Some(&json!({"name": "Stale"})),
            &[("If-Match", "\"1\"")],
        )
        .await
        .unwrap();
    assert_error(&r, 412, "version_mismatch");
    assert_eq!(app.revision().await, rev);

    // By id, a new key: the old key no longer names it.
    let r = app
        .owner
        .patch(
            &app.org_path(&format!("/teams/{id}")),
            &json!({"key": "ds"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["key"], "ds");
    let r = app.owner.get(&app.org_path("/teams/ds")).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], id.as_str());
    let r = app
        .owner
        .get(&app.org_path("/teams/data-science"))
        .await
        .unwrap();
    assert_error(&r, 404, "not_found");

    let r = app.owner.delete(&app.org_path("/teams/ds")).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["deleted"], true);
    assert_eq!(r.body["id"], id.as_str());
    let rev = app.revision().await;
    assert_eq!(r.revision(), Some(rev));
    for team in [id.as_str(), "ds"] {
        let r = app
            .owner
            .get(&app.org_path(&format!("/teams/{team}")))
            .await
            .unwrap();
        assert_error(&r, 404, "not_found");
        let r = app
            .owner
            .delete(&app.org_path(&format!("/teams/{team}")))
            .await
            .unwrap();
        assert_error(&r, 404, "not_found");
    }
    assert_eq!(app.revision().await, rev);

    // The same name can be used again once the team is gone.
    app.team("Data Science").await;
}

#[tokio::test]
async fn keys_are_derived_from_names_and_never_collide() {
    let app = spawn_app().await;
    let cases = [
        ("Data Science", "data-science"),
        ("Data Science!", "data-science-2"),
        ("  --Ops!! team_2 ", "ops-team-2"),
        ("日本語", "team"),
        ("中文", "team-2"),
        ("Team", "team-3"),
        (
            "0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d",
            "0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d-2",
        ),
    ];
    for (name, key) in cases {
        let team = app.team(name).await;
        assert_eq!(team["key"], key, "the key of `{name}`");
        let r = app
            .owner
            .get(&app.org_path(&format!("/teams/{key}")))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{key}: {:?}", r.body);
        assert_eq!(r.body["name"], name.trim());
    }
    // A long name gives a key of at most 64 characters; its sibling keeps the suffix.
    let long = "Quality Assurance ".repeat(10);
    let first = app.team(&long).await;
    let key = first["key"].as_str().unwrap();
    assert!(
        key.len() <= 64 && key.starts_with("quality-assurance-"),
        "{key}"
    );
    let second = app.team(&format!("{long}2")).await;
    let key2 = second["key"].as_str().unwrap();
    assert!(
        key2.len() <= 64 && key2.ends_with("-2") && key2 != key,
        "{key2}"
    );
    // A given key is kept as given.
    let r = app
        .owner
        .post(
            &app.org_path("/teams"),
            &json!({"name": "Platform", "key": "plat_form-1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["key"], "plat_form-1");
}

#[tokio::test]
async fn duplicate_names_and_keys_are_conflicts() {
    let app = spawn_app().await;
    let a = app.team("Annotators").await;
    app.team("Reviewers").await;
    let rev = app.revision().await;
    for (body, code) in [
        (json!({"name": "annotators"}), "name_taken"),
        (json!({"name": "  ANNOTATORS "}), "name_taken"),
        (json!({"name": "Other", "key": "annotators"}), "key_taken"),
        (json!({"name": "Other", "key": "reviewers"}), "key_taken"),
    ] {
        let r = app
            .owner
            .post(&app.org_path("/teams"), &body)
            .await
            .unwrap();
        assert_error(&r, 409, code);
    }
    let path = app.org_path(&format!("/teams/{}", a["id"].as_str().unwrap()));
    for (body, code) in [
        (json!({"name": "REVIEWERS"}), "name_taken"),
        (json!({"key": "reviewers"}), "key_taken"),
    ] {
        let r = app.owner.patch(&path, &body).await.unwrap();
        assert_error(&r, 409, code);
    }
    assert_eq!(app.revision().await, rev, "refused writes leave no trace");
    // Renaming a team to its own name in another case, or keeping its key, is fine.
    let r = app
        .owner
        .patch(&path, &json!({"name": "ANNOTATORS", "key": "annotators"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["name"], "ANNOTATORS");
}

#[tokio::test]
async fn bad_input_is_refused_on_every_route_and_writes_nothing() {
    let app = spawn_app().await;
    let team = app.team("Annotators").await;
    let item = app.org_path("/teams/annotators");
    let base = app.org_path("/teams");
    let rev = app.revision().await;

    // Malformed bodies.
    for path in [&base, &item] {
        let m = if path == &base {
            Method::POST
        } else {
            Method::PATCH
        };
        let r = app
            .owner
            .send_raw(
                m.clone(),
                path,
                Some("application/json"),
                b"{\"name\": ".to_vec(),
            )
            .await
            .unwrap();
        assert_error(&r, 400, "invalid_json");
        let r = app
            .owner
            .send(
                m.clone(),
                path,
                Some(&json!({"name": "X", "colour": "red"})),
                &[],
            )
            .await
            .unwrap();
        assert_error(&r, 400, "invalid_body");
        assert!(r.error_message().unwrap().contains("colour"));
        let r = app
            .owner
            .send(m.clone(), path, Some(&json!({"name": 5})), &[])
            .await
            .unwrap();
        assert_error(&r, 400, "invalid_body");
        let r = app
            .owner
            .send_raw(m.clone(), path, None, b"{\"name\": \"X\"}".to_vec())
            .await
            .unwrap();
        assert_error(&r, 415, "unsupported_media_type");
        for name in [
            json!(""),
            json!("   "),
            json!("x".repeat(256)),
            json!("a\nb"),
        ] {
            let r = app
                .owner
                .send(m.clone(), path, Some(&json!({"name": name})), &[])
                .await
                .unwrap();
            assert_error(&r, 400, "invalid_field");
            assert_eq!(r.body["error"]["details"]["field"], "name");
        }
        let r = app
            .owner
            .send(
                m.clone(),
                path,
                Some(&json!({"name": "Fine", "description": "d".repeat(1001)})),
                &[],
            )
            .await
            .unwrap();
        assert_error(&r, 400, "invalid_field");
        for key in [
            "",
            "Bad Key",
            "UPPER",
            "-lead",
            "_lead",
            "dots.not.allowed",
            "données",
            &"k".repeat(65),
            "0190f2a4-8c1e-7a3b-9d2f-4b6c8e0a1f3d",
            "0190f2a48c1e7a3b9d2f4b6c8e0a1f3d",
        ] {
            let r = app
                .owner
                .send(
                    m.clone(),
                    path,
                    Some(&json!({"name": "Fine", "key": key})),
                    &[],
                )
                .await
                .unwrap();
            assert_error(&r, 400, "invalid_field");
            assert_eq!(r.body["error"]["details"]["field"], "key", "{key}");
        }
    }
    let r = app.owner.post(&base, &json!({})).await.unwrap();
    assert_error(&r, 400, "invalid_body");
    let r = app.owner.patch(&item, &json!({})).await.unwrap();
    assert_error(&r, 400, "empty_update");
    let r = app
        .owner
        .send(
            Method::PATCH,
            &item,
            Some(&json!({"name": "X"})),
            &[("If-Match", "yesterday")],
        )
        .await
        .unwrap();
    assert_error(&r, 400, "invalid_header");

    // Pagination of both lists.
    for list in [base.clone(), format!("{item}/users")] {
        for (query, code) in [
            ("?limit=0", "invalid_query"),
            ("?limit=101", "invalid_query"),
            ("?limit=many", "invalid_query"),
            ("?cursor=not-a-cursor", "invalid_cursor"),
        ] {
            let r = app.owner.get(&format!("{list}{query}")).await.unwrap();
            assert_error(&r, 400, code);
        }
    }

    // User ids must be UUIDs.
    for bad in ["not-a-uuid", "owner%40acme.test", "1234"] {
        let path = format!("{item}/users/{bad}");
        let r = app.owner.send(Method::PUT, &path, None, &[]).await.unwrap();
        assert_error(&r, 400, "invalid_id");
        let r = app.owner.delete(&path).await.unwrap();
        assert_error(&r, 400, "invalid_id");
    }
    // The org must be an id.
    let r = app.owner.get("/v1/orgs/acme/teams").await.unwrap();
    assert_error(&r, 400, "invalid_id");
    // Teams that do not exist, by key and by id.
    for team in ["nobody", "01900000-0000-7000-8000-000000000000"] {
        let r = app
            .owner
            .get(&app.org_path(&format!("/teams/{team}/users")))
            .await
            .unwrap();
        assert_error(&r, 404, "not_found");
        let r = app
            .owner
            .patch(
                &app.org_path(&format!("/teams/{team}")),
                &json!({"name": "X"}),
            )
            .await
            .unwrap();
        assert_error(&r, 404, "not_found");
    }
    // No key: nothing is served.
    let r = app.anonymous().get(&base).await.unwrap();
    assert_error(&r, 401, "unauthenticated");

    assert_eq!(app.revision().await, rev, "refused requests leave no trace");
    let r = app
        .owner
        .get(&app.org_path(&format!("/teams/{}", team["id"].as_str().unwrap())))
        .await
        .unwrap();
    assert_eq!(r.body["version"], 1);
}

#[tokio::test]
async fn users_are_added_listed_and_removed() {
    let app = spawn_app().await;
    let team = app.team("Annotators").await;
    let users_path = app.org_path("/teams/annotators/users");
    let ada = app.add_user_to_org("ada@acme.test").await;
    let bob = app.add_user_to_org("bob@acme.test").await;

    let r = app
        .owner
        .send(Method::PUT, &format!("{users_path}/{ada}"), None, &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["changed"], true);
    assert_eq!(r.body["user"]["id"], ada.as_str());
    assert_eq!(r.body["user"]["email"], "ada@acme.test");
    assert_eq!(r.body["team"]["user_count"], 1);
    let rev = app.revision().await;
    assert_eq!(r.revision(), Some(rev));

    // Adding again changes nothing and writes nothing.
    let r = app
        .owner
        .send(Method::PUT, &format!("{users_path}/{ada}"), None, &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["changed"], false);
    assert_eq!(r.revision(), Some(rev));
    assert_eq!(app.revision().await, rev);

    // By id as well as by key.
    let by_id = app.org_path(&format!(
        "/teams/{}/users/{bob}",
        team["id"].as_str().unwrap()
    ));
    let r = app
        .owner
        .send(Method::PUT, &by_id, None, &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["team"]["user_count"], 2);

    let r = app.owner.get(&users_path).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let emails: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 2);
    assert!(emails.contains(&"ada@acme.test") && emails.contains(&"bob@acme.test"));
    let r = app
        .owner
        .get(&format!("{users_path}?limit=1"))
        .await
        .unwrap();
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["has_more"], true);
    let all = app
        .owner
        .list_all(&format!("{users_path}?limit=1"))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let r = app
        .owner
        .get(&app.org_path("/teams/annotators"))
        .await
        .unwrap();
    assert_eq!(r.body["user_count"], 2);

    let r = app
        .owner
        .delete(&format!("{users_path}/{ada}"))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["deleted"], true);
    assert_eq!(r.body["id"], ada.as_str());
    let rev = app.revision().await;
    let r = app
        .owner
        .delete(&format!("{users_path}/{ada}"))
        .await
        .unwrap();
    assert_error(&r, 404, "not_found");

    // Users that are not of this org are not found, whether they exist elsewhere or not.
    let (_, beta) = app.other_org("Beta").await;
    let outsider = app
        .store
        .add_org_user_by_email("test", OrgId::parse(&beta).unwrap(), "eve@beta.test")
        .await
        .unwrap();
    let rev_after_beta = app.revision().await;
    assert!(rev_after_beta > rev);
    for user in [
        outsider.to_string(),
        "01900000-0000-7000-8000-000000000000".to_owned(),
    ] {
        let r = app
            .owner
            .send(Method::PUT, &format!("{users_path}/{user}"), None, &[])
            .await
            .unwrap();
        assert_error(&r, 404, "not_found");
        let r = app
            .owner
            .delete(&format!("{users_path}/{user}"))
            .await
            .unwrap();
        assert_error(&r, 404, "not_found");
    }
    assert_eq!(app.revision().await, rev_after_beta);
    let r = app.owner.get(&users_path).await.unwrap();
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["id"], bob.as_str());
}

#[tokio::test]
async fn another_orgs_owner_finds_nothing_of_this_orgs_teams() {
    let app = spawn_app().await;
    let team = app.team("Annotators").await;
    let team_id = team["id"].as_str().unwrap().to_owned();
    let ada = app.add_user_to_org("ada@acme.test").await;
    app.owner
        .send(
            Method::PUT,
            &app.org_path(&format!("/teams/annotators/users/{ada}")),
            None,
            &[],
        )
        .await
        .unwrap();
    let (other, other_org) = app.other_org("Beta").await;
    let rev = app.revision().await;

    for t in [team_id.as_str(), "annotators"] {
        let item = app.org_path(&format!("/teams/{t}"));
        let user = format!("{item}/users/{ada}");
        let calls: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, app.org_path("/teams"), None),
            (
                Method::POST,
                app.org_path("/teams"),
                Some(json!({"name": "Intruders"})),
            ),
            (Method::GET, item.clone(), None),
            (Method::PATCH, item.clone(), Some(json!({"name": "Mine"}))),
            (Method::DELETE, item.clone(), None),
            (Method::GET, format!("{item}/users"), None),
            (Method::PUT, user.clone(), None),
            (Method::DELETE, user.clone(), None),
        ];
        for (m, path, body) in calls {
            let r = other
                .send(m.clone(), &path, body.as_ref(), &[])
                .await
                .unwrap();
            assert_error(&r, 404, "not_found");
            assert!(
                !r.body.to_string().contains("Annotators"),
                "{m} {path} reveals nothing"
            );
        }
        // Through its own org, this org's team is as unknown as one that does not exist.
        let own = format!("/v1/orgs/{other_org}/teams/{t}");
        for (m, path) in [
            (Method::GET, own.clone()),
            (Method::DELETE, own.clone()),
            (Method::GET, format!("{own}/users")),
            (Method::PUT, format!("{own}/users/{ada}")),
            (Method::DELETE, format!("{own}/users/{ada}")),
        ] {
            let r = other.send(m.clone(), &path, None, &[]).await.unwrap();
            assert_error(&r, 404, "not_found");
        }
    }
    // And this org's users cannot be put in the other org's teams.
    let r = other
        .post(
            &format!("/v1/orgs/{other_org}/teams"),
            &json!({"name": "Annotators"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "names and keys are per org: {:?}", r.body);
    assert_eq!(r.body["key"], "annotators");
    let rev_own = app.revision().await;
    assert_eq!(rev_own, rev + 1);
    let r = other
        .send(
            Method::PUT,
            &format!("/v1/orgs/{other_org}/teams/annotators/users/{ada}"),
            None,
            &[],
        )
        .await
        .unwrap();
    assert_error(&r, 404, "not_found");
    assert_eq!(app.revision().await, rev_own);
    let r = app
        .owner
        .get(&app.org_path("/teams/annotators"))
        .await
        .unwrap();
    assert_eq!(r.body["name"], "Annotators");
    assert_eq!(r.body["user_count"], 1);
}

#[tokio::test]
async fn a_users_permissions_include_its_teams_roles() {
    let app = spawn_app().await;
    let org = org_of(&app);
    let (project, reader) = project_with_reader_role(&app, "Evals").await;
    let pscope = Scope::project(org, project);
    let team = app.team("Annotators").await;
    let team_id = id_of(&team, TeamId::parse);
    let ada = UserId::parse(&app.add_user_to_org("ada@acme.test").await).unwrap();
    let ada_p = Principal::User(ada);
    app.store
        .set_membership("test", pscope, Principal::Team(team_id), reader)
        .await
        .unwrap();
    assert!(!index(&app).await.check(ada_p, "dataset:read", pscope));

    let user_path = app.org_path(&format!("/teams/annotators/users/{ada}"));
    let r = app
        .owner
        .send(Method::PUT, &user_path, None, &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let idx = index(&app).await;
    assert!(idx.check(ada_p, "dataset:read", pscope));
    assert!(!idx.check(ada_p, "dataset:delete", pscope));
    assert!(
        !idx.check(ada_p, "dataset:read", Scope::org(org)),
        "a project role grants nothing in the org"
    );

    // A team's org role reaches every project of the org.
    let member = app
        .store
        .find_role_by_name(Scope::org(org), "Member")
        .await
        .unwrap()
        .unwrap();
    app.store
        .set_membership("test", Scope::org(org), Principal::Team(team_id), member.id)
        .await
        .unwrap();
    let idx = index(&app).await;
    assert!(idx.check(ada_p, "trace:read", pscope));
    assert!(idx.check(ada_p, "project:read", Scope::org(org)));

    let r = app.owner.delete(&user_path).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let idx = index(&app).await;
    assert!(!idx.check(ada_p, "dataset:read", pscope));
    assert!(!idx.check(ada_p, "project:read", Scope::org(org)));

    // Back in, then the team goes: so do its grants.
    app.owner
        .send(Method::PUT, &user_path, None, &[])
        .await
        .unwrap();
    assert!(index(&app).await.check(ada_p, "dataset:read", pscope));
    let r = app
        .owner
        .delete(&app.org_path("/teams/annotators"))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let idx = index(&app).await;
    assert!(!idx.check(ada_p, "dataset:read", pscope));
    assert!(!idx.check(ada_p, "project:read", Scope::org(org)));
}

#[tokio::test]
async fn deleting_a_team_removes_its_memberships_and_users() {
    let app = spawn_app().await;
    let org = org_of(&app);
    let (project, reader) = project_with_reader_role(&app, "Evals").await;
    let pscope = Scope::project(org, project);
    let team = app.team("Annotators").await;
    let team_id = id_of(&team, TeamId::parse);
    let tp = Principal::Team(team_id);
    let member = app
        .store
        .find_role_by_name(Scope::org(org), "Member")
        .await
        .unwrap()
        .unwrap();
    app.store
        .set_membership("test", pscope, tp, reader)
        .await
        .unwrap();
    app.store
        .set_membership("test", Scope::org(org), tp, member.id)
        .await
        .unwrap();
    let ada = app.add_user_to_org("ada@acme.test").await;
    app.owner
        .send(
            Method::PUT,
            &app.org_path(&format!("/teams/annotators/users/{ada}")),
            None,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        app.store.membership(pscope, tp).await.unwrap(),
        Some(reader)
    );
    let memberships = app.store.team_memberships(org, "annotators").await.unwrap();
    assert_eq!(memberships.len(), 2);

    // The role a team holds cannot be deleted without the cascade: the team is a member.
    let r = app
        .owner
        .delete(&format!("/v1/projects/{project}/roles/{reader}"))
        .await
        .unwrap();
    assert_error(&r, 409, "in_use");

    let rev = app.revision().await;
    let r = app
        .owner
        .delete(&app.org_path(&format!("/teams/{team_id}")))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(app.revision().await, rev + 1, "one change-log entry");
    assert_eq!(app.store.membership(pscope, tp).await.unwrap(), None);
    assert_eq!(
        app.store.membership(Scope::org(org), tp).await.unwrap(),
        None
    );
    let (_, effects) = app.store.load().await.unwrap();
    let mentions_team = effects.iter().any(|e| {
        serde_json::to_string(e)
            .unwrap()
            .contains(&team_id.to_string())
    });
    assert!(!mentions_team, "nothing of the team is left in the store");
    // The role is free to go now.
    let r = app
        .owner
        .delete(&format!("/v1/projects/{project}/roles/{reader}"))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    // The user is still a user of the org.
    let again = app.add_user_to_org("ada@acme.test").await;
    assert_eq!(again, ada);
}

#[tokio::test]
async fn adding_a_user_to_a_team_cannot_grant_what_the_caller_lacks() {
    let app = spawn_app().await;
    // A second org whose bootstrap key we can demote: it starts as Owner.
    let boot = app
        .store
        .bootstrap(&Name::parse("org", "Gamma").unwrap(), "owner@gamma.test")
        .await
        .unwrap();
    let org = boot.org_id;
    let key = Client::new(app.base.clone(), Some(boot.secret.clone()));
    let base = format!("/v1/orgs/{org}");
    let project = key
        .post(&format!("{base}/projects"), &json!({"name": "Evals"}))
        .await
        .unwrap();
    assert_eq!(project.status, 201, "{:?}", project.body);
    let project = id_of(&project.body, ProjectId::parse);
    let pscope = Scope::project(org, project);
    let r = key
        .post(
            &format!("/v1/projects/{project}/roles"),
            &json!({"name": "Deleter", "permissions": ["dataset:read", "dataset:delete"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let deleter = id_of(&r.body, RoleId::parse);
    let r = key
        .post(&format!("{base}/teams"), &json!({"name": "Cleaners"}))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let cleaners = id_of(&r.body, TeamId::parse);
    let r = key
        .post(&format!("{base}/teams"), &json!({"name": "Owners"}))
        .await
        .unwrap();
    let owners = id_of(&r.body, TeamId::parse);
    app.store
        .set_membership("test", pscope, Principal::Team(cleaners), deleter)
        .await
        .unwrap();
    let owner_role = app
        .store
        .find_role_by_name(Scope::org(org), "Owner")
        .await
        .unwrap()
        .unwrap();
    app.store
        .set_membership(
            "test",
            Scope::org(org),
            Principal::Team(owners),
            owner_role.id,
        )
        .await
        .unwrap();
    let user = app
        .store
        .add_org_user_by_email("test", org, "ada@gamma.test")
        .await
        .unwrap();

    // The key becomes a team manager that may read datasets but not delete them.
    let r = key
        .post(
            &format!("{base}/roles"),
            &json!({"name": "Team manager", "permissions": ["team:read", "team:update", "dataset:read"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{:?}", r.body);
    let manager = id_of(&r.body, RoleId::parse);
    app.store
        .set_membership(
            "test",
            Scope::org(org),
            Principal::ApiKey(boot.api_key_id),
            manager,
        )
        .await
        .unwrap();
    app.synced().await;

    let rev = app.revision().await;
    let r = key
        .send(
            Method::PUT,
            &format!("{base}/teams/cleaners/users/{user}"),
            None,
            &[],
        )
        .await
        .unwrap();
    assert_error(&r, 403, "escalation");
    assert_eq!(
        r.body["error"]["details"]["missing"],
        json!(["dataset:delete"])
    );
    assert!(r.error_message().unwrap().contains("`dataset:delete`"));
    // The Owner role can only be handed out by an Owner, even to an Admin.
    let admin = app
        .store
        .find_role_by_name(Scope::org(org), "Admin")
        .await
        .unwrap()
        .unwrap();
    app.store
        .set_membership(
            "test",
            Scope::org(org),
            Principal::ApiKey(boot.api_key_id),
            admin.id,
        )
        .await
        .unwrap();
    app.synced().await;
    let rev_admin = app.revision().await;
    assert_eq!(rev_admin, rev + 1);
    let r = key
        .send(
            Method::PUT,
            &format!("{base}/teams/owners/users/{user}"),
            None,
            &[],
        )
        .await
        .unwrap();
    assert_error(&r, 403, "escalation");
    assert_eq!(app.revision().await, rev_admin);
    // The Admin holds what the cleaners hold: that one goes through.
    let r = key
        .send(
            Method::PUT,
            &format!("{base}/teams/cleaners/users/{user}"),
            None,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    // And an Owner may add to the Owners team.
    app.store
        .set_membership(
            "test",
            Scope::org(org),
            Principal::ApiKey(boot.api_key_id),
            owner_role.id,
        )
        .await
        .unwrap();
    app.synced().await;
    let r = key
        .send(
            Method::PUT,
            &format!("{base}/teams/owners/users/{user}"),
            None,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Without `team:update`, nothing at all.
    let member = app
        .store
        .find_role_by_name(Scope::org(org), "Member")
        .await
        .unwrap()
        .unwrap();
    app.store
        .set_membership(
            "test",
            Scope::org(org),
            Principal::ApiKey(boot.api_key_id),
            member.id,
        )
        .await
        .unwrap();
    app.synced().await;
    let rev = app.revision().await;
    for (m, path, body) in [
        (
            Method::POST,
            format!("{base}/teams"),
            Some(json!({"name": "More"})),
        ),
        (
            Method::PATCH,
            format!("{base}/teams/cleaners"),
            Some(json!({"name": "More"})),
        ),
        (Method::DELETE, format!("{base}/teams/cleaners"), None),
        (
            Method::DELETE,
            format!("{base}/teams/cleaners/users/{user}"),
            None,
        ),
    ] {
        let r = key.send(m, &path, body.as_ref(), &[]).await.unwrap();
        assert_error(&r, 403, "forbidden");
    }
    assert_eq!(app.revision().await, rev);
    // Members may still read teams.
    let r = key
        .get(&format!("{base}/teams/cleaners/users"))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[tokio::test]
async fn set_membership_refuses_roles_of_other_scopes() {
    let app = spawn_app().await;
    let org = org_of(&app);
    let (project, reader) = project_with_reader_role(&app, "Evals").await;
    let team = app.team("Annotators").await;
    let tp = Principal::Team(id_of(&team, TeamId::parse));
    let rev = app.revision().await;
    let err = app
        .store
        .set_membership("test", Scope::org(org), tp, reader)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            warden_store::StoreError::Unprocessable {
                code: "unknown_role",
                ..
            }
        ),
        "{err}"
    );
    let (_, beta) = app.other_org("Beta").await;
    let err = app
        .store
        .set_membership(
            "test",
            Scope::project(OrgId::parse(&beta).unwrap(), project),
            tp,
            reader,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, warden_store::StoreError::NotFound { .. }),
        "{err}"
    );
    let beta_member = app
        .store
        .find_role_by_name(Scope::org(OrgId::parse(&beta).unwrap()), "Member")
        .await
        .unwrap()
        .unwrap();
    let err = app
        .store
        .set_membership(
            "test",
            Scope::org(OrgId::parse(&beta).unwrap()),
            tp,
            beta_member.id,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, warden_store::StoreError::NotFound { .. }),
        "a team of another org: {err}"
    );
    assert_eq!(app.revision().await, rev + 1, "only the other org was made");
}
