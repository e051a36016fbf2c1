//! The signed `POST /api/v1/webhook/bulk` with `"channel":"whatsapp"` and a `templateCode`
//! naming an approved WhatsApp template (as the single webhook and `/whatsapp-send/bulk` do):
//! each recipient's parameters are the bulk's `data` with that recipient's `variables` over
//! it (the documented Personalization format), named exactly as `parameters` on
//! `/whatsapp-send/template` (body variables, `header_*`, `button_url*`). Every entry is
//! checked and rendered before anything is stored; a refused entry is reported with its index
//! and reason. The messages become a prepared campaign (`campaigns::create_prepared`), durable
//! before the answer, paced, resumable and cancellable like any campaign.
//!
//! May use campaigns, domain and store; never api.

use super::whatsapp::template_content;
use super::IngressError;
use crate::campaigns::{
    BulkAccepted, CampaignError, CampaignService, InvalidRecipient, PreparedMessage, PreparedOptions, PreparedSettings, RecipientInput, Variables,
};
use crate::domain::{phone, WhatsAppContent};
use crate::store::WaTemplateRecord;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What the bulk body says beside its recipients.
pub struct WaBulk<'a> {
    pub association_id: i64,
    pub template: &'a WaTemplateRecord,
    pub recipients: &'a [&'a RawValue],
    pub data: Map<String, Value>,
    pub name: Option<String>,
    pub options: PreparedOptions,
}

/// One entry's parameters: `data`, then the entry's own `variables` over it.
fn parameters(data: &Map<String, Value>, variables: &Variables<'_>) -> Result<Map<String, Value>, String> {
    let mut params = data.clone();
    if let Variables::Json(raw) = variables {
        let own: Map<String, Value> = serde_json::from_str(raw.get()).map_err(|e| format!("variables: {e}"))?;
        params.extend(own);
    }
    Ok(params)
}

fn repeat_key(e164: &str, content: &WhatsAppContent) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    e164.hash(&mut h);
    serde_json::to_string(content).unwrap_or_default().hash(&mut h);
    h.finish()
}

pub async fn create(campaigns: &Arc<CampaignService>, req: WaBulk<'_>) -> Result<BulkAccepted, IngressError> {
    let n = req.recipients.len();
    if n == 0 {
        return Err(IngressError::Invalid("Invalid request: recipients must list at least one recipient".into()));
    }
    if n > campaigns.config.max_recipients_per_request {
        return Err(IngressError::Invalid(format!(
            "Invalid request: recipients has {n} entries; the limit per request is {}",
            campaigns.config.max_recipients_per_request
        )));
    }
    let t = req.template;
    let mut ready = Vec::with_capacity(n);
    let mut refused: Vec<InvalidRecipient> = Vec::new();
    let mut refused_count = 0usize;
    let mut seen = HashSet::with_capacity(n);
    let mut duplicates = 0usize;
    let limit = campaigns.config.invalid_report_limit;
    let mut refuse = |index: usize, recipient: String, reason: String| {
        refused_count += 1;
        if refused.len() < limit {
            refused.push(InvalidRecipient { index, recipient, reason });
        }
    };
    for (index, raw) in req.recipients.iter().enumerate() {
        let (shown, variables) = match raw.read() {
            Ok(x) => x,
            Err((shown, why)) => {
                refuse(index, shown, why);
                continue;
            }
        };
        let recipient = match phone::normalise(&shown) {
            Ok(r) => r,
            Err(why) => {
                refuse(index, shown.chars().take(64).collect(), format!("recipient {why}"));
                continue;
            }
        };
        let rendered = parameters(&req.data, &variables).and_then(|p| template_content(t, &p));
        match rendered {
            Ok((content, body)) => {
                let content = WhatsAppContent::Template(content);
                if !seen.insert(repeat_key(&recipient.e164, &content)) {
                    duplicates += 1;
                    continue;
                }
                ready.push(PreparedMessage { recipient, body, content: Some(content) });
            }
            Err(why) => refuse(index, recipient.e164, why),
        }
    }
    if ready.is_empty() {
        let first: Vec<String> = refused.iter().take(5).map(|x| format!("recipients[{}] `{}`: {}", x.index, x.recipient, x.reason)).collect();
        return Err(IngressError::Invalid(format!("Invalid request: all {refused_count} recipients are invalid: {}", first.join("; "))));
    }
    let settings = PreparedSettings {
        association_id: req.association_id,
        name: req.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("WhatsApp bulk: {} ({})", t.name, t.language)),
        channel: "whatsapp".into(),
        credential_id: None,
        invalid_recipients: refused_count as u64,
        duplicates_removed: duplicates as u64,
        options: req.options,
    };
    let campaign = campaigns.create_prepared(settings, ready).await.map_err(|e| match e {
        CampaignError::Invalid(m) => IngressError::Invalid(format!("Invalid request: {m}")),
        CampaignError::Conflict(m) => IngressError::Invalid(m),
        CampaignError::NotFound(m) => IngressError::NotFound(m),
        CampaignError::Store(s) => IngressError::Store(s),
    })?;
    Ok(BulkAccepted { campaign, invalid_count: refused_count, invalid: refused, duplicates_removed: duplicates })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipients_variables_override_the_bulk_data() {
        let data: Map<String, Value> = serde_json::from_str(r#"{"name":"all","orderId":"O-1"}"#).unwrap();
        let raw = RawValue::from_string(r#"{"name":"Sara"}"#.into()).unwrap();
        let p = parameters(&data, &Variables::Json(&raw)).unwrap();
        assert_eq!((p["name"].as_str(), p["orderId"].as_str()), (Some("Sara"), Some("O-1")));
        assert_eq!(parameters(&data, &Variables::None).unwrap(), data);
    }
}
