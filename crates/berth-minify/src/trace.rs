//! What a traced run accessed: the JSON-lines file `berth-trace --output` writes, one
//! `{"op":"open","path":"/usr/lib/x86_64-linux-gnu/libc.so.6","ok":true}` per line.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::MinifyError;

/// How a path was accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// open, openat, openat2, creat.
    Open,
    /// execve, execveat.
    Exec,
    /// stat, lstat, newfstatat, statx, access, faccessat, faccessat2.
    Stat,
    /// readlink, readlinkat.
    Readlink,
    /// chdir.
    Chdir,
    /// A program's interpreter the kernel opened itself during execve: an ELF file's
    /// `PT_INTERP` or a script's `#!` line.
    Interp,
}

/// One accessed path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Access {
    /// How.
    pub op: Op,
    /// Absolute, as the process named it (relative paths already resolved against its cwd or
    /// dirfd); symlinks are not resolved.
    pub path: String,
    /// Whether the call succeeded. Failed lookups (a library searched along a path list) are
    /// kept, but say little: the file was not there.
    pub ok: bool,
}

/// Everything a traced run accessed, deduplicated and sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// The accesses.
    pub accesses: BTreeSet<Access>,
}

impl Trace {
    /// The paths accessed successfully, each once.
    pub fn succeeded(&self) -> impl Iterator<Item = &str> {
        let mut seen = BTreeSet::new();
        self.accesses.iter().filter(|a| a.ok).map(|a| a.path.as_str()).filter(move |p| seen.insert(*p))
    }

    /// The paths whose code or data the run used: opened, executed, or loaded by the kernel
    /// as an interpreter, successfully (a `stat` or a failed lookup loads nothing). What
    /// reachability counts.
    pub fn used(&self) -> impl Iterator<Item = &str> {
        self.accesses
            .iter()
            .filter(|a| a.ok && matches!(a.op, Op::Open | Op::Exec | Op::Interp))
            .map(|a| a.path.as_str())
    }
}

impl FromIterator<Access> for Trace {
    fn from_iter<T: IntoIterator<Item = Access>>(iter: T) -> Self {
        Self { accesses: iter.into_iter().collect() }
    }
}

/// The last line `berth-trace --socket` sends: the trace is complete only with it (a tracer
/// killed by the traced program sends none). `{"end":true,"accesses":N,"exit_status":S}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEnd {
    /// Always `true`: marks the line.
    pub end: bool,
    /// How many access lines came before it.
    pub accesses: usize,
    /// The traced program's exit status as berth-trace exits with it.
    pub exit_status: u8,
}

/// A trace received from `berth-trace --socket`: the accesses and, when it came, the end line
/// whose count matches them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// The accesses.
    pub trace: Trace,
    /// The end line, when the stream had one and its count matched.
    pub end: Option<TraceEnd>,
}

/// Parse what `berth-trace --socket` sent: access lines, then an end line. A stream without
/// the end line, or with lines after it, or whose count differs, is incomplete (`end: None`).
pub fn parse_stream(text: &str, path: &Path) -> Result<Received, MinifyError> {
    let mut lines = 0usize;
    let mut accesses = String::new();
    let mut end = None;
    let mut after_end = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if end.is_some() {
            after_end = true;
            break;
        }
        if let Ok(e) = serde_json::from_str::<TraceEnd>(line)
            && e.end
        {
            end = Some(e);
            continue;
        }
        lines += 1;
        accesses.push_str(line);
        accesses.push('\n');
    }
    let trace = parse_trace(&accesses, path)?;
    let end = end.filter(|e| !after_end && e.accesses == lines);
    Ok(Received { trace, end })
}

/// Read a trace written by `berth-trace --output`. Blank lines are skipped; unknown keys are
/// ignored so the tracer may add fields later.
pub fn read_trace(path: &Path) -> Result<Trace, MinifyError> {
    let text = std::fs::read_to_string(path).map_err(MinifyError::io("read", path))?;
    parse_trace(&text, path)
}

/// Parse the text of a trace; `path` names it in errors.
pub fn parse_trace(text: &str, path: &Path) -> Result<Trace, MinifyError> {
    let mut trace = Trace::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let access: Access = serde_json::from_str(line).map_err(|e| MinifyError::TraceLine {
            path: path.to_owned(),
            line: i + 1,
            message: e.to_string(),
        })?;
        if !access.path.starts_with('/') {
            return Err(MinifyError::TraceLine {
                path: path.to_owned(),
                line: i + 1,
                message: format!("path `{}` is not absolute", access.path),
            });
        }
        trace.accesses.insert(access);
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_and_deduplicate() {
        let text = concat!(
            r#"{"op":"open","path":"/lib/x86_64-linux-gnu/libc.so.6","ok":true}"#,
            "\n\n",
            r#"{"op":"stat","path":"/nope","ok":false,"pid":3}"#,
            "\n",
            r#"{"op":"open","path":"/lib/x86_64-linux-gnu/libc.so.6","ok":true}"#,
            "\n",
        );
        let trace = parse_trace(text, Path::new("t")).expect("parses");
        assert_eq!(trace.accesses.len(), 2);
        assert_eq!(trace.succeeded().collect::<Vec<_>>(), ["/lib/x86_64-linux-gnu/libc.so.6"]);
    }

    #[test]
    fn a_streamed_trace_is_complete_only_with_a_matching_end_line() {
        let a = r#"{"op":"open","path":"/a","ok":true}"#;
        let b = r#"{"op":"exec","path":"/b","ok":true}"#;
        let end = |n: usize| format!(r#"{{"end":true,"accesses":{n},"exit_status":0}}"#);
        let got = parse_stream(&format!("{a}\n{b}\n{}\n", end(2)), Path::new("s")).expect("parses");
        assert_eq!(got.trace.accesses.len(), 2);
        assert_eq!(got.end.map(|e| e.accesses), Some(2));
        // Killed before the end, a count that differs, lines after the end: incomplete.
        assert!(parse_stream(&format!("{a}\n{b}\n"), Path::new("s")).expect("parses").end.is_none());
        assert!(parse_stream(&format!("{a}\n{}\n", end(2)), Path::new("s")).expect("parses").end.is_none());
        assert!(parse_stream(&format!("{a}\n{}\n{b}\n", end(1)), Path::new("s")).expect("parses").end.is_none());
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let err = parse_trace("{\"op\":\"open\",\"path\":\"/a\",\"ok\":true}\nnot json\n", Path::new("t"))
            .expect_err("line 2 is bad");
        assert!(matches!(err, MinifyError::TraceLine { line: 2, .. }), "{err}");
        let err =
            parse_trace("{\"op\":\"open\",\"path\":\"rel\",\"ok\":true}\n", Path::new("t")).expect_err("relative");
        assert!(err.to_string().contains("not absolute"), "{err}");
    }
}
