//! Tests of the Infobip adapter (`infobip.rs`): answer classification, the typed request
//! against the JSON the `serde_json::Value` form built, and the typed answer reading against
//! the `Value` one.

use super::*;

fn classify(status: u16, body: &str) -> SendOutcome {
    Infobip.classify(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body.as_bytes())
}

fn with_status(group_id: u8, group: &str, id: u16, name: &str) -> String {
    format!(
        r#"{{"bulkId":"2034072219640523072","messages":[{{"messageId":"2250be2d4219-3af1-78856-aabe-1362af1edfd2",
        "status":{{"groupId":{group_id},"groupName":"{group}","id":{id},"name":"{name}","description":"d"}},
        "destination":"966500000000","details":{{"messageCount":1}}}}]}}"#
    )
}

#[test]
fn pending_accepted_is_accepted() {
    assert_eq!(
        classify(200, &with_status(1, "PENDING", 26, "PENDING_ACCEPTED")),
        SendOutcome::Accepted { provider_message_id: "2250be2d4219-3af1-78856-aabe-1362af1edfd2".into() }
    );
    // v2 shape differs only in per-message keys.
    let v2 = r#"{"messages":[{"to":"966500000000","status":{"groupId":1,"groupName":"PENDING","id":26,"name":"PENDING_ACCEPTED"},"messageId":"m-1"}]}"#;
    assert_eq!(classify(200, v2), SendOutcome::Accepted { provider_message_id: "m-1".into() });
}

#[test]
fn inline_rejections_are_classified() {
    assert!(matches!(classify(200, &with_status(5, "REJECTED", 52, "REJECTED_DESTINATION")), SendOutcome::PermanentRecipient { .. }));
    assert!(matches!(classify(200, &with_status(5, "REJECTED", 10, "REJECTED_DND")), SendOutcome::PermanentRecipient { .. }));
    assert!(matches!(classify(200, &with_status(5, "REJECTED", 12, "REJECTED_NOT_ENOUGH_CREDITS")), SendOutcome::PermanentConfig { .. }));
    assert!(matches!(classify(200, &with_status(5, "REJECTED", 13, "REJECTED_SENDER")), SendOutcome::PermanentConfig { .. }));
    assert!(matches!(classify(200, &with_status(5, "REJECTED", 21, "REJECTED_SYSTEM_ERROR")), SendOutcome::Transient { .. }));
    assert!(matches!(
        classify(200, &with_status(5, "REJECTED", 23, "REJECTED_DUPLICATE_MESSAGE_ID")),
        SendOutcome::Accepted { .. }
    ));
}

