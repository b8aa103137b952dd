//! The durable launch queue: queued, claimed by a worker (with its process, so a restarted
//! server tells a dead claim from a live one), linked to its run, settled.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};

use super::*;
use crate::model::RunId;
use crate::store::{Store, StoreError, sql};
use crate::time;

const ENQUEUE: &str = "queueing launches";

/// Queues launches inside a transaction the caller holds (a DICOM rule's trigger is written in
/// the same one as its launch).
pub(crate) fn insert_launches(tx: &Transaction<'_>, launches: &[NewLaunch]) -> Result<Vec<String>, StoreError> {
    const OP: &str = ENQUEUE;
    let now = time::now();
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO launches (id, project_id, user_name, tool_name, tool_version, invocation_json,
                 bulk_id, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8)",
        )
        .map_err(sql(OP))?;
    let mut ids = Vec::with_capacity(launches.len());
    for l in launches {
        let id = l.id.clone();
        stmt.execute(params![
            id,
            l.project_id,
            l.user_name,
            l.tool_name,
            l.tool_version,
            l.invocation_json,
            l.bulk_id,
            now
        ])
        .map_err(sql(OP))?;
        ids.push(id);
    }
    Ok(ids)
}

impl Store {
    /// Queues launches, all or none; returns their ids in order.
    pub fn enqueue_launches(&self, launches: &[NewLaunch]) -> Result<Vec<String>, StoreError> {
        self.write(ENQUEUE, |tx| insert_launches(tx, launches))
    }

