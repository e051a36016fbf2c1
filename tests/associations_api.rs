//! The documented association management API, end to end against the real server:
//! every route, its envelope and status codes, and each error case.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn create_get_list_update_and_envelope() {
    let s = TestServer::start().await;
    let (status, body) = send(
        s.admin(Method::POST, "/api/v1/associations")
            .json(&json!({"id": 123, "name": "Acme Corp", "allowedDomains": ["acme.com", "ACME.io"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Store the secretKey and adminApiKey securely - they will not be shown again!");
    let a = &body["data"]["association"];
    assert_eq!(a["id"], 123);
    assert_eq!(a["name"], "Acme Corp");
    assert_eq!(a["allowedDomains"], json!(["acme.com", "acme.io"]));
    assert!(a["apiKey"].as_str().unwrap().starts_with("jn_pub_"));
    assert!(a["secretKey"].as_str().unwrap().starts_with("jn_sec_"));
    assert!(body["data"]["adminApiKey"].as_str().unwrap().starts_with("jn_admin_"));
    let (key, secret) = (a["apiKey"].as_str().unwrap().to_string(), a["secretKey"].as_str().unwrap().to_string());

    // Get with the association's own keys: documented fields, ISO timestamps, no secrets.
    let (status, body) = send(s.req(Method::GET, "/api/v1/associations/123", &key, &secret)).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["id"], 123);
    assert_eq!(d["isActive"], true);
    let created = d["createdAt"].as_str().unwrap();
    assert!(created.len() == 24 && created.ends_with('Z') && created.as_bytes()[10] == b'T', "{created}");
    assert!(d["updatedAt"].is_string());
    let text = body.to_string();
    assert!(!text.contains("jn_sec_") && !text.contains("jn_pub_") && !text.contains("Hash"), "{text}");

    // List: super-admin only.
    s.create_association(7, "Beta").await;
    let (status, body) = send(s.admin(Method::GET, "/api/v1/associations")).await;
    assert_eq!(status, 200);
    let ids: Vec<i64> = body["data"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![7, 123]);
    assert_error(&send(s.req(Method::GET, "/api/v1/associations", &key, &secret)).await, 403, "Super admin");

    // Update name and domains; the answer is the updated association.
    let (status, body) = send(
        s.req(Method::PUT, "/api/v1/associations/123", &key, &secret)
            .json(&json!({"name": "Acme Corp Updated", "allowedDomains": ["acme.dev"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["name"], "Acme Corp Updated");
    assert_eq!(body["data"]["allowedDomains"], json!(["acme.dev"]));
    assert_eq!(body["message"], "Association updated successfully");
    s.stop().await;
}

#[tokio::test]
async fn authorisation_rules() {
    let s = TestServer::start().await;
    let a = s.create_association(1, "One").await;
    let b = s.create_association(2, "Two").await;

    // Invalid keys: 401 with the documented message.
    for (k, sec) in [("nope", "nope"), (a.api_key.as_str(), "jn_sec_wrong"), (a.api_key.as_str(), b.secret_key.as_str()), ("", "")] {
        assert_error(&send(s.req(Method::GET, "/api/v1/associations/1", k, sec)).await, 401, "Invalid API key");
    }
    assert_error(&send(s.client.get(s.url("/api/v1/associations/1"))).await, 401, "Invalid API key");
    // The super-admin key must be in both headers.
    assert_error(&send(s.req(Method::GET, "/api/v1/associations/1", ADMIN_KEY, "x")).await, 401, "Invalid API key");

    // Another association's resources: 403. Creating associations: super-admin only.
    assert_error(&send(s.req(Method::GET, "/api/v1/associations/2", &a.api_key, &a.secret_key)).await, 403, "another association");
    assert_error(
        &send(s.req(Method::GET, "/api/v1/associations/2/credentials", &a.api_key, &a.secret_key)).await,
        403,
        "another association",
    );
    assert_error(
        &send(s.req(Method::POST, "/api/v1/associations", &a.api_key, &a.secret_key).json(&json!({"id": 9, "name": "x"}))).await,
        403,
        "Super admin",
    );

    // adminApiKey works alone on X-API-Key routes (providers list) and in both headers; a
    // public apiKey alone authorises nothing.
    let (status, _) = send(s.client.get(s.url("/api/v1/providers")).header("x-api-key", &a.admin_api_key)).await;
    assert_eq!(status, 200);
    assert_error(&send(s.client.get(s.url("/api/v1/providers")).header("x-api-key", &a.api_key)).await, 401, "Invalid API key");
    let (status, _) = send(s.req(Method::GET, "/api/v1/associations/1", &a.admin_api_key, &a.admin_api_key)).await;
    assert_eq!(status, 200);

    // Deactivation: the association's keys get 403 Inactive association; the super-admin
    // still sees it and can reactivate it.
    let (status, body) = send(s.admin(Method::PUT, "/api/v1/associations/1").json(&json!({"isActive": false}))).await;
    assert_eq!((status, body["data"]["isActive"].clone()), (200, json!(false)));
    assert_error(&send(s.req(Method::GET, "/api/v1/associations/1", &a.api_key, &a.secret_key)).await, 403, "Inactive association");
    assert_error(&send(s.client.get(s.url("/api/v1/providers")).header("x-api-key", &a.admin_api_key)).await, 403, "Inactive association");
    let (status, _) = send(s.admin(Method::GET, "/api/v1/associations/1")).await;
    assert_eq!(status, 200);
    send(s.admin(Method::PUT, "/api/v1/associations/1").json(&json!({"isActive": true}))).await;
    let (status, _) = send(s.req(Method::GET, "/api/v1/associations/1", &a.api_key, &a.secret_key)).await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test]
async fn rotate_keys_invalidates_old_keys_at_once() {
    let s = TestServer::start().await;
    let k = s.create_association(5, "Rot").await;
    let (status, body) = send(
        s.req(Method::POST, "/api/v1/associations/5/rotate-keys", &k.api_key, &k.secret_key).json(&json!({"rotateApiKey": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Keys rotated successfully");
    let new_key = body["data"]["apiKey"].as_str().unwrap().to_string();
    assert!(new_key.starts_with("jn_pub_") && new_key != k.api_key);
    assert!(body["data"].get("secretKey").is_none(), "secret not rotated: {body}");
    assert_error(&send(s.req(Method::GET, "/api/v1/associations/5", &k.api_key, &k.secret_key)).await, 401, "Invalid API key");
    assert_eq!(send(s.req(Method::GET, "/api/v1/associations/5", &new_key, &k.secret_key)).await.0, 200);

    let (status, body) = send(
        s.req(Method::POST, "/api/v1/associations/5/rotate-keys", &new_key, &k.secret_key)
            .json(&json!({"rotateApiKey": true, "rotateSecretKey": true, "rotateAdminApiKey": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (k2, s2, a2) = (
        body["data"]["apiKey"].as_str().unwrap().to_string(),
        body["data"]["secretKey"].as_str().unwrap().to_string(),
        body["data"]["adminApiKey"].as_str().unwrap().to_string(),
    );
    assert_error(&send(s.req(Method::GET, "/api/v1/associations/5", &k2, &k.secret_key)).await, 401, "Invalid API key");
    assert_error(&send(s.client.get(s.url("/api/v1/providers")).header("x-api-key", &k.admin_api_key)).await, 401, "Invalid API key");
    assert_eq!(send(s.req(Method::GET, "/api/v1/associations/5", &k2, &s2)).await.0, 200);
    assert_eq!(send(s.client.get(s.url("/api/v1/providers")).header("x-api-key", &a2)).await.0, 200);

    // Nothing to rotate is a clear 400.
    assert_error(
        &send(s.req(Method::POST, "/api/v1/associations/5/rotate-keys", &k2, &s2).json(&json!({}))).await,
        400,
        "nothing to rotate",
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let s = TestServer::start_with(|c| c.server.body_limit_bytes = 4096).await;
    let post = |body: &'static str| s.admin(Method::POST, "/api/v1/associations").header("content-type", "application/json").body(body);
    assert_error(&send(post("{\"id\": 1,")).await, 400, "malformed JSON");
    assert_error(&send(post("{\"name\": \"x\"}")).await, 400, "missing field `id`");
    assert_error(&send(post("{\"id\": \"1\", \"name\": \"x\"}")).await, 400, "field `id`: invalid type: string");
    assert_error(&send(post("{\"id\": 1, \"name\": 5}")).await, 400, "field `name`");
    assert_error(&send(post("{\"id\": 1, \"name\": \"   \"}")).await, 400, "name must not be empty");
    assert_error(&send(post("{\"id\": 0, \"name\": \"x\"}")).await, 400, "positive integer");
    assert_error(&send(post("{\"id\": 1, \"name\": \"x\", \"allowedDomains\": [\"not a domain\"]}")).await, 400, "allowedDomains[0]");
    assert_error(&send(post("")).await, 400, "empty");
    assert_error(&send(post("[]")).await, 400, "JSON object");

    // Duplicate id: 409.
    s.create_association(1, "x").await;
    assert_error(&send(post("{\"id\": 1, \"name\": \"again\"}")).await, 409, "already exists");

    // Unknown ids and routes: 404; bad path ids: 400; wrong method: 405.
    assert_error(&send(s.admin(Method::GET, "/api/v1/associations/999")).await, 404, "Association 999 not found");
    assert_error(&send(s.admin(Method::PUT, "/api/v1/associations/999").json(&json!({"name": "n"}))).await, 404, "not found");
    assert_error(&send(s.admin(Method::GET, "/api/v1/associations/abc")).await, 400, "path parameter");
    assert_error(&send(s.admin(Method::GET, "/api/v1/nothing-here")).await, 404, "Route not found");
    assert_error(&send(s.admin(Method::DELETE, "/api/v1/associations/1")).await, 405, "Method not allowed");

    // Oversized body: 413 naming the limit.
    let big = format!("{{\"id\": 2, \"name\": \"{}\"}}", "x".repeat(10_000));
    assert_error(
        &send(s.admin(Method::POST, "/api/v1/associations").header("content-type", "application/json").body(big)).await,
        413,
        "4096 bytes",
    );

    // Garbage of every shape never panics the server: each answer is an envelope.
    for body in ["null", "{\"id\":1e999}", "{\"id\":-9223372036854775809,\"name\":\"x\"}", "\u{0}\u{1}", "{\"id\":1,\"name\":\"\\ud800\"}"] {
        let (status, b) = send(post(body)).await;
        assert!(status == 400 || status == 409, "{body}: {status} {b}");
        assert_eq!(b["success"], false);
    }
    let (status, _) = send(s.client.get(s.url("/healthz"))).await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test]
async fn credentials_crud_schema_and_secrecy() {
    let s = TestServer::start().await;
    let k = s.create_association(10, "Creds").await;
    let path = "/api/v1/associations/10/credentials";
    let r = |m: Method, p: &str| s.req(m, p, &k.api_key, &k.secret_key);

    let (status, body) = send(r(Method::POST, path).json(&json!({
        "providerId": 1, "senderName": "ACME",
        "credentials": {"username": "acme_user", "password": "s3cretP@ss"}, "isDefault": true
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["message"], "Credential created successfully");
    assert_eq!(body["data"]["provider"]["code"], "yamamah");
    assert_eq!(body["data"]["provider"]["name"], "Yamamah");
    assert_eq!(body["data"]["isDefault"], true);
    let first = body["data"]["id"].as_i64().unwrap();

    let (status, body) = send(r(Method::POST, path).json(&json!({
        "providerId": 4, "senderName": "ACME", "credentials": {"appSid": "sid-1"},
        "apiUrl": "http://127.0.0.1:9", "isDefault": true
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    let second = body["data"]["id"].as_i64().unwrap();

    // One default at a time; secrets never come back.
    let (status, body) = send(r(Method::GET, path)).await;
    assert_eq!(status, 200);
    let list = body["data"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let by_id = |id: i64| list.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(by_id(first)["isDefault"], false);
    assert_eq!(by_id(second)["isDefault"], true);
    assert_eq!(by_id(second)["apiUrl"], "http://127.0.0.1:9");
    assert_eq!(by_id(second)["provider"], json!({"code": "unifonic", "name": "Unifonic", "channel": "sms"}));
    assert_eq!(by_id(first)["apiUrl"], serde_json::Value::Null);
    let text = body.to_string();
    assert!(!text.contains("s3cretP@ss") && !text.contains("sid-1") && !text.contains("credentials"), "{text}");

    // Schema checks name the missing field.
    assert_error(
        &send(r(Method::POST, path).json(&json!({"providerId": 7, "senderName": "A", "credentials": {"accountSid": "AC1"}}))).await,
        400,
        "credentials.authToken is required",
    );
    assert_error(
        &send(r(Method::POST, path).json(&json!({"providerId": 99, "senderName": "A", "credentials": {}}))).await,
        400,
        "providerId 99",
    );
    assert_error(&send(r(Method::POST, path).json(&json!({"providerId": 1, "senderName": "A"}))).await, 400, "missing field `credentials`");
    assert_error(
        &send(r(Method::POST, path).json(&json!({"providerId": 6, "senderName": "A", "credentials": {"apiKey": "k"}, "apiUrl": "ftp://x"})))
            .await,
        400,
        "apiUrl",
    );

    // Update: sender, credentials re-checked against the schema, apiUrl cleared with null.
    let cpath = format!("{path}/{second}");
    let (status, body) = send(r(Method::PUT, &cpath).json(&json!({"senderName": "ACME_NEW", "apiUrl": null}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Credential updated successfully");
    assert_eq!(body["data"]["senderName"], "ACME_NEW");
    assert_eq!(body["data"]["apiUrl"], serde_json::Value::Null);
    assert_error(&send(r(Method::PUT, &cpath).json(&json!({"credentials": {"appSid": ""}}))).await, 400, "credentials.appSid must not be empty");
    let (status, _) = send(r(Method::PUT, &format!("{path}/{first}")).json(&json!({"isDefault": true}))).await;
    assert_eq!(status, 200);
    let (_, body) = send(r(Method::GET, path)).await;
    let defaults: Vec<i64> = body["data"].as_array().unwrap().iter().filter(|c| c["isDefault"] == true).map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(defaults, vec![first]);

    // Delete, then 404s.
    let (status, body) = send(r(Method::DELETE, &cpath)).await;
    assert_eq!((status, body.clone()), (200, json!({"success": true, "message": "Credential deleted successfully"})));
    assert_error(&send(r(Method::DELETE, &cpath)).await, 404, "not found");
    assert_error(&send(r(Method::PUT, &cpath).json(&json!({"senderName": "x"}))).await, 404, "not found");
    assert_error(&send(s.admin(Method::GET, "/api/v1/associations/404/credentials")).await, 404, "Association 404 not found");
    assert_error(&send(r(Method::DELETE, &format!("{path}/notanumber"))).await, 400, "path parameter");
    s.stop().await;
}

#[tokio::test]
async fn providers_list_matches_the_document() {
    let s = TestServer::start().await;
    let (status, body) = send(s.admin(Method::GET, "/api/v1/providers")).await;
    assert_eq!(status, 200);
    let list = body["data"].as_array().unwrap();
    let rows: Vec<(i64, &str, &str)> = list.iter().map(|p| (p["id"].as_i64().unwrap(), p["code"].as_str().unwrap(), p["name"].as_str().unwrap())).collect();
    assert_eq!(
        rows,
        vec![
            (1, "yamamah", "Yamamah"),
            (2, "shastra", "Shastra"),
            (3, "qyadat", "Qyadat"),
            (4, "unifonic", "Unifonic"),
            (5, "4jawaly", "4Jawaly"),
            (6, "infobip", "Infobip"),
            (7, "twilio", "Twilio"),
            // Beyond the documented list: Meta's WhatsApp Cloud API, the two gateways, email,
            // Slack and voice.
            (8, "meta", "Meta WhatsApp Cloud API"),
            (9, "sidobe", "Sidobe WhatsApp API"),
            (10, "wawebgw", "WA-Web multi-client gateway"),
            (11, "smtp", "SMTP (email)"),
            (12, "slack", "Slack"),
            (13, "twiliovoice", "Twilio Programmable Voice")
        ]
    );
    let smtp = list.iter().find(|p| p["code"] == "smtp").unwrap();
    assert_eq!((smtp["channel"].clone(), smtp["fields"].clone()), (json!("email"), json!(["host", "fromAddress"])));
    assert_eq!(list[4]["fields"], json!(["appKey", "appSecret"]));
    assert_eq!((list[11]["channel"].clone(), list[12]["channel"].clone()), (json!("slack"), json!("voice")));
    assert_eq!((list[6]["channel"].clone(), list[6]["channels"].clone()), (json!("sms"), json!(["sms", "whatsapp"])));
    assert_eq!((list[7]["channel"].clone(), list[7]["fields"].clone()), (json!("whatsapp"), json!(["phoneNumberId", "accessToken"])));
    assert_eq!(list[6]["channels"], json!(["sms", "whatsapp"]));
    assert_eq!((list[8]["channel"].clone(), list[8]["fields"].clone()), (json!("whatsapp"), json!(["secretKey"])));
    assert_eq!(list[9]["fields"], json!(["apiKey", "clientId", "clientApiKey"]));
    assert_eq!(list[0]["channel"], "sms");
    assert_error(&send(s.client.get(s.url("/api/v1/providers"))).await, 401, "Invalid API key");
    s.stop().await;
}

#[tokio::test]
async fn secrets_are_sealed_at_rest() {
    let s = TestServer::start().await;
    let k = s.create_association(77, "Sealed").await;
    let (status, _) = send(s.req(Method::POST, "/api/v1/associations/77/credentials", &k.api_key, &k.secret_key).json(&json!({
        "providerId": 7, "senderName": "S", "credentials": {"accountSid": "ACsealedsid", "authToken": "tok-very-secret-123"}
    })))
    .await;
    assert_eq!(status, 201);
    let dir = s.stop().await;
    let base = dir.path().to_path_buf();
    // Nothing in the data directory reveals the secret key, the API keys or provider secrets.
    let mut files = vec![base];
    let mut seen = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        seen += bytes.len();
        for needle in [k.secret_key.as_str(), k.api_key.as_str(), k.admin_api_key.as_str(), "tok-very-secret-123"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} found in {}", p.display());
        }
    }
    assert!(seen > 0);
}
