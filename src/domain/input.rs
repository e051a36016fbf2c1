//! Bounds on what clients may send as identifiers and names, checked before any lookup or
//! write: a store key is never built from unbounded input (a 64 KiB key panics the storage
//! library), and names and identifiers carry no NUL or other control characters. Every layer
//! calls these; the error names the field and the limit. Pure rules, no I/O.

/// Usernames of dashboard operators.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Passwords (argon2 hashes any length: the bound keeps hashing cheap and bodies sane).
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Template codes (the webhook's `templateCode`).
pub const MAX_TEMPLATE_CODE_CHARS: usize = 64;
/// Free-text names: association, template and campaign names.
pub const MAX_NAME_CHARS: usize = 200;
/// An allocation's `countryName`.
pub const MAX_COUNTRY_NAME_CHARS: usize = 100;

/// A refused input: `field` and what is wrong with it (shown to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct InputError {
    pub field: &'static str,
    pub problem: String,
}

fn err(field: &'static str, problem: impl Into<String>) -> InputError {
    InputError { field, problem: problem.into() }
}

/// Checks the length without counting past the limit (a huge input costs no more than the limit).
fn within(value: &str, max_chars: usize) -> bool {
    value.len() <= max_chars || value.chars().nth(max_chars).is_none()
}

fn length_problem(max_chars: usize, value: &str) -> String {
    format!("must be at most {max_chars} characters (got {} bytes)", value.len())
}

/// An identifier used as (part of) a store key: trimmed, 1 to `max_chars` characters, no
/// control characters.
pub fn identifier<'a>(field: &'static str, value: &'a str, max_chars: usize) -> Result<&'a str, InputError> {
    if !within(value, max_chars.saturating_mul(4)) {
        return Err(err(field, length_problem(max_chars, value)));
    }
    let v = value.trim();
    if v.is_empty() {
        return Err(err(field, "must not be empty"));
    }
    if !within(v, max_chars) {
        return Err(err(field, length_problem(max_chars, v)));
    }
    if v.chars().any(char::is_control) {
        return Err(err(field, "must not contain NUL or other control characters"));
    }
    Ok(v)
}

/// A free-text name: trimmed, at most `max_chars` characters, no control characters.
/// Empty is allowed here (the caller decides whether the field is required).
pub fn name<'a>(field: &'static str, value: &'a str, max_chars: usize) -> Result<&'a str, InputError> {
    if !within(value, max_chars.saturating_mul(4)) {
        return Err(err(field, length_problem(max_chars, value)));
    }
    let v = value.trim();
    if !within(v, max_chars) {
        return Err(err(field, length_problem(max_chars, v)));
    }
    if v.chars().any(char::is_control) {
        return Err(err(field, "must not contain NUL or other control characters"));
    }
    Ok(v)
}

/// A new password: `MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS` characters, no NUL.
pub fn new_password(field: &'static str, value: &str) -> Result<(), InputError> {
    password(field, value)?;
    if value.chars().nth(MIN_PASSWORD_CHARS - 1).is_none() {
        return Err(err(field, format!("must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    Ok(())
}

/// A presented password (login): bounded, no NUL.
pub fn password(field: &'static str, value: &str) -> Result<(), InputError> {
    if !within(value, MAX_PASSWORD_CHARS) {
        return Err(err(field, length_problem(MAX_PASSWORD_CHARS, value)));
    }
    if value.contains('\0') {
        return Err(err(field, "must not contain NUL characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_bounded_and_clean() {
        assert_eq!(identifier("username", "  bob ", 64).unwrap(), "bob");
        let long = "a".repeat(65 * 1024);
        let e = identifier("username", &long, 64).unwrap_err();
        assert_eq!(e.field, "username");
        assert!(e.to_string().contains("at most 64"), "{e}");
        assert!(identifier("username", &"é".repeat(64), 64).is_ok());
        assert!(identifier("username", &"é".repeat(65), 64).is_err());
        assert!(identifier("username", "a\0b", 64).is_err());
        assert!(identifier("username", "a\u{7}b", 64).is_err());
        assert!(identifier("username", "   ", 64).is_err());
        assert!(name("name", "", 10).is_ok());
        assert!(name("name", "x\ny", 10).is_err());
        assert!(new_password("password", "short").is_err());
        assert!(new_password("password", "long enough").is_ok());
        assert!(password("password", &"p".repeat(257)).is_err());
    }
}
