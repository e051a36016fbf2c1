//! Dashboard operators and sessions. Operators log in with a password (argon2id, verified
//! on the blocking pool: it is slow on purpose); a session is a random token in an
//! HttpOnly cookie, stored only as its SHA-256, expiring after `dashboard.session_ttl_secs`
//! and revoked by logout. Each session carries a CSRF token that state-changing requests
//! must echo in `X-CSRF-Token` (a cross-site page can send the cookie, not the header).
//!
//! Revocation: every operator row carries a random `session_epoch`, re-drawn on each
//! password change, disable and (re)creation; a session records the epoch it was made
//! under and is valid only while it matches, so a reset, disable or delete ends every
//! session of that operator at once (checked on every request, no session index needed).
//! A disabled operator, or one bound to a deactivated association, cannot log in.
//! Operator writes are compare-and-set on the row's version, retried when they lose a race.

use super::{keys, AuthError};
use crate::domain::{input, now_ms};
use crate::store::{Expect, OperatorRecord, SessionRecord, SharedStore, StoreError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use subtle::ConstantTimeEq;

/// Who a dashboard request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub username: String,
    /// `None`: super operator (every association).
    pub association_id: Option<i64>,
}

impl Operator {
    pub fn role(&self) -> &'static str {
        if self.association_id.is_none() { "super" } else { "association" }
    }

    /// A super operator reaches every association; a bound one only its own.
    pub fn require_association(&self, id: i64) -> Result<(), AuthError> {
        match self.association_id {
            None => Ok(()),
            Some(own) if own == id => Ok(()),
            Some(_) => Err(AuthError::Forbidden("Access denied: this operator is bound to another association".into())),
        }
    }

    /// The association a listing is for: the bound one, or the one a super operator names
    /// (`None` = all).
    pub fn scope(&self, requested: Option<i64>) -> Result<Option<i64>, AuthError> {
        match (self.association_id, requested) {
            (None, r) => Ok(r),
            (Some(own), None) => Ok(Some(own)),
            (Some(own), Some(r)) if r == own => Ok(Some(own)),
            (Some(_), Some(_)) => Err(AuthError::Forbidden("Access denied: this operator is bound to another association".into())),
        }
    }
}

pub struct Sessions {
    store: SharedStore,
    ttl_ms: i64,
}

/// A new session: the cookie token (shown once) and its record.
pub struct NewSession {
    pub token: String,
    pub record: SessionRecord,
    pub operator: Operator,
}

pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("OS random source");
    let salt = SaltString::encode_b64(&salt).expect("16-byte salt encodes");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 hashing with default parameters").to_string()
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

fn unavailable(e: impl std::fmt::Display) -> AuthError {
    AuthError::Unavailable(e.to_string())
}

fn invalid(e: input::InputError) -> AuthError {
    AuthError::Invalid(e.to_string())
}

fn operator_not_found(username: &str) -> AuthError {
    AuthError::NotFound(format!("Operator `{username}` not found"))
}

/// A fresh random session epoch (never 0, the epoch of rows from before epochs existed).
fn new_epoch() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("OS random source");
    u64::from_le_bytes(b).max(1)
}

impl Sessions {
    pub fn new(store: SharedStore, ttl_secs: u64) -> Self {
        Self { store, ttl_ms: (ttl_secs as i64).saturating_mul(1000) }
    }

    /// Creates or updates an operator (the bootstrap super operator, or one bound to an
    /// association). Updating an existing one is a password reset: its sessions end.
    pub async fn put_operator(&self, username: &str, password: &str, association_id: Option<i64>) -> Result<OperatorRecord, AuthError> {
        let username = input::identifier("username", username, input::MAX_USERNAME_CHARS).map_err(invalid)?;
        input::new_password("password", password).map_err(invalid)?;
        let pw = password.to_string();
        let password_hash = tokio::task::spawn_blocking(move || hash_password(&pw)).await.map_err(unavailable)?;
        self.change_operator(username, |existing| {
            let now = now_ms();
            Ok(Some(OperatorRecord {
                username: username.to_string(),
                password_hash: password_hash.clone(),
                association_id,
                created_at: existing.map(|e| e.created_at).unwrap_or(now),
                updated_at: now,
                version: 0,
                session_epoch: new_epoch(),
                disabled: existing.is_some_and(|e| e.disabled),
            }))
        })
        .await?
        .ok_or(AuthError::Unavailable("operator write lost".into()))
    }

