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
}

impl FromIterator<Access> for Trace {
    fn from_iter<T: IntoIterator<Item = Access>>(iter: T) -> Self {
        Self { accesses: iter.into_iter().collect() }
    }
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
    fn a_bad_line_is_reported_with_its_number() {
        let err = parse_trace("{\"op\":\"open\",\"path\":\"/a\",\"ok\":true}\nnot json\n", Path::new("t"))
            .expect_err("line 2 is bad");
        assert!(matches!(err, MinifyError::TraceLine { line: 2, .. }), "{err}");
        let err =
            parse_trace("{\"op\":\"open\",\"path\":\"rel\",\"ok\":true}\n", Path::new("t")).expect_err("relative");
        assert!(err.to_string().contains("not absolute"), "{err}");
    }
}
