//! The data set encoded in casbin's RBAC with domains.
//!
//! - `g = _, _, _`: `g, <principal>, <role>, <domain>` for every membership (the domain is
//!   the org's or the project's id), and `g, <user>, <team>, <domain>` for every domain in
//!   which a team of the user holds a role (casbin's roles are per domain, so a team's
//!   users are linked to it in each of its domains).
//! - `p = sub, dom, obj, act`: `p, <role>, <domain>, <resource>, <action>` for every
//!   permission of every role, in the role's own scope.
//! - The request carries the project's org and whether the project is restricted, and the
//!   matcher applies org roles in every project of the org, except in a restricted project
//!   where only the org Owner role (`owner/...`) counts.
//! - An invalid API key's grouping rules are not loaded (as an application would remove
//!   them when the key is invalidated).

use casbin::prelude::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use warden_bench::data::{DataSet, PRef, SRef};
use warden_bench::queries::Query;
use warden_model::Principal;

pub const MODEL: &str = r#"
[request_definition]
r = sub, dom, org, restricted, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.obj == p.obj && r.act == p.act && (p.dom == r.dom && g(r.sub, p.sub, r.dom) || p.dom == r.org && (r.restricted == "0" || keyMatch(p.sub, "owner/*")) && g(r.sub, p.sub, r.org))
"#;

pub struct Casbin {
    pub enforcer: Enforcer,
    pub policies: usize,
    pub groupings: usize,
}

fn role_name(ds: &DataSet, r: usize) -> String {
    let role = &ds.roles[r];
    if role.org_owner {
        format!("owner/{}", role.id)
    } else {
        format!("role/{}", role.id)
    }
}

fn domain(ds: &DataSet, s: SRef) -> String {
    match s {
        SRef::Org(o) => ds.orgs[o].id.to_string(),
        SRef::Project(p) => ds.projects[p].id.to_string(),
    }
}

/// The casbin subject of a principal.
pub fn subject(p: Principal) -> String {
    p.to_string()
}

/// The request of a query: (sub, dom, org, restricted, obj, act).
pub fn request(ds: &DataSet, q: &Query) -> Vec<String> {
    let (obj, act) = ds.keys[q.bit]
        .split_once(':')
        .unwrap_or((&ds.keys[q.bit], ""));
    let org = ds.org_of(q.sref);
    let restricted = matches!(q.sref, SRef::Project(p) if ds.projects[p].restricted);
    vec![
        subject(q.principal),
        domain(ds, q.sref),
        ds.orgs[org].id.to_string(),
        if restricted { "1" } else { "0" }.to_owned(),
        obj.to_owned(),
        act.to_owned(),
    ]
}

impl Casbin {
    pub async fn build(ds: &DataSet) -> std::result::Result<Self, String> {
        let model = DefaultModel::from_str(MODEL)
            .await
            .map_err(|e| e.to_string())?;
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default())
            .await
            .map_err(|e| e.to_string())?;
        let mut p_rules = Vec::new();
        for (i, role) in ds.roles.iter().enumerate() {
            for key in &role.effective {
                let (obj, act) = key.split_once(':').unwrap_or((key, ""));
                p_rules.push(vec![
                    role_name(ds, i),
                    domain(ds, role.scope),
                    obj.to_owned(),
                    act.to_owned(),
                ]);
            }
        }
        let mut g_rules = Vec::new();
        let mut team_domains: std::collections::HashMap<usize, Vec<SRef>> = Default::default();
        for m in &ds.memberships {
            if let PRef::Key(k) = m.principal {
                if !ds.api_keys[k].valid {
                    continue;
                }
            }
            if let PRef::Team(t) = m.principal {
                team_domains.entry(t).or_default().push(m.scope);
            }
            g_rules.push(vec![
                subject(ds.principal(m.principal)),
                role_name(ds, m.role),
                domain(ds, m.scope),
            ]);
        }
        for user in &ds.users {
            for &t in &user.teams {
                for &s in team_domains.get(&t).into_iter().flatten() {
                    g_rules.push(vec![
                        subject(Principal::User(user.id)),
                        subject(Principal::Team(ds.teams[t].id)),
                        domain(ds, s),
                    ]);
                }
            }
        }
        let (policies, groupings) = (p_rules.len(), g_rules.len());
        enforcer
            .add_policies(p_rules)
            .await
            .map_err(|e| e.to_string())?;
        enforcer
            .add_grouping_policies(g_rules)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Casbin {
            enforcer,
            policies,
            groupings,
        })
    }

    /// `Enforcer::enforce`; an error counts as a denial and is counted in `errors`.
    #[inline]
    pub fn check(&self, r: &[String], errors: &mut usize) -> bool {
        match self.enforcer.enforce(r.to_vec()) {
            Ok(allowed) => allowed,
            Err(_) => {
                *errors += 1;
                false
            }
        }
    }
}
