//! `send`: the default endpoints, transport failures, channels refused before any request,
//! credential errors, and a provider behind a private CA.

use super::*;

#[test]
fn every_kind_has_its_adapter() {
    for kind in ProviderKind::ALL {
        let a = adapter(kind);
        assert_eq!(a.kind(), kind);
        assert!(a.default_base_url().starts_with("http"), "{kind:?}");
        assert!(!a.default_base_url().ends_with('/'), "{kind:?}");
    }
}

/// With no `apiUrl` override, each adapter targets the production endpoint of its doc.
#[test]
fn default_endpoints_are_the_documented_ones() {
    let fields = serde_json::json!({
        "username": "u", "password": "p", "appSid": "A", "appKey": "k", "appSecret": "s",
        "apiKey": "K", "accountSid": "AC1", "authToken": "t", "phoneNumberId": "106540352242922", "accessToken": "EAAG",
        "secretKey": "k", "clientId": "c1", "clientApiKey": "ck",
    });
    let cred = ProviderCredential::new(1, fields.as_object().unwrap().clone(), String::new());
    let sms = OutboundMessage::sms(1, "+966500000001", "hi", "S");
    let client = reqwest::Client::new();
    let expect = [
        (ProviderKind::Yamamah, "POST", "http://api.yamamah.com/SendSMS"),
        (ProviderKind::Shastra, "POST", "https://mshastra.com/sendsms_api_json.aspx"),
        (ProviderKind::Qyadat, "GET", "https://www.qyadat.com/sms/api/sendsms.php"),
        (ProviderKind::Unifonic, "POST", "https://el.cloud.unifonic.com/rest/SMS/messages"),
        (ProviderKind::FourJawaly, "POST", "https://api-sms.4jawaly.com/api/v1/account/area/sms/send"),
        (ProviderKind::Infobip, "POST", "https://api.infobip.com/sms/3/messages"),
        (ProviderKind::Twilio, "POST", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"),
        (ProviderKind::MetaWhatsapp, "POST", "https://graph.facebook.com/v23.0/106540352242922/messages"),
        (ProviderKind::Sidobe, "POST", "https://api.sidobe.com/wa/v1/send-message"),
    ];
    let wa = OutboundMessage {
        payload: Payload::WhatsApp(WhatsAppContent::Text { body: "hi".into(), preview_url: false }),
        ..sms.clone()
    };
    for (kind, method, url) in expect {
        let msg = if kind.channels()[0] == Channel::Whatsapp { &wa } else { &sms };
        let req = adapter(kind).build_request(&client, &cred, msg).unwrap().build().unwrap();
        let mut got = req.url().clone();
        got.set_query(None);
        assert_eq!((req.method().as_str(), got.as_str()), (method, url), "{kind:?}");
    }
    // 4jawaly's docs write the base URL with `/api/v1`; that override works too.
    let cred = ProviderCredential::new(1, cred.fields.clone(), "https://api-sms.4jawaly.com/api/v1/".into());
    let req = adapter(ProviderKind::FourJawaly).build_request(&client, &cred, &sms).unwrap().build().unwrap();
    assert_eq!(req.url().as_str(), "https://api-sms.4jawaly.com/api/v1/account/area/sms/send");
}

#[tokio::test]
async fn connection_refused_is_transient() {
    // Bind then drop: the port is closed for the duration of the test (loopback only).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cred = ProviderCredential::new(1, serde_json::json!({"apiKey": "k"}).as_object().unwrap().clone(), format!("http://127.0.0.1:{port}"));
    let sms = OutboundMessage::sms(1, "+966500000001", "hi", "S");
    let client = http_client(Duration::from_secs(1)).unwrap();
    let (outcome, _) = send(adapter(ProviderKind::Infobip), &client, &cred, &sms, Duration::from_secs(2)).await;
    assert!(matches!(outcome, SendOutcome::Transient { .. }), "{outcome:?}");
}

/// A WhatsApp message handed to an SMS-only adapter fails as content, never goes out as an
/// SMS, and does not mark the credential broken.
#[tokio::test]
async fn a_channel_the_adapter_does_not_serve_is_refused_before_any_request() {
    let cred = ProviderCredential::new(1, serde_json::json!({"apiKey": "k"}).as_object().unwrap().clone(), "http://127.0.0.1:9".into());
    let msg = OutboundMessage {
        payload: Payload::WhatsApp(WhatsAppContent::Text { body: "hi".into(), preview_url: false }),
        ..OutboundMessage::sms(1, "+966500000001", "hi", "S")
    };
    let client = http_client(Duration::from_secs(1)).unwrap();
    let (outcome, _) = send(adapter(ProviderKind::Infobip), &client, &cred, &msg, Duration::from_secs(1)).await;
    assert!(
        matches!(&outcome, SendOutcome::PermanentContent { reason } if reason == "infobip does not deliver the whatsapp channel"),
        "{outcome:?}"
    );
    for kind in ProviderKind::ALL {
        let a = adapter(kind);
        assert_eq!(a.channels(), kind.channels());
        if !a.channels().contains(&Channel::Whatsapp) {
            assert!(matches!(a.build_request(client.reqwest(), &cred, &msg), Err(BuildError::Payload(_))), "{kind:?}");
        }
    }
}

/// `dispatch.provider_ca_file`: a provider behind a private CA is reached once its CA is
/// trusted, by the send path and by reqwest's side calls alike, and refused without it.
#[tokio::test]
async fn a_provider_behind_a_private_ca_is_reached_with_its_ca_trusted() {
    use crate::net::tls_tests::{pki, tls_server_answering};
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let server = tls_server_answering(&pki, &[b"h2", b"http/1.1"], reqwest::StatusCode::CREATED, Some(r#"{"sid":"SM77","status":"queued"}"#)).await;
    let fields = serde_json::json!({"accountSid": "AC1", "authToken": "t"}).as_object().unwrap().clone();
    // `localhost` is the certificate's name; the server listens on 127.0.0.1.
    let cred = ProviderCredential::new(1, fields, format!("https://localhost:{}", server.port()));
    let sms = OutboundMessage::sms(1, "+966500000001", "hi", "S");
    let roots = crate::net::load_pem_certificates(&dir.path().join("ca.pem")).unwrap();
    let trusting = http_client_trusting(Duration::from_secs(2), roots).unwrap();
    let (outcome, _) = send(adapter(ProviderKind::Twilio), &trusting, &cred, &sms, Duration::from_secs(5)).await;
    assert_eq!(outcome, SendOutcome::Accepted { provider_message_id: "SM77".into() });
    let side = trusting.reqwest().get(format!("https://localhost:{}/clients", server.port())).send().await.unwrap();
    assert_eq!(side.status(), reqwest::StatusCode::CREATED);
    let (outcome, _) = send(adapter(ProviderKind::Twilio), &http_client(Duration::from_secs(2)).unwrap(), &cred, &sms, Duration::from_secs(5)).await;
    assert!(matches!(&outcome, SendOutcome::Transient { reason } if reason.contains("certificate")), "{outcome:?}");
}

#[tokio::test]
async fn missing_credential_field_is_a_config_error() {
    let cred = ProviderCredential::new(1, Map::new(), String::new());
    let sms = OutboundMessage::sms(1, "+966500000001", "hi", "S");
    let client = http_client(Duration::from_secs(1)).unwrap();
    let (outcome, _) = send(adapter(ProviderKind::Twilio), &client, &cred, &sms, Duration::from_secs(1)).await;
    assert!(matches!(&outcome, SendOutcome::PermanentConfig { reason } if reason.contains("accountSid")), "{outcome:?}");
}
