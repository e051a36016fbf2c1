//! The common case of [`super::normalise`] without the `phonenumber` crate's per-call costs,
//! with the very same rules and data.
//!
//! For a number already in E.164 shape (`+` and digits), `phonenumber::parse` + `is_valid` +
//! formatting come down to: the country code (the first 1–3 digits naming one), the region
//! of the numbering plan the rest belongs to (`validator::source_for`), and whether the rest
//! matches the region's general pattern and one of its number-type patterns
//! (`validator::number_type`). The crate does this with every pattern fetched from one
//! process-wide, mutex-guarded LRU cache keyed by the pattern's text (hashed on every use),
//! and re-derives the region and re-parses its name several times per number — several
//! microseconds a number, serialised across threads by that mutex.
//!
//! Here each country code's regions are prepared once, on first use, from the crate's own
//! metadata (`phonenumber::metadata::DATABASE`): the same patterns, compiled with the same
//! options, matched the same way (a match must start at the first digit; possible lengths
//! checked first). Whatever this does not decide with certainty — a national prefix or a
//! carrier code to strip, leading zeros, an invalid number (for its error message) — is left
//! to the crate: [`accept`] answers only "valid, and this is its country".

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// E.164 country codes have 1 to 3 digits.
const CODES: usize = 1000;

/// One pattern as `Descriptor::is_match` uses it.
struct Pattern {
    re: Compiled,
    possible_lengths: Vec<u16>,
}

impl Pattern {
    fn of(d: &Descriptor) -> Option<Self> {
        Some(Self { re: Compiled::new(d.national_number().as_str())?, possible_lengths: d.possible_length().to_vec() })
    }

    fn is_match(&self, national: &str) -> bool {
        if !self.possible_lengths.is_empty() && !self.possible_lengths.contains(&(national.len() as u16)) {
            return false;
        }
        self.re.starts_match(national)
    }
}

/// A pattern compiled as `phonenumber::metadata::Database` builds its `CachedRegex`es (a
/// `regex::Regex` with `ignore_whitespace`, the default size limits) but for ASCII input
/// only, with just the engines an anchored yes/no search needs, and with its search caches
/// kept per thread rather than in a shared pool. (All 254 regions' patterns take ~18 MB;
/// a region is prepared only when a number of its country code comes.)
struct Compiled {
    re: Regex,
    /// Index of this pattern's cache in [`CACHES`].
    id: usize,
}

thread_local! {
    static CACHES: RefCell<Vec<Option<meta::Cache>>> = const { RefCell::new(Vec::new()) };
}

impl Compiled {
    fn new(source: &str) -> Option<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let re = Regex::builder()
            .configure(
                Regex::config()
                    .nfa_size_limit(Some(10 * (1 << 20)))
                    .hybrid_cache_capacity(2 * (1 << 20))
                    .match_kind(MatchKind::LeftmostFirst)
                    .utf8_empty(true)
                    .dfa(false)
                    .onepass(false)
                    .backtrack(false)
                    .which_captures(WhichCaptures::Implicit),
            )
            // Only ever matched against ASCII digits, where Unicode-aware classes (`\d` is every
            // script's digits) match exactly what their ASCII forms match: compiled without
            // Unicode, all regions' patterns take ~18 MB instead of ~95.
            .syntax(syntax::Config::new().unicode(false).utf8(false).ignore_whitespace(true))
            .build(source)
            .ok()?;
        Some(Self { re, id: NEXT.fetch_add(1, Ordering::Relaxed) })
    }

    /// The crate's `find(text).map(|m| m.start() == 0)`: the leftmost match starts at the
    /// first character exactly when some match does, i.e. an anchored search finds one.
    fn starts_match(&self, text: &str) -> bool {
        let input = Input::new(text).anchored(Anchored::Yes).earliest(true);
        CACHES.with_borrow_mut(|caches| {
            if caches.len() <= self.id {
                caches.resize_with(self.id + 1, || None);
            }
            let cache = caches[self.id].get_or_insert_with(|| self.re.create_cache());
            self.re.search_half_with(cache, &input).is_some()
        })
    }
}

