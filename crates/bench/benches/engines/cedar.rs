//! The data set encoded idiomatically in Cedar, two ways.
//!
//! Entities, in both: `Org`, `Project` (child of its `Org`), `User` (child of its `Team`s),
//! `Team`, `ApiKey` (attribute `valid`); actions are `Action::"resource:action"`.
//!
//! (a) Per binding: each role is a group entity `Role::"<id>"`, holders are its children,
//!     and each role has one policy for the scope it is bound in:
//!     `permit(principal in Role::"r", action in [...], resource == Project::"p");` for a
//!     project role, `... resource in Org::"o") unless { resource.restricted };` for an org
//!     role (the org Owner role without the `unless`). Project roles are per project, so
//!     this is one policy per (role, project).
//! (b) Per role: one policy per role definition, the project read from entity tags: a
//!     project's tag `p:<role>` holds the set of its holders, an org's tag `o:<role>` the
//!     same for org roles, and
//!     `permit(principal, action in [...], resource is Project) when { resource.hasTag("p:member") && principal in resource.getTag("p:member") };`
//!     covers the Member role of every project (predefined roles are the same in every
//!     project; a custom role has its own key).
//!
//! Both: `forbid(principal is ApiKey, action, resource) unless { principal.valid };`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use warden_bench::data::{DataSet, PRef, SRef};
use warden_bench::queries::Query;
use warden_model::Principal;

/// Which encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    PerBinding,
    PerRoleTags,
}

/// A built Cedar model: its policies, its entities and the requests of the queries.
pub struct Cedar {
    pub policies: PolicySet,
    pub entities: Entities,
    pub policy_count: usize,
    authorizer: Authorizer,
}

fn uid(ty: &str, id: impl std::fmt::Display) -> Result<EntityUid, String> {
    let t = EntityTypeName::from_str(ty).map_err(|e| e.to_string())?;
    let id = EntityId::from_str(&id.to_string()).map_err(|e| format!("{e:?}"))?;
    Ok(EntityUid::from_type_name_and_id(t, id))
}

fn principal_uid(p: Principal) -> Result<EntityUid, String> {
    match p {
        Principal::User(u) => uid("User", u),
        Principal::Team(t) => uid("Team", t),
        Principal::ApiKey(k) => uid("ApiKey", k),
    }
}

fn actions(keys: &BTreeSet<String>) -> String {
    let list: Vec<String> = keys.iter().map(|k| format!("Action::\"{k}\"")).collect();
    format!("[{}]", list.join(", "))
}

/// The tag that names a role in encoding (b): the predefined key, or the custom role's id.
fn role_tag(ds: &DataSet, r: usize) -> String {
    let role = &ds.roles[r];
    let prefix = match role.scope {
        SRef::Org(_) => "o",
        SRef::Project(_) => "p",
    };
    match &role.predefined {
        Some(k) => format!("{prefix}:{k}"),
        None => format!("{prefix}:{}", role.id),
    }
}

