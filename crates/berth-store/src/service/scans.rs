//! Image scans kept by the server (the latest per reference).

use rusqlite::{OptionalExtension, params};

use super::*;
use crate::store::{Store, StoreError, sql};
use crate::time;

impl Store {
    /// Stores a scan report of an image.
    pub fn add_scan(&self, image_ref: &str, image_id: Option<&str>, report_json: &str) -> Result<(), StoreError> {
        const OP: &str = "storing a scan";
        let now = time::now();
        self.write(OP, |tx| {
            tx.execute(
                "INSERT INTO scans (image_ref, image_id, report_json, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![image_ref, image_id, report_json, now],
            )
            .map_err(sql(OP))?;
            Ok(())
        })
    }

    /// The latest scan of an image, if any.
    pub fn latest_scan(&self, image_ref: &str) -> Result<Option<ScanRecord>, StoreError> {
        const OP: &str = "reading a scan";
        self.read(OP, |tx| {
            tx.query_row(
                "SELECT image_ref, image_id, report_json, created_at FROM scans WHERE image_ref = ?1
                 ORDER BY created_at DESC, id DESC LIMIT 1",
                [image_ref],
                |r| {
                    Ok(ScanRecord {
                        image_ref: r.get(0)?,
                        image_id: r.get(1)?,
                        report_json: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(sql(OP))
        })
    }
}
