//! The directory: associations and their provider credentials.
//!
//! The management rules behind `/api/v1/associations…`: key generation and rotation,
//! sealing of secrets, the single-default-credential rule, the provider credential schema.
//! Depends on `auth` (keys, sealing), `store` and `domain`; knows nothing of HTTP.

mod allocations;
mod credentials;
pub mod opt_outs;
mod signing;
mod templates;

pub use allocations::{AllocationInput, AllocationPatch};
pub use credentials::{CredentialInput, CredentialPatch};
pub use signing::SigningIdentity;
pub use templates::{TemplateInput, TemplatePatch};

use crate::auth::{keys, MasterKey};
use crate::domain::{now_ms, IdGenerator};
use crate::store::{AssociationRecord, KeyIndexEntry, KeyKind, SharedStore, StoreError};
pub(crate) use crate::store::Expect;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("sealed secret unreadable: {0}")]
    Sealed(String),
    /// The association is deactivated: nothing may be sent for it.
    #[error("Inactive association")]
    Inactive,
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => DirectoryError::Conflict(format!("{what}; ids must be unique")),
            other => DirectoryError::Store(other),
        }
    }
}

impl From<crate::domain::input::InputError> for DirectoryError {
    fn from(e: crate::domain::input::InputError) -> Self {
        DirectoryError::Invalid(e.to_string())
    }
}

pub type DirResult<T> = Result<T, DirectoryError>;

pub struct NewAssociation {
    pub id: i64,
    pub name: String,
    pub allowed_domains: Vec<String>,
}

#[derive(Default)]
pub struct AssociationPatch {
    pub name: Option<String>,
    pub allowed_domains: Option<Vec<String>>,
    pub is_active: Option<bool>,
    /// Replaces the IP allow-list (addresses and CIDR ranges; empty allows any address).
    /// Who may set it is the caller's business (the API allows the super-admin only).
    pub allowed_ips: Option<Vec<String>>,
    /// `Some(None)` clears the status callback URL; the URL is checked by the caller
    /// against the callback target policy (`callbacks::TargetPolicy`).
    pub status_callback_url: Option<Option<String>>,
    /// `Some(None)` returns its messages to the engine's default validity period; the range
    /// is checked by the caller (it knows `delivery.max_validity_secs`).
    pub validity_period_secs: Option<Option<u32>>,
    /// SMS rules (`maxSegments`, smart encoding, quiet hours, the opt-out bypass).
    pub sms: crate::domain::sms_policy::SmsPatch,
}

/// An association as created, with its keys in clear: the only time they are shown.
pub struct CreatedAssociation {
    pub record: AssociationRecord,
    pub api_key: String,
    pub secret_key: String,
    pub admin_api_key: String,
}

#[derive(Debug, Default)]
pub struct RotatedKeys {
    pub api_key: Option<String>,
    pub secret_key: Option<String>,
    pub admin_api_key: Option<String>,
}

pub struct Directory {
    store: SharedStore,
    master: MasterKey,
    ids: Arc<IdGenerator>,
    signing: signing::SigningCache,
    /// Told of every association write through this node (caches elsewhere drop the entry).
    listeners: parking_lot::RwLock<Vec<Arc<dyn Fn(i64) + Send + Sync>>>,
}

const MAX_DOMAINS: usize = 100;

impl Directory {
    pub fn new(store: SharedStore, master: MasterKey, ids: Arc<IdGenerator>) -> Self {
        Self { store, master, ids, signing: Default::default(), listeners: Default::default() }
    }

    pub async fn create_association(&self, input: NewAssociation) -> DirResult<CreatedAssociation> {
        if input.id < 1 {
            return Err(DirectoryError::Invalid("id must be a positive integer".into()));
        }
        let name = validate_name(&input.name)?;
        let domains = validate_domains(input.allowed_domains)?;
        let api_key = keys::generate(keys::PUBLIC_PREFIX);
        let secret_key = keys::generate(keys::SECRET_PREFIX);
        let admin_api_key = keys::generate(keys::ADMIN_PREFIX);
        let now = now_ms();
        let record = AssociationRecord {
            id: input.id,
            name,
            allowed_domains: domains,
            is_active: true,
            version: 1,
            api_key_hash: keys::hash(&api_key),
            admin_key_hash: keys::hash(&admin_api_key),
            secret_key_sealed: self.master.seal(secret_key.as_bytes()),
            ip_allowlist: Vec::new(),
            status_callback_url: None,
            validity_period_secs: None,
            sms: Default::default(),
            created_at: now,
            updated_at: now,
        };
        let index = [
            KeyIndexEntry { key_hash: record.api_key_hash.clone(), association_id: record.id, kind: KeyKind::Public },
            KeyIndexEntry { key_hash: record.admin_key_hash.clone(), association_id: record.id, kind: KeyKind::Admin },
        ];
        self.store.create_association(&record, &index).await.map_err(|e| match e {
            StoreError::Conflict(_) => DirectoryError::Conflict(format!("Association with id {} already exists", input.id)),
            other => other.into(),
        })?;
        Ok(CreatedAssociation { record, api_key, secret_key, admin_api_key })
    }

