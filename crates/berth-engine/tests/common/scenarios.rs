//! Behaviour every Docker-compatible engine must show through `Engine`, run against each real
//! engine by its own test file (`docker_engine.rs`, `podman_engine.rs`).
//!
//! Where engines differ on purpose-irrelevant details (status codes, OOM reporting), the
//! difference is a field of [`Quirks`], so that it is written down and checked, not skipped.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use berth_engine::{
    BindMount, ContainerSpec, ContainerStatus, Engine, EngineError, EngineKind, LabelFilter, LogStreamKind, Network,
    NoProgress, Tmpfs, UserId,
};
use futures_util::StreamExt;

use super::{IMAGE, TEST_LABEL, output};

/// How one engine differs from Docker in what these scenarios observe.
#[derive(Debug, Clone, Copy)]
pub struct Quirks {
    /// What the engine says it is.
    pub kind: EngineKind,
    /// The HTTP status of a conflict (a name in use, removing a running container).
    pub conflict_status: u16,
    /// Whether `OOMKilled` is set when the OOM killer ends a container.
    pub reports_oom_killed: bool,
    /// Whether a bind mount whose source does not exist is created on the host (as `-v` does)
    /// instead of refused (with 400, by Docker's `Mounts`). The runner must check that inputs
    /// exist before creating a container.
    pub creates_missing_mount_source: bool,
    /// What container inspect shows as `CapDrop` for a spec that drops `ALL` (the kernel's
    /// view, `CapEff: 0`, is checked separately and is the same everywhere).
    pub cap_drop_all_reads_back_as: &'static [&'static str],
    /// Whether container inspect lists the spec's environment in the spec's order. Podman
    /// keeps it in a Go map, so its order changes from one inspect to the next.
    pub keeps_env_order: bool,
}

/// Docker 20.10 (Debian 12's `docker.io`).
pub const DOCKER: Quirks = Quirks {
    kind: EngineKind::Docker,
    conflict_status: 409,
    reports_oom_killed: true,
    creates_missing_mount_source: false,
    cap_drop_all_reads_back_as: &["ALL"],
    keeps_env_order: true,
};

/// Podman 4.3 (Debian 12's `podman`) through its Docker-compatible API, with runc on cgroup v1.
pub const PODMAN: Quirks = Quirks {
    kind: EngineKind::Podman,
    // Podman's compatibility API answers 500 where Docker answers 409.
    conflict_status: 500,
    // conmon 2.1.6 writes its `oom` marker into its working directory, where Podman does not
    // look; the exit code (137) is all there is.
    reports_oom_killed: false,
    creates_missing_mount_source: true,
    // Podman lists the capabilities of its default set one by one instead of `ALL`.
    cap_drop_all_reads_back_as: &[
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ],
    keeps_env_order: false,
};

/// A busybox container running `script` with `sh -c`, labelled as a test container.
pub fn shell(test: &str, script: &str) -> ContainerSpec {
    let mut spec = ContainerSpec::new(IMAGE, ["sh", "-c", script]);
    spec.network = Network::Disabled;
    spec.labels.insert(TEST_LABEL.into(), test.into());
    spec
}

/// Create, start, wait; returns the container ID and its exit code.
pub async fn run(engine: &dyn Engine, spec: &ContainerSpec) -> (String, i64) {
    let id = engine.create_container(spec).await.expect("create").id;
    engine.start_container(&id).await.expect("start");
    let outcome = engine.wait_container(&id).await.expect("wait");
    (id, outcome.exit_code)
}

