//! The client over real TLS on loopback: a CA and a server certificate made with Debian's
//! `openssl` (CI installs it), and a rustls server that speaks HTTP/2 and HTTP/1.1 by ALPN and
//! answers each request with the HTTP version it arrived in.

use super::*;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::process::Command;
use tokio::net::TcpListener;

/// A CA and a certificate it signed for `localhost`, in DER.
pub(crate) struct Pki {
    pub ca: Vec<u8>,
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl runs (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The CA is also written as `ca.pem` in `dir`.
pub(crate) fn pki(dir: &Path) -> Pki {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=jood test CA", "-keyout", "ca.key", "-out", "ca.pem"];
    ca.extend(ec);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-new", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"];
    csr.extend(ec);
    openssl(dir, &csr);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(dir, &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem"]);
    openssl(dir, &["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"]);
    openssl(dir, &["x509", "-in", "server.pem", "-outform", "DER", "-out", "server.der"]);
    openssl(dir, &["pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-outform", "DER", "-out", "server.key.der"]);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    Pki { ca: read("ca.der"), cert: read("server.der"), key: read("server.key.der") }
}

/// A TLS server on 127.0.0.1 offering `alpn`; answers with the request's HTTP version.
async fn tls_server(pki: &Pki, alpn: &[&[u8]]) -> SocketAddr {
    tls_server_answering(pki, alpn, StatusCode::OK, None).await
}

/// A TLS server answering every request with `status` and `body` (default: the request's HTTP
/// version).
pub(crate) async fn tls_server_answering(pki: &Pki, alpn: &[&[u8]], status: StatusCode, body: Option<&'static str>) -> SocketAddr {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(pki.cert.clone())], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())))
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(sock).await else { return };
                let answer = service_fn(move |req: hyper::Request<hyper::body::Incoming>| async move {
                    let text = body.map(str::to_owned).unwrap_or_else(|| format!("{:?}", req.version()));
                    let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
                    *response.status_mut() = status;
                    Ok::<_, std::convert::Infallible>(response)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), answer).await;
            });
        }
    });
    addr
}

/// Every name resolves to the test server's address.
fn client(pki: Option<&Pki>, server: SocketAddr) -> HttpClient {
    let resolve: ResolveFn = Arc::new(move |_host: String| Box::pin(async move { Ok(vec![SocketAddr::new(server.ip(), 0)]) }));
    HttpClient::new(ClientOptions {
        connect_timeout: Duration::from_secs(2),
        user_agent: "jood-test/1",
        resolver: Some(resolve),
        extra_roots: pki.map(|p| vec![CertificateDer::from(p.ca.clone())]).unwrap_or_default(),
        env_proxy: true,
    })
    .unwrap()
}

async fn get(c: &HttpClient, host: &str, port: u16) -> Result<Answer, CallError> {
    let request = Request::get(format!("https://{host}:{port}/status")).body(Bytes::new()).unwrap();
    c.call(request, Duration::from_secs(5), 1024).await
}

#[tokio::test]
async fn a_trusted_certificate_is_accepted_over_http2_and_http1() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let both = tls_server(&pki, &[b"h2", b"http/1.1"]).await;
    let answer = get(&client(Some(&pki), both), "localhost", both.port()).await.unwrap();
    assert_eq!((answer.status, &answer.body[..]), (StatusCode::OK, &b"HTTP/2.0"[..]), "h2 when the server offers it");
    let http1 = tls_server(&pki, &[b"http/1.1"]).await;
    let answer = get(&client(Some(&pki), http1), "localhost", http1.port()).await.unwrap();
    assert_eq!((answer.status, &answer.body[..]), (StatusCode::OK, &b"HTTP/1.1"[..]));
}

/// The Mozilla roots alone do not trust a private CA, and a certificate for `localhost` is
/// not one for another name: both fail before any request is written.
#[tokio::test]
async fn an_unknown_ca_or_another_name_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = tls_server(&pki, &[b"h2", b"http/1.1"]).await;
    let err = get(&client(None, server), "localhost", server.port()).await.unwrap_err();
    assert!(matches!(&err, CallError::Connect(m) if m.contains("certificate")), "{err:?}");
    let err = get(&client(Some(&pki), server), "api.example.test", server.port()).await.unwrap_err();
    assert!(matches!(&err, CallError::Connect(m) if m.contains("certificate")), "{err:?}");
}
