//! Parsing JSON request bodies with errors that name what is wrong: an empty body, not an
//! object, malformed JSON, or the path of the field with a wrong type or missing. The detail
//! comes back as text; each edge maps it (a 400 over HTTP, `Invalid request: …`). Below api:
//! the signed webhook path parses here too.

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
