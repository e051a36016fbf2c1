//! Provider credentials of an association: schema-checked against the provider catalogue,
//! sealed at rest, at most one default per association.

use super::{retry_cas, DirResult, Directory, DirectoryError, Expect};
use crate::domain::{now_ms, ProviderKind};
use crate::store::CredentialRecord;
use serde_json::{Map, Value};

pub struct CredentialInput {
    pub provider_id: i64,
    pub sender_name: String,
    pub credentials: Map<String, Value>,
    pub api_url: Option<String>,
    pub is_default: bool,
}

#[derive(Default)]
pub struct CredentialPatch {
    pub sender_name: Option<String>,
    pub credentials: Option<Map<String, Value>>,
    /// `Some(None)` clears the override (JSON `null`).
    pub api_url: Option<Option<String>>,
    pub is_default: Option<bool>,
}

impl Directory {
    pub async fn list_credentials(&self, association_id: i64) -> DirResult<Vec<CredentialRecord>> {
        self.get_association(association_id).await?;
        Ok(self.store.list_credentials(association_id).await?)
    }

    pub async fn get_credential(&self, association_id: i64, id: i64) -> DirResult<CredentialRecord> {
        self.store
            .get_credential(association_id, id)
            .await?
            .ok_or_else(|| DirectoryError::NotFound(format!("Credential {id} not found for association {association_id}")))
    }

    pub async fn add_credential(&self, association_id: i64, input: CredentialInput) -> DirResult<CredentialRecord> {
        self.get_association(association_id).await?;
        let provider = ProviderKind::from_id(input.provider_id).ok_or_else(|| {
            DirectoryError::Invalid(format!(
                "providerId {} is not a known provider (1..=7, see GET /api/v1/providers)",
                input.provider_id
            ))
        })?;
        provider.check_credentials(&input.credentials).map_err(DirectoryError::Invalid)?;
        let now = now_ms();
        let rec = CredentialRecord {
            association_id,
            id: self.ids.next_id(),
            provider_id: input.provider_id,
            sender_name: validate_sender(&input.sender_name)?,
            credentials_sealed: self.seal_credentials(&input.credentials),
            api_url: validate_api_url(input.api_url)?,
            is_default: input.is_default,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        retry_cas!({ self.save_with_default_rule(rec.clone(), Expect::Absent).await })
    }

    pub async fn update_credential(&self, association_id: i64, id: i64, patch: CredentialPatch) -> DirResult<CredentialRecord> {
        // Validate (and seal) once; the read-modify-write below retries on a lost race.
        let sender = patch.sender_name.as_deref().map(validate_sender).transpose()?;
        let api_url = match patch.api_url {
            Some(url) => Some(validate_api_url(url)?),
            None => None,
        };
        retry_cas!({
            let mut rec = self.get_credential(association_id, id).await?;
            let expected = rec.version;
            let provider = ProviderKind::from_id(rec.provider_id)
                .ok_or_else(|| DirectoryError::Invalid(format!("stored providerId {} is unknown", rec.provider_id)))?;
            if let Some(name) = &sender {
                rec.sender_name = name.clone();
            }
            if let Some(creds) = &patch.credentials {
                provider.check_credentials(creds).map_err(DirectoryError::Invalid)?;
                rec.credentials_sealed = self.seal_credentials(creds);
            }
            if let Some(url) = &api_url {
                rec.api_url = url.clone();
            }
            if let Some(d) = patch.is_default {
                rec.is_default = d;
            }
            rec.updated_at = now_ms().max(rec.updated_at);
            self.save_with_default_rule(rec, Expect::Version(expected)).await
        })
    }

    /// Compare-and-set on the version read: a delete racing an update either wins (the
    /// update then finds nothing: 404) or re-reads the updated row and deletes that.
    pub async fn delete_credential(&self, association_id: i64, id: i64) -> DirResult<()> {
        self.get_association(association_id).await?;
        retry_cas!({
            let rec = self.get_credential(association_id, id).await?;
            if self.store.delete_credential(association_id, id, rec.version).await? {
                Ok(())
            } else {
                Err(DirectoryError::NotFound(format!("Credential {id} not found for association {association_id}")))
            }
        })
    }

    /// The provider credentials object, unsealed (for the provider adapters).
    pub fn credentials_of(&self, rec: &CredentialRecord) -> DirResult<Map<String, Value>> {
        let bytes = self.master.open(&rec.credentials_sealed).map_err(|e| DirectoryError::Sealed(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| DirectoryError::Sealed(e.to_string()))
    }

    fn seal_credentials(&self, creds: &Map<String, Value>) -> Vec<u8> {
        self.master.seal(&serde_json::to_vec(creds).expect("JSON map serialises"))
    }

    /// Saves `rec`; when it is the default, the previous default loses the flag in the
    /// same commit.
    /// Every row written is compare-and-set on the version read.
    async fn save_with_default_rule(&self, mut rec: CredentialRecord, expect: Expect) -> DirResult<CredentialRecord> {
        let mut batch = Vec::new();
        if rec.is_default {
            for mut other in self.store.list_credentials(rec.association_id).await? {
                if other.id != rec.id && other.is_default {
                    let expected = Expect::Version(other.version);
                    other.is_default = false;
                    other.updated_at = now_ms();
                    batch.push((other, expected));
                }
            }
        }
        rec.version = expect.next_version();
        batch.push((rec.clone(), expect));
        self.store.put_credentials(&batch).await?;
        Ok(rec)
    }
}

fn validate_sender(name: &str) -> DirResult<String> {
    let name = crate::domain::input::name("senderName", name, 64)?;
    if name.is_empty() {
        return Err(DirectoryError::Invalid("senderName must not be empty".into()));
    }
    if name.chars().count() > 64 {
        return Err(DirectoryError::Invalid("senderName must be at most 64 characters".into()));
    }
    Ok(name.to_string())
}

fn validate_api_url(url: Option<String>) -> DirResult<Option<String>> {
    let Some(url) = url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()) else { return Ok(None) };
    if url.len() > 2048 {
        return Err(DirectoryError::Invalid("apiUrl must be at most 2048 characters".into()));
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !url.contains(char::is_whitespace) => Ok(Some(url)),
        _ => Err(DirectoryError::Invalid(format!("apiUrl `{url}` must be an absolute http:// or https:// URL"))),
    }
}
