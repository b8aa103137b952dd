//! Web UI sessions (schema 7) and the token check the service's limiter builds on.
//!
//! A session id is 256 random bits from the OS, given to the browser once (in its cookie) and
//! stored only as its SHA-256; it expires, it ends when the token it was opened with is revoked
//! or its user removed, and signing out deletes it. The cookie never holds an API token.
//!
//! [`Store::check_token`] finds a token by its public prefix (what `berth user tokens` shows)
//! and compares the SHA-256 in constant time, so that a failed attempt still names the user
//! whose token it imitated: the service limits failures per user as well as per address.

use std::time::{Duration, SystemTime};

use rusqlite::{OptionalExtension, params};

use crate::service::{User, token_digest};
use crate::store::{Store, StoreError, sql};
use crate::time;

/// What [`Store::check_token`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCheck {
    /// The user, when the token is valid (known and not revoked).
    pub user: Option<User>,
    /// The user whose token carries the same public prefix, valid or not: who an attempt was
    /// aimed at.
    pub owner: Option<String>,
    /// The token's SHA-256, when valid (sessions are tied to it).
    pub sha256: Option<String>,
}

/// A new session: the id for the cookie (shown once) and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// 64 hex digits: the secret the browser keeps.
    pub id: String,
    /// When it stops working (store timestamp).
    pub expires_at: String,
}

/// Compares two byte strings in time that depends on their length only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Written out rather than a crate: eight lines, no early exit, and `black_box` keeps the
    // optimiser from turning the fold back into a short-circuiting comparison.
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The SHA-256 under which a session id is stored.
pub fn session_digest(id: &str) -> String {
    crate::hash::sha256_hex(format!("berth-session\0{id}").as_bytes())
}

/// The token of a public prefix: `berth_` and the first 8 hex digits (as stored).
fn prefix_of(token: &str) -> Option<&str> {
    token.get(..14).filter(|p| p.starts_with("berth_"))
}

impl Store {
    /// Checks an API token: by its public prefix, then its SHA-256 compared in constant time.
    /// Records its use at most once a minute (as [`Store::authenticate`] does).
    pub fn check_token(&self, token: &str) -> Result<TokenCheck, StoreError> {
        const OP: &str = "checking a token";
        let none = TokenCheck { user: None, owner: None, sha256: None };
        let Some(prefix) = prefix_of(token) else { return Ok(none) };
        let digest = token_digest(token);
        let rows = self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT t.sha256, t.revoked_at IS NULL, u.name, u.role, u.created_at FROM tokens t
                     JOIN users u ON u.name = t.user_name WHERE t.prefix = ?1",
                )
                .map_err(sql(OP))?;
            let rows = stmt
                .query_map([prefix], |r| {
                    let role: String = r.get(3)?;
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, bool>(1)?,
                        User {
                            name: r.get(2)?,
                            role: role.parse().unwrap_or(crate::Role::User),
                            created_at: r.get(4)?,
                        },
                    ))
                })
                .map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })?;
        let mut check = none;
        for (sha, active, user) in rows {
            check.owner.get_or_insert_with(|| user.name.clone());
            if constant_time_eq(sha.as_bytes(), digest.as_bytes()) && active {
                check.owner = Some(user.name.clone());
                check.user = Some(user);
                check.sha256 = Some(sha);
            }
        }
        if check.user.is_some() {
            // The last-use stamp, at most once a minute.
            let _ = self.authenticate(token);
        }
        Ok(check)
    }

    /// Opens a session for the holder of the token whose SHA-256 is `token_sha256`, valid for
    /// `ttl`. Prunes expired sessions on the way.
    pub fn create_session(&self, user: &str, token_sha256: &str, ttl: Duration) -> Result<NewSession, StoreError> {
        const OP: &str = "opening a session";
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::NoRandomness { what: "session", reason: e.to_string() })?;
        let id = hex::encode(bytes);
        let now = time::now();
        let expires_at = time::format(SystemTime::now() + ttl);
        let digest = session_digest(&id);
        self.write(OP, |tx| {
            tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [&now]).map_err(sql(OP))?;
            tx.execute(
                "INSERT INTO sessions (sha256, user_name, token_sha256, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![digest, user, token_sha256, now, expires_at],
            )
            .map_err(sql(OP))?;
            Ok(())
        })?;
        Ok(NewSession { id, expires_at })
    }

    /// The user of a live session: not expired, its token not revoked.
    pub fn session_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        const OP: &str = "checking a session";
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let digest = session_digest(id);
        let now = time::now();
        self.read(OP, |tx| {
            tx.query_row(
                "SELECT u.name, u.role, u.created_at FROM sessions s
                 JOIN tokens t ON t.sha256 = s.token_sha256 AND t.revoked_at IS NULL
                 JOIN users u ON u.name = s.user_name
                 WHERE s.sha256 = ?1 AND s.expires_at > ?2",
                params![digest, now],
                |r| {
                    let role: String = r.get(1)?;
                    Ok(User { name: r.get(0)?, role: role.parse().unwrap_or(crate::Role::User), created_at: r.get(2)? })
                },
            )
            .optional()
            .map_err(sql(OP))
        })
    }

    /// Ends a session (signing out); whether there was one.
    pub fn end_session(&self, id: &str) -> Result<bool, StoreError> {
        const OP: &str = "ending a session";
        let digest = session_digest(id);
        self.write(OP, |tx| tx.execute("DELETE FROM sessions WHERE sha256 = ?1", [&digest]).map_err(sql(OP)))
            .map(|n| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    #[test]
    fn sessions_expire_end_on_sign_out_and_with_their_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.add_user("alice", Role::User).expect("user");
        let token = store.create_token("alice", "t").expect("token");
        let check = store.check_token(&token).expect("check");
        assert_eq!(check.user.as_ref().map(|u| u.name.as_str()), Some("alice"));
        let sha = check.sha256.expect("sha");

        let s = store.create_session("alice", &sha, Duration::from_secs(3600)).expect("session");
        assert_eq!(s.id.len(), 64);
        assert_eq!(store.session_user(&s.id).expect("read").map(|u| u.name), Some("alice".into()));
        assert!(store.session_user(&token).expect("read").is_none(), "a token is not a session id");
        assert!(store.end_session(&s.id).expect("end"));
        assert!(store.session_user(&s.id).expect("read").is_none(), "signed out");

        let expired = store.create_session("alice", &sha, Duration::ZERO).expect("session");
        assert!(store.session_user(&expired.id).expect("read").is_none(), "expired");

        let live = store.create_session("alice", &sha, Duration::from_secs(3600)).expect("session");
        store.revoke_tokens("alice", &token[..14]).expect("revoke");
        assert!(store.session_user(&live.id).expect("read").is_none(), "its token was revoked");
    }

    #[test]
    fn a_wrong_token_with_a_known_prefix_names_its_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.add_user("bob", Role::User).expect("user");
        let token = store.create_token("bob", "t").expect("token");
        let forged = format!("{}{}", &token[..14], "0".repeat(token.len() - 14));
        let check = store.check_token(&forged).expect("check");
        assert!(check.user.is_none());
        assert_eq!(check.owner.as_deref(), Some("bob"));
        let unknown = store.check_token("berth_ffffffff0000").expect("check");
        assert_eq!(unknown, TokenCheck { user: None, owner: None, sha256: None });
        assert!(
            constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"a", b"ab")
        );
    }
}
