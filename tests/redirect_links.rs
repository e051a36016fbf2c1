//! Redirect links over real HTTP: every `/api/v1/redirect-links` route and its errors,
//! `GET /r/{code}` with its click counted (and flushed to the store in the background),
//! scoping by association, the super-admin's `associationId`, paging, and clicks that
//! survive a graceful restart.

mod common;

use common::{assert_error, send, TestServer, ADMIN_KEY};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LINKS: &str = "/api/v1/redirect-links";

/// A request with `X-API-Key` alone.
fn keyed(s: &TestServer, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    s.client.request(method, s.url(path)).header("x-api-key", key)
}

/// A client that shows redirects instead of following them.
fn no_follow() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn create(s: &TestServer, key: &str, body: Value) -> Value {
    let got = send(keyed(s, Method::POST, LINKS, key).json(&body)).await;
    assert_eq!(got.0, 201, "{}", got.1);
    assert_eq!(got.1["success"], true);
    got.1["data"].clone()
}

/// Follows nothing: the status and `Location` of `GET /r/{code}`.
async fn click(s: &TestServer, code: &str) -> (u16, Option<String>) {
    let resp = no_follow().get(s.url(&format!("/r/{code}"))).send().await.unwrap();
    let loc = resp.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    (resp.status().as_u16(), loc)
}

