//! `/api/v1/redirect-links` (manage short links, X-API-Key) and `GET /r/{code}` (the public
//! redirect). An association's key manages its own links (`associationId` inferred, or named
//! and equal); the super-admin names `associationId` in the body (create, update) or the
//! query. Another association's link is a 404. Handlers translate and delegate to
//! `links::LinkService`.

use super::dashboard::Page;
use super::extract::{AnyKeyAuth, IdPath, JsonBody, QueryParams};
use super::{ApiError, AppState, Envelope};
use crate::auth::Caller;
use crate::domain::Timestamp;
use crate::links::{LinkPatch, NewLink};
use crate::store::LinkRecord;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Highest `page` of a listing (with `limit` at most 100: the first million links).
const MAX_PAGE: usize = 10_000;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    id: i64,
    association_id: i64,
    code: String,
    short_url: String,
    target_url: String,
    name: Option<String>,
    click_count: i64,
    last_clicked_at: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl LinkView {
    pub(super) fn new(l: LinkRecord, base: &str) -> Self {
        Self {
            id: l.id,
            association_id: l.association_id,
            short_url: format!("{base}/r/{}", l.code),
            code: l.code,
            target_url: l.target_url,
            name: l.name,
            click_count: l.click_count,
            last_clicked_at: l.last_clicked_at.map(Timestamp),
            created_at: Timestamp(l.created_at),
            updated_at: Timestamp(l.updated_at),
        }
    }
}

/// A tracked link of a message (`shortenLinks`), as its message's views show it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackedLinkView {
    code: String,
    short_url: String,
    target_url: String,
    click_count: i64,
    last_clicked_at: Option<Timestamp>,
}

/// The tracked links of message `id` with their clicks (none for most messages).
pub(crate) async fn message_links(s: &AppState, headers: &HeaderMap, id: i64) -> Result<Vec<TrackedLinkView>, ApiError> {
    let links = s.links.message_links(id).await?;
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let base = base_url(s, headers);
    Ok(links
        .into_iter()
        .map(|l| TrackedLinkView {
            short_url: format!("{base}/r/{}", l.code),
            code: l.code,
            target_url: l.target_url,
            click_count: l.click_count,
            last_clicked_at: l.last_clicked_at.map(Timestamp),
        })
        .collect())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LinkList {
    items: Vec<LinkView>,
    total: u64,
    page: usize,
    limit: usize,
}

/// Where short URLs point: `server.public_url`, else `http://` and the request's Host (only
/// when it looks like a host, so a forged header cannot inject anything), else a relative URL.
pub(super) fn base_url(s: &AppState, headers: &HeaderMap) -> String {
    let public = s.config.server.public_url.trim_end_matches('/');
    if !public.is_empty() {
        return public.to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let plausible = !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if plausible { format!("http://{host}") } else { String::new() }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    association_id: Option<i64>,
}

/// Which association a call is for: the caller's own, or the one a super-admin names (in
/// the body or the query; both must agree when both are given).
fn association(caller: Caller, body: Option<i64>, query: Option<i64>) -> Result<i64, ApiError> {
    let requested = match (body, query) {
        (Some(b), Some(q)) if b != q => return Err(ApiError::invalid("associationId differs between the body and the query")),
        (b, q) => b.or(q),
    };
    super::extract::target_association(caller, requested)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = links::CreateBody)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    association_id: Option<i64>,
    target_url: String,
    name: Option<String>,
}

pub async fn create(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    headers: HeaderMap,
    QueryParams(q): QueryParams<Scope>,
    JsonBody(b): JsonBody<CreateBody>,
) -> Result<Envelope<LinkView>, ApiError> {
    let assoc = association(caller, b.association_id, q.association_id)?;
    let link = s.links.create(assoc, NewLink { target_url: b.target_url, name: b.name }).await?;
    Ok(Envelope::created(LinkView::new(link, &base_url(&s, &headers))).message("Redirect link created successfully"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    association_id: Option<i64>,
    page: Option<usize>,
    limit: Option<usize>,
}

pub async fn list(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    headers: HeaderMap,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Envelope<LinkList>, ApiError> {
    let assoc = association(caller, None, q.association_id)?;
    let (page, limit) = Page { page: q.page, limit: q.limit }.resolve()?;
    if page > MAX_PAGE {
        return Err(ApiError::invalid(format!("page must be at most {MAX_PAGE}")));
    }
    let (links, total) = s.links.list(assoc, page, limit).await?;
    let base = base_url(&s, &headers);
    let items = links.into_iter().map(|l| LinkView::new(l, &base)).collect();
    Ok(Envelope::ok(LinkList { items, total, page, limit }))
}

pub async fn get(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    headers: HeaderMap,
    IdPath(id): IdPath<i64>,
    QueryParams(q): QueryParams<Scope>,
) -> Result<Envelope<LinkView>, ApiError> {
    let assoc = association(caller, None, q.association_id)?;
    let link = s.links.get(assoc, id).await?;
    Ok(Envelope::ok(LinkView::new(link, &base_url(&s, &headers))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = links::UpdateBody)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    association_id: Option<i64>,
    target_url: Option<String>,
    name: Option<String>,
}

pub async fn update(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    headers: HeaderMap,
    IdPath(id): IdPath<i64>,
    QueryParams(q): QueryParams<Scope>,
    JsonBody(b): JsonBody<UpdateBody>,
) -> Result<Envelope<LinkView>, ApiError> {
    let assoc = association(caller, b.association_id, q.association_id)?;
    let link = s.links.update(assoc, id, LinkPatch { target_url: b.target_url, name: b.name }).await?;
    Ok(Envelope::ok(LinkView::new(link, &base_url(&s, &headers))).message("Redirect link updated successfully"))
}

pub async fn delete(
    State(s): State<AppState>,
    AnyKeyAuth(caller): AnyKeyAuth,
    IdPath(id): IdPath<i64>,
    QueryParams(q): QueryParams<Scope>,
) -> Result<Envelope<()>, ApiError> {
    let assoc = association(caller, None, q.association_id)?;
    s.links.delete(assoc, id).await?;
    Ok(Envelope::done("Redirect link deleted successfully"))
}

/// `GET /r/{code}` (no auth): 302 to the target, the click counted in memory.
pub async fn redirect(State(s): State<AppState>, code: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(code)) = code else { return not_found() };
    match s.links.resolve(&code).await {
        Ok(Some(location)) => {
            let mut resp = StatusCode::FOUND.into_response();
            let h = resp.headers_mut();
            h.insert(header::LOCATION, location);
            // Every click should reach us to be counted.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Ok(None) => not_found(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn not_found() -> Response {
    ApiError::NotFound("Redirect link not found".into()).into_response()
}
