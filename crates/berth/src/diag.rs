//! Rendering of errors, warnings and problem lists for the terminal: `error:` with indented
//! `Caused by:` lines and `hint:` lines, on standard error, in one place for every command.

use std::fmt::Write as _;
use std::io::IsTerminal;

use berth_descriptor::{Problem, Problems, Severity};

/// An error that carries a hint for the user.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    /// What failed.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// The underlying cause.
    #[source]
    pub source: Option<anyhow::Error>,
}

/// A library error with its hint, as the CLI reports it: shown as the error itself, with its
/// own causes after it (`Caused by:`), and the hint at the end. The one bridge from a library
/// error (each has `hint()`) to the terminal: nothing of its chain is cut.
#[derive(Debug)]
pub struct Library {
    inner: Box<dyn std::error::Error + Send + Sync>,
    hint: Option<String>,
}

impl std::fmt::Display for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::error::Error for Library {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// `e` with `hint` (usually `e.hint()`), keeping `e`'s causes.
pub fn library(e: impl std::error::Error + Send + Sync + 'static, hint: Option<String>) -> anyhow::Error {
    anyhow::Error::new(Library { inner: Box::new(e), hint })
}

/// Wraps a message and a hint into an `anyhow::Error`.
pub fn hinted(message: impl Into<String>, hint: impl Into<Option<String>>) -> anyhow::Error {
    anyhow::Error::new(Hinted { message: message.into(), hint: hint.into(), source: None })
}

fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn paint(code: &str, s: &str) -> String {
    if color() { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
}

/// Whether the error is standard output closed by its reader (`EPIPE`), directly or as the
/// cause of a JSON write.
pub fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// Prints an error with its chain of causes and any hint found along the chain.
pub fn print_error(err: &anyhow::Error) {
    let mut out = format!("{} {err}\n", paint("1;31", "error:"));
    let mut hint = None;
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            hint = hint.or(h.hint.clone());
        }
        if let Some(h) = cause.downcast_ref::<Library>() {
            hint = hint.or(h.hint.clone());
        }
    }
    // A cause that only repeats what is already said (a wrapper that displays its source, as
    // `{origin} is not valid JSON: {source}` does) is left out.
    let mut said = vec![err.to_string()];
    for cause in err.chain().skip(1) {
        let line = cause.to_string();
        if said.iter().any(|s| s.contains(&line)) {
            continue;
        }
        let _ = writeln!(out, "  {} {line}", paint("1", "Caused by:"));
        said.push(line);
    }
    if let Some(h) = hint {
        let _ = writeln!(out, "{} {h}", paint("1;36", "hint:"));
    }
    eprint!("{out}");
}

/// Formats one problem: severity, pointer, message, and its hint on the next line.
pub fn format_problem(p: &Problem, strict: bool) -> String {
    let label = match (p.severity, strict) {
        (Severity::Error, _) | (Severity::Warning, true) => paint("1;31", "error:"),
        (Severity::Warning, false) => paint("1;33", "warning:"),
    };
    let ptr = if p.pointer.is_empty() { "/".to_string() } else { p.pointer.clone() };
    let mut s = format!("{label} {}: {}\n", paint("1", &ptr), p.message);
    if let Some(h) = &p.hint {
        let _ = writeln!(s, "  {} {h}", paint("1;36", "hint:"));
    }
    s
}

/// Prints problems to standard error, errors first.
pub fn print_problems(problems: &Problems, strict: bool) {
    let mut out = String::new();
    for p in problems.iter() {
        out.push_str(&format_problem(p, strict));
    }
    eprint!("{out}");
}
