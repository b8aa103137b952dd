//! berth's advisory database: build it from OSV records and the Debian Security Tracker,
//! query it, and order versions as each ecosystem does.
//!
//! - [`update::update`] (`berth db update`) reads sources — URLs or paths: OSV JSON/YAML
//!   records, directories of them, `all.zip` dumps, the Debian tracker's JSON — into one SQLite
//!   file ([`db`]); [`update::status`] (`berth db status`) describes it.
//! - [`db::Database::affected`] answers "which advisories name this package in this ecosystem".
//! - [`version`] orders versions per ecosystem; [`severity`] puts ratings and CVSS scores on
//!   one scale.

pub mod db;
pub mod osv;
pub mod severity;
pub mod tracker;
pub mod update;
/// Version ordering (berth-package), as advisories' ranges need it.
pub use berth_package::version;

pub use db::{AffectedRow, Affection, Database, DbError};
pub use severity::Severity;
pub use update::{Status, UpdateError, UpdateOptions, UpdateSummary, status, update};
