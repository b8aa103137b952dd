//! Problems found in a descriptor or an invocation, each tied to a JSON pointer.
//!
//! Every check in this crate reports through [`Problem`] so that the CLI, the server and the
//! web form show the same text: where (`/inputs/2/value-choices`), what is wrong, and how to
//! fix it.

use std::fmt;

use serde::Serialize;

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// bosh would also reject this (or crash on it); berth refuses it.
    Error,
    /// bosh accepts this but it is very likely a mistake; `--strict` turns it into an error.
    Warning,
}

/// One problem, located by a JSON pointer into the document it was found in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// A stable identifier of the check, e.g. `flag-without-command-line-flag`.
    pub code: &'static str,
    /// JSON pointer (RFC 6901) of the offending field; empty for the whole document.
    pub pointer: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    /// An error at `pointer`.
    pub fn error(code: &'static str, pointer: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { severity: Severity::Error, code, pointer: pointer.into(), message: message.into(), hint: None }
    }

    /// A warning at `pointer`.
    pub fn warning(code: &'static str, pointer: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem { severity: Severity::Warning, code, pointer: pointer.into(), message: message.into(), hint: None }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ptr = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "{ptr}: {}", self.message)
    }
}

/// Escapes one reference token of a JSON pointer (RFC 6901 §3).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Joins tokens into a JSON pointer.
pub fn pointer<I, T>(tokens: I) -> String
where
    I: IntoIterator<Item = T>,
    T: fmt::Display,
{
    let mut out = String::new();
    for t in tokens {
        out.push('/');
        out.push_str(&escape_token(&t.to_string()));
    }
    out
}

/// A list of problems, errors first in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Whether any problem is an error (warnings count when `strict`).
    pub fn has_errors(&self, strict: bool) -> bool {
        self.0.iter().any(|p| p.is_error() || strict)
    }

    /// The errors (and the warnings, when `strict`).
    pub fn blocking(&self, strict: bool) -> impl Iterator<Item = &Problem> {
        self.0.iter().filter(move |p| p.is_error() || strict)
    }

    /// Adds a problem.
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }

    /// Adds a problem unless an identical one is already listed.
    pub fn push_unique(&mut self, p: Problem) {
        if !self.0.contains(&p) {
            self.0.push(p);
        }
    }

    /// Whether there are no problems at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over all problems.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }

    /// Orders errors before warnings, then by pointer (array indices compared as numbers, so
    /// `/inputs/2` comes before `/inputs/10`); the sort is stable for equal pointers.
    pub fn sort(&mut self) {
        fn key(p: &Problem) -> (Severity, Vec<(u64, String)>) {
            let tokens = p.pointer.split('/').skip(1).map(|t| match t.parse::<u64>() {
                Ok(n) => (n, String::new()),
                Err(_) => (u64::MAX, t.to_string()),
            });
            (p.severity, tokens.collect())
        }
        self.0.sort_by_cached_key(key);
    }
}

impl IntoIterator for Problems {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_tokens() {
        assert_eq!(pointer(["inputs", "0", "a/b~c"]), "/inputs/0/a~1b~0c");
        assert_eq!(pointer(Vec::<String>::new()), "");
    }
}
