//! Minify an image: given the extracted, flattened root filesystem of a tool's image and the
//! paths a traced run of the tool accessed (written by `tools/berth-trace`), decide which
//! packages the run needs and remove every other package's files, keeping the package
//! database true to what is left so scanners report exactly what is there.
//!
//! ```no_run
//! use std::path::Path;
//! # fn main() -> Result<(), berth_minify::MinifyError> {
//! let trace = berth_minify::read_trace(Path::new("trace.jsonl"))?;
//! let options = berth_minify::MinifyOptions::default();
//! let plan = berth_minify::plan(Path::new("rootfs"), &trace, &options)?;
//! let report = berth_minify::apply(Path::new("rootfs"), &plan)?;
//! println!("{} packages removed, {} bytes freed", report.removed_packages.len(), report.bytes_freed);
//! # Ok(())
//! # }
//! ```
//!
//! The flow is the folder tree: [`trace`] (what was accessed) → [`db`] (who owns what, one
//! reader per package format) → [`rootfs`] (paths resolved inside the root, never on the host)
//! → [`closure`] (what must stay, and why) → [`plan`] → [`apply`].
//!
//! No engine and no network: this crate only reads and edits a directory. The rpm database is
//! the exception to "pure Rust": it is read and edited with the host's `rpm --root`, because
//! rpm's database formats (sqlite, BerkeleyDB, NDB) are rpm's to write.

pub mod apply;
pub mod closure;
pub mod db;
pub mod error;
pub mod plan;
pub mod rootfs;
pub mod trace;

pub use apply::{ApplyReport, apply};
pub use db::Manager;
pub use error::MinifyError;
pub use plan::{KeepReason, KeptPackage, MinifyOptions, Plan, plan};
pub use trace::{Access, Op, Trace, read_trace};
