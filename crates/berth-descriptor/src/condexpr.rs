//! Conditions of `conditional-path-template` outputs, evaluated without `eval`.
//!
//! bosh turns a condition such as `opt1 >= 2 and mode == "fast"` into Python source text
//! (its `conditionalExpFormat` spaces operators and parentheses, input ids are replaced by
//! their values, non-numeric values wrapped in double quotes) and passes that text to Python's
//! `eval`. berth builds the same text and evaluates it with this small interpreter of the
//! Python expression subset that can occur there: literals, `and`/`or`/`not`, comparisons
//! (chained), `in`, arithmetic and parentheses. Anything else (calls, attributes, names other
//! than `True`/`False`/`None`) is refused, so a descriptor can never run code.
//!
//! bosh's formatting drops the character after a one-character operator that is not followed
//! by `=` (`a>2` becomes `a > `); [`bosh_format`] reproduces that. `--strict` instead
//! tokenizes the condition itself and resolves input ids to typed values ([`eval_with`]).

use std::cmp::Ordering;

use num_bigint::BigInt;
use num_traits::{Signed, ToPrimitive, Zero};

use crate::pyfmt::{py_isalnum, py_isdigit, py_iskeyword, py_split, py_strip};

/// Why a condition could not be evaluated (where Python would raise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CondError {
    /// Python's exception, rephrased.
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, CondError> {
    Err(CondError { message: message.into() })
}

/// bosh's `conditionalExpFormat`, including its habit of swallowing the character after a
/// lone `=`, `!`, `<` or `>`. Fails where bosh raises `IndexError` (operator at the end).
pub fn bosh_format(s: &str) -> Result<String, CondError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut idx = 0;
    while idx < chars.len() {
        let c = chars[idx];
        if matches!(c, '=' | '!' | '<' | '>') {
            let Some(&next) = chars.get(idx + 1) else {
                return err(format!("the condition `{s}` ends with the operator `{c}`"));
            };
            out.push(' ');
            out.push(c);
            out.push(if next == '=' { '=' } else { ' ' });
            idx += 1;
        } else if c == '(' || c == ')' {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
        idx += 1;
    }
    Ok(out)
}

