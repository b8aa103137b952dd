//! Finding container engines on this machine, and choosing one.
//!
//! [`detect`] lists every place an engine could be: the Docker socket (`DOCKER_HOST` or
//! `/var/run/docker.sock`), Podman's sockets (`CONTAINER_HOST`,
//! `$XDG_RUNTIME_DIR/podman/podman.sock`, `/run/podman/podman.sock`) and the `apptainer` and
//! `singularity` commands on `PATH`, and probes each. [`select`] then applies berth's rule:
//! the engine named on the command line, else the configured one, else the first reachable
//! Docker, else the first reachable Podman. Probing goes through the [`Prober`] trait so the
//! rule can be tested without engines.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::docker::DockerEngine;
use crate::endpoint::{DEFAULT_DOCKER_SOCKET, Endpoint, EndpointError};
use crate::engine::Engine;
use crate::env::{self, Env};
use crate::error::{EngineError, START_ENGINE_HINT, UnreachableReason};
use crate::model::EngineInfo;
use crate::model::EngineKind;

/// The system-wide (rootful) Podman API socket.
pub const PODMAN_SYSTEM_SOCKET: &str = "/run/podman/podman.sock";

/// How long a detection probe may take per engine.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a candidate engine was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateSource {
    /// The `DOCKER_HOST` variable.
    DockerHost,
    /// Docker's default socket, `/var/run/docker.sock`.
    DefaultDockerSocket,
    /// The `CONTAINER_HOST` variable (Podman's).
    ContainerHost,
    /// A rootless Podman's socket, `$XDG_RUNTIME_DIR/podman/podman.sock`.
    PodmanUserSocket,
    /// The system Podman's socket, `/run/podman/podman.sock`.
    PodmanSystemSocket,
    /// A command found on `PATH`.
    Path,
}

impl fmt::Display for CandidateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DockerHost => "DOCKER_HOST",
            Self::DefaultDockerSocket => "default socket",
            Self::ContainerHost => "CONTAINER_HOST",
            Self::PodmanUserSocket => "XDG_RUNTIME_DIR",
            Self::PodmanSystemSocket => "system socket",
            Self::Path => "PATH",
        })
    }
}

/// One place an engine could be, and what probing it found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// What it is: as the engine reported itself when reachable (a `DOCKER_HOST` pointing at
    /// Podman is Podman), else what its source suggests.
    pub kind: EngineKind,
    /// Where it was found.
    pub source: CandidateSource,
    /// The API address (`unix:///...`), or the command's path for Apptainer.
    pub location: String,
    /// The API endpoint, for Docker and Podman.
    pub endpoint: Option<Endpoint>,
    /// Whether it answered.
    pub reachable: bool,
    /// Its version, when it answered.
    pub version: Option<String>,
    /// The API version agreed on, for Docker and Podman.
    pub api_version: Option<String>,
    /// Why it is not reachable.
    pub problem: Option<String>,
    /// What to do about that.
    pub hint: Option<String>,
    /// The structured reason, when the engine's API could not be reached.
    pub unreachable_reason: Option<UnreachableReason>,
}

/// What probing a Docker-compatible API found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiProbe {
    /// Docker or Podman.
    pub kind: EngineKind,
    /// The engine's version.
    pub version: String,
    /// The API version agreed on.
    pub api_version: String,
}

/// The side effects of detection: asking an API, running a command, searching `PATH`.
#[async_trait]
pub trait Prober: Send + Sync {
    /// Connect to `endpoint` and ask what it is.
    async fn probe_api(&self, endpoint: &Endpoint) -> Result<ApiProbe, EngineError>;
    /// Run `program --version` and return its version (or why that failed).
    async fn probe_command(&self, program: &Path) -> Result<String, String>;
    /// The first executable `name` in the directories of `path` (a `PATH` value).
    fn find_program(&self, name: &str, path: &str) -> Option<PathBuf>;
}

/// The real prober: talks to engines and runs commands, each within [`PROBE_TIMEOUT`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemProber;

#[async_trait]
impl Prober for SystemProber {
    async fn probe_api(&self, endpoint: &Endpoint) -> Result<ApiProbe, EngineError> {
        let engine = DockerEngine::connect_with_timeout(endpoint, PROBE_TIMEOUT).await?;
        let info = engine.info().await?;
        Ok(ApiProbe { kind: info.kind, version: info.server_version, api_version: info.api_version })
    }

