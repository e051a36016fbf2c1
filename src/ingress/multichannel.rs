//! The notifications API of seed 003 at ingress: one notification to one recipient over an
//! ordered list of channels, the first tried first and the others as fallbacks. Enforces the
//! documented template policy (WhatsApp needs `template_id`; email and SMS take a template
//! or a raw body), checks that the template's placeholders are all in `data`, and that the
//! recipient has the field each channel needs (`phone` for SMS and WhatsApp, `email` for
//! email). The result is an ordinary [`NewMessage`] with its fallback steps, accepted by the
//! one ingress. Depends on `domain`, `store` and the rest of ingress.

use super::fallback::FallbackRequest;
use super::{Ingress, IngressError, NewMessage};
use crate::domain::{template, Channel, EmailContent, WhatsAppContent};
use serde::Deserialize;
use serde_json::{Map, Value};

/// `recipient`: one identity per channel kind (others are ignored).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RecipientFields {
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Slack: a user (`U…`), messaged in a DM.
    #[serde(default)]
    pub slack_user_id: Option<String>,
    /// Slack: a channel (`C…`) instead of a user.
    #[serde(default)]
    pub slack_channel_id: Option<String>,
}

/// `notification`.
#[derive(Debug, Clone, Deserialize)]
pub struct NotificationFields {
    pub channels: Vec<String>,
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
}

/// Per channel, what the capabilities route reports and the policy enforces.
pub struct Capability {
    pub channel: Channel,
    /// The `recipient` field the channel needs.
    pub recipient_field: &'static str,
    pub template_required: bool,
    pub raw_body_allowed: bool,
}

pub const CAPABILITIES: [Capability; 5] = [
    Capability { channel: Channel::Sms, recipient_field: "phone", template_required: false, raw_body_allowed: true },
    Capability { channel: Channel::Whatsapp, recipient_field: "phone", template_required: true, raw_body_allowed: false },
    Capability { channel: Channel::Email, recipient_field: "email", template_required: false, raw_body_allowed: true },
    // `slack_channel_id` is taken instead, to post in a channel rather than a DM.
    Capability { channel: Channel::Slack, recipient_field: "slack_user_id", template_required: false, raw_body_allowed: true },
    Capability { channel: Channel::Voice, recipient_field: "phone", template_required: false, raw_body_allowed: true },
];

fn capability(c: Channel) -> &'static Capability {
    CAPABILITIES.iter().find(|k| k.channel == c).expect("every channel has a capability row")
}

/// Checks the channel list: known names, none twice, at least one; the documented policy
/// error when WhatsApp is among them without a template.
pub fn check_channels(channels: &[String], template_id: Option<&str>) -> Result<Vec<Channel>, IngressError> {
    if channels.is_empty() {
        return Err(IngressError::Invalid("notification.channels must list at least one channel".into()));
    }
    let mut out = Vec::with_capacity(channels.len());
    for (i, name) in channels.iter().enumerate() {
        let c = Channel::parse(name)
            .ok_or_else(|| IngressError::Invalid(format!("notification.channels[{i}]: channel `{name}` is not one of {}", Channel::names())))?;
        if out.contains(&c) {
            return Err(IngressError::Invalid(format!("notification.channels[{i}]: channel `{name}` is listed twice")));
        }
        out.push(c);
    }
    if out.contains(&Channel::Whatsapp) && template_id.is_none_or(|t| t.trim().is_empty()) {
        return Err(IngressError::Invalid(
            "Missing template_id for WhatsApp: channels include whatsapp, which sends templates only; include template_id and its variables in data".into(),
        ));
    }
    Ok(out)
}

/// The `{{name}}` placeholders of a text, in order of first use.
pub fn placeholders(content: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let _ = template::render_with(content, |name| {
        let name = name.trim().to_string();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
        None
    });
    names
}

fn mismatch(template_id: &str, needed: &[String], data: &Map<String, Value>) -> Result<(), IngressError> {
    let missing: Vec<&str> = needed.iter().filter(|n| !data.contains_key(n.as_str())).map(String::as_str).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(IngressError::Invalid(format!(
        "Template variable mismatch: template `{template_id}` uses {}; data lacks {}",
        needed.iter().map(|n| format!("{{{{{n}}}}}")).collect::<Vec<_>>().join(", "),
        missing.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    )))
}

