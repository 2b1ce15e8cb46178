//! Invitations: an email is invited to an org or a project with a role; accepting the
//! invitation (with its token) makes the user, adds it to the org and gives it the role.
//!
//! The token is a random secret shown once (at creation and at each resend) and stored only
//! as its SHA-256, like an API key's secret. Neither the token nor the password given on
//! acceptance ever reaches the change log.
//!
//! An invitation whose time has passed is still stored as `pending` and reported as
//! `expired`: expiry needs no write. Creating a new invitation for the same email marks the
//! old one `expired` for good, so that at most one pending row exists per scope and email
//! (a unique index holds that). Expiry times are written in one fixed-width format so that
//! SQL can compare them as text.

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;
use warden_model::{
    Effect, InvitationId, Name, OrgId, Principal, ProjectId, RoleId, Scope, TeamId, UserId,
};

use crate::access::parse_email;
use crate::catalog_rows::{opt_uuid_col, uuid_col};
use crate::keys::{hash_secret, NewSecret};
use crate::passwords::{hash_password, verify_password};
use crate::{
    doc, now, Change, Page, Paged, RoleRecord, Store, StoreError, Tx, UserRecord, Written,
};

/// The statuses an invitation is reported with.
pub const INVITATION_STATUSES: [&str; 4] = ["pending", "accepted", "revoked", "expired"];

/// An invitation, without its token.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub email: String,
    pub role_id: RoleId,
    pub role_name: String,
    /// `pending`, `accepted`, `revoked` or `expired` (a pending invitation past its
    /// `expires_at` is reported as expired).
    pub status: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
    pub accepted_at: Option<String>,
    pub version: i64,
}

impl InvitationRecord {
    /// Where the invitation leads.
    pub fn scope(&self) -> Scope {
        Scope {
            org_id: self.org_id,
            project_id: self.project_id,
        }
    }
}

/// An invitation's token: the secret that accepts it. Shown once; its `Debug` hides it so
/// that it cannot reach a log by accident.
#[derive(Clone)]
pub struct InvitationToken(String);

impl InvitationToken {
    /// The token itself, to hand to the invited person.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InvitationToken(…)")
    }
}

/// An invitation together with its new token.
#[derive(Debug, Clone)]
pub struct IssuedInvitation {
    pub invitation: InvitationRecord,
    pub token: InvitationToken,
}

/// An email that was not invited, and why.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedEmail {
    pub email: String,
    /// `already a member` or `already invited`.
    pub reason: String,
}

/// What a batch of invitations made.
#[derive(Debug, Clone)]
pub struct CreatedInvitations {
    pub created: Vec<IssuedInvitation>,
    pub skipped: Vec<SkippedEmail>,
}

/// What a deployment gives users when they arrive (from its settings).
#[derive(Debug, Clone, Default)]
pub struct Arrival {
    /// Emails that become org Owners.
    pub admins: Vec<String>,
    /// The org role (catalogue key or name) for users who hold none.
    pub default_org_role: Option<String>,
    /// The key of the team every arriving user joins.
    pub default_team: Option<String>,
}

/// What accepting an invitation made.
#[derive(Debug, Clone)]
pub struct AcceptedInvitation {
    pub invitation: InvitationRecord,
    pub user: UserRecord,
    /// The scope the user is now a member of.
    pub scope: Scope,
    pub role_id: RoleId,
    pub role_name: String,
}

/// Expiry times in one fixed width (microseconds, `Z`), so that text order is time order.
const STAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

fn stamp(t: OffsetDateTime) -> Result<String, StoreError> {
    t.to_offset(time::UtcOffset::UTC)
        .format(STAMP)
        .map_err(|e| StoreError::Corrupt(format!("a time could not be written: {e}")))
}

fn now_stamp() -> Result<String, StoreError> {
    stamp(OffsetDateTime::now_utc())
}

/// When an invitation made now with `lifetime` expires.
fn expiry(lifetime: time::Duration) -> Result<String, StoreError> {
    let at = OffsetDateTime::now_utc()
        .checked_add(lifetime)
        .ok_or_else(|| {
            StoreError::unprocessable(
                "invalid_lifetime",
                format!("an invitation lifetime of {lifetime} reaches past the representable dates; configure a shorter one"),
                json!({}),
            )
        })?;
    stamp(at)
}

