//! Writing results to standard output: JSON documents and human sizes. A reader that closes
//! the pipe early ends berth quietly (`main` and `diag::is_closed_pipe`).

use std::io::Write;

pub fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

pub fn human_size(bytes: Option<i64>) -> String {
    match bytes {
        None => "-".to_owned(),
        Some(b) if b < 1_000_000 => format!("{:.1}kB", b as f64 / 1e3),
        Some(b) if b < 1_000_000_000 => format!("{:.1}MB", b as f64 / 1e6),
        Some(b) => format!("{:.2}GB", b as f64 / 1e9),
    }
}
