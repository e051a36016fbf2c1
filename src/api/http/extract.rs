//! Extractors that turn requests into typed input or an [`ApiError`] naming what is wrong:
//! JSON bodies (malformed JSON, wrong types, missing fields, oversized bodies), integer
//! path parameters, and the two API-key schemes producing a [`Caller`] (checked against the
//! association's IP allow-list with the request's client address).

use super::{ApiError, AppState};
use crate::auth::Caller;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON body, parsed with errors that name the offending field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(state.config.server.body_limit_bytes)
            } else {
                ApiError::invalid(format!("could not read the request body: {}", rej.body_text()))
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON object body, reporting the field path for type errors and missing fields
/// (the parsing itself is ingress's, [`crate::ingress::json`]; this maps it to a 400).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::ingress::json::parse(bytes).map_err(ApiError::invalid)
}

/// [`parse_json`] for types that borrow from the body (raw slices of a large request).
pub fn parse_json_borrowed<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    crate::ingress::json::parse_borrowed(bytes).map_err(ApiError::invalid)
}

/// An integer path parameter (or a tuple of them) with a 400 naming the bad one.
pub struct IdPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for IdPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(IdPath(v)),
            Err(rej) => Err(ApiError::invalid(format!("path parameter: {}", rej.body_text()))),
        }
    }
}

/// Query-string parameters with a 400 naming the bad one.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryParams(v)),
            Err(rej) => Err(ApiError::invalid(format!("query string: {}", rej.body_text()))),
        }
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The client address (for association allow-lists), resolved by `protect::resolve_client_ip`.
fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts.extensions.get::<super::protect::ClientIp>().and_then(|c| c.0)
}

/// `x-api-key` + `x-api-secret` (association management).
pub struct KeyAuth(pub Caller);

impl FromRequestParts<AppState> for KeyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = state.auth.key_and_secret(header(parts, "x-api-key"), header(parts, "x-api-secret"), client_ip(parts)).await?;
        Ok(KeyAuth(caller))
    }
}

/// `X-API-Key` alone: an `adminApiKey` or the super-admin key (redirect links, WhatsApp).
pub struct AdminKeyAuth(pub Caller);

impl FromRequestParts<AppState> for AdminKeyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(AdminKeyAuth(state.auth.key_only(header(parts, "x-api-key"), client_ip(parts)).await?))
    }
}

/// Either scheme: the key pair when a secret is sent, the key alone otherwise.
pub struct AnyKeyAuth(pub Caller);

impl FromRequestParts<AppState> for AnyKeyAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = header(parts, "x-api-key");
        let caller = match header(parts, "x-api-secret") {
            Some(secret) => state.auth.key_and_secret(key, Some(secret), client_ip(parts)).await?,
            None => state.auth.key_only(key, client_ip(parts)).await?,
        };
        Ok(AnyKeyAuth(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Req {
        id: i64,
        name: String,
        allowed_domains: Option<Vec<String>>,
    }

    fn err(body: &str) -> String {
        parse_json::<Req>(body.as_bytes()).unwrap_err().message()
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(err(r#"{"name":"x"}"#), "Invalid request: missing field `id`");
        assert_eq!(err(r#"{"id":"7","name":"x"}"#), "Invalid request: field `id`: invalid type: string \"7\", expected i64");
        assert_eq!(
            err(r#"{"id":7,"name":"x","allowedDomains":["a",3]}"#),
            "Invalid request: field `allowedDomains[1]`: invalid type: integer `3`, expected a string"
        );
        assert!(err(r#"{"id":7,"#).starts_with("Invalid request: malformed JSON"));
        assert!(err("").contains("empty"));
        assert!(err(r#"{"id":7,"name":"x"} trailing"#).contains("malformed JSON"));
        assert_eq!(err("[1,2]"), "Invalid request: request body must be a JSON object");
    }
}

/// Which association a call is for: the caller's own (a named one must be it: another is
/// 403), or the one the super-admin names (required: 400). The one rule of every route that
/// takes `associationId` in its body or query (templates, WhatsApp, redirect links).
pub fn target_association(caller: Caller, requested: Option<i64>) -> Result<i64, ApiError> {
    match (caller, requested) {
        (Caller::Association { id }, None) => Ok(id),
        (Caller::Association { id }, Some(r)) if r == id => Ok(id),
        (Caller::Association { .. }, Some(_)) => Err(ApiError::Forbidden("Access denied: these keys belong to another association".into())),
        (Caller::SuperAdmin, Some(r)) => Ok(r),
        (Caller::SuperAdmin, None) => Err(ApiError::invalid("associationId is required for super-admin keys")),
    }
}
