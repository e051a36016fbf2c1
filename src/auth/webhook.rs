//! Webhook HMAC verification, as documented: `X-Webhook-Signature` is the hex HMAC-SHA256 of
//! `timestamp + "." + body` with the association's secret key, and `X-Webhook-Timestamp`
//! (Unix milliseconds) lies within five minutes of server time.
//!
//! Client libraries do not all send the bytes they signed. The documented Python example
//! signs `json.dumps(body, separators=(',', ':'))` but sends `requests(json=body)`, whose
//! separators have spaces; Python, PHP and C# escape non-ASCII text as `\uXXXX` where Node
//! does not. So the signature is checked against, in order: the raw body; a compact
//! re-serialisation of the parsed body keeping key order, in raw UTF-8; and the same with
//! non-ASCII escaped as `\uXXXX`. Every comparison is constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Documented window between the client's timestamp and server time.
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Missing signature")]
    Missing,
    #[error("Invalid signature: HMAC verification failed")]
    Invalid,
    #[error("Timestamp expired")]
    Expired,
    #[error("Invalid signature: replayed request")]
    Replayed,
}

/// The two signature headers, as sent.
pub struct SignedRequest<'a> {
    pub signature: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub body: &'a [u8],
}

/// Checks presence and freshness; returns the timestamp in milliseconds and the decoded
/// 32-byte signature. Done before the association is looked up, so junk is turned away
/// cheaply.
pub fn check_headers(req: &SignedRequest<'_>, now_ms: i64, max_skew_ms: i64) -> Result<(i64, [u8; 32]), SignatureError> {
    let (Some(sig), Some(ts)) = (non_empty(req.signature), non_empty(req.timestamp)) else {
        return Err(SignatureError::Missing);
    };
    let ts_ms: i64 = ts.parse().map_err(|_| SignatureError::Expired)?;
    // Checked: a timestamp near i64::MIN or MAX must neither overflow (a panic) nor wrap
    // into the window.
    if now_ms.checked_sub(ts_ms).is_none_or(|d| d.unsigned_abs() > max_skew_ms.unsigned_abs()) {
        return Err(SignatureError::Expired);
    }
    let sig = sig.strip_prefix("sha256=").unwrap_or(sig);
    let mut raw = [0u8; 32];
    hex::decode_to_slice(sig, &mut raw).map_err(|_| SignatureError::Invalid)?;
    Ok((ts_ms, raw))
}

/// Verifies the signature against the raw body, then the compact forms of `parsed`.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], parsed: Option<&serde_json::Value>, signature: &[u8; 32]) -> bool {
    if matches(secret, timestamp, body, signature) {
        return true;
    }
    let Some(value) = parsed else { return false };
    let compact = serde_json::to_string(value).expect("JSON value serialises");
    if compact.as_bytes() != body && matches(secret, timestamp, compact.as_bytes(), signature) {
        return true;
    }
    if !compact.is_ascii() {
        let escaped = escape_non_ascii(&compact);
        if matches(secret, timestamp, escaped.as_bytes(), signature) {
            return true;
        }
    }
    false
}

/// The hex signature a client would send (for tests, demos and load generators).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body))
}

/// [`sign`] for a client that signs many requests with one secret (the load generator): the
/// HMAC key schedule (two SHA-256 blocks) is computed once and cloned per request, and the hex
/// signature is written into the caller's buffer instead of a new `String`.
#[derive(Clone)]
pub struct Signer(HmacSha256);

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        Signer(HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length"))
    }

    /// The same hex as [`sign`], into `out`.
    pub fn sign_into(&self, timestamp: &[u8], body: &[u8], out: &mut [u8; 64]) {
        let mut m = self.0.clone();
        m.update(timestamp);
        m.update(b".");
        m.update(body);
        let raw: [u8; 32] = m.finalize().into_bytes().into();
        hex::encode_to_slice(raw, out).expect("64 bytes hold 32 bytes as hex");
    }
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

fn matches(secret: &[u8], timestamp: &str, body: &[u8], signature: &[u8; 32]) -> bool {
    mac(secret, timestamp, body).ct_eq(signature).into()
}

