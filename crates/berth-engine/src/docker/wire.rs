//! Conversions between berth's types and the Docker API's wire types (bollard's models).
//!
//! Kept apart from the request code so that what berth sends for a [`ContainerSpec`] can be
//! checked field by field without an engine.

use std::collections::{BTreeMap, HashMap};

use bollard::auth::DockerCredentials;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary as WireSummary, DeviceRequest, HostConfig,
    ImageInspect, Mount, MountType, SystemInfo, SystemVersion,
};

use crate::model::{
    AppliedConfig, ContainerInfo, ContainerState, ContainerStatus, ContainerSummary, DeviceRequestInfo, EngineInfo,
    EngineKind, ImageInfo, ImageSummary, MountInfo,
};
use crate::pull::RegistryAuth;
use crate::spec::{ContainerSpec, Gpus, Network};

/// The request body for `POST /containers/create` that applies `spec` exactly.
pub(crate) fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let mounts = spec
        .mounts
        .iter()
        .map(|m| Mount {
            typ: Some(MountType::BIND),
            source: Some(m.source.to_string_lossy().into_owned()),
            target: Some(m.target.clone()),
            read_only: Some(m.read_only),
            ..Mount::default()
        })
        .collect();
    let tmpfs: HashMap<String, String> = spec.tmpfs.iter().map(|t| (t.target.clone(), t.options.clone())).collect();
    let device_requests = match &spec.gpus {
        Gpus::None => Vec::new(),
        gpus => vec![gpu_request(gpus)],
    };
    let host_config = HostConfig {
        mounts: Some(mounts),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        // Unset lets each engine apply its own default network (Docker: `default`, the bridge).
        network_mode: match spec.network {
            Network::Disabled => Some("none".to_owned()),
            Network::EngineDefault => None,
            Network::Host => Some("host".to_owned()),
        },
        cap_drop: Some(spec.cap_drop.clone()),
        cap_add: Some(spec.cap_add.clone()),
        security_opt: Some(spec.security_opt.clone()),
        pids_limit: spec.pids_limit,
        memory: spec.memory_bytes,
        nano_cpus: spec.nano_cpus,
        device_requests: Some(device_requests),
        readonly_rootfs: Some(spec.read_only_rootfs),
        init: Some(spec.init),
        // Always explicit, so that an engine default can never widen what the spec says.
        privileged: Some(false),
        // berth reads exit code, logs and state after the container exits, then removes it.
        auto_remove: Some(false),
        ..HostConfig::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: spec.working_dir.clone(),
        user: spec.user.map(|u| u.to_string()),
        labels: Some(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        // No terminal: the engine then keeps stdout and stderr apart (multiplexed logs).
        tty: Some(false),
        open_stdin: Some(false),
        attach_stdin: Some(false),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    }
}

/// The device request `docker run --gpus` sends.
fn gpu_request(gpus: &Gpus) -> DeviceRequest {
    let (count, device_ids) = match gpus {
        Gpus::None | Gpus::All => (Some(-1), None),
        Gpus::Count(n) => (Some(i64::from(*n)), None),
        Gpus::DeviceIds(ids) => (None, Some(ids.clone())),
    };
    DeviceRequest {
        driver: Some(String::new()),
        count,
        device_ids,
        capabilities: Some(vec![vec!["gpu".to_owned()]]),
        options: None,
    }
}

/// Registry credentials in the engine's `X-Registry-Auth` form.
pub(crate) fn credentials(auth: &RegistryAuth) -> DockerCredentials {
    DockerCredentials {
        username: auth.username.clone(),
        password: auth.password.clone(),
        auth: None,
        email: None,
        serveraddress: auth.server_address.clone(),
        identitytoken: auth.identity_token.clone(),
        registrytoken: auth.registry_token.clone(),
    }
}

