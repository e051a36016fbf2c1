//! Phone normalisation (`domain::phone`): never a panic on any text; an accepted number is
//! E.164 (`+`, 7 to 15 digits), and normalising it again gives the same number and country.
#![no_main]

use jood::domain::phone::normalise;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    if let Ok(r) = normalise(input) {
        let digits = r.e164.strip_prefix('+').expect("E.164 starts with +");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{}", r.e164);
        assert!((7..=15).contains(&digits.len()), "{}", r.e164);
        let again = normalise(&r.e164).expect("a normalised number is accepted");
        assert_eq!(again, r, "normalising is idempotent");
    }
});
