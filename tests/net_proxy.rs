//! The outbound client and a proxy named in the environment (`HTTP_PROXY`). Its own test
//! binary with one test: the environment is the process's, so nothing else may run beside it.
//!
//! Provider calls go through the proxy (as reqwest always did for them); customer callbacks
//! never do, since through a proxy the SSRF resolver would check the proxy's address and the
//! proxy would connect to whatever the callback URL names.

use bytes::Bytes;
use jood::net::{ClientOptions, HttpClient};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every request with `status_line` and counts the connections it accepts.
async fn listener(status_line: &'static str) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = sock.write_all(format!("{status_line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes()).await;
            });
        }
    });
    (port, accepted)
}

fn client(env_proxy: bool) -> HttpClient {
    HttpClient::new(ClientOptions { connect_timeout: Duration::from_secs(2), user_agent: "jood-test/1", resolver: None, extra_roots: Vec::new(), env_proxy })
        .unwrap()
}

#[tokio::test]
async fn provider_calls_use_the_environments_proxy_and_callbacks_never_do() {
    let (target, target_hits) = listener("HTTP/1.1 204 No Content").await;
    let (proxy, proxy_hits) = listener("HTTP/1.1 202 Accepted").await;
    std::env::set_var("HTTP_PROXY", format!("http://127.0.0.1:{proxy}"));
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    let request = || http::Request::post(format!("http://127.0.0.1:{target}/hook")).body(Bytes::from_static(b"{}")).unwrap();

    let callbacks = client(false);
    let answer = callbacks.call(request(), Duration::from_secs(5), 1024).await.unwrap();
    assert_eq!(answer.status.as_u16(), 204, "straight to the target");
    assert_eq!((target_hits.load(Ordering::SeqCst), proxy_hits.load(Ordering::SeqCst)), (1, 0));

    let providers = client(true);
    let answer = providers.call(request(), Duration::from_secs(5), 1024).await.unwrap();
    assert_eq!(answer.status.as_u16(), 202, "the proxy answered");
    assert_eq!((target_hits.load(Ordering::SeqCst), proxy_hits.load(Ordering::SeqCst)), (1, 1));
}
