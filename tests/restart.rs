//! Durability of the real binary: everything acknowledged survives `kill -9` and a restart,
//! and configuration and secrets problems stop the start with a clear message.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn acknowledged_data_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let engine = EngineProcess::spawn(&data, &[]);
    let client = reqwest::Client::new();
    let admin = |m: reqwest::Method, base: &str, p: &str| {
        client.request(m, format!("{base}{p}")).header("x-api-key", ADMIN_KEY).header("x-api-secret", ADMIN_KEY)
    };

    // Many acknowledged writes, some concurrent (they share group commits).
    let mut keys = Vec::new();
    for id in 1..=20 {
        let (status, body) = send(admin(reqwest::Method::POST, &engine.base, "/api/v1/associations").json(&json!({"id": id, "name": format!("A{id}")}))).await;
        assert_eq!(status, 201, "{body}");
        keys.push((
            id,
            body["data"]["association"]["apiKey"].as_str().unwrap().to_string(),
            body["data"]["association"]["secretKey"].as_str().unwrap().to_string(),
        ));
    }
    let futs = keys.iter().map(|(id, k, s)| {
        client
            .post(format!("{}/api/v1/associations/{id}/credentials", engine.base))
            .header("x-api-key", k)
            .header("x-api-secret", s)
            .json(&json!({"providerId": 6, "senderName": "S", "credentials": {"apiKey": format!("ib-{id}")}, "isDefault": true}))
            .send()
    });
    for r in futures::future::join_all(futs).await {
        assert_eq!(r.unwrap().status(), 201);
    }
    let (status, _) = send(admin(reqwest::Method::PUT, &engine.base, "/api/v1/associations/3").json(&json!({"isActive": false}))).await;
    assert_eq!(status, 200);
    engine.kill9();

    let engine = EngineProcess::spawn(&data, &[]);
    let (status, body) = send(admin(reqwest::Method::GET, &engine.base, "/api/v1/associations")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 20);
    for (id, k, s) in &keys {
        let r = client
            .get(format!("{}/api/v1/associations/{id}/credentials", engine.base))
            .header("x-api-key", k)
            .header("x-api-secret", s);
        let (status, body) = send(r).await;
        if *id == 3 {
            assert_eq!((status, body["error"].clone()), (403, json!("Inactive association")));
        } else {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"].as_array().unwrap().len(), 1, "association {id}: {body}");
        }
    }
    engine.kill9();
}

fn run_jood(args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jood"));
    cmd.args(args).env_remove("JOOD_MASTER_KEY").env_remove("JOOD_ADMIN_KEY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn bad_configuration_and_secrets_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let master = master_hex();

    let (ok, err) = run_jood(&["serve", "--data-dir", d, "--http-addr", "127.0.0.1:0"], &[]);
    assert!(!ok && err.contains("no master key") && err.contains("openssl rand -hex 32"), "{err}");

    let (ok, err) = run_jood(&["serve", "--data-dir", d, "--http-addr", "127.0.0.1:0"], &[("JOOD_MASTER_KEY", "short")]);
    assert!(!ok && err.contains("master key is malformed"), "{err}");

    let (ok, err) = run_jood(&["serve", "--data-dir", d, "--http-addr", "not-an-addr"], &[("JOOD_MASTER_KEY", &master)]);
    assert!(!ok && err.contains("server.http_addr"), "{err}");

    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[store]\ngroup_commit_max_batch = \"many\"\n").unwrap();
    let (ok, err) = run_jood(&["serve", "--config", cfg.to_str().unwrap(), "--data-dir", d], &[("JOOD_MASTER_KEY", &master)]);
    assert!(!ok && err.contains("store.group_commit_max_batch"), "{err}");

    let (ok, err) = run_jood(&["serve", "--data-dir", d, "--http-addr", "127.0.0.1:0"], &[("JOOD_MASTER_KEY", &master), ("JOOD__LOG__FORMAT", "xml")]);
    assert!(!ok && err.contains("log.format"), "{err}");

    let (ok, err) = run_jood(&["serve", "--config", "/nonexistent/jood.toml"], &[("JOOD_MASTER_KEY", &master)]);
    assert!(!ok && err.contains("/nonexistent/jood.toml"), "{err}");
}

#[tokio::test]
async fn a_different_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    EngineProcess::spawn(&data, &[]).kill9();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jood"))
        .args(["serve", "--http-addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("JOOD_MASTER_KEY", "22".repeat(32))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("does not match"), "{err}");
}

#[tokio::test]
async fn demo_mode_starts_without_secrets_and_keeps_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_jood"))
        .args(["serve", "--demo", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("JOOD_MASTER_KEY")
        .env_remove("JOOD_ADMIN_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The admin key is printed on stdout before the server starts; it is stored for restarts.
    let mut child = first;
    let started = std::time::Instant::now();
    while !data.join("demo-admin.key").exists() {
        assert!(started.elapsed().as_secs() < 20, "demo keys were not created");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let key = std::fs::read_to_string(data.join("demo-admin.key")).unwrap();
    assert!(key.starts_with("jn_root_"));
    assert!(data.join("demo-master.key").exists());
}

#[test]
fn keygen_prints_a_usable_master_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jood")).arg("keygen").output().unwrap();
    let key = String::from_utf8(out.stdout).unwrap();
    assert!(jood::auth::MasterKey::parse(key.trim()).is_ok(), "{key}");
}