pub async fn info_reports_the_kind_and_the_negotiated_api_version(engine: &dyn Engine, quirks: &Quirks) {
    let info = engine.info().await.expect("info");
    assert_eq!(info.kind, quirks.kind);
    assert_eq!(info.os, "linux");
    assert!(!info.server_version.is_empty());
    // Docker 20.10 and Podman 4.3 offer 1.41; bollard would otherwise speak its own newer
    // default, which they refuse.
    let parse = |v: &str| -> (u32, u32) {
        let (a, b) = v.split_once('.').expect("major.minor");
        (a.parse().expect("major"), b.parse().expect("minor"))
    };
    assert!(parse(&info.api_version) <= parse(&info.server_api_version));
    assert!(parse(&info.api_version) >= (1, 40));
    assert!(info.cgroup_version.is_some(), "{info:?}");
    assert!(info.default_runtime.is_some(), "{info:?}");
}

pub async fn the_test_image_is_inspected_and_absent_images_are_none(engine: &dyn Engine, _quirks: &Quirks) {
    let image = engine.inspect_image(IMAGE).await.expect("inspect").expect("the busybox test image is present");
    assert!(image.id.starts_with("sha256:"), "{image:?}");
    // Podman qualifies short names (`localhost/...`, `docker.io/...`).
    assert!(image.repo_tags.iter().any(|t| t.ends_with(IMAGE)), "{image:?}");
    assert_eq!(image.cmd, Some(vec!["/bin/sh".to_owned()]));
    assert!(image.env.iter().any(|e| e == "PATH=/bin"), "{image:?}");
    assert_eq!(image.labels.get("org.opencontainers.image.title").map(String::as_str), Some("berth-test-busybox"));
    assert_eq!(image.os.as_deref(), Some("linux"));
    assert!(engine.inspect_image("berth-test/absent:none").await.expect("inspect").is_none());
}

pub async fn exit_codes_zero_and_three_are_reported(engine: &dyn Engine, _quirks: &Quirks) {
    let (ok, code) = run(engine, &shell("exit-codes", "true")).await;
    assert_eq!(code, 0);
    let (three, code) = run(engine, &shell("exit-codes", "exit 3")).await;
    assert_eq!(code, 3);
    let state = engine.inspect_container(&three).await.expect("inspect").state;
    assert_eq!(state.status, ContainerStatus::Exited);
    assert_eq!(state.exit_code, Some(3));
    assert!(!state.oom_killed);
    assert!(state.started_at.is_some() && state.finished_at.is_some(), "{state:?}");
    // Waiting again on an exited container answers at once with the same code.
    assert_eq!(engine.wait_container(&three).await.expect("wait").exit_code, 3);
    for id in [ok, three] {
        engine.remove_container(&id, false).await.expect("remove");
    }
}

pub async fn stdout_and_stderr_are_kept_apart(engine: &dyn Engine, _quirks: &Quirks) {
    let (id, code) = run(engine, &shell("demux", "echo out1; echo err1 >&2; echo out2; printf 'err2' >&2")).await;
    assert_eq!(code, 0);
    let (stdout, stderr) = output(engine, &id, false).await;
    assert_eq!(stdout, "out1\nout2\n");
    assert_eq!(stderr, "err1\nerr2");
    engine.remove_container(&id, false).await.expect("remove");
}

pub async fn following_logs_streams_while_running_and_ends_at_exit(engine: &dyn Engine, _quirks: &Quirks) {
    let spec = shell("follow", "for i in 1 2 3 4 5; do echo line $i; sleep 0.4; done; echo done >&2");
    let id = engine.create_container(&spec).await.expect("create").id;
    engine.start_container(&id).await.expect("start");
    let mut logs = engine.container_logs(&id, true);
    let first = logs.next().await.expect("a first chunk").expect("chunk");
    assert_eq!(first.stream, LogStreamKind::Stdout);
    assert!(first.bytes.starts_with(b"line 1"), "{first:?}");
    // The first line arrived while the container was still running: this is a stream.
    let state = engine.inspect_container(&id).await.expect("inspect").state;
    assert_eq!(state.status, ContainerStatus::Running);
    let mut rest = Vec::new();
    while let Some(chunk) = logs.next().await {
        rest.push(chunk.expect("chunk"));
    }
    let stdout: Vec<u8> = std::iter::once(&first)
        .chain(&rest)
        .filter(|c| c.stream == LogStreamKind::Stdout)
        .flat_map(|c| c.bytes.to_vec())
        .collect();
    assert_eq!(String::from_utf8_lossy(&stdout), "line 1\nline 2\nline 3\nline 4\nline 5\n");
    assert!(rest.iter().any(|c| c.stream == LogStreamKind::Stderr && c.bytes.as_ref() == b"done\n"));
    // The stream ended because the container exited.
    assert_eq!(engine.wait_container(&id).await.expect("wait").exit_code, 0);
    engine.remove_container(&id, false).await.expect("remove");
}