const INVITATION_COLS: &str = "i.id, i.org_id, i.project_id, i.email, i.role_id, r.name AS role_name, i.status, i.created_by, i.created_at, i.updated_at, i.expires_at, i.accepted_at, i.version";
const INVITATION_FROM: &str = "invitations i JOIN roles r ON r.id = i.role_id";

/// The status as reported: a stored `pending` past its expiry is `expired`.
fn reported_status(stored: String, expires_at: &str, now: &str) -> String {
    if stored == "pending" && expires_at <= now {
        "expired".to_owned()
    } else {
        stored
    }
}

fn invitation_from_row(row: &AnyRow, now: &str) -> Result<InvitationRecord, StoreError> {
    let expires_at: String = row.try_get("expires_at")?;
    Ok(InvitationRecord {
        id: InvitationId(uuid_col(row, "id")?),
        org_id: OrgId(uuid_col(row, "org_id")?),
        project_id: opt_uuid_col(row, "project_id")?.map(ProjectId),
        email: row.try_get("email")?,
        role_id: RoleId(uuid_col(row, "role_id")?),
        role_name: row.try_get("role_name")?,
        status: reported_status(row.try_get("status")?, &expires_at, now),
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        expires_at,
        accepted_at: row.try_get("accepted_at")?,
        version: row.try_get("version")?,
    })
}

/// The answer to a token that names no invitation. It does not repeat the token.
fn unknown_token() -> StoreError {
    StoreError::not_found("invitation", "given by this token")
}

/// Refuses to accept an invitation that is not pending, saying what to do instead.
fn check_acceptable(inv: &InvitationRecord) -> Result<(), StoreError> {
    match inv.status.as_str() {
        "pending" => Ok(()),
        "accepted" => Err(StoreError::conflict(
            "already_accepted",
            "this invitation has already been accepted; sign in with the account it made, or ask for a new invitation",
            json!({"invitation_id": inv.id, "status": "accepted"}),
        )),
        "revoked" => Err(StoreError::conflict(
            "revoked",
            "this invitation was revoked; ask an administrator for a new invitation",
            json!({"invitation_id": inv.id, "status": "revoked"}),
        )),
        _ => Err(StoreError::conflict(
            "expired",
            format!(
                "this invitation expired at {}; ask an administrator to resend it or to invite you again",
                inv.expires_at
            ),
            json!({"invitation_id": inv.id, "status": "expired", "expires_at": inv.expires_at}),
        )),
    }
}

/// `invitation.create`'s target: the scope's invitations (a batch has no single id).
fn batch_target(scope: Scope) -> String {
    match scope.project_id {
        Some(p) => format!("project:{p}/invitations"),
        None => format!("org:{}/invitations", scope.org_id),
    }
}

