//! Recipient phone numbers: validated and normalised to E.164 with the `phonenumber` crate
//! (libphonenumber's metadata), and the ISO 3166-1 alpha-2 country derived for routing.

mod plan;

use phonenumber::Mode;

/// A valid recipient: E.164 (`+966501234567`) and its country (`SA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub e164: String,
    pub country: Option<String>,
}

/// Accepts E.164 (`+966501234567`), the international `00` prefix, or digits with the country
/// code and no prefix; spaces, dashes, dots and parentheses are ignored. Returns why not
/// otherwise.
pub fn normalise(input: &str) -> Result<Recipient, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err("is empty".into());
    }
    let mut digits = String::with_capacity(trimmed.len() + 1);
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '+' if i == 0 => digits.push('+'),
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(format!("contains `{c}`, which is not part of a phone number")),
        }
    }
    let international = if let Some(rest) = digits.strip_prefix("00") {
        format!("+{rest}")
    } else if digits.starts_with('+') {
        digits
    } else {
        format!("+{digits}")
    };
    let digit_count = international.len() - 1;
    if !(7..=15).contains(&digit_count) {
        return Err(format!("has {digit_count} digits; E.164 numbers have 7 to 15 including the country code"));
    }
    if let Some(country) = plan::accept(&international) {
        return Ok(Recipient { e164: international, country });
    }
    let number = phonenumber::parse(None, &international).map_err(|e| format!("is not a phone number ({e})"))?;
    if !phonenumber::is_valid(&number) {
        return Err("is not a valid phone number for its country code".into());
    }
    Ok(Recipient {
        e164: number.format().mode(Mode::E164).to_string(),
        country: number.country().id().map(|id| id.as_ref().to_string()),
    })
}

/// Is `code` an ISO 3166-1 alpha-2 country known to the numbering plan metadata?
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.parse::<phonenumber::country::Id>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_derives_the_country() {
        for input in ["+966501234567", "00966501234567", "966501234567", "+966 50 123 4567", "+966-50-123-4567"] {
            let r = normalise(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.e164, "+966501234567");
            assert_eq!(r.country.as_deref(), Some("SA"));
        }
        assert_eq!(normalise("+971501234567").unwrap().country.as_deref(), Some("AE"));
        assert_eq!(normalise("+14155550123").unwrap().country.as_deref(), Some("US"));
        assert_eq!(normalise("+201097899908").unwrap().country.as_deref(), Some("EG"));
    }

    #[test]
    fn rejects_with_a_reason() {
        assert!(normalise("").unwrap_err().contains("empty"));
        assert!(normalise("+9665abc").unwrap_err().contains("`a`"));
        assert!(normalise("+12").unwrap_err().contains("digits"));
        assert!(normalise("+96650123456789012").unwrap_err().contains("digits"));
        assert!(normalise("+966123").is_err());
        assert!(normalise("+999501234567").is_err());
    }

    #[test]
    fn country_codes() {
        assert!(is_country_code("SA") && is_country_code("AE"));
        assert!(!is_country_code("XX") && !is_country_code("SAU") && !is_country_code(""));
    }
}
