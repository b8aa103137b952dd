//! What the DICOM node received (schema 12): associations, studies, series and instances per
//! project; and what was sent to other nodes (`dicom_sends`). berth-dicom writes an instance's
//! row after its file is durable and before the sender is answered, in one transaction with its
//! series' and study's counters.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::store::{Store, StoreError, sql};
use crate::time;

/// An instance to record, after its file is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDicomInstance<'a> {
    /// The project it was received for.
    pub project: &'a str,
    /// SOP Instance UID.
    pub sop_instance_uid: &'a str,
    /// SOP Class UID.
    pub sop_class_uid: &'a str,
    /// Study Instance UID.
    pub study_uid: &'a str,
    /// Series Instance UID.
    pub series_uid: &'a str,
    /// The transfer syntax it was received (and stored) in.
    pub transfer_syntax: &'a str,
    /// The file, relative to the data root.
    pub path: &'a str,
    /// The data root.
    pub data_root: &'a str,
    /// The file's size in bytes.
    pub size: u64,
    /// The sender's AE title.
    pub calling_ae: &'a str,
    /// The sender's address (`ip:port`).
    pub peer: &'a str,
    /// The association it came on ([`Store::dicom_association_started`]).
    pub association: Option<i64>,
    /// Modality (0008,0060), for the series.
    pub modality: Option<&'a str>,
    /// Series Description (0008,103E).
    pub series_description: Option<&'a str>,
    /// Series Number (0020,0011).
    pub series_number: Option<i64>,
    /// Patient ID (0010,0020), for the study.
    pub patient_id: Option<&'a str>,
    /// Study Date (0008,0020).
    pub study_date: Option<&'a str>,
}

/// A study as listed by [`Store::dicom_studies`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DicomStudy {
    /// The project.
    pub project: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// Patient ID.
    pub patient_id: Option<String>,
    /// Study Date.
    pub study_date: Option<String>,
    /// When its first instance arrived.
    pub first_at: String,
    /// When its last instance arrived.
    pub last_at: String,
    /// Instances received.
    pub instances: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// Its series, by series number then UID.
    pub series: Vec<DicomSeries>,
}

/// A series as listed by [`Store::dicom_studies`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DicomSeries {
    /// Series Instance UID.
    pub series_uid: String,
    /// Modality.
    pub modality: Option<String>,
    /// Series Description.
    pub description: Option<String>,
    /// Series Number.
    pub series_number: Option<i64>,
    /// The AE title that sent its first instance.
    pub calling_ae: String,
    /// When its first instance arrived.
    pub first_at: String,
    /// When its last instance arrived.
    pub last_at: String,
    /// Instances received.
    pub instances: u64,
    /// Bytes stored.
    pub bytes: u64,
}

/// An instance as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DicomInstance {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Transfer syntax.
    pub transfer_syntax: String,
    /// Path relative to the data root.
    pub path: String,
    /// The data root.
    pub data_root: String,
    /// Size in bytes.
    pub size: u64,
    /// When it arrived.
    pub received_at: String,
}

/// A file sent to another node, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDicomSend<'a> {
    /// `AE@host:port`.
    pub destination: &'a str,
    /// Our AE title.
    pub calling_ae: &'a str,
    /// The file.
    pub path: &'a str,
    /// Its SOP Instance UID.
    pub sop_instance_uid: Option<&'a str>,
    /// The status answered (none: no answer).
    pub status: Option<u16>,
    /// Whether it was stored.
    pub ok: bool,
    /// Attempts made.
    pub attempts: u32,
    /// Why it failed.
    pub error: Option<&'a str>,
    /// The run whose output it was.
    pub run_id: Option<&'a str>,
}

