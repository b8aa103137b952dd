//! What is recorded and how it is written: distinct `(op, path, ok)` triples, one JSON
//! object per line, to a temporary file renamed into place at the end.

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::Path;

/// How a path was accessed: the record format is berth-minify's, which reads the file.
pub use berth_minify::trace::Op;
use berth_minify::trace::{Access, TraceEnd};

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
        self.write_lines(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, output)
    }

    /// Send all accesses, sorted by path, then the end line with their count and the
    /// program's exit status (`berth-trace --socket`): a stream without it is incomplete.
    pub fn send(&self, mut stream: impl Write, exit_status: u8) -> std::io::Result<()> {
        let mut w = BufWriter::new(&mut stream);
        self.write_lines(&mut w)?;
        let end = TraceEnd { end: true, accesses: self.seen.len(), exit_status };
        serde_json::to_writer(&mut w, &end).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        w.flush()
    }

    fn write_lines(&self, w: &mut impl Write) -> std::io::Result<()> {
        for (path, op, ok) in &self.seen {
            let access = Access { op: *op, path: path.clone(), ok: *ok };
            serde_json::to_writer(&mut *w, &access).map_err(std::io::Error::other)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }
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
            "{\"op\":\"stat\",\"path\":\"/a \\\"q\\\"\\n\",\"ok\":false}\n{\"op\":\"open\",\"path\":\"/b\",\"ok\":true}\n"
        );
        assert!(!dir.path().join("t.jsonl.tmp").exists());
    }

    #[test]
    fn a_sent_trace_ends_with_its_count_and_parses_as_complete() {
        let mut r = Records::default();
        r.add(Op::Open, "/b".to_owned(), true);
        r.add(Op::Exec, "/a".to_owned(), true);
        let mut sent = Vec::new();
        r.send(&mut sent, 3).expect("send");
        let got = berth_minify::trace::parse_stream(&String::from_utf8(sent).expect("utf-8"), Path::new("s"))
            .expect("parses");
        assert_eq!(got.trace.accesses.len(), 2);
        assert_eq!(got.end, Some(TraceEnd { end: true, accesses: 2, exit_status: 3 }));
    }
}
