//! Builds the signed webhook requests. Body, timestamp and signature are written into one
//! reused buffer and split off as shared `Bytes` (the header values and the body point into
//! it): once hyper has written a request and dropped it, the buffer reclaims the space, so a
//! request costs no heap allocation beyond hyper's own.

use super::conn::Target;
use crate::auth::webhook::Signer;
use bytes::{Bytes, BytesMut};
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use std::fmt::Write;

/// Room for a body, a timestamp and a signature; reserved before each request so the buffer
/// is reclaimed (or regrown) in one step.
const PER_REQUEST: usize = 512;

static TIMESTAMP: HeaderName = HeaderName::from_static("x-webhook-timestamp");
static SIGNATURE: HeaderName = HeaderName::from_static("x-webhook-signature");

pub(super) struct RequestMaker {
    signer: Signer,
    association_id: i64,
    uri: Uri,
    host: HeaderValue,
    buf: BytesMut,
}

impl RequestMaker {
    pub fn new(target: &Target, association_id: i64, secret: &str) -> anyhow::Result<RequestMaker> {
        Ok(RequestMaker {
            signer: Signer::new(secret.as_bytes()),
            association_id,
            uri: format!("{}/api/v1/webhook/notification", target.base_path).parse()?,
            host: HeaderValue::from_str(&target.host)?,
            buf: BytesMut::with_capacity(64 * PER_REQUEST),
        })
    }

    /// Request number `n`: a unique body (the counter is in the recipient and the message)
    /// and a fresh timestamp, so each is uniquely signed and passes replay protection.
    pub fn make(&mut self, n: u64) -> anyhow::Result<Request<Full<Bytes>>> {
        self.buf.reserve(PER_REQUEST);
        // Valid Saudi mobile numbers that never end in 0000 (the simulator's invalid rule).
        write!(
            self.buf,
            r#"{{"associationId":{},"recipient":"+96650{:06}{}","message":"Your code is {n}"}}"#,
            self.association_id,
            n % 1_000_000,
            1 + n % 9
        )?;
        let body = self.buf.split().freeze();
        write!(self.buf, "{}", crate::domain::now_ms())?;
        let timestamp = self.buf.split().freeze();
        let mut sig = [0u8; 64];
        self.signer.sign_into(&timestamp, &body, &mut sig);
        self.buf.extend_from_slice(&sig);
        let signature = self.buf.split().freeze();

        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(TIMESTAMP.clone(), HeaderValue::from_maybe_shared(timestamp)?);
        h.insert(SIGNATURE.clone(), HeaderValue::from_maybe_shared(signature)?);
        Ok(req)
    }
}

/// `GET {base}{path}` with an empty body (the simulator's control plane).
pub(super) fn get(target: &Target, path: &str) -> anyhow::Result<Request<Full<Bytes>>> {
    Ok(Request::get(format!("{}{path}", target.base_path)).header(HOST, target.host.as_str()).body(Full::new(Bytes::new()))?)
}
