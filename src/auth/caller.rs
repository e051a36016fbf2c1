//! Who is calling, and what they may touch.
//!
//! Two documented schemes:
//! * `x-api-key` + `x-api-secret`: an association's `apiKey` with its `secretKey`; the
//!   super-admin key (or an association's `adminApiKey`) sent in both headers.
//! * `X-API-Key` alone: only keys that are secret on their own: an `adminApiKey` or the
//!   super-admin key. A public `apiKey` alone never authorises anything.
//!
//! Unknown keys and mismatched pairs are `Invalid API key` (401); a valid key of an
//! association whose `allowedIps` do not include the client address is `IP not allowed`
//! (403), checked before activity so a refused address learns nothing more; a valid key of a
//! deactivated association is `Inactive association` (403). The super-admin key is bound by
//! no association's allow-list.

use super::{keys, AdminKey, AuthError, MasterKey};
use crate::store::{AssociationRecord, KeyIndexEntry, KeyKind, SharedStore};
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// The authenticated party of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    SuperAdmin,
    Association { id: i64 },
}

impl Caller {
    pub fn is_super_admin(&self) -> bool {
        matches!(self, Caller::SuperAdmin)
    }

    pub fn require_super_admin(&self) -> Result<(), AuthError> {
        match self {
            Caller::SuperAdmin => Ok(()),
            Caller::Association { .. } => Err(AuthError::Forbidden("Super admin access required".into())),
        }
    }

    /// The super-admin reaches every association; an association only itself.
    pub fn require_association(&self, id: i64) -> Result<(), AuthError> {
        match self {
            Caller::SuperAdmin => Ok(()),
            Caller::Association { id: own } if *own == id => Ok(()),
            Caller::Association { .. } => Err(AuthError::Forbidden("Access denied: these keys belong to another association".into())),
        }
    }
}

pub struct Authenticator {
    store: SharedStore,
    admin: Option<AdminKey>,
    master: MasterKey,
}

impl Authenticator {
    pub fn new(store: SharedStore, admin: Option<AdminKey>, master: MasterKey) -> Self {
        Self { store, admin, master }
    }

    fn is_admin_key(&self, key: &str) -> bool {
        self.admin.as_ref().is_some_and(|a| a.matches(key))
    }

    /// `x-api-key` + `x-api-secret`.
    /// `client_ip`: the request's client address (`None` when unknown), for allow-lists.
    pub async fn key_and_secret(&self, key: Option<&str>, secret: Option<&str>, client_ip: Option<IpAddr>) -> Result<Caller, AuthError> {
        let (Some(key), Some(secret)) = (non_empty(key), non_empty(secret)) else {
            return Err(AuthError::InvalidApiKey);
        };
        if self.is_admin_key(key) {
            return if self.is_admin_key(secret) { Ok(Caller::SuperAdmin) } else { Err(AuthError::InvalidApiKey) };
        }
        let entry = self.store.lookup_key(&keys::hash(key)).await.map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let Some(entry) = entry else { return Err(AuthError::InvalidApiKey) };
        let assoc = self.current_holder(&entry, key).await?;
        let pair_ok = match entry.kind {
            KeyKind::Public => {
                let stored = self.master.open(&assoc.secret_key_sealed).map_err(|e| AuthError::Unavailable(e.to_string()))?;
                bool::from(stored.ct_eq(secret.as_bytes()))
            }
            KeyKind::Admin => bool::from(key.as_bytes().ct_eq(secret.as_bytes())),
        };
        if !pair_ok {
            return Err(AuthError::InvalidApiKey);
        }
        admit(&assoc, client_ip)
    }

    /// `X-API-Key` alone: the super-admin key or an association's `adminApiKey`.
    pub async fn key_only(&self, key: Option<&str>, client_ip: Option<IpAddr>) -> Result<Caller, AuthError> {
        let Some(key) = non_empty(key) else { return Err(AuthError::InvalidApiKey) };
        if self.is_admin_key(key) {
            return Ok(Caller::SuperAdmin);
        }
        let entry = self.store.lookup_key(&keys::hash(key)).await.map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let Some(entry) = entry.filter(|e| e.kind == KeyKind::Admin) else { return Err(AuthError::InvalidApiKey) };
        let assoc = self.current_holder(&entry, key).await?;
        admit(&assoc, client_ip)
    }

    /// The association of an index entry, if `key` is still its current key of that kind:
    /// the index is kept exactly in step with the rows, and this makes a stray index row
    /// (one written before that was so) authorise nothing.
    async fn current_holder(&self, entry: &KeyIndexEntry, key: &str) -> Result<AssociationRecord, AuthError> {
        let assoc = self
            .store
            .get_association(entry.association_id)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?
            .ok_or(AuthError::InvalidApiKey)?;
        let current = match entry.kind {
            KeyKind::Public => &assoc.api_key_hash,
            KeyKind::Admin => &assoc.admin_key_hash,
        };
        if keys::hash(key) != *current {
            return Err(AuthError::InvalidApiKey);
        }
        Ok(assoc)
    }
}

/// The checks after a valid key: the association's IP allow-list, then its activity.
fn admit(assoc: &AssociationRecord, client_ip: Option<IpAddr>) -> Result<Caller, AuthError> {
    if !super::ip::stored_list_allows(&assoc.ip_allowlist, client_ip) {
        metrics::counter!(crate::telemetry::AUTH_IP_DENIED_TOTAL, "scheme" => "api_key").increment(1);
        return Err(AuthError::IpNotAllowed);
    }
    if !assoc.is_active {
        return Err(AuthError::InactiveAssociation);
    }
    Ok(Caller::Association { id: assoc.id })
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}