/// bosh's validator check of a condition after input ids were replaced by their types
/// (`isValidConditionalExp`): comparisons must compare like types and `and`/`or` must join
/// types or booleans. `Err` where bosh's validator itself crashes (an operator at the end).
pub fn bosh_validator_accepts(exp: &str) -> Result<bool, CondError> {
    const TYPES: [&str; 4] = ["String", "File", "Flag", "Number"];
    fn substring_type(s: &str) -> &str {
        let s = py_strip(s);
        if TYPES.contains(&s) {
            return if s == "File" { "String" } else { s };
        }
        let num = {
            // ^[0-9]*\.?[0-9]+$
            let (int, frac) = match s.rfind('.') {
                Some(p) => (&s[..p], &s[p + 1..]),
                None => ("", s),
            };
            !frac.is_empty()
                && frac.bytes().all(|b| b.is_ascii_digit())
                && int.bytes().all(|b| b.is_ascii_digit())
                && (s.contains('.') || !int.is_empty() || !frac.is_empty())
        };
        if num {
            "Number"
        } else if matches!(s, "True" | "False" | "false" | "true") {
            "Flag"
        } else {
            "String"
        }
    }
    let chars: Vec<char> = exp.chars().collect();
    let (mut brackets, mut start) = (0i64, 0usize);
    let mut rebuilt = String::new();
    for (idx, &c) in chars.iter().enumerate() {
        if c == '(' {
            brackets += 1;
            start = idx + 1;
        } else if c == ')' {
            brackets -= 1;
            if brackets == 0 {
                let sub: String = chars[start.min(idx)..idx].iter().collect();
                if !bosh_validator_accepts(&sub)? {
                    return Ok(false);
                }
                rebuilt.push_str("True");
            }
        } else if brackets == 0 {
            rebuilt.push(c);
        }
    }
    let rebuilt = py_strip(&rebuilt);
    let elems = py_split(rebuilt);
    let n = elems.len() as isize;
    // Python's `elems[idx - 1]` wraps to the last element for idx == 0.
    let at = |i: isize| -> Result<&str, CondError> {
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return err("a comparison or `and`/`or` has nothing on its right");
        }
        Ok(elems[j as usize])
    };
    for (idx, e) in elems.iter().enumerate() {
        let e = py_strip(e);
        let i = idx as isize;
        if ["==", "!=", "<", ">", "<=", ">="].contains(&e) && substring_type(at(i - 1)?) != substring_type(at(i + 1)?) {
            return Ok(false);
        }
        let lower = e.to_lowercase();
        if py_iskeyword(e) && !["and", "or", "false", "true"].contains(&lower.as_str()) {
            return Ok(false);
        }
        if lower == "and" || lower == "or" {
            let ok = |w: &str| TYPES.contains(&w) || w == "True" || w == "False";
            if !ok(at(i - 1)?) || !ok(at(i + 1)?) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Words of a condition that bosh's validator treats as identifiers: not keywords,
/// alphanumeric (so ids with `_` are skipped, as in bosh) and not all digits.
pub fn identifier_words(formatted: &str) -> Vec<&str> {
    py_split(formatted).into_iter().filter(|w| !py_iskeyword(w) && py_isalnum(w) && !py_isdigit(w)).collect()
}

/// A Python value inside a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    /// `None`.
    None,
    /// `True`/`False`.
    Bool(bool),
    /// An `int`.
    Int(BigInt),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
}

impl Obj {
    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            Obj::None => false,
            Obj::Bool(b) => *b,
            Obj::Int(i) => !i.is_zero(),
            Obj::Float(f) => *f != 0.0,
            Obj::Str(s) => !s.is_empty(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Obj::None => "NoneType",
            Obj::Bool(_) => "bool",
            Obj::Int(_) => "int",
            Obj::Float(_) => "float",
            Obj::Str(_) => "str",
        }
    }

    fn num(&self) -> Option<crate::pyjson::Num> {
        use crate::pyjson::Num;
        match self {
            Obj::Bool(b) => Some(Num::Int(BigInt::from(u8::from(*b)))),
            Obj::Int(i) => Some(Num::Int(i.clone())),
            Obj::Float(f) => Some(Num::Float(*f)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Obj),
    Str(String),
    Name(String),
    Op(&'static str),
}

const OPS: [&str; 21] =
    ["**", "//", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "~", "[", "]", ",", ".", ":"];

fn tokenize(src: &str) -> Result<Vec<Tok>, CondError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' || c == '\x0c' {
            i += 1;
            continue;
        }
        if c == '\n' || c == '\r' {
            return err("a line break inside a condition is a syntax error");
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let (tok, next) = number(&chars, i)?;
            toks.push(tok);
            i = next;
            continue;
        }
        if c == '"' || c == '\'' {
            let (s, next) = string(&chars, i)?;
            // Adjacent string literals concatenate.
            if let Some(Tok::Str(prev)) = toks.last_mut() {
                prev.push_str(&s);
            } else {
                toks.push(Tok::Str(s));
            }
            i = next;
            continue;
        }
        if c == '_' || c.is_alphabetic() {
            let start = i;
            while i < chars.len() && (chars[i] == '_' || chars[i].is_alphanumeric()) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if matches!(chars.get(i), Some('"' | '\'')) {
                return err(format!("string prefix `{word}` is not supported in conditions"));
            }
            toks.push(Tok::Name(word));
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match OPS.iter().find(|op| rest.starts_with(**op)) {
            Some(op) => {
                toks.push(Tok::Op(op));
                i += op.chars().count();
            }
            None => return err(format!("`{c}` is not valid in a condition")),
        }
    }
    Ok(toks)
}

fn number(chars: &[char], start: usize) -> Result<(Tok, usize), CondError> {
    let mut i = start;
    let take_digits = |i: &mut usize, radix: u32| {
        let s = *i;
        while *i < chars.len() && (chars[*i].is_digit(radix) || (chars[*i] == '_' && *i > s)) {
            *i += 1;
        }
        chars[s..*i].iter().filter(|c| **c != '_').collect::<String>()
    };
    if chars[i] == '0' && matches!(chars.get(i + 1), Some('x' | 'X' | 'o' | 'O' | 'b' | 'B')) {
        let radix = match chars[i + 1] {
            'x' | 'X' => 16,
            'o' | 'O' => 8,
            _ => 2,
        };
        i += 2;
        let digits = take_digits(&mut i, radix);
        let v = BigInt::parse_bytes(digits.as_bytes(), radix).ok_or(CondError { message: "invalid number".into() })?;
        return finish_number(chars, i, Tok::Num(Obj::Int(v)));
    }
    let int_part = take_digits(&mut i, 10);
    let mut is_float = false;
    let mut text = int_part.clone();
    if chars.get(i) == Some(&'.') {
        is_float = true;
        i += 1;
        text.push('.');
        text.push_str(&take_digits(&mut i, 10));
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let mut j = i + 1;
        let mut exp = String::from("e");
        if let Some(&s @ ('+' | '-')) = chars.get(j) {
            exp.push(s);
            j += 1;
        }
        if chars.get(j).is_some_and(char::is_ascii_digit) {
            let mut k = j;
            exp.push_str(&take_digits(&mut k, 10));
            text.push_str(&exp);
            is_float = true;
            i = k;
        }
    }
    if is_float {
        let v: f64 = text.parse().map_err(|_| CondError { message: format!("invalid number `{text}`") })?;
        return finish_number(chars, i, Tok::Num(Obj::Float(v)));
    }
    if int_part.len() > 1 && int_part.starts_with('0') && int_part.chars().any(|c| c != '0') {
        return err(format!("`{int_part}`: leading zeros in decimal integer literals are not permitted"));
    }
    let v: BigInt = int_part.parse().map_err(|_| CondError { message: "invalid number".into() })?;
    finish_number(chars, i, Tok::Num(Obj::Int(v)))
}

fn finish_number(chars: &[char], i: usize, tok: Tok) -> Result<(Tok, usize), CondError> {
    match chars.get(i) {
        Some(c) if c.is_alphanumeric() || *c == '_' || *c == '.' => err("invalid decimal literal"),
        _ => Ok((tok, i)),
    }
}

fn string(chars: &[char], start: usize) -> Result<(String, usize), CondError> {
    let q = chars[start];
    let mut i = start + 1;
    let mut out = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == q {
            return Ok((out, i + 1));
        }
        if c == '\n' {
            return err("unterminated string literal in a condition");
        }
        if c == '\\' {
            let Some(&e) = chars.get(i + 1) else { break };
            i += 2;
            match e {
                '\n' => {}
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'v' => out.push('\x0b'),
                '0'..='7' => {
                    let mut v = e.to_digit(8).unwrap_or(0);
                    let mut n = 1;
                    while n < 3 && chars.get(i).is_some_and(|c| c.is_digit(8)) {
                        v = v * 8 + chars[i].to_digit(8).unwrap_or(0);
                        i += 1;
                        n += 1;
                    }
                    out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                }
                'x' | 'u' | 'U' => {
                    let len = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = chars.get(i..i + len).map(|s| s.iter().collect()).unwrap_or_default();
                    let v = u32::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == len)
                        .ok_or(CondError { message: format!("truncated \\{e} escape in a condition") })?;
                    out.push(
                        char::from_u32(v)
                            .ok_or(CondError { message: format!("invalid \\{e} escape in a condition") })?,
                    );
                    i += len;
                }
                'N' => return err("\\N{...} escapes are not supported in conditions"),
                other => {
                    // Python keeps unknown escapes verbatim.
                    out.push('\\');
                    out.push(other);
                }
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    err("unterminated string literal in a condition")
}

struct Eval<'a> {
    toks: &'a [Tok],
    pos: usize,
    resolve: &'a dyn Fn(&str) -> Option<Obj>,
}

impl Eval<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }

    fn is_name(&self, n: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(w)) if w == n)
    }

    fn or_test(&mut self) -> Result<Obj, CondError> {
        let mut v = self.and_test()?;
        while self.is_name("or") {
            self.pos += 1;
            let rhs = self.and_test()?;
            if !v.truthy() {
                v = rhs;
            }
        }
        Ok(v)
    }

    fn and_test(&mut self) -> Result<Obj, CondError> {
        let mut v = self.not_test()?;
        while self.is_name("and") {
            self.pos += 1;
            let rhs = self.not_test()?;
            if v.truthy() {
                v = rhs;
            }
        }
        Ok(v)
    }

    fn not_test(&mut self) -> Result<Obj, CondError> {
        if self.is_name("not") {
            self.pos += 1;
            return Ok(Obj::Bool(!self.not_test()?.truthy()));
        }
        self.comparison()
    }

    fn comp_op(&mut self) -> Option<&'static str> {
        let op = match self.peek()? {
            Tok::Op(o) if ["==", "!=", "<", ">", "<=", ">="].contains(o) => *o,
            Tok::Name(w) if w == "in" => "in",
            Tok::Name(w) if w == "is" => {
                if matches!(self.toks.get(self.pos + 1), Some(Tok::Name(n)) if n == "not") {
                    self.pos += 1;
                    "is not"
                } else {
                    "is"
                }
            }
            Tok::Name(w) if w == "not" && matches!(self.toks.get(self.pos + 1), Some(Tok::Name(n)) if n == "in") => {
                self.pos += 1;
                "not in"
            }
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    fn comparison(&mut self) -> Result<Obj, CondError> {
        let mut left = self.arith()?;
        let mut result: Option<bool> = None;
        while let Some(op) = self.comp_op() {
            let right = self.arith()?;
            if result != Some(false) {
                let r = compare(op, &left, &right)?;
                result = Some(r);
            }
            left = right;
        }
        Ok(match result {
            Some(b) => Obj::Bool(b),
            None => left,
        })
    }

    fn arith(&mut self) -> Result<Obj, CondError> {
        let mut v = self.term()?;
        loop {
            let op = if self.is_op("+") {
                "+"
            } else if self.is_op("-") {
                "-"
            } else {
                return Ok(v);
            };
            self.pos += 1;
            let rhs = self.term()?;
            v = binary(op, &v, &rhs)?;
        }
    }

    fn term(&mut self) -> Result<Obj, CondError> {
        let mut v = self.factor()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op(o @ ("*" | "/" | "//" | "%"))) => *o,
                _ => return Ok(v),
            };
            self.pos += 1;
            let rhs = self.factor()?;
            v = binary(op, &v, &rhs)?;
        }
    }

    fn factor(&mut self) -> Result<Obj, CondError> {
        for op in ["-", "+", "~"] {
            if self.is_op(op) {
                self.pos += 1;
                let v = self.factor()?;
                return unary(op, &v);
            }
        }
        self.power()
    }

    fn power(&mut self) -> Result<Obj, CondError> {
        let base = self.atom()?;
        if self.is_op("**") {
            self.pos += 1;
            let exp = self.factor()?;
            return binary("**", &base, &exp);
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Obj, CondError> {
        let tok = self.peek().cloned().ok_or(CondError { message: "the condition ends too early".into() })?;
        self.pos += 1;
        let v = match tok {
            Tok::Num(n) => n,
            Tok::Str(s) => Obj::Str(s),
            Tok::Name(n) => match n.as_str() {
                "True" => Obj::Bool(true),
                "False" => Obj::Bool(false),
                "None" => Obj::None,
                w if py_iskeyword(w) => return err(format!("unexpected `{w}` in the condition")),
                w => match (self.resolve)(w) {
                    Some(v) => v,
                    None => return err(format!("name `{w}` is not defined (not an input or output id with a value)")),
                },
            },
            Tok::Op("(") => {
                let v = self.or_test()?;
                if !self.is_op(")") {
                    return err("missing `)` in the condition");
                }
                self.pos += 1;
                v
            }
            Tok::Op(o) => return err(format!("unexpected `{o}` in the condition")),
        };
        if let Some(Tok::Op(o @ ("(" | "[" | "."))) = self.peek() {
            return err(format!("`{o}` after a value (calls, indexing, attributes) is not allowed in conditions"));
        }
        Ok(v)
    }
}

fn type_error<T>(op: &str, a: &Obj, b: &Obj) -> Result<T, CondError> {
    err(format!("`{op}` is not supported between {} and {}", a.type_name(), b.type_name()))
}

fn compare(op: &str, a: &Obj, b: &Obj) -> Result<bool, CondError> {
    let eq = || match (a, b) {
        (Obj::Str(x), Obj::Str(y)) => x == y,
        (Obj::None, Obj::None) => true,
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => x.py_eq(&y),
            _ => false,
        },
    };
    let ord = || -> Result<Option<Ordering>, CondError> {
        match (a, b) {
            (Obj::Str(x), Obj::Str(y)) => Ok(Some(x.cmp(y))),
            _ => match (a.num(), b.num()) {
                (Some(x), Some(y)) => Ok(x.py_cmp(&y)),
                _ => type_error(op, a, b),
            },
        }
    };
    Ok(match op {
        "==" => eq(),
        "!=" => !eq(),
        "<" => ord()? == Some(Ordering::Less),
        ">" => ord()? == Some(Ordering::Greater),
        "<=" => matches!(ord()?, Some(Ordering::Less | Ordering::Equal)),
        ">=" => matches!(ord()?, Some(Ordering::Greater | Ordering::Equal)),
        "in" | "not in" => match (a, b) {
            (Obj::Str(x), Obj::Str(y)) => y.contains(x.as_str()) == (op == "in"),
            _ => return err(format!("`in` needs a string on its right, found {}", b.type_name())),
        },
        "is" | "is not" => {
            let same = match (a, b) {
                (Obj::None, Obj::None) => true,
                (Obj::Bool(x), Obj::Bool(y)) => x == y,
                (Obj::None | Obj::Bool(_), _) | (_, Obj::None | Obj::Bool(_)) => false,
                _ => return err("`is` between numbers or strings depends on the interpreter; use `==`"),
            };
            same == (op == "is")
        }
        _ => return err(format!("unknown comparison `{op}`")),
    })
}

