//! `POST/GET /api/v1/whatsapp-credentials/:associationId`: an association's Meta WhatsApp
//! Cloud API credentials, stored as an ordinary provider credential of provider 8 (`meta`),
//! so routing, rate limits, failover and the breaker treat it like any other. Saving again
//! overwrites it. The access token and app secret are sealed at rest and never returned.

use super::{WaResult, WhatsApp, WhatsAppError};
use crate::directory::{CredentialInput, CredentialPatch};
use crate::domain::ProviderKind;
use serde_json::{Map, Value};

pub struct CredentialsInput {
    pub phone_number_id: String,
    pub business_account_id: String,
    pub access_token: String,
    pub display_phone_number: String,
    pub verified_name: Option<String>,
    pub webhook_verify_token: Option<String>,
    /// Beyond the document: the Meta app secret that signs webhooks (`X-Hub-Signature-256`).
    pub app_secret: Option<String>,
    /// Beyond the document: a Graph API base URL with its version (tests, proxies).
    pub api_url: Option<String>,
    /// Beyond the document: the number's throughput tier at Meta, messages per second (1 to
    /// 1,000); dispatch paces this credential at it. Unset: `dispatch.rate_per_second.meta`.
    pub messages_per_second: Option<f64>,
}

pub struct CredentialsView {
    pub id: i64,
    pub association_id: i64,
    pub phone_number_id: String,
    pub business_account_id: String,
    pub display_phone_number: String,
    pub verified_name: Option<String>,
    pub has_webhook_verify_token: bool,
    pub has_app_secret: bool,
    pub messages_per_second: Option<f64>,
    pub is_active: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Meta ids are digit strings; the bound keeps keys and URLs small.
fn meta_id(field: &str, v: &str) -> WaResult<String> {
    let v = v.trim();
    if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WhatsAppError::Invalid(format!("{field} must be Meta's numeric id (1 to 32 digits)")));
    }
    Ok(v.to_owned())
}

fn bounded(field: &str, v: &str, max: usize) -> WaResult<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(WhatsAppError::Invalid(format!("{field} must not be empty")));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(WhatsAppError::Invalid(format!("{field} must be at most {max} characters, without control characters")));
    }
    Ok(v.to_owned())
}

impl WhatsApp {
    /// Saves (or overwrites) the association's WhatsApp credentials; returns the credential id.
    pub async fn save_credentials(&self, association_id: i64, input: CredentialsInput) -> WaResult<i64> {
        let mut fields = Map::new();
        fields.insert("phoneNumberId".into(), meta_id("phoneNumberId", &input.phone_number_id)?.into());
        fields.insert("businessAccountId".into(), meta_id("businessAccountId", &input.business_account_id)?.into());
        fields.insert("accessToken".into(), bounded("accessToken", &input.access_token, 4096)?.into());
        let display = bounded("displayPhoneNumber", &input.display_phone_number, 32)?;
        fields.insert("displayPhoneNumber".into(), display.clone().into());
        for (key, value, max) in [
            ("verifiedName", &input.verified_name, 256),
            ("webhookVerifyToken", &input.webhook_verify_token, 256),
            ("appSecret", &input.app_secret, 256),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                fields.insert(key.into(), bounded(key, v, max)?.into());
            }
        }
        if let Some(r) = input.messages_per_second {
            let max = crate::dispatch::MAX_CREDENTIAL_RATE;
            if !(r.is_finite() && (1.0..=max).contains(&r)) {
                return Err(WhatsAppError::Invalid(format!("messagesPerSecond must be between 1 and {max} (Meta's per-number throughput)")));
            }
            fields.insert("messagesPerSecond".into(), r.into());
        }
        let existing = self.meta_credential(association_id).await?;
        let rec = match existing {
            Some(cred) => {
                let patch = CredentialPatch {
                    sender_name: Some(display),
                    credentials: Some(fields),
                    api_url: Some(input.api_url),
                    is_default: None,
                };
                self.directory.update_credential(association_id, cred.record.id, patch).await?
            }
            None => {
                let input = CredentialInput {
                    provider_id: ProviderKind::MetaWhatsapp.id(),
                    sender_name: display,
                    credentials: fields,
                    api_url: input.api_url,
                    is_default: false,
                };
                self.directory.add_credential(association_id, input).await?
            }
        };
        Ok(rec.id)
    }

    pub async fn credentials(&self, association_id: i64) -> WaResult<CredentialsView> {
        let assoc = self.directory.get_association(association_id).await?;
        let cred = self
            .meta_credential(association_id)
            .await?
            .ok_or_else(|| WhatsAppError::NotFound(format!("No WhatsApp credentials for association {association_id}")))?;
        let opt = |k: &str| cred.fields.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(CredentialsView {
            id: cred.record.id,
            association_id,
            phone_number_id: cred.field("phoneNumberId").to_owned(),
            business_account_id: cred.field("businessAccountId").to_owned(),
            display_phone_number: cred.field("displayPhoneNumber").to_owned(),
            verified_name: opt("verifiedName"),
            has_webhook_verify_token: opt("webhookVerifyToken").is_some(),
            has_app_secret: opt("appSecret").is_some(),
            messages_per_second: cred.fields.get("messagesPerSecond").and_then(Value::as_f64),
            is_active: assoc.is_active,
            created_at: cred.record.created_at,
            updated_at: cred.record.updated_at,
        })
    }
}
