//! Participants and sessions of a BIDS dataset, as BIDS Apps find them: `sub-<label>`
//! directories at the root (ordered by `participants.tsv` when it lists them, else by label),
//! `ses-<label>` directories inside each.

use std::path::{Path, PathBuf};

use crate::PipelineError;

/// A participant and its sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The label, without `sub-`.
    pub label: String,
    /// Session labels, without `ses-`, sorted; empty when the participant has none.
    pub sessions: Vec<String>,
}

/// A BIDS dataset on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Its root (absolute).
    pub root: PathBuf,
    /// Its participants, in dataset order.
    pub participants: Vec<Participant>,
    /// Participants `participants.tsv` lists that have no `sub-<label>` directory (a dataset
    /// shared without every participant's data): reported, since they get no task.
    pub listed_only: Vec<String>,
}

fn labels(dir: &Path, prefix: &str) -> Result<Vec<String>, PipelineError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PipelineError::Read { path: dir.to_owned(), source })?;
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|source| PipelineError::Read { path: dir.to_owned(), source })?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(label) = name.strip_prefix(prefix)
            && !label.is_empty()
            && label.chars().all(|c| c.is_ascii_alphanumeric())
            && e.file_type().map(|t| t.is_dir()).unwrap_or(false)
        {
            out.push(label.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Order from `participants.tsv` (its `participant_id` column), when present.
fn tsv_order(root: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(root.join("participants.tsv")) else { return Vec::new() };
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return Vec::new() };
    let Some(col) = header.split('\t').position(|h| h.trim() == "participant_id") else { return Vec::new() };
    lines
        .filter_map(|l| l.split('\t').nth(col))
        .map(|id| id.trim().strip_prefix("sub-").unwrap_or(id.trim()).to_owned())
        .collect()
}

impl Dataset {
    /// Reads the dataset at `root`.
    pub fn open(root: &Path) -> Result<Dataset, PipelineError> {
        let root = std::path::absolute(root).map_err(|source| PipelineError::Read { path: root.to_owned(), source })?;
        if !root.is_dir() {
            return Err(PipelineError::NoDataset { path: root });
        }
        let mut found = labels(&root, "sub-")?;
        if found.is_empty() {
            return Err(PipelineError::NoParticipants { path: root });
        }
        let order = tsv_order(&root);
        let mut listed_only: Vec<String> = order.iter().filter(|l| !found.contains(l)).cloned().collect();
        listed_only.dedup();
        found.sort_by_key(|l| (order.iter().position(|o| o == l).unwrap_or(usize::MAX), l.clone()));
        let participants = found
            .into_iter()
            .map(|label| {
                let sessions = labels(&root.join(format!("sub-{label}")), "ses-")?;
                Ok(Participant { label, sessions })
            })
            .collect::<Result<_, PipelineError>>()?;
        Ok(Dataset { root, participants, listed_only })
    }

    /// Keeps only the participants named (with or without `sub-`), in the dataset's order.
    /// An unknown label is an error that lists the labels there are.
    pub fn filter(&mut self, wanted: &[String]) -> Result<(), PipelineError> {
        if wanted.is_empty() {
            return Ok(());
        }
        let wanted: Vec<&str> = wanted.iter().map(|w| w.strip_prefix("sub-").unwrap_or(w)).collect();
        let unknown: Vec<String> = wanted
            .iter()
            .filter(|w| !self.participants.iter().any(|p| p.label == **w))
            .map(|w| (*w).to_owned())
            .collect();
        if !unknown.is_empty() {
            return Err(PipelineError::UnknownParticipants {
                unknown,
                known: self.participants.iter().map(|p| p.label.clone()).collect(),
                root: self.root.clone(),
            });
        }
        self.participants.retain(|p| wanted.contains(&p.label.as_str()));
        self.listed_only.clear();
        Ok(())
    }

    /// Keeps only the sessions named (with or without `ses-`), and the participants that have
    /// at least one of them. A label no participant has is an error that lists those there are.
    pub fn filter_sessions(&mut self, wanted: &[String]) -> Result<(), PipelineError> {
        if wanted.is_empty() {
            return Ok(());
        }
        let wanted: Vec<&str> = wanted.iter().map(|w| w.strip_prefix("ses-").unwrap_or(w)).collect();
        let mut known: Vec<String> = self.participants.iter().flat_map(|p| p.sessions.iter().cloned()).collect();
        known.sort();
        known.dedup();
        let unknown: Vec<String> =
            wanted.iter().filter(|w| !known.iter().any(|k| k == *w)).map(|w| (*w).to_owned()).collect();
        if !unknown.is_empty() {
            return Err(PipelineError::UnknownSessions { unknown, known, root: self.root.clone() });
        }
        for p in &mut self.participants {
            p.sessions.retain(|s| wanted.contains(&s.as_str()));
        }
        self.participants.retain(|p| !p.sessions.is_empty());
        self.listed_only.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dataset() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for p in ["sub-10/anat", "sub-02/ses-b/anat", "sub-02/ses-a/anat", "sub-01/anat", "derivatives", "sub-x_y"] {
            std::fs::create_dir_all(d.path().join(p)).unwrap();
        }
        std::fs::write(d.path().join("sub-03"), "a file, not a participant").unwrap();
        d
    }

    #[test]
    fn participants_and_sessions() {
        let d = dataset();
        let ds = Dataset::open(d.path()).unwrap();
        let labels: Vec<_> = ds.participants.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["01", "02", "10"]);
        assert_eq!(ds.participants[1].sessions, ["a", "b"]);
        assert!(ds.participants[0].sessions.is_empty());
    }

    #[test]
    fn participants_tsv_orders() {
        let d = dataset();
        std::fs::write(d.path().join("participants.tsv"), "participant_id\tage\nsub-10\t30\nsub-01\t20\n").unwrap();
        let ds = Dataset::open(d.path()).unwrap();
        let labels: Vec<_> = ds.participants.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["10", "01", "02"]);
    }

    #[test]
    fn filtering_by_label() {
        let d = dataset();
        let mut ds = Dataset::open(d.path()).unwrap();
        ds.filter(&["sub-10".into(), "01".into()]).unwrap();
        let labels: Vec<_> = ds.participants.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["01", "10"]);
        let err = ds.filter(&["07".into()]).unwrap_err().to_string();
        assert!(err.contains("07") && err.contains("01, 10"), "{err}");
    }

    #[test]
    fn participants_listed_without_data_and_session_filters() {
        let d = dataset();
        std::fs::write(d.path().join("participants.tsv"), "participant_id\nsub-01\nsub-04\nsub-02\nsub-05\n").unwrap();
        let mut ds = Dataset::open(d.path()).unwrap();
        assert_eq!(ds.listed_only, ["04", "05"]);
        ds.filter_sessions(&["ses-b".into()]).unwrap();
        let kept: Vec<_> = ds.participants.iter().map(|p| (p.label.as_str(), p.sessions.clone())).collect();
        assert_eq!(kept, [("02", vec!["b".to_string()])]);
        let err = Dataset::open(d.path()).unwrap().filter_sessions(&["c".into()]).unwrap_err().to_string();
        assert!(err.contains("ses-c") || err.contains("\"c\"") || err.contains(" c"), "{err}");
    }

    #[test]
    fn not_a_dataset() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(Dataset::open(d.path()), Err(PipelineError::NoParticipants { .. })));
        assert!(matches!(Dataset::open(&d.path().join("nope")), Err(PipelineError::NoDataset { .. })));
    }
}
