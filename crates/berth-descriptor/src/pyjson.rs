//! JSON values with the semantics bosh sees through Python's `json`/`simplejson`.
//!
//! bosh renders command lines with Python's `str()` of the values it parsed, so the exact
//! kind of every number matters: `1` is an `int` (printed `1`), `1.0` and `1e2` are `float`s
//! (printed `1.0` and `100.0`), and integers have no size limit. `serde_json` either loses
//! the int/float distinction for large values or, with `arbitrary_precision`, changes number
//! handling for every crate in the workspace through feature unification. This small parser
//! keeps exactly what Python keeps: key order (duplicate keys keep the first position and the
//! last value, like `OrderedDict(pairs)`), unbounded integers, and floats parsed with correct
//! rounding. It is written by hand because no maintained crate offers Python's number model.

use std::fmt;

use indexmap::IndexMap;
use num_bigint::BigInt;
use num_traits::{ToPrimitive, Zero};

/// Nesting deeper than this is refused instead of risking the stack (CPython's default
/// recursion limit makes `json.loads` fail at a similar depth).
const MAX_DEPTH: usize = 512;

/// A JSON value as Python sees it after `json.loads`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, Python `None`.
    Null,
    /// `true`/`false`, Python `bool`.
    Bool(bool),
    /// An integer literal, Python `int` (unbounded).
    Int(BigInt),
    /// A number with a fraction or exponent, Python `float`.
    Float(f64),
    /// A string.
    Str(String),
    /// An array, Python `list`.
    List(Vec<Value>),
    /// An object, Python `OrderedDict`.
    Dict(IndexMap<String, Value>),
}