    async fn probe_command(&self, program: &Path) -> Result<String, String> {
        let run = tokio::process::Command::new(program)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = match tokio::time::timeout(PROBE_TIMEOUT, run).await {
            Err(_) => {
                return Err(format!(
                    "`{} --version` did not finish within {}s",
                    program.display(),
                    PROBE_TIMEOUT.as_secs()
                ));
            }
            Ok(Err(e)) => return Err(format!("cannot run `{}`: {e}", program.display())),
            Ok(Ok(output)) => output,
        };
        if !output.status.success() {
            return Err(format!(
                "`{} --version` failed ({}): {}",
                program.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(parse_command_version(&String::from_utf8_lossy(&output.stdout)))
    }

    fn find_program(&self, name: &str, path: &str) -> Option<PathBuf> {
        std::env::split_paths(path).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `apptainer version 1.3.4` → `1.3.4`; `singularity-ce version 4.1.0` → `4.1.0`.
fn parse_command_version(output: &str) -> String {
    let line = output.lines().next().unwrap_or("").trim();
    match line.rsplit_once("version ") {
        Some((_, v)) => v.trim().to_owned(),
        None => line.to_owned(),
    }
}

/// An API endpoint to probe, and what kind its source suggests.
#[derive(Debug, Clone)]
struct ApiPlace {
    kind: EngineKind,
    source: CandidateSource,
    endpoint: Result<Endpoint, (String, EndpointError)>,
}

/// Where to look, from the environment, in order, without duplicates.
fn api_places(env: &Env) -> Vec<ApiPlace> {
    let from_var = |var: &'static str| {
        env.get(var).map(|value| Endpoint::parse(value, Some(var), env).map_err(|e| (value.to_owned(), e)))
    };
    let mut places = Vec::new();
    match from_var(env::DOCKER_HOST) {
        Some(endpoint) => {
            places.push(ApiPlace { kind: EngineKind::Docker, source: CandidateSource::DockerHost, endpoint })
        }
        None => places.push(ApiPlace {
            kind: EngineKind::Docker,
            source: CandidateSource::DefaultDockerSocket,
            endpoint: Ok(Endpoint::unix(DEFAULT_DOCKER_SOCKET)),
        }),
    }
    if let Some(endpoint) = from_var(env::CONTAINER_HOST) {
        places.push(ApiPlace { kind: EngineKind::Podman, source: CandidateSource::ContainerHost, endpoint });
    }
    if let Some(dir) = env.get(env::XDG_RUNTIME_DIR) {
        places.push(ApiPlace {
            kind: EngineKind::Podman,
            source: CandidateSource::PodmanUserSocket,
            endpoint: Ok(Endpoint::unix(Path::new(dir).join("podman/podman.sock"))),
        });
    }
    places.push(ApiPlace {
        kind: EngineKind::Podman,
        source: CandidateSource::PodmanSystemSocket,
        endpoint: Ok(Endpoint::unix(PODMAN_SYSTEM_SOCKET)),
    });
    let mut seen = HashSet::new();
    places.retain(|p| match &p.endpoint {
        Ok(e) => seen.insert(e.to_string()),
        Err(_) => true,
    });
    places
}

async fn probe_place(place: ApiPlace, prober: &dyn Prober) -> Candidate {
    let endpoint = match place.endpoint {
        Ok(e) => e,
        Err((value, e)) => {
            return Candidate {
                kind: place.kind,
                source: place.source,
                location: value,
                endpoint: None,
                reachable: false,
                version: None,
                api_version: None,
                problem: Some(e.to_string()),
                hint: e.hint(),
                unreachable_reason: None,
            };
        }
    };
    let location = endpoint.to_string();
    match prober.probe_api(&endpoint).await {
        Ok(found) => Candidate {
            kind: found.kind,
            source: place.source,
            location,
            endpoint: Some(endpoint),
            reachable: true,
            version: Some(found.version),
            api_version: Some(found.api_version),
            problem: None,
            hint: None,
            unreachable_reason: None,
        },
        Err(e) => Candidate {
            kind: place.kind,
            source: place.source,
            location,
            endpoint: Some(endpoint),
            reachable: false,
            version: None,
            api_version: None,
            problem: Some(e.to_string()),
            hint: e.hint(),
            unreachable_reason: match e {
                EngineError::Unreachable { reason, .. } => Some(reason),
                _ => None,
            },
        },
    }
}

async fn probe_program(name: &str, path: &str, prober: &dyn Prober) -> Option<Candidate> {
    let program = prober.find_program(name, path)?;
    let location = program.display().to_string();
    let (reachable, version, problem) = match prober.probe_command(&program).await {
        Ok(v) => (true, Some(v), None),
        Err(problem) => (false, None, Some(problem)),
    };
    Some(Candidate {
        kind: EngineKind::Apptainer,
        source: CandidateSource::Path,
        location,
        endpoint: None,
        reachable,
        version,
        api_version: None,
        hint: problem.as_ref().map(|_| format!("check that `{name} --version` runs for this user")),
        problem,
        unreachable_reason: None,
    })
}

/// Every candidate engine on this machine, probed, in the order [`select`] considers them.
pub async fn detect() -> Vec<Candidate> {
    detect_with(&Env::from_process(), &SystemProber).await
}

/// [`detect`] with the environment and side effects supplied.
pub async fn detect_with(env: &Env, prober: &dyn Prober) -> Vec<Candidate> {
    let apis = futures_util::future::join_all(api_places(env).into_iter().map(|place| probe_place(place, prober)));
    let path = env.get(env::PATH).unwrap_or("");
    let programs = futures_util::future::join_all(
        ["apptainer", "singularity"].into_iter().map(|name| probe_program(name, path, prober)),
    );
    let (mut candidates, programs) = futures_util::future::join(apis, programs).await;
    candidates.extend(programs.into_iter().flatten());
    candidates
}

/// Who asked for a particular engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionReason {
    /// Named on the command line (`--engine`).
    Explicit,
    /// Named in berth's configuration.
    Configured,
    /// Nothing was named; the first reachable Docker.
    FirstReachableDocker,
    /// Nothing was named and no Docker is reachable; the first reachable Podman.
    FirstReachablePodman,
}

impl fmt::Display for SelectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Explicit => "asked for on the command line",
            Self::Configured => "named in the configuration",
            Self::FirstReachableDocker => "the first reachable Docker",
            Self::FirstReachablePodman => "no Docker reachable; the first reachable Podman",
        })
    }
}

