//! The batch job berth submits for a run: `sbatch` options from the job's resources and the
//! cluster settings, and the job script that runs the container with the engine on the node.
//!
//! The script runs exactly the [`ContainerSpec`] the local path would create (berth-run's
//! `container_spec`: mounts, read-only inputs, user, `--network none`, all capabilities dropped,
//! `no-new-privileges`, limits, `/tmp` tmpfs, init), turned into the engine's command line here
//! (`docker run`, `podman run`; Apptainer through berth-engine's `exec_args`). It writes the
//! tool's stdout and stderr to files beside it, stops the container when Slurm signals the job
//! (`scancel`, time limit), and records the tool's exit code in a file that berth reads back:
//! Slurm's own exit code cannot tell a tool's 125 from an engine failure.

use std::path::{Path, PathBuf};

use berth_engine::{ContainerSpec, Gpus, Network};
use berth_run::PreparedJob;
use berth_run::prepare::GpuRequest;
use serde::{Deserialize, Serialize};

/// Why a job script could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The engine cannot express the container spec.
    #[error("the engine on the compute nodes cannot run this container")]
    Engine(#[from] berth_engine::EngineError),
    /// A mount's path cannot be written into `--mount` without changing its meaning: Docker and
    /// Podman split the option at `,` and a repeated `source=` wins (finding 10).
    #[error("the {what} path `{path}` of a mount {reason}, which `docker`/`podman run --mount` would misread")]
    MountPath {
        /// `source` (host side) or `target` (container side).
        what: &'static str,
        /// The path.
        path: String,
        /// What is wrong (the character named).
        reason: String,
    },
    /// An image reference the engine's command line would read as an option.
    #[error("the image reference `{image}` starts with `-`, which the engine's command line would read as an option")]
    ImageRef {
        /// The reference.
        image: String,
    },
    /// An `--sbatch-arg` (or `[slurm] sbatch_args` entry) that would change what the job runs.
    #[error("the sbatch option `{arg}` is not accepted: {reason}")]
    SbatchArg {
        /// The option as given.
        arg: String,
        /// Why.
        reason: &'static str,
    },
}

impl ScriptError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ScriptError::Engine(_) => Some("use Docker or Podman on the nodes (`--engine`)".into()),
            ScriptError::MountPath { .. } => Some(
                "rename the file or directory (no `,`, `\"`, `=` or control characters), or run it with the local \
                 backend, which passes mounts to the engine's API unparsed"
                    .into(),
            ),
            ScriptError::ImageRef { .. } => Some("name the image by a reference such as `repo/name:tag`".into()),
            ScriptError::SbatchArg { .. } => Some(
                "give each sbatch option as one word in `--name=value` form, e.g. `--sbatch-arg=--constraint=avx2`; \
                 the job script, the user and the output files are berth's"
                    .into(),
            ),
        }
    }
}

/// Checks a path for `--mount type=bind,source=…,target=…`: Docker reads the option as one CSV
/// record (`encoding/csv`) and Podman splits it at commas, both taking `key=value` pairs where a
/// later `source=` replaces an earlier one. Rather than quote for two parsers, berth refuses the
/// characters that could end a field or a record (`,`, `"`, a newline or any control character)
/// and `=`, and a `..` component (a path map must not be walked out of with `..`).
fn check_mount_path(what: &'static str, path: &str, csv: bool) -> Result<(), ScriptError> {
    let bad = |reason: String| Err(ScriptError::MountPath { what, path: path.to_string(), reason });
    if let Some(c) = path.chars().find(|c| (csv && matches!(c, ',' | '"' | '=')) || c.is_control()) {
        return bad(format!(
            "holds {}",
            if c.is_control() { format!("the control character {c:?}") } else { format!("`{c}`") }
        ));
    }
    if !path.starts_with('/') {
        return bad("is not absolute".into());
    }
    if Path::new(path).components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return bad("holds a `..` component".into());
    }
    Ok(())
}

