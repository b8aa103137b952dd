//! The handful of Python standard-library behaviours that show up in bosh's output.
//!
//! `float.__repr__`, `shlex.quote`, `str.isdigit`, `repr(str)` and `posixpath`'s
//! `normpath`/`basename`/`abspath` decide characters of the command lines bosh prints, so
//! berth reproduces them exactly. Each function names the CPython behaviour it mirrors.

/// CPython `repr(float)`: the shortest digits that round-trip, in fixed notation when the
/// decimal exponent is in `-4..16` and in exponent notation (`1e+16`, `1.5e-05`) otherwise.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` prints a shortest round-trip digit string, as CPython does, but when two
    // strings of that length round-trip it may not pick the one CPython picks (the nearest,
    // ties to even). The correctly rounded string of the same length is the nearest one;
    // use it whenever it round-trips.
    let shortest = format!("{:e}", f.abs());
    let ndigits = shortest.split_once('e').map_or(1, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let nearest = format!("{:.*e}", ndigits.saturating_sub(1), f.abs());
    let sci = if nearest.parse::<f64>().ok() == Some(f.abs()) { nearest } else { shortest };
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    let body = if exp >= 0 {
        let point = (exp + 1) as usize;
        if digits.len() <= point {
            format!("{digits}{}.0", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    } else {
        format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
    };
    format!("{sign}{body}")
}

/// CPython `shlex.quote`: strings made only of `[A-Za-z0-9_@%+=:,./-]` pass unchanged, the
/// empty string becomes `''`, anything else is wrapped in single quotes with each `'`
/// written as `'"'"'`.
pub fn shlex_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// CPython `str.isdigit`: non-empty and every character a digit. Unicode digits outside
/// ASCII count too in Python; `char::is_numeric` is the closest std predicate.
pub fn py_isdigit(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric()))
}

/// CPython `repr(str)`: single quotes unless the text has a `'` and no `"`.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let v = c as u32;
                if v < 0x100 {
                    out.push_str(&format!("\\x{v:02x}"));
                } else if v < 0x10000 {
                    out.push_str(&format!("\\u{v:04x}"));
                } else {
                    out.push_str(&format!("\\U{v:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// An approximation of CPython's `str.isprintable` for one character: controls, separators
/// other than the space, format characters, surrogates and private-use characters are not.
fn is_printable(c: char) -> bool {
    let v = c as u32;
    !(v < 0x20
        || (0x7f..=0xa0).contains(&v)
        || v == 0xad
        || v == 0x1680
        || (0x2000..=0x200f).contains(&v)
        || (0x2028..=0x202f).contains(&v)
        || (0x205f..=0x2064).contains(&v)
        || v == 0x3000
        || v == 0xfeff
        || (0xe000..=0xf8ff).contains(&v)
        || (0xfff9..=0xfffb).contains(&v)
        || (0xf0000..).contains(&v))
}

/// CPython `posixpath.basename`.
pub fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// CPython `posixpath.normpath`.
pub fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    // POSIX keeps exactly two leading slashes; three or more collapse to one.
    let initial = if p.starts_with("//") && !p.starts_with("///") {
        2
    } else if p.starts_with('/') {
        1
    } else {
        0
    };
    let mut parts: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial == 0 && parts.is_empty()) || parts.last() == Some(&"..") {
            parts.push(comp);
        } else if !parts.is_empty() {
            parts.pop();
        }
    }
    let joined = parts.join("/");
    let out = format!("{}{joined}", "/".repeat(initial));
    if out.is_empty() { ".".into() } else { out }
}

/// CPython `posixpath.abspath`, relative to `cwd`.
pub fn abspath(p: &str, cwd: &str) -> String {
    if p.starts_with('/') { normpath(p) } else { normpath(&format!("{cwd}/{p}")) }
}

/// Whitespace as CPython's `str.split()`/`str.strip()` see it: Unicode whitespace plus the
/// ASCII information separators U+001C..U+001F.
pub fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// CPython `str.split()` without arguments.
pub fn py_split(s: &str) -> Vec<&str> {
    s.split(py_is_space).filter(|w| !w.is_empty()).collect()
}

/// CPython `str.strip()` without arguments.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_is_space)
}

/// CPython `str.isalnum()` (approximated with Unicode alphanumerics; note `_` is not one).
pub fn py_isalnum(s: &str) -> bool {
    !s.is_empty() && s.chars().all(char::is_alphanumeric)
}

/// CPython 3.11 `keyword.iskeyword`.
pub fn py_iskeyword(s: &str) -> bool {
    matches!(
        s,
        "False"
            | "None"
            | "True"
            | "and"
            | "as"
            | "assert"
            | "async"
            | "await"
            | "break"
            | "class"
            | "continue"
            | "def"
            | "del"
            | "elif"
            | "else"
            | "except"
            | "finally"
            | "for"
            | "from"
            | "global"
            | "if"
            | "import"
            | "in"
            | "is"
            | "lambda"
            | "nonlocal"
            | "not"
            | "or"
            | "pass"
            | "raise"
            | "return"
            | "try"
            | "while"
            | "with"
            | "yield"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_cpython() {
        // Pairs printed by CPython 3.11 `repr(float(x))`.
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e20, "1e+20"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1.23e-5, "1.23e-05"),
            (1e-100, "1e-100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (2.5, "2.5"),
            (-3.75, "-3.75"),
            (9999999999999998.0, "9999999999999998.0"),
            (0.30000000000000004, "0.30000000000000004"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(*f), *want, "repr({f:?})");
        }
    }

    #[test]
    fn shlex_quote_matches_cpython() {
        assert_eq!(shlex_quote(""), "''");
        assert_eq!(shlex_quote("abc-1.2/x_y@%+=:,"), "abc-1.2/x_y@%+=:,");
        assert_eq!(shlex_quote("a b"), "'a b'");
        assert_eq!(shlex_quote("it's"), "'it'\"'\"'s'");
        assert_eq!(shlex_quote("é"), "'é'");
        assert_eq!(shlex_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn normpath_matches_cpython() {
        let cases = [
            ("", "."),
            ("a/./b/../c", "a/c"),
            ("/../a", "/a"),
            ("../a/..", ".."),
            ("//a//b/", "//a/b"),
            ("///a", "/a"),
            ("a/..", "."),
            ("./", "."),
            ("../../x", "../../x"),
        ];
        for (p, want) in cases {
            assert_eq!(normpath(p), want, "normpath({p:?})");
        }
        assert_eq!(abspath("x/y", "/w"), "/w/x/y");
        assert_eq!(abspath("/x/../y", "/w"), "/y");
    }

    #[test]
    fn repr_of_strings_matches_cpython() {
        assert_eq!(str_repr("a"), "'a'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(str_repr("tab\there\n"), "'tab\\there\\n'");
        assert_eq!(str_repr("\u{1}"), "'\\x01'");
        assert_eq!(str_repr("é"), "'é'");
    }
}
