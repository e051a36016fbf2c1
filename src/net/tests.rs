//! The client against real sockets on loopback: a one-answer HTTP/1.1 server written with
//! tokio, so each test decides the bytes on the wire.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn client(resolver: Option<ResolveFn>) -> HttpClient {
    HttpClient::new(ClientOptions { connect_timeout: Duration::from_secs(1), user_agent: "jood-test/1", resolver, extra_roots: Vec::new(), env_proxy: true }).unwrap()
}

/// Serves `answer` to every connection after reading a request head; sends what it read back
/// on the channel.
async fn serve(answer: &'static [u8], delay: Duration) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
                tokio::time::sleep(delay).await;
                let _ = sock.write_all(answer).await;
                let _ = sock.flush().await;
            });
        }
    });
    (addr, rx)
}

fn post(uri: String, body: &'static str) -> Request<Bytes> {
    Request::post(uri).header("content-type", "application/json").body(Bytes::from_static(body.as_bytes())).unwrap()
}

#[tokio::test]
async fn reads_status_retry_after_and_body_and_sends_the_user_agent() {
    let (addr, mut seen) = serve(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 5\r\n\r\nslow!", Duration::ZERO).await;
    let answer = client(None).call(post(format!("http://{addr}/hook?x=1"), r#"{"a":1}"#), Duration::from_secs(5), 1024).await.unwrap();
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.retry_after.as_ref().and_then(|v| v.to_str().ok()), Some("7"));
    assert_eq!(&answer.body[..], b"slow!");
    let head = seen.recv().await.unwrap().to_ascii_lowercase();
    assert!(head.starts_with("post /hook?x=1 http/1.1\r\n"), "{head}");
    assert!(head.contains("user-agent: jood-test/1\r\n"), "{head}");
    assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
    assert!(head.contains("content-length: 7\r\n"), "{head}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = client(None).call(post(format!("http://127.0.0.1:{port}/"), "{}"), Duration::from_secs(5), 1024).await.unwrap_err();
    assert!(matches!(err, CallError::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn an_answer_past_the_deadline_is_a_timeout() {
    let (addr, _seen) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Duration::from_secs(5)).await;
    let err = client(None).call(post(format!("http://{addr}/"), "{}"), Duration::from_millis(200), 1024).await.unwrap_err();
    assert!(matches!(err, CallError::Timeout(d) if d == Duration::from_millis(200)), "{err:?}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_declared_or_not() {
    let (addr, _seen) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", Duration::ZERO).await;
    let err = client(None).call(post(format!("http://{addr}/"), "{}"), Duration::from_secs(5), 1024).await.unwrap_err();
    assert!(matches!(err, CallError::TooLarge { limit: 1024, status: StatusCode::OK }), "{err:?}");
    let chunked: &'static [u8] = Box::leak(
        format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n0\r\n\r\n", "x".repeat(0x800)).into_bytes().into_boxed_slice(),
    );
    let (addr, _seen) = serve(chunked, Duration::ZERO).await;
    let err = client(None).call(post(format!("http://{addr}/"), "{}"), Duration::from_secs(5), 1024).await.unwrap_err();
    assert!(matches!(err, CallError::TooLarge { limit: 1024, status: StatusCode::OK }), "{err:?}");
}

/// `https://` goes through TLS, never in clear: a plain-HTTP listener fails the handshake,
/// before any request is written (a connect failure).
#[tokio::test]
async fn https_is_tls_and_a_failed_handshake_is_a_connect_failure() {
    // A plain-HTTP server answers the first bytes it gets (the ClientHello) with a 400.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut chunk = [0u8; 4096];
            if sock.read(&mut chunk).await.unwrap_or(0) > 0 {
                let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
            }
        }
    });
    let err = client(None).call(post(format!("https://{addr}/"), "{}"), Duration::from_secs(5), 1024).await.unwrap_err();
    assert!(matches!(err, CallError::Connect(_)), "{err:?}");
}

/// Names go through the given resolver (the callbacks' SSRF guard): what it refuses is never
/// connected to, what it returns is where the call goes.
#[tokio::test]
async fn names_go_through_the_given_resolver() {
    let (addr, mut seen) = serve(b"HTTP/1.1 204 No Content\r\n\r\n", Duration::ZERO).await;
    let resolve: ResolveFn = Arc::new(move |host: String| {
        Box::pin(async move {
            if host == "hooks.example.test" {
                Ok(vec![SocketAddr::new(addr.ip(), 0)])
            } else {
                Err(format!("{host} refused").into())
            }
        })
    });
    let c = client(Some(resolve));
    let answer = c.call(post(format!("http://hooks.example.test:{}/h", addr.port()), "{}"), Duration::from_secs(5), 1024).await.unwrap();
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(seen.recv().await.unwrap().to_ascii_lowercase().contains(&format!("host: hooks.example.test:{}\r\n", addr.port())));
    let err = c.call(post(format!("http://other.example.test:{}/h", addr.port()), "{}"), Duration::from_secs(5), 1024).await.unwrap_err();
    assert!(matches!(&err, CallError::Connect(m) if m.contains("other.example.test refused")), "{err:?}");
}

/// Connections are kept and reused: two calls, one accepted connection.
#[tokio::test]
async fn connections_are_pooled() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    // Each request here is a head plus a 2-byte body.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        if buf.len() < end + 4 + 2 {
                            break;
                        }
                        buf.drain(..end + 4 + 2);
                        let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
                    }
                }
            });
        }
    });
    let c = client(None);
    for _ in 0..2 {
        let answer = c.call(post(format!("http://{addr}/"), "{}"), Duration::from_secs(5), 1024).await.unwrap();
        assert_eq!(&answer.body[..], b"ok");
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}