/// Long `sbatch` options an extra option may not give (or abbreviate): `--wrap` replaces the job
/// script, `--uid`/`--gid` submit as someone else (root only).
const SBATCH_REFUSED: [&str; 3] = ["wrap", "uid", "gid"];

/// Checks the extra `sbatch` options. They are passed to `sbatch` as arguments, never written
/// into the job script; but a word that is not an option would become the script `sbatch`
/// runs (the first non-option), and `--wrap`, `--uid` and `--gid` change what runs as whom.
pub fn check_sbatch_args(extra: &[String]) -> Result<(), ScriptError> {
    for arg in extra {
        let bad = |reason| Err(ScriptError::SbatchArg { arg: arg.clone(), reason });
        if arg.chars().any(char::is_control) {
            return bad("it holds a control character");
        }
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            return bad("it is not an option, and `sbatch` would take it (or what follows it) for the job script");
        }
        if let Some(long) = arg.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or_default();
            // getopt_long takes any unambiguous prefix of a long option.
            if !name.is_empty() && SBATCH_REFUSED.iter().any(|r| r.starts_with(name)) {
                return bad("`--wrap` replaces the job script and `--uid`/`--gid` submit as another user");
            }
        }
    }
    Ok(())
}

/// The engine's command line on the compute nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum NodeEngine {
    /// `docker`, talking to `host` (`unix:///…`, `tcp://…`) when given, else its default.
    Docker {
        /// `--host`.
        host: Option<String>,
    },
    /// `podman`; through the API service at `url` (`--remote --url`) when given.
    Podman {
        /// `--url`.
        url: Option<String>,
    },
    /// `apptainer` (or `singularity`) at `binary`.
    Apptainer {
        /// The program.
        binary: String,
        /// Whether the job runs as root (only root may pick the container's uid).
        as_root: bool,
    },
}

impl NodeEngine {
    /// The engine berth is connected to, as the nodes should reach it.
    pub fn from_info(info: &berth_engine::EngineInfo) -> NodeEngine {
        use berth_engine::EngineKind;
        let endpoint = Some(info.endpoint.clone()).filter(|e| e.contains("://"));
        match info.kind {
            EngineKind::Docker => NodeEngine::Docker { host: endpoint },
            EngineKind::Podman => NodeEngine::Podman { url: endpoint },
            EngineKind::Apptainer => NodeEngine::Apptainer {
                binary: if info.endpoint.is_empty() || info.endpoint.contains("://") {
                    "apptainer".into()
                } else {
                    info.endpoint.clone()
                },
                as_root: berth_run::host::process_ids().0 == 0,
            },
        }
    }

    /// The command (program and arguments) that stops the container named `name`.
    fn stop(&self, name: &str) -> Option<Vec<String>> {
        match self {
            NodeEngine::Docker { .. } | NodeEngine::Podman { .. } => {
                let mut c = self.program();
                c.extend(["stop".into(), "--time".into(), "5".into(), name.into()]);
                Some(c)
            }
            // Apptainer's container is the script's child: signalling it is enough.
            NodeEngine::Apptainer { .. } => None,
        }
    }

    /// The command that removes the container named `name`.
    fn remove(&self, name: &str) -> Option<Vec<String>> {
        match self {
            NodeEngine::Docker { .. } | NodeEngine::Podman { .. } => {
                let mut c = self.program();
                c.extend(["rm".into(), "--force".into(), name.into()]);
                Some(c)
            }
            NodeEngine::Apptainer { .. } => None,
        }
    }

    fn program(&self) -> Vec<String> {
        match self {
            NodeEngine::Docker { host } => {
                let mut c = vec!["docker".to_string()];
                if let Some(h) = host {
                    c.extend(["--host".into(), h.clone()]);
                }
                c
            }
            NodeEngine::Podman { url } => {
                let mut c = vec!["podman".to_string()];
                if let Some(u) = url {
                    c.extend(["--remote".into(), "--url".into(), u.clone()]);
                }
                c
            }
            NodeEngine::Apptainer { binary, .. } => vec![binary.clone()],
        }
    }

