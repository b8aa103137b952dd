//! Running described tools in containers, with secure defaults and a provenance record.
//!
//! The flow is [`prepare`] (descriptor + invocation → a [`PreparedJob`]: container paths,
//! limits, user, everything refused up front) → [`Runner::run`] (image, record, container,
//! logs, outputs, record) → [`reconcile`] (finish the records of runs whose berth process
//! died). The engine is a `berth_engine::Engine`; the record lives in a `berth_store::Store`.

pub mod backend;
pub mod gate;
pub mod host;
pub mod inputs;
pub mod outputs;
pub mod prepare;
pub mod reconcile;
pub mod run;
pub mod selftest;
pub mod session;
pub mod shell;
pub mod tool;
pub mod trace;

pub use backend::{ExecutionBackend, Local};
pub use gate::{GateError, RunGate};
pub use host::HostInfo;
pub use prepare::{PathMapping, PathMappingError, PrepareError, PrepareOptions, PreparedJob, prepare};
pub use reconcile::{Reconciled, reconcile};
pub use run::{Admitted, ImageCheck, LongLived, OutputSink, PullPolicy, RunError, RunOutcome, Runner, Silent};
pub use tool::{LoadedTool, ToolError, ToolSpec, load_tool};