    /// Takes the oldest queued launch for the process `owner` (host, pid, start time).
    pub fn claim_launch(&self, owner: (&str, u32, Option<&str>)) -> Result<Option<Launch>, StoreError> {
        const OP: &str = "claiming a launch";
        let now = time::now();
        self.write(OP, |tx| {
            let id: Option<String> = tx
                .query_row("SELECT id FROM launches WHERE state = 'queued' ORDER BY created_at, id LIMIT 1", [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(sql(OP))?;
            let Some(id) = id else { return Ok(None) };
            tx.execute(
                "UPDATE launches SET state = 'claimed', attempts = attempts + 1, claimed_at = ?2,
                     claimed_by_host = ?3, claimed_by_pid = ?4, claimed_by_start = ?5
                 WHERE id = ?1",
                params![id, now, owner.0, owner.1, owner.2],
            )
            .map_err(sql(OP))?;
            get_launch(tx, &id, OP).map(Some)
        })
    }

    /// Records the run a worker created for a launch.
    pub fn set_launch_run(&self, id: &str, run_id: &RunId) -> Result<(), StoreError> {
        const OP: &str = "linking a launch to its run";
        self.write(OP, |tx| {
            tx.execute("UPDATE launches SET run_id = ?2 WHERE id = ?1", params![id, run_id.as_str()])
                .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Ends a launch: `done` (its run is over), `failed` (with why) or `cancelled`.
    pub fn finish_launch(&self, id: &str, state: LaunchState, error: Option<&str>) -> Result<(), StoreError> {
        const OP: &str = "finishing a launch";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE launches SET state = ?2, error = COALESCE(?3, error), finished_at = COALESCE(finished_at, ?4)
                 WHERE id = ?1 AND state IN ('queued', 'claimed')",
                params![id, state.as_str(), error, now],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Asks for a launch to be stopped: a queued one is cancelled at once (returns `true`); a
    /// claimed one is flagged for its worker (returns `false`).
    pub fn request_cancel(&self, id: &str) -> Result<bool, StoreError> {
        const OP: &str = "cancelling a launch";
        let now = time::now();
        self.write(OP, |tx| {
            let n = tx
                .execute(
                    "UPDATE launches SET state = 'cancelled', cancel_requested = 1, finished_at = ?2,
                         error = 'cancelled before it started'
                     WHERE id = ?1 AND state = 'queued'",
                    params![id, now],
                )
                .map_err(sql(OP))?;
            if n > 0 {
                return Ok(true);
            }
            tx.execute("UPDATE launches SET cancel_requested = 1 WHERE id = ?1", [id]).map_err(sql(OP))?;
            Ok(false)
        })
    }

    /// One launch by id, or by the id of its run.
    pub fn get_launch(&self, id: &str) -> Result<Launch, StoreError> {
        const OP: &str = "reading a launch";
        self.read(OP, |tx| get_launch(tx, id, OP))
    }

    /// Launches matching `filter`, newest first, and how many match in all.
    pub fn list_launches(&self, filter: &LaunchFilter) -> Result<(Vec<Launch>, u64), StoreError> {
        const OP: &str = "listing launches";
        let mut conditions = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(projects) = &filter.projects {
            if projects.is_empty() {
                return Ok((Vec::new(), 0));
            }
            let mut marks = Vec::new();
            for p in projects {
                values.push(Value::Text(p.clone()));
                marks.push(format!("?{}", values.len()));
            }
            conditions.push(format!("l.project_id IN ({})", marks.join(", ")));
        }
        if let Some(status) = &filter.status {
            values.push(Value::Text(status.clone()));
            conditions.push(format!("{STATUS_SQL} = ?{}", values.len()));
        }
        if let Some(tool) = &filter.tool {
            values.push(Value::Text(tool.clone()));
            conditions.push(format!("l.tool_name = ?{}", values.len()));
        }
        if let Some(bulk) = &filter.bulk_id {
            values.push(Value::Text(bulk.clone()));
            conditions.push(format!("l.bulk_id = ?{}", values.len()));
        }
        let filter_sql =
            if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
        self.read(OP, |tx| {
            let total: i64 = tx
                .query_row(&format!("SELECT count(*) FROM {LAUNCH_FROM}{filter_sql}"), params_from_iter(values.iter()), |r| {
                    r.get(0)
                })
                .map_err(sql(OP))?;
            let mut page = values.clone();
            page.push(Value::Integer(i64::from(filter.limit)));
            page.push(Value::Integer(i64::from(filter.offset)));
            let query = format!(
                "SELECT {LAUNCH_COLUMNS}, {STATUS_SQL} AS display_status FROM {LAUNCH_FROM}{filter_sql} ORDER BY l.created_at DESC, l.id DESC LIMIT ?{} OFFSET ?{}",
                page.len() - 1,
                page.len()
            );
            let mut stmt = tx.prepare(&query).map_err(sql(OP))?;
            let rows = stmt.query_map(params_from_iter(page), launch_from_row).map_err(sql(OP))?;
            let list = rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))?;
            Ok((list, u64::try_from(total).unwrap_or(0)))
        })
    }

    /// Launches that are claimed: a restarted server checks each one's owner.
    pub fn claimed_launches(&self) -> Result<Vec<Launch>, StoreError> {
        const OP: &str = "listing claimed launches";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {LAUNCH_COLUMNS}, {STATUS_SQL} AS display_status FROM {LAUNCH_FROM} WHERE l.state = 'claimed' ORDER BY l.created_at"
                ))
                .map_err(sql(OP))?;
            let rows = stmt.query_map([], launch_from_row).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// Puts a claimed launch whose worker died back in the queue. A run it had made (that
    /// never started a container) keeps its record but is no longer linked to the launch.
    pub fn requeue_launch(&self, id: &str) -> Result<(), StoreError> {
        const OP: &str = "requeueing a launch";
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE run_labels SET key = 'berth.launch-previous' WHERE key = ?1 AND value = ?2",
                params![LAUNCH_LABEL, id],
            )
            .map_err(sql(OP))?;
            tx.execute(
                "UPDATE launches SET state = 'queued', run_id = NULL, claimed_by_host = NULL, claimed_by_pid = NULL,
                     claimed_by_start = NULL WHERE id = ?1 AND state = 'claimed'",
                [id],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// The run labelled `key=value`, newest first (a launch's run by [`LAUNCH_LABEL`]).
    pub fn run_by_label(&self, key: &str, value: &str) -> Result<Option<RunId>, StoreError> {
        const OP: &str = "finding a run by label";
        self.read(OP, |tx| {
            tx.query_row(
                "SELECT r.id FROM run_labels l JOIN runs r ON r.id = l.run_id WHERE l.key = ?1 AND l.value = ?2
                 ORDER BY r.created_at DESC LIMIT 1",
                params![key, value],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(sql(OP))
            .map(|id| id.map(RunId::from_stored))
        })
    }

    /// Marks claimed launches whose run is over as `done`; returns how many.
    pub fn settle_launches(&self) -> Result<usize, StoreError> {
        const OP: &str = "settling launches";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE launches SET state = 'done', finished_at = COALESCE(finished_at, ?1)
                 WHERE state = 'claimed' AND id IN
                     (SELECT lb.value FROM run_labels lb JOIN runs r ON r.id = lb.run_id
                      WHERE lb.key = 'berth.launch' AND r.status IN ('succeeded', 'failed', 'cancelled'))",
                [now],
            )
            .map_err(sql(OP))
        })
    }

    /// How many launches are in each displayed status.
    pub fn launch_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        const OP: &str = "counting launches";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(&format!("SELECT {STATUS_SQL} AS s, count(*) FROM {LAUNCH_FROM} GROUP BY s"))
                .map_err(sql(OP))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0))))
                .map_err(sql(OP))?;
            rows.collect::<Result<BTreeMap<_, _>, _>>().map_err(sql(OP))
        })
    }
}

