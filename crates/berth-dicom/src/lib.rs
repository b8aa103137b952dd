//! The DICOM node (issue 20): a storage SCP on dicom-rs's upper layer (`dicom-ul`) that
//! answers C-ECHO and C-STORE and writes each received instance durably into a project's
//! data root as `<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`.
//!
//! The flow, one module per step:
//!
//! - [`settings`]: flags + `[dicom]` + the project → [`Settings`] (AE title, address, data
//!   root, duplicate rule, limits, the allow-list), resolved once for every front end.
//! - [`scp`]: the listener; one thread per association; the allow-list decides
//!   `A-ASSOCIATE-RJ`; P-DATA fragments are gathered into one command, and a data set is
//!   streamed to its temporary file as it arrives.
//! - [`dimse`]: C-ECHO / C-STORE commands read and their responses written.
//! - [`header`]: the few attributes read from a received data set (UIDs, modality, ...),
//!   without decoding pixel data.
//! - [`storage`]: the Part-10 file (a file meta group before the data set bytes exactly as
//!   received), written as it arrives and renamed into place whole through berth-hostpath,
//!   the duplicate rule (compared after writing), the sweep of temporary files a killed node
//!   left.
//! - [`Recorder`]: where arrivals are recorded (berth-store; a recording fake in tests).
//! - [`metrics`]: counters for `berth serve`'s metrics.
//! - [`rules`]: automation: a complete series (or study) launches a tool or starts a
//!   pipeline once, through a [`rules::Launcher`] (in `berth serve`, the API's launch path
//!   and its pipeline start).
//! - [`scu`]: sending instances to another node (C-STORE SCU) with retries, each file in the
//!   transfer syntax it is stored in.
//!
//! - [`wire`]: an established association's PDUs read straight off its stream, each data
//!   fragment into one reused buffer.
//! - [`tls`]: DICOM TLS (PS3.15 Annex B) for the listener, rustls with ring.
//!
//! UIDs and AE titles from the wire are checked by [`uid`] before anything uses them.

pub mod dimse;
pub mod error;
pub mod header;
pub mod metrics;
pub mod recorder;
pub mod rules;
pub mod scp;
pub mod scu;
pub mod settings;
pub mod storage;
pub mod tls;
pub mod uid;
pub mod wire;

pub use error::DicomError;
pub use metrics::{Metrics, MetricsSnapshot};
pub use recorder::{Arrival, Recorder};
pub use scp::{Listener, Stopper};
pub use settings::{AllowList, Duplicates, Overrides, Settings};
