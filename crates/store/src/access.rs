//! Users, memberships and the bootstrap of a new organization.

use serde_json::json;
use sqlx::Row;
use warden_model::{ApiKeyId, Effect, Name, OrgId, Principal, RoleId, Scope, UserId};

use crate::catalog_rows::uuid_col;
use crate::keys::NewSecret;
use crate::{doc, now, Change, Store, StoreError, Tx, Written};

/// What `bootstrap` made.
#[derive(Debug)]
pub struct BootstrapResult {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub api_key_id: ApiKeyId,
    /// The Owner key's secret: shown once.
    pub secret: String,
    pub revision: u64,
}

/// Checks an email address enough to refuse obvious mistakes; returns it trimmed.
pub fn parse_email(raw: &str) -> Result<String, String> {
    let email = raw.trim();
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@'));
    if ok {
        Ok(email.to_owned())
    } else {
        Err(format!(
            "`{}` is not an email address such as `ada@example.com`",
            raw.chars().take(80).collect::<String>()
        ))
    }
}

impl Store {
    /// Finds a user by email (case-insensitively) or creates it.
    pub(crate) async fn ensure_user(&self, tx: &mut Tx, email: &str) -> Result<UserId, StoreError> {
        let key = email.to_lowercase();
        if let Some(row) = sqlx::query("SELECT id FROM users WHERE email_key = $1")
            .bind(&key)
            .fetch_optional(&mut **tx)
            .await?
        {
            return Ok(UserId(uuid_col(&row, "id")?));
        }
        let id = UserId::new();
        let at = now();
        sqlx::query("INSERT INTO users (id, email, email_key, name, created_at, updated_at) VALUES ($1, $2, $3, '', $4, $5)")
            .bind(id.to_string())
            .bind(email)
            .bind(&key)
            .bind(&at)
            .bind(&at)
            .execute(&mut **tx)
            .await?;
        Ok(id)
    }

    /// Records that a user belongs to an org (idempotent).
    pub(crate) async fn add_org_user(
        &self,
        tx: &mut Tx,
        org: OrgId,
        user: UserId,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO org_users (org_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(org.to_string())
            .bind(user.to_string())
            .bind(now())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Whether a user belongs to an org.
    pub(crate) async fn is_org_user(
        &self,
        tx: &mut Tx,
        org: OrgId,
        user: UserId,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS x FROM org_users WHERE org_id = $1 AND user_id = $2")
            .bind(org.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row.is_some())
    }

    /// Makes `principal` hold `role` in `scope`, replacing any role it held there.
    pub(crate) async fn put_membership(
        &self,
        tx: &mut Tx,
        scope: Scope,
        principal: Principal,
        role: RoleId,
    ) -> Result<Effect, StoreError> {
        let at = now();
        sqlx::query(
            "INSERT INTO memberships (scope_id, org_id, project_id, principal_type, principal_id, role_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (scope_id, principal_type, principal_id) DO UPDATE SET role_id = excluded.role_id, updated_at = excluded.updated_at",
        )
        .bind(scope.key().to_string())
        .bind(scope.org_id.to_string())
        .bind(scope.project_id.map(|p| p.to_string()))
        .bind(principal.kind())
        .bind(principal.uuid().to_string())
        .bind(role.to_string())
        .bind(&at)
        .bind(&at)
        .execute(&mut **tx)
        .await?;
        Ok(Effect::PutMembership {
            scope,
            principal,
            role_id: role,
        })
    }

    /// The id of the predefined role with catalogue key `key` in `scope`.
    pub(crate) async fn predefined_role_id(
        &self,
        tx: &mut Tx,
        scope: Scope,
        key: &str,
    ) -> Result<RoleId, StoreError> {
        let row = sqlx::query("SELECT id FROM roles WHERE scope_id = $1 AND predefined_key = $2")
            .bind(scope.key().to_string())
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{scope} has no predefined role `{key}`"))
            })?;
        Ok(RoleId(uuid_col(&row, "id")?))
    }

    /// Creates an organization with its predefined roles, its first Owner (a user, created
    /// if the email is new) and an org API key holding the Owner role, in one write.
    pub async fn bootstrap(
        &self,
        org_name: &Name,
        owner_email: &str,
    ) -> Result<BootstrapResult, StoreError> {
        self.bootstrap_with_password(org_name, owner_email, None)
            .await
    }

