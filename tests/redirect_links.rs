//! Redirect links over real HTTP: every `/api/v1/redirect-links` route and its errors,
//! `GET /r/{code}` with its click counted (and flushed to the store in the background),
//! scoping by association, the super-admin's `associationId`, paging, and clicks that
//! survive a graceful restart. And `shortenLinks: true` on sends: the text delivered (through
//! the simulator) carries `/r/` links that redirect to the original URLs, a campaign gets a
//! distinct code per recipient, and its clicks show on the message and the campaign.

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

/// The simulator, the engine and association 1 with an Infobip SMS credential on the simulator.
async fn with_sms() -> (jood::sim::SimHandle, TestServer, common::Keys) {
    let sim = jood::sim::Simulator::start("127.0.0.1:0", jood::sim::SimConfig::default()).await.unwrap();
    let s = TestServer::start_with(|c| {
        c.dispatch.route_refresh_ms = 1;
        c.dispatch.backoff_base_ms = 10;
    })
    .await;
    let k = s.create_association(1, "Jood").await;
    s.add_credential(1, &k, json!({"providerId": 6, "senderName": "JOOD", "credentials": {"apiKey": "IB_sms"}, "apiUrl": sim.base_url(), "isDefault": true})).await;
    (sim, s, k)
}

/// The codes of `{base}/r/{code}` links in `text`, in order.
fn short_codes(text: &str, base: &str) -> Vec<String> {
    let marker = format!("{base}/r/");
    text.match_indices(&marker).map(|(i, _)| text[i + marker.len()..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect()).collect()
}

async fn notification(s: &TestServer, k: &common::Keys, id: i64) -> Value {
    let got = send(s.req(Method::GET, &format!("/api/v1/notifications/{id}"), &k.api_key, &k.secret_key)).await;
    assert_eq!(got.0, 200, "{}", got.1);
    got.1["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortened_send_carries_tracked_links_that_redirect_and_count() {
    let (sim, s, k) = with_sms().await;
    let text = "Receipt: https://jood.sa/receipt/123?x=1. Track it (https://track.example/o/9) today";
    let body = json!({"associationId": 1, "recipient": "+966501234567", "message": text, "shortenLinks": true}).to_string();
    let (status, ok) = send(s.signed("/api/v1/webhook/notification", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{ok}");
    let id = ok["data"]["queueId"].as_i64().unwrap();
    let m = s.wait_terminal(&k, id, 15).await;
    let sent = m["message"].as_str().unwrap();
    let codes = short_codes(sent, &s.url(""));
    assert_eq!(codes.len(), 2, "{sent}");
    assert_ne!(codes[0], codes[1]);
    assert!(codes.iter().all(|c| c.len() == 10), "{codes:?}");
    assert_eq!(sent, format!("Receipt: {0}/r/{1}. Track it ({0}/r/{2}) today", s.url(""), codes[0], codes[1]));
    // Segments are counted on the text sent (GSM-7, one part: it is under 160 characters).
    assert_eq!((m["encoding"].as_str(), m["segments"].as_i64()), (Some("GSM7"), Some(1)), "{m}");
    // The provider got the shortened text.
    let delivered = sim.requests(jood::domain::ProviderKind::Infobip);
    assert!(delivered.iter().any(|r| r.raw_body.contains(&codes[1]) && !r.raw_body.contains("track.example")), "{delivered:?}");

    assert_eq!(click(&s, &codes[0]).await, (302, Some("https://jood.sa/receipt/123?x=1".into())));
    assert_eq!(click(&s, &codes[1]).await, (302, Some("https://track.example/o/9".into())));
    assert_eq!(click(&s, &codes[1]).await.0, 302);
    let m = notification(&s, &k, id).await;
    let links = m["links"].as_array().expect("the message shows its links");
    let by_code = |c: &str| links.iter().find(|l| l["code"] == c).unwrap_or_else(|| panic!("{c} in {m}")).clone();
    assert_eq!(by_code(&codes[0])["targetUrl"], "https://jood.sa/receipt/123?x=1");
    assert_eq!(by_code(&codes[0])["shortUrl"], s.url(&format!("/r/{}", codes[0])));
    assert_eq!((by_code(&codes[0])["clickCount"].as_i64(), by_code(&codes[1])["clickCount"].as_i64()), (Some(1), Some(2)), "{m}");

    // Tracked links are the message's, not listed with the association's own links.
    let list = send(keyed(&s, Method::GET, LINKS, &k.admin_api_key)).await;
    assert_eq!(list.1["data"]["total"], 0, "{}", list.1);
    // Without shortenLinks the text is left alone.
    let plain = s.send_sms(1, &k.secret_key, "+966501234568", text).await;
    let m = notification(&s, &k, plain).await;
    assert_eq!(m["message"], text);
    assert!(m.get("links").is_none(), "{m}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortened_campaign_gives_each_recipient_a_code_and_reports_clicks() {
    let (_sim, s, k) = with_sms().await;
    let recipients: Vec<Value> = (0..5).map(|i| json!({"phone": format!("+96650123456{i}"), "variables": {"name": format!("R{i}")}})).collect();
    let body = json!({"associationId": 1, "recipients": recipients, "message": "Hi {{name}}, the sale: https://shop.example/sale?c=7 (and https://shop.example/faq)",
                      "shortenLinks": true, "campaignName": "Tracked"})
    .to_string();
    let (status, ok) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &body)).await;
    assert_eq!(status, 200, "{ok}");
    let campaign = ok["data"]["campaignId"].as_i64().unwrap();
    let ids = s.store.list_campaign_messages(campaign, None, 100).await.unwrap();
    assert_eq!(ids.len(), 5);
    let mut all_codes = std::collections::HashSet::new();
    let mut first_code = Vec::new();
    for id in &ids {
        let m = notification(&s, &k, *id).await;
        let text = m["message"].as_str().unwrap();
        let codes = short_codes(text, &s.url(""));
        assert_eq!(codes.len(), 2, "{text}");
        assert!(text.starts_with("Hi R") && !text.contains("shop.example"), "{text}");
        assert_eq!(m["links"].as_array().unwrap().len(), 2, "{m}");
        all_codes.extend(codes.iter().cloned());
        first_code.push(codes[0].clone());
    }
    assert_eq!(all_codes.len(), 10, "a distinct code per recipient and URL: {all_codes:?}");

    // Recipient 0 clicks both of its links and one twice, recipient 1 clicks once: 4 clicks
    // by 2 recipients.
    assert_eq!(click(&s, &first_code[0]).await, (302, Some("https://shop.example/sale?c=7".into())));
    assert_eq!(click(&s, &first_code[0]).await.0, 302);
    let m0 = notification(&s, &k, ids[0]).await;
    let second = m0["links"].as_array().unwrap().iter().find(|l| l["code"] != first_code[0].as_str()).unwrap()["code"].as_str().unwrap().to_string();
    assert_eq!(click(&s, &second).await, (302, Some("https://shop.example/faq".into())));
    assert_eq!(click(&s, &first_code[1]).await.0, 302);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, c) = send(s.req(Method::GET, &format!("/api/v1/campaigns/{campaign}"), &k.api_key, &k.secret_key)).await;
        if c["data"]["clicks"] == 4 {
            assert_eq!(c["data"]["clickedRecipients"], 2, "{c}");
            break;
        }
        assert!(Instant::now() < deadline, "campaign clicks not reported: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A later click of an already counted recipient adds a click, not a recipient.
    assert_eq!(click(&s, &second).await.0, 302);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, c) = send(s.req(Method::GET, &format!("/api/v1/campaigns/{campaign}"), &k.api_key, &k.secret_key)).await;
        if c["data"]["clicks"] == 5 {
            assert_eq!(c["data"]["clickedRecipients"], 2, "{c}");
            break;
        }
        assert!(Instant::now() < deadline, "campaign clicks not reported: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A campaign without shortenLinks reports zero clicks.
    let body = json!({"associationId": 1, "recipients": ["+966501234599"], "message": "https://shop.example/x"}).to_string();
    let (_, ok) = send(s.signed("/api/v1/webhook/bulk", &k.secret_key, &body)).await;
    let other = ok["data"]["campaignId"].as_i64().unwrap();
    let (_, c) = send(s.req(Method::GET, &format!("/api/v1/campaigns/{other}"), &k.api_key, &k.secret_key)).await;
    assert_eq!((c["data"]["clicks"].as_i64(), c["data"]["clickedRecipients"].as_i64()), (Some(0), Some(0)), "{c}");
    s.stop().await;
}