/// `\uXXXX` (lowercase hex, UTF-16 surrogate pairs) for every non-ASCII character, as
/// Python's `json.dumps` (ensure_ascii), PHP's `json_encode` and .NET do. Non-ASCII only
/// occurs inside JSON strings, so escaping the serialised text is exact.
pub fn escape_non_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"your-secret-key";

    #[test]
    fn raw_body_and_documented_vector() {
        // `echo -n "1707600000000.{...}" | openssl dgst -sha256 -hmac your-secret-key`
        let body = br#"{"associationId":1,"recipient":"+966500000000","message":"Hello!"}"#;
        let sig = sign(SECRET, "1707600000000", body);
        assert_eq!(sig, "33532e6067364743d8a018f2dbbbaf901f219611fafc8fcbb4008c98aad0bfe0");
        let raw: [u8; 32] = hex::decode(&sig).unwrap().try_into().unwrap();
        assert!(verify(SECRET, "1707600000000", body, None, &raw));
        assert!(!verify(b"other", "1707600000000", body, None, &raw));
        assert!(!verify(SECRET, "1707600000001", body, None, &raw));
    }

    #[test]
    fn signer_matches_sign() {
        let body = br#"{"associationId":1,"recipient":"+966500000000","message":"Hello!"}"#;
        let mut out = [0u8; 64];
        Signer::new(SECRET).sign_into(b"1707600000000", body, &mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), sign(SECRET, "1707600000000", body));
    }

    #[test]
    fn python_requests_spacing_and_escaping() {
        // Signed: json.dumps(body, separators=(',', ':')) (ensure_ascii=True);
        // sent: json.dumps(body) with ", " and ": " separators.
        let signed = r#"{"associationId":1,"recipient":"+966500000000","message":"\u0645\u0631\u062d\u0628\u0627 \ud83d\ude00"}"#;
        let sent = r#"{"associationId": 1, "recipient": "+966500000000", "message": "\u0645\u0631\u062d\u0628\u0627 \ud83d\ude00"}"#;
        let sig: [u8; 32] = hex::decode(sign(SECRET, "1", signed.as_bytes())).unwrap().try_into().unwrap();
        let parsed: serde_json::Value = serde_json::from_str(sent).unwrap();
        assert!(verify(SECRET, "1", sent.as_bytes(), Some(&parsed), &sig));
        // Node signs raw UTF-8.
        let node = r#"{"associationId":1,"recipient":"+966500000000","message":"مرحبا 😀"}"#;
        let sig: [u8; 32] = hex::decode(sign(SECRET, "1", node.as_bytes())).unwrap().try_into().unwrap();
        assert!(verify(SECRET, "1", sent.as_bytes(), Some(&parsed), &sig));
        // A tampered body fails every form.
        let tampered: serde_json::Value = serde_json::from_str(&sent.replace("+966", "+967")).unwrap();
        assert!(!verify(SECRET, "1", sent.replace("+966", "+967").as_bytes(), Some(&tampered), &sig));
    }

    #[test]
    fn headers_are_checked() {
        let now = 1_700_000_000_000;
        let body = b"{}";
        let good = sign(SECRET, &now.to_string(), body);
        let check = |sig: Option<&str>, ts: Option<&str>| check_headers(&SignedRequest { signature: sig, timestamp: ts, body }, now, MAX_SKEW_MS);
        assert_eq!(check(None, Some("1")).unwrap_err(), SignatureError::Missing);
        assert_eq!(check(Some(&good), None).unwrap_err(), SignatureError::Missing);
        assert_eq!(check(Some(&good), Some(&(now - MAX_SKEW_MS - 1).to_string())).unwrap_err(), SignatureError::Expired);
        assert_eq!(check(Some(&good), Some(&(now + MAX_SKEW_MS + 1).to_string())).unwrap_err(), SignatureError::Expired);
        assert_eq!(check(Some(&good), Some("yesterday")).unwrap_err(), SignatureError::Expired);
        assert_eq!(check(Some("zz"), Some(&now.to_string())).unwrap_err(), SignatureError::Invalid);
        assert!(check(Some(&good), Some(&now.to_string())).is_ok());
        assert!(check(Some(&format!("sha256={good}")), Some(&now.to_string())).is_ok());
        // Extremes neither overflow nor wrap into the window.
        for ts in [i64::MIN, i64::MIN + 1, i64::MAX, -1] {
            assert_eq!(check(Some(&good), Some(&ts.to_string())).unwrap_err(), SignatureError::Expired, "{ts}");
        }
        assert_eq!(check_headers(&SignedRequest { signature: Some(&good), timestamp: Some("0"), body }, i64::MIN, MAX_SKEW_MS).unwrap_err(), SignatureError::Expired);
    }
}
