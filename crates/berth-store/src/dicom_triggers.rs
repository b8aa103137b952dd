//! What the DICOM automation rules decided (schema 13): the series and studies received that
//! are not yet triggered for a rule, and the triggers, each written in the same transaction as
//! the launch it queued, so that a restart never launches one twice. A rule starting a pipeline
//! (schema 14) writes its trigger first and then the pipeline run it started.

use rusqlite::{Row, params};
use serde::Serialize;

use crate::service::{NewLaunch, insert_launches};
use crate::store::{Store, StoreError, sql};
use crate::time;

/// `series` or `study`: what a rule waits for.
pub const SCOPES: [&str; 2] = ["series", "study"];

/// A received series not yet triggered for a rule, with its study's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DicomArrivedSeries {
    /// Series Instance UID.
    pub series_uid: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// Modality.
    pub modality: Option<String>,
    /// Series Description.
    pub description: Option<String>,
    /// The AE title that sent its first instance.
    pub calling_ae: String,
    /// When its last instance arrived.
    pub last_at: String,
    /// Its instances.
    pub instances: u64,
    /// When its study's last instance arrived.
    pub study_last_at: String,
    /// Its study's instances.
    pub study_instances: u64,
    /// The data root its instances were written under.
    pub data_root: String,
}

/// A trigger to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDicomTrigger<'a> {
    /// The project.
    pub project: &'a str,
    /// The rule's name.
    pub rule: &'a str,
    /// `series` or `study`.
    pub scope: &'a str,
    /// The Series (or Study) Instance UID.
    pub uid: &'a str,
    /// Its study.
    pub study_uid: &'a str,
    /// The directory bound to the rule's input.
    pub directory: &'a str,
    /// Instances it had when it completed.
    pub instances: u64,
    /// Who the launch is made as.
    pub as_user: &'a str,
    /// Why no launch was queued.
    pub error: Option<&'a str>,
}

/// A recorded trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DicomTrigger {
    /// The rule's name.
    pub rule: String,
    /// `series` or `study`.
    pub scope: String,
    /// The Series (or Study) Instance UID.
    pub uid: String,
    /// Its study.
    pub study_uid: String,
    /// The directory bound to the rule's input.
    pub directory: String,
    /// Instances it had when it completed.
    pub instances: u64,
    /// When.
    pub triggered_at: String,
    /// Who the launch was made as.
    pub as_user: String,
    /// The launch queued.
    pub launch_id: Option<String>,
    /// The pipeline run started (a rule with `pipeline`).
    pub pipeline_run_id: Option<String>,
    /// Why none was.
    pub error: Option<String>,
    /// What sending the run's results back did (none: not yet, or no `send_to`).
    pub results: Option<String>,
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn arrived(r: &Row<'_>) -> rusqlite::Result<DicomArrivedSeries> {
    Ok(DicomArrivedSeries {
        series_uid: r.get(0)?,
        study_uid: r.get(1)?,
        modality: r.get(2)?,
        description: r.get(3)?,
        calling_ae: r.get(4)?,
        last_at: r.get(5)?,
        instances: count(r.get(6)?),
        study_last_at: r.get(7)?,
        study_instances: count(r.get(8)?),
        data_root: r.get(9)?,
    })
}

fn trigger(r: &Row<'_>) -> rusqlite::Result<DicomTrigger> {
    Ok(DicomTrigger {
        rule: r.get(0)?,
        scope: r.get(1)?,
        uid: r.get(2)?,
        study_uid: r.get(3)?,
        directory: r.get(4)?,
        instances: count(r.get(5)?),
        triggered_at: r.get(6)?,
        as_user: r.get(7)?,
        launch_id: r.get(8)?,
        error: r.get(9)?,
        results: r.get(10)?,
        pipeline_run_id: r.get(11)?,
    })
}

