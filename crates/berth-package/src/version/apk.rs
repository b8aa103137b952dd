//! Alpine's apk version ordering: digits, letters, `_alpha`/`_beta`/`_pre`/`_rc` (before the
//! release) and `_cvs`/`_svn`/`_git`/`_hg`/`_p` (after it), and `-rN` package revisions.
//!
//! Written by hand after apk-tools' `src/version.c` (`apk_version_compare_blob`), token for
//! token: no crate implements it, and Alpine's ordering differs from dpkg's and rpm's (for
//! example, `1.0_p1` is newer than `1.0` and `1.0_rc1` older). Leading zeros in a component
//! after a dot make it compare as a fraction, as apk does.

use std::cmp::Ordering;

use super::{Scheme, VersionError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    Invalid = -1,
    DigitOrZero = 0,
    Digit = 1,
    Letter = 2,
    Suffix = 3,
    SuffixNo = 4,
    RevisionNo = 5,
    End = 6,
}

const PRE_SUFFIXES: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST_SUFFIXES: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

struct Cursor<'a> {
    s: &'a [u8],
}

impl Cursor<'_> {
    /// `next_token` in version.c: classify what follows, consuming separators.
    fn next_token(&mut self, kind: &mut Token) {
        let mut n = Token::Invalid;
        match self.s.first() {
            None | Some(0) => n = Token::End,
            Some(c) if matches!(kind, Token::Digit | Token::DigitOrZero) && c.is_ascii_lowercase() => {
                n = Token::Letter;
            }
            Some(c) if *kind == Token::Letter && c.is_ascii_digit() => n = Token::Digit,
            Some(c) if *kind == Token::Suffix && c.is_ascii_digit() => n = Token::SuffixNo,
            Some(&c) => {
                match c {
                    b'.' => n = Token::DigitOrZero,
                    b'_' => n = Token::Suffix,
                    b'-' if self.s.get(1) == Some(&b'r') => {
                        n = Token::RevisionNo;
                        self.s = &self.s[1..];
                    }
                    _ => {}
                }
                self.s = &self.s[1..];
            }
        }
        if n < *kind
            && !((n == Token::DigitOrZero && *kind == Token::Digit)
                || (n == Token::Suffix && *kind == Token::SuffixNo)
                || (n == Token::Digit && *kind == Token::Letter))
        {
            n = Token::Invalid;
        }
        *kind = n;
    }

    /// `get_token` in version.c: the value of the token of type `kind`, then the next type.
    fn get_token(&mut self, kind: &mut Token) -> i64 {
        if self.s.is_empty() {
            *kind = Token::End;
            return 0;
        }
        let v: i64;
        let mut i = 0;
        let mut next = Token::Invalid;
        let digits = |s: &[u8], from: usize| {
            let mut i = from;
            let mut v: i64 = 0;
            while i < s.len() && s[i].is_ascii_digit() {
                v = v.saturating_mul(10).saturating_add(i64::from(s[i] - b'0'));
                i += 1;
            }
            (v, i)
        };
        match *kind {
            Token::DigitOrZero if self.s[0] == b'0' => {
                // Leading zeros: "1.01" < "1.1"; the count of zeros makes it smaller.
                while i < self.s.len() && self.s[i] == b'0' {
                    i += 1;
                }
                next = Token::Digit;
                v = -(i as i64);
            }
            Token::DigitOrZero | Token::Digit | Token::SuffixNo | Token::RevisionNo => {
                (v, i) = digits(self.s, 0);
            }
            Token::Letter => {
                v = i64::from(self.s[0]);
                i = 1;
            }
            Token::Suffix => {
                let starts = |word: &str| self.s.starts_with(word.as_bytes());
                if let Some(p) = PRE_SUFFIXES.iter().position(|w| starts(w)) {
                    v = p as i64 - PRE_SUFFIXES.len() as i64;
                    i = PRE_SUFFIXES[p].len();
                } else if let Some(p) = POST_SUFFIXES.iter().position(|w| starts(w)) {
                    v = p as i64;
                    i = POST_SUFFIXES[p].len();
                } else {
                    *kind = Token::Invalid;
                    return -1;
                }
            }
            Token::Invalid | Token::End => {
                *kind = Token::Invalid;
                return -1;
            }
        }
        self.s = &self.s[i..];
        if self.s.is_empty() {
            *kind = Token::End;
        } else if next != Token::Invalid {
            *kind = next;
        } else {
            self.next_token(kind);
        }
        v
    }
}