impl Store {
    /// The invitations of a scope, oldest first, optionally only those reported with
    /// `status` (one of [`INVITATION_STATUSES`]).
    pub async fn list_invitations(
        &self,
        scope: Scope,
        status: Option<&str>,
        page: Page,
    ) -> Result<Paged<InvitationRecord>, StoreError> {
        let now = now_stamp()?;
        let filter = match status {
            None => "",
            Some("pending") => " AND i.status = 'pending' AND i.expires_at > $4",
            Some("expired") => {
                " AND (i.status = 'expired' OR (i.status = 'pending' AND i.expires_at <= $4))"
            }
            Some("accepted") => " AND i.status = 'accepted'",
            Some("revoked") => " AND i.status = 'revoked'",
            Some(other) => {
                return Err(StoreError::unprocessable(
                    "invalid_status",
                    format!(
                        "`{}` is not an invitation status; use one of `pending`, `accepted`, `revoked` and `expired`",
                        other.chars().take(40).collect::<String>()
                    ),
                    json!({"field": "status"}),
                ))
            }
        };
        let sql = format!(
            "SELECT {INVITATION_COLS} FROM {INVITATION_FROM} WHERE i.scope_id = $1 AND i.id > $2{filter} ORDER BY i.id LIMIT $3"
        );
        let mut query = sqlx::query(&sql)
            .bind(scope.key().to_string())
            .bind(page.after_str())
            .bind(page.fetch());
        if matches!(status, Some("pending" | "expired")) {
            query = query.bind(&now);
        }
        let rows = query.fetch_all(&self.read).await?;
        let items = rows
            .iter()
            .map(|r| invitation_from_row(r, &now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page.finish(items, |i| i.id.0))
    }

    /// An invitation of a scope.
    pub async fn get_invitation(
        &self,
        scope: Scope,
        id: InvitationId,
    ) -> Result<InvitationRecord, StoreError> {
        let now = now_stamp()?;
        let row = sqlx::query(&format!(
            "SELECT {INVITATION_COLS} FROM {INVITATION_FROM} WHERE i.id = $1 AND i.scope_id = $2"
        ))
        .bind(id.to_string())
        .bind(scope.key().to_string())
        .fetch_optional(&self.read)
        .await?
        .ok_or_else(|| StoreError::not_found("invitation", id))?;
        invitation_from_row(&row, &now)
    }

    async fn invitation_in_tx(
        &self,
        tx: &mut Tx,
        scope: Scope,
        id: InvitationId,
    ) -> Result<InvitationRecord, StoreError> {
        let now = now_stamp()?;
        let row = sqlx::query(&format!(
            "SELECT {INVITATION_COLS} FROM {INVITATION_FROM} WHERE i.id = $1 AND i.scope_id = $2"
        ))
        .bind(id.to_string())
        .bind(scope.key().to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("invitation", id))?;
        invitation_from_row(&row, &now)
    }

    /// Invites each email to `scope` with `role`, in one write. Emails are compared without
    /// regard to case; one that belongs to a member of the scope, or that has a pending
    /// invitation there, is skipped and reported. When nothing is created, nothing is
    /// written and the current revision is returned.
    pub async fn create_invitations(
        &self,
        actor: &str,
        scope: Scope,
        emails: Vec<String>,
        role: &RoleRecord,
        lifetime: time::Duration,
    ) -> Result<Written<CreatedInvitations>, StoreError> {
        if role.scope() != scope {
            return Err(StoreError::unprocessable(
                "role_of_another_scope",
                format!(
                    "role `{}` does not belong to this {}; invite with a role of the same scope",
                    role.name,
                    scope.kind()
                ),
                json!({"field": "role_id"}),
            ));
        }
        self.refuse_owner_invitation(role)?;
        let mut unique: Vec<String> = Vec::new();
        let mut bad = Vec::new();
        for raw in &emails {
            match parse_email(raw) {
                Ok(e) if !unique.iter().any(|u| u.to_lowercase() == e.to_lowercase()) => {
                    unique.push(e)
                }
                Ok(_) => {}
                Err(message) => bad.push(message),
            }
        }
        if let Some(first) = bad.first() {
            return Err(StoreError::unprocessable(
                "invalid_email",
                first.clone(),
                json!({"field": "emails"}),
            ));
        }
        let expires_at = expiry(lifetime)?;
        let mut tx = self.begin().await?;
        // The role is read again in the transaction, so that a concurrent delete is seen.
        let role = self.role_in_tx(&mut tx, scope, role.id).await?;
        let at = now();
        let now = now_stamp()?;
        let mut created = Vec::new();
        let mut skipped = Vec::new();
        let mut expired = Vec::new();
        for email in unique {
            let key = email.to_lowercase();
            let member = sqlx::query(
                "SELECT 1 AS x FROM users u JOIN memberships m ON m.principal_type = 'user' AND m.principal_id = u.id
                 WHERE u.email_key = $1 AND m.scope_id = $2",
            )
            .bind(&key)
            .bind(scope.key().to_string())
            .fetch_optional(&mut *tx)
            .await?;
            if member.is_some() {
                skipped.push(SkippedEmail {
                    email,
                    reason: "already a member".to_owned(),
                });
                continue;
            }
            let pending = sqlx::query(
                "SELECT id, expires_at FROM invitations WHERE scope_id = $1 AND email_key = $2 AND status = 'pending'",
            )
            .bind(scope.key().to_string())
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(p) = pending {
                let old_expiry: String = p.try_get("expires_at")?;
                if old_expiry > now {
                    skipped.push(SkippedEmail {
                        email,
                        reason: "already invited".to_owned(),
                    });
                    continue;
                }
                let old = InvitationId(uuid_col(&p, "id")?);
                sqlx::query("UPDATE invitations SET status = 'expired', updated_at = $1, version = version + 1 WHERE id = $2")
                    .bind(&at)
                    .bind(old.to_string())
                    .execute(&mut *tx)
                    .await?;
                expired.push(old);
            }
            let id = InvitationId::new();
            let secret = NewSecret::generate();
            sqlx::query(
                "INSERT INTO invitations (id, org_id, project_id, scope_id, email, email_key, role_id, status, token_hash, created_by, created_at, updated_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11, $12)",
            )
            .bind(id.to_string())
            .bind(scope.org_id.to_string())
            .bind(scope.project_id.map(|p| p.to_string()))
            .bind(scope.key().to_string())
            .bind(&email)
            .bind(&key)
            .bind(role.id.to_string())
            .bind(&secret.hash)
            .bind(actor)
            .bind(&at)
            .bind(&at)
            .bind(&expires_at)
            .execute(&mut *tx)
            .await?;
            let invitation = self.invitation_in_tx(&mut tx, scope, id).await?;
            created.push(IssuedInvitation {
                invitation,
                token: InvitationToken(secret.secret),
            });
        }
        let value = CreatedInvitations { created, skipped };
        if value.created.is_empty() {
            // Nothing changed: no change-log entry, and the transaction is dropped (rolled
            // back) without having written anything.
            drop(tx);
            return Ok(Written {
                value,
                revision: self.revision().await?,
            });
        }
        let records: Vec<&InvitationRecord> = value.created.iter().map(|c| &c.invitation).collect();
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "invitation.create",
            target: batch_target(scope),
            before: None,
            after: doc(&json!({
                "invitations": records,
                "skipped": value.skipped,
                "expired": expired,
            })),
            effects: vec![],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written { value, revision })
    }

