//! Email addresses and what an email carries beyond its text body: the one check every send
//! path makes for the `email` channel (single sends, campaigns, the notifications API), and
//! the stored email part of a message. Pure rules, no I/O.

use serde::{Deserialize, Serialize};

/// What an email carries beyond `MessageRecord::body` (its plain-text part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailContent {
    pub subject: String,
    /// The HTML part; `None`: one is made from the text (escaped, line breaks kept), so every
    /// email goes out as multipart/alternative with both parts.
    #[serde(default)]
    pub html: Option<String>,
}

/// The longest address SMTP carries (RFC 5321: 256 octets of path, less the brackets).
const MAX_ADDRESS: usize = 254;
/// The longest subject accepted (RFC 5322 lines may fold; this bounds the stored row).
pub const MAX_SUBJECT_CHARS: usize = 998;

/// Checks an address (`local@domain`, the common dot-atom form) and returns it with the
/// domain lower-cased (domains are case-insensitive; the local part is the receiver's own).
/// Returns why not otherwise, worded to follow the address ("`x` is not …").
pub fn normalise(input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("is empty".into());
    }
    if s.len() > MAX_ADDRESS {
        return Err(format!("is longer than {MAX_ADDRESS} characters"));
    }
    let Some((local, domain)) = s.rsplit_once('@') else { return Err("is not an email address (no `@`)".into()) };
    if local.is_empty() || local.len() > 64 {
        return Err("is not an email address (the part before `@` must have 1 to 64 characters)".into());
    }
    let local_ok = local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err("is not an email address (the part before `@` has a character or dot that needs quoting)".into());
    }
    let domain = domain.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(format!("is not an email address (`{domain}` is not a domain name)"));
    }
    Ok(format!("{local}@{domain}"))
}

/// The subject to use when a send gives none: the text's first line, at most 78 characters
/// (the line length RFC 5322 recommends).
pub fn default_subject(text: &str) -> String {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut out: String = first.chars().take(78).collect();
    if first.chars().count() > 78 {
        out.pop();
        out.push('…');
    }
    out
}

/// A subject as given: not blank, one line, bounded.
pub fn check_subject(subject: &str) -> Result<String, String> {
    let s = subject.trim();
    if s.is_empty() {
        return Err("subject must not be empty".into());
    }
    if s.contains(['\r', '\n']) {
        return Err("subject must be one line".into());
    }
    if s.chars().count() > MAX_SUBJECT_CHARS {
        return Err(format!("subject has more than {MAX_SUBJECT_CHARS} characters"));
    }
    Ok(s.to_string())
}

/// An HTML part for a plain-text email: the text escaped, line breaks kept.
pub fn html_from_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str("<!DOCTYPE html><html><body><p>");
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("<br>\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push_str("</p></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_domains_lowercased() {
        assert_eq!(normalise(" User.Name+tag@Example.COM ").unwrap(), "User.Name+tag@example.com");
        for bad in ["", "user", "@example.com", "user@", "user@localhost", "us..er@example.com", "user@exa_mple.com", "a b@example.com", "user@-x.com"] {
            assert!(normalise(bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalise(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn subjects_and_html_parts() {
        assert_eq!(default_subject("\n  Your order shipped\nsecond line"), "Your order shipped");
        assert_eq!(default_subject(&"x".repeat(100)).chars().count(), 78);
        assert!(check_subject("a\nb").is_err());
        assert!(check_subject("  ").is_err());
        assert_eq!(check_subject(" Order Update ").unwrap(), "Order Update");
        assert_eq!(html_from_text("a<b> & c\nd"), "<!DOCTYPE html><html><body><p>a&lt;b&gt; &amp; c<br>\nd</p></body></html>");
    }
}