    pub async fn get_association(&self, id: i64) -> DirResult<AssociationRecord> {
        self.store.get_association(id).await?.ok_or_else(|| association_not_found(id))
    }

    /// Every association, in id order (the table is small: one row per customer).
    pub async fn list_associations(&self) -> DirResult<Vec<AssociationRecord>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.list_associations(after, 500).await?;
            let done = page.len() < 500;
            after = page.last().map(|a| a.id);
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// A read-modify-write made linearizable: the write is compare-and-set on the version
    /// read, retried (bounded) when another write came between.
    pub async fn update_association(&self, id: i64, patch: AssociationPatch) -> DirResult<AssociationRecord> {
        // Validate once, before any read: the patch does not depend on the row.
        let name = patch.name.as_deref().map(validate_name).transpose()?;
        let domains = patch.allowed_domains.map(validate_domains).transpose()?;
        patch.sms.validate().map_err(DirectoryError::Invalid)?;
        let ips = match patch.allowed_ips {
            Some(ips) => Some(crate::auth::ip::IpAllowList::parse(&ips).map_err(DirectoryError::Invalid)?.to_strings()),
            None => None,
        };
        let rec = retry_cas!({
            let mut rec = self.get_association(id).await?;
            let expected = rec.version;
            if let Some(name) = &name {
                rec.name = name.clone();
            }
            if let Some(domains) = &domains {
                rec.allowed_domains = domains.clone();
            }
            if let Some(active) = patch.is_active {
                rec.is_active = active;
            }
            if let Some(ips) = &ips {
                rec.ip_allowlist = ips.clone();
            }
            if let Some(url) = &patch.status_callback_url {
                rec.status_callback_url = url.clone();
            }
            if let Some(v) = patch.validity_period_secs {
                rec.validity_period_secs = v;
            }
            patch.sms.apply(&mut rec.sms);
            rec.updated_at = now_ms().max(rec.updated_at);
            rec.version = expected + 1;
            self.store.update_association(&rec, expected).await?;
            Ok(rec)
        });
        self.invalidate(id);
        rec
    }

    /// Calls `f` with the id of every association written through this node, after the write.
    pub fn on_association_change(&self, f: Arc<dyn Fn(i64) + Send + Sync>) {
        self.listeners.write().push(f);
    }

    fn invalidate(&self, id: i64) {
        self.signing.invalidate(id);
        for f in self.listeners.read().iter() {
            f(id);
        }
    }

    /// New keys replace old ones in one commit: the old ones stop working at once. The
    /// store removes the index rows of the keys of the row it actually replaced.
    pub async fn rotate_keys(&self, id: i64, api: bool, secret: bool, admin: bool) -> DirResult<RotatedKeys> {
        if !(api || secret || admin) {
            return Err(DirectoryError::Invalid(
                "nothing to rotate: set rotateApiKey and/or rotateSecretKey (or rotateAdminApiKey) to true".into(),
            ));
        }
        let out = retry_cas!({
            let mut rec = self.get_association(id).await?;
            let expected = rec.version;
            let mut out = RotatedKeys::default();
            if api {
                let k = keys::generate(keys::PUBLIC_PREFIX);
                rec.api_key_hash = keys::hash(&k);
                out.api_key = Some(k);
            }
            if admin {
                let k = keys::generate(keys::ADMIN_PREFIX);
                rec.admin_key_hash = keys::hash(&k);
                out.admin_api_key = Some(k);
            }
            if secret {
                let k = keys::generate(keys::SECRET_PREFIX);
                rec.secret_key_sealed = self.master.seal(k.as_bytes());
                out.secret_key = Some(k);
            }
            rec.updated_at = now_ms().max(rec.updated_at);
            rec.version = expected + 1;
            self.store.update_association(&rec, expected).await?;
            Ok(out)
        });
        self.invalidate(id);
        out
    }

