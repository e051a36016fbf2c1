//! Parsing JSON request bodies with errors that name what is wrong: an empty body, not an
//! object, malformed JSON, or the path of the field with a wrong type or missing. The detail
//! comes back as text; each edge maps it (a 400 over HTTP, `Invalid request: …`). Below api:
//! the signed webhook path parses here too.
//!
//! serde_json skips unknown fields without decoding them, so invalid UTF-8 or a lone UTF-16
//! surrogate escape (`"\ud800"`) inside a field no struct names would pass unseen;
//! [`check_text`] looks at the whole body first so that every field is held to the same rule.

use serde::de::DeserializeOwned;

/// Parses a JSON object body, reporting the field path for type errors and missing fields.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    parse_borrowed(bytes)
}

/// [`parse`] for types that borrow from the body (raw slices of a large request).
pub fn parse_borrowed<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err("request body is empty; expected a JSON object".to_string()),
        Some(b'{') => {}
        Some(_) => return Err("request body must be a JSON object".to_string()),
    }
    check_text(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => {
                format!("malformed JSON: {inner}")
            }
            serde_json::error::Category::Data => {
                let msg = strip_position(&inner.to_string());
                if path == "." || msg.starts_with("missing field") {
                    let prefix = if path == "." { String::new() } else { format!("{path}: ") };
                    format!("{prefix}{msg}")
                } else {
                    format!("field `{path}`: {msg}")
                }
            }
        }
    })?;
    de.end().map_err(|e| format!("malformed JSON: {e}"))?;
    Ok(value)
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Refuses what serde_json would let through in a skipped (unknown) field: bytes that are not
/// UTF-8, and `\u` escapes that are lone surrogates (a high one not followed by a low one,
/// or a low one alone), which no JSON text may carry as Unicode (RFC 8259 section 8.2).
/// One pass over the body; other syntax errors are left to the parser's own messages.
pub fn check_text(bytes: &[u8]) -> Result<(), String> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(format!("malformed JSON: invalid UTF-8 at byte {}", e.valid_up_to()));
    }
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (false, b'"') => in_string = true,
            (true, b'"') => in_string = false,
            (true, b'\\') => {
                if bytes.get(i + 1) == Some(&b'u') {
                    if let Some(unit) = hex4(bytes, i + 2) {
                        if (0xD800..0xDC00).contains(&unit) {
                            let low = if bytes.get(i + 6) == Some(&b'\\') && bytes.get(i + 7) == Some(&b'u') { hex4(bytes, i + 8) } else { None };
                            match low {
                                Some(l) if (0xDC00..0xE000).contains(&l) => i += 6,
                                _ => return Err(lone(unit, i)),
                            }
                        } else if (0xDC00..0xE000).contains(&unit) {
                            return Err(lone(unit, i));
                        }
                        i += 6;
                        continue;
                    }
                }
                // Any other escape: its second byte is never a quote that ends the string.
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn lone(unit: u32, at: usize) -> String {
    format!("malformed JSON: lone surrogate \\u{unit:04x} in a string at byte {at}")
}

fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok().filter(|_| digits.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Known {
        a: String,
    }

    #[test]
    fn an_unknown_field_is_held_to_the_same_text_rules() {
        assert!(parse::<Known>(br#"{"a":"x","b":"ok \ud83d\ude00"}"#).is_ok(), "a surrogate pair is fine");
        assert!(parse::<Known>(br#"{"a":"x","b":"\\ud800"}"#).is_ok(), "an escaped backslash is not an escape");
        for body in [&br#"{"a":"x","b":"\ud800"}"#[..], br#"{"a":"x","b":"\udc00x"}"#, br#"{"a":"x","b":"\ud800\u0041"}"#, br#"{"a":"x","b":{"c":["\uDBFF"]}}"#] {
            let err = parse::<Known>(body).unwrap_err();
            assert!(err.contains("lone surrogate"), "{err}: {}", String::from_utf8_lossy(body));
        }
        let mut body = br#"{"a":"x","b":"#.to_vec();
        body.extend_from_slice(b"\"\xff\xfe\"}");
        assert!(parse::<Known>(&body).unwrap_err().contains("invalid UTF-8 at byte 14"));
    }

    #[test]
    fn check_text_never_reads_past_the_end() {
        for body in [&b"\"\\"[..], b"\"\\u", b"\"\\ud8", b"\"\\ud800\\", b"\"\\ud800\\u12"] {
            let _ = check_text(body);
        }
    }
}