/// The engine chosen, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    /// The chosen candidate.
    pub candidate: Candidate,
    /// Why it was chosen.
    pub reason: SelectionReason,
}

/// No engine could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Nothing was asked for and no Docker or Podman is reachable.
    #[error("no container engine is reachable (tried {})", tried.join("; "))]
    NoneReachable {
        /// Each place tried and why it failed.
        tried: Vec<String>,
    },
    /// The engine asked for is not reachable.
    #[error("{kind} was {by} but no {kind} is reachable ({})", if tried.is_empty() { "none was found".to_owned() } else { format!("tried {}", tried.join("; ")) })]
    NotReachable {
        /// The kind asked for.
        kind: EngineKind,
        /// Who asked.
        by: SelectionReason,
        /// Each place of that kind tried and why it failed.
        tried: Vec<String>,
    },
}

impl SelectError {
    /// How to get an engine running.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::NoneReachable { .. } => START_ENGINE_HINT.to_owned(),
            Self::NotReachable { kind: EngineKind::Docker, .. } => {
                "install Docker (`apt-get install docker.io`) and start it (`systemctl start \
                  docker`, or run `dockerd`), or point `DOCKER_HOST` at a running engine"
                    .to_owned()
            }
            Self::NotReachable { kind: EngineKind::Podman, .. } => {
                "start Podman's API service (`podman system service --time=0 &`), or point \
                  `CONTAINER_HOST` at its socket"
                    .to_owned()
            }
            Self::NotReachable { kind: EngineKind::Apptainer, .. } => {
                "install Apptainer so that `apptainer` (or `singularity`) is on `PATH`".to_owned()
            }
        })
    }
}

fn describe_failure(c: &Candidate) -> String {
    format!("{} at {}: {}", c.kind, c.location, c.problem.as_deref().unwrap_or("not reachable"))
}

