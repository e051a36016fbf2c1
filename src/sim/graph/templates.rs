//! Message templates per WABA as the Graph API manages them: create (Meta's validation,
//! PENDING), the review that approves or rejects after `template_review_ms` (decided at
//! submission from the seeded RNG and the reject marker), list with `fields` / `status` /
//! `limit` and cursor paging, get, edit (back to PENDING), delete by name or `hsm_id`, and the
//! lookup a template send needs. Pure state: no I/O; status changes are returned as
//! [`StatusChange`]s for `webhooks` to deliver.

use super::rules::{component, graph_names_ok, validate_components, variables};
use super::{GraphError, WhatsAppSimConfig};
use crate::sim::state::Rng;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// WABAs remembered at most (each with at most `max_templates` templates).
const MAX_WABAS: usize = 10_000;
const FIELDS: [&str; 8] = ["id", "name", "status", "category", "language", "components", "parameter_format", "rejected_reason"];
const DEFAULT_FIELDS: [&str; 7] = ["name", "parameter_format", "components", "language", "status", "category", "id"];

#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub id: String,
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub parameter_format: String,
    pub components: Value,
    pub rejected_reason: String,
    /// Creation order within the WABA (the paging cursor).
    seq: u64,
    /// When a PENDING review ends and what it decides.
    review: Option<(Instant, bool)>,
}

/// A template's status changed: the `message_template_status_update` webhook's content.
#[derive(Debug, Clone)]
pub(crate) struct StatusChange {
    pub waba_id: String,
    pub template_id: String,
    pub value: Value,
}

impl Template {
    fn change(&self) -> StatusChange {
        let id: Value = self.id.parse::<u64>().map(Value::from).unwrap_or_else(|_| self.id.clone().into());
        StatusChange {
            waba_id: self.waba_id.clone(),
            template_id: self.id.clone(),
            value: json!({
                "event": self.status,
                "message_template_id": id,
                "message_template_name": self.name,
                "message_template_language": self.language,
                "reason": if self.rejected_reason.is_empty() { "NONE" } else { self.rejected_reason.as_str() },
            }),
        }
    }

    /// Ends a due review; the change when it did.
    fn settle(&mut self, now: Instant) -> Option<StatusChange> {
        let (due, approve) = self.review?;
        if self.status != "PENDING" || due > now {
            return None;
        }
        self.review = None;
        if approve {
            self.status = "APPROVED".into();
            self.rejected_reason = "NONE".into();
        } else {
            self.status = "REJECTED".into();
            self.rejected_reason = "INVALID_FORMAT".into();
        }
        Some(self.change())
    }

    fn body_text(&self) -> &str {
        component(&self.components, "BODY").and_then(|b| b.get("text")).and_then(Value::as_str).unwrap_or("")
    }

    fn render(&self, fields: &[&str]) -> Value {
        let mut o = Map::new();
        for f in fields {
            let v = match *f {
                "id" => self.id.clone().into(),
                "name" => self.name.clone().into(),
                "status" => self.status.clone().into(),
                "category" => self.category.clone().into(),
                "language" => self.language.clone().into(),
                "components" => self.components.clone(),
                "parameter_format" => self.parameter_format.clone().into(),
                "rejected_reason" => (if self.rejected_reason.is_empty() { "NONE" } else { &self.rejected_reason }).into(),
                _ => continue,
            };
            o.insert((*f).to_owned(), v);
        }
        // Graph always answers the id.
        o.entry("id").or_insert_with(|| self.id.clone().into());
        Value::Object(o)
    }
}

/// What a template send is checked against.
pub(crate) struct SendInfo {
    pub status: String,
    pub category: String,
    pub body_params: usize,
    /// `IMAGE`, `VIDEO`, `DOCUMENT`, `TEXT` (with a variable) or `None`.
    pub header: Option<String>,
}

#[derive(Default)]
struct Waba {
    templates: BTreeMap<u64, Template>,
    next_seq: u64,
}

#[derive(Default)]
pub(crate) struct Store {
    wabas: HashMap<String, Waba>,
    /// template id → (WABA id, seq).
    index: HashMap<String, (String, u64)>,
}

impl Store {
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Template> {
        let (waba, seq) = self.index.get(id)?;
        self.wabas.get_mut(waba)?.templates.get_mut(seq)
    }

