//! The client commands: `warden policies list`, `warden roles create ...`, `warden check ...`.
//!
//! Each command is one or two calls of the REST API through `warden-client`. Output is a
//! table for people by default and JSON (`--output json`) for scripts; an error is one line
//! on stderr and a non-zero exit code.

use std::io::Write;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Map, Value};
use warden_client::Client;

/// Where the server is and who is calling.
#[derive(Args, Clone, Debug)]
pub struct RemoteArgs {
    /// The server's URL.
    #[arg(
        long,
        global = true,
        env = "WARDEN_BASE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// The API key to call with.
    #[arg(long, global = true, env = "WARDEN_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// `table` for people, `json` for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

/// Which scope a command works in: the key's organization, or a project.
#[derive(Args, Clone, Debug)]
pub struct ScopeArgs {
    /// Work in the organization of the API key (the default).
    #[arg(long, global = true, conflicts_with = "project")]
    pub org: bool,
    /// Work in this project.
    #[arg(long, global = true)]
    pub project: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum PermissionsCmd {
    /// List the permissions of the scope.
    List {
        /// Only this resource's permissions.
        #[arg(long)]
        resource: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PoliciesCmd {
    /// List the policies of the scope.
    List {
        /// `true` for predefined ones only, `false` for custom ones only.
        #[arg(long)]
        predefined: Option<bool>,
    },
    /// Show one policy.
    Get { id: String },
    /// Create a policy.
    Create {
        name: String,
        /// A permission key or id; repeat, or separate with commas.
        #[arg(long = "permission", value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Change a policy; `--permission` replaces the whole list.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "permission", value_delimiter = ',')]
        permissions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a policy.
    Delete {
        id: String,
        /// Also remove it from the roles that use it.
        #[arg(long)]
        cascade: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RolesCmd {
    /// List the roles of the scope.
    List {
        #[arg(long)]
        predefined: Option<bool>,
    },
    /// Show one role, by id or name.
    Get { role: String },
    /// Create a role from policies and/or permissions.
    Create {
        name: String,
        #[arg(long = "policy", value_delimiter = ',')]
        policies: Vec<String>,
        #[arg(long = "permission", value_delimiter = ',')]
        permissions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Change a role (by id or name); a list given replaces the old one.
    Update {
        role: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long = "policy", value_delimiter = ',')]
        policies: Vec<String>,
        #[arg(long = "permission", value_delimiter = ',')]
        permissions: Vec<String>,
    },
    /// Delete a role (by id or name).
    Delete {
        role: String,
        /// Also remove the memberships that hold it.
        #[arg(long)]
        cascade: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum MembersCmd {
    /// List the members of the scope.
    List {
        /// Only members holding this role (id or name).
        #[arg(long)]
        role: Option<String>,
        /// Only `user`, `team` or `api_key` members.
        #[arg(long = "type")]
        principal_type: Option<String>,
    },
    /// Show one member (`user:<id>`, `team:<id>`, `api_key:<id>`).
    Get { principal: String },
    /// Give a member a role (adding it if needed).
    Set {
        principal: String,
        #[arg(long)]
        role: String,
    },
    /// Remove a member.
    Remove { principal: String },
}

#[derive(Subcommand, Debug)]
pub enum TeamsCmd {
    List,
    Get {
        team: String,
    },
    Create {
        name: String,
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    Update {
        team: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    Delete {
        team: String,
    },
    /// List a team's users.
    Users {
        team: String,
    },
    /// Put a user in a team.
    AddUser {
        team: String,
        user: String,
    },
    /// Take a user out of a team.
    RemoveUser {
        team: String,
        user: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeysCmd {
    List,
    Get {
        id: String,
    },
    /// Create a key; its secret is printed once.
    Create {
        name: String,
        #[arg(long)]
        role: String,
        /// RFC 3339 time, such as 2030-01-31T00:00:00Z.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Rename, invalidate (`--valid false`) or restore a key.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        valid: Option<bool>,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum InvitationsCmd {
    List {
        #[arg(long)]
        status: Option<String>,
    },
    Get {
        id: String,
    },
    /// Invite people by email with a role.
    Create {
        #[arg(long = "email", value_delimiter = ',', required = true)]
        emails: Vec<String>,
        #[arg(long)]
        role: String,
    },
    Resend {
        id: String,
    },
    Revoke {
        id: String,
    },
    /// Accept an invitation (no API key needed).
    Accept {
        #[arg(long)]
        token: String,
        #[arg(long)]
        name: String,
        #[arg(long, env = "WARDEN_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProjectsCmd {
    List,
    Get {
        id: String,
    },
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        restricted: bool,
    },
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        restricted: Option<bool>,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// The changes, newest first.
    List {
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        since_revision: Option<u64>,
        #[arg(long)]
        until_revision: Option<u64>,
        /// At most this many events (default: all).
        #[arg(long)]
        limit: Option<usize>,
    },
}

/// A question for the decision API.
#[derive(Args, Debug)]
pub struct Question {
    /// `user:<id>`, `team:<id>` or `api_key:<id>`.
    pub principal: String,
    /// `resource:action` or a permission id.
    pub permission: String,
    /// Decide in this project (default: the organization).
    #[arg(long)]
    pub project: Option<String>,
    /// Wait until the server has applied this revision.
    #[arg(long)]
    pub min_revision: Option<u64>,
}

/// A connected client and what it knows of its org.
pub struct Session {
    client: Client,
    output: Output,
    org: Option<String>,
}

impl Session {
    pub fn new(remote: &RemoteArgs) -> Self {
        Session {
            client: Client::new(remote.url.clone(), remote.api_key.clone()),
            output: remote.output,
            org: None,
        }
    }

    fn require_key(&self, remote: &RemoteArgs) -> anyhow::Result<()> {
        if remote.api_key.is_none() {
            bail!("no API key: pass --api-key or set WARDEN_API_KEY");
        }
        Ok(())
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        self.client
            .call(method, path, body.as_ref())
            .await
            .map_err(|e| anyhow!("{e}"))
    }

    async fn org(&mut self) -> anyhow::Result<String> {
        if let Some(o) = &self.org {
            return Ok(o.clone());
        }
        let me = self.call(Method::GET, "/v1/me", None).await?;
        let org = me
            .pointer("/org/id")
            .and_then(Value::as_str)
            .context("the server's /v1/me named no organization")?
            .to_owned();
        self.org = Some(org.clone());
        Ok(org)
    }

    async fn base(&mut self, scope: &ScopeArgs) -> anyhow::Result<String> {
        match &scope.project {
            Some(p) => Ok(format!("/v1/projects/{p}")),
            None => Ok(format!("/v1/orgs/{}", self.org().await?)),
        }
    }

    async fn all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        self.client.list_all(path).await.map_err(|e| anyhow!("{e}"))
    }

    /// A role id from an id or a name.
    async fn role_id(&self, base: &str, role: &str) -> anyhow::Result<String> {
        if uuid::Uuid::try_parse(role).is_ok() {
            return Ok(role.to_owned());
        }
        let roles = self.all(&format!("{base}/roles")).await?;
        let found = roles.iter().find(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(role))
        });
        match found.and_then(|r| r["id"].as_str()) {
            Some(id) => Ok(id.to_owned()),
            None => {
                let names: Vec<&str> = roles.iter().filter_map(|r| r["name"].as_str()).collect();
                bail!("no role is named `{role}`; available: {}", names.join(", "))
            }
        }
    }

    fn print_list(&self, items: &[Value], columns: &[&str]) -> anyhow::Result<()> {
        match self.output {
            Output::Json => print_json(&Value::Array(items.to_vec())),
            Output::Table => print_table(items, columns),
        }
    }

    fn print_one(&self, value: &Value) -> anyhow::Result<()> {
        match self.output {
            Output::Json => print_json(value),
            Output::Table => print_fields(value),
        }
    }
}

fn print_json(v: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        Value::Object(o) => o
            .get("name")
            .or_else(|| o.get("id"))
            .map(cell)
            .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
        other => other.to_string(),
    }
}

/// Prints rows aligned under upper-case headers.
fn print_table(items: &[Value], columns: &[&str]) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| columns.iter().map(|c| cell(&i[*c])).collect())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count()).min(60);
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = if c.chars().count() > *w {
                    c.chars().take(w.saturating_sub(1)).chain(['…']).collect()
                } else {
                    c.clone()
                };
                format!("{c:<w$}", w = *w)
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(
        out,
        "{}",
        line(columns.iter().map(|c| c.to_uppercase()).collect())
    )?;
    for r in rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

fn print_fields(v: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match v.as_object() {
        Some(o) => {
            let width = o.keys().map(String::len).max().unwrap_or(0);
            for (k, val) in o {
                writeln!(out, "{k:<width$}  {}", cell(val))?;
            }
        }
        None => writeln!(out, "{v}")?,
    }
    Ok(())
}

fn body(pairs: Vec<(&str, Option<Value>)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    }
    Value::Object(m)
}

fn list_arg(v: &[String]) -> Option<Value> {
    (!v.is_empty()).then(|| json!(v))
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", urlencode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const POLICY_COLS: &[&str] = &["id", "name", "is_predefined", "permissions"];
const ROLE_COLS: &[&str] = &["id", "name", "is_predefined", "policies", "permissions"];

/// What the client commands are.
#[derive(Subcommand, Debug)]
pub enum RemoteCommand {
    /// Who the API key is: its org, role and permissions.
    Me,
    /// The catalogue's permissions of the org or a project.
    Permissions {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(subcommand)]
        cmd: PermissionsCmd,
    },
    /// Policies of the org or a project.
    Policies {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(subcommand)]
        cmd: PoliciesCmd,
    },
    /// Roles of the org or a project.
    Roles {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(subcommand)]
        cmd: RolesCmd,
    },
    /// Members of the org or a project.
    Members {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(subcommand)]
        cmd: MembersCmd,
    },
    /// Teams of the org.
    Teams {
        #[command(subcommand)]
        cmd: TeamsCmd,
    },
    /// API keys of the org or a project.
    ApiKeys {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(subcommand)]
        cmd: ApiKeysCmd,
    },
    /// Invitations to the org or a project.
    Invitations {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(subcommand)]
        cmd: InvitationsCmd,
    },
    /// Projects of the org.
    Projects {
        #[command(subcommand)]
        cmd: ProjectsCmd,
    },
    /// The audit log of the org or a project.
    Audit {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// May this principal do this? Exits 0 when allowed, 3 when denied.
    Check(Question),
    /// Why is this principal allowed or denied?
    Explain(Question),
}

/// Runs a client command; returns the process's exit code.
pub async fn run(remote: &RemoteArgs, cmd: RemoteCommand) -> anyhow::Result<u8> {
    let mut s = Session::new(remote);
    let accepting = matches!(
        cmd,
        RemoteCommand::Invitations {
            cmd: InvitationsCmd::Accept { .. },
            ..
        }
    );
    if !accepting {
        s.require_key(remote)?;
    }
    match cmd {
        RemoteCommand::Me => {
            let me = s.call(Method::GET, "/v1/me", None).await?;
            s.print_one(&me)?;
        }
        RemoteCommand::Permissions {
            scope,
            cmd: PermissionsCmd::List { resource },
        } => {
            let base = s.base(&scope).await?;
            let items = s
                .all(&format!(
                    "{base}/permissions{}",
                    query(&[("resource", resource)])
                ))
                .await?;
            s.print_list(&items, &["key", "id", "description"])?;
        }
        RemoteCommand::Policies { scope, cmd } => {
            let base = s.base(&scope).await?;
            policies(&mut s, &base, cmd).await?;
        }
        RemoteCommand::Roles { scope, cmd } => {
            let base = s.base(&scope).await?;
            roles(&mut s, &base, cmd).await?;
        }
        RemoteCommand::Members { scope, cmd } => {
            let base = s.base(&scope).await?;
            let cols = &["principal", "name", "email", "role_name"];
            match cmd {
                MembersCmd::List {
                    role,
                    principal_type,
                } => {
                    let items = s
                        .all(&format!(
                            "{base}/members{}",
                            query(&[("role_id", role), ("principal_type", principal_type)])
                        ))
                        .await?;
                    s.print_list(&items, cols)?;
                }
                MembersCmd::Get { principal } => {
                    let v = s
                        .call(Method::GET, &format!("{base}/members/{principal}"), None)
                        .await?;
                    s.print_one(&v)?;
                }
                MembersCmd::Set { principal, role } => {
                    let v = s
                        .call(
                            Method::PUT,
                            &format!("{base}/members/{principal}"),
                            Some(json!({"role_id": role})),
                        )
                        .await?;
                    s.print_one(&v)?;
                }
                MembersCmd::Remove { principal } => {
                    let v = s
                        .call(Method::DELETE, &format!("{base}/members/{principal}"), None)
                        .await?;
                    s.print_one(&v)?;
                }
            }
        }
        RemoteCommand::Teams { cmd } => {
            let base = format!("/v1/orgs/{}/teams", s.org().await?);
            let cols = &["id", "key", "name", "user_count"];
            let v = match cmd {
                TeamsCmd::List => {
                    let items = s.all(&base).await?;
                    return s.print_list(&items, cols).map(|_| 0);
                }
                TeamsCmd::Users { team } => {
                    let items = s.all(&format!("{base}/{team}/users")).await?;
                    return s.print_list(&items, &["id", "email", "name"]).map(|_| 0);
                }
                TeamsCmd::Get { team } => {
                    s.call(Method::GET, &format!("{base}/{team}"), None).await?
                }
                TeamsCmd::Create {
                    name,
                    key,
                    description,
                } => {
                    let b = body(vec![
                        ("name", Some(json!(name))),
                        ("key", key.map(Value::from)),
                        ("description", description.map(Value::from)),
                    ]);
                    s.call(Method::POST, &base, Some(b)).await?
                }
                TeamsCmd::Update {
                    team,
                    name,
                    key,
                    description,
                } => {
                    let b = body(vec![
                        ("name", name.map(Value::from)),
                        ("key", key.map(Value::from)),
                        ("description", description.map(Value::from)),
                    ]);
                    s.call(Method::PATCH, &format!("{base}/{team}"), Some(b))
                        .await?
                }
                TeamsCmd::Delete { team } => {
                    s.call(Method::DELETE, &format!("{base}/{team}"), None)
                        .await?
                }
                TeamsCmd::AddUser { team, user } => {
                    s.call(Method::PUT, &format!("{base}/{team}/users/{user}"), None)
                        .await?
                }
                TeamsCmd::RemoveUser { team, user } => {
                    s.call(Method::DELETE, &format!("{base}/{team}/users/{user}"), None)
                        .await?
                }
            };
            s.print_one(&v)?;
        }
        RemoteCommand::ApiKeys { scope, cmd } => {
            let base = format!("{}/api-keys", s.base(&scope).await?);
            let v = match cmd {
                ApiKeysCmd::List => {
                    let items = s.all(&base).await?;
                    return s
                        .print_list(
                            &items,
                            &[
                                "id",
                                "name",
                                "role_name",
                                "last_chars",
                                "valid",
                                "expires_at",
                                "last_used_at",
                            ],
                        )
                        .map(|_| 0);
                }
                ApiKeysCmd::Get { id } => {
                    s.call(Method::GET, &format!("{base}/{id}"), None).await?
                }
                ApiKeysCmd::Create {
                    name,
                    role,
                    expires_at,
                } => {
                    let b = body(vec![
                        ("name", Some(json!(name))),
                        ("role_id", Some(json!(role))),
                        ("expires_at", expires_at.map(Value::from)),
                    ]);
                    s.call(Method::POST, &base, Some(b)).await?
                }
                ApiKeysCmd::Update { id, name, valid } => {
                    let b = body(vec![
                        ("name", name.map(Value::from)),
                        ("valid", valid.map(Value::from)),
                    ]);
                    s.call(Method::PATCH, &format!("{base}/{id}"), Some(b))
                        .await?
                }
                ApiKeysCmd::Delete { id } => {
                    s.call(Method::DELETE, &format!("{base}/{id}"), None)
                        .await?
                }
            };
            s.print_one(&v)?;
        }
        RemoteCommand::Invitations { scope, cmd } => {
            let v = match cmd {
                InvitationsCmd::Accept {
                    token,
                    name,
                    password,
                } => {
                    s.call(
                        Method::POST,
                        "/v1/invitations/accept",
                        Some(json!({"token": token, "name": name, "password": password})),
                    )
                    .await?
                }
                other => {
                    let base = format!("{}/invitations", s.base(&scope).await?);
                    match other {
                        InvitationsCmd::List { status } => {
                            let items = s
                                .all(&format!("{base}{}", query(&[("status", status)])))
                                .await?;
                            return s
                                .print_list(
                                    &items,
                                    &["id", "email", "role_name", "status", "expires_at"],
                                )
                                .map(|_| 0);
                        }
                        InvitationsCmd::Get { id } => {
                            s.call(Method::GET, &format!("{base}/{id}"), None).await?
                        }
                        InvitationsCmd::Create { emails, role } => {
                            s.call(
                                Method::POST,
                                &base,
                                Some(json!({"emails": emails, "role_id": role})),
                            )
                            .await?
                        }
                        InvitationsCmd::Resend { id } => {
                            s.call(Method::POST, &format!("{base}/{id}/resend"), None)
                                .await?
                        }
                        InvitationsCmd::Revoke { id } => {
                            s.call(Method::POST, &format!("{base}/{id}/revoke"), None)
                                .await?
                        }
                        InvitationsCmd::Accept { .. } => Value::Null,
                    }
                }
            };
            s.print_one(&v)?;
        }
        RemoteCommand::Projects { cmd } => {
            let org = s.org().await?;
            let v = match cmd {
                ProjectsCmd::List => {
                    let items = s.all(&format!("/v1/orgs/{org}/projects")).await?;
                    return s
                        .print_list(&items, &["id", "name", "restricted", "description"])
                        .map(|_| 0);
                }
                ProjectsCmd::Get { id } => {
                    s.call(Method::GET, &format!("/v1/projects/{id}"), None)
                        .await?
                }
                ProjectsCmd::Create {
                    name,
                    description,
                    restricted,
                } => {
                    let b = body(vec![
                        ("name", Some(json!(name))),
                        ("description", description.map(Value::from)),
                        ("restricted", Some(json!(restricted))),
                    ]);
                    s.call(Method::POST, &format!("/v1/orgs/{org}/projects"), Some(b))
                        .await?
                }
                ProjectsCmd::Update {
                    id,
                    name,
                    description,
                    restricted,
                } => {
                    let b = body(vec![
                        ("name", name.map(Value::from)),
                        ("description", description.map(Value::from)),
                        ("restricted", restricted.map(Value::from)),
                    ]);
                    s.call(Method::PATCH, &format!("/v1/projects/{id}"), Some(b))
                        .await?
                }
                ProjectsCmd::Delete { id } => {
                    s.call(Method::DELETE, &format!("/v1/projects/{id}"), None)
                        .await?
                }
            };
            s.print_one(&v)?;
        }
        RemoteCommand::Audit {
            scope,
            cmd:
                AuditCmd::List {
                    actor,
                    action,
                    target,
                    since_revision,
                    until_revision,
                    limit,
                },
        } => {
            let base = s.base(&scope).await?;
            let q = query(&[
                ("actor", actor),
                ("action", action),
                ("target", target),
                ("since_revision", since_revision.map(|n| n.to_string())),
                ("until_revision", until_revision.map(|n| n.to_string())),
            ]);
            let mut items = s.all(&format!("{base}/audit-events{q}")).await?;
            if let Some(n) = limit {
                items.truncate(n);
            }
            s.print_list(&items, &["revision", "at", "actor", "action", "target"])?;
        }
        RemoteCommand::Check(q) => {
            let b = question_body(&mut s, &q).await?;
            let v = s.call(Method::POST, "/v1/check", Some(b)).await?;
            let allowed = v["allowed"].as_bool().unwrap_or(false);
            match s.output {
                Output::Json => print_json(&v)?,
                Output::Table => writeln!(
                    std::io::stdout(),
                    "{} (revision {})",
                    if allowed { "allowed" } else { "denied" },
                    v["revision"]
                )?,
            }
            return Ok(if allowed { 0 } else { 3 });
        }
        RemoteCommand::Explain(q) => {
            let b = question_body(&mut s, &q).await?;
            let v = s.call(Method::POST, "/v1/explain", Some(b)).await?;
            match s.output {
                Output::Json => print_json(&v)?,
                Output::Table => {
                    let mut out = std::io::stdout().lock();
                    let allowed = v["allowed"].as_bool().unwrap_or(false);
                    writeln!(
                        out,
                        "{} {} `{}` (revision {})",
                        v["principal"].as_str().unwrap_or(""),
                        if allowed { "may" } else { "may not" },
                        v["permission"].as_str().unwrap_or(""),
                        v["revision"]
                    )?;
                    for g in v["grants"].as_array().into_iter().flatten() {
                        let via = g["via_team"]
                            .as_str()
                            .map(|t| format!(" through team:{t}"))
                            .unwrap_or_default();
                        let policy = g["policy"]["name"]
                            .as_str()
                            .map(|p| format!(" → policy `{p}`"))
                            .unwrap_or_else(|| " (inline)".into());
                        writeln!(
                            out,
                            "  {} membership{via} → role `{}`{policy}",
                            g["membership_scope"].as_str().unwrap_or(""),
                            g["role"]["name"].as_str().unwrap_or("?")
                        )?;
                    }
                    if let Some(msg) = v["reason"]["message"].as_str() {
                        writeln!(out, "  {msg}")?;
                    }
                }
            }
        }
    }
    Ok(0)
}

async fn question_body(s: &mut Session, q: &Question) -> anyhow::Result<Value> {
    let scope = match &q.project {
        Some(p) => ("project_id", json!(p)),
        None => ("org_id", json!(s.org().await?)),
    };
    Ok(body(vec![
        ("principal", Some(json!(q.principal))),
        ("permission", Some(json!(q.permission))),
        (scope.0, Some(scope.1)),
        ("min_revision", q.min_revision.map(Value::from)),
    ]))
}

async fn policies(s: &mut Session, base: &str, cmd: PoliciesCmd) -> anyhow::Result<()> {
    let v = match cmd {
        PoliciesCmd::List { predefined } => {
            let items = s
                .all(&format!(
                    "{base}/policies{}",
                    query(&[("is_predefined", predefined.map(|b| b.to_string()))])
                ))
                .await?;
            return s.print_list(&items, POLICY_COLS);
        }
        PoliciesCmd::Get { id } => {
            s.call(Method::GET, &format!("{base}/policies/{id}"), None)
                .await?
        }
        PoliciesCmd::Create {
            name,
            permissions,
            description,
        } => {
            let b = body(vec![
                ("name", Some(json!(name))),
                ("permission_ids", Some(json!(permissions))),
                ("description", description.map(Value::from)),
            ]);
            s.call(Method::POST, &format!("{base}/policies"), Some(b))
                .await?
        }
        PoliciesCmd::Update {
            id,
            name,
            permissions,
            description,
        } => {
            let b = body(vec![
                ("name", name.map(Value::from)),
                ("permission_ids", list_arg(&permissions)),
                ("description", description.map(Value::from)),
            ]);
            s.call(Method::PATCH, &format!("{base}/policies/{id}"), Some(b))
                .await?
        }
        PoliciesCmd::Delete { id, cascade } => {
            s.call(
                Method::DELETE,
                &format!(
                    "{base}/policies/{id}{}",
                    if cascade { "?cascade=true" } else { "" }
                ),
                None,
            )
            .await?
        }
    };
    s.print_one(&v)
}

async fn roles(s: &mut Session, base: &str, cmd: RolesCmd) -> anyhow::Result<()> {
    let v = match cmd {
        RolesCmd::List { predefined } => {
            let items = s
                .all(&format!(
                    "{base}/roles{}",
                    query(&[("is_predefined", predefined.map(|b| b.to_string()))])
                ))
                .await?;
            return s.print_list(&items, ROLE_COLS);
        }
        RolesCmd::Get { role } => {
            let id = s.role_id(base, &role).await?;
            s.call(Method::GET, &format!("{base}/roles/{id}"), None)
                .await?
        }
        RolesCmd::Create {
            name,
            policies,
            permissions,
            description,
        } => {
            let b = body(vec![
                ("name", Some(json!(name))),
                ("policy_ids", list_arg(&policies)),
                ("permissions", list_arg(&permissions)),
                ("description", description.map(Value::from)),
            ]);
            s.call(Method::POST, &format!("{base}/roles"), Some(b))
                .await?
        }
        RolesCmd::Update {
            role,
            name,
            description,
            policies,
            permissions,
        } => {
            let id = s.role_id(base, &role).await?;
            let b = body(vec![
                ("name", name.map(Value::from)),
                ("description", description.map(Value::from)),
                ("policy_ids", list_arg(&policies)),
                ("permissions", list_arg(&permissions)),
            ]);
            s.call(Method::PATCH, &format!("{base}/roles/{id}"), Some(b))
                .await?
        }
        RolesCmd::Delete { role, cascade } => {
            let id = s.role_id(base, &role).await?;
            s.call(
                Method::DELETE,
                &format!(
                    "{base}/roles/{id}{}",
                    if cascade { "?cascade=true" } else { "" }
                ),
                None,
            )
            .await?
        }
    };
    s.print_one(&v)
}