#[test]
fn error_bodies_in_both_shapes() {
    let v3 = |code: &str| format!(r#"{{"errorCode":"{code}","description":"d","action":"a","violations":[],"resources":[]}}"#);
    assert!(matches!(classify(401, &v3("E401")), SendOutcome::PermanentConfig { .. }));
    assert!(matches!(classify(403, &v3("E403")), SendOutcome::PermanentConfig { .. }));
    assert_eq!(classify(429, &v3("E429")), SendOutcome::Throttled { retry_after: None });
    assert!(matches!(classify(500, &v3("E500")), SendOutcome::Transient { .. }));
    assert!(matches!(classify(400, &v3("E400")), SendOutcome::PermanentContent { .. }));
    let bad_to = r#"{"errorCode":"E400","description":"d","violations":[{"property":"messages[0].destinations[0].to","violation":"invalid"}]}"#;
    assert!(matches!(classify(400, bad_to), SendOutcome::PermanentRecipient { .. }));
    let legacy = r#"{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"Invalid login details"}}}"#;
    assert!(matches!(classify(401, legacy), SendOutcome::PermanentConfig { reason } if reason.contains("Invalid login")));
    let legacy_to = r#"{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request","validationErrors":{"messages[0].destinations[0].to":["invalid"]}}}}"#;
    assert!(matches!(classify(400, legacy_to), SendOutcome::PermanentRecipient { .. }));
}

fn sms(id: i64, recipient: &str, callback: Option<&str>, validity_secs: Option<u64>) -> OutboundMessage {
    OutboundMessage {
        message_id: id,
        recipient: recipient.into(),
        sender: "JOOD".into(),
        payload: crate::providers::Payload::Sms { text: "hi \"there\" ☺".into() },
        status_callback_url: callback.map(str::to_owned),
        validity_secs,
    }
}

/// The request as the `serde_json::Value` form built it before the typed one.
fn value_form(m: &OutboundMessage) -> Value {
    let mut message = serde_json::json!({
        "sender": m.sender,
        "destinations": [{ "to": intl_digits(&m.recipient), "messageId": m.message_id.to_string() }],
        "content": { "text": "hi \"there\" ☺" },
    });
    if let Some(url) = &m.status_callback_url {
        message["webhooks"] = serde_json::json!({ "delivery": { "url": url, "intermediateReport": false }, "contentType": "application/json" });
    }
    if let Some(minutes) = m.validity_secs.map(|s| s.div_ceil(60).max(1)).filter(|m| *m < INFOBIP_MAX_VALIDITY_MINUTES) {
        message["options"] = serde_json::json!({ "validityPeriod": { "amount": minutes, "timeUnit": "MINUTES" } });
    }
    message
}

#[test]
fn the_typed_request_is_the_documented_json_byte_for_byte() {
    let cred = ProviderCredential::new(1, serde_json::json!({"apiKey": "k"}).as_object().unwrap().clone(), "http://127.0.0.1:1".into());
    let msgs = vec![
        sms(1, "+966500000001", None, None),
        sms(2, "+966500000002", Some("https://jood.example/api/v1/callbacks/infobip/3"), Some(90)),
        sms(3, "00966 50 000 0003", None, Some(10 * 24 * 3600)),
    ];
    let client = reqwest::Client::new();
    let body = |b: reqwest::RequestBuilder| String::from_utf8(b.build().unwrap().body().unwrap().as_bytes().unwrap().to_vec()).unwrap();
    let batch = body(Infobip.build_batch(&client, &cred, &msgs).unwrap());
    let want = serde_json::json!({ "messages": msgs.iter().map(value_form).collect::<Vec<_>>() });
    assert_eq!(batch, serde_json::to_string(&want).unwrap(), "same keys, same order, same values");
    let single = body(Infobip.build_request(&client, &cred, &msgs[1]).unwrap());
    assert_eq!(single, serde_json::to_string(&serde_json::json!({ "messages": [value_form(&msgs[1])] })).unwrap());
}

/// Every answer is classified as the `Value` reading classifies it, whichever reading runs.
#[test]
fn typed_and_value_readings_of_a_batch_answer_agree() {
    let msgs: Vec<_> = (1..=3).map(|i| sms(i, "+966500000001", None, None)).collect();
    let entry = |id: &str, group: &str, name: &str| format!(r#"{{"messageId":{id},"status":{{"groupName":"{group}","name":"{name}"}},"to":"9665"}}"#);
    let answers = [
        // In order, reversed, with numbers for ids, one missing, one repeated (the last wins).
        format!(r#"{{"messages":[{},{},{}]}}"#, entry(r#""1""#, "PENDING", "PENDING_ACCEPTED"), entry(r#""2""#, "REJECTED", "REJECTED_DESTINATION"), entry(r#""3""#, "PENDING", "P")),
        format!(r#"{{"bulkId":"b","messages":[{},{},{}]}}"#, entry("3", "PENDING", "P"), entry("2", "UNDELIVERABLE", "U"), entry("1", "REJECTED", "REJECTED_SYSTEM_ERROR")),
        format!(r#"{{"messages":[{},{}]}}"#, entry(r#""1""#, "PENDING", "P"), entry(r#""3""#, "WHAT", "W")),
        format!(r#"{{"messages":[{},{},{}]}}"#, entry(r#""1""#, "PENDING", "P"), entry(r#""1""#, "REJECTED", "REJECTED_SENDER"), entry(r#""2""#, "PENDING", "P")),
        // No ids we gave: by position; an empty id is none.
        format!(r#"{{"messages":[{},{},{}]}}"#, entry(r#""""#, "PENDING", "P"), entry("null", "PENDING", "P"), entry(r#""x""#, "PENDING", "P")),
        // Escapes in strings.
        format!(r#"{{"messages":[{}]}}"#, entry(r#""\u0031""#, "PEND\\u0049NG", "P")),
        // Shapes only the Value reading takes: an entry that is no object, a status that
        // is an array, a number for a name, a repeated key.
        format!(r#"{{"messages":[7,{},{}]}}"#, entry(r#""2""#, "PENDING", "P"), entry(r#""3""#, "PENDING", "P")),
        r#"{"messages":[{"messageId":"1","status":["PENDING","P"]}]}"#.to_string(),
        r#"{"messages":[{"messageId":"1","status":{"groupName":"PENDING","name":5}}]}"#.to_string(),
        r#"{"messages":[{"messageId":"1","messageId":"2","status":{"groupName":"PENDING"}}]}"#.to_string(),
        // Not an answer with messages.
        r#"{"messages":{"0":{}}}"#.to_string(),
        r#"[[{"messageId":"1","status":{"groupName":"PENDING"}}]]"#.to_string(),
        r#"{"other":1}"#.to_string(),
        "not json".to_string(),
    ];
    for body in &answers {
        let value_reading = match json(body.as_bytes()).and_then(|v| v.get("messages")?.as_array().cloned()) {
            Some(entries) => BatchOutcome::PerMessage(per_message(&entries, &msgs, |e| id_string(e.get("messageId")).map(Cow::Owned), classify_message)),
            None => BatchOutcome::Request(unrecognised(StatusCode::OK, body.as_bytes())),
        };
        let got = Infobip.classify_batch(StatusCode::OK, &HeaderMap::new(), body.as_bytes(), &msgs);
        assert_eq!(got, value_reading, "{body}");
        let single_value = match json(body.as_bytes()).as_ref().and_then(|v| v.get("messages")?.get(0).cloned()) {
            Some(m) => classify_message(&m),
            None => unrecognised(StatusCode::OK, body.as_bytes()),
        };
        assert_eq!(Infobip.classify(StatusCode::OK, &HeaderMap::new(), body.as_bytes()), single_value, "{body}");
    }
    // The usual answer takes the typed reading.
    assert!(typed_entries(answers[0].as_bytes()).is_some_and(|e| e.is_some_and(|e| e.len() == 3)));
    assert!(typed_entries(answers[7].as_bytes()).is_none(), "an array is no status object");
    assert!(typed_entries(answers[11].as_bytes()).is_none(), "an array is no answer object");
}