/// Polls the store until the link's flushed click count is `want` (bounded deadline).
async fn wait_flushed(s: &TestServer, id: i64, want: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = s.store.get_link(id).await.unwrap().map(|l| l.click_count);
        if got == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "link {id}: flushed clicks {got:?}, want {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_with_its_errors() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "Jood").await;

    let link = create(&s, &k.admin_api_key, json!({"targetUrl": "https://jood.sa/receipt/123", "name": "Receipt link"})).await;
    let id = link["id"].as_i64().expect("numeric id");
    let code = link["code"].as_str().unwrap();
    assert_eq!(code.len(), 10);
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()), "{code}");
    assert_eq!(link["shortUrl"], s.url(&format!("/r/{code}")), "shortUrl from the Host header without server.public_url");
    assert_eq!(link["targetUrl"], "https://jood.sa/receipt/123");
    assert_eq!(link["name"], "Receipt link");
    assert_eq!(link["associationId"], 1);
    assert_eq!(link["clickCount"], 0);
    assert!(link["lastClickedAt"].is_null());
    assert!(link["createdAt"].as_str().unwrap().ends_with('Z'));

    // The key pair works too; the public apiKey alone, a wrong key or none do not.
    let got = send(s.req(Method::GET, &format!("{LINKS}/{id}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["data"]["code"], code);
    assert_error(&send(keyed(&s, Method::GET, &format!("{LINKS}/{id}"), &k.api_key)).await, 401, "Invalid API key");
    assert_error(&send(keyed(&s, Method::GET, LINKS, "nope")).await, 401, "Invalid API key");
    assert_error(&send(s.client.get(s.url(LINKS))).await, 401, "");

    // Create errors name the field.
    for (body, needle) in [
        (json!({"name": "x"}), "targetUrl"),
        (json!({"targetUrl": ""}), "targetUrl is required"),
        (json!({"targetUrl": "ftp://jood.sa/x"}), "targetUrl must be an http or https URL"),
        (json!({"targetUrl": "javascript:alert(1)"}), "targetUrl must be an http or https URL"),
        (json!({"targetUrl": "jood.sa/receipt"}), "targetUrl is not a valid URL"),
        (json!({"targetUrl": "https://u:p@jood.sa/"}), "targetUrl must not contain a username or password"),
        (json!({"targetUrl": format!("https://jood.sa/{}", "a".repeat(3000))}), "targetUrl is too long"),
        (json!({"targetUrl": 7}), "targetUrl"),
        (json!({"targetUrl": "https://jood.sa/", "name": "n".repeat(201)}), "name is too long"),
    ] {
        assert_error(&send(keyed(&s, Method::POST, LINKS, &k.admin_api_key).json(&body)).await, 400, needle);
    }
    let malformed = keyed(&s, Method::POST, LINKS, &k.admin_api_key).header("content-type", "application/json").body("{\"targetUrl\":");
    assert_error(&send(malformed).await, 400, "malformed JSON");

    // Update: either field; nothing, or a bad target, is a 400.
    let got = send(keyed(&s, Method::PUT, &format!("{LINKS}/{id}"), &k.admin_api_key).json(&json!({"targetUrl": "https://jood.sa/receipt/456"}))).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["data"]["targetUrl"], "https://jood.sa/receipt/456");
    assert_eq!(got.1["data"]["name"], "Receipt link");
    assert_eq!(got.1["data"]["code"], code, "the code never changes");
    let got = send(keyed(&s, Method::PUT, &format!("{LINKS}/{id}"), &k.admin_api_key).json(&json!({"name": "Renamed"}))).await;
    assert_eq!(got.1["data"]["name"], "Renamed");
    assert_eq!(got.1["data"]["targetUrl"], "https://jood.sa/receipt/456");
    assert_error(&send(keyed(&s, Method::PUT, &format!("{LINKS}/{id}"), &k.admin_api_key).json(&json!({}))).await, 400, "nothing to update");
    assert_error(
        &send(keyed(&s, Method::PUT, &format!("{LINKS}/{id}"), &k.admin_api_key).json(&json!({"targetUrl": "mailto:a@b.c"}))).await,
        400,
        "targetUrl must be an http or https URL",
    );
    assert_error(&send(keyed(&s, Method::PUT, &format!("{LINKS}/424242"), &k.admin_api_key).json(&json!({"name": "x"}))).await, 404, "Redirect link not found");
    assert_error(&send(keyed(&s, Method::GET, &format!("{LINKS}/abc"), &k.admin_api_key)).await, 400, "path parameter");

    // Delete, then it is gone everywhere.
    let got = send(keyed(&s, Method::DELETE, &format!("{LINKS}/{id}"), &k.admin_api_key)).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(got.1["message"], "Redirect link deleted successfully");
    assert_error(&send(keyed(&s, Method::GET, &format!("{LINKS}/{id}"), &k.admin_api_key)).await, 404, "Redirect link not found");
    assert_error(&send(keyed(&s, Method::DELETE, &format!("{LINKS}/{id}"), &k.admin_api_key)).await, 404, "Redirect link not found");
    assert_eq!(click(&s, code).await.0, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_and_counts_clicks() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "Jood").await;
    let link = create(&s, &k.admin_api_key, json!({"targetUrl": "https://jood.sa/receipt/123?x=1"})).await;
    let (id, code) = (link["id"].as_i64().unwrap(), link["code"].as_str().unwrap().to_string());

    for _ in 0..3 {
        assert_eq!(click(&s, &code).await, (302, Some("https://jood.sa/receipt/123?x=1".into())));
    }
    // Unknown and malformed codes: 404 in the envelope, nothing counted.
    for bad in ["ZZZZZZZZZZ", "a-b", &"a".repeat(40)] {
        let got = send(s.client.get(s.url(&format!("/r/{bad}")))).await;
        assert_error(&got, 404, "Redirect link not found");
    }

    // The clicks reach the store by the batched flush; the API shows them at once.
    wait_flushed(&s, id, 3).await;
    let got = send(keyed(&s, Method::GET, &format!("{LINKS}/{id}"), &k.admin_api_key)).await;
    assert_eq!(got.1["data"]["clickCount"], 3, "{}", got.1);
    let last = got.1["data"]["lastClickedAt"].as_str().expect("last click time");
    assert!(last.ends_with('Z'), "{last}");

    // An update through this node redirects to the new target at once (cache invalidated).
    let got = send(keyed(&s, Method::PUT, &format!("{LINKS}/{id}"), &k.admin_api_key).json(&json!({"targetUrl": "http://example.com/new"}))).await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(click(&s, &code).await, (302, Some("http://example.com/new".into())));
    wait_flushed(&s, id, 4).await;

    let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l.starts_with("jood_redirects_total{result=\"found\"}")), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("jood_redirects_total{result=\"not_found\"}")));

    let got = send(keyed(&s, Method::DELETE, &format!("{LINKS}/{id}"), &k.admin_api_key)).await;
    assert_eq!(got.0, 200);
    assert_eq!(click(&s, &code).await.0, 404, "a deleted link no longer redirects");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_by_association_and_the_super_admin_names_it() {
    let s = TestServer::start().await;
    let k1 = s.create_association(1, "One").await;
    let k2 = s.create_association(2, "Two").await;
    let mine = create(&s, &k1.admin_api_key, json!({"targetUrl": "https://one.example/"})).await;
    let id = mine["id"].as_i64().unwrap();

    // Another association's link is a 404 on every route; naming another association, a 403.
    let path = format!("{LINKS}/{id}");
    assert_error(&send(keyed(&s, Method::GET, &path, &k2.admin_api_key)).await, 404, "Redirect link not found");
    assert_error(&send(keyed(&s, Method::PUT, &path, &k2.admin_api_key).json(&json!({"name": "x"}))).await, 404, "Redirect link not found");
    assert_error(&send(keyed(&s, Method::DELETE, &path, &k2.admin_api_key)).await, 404, "Redirect link not found");
    let got = send(keyed(&s, Method::GET, LINKS, &k2.admin_api_key)).await;
    assert_eq!(got.1["data"]["total"], 0, "{}", got.1);
    assert_error(&send(keyed(&s, Method::GET, &format!("{LINKS}?associationId=1"), &k2.admin_api_key)).await, 403, "another association");
    assert_error(
        &send(keyed(&s, Method::POST, LINKS, &k2.admin_api_key).json(&json!({"associationId": 1, "targetUrl": "https://x.example/"}))).await,
        403,
        "another association",
    );
    // Naming its own association is fine.
    let got = send(keyed(&s, Method::GET, &format!("{path}?associationId=1"), &k1.admin_api_key)).await;
    assert_eq!(got.0, 200, "{}", got.1);

    // The super-admin: associationId in the body or the query, required, and checked.
    assert_error(&send(keyed(&s, Method::POST, LINKS, ADMIN_KEY).json(&json!({"targetUrl": "https://x.example/"}))).await, 400, "associationId is required");
    assert_error(
        &send(keyed(&s, Method::POST, LINKS, ADMIN_KEY).json(&json!({"associationId": 99, "targetUrl": "https://x.example/"}))).await,
        404,
        "Association not found",
    );
    let theirs = create(&s, ADMIN_KEY, json!({"associationId": 2, "targetUrl": "https://two.example/"})).await;
    assert_eq!(theirs["associationId"], 2);
    let got = send(keyed(&s, Method::POST, &format!("{LINKS}?associationId=2"), ADMIN_KEY).json(&json!({"targetUrl": "https://two.example/b"}))).await;
    assert_eq!(got.0, 201, "{}", got.1);
    assert_error(
        &send(keyed(&s, Method::POST, &format!("{LINKS}?associationId=1"), ADMIN_KEY).json(&json!({"associationId": 2, "targetUrl": "https://x.example/"}))).await,
        400,
        "associationId differs",
    );
    let tid = theirs["id"].as_i64().unwrap();
    assert_eq!(send(keyed(&s, Method::GET, &format!("{LINKS}/{tid}?associationId=2"), ADMIN_KEY)).await.0, 200);
    assert_error(&send(keyed(&s, Method::GET, &format!("{LINKS}/{tid}?associationId=1"), ADMIN_KEY)).await, 404, "Redirect link not found");
    assert_error(&send(keyed(&s, Method::GET, &format!("{LINKS}/{tid}"), ADMIN_KEY)).await, 400, "associationId is required");
    let got = send(keyed(&s, Method::PUT, &format!("{LINKS}/{tid}"), ADMIN_KEY).json(&json!({"associationId": 2, "name": "by admin"}))).await;
    assert_eq!(got.1["data"]["name"], "by admin", "{}", got.1);
    let got = send(keyed(&s, Method::GET, &format!("{LINKS}?associationId=2"), ADMIN_KEY)).await;
    assert_eq!(got.1["data"]["total"], 2, "{}", got.1);
    assert_eq!(send(keyed(&s, Method::DELETE, &format!("{LINKS}/{tid}?associationId=2"), ADMIN_KEY)).await.0, 200);
    // Association 1's link is untouched by all of it.
    assert_eq!(send(keyed(&s, Method::GET, &path, &k1.admin_api_key)).await.0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_newest_first() {
    let s = TestServer::start().await;
    let k = s.create_association(1, "Jood").await;
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(create(&s, &k.admin_api_key, json!({"targetUrl": format!("https://jood.sa/{i}")})).await["id"].as_i64().unwrap());
    }
    let page = |p: usize, l: usize| send(keyed(&s, Method::GET, &format!("{LINKS}?page={p}&limit={l}"), &k.admin_api_key));
    let mut seen = Vec::new();
    for (p, want) in [(1, 10), (2, 10), (3, 5), (4, 0)] {
        let got = page(p, 10).await;
        assert_eq!(got.0, 200, "{}", got.1);
        let d = &got.1["data"];
        assert_eq!((d["total"].as_u64(), d["page"].as_u64(), d["limit"].as_u64()), (Some(25), Some(p as u64), Some(10)));
        let items = d["items"].as_array().unwrap();
        assert_eq!(items.len(), want, "page {p}");
        assert!(items.iter().all(|l| l["clickCount"] == 0 && l["shortUrl"].as_str().unwrap().contains("/r/")));
        seen.extend(items.iter().map(|l| l["id"].as_i64().unwrap()));
    }
    created.reverse();
    assert_eq!(seen, created, "every link once, newest first");
    // Defaults, and the bounds.
    let got = send(keyed(&s, Method::GET, LINKS, &k.admin_api_key)).await;
    assert_eq!(got.1["data"]["items"].as_array().unwrap().len(), 20);
    assert_error(&page(0, 10).await, 400, "page");
    assert_error(&page(1, 0).await, 400, "limit");
    assert_error(&page(1, 101).await, 400, "limit");
    assert_error(&page(10_001, 10).await, 400, "page must be at most");
    assert_error(&send(keyed(&s, Method::GET, &format!("{LINKS}?page=abc"), &k.admin_api_key)).await, 400, "query string");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_survive_a_graceful_restart_and_public_url_shapes_short_urls() {
    let s = TestServer::start_with(|c| c.server.public_url = "https://send.jood.example/".into()).await;
    let k = s.create_association(1, "Jood").await;
    let link = create(&s, &k.admin_api_key, json!({"targetUrl": "https://jood.sa/r"})).await;
    let (id, code) = (link["id"].as_i64().unwrap(), link["code"].as_str().unwrap().to_string());
    assert_eq!(link["shortUrl"], format!("https://send.jood.example/r/{code}"));
    for _ in 0..5 {
        assert_eq!(click(&s, &code).await.0, 302);
    }
    // Stopped at once: whatever the flusher had not written is flushed on the way down.
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |_| {}).await;
    assert_eq!(s.store.get_link(id).await.unwrap().unwrap().click_count, 5);
    let got = send(keyed(&s, Method::GET, &format!("{LINKS}/{id}"), &k.admin_api_key)).await;
    assert_eq!(got.1["data"]["clickCount"], 5, "{}", got.1);
    assert_eq!(click(&s, &code).await, (302, Some("https://jood.sa/r".into())));
    s.stop().await;
}
