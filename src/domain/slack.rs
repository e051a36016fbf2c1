//! The Slack channel's rules: who a message may go to (a user id, `U…`/`W…`, opened as a DM;
//! a conversation id, `C…`/`G…`/`D…`; or a `#channel-name`), and what it is: plain text, or
//! Block Kit JSON (a template whose content is a JSON object with `blocks`, `data` rendered
//! into each of its strings, so values never break the JSON). The stored body is that text or
//! that rendered JSON; [`parts`] splits it again for the provider. Pure rules, no I/O.

use super::template;
use serde_json::{Map, Value};

/// Longest text Slack takes in one message (`msg_too_long` beyond 40,000 characters).
pub const MAX_TEXT_CHARS: usize = 40_000;
/// Most blocks one message may carry.
pub const MAX_BLOCKS: usize = 50;

/// Checks a Slack recipient; returns it trimmed, or why not (worded to follow the value).
pub fn normalise(input: &str) -> Result<String, String> {
    let s = input.trim();
    if let Some(name) = s.strip_prefix('#') {
        let ok = (1..=80).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        return if ok { Ok(s.to_owned()) } else { Err("is not a Slack channel name (#lowercase-name, up to 80 characters)".into()) };
    }
    let ok = (9..=24).contains(&s.len())
        && s.starts_with(['U', 'W', 'C', 'G', 'D'])
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(s.to_owned())
    } else {
        Err("is not a Slack user id (U…/W…) or conversation id (C…/G…/D…)".into())
    }
}

/// A body that is Block Kit JSON: checked (an object with a non-empty `blocks` array of at
/// most [`MAX_BLOCKS`], `text` optional) and returned compact. `Ok(None)`: plain text.
pub fn check_body(body: &str) -> Result<Option<String>, String> {
    let t = body.trim_start();
    if !t.starts_with('{') {
        if body.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("a Slack message is at most {MAX_TEXT_CHARS} characters"));
        }
        return Ok(None);
    }
    let v: Value = serde_json::from_str(t).map_err(|e| format!("the Slack message looks like Block Kit JSON but does not parse: {e}"))?;
    let blocks = v.get("blocks").and_then(Value::as_array).ok_or("Block Kit JSON needs a `blocks` array")?;
    if blocks.is_empty() || blocks.len() > MAX_BLOCKS {
        return Err(format!("Block Kit JSON needs 1 to {MAX_BLOCKS} blocks"));
    }
    if blocks.iter().any(|b| b.get("type").and_then(Value::as_str).is_none()) {
        return Err("every block needs a `type`".into());
    }
    Ok(Some(v.to_string()))
}

/// Renders `data` into a template's content: each string of Block Kit JSON on its own (so a
/// value with quotes stays a string), or the text as any template.
pub fn render(content: &str, data: &Map<String, Value>) -> String {
    if content.trim_start().starts_with('{') {
        if let Ok(mut v) = serde_json::from_str::<Value>(content) {
            render_strings(&mut v, data);
            return v.to_string();
        }
    }
    template::render(content, &[data])
}

fn render_strings(v: &mut Value, data: &Map<String, Value>) {
    match v {
        Value::String(s) => *s = template::render(s, &[data]),
        Value::Array(items) => items.iter_mut().for_each(|i| render_strings(i, data)),
        Value::Object(m) => m.values_mut().for_each(|i| render_strings(i, data)),
        _ => {}
    }
}

/// A stored body as the provider sends it: the text, and the blocks when it is Block Kit
/// (the text is then its `text`, else the blocks' own texts joined, for notifications).
pub fn parts(body: &str) -> (String, Option<Value>) {
    if body.trim_start().starts_with('{') {
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            if let Some(blocks) = v.get("blocks").filter(|b| b.is_array()) {
                let text = v.get("text").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| summary(blocks));
                return (text, Some(blocks.clone()));
            }
        }
    }
    (body.to_owned(), None)
}

fn summary(blocks: &Value) -> String {
    let mut texts = Vec::new();
    for b in blocks.as_array().into_iter().flatten() {
        if let Some(t) = b.pointer("/text/text").and_then(Value::as_str) {
            texts.push(t.to_owned());
        }
    }
    texts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_slack_ids() {
        assert_eq!(normalise(" U123456AB ").unwrap(), "U123456AB");
        assert!(normalise("C0123456789").is_ok());
        assert!(normalise("#ops-alerts").is_ok());
        assert!(normalise("u123").is_err());
        assert!(normalise("+966500000000").is_err());
        assert!(normalise("#Bad Name").is_err());
    }

    #[test]
    fn block_kit_is_rendered_string_by_string() {
        let content = r#"{"text":"{{service}} alert","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*{{service}}* is {{severity}}"}}]}"#;
        let data: Map<String, Value> = serde_json::from_str(r#"{"service":"pay\"ments","severity":"high"}"#).unwrap();
        let body = render(content, &data);
        assert!(check_body(&body).unwrap().is_some());
        let (text, blocks) = parts(&body);
        assert_eq!(text, "pay\"ments alert");
        assert_eq!(blocks.unwrap()[0]["text"]["text"], "*pay\"ments* is high");
        assert_eq!(parts("plain {{x}}"), ("plain {{x}}".to_string(), None));
        assert!(check_body("{not json").is_err());
        assert!(check_body(r#"{"blocks":[]}"#).is_err());
        assert!(check_body(r#"{"blocks":[{"text":"x"}]}"#).is_err());
        let no_text = r#"{"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"hi"}}]}"#;
        assert_eq!(parts(no_text).0, "hi");
    }
}
