//! The provider adapters (seven SMS, Meta's WhatsApp Cloud API) against the provider simulator over real HTTP on loopback:
//! accepted sends and the exact requests the simulator received (checked against
//! `shared/providers/*.md`), then invalid numbers, scripted 500 / throttle / auth / timeout
//! faults, connection refused, duplicates, and the control plane.

use base64::Engine;
use jood::domain::{Channel, ProviderKind, WhatsAppContent, WhatsAppTemplate};
use jood::providers::{self, OutboundMessage, Payload, ProviderCredential, SendOutcome};
use jood::sim::{FaultMode, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SENDER: &str = "JoodTest";
const TEXT: &str = "Your code is 482901";
const GOOD: &str = "+966501234567";
const INVALID: &str = "+966500000000";

/// One credential per provider and the identity the simulator counts it under.
fn credential(kind: ProviderKind, base_url: &str) -> (ProviderCredential, &'static str) {
    let (fields, identity) = match kind {
        ProviderKind::Yamamah => (json!({"username": "966511111111", "password": "yam-pass"}), "966511111111"),
        ProviderKind::Shastra => (json!({"username": "20099446", "password": "sha-pass"}), "20099446"),
        ProviderKind::Qyadat => (json!({"username": "966522222222", "password": "qya-pass"}), "966522222222"),
        ProviderKind::Unifonic => (json!({"appSid": "axuN0U7QlmqVPsfdgoK0mZ"}), "axuN0U7QlmqVPsfdgoK0mZ"),
        ProviderKind::FourJawaly => (json!({"appKey": "jaw-key", "appSecret": "jaw-secret"}), "jaw-key"),
        ProviderKind::Infobip => (json!({"apiKey": "003026bbc133714df1834b8638bb496e"}), "003026bbc133714df1834b8638bb496e"),
        ProviderKind::Twilio => (
            json!({"accountSid": "AC0123456789abcdef0123456789abcdef", "authToken": "tw-token"}),
            "AC0123456789abcdef0123456789abcdef",
        ),
        ProviderKind::MetaWhatsapp => (json!({"phoneNumberId": "106540352242922", "accessToken": "EAAGsim"}), "106540352242922"),
        ProviderKind::Sidobe | ProviderKind::WaWebGateway => unreachable!("the gateways are tested in tests/gateways.rs"),
        ProviderKind::Smtp => unreachable!("{}", NOT_HTTP),
        ProviderKind::Slack | ProviderKind::TwilioVoice => unreachable!("{}", OWN_SUITE),
    };
    // The Graph API's base URL carries its version.
    let base = if kind == ProviderKind::MetaWhatsapp { format!("{base_url}/v23.0") } else { base_url.to_owned() };
    let cred = ProviderCredential::new(kind.id(), fields.as_object().unwrap().clone(), base);
    (cred, identity)
}

/// The providers of the simulator's shared pipeline (scripted faults, invalid numbers,
/// duplicates). The WhatsApp gateways (Sidobe, the WA-Web gateway) have their own simulator
/// state and settings, tested in `tests/gateways.rs`.
const KINDS: [ProviderKind; 8] = [
    ProviderKind::Yamamah,
    ProviderKind::Shastra,
    ProviderKind::Qyadat,
    ProviderKind::Unifonic,
    ProviderKind::FourJawaly,
    ProviderKind::Infobip,
    ProviderKind::Twilio,
    ProviderKind::MetaWhatsapp,
];

const PROVIDERS: usize = KINDS.len();

/// SMTP is not an HTTP provider: its sink and adapter are tested over real SMTP in
/// `tests/email.rs`; this suite covers the HTTP wire formats.
const NOT_HTTP: &str = "smtp is tested in tests/email.rs";
const OWN_SUITE: &str = "slack and twiliovoice are tested in tests/slack_voice.rs";

fn sms(message_id: i64, recipient: &str) -> OutboundMessage {
    OutboundMessage::sms(message_id, recipient, TEXT, SENDER)
}

/// A message on the provider's primary channel: an SMS, or a WhatsApp session text.
fn message(kind: ProviderKind, message_id: i64, recipient: &str) -> OutboundMessage {
    match kind.channels()[0] {
        Channel::Sms => sms(message_id, recipient),
        Channel::Whatsapp => OutboundMessage {
            payload: Payload::WhatsApp(WhatsAppContent::Text { body: TEXT.into(), preview_url: false }),
            ..sms(message_id, recipient)
        },
        Channel::Email => unreachable!("{}", NOT_HTTP),
        Channel::Slack | Channel::Voice => unreachable!("{}", OWN_SUITE),
    }
}

fn client() -> jood::net::HttpClient {
    providers::http_client(Duration::from_secs(2)).unwrap()
}

async fn start(config: SimConfig) -> SimHandle {
    Simulator::start("127.0.0.1:0", config).await.unwrap()
}

async fn send(sim_base: &str, kind: ProviderKind, message_id: i64, recipient: &str, timeout: Duration) -> SendOutcome {
    let (cred, _) = credential(kind, sim_base);
    providers::send(providers::adapter(kind), &client(), &cred, &message(kind, message_id, recipient), timeout).await.0
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// The provider message id has the provider's documented shape.
fn assert_id_format(kind: ProviderKind, id: &str, message_id: i64) {
    let ok = match kind {
        ProviderKind::Twilio => id.len() == 34 && id.starts_with("SM") && id[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        // We send our message id as the destination's messageId; Infobip echoes it.
        ProviderKind::Infobip => id == message_id.to_string(),
        ProviderKind::Unifonic => is_digits(id, 10),
        ProviderKind::FourJawaly => {
            let parts: Vec<usize> = id.split('-').map(str::len).collect();
            parts == [8, 4, 4, 4, 12] && id.replace('-', "").bytes().all(|b| b.is_ascii_hexdigit())
        }
        ProviderKind::Yamamah | ProviderKind::Shastra => is_digits(id, 10),
        // Qyadat's (legacy 4jawaly.net) answer carries no id.
        ProviderKind::Qyadat => id.is_empty(),
        ProviderKind::MetaWhatsapp => id.starts_with("wamid.") && id.len() > 20,
        ProviderKind::Sidobe | ProviderKind::WaWebGateway => unreachable!("not in KINDS"),
        ProviderKind::Smtp => unreachable!("{}", NOT_HTTP),
        ProviderKind::Slack | ProviderKind::TwilioVoice => unreachable!("{}", OWN_SUITE),
    };
    assert!(ok, "{kind:?}: provider id {id:?} is not in the provider's format");
}

async fn control(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The last request the simulator recorded for a provider, fetched through the control plane.
async fn last_request(sim: &SimHandle, kind: ProviderKind) -> Value {
    let url = format!("{}/_sim/requests?provider={}&limit=1", sim.base_url(), kind.code());
    let (status, v) = control(reqwest::Method::GET, url, None).await;
    assert_eq!(status, 200);
    v.as_array().and_then(|a| a.last().cloned()).unwrap_or_else(|| panic!("{kind:?}: no request recorded"))
}

fn header<'a>(req: &'a Value, name: &str) -> &'a str {
    req["headers"][name].as_str().unwrap_or("")
}

/// The request matches the provider doc: method, path, auth, encoding and every field.
fn assert_request(kind: ProviderKind, req: &Value, message_id: i64) {
    let ct = header(req, "content-type");
    let (method, path) = (req["method"].as_str().unwrap(), req["path"].as_str().unwrap());
    match kind {
        ProviderKind::Twilio => {
            assert_eq!((method, path), ("POST", "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"));
            assert_eq!(header(req, "authorization"), basic("AC0123456789abcdef0123456789abcdef", "tw-token"));
            assert!(ct.starts_with("application/x-www-form-urlencoded"), "{ct}");
            assert_eq!(req["body"], json!({"To": GOOD, "From": SENDER, "Body": TEXT}));
        }
        ProviderKind::Infobip => {
            assert_eq!((method, path), ("POST", "/sms/3/messages"));
            assert_eq!(header(req, "authorization"), "App 003026bbc133714df1834b8638bb496e");
            assert_eq!(ct, "application/json");
            assert_eq!(header(req, "accept"), "application/json");
            assert_eq!(
                req["body"],
                json!({"messages": [{"sender": SENDER,
                    "destinations": [{"to": "966501234567", "messageId": message_id.to_string()}],
                    "content": {"text": TEXT}}]})
            );
        }
        ProviderKind::Unifonic => {
            assert_eq!((method, path), ("POST", "/rest/SMS/messages"));
            assert!(ct.starts_with("application/x-www-form-urlencoded"), "{ct}");
            assert_eq!(header(req, "authorization"), "", "Unifonic auth is the AppSid form field");
            assert_eq!(
                req["body"],
                json!({"AppSid": "axuN0U7QlmqVPsfdgoK0mZ", "SenderID": SENDER, "Recipient": "966501234567",
                       "Body": TEXT, "responseType": "JSON", "CorrelationID": message_id.to_string()})
            );
        }
        ProviderKind::FourJawaly => {
            assert_eq!((method, path), ("POST", "/api/v1/account/area/sms/send"));
            assert_eq!(header(req, "authorization"), basic("jaw-key", "jaw-secret"));
            assert_eq!(ct, "application/json");
            assert_eq!(header(req, "accept"), "application/json");
            assert!(header(req, "user-agent").starts_with("jood/"));
            assert_eq!(req["body"], json!({"messages": [{"text": TEXT, "numbers": ["966501234567"], "sender": SENDER}]}));
        }
        ProviderKind::Yamamah => {
            assert_eq!((method, path), ("POST", "/SendSMS"));
            assert_eq!(ct, "application/json");
            assert_eq!(
                req["body"],
                json!({"Username": "966511111111", "Password": "yam-pass", "Tagname": SENDER,
                       "RecepientNumber": "966501234567", "VariableList": "", "ReplacementList": "",
                       "Message": TEXT, "SendDateTime": 0, "EnableDR": false})
            );
        }
        ProviderKind::Shastra => {
            assert_eq!((method, path), ("POST", "/sendsms_api_json.aspx"));
            assert_eq!(ct, "application/json");
            assert_eq!(
                req["body"],
                json!([{"user": "20099446", "pwd": "sha-pass", "number": "966501234567", "msg": TEXT,
                        "sender": SENDER, "language": "English"}])
            );
        }
        ProviderKind::Qyadat => {
            assert_eq!((method, path), ("GET", "/sms/api/sendsms.php"));
            assert_eq!(req["body"], Value::Null);
            assert_eq!(req["raw_body"], "");
            assert_eq!(
                req["query"],
                json!({"username": "966522222222", "password": "qya-pass", "numbers": "966501234567",
                       "sender": SENDER, "message": TEXT, "unicode": "e", "return": "json", "Rmduplicated": "1"})
            );
        }
        ProviderKind::MetaWhatsapp => {
            assert_eq!((method, path), ("POST", "/v23.0/106540352242922/messages"));
            assert_eq!(header(req, "authorization"), "Bearer EAAGsim");
            assert_eq!(ct, "application/json");
            assert_eq!(
                req["body"],
                json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "966501234567",
                       "biz_opaque_callback_data": message_id.to_string(),
                       "type": "text", "text": {"preview_url": false, "body": TEXT}})
            );
        }
        ProviderKind::Sidobe | ProviderKind::WaWebGateway => unreachable!("not in KINDS"),
        ProviderKind::Smtp => unreachable!("{}", NOT_HTTP),
        ProviderKind::Slack | ProviderKind::TwilioVoice => unreachable!("{}", OWN_SUITE),
    }
}