/// Waits until the container has printed its first output: its process is running (and an
/// init, when there is one, has started it and set up signal forwarding), so that a signal
/// sent next is not lost in the moment before (as PID 1 without a handler, it would be).
async fn wait_first_output(engine: &dyn Engine, id: &str) {
    let mut logs = engine.container_logs(id, true);
    let first = tokio::time::timeout(Duration::from_secs(30), logs.next()).await;
    assert!(matches!(first, Ok(Some(Ok(_)))), "the container printed nothing within 30 s");
}

pub async fn stop_kills_a_sleep_after_the_timeout_and_init_forwards_sigterm(engine: &dyn Engine, _quirks: &Quirks) {
    // `sleep` as PID 1 ignores SIGTERM, so the engine kills it when the timeout runs out.
    let spec = shell("stop", "echo ready; exec sleep 100");
    let id = engine.create_container(&spec).await.expect("create").id;
    engine.start_container(&id).await.expect("start");
    wait_first_output(engine, &id).await;
    let began = Instant::now();
    engine.stop_container(&id, Duration::from_secs(1)).await.expect("stop");
    let took = began.elapsed();
    assert!(took < Duration::from_secs(15), "stop took {took:?}");
    let outcome = engine.wait_container(&id).await.expect("wait");
    assert_eq!(outcome.exit_code, 137, "killed by SIGKILL");
    // Stopping a stopped container is fine.
    engine.stop_container(&id, Duration::from_secs(1)).await.expect("second stop");
    engine.remove_container(&id, false).await.expect("remove");

    // With an init process, SIGTERM reaches `sleep` and it ends well before the timeout.
    let mut spec = shell("stop", "echo ready; exec sleep 100");
    spec.init = true;
    let id = engine.create_container(&spec).await.expect("create").id;
    engine.start_container(&id).await.expect("start");
    wait_first_output(engine, &id).await;
    let began = Instant::now();
    engine.stop_container(&id, Duration::from_secs(30)).await.expect("stop");
    let took = began.elapsed();
    assert!(took < Duration::from_secs(10), "stop took {took:?}");
    let outcome = engine.wait_container(&id).await.expect("wait");
    assert_eq!(outcome.exit_code, 143, "ended by SIGTERM");
    engine.remove_container(&id, false).await.expect("remove");
}

pub async fn remove_refuses_a_running_container_unless_forced(engine: &dyn Engine, quirks: &Quirks) {
    let id = engine.create_container(&shell("remove", "exec sleep 100")).await.expect("create").id;
    engine.start_container(&id).await.expect("start");
    let refused = engine.remove_container(&id, false).await.expect_err("running");
    assert!(
        matches!(refused, EngineError::Api { status_code, .. } if status_code == quirks.conflict_status),
        "{refused:?}"
    );
    engine.remove_container(&id, true).await.expect("forced");
    let gone = engine.inspect_container(&id).await.expect_err("removed");
    assert!(matches!(gone, EngineError::ContainerNotFound { ref id } if !id.is_empty()), "{gone:?}");
    let again = engine.remove_container(&id, true).await.expect_err("removed");
    assert!(matches!(again, EngineError::ContainerNotFound { .. }), "{again:?}");
    assert!(matches!(engine.start_container(&id).await, Err(EngineError::ContainerNotFound { .. })));
}

