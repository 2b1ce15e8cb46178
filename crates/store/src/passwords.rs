//! Passwords of users: stored only as argon2id hashes (PHC strings, salt and parameters
//! included), hashed and checked on the blocking pool because a good password hash is slow
//! on purpose.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;

use crate::StoreError;

/// Hashes a password with argon2id and a fresh random salt.
pub(crate) async fn hash_password(password: &str) -> Result<String, StoreError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt)
            .map_err(|e| StoreError::Corrupt(format!("could not encode a salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Corrupt(format!("could not hash a password: {e}")))
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("the password hasher stopped: {e}")))?
}

/// Whether `password` matches a stored hash. A stored hash that cannot be read is an error,
/// not a mismatch, so that a damaged row is noticed.
pub(crate) async fn verify_password(password: &str, stored: &str) -> Result<bool, StoreError> {
    let password = password.to_owned();
    let stored = stored.to_owned();
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored).map_err(|e| {
            StoreError::Corrupt(format!("a stored password hash is unreadable: {e}"))
        })?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("the password hasher stopped: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse battery", &h).await.unwrap());
        assert!(!verify_password("wrong horse battery", &h).await.unwrap());
        assert!(verify_password("x", "not a hash").await.is_err());
    }
}