fn sorted(labels: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    labels.unwrap_or_default().into_iter().collect()
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// Whether the version payload comes from Podman's compatibility service.
pub(crate) fn is_podman(version: &SystemVersion) -> bool {
    let says_podman = |name: &str| name.to_ascii_lowercase().contains("podman");
    version.components.iter().flatten().any(|c| says_podman(&c.name))
        || version.platform.as_ref().is_some_and(|p| says_podman(&p.name))
}

/// Engine info from `GET /version`, `GET /info` and the negotiated API version.
pub(crate) fn engine_info(
    endpoint: String,
    api_version: String,
    version: SystemVersion,
    info: SystemInfo,
) -> EngineInfo {
    let kind = if is_podman(&version) { EngineKind::Podman } else { EngineKind::Docker };
    let security_options = info.security_options.unwrap_or_default();
    let rootless = security_options.iter().any(|o| o.split(',').any(|part| part == "name=rootless"));
    let mut runtimes: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
    runtimes.sort();
    EngineInfo {
        kind,
        endpoint,
        server_version: version.version.or(info.server_version).unwrap_or_default(),
        api_version,
        server_api_version: version.api_version.unwrap_or_default(),
        min_api_version: non_empty(version.min_api_version),
        os: version.os.or(info.os_type).unwrap_or_default(),
        arch: version.arch.or(info.architecture).unwrap_or_default(),
        kernel_version: non_empty(version.kernel_version.or(info.kernel_version)),
        operating_system: non_empty(info.operating_system),
        rootless,
        cgroup_driver: non_empty(info.cgroup_driver.map(|d| d.to_string())),
        cgroup_version: non_empty(info.cgroup_version.map(|v| v.to_string())),
        default_runtime: non_empty(info.default_runtime),
        runtimes,
        logging_driver: non_empty(info.logging_driver),
        security_options,
        warnings: info.warnings.unwrap_or_default(),
    }
}

/// Image info from `GET /images/{name}/json`.
/// One image from `GET /images/json`.
pub(crate) fn image_summary(image: bollard::models::ImageSummary) -> ImageSummary {
    // Docker lists untagged images with `<none>:<none>` / `<none>@<none>` placeholders.
    let real = |v: Vec<String>| v.into_iter().filter(|r| !r.starts_with("<none>")).collect::<Vec<_>>();
    ImageSummary {
        id: image.id,
        repo_tags: real(image.repo_tags),
        repo_digests: real(image.repo_digests),
        created: Some(image.created).filter(|c| *c > 0),
        size: Some(image.size).filter(|s| *s >= 0),
        labels: image.labels.into_iter().collect(),
    }
}

pub(crate) fn image_info(image: ImageInspect) -> ImageInfo {
    let config = image.config.unwrap_or_default();
    ImageInfo {
        id: image.id.unwrap_or_default(),
        repo_tags: image.repo_tags.unwrap_or_default(),
        repo_digests: image.repo_digests.unwrap_or_default(),
        labels: sorted(config.labels),
        entrypoint: config.entrypoint,
        cmd: config.cmd,
        user: non_empty(config.user),
        working_dir: non_empty(config.working_dir),
        env: config.env.unwrap_or_default(),
        created: non_empty(image.created),
        size: image.size,
        os: non_empty(image.os),
        architecture: non_empty(image.architecture),
        variant: non_empty(image.variant),
    }
}

/// Container info from `GET /containers/{id}/json`.
pub(crate) fn container_info(c: ContainerInspectResponse) -> ContainerInfo {
    let state = c.state.unwrap_or_default();
    let status = state
        .status
        .map(|s| ContainerStatus::from_engine(s.as_ref()))
        .unwrap_or_else(|| ContainerStatus::Other(String::new()));
    // The engine reports never/not-yet as the zero time.
    let time = |t: Option<String>| non_empty(t).filter(|t| !t.starts_with("0001-01-01"));
    let ended = matches!(status, ContainerStatus::Exited | ContainerStatus::Dead);
    let config = c.config.unwrap_or_default();
    let host = c.host_config.unwrap_or_default();
    let mounts = c
        .mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| MountInfo {
            kind: m.typ.unwrap_or_default(),
            source: non_empty(m.source),
            target: m.destination.unwrap_or_default(),
            read_only: !m.rw.unwrap_or(true),
        })
        .collect();
    let device_requests = host
        .device_requests
        .unwrap_or_default()
        .into_iter()
        .map(|d| DeviceRequestInfo {
            driver: non_empty(d.driver),
            count: d.count,
            device_ids: d.device_ids.unwrap_or_default(),
            capabilities: d.capabilities.unwrap_or_default(),
        })
        .collect();
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: c.name.map(|n| n.trim_start_matches('/').to_owned()),
        image_id: non_empty(c.image),
        created: non_empty(c.created),
        state: ContainerState {
            status,
            exit_code: if ended { state.exit_code } else { None },
            oom_killed: state.oom_killed.unwrap_or(false),
            error: non_empty(state.error),
            started_at: time(state.started_at),
            finished_at: time(state.finished_at),
        },
        labels: sorted(config.labels),
        applied: AppliedConfig {
            image: non_empty(config.image),
            user: non_empty(config.user),
            env: config.env.unwrap_or_default(),
            entrypoint: config.entrypoint,
            cmd: config.cmd,
            working_dir: non_empty(config.working_dir),
            memory_bytes: host.memory,
            nano_cpus: host.nano_cpus,
            pids_limit: host.pids_limit,
            cap_drop: host.cap_drop.unwrap_or_default(),
            cap_add: host.cap_add.unwrap_or_default(),
            security_opt: host.security_opt.unwrap_or_default(),
            network_mode: non_empty(host.network_mode),
            privileged: host.privileged.unwrap_or(false),
            readonly_rootfs: host.readonly_rootfs.unwrap_or(false),
            init: host.init,
            auto_remove: host.auto_remove.unwrap_or(false),
            tmpfs: host.tmpfs.unwrap_or_default().into_iter().collect(),
            mounts,
            readonly_paths: host.readonly_paths.unwrap_or_default(),
            masked_paths: host.masked_paths.unwrap_or_default(),
            device_requests,
            runtime: non_empty(host.runtime),
        },
    }
}

