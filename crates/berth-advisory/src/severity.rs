//! Severities: a distribution's own rating (Debian's urgency, Ubuntu's priority, GitHub's
//! severity) first, a CVSS vector's score (v2, v3.0, v3.1, v4.0, scored by the `cvss` crate) as
//! fallback. Both are kept, so reports can say where a severity came from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A severity on one scale for every source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// No rating known.
    Unknown,
    /// The distribution judges it not worth fixing (Debian `unimportant`, Ubuntu `negligible`).
    Negligible,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Negligible => "negligible",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// A distribution's or database's rating word: Debian urgencies (`low**` notes a guess,
    /// `unimportant`), Ubuntu priorities, GitHub's `MODERATE`. `None` for "not yet assigned".
    pub fn from_rating(word: &str) -> Option<Self> {
        let w = word.trim().trim_end_matches('*').to_ascii_lowercase();
        Some(match w.as_str() {
            "unimportant" | "negligible" => Self::Negligible,
            "low" => Self::Low,
            "medium" | "moderate" => Self::Medium,
            "high" | "important" => Self::High,
            "critical" => Self::Critical,
            _ => return None,
        })
    }

    /// The CVSS qualitative rating of a base score (the same bands in v3 and v4; v2 has no
    /// "critical", but its scores use the v3 bands here so that one scale serves all).
    pub fn from_score(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Self::Critical,
            s if s >= 7.0 => Self::High,
            s if s >= 4.0 => Self::Medium,
            s if s > 0.0 => Self::Low,
            _ => Self::Negligible,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("unknown") {
            return Ok(Self::Unknown);
        }
        Self::from_rating(s).ok_or_else(|| {
            format!("unknown severity `{s}`: expected `negligible`, `low`, `medium`, `high` or `critical`")
        })
    }
}

/// A CVSS vector and what it scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvssScore {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4` (OSV's names).
    pub kind: String,
    /// The vector.
    pub vector: String,
    /// The base score, when the vector parses.
    pub score: Option<f64>,
}

impl CvssScore {
    /// Score a vector of any CVSS version.
    pub fn new(kind: &str, vector: &str) -> Self {
        let score = cvss::Cvss::from_str(vector.trim()).ok().map(|c| (c.score() * 10.0).round() / 10.0);
        Self { kind: kind.to_owned(), vector: vector.to_owned(), score }
    }

    /// Its severity band.
    pub fn severity(&self) -> Option<Severity> {
        self.score.map(Severity::from_score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_of_every_cvss_version_are_scored() {
        let v31 = CvssScore::new("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
        assert_eq!((v31.score, v31.severity()), (Some(9.8), Some(Severity::Critical)));
        let v2 = CvssScore::new("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P");
        assert_eq!(v2.score, Some(7.5));
        let v4 = CvssScore::new("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N");
        assert_eq!((v4.score, v4.severity()), (Some(9.3), Some(Severity::Critical)));
        assert_eq!(CvssScore::new("CVSS_V3", "garbage").score, None);
    }

    #[test]
    fn distribution_ratings_map_onto_one_scale() {
        assert_eq!(Severity::from_rating("unimportant"), Some(Severity::Negligible));
        assert_eq!(Severity::from_rating("low**"), Some(Severity::Low));
        assert_eq!(Severity::from_rating("MODERATE"), Some(Severity::Medium));
        assert_eq!(Severity::from_rating("not yet assigned"), None);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Negligible);
    }
}
