//! Short codes of redirect links: 10 characters of base62 (`0-9A-Za-z`, URL-safe without
//! escaping) drawn from the operating system's CSPRNG, about 59.5 bits each, so a code cannot
//! be guessed or enumerated. Uniqueness is the store's insert-if-absent on `link_codes`; the
//! service retries with a fresh code on the (astronomically rare) collision.

/// Length of a generated code.
pub const CODE_LEN: usize = 10;
/// Longest code `GET /r/{code}` looks up; anything longer is a 404 without a store read.
pub const MAX_CODE_LEN: usize = 32;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A fresh random code.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut code = String::with_capacity(CODE_LEN);
    let mut buf = [0u8; 32];
    while code.len() < CODE_LEN {
        getrandom::fill(&mut buf)?;
        // Rejection sampling: 248 = 4 * 62, so `b % 62` is uniform over the bytes kept.
        for b in buf.iter().filter(|b| **b < 248) {
            if code.len() == CODE_LEN {
                break;
            }
            code.push(ALPHABET[usize::from(*b % 62)] as char);
        }
    }
    Ok(code)
}

/// Whether `code` could be a code at all (checked before any lookup).
pub fn is_well_formed(code: &str) -> bool {
    (1..=MAX_CODE_LEN).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_base62_of_fixed_length_and_differ() {
        let codes: std::collections::HashSet<String> = (0..10_000).map(|_| generate().unwrap()).collect();
        assert_eq!(codes.len(), 10_000);
        for c in &codes {
            assert_eq!(c.len(), CODE_LEN);
            assert!(is_well_formed(c), "{c}");
        }
        // Every symbol shows up: no bias towards a part of the alphabet.
        let used: std::collections::HashSet<char> = codes.iter().flat_map(|c| c.chars()).collect();
        assert_eq!(used.len(), 62);
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in ["", "a/b", "a b", "ä1", "%41", &"a".repeat(MAX_CODE_LEN + 1)] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }
}