    /// Sends a pending or expired invitation again: a new token (the old one stops working)
    /// and a new expiry.
    pub async fn resend_invitation(
        &self,
        actor: &str,
        scope: Scope,
        id: InvitationId,
        lifetime: time::Duration,
    ) -> Result<Written<IssuedInvitation>, StoreError> {
        let expires_at = expiry(lifetime)?;
        let mut tx = self.begin().await?;
        let before = self.invitation_in_tx(&mut tx, scope, id).await?;
        if before.status != "pending" && before.status != "expired" {
            return Err(not_pending(&before, "resent"));
        }
        let newer = sqlx::query(
            "SELECT id FROM invitations WHERE scope_id = $1 AND email_key = $2 AND status = 'pending' AND id <> $3",
        )
        .bind(scope.key().to_string())
        .bind(before.email.to_lowercase())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(n) = newer {
            let other = InvitationId(uuid_col(&n, "id")?);
            return Err(StoreError::conflict(
                "already_invited",
                format!(
                    "`{}` has a newer invitation `{other}` to this {}; resend that one instead",
                    before.email,
                    scope.kind()
                ),
                json!({"invitation_id": other}),
            ));
        }
        let secret = NewSecret::generate();
        sqlx::query(
            "UPDATE invitations SET status = 'pending', token_hash = $1, expires_at = $2, updated_at = $3, version = version + 1 WHERE id = $4",
        )
        .bind(&secret.hash)
        .bind(&expires_at)
        .bind(now())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let after = self.invitation_in_tx(&mut tx, scope, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "invitation.resend",
            target: format!("invitation:{id}"),
            before: doc(&before),
            after: doc(&after),
            effects: vec![],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: IssuedInvitation {
                invitation: after,
                token: InvitationToken(secret.secret),
            },
            revision,
        })
    }

    /// Revokes a pending (or expired) invitation: its token stops working.
    pub async fn revoke_invitation(
        &self,
        actor: &str,
        scope: Scope,
        id: InvitationId,
    ) -> Result<Written<InvitationRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let before = self.invitation_in_tx(&mut tx, scope, id).await?;
        if before.status != "pending" && before.status != "expired" {
            return Err(not_pending(&before, "revoked"));
        }
        sqlx::query("UPDATE invitations SET status = 'revoked', updated_at = $1, version = version + 1 WHERE id = $2")
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let after = self.invitation_in_tx(&mut tx, scope, id).await?;
        let change = Change {
            actor: actor.to_owned(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "invitation.revoke",
            target: format!("invitation:{id}"),
            before: doc(&before),
            after: doc(&after),
            effects: vec![],
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: after,
            revision,
        })
    }

    /// The invitation a token belongs to, on `conn`.
    async fn invitation_by_token(
        &self,
        conn: &mut sqlx::AnyConnection,
        token_hash: &str,
    ) -> Result<InvitationRecord, StoreError> {
        let now = now_stamp()?;
        let row = sqlx::query(&format!(
            "SELECT {INVITATION_COLS} FROM {INVITATION_FROM} WHERE i.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(unknown_token)?;
        invitation_from_row(&row, &now)
    }

    /// The invitation `token` stands for, as it is now (the page that accepts it shows what
    /// it leads to); an unknown token is not found.
    pub async fn invitation_for_token(&self, token: &str) -> Result<InvitationRecord, StoreError> {
        let mut conn = self.read.acquire().await?;
        self.invitation_by_token(&mut conn, &hash_secret(token.trim()))
            .await
    }

    /// Accepts an invitation: makes the user if its email is new (with `name` and the
    /// password, stored as an argon2id hash), adds it to the org and gives it the invited
    /// role in the invited scope. A project invitation adds the user to the org without an
    /// org role. An email that already has an account with a password must give that
    /// password; its name and password are left as they are.
    pub async fn accept_invitation(
        &self,
        token: &str,
        name: &Name,
        password: &str,
        arrival: &Arrival,
    ) -> Result<Written<AcceptedInvitation>, StoreError> {
        let token_hash = hash_secret(token);
        // The slow password work happens before the write transaction, so that it never
        // holds the one write connection.
        let (known_hash, new_hash) = {
            let mut conn = self.read.acquire().await?;
            let inv = self.invitation_by_token(&mut conn, &token_hash).await?;
            check_acceptable(&inv)?;
            let existing: Option<String> =
                sqlx::query("SELECT password_hash FROM users WHERE email_key = $1")
                    .bind(inv.email.to_lowercase())
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get::<Option<String>, _>("password_hash"))
                    .transpose()?
                    .flatten();
            drop(conn);
            match existing {
                Some(stored) => {
                    if !verify_password(password, &stored).await? {
                        return Err(StoreError::unprocessable(
                            "wrong_password",
                            format!(
                                "`{}` already has an account; give its current password to accept this invitation",
                                inv.email
                            ),
                            json!({"field": "password"}),
                        ));
                    }
                    (Some(stored), None)
                }
                None => (None, Some(hash_password(password).await?)),
            }
        };

        let mut tx = self.begin().await?;
        let before = self.invitation_by_token(&mut tx, &token_hash).await?;
        check_acceptable(&before)?;
        let scope = before.scope();
        let user_id = self.ensure_user(&mut tx, &before.email).await?;
        let stored: Option<String> = sqlx::query("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id.to_string())
            .fetch_one(&mut *tx)
            .await?
            .try_get("password_hash")?;
        if stored != known_hash {
            return Err(StoreError::conflict(
                "concurrent_change",
                "the account changed while this invitation was being accepted; accept it again",
                json!({}),
            ));
        }
        let at = now();
        if let Some(hash) = &new_hash {
            sqlx::query("UPDATE users SET name = $1, password_hash = $2, updated_at = $3, version = version + 1 WHERE id = $4")
                .bind(name.as_str())
                .bind(hash)
                .bind(&at)
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let principal = Principal::User(user_id);
        let held = sqlx::query(
            "SELECT r.name FROM memberships m JOIN roles r ON r.id = m.role_id
             WHERE m.scope_id = $1 AND m.principal_type = 'user' AND m.principal_id = $2",
        )
        .bind(scope.key().to_string())
        .bind(user_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(h) = held {
            // Accepting must never replace a role given since (it could demote an Owner).
            let role: String = h.try_get("name")?;
            return Err(StoreError::conflict(
                "already_member",
                format!(
                    "`{}` is already a member of this {} with role `{role}`; ask an administrator to change the role instead",
                    before.email,
                    scope.kind()
                ),
                json!({"role": role}),
            ));
        }
        let joined_org = !self.is_org_user(&mut tx, scope.org_id, user_id).await?;
        if joined_org {
            self.add_org_user(&mut tx, scope.org_id, user_id).await?;
        }
        let effect = self
            .put_membership(&mut tx, scope, principal, before.role_id)
            .await?;
        let mut effects = vec![effect];
        effects.extend(
            self.arrive(&mut tx, scope.org_id, user_id, &before.email, arrival)
                .await?,
        );
        sqlx::query(
            "UPDATE invitations SET status = 'accepted', accepted_at = $1, accepted_user_id = $2, updated_at = $3, version = version + 1 WHERE id = $4",
        )
        .bind(&at)
        .bind(user_id.to_string())
        .bind(&at)
        .bind(before.id.to_string())
        .execute(&mut *tx)
        .await?;
        let after = self.invitation_in_tx(&mut tx, scope, before.id).await?;
        let user = self.user_in_tx(&mut tx, user_id).await?;
        let change = Change {
            actor: principal.to_string(),
            org_id: Some(scope.org_id),
            project_id: scope.project_id,
            action: "invitation.accept",
            target: format!("invitation:{}", before.id),
            before: doc(&before),
            after: doc(&json!({
                "invitation": after,
                "user": {"id": user.id, "email": user.email, "name": user.name, "password_set": new_hash.is_some(), "joined_org": joined_org},
                "membership": {"scope": scope, "principal": principal, "role_id": after.role_id},
            })),
            effects,
        };
        let revision = self.commit(tx, change).await?;
        Ok(Written {
            value: AcceptedInvitation {
                role_id: after.role_id,
                role_name: after.role_name.clone(),
                invitation: after,
                user,
                scope,
            },
            revision,
        })
    }

    /// What a deployment gives a user on arrival (inside the acceptance's transaction): the
    /// org Owner role to configured admins, the default org role to a user who holds no org
    /// role, and a place in the default team.
    async fn arrive(
        &self,
        tx: &mut Tx,
        org: OrgId,
        user: UserId,
        email: &str,
        arrival: &Arrival,
    ) -> Result<Vec<Effect>, StoreError> {
        let mut effects = Vec::new();
        let org_scope = Scope::org(org);
        let principal = Principal::User(user);
        let holds_org_role = sqlx::query(
            "SELECT 1 AS x FROM memberships WHERE scope_id = $1 AND principal_type = 'user' AND principal_id = $2",
        )
        .bind(org.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
        let wanted = if arrival
            .admins
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(email.trim()))
        {
            Some(self.catalogue.org.owner_role.clone())
        } else if !holds_org_role {
            arrival.default_org_role.clone()
        } else {
            None
        };
        if let Some(role) = wanted {
            let row = sqlx::query(
                "SELECT id FROM roles WHERE scope_id = $1 AND (predefined_key = $2 OR name_key = $3)",
            )
            .bind(org.to_string())
            .bind(&role)
            .bind(role.trim().to_lowercase())
            .fetch_optional(&mut **tx)
            .await?;
            match row {
                Some(r) => {
                    let id = RoleId(uuid_col(&r, "id")?);
                    effects.push(self.put_membership(tx, org_scope, principal, id).await?);
                }
                None => {
                    tracing::warn!(role = %role, "the configured arrival role is not a role of the organization")
                }
            }
        }
        if let Some(team) = &arrival.default_team {
            let row = sqlx::query("SELECT id FROM teams WHERE org_id = $1 AND key = $2")
                .bind(org.to_string())
                .bind(team)
                .fetch_optional(&mut **tx)
                .await?;
            match row {
                Some(r) => {
                    let team_id = TeamId(uuid_col(&r, "id")?);
                    sqlx::query("INSERT INTO team_users (team_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                        .bind(team_id.to_string())
                        .bind(user.to_string())
                        .bind(now())
                        .execute(&mut **tx)
                        .await?;
                    effects.push(Effect::PutTeamUser {
                        team_id,
                        user_id: user,
                    });
                }
                None => {
                    tracing::warn!(team = %team, "the configured default team does not exist in the organization")
                }
            }
        }
        Ok(effects)
    }

    async fn user_in_tx(&self, tx: &mut Tx, id: UserId) -> Result<UserRecord, StoreError> {
        let row =
            sqlx::query("SELECT id, email, name, status, created_at FROM users WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| StoreError::not_found("user", id))?;
        Ok(UserRecord {
            id: UserId(uuid_col(&row, "id")?),
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
        })
    }

    /// Refuses to invite with the Owner role: it is given only by a transfer of ownership
    /// (as Confident AI does), never by an invitation.
    pub fn refuse_owner_invitation(&self, role: &RoleRecord) -> Result<(), StoreError> {
        if self.is_owner_role(role) {
            return Err(StoreError::unprocessable(
                "owner_by_invitation",
                "Owner cannot be given through an invitation; invite with another role and transfer ownership",
                json!({"field": "role_id", "role_id": role.id}),
            ));
        }
        Ok(())
    }

    /// Every change-log entry's `before`, `after` and `effects`, concatenated in revision
    /// order. For audits and tests that check what the log holds (that no secret reached
    /// it); it reads the whole log, so it is not for a request path.
    pub async fn change_log_text(&self) -> Result<String, StoreError> {
        let rows = sqlx::query("SELECT before, after, effects FROM change_log ORDER BY revision")
            .fetch_all(&self.read)
            .await?;
        let mut out = String::new();
        for r in &rows {
            for col in ["before", "after", "effects"] {
                if let Some(text) = r.try_get::<Option<String>, _>(col)? {
                    out.push_str(&text);
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }
}

fn not_pending(inv: &InvitationRecord, verb: &str) -> StoreError {
    StoreError::conflict(
        "not_pending",
        format!(
            "invitation `{}` is {}; only pending or expired invitations can be {verb}; create a new invitation instead",
            inv.id, inv.status
        ),
        json!({"invitation_id": inv.id, "status": inv.status}),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use warden_engine::Index;
    use warden_model::{Catalogue, Description};

    use super::*;
    use crate::NewProject;

    fn name(s: &str) -> Name {
        Name::parse("name", s).unwrap()
    }

    async fn fresh() -> (Store, crate::testing::TestDatabase) {
        let db = crate::testing::TestDatabase::new().await.unwrap();
        let store = Store::open(db.url(), Arc::new(Catalogue::default_llmops()))
            .await
            .unwrap();
        (store, db)
    }

    const WEEK: time::Duration = time::Duration::days(7);

    #[tokio::test]
    async fn accepting_a_project_invitation_is_one_write_that_engines_replay() {
        let (s, _dir) = fresh().await;
        let boot = s.bootstrap(&name("Acme"), "owner@acme.test").await.unwrap();
        let project = s
            .create_project(
                "t",
                boot.org_id,
                NewProject {
                    name: name("P"),
                    description: Description::default(),
                    restricted: true,
                },
            )
            .await
            .unwrap()
            .value;
        let scope = Scope::project(boot.org_id, project.id);
        let member = s.resolve_role(scope, "member").await.unwrap();
        let w = s
            .create_invitations(
                "t",
                scope,
                vec!["Ada@Example.com".into(), "ada@example.com".into()],
                &member,
                WEEK,
            )
            .await
            .unwrap();
        assert_eq!(w.value.created.len(), 1);
        let token = w.value.created[0].token.expose().to_owned();
        assert!(
            !format!("{:?}", w.value).contains(&token),
            "Debug hides tokens"
        );

        let rev = s.revision().await.unwrap();
        let a = s
            .accept_invitation(&token, &name("Ada"), "a long password", &Arrival::default())
            .await
            .unwrap();
        assert_eq!(a.revision, rev + 1);
        assert_eq!(a.value.user.email, "Ada@Example.com");
        assert_eq!(a.value.invitation.status, "accepted");
        let user = Principal::User(a.value.user.id);
        assert_eq!(s.membership(scope, user).await.unwrap(), Some(member.id));
        assert_eq!(
            s.membership(Scope::org(boot.org_id), user).await.unwrap(),
            None
        );

        let cat = Catalogue::default_llmops();
        let mut replayed = Index::new(cat.all_keys(), &cat.org.owner_role);
        for e in s.changes_since(0, 10_000).await.unwrap() {
            replayed.apply(e.revision, &e.effects);
        }
        let (loaded_rev, effects) = s.load().await.unwrap();
        let mut loaded = Index::new(cat.all_keys(), &cat.org.owner_role);
        loaded.apply(loaded_rev, &effects);
        assert!(
            replayed.check(user, "dataset:read", scope),
            "the restricted project admits its member"
        );
        assert_eq!(
            replayed.effective(user, scope),
            loaded.effective(user, scope)
        );
    }

    #[tokio::test]
    async fn refusals_and_skips_write_nothing() {
        let (s, _dir) = fresh().await;
        let boot = s.bootstrap(&name("Acme"), "owner@acme.test").await.unwrap();
        let org = Scope::org(boot.org_id);
        let owner = s.resolve_role(org, "Owner").await.unwrap();
        let rev = s.revision().await.unwrap();
        let err = s
            .create_invitations("t", org, vec!["a@example.com".into()], &owner, WEEK)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Unprocessable {
                    code: "owner_by_invitation",
                    ..
                }
            ),
            "{err}"
        );
        let other = s
            .bootstrap(&name("Globex"), "owner@globex.test")
            .await
            .unwrap();
        let rev = rev + 1;
        let foreign = s
            .resolve_role(Scope::org(other.org_id), "Member")
            .await
            .unwrap();
        let err = s
            .create_invitations("t", org, vec!["a@example.com".into()], &foreign, WEEK)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Unprocessable {
                    code: "role_of_another_scope",
                    ..
                }
            ),
            "{err}"
        );
        let member = s.resolve_role(org, "Member").await.unwrap();
        let w = s
            .create_invitations("t", org, vec!["OWNER@acme.test".into()], &member, WEEK)
            .await
            .unwrap();
        assert!(w.value.created.is_empty());
        assert_eq!(w.value.skipped[0].reason, "already a member");
        assert_eq!(w.revision, rev);
        assert_eq!(s.revision().await.unwrap(), rev);
    }

    #[tokio::test]
    async fn a_past_expiry_reads_as_expired_and_is_replaced_by_a_new_invitation() {
        let (s, _dir) = fresh().await;
        let boot = s.bootstrap(&name("Acme"), "owner@acme.test").await.unwrap();
        let org = Scope::org(boot.org_id);
        let member = s.resolve_role(org, "Member").await.unwrap();
        let gone = time::Duration::seconds(-1);
        let first = s
            .create_invitations("t", org, vec!["b@example.com".into()], &member, gone)
            .await
            .unwrap()
            .value
            .created
            .remove(0);
        let id = first.invitation.id;
        assert_eq!(first.invitation.status, "expired");
        let err = s
            .accept_invitation(
                first.token.expose(),
                &name("B"),
                "a long password",
                &Arrival::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    code: "expired",
                    ..
                }
            ),
            "{err}"
        );
        let expired = s
            .list_invitations(org, Some("expired"), Page::default())
            .await
            .unwrap();
        assert_eq!(expired.items.len(), 1);
        assert!(s
            .list_invitations(org, Some("pending"), Page::default())
            .await
            .unwrap()
            .items
            .is_empty());

        let second = s
            .create_invitations("t", org, vec!["b@example.com".into()], &member, WEEK)
            .await
            .unwrap()
            .value
            .created
            .remove(0);
        assert_eq!(second.invitation.status, "pending");
        assert_eq!(s.get_invitation(org, id).await.unwrap().status, "expired");
        let err = s.resend_invitation("t", org, id, WEEK).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    code: "already_invited",
                    ..
                }
            ),
            "{err}"
        );
        let err = s
            .list_invitations(org, Some("lost"), Page::default())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unprocessable { .. }), "{err}");
    }
}