/// What the notification says, rendered: the text, and a WhatsApp template payload when
/// `template_id` names an approved WhatsApp template.
async fn content(
    ingress: &Ingress,
    association_id: i64,
    n: &NotificationFields,
    data: &Map<String, Value>,
) -> Result<(String, Option<WhatsAppContent>), IngressError> {
    let Some(id) = n.template_id.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        let body = n.body.as_deref().filter(|b| !b.trim().is_empty()).ok_or_else(|| {
            IngressError::Invalid("notification.body is required without template_id (raw mode)".into())
        })?;
        return Ok((crate::domain::slack::render(body, data), None));
    };
    if n.channels.iter().any(|c| c == "whatsapp") {
        let templates = ingress.store.list_wa_templates(association_id).await?;
        if let Some(t) = super::whatsapp::resolve(&templates, id).map_err(IngressError::Invalid)? {
            let needed: Vec<String> = (1..=super::whatsapp::placeholders(&t.body_text).map_err(IngressError::Invalid)?)
                .map(|i| super::whatsapp::body_param_key(t, i))
                .collect();
            let known = |k: &String| data.contains_key(k) || data.contains_key(&format!("var{}", needed.iter().position(|x| x == k).unwrap_or(0) + 1));
            if !needed.iter().all(known) {
                mismatch(id, &needed, data)?;
            }
            let (tpl, rendered) = super::whatsapp::template_content(t, data).map_err(|m| IngressError::Invalid(format!("Template variable mismatch: {m}")))?;
            return Ok((rendered, Some(WhatsAppContent::Template(tpl))));
        }
    }
    let t = ingress
        .store
        .get_template(association_id, id)
        .await?
        .ok_or_else(|| IngressError::NotFound(format!("Template `{id}` not found")))?;
    mismatch(id, &placeholders(&t.content), data)?;
    // A Slack template may be Block Kit JSON: `data` goes into each of its strings.
    Ok((crate::domain::slack::render(&t.content, data), None))
}

/// The message for one recipient: the first channel's, with the others as fallback steps.
pub async fn build(
    ingress: &Ingress,
    association_id: i64,
    recipient: &RecipientFields,
    n: &NotificationFields,
    data: &Map<String, Value>,
) -> Result<NewMessage, IngressError> {
    let channels = check_channels(&n.channels, n.template_id.as_deref())?;
    let mut addresses = Vec::with_capacity(channels.len());
    for c in &channels {
        let field = capability(*c).recipient_field;
        let value = match field {
            "email" => recipient.email.as_deref(),
            "slack_user_id" => recipient.slack_user_id.as_deref().or(recipient.slack_channel_id.as_deref()),
            _ => recipient.phone.as_deref(),
        };
        let value = value.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| {
            IngressError::Invalid(format!("Recipient field missing: channel `{}` needs recipient.{field}", c.as_str()))
        })?;
        addresses.push(value.to_string());
    }
    let (text, wa) = content(ingress, association_id, n, data).await?;
    let email = match n.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(EmailContent { subject: template::render(s, &[data]), html: None }),
        None => None,
    };
    let email_for = |c: Channel| if c == Channel::Email { email.clone() } else { None };
    let requests: Vec<FallbackRequest> = channels[1..]
        .iter()
        .zip(&addresses[1..])
        .map(|(c, a)| FallbackRequest { channel: c.as_str().to_string(), recipient: a.clone(), body: None, email: email_for(*c) })
        .collect();
    let primary = channels[0];
    let mut fallback = super::fallback::steps(&ingress.store, association_id, primary.as_str(), "notification.channels", &text, requests).await?;
    // A later WhatsApp step sends the template too.
    for step in fallback.iter_mut().filter(|s| s.channel == "whatsapp") {
        step.content = wa.clone();
    }
    Ok(NewMessage {
        association_id,
        recipient: addresses[0].clone(),
        body: text,
        channel: primary.as_str().to_string(),
        priority: 0,
        credential_id: None,
        scheduled_at: None,
        content: if primary == Channel::Whatsapp { wa } else { None },
        callback_url: None,
        email: email_for(primary),
        fallback,
        validity_secs: None,
        sms: Default::default(),
        shorten_links: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_errors_are_the_documented_ones() {
        let ch = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = check_channels(&ch(&["whatsapp", "sms"]), None).unwrap_err().to_string();
        assert!(e.starts_with("Missing template_id for WhatsApp"), "{e}");
        assert!(check_channels(&ch(&["whatsapp"]), Some("wa_order_update")).is_ok());
        assert!(check_channels(&ch(&["sms", "sms"]), None).unwrap_err().to_string().contains("listed twice"));
        assert!(check_channels(&ch(&["slack", "voice"]), None).is_ok());
        assert!(check_channels(&ch(&["fax"]), None).unwrap_err().to_string().contains("channel `fax` is not one of"));
        assert!(check_channels(&[], None).is_err());
        assert_eq!(placeholders("Hi {{ name }}, order {{order_id}} ({{name}})"), ["name", "order_id"]);
        let data: Map<String, Value> = serde_json::from_str(r#"{"name":"Alex"}"#).unwrap();
        let e = mismatch("t", &placeholders("{{name}} {{order_id}}"), &data).unwrap_err().to_string();
        assert_eq!(e, "Template variable mismatch: template `t` uses {{name}}, {{order_id}}; data lacks `order_id`");
    }
}
