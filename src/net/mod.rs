//! The engine's outbound HTTP for the calls made per message: provider sends (one per message,
//! or one per batch) and customer status callbacks (one per status change).
//!
//! One pooled hyper client (HTTP/1.1, and HTTP/2 where the server offers it over TLS) on a
//! rustls connector with the Mozilla roots (`webpki-roots`, the trust store reqwest used here),
//! a connect timeout shorter than the call's, a deadline over the whole exchange and a bound
//! on the answer's size. reqwest stays for describing requests (the adapters' builders) and
//! for the occasional side call; on the per-message path its own layers (the redirect policy
//! although redirects are off, parsing each URL again, a boxed timeout per call) were about a
//! tenth of the engine's instructions per message.
//!
//! A proxy set in the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`) is honoured as
//! before where `ClientOptions::env_proxy` says so (provider calls): the client then makes its
//! calls through reqwest, which implements proxies. Customer callbacks never use one.
//!
//! Depends on no other engine module.

use bytes::Bytes;
use http::header::{HeaderValue, RETRY_AFTER, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves a host name to the addresses a call may connect to (the port is set afterwards).
/// Callbacks give one that refuses non-public addresses (no SSRF through DNS rebinding).
pub type ResolveFn = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<Vec<SocketAddr>, BoxError>> + Send>> + Send + Sync>;

/// How a client is made.
#[derive(Clone)]
pub struct ClientOptions {
    /// Shorter than any call's deadline, so a peer that never accepts the connection is a
    /// connect failure (nothing was sent) rather than a timeout (it may have been).
    pub connect_timeout: Duration,
    pub user_agent: &'static str,
    /// `None`: the system resolver.
    pub resolver: Option<ResolveFn>,
    /// Trust anchors beside the Mozilla roots (DER), for endpoints behind a private CA.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Whether a proxy named in the environment is used. Off for customer callbacks: through
    /// a proxy the resolver would check the proxy's address, not the target's (no SSRF guard).
    pub env_proxy: bool,
}

/// A complete answer: the status, the one header callers read, and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<HeaderValue>,
    pub body: Bytes,
}

/// Why a call has no answer. `Connect`: the request was never sent (refused, unresolvable,
/// TLS handshake failed); the others may have reached the peer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Connect(String),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Failed(String),
    /// The status line arrived, the body was over the limit (and was not read to its end).
    #[error("HTTP {status}: the answer's body is larger than {limit} bytes")]
    TooLarge { limit: usize, status: StatusCode },
}

type Direct = hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>;

/// The pooled client. A clone is one reference count (each call task takes one).
#[derive(Clone)]
pub struct HttpClient(Arc<Inner>);

struct Inner {
    /// `None` when a proxy is configured in the environment: calls then go through `reqwest`.
    direct: Option<Direct>,
    reqwest: reqwest::Client,
    user_agent: HeaderValue,
}

impl HttpClient {
    pub fn new(options: ClientOptions) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent)
            // Nothing the engine calls per message redirects; following one could resend
            // credentials or a signed payload elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(resolve) = &options.resolver {
            builder = builder.dns_resolver(Arc::new(ReqwestResolver(resolve.clone())));
        }
        for der in &options.extra_roots {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(der)?);
        }
        if !options.env_proxy {
            builder = builder.no_proxy();
        }
        let reqwest = builder.build()?;
        let direct = if options.env_proxy && proxy_configured() { None } else { Some(direct_client(&options)?) };
        Ok(Self(Arc::new(Inner { direct, reqwest, user_agent: HeaderValue::from_static(options.user_agent) })))
    }

    /// The reqwest client with the same settings: adapters describe their requests with its
    /// builders, and side calls (status polls, Slack's two-step sends) use it directly.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.0.reqwest
    }

    /// Sends `request` and reads the whole answer (at most `body_limit` bytes), all within
    /// `deadline`.
    pub async fn call(&self, mut request: Request<Bytes>, deadline: Duration, body_limit: usize) -> Result<Answer, CallError> {
        if !request.headers().contains_key(USER_AGENT) {
            request.headers_mut().insert(USER_AGENT, self.0.user_agent.clone());
        }
        let exchange = async {
            match &self.0.direct {
                Some(direct) => call_direct(direct, request, body_limit).await,
                None => self.call_reqwest(request, body_limit).await,
            }
        };
        tokio::time::timeout(deadline, exchange).await.unwrap_or(Err(CallError::Timeout(deadline)))
    }

    async fn call_reqwest(&self, request: Request<Bytes>, body_limit: usize) -> Result<Answer, CallError> {
        let request = reqwest::Request::try_from(request).map_err(|e| CallError::Invalid(error_chain(&e)))?;
        let response = self.0.reqwest.execute(request).await.map_err(|e| transport_error(e.is_connect(), &e))?;
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let too_large = CallError::TooLarge { limit: body_limit, status };
        if response.content_length().is_some_and(|n| n > body_limit as u64) {
            return Err(too_large);
        }
        let body = response.bytes().await.map_err(|e| CallError::Failed(error_chain(&e)))?;
        if body.len() > body_limit {
            return Err(too_large);
        }
        Ok(Answer { status, retry_after, body })
    }
}