#[tokio::test]
async fn every_adapter_is_accepted_and_sends_the_documented_request() {
    let sim = start(SimConfig::default()).await;
    for (i, kind) in KINDS.into_iter().enumerate() {
        let message_id = 9_000_000_000 + i as i64;
        let outcome = send(&sim.base_url(), kind, message_id, GOOD, Duration::from_secs(5)).await;
        match &outcome {
            SendOutcome::Accepted { provider_message_id } => assert_id_format(kind, provider_message_id, message_id),
            other => panic!("{kind:?}: expected Accepted, got {other:?}"),
        }
        assert_request(kind, &last_request(&sim, kind).await, message_id);
    }
    let stats = sim.stats();
    assert_eq!(stats["total"]["received"], PROVIDERS);
    assert_eq!(stats["total"]["accepted"], PROVIDERS);
    for kind in KINDS {
        let (_, identity) = credential(kind, "");
        let p = &stats["providers"][kind.code()];
        assert_eq!(p["accepted"], 1, "{kind:?}");
        assert_eq!(p["credentials"][identity]["received"], 1, "{kind:?}: counted under its identity");
    }
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn arabic_text_switches_the_encoding_flags() {
    let sim = start(SimConfig::default()).await;
    for kind in [ProviderKind::Shastra, ProviderKind::Qyadat] {
        let (cred, _) = credential(kind, &sim.base_url());
        let msg = OutboundMessage::sms(1, GOOD, "رمز التحقق 482901", SENDER);
        let (outcome, _) = providers::send(providers::adapter(kind), &client(), &cred, &msg, Duration::from_secs(5)).await;
        assert!(matches!(outcome, SendOutcome::Accepted { .. }), "{kind:?}: {outcome:?}");
    }
    let shastra = last_request(&sim, ProviderKind::Shastra).await;
    assert_eq!(shastra["body"][0]["language"], "Unicode");
    assert_eq!(shastra["body"][0]["msg"], "رمز التحقق 482901");
    let qyadat = last_request(&sim, ProviderKind::Qyadat).await;
    assert_eq!(qyadat["query"]["unicode"], "u");
    assert_eq!(qyadat["query"]["message"], "رمز التحقق 482901");
}

#[tokio::test]
async fn invalid_numbers_are_permanent_recipient() {
    let sim = start(SimConfig::default()).await;
    for kind in KINDS {
        let outcome = send(&sim.base_url(), kind, 1, INVALID, Duration::from_secs(5)).await;
        assert!(matches!(outcome, SendOutcome::PermanentRecipient { .. }), "{kind:?}: {outcome:?}");
    }
    assert_eq!(sim.stats()["total"]["rejected"]["invalid_number"], PROVIDERS);
}

/// Arms one scripted fault for this provider and credential, sends, and checks that the next
/// send (the fault's count used up) is accepted again.
async fn with_fault(sim: &SimHandle, kind: ProviderKind, mode: FaultMode, timeout: Duration) -> SendOutcome {
    let (_, identity) = credential(kind, "");
    let fault = json!({"provider": kind.code(), "credential": identity, "mode": mode, "count": 1});
    let (status, armed) = control(reqwest::Method::POST, format!("{}/_sim/faults", sim.base_url()), Some(fault)).await;
    assert_eq!(status, 200, "{armed}");
    let outcome = send(&sim.base_url(), kind, 1, GOOD, timeout).await;
    let after = send(&sim.base_url(), kind, 2, GOOD, Duration::from_secs(5)).await;
    assert!(matches!(after, SendOutcome::Accepted { .. }), "{kind:?} after a count-1 {mode:?}: {after:?}");
    outcome
}

#[tokio::test]
async fn scripted_500_is_transient() {
    let sim = start(SimConfig::default()).await;
    for kind in KINDS {
        let outcome = with_fault(&sim, kind, FaultMode::Error500, Duration::from_secs(5)).await;
        assert!(matches!(outcome, SendOutcome::Transient { .. }), "{kind:?}: {outcome:?}");
    }
    assert_eq!(sim.stats()["total"]["rejected"]["server_error"], PROVIDERS);
}

#[tokio::test]
async fn scripted_throttle_is_throttled_with_retry_after() {
    let sim = start(SimConfig { retry_after_secs: 2, ..SimConfig::default() }).await;
    for kind in KINDS {
        let outcome = with_fault(&sim, kind, FaultMode::Throttle, Duration::from_secs(5)).await;
        assert_eq!(outcome, SendOutcome::Throttled { retry_after: Some(Duration::from_secs(2)) }, "{kind:?}");
    }
    // Without the header the engine gets no hint.
    sim.set_config(SimConfig { retry_after: false, ..sim.config() }).unwrap();
    for kind in KINDS {
        let outcome = with_fault(&sim, kind, FaultMode::Throttle, Duration::from_secs(5)).await;
        assert_eq!(outcome, SendOutcome::Throttled { retry_after: None }, "{kind:?}");
    }
}

#[tokio::test]
async fn scripted_auth_error_is_permanent_config() {
    let sim = start(SimConfig::default()).await;
    for kind in KINDS {
        let outcome = with_fault(&sim, kind, FaultMode::AuthError, Duration::from_secs(5)).await;
        assert!(matches!(outcome, SendOutcome::PermanentConfig { .. }), "{kind:?}: {outcome:?}");
    }
    assert_eq!(sim.stats()["total"]["rejected"]["auth"], PROVIDERS);
}

#[tokio::test]
async fn scripted_body_level_server_error_is_transient() {
    let sim = start(SimConfig::default()).await;
    for kind in KINDS {
        let outcome = with_fault(&sim, kind, FaultMode::ServerError, Duration::from_secs(5)).await;
        assert!(matches!(outcome, SendOutcome::Transient { .. }), "{kind:?}: {outcome:?}");
    }
}

#[tokio::test]
async fn scripted_timeout_is_ambiguous() {
    let sim = start(SimConfig::default()).await;
    for kind in KINDS {
        let started = Instant::now();
        let outcome = with_fault(&sim, kind, FaultMode::Timeout, Duration::from_millis(300)).await;
        assert!(matches!(outcome, SendOutcome::Ambiguous { .. }), "{kind:?}: {outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{kind:?}: the client timeout, not the 30 s hang, ended it");
    }
    assert_eq!(sim.stats()["total"]["hung"], PROVIDERS);
    // Stopping does not wait for the hanging handlers.
    let started = Instant::now();
    sim.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed = format!("http://127.0.0.1:{port}");
    for kind in KINDS {
        let outcome = send(&closed, kind, 1, GOOD, Duration::from_secs(2)).await;
        assert!(matches!(outcome, SendOutcome::Transient { .. }), "{kind:?}: {outcome:?}");
    }
}

#[tokio::test]
async fn client_ids_make_resends_idempotent() {
    let sim = start(SimConfig::default()).await;
    // Unifonic: a repeated CorrelationID is a 409, i.e. already sent.
    assert!(matches!(send(&sim.base_url(), ProviderKind::Unifonic, 77, GOOD, Duration::from_secs(5)).await, SendOutcome::Accepted { .. }));
    assert_eq!(
        send(&sim.base_url(), ProviderKind::Unifonic, 77, GOOD, Duration::from_secs(5)).await,
        SendOutcome::Accepted { provider_message_id: String::new() }
    );
    // Infobip: a repeated messageId is REJECTED_DUPLICATE_MESSAGE_ID for the same id.
    for _ in 0..2 {
        assert_eq!(
            send(&sim.base_url(), ProviderKind::Infobip, 78, GOOD, Duration::from_secs(5)).await,
            SendOutcome::Accepted { provider_message_id: "78".into() }
        );
    }
    let stats = sim.stats();
    assert_eq!(stats["providers"]["unifonic"]["rejected"]["duplicate"], 1);
    assert_eq!(stats["providers"]["infobip"]["rejected"]["duplicate"], 1);
}

#[tokio::test]
async fn random_fault_rates_apply_to_every_provider() {
    let sim = start(SimConfig { error_rate: 1.0, ..SimConfig::default() }).await;
    for kind in KINDS {
        let outcome = send(&sim.base_url(), kind, 1, GOOD, Duration::from_secs(5)).await;
        assert!(matches!(outcome, SendOutcome::Transient { .. }), "{kind:?}: {outcome:?}");
    }
    sim.set_config(SimConfig { throttle_rate: 1.0, retry_after_secs: 4, ..SimConfig::default() }).unwrap();
    for kind in KINDS {
        let outcome = send(&sim.base_url(), kind, 1, GOOD, Duration::from_secs(5)).await;
        assert_eq!(outcome, SendOutcome::Throttled { retry_after: Some(Duration::from_secs(4)) }, "{kind:?}");
    }
    sim.set_config(SimConfig { latency_ms: 150, ..SimConfig::default() }).unwrap();
    let (cred, _) = credential(ProviderKind::Twilio, &sim.base_url());
    let (outcome, latency) =
        providers::send(providers::adapter(ProviderKind::Twilio), &client(), &cred, &sms(1, GOOD), Duration::from_secs(5)).await;
    assert!(matches!(outcome, SendOutcome::Accepted { .. }));
    assert!(latency >= Duration::from_millis(150), "{latency:?}");
}

#[tokio::test]
async fn control_plane_over_http() {
    let sim = start(SimConfig::default()).await;
    let base = sim.base_url();
    let (status, cfg) = control(reqwest::Method::POST, format!("{base}/_sim/config"), Some(json!({"latency_ms": 5}))).await;
    assert_eq!(status, 200);
    assert_eq!((cfg["latency_ms"].as_u64(), cfg["invalid_number_suffix"].as_str()), (Some(5), Some("0000")), "merged");
    let (status, cfg) = control(reqwest::Method::POST, format!("{base}/_sim/config?replace=true"), Some(json!({"hang_ms": 10}))).await;
    assert_eq!((status, cfg["latency_ms"].as_u64(), cfg["hang_ms"].as_u64()), (200, Some(0), Some(10)), "replaced");
    let (status, err) = control(reqwest::Method::POST, format!("{base}/_sim/config"), Some(json!({"error_rate": 2}))).await;
    assert_eq!(status, 400, "{err}");

    let (status, _) = control(reqwest::Method::POST, format!("{base}/_sim/faults"), Some(json!({"provider": "nope", "mode": "throttle"}))).await;
    assert_eq!(status, 400);
    let faults = json!([{"provider": "twilio", "mode": "throttle"}, {"credential": "x", "mode": "timeout", "count": 3}]);
    let (status, armed) = control(reqwest::Method::POST, format!("{base}/_sim/faults"), Some(faults)).await;
    assert_eq!((status, armed.as_array().map(Vec::len)), (200, Some(2)));
    let (_, listed) = control(reqwest::Method::GET, format!("{base}/_sim/faults"), None).await;
    assert_eq!(listed[1]["count"], 3);
    let outcome = send(&base, ProviderKind::Twilio, 1, GOOD, Duration::from_secs(5)).await;
    assert!(matches!(outcome, SendOutcome::Throttled { .. }), "a fault without count stays armed: {outcome:?}");
    let (status, cleared) = control(reqwest::Method::DELETE, format!("{base}/_sim/faults"), None).await;
    assert_eq!((status, cleared), (200, json!([])));
    assert!(matches!(send(&base, ProviderKind::Twilio, 2, GOOD, Duration::from_secs(5)).await, SendOutcome::Accepted { .. }));

    let (_, stats) = control(reqwest::Method::GET, format!("{base}/_sim/stats"), None).await;
    assert_eq!(stats["providers"]["twilio"]["received"], 2);
    assert_eq!(stats["providers"]["twilio"]["rejected"]["throttled"], 1);
    assert_eq!(stats["total"]["accepted"], 1);
    let (status, _) = control(reqwest::Method::POST, format!("{base}/_sim/reset"), None).await;
    assert_eq!(status, 200);
    let (_, stats) = control(reqwest::Method::GET, format!("{base}/_sim/stats"), None).await;
    assert_eq!(stats["total"]["received"], 0);
    let (_, requests) = control(reqwest::Method::GET, format!("{base}/_sim/requests?provider=twilio"), None).await;
    assert_eq!(requests, json!([]));
}

/// The endpoints adapters don't use but real clients do: Infobip v2, mShastra's URL API,
/// Yamamah's query variant, 4jawaly multi-number messages with one invalid number.
#[tokio::test]
async fn alternate_endpoints_speak_their_formats() {
    let sim = start(SimConfig::default()).await;
    let base = sim.base_url();
    let http = reqwest::Client::new();

    let v2 = json!({"messages": [{"from": "S", "destinations": [{"to": "966501234567"}, {"to": "966500000000"}], "text": "hi"}]});
    let r: Value = http.post(format!("{base}/sms/2/text/advanced")).header("Authorization", "App k").json(&v2)
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(r["messages"][0]["status"]["name"], "PENDING_ACCEPTED");
    assert_eq!(r["messages"][1]["status"]["name"], "REJECTED_DESTINATION");
    assert_eq!(r["messages"][1]["to"], "966500000000");
    let unauth = http.post(format!("{base}/sms/2/text/advanced")).json(&v2).send().await.unwrap();
    assert_eq!(unauth.status(), 401);
    let body: Value = unauth.json().await.unwrap();
    assert_eq!(body["requestError"]["serviceException"]["messageId"], "UNAUTHORIZED");

    let url = format!("{base}/sendurl.aspx?user=1&pwd=p&senderid=S&mobileno=966500000000&msgtext=hi&ShowError=C");
    assert_eq!(http.get(url).send().await.unwrap().text().await.unwrap(), "001 - Invalid Receiver");
    let url = format!("{base}/sendurl.aspx?user=1&senderid=S&mobileno=966501234567&msgtext=hi");
    assert_eq!(http.get(url).send().await.unwrap().text().await.unwrap(), "Authorization failed");

    let url = format!("{base}/SendSMSV2?username=u&password=p&Tagname=S&RecepientNumber=966501234567&Message=hi");
    let r: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!((r["StatusCode"].as_i64(), r["StatusDescription"].as_str()), (Some(1), Some("Success")));

    let many = json!({"messages": [{"text": "hi", "numbers": ["966501234567", "966500000000", "966501234568"], "sender": "S"}]});
    let r: Value = http.post(format!("{base}/api/v1/account/area/sms/send")).basic_auth("k", Some("s")).json(&many)
        .send().await.unwrap().json().await.unwrap();
    assert_eq!(r["messages"][0]["inserted_numbers"], 2);
    assert_eq!(r["messages"][0]["has_more_iso_code"], json!(["966500000000"]));
    assert!(r["job_id"].as_str().is_some_and(|j| j.len() == 36));
}

/// Many concurrent sends through one shared client: every one is answered and counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_are_all_counted() {
    let sim = start(SimConfig { record_requests: 0, ..SimConfig::default() }).await;
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..800i64 {
        let kind = KINDS[(i % 8) as usize];
        let (cred, _) = credential(kind, &sim.base_url());
        let client = client.clone();
        tasks.spawn(async move {
            let msg = message(kind, 10_000 + i, GOOD);
            providers::send(providers::adapter(kind), &client, &cred, &msg, Duration::from_secs(10)).await.0
        });
    }
    let mut accepted = 0;
    while let Some(outcome) = tasks.join_next().await {
        assert!(matches!(outcome.unwrap(), SendOutcome::Accepted { .. }));
        accepted += 1;
    }
    assert_eq!(accepted, 800);
    let stats = sim.stats();
    assert_eq!((stats["total"]["received"].as_u64(), stats["total"]["accepted"].as_u64()), (Some(800), Some(800)));
    assert_eq!(stats["providers"]["twilio"]["accepted"], 100);
    assert!(sim.requests(ProviderKind::Twilio).is_empty(), "record_requests = 0 keeps nothing");
}

