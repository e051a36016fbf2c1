//! The WhatsApp routes of seed 000 ("WhatsApp Integration"): credentials, templates (with
//! submit, sync, sync-all) and the template, text and media sends. X-API-Key auth as
//! documented: an association's key infers its association; the super-admin names
//! `associationId` (in the body, the query or the path). Handlers translate and delegate to
//! [`crate::whatsapp::WhatsApp`].

use super::extract::{target_association, AnyKeyAuth, IdPath, JsonBody, QueryParams};
use super::{ApiError, AppState, Envelope};
use crate::auth::Caller;
use crate::domain::Timestamp;
use crate::store::{WaButton, WaTemplateRecord};
use crate::whatsapp::{self as wa, WhatsAppError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

impl From<WhatsAppError> for ApiError {
    fn from(e: WhatsAppError) -> Self {
        match e {
            WhatsAppError::Invalid(m) => ApiError::invalid(m),
            WhatsAppError::NotFound(m) => ApiError::NotFound(m),
            WhatsAppError::WindowClosed(m) | WhatsAppError::Rejected(m) => ApiError::Unprocessable(m),
            WhatsAppError::Meta(m) => ApiError::BadGateway(m),
            WhatsAppError::Directory(d) => d.into(),
            WhatsAppError::Ingress(i) => i.into(),
            WhatsAppError::Store(s) => s.into(),
        }
    }
}

/// The association scope of an id-addressed call: `None` (any) for the super-admin.
fn scope(caller: Caller) -> Option<i64> {
    match caller {
        Caller::Association { id } => Some(id),
        Caller::SuperAdmin => None,
    }
}

// ---- credentials ----------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialsBody {
    phone_number_id: String,
    business_account_id: String,
    access_token: String,
    display_phone_number: String,
    verified_name: Option<String>,
    webhook_verify_token: Option<String>,
    app_secret: Option<String>,
    api_url: Option<String>,
    messages_per_second: Option<f64>,
}

pub async fn save_credentials(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(association_id): IdPath<i64>,
    JsonBody(b): JsonBody<CredentialsBody>,
) -> Result<Envelope<Value>, ApiError> {
    caller.require_association(association_id)?;
    let input = wa::CredentialsInput {
        phone_number_id: b.phone_number_id,
        business_account_id: b.business_account_id,
        access_token: b.access_token,
        display_phone_number: b.display_phone_number,
        verified_name: b.verified_name,
        webhook_verify_token: b.webhook_verify_token,
        app_secret: b.app_secret,
        api_url: b.api_url,
        messages_per_second: b.messages_per_second,
    };
    let id = s.whatsapp.save_credentials(association_id, input).await?;
    Ok(Envelope::ok(json!({"id": id, "associationId": association_id})))
}

pub async fn get_credentials(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(association_id): IdPath<i64>,
) -> Result<Envelope<Value>, ApiError> {
    caller.require_association(association_id)?;
    let v = s.whatsapp.credentials(association_id).await?;
    Ok(Envelope::ok(json!({
        "id": v.id,
        "associationId": v.association_id,
        "phoneNumberId": v.phone_number_id,
        "businessAccountId": v.business_account_id,
        "displayPhoneNumber": v.display_phone_number,
        "verifiedName": v.verified_name,
        "hasWebhookVerifyToken": v.has_webhook_verify_token,
        "hasAppSecret": v.has_app_secret,
        "messagesPerSecond": v.messages_per_second,
        "isActive": v.is_active,
        "createdAt": Timestamp(v.created_at),
        "updatedAt": Timestamp(v.updated_at),
    })))
}

// ---- templates ------------------------------------------------------------------------------

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = whatsapp::TemplateView)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView {
    id: i64,
    association_id: i64,
    name: String,
    language: String,
    category: String,
    header_type: String,
    header_content: Option<String>,
    header_media_url: Option<String>,
    body_text: String,
    footer_text: Option<String>,
    buttons: Vec<ButtonBody>,
    variables: Vec<String>,
    sample_values: BTreeMap<String, String>,
    status: String,
    meta_template_id: Option<String>,
    status_reason: Option<String>,
    is_active: bool,
    twilio_content_sid: Option<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    send_info: Option<Value>,
}

