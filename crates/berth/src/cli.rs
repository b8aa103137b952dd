//! Command-line arguments. Each subcommand maps to one handler in `cmd`.

use clap::{Args, Parser, Subcommand};

/// berth runs imaging analysis tools described by Boutiques descriptors, in containers,
/// reproducibly.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a Boutiques descriptor: the 0.5 JSON Schema, then every rule bosh checks.
    Validate(ValidateArgs),
    /// Check an invocation (input values) against a descriptor, or print its invocation schema.
    Invocation(InvocationArgs),
    /// Print the command line a descriptor and an invocation produce, without running it.
    Simulate(SimulateArgs),
    /// Run a described tool in a container, with secure defaults, and record its provenance.
    Run(RunArgs),
    /// List recorded runs, newest first.
    Runs(RunsArgs),
    /// Show a run's record (`--json`: the provenance record, a superset of Boutiques').
    Show(ShowArgs),
    /// Print a run's stdout and stderr (`--follow` while it runs).
    Logs(LogsArgs),
    /// Ask the scheduler about a run submitted with `--backend slurm` (finishing its record
    /// when the job has ended): state, job id, node, accounting.
    Status(StatusArgs),
    /// Cancel a run submitted with `--backend slurm` (`scancel`).
    Cancel(CancelArgs),
    /// Show the container engines on this machine and which one berth uses.
    Engine(EngineArgs),
    /// Register tools (descriptors, XNAT Commands, image labels) to run by name.
    Tool {
        /// What to do.
        #[command(subcommand)]
        command: ToolCommand,
    },
    /// Share tools: write a static catalog index of pushed tool images that any web server can
    /// host (`berth tool search` and `berth tool install` read it).
    Catalog {
        /// What to do.
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Manage images: list, pull, push, import archives, tag, remove, inspect, and check a
    /// tag against its registry without pulling.
    Image {
        /// What to do.
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Check and store credentials for a registry (in `$BERTH_HOME/credentials.json`, mode 0600).
    Login(LoginArgs),
    /// Forget the credentials `berth login` stored for a registry.
    Logout {
        /// The registry (`host[:port]`).
        registry: String,
    },
    /// List the packages in an image, archive, OCI layout or root filesystem (an SBOM).
    Sbom(SbomArgs),
    /// Scan an image, archive, OCI layout or root filesystem for known vulnerabilities
    /// (`berth scan compare A B` compares two results).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Scan(ScanArgs),
    /// Build and describe the advisory database scans use.
    Db {
        /// What to do.
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Re-execute a recorded run (or every step run of a pipeline run) with the same image and
    /// inputs, and compare the outputs: bit for bit, or value by value for DICOM and NIfTI.
    Verify(VerifyArgs),
    /// Pipelines: steps in containers over a dataset, cached and resumable.
    Pipeline {
        /// What to do.
        #[command(subcommand)]
        command: PipelineCommand,
    },
    /// Run the tests a Boutiques descriptor declares (invocation, exit code, output MD5s) in
    /// containers and report each one.
    Test(TestArgs),
    /// Harden a tool's image: apply the distribution's updates, or remove the packages an
    /// analysis never touches; each makes a new image and shows packages, size and findings
    /// before and after.
    Harden {
        /// What to do.
        #[command(subcommand)]
        command: HardenCommand,
    },
    /// Serve the REST API, the XNAT-compatible endpoints and the web UI, and run launches from
    /// the queue (the same store as the CLI).
    Serve(ServeArgs),
    /// Users of `berth serve` and their API tokens.
    User {
        /// What to do.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Projects of `berth serve`: members, data roots, enabled tools.
    Project {
        /// What to do.
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// Long-lived tool sessions: one container with the confinement of `berth run` that runs
    /// commands again and again (`exec`), recorded step by step; ends when stopped or idle.
    Session {
        /// What to do.
        #[command(subcommand)]
        command: SessionCommand,
    },
    /// The DICOM node: receive studies from a scanner or PACS into a project's data root
    /// (`listen`), and list what arrived (`ls`). See docs/dicom.md.
    Dicom {
        /// What to do.
        #[command(subcommand)]
        command: DicomCommand,
    },
    /// The audit trail: who touched which data, when, from where, with what outcome
    /// (append-only and hash-chained; see docs/audit.md).
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// `berth session ...`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Start a session of a tool: its container stays up with a keep-alive command; prints the
    /// session id.
    Start(SessionStartArgs),
    /// Run a command in a session (after `--`), or the tool's own command for an invocation
    /// (`-i`); streams its output and exits with its exit code.
    Exec(SessionExecArgs),
    /// List sessions (running ones; `--all` for every one).
    Ls {
        /// Ended sessions too.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a session and its steps.
    Show {
        /// The session (id or unique prefix).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a step's output (the last step by default).
    Logs {
        /// The session.
        id: String,
        /// The step's number.
        #[arg(long)]
        step: Option<u32>,
    },
    /// Stop a session and remove its container.
    Stop {
        /// The session.
        id: String,
        /// Print the session as recorded after stopping, as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `berth session start`.
#[derive(Debug, Args)]
pub struct SessionStartArgs {
    /// The tool: a descriptor file, or a registered `NAME[@VERSION]`.
    pub tool: String,
    /// An invocation whose File inputs are mounted read-only (a JSON file or text).
    #[arg(short, long)]
    pub invocation: Option<String>,
    /// A host directory to mount read-only at the same path inside (repeatable).
    #[arg(long, value_name = "DIR")]
    pub mount: Vec<std::path::PathBuf>,
    /// The session's one writable directory (default: berth-session-out/<tool>-<time>).
    #[arg(long, short = 'o')]
    pub output_dir: Option<std::path::PathBuf>,
    /// End the session after this long without a command (90s, 30m, 2h).
    #[arg(long, default_value = "30m")]
    pub idle_timeout: String,
    /// The container engine (`docker`, `podman`).
    #[arg(long)]
    pub engine: Option<String>,
    /// When to pull the image.
    #[arg(long, value_enum, default_value_t = PullArg::Missing)]
    pub pull: PullArg,
    /// Print the session as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth session exec`.
#[derive(Debug, Args)]
pub struct SessionExecArgs {
    /// The session (id or unique prefix).
    pub id: String,
    /// Run the tool's own command for this invocation (its File inputs must be those the
    /// session mounted).
    #[arg(short, long, conflicts_with = "command")]
    pub invocation: Option<String>,
    /// Print the step as JSON on stdout (the command's stdout then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `berth dicom ...`.
#[derive(Debug, Subcommand)]
pub enum DicomCommand {
    /// Answer C-ECHO and C-STORE, writing each instance durably into the project's data root
    /// as `<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`. Runs until killed.
    Listen(DicomListenArgs),
    /// List the studies and series received, with counts, sizes and arrival times.
    Ls(DicomLsArgs),
    /// Send DICOM files (or directories of them) to another node (C-STORE), each in the
    /// transfer syntax it is stored in, with retries; every file's outcome is recorded.
    Send(DicomSendArgs),
}

/// `berth dicom send`.
#[derive(Debug, Args)]
pub struct DicomSendArgs {
    /// The destination, `AE_TITLE@host:port`.
    #[arg(long)]
    pub to: String,
    /// Our (calling) AE title (default `[dicom] ae_title`, else `BERTH`).
    #[arg(long)]
    pub ae_title: Option<String>,
    /// Attempts per file, the first included.
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Seconds before the second attempt; doubled for each next one.
    #[arg(long, default_value_t = 2.0)]
    pub retry_delay: f64,
    /// The run whose outputs these are (recorded with each send).
    #[arg(long)]
    pub run: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Files, or directories searched recursively for files.
    #[arg(required = true)]
    pub paths: Vec<std::path::PathBuf>,
}

/// `berth dicom listen`.
#[derive(Debug, Args)]
pub struct DicomListenArgs {
    /// Our AE title; senders must call it (default `[dicom] ae_title`, else `BERTH`).
    #[arg(long)]
    pub ae_title: Option<String>,
    /// The port (default `[dicom] port`, else 11112; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// The address to listen on (default `[dicom] bind`, else 127.0.0.1).
    #[arg(long)]
    pub bind: Option<String>,
    /// The project instances are received for (default `[dicom] project`).
    #[arg(long)]
    pub project: Option<String>,
}

/// `berth dicom ls`.
#[derive(Debug, Args)]
pub struct DicomLsArgs {
    /// Only this project's studies.
    #[arg(long)]
    pub project: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List entries, newest first.
    Ls(AuditLsArgs),
    /// Check the chain: every entry's hash, the links between them, gaps, the retention
    /// record and the head file; with `--checkpoint`, an export or head copy kept elsewhere.
    /// Exits 1 when anything was changed or removed.
    Verify(AuditVerifyArgs),
    /// Write entries as JSON lines, oldest first. Keep the file elsewhere: it is a checkpoint
    /// for `berth audit verify --checkpoint`, and each line can be checked without berth.
    Export(AuditExportArgs),
    /// Remove entries older than the retention (`[audit] retention_days`, or `--older-than`);
    /// the removal is recorded in the chain.
    Prune(AuditPruneArgs),
}

/// `berth audit ls`.
#[derive(Debug, Args)]
pub struct AuditLsArgs {
    /// Only this actor (a user of the service, or `cli:<login>`).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (sign-in, sign-out, token-use, view, log-view, launch, kill, pipeline,
    /// tool-change, project-change, user-change, image-change, cli, audit-prune, dicom-send).
    #[arg(long)]
    pub action: Option<String>,
    /// Only objects starting with this (`run:`, `project:p1`).
    #[arg(long)]
    pub object: Option<String>,
    /// Only this outcome (ok, denied, not-found, refused, failed).
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only entries at or after this time (RFC 3339, or a date such as 2026-12-01).
    #[arg(long)]
    pub since: Option<String>,
    /// Only entries before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// How many.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// An export (`berth audit export`) or a copy of `audit-head.json` kept elsewhere; every
    /// entry it holds must still be in the chain unchanged. Repeat for more.
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub checkpoints: Vec<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth audit export`.
#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// The file to write (written whole, then renamed); standard output by default.
    #[arg(long, short)]
    pub out: Option<std::path::PathBuf>,
    /// Only entries at or after this time.
    #[arg(long)]
    pub since: Option<String>,
}

/// `berth audit prune`.
#[derive(Debug, Args)]
pub struct AuditPruneArgs {
    /// Remove entries older than this many days (default: `[audit] retention_days`).
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u64>,
}

/// `berth harden ...`.
#[derive(Debug, Subcommand)]
pub enum HardenCommand {
    /// Apply the distribution's updates (apt, apk, dnf or yum) in a container and commit a new
    /// image labelled with its base and the date; then compare packages and findings.
    Update(HardenUpdateArgs),
    /// Run the tool on each invocation under a file-access tracer, keep the packages the runs
    /// touched (with their dependencies and the essential ones), build a single-layer image
    /// without the rest, and check every invocation gives the same outputs on it.
    Minify(HardenMinifyArgs),
}

/// `berth harden minify`.
#[derive(Debug, Args)]
pub struct HardenMinifyArgs {
    /// The image to minify.
    pub image: String,
    /// The tool's descriptor (a file or a registered `NAME[@VERSION]`).
    #[arg(long, short)]
    pub descriptor: String,
    /// An invocation to trace (a JSON file, or the JSON text); repeat for more. Relative File
    /// paths are relative to the current directory.
    #[arg(long = "invocation", short, required = true)]
    pub invocations: Vec<String>,
    /// Also trace an invocation of another tool the same image carries (its descriptor, a file
    /// or a registered `NAME[@VERSION]`, then the invocation); repeat for more. What none of
    /// the traced runs touches goes, so a tool left untraced may break (above all with
    /// `--minimal`).
    #[arg(long = "with", num_args = 2, value_names = ["DESCRIPTOR", "INVOCATION"], action = clap::ArgAction::Append)]
    pub with: Vec<String>,
    /// Keep this too: an absolute path in the image (its owning packages) or a package name.
    #[arg(long, value_name = "PATH|PACKAGE")]
    pub keep: Vec<String>,
    /// Also delete files no package owns that the runs never accessed (only reported otherwise).
    #[arg(long)]
    pub prune_unowned: bool,
    /// Keep only what the traced runs need: the Essential set and the package manager go unless
    /// the runs used them (implies `--prune-unowned`). Smaller, but the package manager can no
    /// longer repair or extend the image; its labels say so (`berth.harden.minify-mode=minimal`,
    /// `berth.harden.repairable=no`).
    #[arg(long)]
    pub minimal: bool,
    /// The new image's reference (default `berth-minified/<name>:<base id>`).
    #[arg(long)]
    pub tag: Option<String>,
    /// The static berth-trace binary (default: `BERTH_TRACE`, then `berth-trace` beside `berth`).
    #[arg(long)]
    pub tracer: Option<std::path::PathBuf>,
    /// Where the runs' outputs and the exported filesystem go (default `berth-minify/<time>`).
    #[arg(long)]
    pub work_dir: Option<std::path::PathBuf>,
    /// The advisory database for the before/after findings (default: the one `berth scan` uses).
    #[arg(long)]
    pub db: Option<std::path::PathBuf>,
    /// The container engine (`docker`, `podman`).
    #[arg(long)]
    pub engine: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth harden update`.
#[derive(Debug, Args)]
pub struct HardenUpdateArgs {
    /// The image to update.
    pub image: String,
    /// The new image's reference (default `berth-updated/<name>:<base id>-<YYYYMMDD>`).
    #[arg(long)]
    pub tag: Option<String>,
    /// The container's network while updating: `host` (default; reaches mirrors when the
    /// engine has no bridge) or `default` (the engine's default network).
    #[arg(long, default_value = "host", value_parser = ["host", "default"])]
    pub network: String,
    /// A package source file used instead of the image's own, for this update only (apt
    /// `.list`/`.sources`, apk repositories, yum/dnf `.repo`); not left in the image.
    #[arg(long, value_name = "FILE")]
    pub source: Option<std::path::PathBuf>,
    /// Update again even if an image was updated from the same base today.
    #[arg(long)]
    pub force: bool,
    /// The advisory database for the before/after findings (default: the one `berth scan` uses).
    #[arg(long)]
    pub db: Option<std::path::PathBuf>,
    /// Do not inventory and scan before and after.
    #[arg(long)]
    pub no_compare: bool,
    /// The container engine (`docker`, `podman`).
    #[arg(long)]
    pub engine: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The descriptor: a file, or a registered tool `NAME[@VERSION]`.
    pub descriptor: String,
    /// Run the tests on this image instead of the descriptor's (e.g. a hardened one).
    #[arg(long)]
    pub image: Option<String>,
    /// Only the test with this name.
    #[arg(long)]
    pub name: Option<String>,
    /// Where each test's outputs go (`DIR/<n>-<name>/`); default `berth-test-out/<tool>-<time>`.
    #[arg(long)]
    pub output_dir: Option<std::path::PathBuf>,
    /// The container engine (`docker`, `podman`, `apptainer`).
    #[arg(long)]
    pub engine: Option<String>,
    /// When to pull the image.
    #[arg(long, value_enum, default_value_t = PullArg::Missing)]
    pub pull: PullArg,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (keep it on loopback behind a TLS proxy for other machines).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// How many runs execute at once.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Where launches write outputs (`DIR/<project>/<launch id>/`); default `$BERTH_HOME/outputs`.
    #[arg(long)]
    pub output_root: Option<std::path::PathBuf>,
    /// A host path prefix the engine sees elsewhere: `SERVER_PREFIX=ENGINE_PREFIX` (repeatable).
    #[arg(long = "path-map", value_name = "FROM=TO")]
    pub path_map: Vec<String>,
    /// The largest request body accepted, e.g. `1m` (larger ones get 413).
    #[arg(long, default_value = "1m")]
    pub max_body: String,
    /// The most launches one bulk request may queue.
    #[arg(long, default_value_t = 1000)]
    pub max_bulk: usize,
    /// When to pull images: `missing` (default), `always` or `never`.
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// The container engine (`docker`, `podman`); default: as `berth run` chooses.
    #[arg(long)]
    pub engine: Option<String>,
    /// The advisory database image scans use (default: the one `berth db update` builds).
    #[arg(long)]
    pub db: Option<std::path::PathBuf>,
    /// Print the API's OpenAPI document (what `/api/v1/openapi.json` serves) and exit; the
    /// Python client's models are generated from it.
    #[arg(long)]
    pub openapi: bool,
}

/// `berth user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user.
    Add {
        /// The login name.
        name: String,
        /// `admin` or `user`.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// List users.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make an API token for a user and print it (the only time it is shown).
    Token {
        /// The user.
        name: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        label: String,
    },
    /// List a user's tokens (prefixes only).
    Tokens {
        /// The user.
        name: String,
    },
    /// Revoke a user's tokens starting with PREFIX.
    Revoke {
        /// The user.
        name: String,
        /// The start of the token (as `berth user tokens` shows it).
        prefix: String,
    },
}

/// `berth project ...`.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Add a project.
    Add {
        /// Its id.
        id: String,
        /// A title.
        #[arg(long)]
        title: Option<String>,
        /// A directory launch inputs may come from (repeatable).
        #[arg(long = "data-root", required = true)]
        data_roots: Vec<std::path::PathBuf>,
        /// Members to add.
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// List projects.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a member.
    Member {
        /// The project.
        project: String,
        /// The user.
        user: String,
        /// Remove instead.
        #[arg(long)]
        remove: bool,
    },
    /// Replace a project's data roots.
    Roots {
        /// The project.
        project: String,
        /// The directories.
        #[arg(required = true)]
        data_roots: Vec<std::path::PathBuf>,
    },
    /// Enable a registered tool in a project, with default inputs (`--default ID=JSON`).
    Enable {
        /// The project.
        project: String,
        /// The tool's name.
        tool: String,
        /// A default input value, e.g. `--default threshold=0.5` or `--default mode='"fast"'`.
        #[arg(long = "default", value_name = "ID=VALUE")]
        defaults: Vec<String>,
    },
    /// Disable a tool in a project.
    Disable {
        /// The project.
        project: String,
        /// The tool's name.
        tool: String,
    },
}

/// `berth verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A run id or a pipeline run id (or a unique prefix).
    pub run: String,
    /// Where the re-execution writes (default: a new directory under `berth-verify/`).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output_dir: Option<std::path::PathBuf>,
    /// Numeric differences (DICOM, NIfTI) up to this count as equivalent.
    #[arg(long, value_name = "X")]
    pub tolerance: Option<f64>,
    /// Container engine: docker, podman or apptainer (default: configuration, then detection).
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth pipeline` subcommands.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Check a pipeline file (schema, steps' tools, bindings, references, the dataset) and show
    /// its tasks.
    Validate(PipelineValidateArgs),
    /// Run a pipeline: every task a berth run; what succeeded before is reused from the cache.
    Run(PipelineRunArgs),
    /// List pipeline runs, newest first.
    Ls {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One screen on a pipeline run: tasks per step and status, what is running, what failed.
    Status {
        /// The pipeline run's id (or a unique prefix).
        run: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the self-contained HTML report of a pipeline run (timeline, statuses, logs,
    /// provenance); `berth pipeline run` writes one to `OUTPUT/reports/<id>.html` too.
    Report {
        /// The pipeline run's id (or a unique prefix).
        run: String,
        /// Where to write it (default: `OUTPUT/reports/<id>.html`).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Export a pipeline run's provenance as a Workflow Run RO-Crate.
    Export {
        /// The pipeline run's id (or a unique prefix).
        run: String,
        /// The crate's directory (created; must be empty).
        #[arg(long = "ro-crate", value_name = "DIR")]
        ro_crate: std::path::PathBuf,
        /// Export even when files the run recorded changed since: they are left out of the
        /// crate and marked with their recorded and current hashes (default: refuse).
        #[arg(long)]
        allow_changed: bool,
    },
    /// Every task of a pipeline run: status, attempts, run, duration, logs.
    Show {
        /// The pipeline run's id (or a unique prefix).
        run: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `--analysis-level`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AnalysisLevelArg {
    /// Steps that fan out over participants and sessions.
    Participant,
    /// Group steps, over everything the participant level produced.
    Group,
    /// Every step.
    All,
}

/// What shapes a pipeline's plan (shared by `validate` and `run`).
#[derive(Debug, Args)]
pub struct PipelinePlanArgs {
    /// The pipeline file (YAML).
    pub file: std::path::PathBuf,
    /// The BIDS dataset (overrides `dataset.bids`).
    #[arg(long, value_name = "DIR")]
    pub bids: Option<std::path::PathBuf>,
    /// Only these participants (with or without `sub-`), as BIDS Apps take them.
    #[arg(long = "participant-label", visible_alias = "participant_label", num_args = 1.., value_name = "LABEL")]
    pub participant_label: Vec<String>,
    /// Only these sessions (with or without `ses-`), as BIDS Apps take them.
    #[arg(long = "session-label", visible_alias = "session_label", num_args = 1.., value_name = "LABEL")]
    pub session_label: Vec<String>,
    /// Which levels run: `participant` (steps over participants only, e.g. in chunks), `group`
    /// (group steps over what the participant level produced, taken from the step cache), or
    /// `all`. With `--participant-label`/`--session-label`, `all` leaves group steps out: their
    /// results must cover every participant.
    #[arg(long = "analysis-level", visible_alias = "analysis_level", value_enum, default_value = "all")]
    pub analysis_level: AnalysisLevelArg,
    /// Override a parameter: NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub param: Vec<String>,
    /// Render command lines strictly (bosh's bugs fixed).
    #[arg(long)]
    pub strict: bool,
}

/// `berth pipeline validate`.
#[derive(Debug, Args)]
pub struct PipelineValidateArgs {
    /// The plan.
    #[command(flatten)]
    pub plan: PipelinePlanArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth pipeline run`.
#[derive(Debug, Args)]
pub struct PipelineRunArgs {
    /// The plan.
    #[command(flatten)]
    pub plan: PipelinePlanArgs,
    /// Where final outputs are published (`<DIR>/<step>/<task>/`).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output_dir: std::path::PathBuf,
    /// Where the tasks' runs write (default: `<output-dir>/.berth-work`).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<std::path::PathBuf>,
    /// Containers at most at once (default: the number of CPUs).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// CPUs the running tasks may claim together (default: the machine's).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Memory the running tasks may claim together, e.g. `8g` (default: the machine's).
    #[arg(long)]
    pub memory: Option<String>,
    /// After a failure, let the tasks that do not depend on it finish.
    #[arg(long)]
    pub keep_going: bool,
    /// Run every task even when the cache has its result.
    #[arg(long)]
    pub no_cache: bool,
    /// Container engine: docker, podman or apptainer (default: configuration, then detection).
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
    /// When to pull images.
    #[arg(long, value_enum, default_value_t = PullArg::Missing)]
    pub pull: PullArg,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Where each task's container runs: this machine, or a Slurm cluster.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// With `--backend slurm`: submit one job per task instead of gathering the tasks that
    /// become ready together into job arrays.
    #[arg(long)]
    pub no_arrays: bool,
}

/// The engine option every image command takes.
#[derive(Debug, Args)]
pub struct EngineOpt {
    /// Container engine: docker or podman (default: configuration, then detection).
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
}

/// `berth image` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List local images: reference, ID, repo digest, size, creation time, tool labels.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        engine: EngineOpt,
    },
    /// Pull an image through the engine, with stored or Docker credentials.
    Pull {
        /// `[REGISTRY/]NAME[:TAG][@DIGEST]`.
        reference: String,
        #[command(flatten)]
        engine: EngineOpt,
    },
    /// Push a local image to its registry through the engine.
    Push {
        /// `REGISTRY/NAME[:TAG]`.
        reference: String,
        #[command(flatten)]
        engine: EngineOpt,
    },
    /// Load a docker-archive or OCI-archive tarball, from a file or an http(s) URL.
    Import(ImageImportArgs),
    /// Give a local image another reference.
    Tag {
        /// The image (reference or ID).
        source: String,
        /// The new reference.
        target: String,
        #[command(flatten)]
        engine: EngineOpt,
    },
    /// Remove image references (the image goes with its last reference).
    Rm {
        /// References or IDs.
        #[arg(required = true)]
        references: Vec<String>,
        /// Remove even when containers use it, or when an ID has several references.
        #[arg(long, short)]
        force: bool,
        #[command(flatten)]
        engine: EngineOpt,
    },
    /// Print what the engine knows about a local image, as JSON.
    Inspect {
        /// The image (reference or ID).
        reference: String,
        #[command(flatten)]
        engine: EngineOpt,
    },
    /// Ask the registry for the tag's current digest (without pulling) and compare it with the
    /// local image. Exit 0 current, 3 stale, 4 missing locally, 5 tag missing in the registry.
    Check {
        /// `[REGISTRY/]NAME[:TAG]`.
        reference: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        engine: EngineOpt,
    },
}

/// Arguments of `berth image import`.
#[derive(Debug, Args)]
pub struct ImageImportArgs {
    /// A tarball path, or an http(s) URL (optionally `URL#sha256=HEX`).
    pub source: String,
    /// Tag the imported image.
    #[arg(long)]
    pub tag: Option<String>,
    /// The archive's expected sha256; the import fails if it differs.
    #[arg(long)]
    pub sha256: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineOpt,
}

/// Arguments of `berth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry (`host[:port]`; `docker.io` for Docker Hub).
    pub registry: String,
    /// User name.
    #[arg(long, short)]
    pub username: String,
    /// Read the password (or access token) from standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `berth tool` subcommands.
#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// Register a Boutiques descriptor or an XNAT Command from a file.
    Add(ToolAddArgs),
    /// List registered tools.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a registered tool and its descriptor.
    Show(ToolNameArgs),
    /// Unregister a tool.
    Rm(ToolRmArgs),
    /// Register the tools an image describes in its labels (`org.berth.boutiques.descriptor`,
    /// XNAT's `org.nrg.commands`).
    Import(ToolImportArgs),
    /// Enable a tool on the whole site for `berth serve` (tools are enabled when registered).
    Enable {
        /// The tool's name.
        name: String,
    },
    /// Disable a tool on the whole site: no project can launch it.
    Disable {
        /// The tool's name.
        name: String,
    },
    /// Find tools in a catalog index (by name or description).
    Search(ToolSearchArgs),
    /// Install a tool from a catalog index: pull its image by digest, check the image and its
    /// descriptor against the index, tag it as the descriptor names it, register the tool.
    Install(ToolInstallArgs),
}

/// Arguments of `berth tool search`.
#[derive(Debug, Args)]
pub struct ToolSearchArgs {
    /// A word in the tool's name or description (any case); none lists every tool.
    pub word: Option<String>,
    /// The catalog index: an `http(s)://` URL, a `file://` URL or a path.
    #[arg(long, env = "BERTH_CATALOG_INDEX", value_name = "URL")]
    pub index: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth tool install`.
#[derive(Debug, Args)]
pub struct ToolInstallArgs {
    /// `NAME` (when the index has one version of it) or `NAME@VERSION`.
    pub tool: String,
    /// The catalog index: an `http(s)://` URL, a `file://` URL or a path.
    #[arg(long, env = "BERTH_CATALOG_INDEX", value_name = "URL")]
    pub index: String,
    /// Replace a tool registered under the same name and version, and move a local tag of
    /// the descriptor's image name that points at another image.
    #[arg(long)]
    pub replace: bool,
    /// Container engine: docker or podman (default: configuration, then detection).
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
    /// Print what was registered as JSON (a list: name, version, kind, outcome, descriptor SHA-256).
    #[arg(long)]
    pub json: bool,
}

/// `berth catalog ...`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Write the index of the tools some pushed images carry in their labels.
    Build(CatalogBuildArgs),
}

/// Arguments of `berth catalog build`.
#[derive(Debug, Args)]
pub struct CatalogBuildArgs {
    /// Images, by the registry reference they were pushed under (`HOST/REPO:TAG`).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Where to write the index.
    #[arg(short, long, default_value = "index.json", value_name = "FILE")]
    pub output: std::path::PathBuf,
    /// Leave out each image's SBOM summary (reading an image's packages takes a while).
    #[arg(long)]
    pub no_sbom: bool,
    /// Container engine: docker or podman (default: configuration, then detection).
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
}

/// Arguments of `berth tool add`.
#[derive(Debug, Args)]
pub struct ToolAddArgs {
    /// The descriptor file (or `-`, or JSON text).
    pub file: String,
    /// Replace a tool registered under the same name and version with another descriptor.
    #[arg(long)]
    pub replace: bool,
    /// Print what was registered as JSON (a list: name, version, kind, outcome, descriptor SHA-256).
    #[arg(long)]
    pub json: bool,
}

/// A tool named `NAME[@VERSION]`.
#[derive(Debug, Args)]
pub struct ToolNameArgs {
    /// `NAME` (the latest registered) or `NAME@VERSION`.
    pub tool: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth tool rm`.
#[derive(Debug, Args)]
pub struct ToolRmArgs {
    /// `NAME@VERSION`, or `NAME` when only one version is registered.
    pub tool: String,
    /// Remove every version of NAME.
    #[arg(long)]
    pub all: bool,
}

/// Arguments of `berth tool import`.
#[derive(Debug, Args)]
pub struct ToolImportArgs {
    /// The image (as the engine knows it).
    pub image: String,
    /// Replace tools registered under the same name and version.
    #[arg(long)]
    pub replace: bool,
    /// Container engine: docker or podman.
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
    /// Print what was registered as JSON (a list: name, version, kind, outcome, descriptor SHA-256).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Descriptor: a JSON file, `-` for standard input, or the JSON text itself.
    pub descriptor: String,
    /// Treat warnings (things bosh accepts but that are likely mistakes) as errors.
    #[arg(long)]
    pub strict: bool,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth invocation`.
#[derive(Debug, Args)]
pub struct InvocationArgs {
    /// Descriptor: a JSON file, `-` for standard input, or the JSON text itself.
    pub descriptor: String,
    /// Invocation: a JSON file, `-` for standard input, or the JSON text itself.
    #[arg(short, long, required_unless_present = "schema")]
    pub invocation: Option<String>,
    /// Print the invocation schema (the descriptor's own, or the one bosh would generate).
    #[arg(long)]
    pub schema: bool,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Descriptor: a JSON file, `-` for standard input, or the JSON text itself.
    pub descriptor: String,
    /// Invocation: a JSON file, `-` for standard input, or the JSON text itself. Default: `{}`
    /// (no input values).
    #[arg(short, long)]
    pub invocation: Option<String>,
    /// Fix bosh's rendering quirks (see `docs/boutiques-compatibility.md`) and enforce every
    /// documented invocation rule.
    #[arg(long)]
    pub strict: bool,
    /// Print the whole plan (command, outputs, environment, image, files) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not write the configuration files of `file-template` outputs (bosh writes them).
    #[arg(long)]
    pub no_write: bool,
    /// XNAT Commands: bind mount NAME to the host directory HOSTPATH (repeatable). Mounts left
    /// unbound are shown as `<unbound mount NAME>`, and required inputs without a value as
    /// `<NAME>`, each with a warning: simulate previews, it does not run.
    #[arg(long, value_name = "NAME=HOSTPATH")]
    pub mount: Vec<String>,
}

/// Arguments of `berth run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The tool: a descriptor or XNAT Command (a JSON file, `-`, or the JSON text), or a
    /// registered `NAME[@VERSION]`.
    pub descriptor: String,
    /// Invocation: a JSON file, `-` for standard input, or the JSON text itself. Relative File
    /// paths are relative to the current directory. Default: `{}` (no input values).
    #[arg(short, long)]
    pub invocation: Option<String>,
    /// Where outputs go (mounted read-write as the tool's working directory). Default:
    /// `berth-out/<tool>-<time>`.
    #[arg(short, long)]
    pub output_dir: Option<std::path::PathBuf>,
    /// Container engine: docker, podman or apptainer (default: configuration, then detection).
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
    /// When to pull the image.
    #[arg(long, value_enum, default_value = "missing")]
    pub pull: PullArg,
    /// Memory limit (e.g. `4g`, `512m`), or `none` (a recorded relaxation). Default: the
    /// descriptor's suggested-resources, else the configuration, else 80% of the host.
    #[arg(long)]
    pub memory: Option<String>,
    /// CPU limit (e.g. `2`, `0.5`). Default: suggested-resources, configuration, all CPUs.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Maximum processes in the container, or `none` (a recorded relaxation). Default 1024.
    #[arg(long)]
    pub pids_limit: Option<String>,
    /// GPUs through the engine's device requests: `all` or a number.
    #[arg(long)]
    pub gpus: Option<String>,
    /// Network: `none` (default) or `default` (the engine's network; a recorded relaxation).
    #[arg(long, value_parser = ["none", "default"])]
    pub network: Option<String>,
    /// Run the tool as UID:GID, or `root` (a recorded relaxation). Default: the invoking user
    /// (under sudo, the user who ran sudo; as root, nobody).
    #[arg(long)]
    pub user: Option<String>,
    /// Keep a Linux capability (all are dropped by default); repeatable; recorded.
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Render with bosh's quirks fixed (see `docs/boutiques-compatibility.md`).
    #[arg(long)]
    pub strict: bool,
    /// XNAT Commands: bind mount NAME to the host directory HOSTPATH (repeatable). Writable
    /// mounts left unbound get OUTPUT_DIR/NAME.
    #[arg(long, value_name = "NAME=HOSTPATH")]
    pub mount: Vec<String>,
    /// Run on the image with the distribution's updates applied (`berth harden update`, made
    /// once per base image and day, then reused); the base is recorded in the provenance.
    #[arg(long)]
    pub security_updates: bool,
    /// Run the tool under the file-access tracer and keep every path it opened, executed or
    /// stat-ed with the run: `berth scan IMAGE --reachability` then tells the packages the
    /// traced runs of the image reached from the others.
    #[arg(long)]
    pub trace: bool,
    /// The static berth-trace binary for `--trace` (default: `BERTH_TRACE`, then `berth-trace`
    /// beside `berth`).
    #[arg(long, requires = "trace")]
    pub tracer: Option<std::path::PathBuf>,
    /// Print the outcome as JSON on stdout (the tool's stdout then goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Where the container runs: this machine, or a Slurm cluster.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// With `--backend slurm`: return once the job is submitted; `berth status RUN_ID` later.
    #[arg(long)]
    pub detach: bool,
}

/// The execution backend and its Slurm settings (`docs/slurm.md`).
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Execution backend: `local` (this machine's engine) or `slurm` (each run a Slurm job).
    /// Default: the configuration's `backend`, else `local`.
    #[arg(long, env = "BERTH_BACKEND", value_parser = ["local", "slurm"])]
    pub backend: Option<String>,
    /// Slurm partition (default: the configuration's `[slurm] partition`, else the cluster's).
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm account.
    #[arg(long)]
    pub account: Option<String>,
    /// Slurm QOS.
    #[arg(long)]
    pub qos: Option<String>,
    /// Slurm time limit (`MM`, `HH:MM:SS`, `D-HH`); default: the descriptor's walltime estimate.
    #[arg(long)]
    pub time: Option<String>,
    /// A further `sbatch` option, passed as it is (repeatable), e.g. `--sbatch-arg=--constraint=avx2`.
    #[arg(long = "sbatch-arg", value_name = "OPTION", allow_hyphen_values = true)]
    pub sbatch_arg: Vec<String>,
    /// Path translation for the compute nodes, `FROM=TO` (repeatable; longest prefix wins).
    #[arg(long = "slurm-path-map", value_name = "FROM=TO")]
    pub path_map: Vec<String>,
}

impl BackendArgs {
    /// What these flags ask of the site (berth-session decides the backend).
    pub fn request(&self) -> berth_session::BackendRequest {
        berth_session::BackendRequest {
            backend: self.backend.clone(),
            partition: self.partition.clone(),
            account: self.account.clone(),
            qos: self.qos.clone(),
            time: self.time.clone(),
            sbatch_args: self.sbatch_arg.clone(),
            path_map: self.path_map.clone(),
            no_arrays: false,
        }
    }
}

/// `berth status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run id (or a unique prefix).
    pub run: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The run id (or a unique prefix).
    pub run: String,
}

/// `--pull`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PullArg {
    /// Pull when the engine lacks the image.
    Missing,
    /// Always pull.
    Always,
    /// Never pull.
    Never,
}

impl From<PullArg> for berth_run::PullPolicy {
    fn from(p: PullArg) -> Self {
        match p {
            PullArg::Missing => berth_run::PullPolicy::Missing,
            PullArg::Always => berth_run::PullPolicy::Always,
            PullArg::Never => berth_run::PullPolicy::Never,
        }
    }
}

/// Arguments of `berth runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs with this status (queued, running, succeeded, failed, cancelled).
    #[arg(long)]
    pub status: Option<berth_store::RunStatus>,
    /// Only runs of this tool.
    #[arg(long)]
    pub tool: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run id, or a unique prefix of it (at least 4 characters).
    pub run: String,
    /// Print the provenance record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run id, or a unique prefix of it.
    pub run: String,
    /// Keep printing while the run goes on.
    #[arg(short, long)]
    pub follow: bool,
}

/// Arguments of `berth engine`.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// The engine to use (overrides the configuration).
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where a target's packages are read from. The target is auto-detected: an existing directory
/// with `oci-layout` is an OCI layout, another directory a root filesystem, a file an image
/// archive (docker save or OCI), anything else an image the engine has (exported; no container
/// is started). Prefixes force the kind: `image:`, `docker-archive:`, `oci-archive:`,
/// `oci-dir:`, `dir:`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The image, archive, OCI layout directory or root filesystem.
    pub target: String,
    /// Container engine for image targets: docker or podman.
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
}

/// Arguments of `berth sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// What to read.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format: table, json, cyclonedx (1.5) or spdx (2.3).
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
    /// Write to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// Arguments of `berth scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// `berth scan compare A B`.
    #[command(subcommand)]
    pub command: Option<ScanCommand>,
    /// The image, archive, OCI layout directory or root filesystem.
    #[arg(required = true)]
    pub target: Option<String>,
    /// Container engine for image targets: docker or podman.
    #[arg(long, env = "BERTH_ENGINE")]
    pub engine: Option<String>,
    /// Output format: table, json, sarif (2.1.0) or cyclonedx (1.5 with vulnerabilities).
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
    /// Write to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Exit with code 3 when a finding is at least this severe (negligible, low, medium, high,
    /// critical).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<String>,
    /// Leave out findings that have no fixed version.
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// A VEX document (OpenVEX or CycloneDX) with triage statements: `not_affected` and `fixed`
    /// take findings out (listed with their statement), the others annotate them. Repeat for more.
    #[arg(long, value_name = "FILE")]
    pub vex: Vec<std::path::PathBuf>,
    /// Mark each finding reached, not reached or unknown by the traced runs of the image in
    /// the store (`berth run --trace`): a package none of whose files a traced run opened,
    /// executed or loaded is not reached.
    #[arg(long)]
    pub reachability: bool,
    /// With `--fail-on`: count only findings the traced runs reached (or whose reach is
    /// unknown). Needs `--reachability`.
    #[arg(long, requires = "reachability")]
    pub reached_only: bool,
    /// Write a VEX document stating the not-reached findings `not_affected`
    /// (`vulnerable_code_not_in_execute_path`), the traced runs as evidence. Needs
    /// `--reachability`.
    #[arg(long, value_name = "FILE", requires = "reachability")]
    pub vex_out: Option<std::path::PathBuf>,
    /// The format of `--vex-out`: openvex (0.2.0) or cyclonedx (1.5).
    #[arg(long, default_value = "openvex", value_parser = ["openvex", "cyclonedx"])]
    pub vex_format: String,
    /// The advisory database (default: `[scan] db`, `BERTH_ADVISORY_DB`, then
    /// `$BERTH_HOME/advisories.sqlite`).
    #[arg(long, value_name = "PATH")]
    pub db: Option<std::path::PathBuf>,
}

/// `berth scan` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScanCommand {
    /// Compare two scan results (berth, Trivy or Grype JSON): Jaccard index and the differences
    /// by cause.
    Compare(CompareArgs),
}

/// Arguments of `berth scan compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The first result (JSON file).
    pub a: std::path::PathBuf,
    /// The second result (JSON file).
    pub b: std::path::PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `berth db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Build the advisory database from OSV records (files, directories, all.zip dumps) and the
    /// Debian Security Tracker JSON, by URL or path.
    Update(DbUpdateArgs),
    /// Show the database's sources, record counts and age.
    Status(DbStatusArgs),
}

/// Arguments of `berth db update`.
#[derive(Debug, Args)]
pub struct DbUpdateArgs {
    /// A source: URL (http, https) or path; repeatable. Default: `[scan] sources`, else osv.dev's
    /// dumps and the Debian tracker.
    #[arg(long = "source", value_name = "URL|PATH")]
    pub sources: Vec<String>,
    /// The database to write (default as for `berth scan`).
    #[arg(long, value_name = "PATH")]
    pub db: Option<std::path::PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `berth db status`.
#[derive(Debug, Args)]
pub struct DbStatusArgs {
    /// The database (default as for `berth scan`).
    #[arg(long, value_name = "PATH")]
    pub db: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