const LAUNCH_COLUMNS: &str = "l.id, l.project_id, l.user_name, l.tool_name, l.tool_version, l.invocation_json,
     l.bulk_id, l.state, l.run_id, l.error, l.attempts, l.cancel_requested, l.created_at, l.claimed_at,
     l.finished_at, l.claimed_by_host, l.claimed_by_pid, l.claimed_by_start, r.id AS linked_run, r.status AS run_status,
     r.exit_code, r.container_id";

/// A launch's run: the one recorded, else the newest run labelled with the launch (a worker
/// labels the run when it creates it, before the launch records it; run ids sort by time).
const LAUNCH_FROM: &str = "launches l LEFT JOIN runs r ON r.id = COALESCE(l.run_id,
     (SELECT lb.run_id FROM run_labels lb WHERE lb.key = 'berth.launch' AND lb.value = l.id ORDER BY lb.run_id DESC LIMIT 1))";

/// The SQL for a launch's displayed status ([`Launch::status`]): the one definition, used for
/// reading, filtering and counting.
const STATUS_SQL: &str = "CASE WHEN l.state = 'queued' THEN 'queued' ELSE COALESCE(r.status, CASE l.state
     WHEN 'claimed' THEN 'starting' WHEN 'done' THEN 'succeeded' ELSE l.state END) END";

fn launch_from_row(r: &Row<'_>) -> rusqlite::Result<Launch> {
    let state: String = r.get("state")?;
    let status: Option<String> = r.get("run_status")?;
    let host: Option<String> = r.get("claimed_by_host")?;
    let pid: Option<i64> = r.get("claimed_by_pid")?;
    Ok(Launch {
        id: r.get("id")?,
        project_id: r.get("project_id")?,
        user_name: r.get("user_name")?,
        tool_name: r.get("tool_name")?,
        tool_version: r.get("tool_version")?,
        invocation_json: r.get("invocation_json")?,
        bulk_id: r.get("bulk_id")?,
        state: LaunchState::parse(&state),
        run_id: r.get("linked_run")?,
        error: r.get("error")?,
        attempts: r.get("attempts")?,
        cancel_requested: r.get::<_, i64>("cancel_requested")? != 0,
        created_at: r.get("created_at")?,
        claimed_at: r.get("claimed_at")?,
        finished_at: r.get("finished_at")?,
        run_status: status.and_then(|s| s.parse().ok()),
        exit_code: r.get("exit_code")?,
        container_id: r.get("container_id")?,
        display_status: r.get("display_status")?,
        claimed_by: host
            .zip(pid)
            .map(|(h, p)| (h, u32::try_from(p).unwrap_or(0), r.get("claimed_by_start").ok().flatten())),
    })
}

fn get_launch(tx: &Transaction<'_>, id: &str, op: &'static str) -> Result<Launch, StoreError> {
    tx.query_row(
        &format!("SELECT {LAUNCH_COLUMNS}, {STATUS_SQL} AS display_status FROM {LAUNCH_FROM} WHERE l.id = ?1 OR l.run_id = ?1 LIMIT 1"),
        [id],
        launch_from_row,
    )
    .optional()
    .map_err(sql(op))?
    .ok_or_else(|| StoreError::NotFound { kind: "run", name: id.to_owned() })
}

/// Whether two RFC 3339 times (as [`time::now`] writes them) are a minute or more apart.
pub(super) fn minutes_apart(earlier: &str, later: &str) -> bool {
    // Same format and zone: comparing the text up to the minute is enough.
    earlier.get(..16) != later.get(..16)
}