/// One region (metadata entry) of a country code.
struct Region {
    general: Pattern,
    /// Every number type `validator::number_type` tells apart; one matching is enough to be
    /// valid.
    types: Vec<Pattern>,
    national_prefix: Option<String>,
    national_prefix_for_parsing: Option<Compiled>,
    leading_digits: Option<Compiled>,
    /// `Country::id()` of numbers of this region, as `Recipient::country`.
    country: Option<String>,
}

impl Region {
    fn of(meta: &Metadata) -> Option<Self> {
        let d = meta.descriptors();
        let typed = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        let mut types = Vec::new();
        for t in typed.into_iter().flatten() {
            types.push(Pattern::of(t)?);
        }
        let optional = |source: Option<&str>| -> Option<Option<Compiled>> {
            match source {
                Some(source) => Compiled::new(source).map(Some),
                None => Some(None),
            }
        };
        Some(Self {
            general: Pattern::of(d.general())?,
            types,
            national_prefix: meta.national_prefix().map(str::to_string),
            national_prefix_for_parsing: optional(meta.national_prefix_for_parsing().map(|re| re.as_str()))?,
            leading_digits: optional(meta.leading_digits().map(|re| re.as_str()))?,
            country: meta.id().parse::<phonenumber::country::Id>().ok().map(|id| id.as_ref().to_string()),
        })
    }

    /// `validator::number_type(meta, national) != Type::Unknown`.
    fn is_valid(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
    }

    /// Would `parser::helper::national_number` or the national-prefix strip in
    /// `parser::parse_with` change this national number? (Then the crate decides.)
    fn may_strip(&self, national: &str) -> bool {
        let prefix = self.national_prefix.as_deref().is_some_and(|p| national.starts_with(p));
        let for_parsing = self.national_prefix_for_parsing.as_ref().is_some_and(|re| re.starts_match(national));
        prefix || for_parsing
    }
}

/// The regions of one country code, in the database's order.
enum Plan {
    /// The code names no region, or preparing it failed: the crate decides.
    Unknown,
    /// One region (or the non-geographic entity "001"): `source_for` looks no further.
    One(Region),
    /// Several regions (NANPA's +1, +7, +44, …): the first whose leading digits match, or —
    /// for one without leading digits — whose patterns accept the number.
    Several(Vec<Region>),
}

impl Plan {
    fn of(code: u16) -> Self {
        if DATABASE.by_code(&code).is_none() {
            return Plan::Unknown;
        }
        let Some(regions) = DATABASE.region(&code) else { return Plan::Unknown };
        let prepared = if regions.len() == 1 {
            let meta = if regions[0] == "001" {
                DATABASE.by_code(&code).and_then(|m| m.into_iter().next())
            } else if regions[0].parse::<phonenumber::country::Id>().is_ok() {
                DATABASE.by_id(regions[0])
            } else {
                None
            };
            meta.and_then(Region::of).map(Plan::One)
        } else {
            regions.iter().map(|r| DATABASE.by_id(*r).and_then(Region::of)).collect::<Option<Vec<_>>>().map(Plan::Several)
        };
        prepared.unwrap_or(Plan::Unknown)
    }

    /// `validator::source_for(code, national)`, when it finds a region.
    fn region(&self, national: &str) -> Option<&Region> {
        match self {
            Plan::Unknown => None,
            Plan::One(r) => Some(r),
            Plan::Several(regions) => regions.iter().find(|r| match &r.leading_digits {
                Some(ld) => ld.starts_match(national),
                None => r.is_valid(national),
            }),
        }
    }
}

fn plan(code: u16) -> &'static Plan {
    static PLANS: OnceLock<Vec<OnceLock<Plan>>> = OnceLock::new();
    let plans = PLANS.get_or_init(|| (0..CODES).map(|_| OnceLock::new()).collect());
    plans[usize::from(code)].get_or_init(|| Plan::of(code))
}

