//! Scalar coercions for serde that accept what XNAT's Jackson accepts.
//!
//! XNAT reads Commands with Jackson's default coercions (container-service `Command.java` is a
//! set of `@JsonCreator` factories over `String`, `Boolean`, `Long`, `Double`): a `String` field
//! takes any scalar (`false` becomes `"false"`, `3` becomes `"3"`), a `Boolean` takes `"true"` or
//! `"false"` as strings, numbers take numeric strings, and `null` means "absent". The sample
//! Commands rely on this (`"writable": "false"`, `"default-value": false`), so berth must too.
//! Arrays and objects where a scalar belongs are errors, as they are for Jackson.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON scalar, or `null`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
}

struct ScalarVisitor {
    expected: &'static str,
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Int(i128::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Scalar, A::Error> {
        Err(de::Error::custom(format!("expected {}, found an array", self.expected)))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Scalar, A::Error> {
        Err(de::Error::custom(format!("expected {}, found an object", self.expected)))
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D, expected: &'static str) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor { expected })
}

/// Jackson's text for a scalar bound to a `String` field (`None` for `null`).
fn scalar_text(s: Scalar) -> Option<String> {
    match s {
        Scalar::Null => None,
        Scalar::Bool(b) => Some(b.to_string()),
        Scalar::Int(i) => Some(i.to_string()),
        Scalar::Float(f) => Some(float_text(f)),
        Scalar::Str(s) => Some(s),
    }
}

/// A float as text. Jackson would keep the literal (`1e2`); berth's loader keeps only the
/// value, so this prints the shortest round-trip form (`100.0`).
pub(crate) fn float_text(f: f64) -> String {
    serde_json::Number::from_f64(f).map_or_else(|| f.to_string(), |n| n.to_string())
}

/// An optional string; scalars become their text.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar(d, "a string").map(scalar_text)
}

/// A string that XNAT defaults to `""` when absent or `null` (names).
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_string(d).map(Option::unwrap_or_default)
}

/// Jackson's `Boolean` from a scalar: booleans, `"true"`/`"false"` in any of Jackson's three
/// spellings, integers (zero is false), and `""`/`null` as absent.
fn bool_from<E: de::Error>(s: Scalar) -> Result<Option<bool>, E> {
    match s {
        Scalar::Null => Ok(None),
        Scalar::Bool(b) => Ok(Some(b)),
        Scalar::Int(i) => Ok(Some(i != 0)),
        Scalar::Str(s) => match s.trim() {
            "true" | "True" | "TRUE" => Ok(Some(true)),
            "false" | "False" | "FALSE" => Ok(Some(false)),
            "" => Ok(None),
            other => Err(E::custom(format!("expected `true` or `false`, found the string {other:?}"))),
        },
        Scalar::Float(f) => Err(E::custom(format!("expected `true` or `false`, found the number {}", float_text(f)))),
    }
}

/// An optional boolean.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    bool_from(scalar(d, "`true` or `false`")?)
}

/// A boolean that is `false` when absent or `null`.
pub(crate) fn bool_default_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    opt_bool(d).map(|b| b.unwrap_or(false))
}

/// A boolean that is `true` when absent or `null` (wrapper inputs' `required`, `load-children`).
pub(crate) fn bool_default_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    opt_bool(d).map(|b| b.unwrap_or(true))
}

/// `serde(default)` for [`bool_default_true`] fields.
pub(crate) fn yes() -> bool {
    true
}

/// Jackson's `Long`: integers, floats truncated toward zero (`ACCEPT_FLOAT_AS_INT`), and
/// numeric strings.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let out_of_range =
        |t: &dyn fmt::Display| <D::Error as de::Error>::custom(format!("{t} does not fit in a 64-bit integer"));
    match scalar(d, "a whole number")? {
        Scalar::Null => Ok(None),
        Scalar::Int(i) => i64::try_from(i).map(Some).map_err(|_| out_of_range(&i)),
        Scalar::Float(f) if f.is_finite() && f.trunc().abs() < 9.2e18 => Ok(Some(f.trunc() as i64)),
        Scalar::Float(f) => Err(out_of_range(&float_text(f))),
        Scalar::Str(s) if s.trim().is_empty() => Ok(None),
        Scalar::Str(s) => {
            s.trim().parse::<i64>().map(Some).map_err(|_| {
                <D::Error as de::Error>::custom(format!("expected a whole number, found the string {s:?}"))
            })
        }
        Scalar::Bool(b) => Err(<D::Error as de::Error>::custom(format!("expected a whole number, found `{b}`"))),
    }
}