    /// [`Store::bootstrap`], also giving the Owner a password to sign in to the console
    /// with. A user that already has a password keeps it: giving another is refused (409).
    pub async fn bootstrap_with_password(
        &self,
        org_name: &Name,
        owner_email: &str,
        password: Option<&str>,
    ) -> Result<BootstrapResult, StoreError> {
        let email = parse_email(owner_email).map_err(|m| {
            StoreError::unprocessable("invalid_email", m, json!({"field": "owner_email"}))
        })?;
        let password_hash = match password {
            Some(p) => Some(crate::passwords::hash_password(p).await?),
            None => None,
        };
        let mut tx = self.begin().await?;
        let (org, mut effects) = self.insert_org(&mut tx, org_name).await?;
        let scope = Scope::org(org.id);
        let owner_key = self.catalogue.org.owner_role.clone();
        let owner_role = self.predefined_role_id(&mut tx, scope, &owner_key).await?;
        let user_id = self.ensure_user(&mut tx, &email).await?;
        if let Some(hash) = &password_hash {
            let has: Option<String> = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id.to_string())
                .fetch_one(&mut *tx)
                .await?
                .try_get("password_hash")?;
            if has.is_some() {
                return Err(StoreError::conflict(
                    "password_exists",
                    format!("{email} already has a password: sign in with it, and bootstrap without giving one"),
                    json!({"field": "owner_password"}),
                ));
            }
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now())
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        self.add_org_user(&mut tx, org.id, user_id).await?;
        effects.push(
            self.put_membership(&mut tx, scope, Principal::User(user_id), owner_role)
                .await?,
        );

        let key_id = ApiKeyId::new();
        let secret = NewSecret::generate();
        let at = now();
        sqlx::query(
            "INSERT INTO api_keys (id, org_id, project_id, name, secret_hash, last_chars, valid, created_by, created_at, updated_at)
             VALUES ($1, $2, NULL, $3, $4, $5, 1, $6, $7, $8)",
        )
        .bind(key_id.to_string())
        .bind(org.id.to_string())
        .bind("bootstrap owner key")
        .bind(&secret.hash)
        .bind(&secret.last_chars)
        .bind(format!("user:{user_id}"))
        .bind(&at)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        effects.push(Effect::PutApiKey {
            api_key_id: key_id,
            scope,
            valid: true,
        });
        effects.push(
            self.put_membership(&mut tx, scope, Principal::ApiKey(key_id), owner_role)
                .await?,
        );
        let change = Change {
            actor: "system:bootstrap".to_owned(),
            org_id: Some(org.id),
            project_id: None,
            action: "org.bootstrap",
            target: format!("org:{}", org.id),
            before: None,
            after: doc(&json!({
                "org": org,
                "owner": {"user_id": user_id, "email": email, "password_set": password_hash.is_some()},
                "api_key": {"id": key_id, "name": "bootstrap owner key", "last_chars": secret.last_chars},
            })),
            effects,
        };
        let revision = self.commit(tx, change).await?;
        Ok(BootstrapResult {
            org_id: org.id,
            user_id,
            api_key_id: key_id,
            secret: secret.secret,
            revision,
        })
    }

    /// Adds a user (created if the email is new) to an org without giving it a role.
    pub async fn add_user_to_org(
        &self,
        actor: &str,
        org: OrgId,
        email: &str,
    ) -> Result<Written<UserId>, StoreError> {
        let email = parse_email(email).map_err(|m| {
            StoreError::unprocessable("invalid_email", m, json!({"field": "email"}))
        })?;
        let mut tx = self.begin().await?;
        let user = self.ensure_user(&mut tx, &email).await?;
        if self.is_org_user(&mut tx, org, user).await? {
            drop(tx);
            return Ok(Written {
                value: user,
                revision: self.revision().await?,
            });
        }
        self.add_org_user(&mut tx, org, user).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(org),
            project_id: None,
            action: "org.user_add",
            target: format!("user:{user}"),
            before: None,
            after: doc(&json!({"user_id": user, "email": email})),
            effects: vec![],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: user,
            revision,
        })
    }

    /// Checks a user's email and password; returns the user and the orgs it belongs to, or
    /// `None` when the email is unknown, has no password, or the password is wrong (the
    /// caller must not tell these apart, so that emails cannot be probed).
    pub async fn check_password(
        &self,
        email: &str,
        password: &str,
    ) -> Result<Option<(UserId, Vec<OrgId>)>, StoreError> {
        let row = sqlx::query("SELECT id, password_hash FROM users WHERE email_key = $1")
            .bind(email.trim().to_lowercase())
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else {
            // Spend the same time as a real check, so that unknown emails cannot be told
            // apart by timing.
            let _ = crate::passwords::hash_password(password).await;
            return Ok(None);
        };
        let Some(stored) = row.try_get::<Option<String>, _>("password_hash")? else {
            return Ok(None);
        };
        if !crate::passwords::verify_password(password, &stored).await? {
            return Ok(None);
        }
        let user = UserId(uuid_col(&row, "id")?);
        let orgs = sqlx::query("SELECT org_id FROM org_users WHERE user_id = $1 ORDER BY org_id")
            .bind(user.to_string())
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| uuid_col(r, "org_id").map(OrgId))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((user, orgs)))
    }

    /// The role `principal` holds directly in `scope`.
    pub async fn membership(
        &self,
        scope: Scope,
        principal: Principal,
    ) -> Result<Option<RoleId>, StoreError> {
        let row = sqlx::query("SELECT role_id FROM memberships WHERE scope_id = $1 AND principal_type = $2 AND principal_id = $3")
            .bind(scope.key().to_string())
            .bind(principal.kind())
            .bind(principal.uuid().to_string())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            r.try_get::<String, _>("role_id")
                .map_err(StoreError::from)
                .and_then(|s| RoleId::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string())))
        })
        .transpose()
    }
}
