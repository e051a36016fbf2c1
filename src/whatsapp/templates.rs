//! WhatsApp templates: validation by Meta's rules, the Graph API components they become, their
//! life at Meta (submit, sync one, sync all, delete there too), and `sendInfo` — what a send
//! must pass. Statuses: DRAFT (never submitted), then Meta's PENDING, APPROVED, REJECTED,
//! PAUSED, DISABLED; DELETED when Meta no longer has it.

use super::{WaResult, WhatsApp, WhatsAppError};
use crate::domain::now_ms;
use super::meta_format::from_meta;
pub use super::meta_format::{meta_body, send_info};
use crate::store::{WaButton, WaTemplateRecord};
use std::collections::BTreeMap;

pub const CATEGORIES: [&str; 3] = ["MARKETING", "UTILITY", "AUTHENTICATION"];
pub const HEADER_TYPES: [&str; 5] = ["NONE", "TEXT", "IMAGE", "VIDEO", "DOCUMENT"];
const MAX_TEMPLATES_PER_ASSOCIATION: usize = 1000;

#[derive(Default)]
pub struct TemplateInput {
    pub name: String,
    pub language: String,
    pub category: String,
    pub body_text: String,
    pub header_type: Option<String>,
    pub header_content: Option<String>,
    pub header_media_url: Option<String>,
    pub footer_text: Option<String>,
    pub buttons: Vec<WaButton>,
    pub variables: Vec<String>,
    pub sample_values: BTreeMap<String, String>,
    pub twilio_content_sid: Option<String>,
}

/// Every field optional (`PUT /whatsapp-templates/:id`).
#[derive(Default)]
pub struct TemplatePatch {
    pub name: Option<String>,
    pub language: Option<String>,
    pub category: Option<String>,
    pub body_text: Option<String>,
    pub header_type: Option<String>,
    pub header_content: Option<String>,
    pub header_media_url: Option<String>,
    pub footer_text: Option<String>,
    pub buttons: Option<Vec<WaButton>>,
    pub variables: Option<Vec<String>>,
    pub sample_values: Option<BTreeMap<String, String>>,
    pub is_active: Option<bool>,
    pub twilio_content_sid: Option<String>,
}

/// What `sync-all` did, as documented.
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    pub created: u32,
    pub updated: u32,
    pub deleted: u32,
    pub errors: Vec<String>,
    pub message: String,
}

fn invalid(m: impl Into<String>) -> WhatsAppError {
    WhatsAppError::Invalid(m.into())
}

fn text(field: &str, v: &str, max: usize, required: bool) -> WaResult<Option<String>> {
    let v = v.trim();
    if v.is_empty() {
        return if required { Err(invalid(format!("{field} is required"))) } else { Ok(None) };
    }
    if v.chars().count() > max {
        return Err(invalid(format!("{field} has {} characters; the limit is {max}", v.chars().count())));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(format!("{field} must not contain control characters")));
    }
    Ok(Some(v.to_owned()))
}

fn http_url(field: &str, v: &str) -> WaResult<String> {
    let v = v.trim();
    let ok = v.len() <= 2048
        && reqwest::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(invalid(format!("{field} `{v}` must be an absolute http(s) URL of at most 2048 characters")))
    }
}