/// A host directory the container's non-root user can read, holding `input.txt`.
fn input_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("input.txt"), "scan data\n").expect("write");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

pub async fn hardened_settings_are_applied_and_in_effect(engine: &dyn Engine, quirks: &Quirks) {
    let input = input_dir();
    let mut spec = shell(
        "hardened",
        // What the kernel says inside: user, group, capabilities, no_new_privs, interfaces,
        // the input, and whether / and /tmp are writable.
        "id -u; id -g; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; ls /sys/class/net; \
         cat /in/input.txt; touch /rootfs-file 2>/dev/null && echo rootfs-writable; \
         touch /tmp/ok && echo tmp-writable",
    );
    spec.user = Some(UserId { uid: 1000, gid: 1000 });
    spec.mounts.push(BindMount { source: input.path().to_path_buf(), target: "/in".into(), read_only: true });
    spec.cap_drop = vec!["ALL".into()];
    spec.security_opt = vec!["no-new-privileges".into()];
    spec.pids_limit = Some(64);
    spec.memory_bytes = Some(128 * 1024 * 1024);
    spec.nano_cpus = Some(500_000_000);
    spec.read_only_rootfs = true;
    spec.tmpfs.push(Tmpfs { target: "/tmp".into(), options: "rw,nosuid,nodev,size=16m".into() });
    spec.init = true;
    spec.env = vec![("B_FIRST".into(), "1".into()), ("A_SECOND".into(), "2".into())];
    spec.labels.insert("berth.run-id".into(), "hardened-1".into());

    let (id, code) = run(engine, &spec).await;
    let (stdout, stderr) = output(engine, &id, false).await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout, "1000\n1000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nlo\nscan data\ntmp-writable\n");

    let info = engine.inspect_container(&id).await.expect("inspect");
    let applied = &info.applied;
    assert_eq!(applied.user.as_deref(), Some("1000:1000"));
    assert_eq!(applied.memory_bytes, Some(128 * 1024 * 1024));
    assert_eq!(applied.nano_cpus, Some(500_000_000));
    assert_eq!(applied.pids_limit, Some(64));
    assert_eq!(applied.cap_drop, quirks.cap_drop_all_reads_back_as);
    assert_eq!(applied.security_opt, vec!["no-new-privileges".to_owned()]);
    assert_eq!(applied.network_mode.as_deref(), Some("none"));
    assert!(applied.readonly_rootfs);
    assert!(!applied.privileged);
    assert!(!applied.auto_remove);
    assert_eq!(applied.init, Some(true));
    // Podman appends its own options (`rprivate,tmpcopyup`).
    let tmp = applied.tmpfs.get("/tmp").expect("a /tmp tmpfs");
    assert!(tmp.starts_with("rw,nosuid,nodev,size=16m"), "{tmp}");
    let mount = applied.mounts.iter().find(|m| m.target == "/in").expect("the /in mount");
    assert_eq!(mount.kind, "bind");
    assert!(mount.read_only);
    assert_eq!(mount.source.as_deref(), Some(input.path().to_str().expect("utf-8 path")));
    assert!(applied.device_requests.is_empty());
    // The spec's environment (in the spec's order where the engine keeps it).
    let env: Vec<&str> = applied.env.iter().map(String::as_str).collect();
    let b = env.iter().position(|e| *e == "B_FIRST=1").expect("B_FIRST");
    let a = env.iter().position(|e| *e == "A_SECOND=2").expect("A_SECOND");
    if quirks.keeps_env_order {
        assert!(b < a, "{env:?}");
    }
    assert_eq!(info.labels.get("berth.run-id").map(String::as_str), Some("hardened-1"));
    assert!(applied.image.as_deref().is_some_and(|i| i.ends_with(IMAGE)), "{applied:?}");
    engine.remove_container(&id, false).await.expect("remove");
}

