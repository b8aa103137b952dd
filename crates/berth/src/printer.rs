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

/// A stored time (RFC 3339, UTC, `2026-12-07T04:30:12.123456Z`) as every table shows it:
/// `2026-12-07 04:30:12` (UTC, to the second). Text that is not such a time is shown as it is.
pub fn time(stored: &str) -> String {
    let seconds = stored.split('.').next().unwrap_or(stored).trim_end_matches('Z');
    match seconds.split_once('T') {
        Some((date, clock)) if date.len() == 10 && clock.len() == 8 => format!("{date} {clock}"),
        _ => stored.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shown_to_the_second_in_utc() {
        assert_eq!(super::time("2026-12-07T04:30:12.123456Z"), "2026-12-07 04:30:12");
        assert_eq!(super::time("2026-12-07T04:30:12Z"), "2026-12-07 04:30:12");
        assert_eq!(super::time("-"), "-");
    }
}
