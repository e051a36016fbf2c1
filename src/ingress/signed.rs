//! The HMAC-signed webhook path: signature headers, association lookup, verification
//! against the raw body and its compatible re-serialisations, the association's IP
//! allow-list and activity, replay protection, then the typed request. Order matters: cheap
//! header checks first, the association's secret only for a fresh signature, and no detail
//! about an association before its signature holds.
//!
//! Verification and the replay check are separate steps so the HTTP layer can answer a
//! retried request carrying an idempotency key (possibly the very same signed bytes) with
//! its first answer between the two.

use super::{Accepted, Ingress, IngressError, NewMessage};
use crate::auth::webhook::{self, SignatureError, SignedRequest};
use crate::coord::Coordinator;
use crate::directory::Directory;
use crate::domain::now_ms;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

pub struct SignedIngress {
    pub ingress: Arc<Ingress>,
    directory: Arc<Directory>,
    /// Replay protection (in Redis when configured) when `webhook.reject_replays`.
    replay: Option<Arc<Coordinator>>,
    max_skew_ms: i64,
}

/// A request whose signature, association, client address and activity were checked.
#[derive(Debug)]
pub struct Verified {
    pub association_id: i64,
    /// The parsed body.
    pub value: serde_json::Value,
    signature: [u8; 32],
    timestamp_ms: i64,
}

/// `POST /api/v1/webhook/notification`, as documented.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRequest {
    pub association_id: i64,
    pub recipient: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub template_code: Option<String>,
    #[serde(default)]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub scheduled_at: Option<String>,
    #[serde(default)]
    pub priority: Option<i32>,
    /// Read by the HTTP layer (idempotency); named here so it is a known field.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

impl SignedIngress {
    pub fn new(ingress: Arc<Ingress>, directory: Arc<Directory>, coord: Arc<Coordinator>, reject_replays: bool, max_skew_ms: i64) -> Self {
        Self { ingress, directory, replay: reject_replays.then_some(coord), max_skew_ms }
    }

    /// Checks headers, signature, the IP allow-list and activity; returns the parsed body.
    pub async fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        client_ip: Option<IpAddr>,
    ) -> Result<Verified, IngressError> {
        let now = now_ms();
        let req = SignedRequest { signature, timestamp, body };
        let (ts_ms, sig) = webhook::check_headers(&req, now, self.max_skew_ms)?;
        let value: serde_json::Value = crate::api::http::extract::parse_json(body).map_err(|e| IngressError::Invalid(e.message()))?;
        let association_id = match value.get("associationId") {
            Some(v) => v.as_i64().ok_or_else(|| IngressError::Invalid("Invalid request: field `associationId`: expected an integer".into()))?,
            None => return Err(IngressError::Invalid("Invalid request: missing field `associationId`".into())),
        };
        // An unknown association cannot have signed this: same answer as a bad signature.
        let assoc = match self.directory.get_association(association_id).await {
            Ok(a) => a,
            Err(crate::directory::DirectoryError::NotFound(_)) => return Err(SignatureError::Invalid.into()),
            Err(crate::directory::DirectoryError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(IngressError::Invalid(e.to_string())),
        };
        let secret = self.directory.secret_key(&assoc).map_err(|_| SignatureError::Invalid)?;
        let ts_text = timestamp.unwrap_or_default().trim();
        if !webhook::verify(&secret, ts_text, body, Some(&value), &sig) {
            return Err(SignatureError::Invalid.into());
        }
        if !crate::auth::ip::stored_list_allows(&assoc.ip_allowlist, client_ip) {
            metrics::counter!(crate::telemetry::AUTH_IP_DENIED_TOTAL, "scheme" => "webhook").increment(1);
            return Err(IngressError::IpNotAllowed);
        }
        if !assoc.is_active {
            return Err(IngressError::Inactive);
        }
        Ok(Verified { association_id, value, signature: sig, timestamp_ms: ts_ms })
    }

    /// Accepts each signature once within its window.
    pub async fn check_replay(&self, v: &Verified) -> Result<(), IngressError> {
        if let Some(coord) = &self.replay {
            if !coord.first_use_signature(&v.signature, v.timestamp_ms, now_ms()).await {
                return Err(SignatureError::Replayed.into());
            }
        }
        Ok(())
    }

    /// `POST /api/v1/webhook/notification` after [`Self::verify`] and [`Self::check_replay`].
    pub async fn notification(&self, verified: Verified) -> Result<Accepted, IngressError> {
        let value = verified.value;
        let req: NotificationRequest = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if inner.starts_with("missing field") {
                IngressError::Invalid(format!("Invalid request: {inner}"))
            } else {
                IngressError::Invalid(format!("Invalid request: field `{path}`: {inner}"))
            }
        })?;
        if let Some(code) = req.template_code.as_deref().filter(|c| !c.is_empty()) {
            // Templates are managed per association; none can exist before the templates API.
            return Err(IngressError::NotFound(format!("Template `{code}` not found for association {}", req.association_id)));
        }
        if req.scheduled_at.is_some() {
            return Err(IngressError::Invalid("Invalid request: scheduledAt: scheduled delivery is not available yet".into()));
        }
        let _ = req.data;
        let body = req.message.ok_or_else(|| IngressError::Invalid("Invalid request: missing field `message`".into()))?;
        self.ingress
            .accept(NewMessage {
                association_id: req.association_id,
                recipient: req.recipient,
                body,
                channel: req.channel.unwrap_or_else(|| "sms".into()),
                priority: req.priority.unwrap_or(0),
                credential_id: None,
            })
            .await
            .map_err(|e| match e {
                IngressError::Invalid(m) if !m.starts_with("Invalid request") => IngressError::Invalid(format!("Invalid request: {m}")),
                other => other,
            })
    }
}