pub async fn writing_to_a_read_only_mount_fails(engine: &dyn Engine, _quirks: &Quirks) {
    let dir = input_dir();
    let mut spec = shell("read-only", "echo x > /in/new");
    spec.cap_drop = vec!["ALL".into()];
    spec.mounts.push(BindMount { source: dir.path().to_path_buf(), target: "/in".into(), read_only: true });
    let (id, code) = run(engine, &spec).await;
    let (_, stderr) = output(engine, &id, false).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(!dir.path().join("new").exists());
    engine.remove_container(&id, false).await.expect("remove");

    // The same write to a writable mount works, so it is the mount that refused.
    spec.mounts[0].read_only = false;
    let (id, code) = run(engine, &spec).await;
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(dir.path().join("new")).expect("written"), "x\n");
    engine.remove_container(&id, false).await.expect("remove");
}

pub async fn the_oom_killer_ends_a_container_over_its_memory_limit(engine: &dyn Engine, quirks: &Quirks) {
    // A shell variable of 64 MiB in a container limited to 16 MiB (the machine has no swap
    // for it to spill into when swap limits are not enforced).
    let mut spec = shell("oom", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived ${#x}");
    spec.memory_bytes = Some(16 * 1024 * 1024);
    // Docker learns of the OOM kill from containerd's OOM event, which a loaded machine can lose
    // when the cgroup goes away with the task (berth already re-inspects for 1.5 s): one more
    // container may be run before the flag is held missing. Twice without it fails.
    for attempt in 1..=2 {
        let (id, code) = run(engine, &spec).await;
        let outcome = engine.wait_container(&id).await.expect("wait");
        engine.remove_container(&id, false).await.expect("remove");
        assert_eq!(code, 137);
        if outcome.oom_killed == quirks.reports_oom_killed {
            return;
        }
        assert!(attempt < 2 && quirks.reports_oom_killed, "{outcome:?} (attempt {attempt})");
    }
}

pub async fn containers_are_listed_by_label_including_stopped_ones(engine: &dyn Engine, _quirks: &Quirks) {
    let run_id = format!("list-{}", std::process::id());
    let labelled = |run: &str| {
        let mut s = shell("list", "exit 0");
        s.labels.insert("berth.run-id".into(), run.into());
        s
    };
    let (exited, _) = run(engine, &labelled(&run_id)).await;
    let created = engine.create_container(&labelled(&run_id)).await.expect("create").id;
    let (other, _) = run(engine, &labelled("someone-else")).await;

    let mut found = engine.list_containers(&[LabelFilter::equals("berth.run-id", &run_id)]).await.expect("list");
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let mut want = vec![exited.clone(), created.clone()];
    want.sort();
    assert_eq!(found.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), want);
    let statuses: BTreeMap<_, _> = found.iter().map(|c| (c.id.clone(), c.status.clone())).collect();
    assert_eq!(statuses[&exited], ContainerStatus::Exited);
    assert_eq!(statuses[&created], ContainerStatus::Created);
    assert!(found.iter().all(|c| c.image.as_deref().is_some_and(|i| i.ends_with(IMAGE))), "{found:?}");

    // Both labels must match.
    let none = engine
        .list_containers(&[LabelFilter::equals("berth.run-id", &run_id), LabelFilter::has("no-such-label")])
        .await
        .expect("list");
    assert!(none.is_empty(), "{none:?}");

    for id in [exited, created, other] {
        engine.remove_container(&id, false).await.expect("remove");
    }
    let after = engine.list_containers(&[LabelFilter::equals("berth.run-id", &run_id)]).await.expect("list");
    assert!(after.is_empty(), "{after:?}");
}

pub async fn named_containers_can_be_addressed_by_name(engine: &dyn Engine, quirks: &Quirks) {
    let mut spec = shell("names", "exit 4");
    let name = format!("berth-test-named-{}", std::process::id());
    spec.name = Some(name.clone());
    let id = engine.create_container(&spec).await.expect("create").id;
    engine.start_container(&name).await.expect("start by name");
    assert_eq!(engine.wait_container(&name).await.expect("wait").exit_code, 4);
    let info = engine.inspect_container(&name).await.expect("inspect");
    assert_eq!((info.id.as_str(), info.name.as_deref()), (id.as_str(), Some(name.as_str())));
    let clash = engine.create_container(&spec).await.expect_err("name in use");
    assert!(
        matches!(clash, EngineError::Api { status_code, .. } if status_code == quirks.conflict_status),
        "{clash:?}"
    );
    engine.remove_container(&name, false).await.expect("remove");
}

pub async fn paths_are_found_in_a_created_container_before_it_starts(engine: &dyn Engine, _quirks: &Quirks) {
    let spec = shell("path-exists", "true");
    let id = engine.create_container(&spec).await.expect("create").id;
    assert!(engine.path_exists(&id, "/bin/sh").await.expect("stat /bin/sh"), "busybox has /bin/sh (a link)");
    assert!(engine.path_exists(&id, "/bin/busybox").await.expect("stat busybox"));
    assert!(!engine.path_exists(&id, "/no/such/shell").await.expect("stat a missing path"));
    engine.remove_container(&id, false).await.expect("remove");
}

pub async fn creating_from_a_missing_image_is_image_not_found(engine: &dyn Engine, _quirks: &Quirks) {
    let spec = ContainerSpec::new("berth-test/absent:none", ["true"]);
    let err = engine.create_container(&spec).await.expect_err("missing");
    assert!(
        matches!(err, EngineError::ImageNotFound { ref reference } if reference == "berth-test/absent:none"),
        "{err:?}"
    );
    assert!(err.hint().expect("hint").contains("docker pull"));
}

pub async fn a_missing_mount_source_is_refused_or_created(engine: &dyn Engine, quirks: &Quirks) {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("not-there");
    let mut spec = shell("mount-missing", "true");
    spec.mounts.push(BindMount { source: missing.clone(), target: "/in".into(), read_only: true });
    let created = engine.create_container(&spec).await;
    if quirks.creates_missing_mount_source {
        let id = created.expect("created").id;
        assert!(missing.is_dir(), "the engine made the missing source");
        engine.remove_container(&id, true).await.expect("remove");
    } else {
        let err = created.expect_err("refused");
        assert!(matches!(err, EngineError::Api { status_code: 400, .. }), "{err:?}");
        assert!(err.hint().is_some(), "{err:?}");
        assert!(!missing.exists());
    }
}

pub async fn pulling_from_an_unreachable_registry_fails_with_the_reference(engine: &dyn Engine, _quirks: &Quirks) {
    // Port 9 (discard) on loopback: nothing listens, so the engine's pull fails at once.
    let err =
        engine.pull_image("127.0.0.1:9/berth-test/nothing", None, &NoProgress).await.expect_err("no registry there");
    match err {
        EngineError::Pull { ref reference, ref message, .. } => {
            assert_eq!(reference, "127.0.0.1:9/berth-test/nothing:latest");
            assert!(message.contains("127.0.0.1:9"), "{message}");
        }
        other => panic!("expected a pull error, got {other:?}"),
    }
}

/// The export is a `docker save` tarball: `manifest.json` naming the config and one layer per
/// image layer, and an absent image fails with `ImageNotFound`.
pub async fn exporting_the_test_image_yields_a_docker_save_tarball(engine: &dyn Engine, _quirks: &Quirks) {
    let mut bytes = Vec::new();
    let mut chunks = engine.export_image(IMAGE);
    while let Some(chunk) = chunks.next().await {
        bytes.extend_from_slice(&chunk.expect("export chunk"));
    }
    let mut names = Vec::new();
    let mut manifest = None;
    let mut archive = tar::Archive::new(bytes.as_slice());
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        if name == "manifest.json" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("read manifest");
            manifest = Some(text);
        }
        names.push(name);
    }
    let manifest: serde_json::Value = serde_json::from_str(&manifest.expect("manifest.json")).expect("json");
    let layers = manifest[0]["Layers"].as_array().expect("Layers");
    assert_eq!(layers.len(), 1, "{manifest}");
    for layer in layers {
        assert!(names.contains(&layer.as_str().expect("name").to_owned()), "{names:?}");
    }
    let mut absent = engine.export_image("berth-test/absent:none");
    assert!(matches!(absent.next().await, Some(Err(EngineError::ImageNotFound { .. }))));
}