/// One row of `GET /containers/json`.
pub(crate) fn container_summary(c: WireSummary) -> ContainerSummary {
    ContainerSummary {
        id: c.id.unwrap_or_default(),
        names: c.names.unwrap_or_default().into_iter().map(|n| n.trim_start_matches('/').to_owned()).collect(),
        image: non_empty(c.image),
        labels: sorted(c.labels),
        status: c
            .state
            .map(|s| ContainerStatus::from_engine(s.as_ref()))
            .unwrap_or_else(|| ContainerStatus::Other(String::new())),
        status_text: non_empty(c.status),
        created: c.created,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{BindMount, Tmpfs, UserId};

    fn hardened() -> ContainerSpec {
        let mut s = ContainerSpec::new("berth-test/busybox:latest", ["sh", "-c", "true"]);
        s.env = vec![("B".into(), "2".into()), ("A".into(), "1".into())];
        s.user = Some(UserId { uid: 1000, gid: 1000 });
        s.mounts = vec![BindMount { source: "/data/in".into(), target: "/in".into(), read_only: true }];
        s.network = Network::Disabled;
        s.cap_drop = vec!["ALL".into()];
        s.security_opt = vec!["no-new-privileges".into()];
        s.pids_limit = Some(64);
        s.memory_bytes = Some(256 << 20);
        s.nano_cpus = Some(500_000_000);
        s.read_only_rootfs = true;
        s.tmpfs = vec![Tmpfs { target: "/tmp".into(), options: "rw,noexec,nosuid,size=16m".into() }];
        s.labels.insert("berth.run-id".into(), "r1".into());
        s
    }

    #[test]
    fn the_create_body_applies_every_security_setting_of_the_spec() {
        let body = create_body(&hardened());
        let host = body.host_config.as_ref().expect("host config");
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(host.cap_add, Some(vec![]));
        assert_eq!(host.security_opt, Some(vec!["no-new-privileges".to_owned()]));
        assert_eq!(host.pids_limit, Some(64));
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.privileged, Some(false));
        assert_eq!(host.auto_remove, Some(false));
        assert_eq!(host.init, Some(false));
        assert_eq!(host.device_requests, Some(vec![]));
        assert_eq!(
            host.tmpfs.as_ref().and_then(|t| t.get("/tmp")).map(String::as_str),
            Some("rw,noexec,nosuid,size=16m")
        );
        let mount = &host.mounts.as_ref().expect("mounts")[0];
        assert_eq!(mount.typ, Some(MountType::BIND));
        assert_eq!(mount.source.as_deref(), Some("/data/in"));
        assert_eq!(mount.target.as_deref(), Some("/in"));
        assert_eq!(mount.read_only, Some(true));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert_eq!(body.tty, Some(false));
        // Environment order is the spec's order.
        assert_eq!(body.env, Some(vec!["B=2".to_owned(), "A=1".to_owned()]));
        assert_eq!(body.entrypoint, None);
        assert_eq!(body.cmd, Some(vec!["sh".to_owned(), "-c".to_owned(), "true".to_owned()]));
    }

    #[test]
    fn the_create_body_serializes_with_docker_field_names() {
        let json = serde_json::to_value(create_body(&hardened())).expect("json");
        let host = &json["HostConfig"];
        assert_eq!(host["NetworkMode"], "none");
        assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
        assert_eq!(host["SecurityOpt"], serde_json::json!(["no-new-privileges"]));
        assert_eq!(host["PidsLimit"], 64);
        assert_eq!(host["Mounts"][0]["Type"], "bind");
        assert_eq!(host["Mounts"][0]["ReadOnly"], true);
        assert_eq!(json["User"], "1000:1000");
    }

    #[test]
    fn an_empty_cmd_keeps_the_image_default_and_an_empty_entrypoint_clears_it() {
        let mut s = ContainerSpec::new("img", Vec::<String>::new());
        s.entrypoint = Some(vec![]);
        let body = create_body(&s);
        assert_eq!(body.cmd, None);
        assert_eq!(body.entrypoint, Some(vec![]));
        assert_eq!(body.host_config.and_then(|h| h.network_mode), None);
    }

    #[test]
    fn gpus_become_device_requests_like_docker_run_gpus() {
        let all = gpu_request(&Gpus::All);
        assert_eq!(all.count, Some(-1));
        assert_eq!(all.capabilities, Some(vec![vec!["gpu".to_owned()]]));
        let two = gpu_request(&Gpus::Count(2));
        assert_eq!(two.count, Some(2));
        let ids = gpu_request(&Gpus::DeviceIds(vec!["0".into(), "GPU-abc".into()]));
        assert_eq!(ids.count, None);
        assert_eq!(ids.device_ids, Some(vec!["0".to_owned(), "GPU-abc".to_owned()]));
        let mut s = ContainerSpec::new("img", ["nvidia-smi"]);
        s.gpus = Gpus::All;
        let requests = create_body(&s).host_config.and_then(|h| h.device_requests);
        assert_eq!(requests.map(|r| r.len()), Some(1));
    }

    #[test]
    fn podman_is_recognised_from_its_version_components() {
        let version: SystemVersion = serde_json::from_value(serde_json::json!({
            "Platform": {"Name": "linux/amd64/debian-12"},
            "Components": [{"Name": "Podman Engine", "Version": "4.3.1", "Details": {}}],
            "Version": "4.3.1",
            "ApiVersion": "1.41",
        }))
        .expect("version");
        assert!(is_podman(&version));
        let docker: SystemVersion = serde_json::from_value(serde_json::json!({
            "Platform": {"Name": "Docker Engine - Community"},
            "Components": [{"Name": "Engine", "Version": "20.10.24", "Details": {}}],
        }))
        .expect("version");
        assert!(!is_podman(&docker));
    }

    #[test]
    fn rootless_comes_from_the_security_options() {
        let info: SystemInfo = serde_json::from_value(serde_json::json!({
            "SecurityOptions": ["name=seccomp,profile=default", "name=rootless", "name=cgroupns"],
            "CgroupDriver": "systemd",
            "CgroupVersion": "2",
            "DefaultRuntime": "crun",
            "Runtimes": {"crun": {}, "runc": {}},
        }))
        .expect("info");
        let got =
            engine_info("unix:///run/user/1000/docker.sock".into(), "1.41".into(), SystemVersion::default(), info);
        assert!(got.rootless);
        assert_eq!(got.cgroup_driver.as_deref(), Some("systemd"));
        assert_eq!(got.cgroup_version.as_deref(), Some("2"));
        assert_eq!(got.default_runtime.as_deref(), Some("crun"));
        assert_eq!(got.runtimes, vec!["crun".to_owned(), "runc".to_owned()]);
    }

    #[test]
    fn zero_times_mean_not_started_and_exit_codes_only_count_once_exited() {
        let c: ContainerInspectResponse = serde_json::from_value(serde_json::json!({
            "Id": "abc",
            "Name": "/berth-r1",
            "State": {"Status": "created", "ExitCode": 0, "OOMKilled": false,
                      "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"},
            "Mounts": [{"Type": "bind", "Source": "/data/in", "Destination": "/in", "RW": false}],
        }))
        .expect("inspect");
        let info = container_info(c);
        assert_eq!(info.name.as_deref(), Some("berth-r1"));
        assert_eq!(info.state.status, ContainerStatus::Created);
        assert_eq!(info.state.exit_code, None);
        assert_eq!(info.state.started_at, None);
        assert!(info.applied.mounts[0].read_only);
    }
}
