//! What is recorded and how it is written: distinct `(op, path, ok)` triples, one JSON
//! object per line, to a temporary file renamed into place at the end.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::Path;

/// How a path was accessed (`op` in the output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// An interpreter the kernel opened during execve (`PT_INTERP`, `#!`).
    Interp,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Exec => "exec",
            Op::Stat => "stat",
            Op::Readlink => "readlink",
            Op::Chdir => "chdir",
            Op::Interp => "interp",
        }
    }
}

/// The distinct accesses seen so far.
#[derive(Debug, Default)]
pub struct Records {
    seen: BTreeSet<(String, Op, bool)>,
}

impl Records {
    /// Note one access.
    pub fn add(&mut self, op: Op, path: String, ok: bool) {
        self.seen.insert((path, op, ok));
    }

    /// Write all accesses, sorted by path, to `output` atomically.
    pub fn write(&self, output: &Path) -> std::io::Result<()> {
        let mut tmp = output.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let mut w = BufWriter::new(std::fs::File::create(&tmp)?);
        for (path, op, ok) in &self.seen {
            writeln!(w, "{{\"op\":\"{}\",\"path\":{},\"ok\":{ok}}}", op.name(), json_string(path))?;
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, output)
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_distinct_sorted_json_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("t.jsonl");
        let mut r = Records::default();
        r.add(Op::Open, "/b".to_owned(), true);
        r.add(Op::Stat, "/a \"q\"\n".to_owned(), false);
        r.add(Op::Open, "/b".to_owned(), true);
        r.write(&out).expect("write");
        let text = std::fs::read_to_string(&out).expect("read");
        assert_eq!(
            text,
            "{\"op\":\"stat\",\"path\":\"/a \\\"q\\\"\\u000a\",\"ok\":false}\n{\"op\":\"open\",\"path\":\"/b\",\"ok\":true}\n"
        );
        assert!(!dir.path().join("t.jsonl.tmp").exists());
    }
}