impl Cedar {
    pub fn build(ds: &DataSet, enc: Encoding) -> Result<Self, String> {
        let mut text = String::new();
        let mut count = 0;
        match enc {
            Encoding::PerBinding => {
                for role in &ds.roles {
                    if role.effective.is_empty() {
                        continue;
                    }
                    let acts = actions(&role.effective);
                    let line = match role.scope {
                        SRef::Project(p) => format!(
                            "permit(principal in Role::\"{}\", action in {acts}, resource == Project::\"{}\");\n",
                            role.id, ds.projects[p].id
                        ),
                        SRef::Org(o) if role.org_owner => format!(
                            "permit(principal in Role::\"{}\", action in {acts}, resource in Org::\"{}\");\n",
                            role.id, ds.orgs[o].id
                        ),
                        SRef::Org(o) => format!(
                            "permit(principal in Role::\"{}\", action in {acts}, resource in Org::\"{}\") unless {{ resource.restricted }};\n",
                            role.id, ds.orgs[o].id
                        ),
                    };
                    text.push_str(&line);
                    count += 1;
                }
            }
            Encoding::PerRoleTags => {
                // One policy per distinct (tag, permissions): predefined roles of a kind
                // share one.
                let mut seen: BTreeMap<String, (BTreeSet<String>, bool, bool)> = BTreeMap::new();
                for (i, role) in ds.roles.iter().enumerate() {
                    let is_org = matches!(role.scope, SRef::Org(_));
                    seen.entry(role_tag(ds, i)).or_insert((
                        role.effective.clone(),
                        is_org,
                        role.org_owner,
                    ));
                }
                for (tag, (perms, is_org, owner)) in &seen {
                    if perms.is_empty() {
                        continue;
                    }
                    let acts = actions(perms);
                    let line = if !is_org {
                        format!("permit(principal, action in {acts}, resource is Project) when {{ resource.hasTag(\"{tag}\") && principal in resource.getTag(\"{tag}\") }};\n")
                    } else if *owner {
                        format!("permit(principal, action in {acts}, resource) when {{ resource.org.hasTag(\"{tag}\") && principal in resource.org.getTag(\"{tag}\") }};\n")
                    } else {
                        format!("permit(principal, action in {acts}, resource) when {{ resource.org.hasTag(\"{tag}\") && principal in resource.org.getTag(\"{tag}\") && !resource.restricted }};\n")
                    };
                    text.push_str(&line);
                    count += 1;
                }
            }
        }
        text.push_str(
            "forbid(principal is ApiKey, action, resource) unless { principal.valid };\n",
        );
        count += 1;
        let policies = PolicySet::from_str(&text).map_err(|e| format!("{e:?}"))?;

        // Entities.
        let mut parents: HashMap<PRef, Vec<EntityUid>> = HashMap::new();
        let mut holders: HashMap<(SRef, String), Vec<EntityUid>> = HashMap::new();
        for m in &ds.memberships {
            let p = m.principal;
            match enc {
                Encoding::PerBinding => parents
                    .entry(p)
                    .or_default()
                    .push(uid("Role", ds.roles[m.role].id)?),
                Encoding::PerRoleTags => holders
                    .entry((m.scope, role_tag(ds, m.role)))
                    .or_default()
                    .push(principal_uid(ds.principal(p))?),
            }
        }
        let mut tags_of: HashMap<SRef, Vec<(String, RestrictedExpression)>> = HashMap::new();
        for ((s, tag), members) in holders {
            tags_of.entry(s).or_default().push((
                tag,
                RestrictedExpression::new_set(
                    members
                        .into_iter()
                        .map(RestrictedExpression::new_entity_uid),
                ),
            ));
        }
        let mut entities: Vec<Entity> = Vec::new();
        let err = |e: cedar_policy::EntityAttrEvaluationError| e.to_string();
        for (o, org) in ds.orgs.iter().enumerate() {
            let me = uid("Org", org.id)?;
            entities.push(
                Entity::new_with_tags(
                    me.clone(),
                    [
                        (
                            "restricted".to_owned(),
                            RestrictedExpression::new_bool(false),
                        ),
                        ("org".to_owned(), RestrictedExpression::new_entity_uid(me)),
                    ],
                    [],
                    tags_of.remove(&SRef::Org(o)).unwrap_or_default(),
                )
                .map_err(err)?,
            );
        }
        for (p, project) in ds.projects.iter().enumerate() {
            let org = uid("Org", ds.orgs[project.org].id)?;
            entities.push(
                Entity::new_with_tags(
                    uid("Project", project.id)?,
                    [
                        (
                            "restricted".to_owned(),
                            RestrictedExpression::new_bool(project.restricted),
                        ),
                        (
                            "org".to_owned(),
                            RestrictedExpression::new_entity_uid(org.clone()),
                        ),
                    ],
                    [org],
                    tags_of.remove(&SRef::Project(p)).unwrap_or_default(),
                )
                .map_err(err)?,
            );
        }
        if enc == Encoding::PerBinding {
            for role in &ds.roles {
                entities.push(Entity::new_no_attrs(
                    uid("Role", role.id)?,
                    Default::default(),
                ));
            }
        }
        for (i, user) in ds.users.iter().enumerate() {
            let mut ps = parents.remove(&PRef::User(i)).unwrap_or_default();
            for &t in &user.teams {
                ps.push(uid("Team", ds.teams[t].id)?);
            }
            entities.push(Entity::new_no_attrs(
                uid("User", user.id)?,
                ps.into_iter().collect(),
            ));
        }
        for (i, team) in ds.teams.iter().enumerate() {
            let ps = parents.remove(&PRef::Team(i)).unwrap_or_default();
            entities.push(Entity::new_no_attrs(
                uid("Team", team.id)?,
                ps.into_iter().collect(),
            ));
        }
        for (i, key) in ds.api_keys.iter().enumerate() {
            let ps = parents.remove(&PRef::Key(i)).unwrap_or_default();
            entities.push(
                Entity::new(
                    uid("ApiKey", key.id)?,
                    [(
                        "valid".to_owned(),
                        RestrictedExpression::new_bool(key.valid),
                    )]
                    .into(),
                    ps.into_iter().collect(),
                )
                .map_err(err)?,
            );
        }
        let entities = Entities::from_entities(entities, None).map_err(|e| e.to_string())?;
        Ok(Cedar {
            policies,
            entities,
            policy_count: count,
            authorizer: Authorizer::new(),
        })
    }

    /// The Cedar request of a query.
    pub fn request(ds: &DataSet, q: &Query) -> Result<Request, String> {
        let resource = match q.sref {
            SRef::Org(o) => uid("Org", ds.orgs[o].id)?,
            SRef::Project(p) => uid("Project", ds.projects[p].id)?,
        };
        Request::new(
            principal_uid(q.principal)?,
            uid("Action", &ds.keys[q.bit])?,
            resource,
            Context::empty(),
            None,
        )
        .map_err(|e| e.to_string())
    }

    /// `Authorizer::is_authorized`; `errors` counts the evaluation errors Cedar reports
    /// (an error makes a policy not apply, which would hide a broken encoding).
    #[inline]
    pub fn check(&self, r: &Request, errors: &mut usize) -> bool {
        let resp = self
            .authorizer
            .is_authorized(r, &self.policies, &self.entities);
        *errors += resp.diagnostics().errors().count();
        resp.decision() == Decision::Allow
    }
}
