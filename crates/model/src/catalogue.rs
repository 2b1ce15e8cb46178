//! The catalogue: which permissions exist in each scope, and the predefined policies and
//! roles every new organization and project receives.
//!
//! A catalogue is data, read from TOML (see `catalogues/` for the built-in ones). Parsing
//! checks everything a running server relies on, and every error names the line of the
//! file it comes from, so that a bad file is refused at start-up, not discovered in use.
//!
//! Org scope includes every project permission: a role held at org scope applies in every
//! project of the org, so its permissions are drawn from the union of both scopes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;
use uuid::Uuid;

use crate::names::name_key;
use crate::PermissionId;

/// The namespace of permission ids: `uuid5(NAMESPACE, "<scope>:<resource>:<action>")`.
/// Never change it: permission ids must be the same in every deployment.
pub const PERMISSION_NAMESPACE: Uuid = Uuid::from_u128(0x5f1d_3a0c_9b7e_4c2a_8e61_d4b0_7a93_c25e);

/// The most permissions one scope may define.
pub const MAX_PERMISSIONS: usize = 1024;

/// The permissions Warden's own API is authorized by. Every catalogue must define them,
/// so that the management routes mean the same thing whatever the catalogue.
pub const REQUIRED_ORG: &[&str] = &[
    "organization:read",
    "organization:update",
    "project:create",
    "project:read",
    "project:update",
    "project:delete",
    "member:create",
    "member:read",
    "member:update",
    "member:delete",
    "team:create",
    "team:read",
    "team:update",
    "team:delete",
    "role:create",
    "role:read",
    "role:update",
    "role:delete",
    "policy:create",
    "policy:read",
    "policy:update",
    "policy:delete",
    "api_key:create",
    "api_key:read",
    "api_key:update",
    "api_key:delete",
    "audit_log:read",
    "access:check",
];

/// The permissions every catalogue must define at project scope.
pub const REQUIRED_PROJECT: &[&str] = &[
    "project:read",
    "project:update",
    "project:delete",
    "project_member:create",
    "project_member:read",
    "project_member:update",
    "project_member:delete",
    "role:create",
    "role:read",
    "role:update",
    "role:delete",
    "policy:create",
    "policy:read",
    "policy:update",
    "policy:delete",
    "api_key:create",
    "api_key:read",
    "api_key:update",
    "api_key:delete",
    "audit_log:read",
];

/// The two kinds of scope.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    Org,
    Project,
}

impl ScopeKind {
    /// The word for it in messages: `organization` or `project`.
    pub fn noun(self) -> &'static str {
        match self {
            ScopeKind::Org => "organization",
            ScopeKind::Project => "project",
        }
    }

    /// `org` or `project`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Org => "org",
            ScopeKind::Project => "project",
        }
    }
}

impl fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One permission of one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    /// Stable id, derived from scope and key.
    pub id: PermissionId,
    /// `resource:action`.
    pub key: String,
    pub resource: String,
    pub action: String,
    /// What the resource is, from the catalogue.
    pub description: String,
    pub scope: ScopeKind,
}

/// A policy every scope of a kind receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredefinedPolicy {
    pub key: String,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

/// A role every scope of a kind receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredefinedRole {
    pub key: String,
    pub name: String,
    pub description: String,
    /// Inline permissions, resolved from the patterns of the file.
    pub permissions: Vec<String>,
    /// Keys of predefined policies of the same scope.
    pub policies: Vec<String>,
}

/// Everything the catalogue says about one kind of scope.
#[derive(Debug, Clone)]
pub struct ScopeCatalogue {
    pub kind: ScopeKind,
    /// In catalogue order: resources as listed, actions as listed.
    pub permissions: Vec<Permission>,
    /// Resource names in catalogue order, with their actions (the console's matrix).
    pub resources: Vec<(String, Vec<String>)>,
    pub policies: Vec<PredefinedPolicy>,
    pub roles: Vec<PredefinedRole>,
    /// The key of the role that makes its holder an Owner.
    pub owner_role: String,
    /// The key of the role a previous Owner gets on a transfer of ownership.
    pub demote_owner_to: String,
    by_key: HashMap<String, usize>,
    by_id: HashMap<PermissionId, usize>,
}

