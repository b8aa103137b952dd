//! Where arrivals are recorded: the narrow interface the SCP writes through, implemented by
//! berth-store's [`Store`] and, in tests, by [`Recording`], which keeps what it was given.

use std::sync::Mutex;

use berth_store::{NewDicomInstance, Store, StoreError};

/// An instance whose file is durable, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Transfer syntax.
    pub transfer_syntax: String,
    /// Path relative to the data root.
    pub path: String,
    /// Size of the file.
    pub size: u64,
    /// Modality.
    pub modality: Option<String>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Series Number.
    pub series_number: Option<i64>,
    /// Patient ID.
    pub patient_id: Option<String>,
    /// Study Date.
    pub study_date: Option<String>,
}

/// Who an association is, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The project.
    pub project: String,
    /// The data root instances go to.
    pub data_root: String,
    /// The calling AE title.
    pub calling_ae: String,
    /// The called AE title.
    pub called_ae: String,
    /// `ip:port`.
    pub address: String,
}

/// Records associations and arrivals.
pub trait Recorder: Send + Sync {
    /// An association began (`accepted`) or was refused (`rejected`, with why); its id.
    fn association(&self, peer: &Peer, outcome: &str, detail: Option<&str>) -> Result<i64, StoreError>;
    /// An association ended (`released`, `aborted`, ...).
    fn association_ended(&self, id: i64, detail: &str) -> Result<(), StoreError>;
    /// An instance arrived (its file is durable).
    fn instance(&self, peer: &Peer, association: Option<i64>, a: &Arrival) -> Result<(), StoreError>;
    /// Whether the instance is recorded already.
    fn has_instance(&self, project: &str, sop_instance_uid: &str) -> Result<bool, StoreError>;
}

impl Recorder for Store {
    fn association(&self, peer: &Peer, outcome: &str, detail: Option<&str>) -> Result<i64, StoreError> {
        self.dicom_association_started(&peer.project, &peer.calling_ae, &peer.called_ae, &peer.address, outcome, detail)
    }

    fn association_ended(&self, id: i64, detail: &str) -> Result<(), StoreError> {
        self.dicom_association_ended(id, detail)
    }

    fn instance(&self, peer: &Peer, association: Option<i64>, a: &Arrival) -> Result<(), StoreError> {
        self.record_dicom_instance(&NewDicomInstance {
            project: &peer.project,
            sop_instance_uid: &a.sop_instance_uid,
            sop_class_uid: &a.sop_class_uid,
            study_uid: &a.study_uid,
            series_uid: &a.series_uid,
            transfer_syntax: &a.transfer_syntax,
            path: &a.path,
            data_root: &peer.data_root,
            size: a.size,
            calling_ae: &peer.calling_ae,
            peer: &peer.address,
            association,
            modality: a.modality.as_deref(),
            series_description: a.series_description.as_deref(),
            series_number: a.series_number,
            patient_id: a.patient_id.as_deref(),
            study_date: a.study_date.as_deref(),
        })
        .map(|_| ())
    }

    fn has_instance(&self, project: &str, sop_instance_uid: &str) -> Result<bool, StoreError> {
        Ok(self.dicom_instance(project, sop_instance_uid)?.is_some())
    }
}

/// A [`Recorder`] that keeps what it is given, for tests.
#[derive(Debug, Default)]
pub struct Recording {
    /// Associations: (peer, outcome, detail).
    pub associations: Mutex<Vec<(Peer, String, Option<String>)>>,
    /// Instances recorded.
    pub instances: Mutex<Vec<Arrival>>,
}

impl Recorder for Recording {
    fn association(&self, peer: &Peer, outcome: &str, detail: Option<&str>) -> Result<i64, StoreError> {
        let mut a = self.associations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        a.push((peer.clone(), outcome.to_owned(), detail.map(str::to_owned)));
        Ok(a.len() as i64)
    }

    fn association_ended(&self, _id: i64, _detail: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn instance(&self, _peer: &Peer, _association: Option<i64>, a: &Arrival) -> Result<(), StoreError> {
        let mut i = self.instances.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        i.retain(|x| x.sop_instance_uid != a.sop_instance_uid);
        i.push(a.clone());
        Ok(())
    }

    fn has_instance(&self, _project: &str, sop_instance_uid: &str) -> Result<bool, StoreError> {
        let i = self.instances.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(i.iter().any(|x| x.sop_instance_uid == sop_instance_uid))
    }
}
