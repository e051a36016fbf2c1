//! Rendering a WhatsApp template into the payload a provider sends: the parameters of a
//! send (body variables by name, `var1..n` or `1..n`; `header_image|video|document`;
//! `button_url` / `button_url_<index>`) mapped onto an approved template. Used by the WhatsApp
//! send routes and by the signed webhook (`channel: "whatsapp"` with a `templateCode` naming
//! an approved WhatsApp template, `data` as the parameters). Pure: no I/O.

use crate::domain::{MediaItem, MediaKind, WhatsAppTemplate};
use crate::store::{WaButton, WaTemplateRecord};
use serde_json::{Map, Value};

fn invalid(m: impl Into<String>) -> String {
    m.into()
}

/// The `{{n}}` placeholders of a body, checked to be 1..=n each at least once.
pub fn placeholders(body: &str) -> Result<usize, String> {
    let mut seen = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        let inner = after[..j].trim();
        let n: usize = inner.parse().map_err(|_| invalid(format!("bodyText placeholder `{{{{{inner}}}}}` must be a number: {{{{1}}}}, {{{{2}}}}, …")))?;
        if n == 0 || n > 100 {
            return Err(invalid("bodyText placeholders are numbered from {{1}} up to {{100}}"));
        }
        if !seen.contains(&n) {
            seen.push(n);
        }
        rest = &after[j + 2..];
    }
    seen.sort_unstable();
    match seen.iter().enumerate().find(|(i, n)| **n != i + 1) {
        Some((i, _)) => Err(invalid(format!("bodyText uses placeholders {seen:?}; they must run {{{{1}}}}..{{{{n}}}} without a gap ({{{{{}}}}} is missing)", i + 1))),
        None => Ok(seen.len()),
    }
}

/// The key a send passes for body placeholder `n` (1-based): the variable's name, else `varN`.
pub fn body_param_key(t: &WaTemplateRecord, n: usize) -> String {
    t.variables.get(n - 1).cloned().unwrap_or_else(|| format!("var{n}"))
}

/// The template's URL buttons with a dynamic suffix, by their index among all buttons.
pub fn dynamic_buttons(t: &WaTemplateRecord) -> Vec<(usize, &WaButton)> {
    t.buttons.iter().enumerate().filter(|(_, b)| b.is_dynamic_url()).collect()
}

/// The key a send passes for a dynamic URL button: `button_url` when there is one, else
/// `button_url_<index>`.
pub fn button_param_key(t: &WaTemplateRecord, index: usize) -> String {
    if dynamic_buttons(t).len() == 1 {
        "button_url".into()
    } else {
        format!("button_url_{index}")
    }
}

/// A parameter value as text (numbers are accepted as they are written).
fn param(params: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() > 1024 => Err(invalid(format!("parameters.{key} has more than 1024 characters"))),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(invalid(format!("parameters.{key} must be a string or a number"))),
    }
}

pub fn media_url(field: &str, v: &str) -> Result<String, String> {
    let ok = v.len() <= 2048 && reqwest::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if ok {
        Ok(v.to_owned())
    } else {
        Err(invalid(format!("{field} must be a public http(s) URL of at most 2048 characters")))
    }
}

/// The template's send payload from a send's `parameters`: body variables by name (or
/// `var1..n`, or `1..n`), `header_image|video|document` (else the saved media), and
/// `button_url` / `button_url_<index>` for dynamic URL buttons.
pub fn template_content(t: &WaTemplateRecord, params: &Map<String, Value>) -> Result<(WhatsAppTemplate, String), String> {
    if params.len() > 100 {
        return Err(invalid("parameters holds at most 100 entries"));
    }
    let n = placeholders(&t.body_text)?;
    let mut body_params = Vec::with_capacity(n);
    let mut rendered = t.body_text.clone();
    for i in 1..=n {
        let key = body_param_key(t, i);
        let value = match param(params, &key)? {
            Some(v) => v,
            None => param(params, &format!("var{i}"))?.or(param(params, &i.to_string())?).ok_or_else(|| {
                invalid(format!("parameters.{key} is required (body variable {{{{{i}}}}} of template `{}`)", t.name))
            })?,
        };
        rendered = rendered.replace(&format!("{{{{{i}}}}}", i = i), &value);
        body_params.push(value);
    }
    let header = match t.header_type.as_str() {
        kind @ ("IMAGE" | "VIDEO" | "DOCUMENT") => {
            let key = format!("header_{}", kind.to_ascii_lowercase());
            let link = match param(params, &key)? {
                Some(url) => media_url(&format!("parameters.{key}"), &url)?,
                None => t.header_media_url.clone().ok_or_else(|| {
                    invalid(format!("parameters.{key} is required: template `{}` has a {kind} header and no saved media", t.name))
                })?,
            };
            let kind = MediaKind::parse(&kind.to_ascii_lowercase()).unwrap_or(MediaKind::Image);
            Some(MediaItem { kind, link, caption: None, filename: None })
        }
        _ => None,
    };
    let mut url_buttons = Vec::new();
    for (index, _) in dynamic_buttons(t) {
        let key = button_param_key(t, index);
        let value = match param(params, &key)? {
            Some(v) => v,
            None => param(params, &format!("button_url_{index}"))?
                .ok_or_else(|| invalid(format!("parameters.{key} is required: template `{}` has a dynamic URL button", t.name)))?,
        };
        url_buttons.push((index as u32, value));
    }
    let content = WhatsAppTemplate {
        name: t.name.clone(),
        language: t.language.clone(),
        body_params,
        header,
        url_buttons,
        content_sid: t.twilio_content_sid.clone(),
    };
    Ok((content, rendered))
}


/// The approved WhatsApp template a webhook's `templateCode` names: `name`, or `name:language`
/// when the name exists in several languages. `Ok(None)`: no WhatsApp template has that name
/// (the code may name an ordinary template).
pub fn resolve<'a>(templates: &'a [WaTemplateRecord], code: &str) -> Result<Option<&'a WaTemplateRecord>, String> {
    let (name, language) = match code.split_once(':') {
        Some((n, l)) => (n, Some(l)),
        None => (code, None),
    };
    let named: Vec<&WaTemplateRecord> =
        templates.iter().filter(|t| t.name == name && t.status != "DELETED" && language.is_none_or(|l| t.language == l)).collect();
    if named.is_empty() {
        return Ok(None);
    }
    let usable: Vec<&WaTemplateRecord> = named.iter().copied().filter(|t| t.status == "APPROVED" && t.is_active).collect();
    match usable.as_slice() {
        [one] => Ok(Some(one)),
        [] => Err(format!(
            "WhatsApp template `{code}` is {}; only APPROVED, active templates can be sent",
            named.iter().map(|t| format!("{} ({})", t.status, t.language)).collect::<Vec<_>>().join(", ")
        )),
        many => Err(format!(
            "templateCode `{code}` names approved WhatsApp templates in {}; name one as `{name}:<language>`",
            many.iter().map(|t| t.language.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}
