//! The `berth engine` report: what engines exist here, which one berth would use, and what it
//! says about itself.
//!
//! [`report`] gathers it; the struct serializes to JSON for `--json` and renders as a table
//! with `Display`, so the command's handler is one line.

use std::fmt;

use crate::detect::{self, Candidate, Prober, Selection, SystemProber, select};
use crate::env::Env;
use crate::model::{EngineInfo, EngineKind};

/// A problem that kept the report from naming a usable engine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// Everything `berth engine` shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineReport {
    /// The engine asked for on the command line.
    pub explicit: Option<EngineKind>,
    /// The engine named in the configuration.
    pub configured: Option<EngineKind>,
    /// Every candidate found, probed, in the order selection considers them.
    pub candidates: Vec<Candidate>,
    /// The engine berth would use, and why.
    pub selected: Option<Selection>,
    /// What the selected engine says about itself.
    pub engine: Option<EngineInfo>,
    /// Why there is no usable engine, if there is none.
    pub problem: Option<Problem>,
}

impl EngineReport {
    /// Whether the report names an engine berth can run containers with.
    pub fn is_usable(&self) -> bool {
        self.problem.is_none() && self.engine.is_some()
    }
}

/// Detect engines, select one by berth's rule, connect to it and ask for its info.
///
/// Never fails: whatever went wrong is in [`EngineReport::problem`], with a hint.
pub async fn report(explicit: Option<EngineKind>, configured: Option<EngineKind>) -> EngineReport {
    report_with(&Env::from_process(), &SystemProber, explicit, configured).await
}