/// Whether `v` is a version apk accepts.
pub fn is_valid(v: &str) -> bool {
    let mut c = Cursor { s: v.as_bytes() };
    let mut kind = Token::Digit;
    while kind != Token::End {
        c.get_token(&mut kind);
        if kind == Token::Invalid {
            return false;
        }
    }
    true
}

/// Order two apk versions as `apk version -t` does.
pub fn compare(a: &str, b: &str) -> Result<Ordering, VersionError> {
    for v in [a, b] {
        if !is_valid(v) {
            return Err(VersionError {
                scheme: Scheme::Apk,
                version: v.to_owned(),
                problem: "apk versions are digits and dots, one optional letter, `_suffix` tokens and `-rN`".to_owned(),
            });
        }
    }
    let (mut ca, mut cb) = (Cursor { s: a.as_bytes() }, Cursor { s: b.as_bytes() });
    let (mut at, mut bt) = (Token::Digit, Token::Digit);
    let (mut av, mut bv) = (0, 0);
    while at == bt && at != Token::End && at != Token::Invalid && av == bv {
        av = ca.get_token(&mut at);
        bv = cb.get_token(&mut bt);
    }
    match av.cmp(&bv) {
        Ordering::Equal => {}
        other => return Ok(other),
    }
    if at == bt {
        return Ok(Ordering::Equal);
    }
    // Equal so far: the longer version is newer, unless what follows is a pre-release suffix.
    let mut tt = at;
    if at == Token::Suffix && (Cursor { s: ca.s }).get_token(&mut tt) < 0 {
        return Ok(Ordering::Less);
    }
    let mut tt = bt;
    if bt == Token::Suffix && (Cursor { s: cb.s }).get_token(&mut tt) < 0 {
        return Ok(Ordering::Greater);
    }
    Ok(match at.cmp(&bt) {
        Ordering::Greater => Ordering::Less,
        Ordering::Less => Ordering::Greater,
        Ordering::Equal => Ordering::Equal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare(a, b).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Pairs in the style of apk-tools' `test/version.data`, each ordered `a < b`.
    #[test]
    fn apk_orders_versions_as_alpine_does() {
        let less = [
            ("1.0", "1.1"),
            ("2.30", "2.34"),
            ("1.1_alpha1", "1.1_alpha2"),
            ("1.1_alpha9", "1.1_beta1"),
            ("1.1_beta1", "1.1_pre1"),
            ("1.1_pre1", "1.1_rc1"),
            ("1.1_rc1", "1.1"),
            ("1.1", "1.1_cvs1"),
            ("1.1_cvs1", "1.1_svn1"),
            ("1.1_svn1", "1.1_git1"),
            ("1.1_git1", "1.1_hg1"),
            ("1.1_hg1", "1.1_p1"),
            ("3.2_rc1", "3.2"),
            ("1.0", "1.0-r1"),
            ("1.0-r1", "1.0-r2"),
            ("1.0-r9", "1.0-r10"),
            ("1.2.3", "1.2.3a"),
            ("1.2.3a", "1.2.3b"),
            ("1.2.3b", "1.2.4"),
            ("1.01", "1.1"),
            ("1.001", "1.01"),
            ("3.0.8-r0", "3.0.8-r1"),
            ("1.36.1-r2", "1.36.1-r15"),
            ("2.6.4_p20200331-r0", "2.6.4_p20200331-r1"),
            ("1.1.1k-r0", "1.1.1l-r0"),
            ("0.9.8", "1.0.0"),
            ("1.2", "1.2.0"),
        ];
        for (a, b) in less {
            assert_eq!(cmp(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(cmp(b, a), Ordering::Greater, "{b} > {a}");
        }
        assert_eq!(cmp("1.0-r0", "1.0-r0"), Ordering::Equal);
        assert_eq!(cmp("1.0", "1.0"), Ordering::Equal);
    }

    #[test]
    fn invalid_versions_are_refused() {
        assert!(compare("1.0_foo", "1.0").is_err());
        assert!(compare("1.0-x1", "1.0").is_err());
        assert!(is_valid("1.2.3_rc2-r4"));
    }
}
