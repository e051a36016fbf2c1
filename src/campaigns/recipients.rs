//! The entries of a bulk request's recipient list as the API layers hand them over: a phone
//! string (or, on an email campaign, an address) or `{phone, variables}`, read from raw JSON
//! slices of the body without building a value tree (a million of them stay cheap), or from
//! gRPC's strings. Depends on serde only.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;

/// A recipient's personal variables, as the API received them.
pub enum Variables<'a> {
    None,
    /// A JSON object (HTTP).
    Json(&'a RawValue),
    /// Strings by name (gRPC).
    Strings(&'a HashMap<String, String>),
}

impl Variables<'_> {
    /// The text a placeholder `name` renders as, if these variables give it a value (see
    /// `template::render`: the last of duplicate names, scalars only).
    pub(super) fn text(&self, fields: &[(Cow<'_, str>, &RawValue)], name: &str) -> Option<String> {
        match self {
            Variables::None => None,
            Variables::Json(_) => {
                let raw = fields.iter().rev().find(|(k, _)| k == name)?.1.get();
                match raw.as_bytes().first()? {
                    b'"' => serde_json::from_str::<Cow<str>>(raw).ok().map(Cow::into_owned),
                    b't' | b'f' => serde_json::from_str::<bool>(raw).ok().map(|b| b.to_string()),
                    b'-' | b'0'..=b'9' => serde_json::from_str::<serde_json::Number>(raw).ok().map(|n| n.to_string()),
                    _ => None,
                }
            }
            Variables::Strings(m) => m.get(name).cloned(),
        }
    }

    /// The fields of a JSON object, in order, values left raw (none for other variables). As
    /// when the object was parsed into a `serde_json::Map`: none at all if any value would not
    /// parse (a number out of range, a lone surrogate escape, nesting too deep).
    pub(super) fn fields(&self) -> Vec<(Cow<'_, str>, &RawValue)> {
        match self {
            Variables::Json(v) if serde_json::from_str::<Valid>(v.get()).is_ok() => {
                serde_json::from_str::<Fields>(v.get()).map(|f| f.0).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

/// Any JSON value that `serde_json::Value` accepts, checked without building it.
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Valid;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_unit<E>(self) -> Result<Valid, E> {
                Ok(Valid)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Valid, A::Error> {
                while seq.next_element::<Valid>()?.is_some() {}
                Ok(Valid)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Valid, A::Error> {
                while map.next_entry::<Key<'de>, Valid>()?.is_some() {}
                Ok(Valid)
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON object's fields, without building a map or its values.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A field name, borrowed from the body unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// One entry of a recipient list as an API layer received it.
pub trait RecipientInput: Sync {
    /// The phone number and its variables, or (what to show of the entry, why it is refused).
    fn read(&self) -> Result<(Cow<'_, str>, Variables<'_>), (String, String)>;
}

#[derive(Deserialize)]
struct Personal<'a> {
    /// An email campaign's entries may say `email` (the address) instead.
    #[serde(borrow, alias = "email")]
    phone: Cow<'a, str>,
    #[serde(default, borrow)]
    variables: Option<&'a RawValue>,
}

/// A phone string or `{phone, variables}`.
impl RecipientInput for &RawValue {
    fn read(&self) -> Result<(Cow<'_, str>, Variables<'_>), (String, String)> {
        let text = self.get();
        let (phone, variables) = match text.as_bytes().first() {
            Some(b'"') => match serde_json::from_str::<Cow<str>>(text) {
                Ok(p) => (p, None),
                Err(e) => return Err((text.to_string(), format!("is not a string: {e}"))),
            },
            Some(b'{') => match serde_json::from_str::<Personal>(text) {
                Ok(p) => (p.phone, p.variables),
                Err(e) => {
                    let e = e.to_string();
                    let e = e.split(" at line").next().unwrap_or(&e).to_string();
                    return Err((text.chars().take(64).collect(), format!("is not {{phone, variables}}: {e}")));
                }
            },
            _ => return Err((text.chars().take(64).collect(), "must be a phone number string or {phone, variables}".into())),
        };
        match variables {
            Some(v) if v.get() == "null" => Ok((phone, Variables::None)),
            Some(v) if !v.get().starts_with('{') => Err((phone.into_owned(), "variables must be an object".into())),
            Some(v) => Ok((phone, Variables::Json(v))),
            None => Ok((phone, Variables::None)),
        }
    }
}

