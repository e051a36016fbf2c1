//! Documentation of the public operational routes (liveness, readiness, metrics, this
//! document) and the provider callback receivers (signed by each provider, verified by
//! `inbound`; no API key).

use super::Success;
use serde_json::Value;

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics, openapi_json, callback_verify, callback_receive))]
pub struct Doc;

#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "Live; `redis` is up, down or not_configured", body = Success<Value>)))]
#[allow(dead_code)]
fn healthz() {}

#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "The store takes durable writes and Redis (if configured) answers", body = Success<Value>)))]
#[allow(dead_code)]
fn readyz() {}

#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
#[allow(dead_code)]
fn metrics() {}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops",
    responses((status = 200, description = "This document", content_type = "application/json", body = Value)))]
#[allow(dead_code)]
fn openapi_json() {}

#[utoipa::path(get, path = "/api/v1/callbacks/{provider}/{credential_id}", tag = "callbacks",
    params(
        ("provider" = String, Path, description = "Provider code (meta, twilio, infobip, …)"),
        ("credential_id" = String, Path, description = "The engine's credential id"),
        ("hub.mode" = Option<String>, Query, description = "Meta: subscribe"),
        ("hub.verify_token" = Option<String>, Query, description = "Meta: the credential's webhook verify token"),
        ("hub.challenge" = Option<String>, Query, description = "Meta: echoed back")),
    responses(
        (status = 200, description = "Meta's webhook verification: the challenge echoed", content_type = "text/plain", body = String),
        (status = 403, description = "Verification failed (wrong verify token or mode)", body = super::Failure)))]
#[allow(dead_code)]
fn callback_verify() {}

#[utoipa::path(post, path = "/api/v1/callbacks/{provider}/{credential_id}", tag = "callbacks",
    params(
        ("provider" = String, Path, description = "Provider code (meta, twilio, infobip, …)"),
        ("credential_id" = String, Path, description = "The engine's credential id"),
        ("X-Twilio-Signature" = Option<String>, Header, description = "Twilio's signature"),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "Meta's signature")),
    request_body(content = Value, description = "The provider's own format (JSON, or form-encoded for Twilio and others)", content_type = "application/json"),
    responses(
        (status = 200, description = "Durably applied (unknown ids are acknowledged and counted)", body = Success<crate::inbound::Receipt>),
        (status = 403, description = "The provider's signature is missing or wrong", body = super::Failure)))]
#[allow(dead_code)]
fn callback_receive() {}
