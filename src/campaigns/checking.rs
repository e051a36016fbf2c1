//! Checking a bulk request's recipients, a chunk at a time on every core: each entry parsed,
//! its number (or address) normalised, its message personalised and, with `shortenLinks`,
//! its URLs replaced by tracked links; and the 8-byte keys that de-duplicate recipients.
//! Pure work, no I/O; `bulk.rs` orders, de-duplicates and stores what this returns.

use super::recipients::{RecipientInput, Variables};
use crate::domain::{phone, template};
use crate::links::shorten::TrackedLink;
use serde_json::{Map, Value};

/// What the message of each recipient is made of (the campaign's settings).
#[derive(Clone, Copy)]
pub(super) struct Personalise<'a> {
    pub(super) message: &'a str,
    pub(super) data: &'a Map<String, Value>,
    pub(super) personalised: bool,
    pub(super) max_chars: usize,
    /// An email campaign: recipients are addresses, each message gets a subject.
    pub(super) email: bool,
    pub(super) subject: Option<&'a str>,
    /// The base of short URLs when the campaign shortens its links.
    pub(super) shorten: Option<&'a str>,
}

impl Personalise<'_> {
    fn body(&self, variables: &Variables<'_>) -> String {
        if self.personalised {
            let fields = variables.fields();
            template::render_with(self.message, |name| {
                variables.text(&fields, name).or_else(|| template::text_of(self.data.get(name)?))
            })
        } else {
            self.message.to_string()
        }
    }
}

/// One recipient entry, parsed, checked and (when valid) its message rendered.
pub(super) enum Entry {
    Valid { recipient: phone::Recipient, key: u64, body: String, too_long: bool, subject: Option<String>, links: Vec<TrackedLink> },
    Invalid { shown: String, reason: String },
}

fn check<R: RecipientInput>(item: &R, p: &Personalise<'_>) -> Entry {
    match item.read() {
        Err((shown, reason)) => Entry::Invalid { shown, reason },
        Ok((phone, variables)) => match normalise(p.email, &phone) {
            Ok(recipient) => {
                let mut body = p.body(&variables);
                // Before the length check and segment counting: the shortened text is sent.
                let mut links = Vec::new();
                if let Some(base) = p.shorten {
                    match crate::links::shorten::shorten(&body, base) {
                        Ok((text, l)) => (body, links) = (text, l),
                        Err(e) => return Entry::Invalid { shown: phone.into_owned(), reason: format!("could not draw a link code: {e}") },
                    }
                }
                let too_long = body.len() > p.max_chars && body.chars().count() > p.max_chars;
                let subject = p.email.then(|| match p.subject {
                    Some(s) => Personalise { message: s, ..*p }.body(&variables),
                    None => crate::domain::email::default_subject(&body),
                });
                let key = if p.email { address_key(&recipient.e164) } else { dedupe_key(&recipient.e164) };
                Entry::Valid { key, recipient, body, too_long, subject, links }
            }
            Err(reason) => Entry::Invalid { shown: phone.into_owned(), reason },
        },
    }
}

/// Checks and renders a chunk on every core (phone validation and personalisation are the
/// costly part of a big request; only de-duplication is left to do in order).
pub(super) fn check_chunk<R: RecipientInput>(items: &[R], p: &Personalise<'_>) -> Vec<Entry> {
    let work = || -> Vec<Entry> {
        let threads = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).clamp(1, 8);
        if threads == 1 || items.len() < 512 {
            return items.iter().map(|i| check(i, p)).collect();
        }
        let per = items.len().div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = items.chunks(per).map(|part| s.spawn(move || part.iter().map(|i| check(i, p)).collect::<Vec<_>>())).collect();
            let mut out = Vec::with_capacity(items.len());
            for h in parts {
                out.extend(h.join().expect("validation thread"));
            }
            out
        })
    };
    // Don't stall the async scheduler's worker while the chunk is checked.
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}


