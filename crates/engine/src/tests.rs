use super::*;
use warden_model::Catalogue;

struct World {
    index: Index,
    org: OrgId,
    project: ProjectId,
    org_owner: RoleId,
    org_member: RoleId,
    project_member: RoleId,
    revision: u64,
}

impl World {
    fn new() -> Self {
        let cat = Catalogue::default_llmops();
        let mut index = Index::new(cat.all_keys(), &cat.org.owner_role);
        let org = OrgId::new();
        let project = ProjectId::new();
        let mut w = World {
            index: Index::new(vec![], ""),
            org,
            project,
            org_owner: RoleId::new(),
            org_member: RoleId::new(),
            project_member: RoleId::new(),
            revision: 0,
        };
        let role =
            |id, scope, key: &str, sc: &warden_model::catalogue::ScopeCatalogue| Effect::PutRole {
                role_id: id,
                scope,
                predefined: Some(key.to_owned()),
                permissions: sc.role_grants(sc.role(key).unwrap()).into_iter().collect(),
                policy_ids: vec![],
            };
        index.apply(
            1,
            &[
                Effect::PutOrg { org_id: org },
                Effect::PutProject {
                    project_id: project,
                    org_id: org,
                    restricted: false,
                },
                role(w.org_owner, Scope::org(org), "owner", &cat.org),
                role(w.org_member, Scope::org(org), "member", &cat.org),
                role(
                    w.project_member,
                    Scope::project(org, project),
                    "member",
                    &cat.project,
                ),
            ],
        );
        w.index = index;
        w.revision = 1;
        w
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        self.revision += 1;
        self.index.apply(self.revision, &effects);
    }

    fn in_project(&self) -> Scope {
        Scope::project(self.org, self.project)
    }

    /// A new custom policy granting `permissions` in `scope`, a role using it, and
    /// `principal` holding the role there.
    fn grant_through_policy(
        &mut self,
        scope: Scope,
        principal: Principal,
        permissions: &[&str],
    ) -> (PolicyId, RoleId) {
        let (policy, role) = (PolicyId::new(), RoleId::new());
        self.apply(vec![
            Effect::PutPolicy {
                policy_id: policy,
                scope,
                permissions: permissions.iter().map(|p| p.to_string()).collect(),
            },
            Effect::PutRole {
                role_id: role,
                scope,
                predefined: None,
                permissions: vec![],
                policy_ids: vec![policy],
            },
            Effect::PutMembership {
                scope,
                principal,
                role_id: role,
            },
        ]);
        (policy, role)
    }
}

#[test]
fn org_roles_apply_in_every_project() {
    let mut w = World::new();
    let alice = Principal::User(UserId::new());
    assert!(
        !w.index.check(alice, "dataset:read", w.in_project()),
        "no membership grants nothing"
    );
    w.apply(vec![Effect::PutMembership {
        scope: Scope::org(w.org),
        principal: alice,
        role_id: w.org_member,
    }]);
    assert!(w.index.check(alice, "dataset:read", w.in_project()));
    assert!(w.index.check(alice, "dataset:read", Scope::org(w.org)));
    assert!(!w.index.check(alice, "project:delete", w.in_project()));
    assert!(
        !w.index.check(alice, "dataset:fly", w.in_project()),
        "unknown permission fails closed"
    );
}

#[test]
fn restricted_projects_honour_only_the_owner_and_project_memberships() {
    let mut w = World::new();
    let (member, owner, local) = (
        Principal::User(UserId::new()),
        Principal::User(UserId::new()),
        Principal::User(UserId::new()),
    );
    let (org, project) = (w.org, w.project);
    w.apply(vec![
        Effect::PutProject {
            project_id: project,
            org_id: org,
            restricted: true,
        },
        Effect::PutMembership {
            scope: Scope::org(org),
            principal: member,
            role_id: w.org_member,
        },
        Effect::PutMembership {
            scope: Scope::org(org),
            principal: owner,
            role_id: w.org_owner,
        },
        Effect::PutMembership {
            scope: Scope::project(org, project),
            principal: local,
            role_id: w.project_member,
        },
    ]);
    assert!(!w.index.check(member, "dataset:read", w.in_project()));
    assert!(w.index.check(owner, "dataset:read", w.in_project()));
    assert!(w.index.check(local, "dataset:read", w.in_project()));
    assert!(
        w.index.check(member, "dataset:read", Scope::org(org)),
        "org scope itself is not restricted"
    );
}

#[test]
fn teams_pass_their_roles_to_their_users() {
    let mut w = World::new();
    let user = UserId::new();
    let team = TeamId::new();
    let scope = w.in_project();
    w.apply(vec![
        Effect::PutTeam {
            team_id: team,
            org_id: w.org,
        },
        Effect::PutTeamUser {
            team_id: team,
            user_id: user,
        },
        Effect::PutMembership {
            scope,
            principal: Principal::Team(team),
            role_id: w.project_member,
        },
    ]);
    assert!(w
        .index
        .check(Principal::User(user), "trace:evaluate", scope));
    w.apply(vec![Effect::DeleteTeamUser {
        team_id: team,
        user_id: user,
    }]);
    assert!(!w
        .index
        .check(Principal::User(user), "trace:evaluate", scope));
}

