//! Test set-up shared by berth's integration tests: a private Docker or Podman engine, the
//! test images and a private one-node Slurm cluster, prepared once per test binary.
//!
//! Docker is the engine `DOCKER_HOST` names; when it is unset, the private daemon of
//! `scripts/dockerd.sh`. Podman is the service `CONTAINER_HOST` names, else the private one
//! of `scripts/podman.sh`. The images are built by the repository's scripts when missing:
//! `berth-test/busybox:latest` (`scripts/busybox-image.sh`) and the DICOM example
//! (`examples/dicom-normalize/build-image.sh`). A failure panics with the reason: tests that
//! need an engine never pass without one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The busybox test image.
pub const BUSYBOX: &str = "berth-test/busybox:latest";
/// The example tool's image.
pub const DICOM_NORMALIZE: &str = "berth-example/dicom-normalize:0.1.0";

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

/// Runs `scripts/NAME ARGS` (or any repository-relative script) with the engine address set.
pub fn run_script(path: &str, args: &[&str], env: &[(&str, &str)]) -> Result<String, String> {
    let script = repo_root().join(path);
    let mut cmd = Command::new(&script);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("cannot run `{}`: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} {}` failed ({}):\n{}{}",
            script.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn start(variable: &str, script: &str) -> Result<String, String> {
    if let Some(host) = std::env::var(variable).ok().filter(|h| !h.is_empty()) {
        return Ok(host);
    }
    let out = run_script(&format!("scripts/{script}"), &["start"], &[])?;
    let export = format!("export {variable}=");
    out.lines()
        .find_map(|l| l.strip_prefix(export.as_str()))
        .map(str::to_owned)
        .ok_or_else(|| format!("`scripts/{script} start` printed no {variable}: {out:?}"))
}

fn or_panic(what: &str, r: &Result<String, String>) -> String {
    match r {
        Ok(v) => v.clone(),
        Err(e) => panic!(
            "this test needs {what} and could not get it:\n{e}\n(set DOCKER_HOST / CONTAINER_HOST to a running engine, \
             or run the tests as root so that scripts/dockerd.sh and scripts/podman.sh can install and start one)"
        ),
    }
}

/// The Docker engine under test (`unix://…`), with the busybox image present.
pub fn docker_host() -> String {
    static HOST: OnceLock<Result<String, String>> = OnceLock::new();
    or_panic(
        "a Docker engine",
        HOST.get_or_init(|| {
            let host = start("DOCKER_HOST", "dockerd.sh")?;
            run_script("scripts/busybox-image.sh", &[BUSYBOX], &[("DOCKER_HOST", &host)])?;
            Ok(host)
        }),
    )
}

/// The Podman service under test, with the busybox image present.
pub fn podman_host() -> String {
    static HOST: OnceLock<Result<String, String>> = OnceLock::new();
    or_panic(
        "a Podman service",
        HOST.get_or_init(|| {
            let host = start("CONTAINER_HOST", "podman.sh")?;
            run_script("scripts/busybox-image.sh", &[BUSYBOX], &[("DOCKER_HOST", &host)])?;
            Ok(host)
        }),
    )
}

/// The private one-node Slurm cluster of `scripts/slurm.sh` (munged, slurmctld and slurmd on
/// loopback, unusual ports, state under `.state/slurm`): the `SLURM_CONF` its clients need.
/// Started once per test binary when not running (installing `slurm-wlm` and `munge` when
/// missing, which needs root); `scripts/test.sh` stops it at exit. A failure panics with the
/// reason: tests that need Slurm never pass without it.
pub fn slurm_conf() -> String {
    static CONF: OnceLock<Result<String, String>> = OnceLock::new();
    match CONF.get_or_init(|| start("SLURM_CONF", "slurm.sh")) {
        Ok(c) => c.clone(),
        Err(e) => panic!(
            "this test needs a Slurm cluster and could not start one:\n{e}\n(run the tests as root so that \
             scripts/slurm.sh can install Debian's slurm-wlm and munge and start the private cluster, or set \
             SLURM_CONF to a running one)"
        ),
    }
}

/// Builds the DICOM example image on the engine at `docker_host` when it is missing (once per
/// engine: the Docker and the Podman tests each need it in their own engine's storage).
pub fn dicom_image(docker_host: &str) -> String {
    static BUILT: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Result<String, String>>>> =
        OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let result = built.entry(docker_host.to_owned()).or_insert_with(|| {
        run_script("examples/dicom-normalize/build-image.sh", &[], &[("DOCKER_HOST", docker_host)])?;
        Ok(DICOM_NORMALIZE.to_string())
    });
    or_panic("the dicom-normalize example image", result)
}

/// The static file-access tracer, built once per process (release, +crt-static) by
/// `tools/berth-trace/build.sh`; its path.
pub fn tracer() -> String {
    static PATH: OnceLock<Result<String, String>> = OnceLock::new();
    let result = PATH.get_or_init(|| run_script("tools/berth-trace/build.sh", &[], &[]).map(|p| p.trim().to_owned()));
    or_panic("the static berth-trace", result)
}

/// The "analysis" root filesystem (python3, numpy, build-essential, dcm2niix, pip packages;
/// `scripts/test-rootfs.sh analysis`) imported as `berth-test/analysis:1` into the Docker
/// engine at `docker_host`, once per engine and process.
pub fn analysis_image(docker_host: &str) -> &'static str {
    const IMAGE: &str = "berth-test/analysis:1";
    static BUILT: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Result<String, String>>>> =
        OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let result = built.entry(docker_host.to_owned()).or_insert_with(|| {
        let tar = run_script("scripts/test-rootfs.sh", &["tarball", "analysis"], &[])?;
        let out = Command::new("docker")
            .env("DOCKER_HOST", docker_host)
            .args([
                "import",
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change",
                "CMD [\"python3\"]",
                tar.trim(),
                IMAGE,
            ])
            .output()
            .map_err(|e| format!("cannot run docker: {e}"))?;
        if !out.status.success() {
            return Err(format!("docker import: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(IMAGE.to_owned())
    });
    or_panic("the analysis image (debootstrap, pip)", result);
    IMAGE
}

/// Builds the example image of `binary` (`dicom-stats`, `dicom-summary`; see
/// `examples/build-tool-image.sh`) on the engine at `docker_host` when it is missing, once per
/// engine; returns its reference.
pub fn example_image(docker_host: &str, binary: &str) -> String {
    /// (engine, binary) → the image reference, or why it could not be built.
    type Built = std::collections::HashMap<(String, String), Result<String, String>>;
    static BUILT: OnceLock<std::sync::Mutex<Built>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let result = built.entry((docker_host.to_owned(), binary.to_owned())).or_insert_with(|| {
        let descriptor = repo_root().join(format!("examples/dicom-stats/{binary}.json"));
        let descriptor = descriptor.to_string_lossy();
        run_script(
            "examples/build-tool-image.sh",
            &["dicom-stats", binary, &descriptor],
            &[("DOCKER_HOST", docker_host)],
        )?;
        Ok(format!("berth-example/{binary}:0.1.0"))
    });
    or_panic("an example tool image", result)
}

/// Installs Debian packages with apt-get when `binary` is missing (needs root), or explains.
fn ensure_binary(binary: &str, package: &str) -> Result<(), String> {
    let on_path = |b: &str| {
        Command::new("sh").arg("-c").arg(format!("command -v {b}")).output().is_ok_and(|o| o.status.success())
    };
    if on_path(binary) {
        return Ok(());
    }
    let install = || {
        Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=600", "update", "-q"]).status();
        if !install() {
            return Err(format!(
                "`{binary}` is missing and `apt-get install {package}` failed (run as root, or install {package})"
            ));
        }
    }
    if on_path(binary) { Ok(()) } else { Err(format!("`{binary}` is still missing after installing {package}")) }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A private OCI registry (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1, with
/// its storage in a temporary directory; stopped (killed and reaped) when dropped.
pub struct Registry {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
    dir: PathBuf,
}

impl Registry {
    /// Start a registry; with `htpasswd = Some((user, password))` it requires that login (Basic
    /// auth from a bcrypt htpasswd file made by `htpasswd -B`). Panics with the reason when
    /// it cannot be installed or started: tests that need a registry never pass without one.
    pub fn start(htpasswd: Option<(&str, &str)>) -> Registry {
        match Self::try_start(htpasswd) {
            Ok(r) => r,
            Err(e) => {
                panic!("this test needs a local registry (Debian's docker-registry) and could not start one:\n{e}")
            }
        }
    }

    fn try_start(htpasswd: Option<(&str, &str)>) -> Result<Registry, String> {
        ensure_binary("docker-registry", "docker-registry")?;
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("berth-registry-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        if let Some((user, password)) = htpasswd {
            ensure_binary("htpasswd", "apache2-utils")?;
            let out = Command::new("htpasswd")
                .args(["-nbB", user, password])
                .output()
                .map_err(|e| format!("cannot run htpasswd: {e}"))?;
            if !out.status.success() {
                return Err(format!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr)));
            }
            let file = dir.join("htpasswd");
            std::fs::write(&file, &out.stdout).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", file.display()));
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let log = std::fs::File::create(dir.join("registry.log")).map_err(|e| e.to_string())?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start docker-registry: {e}"))?;
        let mut registry = Registry { child, address: format!("127.0.0.1:{port}"), dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = registry.child.try_wait() {
                let log = std::fs::read_to_string(registry.dir.join("registry.log")).unwrap_or_default();
                return Err(format!("docker-registry exited ({status}) before answering:\n{log}"));
            }
            if http_status(&registry.address, "GET", "/v2/", &[]).is_some() {
                return Ok(registry);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("docker-registry did not answer on {} within 30s", registry.address));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The registry's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The status code of one plain HTTP/1.1 request to `address` (`host:port`), if anything answered.
pub fn http_status(address: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(address).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{extra}Connection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A tiny HTTP/1.1 file server on 127.0.0.1 that honours `Range: bytes=N-` (answering 206),
/// records every request's `Range` header, and can be told to cut the next response off
/// after some bytes — for testing resumable downloads against a real socket.
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: std::sync::Arc<std::sync::Mutex<ServerState>>,
}

#[derive(Default)]
struct ServerState {
    files: std::collections::HashMap<String, Vec<u8>>,
    ranges: Vec<Option<String>>,
    cut_after: Option<usize>,
}

impl FileServer {
    /// Start serving (nothing yet); the server thread lives as long as the process.
    pub fn start() -> FileServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = std::sync::Arc::new(std::sync::Mutex::new(ServerState::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let mut range = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("range")
                    {
                        range = Some(v.trim().to_owned());
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let head_only = request.starts_with("HEAD ");
                let (body, cut) = {
                    let mut s = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    s.ranges.push(range.clone());
                    (s.files.get(&path).cloned(), s.cut_after.take())
                };
                let mut out = stream;
                let Some(body) = body else {
                    let _ = out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                };
                let start = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|n| n.parse::<usize>().ok());
                let (status, slice, extra) = match start {
                    Some(n) if n >= body.len() => {
                        let _ = write!(
                            out,
                            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        continue;
                    }
                    Some(n) => (
                        "206 Partial Content",
                        &body[n..],
                        format!("Content-Range: bytes {n}-{}/{}\r\n", body.len() - 1, body.len()),
                    ),
                    None => ("200 OK", &body[..], String::new()),
                };
                let _ = write!(
                    out,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{extra}Connection: close\r\n\r\n",
                    slice.len()
                );
                if head_only {
                    continue;
                }
                let send = cut.map_or(slice.len(), |c| c.min(slice.len()));
                let _ = out.write_all(&slice[..send]);
                let _ = out.flush();
                // Dropping the stream closes it: a cut response ends short of its Content-Length.
            }
        });
        FileServer { url, state }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Serve `body` at `path` (`/x.tar`).
    pub fn add(&self, path: &str, body: Vec<u8>) {
        self.lock().files.insert(path.to_owned(), body);
    }

    /// Cut the next response off after `bytes` bytes of its body.
    pub fn cut_next_after(&self, bytes: usize) {
        self.lock().cut_after = Some(bytes);
    }

    /// The `Range` header of every request so far, in order.
    pub fn ranges(&self) -> Vec<Option<String>> {
        self.lock().ranges.clone()
    }
}

/// The standard output of a `berth ARGS` that must have succeeded; else the test fails with
/// its status, standard output and standard error.
pub fn stdout_of_success(args: &[&str], out: &std::process::Output) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "berth {args:?} failed ({}):\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The `berth` binary at `bin` (a test's `env!("CARGO_BIN_EXE_berth")`) as an integration test
/// runs it: in `dir`, with its store in `dir/home` and its configuration in `dir/config.toml`
/// (which need not exist), the engine at `docker_host`, no colour, and none of the caller's
/// `BERTH_ENGINE`, `BERTH_BACKEND` or `BERTH_ADVISORY_DB` (a developer's shell must not change
/// what a test sees). Callers add arguments and further variables.
pub fn berth_command(bin: &str, dir: &Path, docker_host: &str) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .env("BERTH_HOME", dir.join("home"))
        .env("BERTH_CONFIG", dir.join("config.toml"))
        .env_remove("BERTH_ENGINE")
        .env_remove("BERTH_BACKEND")
        .env_remove("BERTH_ADVISORY_DB")
        .env("DOCKER_HOST", docker_host)
        .env("NO_COLOR", "1");
    c
}