/// Checks every field of a template against Meta's rules, naming the first bad one.
fn validate(t: &mut WaTemplateRecord) -> WaResult<()> {
    let name_ok = !t.name.is_empty() && t.name.len() <= 512 && t.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(invalid(format!("name `{}` must be 1-512 lowercase letters, digits and underscores", t.name.chars().take(64).collect::<String>())));
    }
    let lang_ok = (2..=15).contains(&t.language.len()) && t.language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
    if !lang_ok {
        return Err(invalid(format!("language `{}` must be a language code such as en, ar or en_US", t.language.chars().take(16).collect::<String>())));
    }
    t.category = t.category.trim().to_ascii_uppercase();
    if !CATEGORIES.contains(&t.category.as_str()) {
        return Err(invalid(format!("category must be one of {}", CATEGORIES.join(", "))));
    }
    t.header_type = t.header_type.trim().to_ascii_uppercase();
    if !HEADER_TYPES.contains(&t.header_type.as_str()) {
        return Err(invalid(format!("headerType must be one of {}", HEADER_TYPES.join(", "))));
    }
    t.body_text = text("bodyText", &t.body_text, 1024, true)?.unwrap_or_default();
    let n = placeholders(&t.body_text)?;
    if !t.variables.is_empty() && t.variables.len() != n {
        return Err(invalid(format!("variables names {} variables but bodyText has {n} placeholders", t.variables.len())));
    }
    for v in &t.variables {
        if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(invalid(format!("variable name `{}` must be 1-64 letters, digits or underscores", v.chars().take(64).collect::<String>())));
        }
    }
    if t.sample_values.len() > 100 || t.sample_values.iter().any(|(k, v)| k.len() > 64 || v.chars().count() > 256) {
        return Err(invalid("sampleValues holds at most 100 entries, names up to 64 and values up to 256 characters"));
    }
    match t.header_type.as_str() {
        "TEXT" => {
            let h = text("headerContent", t.header_content.as_deref().unwrap_or(""), 60, true)?;
            if h.as_deref().is_some_and(|h| h.contains("{{")) {
                return Err(invalid("headerContent variables are not supported; put variables in bodyText"));
            }
            t.header_content = h;
            t.header_media_url = None;
        }
        "NONE" => {
            t.header_content = None;
            t.header_media_url = None;
        }
        _ => {
            t.header_content = None;
            t.header_media_url = match t.header_media_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                Some(u) => Some(http_url("headerMediaUrl", u)?),
                None => None,
            };
        }
    }
    t.footer_text = text("footerText", t.footer_text.as_deref().unwrap_or(""), 60, false)?;
    if t.buttons.len() > 10 {
        return Err(invalid("buttons holds at most 10 buttons"));
    }
    for (i, b) in t.buttons.iter_mut().enumerate() {
        b.kind = b.kind.trim().to_ascii_uppercase();
        b.text = text(&format!("buttons[{i}].text"), &b.text, 25, true)?.unwrap_or_default();
        match b.kind.as_str() {
            "URL" => b.url = Some(http_url(&format!("buttons[{i}].url"), b.url.as_deref().unwrap_or(""))?),
            "PHONE_NUMBER" => b.phone_number = text(&format!("buttons[{i}].phoneNumber"), b.phone_number.as_deref().unwrap_or(""), 20, true)?,
            "QUICK_REPLY" => {}
            other => return Err(invalid(format!("buttons[{i}].type `{other}` must be URL, PHONE_NUMBER or QUICK_REPLY"))),
        }
    }
    if let Some(sid) = &t.twilio_content_sid {
        if !(sid.starts_with("HX") && sid.len() == 34 && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(invalid("twilioContentSid must be a Twilio Content SID (HX followed by 32 hex digits)"));
        }
    }
    Ok(())
}

/// [`crate::ingress::whatsapp::placeholders`], as this service's error.
pub fn placeholders(body: &str) -> WaResult<usize> {
    crate::ingress::whatsapp::placeholders(body).map_err(WhatsAppError::Invalid)
}

pub use crate::ingress::whatsapp::{body_param_key, button_param_key, dynamic_buttons};


impl WhatsApp {
    /// Writes the template compare-and-set on the version it was read at (a concurrent
    /// change answers 409 and nothing is written), then holds the version written.
    async fn save(&self, t: &mut WaTemplateRecord) -> WaResult<()> {
        self.store.put_wa_template(t).await?;
        t.version += 1;
        Ok(())
    }