    /// `POST /{waba-id}/message_templates`. Returns the answer and when the review ends.
    pub(crate) fn create(
        &mut self,
        waba_id: &str,
        body: &Value,
        cfg: &WhatsAppSimConfig,
        rng: &Rng,
        now: Instant,
    ) -> Result<(Value, Instant), GraphError> {
        let name = body.get("name").and_then(Value::as_str).unwrap_or("");
        if !graph_names_ok(name) {
            return Err(GraphError::param(
                Some(2388042),
                "Invalid template name",
                "name is required: at most 512 lowercase letters, digits and underscores",
            ));
        }
        let language = body.get("language").and_then(Value::as_str).unwrap_or("").trim();
        if language.is_empty() || language.len() > 15 || !language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') {
            return Err(GraphError::param(None, "Invalid language", "language is required (e.g. en_US, ar)"));
        }
        let category = body.get("category").and_then(Value::as_str).unwrap_or("").to_ascii_uppercase();
        if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
            return Err(GraphError::param(None, "Invalid category", "category must be MARKETING, UTILITY or AUTHENTICATION"));
        }
        let parameter_format = body.get("parameter_format").and_then(Value::as_str).unwrap_or("POSITIONAL").to_ascii_uppercase();
        if !["POSITIONAL", "NAMED"].contains(&parameter_format.as_str()) {
            return Err(GraphError::param(None, "Invalid parameter format", "parameter_format must be POSITIONAL or NAMED"));
        }
        let components = validate_components(body.get("components"), parameter_format == "NAMED")?;
        if !self.wabas.contains_key(waba_id) && self.wabas.len() >= MAX_WABAS {
            return Err(GraphError::param(None, "Too many accounts", format!("the simulator keeps at most {MAX_WABAS} WABAs")));
        }
        let waba = self.wabas.entry(waba_id.to_owned()).or_default();
        if waba.templates.values().any(|t| t.name == name && t.language == language) {
            return Err(GraphError::param(
                Some(2388024),
                "Message template already exists",
                format!("There is already {language} content for this template. You can create a new template and try again."),
            ));
        }
        if waba.templates.len() >= cfg.max_templates {
            return Err(GraphError::param(None, "Template limit reached", format!("this WABA already has {} templates", cfg.max_templates)));
        }
        let approve = decide(name, cfg, rng);
        let due = now + Duration::from_millis(cfg.template_review_ms);
        let id = loop {
            let id = rng.digits(15);
            if !self.index.contains_key(&id) {
                break id;
            }
        };
        waba.next_seq += 1;
        let seq = waba.next_seq;
        waba.templates.insert(
            seq,
            Template {
                id: id.clone(),
                waba_id: waba_id.to_owned(),
                name: name.to_owned(),
                language: language.to_owned(),
                category: category.clone(),
                status: "PENDING".into(),
                parameter_format,
                components,
                rejected_reason: String::new(),
                seq,
                review: Some((due, approve)),
            },
        );
        self.index.insert(id.clone(), (waba_id.to_owned(), seq));
        Ok((json!({"id": id, "status": "PENDING", "category": category}), due))
    }

    /// Ends every due review of a WABA (reads see the state a review job may not have applied yet).
    pub(crate) fn settle_waba(&mut self, waba_id: &str, now: Instant) -> Vec<StatusChange> {
        self.wabas
            .get_mut(waba_id)
            .map(|w| w.templates.values_mut().filter_map(|t| t.settle(now)).collect())
            .unwrap_or_default()
    }

    pub(crate) fn settle_one(&mut self, id: &str, now: Instant) -> Option<StatusChange> {
        self.get_mut(id)?.settle(now)
    }

    /// `GET /{waba-id}/message_templates`: `fields`, `status`, `category`, `language`, `name`,
    /// `limit` (default 25, at most 1000), `after` / `before` cursors.
    pub(crate) fn list(&self, waba_id: &str, q: &HashMap<String, String>, self_url: &str) -> Result<Value, GraphError> {
        let fields = parse_fields(q.get("fields"))?;
        let limit = match q.get("limit") {
            None => 25,
            Some(l) => l.parse::<usize>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                GraphError::param(None, "Invalid limit", "limit must be a number between 1 and 1000")
            })?,
        };
        let after = match q.get("after") {
            Some(c) => Some(decode_cursor(c)?),
            None => None,
        };
        let before = match q.get("before") {
            Some(c) => Some(decode_cursor(c)?),
            None => None,
        };
        let want = |key: &str, value: &str| q.get(key).is_none_or(|w| w.split(',').any(|w| w.trim().eq_ignore_ascii_case(value)));
        let empty = BTreeMap::new();
        let all = self.wabas.get(waba_id).map(|w| &w.templates).unwrap_or(&empty);
        let matching = all.values().filter(|t| {
            want("status", &t.status) && want("category", &t.category) && want("language", &t.language) && q.get("name").is_none_or(|n| t.name.contains(n.as_str()))
        });
        let page: Vec<&Template> = match (after, before) {
            (Some(a), _) => matching.filter(|t| t.seq > a).take(limit + 1).collect(),
            (None, Some(b)) => {
                let mut prev: Vec<&Template> = matching.filter(|t| t.seq < b).collect();
                let skip = prev.len().saturating_sub(limit);
                prev.drain(..skip);
                prev
            }
            (None, None) => matching.take(limit + 1).collect(),
        };
        let more = page.len() > limit;
        let page = &page[..page.len().min(limit)];
        let data: Vec<Value> = page.iter().map(|t| t.render(&fields)).collect();
        let mut out = json!({ "data": data });
        if let (Some(first), Some(last)) = (page.first(), page.last()) {
            let mut paging = json!({"cursors": {"before": encode_cursor(first.seq), "after": encode_cursor(last.seq)}});
            if more {
                paging["next"] = next_url(self_url, q, &encode_cursor(last.seq)).into();
            }
            out["paging"] = paging;
        }
        Ok(out)
    }

    /// `GET /{template-id}`.
    pub(crate) fn get(&self, id: &str, fields: Option<&String>) -> Result<Value, GraphError> {
        let fields = parse_fields(fields)?;
        let (waba, seq) = self.index.get(id).ok_or_else(|| GraphError::no_object(id, "get"))?;
        let t = self.wabas.get(waba).and_then(|w| w.templates.get(seq)).ok_or_else(|| GraphError::no_object(id, "get"))?;
        Ok(t.render(&fields))
    }

    /// `POST /{template-id}`: new `components` and/or `category`; back to PENDING.
    pub(crate) fn edit(&mut self, id: &str, body: &Value, cfg: &WhatsAppSimConfig, rng: &Rng, now: Instant) -> Result<(StatusChange, Instant), GraphError> {
        let t = self.get_mut(id).ok_or_else(|| GraphError::no_object(id, "post"))?;
        if body.get("components").is_none() && body.get("category").is_none() {
            return Err(GraphError::param(None, "Nothing to edit", "give components and/or category"));
        }
        let components = match body.get("components") {
            Some(c) => Some(validate_components(Some(c), t.parameter_format == "NAMED")?),
            None => None,
        };
        let category = match body.get("category").and_then(Value::as_str).map(str::to_ascii_uppercase) {
            Some(c) if ["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&c.as_str()) => Some(c),
            Some(_) => return Err(GraphError::param(None, "Invalid category", "category must be MARKETING, UTILITY or AUTHENTICATION")),
            None => None,
        };
        if t.status == "PENDING" {
            return Err(GraphError::param(None, "Template under review", "a PENDING template cannot be edited"));
        }
        if let Some(c) = components {
            t.components = c;
        }
        if let Some(c) = category {
            t.category = c;
        }
        let name = t.name.clone();
        let due = now + Duration::from_millis(cfg.template_review_ms);
        t.review = Some((due, decide(&name, cfg, rng)));
        t.status = "PENDING".into();
        t.rejected_reason = String::new();
        Ok((t.change(), due))
    }

    /// `DELETE /{waba-id}/message_templates?name=…[&hsm_id=…]`.
    pub(crate) fn delete(&mut self, waba_id: &str, name: Option<&String>, hsm_id: Option<&String>) -> Result<Value, GraphError> {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(GraphError::param(None, "Missing name", "The parameter name is required"));
        };
        let Some(waba) = self.wabas.get_mut(waba_id) else {
            return Err(not_found(name));
        };
        let doomed: Vec<u64> = waba
            .templates
            .values()
            .filter(|t| t.name == *name && hsm_id.is_none_or(|h| *h == t.id))
            .map(|t| t.seq)
            .collect();
        if doomed.is_empty() {
            return Err(not_found(name));
        }
        for seq in doomed {
            if let Some(t) = waba.templates.remove(&seq) {
                self.index.remove(&t.id);
            }
        }
        Ok(json!({"success": true}))
    }

    /// The template a send names, after ending a due review.
    pub(crate) fn for_send(&mut self, waba_id: &str, name: &str, language: &str, now: Instant) -> (Option<SendInfo>, Option<StatusChange>) {
        let Some(t) = self.wabas.get_mut(waba_id).and_then(|w| w.templates.values_mut().find(|t| t.name == name && t.language == language)) else {
            return (None, None);
        };
        let change = t.settle(now);
        let header = component(&t.components, "HEADER").and_then(|h| {
            let format = h.get("format").and_then(Value::as_str).unwrap_or("TEXT").to_ascii_uppercase();
            match format.as_str() {
                "TEXT" => (!variables(h.get("text").and_then(Value::as_str).unwrap_or("")).is_empty()).then_some(format),
                "LOCATION" => None,
                _ => Some(format),
            }
        });
        let info = SendInfo { status: t.status.clone(), category: t.category.clone(), body_params: variables(t.body_text()).len(), header };
        (Some(info), change)
    }

    /// Sets a status by hand (`/_sim/whatsapp/template-status`): PAUSED, DISABLED, APPROVED…
    pub(crate) fn force_status(&mut self, id: &str, status: &str, reason: Option<&str>) -> Option<StatusChange> {
        let t = self.get_mut(id)?;
        t.status = status.to_owned();
        t.review = None;
        t.rejected_reason = reason.unwrap_or(if status == "REJECTED" { "INVALID_FORMAT" } else { "NONE" }).to_owned();
        Some(t.change())
    }

    /// Every template (for `/_sim/whatsapp/templates`), oldest first per WABA.
    pub(crate) fn dump(&self) -> Value {
        let all: Map<String, Value> = self
            .wabas
            .iter()
            .map(|(w, t)| (w.clone(), Value::Array(t.templates.values().map(|t| t.render(&FIELDS)).collect())))
            .collect();
        Value::Object(all)
    }
}

