//! What a WhatsApp template is in Meta's terms and to a sender: the Graph API components it is
//! submitted as, a local template made from one Meta lists (sync-all), and the documented
//! `sendInfo` (the parameters a send passes, with an example). Pure: no I/O.

use super::templates::{body_param_key, button_param_key, dynamic_buttons, placeholders};
use crate::providers::meta_graph::MetaTemplate;
use crate::store::{WaButton, WaTemplateRecord};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn sample(t: &WaTemplateRecord, n: usize) -> String {
    let key = body_param_key(t, n);
    t.sample_values.get(&key).or_else(|| t.sample_values.get(&n.to_string())).cloned().unwrap_or(key)
}

/// The Graph API body of `POST /{waba-id}/message_templates`.
pub fn meta_body(t: &WaTemplateRecord) -> Value {
    let mut components = Vec::new();
    match t.header_type.as_str() {
        "TEXT" => components.push(json!({"type": "HEADER", "format": "TEXT", "text": t.header_content})),
        "IMAGE" | "VIDEO" | "DOCUMENT" => {
            let mut h = json!({"type": "HEADER", "format": t.header_type});
            // Meta wants an upload handle here; the media URL stands in for it (see README).
            if let Some(url) = &t.header_media_url {
                h["example"] = json!({"header_handle": [url]});
            }
            components.push(h);
        }
        _ => {}
    }
    let n = placeholders(&t.body_text).unwrap_or(0);
    let mut body = json!({"type": "BODY", "text": t.body_text});
    if n > 0 {
        body["example"] = json!({"body_text": [(1..=n).map(|i| sample(t, i)).collect::<Vec<_>>()]});
    }
    components.push(body);
    if let Some(f) = &t.footer_text {
        components.push(json!({"type": "FOOTER", "text": f}));
    }
    if !t.buttons.is_empty() {
        let buttons: Vec<Value> = t
            .buttons
            .iter()
            .map(|b| match b.kind.as_str() {
                "URL" => {
                    let url = b.url.clone().unwrap_or_default();
                    let mut v = json!({"type": "URL", "text": b.text, "url": url});
                    if b.is_dynamic_url() {
                        v["example"] = json!([url.replace("{{1}}", "example")]);
                    }
                    v
                }
                "PHONE_NUMBER" => json!({"type": "PHONE_NUMBER", "text": b.text, "phone_number": b.phone_number}),
                _ => json!({"type": "QUICK_REPLY", "text": b.text}),
            })
            .collect();
        components.push(json!({"type": "BUTTONS", "buttons": buttons}));
    }
    json!({"name": t.name, "language": t.language, "category": t.category, "components": components})
}

/// A local template made from one Meta lists (sync-all finding a template created elsewhere).
pub(super) fn from_meta(association_id: i64, id: i64, m: &MetaTemplate, now: i64) -> WaTemplateRecord {
    let mut t = WaTemplateRecord {
        association_id,
        id,
        name: m.name.clone(),
        language: m.language.clone(),
        category: m.category.clone(),
        header_type: "NONE".into(),
        header_content: None,
        header_media_url: None,
        body_text: String::new(),
        footer_text: None,
        buttons: Vec::new(),
        variables: Vec::new(),
        sample_values: BTreeMap::new(),
        status: m.status.clone(),
        meta_template_id: Some(m.id.clone()),
        status_reason: m.rejected_reason.clone().filter(|r| !r.is_empty() && r != "NONE"),
        is_active: true,
        twilio_content_sid: None,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    for c in &m.components {
        let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
        match s("type").unwrap_or_default().to_ascii_uppercase().as_str() {
            "HEADER" => {
                t.header_type = s("format").unwrap_or_else(|| "TEXT".into()).to_ascii_uppercase();
                t.header_content = s("text");
            }
            "BODY" => t.body_text = s("text").unwrap_or_default(),
            "FOOTER" => t.footer_text = s("text"),
            "BUTTONS" => {
                for b in c.get("buttons").and_then(Value::as_array).into_iter().flatten() {
                    let g = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_owned);
                    t.buttons.push(WaButton { kind: g("type").unwrap_or_default(), text: g("text").unwrap_or_default(), url: g("url"), phone_number: g("phone_number") });
                }
            }
            _ => {}
        }
    }
    t
}

/// The documented `sendInfo` of a template: the parameters a send passes, and an example.
pub fn send_info(t: &WaTemplateRecord) -> Value {
    let mut required = Vec::new();
    let mut example = Map::new();
    let n = placeholders(&t.body_text).unwrap_or(0);
    for i in 1..=n {
        let key = body_param_key(t, i);
        required.push(json!({"key": key, "type": "text", "description": format!("Body variable {{{{{i}}}}}")}));
        example.insert(key, json!("value"));
    }
    let media = matches!(t.header_type.as_str(), "IMAGE" | "VIDEO" | "DOCUMENT");
    if media {
        let key = format!("header_{}", t.header_type.to_ascii_lowercase());
        let default = if t.header_media_url.is_some() { "optional, defaults to the template's saved media" } else { "required: the template has no saved media" };
        required.push(json!({"key": key, "type": "url", "description": format!("{} header URL ({default})", t.header_type)}));
        example.insert(key, json!("https://example.com/file.jpg"));
    }
    let mut url_buttons = Vec::new();
    for b in t.buttons.iter().filter(|b| b.kind == "URL") {
        url_buttons.push(json!({"text": b.text, "urlPattern": b.url, "isDynamic": b.is_dynamic_url()}));
    }
    for (index, b) in dynamic_buttons(t) {
        let key = button_param_key(t, index);
        required.push(json!({"key": key, "type": "text", "description": format!("Dynamic value for URL button \"{}\" (pattern: {})", b.text, b.url.as_deref().unwrap_or(""))}));
        example.insert(key, json!("value"));
    }
    json!({
        "requiredParams": required,
        "headerType": t.header_type,
        "defaultHeaderMedia": if media { json!(t.header_media_url) } else { Value::Null },
        "urlButtons": url_buttons,
        "examplePayload": {"associationId": t.association_id, "templateId": t.id, "recipient": "+966500000000", "parameters": example},
    })
}