impl ScopeCatalogue {
    /// Finds a permission by key (`dataset:read`) or by id.
    pub fn find(&self, key_or_id: &str) -> Option<&Permission> {
        let s = key_or_id.trim();
        if let Some(&i) = self.by_key.get(s) {
            return self.permissions.get(i);
        }
        let id = Uuid::try_parse(s).ok()?;
        self.by_id
            .get(&PermissionId(id))
            .and_then(|&i| self.permissions.get(i))
    }

    /// Whether this scope defines the permission key.
    pub fn has(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// Resolves permissions given by id or key to keys of this scope, without duplicates,
    /// in the order given. Returns the entries that name no permission of this scope.
    pub fn resolve<S: AsRef<str>>(&self, inputs: &[S]) -> Result<Vec<String>, Vec<String>> {
        let mut keys = Vec::new();
        let mut seen = BTreeSet::new();
        let mut unknown = Vec::new();
        for input in inputs {
            match self.find(input.as_ref()) {
                Some(p) => {
                    if seen.insert(p.key.as_str()) {
                        keys.push(p.key.clone());
                    }
                }
                None => unknown.push(input.as_ref().chars().take(80).collect()),
            }
        }
        if unknown.is_empty() {
            Ok(keys)
        } else {
            Err(unknown)
        }
    }

    /// The predefined role with this key.
    pub fn role(&self, key: &str) -> Option<&PredefinedRole> {
        self.roles.iter().find(|r| r.key == key)
    }

    /// The predefined policy with this key.
    pub fn policy(&self, key: &str) -> Option<&PredefinedPolicy> {
        self.policies.iter().find(|p| p.key == key)
    }

    /// Every permission a predefined role grants (inline and through its policies).
    pub fn role_grants(&self, role: &PredefinedRole) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = role.permissions.iter().cloned().collect();
        for key in &role.policies {
            if let Some(p) = self.policy(key) {
                out.extend(p.permissions.iter().cloned());
            }
        }
        out
    }
}

/// A parsed and checked catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub name: String,
    pub description: String,
    pub org: ScopeCatalogue,
    pub project: ScopeCatalogue,
}

/// Why a catalogue was refused. `line` is 1-based; 0 when the problem is not at one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {reason}")]
pub struct CatalogueError {
    pub source_name: String,
    pub line: usize,
    pub reason: String,
}

/// The built-in catalogues: `(name, TOML text)`.
pub const PRESETS: &[(&str, &str)] = &[
    ("llmops", include_str!("../catalogues/llmops.toml")),
    ("arize", include_str!("../catalogues/arize.toml")),
    ("adaptive", include_str!("../catalogues/adaptive.toml")),
];

impl Catalogue {
    /// The default catalogue, for LLM-ops platforms (Confident AI's model).
    pub fn default_llmops() -> Self {
        // The built-in files are checked by the tests below; failing here means the binary
        // itself is broken, which only start-up can report.
        #[expect(
            clippy::expect_used,
            reason = "the built-in catalogue is tested at build time"
        )]
        Self::preset("llmops").expect("the built-in catalogue is valid")
    }

    /// A built-in catalogue by name (`llmops`, `arize`, `adaptive`).
    pub fn preset(name: &str) -> Option<Self> {
        PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(n, text)| Self::parse(&format!("<built-in {n}>"), text).ok())
    }

    /// Parses and checks a catalogue. `source_name` names the file in errors.
    pub fn parse(source_name: &str, text: &str) -> Result<Self, CatalogueError> {
        let err_at = |span: Option<Range<usize>>, reason: String| CatalogueError {
            source_name: source_name.to_owned(),
            line: span.map(|s| line_of(text, s.start)).unwrap_or(0),
            reason,
        };
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| {
            // Some syntax errors come without a message (a control character in a
            // comment, for one): say what is at the place instead.
            let reason = match e.message().trim() {
                "" => syntax_error_at(text, e.span()),
                message => message.to_owned(),
            };
            err_at(e.span(), reason)
        })?;
        let name = raw.name.unwrap_or_else(|| source_name.to_owned());
        let project = build_scope(ScopeKind::Project, &raw.project, None, &err_at)?;
        let org = build_scope(ScopeKind::Org, &raw.org, Some(&project), &err_at)?;
        Ok(Self {
            name,
            description: raw.description.unwrap_or_default(),
            org,
            project,
        })
    }

    /// The catalogue of one kind of scope.
    pub fn scope(&self, kind: ScopeKind) -> &ScopeCatalogue {
        match kind {
            ScopeKind::Org => &self.org,
            ScopeKind::Project => &self.project,
        }
    }

    /// Every distinct permission key of both scopes, org first. Engines intern these.
    pub fn all_keys(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.org
            .permissions
            .iter()
            .chain(&self.project.permissions)
            .filter(|p| seen.insert(p.key.clone()))
            .map(|p| p.key.clone())
            .collect()
    }
}