    pub async fn create_template(&self, association_id: i64, input: TemplateInput, submit: bool) -> WaResult<WaTemplateRecord> {
        self.directory.get_association(association_id).await?;
        let now = now_ms();
        let mut t = WaTemplateRecord {
            association_id,
            id: self.ids.next_id(),
            name: input.name.trim().to_owned(),
            language: input.language.trim().to_owned(),
            category: input.category,
            header_type: input.header_type.unwrap_or_else(|| "NONE".into()),
            header_content: input.header_content,
            header_media_url: input.header_media_url,
            body_text: input.body_text,
            footer_text: input.footer_text,
            buttons: input.buttons,
            variables: input.variables,
            sample_values: input.sample_values,
            status: "DRAFT".into(),
            meta_template_id: None,
            status_reason: None,
            is_active: true,
            twilio_content_sid: input.twilio_content_sid.filter(|s| !s.is_empty()),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        validate(&mut t)?;
        if submit {
            // Refuse before saving anything when it could not be submitted at all.
            let cred = self.require_meta_credential(association_id).await?;
            self.graph(&cred)?;
        }
        let existing = self.store.list_wa_templates(association_id).await?;
        if existing.len() >= MAX_TEMPLATES_PER_ASSOCIATION {
            return Err(invalid(format!("association {association_id} has {MAX_TEMPLATES_PER_ASSOCIATION} WhatsApp templates, the most it may keep")));
        }
        if existing.iter().any(|e| e.name == t.name && e.language == t.language && e.status != "DELETED") {
            return Err(invalid(format!("a template named `{}` in language `{}` exists already", t.name, t.language)));
        }
        self.save(&mut t).await?;
        if submit {
            return self.submit(t).await;
        }
        Ok(t)
    }

    /// A template of the association (or of any, for the super-admin with `None`).
    pub async fn template(&self, scope: Option<i64>, id: i64) -> WaResult<WaTemplateRecord> {
        match self.store.get_wa_template(id).await? {
            Some(t) if scope.is_none_or(|a| a == t.association_id) => Ok(t),
            _ => Err(WhatsAppError::NotFound(format!("WhatsApp template {id} not found"))),
        }
    }

    pub async fn list_templates(&self, association_id: i64, status: Option<&str>, category: Option<&str>) -> WaResult<Vec<WaTemplateRecord>> {
        self.directory.get_association(association_id).await?;
        let all = self.store.list_wa_templates(association_id).await?;
        Ok(all
            .into_iter()
            .filter(|t| status.is_none_or(|s| t.status.eq_ignore_ascii_case(s)))
            .filter(|t| category.is_none_or(|c| t.category.eq_ignore_ascii_case(c)))
            .collect())
    }

    pub async fn update_template(&self, scope: Option<i64>, id: i64, p: TemplatePatch, submit: bool) -> WaResult<WaTemplateRecord> {
        let mut t = self.template(scope, id).await?;
        let content_changed = p.body_text.is_some() || p.header_type.is_some() || p.header_content.is_some() || p.footer_text.is_some() || p.buttons.is_some();
        if let Some(v) = p.name { t.name = v.trim().to_owned() }
        if let Some(v) = p.language { t.language = v.trim().to_owned() }
        if let Some(v) = p.category { t.category = v }
        if let Some(v) = p.body_text { t.body_text = v }
        if let Some(v) = p.header_type { t.header_type = v }
        if let Some(v) = p.header_content { t.header_content = Some(v) }
        if let Some(v) = p.header_media_url { t.header_media_url = Some(v) }
        if let Some(v) = p.footer_text { t.footer_text = Some(v) }
        if let Some(v) = p.buttons { t.buttons = v }
        if let Some(v) = p.variables { t.variables = v }
        if let Some(v) = p.sample_values { t.sample_values = v }
        if let Some(v) = p.is_active { t.is_active = v }
        if let Some(v) = p.twilio_content_sid { t.twilio_content_sid = Some(v).filter(|s| !s.is_empty()) }
        validate(&mut t)?;
        // Changed content is not what Meta approved: it must be reviewed again before use.
        if content_changed && t.status == "APPROVED" && !submit {
            t.status = "DRAFT".into();
            t.status_reason = Some("edited since approval; submit it again".into());
        }
        t.updated_at = now_ms().max(t.updated_at + 1);
        self.save(&mut t).await?;
        if submit {
            return self.submit(t).await;
        }
        Ok(t)
    }

    /// Deletes the template here, and at Meta too with `delete_from_meta` (that removes every
    /// language of the name there only when it has no Meta id of its own).
    pub async fn delete_template(&self, scope: Option<i64>, id: i64, delete_from_meta: bool) -> WaResult<()> {
        let t = self.template(scope, id).await?;
        if delete_from_meta && t.meta_template_id.is_some() {
            let cred = self.require_meta_credential(t.association_id).await?;
            match self.graph(&cred)?.delete_template(&t.name, t.meta_template_id.as_deref()).await {
                Ok(()) => {}
                // Already gone at Meta: nothing left to delete there.
                Err(crate::providers::meta_graph::GraphError::Meta { status: 404, .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if self.store.delete_wa_template(t.association_id, id).await? {
            Ok(())
        } else {
            Err(WhatsAppError::NotFound(format!("WhatsApp template {id} not found")))
        }
    }

    /// Submits the template to Meta for review (creating it there, or editing it when Meta has
    /// it already), and records the status Meta answers.
    pub async fn submit_template(&self, scope: Option<i64>, id: i64) -> WaResult<WaTemplateRecord> {
        let t = self.template(scope, id).await?;
        self.submit(t).await
    }

    async fn submit(&self, mut t: WaTemplateRecord) -> WaResult<WaTemplateRecord> {
        let cred = self.require_meta_credential(t.association_id).await?;
        let graph = self.graph(&cred)?;
        let body = meta_body(&t);
        let answer = match &t.meta_template_id {
            Some(meta_id) => graph.edit_template(meta_id, &body).await.map(|()| (meta_id.clone(), "PENDING".to_owned())),
            None => graph.create_template(&body).await.map(|c| (c.id, c.status)),
        };
        match answer {
            Ok((meta_id, status)) => {
                t.meta_template_id = Some(meta_id);
                t.status = if status.is_empty() { "PENDING".into() } else { status.to_ascii_uppercase() };
                t.status_reason = None;
            }
            Err(e) => {
                t.status_reason = Some(format!("submission failed: {e}"));
                t.updated_at = now_ms().max(t.updated_at + 1);
                self.save(&mut t).await?;
                return Err(super::meta_error(e, &format!("template {} is saved, but Meta did not take it: ", t.id)));
            }
        }
        t.updated_at = now_ms().max(t.updated_at + 1);
        self.save(&mut t).await?;
        Ok(t)
    }

    /// Reads the template's status from Meta.
    pub async fn sync_template(&self, scope: Option<i64>, id: i64) -> WaResult<WaTemplateRecord> {
        let mut t = self.template(scope, id).await?;
        let meta_id = t.meta_template_id.clone().ok_or_else(|| invalid(format!("template {id} was never submitted to Meta; submit it first")))?;
        let cred = self.require_meta_credential(t.association_id).await?;
        match self.graph(&cred)?.get_template(&meta_id).await {
            Ok(m) => {
                t.status = m.status.to_ascii_uppercase();
                t.category = if m.category.is_empty() { t.category } else { m.category.to_ascii_uppercase() };
                t.status_reason = m.rejected_reason.filter(|r| !r.is_empty() && r != "NONE");
            }
            Err(crate::providers::meta_graph::GraphError::Meta { status: 404, .. }) => t.status = "DELETED".into(),
            Err(e) => return Err(e.into()),
        }
        t.updated_at = now_ms().max(t.updated_at + 1);
        self.save(&mut t).await?;
        Ok(t)
    }

    /// Brings every template of the association in line with Meta's list: statuses updated,
    /// templates made elsewhere created here, those Meta no longer has marked DELETED.
    pub async fn sync_all(&self, association_id: i64) -> WaResult<SyncReport> {
        let cred = self.require_meta_credential(association_id).await?;
        let remote = self.graph(&cred)?.list_templates().await?;
        let local = self.store.list_wa_templates(association_id).await?;
        let mut report = SyncReport::default();
        let now = now_ms();
        for m in &remote {
            let found = local
                .iter()
                .find(|t| t.meta_template_id.as_deref() == Some(m.id.as_str()))
                .or_else(|| local.iter().find(|t| t.meta_template_id.is_none() && t.name == m.name && t.language == m.language));
            let result = match found {
                Some(t) => {
                    let status = m.status.to_ascii_uppercase();
                    let reason = m.rejected_reason.clone().filter(|r| !r.is_empty() && r != "NONE");
                    if t.status == status && t.meta_template_id.as_deref() == Some(m.id.as_str()) && t.status_reason == reason {
                        continue;
                    }
                    let mut t = t.clone();
                    t.status = status;
                    t.status_reason = reason;
                    t.meta_template_id = Some(m.id.clone());
                    t.updated_at = now.max(t.updated_at + 1);
                    report.updated += 1;
                    self.store.put_wa_template(&t).await
                }
                None => {
                    report.created += 1;
                    self.store.put_wa_template(&from_meta(association_id, self.ids.next_id(), m, now)).await
                }
            };
            if let Err(e) = result {
                report.errors.push(format!("template {} ({}): {e}", m.name, m.id));
            }
        }
        for t in local.iter().filter(|t| t.status != "DELETED") {
            let Some(meta_id) = &t.meta_template_id else { continue };
            if remote.iter().any(|m| &m.id == meta_id) {
                continue;
            }
            let mut t = t.clone();
            t.status = "DELETED".into();
            t.updated_at = now.max(t.updated_at + 1);
            match self.store.put_wa_template(&t).await {
                Ok(()) => report.deleted += 1,
                Err(e) => report.errors.push(format!("template {} ({meta_id}): {e}", t.name)),
            }
        }
        report.message = format!("Sync complete: {} created, {} updated, {} marked as deleted", report.created, report.updated, report.deleted);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(body: &str) -> WaTemplateRecord {
        WaTemplateRecord {
            association_id: 1,
            id: 22,
            name: "donation_receipt".into(),
            language: "ar".into(),
            category: "utility".into(),
            header_type: "image".into(),
            header_content: None,
            header_media_url: Some("https://send.jood.cloud/media/r.png".into()),
            body_text: body.into(),
            footer_text: None,
            buttons: vec![WaButton { kind: "url".into(), text: "إيصال".into(), url: Some("https://send.jood.cloud/r/{{1}}".into()), phone_number: None }],
            variables: vec![],
            sample_values: BTreeMap::new(),
            status: "APPROVED".into(),
            meta_template_id: None,
            status_reason: None,
            is_active: true,
            twilio_content_sid: None,
            created_at: 0,
            updated_at: 0,
            version: 0,
        }
    }

    #[test]
    fn placeholders_must_be_numbered_without_gaps() {
        assert_eq!(placeholders("Hello {{1}}, order {{2}} ({{1}})").unwrap(), 2);
        assert_eq!(placeholders("no variables").unwrap(), 0);
        assert!(placeholders("{{1}} {{3}}").unwrap_err().to_string().contains("{{2}} is missing"));
        assert!(placeholders("{{name}}").unwrap_err().to_string().contains("must be a number"));
    }

    #[test]
    fn validation_normalises_and_names_the_bad_field() {
        let mut t = record("شكراً {{1}}");
        validate(&mut t).unwrap();
        assert_eq!((t.category.as_str(), t.header_type.as_str(), t.buttons[0].kind.as_str()), ("UTILITY", "IMAGE", "URL"));
        let mut bad = record("x");
        bad.name = "Order Confirmation".into();
        assert!(validate(&mut bad).unwrap_err().to_string().contains("name"));
        let mut bad = record("{{1}} {{2}}");
        bad.variables = vec!["only_one".into()];
        assert!(validate(&mut bad).unwrap_err().to_string().contains("2 placeholders"));
        let mut bad = record("x");
        bad.buttons[0].url = Some("javascript:alert(1)".into());
        assert!(validate(&mut bad).unwrap_err().to_string().contains("buttons[0].url"));
    }

    #[test]
    fn send_info_lists_every_parameter() {
        let mut t = record("Thanks {{1}} for {{2}}");
        t.variables = vec!["name".into(), "amount".into()];
        validate(&mut t).unwrap();
        let info = send_info(&t);
        let keys: Vec<&str> = info["requiredParams"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["name", "amount", "header_image", "button_url"]);
        assert_eq!(info["defaultHeaderMedia"], "https://send.jood.cloud/media/r.png");
        assert_eq!(info["urlButtons"][0]["isDynamic"], true);
        assert_eq!(info["examplePayload"]["templateId"], 22);
        let body = meta_body(&t);
        assert_eq!(body["components"][1]["example"]["body_text"], json!([["name", "amount"]]));
        assert_eq!(body["components"][2]["buttons"][0]["example"], json!(["https://send.jood.cloud/r/example"]));
    }
}
