//! Meta's create-time rules for message templates: the name, the components (one BODY,
//! HEADER formats, FOOTER and BUTTONS limits, `{{n}}` in order with examples) and the
//! variables of a text. Pure functions, used by `templates`.

use super::GraphError;
use serde_json::Value;

pub(crate) fn component<'a>(components: &'a Value, kind: &str) -> Option<&'a Value> {
    components.as_array()?.iter().find(|c| c.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind)))
}

/// The distinct variables of a text: `{{1}}`… (positional) or `{{name}}` (named).
pub(crate) fn variables(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let var = after[..end].trim().to_owned();
        if !var.is_empty() && !out.contains(&var) {
            out.push(var);
        }
        rest = &after[end + 2..];
    }
    out
}

pub(crate) fn graph_names_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= 512 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Meta's create-time rules for components; returns the canonical (upper-case types) list.
pub(crate) fn validate_components(components: Option<&Value>, named: bool) -> Result<Value, GraphError> {
    let bad = |subcode, msg: String| GraphError::param(Some(subcode), "Invalid template", msg);
    let Some(list) = components.and_then(Value::as_array) else {
        return Err(bad(2388043, "components is required and must be an array".into()));
    };
    let mut out = Vec::new();
    let mut bodies = 0;
    for c in list {
        let Some(kind) = c.get("type").and_then(Value::as_str).map(str::to_ascii_uppercase) else {
            return Err(bad(2388043, "every component needs a type".into()));
        };
        let text = c.get("text").and_then(Value::as_str).unwrap_or("");
        match kind.as_str() {
            "BODY" => {
                bodies += 1;
                if text.trim().is_empty() {
                    return Err(bad(2388043, "BODY needs a text".into()));
                }
                if text.chars().count() > 1024 {
                    return Err(bad(2388040, "BODY text is longer than 1024 characters".into()));
                }
                let vars = variables(text);
                if !named {
                    for (i, v) in vars.iter().enumerate() {
                        if *v != (i + 1).to_string() {
                            return Err(bad(2388043, format!("BODY variables must be {{{{1}}}}..{{{{n}}}} in order (found {{{{{v}}}}})")));
                        }
                    }
                }
                let example = c.get("example");
                let has_example = if named {
                    example.and_then(|e| e.get("body_text_named_params")).and_then(Value::as_array).is_some_and(|a| a.len() >= vars.len())
                } else {
                    example
                        .and_then(|e| e.get("body_text"))
                        .and_then(|b| b.get(0))
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.len() >= vars.len())
                };
                if !vars.is_empty() && !has_example {
                    return Err(bad(2388043, format!("BODY has {} variable(s) and needs example values for each", vars.len())));
                }
            }
            "HEADER" => {
                let format = c.get("format").and_then(Value::as_str).unwrap_or("TEXT").to_ascii_uppercase();
                if !["TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"].contains(&format.as_str()) {
                    return Err(bad(2388047, format!("HEADER format {format} is not TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION")));
                }
                if format == "TEXT" && (text.is_empty() || text.chars().count() > 60) {
                    return Err(bad(2388040, "a TEXT HEADER needs a text of at most 60 characters".into()));
                }
                if format == "TEXT" && variables(text).len() > 1 {
                    return Err(bad(2388047, "a TEXT HEADER takes at most one variable".into()));
                }
            }
            "FOOTER" => {
                if text.is_empty() || text.chars().count() > 60 {
                    return Err(bad(2388040, "FOOTER needs a text of at most 60 characters".into()));
                }
            }
            "BUTTONS" => {
                let n = c.get("buttons").and_then(Value::as_array).map_or(0, Vec::len);
                if n == 0 || n > 10 {
                    return Err(bad(2388043, "BUTTONS needs 1 to 10 buttons".into()));
                }
            }
            other => return Err(bad(2388043, format!("unknown component type {other}"))),
        }
        let mut c = c.clone();
        c["type"] = kind.into();
        out.push(c);
    }
    if bodies != 1 {
        return Err(bad(2388043, "a template needs exactly one BODY component".into()));
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_are_distinct_and_ordered() {
        assert_eq!(variables("Hi {{1}}, order {{2}} ({{1}})"), vec!["1", "2"]);
        assert_eq!(variables("{{ name }} {{x"), vec!["name"]);
        assert!(variables("none").is_empty());
    }

    #[test]
    fn components_follow_metas_rules() {
        let body = |text: &str| json!([{"type": "body", "text": text, "example": {"body_text": [["a", "b"]]}}]);
        let ok = validate_components(Some(&body("Hi {{1}} and {{2}}.")), false).unwrap();
        assert_eq!(ok[0]["type"], "BODY", "types are upper-cased");
        assert!(validate_components(Some(&body("Hi {{2}}.")), false).is_err(), "out of order");
        assert!(validate_components(Some(&body("Hi {{name}}.")), true).is_err(), "named needs named examples");
        assert!(validate_components(Some(&json!([{"type": "HEADER", "format": "GIF"}, {"type": "BODY", "text": "x"}])), false).is_err());
        assert!(validate_components(Some(&json!([{"type": "BODY", "text": "x"}, {"type": "BODY", "text": "y"}])), false).is_err());
        assert!(validate_components(None, false).is_err());
        assert!(graph_names_ok("order_1") && !graph_names_ok("Order") && !graph_names_ok("") && !graph_names_ok(&"a".repeat(513)));
    }
}
