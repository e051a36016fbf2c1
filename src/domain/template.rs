//! Personalisation: `{{variable}}` placeholders filled from layers of variables, first layer
//! first (a recipient's own variables, then the campaign's global `data`). As documented, a
//! placeholder with no value is left exactly as written, and names are case-sensitive
//! (spaces just inside the braces are allowed: `{{ name }}` reads `name`).

use serde_json::{Map, Value};

/// Renders `content` with the first layer that has each name. Numbers and booleans render as
/// JSON text, strings as themselves; `null`, arrays and objects count as no value.
pub fn render(content: &str, layers: &[&Map<String, Value>]) -> String {
    render_with(content, |name| lookup(name, layers))
}

/// [`render`] with the value of each name from `lookup` (names are never empty).
pub fn render_with(content: &str, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
    if find_pair(content, b'{').is_none() {
        return content.to_string();
    }
    let mut out = String::with_capacity(content.len() + 32);
    let mut rest = content;
    while let Some(start) = find_pair(rest, b'{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match find_pair(after, b'}') {
            Some(end) => {
                let name = after[..end].trim();
                match Some(name).filter(|n| !n.is_empty()).and_then(&mut lookup) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where `cc` (`{{` or `}}`) first occurs: `str::find` with a two-byte pattern, without
/// setting up a substring searcher on every call (a campaign renders a million bodies).
fn find_pair(s: &str, c: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&x| x == c) {
        let at = from + i;
        if b.get(at + 1) == Some(&c) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn lookup(name: &str, layers: &[&Map<String, Value>]) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    layers.iter().find_map(|l| text_of(l.get(name)?))
}

/// How a value renders: strings as themselves, numbers and booleans as JSON text; `null`,
/// arrays and objects are no value.
pub fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn documented_example() {
        let vars = map(json!({"name": "Ahmed", "code": "123456", "expiry": 5}));
        let out = render("Hello {{name}}, your code is {{code}}. Expires in {{expiry}} minutes.", &[&vars]);
        assert_eq!(out, "Hello Ahmed, your code is 123456. Expires in 5 minutes.");
    }

    #[test]
    fn recipient_first_then_global_missing_left_as_is_case_sensitive() {
        let own = map(json!({"name": "Sara"}));
        let global = map(json!({"name": "Everyone", "org": "Jood", "Org": "WRONG"}));
        let out = render("{{name}} from {{org}}: {{Name}} {{missing}} {{ org }}", &[&own, &global]);
        assert_eq!(out, "Sara from Jood: {{Name}} {{missing}} Jood");
    }

    #[test]
    fn finds_pairs_like_str_find() {
        for s in ["", "{", "{{", "a{b{{c", "{a{", "}}{{", "é{{", "{{{", "x}}"] {
            assert_eq!(find_pair(s, b'{'), s.find("{{"), "{s}");
            assert_eq!(find_pair(s, b'}'), s.find("}}"), "{s}");
        }
    }

    #[test]
    fn odd_braces_are_kept() {
        let v = map(json!({"a": "1"}));
        assert_eq!(render("{{a}} {{ }} {{a", &[&v]), "1 {{ }} {{a");
        assert_eq!(render("}}{{a}}{{", &[&v]), "}}1{{");
        assert_eq!(render("no placeholders", &[&v]), "no placeholders");
        assert_eq!(render("مرحبا {{a}} ✓", &[&v]), "مرحبا 1 ✓");
        let n = map(json!({"x": null, "y": [1]}));
        assert_eq!(render("{{x}}{{y}}", &[&n]), "{{x}}{{y}}");
    }
}
