//! Users and their API tokens (only each token's SHA-256 is stored).

use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::launches::minutes_apart;
use super::projects::valid_name;
use super::*;
use crate::store::{Store, StoreError, sql};
use crate::time;

impl Store {
    /// Adds a user.
    pub fn add_user(&self, name: &str, role: Role) -> Result<User, StoreError> {
        const OP: &str = "adding a user";
        valid_name("user", name)?;
        let now = time::now();
        self.write(OP, |tx| {
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO users (name, role, created_at) VALUES (?1, ?2, ?3)",
                    params![name, role.as_str(), now],
                )
                .map_err(sql(OP))?;
            if n == 0 {
                return Err(StoreError::AlreadyExists { kind: "user", name: name.to_owned() });
            }
            Ok(User { name: name.to_owned(), role, created_at: now.clone() })
        })
    }

    /// Every user, by name.
    pub fn list_users(&self) -> Result<Vec<User>, StoreError> {
        const OP: &str = "listing users";
        self.read(OP, |tx| {
            let mut stmt = tx.prepare("SELECT name, role, created_at FROM users ORDER BY name").map_err(sql(OP))?;
            let rows = stmt.query_map([], user_from_row).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// One user.
    pub fn get_user(&self, name: &str) -> Result<User, StoreError> {
        const OP: &str = "reading a user";
        self.read(OP, |tx| get_user(tx, name, OP))
    }

    /// Makes a token for `user` and returns it: the only time the secret is seen.
    pub fn create_token(&self, user: &str, label: &str) -> Result<String, StoreError> {
        const OP: &str = "creating a token";
        let token = new_token()?;
        let digest = token_digest(&token);
        let prefix: String = token.chars().take(14).collect();
        let now = time::now();
        self.write(OP, |tx| {
            get_user(tx, user, OP)?;
            tx.execute(
                "INSERT INTO tokens (sha256, user_name, label, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![digest, user, label, prefix, now],
            )
            .map_err(sql(OP))?;
            Ok(())
        })?;
        Ok(token)
    }

    /// A user's tokens (without secrets).
    pub fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>, StoreError> {
        const OP: &str = "listing tokens";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT prefix, label, created_at, last_used_at, revoked_at FROM tokens
                     WHERE user_name = ?1 ORDER BY created_at",
                )
                .map_err(sql(OP))?;
            let rows = stmt
                .query_map([user], |r| {
                    Ok(TokenInfo {
                        prefix: r.get(0)?,
                        label: r.get(1)?,
                        created_at: r.get(2)?,
                        last_used_at: r.get(3)?,
                        revoked_at: r.get(4)?,
                    })
                })
                .map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// Revokes the user's tokens whose prefix starts with `prefix`; returns how many.
    pub fn revoke_tokens(&self, user: &str, prefix: &str) -> Result<usize, StoreError> {
        const OP: &str = "revoking tokens";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE tokens SET revoked_at = ?3 WHERE user_name = ?1 AND revoked_at IS NULL
                 AND substr(prefix, 1, length(?2)) = ?2",
                params![user, prefix, now],
            )
            .map_err(sql(OP))
        })
    }

    /// The user a token belongs to, if it is valid (not revoked). Records its use at most once
    /// a minute, so polling clients do not write on every request.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>, StoreError> {
        const OP: &str = "checking a token";
        let digest = token_digest(token);
        let found = self.read(OP, |tx| {
            tx.query_row(
                "SELECT u.name, u.role, u.created_at, t.last_used_at FROM tokens t JOIN users u ON u.name = t.user_name
                 WHERE t.sha256 = ?1 AND t.revoked_at IS NULL",
                [&digest],
                |r| Ok((user_from_row(r)?, r.get::<_, Option<String>>(3)?)),
            )
            .optional()
            .map_err(sql(OP))
        })?;
        let Some((user, last)) = found else { return Ok(None) };
        let now = time::now();
        let stale = last.as_deref().is_none_or(|l| minutes_apart(l, &now));
        if stale {
            let _ = self.write("recording a token's use", |tx| {
                tx.execute("UPDATE tokens SET last_used_at = ?2 WHERE sha256 = ?1", params![digest, now])
                    .map_err(sql("recording a token's use"))
            });
        }
        Ok(Some(user))
    }
}

/// A new random token: `berth_` and 64 hex digits (256 bits from the OS).
fn new_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::NoRandomness { what: "token", reason: e.to_string() })?;
    Ok(format!("berth_{}", hex::encode(bytes)))
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(1)?;
    Ok(User { name: r.get(0)?, role: role.parse().unwrap_or(Role::User), created_at: r.get(2)? })
}

pub(super) fn get_user(tx: &Transaction<'_>, name: &str, op: &'static str) -> Result<User, StoreError> {
    tx.query_row("SELECT name, role, created_at FROM users WHERE name = ?1", [name], user_from_row)
        .optional()
        .map_err(sql(op))?
        .ok_or_else(|| StoreError::NotFound { kind: "user", name: name.to_owned() })
}
