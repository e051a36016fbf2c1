//! Twilio's request signature (`X-Twilio-Signature`), as its SDK's `RequestValidator`
//! computes it: base64(HMAC-SHA1(authToken, URL + every form parameter sorted by name, each
//! value of a name sorted, as name + value with no separators)). Used by the delivery-report
//! receiver to verify and by the simulator to sign. No framework types; no I/O.

use base64::Engine;

const BLOCK: usize = 64;

/// HMAC-SHA1 (RFC 2104) over `msg` with `key`.
pub fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..20].copy_from_slice(&sha1_smol::Sha1::from(key).digest().bytes());
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = sha1_smol::Sha1::new();
    inner.update(&k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = sha1_smol::Sha1::new();
    outer.update(&k.map(|b| b ^ 0x5c));
    outer.update(&inner.digest().bytes());
    outer.digest().bytes()
}

/// The string Twilio signs: the URL, then the parameters in sorted order.
pub fn signed_string(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut s = String::with_capacity(url.len() + sorted.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>());
    s.push_str(url);
    for (k, v) in sorted {
        s.push_str(k);
        s.push_str(v);
    }
    s
}

/// The `X-Twilio-Signature` of a form POST to `url`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha1(auth_token.as_bytes(), signed_string(url, params).as_bytes()))
}

/// Whether `header` is the signature of the request for any of `urls` (the SDK accepts the
/// URL with and without an explicit default port; callers pass every form they accept).
/// Constant time in the signature bytes.
pub fn verify(auth_token: &str, urls: &[String], params: &[(String, String)], header: &str) -> bool {
    use subtle::ConstantTimeEq;
    let given = header.trim().as_bytes();
    let mut ok = subtle::Choice::from(0);
    for url in urls {
        let expected = signature(auth_token, url, params);
        ok |= expected.as_bytes().ct_eq(given);
    }
    ok.into()
}

/// `url` with its default port added when absent, and removed when present: the forms
/// Twilio's own signing may have used.
pub fn port_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let (scheme, rest, port) = if let Some(r) = url.strip_prefix("https://") {
        ("https://", r, ":443")
    } else if let Some(r) = url.strip_prefix("http://") {
        ("http://", r, ":80")
    } else {
        return out;
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if let Some(host) = authority.strip_suffix(port) {
        out.push(format!("{scheme}{host}{tail}"));
    } else if !authority.contains(':') {
        out.push(format!("{scheme}{authority}{port}{tail}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_sdk_test_vector() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn the_status_callback_vector_of_the_provider_notes() {
        let params = pairs(&[
            ("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
            ("ApiVersion", "2010-04-01"),
            ("From", "+15017122661"),
            ("MessageSid", "SM00000000000000000000000000000001"),
            ("MessageStatus", "delivered"),
            ("SmsSid", "SM00000000000000000000000000000001"),
            ("SmsStatus", "delivered"),
            ("To", "+966500000000"),
        ]);
        let sig = signature("test_auth_token", "https://example.test/dlr/twilio", &params);
        assert_eq!(sig, "Y4FyMFrWVv2/yjkbxTzc2ybnjrs=");
        let urls = port_variants("https://example.test:443/dlr/twilio");
        assert!(verify("test_auth_token", &urls, &params, &sig));
        assert!(!verify("other_token", &urls, &params, &sig));
        assert!(!verify("test_auth_token", &urls, &pairs(&[("MessageStatus", "failed")]), &sig));
    }

    #[test]
    fn port_variants_add_or_remove_the_default_port() {
        assert_eq!(port_variants("https://a.test/x"), vec!["https://a.test/x", "https://a.test:443/x"]);
        assert_eq!(port_variants("http://a.test:80/x"), vec!["http://a.test:80/x", "http://a.test/x"]);
        assert_eq!(port_variants("http://a.test:8080/x"), vec!["http://a.test:8080/x"]);
    }
}