fn decide(name: &str, cfg: &WhatsAppSimConfig, rng: &Rng) -> bool {
    let marked = !cfg.template_reject_marker.is_empty() && name.contains(&cfg.template_reject_marker);
    let drawn = cfg.template_reject_rate > 0.0 && rng.unit() < cfg.template_reject_rate;
    !(marked || drawn)
}

fn not_found(name: &str) -> GraphError {
    GraphError::param(Some(2593002), "Message template not found", format!("No template named {name} in this WhatsApp Business Account"))
}

fn parse_fields(fields: Option<&String>) -> Result<Vec<&'static str>, GraphError> {
    let Some(fields) = fields.filter(|f| !f.trim().is_empty()) else { return Ok(DEFAULT_FIELDS.to_vec()) };
    let mut out = Vec::new();
    for f in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        match FIELDS.iter().find(|k| **k == f) {
            Some(k) => out.push(*k),
            None => {
                return Err(GraphError {
                    status: 400,
                    code: 100,
                    message: format!("(#100) Tried accessing nonexisting field ({f}) on node type (WhatsAppBusinessHSM)"),
                    details: None,
                    subcode: None,
                    user: None,
                    kind: "OAuthException",
                })
            }
        }
    }
    Ok(out)
}

fn encode_cursor(seq: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

fn decode_cursor(c: &str) -> Result<u64, GraphError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("seq:")?.parse().ok())
        .ok_or_else(|| GraphError::param(None, "Invalid cursor", "after/before is not a cursor this endpoint returned"))
}

/// The same query with `after` replaced (and `before` dropped), on the caller's own URL.
fn next_url(self_url: &str, q: &HashMap<String, String>, after: &str) -> String {
    let mut keys: Vec<&String> = q.keys().filter(|k| *k != "after" && *k != "before").collect();
    keys.sort();
    let mut query: Vec<String> = keys.iter().map(|k| format!("{}={}", urlencoding::encode(k), urlencoding::encode(&q[*k]))).collect();
    query.push(format!("after={after}"));
    format!("{self_url}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert!(decode_cursor("!!").is_err());
    }
}