/// Does the crate know this country calling code (`Database::by_code`)?
fn known_code(code: u16) -> bool {
    static KNOWN: OnceLock<Vec<bool>> = OnceLock::new();
    KNOWN.get_or_init(|| (0..CODES as u16).map(|c| DATABASE.by_code(&c).is_some()).collect())[usize::from(code)]
}

/// For `+` and 7 to 15 digits: `Some(country)` when the crate would accept the number as
/// valid (its E.164 form being the input itself); `None` when the crate has to decide.
pub fn accept(international: &str) -> Option<Option<String>> {
    let digits = international.strip_prefix('+')?;
    // ASCII digits only: the patterns are compiled for ASCII input (see `Compiled`).
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    // `parser::helper::country_code`: the shortest prefix the database knows.
    let (code, national) = (1..=3).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        known_code(code).then(|| (code, &digits[len..]))
    })?;
    // Leading zeros (kept apart by `NationalNumber`) and prefixes to strip: the crate decides.
    if national.starts_with('0') {
        return None;
    }
    let region = plan(code).region(national)?;
    if region.may_strip(national) || !region.is_valid(national) {
        return None;
    }
    Some(region.country.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `super::normalise` answered before this module existed.
    fn by_crate(international: &str) -> Option<(String, Option<String>)> {
        let number = phonenumber::parse(None, international).ok()?;
        if !phonenumber::is_valid(&number) {
            return None;
        }
        Some((
            number.format().mode(phonenumber::Mode::E164).to_string(),
            number.country().id().map(|id| id.as_ref().to_string()),
        ))
    }

    /// A small deterministic generator (xorshift), to spread numbers over every code.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn digits(&mut self, n: usize) -> String {
            (0..n).map(|_| char::from(b'0' + (self.next() % 10) as u8)).collect()
        }
    }

    /// Every answer of the fast path is the crate's answer; and it answers for the usual
    /// numbers. Numbers: each region's example numbers (valid ones), those with a digit
    /// changed, and random digits after every known country code.
    #[test]
    fn agrees_with_the_crate() {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let mut inputs: Vec<String> = Vec::new();
        for code in 1..CODES as u16 {
            if !known_code(code) {
                continue;
            }
            for meta in DATABASE.by_code(&code).unwrap_or_default() {
                let d = meta.descriptors();
                let examples = [d.general(), d.fixed_line().unwrap_or(d.general()), d.mobile().unwrap_or(d.general())];
                for e in examples.iter().filter_map(|d| d.example()) {
                    inputs.push(format!("+{code}{e}"));
                    let mut changed: Vec<u8> = e.bytes().collect();
                    if let Some(last) = changed.last_mut() {
                        *last = b'0' + (*last - b'0' + 1) % 10;
                    }
                    inputs.push(format!("+{code}{}", String::from_utf8(changed).unwrap()));
                }
            }
            for len in 4..=13 {
                for _ in 0..40 {
                    inputs.push(format!("+{code}{}", rng.digits(len)));
                }
            }
        }
        inputs.extend(["+966501234567", "+971501234567", "+14155550123", "+201097899908", "+447912345678", "+390236618300", "+5491123456789", "+12530000"].map(String::from));
        let (mut fast, mut valid) = (0, 0);
        for input in inputs.iter().filter(|i| (7..=15).contains(&(i.len() - 1))) {
            let expected = by_crate(input);
            valid += usize::from(expected.is_some());
            if let Some(country) = accept(input) {
                fast += 1;
                assert_eq!(Some((input.clone(), country)), expected, "{input}");
            }
        }
        // Nearly every valid number is decided here (the rest: national prefixes to strip).
        assert!(fast * 10 >= valid * 8, "fast path decided {fast} of {valid} valid numbers");
        assert_eq!(accept("+966501234567"), Some(Some("SA".into())));
        assert_eq!(accept("+14155550123"), Some(Some("US".into())));
    }
}
