//! `shortenLinks: true` on a send: every http(s) URL in a message's text is replaced by a
//! tracked short link (`{base}/r/{code}`), a fresh code per URL and message, so a campaign's
//! clicks are attributable to each recipient. Pure text work and code drawing; the caller
//! stores the [`TrackedLink`]s in the same durable write as the message (see
//! `Store::insert_messages_with_links`). Depends on `codes` and the target normalisation.

use super::{codes, normalise_target};

/// One URL of a text replaced by a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedLink {
    pub code: String,
    /// The URL as it was in the text, normalised (what the redirect's `Location` carries).
    pub target_url: String,
}

/// Characters that end a URL in running text when they come last (`see https://x.sa/a.`):
/// sentence punctuation and closing quotes. A closing bracket is kept when the URL opened one.
const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', '\'', '"', '»', '…', '،', '؛', '؟'];

/// Byte ranges of the http(s) URLs in `text`, in order.
pub fn find_urls(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(rel) = lower[from..].find("http") {
        let start = from + rel;
        let rest = &lower[start..];
        let scheme = if rest.starts_with("https://") {
            8
        } else if rest.starts_with("http://") {
            7
        } else {
            from = start + 4;
            continue;
        };
        // A URL inside a word (`xhttp://`) is not one.
        let inside_word = text[..start].chars().next_back().is_some_and(|c| c.is_alphanumeric());
        let mut end = start + scheme;
        for (i, c) in text[end..].char_indices() {
            if c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '`' | '{' | '}' | '|' | '\\' | '^') {
                end = start + scheme + i;
                break;
            }
            end = start + scheme + i + c.len_utf8();
        }
        // Trim trailing punctuation, and closing brackets the URL did not open.
        loop {
            let Some(last) = text[..end].chars().next_back() else { break };
            let unbalanced = |open: char, close: char| last == close && text[start..end].matches(open).count() < text[start..end].matches(close).count();
            if TRAILING.contains(&last) || unbalanced('(', ')') || unbalanced('[', ']') {
                end -= last.len_utf8();
            } else {
                break;
            }
        }
        if !inside_word && end > start + scheme {
            out.push(start..end);
        }
        from = end.max(start + scheme);
    }
    out
}

/// `text` with each http(s) URL replaced by `{base}/r/{code}` (a new code each), and the
/// links made. URLs that are not valid targets (no host, credentials, too long) and URLs
/// already pointing at `{base}/r/` are left as they are.
pub fn shorten(text: &str, base: &str) -> Result<(String, Vec<TrackedLink>), getrandom::Error> {
    let ranges = find_urls(text);
    if ranges.is_empty() {
        return Ok((text.to_string(), Vec::new()));
    }
    let own = format!("{base}/r/");
    let mut out = String::with_capacity(text.len());
    let mut links = Vec::with_capacity(ranges.len());
    let mut at = 0;
    for r in ranges {
        let url = &text[r.clone()];
        let target = if url.starts_with(&own) { None } else { normalise_target(url).ok() };
        out.push_str(&text[at..r.start]);
        match target {
            Some(target_url) => {
                let code = codes::generate()?;
                out.push_str(&own);
                out.push_str(&code);
                links.push(TrackedLink { code, target_url });
            }
            None => out.push_str(url),
        }
        at = r.end;
    }
    out.push_str(&text[at..]);
    Ok((out, links))
}

/// Gives `link` a fresh code, and rewrites it in `text` (a store refused the old one as
/// taken). Codes have one length, so the text's length and segments do not change.
pub fn redraw(text: &mut String, base: &str, link: &mut TrackedLink) -> Result<(), getrandom::Error> {
    let code = codes::generate()?;
    let old = format!("{base}/r/{}", link.code);
    *text = text.replacen(&old, &format!("{base}/r/{code}"), 1);
    link.code = code;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(t: &str) -> Vec<&str> {
        find_urls(t).into_iter().map(|r| &t[r]).collect()
    }

    #[test]
    fn finds_urls_in_running_text() {
        assert_eq!(urls("Track https://jood.sa/o/1?x=2. Thanks"), ["https://jood.sa/o/1?x=2"]);
        assert_eq!(urls("(see http://a.example/b) and HTTPS://B.example/x_(y)"), ["http://a.example/b", "HTTPS://B.example/x_(y)"]);
        assert_eq!(urls("no link, http:// alone, xhttp://a.b, ftp://c.d"), Vec::<&str>::new());
        assert_eq!(urls("رابط: https://jood.sa/ع؟"), ["https://jood.sa/ع"]);
    }

    #[test]
    fn shortens_each_url_with_a_fresh_code() {
        let (text, links) = shorten("A https://a.example/x and https://a.example/x, bad http://u:p@h.example/", "https://s.jood.sa").unwrap();
        assert_eq!(links.len(), 2);
        assert_ne!(links[0].code, links[1].code);
        assert_eq!(links[0].target_url, "https://a.example/x");
        assert_eq!(text, format!("A https://s.jood.sa/r/{} and https://s.jood.sa/r/{}, bad http://u:p@h.example/", links[0].code, links[1].code));
        // Already short: untouched.
        let (again, none) = shorten(&text, "https://s.jood.sa").unwrap();
        assert_eq!((again.as_str(), none.len()), (text.as_str(), 0));
        let mut t = text.clone();
        let mut l = links[1].clone();
        redraw(&mut t, "https://s.jood.sa", &mut l).unwrap();
        assert_eq!(t.len(), text.len());
        assert!(t.contains(&l.code) && !t.contains(&links[1].code));
    }
}