    /// The full command line that runs `spec` (image `image`) in the foreground.
    pub fn run_command(&self, spec: &ContainerSpec, image: &str) -> Result<Vec<String>, ScriptError> {
        let mut c = self.program();
        // Apptainer refuses `,` and `:` itself (berth-engine); the rest holds for every engine.
        let csv = !matches!(self, NodeEngine::Apptainer { .. });
        // The image is the first positional word: as `-…` it would be one more option.
        if image.starts_with('-') {
            return Err(ScriptError::ImageRef { image: image.to_string() });
        }
        for m in &spec.mounts {
            check_mount_path("source", &m.source.to_string_lossy(), csv)?;
            check_mount_path("target", &m.target, csv)?;
        }
        match self {
            NodeEngine::Apptainer { as_root, .. } => {
                c.extend(berth_engine::apptainer::exec_args(spec, image, *as_root)?);
            }
            NodeEngine::Docker { .. } | NodeEngine::Podman { .. } => c.extend(run_args(spec, image)),
        }
        Ok(c)
    }
}

/// `run` and its flags for Docker's and Podman's command line (the same flags for both). The
/// mounts' paths must have passed `check_mount_path` ([`NodeEngine::run_command`] does).
pub fn run_args(spec: &ContainerSpec, image: &str) -> Vec<String> {
    let mut a = vec!["run".to_string()];
    let mut flag = |k: &str, v: String| {
        a.push(k.to_string());
        a.push(v);
    };
    if let Some(name) = &spec.name {
        flag("--name", name.clone());
    }
    for (k, v) in &spec.labels {
        flag("--label", format!("{k}={v}"));
    }
    if let Some(u) = spec.user {
        flag("--user", format!("{}:{}", u.uid, u.gid));
    }
    if let Some(w) = &spec.working_dir {
        flag("--workdir", w.clone());
    }
    for (k, v) in &spec.env {
        flag("--env", format!("{k}={v}"));
    }
    for m in &spec.mounts {
        let ro = if m.read_only { ",readonly" } else { "" };
        flag("--mount", format!("type=bind,source={},target={}{ro}", m.source.display(), m.target));
    }
    for t in &spec.tmpfs {
        flag("--tmpfs", format!("{}:{}", t.target, t.options));
    }
    if spec.network == Network::Disabled {
        flag("--network", "none".into());
    }
    for c in &spec.cap_drop {
        flag("--cap-drop", c.clone());
    }
    for c in &spec.cap_add {
        flag("--cap-add", c.clone());
    }
    for s in &spec.security_opt {
        flag("--security-opt", s.clone());
    }
    if let Some(p) = spec.pids_limit {
        flag("--pids-limit", p.to_string());
    }
    if let Some(m) = spec.memory_bytes {
        flag("--memory", format!("{m}b"));
    }
    if let Some(n) = spec.nano_cpus {
        flag("--cpus", format!("{}", n as f64 / 1e9));
    }
    match &spec.gpus {
        Gpus::None => {}
        Gpus::All => flag("--gpus", "all".into()),
        Gpus::Count(n) => flag("--gpus", n.to_string()),
        Gpus::DeviceIds(ids) => flag("--gpus", format!("\"device={}\"", ids.join(","))),
    }
    if spec.read_only_rootfs {
        a.push("--read-only".into());
    }
    if spec.init {
        a.push("--init".into());
    }
    // The command line's `--entrypoint` takes one word: the rest goes before the command.
    let mut cmd = Vec::new();
    if let Some(ep) = &spec.entrypoint {
        a.push("--entrypoint".into());
        a.push(ep.first().cloned().unwrap_or_default());
        cmd.extend(ep.iter().skip(1).cloned());
    }
    a.push(image.to_string());
    a.extend(cmd);
    a.extend(spec.cmd.iter().cloned());
    a
}