    /// The association if it exists and is active: the one check every path that sends
    /// makes (dashboard sends, campaigns, the webhook's ingress), read from the store (not
    /// the signing cache) so a deactivation acknowledged a moment ago holds.
    pub async fn require_active(&self, id: i64) -> DirResult<AssociationRecord> {
        require_active(self.store.as_ref(), id).await
    }

    /// The association and its unsealed secret, for webhook verification; cached for
    /// [`signing::SIGNING_CACHE_TTL`] and dropped at once by changes made through this node.
    pub async fn signing_identity(&self, id: i64) -> DirResult<Arc<SigningIdentity>> {
        if let Some(identity) = self.signing.get(id) {
            return Ok(identity);
        }
        let generation = self.signing.generation();
        let record = self.get_association(id).await?;
        let secret = self.secret_key(&record)?;
        let identity = Arc::new(SigningIdentity { record, secret });
        self.signing.put(id, identity.clone(), generation);
        Ok(identity)
    }

    /// The association's HMAC secret key, unsealed (webhook signature verification).
    pub fn secret_key(&self, rec: &AssociationRecord) -> DirResult<Vec<u8>> {
        self.master.open(&rec.secret_key_sealed).map_err(|e| DirectoryError::Sealed(e.to_string()))
    }
}

/// [`Directory::require_active`] for layers that hold only the store (ingress).
pub async fn require_active(store: &dyn crate::store::Store, id: i64) -> DirResult<AssociationRecord> {
    let rec = store.get_association(id).await?.ok_or_else(|| association_not_found(id))?;
    if rec.is_active {
        Ok(rec)
    } else {
        Err(DirectoryError::Inactive)
    }
}

/// How many times a read-modify-write is retried when its compare-and-set loses a race.
const CAS_ATTEMPTS: u32 = 32;

/// Runs a block (a read, a change, a compare-and-set write; `?` allowed, `DirResult` out)
/// until its write holds: a `VersionMismatch` means another write came between, so it
/// re-reads and re-applies. Bounded: past [`CAS_ATTEMPTS`] the caller gets a 409.
macro_rules! retry_cas {
    ($body:block) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let r: $crate::directory::DirResult<_> = async $body.await;
            if let Some(r) = $crate::directory::cas_outcome(r, attempt).await {
                break r;
            }
        }
    }};
}
pub(crate) use retry_cas;

/// What [`retry_cas!`] does with one attempt's result: `None` to try again.
pub(crate) async fn cas_outcome<T>(r: DirResult<T>, attempt: u32) -> Option<DirResult<T>> {
    match r {
        Err(DirectoryError::Store(StoreError::VersionMismatch(what))) => {
            metrics::counter!(crate::telemetry::DIRECTORY_CAS_RETRIES_TOTAL).increment(1);
            if attempt >= CAS_ATTEMPTS {
                return Some(Err(DirectoryError::Conflict(format!("{what} was changed concurrently too often; retry the request"))));
            }
            // A little jitter so racing writers do not collide again in step.
            let mut b = [0u8; 1];
            let _ = getrandom::fill(&mut b);
            tokio::time::sleep(std::time::Duration::from_micros(u64::from(b[0]) * u64::from(attempt.min(8)) * 4)).await;
            None
        }
        other => Some(other),
    }
}

fn association_not_found(id: i64) -> DirectoryError {
    DirectoryError::NotFound(format!("Association {id} not found"))
}

fn validate_name(name: &str) -> DirResult<String> {
    let name = crate::domain::input::name("name", name, crate::domain::input::MAX_NAME_CHARS)?;
    if name.is_empty() {
        return Err(DirectoryError::Invalid("name must not be empty".into()));
    }
    Ok(name.to_string())
}

fn validate_domains(domains: Vec<String>) -> DirResult<Vec<String>> {
    if domains.len() > MAX_DOMAINS {
        return Err(DirectoryError::Invalid(format!("allowedDomains may list at most {MAX_DOMAINS} domains")));
    }
    let mut out: Vec<String> = Vec::with_capacity(domains.len());
    for (i, d) in domains.into_iter().enumerate() {
        if d.len() > 1024 {
            return Err(DirectoryError::Invalid(format!("allowedDomains[{i}] must be at most 253 characters")));
        }
        let d = d.trim().to_ascii_lowercase();
        let valid = !d.is_empty()
            && d.len() <= 253
            && d.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*'));
        if !valid {
            return Err(DirectoryError::Invalid(format!("allowedDomains[{i}] `{d}` is not a domain name")));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}
