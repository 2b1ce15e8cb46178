//! API key secrets: made here, shown once, stored only as a hash.
//!
//! A secret is 32 random bytes, so a plain SHA-256 of it cannot be reversed or guessed; a
//! slow password hash would only slow down every request. Lookup is by the hash through a
//! unique index, so no secret is ever compared byte by byte.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use warden_model::{ApiKeyId, OrgId, ProjectId, UserId};

use crate::catalog_rows::{opt_uuid_col, uuid_col};
use crate::{now, Store, StoreError};

/// Every secret starts with this, so that leaked keys are easy to recognise and scan for.
pub const SECRET_PREFIX: &str = "wdn_";

/// A freshly made secret and what is stored of it.
pub struct NewSecret {
    /// The secret itself: returned once, never stored.
    pub secret: String,
    pub hash: String,
    pub last_chars: String,
}

impl NewSecret {
    /// Makes a new random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = format!(
            "{SECRET_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let last_chars = secret
            .chars()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        NewSecret {
            hash: hash_secret(&secret),
            secret,
            last_chars,
        }
    }
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewSecret(…{})", self.last_chars)
    }
}

/// The stored form of a secret.
pub fn hash_secret(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(2 * digest.len());
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// What authentication learns about a key.
#[derive(Debug, Clone)]
pub struct ApiKeyAuth {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    /// For personal keys: the user the key acts as.
    pub user_id: Option<UserId>,
    pub name: String,
    pub valid: bool,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

impl Store {
    /// Finds the key a secret belongs to. `None` when no key has this secret.
    pub async fn find_api_key(&self, secret: &str) -> Result<Option<ApiKeyAuth>, StoreError> {
        let row = sqlx::query(
            "SELECT id, org_id, project_id, user_id, name, valid, expires_at, last_used_at FROM api_keys WHERE secret_hash = $1",
        )
        .bind(hash_secret(secret))
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ApiKeyAuth {
            id: ApiKeyId(uuid_col(&row, "id")?),
            org_id: OrgId(uuid_col(&row, "org_id")?),
            project_id: opt_uuid_col(&row, "project_id")?.map(ProjectId),
            user_id: opt_uuid_col(&row, "user_id")?.map(UserId),
            name: row.try_get("name")?,
            valid: row.try_get::<i64, _>("valid")? != 0,
            expires_at: row.try_get("expires_at")?,
            last_used_at: row.try_get("last_used_at")?,
        }))
    }

    /// Records that a key was used. Not a change of the access model, so not in the log.
    pub async fn touch_api_key(&self, id: ApiKeyId) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id.to_string())
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stored_form_is_the_hex_sha256() {
        assert_eq!(
            super::hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
