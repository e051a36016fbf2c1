//! One HTTP/1.1 keep-alive connection on hyper's low-level client, driven inside the task
//! that uses it: no pool, no spawned connection task, so a request costs no cross-task
//! wake-ups. Every CPU microsecond the generator spends is taken from the engine it measures.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use tokio::net::TcpStream;

type Driver = Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// Where to connect and what to send as `Host`, from a base URL like `http://127.0.0.1:8080`.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// `host:port`, for connecting.
    pub addr: String,
    /// The authority, for the `Host` header.
    pub host: String,
    /// The base URL's path without a trailing slash (usually empty).
    pub base_path: String,
}

impl Target {
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let uri: Uri = url.parse().with_context(|| format!("not a URL: {url}"))?;
        if uri.scheme_str() != Some("http") {
            anyhow::bail!("{url}: the load generator speaks plain http:// only");
        }
        let authority = uri.authority().with_context(|| format!("{url}: no host"))?;
        Ok(Target {
            addr: format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80)),
            host: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

pub(super) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: Pin<Box<Driver>>,
}

impl Conn {
    pub async fn open(target: &Target) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(&target.addr).await.with_context(|| format!("connecting to {}", target.addr))?;
        // Requests are small single writes; Nagle would hold them back waiting for an ACK.
        stream.set_nodelay(true)?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream)).await?;
        Ok(Conn { sender, driver: Box::pin(driver) })
    }

    /// Sends one request and reads (and discards) the whole answer, so the connection can
    /// carry the next one; returns the status.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<StatusCode> {
        let sender = &mut self.sender;
        let exchange = async move {
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                frame?;
            }
            Ok(status)
        };
        drive(&mut self.driver, exchange).await
    }

    /// Sends one request and returns the status and the whole body (control-plane reads).
    pub async fn fetch(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<(StatusCode, Bytes)> {
        let sender = &mut self.sender;
        let exchange = async move {
            sender.ready().await?;
            let resp: hyper::Response<Incoming> = sender.send_request(req).await?;
            let status = resp.status();
            Ok((status, resp.into_body().collect().await?.to_bytes()))
        };
        drive(&mut self.driver, exchange).await
    }
}

/// Runs `exchange` while polling the connection that carries it. If the connection ends
/// first (the server closed it, or an I/O error), the exchange gets one last poll: a server
/// that answers and then closes has still answered.
async fn drive<T>(driver: &mut Pin<Box<Driver>>, exchange: impl Future<Output = Result<T, hyper::Error>>) -> anyhow::Result<T> {
    let mut exchange = std::pin::pin!(exchange);
    // The connection first: on a wake-up it reads what arrived, so the exchange polled right
    // after sees the answer in the same poll instead of after another wake-up.
    let ended = tokio::select! {
        biased;
        r = driver.as_mut() => r,
        r = exchange.as_mut() => return Ok(r?),
    };
    let last = std::future::poll_fn(|cx| Poll::Ready(exchange.as_mut().poll(cx))).await;
    match (last, ended) {
        (Poll::Ready(r), _) => Ok(r?),
        (Poll::Pending, Err(e)) => Err(e.into()),
        (Poll::Pending, Ok(())) => anyhow::bail!("the server closed the connection"),
    }
}