/// The id of a permission: the same in every deployment.
pub fn permission_id(scope: ScopeKind, key: &str) -> PermissionId {
    PermissionId(Uuid::new_v5(
        &PERMISSION_NAMESPACE,
        format!("{}:{key}", scope.as_str()).as_bytes(),
    ))
}

/// What a syntax error the parser gave no message for is: the character at `span`, with its
/// column (in characters, 1-based).
fn syntax_error_at(text: &str, span: Option<Range<usize>>) -> String {
    let Some(start) = span.map(|s| s.start) else {
        return "the file is not valid TOML".to_owned();
    };
    let before = text.get(..start).unwrap_or_default();
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    match text.get(start..).and_then(|rest| rest.chars().next()) {
        Some(c) => format!("invalid TOML: unexpected character {c:?} at column {column}"),
        None => "invalid TOML: the file ends too early".to_owned(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    name: Option<String>,
    description: Option<String>,
    org: RawScope,
    project: RawScope,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    owner_role: Spanned<String>,
    demote_owner_to: Spanned<String>,
    #[serde(default)]
    resources: Vec<RawResource>,
    #[serde(default)]
    policies: Vec<RawBundle>,
    #[serde(default)]
    roles: Vec<RawBundle>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    actions: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    key: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    /// Patterns: `resource:action`, `resource:*`, `*:action` or `*`.
    #[serde(default)]
    permissions: Vec<Spanned<String>>,
    /// Patterns removed from what `permissions` matched.
    #[serde(default)]
    except: Vec<Spanned<String>>,
    /// Predefined policies of the same scope (roles only).
    #[serde(default)]
    policies: Vec<Spanned<String>>,
}

fn is_word(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 64
}

type ErrAt<'a> = dyn Fn(Option<Range<usize>>, String) -> CatalogueError + 'a;

fn build_scope(
    kind: ScopeKind,
    raw: &RawScope,
    project: Option<&ScopeCatalogue>,
    err_at: &ErrAt<'_>,
) -> Result<ScopeCatalogue, CatalogueError> {
    let mut permissions: Vec<Permission> = Vec::new();
    let mut resources: Vec<(String, Vec<String>)> = Vec::new();
    let mut seen_resources = BTreeSet::new();
    for res in &raw.resources {
        let rname = res.name.get_ref();
        if !is_word(rname) {
            return Err(err_at(
                Some(res.name.span()),
                format!("resource `{rname}` must be lowercase letters, digits and `_`, starting with a letter"),
            ));
        }
        if !seen_resources.insert(rname.clone()) {
            return Err(err_at(
                Some(res.name.span()),
                format!("resource `{rname}` is listed twice in {kind} scope"),
            ));
        }
        if res.actions.is_empty() {
            return Err(err_at(
                Some(res.name.span()),
                format!("resource `{rname}` has no actions"),
            ));
        }
        let mut actions = Vec::new();
        for action in &res.actions {
            let a = action.get_ref();
            if !is_word(a) {
                return Err(err_at(
                    Some(action.span()),
                    format!("action `{a}` must be lowercase letters, digits and `_`, starting with a letter"),
                ));
            }
            if actions.contains(a) {
                return Err(err_at(
                    Some(action.span()),
                    format!("action `{a}` is listed twice for `{rname}`"),
                ));
            }
            actions.push(a.clone());
        }
        resources.push((rname.clone(), actions));
    }
    // Org scope includes every project permission; a resource both scopes list gets the
    // union of their actions.
    if let Some(project) = project {
        for (rname, pactions) in &project.resources {
            if let Some((_, actions)) = resources.iter_mut().find(|(n, _)| n == rname) {
                for a in pactions {
                    if !actions.contains(a) {
                        actions.push(a.clone());
                    }
                }
            } else {
                resources.push((rname.clone(), pactions.clone()));
            }
        }
    }
    let descriptions: HashMap<&str, &str> = raw
        .resources
        .iter()
        .map(|r| (r.name.get_ref().as_str(), r.description.as_str()))
        .chain(project.into_iter().flat_map(|p| {
            p.permissions
                .iter()
                .map(|perm| (perm.resource.as_str(), perm.description.as_str()))
        }))
        .collect();
    for (rname, actions) in &resources {
        for a in actions {
            let key = format!("{rname}:{a}");
            permissions.push(Permission {
                id: permission_id(kind, &key),
                description: descriptions
                    .get(rname.as_str())
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                resource: rname.clone(),
                action: a.clone(),
                key,
                scope: kind,
            });
        }
    }
    if permissions.len() > MAX_PERMISSIONS {
        return Err(err_at(
            None,
            format!(
                "{kind} scope defines {} permissions; the limit is {MAX_PERMISSIONS}",
                permissions.len()
            ),
        ));
    }
    let by_key: HashMap<String, usize> = permissions
        .iter()
        .enumerate()
        .map(|(i, p)| (p.key.clone(), i))
        .collect();
    let by_id = permissions
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id, i))
        .collect();
    let required = match kind {
        ScopeKind::Org => REQUIRED_ORG,
        ScopeKind::Project => REQUIRED_PROJECT,
    };
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| !by_key.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(err_at(
            None,
            format!(
                "{kind} scope must define the permissions Warden's own API uses; missing: {}",
                missing.join(", ")
            ),
        ));
    }

    let all_keys: Vec<&str> = permissions.iter().map(|p| p.key.as_str()).collect();
    let mut policies = Vec::new();
    let mut names = BTreeMap::new();
    for raw_policy in &raw.policies {
        let b = check_bundle(kind, raw_policy, &all_keys, &mut names, "policy", err_at)?;
        if !raw_policy.policies.is_empty() {
            return Err(err_at(
                Some(raw_policy.key.span()),
                "a policy cannot contain policies".to_owned(),
            ));
        }
        if b.1.is_empty() {
            return Err(err_at(
                Some(raw_policy.key.span()),
                format!("policy `{}` grants no permission", b.0),
            ));
        }
        policies.push(PredefinedPolicy {
            key: b.0,
            name: raw_policy.name.get_ref().trim().to_owned(),
            description: raw_policy.description.clone(),
            permissions: b.1,
        });
    }
    let mut roles: Vec<PredefinedRole> = Vec::new();
    let mut role_names = BTreeMap::new();
    for raw_role in &raw.roles {
        let (key, perms) =
            check_bundle(kind, raw_role, &all_keys, &mut role_names, "role", err_at)?;
        let mut role_policies = Vec::new();
        for p in &raw_role.policies {
            if !policies.iter().any(|x| &x.key == p.get_ref()) {
                return Err(err_at(
                    Some(p.span()),
                    format!(
                        "role `{key}` uses policy `{}`, which this scope does not define",
                        p.get_ref()
                    ),
                ));
            }
            role_policies.push(p.get_ref().clone());
        }
        if perms.is_empty() && role_policies.is_empty() {
            return Err(err_at(
                Some(raw_role.key.span()),
                format!("role `{key}` grants no permission"),
            ));
        }
        roles.push(PredefinedRole {
            key,
            name: raw_role.name.get_ref().trim().to_owned(),
            description: raw_role.description.clone(),
            permissions: perms,
            policies: role_policies,
        });
    }
    for (field, value) in [
        ("owner_role", &raw.owner_role),
        ("demote_owner_to", &raw.demote_owner_to),
    ] {
        if !roles.iter().any(|r| &r.key == value.get_ref()) {
            return Err(err_at(
                Some(value.span()),
                format!(
                    "`{field}` names role `{}`, which {kind} scope does not define",
                    value.get_ref()
                ),
            ));
        }
    }
    if raw.owner_role.get_ref() == raw.demote_owner_to.get_ref() {
        return Err(err_at(
            Some(raw.demote_owner_to.span()),
            "`demote_owner_to` must differ from `owner_role`".to_owned(),
        ));
    }
    Ok(ScopeCatalogue {
        kind,
        permissions,
        resources,
        policies,
        roles,
        owner_role: raw.owner_role.get_ref().clone(),
        demote_owner_to: raw.demote_owner_to.get_ref().clone(),
        by_key,
        by_id,
    })
}

