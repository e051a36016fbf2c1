//! Test harness: starts the real engine on 127.0.0.1:0 with a fresh data directory, either
//! in-process (`TestServer::start`) or as the `jood` binary (`EngineProcess`), and talks to
//! it over real HTTP.
#![allow(dead_code)]

use jood::app::{App, Secrets};
use jood::auth::{AdminKey, MasterKey};
use jood::config::Config;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const ADMIN_KEY: &str = "test-super-admin-key-0123456789";
pub const OPERATOR: &str = "root";
pub const OPERATOR_PASSWORD: &str = "correct horse battery";

pub struct TestServer {
    pub base: String,
    /// `http://127.0.0.1:PORT` of the gRPC listener.
    pub grpc: String,
    pub store: jood::store::SharedStore,
    pub dispatcher: jood::dispatch::Dispatcher,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    /// The clock quiet hours are decided by (tests freeze and move it).
    pub clock: std::sync::Arc<jood::domain::sms_policy::Clock>,
    token: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn test_config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.server.http_addr = "127.0.0.1:0".into();
    c.server.grpc_addr = "127.0.0.1:0".into();
    c.store.data_dir = dir.to_path_buf();
    c
}

pub fn master_hex() -> String {
    "11".repeat(32)
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), tweak).await
    }

    /// Starts on an existing data directory (a restart).
    pub async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let secrets = Secrets {
            master: MasterKey::parse(&master_hex()).unwrap(),
            admin: Some(AdminKey::new(ADMIN_KEY)),
            operator: Some((OPERATOR.into(), OPERATOR_PASSWORD.into())),
        };
        let app = App::build(config, secrets).await.expect("app starts");
        let base = format!("http://{}", app.http_addr());
        let grpc = app.grpc_addr().map(|a| format!("http://{a}")).unwrap_or_default();
        let token = app.shutdown_token();
        let (store, dispatcher, clock) = (app.store(), app.dispatcher().clone(), app.campaigns().clock.clone());
        let task = tokio::spawn(app.run_until_stopped());
        Self { base, grpc, store, dispatcher, client: reqwest::Client::new(), dir, clock, token, task: Some(task) }
    }

    /// Stops the engine gracefully; returns the data directory (deleted when dropped).
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.token.cancel();
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        self.dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with `x-api-key` / `x-api-secret`.
    pub fn req(&self, method: reqwest::Method, path: &str, key: &str, secret: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).header("x-api-key", key).header("x-api-secret", secret)
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.req(method, path, ADMIN_KEY, ADMIN_KEY)
    }

    /// Creates an association as the super-admin; returns (apiKey, secretKey, adminApiKey).
    pub async fn create_association(&self, id: i64, name: &str) -> Keys {
        let (status, body) = send(self.admin(reqwest::Method::POST, "/api/v1/associations").json(&json!({"id": id, "name": name}))).await;
        assert_eq!(status, 201, "{body}");
        Keys {
            api_key: body["data"]["association"]["apiKey"].as_str().unwrap().to_string(),
            secret_key: body["data"]["association"]["secretKey"].as_str().unwrap().to_string(),
            admin_api_key: body["data"]["adminApiKey"].as_str().unwrap().to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keys {
    pub api_key: String,
    pub secret_key: String,
    pub admin_api_key: String,
}

/// Sends and returns (status, JSON body); a non-JSON body is a test failure.
pub async fn send(rb: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = rb.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"));
    (status, body)
}

/// Asserts the documented error envelope with `status` and an error containing `needle`.
pub fn assert_error(got: &(u16, Value), status: u16, needle: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["success"], false, "{}", got.1);
    let err = got.1["error"].as_str().unwrap_or_else(|| panic!("no error string: {}", got.1));
    assert!(err.contains(needle), "error `{err}` lacks `{needle}`");
}

/// The `jood` binary running as a child process (for kill -9 and signal tests).
pub struct EngineProcess {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl EngineProcess {
    pub fn spawn(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::spawn_with_env(data_dir, extra_args, &[])
    }

    pub fn spawn_with_env(data_dir: &Path, extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let log = data_dir.with_extension(format!("log{}", std::process::id()));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_jood"))
            .args(["serve", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .env("JOOD_MASTER_KEY", master_hex())
            .env("JOOD_ADMIN_KEY", ADMIN_KEY)
            .env("RUST_LOG", "info")
            .envs(envs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn jood");
        let started = std::time::Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(i) = text.find("listening on http://") {
                let rest = &text[i + "listening on http://".len()..];
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '"').collect();
                return Self { child, base: format!("http://{addr}"), log };
            }
            assert!(started.elapsed().as_secs() < 30, "engine did not become ready:\n{text}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM (a graceful stop) and waits up to `limit` for the exit.
    pub fn terminate(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let started = std::time::Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(started.elapsed() < limit, "engine did not exit within {limit:?} of SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// A test that fails part-way does not leave its engine running.
impl Drop for EngineProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Signs like the documented clients: hex HMAC-SHA256 of `timestamp.body`.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    jood::auth::webhook::sign(secret.as_bytes(), timestamp, body.as_bytes())
}

pub fn now_ms() -> i64 {
    jood::domain::now_ms()
}

impl TestServer {
    /// A signed webhook request for `body` at the current time.
    pub fn signed(&self, path: &str, secret: &str, body: &str) -> reqwest::RequestBuilder {
        let ts = now_ms().to_string();
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .header("x-webhook-timestamp", &ts)
            .header("x-webhook-signature", sign(secret, &ts, body))
            .body(body.to_string())
    }

    /// Sends one SMS through the signed webhook; returns its queueId.
    pub async fn send_sms(&self, association_id: i64, secret: &str, recipient: &str, message: &str) -> i64 {
        let body = json!({"associationId": association_id, "recipient": recipient, "message": message}).to_string();
        let (status, resp) = send(self.signed("/api/v1/webhook/notification", secret, &body)).await;
        assert_eq!(status, 200, "{resp}");
        resp["data"]["queueId"].as_i64().unwrap()
    }

    /// Polls a notification until it reaches a terminal status (or `secs` pass).
    pub async fn wait_terminal(&self, keys: &Keys, id: i64, secs: u64) -> Value {
        let started = std::time::Instant::now();
        loop {
            let (status, body) = send(self.req(reqwest::Method::GET, &format!("/api/v1/notifications/{id}"), &keys.api_key, &keys.secret_key)).await;
            assert_eq!(status, 200, "{body}");
            let st = body["data"]["status"].as_str().unwrap().to_string();
            if ["sent", "delivered", "undelivered", "read", "failed", "cancelled", "expired"].contains(&st.as_str()) {
                return body["data"].clone();
            }
            assert!(started.elapsed().as_secs() < secs, "notification {id} still {st} after {secs}s: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Adds a provider credential; returns its id.
    pub async fn add_credential(&self, association_id: i64, keys: &Keys, body: Value) -> i64 {
        let (status, resp) = send(
            self.req(reqwest::Method::POST, &format!("/api/v1/associations/{association_id}/credentials"), &keys.api_key, &keys.secret_key)
                .json(&body),
        )
        .await;
        assert_eq!(status, 201, "{resp}");
        resp["data"]["id"].as_i64().unwrap()
    }
}

/// The dispatch settings of the channel and gateway suites: quick retries and route
/// refreshes, so failover and re-routing show within a test's time.
pub fn fast_dispatch(c: &mut Config) {
    c.dispatch.backoff_base_ms = 10;
    c.dispatch.backoff_max_ms = 50;
    c.dispatch.route_refresh_ms = 1;
    c.dispatch.provider_timeout_ms = 3_000;
}

/// An X-API-Key request with the association's admin key (the WhatsApp and gateway routes).
pub fn wa(s: &TestServer, k: &Keys, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    s.client.request(method, s.url(path)).header("x-api-key", &k.admin_api_key)
}

/// A simulator control call (`/_sim/...`) that must answer 200; its JSON.
pub async fn sim_post(sim: &jood::sim::SimHandle, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new().post(format!("{}{path}", sim.base_url())).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

pub async fn sim_get(sim: &jood::sim::SimHandle, path: &str) -> Value {
    reqwest::Client::new().get(format!("{}{path}", sim.base_url())).send().await.unwrap().json().await.unwrap()
}

/// Polls `f` until it gives a value (15 s at most).
pub async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> Option<Value>) -> Value {
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
}

impl TestServer {
    /// `GET /api/v1/notifications/{id}`'s data.
    pub async fn notification(&self, k: &Keys, id: i64) -> Value {
        let (status, body) = send(self.req(reqwest::Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }

    /// Polls a notification until its status is `want` (15 s at most).
    pub async fn wait_status(&self, k: &Keys, id: i64, want: &str) -> Value {
        let started = std::time::Instant::now();
        loop {
            let n = self.notification(k, id).await;
            if n["status"] == want {
                return n;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(15), "message {id} never became {want}: {n}");
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        }
    }
}

/// An association created as the super-admin on the engine at `base` (a `TestServer` or an
/// `EngineProcess`); its keys.
pub async fn create_association_at(base: &str, id: i64, name: &str) -> Keys {
    let rb = reqwest::Client::new().post(format!("{base}/api/v1/associations")).header("x-api-key", ADMIN_KEY).header("x-api-secret", ADMIN_KEY);
    let (status, body) = send(rb.json(&json!({"id": id, "name": name}))).await;
    assert_eq!(status, 201, "{body}");
    Keys {
        api_key: body["data"]["association"]["apiKey"].as_str().unwrap().to_string(),
        secret_key: body["data"]["association"]["secretKey"].as_str().unwrap().to_string(),
        admin_api_key: body["data"]["adminApiKey"].as_str().unwrap().to_string(),
    }
}

/// A provider credential added on the engine at `base`; its id.
pub async fn add_credential_at(base: &str, association_id: i64, keys: &Keys, body: Value) -> i64 {
    let rb = reqwest::Client::new()
        .post(format!("{base}/api/v1/associations/{association_id}/credentials"))
        .header("x-api-key", &keys.api_key)
        .header("x-api-secret", &keys.secret_key);
    let (status, resp) = send(rb.json(&body)).await;
    assert_eq!(status, 201, "{resp}");
    resp["data"]["id"].as_i64().unwrap()
}

/// A signed webhook request to the engine at `base`.
pub fn signed_at(base: &str, path: &str, secret: &str, body: &str) -> reqwest::RequestBuilder {
    let ts = now_ms().to_string();
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("x-webhook-timestamp", &ts)
        .header("x-webhook-signature", sign(secret, &ts, body))
        .body(body.to_string())
}

/// Polls a notification on the engine at `base` until its status is `want` (20 s at most).
pub async fn wait_status_at(base: &str, k: &Keys, id: i64, want: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let rb = reqwest::Client::new().get(format!("{base}/api/v1/notifications/{id}")).header("x-api-key", &k.api_key).header("x-api-secret", &k.secret_key);
        let (status, body) = send(rb).await;
        assert_eq!(status, 200, "{body}");
        if body["data"]["status"] == want {
            return body["data"].clone();
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "message {id} never became {want}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
