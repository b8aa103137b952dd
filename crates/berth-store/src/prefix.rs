//! Finding a record by its id or a prefix of it: the one lookup for runs and pipeline runs
//! (their ids have the same form), so both accept and refuse the same prefixes and name the
//! same candidates.

use rusqlite::{Transaction, params};

use crate::model::RunId;
use crate::store::{StoreError, sql};

/// Candidates named when a prefix matches several records.
pub(crate) const MAX_CANDIDATES: usize = 10;

/// The tables whose ids can be given by prefix.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Runs,
    PipelineRuns,
}

impl Table {
    fn queries(self) -> (&'static str, &'static str) {
        match self {
            Table::Runs => (
                "SELECT id FROM runs WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3",
                "SELECT COUNT(*) FROM runs WHERE id >= ?1 AND id < ?2",
            ),
            Table::PipelineRuns => (
                "SELECT id FROM pipeline_runs WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3",
                "SELECT COUNT(*) FROM pipeline_runs WHERE id >= ?1 AND id < ?2",
            ),
        }
    }
}

/// The prefix as stored (trimmed, lowercase), or why it cannot name a record.
pub(crate) fn normalize(id_or_prefix: &str) -> Result<String, StoreError> {
    let prefix = id_or_prefix.trim().to_ascii_lowercase();
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(StoreError::InvalidRunId { id: id_or_prefix.to_owned() });
    }
    if prefix.len() < RunId::MIN_PREFIX {
        return Err(StoreError::RunIdTooShort { prefix, minimum: RunId::MIN_PREFIX });
    }
    Ok(prefix)
}

/// The full id in `table` that is `id_or_prefix` or starts with it.
pub(crate) fn resolve(
    tx: &Transaction<'_>,
    table: Table,
    id_or_prefix: &str,
    operation: &'static str,
) -> Result<String, StoreError> {
    let prefix = normalize(id_or_prefix)?;
    let (select, count) = table.queries();
    // Ids hold only [0-9a-f-], all below `~`, so [prefix, prefix + "~") is exactly the ids
    // starting with prefix, and the primary key index answers it.
    let upper = format!("{prefix}~");
    let mut stmt = tx.prepare_cached(select).map_err(sql(operation))?;
    let ids = stmt
        .query_map(params![prefix, upper, MAX_CANDIDATES as i64 + 1], |r| r.get::<_, String>(0))
        .map_err(sql(operation))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql(operation))?;
    match ids.len() {
        0 => Err(StoreError::RunNotFound { id: prefix }),
        1 => Ok(ids.into_iter().next().unwrap_or_default()),
        _ => {
            let total: i64 = tx.query_row(count, params![prefix, upper], |r| r.get(0)).map_err(sql(operation))?;
            let candidates = ids.into_iter().take(MAX_CANDIDATES).collect();
            Err(StoreError::AmbiguousRunId { prefix, candidates, total: usize::try_from(total).unwrap_or(usize::MAX) })
        }
    }
}