#[test]
fn policy_changes_reach_the_roles_that_use_them() {
    let mut w = World::new();
    let scope = w.in_project();
    let bob = Principal::User(UserId::new());
    let (policy, role) = w.grant_through_policy(scope, bob, &["dataset:read"]);
    assert!(w.index.check(bob, "dataset:read", scope));
    assert!(!w.index.check(bob, "dataset:update", scope));
    w.apply(vec![Effect::PutPolicy {
        policy_id: policy,
        scope,
        permissions: vec!["dataset:read".into(), "dataset:update".into()],
    }]);
    assert!(w.index.check(bob, "dataset:update", scope));
    assert_eq!(
        w.index.effective(bob, scope),
        ["dataset:read", "dataset:update"]
    );
    w.apply(vec![Effect::DeletePolicy { policy_id: policy }]);
    assert!(!w.index.check(bob, "dataset:read", scope));
    w.apply(vec![Effect::DeleteRole { role_id: role }]);
    assert_eq!(w.index.role_of(bob, scope), None);
}

#[test]
fn scopes_of_another_org_grant_nothing() {
    let mut w = World::new();
    let other_org = OrgId::new();
    let alice = Principal::User(UserId::new());
    w.apply(vec![Effect::PutMembership {
        scope: Scope::org(w.org),
        principal: alice,
        role_id: w.org_owner,
    }]);
    assert!(!w
        .index
        .check(alice, "dataset:read", Scope::project(other_org, w.project)));
    assert!(!w.index.check(alice, "dataset:read", Scope::org(other_org)));
}

#[test]
fn invalid_api_keys_grant_nothing() {
    let mut w = World::new();
    let key = ApiKeyId::new();
    let p = Principal::ApiKey(key);
    let org = Scope::org(w.org);
    w.apply(vec![
        Effect::PutApiKey {
            api_key_id: key,
            scope: org,
            valid: true,
        },
        Effect::PutMembership {
            scope: org,
            principal: p,
            role_id: w.org_owner,
        },
    ]);
    assert!(w.index.check(p, "role:create", org));
    w.apply(vec![Effect::PutApiKey {
        api_key_id: key,
        scope: org,
        valid: false,
    }]);
    assert!(!w.index.check(p, "role:create", org));
}

#[test]
fn old_revisions_are_not_applied_twice() {
    let mut w = World::new();
    let alice = Principal::User(UserId::new());
    let scope = Scope::org(w.org);
    w.index.apply(
        5,
        &[Effect::PutMembership {
            scope,
            principal: alice,
            role_id: w.org_owner,
        }],
    );
    w.index.apply(
        4,
        &[Effect::DeleteMembership {
            scope,
            principal: alice,
        }],
    );
    assert_eq!(w.index.revision(), 5);
    assert!(w.index.check(alice, "role:create", scope));
}

#[test]
fn permission_keys_map_to_their_bits() {
    let cat = Catalogue::default_llmops();
    let mut keys = cat.all_keys();
    keys.extend(["a", "ab", "abcdefgh", "abcdefghi", ""].map(String::from));
    let index = Index::new(keys.clone(), "owner");
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(index.permission_bit(k), Some(i), "{k}");
    }
    for k in ["dataset:rea", "abcdefg", "abcdefghij", "b", "dataset:read "] {
        assert_eq!(index.permission_bit(k), None, "{k}");
    }
    // A key given twice has its last bit, as a map built from the list would give it.
    let twice = Index::new(vec!["x".into(), "y".into(), "x".into()], "owner");
    assert_eq!(twice.permission_bit("x"), Some(2));
    assert_eq!(twice.permission_bit("y"), Some(1));
    assert_eq!(Index::new(vec![], "owner").permission_bit("x"), None);
}

#[test]
fn many_principals_are_found_after_the_tables_grow() {
    let mut w = World::new();
    let users: Vec<Principal> = (0..5000).map(|_| Principal::User(UserId::new())).collect();
    let snapshot = w.index.clone();
    w.apply(
        users
            .iter()
            .map(|&u| Effect::PutMembership {
                scope: Scope::org(w.org),
                principal: u,
                role_id: w.org_member,
            })
            .collect(),
    );
    for &u in &users {
        assert_eq!(w.index.role_of(u, Scope::org(w.org)), Some(w.org_member));
        assert!(w.index.check(u, "dataset:read", w.in_project()));
        // The same id as a team or a key is another principal.
        let Principal::User(id) = u else { continue };
        assert_eq!(
            w.index
                .role_of(Principal::Team(TeamId(id.0)), Scope::org(w.org)),
            None
        );
        assert!(!snapshot.check(u, "dataset:read", w.in_project()));
    }
    assert_eq!(w.index.membership_count(), 5000);
}

#[test]
fn deleted_entities_are_counted_as_dead_slots_until_a_rebuild() {
    let mut w = World::new();
    let scope = w.in_project();
    let bob = Principal::User(UserId::new());
    let slots_before = w.index.slots();
    for _ in 0..50 {
        let key = ApiKeyId::new();
        let (policy, role) = w.grant_through_policy(scope, bob, &["dataset:read"]);
        assert!(w.index.check(bob, "dataset:read", scope));
        w.apply(vec![
            Effect::DeleteMembership {
                scope,
                principal: bob,
            },
            Effect::DeleteRole { role_id: role },
            Effect::DeletePolicy { policy_id: policy },
            Effect::DeleteApiKey { api_key_id: key },
        ]);
        assert!(!w.index.check(bob, "dataset:read", scope));
    }
    assert_eq!(w.index.dead_slots(), 150);
    assert!(w.index.slots() >= slots_before + 150);
    // A rebuild starts from an empty index over the same catalogue.
    let empty = w.index.empty_like();
    assert_eq!((empty.slots(), empty.dead_slots()), (0, 0));
    assert_eq!(
        empty.permission_bit("dataset:read"),
        w.index.permission_bit("dataset:read")
    );
}