    /// Resets the password and/or disables (or re-enables) an existing operator; either
    /// ends its sessions.
    pub async fn update_operator(&self, username: &str, password: Option<&str>, disabled: Option<bool>) -> Result<OperatorRecord, AuthError> {
        let username = input::identifier("username", username, input::MAX_USERNAME_CHARS).map_err(invalid)?;
        let password_hash = match password {
            Some(p) => {
                input::new_password("password", p).map_err(invalid)?;
                let pw = p.to_string();
                Some(tokio::task::spawn_blocking(move || hash_password(&pw)).await.map_err(unavailable)?)
            }
            None => None,
        };
        if password_hash.is_none() && disabled.is_none() {
            return Err(AuthError::Invalid("nothing to change: give password and/or isActive".into()));
        }
        self.change_operator(username, |existing| {
            let mut rec = existing.cloned().ok_or_else(|| operator_not_found(username))?;
            if let Some(h) = &password_hash {
                rec.password_hash = h.clone();
            }
            if let Some(d) = disabled {
                rec.disabled = d;
            }
            rec.updated_at = now_ms().max(rec.updated_at);
            rec.session_epoch = new_epoch();
            Ok(Some(rec))
        })
        .await?
        .ok_or(AuthError::Unavailable("operator write lost".into()))
    }

    /// Deletes an operator; its sessions end (a later operator of the same name gets a new
    /// epoch, so they do not come back).
    pub async fn delete_operator(&self, username: &str) -> Result<(), AuthError> {
        let username = input::identifier("username", username, input::MAX_USERNAME_CHARS).map_err(invalid)?;
        self.change_operator(username, |existing| match existing {
            Some(_) => Ok(None),
            None => Err(operator_not_found(username)),
        })
        .await
        .map(|_| ())
    }