/// A phone number, or an address on an email campaign.
fn normalise(email: bool, recipient: &str) -> Result<phone::Recipient, String> {
    if email {
        crate::domain::email::normalise(recipient).map(|a| phone::Recipient { e164: a, country: None })
    } else {
        phone::normalise(recipient)
    }
}

/// An address's de-duplication key: 64-bit FNV-1a of it, case-folded (a collision, about one
/// in 10^10 for a million recipients, would drop one recipient as a duplicate).
pub(super) fn address_key(address: &str) -> u64 {
    address.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3))
}

/// E.164 digits as an integer: a compact de-duplication key (15 digits fit in 64 bits).
pub(super) fn dedupe_key(e164: &str) -> u64 {
    e164.trim_start_matches('+').parse().unwrap_or(u64::MAX)
}


#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;
    use std::collections::HashMap;

    #[test]
    fn entries_are_checked_one_by_one() {
        let raws: Vec<Box<RawValue>> = [r#""+966501234567""#, r#"{"phone":"+966501234568","variables":{"n":"A"}}"#, "5", r#"{"variables":{}}"#, r#"{"phone":"+966501234569","variables":[1]}"#, r#""nope""#]
            .iter()
            .map(|s| RawValue::from_string(s.to_string()).unwrap())
            .collect();
        let refs: Vec<&RawValue> = raws.iter().map(|b| b.as_ref()).collect();
        let data = Map::new();
        let p = Personalise { message: "Hi {{n}}", data: &data, personalised: true, max_chars: 10, email: false, subject: None, shorten: None };
        let out = check_chunk(&refs, &p);
        let kinds: Vec<bool> = out.iter().map(|e| matches!(e, Entry::Valid { .. })).collect();
        assert_eq!(kinds, vec![true, true, false, false, false, false]);
        match &out[1] {
            Entry::Valid { body, key, too_long, .. } => assert_eq!((body.as_str(), *key, *too_long), ("Hi A", 966501234568, false)),
            _ => unreachable!(),
        }
        match &out[3] {
            Entry::Invalid { reason, .. } => assert!(reason.contains("missing field `phone`"), "{reason}"),
            _ => unreachable!(),
        }
        assert_eq!(dedupe_key("+966501234567"), 966501234567);
    }

    /// Rendering from the raw variables gives what rendering from a parsed map gives.
    #[test]
    fn personalises_like_a_parsed_map() {
        let data: Map<String, Value> = serde_json::from_str(r#"{"g":"global","n":"fallback","x":7}"#).unwrap();
        let message = "{{n}}|{{ g }}|{{x}}|{{f}}|{{b}}|{{z}}|{{a}}|{{o}}|{{e\"q}}|{{missing}}|{{}}";
        let p = Personalise { message, data: &data, personalised: true, max_chars: 1000, email: false, subject: None, shorten: None };
        for vars in [
            r#"{"n":"A"}"#,
            r#"{"n":"first","n":"last"}"#,
            r#"{"n":null,"x":1.50,"f":-2e3,"b":true,"z":0,"a":[1],"o":{"k":1}}"#,
            r#"{"e\"q":"escaped key","n":"tab\there \u00e9"}"#,
            r#"{"n":"own","x":1e400}"#,
            r#"{"n":"own","a":[{"deep":"\ud800"}]}"#,
            r#"{}"#,
        ] {
            let raw = RawValue::from_string(vars.to_string()).unwrap();
            // As the variables were read before: a map, or none if the object does not parse.
            let map: Map<String, Value> = serde_json::from_str(vars).unwrap_or_default();
            assert_eq!(p.body(&Variables::Json(&raw)), template::render(message, &[&map, &data]), "{vars}");
        }
        let strings: HashMap<String, String> = [("n".to_string(), "S".to_string())].into();
        let map: Map<String, Value> = strings.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        assert_eq!(p.body(&Variables::Strings(&strings)), template::render(message, &[&map, &data]));
        assert_eq!(p.body(&Variables::None), template::render(message, &[&data]));
    }
}