async fn call_direct(client: &Direct, request: Request<Bytes>, body_limit: usize) -> Result<Answer, CallError> {
    let response = client.request(request.map(Full::new)).await.map_err(|e| transport_error(e.is_connect(), &e))?;
    let (parts, body) = response.into_parts();
    let retry_after = parts.headers.get(RETRY_AFTER).cloned();
    // A declared length over the bound is refused before anything of the body is read.
    if hyper::body::Body::size_hint(&body).lower() > body_limit as u64 {
        return Err(CallError::TooLarge { limit: body_limit, status: parts.status });
    }
    let body = match Limited::new(body, body_limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(CallError::TooLarge { limit: body_limit, status: parts.status }),
        Err(e) => return Err(CallError::Failed(format!("reading the body failed: {}", error_chain(e.as_ref())))),
    };
    Ok(Answer { status: parts.status, retry_after, body })
}

/// A failed exchange: before the request went out (`connect`), or perhaps after.
fn transport_error(connect: bool, e: &dyn std::error::Error) -> CallError {
    if connect {
        CallError::Connect(error_chain(e))
    } else {
        CallError::Failed(error_chain(e))
    }
}

fn direct_client(options: &ClientOptions) -> anyhow::Result<Direct> {
    let mut http = HttpConnector::new_with_resolver(Resolver(options.resolver.clone()));
    http.set_connect_timeout(Some(options.connect_timeout));
    http.set_nodelay(true);
    // The TLS connector below decides the scheme; plain HTTP stays allowed (the simulator,
    // providers' test endpoints).
    http.enforce_http(false);
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for der in &options.extra_roots {
        roots.add(der.clone())?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().enable_http2().wrap_connector(http);
    Ok(hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https))
}

/// Whether the environment names a proxy (the variables reqwest reads, either case).
fn proxy_configured() -> bool {
    ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// The connector's resolver: the given function, else the system's (`getaddrinfo` off the
/// runtime's threads, as tokio does it). Address literals never reach it.
#[derive(Clone)]
struct Resolver(Option<ResolveFn>);

impl tower::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_owned();
        let custom = self.0.clone();
        Box::pin(async move {
            let addrs = match custom {
                Some(resolve) => resolve(host).await?,
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            Ok(addrs.into_iter())
        })
    }
}

/// The same function as reqwest's resolver (the proxy fallback).
struct ReqwestResolver(ResolveFn);

impl reqwest::dns::Resolve for ReqwestResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let fut = (self.0)(name.as_str().to_owned());
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = Box::new(fut.await?.into_iter());
            Ok(addrs)
        })
    }
}

/// The certificates of a PEM file (`-----BEGIN CERTIFICATE-----` blocks), in DER: extra trust
/// anchors for endpoints behind a private CA. A file without one is an error.
pub fn load_pem_certificates(path: &std::path::Path) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use base64::Engine;
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut certs = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = body.find("-----END CERTIFICATE-----").ok_or_else(|| anyhow::anyhow!("{}: a certificate without its END line", path.display()))?;
        let b64: String = body[..end].chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| anyhow::anyhow!("{}: certificate {} is not base64: {e}", path.display(), certs.len() + 1))?;
        certs.push(rustls::pki_types::CertificateDer::from(der));
        rest = &body[end..];
    }
    anyhow::ensure!(!certs.is_empty(), "{}: no PEM certificate in the file", path.display());
    Ok(certs)
}

/// An error with its causes ("client error (Connect): tcp connect error: Connection refused"):
/// the top-level text alone rarely says what happened (reqwest's is "error sending request").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tls_tests;
