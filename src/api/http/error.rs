//! The one API error type and its mapping to HTTP status codes and the documented envelope
//! `{"success":false,"error":"…","code":"…"}`, and to gRPC status codes (same message).
//! Every layer's error converts here, once. Internal causes are logged, never returned.

use crate::auth::AuthError;
use crate::directory::DirectoryError;
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400: the message says which field and why.
    BadRequest(String),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    MethodNotAllowed,
    Conflict(String),
    /// 422: well-formed but cannot be processed (an idempotency key reused for another request).
    Unprocessable(String),
    PayloadTooLarge(usize),
    /// 502: an upstream the request depends on (Meta's Graph API) refused it or failed.
    BadGateway(String),
    RateLimited { retry_after_s: u64 },
    Unavailable { reason: String, retry_after_s: u64 },
    Internal,
}

impl ApiError {
    pub fn invalid(detail: impl std::fmt::Display) -> Self {
        ApiError::BadRequest(format!("Invalid request: {detail}"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code beside the human-readable `error`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::BadGateway(_) => "upstream_error",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal => "server_error",
        }
    }

    /// The gRPC code of the same failure.
    pub fn grpc_code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            ApiError::BadRequest(_) => Code::InvalidArgument,
            ApiError::Unauthorized(_) => Code::Unauthenticated,
            ApiError::Forbidden(_) => Code::PermissionDenied,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::MethodNotAllowed => Code::Unimplemented,
            ApiError::Conflict(_) => Code::AlreadyExists,
            ApiError::Unprocessable(_) => Code::FailedPrecondition,
            ApiError::PayloadTooLarge(_) | ApiError::RateLimited { .. } => Code::ResourceExhausted,
            ApiError::BadGateway(_) => Code::Unavailable,
            ApiError::Unavailable { .. } => Code::Unavailable,
            ApiError::Internal => Code::Internal,
        }
    }

    fn retry_after_s(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_s } | ApiError::Unavailable { retry_after_s, .. } => Some((*retry_after_s).max(1)),
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::Unprocessable(m)
            | ApiError::BadGateway(m) => m.clone(),
            ApiError::MethodNotAllowed => "Method not allowed on this route".into(),
            ApiError::PayloadTooLarge(limit) => format!("Request body too large: the limit is {limit} bytes"),
            ApiError::RateLimited { .. } => "Rate limited: too many requests, retry after the Retry-After header".into(),
            ApiError::Unavailable { reason, .. } => format!("Service unavailable: {reason}; retry later"),
            ApiError::Internal => "Server error: retry later".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "success": false, "error": self.message(), "code": self.code() });
        let mut resp = (self.status(), axum::Json(body)).into_response();
        if let Some(s) = self.retry_after_s() {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// gRPC: the same message, the matching code, `retry-after` (seconds) in the metadata.
impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let mut status = tonic::Status::new(e.grpc_code(), e.message());
        if let Some(s) = e.retry_after_s() {
            status.metadata_mut().insert("retry-after", tonic::metadata::MetadataValue::from(s));
        }
        status
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidApiKey | AuthError::InvalidCredentials | AuthError::SessionRequired(_) => ApiError::Unauthorized(e.to_string()),
            AuthError::Invalid(m) => ApiError::invalid(m),
            AuthError::NotFound(m) => ApiError::NotFound(m),
            AuthError::Conflict(m) => ApiError::Conflict(m),
            AuthError::InactiveAssociation | AuthError::Forbidden(_) | AuthError::IpNotAllowed => ApiError::Forbidden(e.to_string()),
            AuthError::Unavailable(cause) => {
                tracing::error!(%cause, "authentication backend failed");
                ApiError::Unavailable { reason: "authentication backend unavailable".into(), retry_after_s: 1 }
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::VersionMismatch(what) => ApiError::Conflict(format!("{what} was changed concurrently; retry the request")),
            StoreError::Overloaded => ApiError::Unavailable { reason: "engine overloaded".into(), retry_after_s: 1 },
            StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "store unavailable");
                ApiError::Unavailable { reason: "storage unavailable".into(), retry_after_s: 5 }
            }
            StoreError::Corrupt { .. } | StoreError::Io(_) => {
                tracing::error!(error = %e, "store error");
                ApiError::Internal
            }
        }
    }
}

impl From<crate::ingress::IngressError> for ApiError {
    fn from(e: crate::ingress::IngressError) -> Self {
        use crate::ingress::IngressError as E;
        match e {
            E::Invalid(m) => {
                metrics::counter!(crate::telemetry::INGRESS_REJECTED_TOTAL, "reason" => "invalid").increment(1);
                if m.starts_with("Invalid request") { ApiError::BadRequest(m) } else { ApiError::invalid(m) }
            }
            E::NotFound(m) => ApiError::NotFound(m),
            E::Signature(s) => {
                metrics::counter!(crate::telemetry::INGRESS_REJECTED_TOTAL, "reason" => "signature").increment(1);
                ApiError::Unauthorized(s.to_string())
            }
            E::Inactive => ApiError::Forbidden("Inactive association".into()),
            E::OptedOut(m) => ApiError::Unprocessable(m),
            E::IpNotAllowed => {
                metrics::counter!(crate::telemetry::INGRESS_REJECTED_TOTAL, "reason" => "ip_not_allowed").increment(1);
                ApiError::Forbidden("IP not allowed".into())
            }
            E::Saturated(why) => {
                metrics::counter!(crate::telemetry::INGRESS_REJECTED_TOTAL, "reason" => "saturated").increment(1);
                tracing::warn!(%why, "refusing a send: engine saturated");
                ApiError::Unavailable { reason: "engine saturated".into(), retry_after_s: 1 }
            }
            E::Store(s) => s.into(),
        }
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::NotFound(m) => ApiError::NotFound(m),
            DirectoryError::Conflict(m) => ApiError::Conflict(m),
            DirectoryError::Invalid(m) => ApiError::invalid(m),
            DirectoryError::Inactive => ApiError::Forbidden("Inactive association".into()),
            DirectoryError::Store(s) => s.into(),
            DirectoryError::Sealed(cause) => {
                tracing::error!(%cause, "sealed secret could not be opened");
                ApiError::Internal
            }
        }
    }
}

impl From<crate::links::LinkError> for ApiError {
    fn from(e: crate::links::LinkError) -> Self {
        use crate::links::LinkError as E;
        match e {
            E::Invalid(m) => ApiError::invalid(m),
            E::NotFound | E::AssociationNotFound => ApiError::NotFound(e.to_string()),
            E::Code(cause) => {
                tracing::error!(%cause, "no redirect-link code could be allocated");
                ApiError::Internal
            }
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::callbacks::CallbacksError> for ApiError {
    fn from(e: crate::callbacks::CallbacksError) -> Self {
        match e {
            crate::callbacks::CallbacksError::Invalid(m) => ApiError::invalid(m),
            crate::callbacks::CallbacksError::Store(s) => s.into(),
        }
    }
}
