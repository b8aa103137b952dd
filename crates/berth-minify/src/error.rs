//! The crate's error: what failed, on which path or package, and what to do about it.

use std::path::PathBuf;

/// Why reading a trace, planning or applying a minification failed.
#[derive(Debug, thiserror::Error)]
pub enum MinifyError {
    /// A file could not be read or written.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What was being done (`read`, `remove`, ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line of the trace is not a JSON object of the tracer's format.
    #[error(
        "`{}` line {line} is not a berth-trace record ({message}); hint: pass the file `berth-trace --output` wrote",
        path.display()
    )]
    TraceLine {
        /// The trace file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The trace records no successful access: the run did not happen under the tracer, and
    /// planning from it would remove every package the system does not need to boot.
    #[error(
        "the trace records no successful access; hint: check that the tool ran under `berth-trace` and that its \
         `--output` file is the one given"
    )]
    EmptyTrace,
    /// No package database (dpkg, apk, rpm) was found in the root filesystem.
    #[error(
        "no package database in `{}` (looked for var/lib/dpkg/status, lib/apk/db/installed, var/lib/rpm); \
         hint: minify works on images built from a distribution; pass the extracted root filesystem"
    , root.display())]
    NoPackageDatabase {
        /// The root filesystem.
        root: PathBuf,
    },
    /// A package database entry could not be parsed.
    #[error("`{}`: {message}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `keep` entry names neither an existing path nor an installed package.
    #[error("`keep` entry `{entry}` is neither an installed package nor a path in the image; hint: check its spelling")]
    UnknownKeep {
        /// The entry as given.
        entry: String,
    },
    /// The host's `rpm` could not be run or failed.
    #[error("`rpm {args}` failed: {message}; hint: minifying an rpm-based image needs the `rpm` command on the host")]
    Rpm {
        /// The arguments given to rpm.
        args: String,
        /// Its stderr or why it could not start.
        message: String,
    },
    /// The plan was made for another root filesystem (or the root changed since).
    #[error("the plan was made for `{}`, not `{}`; hint: plan and apply on the same directory", planned.display(), root.display())]
    RootMismatch {
        /// The root the plan was made for.
        planned: PathBuf,
        /// The root given to apply.
        root: PathBuf,
    },
}

impl MinifyError {
    /// An [`MinifyError::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }
}
