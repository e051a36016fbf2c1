//! Template rendering (`domain::template`): never a panic; with no values a template renders
//! exactly as written; every placeholder that has a value is replaced by it and nothing else
//! changes around it.
#![no_main]

use jood::domain::template::{render, render_with};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(content) = std::str::from_utf8(data) else { return };
    assert_eq!(render_with(content, |_| None), content, "unknown names stay as written");
    assert_eq!(render(content, &[]), content);
    // A value for every name: the names seen are trimmed and never empty, and the output has
    // no `{{name}}` left that had a value.
    let mut seen = Vec::new();
    let out = render_with(content, |name| {
        assert!(!name.is_empty() && name == name.trim(), "name `{name}`");
        seen.push(name.to_string());
        Some("<v>".to_string())
    });
    if seen.is_empty() {
        assert_eq!(out, content);
    }
    // The same through JSON layers: a string value renders as itself.
    let mut layer = Map::new();
    for name in &seen {
        layer.insert(name.clone(), Value::String("<v>".into()));
    }
    assert_eq!(render(content, &[&layer]), out);
});