/// Where and why JSON text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct ParseError {
    /// What was wrong.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Value {
    /// Parses JSON text the way Python's `json.loads` does, except that the non-standard
    /// literals `NaN`, `Infinity` and `-Infinity` are refused with a message naming them.
    pub fn parse(text: &str) -> Result<Value, ParseError> {
        Self::parse_raw(text).map_err(|mut e| {
            explain(text, &mut e);
            e
        })
    }

    fn parse_raw(text: &str) -> Result<Value, ParseError> {
        let mut p = Parser { s: text.as_bytes(), text, pos: 0, depth: 0 };
        if text.starts_with('\u{feff}') {
            return Err(p.error_at(0, "the text starts with a UTF-8 byte-order mark; save it without one"));
        }
        p.skip_ws();
        let v = p.value()?;
        p.skip_ws();
        if p.pos != p.s.len() {
            return Err(p.error("unexpected text after the JSON value"));
        }
        Ok(v)
    }

    /// The object's entries, if this is an object.
    pub fn as_dict(&self) -> Option<&IndexMap<String, Value>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The array's items, if this is an array.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The numeric value as `f64`, for ints and floats (not bools).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => i.to_f64(),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Looks up `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict().and_then(|d| d.get(key))
    }

    /// Python truthiness (`bool(x)`).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => !i.is_zero(),
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Dict(d) => !d.is_empty(),
        }
    }

    /// A short English name of the JSON type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::List(_) => "an array",
            Value::Dict(_) => "an object",
        }
    }

    /// Python `str(value)`.
    pub fn py_str(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => other.py_repr(),
        }
    }

    /// Python `repr(value)`.
    pub fn py_repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("None"),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&crate::pyfmt::float_repr(*f)),
            Value::Str(s) => out.push_str(&crate::pyfmt::str_repr(s)),
            Value::List(items) => {
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    item.write_repr(out);
                }
                out.push(']');
            }
            Value::Dict(d) => {
                out.push('{');
                for (n, (k, v)) in d.iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&crate::pyfmt::str_repr(k));
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
        }
    }

    /// Python `==` between two JSON values (`1 == 1.0`, `True == 1`).
    pub fn py_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.py_eq(y)),
            (Value::Dict(a), Value::Dict(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.py_eq(w)))
            }
            (a, b) => match (a.numeric(), b.numeric()) {
                (Some(x), Some(y)) => x.py_eq(&y),
                _ => false,
            },
        }
    }

    /// The value as a Python number (bools are ints in Python).
    pub(crate) fn numeric(&self) -> Option<Num> {
        match self {
            Value::Bool(b) => Some(Num::Int(BigInt::from(u8::from(*b)))),
            Value::Int(i) => Some(Num::Int(i.clone())),
            Value::Float(f) => Some(Num::Float(*f)),
            _ => None,
        }
    }

    /// Converts to a `serde_json::Value` for JSON Schema validation. Integers too large for
    /// 64 bits become the nearest float, which keeps every comparison a schema can make.
    pub fn to_serde(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => {
                if let Some(v) = i.to_i64() {
                    serde_json::Value::from(v)
                } else if let Some(v) = i.to_u64() {
                    serde_json::Value::from(v)
                } else {
                    let f = i.to_f64().filter(|f| f.is_finite()).unwrap_or(if i.sign() == num_bigint::Sign::Minus {
                        f64::MIN
                    } else {
                        f64::MAX
                    });
                    serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
                }
            }
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_serde).collect()),
            Value::Dict(d) => serde_json::Value::Object(d.iter().map(|(k, v)| (k.clone(), v.to_serde())).collect()),
        }
    }

    /// Converts from a `serde_json::Value` (numbers keep their int/float kind).
    pub fn from_serde(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(BigInt::from(i))
                } else if let Some(u) = n.as_u64() {
                    Value::Int(BigInt::from(u))
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_serde).collect()),
            serde_json::Value::Object(o) => {
                Value::Dict(o.iter().map(|(k, v)| (k.clone(), Value::from_serde(v))).collect())
            }
        }
    }

    /// Serialises as compact JSON text (Python's `json.dumps` spacing is not needed).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => {
                if f.is_finite() {
                    out.push_str(&crate::pyfmt::float_repr(*f));
                } else {
                    out.push_str("null");
                }
            }
            Value::Str(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
            Value::List(l) => {
                out.push('[');
                for (n, v) in l.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Dict(d) => {
                out.push('{');
                for (n, (k, v)) in d.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => match (i.to_i64(), i.to_u64()) {
                (Some(v), _) => serializer.serialize_i64(v),
                (None, Some(v)) => serializer.serialize_u64(v),
                // Too large for JSON tooling to read back exactly: keep the digits.
                _ => serializer.serialize_str(&i.to_string()),
            },
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::Str(s) => serializer.serialize_str(s),
            Value::List(l) => {
                let mut seq = serializer.serialize_seq(Some(l.len()))?;
                for v in l {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Dict(d) => {
                let mut map = serializer.serialize_map(Some(d.len()))?;
                for (k, v) in d {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    /// Reads back what [`Value`]'s `Serialize` wrote. Integers beyond 64 bits were written as
    /// strings and come back as strings.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
                Ok(Value::Int(BigInt::from(i)))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
                Ok(Value::Int(BigInt::from(u)))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
                Ok(Value::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value, E> {
                Ok(Value::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Value, E> {
                Ok(Value::Str(s))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = seq.next_element()? {
                    items.push(v);
                }
                Ok(Value::List(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut d = IndexMap::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    d.insert(k, v);
                }
                Ok(Value::Dict(d))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A Python number, for comparisons with Python's mixed int/float semantics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Num {
    Int(BigInt),
    Float(f64),
}

impl Num {
    pub(crate) fn to_f64(&self) -> f64 {
        match self {
            Num::Int(i) => i.to_f64().unwrap_or(f64::NAN),
            Num::Float(f) => *f,
        }
    }

    pub(crate) fn py_eq(&self, other: &Num) -> bool {
        self.py_cmp(other) == Some(std::cmp::Ordering::Equal)
    }

    /// Python ordering; `None` when a NaN is involved.
    pub(crate) fn py_cmp(&self, other: &Num) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(b)),
            (Num::Int(a), Num::Float(b)) => cmp_int_float(a, *b),
            (Num::Float(a), Num::Int(b)) => cmp_int_float(b, *a).map(std::cmp::Ordering::reverse),
            (Num::Float(a), Num::Float(b)) => a.partial_cmp(b),
        }
    }
}

/// Exact comparison of an integer with a float, as Python does it.
fn cmp_int_float(i: &BigInt, f: f64) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    if f.is_nan() {
        return None;
    }
    if f == f64::INFINITY {
        return Some(Ordering::Less);
    }
    if f == f64::NEG_INFINITY {
        return Some(Ordering::Greater);
    }
    let floor = f.floor();
    // `floor` is integral and finite, so it converts exactly.
    let fi = big_from_f64(floor);
    match i.cmp(&fi) {
        Ordering::Equal if f > floor => Some(Ordering::Less),
        o => Some(o),
    }
}

fn big_from_f64(f: f64) -> BigInt {
    // Exact for integral finite floats: mantissa * 2^exp.
    let bits = f.to_bits();
    let sign = if bits >> 63 == 1 { -1 } else { 1 };
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mant =
        if exp == 0 { (bits & 0xf_ffff_ffff_ffff) << 1 } else { (bits & 0xf_ffff_ffff_ffff) | 0x10_0000_0000_0000 };
    let e = exp - 1075;
    let m = BigInt::from(mant);
    let v = if e >= 0 { m << (e as usize) } else { m >> ((-e) as usize) };
    v * sign
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, pos: usize, message: &str) -> ParseError {
        let pos = pos.min(self.s.len());
        let before = &self.text[..floor_char_boundary(self.text, pos)];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ParseError { message: message.to_string(), line, column }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.s.get(self.pos) {
            None => Err(self.error("expected a value but the text ended")),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'N') if self.s[self.pos..].starts_with(b"NaN") => Err(self.nonstandard("NaN")),
            Some(b'I') if self.s[self.pos..].starts_with(b"Infinity") => Err(self.nonstandard("Infinity")),
            Some(_) => Err(self.error("expected a value (object, array, string, number, true, false or null)")),
        }
    }

    fn nonstandard(&self, lit: &str) -> ParseError {
        self.error(&format!(
            "`{lit}` is not JSON (Python's json module accepts it, berth does not); write a number or a string"
        ))
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Value, ParseError>) -> Result<Value, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, ParseError> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.error("expected a value (object, array, string, number, true, false or null)"))
        }
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        let mut map = IndexMap::new();
        self.skip_ws();
        if self.s.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value::Dict(map));
        }
        loop {
            self.skip_ws();
            if self.s.get(self.pos) != Some(&b'"') {
                return Err(self.error("expected a property name in double quotes"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.s.get(self.pos) != Some(&b':') {
                return Err(self.error("expected ':' after the property name"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value()?;
            map.insert(key, v);
            self.skip_ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Dict(map));
                }
                _ => return Err(self.error("expected ',' or '}' after an object member")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.s.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::List(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::List(items));
                }
                _ => return Err(self.error("expected ',' or ']' after an array item")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        if self.s.get(self.pos) == Some(&b'-') {
            self.pos += 1;
            if self.s[self.pos..].starts_with(b"Infinity") {
                return Err(self.nonstandard("-Infinity"));
            }
        }
        match self.s.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.s.get(self.pos) {
                    self.pos += 1;
                }
            }
            _ => return Err(self.error("expected a digit")),
        }
        let mut float = false;
        if self.s.get(self.pos) == Some(&b'.') && matches!(self.s.get(self.pos + 1), Some(b'0'..=b'9')) {
            float = true;
            self.pos += 1;
            while let Some(b'0'..=b'9') = self.s.get(self.pos) {
                self.pos += 1;
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.pos) {
            let mut p = self.pos + 1;
            if let Some(b'+' | b'-') = self.s.get(p) {
                p += 1;
            }
            if matches!(self.s.get(p), Some(b'0'..=b'9')) {
                float = true;
                while let Some(b'0'..=b'9') = self.s.get(p) {
                    p += 1;
                }
                self.pos = p;
            }
        }
        let lit = &self.text[start..self.pos];
        if float {
            lit.parse::<f64>().map(Value::Float).map_err(|_| self.error_at(start, "invalid number"))
        } else {
            lit.parse::<BigInt>().map(Value::Int).map_err(|_| self.error_at(start, "invalid number"))
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(&b) = self.s.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.s.get(self.pos) {
                None => return Err(self.error_at(start, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = *self.s.get(self.pos).ok_or_else(|| self.error_at(start, "unterminated string"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xd800..0xdc00).contains(&hi) && self.s[self.pos..].starts_with(b"\\u") {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00))
                                } else {
                                    self.pos = save;
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            match c {
                                Some(c) => out.push(c),
                                None => {
                                    return Err(self.error_at(
                                        self.pos - 6,
                                        "a lone UTF-16 surrogate escape cannot be represented as text",
                                    ));
                                }
                            }
                        }
                        _ => return Err(self.error_at(self.pos - 2, "invalid escape in a string")),
                    }
                }
                Some(_) => return Err(self.error("control character in a string; escape it (for example `\\n`)")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self.s.get(self.pos..self.pos + 4).ok_or_else(|| self.error("invalid \\u escape"))?;
        let txt = std::str::from_utf8(digits).map_err(|_| self.error("invalid \\u escape"))?;
        if !txt.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error("invalid \\u escape"));
        }
        let v = u32::from_str_radix(txt, 16).map_err(|_| self.error("invalid \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Names the mistake behind a syntax error when it is one of the common ones — a trailing
/// comma (the position moves to the comma), single quotes, a comment, Python's `True`,
/// `False` or `None`, a property name without quotes, a missing comma — so that every
/// document berth reads (descriptors, invocations, XNAT Commands, requests) says what is wrong,
/// not only where.
fn explain(text: &str, e: &mut ParseError) {
    let Some(offset) = offset_of(text, e.line, e.column) else { return };
    let rest = &text[offset..];
    let here = rest.chars().next();
    let before = text[..offset].trim_end();
    let python = [("True", "true"), ("False", "false"), ("None", "null")];
    match here {
        Some(c @ ('}' | ']')) if before.ends_with(',') => {
            let comma = before.len() - 1;
            let (line, column) = position(text, comma);
            *e = ParseError {
                message: format!("a trailing comma before `{c}`: JSON allows no comma after the last item"),
                line,
                column,
            };
        }
        Some('\'') => {
            e.message = "a single-quoted string: JSON needs double quotes (`\"`)".to_string();
        }
        Some('#') => e.message = "a comment: JSON has none; remove it".to_string(),
        Some('/') if rest[1..].starts_with(['/', '*']) => e.message = "a comment: JSON has none; remove it".to_string(),
        Some(_) if let Some((py, json)) = python.iter().find(|(py, _)| rest.starts_with(py)) => {
            e.message = format!("`{py}` is Python, not JSON: write `{json}`");
        }
        Some('"') if e.message.starts_with("expected ',' or") => {
            e.message = format!("a missing comma: {}", e.message);
        }
        Some(c) if (c.is_ascii_alphabetic() || c == '_') && e.message.starts_with("expected a property name") => {
            e.message = "a property name without quotes: JSON needs it in double quotes".to_string();
        }
        _ => {}
    }
}

/// The byte offset of 1-based `line` and character `column`.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text.split_inclusive('\n').take(line.checked_sub(1)?).map(str::len).sum();
    let rest = text.get(start..)?;
    let within = rest.char_indices().nth(column.checked_sub(1)?).map_or(rest.len(), |(i, _)| i);
    Some(start + within)
}

/// The 1-based line and character column of byte `offset`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value {
        Value::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn ints_and_floats_keep_their_python_kind() {
        assert_eq!(p("1").py_str(), "1");
        assert_eq!(p("1.0").py_str(), "1.0");
        assert_eq!(p("1e2").py_str(), "100.0");
        assert_eq!(p("-0").py_str(), "0");
        assert_eq!(p("-0.0").py_str(), "-0.0");
        assert_eq!(p("123456789012345678901234567890").py_str(), "123456789012345678901234567890");
        assert_eq!(p("1e400").py_str(), "inf");
    }

    #[test]
    fn duplicate_keys_keep_first_position_and_last_value() {
        let v = p(r#"{"a": 1, "b": 2, "a": 3}"#);
        let d = v.as_dict().unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(d["a"].py_str(), "3");
    }

    #[test]
    fn repr_of_containers_matches_python() {
        assert_eq!(p(r#"["a", 1, 2.5, true, null, "it's"]"#).py_str(), r#"['a', 1, 2.5, True, None, "it's"]"#);
        assert_eq!(p(r#"{"k": [1]}"#).py_str(), "{'k': [1]}");
    }

    #[test]
    fn surrogate_pairs_decode_and_lone_ones_are_refused() {
        assert_eq!(p(r#""\ud83d\ude00""#).as_str(), Some("😀"));
        assert!(Value::parse(r#""\ud800""#).is_err());
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = Value::parse("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!((e.line, e.column), (3, 7));
        assert!(Value::parse("NaN").unwrap_err().message.contains("NaN"));
        assert!(Value::parse("[1,]").is_err());
        assert!(Value::parse("{} x").is_err());
        assert!(Value::parse("\"a\tb\"").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let s = "[".repeat(100_000);
        assert!(Value::parse(&s).unwrap_err().message.contains("nesting"));
    }

    #[test]
    fn python_equality_and_ordering() {
        assert!(p("1").py_eq(&p("1.0")));
        assert!(p("true").py_eq(&p("1")));
        assert!(!p("\"1\"").py_eq(&p("1")));
        let big = p("123456789012345678901234567890").numeric().unwrap();
        let f = p("1.2345678901234568e29").numeric().unwrap();
        assert_eq!(big.py_cmp(&f), Some(std::cmp::Ordering::Greater));
    }

    #[test]
    fn common_mistakes_are_named_and_trailing_commas_located_at_the_comma() {
        let e = Value::parse("{\n  \"a\": 1,\n}").unwrap_err();
        assert_eq!((e.line, e.column), (2, 9));
        assert_eq!(e.message, "a trailing comma before `}`: JSON allows no comma after the last item");
        let e = Value::parse("[1, 2 ,  ]").unwrap_err();
        assert_eq!((e.line, e.column), (1, 7));
        assert!(Value::parse("{'a': 1}").unwrap_err().message.starts_with("a single-quoted string"));
        assert!(Value::parse("{\"a\": 1, # note\n\"b\": 2}").unwrap_err().message.starts_with("a comment"));
        assert!(Value::parse("{\"a\": 1, // note\n\"b\": 2}").unwrap_err().message.starts_with("a comment"));
        assert_eq!(Value::parse("{\"a\": True}").unwrap_err().message, "`True` is Python, not JSON: write `true`");
        assert!(Value::parse("{a: 1}").unwrap_err().message.starts_with("a property name without quotes"));
        assert!(Value::parse("{\"a\": 1 \"b\": 2}").unwrap_err().message.starts_with("a missing comma"));
        // Anything else keeps the parser's own words.
        assert_eq!(Value::parse("{\"a\" 1}").unwrap_err().message, "expected ':' after the property name");
    }
}