fn unary(op: &str, v: &Obj) -> Result<Obj, CondError> {
    use crate::pyjson::Num;
    match (op, v.num()) {
        ("-", Some(Num::Int(i))) => Ok(Obj::Int(-i)),
        ("-", Some(Num::Float(f))) => Ok(Obj::Float(-f)),
        ("+", Some(Num::Int(i))) => Ok(Obj::Int(i)),
        ("+", Some(Num::Float(f))) => Ok(Obj::Float(f)),
        ("~", Some(Num::Int(i))) => Ok(Obj::Int(-i - 1)),
        _ => err(format!("bad operand type for unary `{op}`: {}", v.type_name())),
    }
}

fn binary(op: &str, a: &Obj, b: &Obj) -> Result<Obj, CondError> {
    use crate::pyjson::Num;
    if let (Obj::Str(x), Obj::Str(y)) = (a, b) {
        return if op == "+" { Ok(Obj::Str(format!("{x}{y}"))) } else { type_error(op, a, b) };
    }
    if op == "*" {
        let rep = |s: &str, n: &BigInt| -> Result<Obj, CondError> {
            let n = n.to_i64().unwrap_or(i64::MAX).max(0) as usize;
            if s.len().saturating_mul(n) > 1 << 20 {
                return err("string repetition too large in a condition");
            }
            Ok(Obj::Str(s.repeat(n)))
        };
        match (a, b.num(), a.num(), b) {
            (Obj::Str(s), Some(Num::Int(n)), _, _) => return rep(s, &n),
            (_, _, Some(Num::Int(n)), Obj::Str(s)) => return rep(s, &n),
            _ => {}
        }
    }
    let (Some(x), Some(y)) = (a.num(), b.num()) else { return type_error(op, a, b) };
    match (x, y) {
        (Num::Int(x), Num::Int(y)) => match op {
            "+" => Ok(Obj::Int(x + y)),
            "-" => Ok(Obj::Int(x - y)),
            "*" => Ok(Obj::Int(x * y)),
            "/" => {
                if y.is_zero() {
                    return err("division by zero in a condition");
                }
                Ok(Obj::Float(x.to_f64().unwrap_or(f64::NAN) / y.to_f64().unwrap_or(f64::NAN)))
            }
            "//" | "%" => {
                if y.is_zero() {
                    return err("integer division or modulo by zero in a condition");
                }
                let q = floor_div(&x, &y);
                Ok(Obj::Int(if op == "//" { q } else { x - q * y }))
            }
            "**" => {
                if y.is_negative() {
                    return Ok(Obj::Float(x.to_f64().unwrap_or(f64::NAN).powf(y.to_f64().unwrap_or(f64::NAN))));
                }
                let e =
                    y.to_u32().filter(|e| *e <= 10_000).ok_or(CondError { message: "exponent too large".into() })?;
                Ok(Obj::Int(num_traits::pow(x, e as usize)))
            }
            _ => err(format!("unknown operator `{op}`")),
        },
        (x, y) => {
            let (x, y) = (x.to_f64(), y.to_f64());
            match op {
                "+" => Ok(Obj::Float(x + y)),
                "-" => Ok(Obj::Float(x - y)),
                "*" => Ok(Obj::Float(x * y)),
                "/" if y == 0.0 => err("float division by zero in a condition"),
                "/" => Ok(Obj::Float(x / y)),
                "//" | "%" if y == 0.0 => err("float modulo by zero in a condition"),
                "//" => Ok(Obj::Float((x / y).floor())),
                "%" => {
                    let m = x % y;
                    Ok(Obj::Float(if m != 0.0 && (m < 0.0) != (y < 0.0) { m + y } else { m }))
                }
                "**" => Ok(Obj::Float(x.powf(y))),
                _ => err(format!("unknown operator `{op}`")),
            }
        }
    }
}

