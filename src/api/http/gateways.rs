//! The WhatsApp gateway routes (seeds 001 and 002):
//! * `POST /api/v1/callbacks/wawebgw/{credentialId}`: the WA-Web gateway's events, answered
//!   with the documented `{"status":"success", …}` (`response` / `rejectionMessage` when the
//!   association configured one); 403 when `X-Api-Key` is not the client's key.
//! * `POST /api/v1/whatsapp/check-number` (association X-API-Key): whether a number is on
//!   WhatsApp, through the association's Sidobe credential, cached `gateways.check_number_cache_ms`.
//! * `GET|PUT /api/v1/whatsapp/gateway-settings` (association X-API-Key): the auto-reply and
//!   call-rejection message; GET also lists the gateway credentials with their client health.
//! Handlers translate; the work is in `inbound::waweb` and `providers::sidobe`.

use super::extract::{target_association, AnyKeyAuth, JsonBody};
use super::{ApiError, AppState, Envelope};
use crate::domain::{now_ms, phone, ProviderKind};
use crate::inbound::waweb::{load_settings, save_settings, GatewaySettings};
use crate::inbound::InboundError;
use crate::providers::sidobe::{check_number_request, parse_check_number, UtilityError};
use crate::providers::{ProviderAdapter, ProviderCredential, Sidobe};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

pub async fn waweb_event(State(s): State<AppState>, Path(credential_id): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let credential_id: i64 = credential_id.parse().map_err(|_| ApiError::NotFound(format!("credential `{credential_id}` not found")))?;
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    match s.inbound.receive_waweb(credential_id, key, &body).await {
        Ok(answer) => Ok(Json(answer)),
        Err(e) => {
            tracing::info!(credential = credential_id, error = %e, "gateway event refused");
            Err(match e {
                InboundError::NoReceiver(p) => ApiError::NotFound(format!("No receiver for provider `{p}`")),
                InboundError::Malformed(m) => ApiError::BadRequest(format!("Invalid event: {m}")),
                InboundError::Forbidden(_) => ApiError::Forbidden("Invalid API key".into()),
                InboundError::Unavailable(_) => ApiError::Unavailable { reason: "event not recorded, retry".into(), retry_after_s: 1 },
            })
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckNumberBody {
    association_id: Option<i64>,
    phone: String,
}

pub async fn check_number(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, JsonBody(b): JsonBody<CheckNumberBody>) -> Result<Envelope<Value>, ApiError> {
    let association_id = target_association(caller, b.association_id)?;
    let number = phone::normalise(&b.phone).map_err(|why| ApiError::invalid(format!("phone `{}` {why}", b.phone.chars().take(32).collect::<String>())))?;
    let cache_key = format!("whatsapp.check_number.{association_id}.{}", number.e164);
    let ttl = s.config.gateways.check_number_cache_ms as i64;
    if let Some(bytes) = s.store.get_meta(&cache_key).await? {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            if let (Some(reg), Some(at)) = (v["isRegistered"].as_bool(), v["at"].as_i64()) {
                if now_ms() - at < ttl {
                    return Ok(Envelope::ok(json!({"phone": number.e164, "isRegistered": reg, "cached": true, "checkedAt": at})));
                }
            }
        }
    }
    let creds = s.store.list_credentials(association_id).await?;
    let Some(rec) = creds.into_iter().filter(|c| c.provider_id == ProviderKind::Sidobe.id()).max_by_key(|c| (c.is_default, c.id)) else {
        return Err(ApiError::BadRequest("Invalid request: the association has no Sidobe credential (providerId 9) to check numbers with".into()));
    };
    let fields = s.directory.credentials_of(&rec).map_err(|_| ApiError::Internal)?;
    let base = rec.api_url.clone().unwrap_or_else(|| Sidobe.default_base_url().to_owned());
    let cred = ProviderCredential::new(rec.id, fields, base.trim_end_matches('/').to_owned());
    let req = check_number_request(s.dispatcher.http().reqwest(), &cred, &number.e164).map_err(|e| ApiError::BadRequest(format!("Invalid request: {e}")))?;
    let resp = req.timeout(std::time::Duration::from_secs(15)).send().await.map_err(|e| ApiError::BadGateway(format!("Sidobe did not answer: {e}")))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| ApiError::BadGateway(format!("Sidobe's answer was cut: {e}")))?;
    let registered = parse_check_number(status, &body).map_err(|e| match e {
        UtilityError::Invalid(m) => ApiError::BadRequest(format!("Invalid request: {m}")),
        UtilityError::Credential(m) => ApiError::BadGateway(format!("Sidobe refused the credential: {m}")),
        UtilityError::Unavailable(m) => ApiError::BadGateway(format!("Sidobe could not check the number now: {m}")),
    })?;
    let at = now_ms();
    s.store.put_meta(&cache_key, json!({"isRegistered": registered, "at": at}).to_string().as_bytes()).await?;
    Ok(Envelope::ok(json!({"phone": number.e164, "isRegistered": registered, "cached": false, "checkedAt": at})))
}

/// The settings and, per gateway credential, whether its client can send.
async fn settings_view(s: &AppState, association_id: i64, settings: GatewaySettings) -> Result<Value, ApiError> {
    let creds = s.store.list_credentials(association_id).await?;
    let gateways: Vec<Value> = creds
        .iter()
        .filter(|c| c.provider_id == ProviderKind::WaWebGateway.id() || c.provider_id == ProviderKind::Sidobe.id())
        .map(|c| {
            let down = s.dispatcher.client_down(c.id);
            json!({"credentialId": c.id, "providerId": c.provider_id, "healthy": down.is_none(), "reason": down})
        })
        .collect();
    Ok(json!({"associationId": association_id, "autoReply": settings.auto_reply, "callRejectionMessage": settings.call_rejection_message, "gateways": gateways}))
}

pub async fn get_settings(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, Query(q): Query<HashMap<String, String>>) -> Result<Envelope<Value>, ApiError> {
    let requested = match q.get("associationId") {
        Some(v) => Some(v.parse::<i64>().map_err(|_| ApiError::invalid("associationId must be an integer"))?),
        None => None,
    };
    let association_id = target_association(caller, requested)?;
    let settings = load_settings(&s.store, association_id).await?;
    Ok(Envelope::ok(settings_view(&s, association_id, settings).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsBody {
    association_id: Option<i64>,
    auto_reply: Option<String>,
    call_rejection_message: Option<String>,
}

pub async fn put_settings(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, JsonBody(b): JsonBody<SettingsBody>) -> Result<Envelope<Value>, ApiError> {
    let association_id = target_association(caller, b.association_id)?;
    let clean = |field: &str, v: Option<String>| -> Result<Option<String>, ApiError> {
        match v.filter(|t| !t.trim().is_empty()) {
            Some(t) if t.chars().count() > 4096 => Err(ApiError::invalid(format!("{field} has more than 4096 characters, WhatsApp's limit for a text"))),
            other => Ok(other),
        }
    };
    let settings = GatewaySettings { auto_reply: clean("autoReply", b.auto_reply)?, call_rejection_message: clean("callRejectionMessage", b.call_rejection_message)? };
    save_settings(&s.store, association_id, &settings).await?;
    Ok(Envelope::ok(settings_view(&s, association_id, settings).await?))
}