/// A word quoted for the POSIX shell.
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn line(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// Where a job's files are, as the compute node sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFiles {
    /// The tool's stdout.
    pub stdout: PathBuf,
    /// The tool's stderr.
    pub stderr: PathBuf,
    /// The file the tool's exit code is written to.
    pub exit_code: PathBuf,
}

impl JobFiles {
    /// The files in `dir`.
    pub fn in_dir(dir: &Path) -> JobFiles {
        JobFiles { stdout: dir.join("stdout"), stderr: dir.join("stderr"), exit_code: dir.join("exit-code") }
    }
}

/// Which container limits the job takes from its allocation instead of the prepared job: the
/// ones berth only defaulted from the submit host's size (`default: …`), which say nothing
/// about a compute node. Those are not asked of Slurm either; the cluster's defaults apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FromAllocation {
    /// The memory limit is `SLURM_MEM_PER_NODE` MiB.
    pub memory: bool,
    /// The CPU limit is `SLURM_CPUS_PER_TASK` (else `SLURM_CPUS_ON_NODE`).
    pub cpus: bool,
}

impl FromAllocation {
    /// The limits of `job` that were host defaults.
    pub fn of(job: &PreparedJob) -> FromAllocation {
        FromAllocation {
            memory: job.limits.memory_bytes.is_some() && job.limits.memory_source.starts_with("default"),
            cpus: job.limits.nano_cpus.is_some() && job.limits.cpus_source.starts_with("default"),
        }
    }
}

/// `words` as a shell line, the values of `--memory` / `--cpus` read from the allocation when
/// asked (with the shell lines that compute them, falling back to the prepared values when the
/// cluster does not say).
fn line_with_allocation(words: &[String], from: FromAllocation) -> (String, String) {
    let mut out = Vec::with_capacity(words.len());
    let mut pre = String::new();
    let mut prev = "";
    for w in words {
        out.push(match prev {
            "--memory" if from.memory => {
                // Slurm sets SLURM_MEM_PER_NODE for --mem, SLURM_MEM_PER_CPU for DefMemPerCPU (MiB).
                pre.push_str(&format!(
                    "mem_mb=${{SLURM_MEM_PER_NODE:-}}\n\
                     if [ -z \"$mem_mb\" ] && [ -n \"${{SLURM_MEM_PER_CPU:-}}\" ]; then mem_mb=$((SLURM_MEM_PER_CPU * ${{SLURM_CPUS_ON_NODE:-1}})); fi\n\
                     memory=${{mem_mb:+${{mem_mb}}m}}\nmemory=${{memory:-{}}}\n",
                    quote(w)
                ));
                "\"$memory\"".to_string()
            }
            "--cpus" if from.cpus => {
                pre.push_str(&format!("cpus=${{SLURM_CPUS_PER_TASK:-${{SLURM_CPUS_ON_NODE:-{}}}}}\n", quote(w)));
                "\"$cpus\"".to_string()
            }
            _ => quote(w),
        });
        prev = w;
    }
    (pre, out.join(" "))
}

/// The job script: a bash script that runs `spec` on the node's engine.
pub fn job_script(
    run_id: &str,
    engine: &NodeEngine,
    spec: &ContainerSpec,
    image: &str,
    files: &JobFiles,
    from_allocation: FromAllocation,
) -> Result<String, ScriptError> {
    let name = spec.name.clone().unwrap_or_else(|| format!("berth-{run_id}"));
    let (allocation, run) = line_with_allocation(&engine.run_command(spec, image)?, from_allocation);
    let stop = engine.stop(&name).map(|c| line(&c)).unwrap_or_else(|| "kill -TERM \"$child\" 2>/dev/null".into());
    let remove = engine.remove(&name).map(|c| format!("{} >/dev/null 2>&1 || true", line(&c))).unwrap_or_default();
    let exit = quote(&files.exit_code.to_string_lossy());
    Ok(format!(
        r#"#!/bin/bash
# Generated by berth for run {run_id}: runs the run's container with the engine on this node.
# The tool's output goes to the files beside this script; its exit code to `exit-code`.
set -u
exec >>{out} 2>>{err}
child=
on_signal() {{
    # scancel or the time limit: stop the container (the engine's client alone would leave it running).
    {stop}
}}
trap on_signal TERM INT
{allocation}{remove}
{run} &
child=$!
wait "$child"
code=$?
# `wait` returns early when a signal arrives; wait for the container's real end.
while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    code=$?
done
printf '%s\n' "$code" >{exit}.tmp && mv {exit}.tmp {exit}
{remove}
exit "$code"
"#,
        out = quote(&files.stdout.to_string_lossy()),
        err = quote(&files.stderr.to_string_lossy()),
    ))
}