/// Totals over every project, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DicomTotals {
    /// Instances recorded.
    pub instances: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Associations accepted.
    pub associations_accepted: u64,
    /// Associations rejected.
    pub associations_rejected: u64,
    /// Files sent and stored by their destination.
    pub sends_ok: u64,
    /// Files whose sending failed.
    pub sends_failed: u64,
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Records an association's start (`outcome` `accepted`, or `rejected` with the reason in
    /// `detail`); returns its id.
    pub fn dicom_association_started(
        &self,
        project: &str,
        calling_ae: &str,
        called_ae: &str,
        peer: &str,
        outcome: &str,
        detail: Option<&str>,
    ) -> Result<i64, StoreError> {
        const OP: &str = "recording a DICOM association";
        let now = time::now();
        let ended = (outcome != "accepted").then(|| now.clone());
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO dicom_associations (project_id, calling_ae, called_ae, peer, started_at, ended_at, outcome, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![project, calling_ae, called_ae, peer, now, ended, outcome, detail],
            )
            .map_err(sql(OP))?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Records how association `id` ended (`released`, `aborted`, `timed out`, ...).
    pub fn dicom_association_ended(&self, id: i64, detail: &str) -> Result<(), StoreError> {
        const OP: &str = "recording the end of a DICOM association";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "UPDATE dicom_associations SET ended_at = ?2, detail = ?3 WHERE id = ?1",
                params![id, now, detail],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Records a received instance, and counts it in its series, its study and its
    /// association, in one transaction. An instance recorded before (same project and SOP
    /// Instance UID: a replaced duplicate) is updated and not counted twice. Returns the time
    /// recorded as its arrival.
    pub fn record_dicom_instance(&self, i: &NewDicomInstance<'_>) -> Result<String, StoreError> {
        const OP: &str = "recording a received DICOM instance";
        let now = time::now();
        let size = i64::try_from(i.size).unwrap_or(i64::MAX);
        self.write(OP, |tx| {
            // Cached statements: the node records every instance it receives.
            let before: Option<i64> = tx
                .prepare_cached("SELECT size FROM dicom_instances WHERE project_id = ?1 AND sop_instance_uid = ?2")
                .and_then(|mut st| st.query_row(params![i.project, i.sop_instance_uid], |r| r.get(0)))
                .optional()
                .map_err(sql(OP))?;
            let (new_count, added_bytes) = match before {
                Some(old) => (0_i64, size - old),
                None => (1, size),
            };
            tx.prepare_cached(
                "INSERT OR REPLACE INTO dicom_instances (project_id, sop_instance_uid, sop_class_uid, study_uid, series_uid,
                   transfer_syntax, path, data_root, size, calling_ae, peer, association_id, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .map_err(sql(OP))?
            .execute(params![
                i.project,
                i.sop_instance_uid,
                i.sop_class_uid,
                i.study_uid,
                i.series_uid,
                i.transfer_syntax,
                i.path,
                i.data_root,
                size,
                i.calling_ae,
                i.peer,
                i.association,
                now
            ])
            .map_err(sql(OP))?;
            tx.prepare_cached(
                "INSERT INTO dicom_studies (project_id, study_uid, patient_id, study_date, first_at, last_at, instances, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)
                 ON CONFLICT (project_id, study_uid) DO UPDATE SET
                   last_at = excluded.last_at, instances = instances + ?6, bytes = bytes + ?7,
                   patient_id = coalesce(patient_id, excluded.patient_id),
                   study_date = coalesce(study_date, excluded.study_date)",
            )
            .map_err(sql(OP))?
            .execute(params![i.project, i.study_uid, i.patient_id, i.study_date, now, new_count, added_bytes])
            .map_err(sql(OP))?;
            tx.prepare_cached(
                "INSERT INTO dicom_series (project_id, series_uid, study_uid, modality, description, series_number,
                   calling_ae, first_at, last_at, instances, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
                 ON CONFLICT (project_id, series_uid) DO UPDATE SET
                   last_at = excluded.last_at, instances = instances + ?9, bytes = bytes + ?10,
                   modality = coalesce(modality, excluded.modality),
                   description = coalesce(description, excluded.description),
                   series_number = coalesce(series_number, excluded.series_number)",
            )
            .map_err(sql(OP))?
            .execute(params![
                i.project,
                i.series_uid,
                i.study_uid,
                i.modality,
                i.series_description,
                i.series_number,
                i.calling_ae,
                now,
                new_count,
                added_bytes
            ])
            .map_err(sql(OP))?;
            if let Some(a) = i.association {
                tx.prepare_cached(
                    "UPDATE dicom_associations SET instances = instances + 1, bytes = bytes + ?2 WHERE id = ?1",
                )
                .map_err(sql(OP))?
                .execute(params![a, size])
                .map_err(sql(OP))?;
            }
            Ok(now.clone())
        })
    }

    /// The instance `sop_instance_uid` of `project`, if one was recorded.
    pub fn dicom_instance(&self, project: &str, sop_instance_uid: &str) -> Result<Option<DicomInstance>, StoreError> {
        const OP: &str = "reading a received DICOM instance";
        self.read(OP, |tx| {
            tx.query_row(
                "SELECT sop_instance_uid, sop_class_uid, series_uid, transfer_syntax, path, data_root, size, received_at
                 FROM dicom_instances WHERE project_id = ?1 AND sop_instance_uid = ?2",
                params![project, sop_instance_uid],
                |r| {
                    Ok(DicomInstance {
                        sop_instance_uid: r.get(0)?,
                        sop_class_uid: r.get(1)?,
                        series_uid: r.get(2)?,
                        transfer_syntax: r.get(3)?,
                        path: r.get(4)?,
                        data_root: r.get(5)?,
                        size: count(r.get(6)?),
                        received_at: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(sql(OP))
        })
    }

    /// The studies received, newest arrival first, with their series; those of `project`
    /// only when given.
    pub fn dicom_studies(&self, project: Option<&str>) -> Result<Vec<DicomStudy>, StoreError> {
        const OP: &str = "listing received DICOM studies";
        self.read(OP, |tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT project_id, study_uid, patient_id, study_date, first_at, last_at, instances, bytes
                     FROM dicom_studies WHERE ?1 IS NULL OR project_id = ?1 ORDER BY last_at DESC, study_uid",
                )
                .map_err(sql(OP))?;
            let mut studies = stmt
                .query_map(params![project], |r| {
                    Ok(DicomStudy {
                        project: r.get(0)?,
                        study_uid: r.get(1)?,
                        patient_id: r.get(2)?,
                        study_date: r.get(3)?,
                        first_at: r.get(4)?,
                        last_at: r.get(5)?,
                        instances: count(r.get(6)?),
                        bytes: count(r.get(7)?),
                        series: Vec::new(),
                    })
                })
                .map_err(sql(OP))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql(OP))?;
            let mut series = tx
                .prepare(
                    "SELECT series_uid, modality, description, series_number, calling_ae, first_at, last_at, instances, bytes
                     FROM dicom_series WHERE project_id = ?1 AND study_uid = ?2
                     ORDER BY series_number IS NULL, series_number, series_uid",
                )
                .map_err(sql(OP))?;
            for s in &mut studies {
                s.series = series
                    .query_map(params![s.project, s.study_uid], |r| {
                        Ok(DicomSeries {
                            series_uid: r.get(0)?,
                            modality: r.get(1)?,
                            description: r.get(2)?,
                            series_number: r.get(3)?,
                            calling_ae: r.get(4)?,
                            first_at: r.get(5)?,
                            last_at: r.get(6)?,
                            instances: count(r.get(7)?),
                            bytes: count(r.get(8)?),
                        })
                    })
                    .map_err(sql(OP))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql(OP))?;
            }
            Ok(studies)
        })
    }

    /// Records a file sent to another node.
    pub fn record_dicom_send(&self, s: &NewDicomSend<'_>) -> Result<(), StoreError> {
        const OP: &str = "recording a DICOM send";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO dicom_sends (destination, calling_ae, path, sop_instance_uid, status, ok, attempts, error, run_id, sent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    s.destination,
                    s.calling_ae,
                    s.path,
                    s.sop_instance_uid,
                    s.status.map(i64::from),
                    i64::from(s.ok),
                    i64::from(s.attempts),
                    s.error,
                    s.run_id,
                    now
                ],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// Totals over every project (instances, bytes, associations accepted and rejected, sends).
    pub fn dicom_totals(&self) -> Result<DicomTotals, StoreError> {
        const OP: &str = "counting received DICOM instances";
        self.read(OP, |tx| {
            let (instances, bytes): (i64, i64) = tx
                .query_row("SELECT count(*), coalesce(sum(size), 0) FROM dicom_instances", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(sql(OP))?;
            let (accepted, rejected): (i64, i64) = tx
                .query_row(
                    "SELECT coalesce(sum(outcome = 'accepted'), 0), coalesce(sum(outcome = 'rejected'), 0)
                     FROM dicom_associations",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql(OP))?;
            let (sends_ok, sends_failed): (i64, i64) = tx
                .query_row("SELECT coalesce(sum(ok = 1), 0), coalesce(sum(ok = 0), 0) FROM dicom_sends", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(sql(OP))?;
            Ok(DicomTotals {
                instances: count(instances),
                bytes: count(bytes),
                associations_accepted: count(accepted),
                associations_rejected: count(rejected),
                sends_ok: count(sends_ok),
                sends_failed: count(sends_failed),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance<'a>(sop: &'a str, series: &'a str, size: u64) -> NewDicomInstance<'a> {
        NewDicomInstance {
            project: "p",
            sop_instance_uid: sop,
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.4",
            study_uid: "1.2.3",
            series_uid: series,
            transfer_syntax: "1.2.840.10008.1.2.1",
            path: "x.dcm",
            data_root: "/data",
            size,
            calling_ae: "SCANNER",
            peer: "127.0.0.1:5000",
            association: None,
            modality: Some("MR"),
            series_description: Some("t1"),
            series_number: Some(2),
            patient_id: Some("P1"),
            study_date: None,
        }
    }

    #[test]
    fn instances_count_into_series_and_studies_once() {
        let t = tempfile::tempdir().expect("tmp");
        let store = Store::open(t.path()).expect("store");
        let a =
            store.dicom_association_started("p", "SCANNER", "BERTH", "127.0.0.1:5000", "accepted", None).expect("a");
        let mut i = instance("1.2.3.4.1", "1.2.3.4", 100);
        i.association = Some(a);
        store.record_dicom_instance(&i).expect("one");
        store.record_dicom_instance(&instance("1.2.3.4.2", "1.2.3.4", 50)).expect("two");
        // A replaced duplicate is not counted again; its size is updated.
        store.record_dicom_instance(&instance("1.2.3.4.2", "1.2.3.4", 60)).expect("replaced");
        store.record_dicom_instance(&instance("1.2.3.5.1", "1.2.3.5", 10)).expect("other series");
        store
            .dicom_association_started("p", "EVIL", "BERTH", "10.0.0.1:1", "rejected", Some("calling AE"))
            .expect("rj");
        let studies = store.dicom_studies(Some("p")).expect("ls");
        assert_eq!(studies.len(), 1);
        assert_eq!((studies[0].instances, studies[0].bytes), (3, 170));
        let series: Vec<_> = studies[0].series.iter().map(|s| (s.series_uid.as_str(), s.instances, s.bytes)).collect();
        assert_eq!(series, vec![("1.2.3.4", 2, 160), ("1.2.3.5", 1, 10)]);
        assert!(store.dicom_studies(Some("q")).expect("ls").is_empty());
        let totals = store.dicom_totals().expect("totals");
        assert_eq!(
            totals,
            DicomTotals {
                instances: 3,
                bytes: 170,
                associations_accepted: 1,
                associations_rejected: 1,
                sends_ok: 0,
                sends_failed: 0
            }
        );
        let send = NewDicomSend {
            destination: "PACS@h:104",
            calling_ae: "BERTH",
            path: "/out/x.dcm",
            sop_instance_uid: Some("1.2"),
            status: Some(0),
            ok: true,
            attempts: 2,
            error: None,
            run_id: None,
        };
        store.record_dicom_send(&send).expect("send");
        store.record_dicom_send(&NewDicomSend { ok: false, status: None, ..send }).expect("failed send");
        let totals = store.dicom_totals().expect("totals");
        assert_eq!((totals.sends_ok, totals.sends_failed), (1, 1));
        assert_eq!(store.dicom_instance("p", "1.2.3.4.2").expect("get").map(|i| i.size), Some(60));
    }
}
