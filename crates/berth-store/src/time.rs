//! Timestamps as the store writes them: RFC 3339, UTC, milliseconds, `Z` (for example
//! `2025-03-01T12:00:00.123Z`). The fixed width makes text order the same as time order,
//! which the `since` filter and the indexes rely on.

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

/// The current time, formatted as the store writes timestamps.
pub fn now() -> String {
    format(SystemTime::now())
}

/// `t`, formatted as the store writes timestamps.
pub fn format(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A timestamp the store wrote, read back (`None` when it is not one).
pub fn parse(s: &str) -> Option<SystemTime> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| SystemTime::from(t.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn fixed_width_utc_with_milliseconds() {
        assert_eq!(format(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456)), "2023-11-14T22:13:20.123Z");
        assert_eq!(now().len(), 24);
    }
}