/// Jackson's `Double`: numbers and numeric strings.
pub(crate) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match scalar(d, "a number")? {
        Scalar::Null => Ok(None),
        Scalar::Int(i) => Ok(Some(i as f64)),
        Scalar::Float(f) => Ok(Some(f)),
        Scalar::Str(s) if s.trim().is_empty() => Ok(None),
        Scalar::Str(s) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(<D::Error as de::Error>::custom(format!("expected a number, found the string {s:?}"))),
        },
        Scalar::Bool(b) => Err(<D::Error as de::Error>::custom(format!("expected a number, found `{b}`"))),
    }
}

/// A string list (`select-values`, `contexts`, `tags`); `null` is empty, items are coerced
/// like strings, and `null` items are refused (XNAT's Guava lists hold no nulls).
pub(crate) fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items: Option<Vec<StringItem>> = Option::deserialize(d)?;
    Ok(items.unwrap_or_default().into_iter().map(|s| s.0).collect())
}

/// A string-to-string map (`environment-variables`, `ports`, `ulimits`, ...); `null` is
/// empty, values are coerced like strings, and `null` values are refused.
pub(crate) fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, String>, D::Error> {
    let map: Option<IndexMap<String, StringItem>> = Option::deserialize(d)?;
    Ok(map.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// A list of objects where `null` means empty.
pub(crate) fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A non-null string item of a list or map.
struct StringItem(String);

impl<'de> Deserialize<'de> for StringItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar_text(scalar(d, "a string")?) {
            Some(s) => Ok(StringItem(s)),
            None => Err(de::Error::custom("expected a string, found null")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "opt_i64")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "opt_f64")]
        f: Option<f64>,
        #[serde(default, deserialize_with = "string_map")]
        m: IndexMap<String, String>,
    }

    fn t(v: serde_json::Value) -> Result<T, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn strings_take_any_scalar_as_jackson_does() {
        assert_eq!(t(json!({"s": false})).unwrap().s.as_deref(), Some("false"));
        assert_eq!(t(json!({"s": 3})).unwrap().s.as_deref(), Some("3"));
        assert_eq!(t(json!({"s": 1.5})).unwrap().s.as_deref(), Some("1.5"));
        assert_eq!(t(json!({"s": null})).unwrap().s, None);
        assert_eq!(t(json!({"s": [1]})).unwrap_err(), "expected a string, found an array");
        assert_eq!(t(json!({"s": {}})).unwrap_err(), "expected a string, found an object");
    }

    #[test]
    fn booleans_take_strings_and_integers() {
        assert_eq!(t(json!({"b": "false"})).unwrap().b, Some(false));
        assert_eq!(t(json!({"b": "TRUE"})).unwrap().b, Some(true));
        assert_eq!(t(json!({"b": 0})).unwrap().b, Some(false));
        assert_eq!(t(json!({"b": ""})).unwrap().b, None);
        assert!(t(json!({"b": "yes"})).unwrap_err().contains("\"yes\""));
        assert!(t(json!({"b": 1.5})).is_err());
    }

    #[test]
    fn numbers_take_numeric_strings_and_floats_truncate() {
        assert_eq!(t(json!({"i": "4096"})).unwrap().i, Some(4096));
        assert_eq!(t(json!({"i": 1.9})).unwrap().i, Some(1));
        assert_eq!(t(json!({"i": -1.9})).unwrap().i, Some(-1));
        assert!(t(json!({"i": "4 GB"})).unwrap_err().contains("whole number"));
        assert!(t(json!({"i": 1e300})).unwrap_err().contains("64-bit"));
        assert_eq!(t(json!({"f": "0.5"})).unwrap().f, Some(0.5));
        assert!(t(json!({"f": "NaN"})).is_err());
    }

    #[test]
    fn maps_coerce_values_and_refuse_nulls() {
        assert_eq!(t(json!({"m": {"a": 1, "b": true}})).unwrap().m["a"], "1");
        assert!(t(json!({"m": {"a": null}})).unwrap_err().contains("null"));
        assert!(t(json!({"m": null})).unwrap().m.is_empty());
    }
}
