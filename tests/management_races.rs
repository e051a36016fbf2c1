//! Management writes are linearizable (compare-and-set on a row version): racing requests
//! over real HTTP, then the invariant checked. Concurrent key rotations leave exactly the
//! current keys valid (also after a restart, and in the key index itself); a deactivation
//! racing renames sticks; a deleted credential stays deleted whatever PUTs race it.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

const ROUNDS: usize = 6;
const RACERS: usize = 4;

/// Whether `key` + `secret` authenticate as association `id`.
async fn pair_works(s: &TestServer, id: i64, key: &str, secret: &str) -> bool {
    let (status, body) = send(s.req(Method::GET, &format!("/api/v1/associations/{id}"), key, secret)).await;
    assert!(status == 200 || status == 401, "{status} {body}");
    status == 200
}

/// Whether an `adminApiKey` (sent in both headers, as documented) authenticates as `id`.
async fn admin_key_works(s: &TestServer, id: i64, key: &str) -> bool {
    pair_works(s, id, key, key).await
}

/// Rotates concurrently, `RACERS` at a time, `ROUNDS` times; returns every key handed out
/// (in order of rounds) for the kind rotated.
async fn rotate_in_races(s: &TestServer, id: i64, field: &str, answer: &str) -> Vec<String> {
    let mut issued = Vec::new();
    for _ in 0..ROUNDS {
        let racers = (0..RACERS).map(|_| send(s.admin(Method::POST, &format!("/api/v1/associations/{id}/rotate-keys")).json(&json!({field: true}))));
        for (status, body) in futures::future::join_all(racers).await {
            assert_eq!(status, 200, "{body}");
            issued.push(body["data"][answer].as_str().unwrap().to_string());
        }
    }
    issued
}