impl TemplateView {
    pub(super) fn of(t: WaTemplateRecord, with_send_info: bool) -> Self {
        let send_info = with_send_info.then(|| wa::templates::send_info(&t));
        Self {
            id: t.id,
            association_id: t.association_id,
            name: t.name,
            language: t.language,
            category: t.category,
            header_type: t.header_type,
            header_content: t.header_content,
            header_media_url: t.header_media_url,
            body_text: t.body_text,
            footer_text: t.footer_text,
            buttons: t.buttons.into_iter().map(ButtonBody::from).collect(),
            variables: t.variables,
            sample_values: t.sample_values,
            status: t.status,
            meta_template_id: t.meta_template_id,
            status_reason: t.status_reason,
            is_active: t.is_active,
            twilio_content_sid: t.twilio_content_sid,
            created_at: Timestamp(t.created_at),
            updated_at: Timestamp(t.updated_at),
            send_info,
        }
    }
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ButtonBody {
    #[serde(rename = "type")]
    kind: String,
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
}

impl From<WaButton> for ButtonBody {
    fn from(b: WaButton) -> Self {
        Self { kind: b.kind, text: b.text, url: b.url, phone_number: b.phone_number }
    }
}

impl From<ButtonBody> for WaButton {
    fn from(b: ButtonBody) -> Self {
        Self { kind: b.kind, text: b.text, url: b.url, phone_number: b.phone_number }
    }
}

/// `sampleValues`: strings or numbers by variable name or placeholder number.
fn samples(v: Option<Map<String, Value>>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (k, v) in v.unwrap_or_default() {
        let text = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return Err(ApiError::invalid(format!("sampleValues.{k} must be a string or a number"))),
        };
        out.insert(k, text);
    }
    Ok(out)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTemplateBody {
    association_id: Option<i64>,
    name: String,
    language: String,
    category: String,
    body_text: String,
    header_type: Option<String>,
    header_content: Option<String>,
    header_media_url: Option<String>,
    footer_text: Option<String>,
    #[serde(default)]
    buttons: Vec<ButtonBody>,
    #[serde(default)]
    variables: Vec<String>,
    sample_values: Option<Map<String, Value>>,
    #[serde(default)]
    submit_to_meta: bool,
    twilio_content_sid: Option<String>,
}

pub async fn create_template(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    JsonBody(b): JsonBody<CreateTemplateBody>,
) -> Result<Envelope<TemplateView>, ApiError> {
    let association_id = target_association(caller, b.association_id)?;
    let input = wa::TemplateInput {
        name: b.name,
        language: b.language,
        category: b.category,
        body_text: b.body_text,
        header_type: b.header_type,
        header_content: b.header_content,
        header_media_url: b.header_media_url,
        footer_text: b.footer_text,
        buttons: b.buttons.into_iter().map(WaButton::from).collect(),
        variables: b.variables,
        sample_values: samples(b.sample_values)?,
        twilio_content_sid: b.twilio_content_sid,
    };
    let t = s.whatsapp.create_template(association_id, input, b.submit_to_meta).await?;
    Ok(Envelope::created(TemplateView::of(t, false)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    association_id: Option<i64>,
    status: Option<String>,
    category: Option<String>,
}

pub async fn list_templates(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Envelope<Vec<TemplateView>>, ApiError> {
    let association_id = target_association(caller, q.association_id)?;
    let list = s.whatsapp.list_templates(association_id, q.status.as_deref(), q.category.as_deref()).await?;
    Ok(Envelope::ok(list.into_iter().map(|t| TemplateView::of(t, false)).collect()))
}

pub async fn get_template(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, IdPath(id): IdPath<i64>) -> Result<Envelope<TemplateView>, ApiError> {
    Ok(Envelope::ok(TemplateView::of(s.whatsapp.template(scope(caller), id).await?, true)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTemplateBody {
    name: Option<String>,
    language: Option<String>,
    category: Option<String>,
    body_text: Option<String>,
    header_type: Option<String>,
    header_content: Option<String>,
    header_media_url: Option<String>,
    footer_text: Option<String>,
    buttons: Option<Vec<ButtonBody>>,
    variables: Option<Vec<String>>,
    sample_values: Option<Map<String, Value>>,
    is_active: Option<bool>,
    #[serde(default)]
    submit_to_meta: bool,
    twilio_content_sid: Option<String>,
}

pub async fn update_template(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(id): IdPath<i64>,
    JsonBody(b): JsonBody<UpdateTemplateBody>,
) -> Result<Envelope<TemplateView>, ApiError> {
    let patch = wa::TemplatePatch {
        name: b.name,
        language: b.language,
        category: b.category,
        body_text: b.body_text,
        header_type: b.header_type,
        header_content: b.header_content,
        header_media_url: b.header_media_url,
        footer_text: b.footer_text,
        buttons: b.buttons.map(|v| v.into_iter().map(WaButton::from).collect()),
        variables: b.variables,
        sample_values: b.sample_values.map(|m| samples(Some(m))).transpose()?,
        is_active: b.is_active,
        twilio_content_sid: b.twilio_content_sid,
    };
    let t = s.whatsapp.update_template(scope(caller), id, patch, b.submit_to_meta).await?;
    Ok(Envelope::ok(TemplateView::of(t, false)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteQuery {
    #[serde(default)]
    delete_from_meta: bool,
}

pub async fn delete_template(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(id): IdPath<i64>,
    QueryParams(q): QueryParams<DeleteQuery>,
) -> Result<Envelope<()>, ApiError> {
    s.whatsapp.delete_template(scope(caller), id, q.delete_from_meta).await?;
    Ok(Envelope::done("WhatsApp template deleted successfully"))
}

pub async fn submit_template(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, IdPath(id): IdPath<i64>) -> Result<Envelope<TemplateView>, ApiError> {
    Ok(Envelope::ok(TemplateView::of(s.whatsapp.submit_template(scope(caller), id).await?, false)))
}

pub async fn sync_template(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, IdPath(id): IdPath<i64>) -> Result<Envelope<TemplateView>, ApiError> {
    Ok(Envelope::ok(TemplateView::of(s.whatsapp.sync_template(scope(caller), id).await?, false)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncAllBody {
    association_id: Option<i64>,
}

pub async fn sync_all(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, JsonBody(b): JsonBody<SyncAllBody>) -> Result<Envelope<wa::SyncReport>, ApiError> {
    let association_id = target_association(caller, b.association_id)?;
    Ok(Envelope::ok(s.whatsapp.sync_all(association_id).await?))
}

// ---- sends ------------------------------------------------------------------------------------

/// The documented send answer; `202` with `status: queued` when the provider had not answered
/// within the wait (the message is durable and goes out all the same).
fn send_answer(o: wa::SendOutcome) -> Response {
    let queued = o.provider_message_id.is_none();
    let body = json!({
        "success": true,
        "messageId": o.message_id,
        "status": o.status.as_str(),
        "provider": o.provider,
        "metaMessageId": o.provider_message_id,
        "providerResponse": o.provider_response(),
    });
    let status = if queued { StatusCode::ACCEPTED } else { StatusCode::OK };
    (status, Envelope::ok(body)).into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateSendBody {
    association_id: Option<i64>,
    template_id: i64,
    recipient: String,
    parameters: Option<Map<String, Value>>,
    credential_id: Option<i64>,
}

pub async fn send_template(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, JsonBody(b): JsonBody<TemplateSendBody>) -> Result<Response, ApiError> {
    let association_id = target_association(caller, b.association_id)?;
    let req = wa::TemplateSend {
        association_id,
        template_id: b.template_id,
        recipient: b.recipient,
        parameters: b.parameters.unwrap_or_default(),
        credential_id: b.credential_id,
    };
    Ok(send_answer(s.whatsapp.send_template(req).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TextSendBody {
    association_id: Option<i64>,
    recipient: String,
    message: String,
}

pub async fn send_text(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, JsonBody(b): JsonBody<TextSendBody>) -> Result<Response, ApiError> {
    let association_id = target_association(caller, b.association_id)?;
    Ok(send_answer(s.whatsapp.send_text(wa::TextSend { association_id, recipient: b.recipient, message: b.message }).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediaSendBody {
    association_id: Option<i64>,
    recipient: String,
    media_type: String,
    media_url: String,
    caption: Option<String>,
    filename: Option<String>,
}

pub async fn send_media(State(s): State<AppState>, AnyKeyAuth(caller): AnyKeyAuth, JsonBody(b): JsonBody<MediaSendBody>) -> Result<Response, ApiError> {
    let association_id = target_association(caller, b.association_id)?;
    let req = wa::MediaSend {
        association_id,
        recipient: b.recipient,
        media_type: b.media_type,
        media_url: b.media_url,
        caption: b.caption,
        filename: b.filename,
    };
    Ok(send_answer(s.whatsapp.send_media(req).await?))
}