/// [`report`] with the environment and detection probes supplied.
pub async fn report_with(
    env: &Env,
    prober: &dyn Prober,
    explicit: Option<EngineKind>,
    configured: Option<EngineKind>,
) -> EngineReport {
    let candidates = detect::detect_with(env, prober).await;
    let mut report = EngineReport { explicit, configured, candidates, selected: None, engine: None, problem: None };
    let selection = match select(&report.candidates, explicit, configured) {
        Ok(s) => s,
        Err(e) => {
            report.problem = Some(Problem { message: e.to_string(), hint: e.hint() });
            return report;
        }
    };
    let opened = detect::open(&selection).await;
    report.selected = Some(selection);
    match opened {
        Ok(engine) => match engine.info().await {
            Ok(info) => report.engine = Some(info),
            Err(e) => report.problem = Some(Problem { message: e.to_string(), hint: e.hint() }),
        },
        Err(e) => report.problem = Some(Problem { message: e.to_string(), hint: e.hint() }),
    }
    report
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

impl fmt::Display for EngineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 4]> = self
            .candidates
            .iter()
            .map(|c| {
                let status = if c.reachable {
                    match (&c.version, &c.api_version) {
                        (Some(v), Some(api)) => format!("{v} (API {api})"),
                        (Some(v), None) => v.clone(),
                        (None, _) => "reachable".to_owned(),
                    }
                } else {
                    format!("unreachable: {}", c.problem.as_deref().unwrap_or("no answer"))
                };
                [c.kind.to_string(), c.location.clone(), c.source.to_string(), status]
            })
            .collect();
        let header = ["KIND", "WHERE", "FOUND VIA", "STATUS"];
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0);
        let widths = [width(0), width(1), width(2)];
        writeln!(f, "Engines found:")?;
        for row in std::iter::once(header.map(str::to_owned)).chain(rows) {
            writeln!(
                f,
                "  {:w0$}  {:w1$}  {:w2$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
            )?;
        }
        writeln!(f)?;
        match &self.selected {
            Some(s) => writeln!(f, "Selected: {} at {} ({})", s.candidate.kind, s.candidate.location, s.reason)?,
            None => writeln!(f, "Selected: none")?,
        }
        if let Some(info) = &self.engine {
            let mut line = |key: &str, value: String| writeln!(f, "  {key:<16} {value}");
            line("kind", info.kind.to_string())?;
            line("server version", info.server_version.clone())?;
            let mut api = format!("{} (server offers {}", info.api_version, info.server_api_version);
            if let Some(min) = &info.min_api_version {
                api.push_str(&format!(", accepts {min} and newer"));
            }
            api.push(')');
            line("API version", api)?;
            line("OS/arch", format!("{}/{}", info.os, info.arch))?;
            if let Some(os) = &info.operating_system {
                line("host", os.clone())?;
            }
            line("rootless", yes_no(info.rootless).to_owned())?;
            line(
                "cgroup",
                match (&info.cgroup_driver, &info.cgroup_version) {
                    (Some(d), Some(v)) => format!("{d}, v{v}"),
                    (Some(d), None) => d.clone(),
                    (None, Some(v)) => format!("v{v}"),
                    (None, None) => "unknown".to_owned(),
                },
            )?;
            line(
                "default runtime",
                match &info.default_runtime {
                    Some(r) if info.runtimes.len() > 1 => {
                        format!("{r} (available: {})", info.runtimes.join(", "))
                    }
                    Some(r) => r.clone(),
                    None => "unknown".to_owned(),
                },
            )?;
            if let Some(driver) = &info.logging_driver {
                line("logging driver", driver.clone())?;
            }
            for warning in &info.warnings {
                line("warning", warning.clone())?;
            }
        }
        if let Some(p) = &self.problem {
            writeln!(f, "  problem: {}", p.message)?;
            if let Some(h) = &p.hint {
                writeln!(f, "  hint: {h}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{CandidateSource, SelectionReason};
    use crate::endpoint::Endpoint;

    fn docker() -> Candidate {
        Candidate {
            kind: EngineKind::Docker,
            source: CandidateSource::DockerHost,
            location: "unix:///srv/docker.sock".into(),
            endpoint: Some(Endpoint::unix("/srv/docker.sock")),
            reachable: true,
            version: Some("20.10.24+dfsg1".into()),
            api_version: Some("1.41".into()),
            problem: None,
            hint: None,
            unreachable_reason: None,
        }
    }

    fn podman_missing() -> Candidate {
        Candidate {
            kind: EngineKind::Podman,
            source: CandidateSource::PodmanSystemSocket,
            location: "unix:///run/podman/podman.sock".into(),
            endpoint: Some(Endpoint::unix("/run/podman/podman.sock")),
            reachable: false,
            version: None,
            api_version: None,
            problem: Some(
                "cannot reach a container engine at `unix:///run/podman/podman.sock`: no socket there".into(),
            ),
            hint: Some("start one".into()),
            unreachable_reason: Some(crate::error::UnreachableReason::SocketMissing),
        }
    }

    fn info() -> EngineInfo {
        EngineInfo {
            kind: EngineKind::Docker,
            endpoint: "unix:///srv/docker.sock".into(),
            server_version: "20.10.24+dfsg1".into(),
            api_version: "1.41".into(),
            server_api_version: "1.41".into(),
            min_api_version: Some("1.12".into()),
            os: "linux".into(),
            arch: "amd64".into(),
            kernel_version: Some("6.1.0".into()),
            operating_system: Some("Debian GNU/Linux 12 (bookworm)".into()),
            rootless: false,
            cgroup_driver: Some("cgroupfs".into()),
            cgroup_version: Some("1".into()),
            default_runtime: Some("runc".into()),
            runtimes: vec!["io.containerd.runc.v2".into(), "runc".into()],
            logging_driver: Some("json-file".into()),
            security_options: vec!["name=seccomp,profile=default".into()],
            warnings: vec!["WARNING: No swap limit support".into()],
        }
    }

    #[test]
    fn a_usable_engine_renders_as_a_table_and_its_details() {
        let report = EngineReport {
            explicit: None,
            configured: None,
            candidates: vec![docker(), podman_missing()],
            selected: Some(Selection { candidate: docker(), reason: SelectionReason::FirstReachableDocker }),
            engine: Some(info()),
            problem: None,
        };
        assert!(report.is_usable());
        insta::assert_snapshot!(report.to_string(), @r"
        Engines found:
          KIND    WHERE                           FOUND VIA      STATUS
          docker  unix:///srv/docker.sock         DOCKER_HOST    20.10.24+dfsg1 (API 1.41)
          podman  unix:///run/podman/podman.sock  system socket  unreachable: cannot reach a container engine at `unix:///run/podman/podman.sock`: no socket there

        Selected: docker at unix:///srv/docker.sock (the first reachable Docker)
          kind             docker
          server version   20.10.24+dfsg1
          API version      1.41 (server offers 1.41, accepts 1.12 and newer)
          OS/arch          linux/amd64
          host             Debian GNU/Linux 12 (bookworm)
          rootless         no
          cgroup           cgroupfs, v1
          default runtime  runc (available: io.containerd.runc.v2, runc)
          logging driver   json-file
          warning          WARNING: No swap limit support
        ");
    }

    #[test]
    fn no_engine_renders_the_problem_and_hint() {
        let report = EngineReport {
            explicit: Some(EngineKind::Podman),
            configured: None,
            candidates: vec![podman_missing()],
            selected: None,
            engine: None,
            problem: Some(Problem {
                message: "podman was asked for on the command line but no podman is reachable".into(),
                hint: Some("start Podman's API service (`podman system service --time=0 &`)".into()),
            }),
        };
        assert!(!report.is_usable());
        insta::assert_snapshot!(report.to_string(), @r"
        Engines found:
          KIND    WHERE                           FOUND VIA      STATUS
          podman  unix:///run/podman/podman.sock  system socket  unreachable: cannot reach a container engine at `unix:///run/podman/podman.sock`: no socket there

        Selected: none
          problem: podman was asked for on the command line but no podman is reachable
          hint: start Podman's API service (`podman system service --time=0 &`)
        ");
    }

    #[test]
    fn the_json_form_names_every_field() {
        let report = EngineReport {
            explicit: None,
            configured: Some(EngineKind::Docker),
            candidates: vec![docker()],
            selected: Some(Selection { candidate: docker(), reason: SelectionReason::Configured }),
            engine: Some(info()),
            problem: None,
        };
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["configured"], "docker");
        assert_eq!(json["selected"]["reason"], "configured");
        assert_eq!(json["candidates"][0]["source"], "docker-host");
        assert_eq!(json["candidates"][0]["endpoint"]["transport"], "unix");
        assert_eq!(json["engine"]["api_version"], "1.41");
        assert_eq!(json["engine"]["rootless"], false);
        let back: EngineReport = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, report);
    }
}