/// Exactly one of `keys` still works and, in the key index, exactly one has a row.
async fn exactly_one_current(s: &TestServer, _id: i64, keys: &[String], works: impl AsyncFn(&str) -> bool) -> String {
    let mut current = Vec::new();
    let mut indexed = 0;
    for k in keys {
        if works(k).await {
            current.push(k.clone());
        }
        if s.store.lookup_key(&jood::auth::keys::hash(k)).await.unwrap().is_some() {
            indexed += 1;
        }
    }
    assert_eq!(current.len(), 1, "exactly one key of {} handed out may work; these do: {current:?}", keys.len());
    assert_eq!(indexed, 1, "the key index must hold exactly the current key, holds {indexed} of them");
    current.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_leave_only_the_current_keys() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "Rotations").await;

    let mut api_keys = vec![k.api_key.clone()];
    api_keys.extend(rotate_in_races(&s, 1, "rotateApiKey", "apiKey").await);
    let api = exactly_one_current(&s, 1, &api_keys, async |key: &str| pair_works(&s, 1, key, &k.secret_key).await).await;

    let mut admin_keys = vec![k.admin_api_key.clone()];
    admin_keys.extend(rotate_in_races(&s, 1, "rotateAdminApiKey", "adminApiKey").await);
    let admin = exactly_one_current(&s, 1, &admin_keys, async |key: &str| admin_key_works(&s, 1, key).await).await;
    // The current admin key can rotate; a superseded one cannot.
    let stale = admin_keys.iter().find(|a| **a != admin).unwrap();
    let (status, _) = send(s.req(Method::POST, "/api/v1/associations/1/rotate-keys", stale, stale).json(&json!({"rotateSecretKey": true}))).await;
    assert_eq!(status, 401, "a superseded admin key must not rotate");

    // After a restart, still exactly the current keys.
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |_| {}).await;
    assert_eq!(exactly_one_current(&s, 1, &api_keys, async |key: &str| pair_works(&s, 1, key, &k.secret_key).await).await, api);
    assert_eq!(exactly_one_current(&s, 1, &admin_keys, async |key: &str| admin_key_works(&s, 1, key).await).await, admin);

    // A later single rotation retires the current key too (no orphan can be left behind).
    let (status, body) = send(s.admin(Method::POST, "/api/v1/associations/1/rotate-keys").json(&json!({"rotateApiKey": true}))).await;
    assert_eq!(status, 200, "{body}");
    api_keys.push(body["data"]["apiKey"].as_str().unwrap().to_string());
    let newest = exactly_one_current(&s, 1, &api_keys, async |key: &str| pair_works(&s, 1, key, &k.secret_key).await).await;
    assert_eq!(&newest, api_keys.last().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deactivation_racing_renames_sticks() {
    let s = TestServer::start().await;
    s.create_association(2, "Races").await;
    for trial in 0..10 {
        let (status, body) = send(s.admin(Method::PUT, "/api/v1/associations/2").json(&json!({"isActive": true, "name": "start"}))).await;
        assert_eq!(status, 200, "{body}");
        let deactivate = send(s.admin(Method::PUT, "/api/v1/associations/2").json(&json!({"isActive": false})));
        let renames = (0..RACERS).map(|i| send(s.admin(Method::PUT, "/api/v1/associations/2").json(&json!({"name": format!("n{trial}-{i}")}))));
        let (d, names) = futures::join!(deactivate, futures::future::join_all(renames));
        assert_eq!(d.0, 200, "{}", d.1);
        let acked: Vec<String> = names
            .iter()
            .map(|(status, body)| {
                assert_eq!(*status, 200, "{body}");
                body["data"]["name"].as_str().unwrap().to_string()
            })
            .collect();
        let (_, now) = send(s.admin(Method::GET, "/api/v1/associations/2")).await;
        assert_eq!(now["data"]["isActive"], false, "trial {trial}: an acknowledged deactivation was undone: {now}");
        let name = now["data"]["name"].as_str().unwrap().to_string();
        assert!(acked.contains(&name), "trial {trial}: name `{name}` is none of the acknowledged {acked:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_credential_stays_deleted() {
    let s = TestServer::start().await;
    let k = s.create_association(3, "Deletes").await;
    for trial in 0..10 {
        let body = json!({"providerId": 7, "senderName": "JOOD", "credentials": {"accountSid": "AC1", "authToken": "tok"}, "apiUrl": "http://127.0.0.1:9", "isDefault": false});
        let id = s.add_credential(3, &k, body).await;
        let path = format!("/api/v1/associations/3/credentials/{id}");
        let delete = send(s.req(Method::DELETE, &path, &k.api_key, &k.secret_key));
        let puts = (0..RACERS).map(|i| send(s.req(Method::PUT, &path, &k.api_key, &k.secret_key).json(&json!({"senderName": format!("S{i}")}))));
        let (d, puts) = futures::join!(delete, futures::future::join_all(puts));
        assert_eq!(d.0, 200, "trial {trial}: {}", d.1);
        for (status, body) in &puts {
            assert!(*status == 200 || *status == 404, "trial {trial}: {status} {body}");
        }
        let (_, list) = send(s.req(Method::GET, "/api/v1/associations/3/credentials", &k.api_key, &k.secret_key)).await;
        assert!(!list.to_string().contains(&format!("\"id\":{id}")), "trial {trial}: deleted credential {id} came back: {list}");
        // A PUT after the DELETE answers 404 and does not resurrect it.
        let late = send(s.req(Method::PUT, &path, &k.api_key, &k.secret_key).json(&json!({"senderName": "late"}))).await;
        assert_error(&late, 404, "not found");
        assert!(s.store.get_credential(3, id).await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_template_updates_and_deletes_stay_consistent() {
    let s = TestServer::start().await;
    let k = s.create_association(4, "Templates").await;
    for trial in 0..5 {
        let code = format!("t{trial}");
        let (status, body) =
            send(s.req(Method::POST, "/api/v1/templates", &k.api_key, &k.secret_key).json(&json!({"code": code, "content": "v0"}))).await;
        assert_eq!(status, 201, "{body}");
        let path = format!("/api/v1/templates/{code}");
        let delete = send(s.req(Method::DELETE, &path, &k.api_key, &k.secret_key));
        let puts = (0..RACERS).map(|i| send(s.req(Method::PUT, &path, &k.api_key, &k.secret_key).json(&json!({"content": format!("v{i}")}))));
        let (d, _) = futures::join!(delete, futures::future::join_all(puts));
        assert_eq!(d.0, 200, "{}", d.1);
        assert!(s.store.get_template(4, &code).await.unwrap().is_none(), "trial {trial}: deleted template came back");
    }
}