/// Checks key and name of a predefined policy or role and resolves its patterns.
fn check_bundle(
    kind: ScopeKind,
    raw: &RawBundle,
    all_keys: &[&str],
    names: &mut BTreeMap<String, String>,
    what: &str,
    err_at: &ErrAt<'_>,
) -> Result<(String, Vec<String>), CatalogueError> {
    let key = raw.key.get_ref();
    if !is_word(key) {
        return Err(err_at(
            Some(raw.key.span()),
            format!("{what} key `{key}` must be lowercase letters, digits and `_`"),
        ));
    }
    let name = raw.name.get_ref().trim();
    if name.is_empty() || name.chars().count() > crate::names::NAME_MAX {
        return Err(err_at(
            Some(raw.name.span()),
            format!("{what} name must be 1 to 255 characters"),
        ));
    }
    if names.values().any(|k| k == key) {
        return Err(err_at(
            Some(raw.key.span()),
            format!("{what} key `{key}` is used twice in {kind} scope"),
        ));
    }
    if let Some(other) = names.insert(name_key(name), key.clone()) {
        return Err(err_at(
            Some(raw.name.span()),
            format!("{what} name `{name}` is already used by `{other}` in {kind} scope"),
        ));
    }
    let mut granted: BTreeSet<&str> = BTreeSet::new();
    for pattern in &raw.permissions {
        let matched = match_pattern(pattern.get_ref(), all_keys);
        if matched.is_empty() {
            return Err(err_at(
                Some(pattern.span()),
                format!(
                    "`{}` matches no permission of {kind} scope",
                    pattern.get_ref()
                ),
            ));
        }
        granted.extend(matched);
    }
    for pattern in &raw.except {
        let matched = match_pattern(pattern.get_ref(), all_keys);
        if matched.is_empty() {
            return Err(err_at(
                Some(pattern.span()),
                format!(
                    "`{}` in `except` matches no permission of {kind} scope",
                    pattern.get_ref()
                ),
            ));
        }
        for m in matched {
            granted.remove(m);
        }
    }
    // Keep catalogue order, which is the order people read the matrix in.
    let perms = all_keys
        .iter()
        .filter(|k| granted.contains(*k))
        .map(|k| (*k).to_owned())
        .collect();
    Ok((key.clone(), perms))
}