/// Commands run in a running container: output kept apart by stream, the exit code returned,
/// run as the user and in the directory asked for, with the environment given; a command that
/// does not exist ends with 126 or 127; a container that does not exist is `ContainerNotFound`.
pub async fn exec_runs_commands_in_a_running_container(engine: &dyn Engine, _quirks: &Quirks) {
    let mut spec = shell("exec", "echo ready; exec sleep 100");
    spec.init = true;
    spec.user = Some(UserId { uid: 65534, gid: 65534 });
    let id = engine.create_container(&spec).await.expect("create").id;
    engine.start_container(&id).await.expect("start");
    wait_first_output(engine, &id).await;
    let mut out = Vec::new();
    let mut err = Vec::new();
    let exec = berth_engine::ExecSpec {
        cmd: ["sh", "-c", "echo out $GREETING; id -u; pwd; echo err >&2; exit 3"].map(String::from).to_vec(),
        env: vec![("GREETING".into(), "hello".into())],
        working_dir: Some("/tmp".into()),
        user: None,
    };
    let code = engine
        .exec(&id, &exec, &mut |c| match c.stream {
            LogStreamKind::Stdout => out.extend_from_slice(&c.bytes),
            LogStreamKind::Stderr => err.extend_from_slice(&c.bytes),
        })
        .await
        .expect("exec");
    assert_eq!(code, 3);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "out hello\n65534\n/tmp\n",
        "the container's user, the directory asked for"
    );
    assert_eq!(String::from_utf8_lossy(&err), "err\n");
    // As another user.
    let mut out = Vec::new();
    let as_other = berth_engine::ExecSpec {
        cmd: ["id", "-u"].map(String::from).to_vec(),
        user: Some(UserId { uid: 1234, gid: 1234 }),
        ..Default::default()
    };
    let code = engine.exec(&id, &as_other, &mut |c| out.extend_from_slice(&c.bytes)).await.expect("exec");
    assert_eq!((code, String::from_utf8_lossy(&out).trim().to_owned()), (0, "1234".to_owned()));
    // Many calls in a row in the same container.
    for i in 0..5 {
        let e =
            berth_engine::ExecSpec { cmd: vec!["sh".into(), "-c".into(), format!("exit {i}")], ..Default::default() };
        assert_eq!(engine.exec(&id, &e, &mut |_| {}).await.expect("exec"), i);
    }
    let missing = berth_engine::ExecSpec { cmd: vec!["/no/such/command".into()], ..Default::default() };
    match engine.exec(&id, &missing, &mut |_| {}).await {
        Ok(code) => assert!(code == 126 || code == 127, "a missing command ended with {code}"),
        // Some engines refuse to start it at all; that is an error naming the operation.
        Err(e) => assert!(e.to_string().contains("running a command"), "{e}"),
    }
    engine.stop_container(&id, Duration::from_secs(5)).await.expect("stop");
    engine.remove_container(&id, true).await.expect("remove");
    let gone = engine.exec(&id, &exec, &mut |_| {}).await.expect_err("exec in a removed container");
    assert!(matches!(gone, EngineError::ContainerNotFound { .. }), "{gone:?}");
}
