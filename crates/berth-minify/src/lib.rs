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
//! The API is four calls:
//!
//! ```text
//! pub fn read_trace(path: &Path) -> Result<Trace, MinifyError>;
//! pub struct MinifyOptions { pub keep: Vec<String>, pub prune_unowned: bool, pub protect: Vec<PathBuf>, pub minimal: bool }
//! pub fn plan(root: &Path, trace: &Trace, opts: &MinifyOptions) -> Result<Plan, MinifyError>;
//! pub fn apply(root: &Path, plan: &Plan) -> Result<ApplyReport, MinifyError>;
//! ```
//!
//! [`plan()`] only reads (a [`Plan`] serialises for a dry run); [`apply()`] edits the directory in
//! place. The package database format is detected: dpkg, then apk, then rpm. Traces of several
//! runs merge by collecting their accesses into one [`Trace`]; a trace with no successful
//! access is refused, since planning from it would remove everything not essential.
//!
//! The flow is the folder tree: [`trace`] (what was accessed) → [`db`] (who owns what, one
//! reader per package format) → [`rootfs`] (paths resolved inside the root, never on the host)
//! → [`closure`] (what must stay, and why) → [`mod@plan`] → [`mod@apply`].
//!
//! # What stays, and why ([`KeepReason`])
//!
//! - **Accessed**: a package owning a file or link the run opened, executed, stat'ed or read
//!   as a link, or a link on the way to one (the owner of `/usr/bin/awk`'s target through
//!   `/etc/alternatives/awk`, of `/usr/lib/jvm/default-java` on the way to `.../bin/java`).
//!   Paths are compared after resolving their directories inside the root, so a dpkg list's
//!   `/bin/sh` and a trace's `/usr/bin/sh` match on a merged-/usr system. Directories keep
//!   nothing (every package lists `/usr`); failed lookups keep nothing unless the path exists.
//! - **User keep**: `keep` entries, package names or paths (a directory keeps the owners of
//!   everything listed under it); an entry matching nothing is an error.
//! - **Essential**: dpkg `Essential: yes`; on Alpine musl, busybox, alpine-baselayout(-data),
//!   alpine-keys; on rpm systems setup, filesystem, basesystem.
//! - **Package manager**: dpkg and apt, apk-tools, rpm and dnf/dnf5/microdnf/yum/tdnf/zypper:
//!   the image stays repairable and extensible.
//!
//! With `minimal`, neither the Essential set nor the package manager is kept for its own sake:
//! only what the runs accessed, what the caller keeps, and their dependencies stay. The package
//! database still lists what is left (scanners read it), but nothing can repair the image.
//! - **Dependency of**: the closure over `Depends` and `Pre-Depends` (apk `D:`, rpm `Requires`),
//!   with virtual packages resolved through `Provides` and files (rpm `Requires: /bin/sh`),
//!   `:any`/`:amd64` qualifiers dropped, versions compared as dpkg does; for `a | b`, an
//!   alternative already kept wins, else the first installed one (see [`closure`]).
//!   `Recommends` and `Suggests` are not followed: they are not needed for a package to work.
//!
//! Packages dpkg does not list as `installed` (`config-files`) are never removed and their
//! files never deleted.
//!
//! # What goes
//!
//! Files and links owned only by removed packages (never a path a staying package also lists,
//! never under `protect`), the Python bytecode their maintainer scripts compiled in their own
//! directories (`__pycache__`, which no package lists), then directories no staying package
//! owns once they are empty. dpkg
//! diversions made by a removed package are undone (the diverted file moves back); alternative
//! links pointing at a removed file are re-pointed at the best remaining choice, or removed
//! with update-alternatives' file when none is left. The database is edited to match: dpkg
//! `status` stanzas, `info/<pkg>[:arch].*` files, file-trigger interests and diversions; apk
//! `installed` and `world`; rpm through `rpm --root -e --justdb --nodeps --noscripts`.
//!
//! Files no package owns and the run never accessed (pip installs under `/usr/local`, say) are
//! reported, and deleted only with `prune_unowned`. Never reported or pruned: anything under
//! `/etc`, `/var/lib`, `/var/cache/debconf` and the package databases ([`plan::UNOWNED_EXEMPT`],
//! state maintainer scripts wrote), links to directories, and the `.dist-info` of a Python
//! distribution that keeps any file (every `.egg-info`), so scanners still see what stays.
//!
//! Not done: `ldconfig` (the loader cache may name deleted libraries; the loader then searches
//! on), nor debconf's database, which keeps answers for removed packages (harmless).
//!
//! No engine and no network: this crate only reads and edits a directory. rpm databases are
//! the exception to "pure Rust": they are read and edited with the host's `rpm --root`,
//! because rpm's formats (sqlite, BerkeleyDB, NDB) are rpm's to write.

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
pub use plan::{KeepReason, KeptPackage, MinifyOptions, Plan, Repoint, plan};
pub use trace::{Access, Op, Received, Trace, TraceEnd, parse_stream, read_trace};