fn floor_div(x: &BigInt, y: &BigInt) -> BigInt {
    let q = x / y;
    if (x % y != BigInt::zero()) && ((x.is_negative()) != (y.is_negative())) { q - 1 } else { q }
}

/// Evaluates Python expression source text the way `eval` would for the subset above.
pub fn eval_python(src: &str) -> Result<Obj, CondError> {
    eval_with(src, &|_| None)
}

/// The names (identifiers other than keywords) a condition mentions.
pub fn names(src: &str) -> Result<Vec<String>, CondError> {
    Ok(tokenize(src)?
        .into_iter()
        .filter_map(|t| match t {
            Tok::Name(n) if !py_iskeyword(&n) => Some(n),
            _ => None,
        })
        .collect())
}

/// Evaluates `src`, resolving names other than `True`, `False` and `None` with `resolve`.
pub fn eval_with(src: &str, resolve: &dyn Fn(&str) -> Option<Obj>) -> Result<Obj, CondError> {
    let toks = tokenize(src)?;
    if toks.is_empty() {
        return err("empty condition");
    }
    let mut e = Eval { toks: &toks, pos: 0, resolve };
    let v = e.or_test()?;
    if e.pos != toks.len() {
        return err(format!("invalid syntax in condition `{src}`"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Obj {
        eval_python(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn bosh_format_drops_the_character_after_a_lone_operator() {
        assert_eq!(bosh_format("(opt1>2)").unwrap(), " ( opt1 >  ) ");
        assert_eq!(bosh_format("opt1>=2").unwrap(), "opt1 >=2");
        assert_eq!(bosh_format("a > 2").unwrap(), "a  > 2");
        assert!(bosh_format("a >").is_err());
    }

    #[test]
    fn evaluates_like_python() {
        assert_eq!(ev("3 >=2"), Obj::Bool(true));
        assert_eq!(ev("\"abc\" == \"abc\""), Obj::Bool(true));
        assert_eq!(ev("1 < 2 < 3"), Obj::Bool(true));
        assert_eq!(ev("3 > 2 > 2"), Obj::Bool(false));
        assert_eq!(ev("1 == 1.0"), Obj::Bool(true));
        assert_eq!(ev("True == 1"), Obj::Bool(true));
        assert_eq!(ev("\"True\" == True"), Obj::Bool(false));
        assert_eq!(ev("--5"), Obj::Int(BigInt::from(5)));
        assert_eq!(ev("1-2"), Obj::Int(BigInt::from(-1)));
        assert_eq!(ev("0 or \"x\""), Obj::Str("x".into()));
        assert_eq!(ev("( 1 > 0 ) and ( 2 > 1 )"), Obj::Bool(true));
        assert_eq!(ev("not 1"), Obj::Bool(false));
        assert_eq!(ev("7 // -2"), Obj::Int(BigInt::from(-4)));
        assert_eq!(ev("-7 % 3"), Obj::Int(BigInt::from(2)));
        assert_eq!(ev("\"a\\\"b\" == 'a\"b'"), Obj::Bool(true));
    }

    #[test]
    fn refuses_what_python_would_refuse_or_what_could_run_code() {
        for bad in ["1 >", "\"a\" < 1", "007", "1.2.3", "x == 1", "__import__(\"os\")", "\"a\".upper()", "1abc", ""] {
            assert!(eval_python(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validator_rules_match_bosh() {
        assert!(bosh_validator_accepts("Number >=2").unwrap());
        assert!(!bosh_validator_accepts("Number == \"x\"").unwrap());
        assert!(!bosh_validator_accepts("Number == 1 and String == \"a\"").unwrap());
        assert!(bosh_validator_accepts(" ( Number == 1 ) and ( String == \"a\" ) ").unwrap());
        assert!(!bosh_validator_accepts("not Flag").unwrap());
        assert!(bosh_validator_accepts("Number ==").is_err());
    }
}