fn match_pattern<'a>(pattern: &str, keys: &[&'a str]) -> Vec<&'a str> {
    let pattern = pattern.trim();
    if pattern == "*" {
        return keys.to_vec();
    }
    let Some((res, act)) = pattern.split_once(':') else {
        return Vec::new();
    };
    keys.iter()
        .copied()
        .filter(|k| {
            let (r, a) = k.split_once(':').unwrap_or((k, ""));
            (res == "*" || res == r) && (act == "*" || act == a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses() {
        for (name, _) in PRESETS {
            let cat = Catalogue::preset(name);
            assert!(
                cat.is_some(),
                "preset {name} must parse: {:?}",
                PRESETS
                    .iter()
                    .find(|p| p.0 == *name)
                    .map(|p| Catalogue::parse(name, p.1).err())
            );
        }
    }

    #[test]
    fn default_catalogue_has_seed_003_project_resources() {
        let cat = Catalogue::default_llmops();
        for res in [
            "dataset",
            "golden",
            "metric",
            "metric_collection",
            "trace",
            "span",
            "thread",
            "test_run",
            "test_case",
            "experiment",
            "prompt",
            "prompt_version",
            "annotation_queue",
            "queue_item",
            "project_member",
        ] {
            assert!(
                cat.project.resources.iter().any(|(r, _)| r == res),
                "missing project resource {res}"
            );
        }
        assert!(cat.project.has("trace:evaluate"));
        assert!(cat.project.has("annotation_queue:assign"));
        assert!(
            !cat.project.has("annotation_queue:evaluate"),
            "seed 003: annotation_queue has no evaluate"
        );
        assert!(!cat.project.has("organization:read"));
    }

    #[test]
    fn org_scope_includes_every_project_permission() {
        let cat = Catalogue::default_llmops();
        for p in &cat.project.permissions {
            assert!(cat.org.has(&p.key), "org scope lacks {}", p.key);
        }
        assert!(cat.org.has("organization:update"));
    }

    #[test]
    fn confident_ai_predefined_roles() {
        let cat = Catalogue::default_llmops();
        let names: Vec<&str> = cat.project.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Owner", "Manager", "Member"]);
        let names: Vec<&str> = cat.org.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Owner", "Admin", "Member"]);
        let p = &cat.project;
        let owner = p.role_grants(p.role("owner").unwrap());
        assert_eq!(
            owner.len(),
            p.permissions.len(),
            "project Owner has everything"
        );
        let member = p.role_grants(p.role("member").unwrap());
        for denied in [
            "project:delete",
            "project_member:create",
            "project_member:update",
            "project_member:delete",
            "role:create",
            "policy:update",
            "api_key:create",
        ] {
            assert!(
                !member.contains(denied),
                "project Member must not have {denied}"
            );
        }
        for granted in [
            "dataset:read",
            "dataset:update",
            "trace:evaluate",
            "project:read",
        ] {
            assert!(
                member.contains(granted),
                "project Member must have {granted}"
            );
        }
        let o = &cat.org;
        let org_member = o.role_grants(o.role("member").unwrap());
        for denied in [
            "project:create",
            "project:delete",
            "organization:update",
            "api_key:create",
            "member:create",
            "role:create",
            "policy:create",
            "team:create",
        ] {
            assert!(
                !org_member.contains(denied),
                "org Member must not have {denied}"
            );
        }
        let admin = o.role_grants(o.role("admin").unwrap());
        assert_eq!(admin.len(), o.permissions.len());
        assert_eq!(o.owner_role, "owner");
        assert_eq!(o.demote_owner_to, "admin");
        assert_eq!(p.demote_owner_to, "manager");
    }

    #[test]
    fn permission_ids_are_stable_and_scoped() {
        let cat = Catalogue::default_llmops();
        let org = cat.org.find("dataset:read").unwrap();
        let project = cat.project.find("dataset:read").unwrap();
        assert_ne!(org.id, project.id);
        assert_eq!(
            project.id,
            permission_id(ScopeKind::Project, "dataset:read")
        );
        // Pinned: a change here would break every deployment's stored ids.
        assert_eq!(
            permission_id(ScopeKind::Project, "dataset:read").to_string(),
            "5eb45646-1ca2-52e0-8f3b-a9495c138085"
        );
        assert_eq!(
            cat.project.find(&project.id.to_string()).unwrap().key,
            "dataset:read"
        );
        assert!(cat.project.find("dataset:fly").is_none());
    }

    fn minimal(extra_project: &str) -> String {
        let org_res: String = resources_for(REQUIRED_ORG);
        let project_res: String = resources_for(REQUIRED_PROJECT);
        format!(
            "name = \"t\"\n[org]\nowner_role = \"owner\"\ndemote_owner_to = \"admin\"\n{org_res}\n[[org.roles]]\nkey = \"owner\"\nname = \"Owner\"\npermissions = [\"*\"]\n[[org.roles]]\nkey = \"admin\"\nname = \"Admin\"\npermissions = [\"*\"]\n[project]\nowner_role = \"owner\"\ndemote_owner_to = \"manager\"\n{project_res}\n[[project.roles]]\nkey = \"owner\"\nname = \"Owner\"\npermissions = [\"*\"]\n[[project.roles]]\nkey = \"manager\"\nname = \"Manager\"\npermissions = [\"*\"]\n{extra_project}"
        )
        .replace("[[resources]]", "")
    }

    fn resources_for(keys: &[&str]) -> String {
        let mut by_res: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for k in keys {
            let (r, a) = k.split_once(':').unwrap();
            by_res.entry(r).or_default().push(a);
        }
        let scope = if keys == REQUIRED_ORG {
            "org"
        } else {
            "project"
        };
        by_res
            .iter()
            .map(|(r, acts)| format!("[[{scope}.resources]]\nname = \"{r}\"\nactions = {acts:?}\n"))
            .collect()
    }

    #[test]
    fn a_minimal_catalogue_parses() {
        let cat = Catalogue::parse("min.toml", &minimal("")).unwrap();
        assert_eq!(cat.name, "t");
    }

    #[test]
    fn errors_name_the_line_and_reason() {
        let text = minimal("[[project.roles]]\nkey = \"viewer\"\nname = \"Viewer\"\npermissions = [\"dataset:read\"]\n");
        let err = Catalogue::parse("bad.toml", &text).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.contains("dataset:read"))
            .unwrap()
            + 1;
        assert_eq!(err.line, line);
        assert!(
            err.reason
                .contains("`dataset:read` matches no permission of project scope"),
            "{err}"
        );
        assert!(err.to_string().starts_with(&format!("bad.toml:{line}: ")));

        let err = Catalogue::parse("syntax.toml", "name = \"x\"\n[org\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");

        let err = Catalogue::parse("unknown.toml", &minimal("colour = \"red\"\n")).unwrap_err();
        assert!(err.reason.contains("colour"), "{err}");
        assert!(err.line > 1);

        let dup = minimal(
            "[[project.roles]]\nkey = \"owner2\"\nname = \"OWNER\"\npermissions = [\"*\"]\n",
        );
        let err = Catalogue::parse("dup.toml", &dup).unwrap_err();
        assert!(err.reason.contains("already used"), "{err}");

        let missing = minimal("")
            .replace("\"audit_log:read\"", "\"audit_log:write\"")
            .replace("[\"read\"]", "[\"write\"]");
        let err = Catalogue::parse("missing.toml", &missing).unwrap_err();
        assert!(err.reason.contains("missing: audit_log:read"), "{err}");
    }

    #[test]
    fn syntax_errors_without_a_message_say_what_is_wrong() {
        // Found by fuzzing (fuzz/corpus/catalogue/regression-control-character.toml): the
        // parser gives no message for a control character in a comment, which left the
        // error with an empty reason.
        let text = "# a comment\n# with a control character \u{12} in it\nname = \"x\"\n";
        let err = Catalogue::parse("control.toml", text).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert_eq!(
            err.reason, "invalid TOML: unexpected character '\\u{12}' at column 28",
            "{err}"
        );
        let err = Catalogue::parse("control.toml", "name = \"x\" # \u{7f}").unwrap_err();
        assert!(!err.reason.is_empty(), "{err}");
    }

    #[test]
    fn patterns_and_exceptions() {
        let keys = ["dataset:read", "dataset:update", "trace:read"];
        assert_eq!(
            match_pattern("dataset:*", &keys),
            ["dataset:read", "dataset:update"]
        );
        assert_eq!(
            match_pattern("*:read", &keys),
            ["dataset:read", "trace:read"]
        );
        assert_eq!(match_pattern("*", &keys).len(), 3);
        assert!(match_pattern("dataset", &keys).is_empty());
    }
}