/// WhatsApp goes out as WhatsApp through both providers that serve it: Twilio with
/// `whatsapp:` addresses (session text and a Content API template), Meta's Graph API with a
/// template object; an SMS-only adapter refuses it before any request is made.
#[tokio::test]
async fn whatsapp_reaches_the_providers_as_whatsapp() {
    let sim = start(SimConfig::default()).await;
    let template = WhatsAppContent::Template(WhatsAppTemplate {
        name: "order_confirmation".into(),
        language: "ar".into(),
        body_params: vec!["أحمد".into(), "ORD-1001".into()],
        header: None,
        url_buttons: vec![(0, "a1b2c3d4".into())],
        content_sid: Some("HX0123456789abcdef0123456789abcdef".into()),
    });
    let wa = |content: WhatsAppContent| OutboundMessage { payload: Payload::WhatsApp(content), ..sms(42, GOOD) };

    let (twilio, _) = credential(ProviderKind::Twilio, &sim.base_url());
    let text = wa(WhatsAppContent::Text { body: "مرحبا".into(), preview_url: false });
    let (outcome, _) = providers::send(providers::adapter(ProviderKind::Twilio), &client(), &twilio, &text, Duration::from_secs(5)).await;
    assert!(matches!(outcome, SendOutcome::Accepted { .. }), "{outcome:?}");
    let req = last_request(&sim, ProviderKind::Twilio).await;
    assert_eq!(req["body"], json!({"To": format!("whatsapp:{GOOD}"), "From": format!("whatsapp:{SENDER}"), "Body": "مرحبا"}));
    let (outcome, _) = providers::send(providers::adapter(ProviderKind::Twilio), &client(), &twilio, &wa(template.clone()), Duration::from_secs(5)).await;
    assert!(matches!(outcome, SendOutcome::Accepted { .. }), "{outcome:?}");
    let req = last_request(&sim, ProviderKind::Twilio).await;
    assert_eq!(req["body"]["ContentSid"], "HX0123456789abcdef0123456789abcdef");
    assert_eq!(req["body"]["ContentVariables"], r#"{"1":"أحمد","2":"ORD-1001"}"#);

    let (meta, _) = credential(ProviderKind::MetaWhatsapp, &sim.base_url());
    let (outcome, _) = providers::send(providers::adapter(ProviderKind::MetaWhatsapp), &client(), &meta, &wa(template), Duration::from_secs(5)).await;
    assert!(matches!(&outcome, SendOutcome::Accepted { provider_message_id } if provider_message_id.starts_with("wamid.")), "{outcome:?}");
    let req = last_request(&sim, ProviderKind::MetaWhatsapp).await;
    assert_eq!(req["body"]["type"], "template");
    assert_eq!(req["body"]["template"]["name"], "order_confirmation");
    assert_eq!(req["body"]["template"]["language"]["code"], "ar");
    assert_eq!(req["body"]["template"]["components"][0]["parameters"][0]["text"], "أحمد");
    assert_eq!(req["body"]["template"]["components"][1]["sub_type"], "url");

    // Meta refuses an SMS and Infobip a WhatsApp message, before anything reaches the wire.
    let before = sim.stats()["total"]["received"].as_u64();
    let (outcome, _) = providers::send(providers::adapter(ProviderKind::MetaWhatsapp), &client(), &meta, &sms(1, GOOD), Duration::from_secs(5)).await;
    assert!(matches!(&outcome, SendOutcome::PermanentContent { reason } if reason.contains("sms")), "{outcome:?}");
    let (infobip, _) = credential(ProviderKind::Infobip, &sim.base_url());
    let text = wa(WhatsAppContent::Text { body: "x".into(), preview_url: false });
    let (outcome, _) = providers::send(providers::adapter(ProviderKind::Infobip), &client(), &infobip, &text, Duration::from_secs(5)).await;
    assert!(matches!(&outcome, SendOutcome::PermanentContent { reason } if reason.contains("whatsapp")), "{outcome:?}");
    assert_eq!(sim.stats()["total"]["received"].as_u64(), before);

    // The Graph API simulator validates what Meta validates.
    let bad = json!({"messaging_product": "whatsapp", "to": "966501234567", "type": "template", "template": {"name": "x"}});
    let r = reqwest::Client::new().post(format!("{}/v23.0/106540352242922/messages", sim.base_url())).bearer_auth("t").json(&bad).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 100);
}
