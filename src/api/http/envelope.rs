//! The documented success envelope: `{"success":true,"data":…,"message":…}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub struct Envelope<T> {
    status: StatusCode,
    data: Option<T>,
    message: Option<&'static str>,
}

impl<T: Serialize> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Self { status: StatusCode::OK, data: Some(data), message: None }
    }

    pub fn created(data: T) -> Self {
        Self { status: StatusCode::CREATED, data: Some(data), message: None }
    }

    pub fn message(mut self, message: &'static str) -> Self {
        self.message = Some(message);
        self
    }
}

impl Envelope<()> {
    /// A success with only a message (e.g. deletions).
    pub fn done(message: &'static str) -> Self {
        Self { status: StatusCode::OK, data: None, message: Some(message) }
    }
}

#[derive(Serialize)]
struct Body<'a, T> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        let body = Body { success: true, data: self.data.as_ref(), message: self.message };
        (self.status, axum::Json(body)).into_response()
    }
}