/// The cluster settings a job is submitted with (flags and configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time` (Slurm's syntax: `MM`, `HH:MM:SS`, `D-HH`); else the descriptor's walltime estimate.
    pub time: Option<String>,
    /// Further `sbatch` options, passed as they are.
    pub extra: Vec<String>,
}

/// The descriptor's `suggested-resources.walltime-estimate` (seconds), if any.
pub fn walltime_estimate(job: &PreparedJob) -> Option<u64> {
    let d: serde_json::Value = serde_json::from_str(&job.descriptor_json).ok()?;
    let w = d.get("suggested-resources")?.get("walltime-estimate")?.as_f64()?;
    (w > 0.0).then(|| w.ceil() as u64)
}

/// `sbatch` resource options for `job`: CPUs, memory, GPUs, time, partition, account, QOS.
/// Output files and `--array` are added by the submitter.
pub fn resource_args(job: &PreparedJob, cluster: &ClusterOptions) -> Vec<String> {
    let mut a = vec![format!("--job-name=berth-{}", job.tool.replace(|c: char| c.is_whitespace(), "_"))];
    let from = FromAllocation::of(job);
    if !from.cpus {
        let cpus = job.limits.nano_cpus.map_or(1, |n| ((n as f64 / 1e9).ceil() as i64).max(1));
        a.push(format!("--cpus-per-task={cpus}"));
    }
    if let (Some(m), false) = (job.limits.memory_bytes, from.memory) {
        // Slurm counts MiB; round up so the container's limit fits the allocation.
        a.push(format!("--mem={}M", (m + (1 << 20) - 1) >> 20));
    }
    match job.limits.gpus {
        GpuRequest::None => {}
        // Slurm has no "all GPUs": ask for one, the common case; `--gres` in extra options overrides.
        GpuRequest::All => a.push("--gres=gpu:1".into()),
        GpuRequest::Count(n) => a.push(format!("--gres=gpu:{n}")),
    }
    match (&cluster.time, walltime_estimate(job)) {
        (Some(t), _) => a.push(format!("--time={t}")),
        // Slurm's minutes, rounded up.
        (None, Some(secs)) => a.push(format!("--time={}", secs.div_ceil(60).max(1))),
        _ => {}
    }
    for (flag, v) in [("--partition", &cluster.partition), ("--account", &cluster.account), ("--qos", &cluster.qos)] {
        if let Some(v) = v {
            a.push(format!("{flag}={v}"));
        }
    }
    a.extend(cluster.extra.iter().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::{BindMount, Tmpfs, UserId};

    fn spec() -> ContainerSpec {
        let mut s = ContainerSpec::new("sha256:abc", ["/berth/command.sh"]);
        s.name = Some("berth-r1".into());
        s.entrypoint = Some(vec!["/bin/sh".into()]);
        s.user = Some(UserId { uid: 65534, gid: 65534 });
        s.working_dir = Some("/berth/out".into());
        s.env = vec![("HOME".into(), "/tmp".into())];
        s.mounts = vec![
            BindMount { source: "/shared/out".into(), target: "/berth/out".into(), read_only: false },
            BindMount { source: "/shared/in/a b.dcm".into(), target: "/berth/in/x/a b.dcm".into(), read_only: true },
        ];
        s.network = Network::Disabled;
        s.cap_drop = vec!["ALL".into()];
        s.security_opt = vec!["no-new-privileges".into()];
        s.pids_limit = Some(1024);
        s.memory_bytes = Some(1 << 30);
        s.nano_cpus = Some(1_500_000_000);
        s.tmpfs = vec![Tmpfs { target: "/tmp".into(), options: "rw,nosuid".into() }];
        s.init = true;
        s
    }

    #[test]
    fn docker_run_carries_every_confinement_setting_of_the_spec() {
        let e = NodeEngine::Docker { host: Some("unix:///run/d.sock".into()) };
        let c = line(&e.run_command(&spec(), "sha256:abc").unwrap());
        assert_eq!(
            c,
            "docker --host unix:///run/d.sock run --name berth-r1 --user 65534:65534 --workdir /berth/out \
             --env HOME=/tmp --mount type=bind,source=/shared/out,target=/berth/out \
             --mount 'type=bind,source=/shared/in/a b.dcm,target=/berth/in/x/a b.dcm,readonly' \
             --tmpfs /tmp:rw,nosuid --network none --cap-drop ALL --security-opt no-new-privileges \
             --pids-limit 1024 --memory 1073741824b --cpus 1.5 --init --entrypoint /bin/sh sha256:abc /berth/command.sh"
        );
    }

    #[test]
    fn podman_goes_through_its_service_and_apptainer_through_exec_args() {
        let p = NodeEngine::Podman { url: Some("unix:///p.sock".into()) };
        assert!(line(&p.run_command(&spec(), "img").unwrap()).starts_with("podman --remote --url unix:///p.sock run "));
        let a = NodeEngine::Apptainer { binary: "apptainer".into(), as_root: true };
        let c = line(&a.run_command(&spec(), "/sif/tool.sif").unwrap());
        assert!(c.starts_with("apptainer exec --cleanenv --containall --no-home --no-privs"), "{c}");
        assert!(c.contains("--net --network none"), "{c}");
        assert!(c.contains("--bind /shared/out:/berth/out:rw"), "{c}");
    }

    #[test]
    fn the_script_redirects_output_traps_signals_and_records_the_exit_code() {
        let e = NodeEngine::Docker { host: None };
        let files = JobFiles::in_dir(Path::new("/shared/jobs/r1"));
        let s = job_script("r1", &e, &spec(), "sha256:abc", &files, FromAllocation::default()).unwrap();
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.contains("exec >>/shared/jobs/r1/stdout 2>>/shared/jobs/r1/stderr"));
        assert!(s.contains("trap on_signal TERM INT"));
        assert!(s.contains("    docker stop --time 5 berth-r1"));
        assert!(s.contains("docker rm --force berth-r1 >/dev/null 2>&1 || true"));
        assert!(s.contains("mv /shared/jobs/r1/exit-code.tmp /shared/jobs/r1/exit-code"));
    }

    #[test]
    fn limits_berth_only_defaulted_come_from_the_allocation() {
        let e = NodeEngine::Docker { host: None };
        let files = JobFiles::in_dir(Path::new("/j"));
        let s = job_script("r1", &e, &spec(), "img", &files, FromAllocation { memory: true, cpus: true }).unwrap();
        assert!(s.contains(r#"--memory "$memory" --cpus "$cpus""#), "{s}");
        assert!(s.contains("mem_mb=${SLURM_MEM_PER_NODE:-}\n"), "{s}");
        assert!(s.contains("memory=${memory:-1073741824b}\n"), "{s}");
        assert!(s.contains("cpus=${SLURM_CPUS_PER_TASK:-${SLURM_CPUS_ON_NODE:-1.5}}\n"), "{s}");
    }

    #[test]
    fn quoting_survives_quotes_and_spaces() {
        assert_eq!(quote("plain/path-1.txt"), "plain/path-1.txt");
        assert_eq!(quote("it's here"), r"'it'\''s here'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn finding_10_a_comma_in_a_mount_path_is_refused_not_split_into_another_source() {
        for engine in [NodeEngine::Docker { host: None }, NodeEngine::Podman { url: None }] {
            for (source, target) in [
                ("/shared/in/x.dcm,source=/etc", "/berth/in/x.dcm"),
                ("/shared/out", "/out,source=/victim"),
                ("/shared/in/q\"uote", "/berth/in/q"),
                ("/shared/in/a=b", "/berth/in/a"),
                ("/shared/in/new\nline", "/berth/in/n"),
            ] {
                let mut s = spec();
                s.mounts.push(BindMount { source: source.into(), target: target.into(), read_only: true });
                let e =
                    job_script("r1", &engine, &s, "img", &JobFiles::in_dir(Path::new("/j")), FromAllocation::default())
                        .unwrap_err();
                assert!(matches!(e, ScriptError::MountPath { .. }), "{source} {target}: {e:?}");
                let shown = e.to_string();
                assert!(shown.contains("holds"), "{shown}");
                assert!(e.hint().is_some());
            }
        }
        // A path walked out of its path map with `..` is refused by every engine.
        let a = NodeEngine::Apptainer { binary: "apptainer".into(), as_root: false };
        assert!(matches!(a.run_command(&spec(), "--bind=/:/host"), Err(ScriptError::ImageRef { .. })));
        let mut s = spec();
        s.mounts.push(BindMount {
            source: "/nodes/data/../../etc".into(),
            target: "/berth/in/e".into(),
            read_only: true,
        });
        assert!(matches!(a.run_command(&s, "/t.sif"), Err(ScriptError::MountPath { .. })));
    }

    #[test]
    fn finding_10_extra_sbatch_options_cannot_replace_the_job_script_or_its_user() {
        let ok: Vec<String> =
            ["--constraint=avx2", "--gres=gpu:2", "-Cavx2", "--export=ALL", "--mail-type=END"].map(String::from).into();
        check_sbatch_args(&ok).unwrap();
        for bad in ["/tmp/evil.sh", "--", "-", "--wrap=id", "--wra=id", "--uid=0", "--gid=0", "--ui=1", "--x=\nid"] {
            let e = check_sbatch_args(&[bad.to_string()]).unwrap_err();
            assert!(matches!(e, ScriptError::SbatchArg { .. }), "{bad}: {e:?}");
        }
    }

    /// Runs the generated script under bash with a fake `docker` that records its arguments:
    /// every value from outside (name, labels, environment, paths) arrives as one argument.
    #[test]
    fn extra_the_job_script_passes_every_outside_value_as_one_word() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = t.path().join("argv");
        std::fs::write(
            bin.join("docker"),
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done >> '{}'\nprintf '\\n\\0' >> '{}'\n",
                log.display(),
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(bin.join("docker"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut s = spec();
        let hostile = "$(touch /tmp/berth-pwned)`id`'\"\n; rm -rf / #";
        s.env.push(("ODD".into(), hostile.into()));
        s.labels.insert("berth.task".into(), hostile.into());
        s.working_dir = Some(format!("/berth/out/{hostile}").replace('\n', " "));
        s.cmd = vec![hostile.into()];
        let e = NodeEngine::Docker { host: None };
        let files = JobFiles::in_dir(t.path());
        let script = job_script("r1", &e, &s, "img", &files, FromAllocation::default()).unwrap();
        let path = t.path().join("job.sh");
        std::fs::write(&path, script).unwrap();
        let st = std::process::Command::new("bash")
            .arg(&path)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .status()
            .unwrap();
        assert!(st.success());
        let raw = std::fs::read(&log).unwrap();
        let words: Vec<String> = raw.split(|b| *b == 0).map(|w| String::from_utf8_lossy(w).into_owned()).collect();
        let runs: Vec<&[String]> =
            words.split(|w| w == "\n").filter(|c| c.first().is_some_and(|w| w == "run")).collect();
        assert_eq!(runs.len(), 1, "{words:?}");
        assert_eq!(runs[0], run_args(&s, "img").as_slice());
        assert!(!Path::new("/tmp/berth-pwned").exists());
    }
}
