//! The OpenAPI document against the real engine: it is served at `GET /api/v1/openapi.json`
//! as OpenAPI 3.1 with every reference resolving, and it cannot drift from the router in
//! either direction (every routed method is documented, every documented operation is
//! routed — read from the router's table and probed over HTTP).

mod common;

use common::{master_hex, test_config, ADMIN_KEY, OPERATOR, OPERATOR_PASSWORD};
use jood::api::http::openapi;
use jood::app::{App, Secrets};
use jood::auth::{AdminKey, MasterKey};
use serde_json::Value;

async fn start() -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Secrets {
        master: MasterKey::parse(&master_hex()).unwrap(),
        admin: Some(AdminKey::new(ADMIN_KEY)),
        operator: Some((OPERATOR.into(), OPERATOR_PASSWORD.into())),
    };
    let app = App::build(test_config(dir.path()), secrets).await.expect("app starts");
    (app, dir)
}

#[tokio::test]
async fn every_route_is_documented_and_every_operation_routed() {
    let (app, _dir) = start().await;
    let routes = app.routes().to_vec();
    // Fewer would mean the router's table was not read (see openapi::routes).
    assert!(routes.len() >= 40, "only {} routes read from the router: {routes:?}", routes.len());
    assert!(routes.iter().any(|r| r.path == "/api/v1/dashboard/auth/login" && r.methods == ["post"]), "nested routes: {routes:?}");
    let doc = openapi::document();
    let problems = openapi::drift(&routes, &doc);
    assert!(problems.is_empty(), "the OpenAPI document and the router differ:\n  {}", problems.join("\n  "));

    // Independently of the table: every documented operation reaches a handler (no 405, no
    // "Route not found" from the fallback), with path parameters filled in and no credentials.
    let base = format!("http://{}", app.http_addr());
    let client = reqwest::Client::new();
    let mut unrouted = Vec::new();
    let mut probed = 0;
    for (path, item) in &doc.paths.paths {
        let concrete: String = path.split('/').map(|seg| if seg.starts_with('{') { "1" } else { seg }).collect::<Vec<_>>().join("/");
        for (method, op) in [("GET", &item.get), ("POST", &item.post), ("PUT", &item.put), ("DELETE", &item.delete), ("PATCH", &item.patch)] {
            if op.is_none() {
                continue;
            }
            let resp = client.request(method.parse().unwrap(), format!("{base}{concrete}")).send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            probed += 1;
            if status == 405 || (status == 404 && text.contains("Route not found")) {
                unrouted.push(format!("{method} {path} → {status} {text}"));
            }
        }
    }
    assert!(unrouted.is_empty(), "documented but not routed:\n  {}", unrouted.join("\n  "));
    assert!(probed >= 60, "probed {probed} operations");
    // And the check can fail: a route the document lacks is named.
    let mut fewer = doc.clone();
    fewer.paths.paths.remove("/api/v1/webhook/bulk");
    let problems = openapi::drift(&routes, &fewer);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("POST /api/v1/webhook/bulk is routed but not documented"), "{problems:?}");
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_served_as_openapi_3_1() {
    let (app, _dir) = start().await;
    let resp = reqwest::get(format!("http://{}/api/v1/openapi.json", app.http_addr())).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let served: Value = resp.json().await.unwrap();
    assert_eq!(served, serde_json::to_value(openapi::document()).unwrap(), "served document differs from the generated one");
    assert_eq!(served["openapi"], "3.1.0");

    let schemes = served["components"]["securitySchemes"].as_object().unwrap();
    for (name, header) in [("apiKey", "X-API-Key"), ("apiSecret", "X-API-Secret"), ("superAdminKey", "X-API-Key"), ("webhookSignature", "X-Webhook-Signature"), ("webhookTimestamp", "X-Webhook-Timestamp"), ("csrfToken", "X-CSRF-Token")] {
        assert_eq!(schemes[name]["in"], "header", "{name}");
        assert_eq!(schemes[name]["name"], header, "{name}");
    }
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    assert_eq!(schemes["sessionCookie"]["name"], "jood_session");

    // Every reference resolves.
    let mut all = Vec::new();
    refs(&served, &mut all);
    assert!(all.len() > 100, "{} refs", all.len());
    let schemas = served["components"]["schemas"].as_object().unwrap();
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.contains_key(name), "$ref {r} does not resolve");
    }

    // Every operation: a success answer, the error envelope for 400, and the signed routes
    // carry the webhook signature scheme.
    for (path, item) in served["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2') || s.starts_with('3')), "{method} {path}: no success answer");
            assert_eq!(responses["400"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Failure", "{method} {path}");
        }
    }
    let signed = &served["paths"]["/api/v1/webhook/notification"]["post"]["security"][0];
    assert!(signed.get("webhookSignature").is_some() && signed.get("webhookTimestamp").is_some(), "{signed}");
    let dash = &served["paths"]["/api/v1/dashboard/send-sms"]["post"]["security"][0];
    assert!(dash.get("sessionCookie").is_some() && dash.get("csrfToken").is_some(), "{dash}");
    // A data envelope carries the handler's own type (generics are inlined by utoipa).
    let created = &served["components"]["schemas"]["Success_associations.CreatedView"]["properties"]["data"];
    assert_eq!(created["required"], serde_json::json!(["association", "adminApiKey"]), "{created}");
    assert_eq!(created["properties"]["association"]["$ref"], "#/components/schemas/CreatedAssociationView");
}