/// Choose an engine among `candidates` (from [`detect`]): `explicit` (the command line) wins,
/// then `configured`, then the first reachable Docker, then the first reachable Podman.
///
/// An engine that was asked for must be reachable: berth does not fall back to another kind.
pub fn select(
    candidates: &[Candidate],
    explicit: Option<EngineKind>,
    configured: Option<EngineKind>,
) -> Result<Selection, SelectError> {
    let first = |kind: EngineKind| candidates.iter().find(|c| c.reachable && c.kind == kind);
    let asked =
        explicit.map(|k| (k, SelectionReason::Explicit)).or(configured.map(|k| (k, SelectionReason::Configured)));
    if let Some((kind, by)) = asked {
        return match first(kind) {
            Some(c) => Ok(Selection { candidate: c.clone(), reason: by }),
            None => Err(SelectError::NotReachable {
                kind,
                by,
                tried: candidates.iter().filter(|c| c.kind == kind).map(describe_failure).collect(),
            }),
        };
    }
    if let Some(c) = first(EngineKind::Docker) {
        return Ok(Selection { candidate: c.clone(), reason: SelectionReason::FirstReachableDocker });
    }
    if let Some(c) = first(EngineKind::Podman) {
        return Ok(Selection { candidate: c.clone(), reason: SelectionReason::FirstReachablePodman });
    }
    Err(SelectError::NoneReachable {
        tried: candidates.iter().filter(|c| c.kind != EngineKind::Apptainer).map(describe_failure).collect(),
    })
}

/// Why [`connect_preferred`] found no engine to use.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No engine of the wanted kind answered (the full detection's verdict).
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The chosen engine could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
}

impl ConnectError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Select(e) => e.hint(),
            Self::Open(e) => e.hint(),
        }
    }
}

/// Connects to the engine [`select`] would choose, without probing every candidate: API places
/// are tried in selection order and the first engine of the wanted kind that answers is used
/// (a `DOCKER_HOST` may name a Podman service; the engine's own answer decides its kind). This
/// is what a run needs; `berth engine` uses [`detect`] to list them all. When nothing answers,
/// the full detection runs so the error names every place tried.
pub async fn connect_preferred(
    env: &Env,
    explicit: Option<EngineKind>,
    configured: Option<EngineKind>,
) -> Result<(Arc<dyn Engine>, EngineInfo, Selection), ConnectError> {
    let asked =
        explicit.map(|k| (k, SelectionReason::Explicit)).or(configured.map(|k| (k, SelectionReason::Configured)));
    if !matches!(asked, Some((EngineKind::Apptainer, _))) {
        let wanted: Vec<EngineKind> = match asked {
            Some((k, _)) => vec![k],
            None => vec![EngineKind::Docker, EngineKind::Podman],
        };
        let places = api_places(env);
        for kind in &wanted {
            for place in &places {
                let Ok(endpoint) = &place.endpoint else { continue };
                let Ok(engine) = DockerEngine::connect(endpoint).await else { continue };
                let Ok(info) = engine.info().await else { continue };
                if info.kind != *kind {
                    continue;
                }
                let reason = match (asked, kind) {
                    (Some((_, by)), _) => by,
                    (None, EngineKind::Docker) => SelectionReason::FirstReachableDocker,
                    (None, _) => SelectionReason::FirstReachablePodman,
                };
                let candidate = Candidate {
                    kind: info.kind,
                    source: place.source,
                    location: endpoint.to_string(),
                    endpoint: Some(endpoint.clone()),
                    reachable: true,
                    version: Some(info.server_version.clone()),
                    api_version: Some(info.api_version.clone()),
                    problem: None,
                    hint: None,
                    unreachable_reason: None,
                };
                return Ok((Arc::new(engine), info, Selection { candidate, reason }));
            }
        }
    }
    let candidates = detect_with(env, &SystemProber).await;
    let selection = select(&candidates, explicit, configured)?;
    let engine = open(&selection).await?;
    let info = engine.info().await.map_err(OpenError::from)?;
    Ok((engine, info, selection))
}

/// Opening the selected engine failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Connecting to a Docker or Podman API failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// berth cannot run containers with this kind of engine yet.
    #[error("running containers with {kind} (`{location}`) is not supported yet")]
    Unsupported {
        /// The engine kind.
        kind: EngineKind,
        /// Where it was found.
        location: String,
    },
}

impl OpenError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Engine(e) => e.hint(),
            Self::Unsupported { .. } => {
                Some("choose Docker or Podman with `--engine docker` or `--engine podman`".to_owned())
            }
        }
    }
}

