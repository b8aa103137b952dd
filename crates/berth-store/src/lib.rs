//! The provenance store: every run berth makes, its status history, files and logs, in one
//! SQLite database under `$BERTH_HOME`; and SHA-256 hashing of files and directories with a
//! cache, so that recording an unchanged input costs nothing.
//!
//! The layers, in the order a run uses them:
//!
//! - [`Store::open`] / [`Store::open_default`]: the directory (`$BERTH_HOME`, see
//!   [`paths`]), `berth.db` (WAL, busy timeout, migrations tracked by `user_version`) and
//!   `logs/`. A `Store` is `Send + Sync`; several processes may use one store at once.
//! - [`Store::create_run`] records a [`NewRun`] as `queued`; [`Store::set_status`] moves it on
//!   (and refuses to leave a terminal status); [`Store::update_run`] adds what was learned
//!   ([`RunUpdate`]); [`Store::add_files`] records inputs and outputs ([`FileRecord`], made
//!   with [`FileRecord::hashed`]); [`Store::open_logs`] gives capped [`LogWriter`]s and
//!   [`Store::record_logs`] what they did.
//! - [`Store::get_run`] (by id or unique prefix), [`Store::list_runs`] and
//!   [`Store::runs_with_status`] read runs back; [`RunRecord::to_execution_record`] renders one
//!   as a Boutiques execution record ([`record`](mod@record)).
//! - [`hash`](mod@hash): [`Hasher`] / [`hash_path`] hash a file or a directory (a manifest);
//!   the store is a [`HashCache`].
//!
//! - [`dicom`](mod@dicom): what the DICOM node received (schema 12).
//! - [`dicom_triggers`]: what the DICOM automation rules launched (schema 13; pipelines: 14).
//!
//! Errors are [`StoreError`] and [`HashError`], both with a `hint()` for the user.

pub mod audit;
pub mod dicom;
pub mod dicom_triggers;
pub mod hash;
pub mod log;
pub mod model;
pub mod paths;
pub mod pipelines;
mod prefix;
pub mod record;
mod runs;
pub mod service;
pub mod sessions;
pub mod slurm;
pub mod store;
pub mod time;
pub mod tool_sessions;
pub mod tools;
pub mod traces;

pub use audit::{
    AuditEntry, AuditFilter, AuditHead, AuditProblem, AuditPruned, AuditVerification, NewAuditEntry, Outcome,
};
pub use dicom::{DicomInstance, DicomSeries, DicomStudy, DicomTotals, NewDicomInstance, NewDicomSend};
pub use dicom_triggers::{DicomArrivedSeries, DicomTrigger, NewDicomTrigger};
pub use hash::{
    CacheKey, HashCache, HashError, HashStats, Hasher, MemoryCache, NoCache, PathHash, PathKind, hash_path,
};
pub use log::{DEFAULT_LOG_CAP, LogWriter, truncation_marker};
pub use model::*;
pub use pipelines::{
    CACHE_KEY_LABEL, NewPipelineRun, NewTask, PIPELINE_RUN_LABEL, PIPELINE_TASK_LABEL, PipelineOwner,
    PipelineRunRecord, PipelineRunSummary, TaskRecord, TaskStatus, TaskUpdate,
};
pub use record::LogContent;
pub use service::{
    LAUNCH_LABEL, Launch, LaunchFilter, LaunchState, NewLaunch, PROJECT_LABEL, Project, Role, ScanRecord, TokenInfo,
    ToolSetting, User, new_launch_id,
};
pub use sessions::{NewSession, TokenCheck, constant_time_eq};
pub use slurm::{SlurmJobRecord, SlurmJobUpdate};
pub use store::{SCHEMA_VERSION, Store, StoreError};
pub use tool_sessions::{
    NewToolSession, OutputChange, SessionStarted, SessionStatus, SessionStep, StepEnd, ToolSessionRecord,
};
pub use tools::{NewTool, ToolAdded, ToolKind, ToolRecord};
pub use traces::{NewTrace, TraceRecord};