impl Store {
    /// The series of `project` that `rule` has not triggered on: for `scope` `series`, the
    /// series not triggered themselves; for `study`, every series of the studies not triggered.
    pub fn dicom_untriggered_series(
        &self,
        project: &str,
        rule: &str,
        scope: &str,
    ) -> Result<Vec<DicomArrivedSeries>, StoreError> {
        const OP: &str = "reading the DICOM series not yet triggered";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT s.series_uid, s.study_uid, s.modality, s.description, s.calling_ae, s.last_at, s.instances,
                            st.last_at, st.instances,
                            (SELECT i.data_root FROM dicom_instances i
                              WHERE i.project_id = s.project_id AND i.series_uid = s.series_uid LIMIT 1)
                     FROM dicom_series s
                     JOIN dicom_studies st ON st.project_id = s.project_id AND st.study_uid = s.study_uid
                     WHERE s.project_id = ?1
                       AND NOT EXISTS (SELECT 1 FROM dicom_triggers t
                                       WHERE t.project_id = s.project_id AND t.rule = ?2 AND t.scope = ?3
                                         AND t.uid = CASE ?3 WHEN 'study' THEN s.study_uid ELSE s.series_uid END)
                       AND EXISTS (SELECT 1 FROM dicom_instances i
                                   WHERE i.project_id = s.project_id AND i.series_uid = s.series_uid)
                     ORDER BY s.study_uid, s.series_uid",
                )
                .map_err(sql(OP))?;
            let rows = stmt.query_map(params![project, rule, scope], arrived).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// Records a rule's trigger and queues its launch (when there is one) in one transaction.
    /// Returns false, and queues nothing, when the rule had triggered on it already.
    pub fn record_dicom_trigger(
        &self,
        t: &NewDicomTrigger<'_>,
        launch: Option<&NewLaunch>,
    ) -> Result<bool, StoreError> {
        const OP: &str = "recording a DICOM rule's trigger";
        let now = time::now();
        self.write(OP, |tx| {
            let added = tx
                .execute(
                    "INSERT OR IGNORE INTO dicom_triggers (project_id, rule, scope, uid, study_uid, directory, instances,
                       triggered_at, as_user, launch_id, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        t.project,
                        t.rule,
                        t.scope,
                        t.uid,
                        t.study_uid,
                        t.directory,
                        i64::try_from(t.instances).unwrap_or(i64::MAX),
                        now,
                        t.as_user,
                        launch.map(|l| l.id.as_str()),
                        t.error
                    ],
                )
                .map_err(sql(OP))?;
            if added == 0 {
                return Ok(false);
            }
            if let Some(l) = launch {
                insert_launches(tx, std::slice::from_ref(l))?;
            }
            Ok(true)
        })
    }

    /// The triggers of `project`, newest first.
    pub fn dicom_triggers(&self, project: &str) -> Result<Vec<DicomTrigger>, StoreError> {
        const OP: &str = "reading DICOM rule triggers";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT rule, scope, uid, study_uid, directory, instances, triggered_at, as_user, launch_id, error,
                            results, pipeline_run_id
                     FROM dicom_triggers WHERE project_id = ?1 ORDER BY triggered_at DESC, uid",
                )
                .map_err(sql(OP))?;
            let rows = stmt.query_map(params![project], trigger).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// The triggers of `rule` in `project` with a launch whose results are not dealt with yet.
    pub fn dicom_triggers_awaiting_results(&self, project: &str, rule: &str) -> Result<Vec<DicomTrigger>, StoreError> {
        const OP: &str = "reading DICOM rule triggers awaiting results";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT rule, scope, uid, study_uid, directory, instances, triggered_at, as_user, launch_id, error,
                            results, pipeline_run_id
                     FROM dicom_triggers
                     WHERE project_id = ?1 AND rule = ?2 AND (launch_id IS NOT NULL OR pipeline_run_id IS NOT NULL) AND results IS NULL
                     ORDER BY triggered_at, uid",
                )
                .map_err(sql(OP))?;
            let rows = stmt.query_map(params![project, rule], trigger).map_err(sql(OP))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql(OP))
        })
    }

    /// Sets what starting a rule's pipeline gave on its trigger (recorded first, with
    /// [`Store::record_dicom_trigger`] and no launch): the pipeline run's id, or why it was
    /// refused.
    pub fn set_dicom_trigger_pipeline(
        &self,
        project: &str,
        rule: &str,
        scope: &str,
        uid: &str,
        started: Result<&str, &str>,
    ) -> Result<(), StoreError> {
        const OP: &str = "recording a DICOM rule's pipeline run";
        let (run, error) = match started {
            Ok(id) => (Some(id), None),
            Err(e) => (None, Some(e)),
        };
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE dicom_triggers SET pipeline_run_id = ?5, error = ?6
                 WHERE project_id = ?1 AND rule = ?2 AND scope = ?3 AND uid = ?4",
                params![project, rule, scope, uid, run, error],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Records what sending a trigger's results did.
    pub fn set_dicom_trigger_results(
        &self,
        project: &str,
        rule: &str,
        scope: &str,
        uid: &str,
        results: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "recording a DICOM rule's results";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE dicom_triggers SET results = ?5, results_at = ?6
                 WHERE project_id = ?1 AND rule = ?2 AND scope = ?3 AND uid = ?4",
                params![project, rule, scope, uid, results, now],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }
}