/// Connect to the engine `selection` chose.
pub async fn open(selection: &Selection) -> Result<Arc<dyn Engine>, OpenError> {
    let c = &selection.candidate;
    match (c.kind, &c.endpoint) {
        (EngineKind::Docker | EngineKind::Podman, Some(endpoint)) => {
            Ok(Arc::new(DockerEngine::connect(endpoint).await?))
        }
        _ => Err(OpenError::Unsupported { kind: c.kind, location: c.location.clone() }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    /// A prober that answers from tables and records what it was asked.
    #[derive(Default)]
    struct FakeProber {
        apis: BTreeMap<String, ApiProbe>,
        programs: BTreeMap<String, Result<String, String>>,
        asked: Mutex<Vec<String>>,
    }

    impl FakeProber {
        fn api(mut self, location: &str, kind: EngineKind, version: &str) -> Self {
            self.apis.insert(
                location.to_owned(),
                ApiProbe { kind, version: version.to_owned(), api_version: "1.41".to_owned() },
            );
            self
        }
    }

    #[async_trait]
    impl Prober for FakeProber {
        async fn probe_api(&self, endpoint: &Endpoint) -> Result<ApiProbe, EngineError> {
            let location = endpoint.to_string();
            self.asked.lock().expect("lock").push(format!("api {location}"));
            self.apis.get(&location).cloned().ok_or(EngineError::Unreachable {
                endpoint: location,
                reason: UnreachableReason::SocketMissing,
                source: None,
            })
        }

        async fn probe_command(&self, program: &Path) -> Result<String, String> {
            let program = program.display().to_string();
            self.asked.lock().expect("lock").push(format!("run {program} --version"));
            self.programs.get(&program).cloned().unwrap_or_else(|| Err("not found".to_owned()))
        }

        fn find_program(&self, name: &str, path: &str) -> Option<PathBuf> {
            path.split(':')
                .map(|dir| format!("{dir}/{name}"))
                .find(|p| self.programs.contains_key(p))
                .map(PathBuf::from)
        }
    }

    fn env(pairs: &[(&'static str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (*k, *v)))
    }

    #[tokio::test]
    async fn detection_probes_docker_podman_and_apptainer_in_order() {
        let mut prober = FakeProber::default().api("unix:///var/run/docker.sock", EngineKind::Docker, "20.10.24").api(
            "unix:///run/user/1000/podman/podman.sock",
            EngineKind::Podman,
            "4.3.1",
        );
        prober.programs.insert("/usr/bin/apptainer".into(), Ok("1.3.4".into()));
        let found = detect_with(
            &env(&[(env::XDG_RUNTIME_DIR, "/run/user/1000"), (env::PATH, "/usr/local/bin:/usr/bin")]),
            &prober,
        )
        .await;
        let summary: Vec<_> = found.iter().map(|c| (c.kind, c.source, c.location.as_str(), c.reachable)).collect();
        assert_eq!(
            summary,
            vec![
                (EngineKind::Docker, CandidateSource::DefaultDockerSocket, "unix:///var/run/docker.sock", true),
                (
                    EngineKind::Podman,
                    CandidateSource::PodmanUserSocket,
                    "unix:///run/user/1000/podman/podman.sock",
                    true
                ),
                (EngineKind::Podman, CandidateSource::PodmanSystemSocket, "unix:///run/podman/podman.sock", false),
                (EngineKind::Apptainer, CandidateSource::Path, "/usr/bin/apptainer", true),
            ]
        );
        assert_eq!(found[3].version.as_deref(), Some("1.3.4"));
        assert!(found[2].hint.as_deref().is_some_and(|h| h.contains("podman system service")));
    }

    #[tokio::test]
    async fn docker_host_replaces_the_default_socket_and_may_turn_out_to_be_podman() {
        let prober = FakeProber::default().api("unix:///tmp/podman.sock", EngineKind::Podman, "4.3.1");
        let found = detect_with(
            &env(&[(env::DOCKER_HOST, "unix:///tmp/podman.sock"), (env::CONTAINER_HOST, "unix:///tmp/podman.sock")]),
            &prober,
        )
        .await;
        // The same socket is probed once, under the first source that names it.
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].source, CandidateSource::DockerHost);
        assert_eq!(found[0].kind, EngineKind::Podman);
        assert_eq!(found[1].location, "unix:///run/podman/podman.sock");
        let asked = prober.asked.lock().expect("lock").clone();
        assert!(!asked.iter().any(|a| a.contains("/var/run/docker.sock")), "{asked:?}");
    }

    #[tokio::test]
    async fn a_bad_docker_host_is_a_candidate_with_the_reason() {
        let found = detect_with(&env(&[(env::DOCKER_HOST, "ssh://me@far")]), &FakeProber::default()).await;
        assert!(!found[0].reachable);
        assert_eq!(found[0].location, "ssh://me@far");
        assert!(found[0].problem.as_deref().is_some_and(|p| p.contains("unsupported engine address")));
    }

    fn candidate(kind: EngineKind, location: &str, reachable: bool) -> Candidate {
        Candidate {
            kind,
            source: CandidateSource::DockerHost,
            location: location.to_owned(),
            endpoint: Some(Endpoint::unix(location.trim_start_matches("unix://"))),
            reachable,
            version: reachable.then(|| "1".to_owned()),
            api_version: None,
            problem: (!reachable).then(|| "no socket there".to_owned()),
            hint: None,
            unreachable_reason: None,
        }
    }

    #[test]
    fn explicit_wins_over_configured_and_over_docker_first() {
        let cs = [
            candidate(EngineKind::Docker, "unix:///d.sock", true),
            candidate(EngineKind::Podman, "unix:///p.sock", true),
        ];
        let s = select(&cs, Some(EngineKind::Podman), Some(EngineKind::Docker)).expect("selected");
        assert_eq!((s.candidate.kind, s.reason), (EngineKind::Podman, SelectionReason::Explicit));
        let s = select(&cs, None, Some(EngineKind::Podman)).expect("selected");
        assert_eq!((s.candidate.kind, s.reason), (EngineKind::Podman, SelectionReason::Configured));
        let s = select(&cs, None, None).expect("selected");
        assert_eq!((s.candidate.kind, s.reason), (EngineKind::Docker, SelectionReason::FirstReachableDocker));
    }

    #[test]
    fn podman_is_chosen_when_no_docker_answers() {
        let cs = [
            candidate(EngineKind::Docker, "unix:///d.sock", false),
            candidate(EngineKind::Podman, "unix:///p1.sock", false),
            candidate(EngineKind::Podman, "unix:///p2.sock", true),
        ];
        let s = select(&cs, None, None).expect("selected");
        assert_eq!(s.candidate.location, "unix:///p2.sock");
        assert_eq!(s.reason, SelectionReason::FirstReachablePodman);
    }

    #[test]
    fn an_engine_asked_for_is_never_replaced_by_another() {
        let cs = [
            candidate(EngineKind::Docker, "unix:///d.sock", true),
            candidate(EngineKind::Podman, "unix:///p.sock", false),
        ];
        let err = select(&cs, Some(EngineKind::Podman), None).expect_err("not reachable");
        assert_eq!(
            err.to_string(),
            "podman was asked for on the command line but no podman is reachable \
             (tried podman at unix:///p.sock: no socket there)"
        );
        assert!(err.hint().expect("hint").contains("podman system service"));
    }

    #[test]
    fn an_engine_asked_for_but_never_found_says_so() {
        let cs = [candidate(EngineKind::Docker, "unix:///d.sock", true)];
        let err = select(&cs, None, Some(EngineKind::Apptainer)).expect_err("not found");
        assert_eq!(
            err.to_string(),
            "apptainer was named in the configuration but no apptainer is reachable (none was found)"
        );
    }

    #[test]
    fn nothing_reachable_says_how_to_start_an_engine() {
        let cs = [
            candidate(EngineKind::Docker, "unix:///var/run/docker.sock", false),
            candidate(EngineKind::Apptainer, "/usr/bin/apptainer", true),
        ];
        let err = select(&cs, None, None).expect_err("none");
        assert_eq!(
            err.to_string(),
            "no container engine is reachable (tried docker at unix:///var/run/docker.sock: no socket there)"
        );
        let hint = err.hint().expect("hint");
        assert!(hint.contains("apt-get install docker.io") && hint.contains("podman system service"));
    }

    #[test]
    fn apptainer_can_be_selected_explicitly_but_not_opened_yet() {
        let mut app = candidate(EngineKind::Apptainer, "/usr/bin/apptainer", true);
        app.endpoint = None;
        let s = select(std::slice::from_ref(&app), Some(EngineKind::Apptainer), None).expect("selected");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let err = rt.block_on(open(&s)).expect_err("unsupported");
        assert!(matches!(err, OpenError::Unsupported { kind: EngineKind::Apptainer, .. }));
    }

    #[test]
    fn command_versions_are_parsed_from_the_first_line() {
        assert_eq!(parse_command_version("apptainer version 1.3.4\n"), "1.3.4");
        assert_eq!(parse_command_version("singularity-ce version 4.1.0-jammy\n"), "4.1.0-jammy");
        assert_eq!(parse_command_version("weird\n"), "weird");
    }
}
