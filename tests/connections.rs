//! Slow and partial requests hold nothing: connections that send half a request head are
//! closed by the header-read timeout, connections beyond `server.max_connections` are closed
//! at once, a real client is served meanwhile, and the metrics say so.

mod common;

use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HALF_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: jood\r\nX-Slow: ";

async fn half_headers(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = TcpStream::connect(addr).await.unwrap();
        // The write may fail on a connection the server already closed (over the cap).
        let _ = c.write_all(HALF_HEAD).await;
        out.push(c);
    }
    out
}

/// Waits (bounded, as a liveness guard only) until the server has closed `c`.
async fn closed_by_server(mut c: TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_to_end).await.is_ok()
}

async fn healthz(s: &TestServer) -> u16 {
    reqwest::Client::new().get(s.url("/healthz")).send().await.unwrap().status().as_u16()
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partial_requests_are_cut_and_connections_capped() {
    let s = TestServer::start_with(|c| {
        c.server.header_read_timeout_ms = 1_000;
        c.server.idle_timeout_ms = 500;
        c.server.max_connections = 300;
    })
    .await;
    let addr = s.base.trim_start_matches("http://").to_string();

    // Under the cap: held until the header timeout, a real client served meanwhile.
    let slow = half_headers(&addr, 200).await;
    for _ in 0..5 {
        assert_eq!(healthz(&s).await, 200);
    }
    let closed = futures::future::join_all(slow.into_iter().map(closed_by_server)).await;
    assert!(closed.iter().all(|c| *c), "{} of 200 half-header connections were left open", closed.iter().filter(|c| !**c).count());

    // Over the cap: the excess is closed as accepted, the rest by the timeout; all end.
    let slow = half_headers(&addr, 600).await;
    let closed = futures::future::join_all(slow.into_iter().map(closed_by_server)).await;
    assert!(closed.iter().all(|c| *c), "{} of 600 connections were left open", closed.iter().filter(|c| !**c).count());
    assert_eq!(healthz(&s).await, 200);

    // A kept-alive connection with nothing to do is closed after the idle timeout.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: jood\r\n\r\n").await.unwrap();
    assert!(closed_by_server(idle).await, "an idle keep-alive connection was left open");

    // A fresh client: the shared one's pooled connection was itself closed as idle.
    let text = reqwest::Client::new().get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metric(&text, "jood_http_connections_rejected_total") >= 1.0, "no connection refused over the cap:\n{text}");
    assert!(metric(&text, "jood_http_connections_closed_total{reason=\"header_timeout\"}") >= 200.0, "header timeouts not counted");
    assert!(metric(&text, "jood_http_connections_closed_total{reason=\"idle\"}") >= 1.0, "idle close not counted");
    assert!(metric(&text, "jood_http_connections_open") <= 5.0, "connections still open: {}", metric(&text, "jood_http_connections_open"));
}