    /// The one read-modify-write of an operator row: `change` maps the current row (if any)
    /// to the new one (`None`: delete); the write is compare-and-set on the version read and
    /// re-run when another write came between (bounded).
    async fn change_operator(
        &self,
        username: &str,
        mut change: impl FnMut(Option<&OperatorRecord>) -> Result<Option<OperatorRecord>, AuthError> + Send,
    ) -> Result<Option<OperatorRecord>, AuthError> {
        for _ in 0..32 {
            let existing = self.store.get_operator(username).await.map_err(unavailable)?;
            let expect = existing.as_ref().map_or(Expect::Absent, |e| Expect::Version(e.version));
            let written = match change(existing.as_ref())? {
                Some(mut rec) => {
                    rec.version = expect.next_version();
                    self.store.put_operator(&rec, expect).await.map(|_| Some(rec))
                }
                None => match expect {
                    Expect::Version(v) => self.store.delete_operator(username, v).await.map(|_| None),
                    Expect::Absent => return Ok(None),
                },
            };
            match written {
                Ok(r) => return Ok(r),
                Err(StoreError::VersionMismatch(_) | StoreError::Conflict(_)) => tokio::task::yield_now().await,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(AuthError::Conflict(format!("operator `{username}` was changed concurrently too often; retry")))
    }

    /// Ensures the bootstrap super operator exists with this password.
    pub async fn bootstrap(&self, username: &str, password: &str) -> Result<(), AuthError> {
        let username = input::identifier("username", username, input::MAX_USERNAME_CHARS).map_err(invalid)?;
        if let Some(op) = self.store.get_operator(username).await.map_err(unavailable)? {
            let (pw, hash) = (password.to_string(), op.password_hash.clone());
            let same = tokio::task::spawn_blocking(move || verify_password(&pw, &hash)).await.map_err(unavailable)?;
            if same && op.association_id.is_none() {
                return Ok(());
            }
        }
        self.put_operator(username, password, None).await.map(|_| ())
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<NewSession, AuthError> {
        // Bounded before any lookup (the route is public).
        let username = input::identifier("username", username, input::MAX_USERNAME_CHARS).map_err(invalid)?;
        input::password("password", password).map_err(invalid)?;
        let op = self.store.get_operator(username).await.map_err(unavailable)?;
        // Verify against a fixed hash for unknown users too, so timing does not tell them apart.
        let hash = op.as_ref().map(|o| o.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.with(|h| h.clone()));
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash)).await.map_err(unavailable)?;
        let Some(op) = op.filter(|_| ok) else {
            return Err(AuthError::InvalidCredentials);
        };
        // Only once the password holds does the caller learn why it may not log in.
        self.check_may_act(&op).await?;
        let token = keys::generate("js_");
        let now = now_ms();
        let record = SessionRecord {
            token_hash: keys::hash(&token),
            username: op.username.clone(),
            csrf_token: keys::generate("csrf_"),
            created_at: now,
            expires_at: now + self.ttl_ms,
            operator_epoch: op.session_epoch,
        };
        self.store.put_session(&record).await.map_err(unavailable)?;
        Ok(NewSession { token, record, operator: Operator { username: op.username, association_id: op.association_id } })
    }

    /// The session and operator of a cookie token; expired sessions are deleted.
    pub async fn resolve(&self, token: Option<&str>) -> Result<(SessionRecord, Operator), AuthError> {
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| AuthError::SessionRequired("Authentication required: log in first".into()))?;
        let hash = keys::hash(token);
        let session = self
            .store
            .get_session(&hash)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AuthError::SessionRequired("Session invalid or revoked: log in again".into()))?;
        if session.expires_at <= now_ms() {
            let _ = self.store.delete_session(&hash).await;
            return Err(AuthError::SessionRequired("Session expired: log in again".into()));
        }
        let op = self
            .store
            .get_operator(&session.username)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AuthError::SessionRequired("Session invalid or revoked: log in again".into()))?;
        if op.session_epoch != session.operator_epoch || op.disabled {
            // Revoked by a password reset, a disable or a delete (and re-creation).
            let _ = self.store.delete_session(&hash).await;
            return Err(AuthError::SessionRequired("Session invalid or revoked: log in again".into()));
        }
        self.check_may_act(&op).await?;
        Ok((session, Operator { username: op.username, association_id: op.association_id }))
    }

    /// A disabled operator, or one bound to a deactivated (or deleted) association, may not act.
    async fn check_may_act(&self, op: &OperatorRecord) -> Result<(), AuthError> {
        if op.disabled {
            return Err(AuthError::Forbidden("Operator disabled: ask a super operator to re-enable it".into()));
        }
        if let Some(a) = op.association_id {
            let assoc = self.store.get_association(a).await.map_err(unavailable)?;
            if !assoc.is_some_and(|a| a.is_active) {
                return Err(AuthError::Forbidden(format!("Inactive association: association {a} of this operator is deactivated")));
            }
        }
        Ok(())
    }

    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        self.store.delete_session(&keys::hash(token)).await.map_err(unavailable)
    }
}

/// Constant-time check of the CSRF header against the session's token.
pub fn csrf_matches(session: &SessionRecord, header: Option<&str>) -> bool {
    header.is_some_and(|h| bool::from(h.as_bytes().ct_eq(session.csrf_token.as_bytes())))
}

thread_local! {
    static DUMMY_HASH: String = hash_password("not a real password, for timing only");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert_ne!(h, hash_password("correct horse"), "salted");
    }

    #[test]
    fn scope_rules() {
        let sup = Operator { username: "root".into(), association_id: None };
        let bound = Operator { username: "a".into(), association_id: Some(1) };
        assert_eq!(sup.scope(None).unwrap(), None);
        assert_eq!(sup.scope(Some(2)).unwrap(), Some(2));
        assert_eq!(bound.scope(None).unwrap(), Some(1));
        assert!(bound.scope(Some(2)).is_err());
        assert!(bound.require_association(2).is_err());
        assert!(bound.require_association(1).is_ok());
    }
}
