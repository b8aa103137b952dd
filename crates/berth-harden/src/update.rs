//! `berth harden update`: apply the distribution's updates to an image in a container and
//! commit the result as a new image, configured exactly as the original runs.
//!
//! The container runs the package manager found in the image (apt for Debian and Ubuntu, apk
//! for Alpine, dnf or yum for RHEL-like images) with the network it needs (the host's by
//! default: berth's engines often run without a bridge), then cleans the package caches. The
//! commit takes the original image's entrypoint, command, environment, user and working
//! directory, not the container's, and adds `berth.harden.*` labels; the result is checked
//! against the original before it is kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_engine::{ContainerSpec, Engine, EngineError, ImageConfig, ImageInfo, LogStreamKind, Network, UserId};
use futures_util::StreamExt;

use crate::{LABEL_BASE_DIGEST, LABEL_BASE_ID, LABEL_BASE_REFERENCE, LABEL_KIND, LABEL_MANAGER, LABEL_UPDATED};

/// Why an update failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The engine failed.
    #[error("the container engine failed while updating `{image}`")]
    Engine {
        /// The image being updated.
        image: String,
        /// The engine's error.
        #[source]
        source: EngineError,
    },
    /// The image is not on the engine.
    #[error("image `{image}` is not on the engine")]
    NotFound {
        /// The reference given.
        image: String,
    },
    /// No supported package manager in the image.
    #[error("image `{image}` has no package manager berth can update with (apt-get, apk, dnf or yum){detail}")]
    NoPackageManager {
        /// The image.
        image: String,
        /// What is missing beyond the package manager (`, and no /bin/sh`).
        detail: String,
    },
    /// The package manager failed.
    #[error("`{manager}` failed in image `{image}` (exit code {exit_code}); its last lines:\n{tail}")]
    ManagerFailed {
        /// The image.
        image: String,
        /// `apt`, `apk`, `dnf` or `yum`.
        manager: String,
        /// The container's exit code.
        exit_code: i64,
        /// The last lines it printed.
        tail: String,
    },
    /// The committed image would not run as the original does.
    #[error("the updated image does not run as `{image}` does: its {field} changed from {before} to {after}")]
    ConfigChanged {
        /// The image.
        image: String,
        /// `entrypoint`, `cmd`, `env`, `user` or `working directory`.
        field: &'static str,
        /// The original's value.
        before: String,
        /// The new image's value.
        after: String,
    },
    /// A bad option.
    #[error("{field}: {message}")]
    Invalid {
        /// The option.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

impl UpdateError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotFound { image } => Some(format!("pull it first: `berth image pull {image}`")),
            Self::NoPackageManager { .. } => Some(
                "distroless and scratch images have nothing to update in place; rebuild them from an updated base"
                    .into(),
            ),
            Self::ManagerFailed { .. } => Some(
                "the container needs the network to reach its mirrors (`--network host` is the default); \
                 give a mirror the engine's host can reach with `--source FILE`"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// How to update.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// The new image's reference; `None`: [`updated_reference`].
    pub tag: Option<String>,
    /// The container's network while the package manager runs.
    pub network: Network,
    /// Package sources to use instead of the image's own, for the update only (they are not
    /// left in the image, and the image's own are left as they were): apt `sources.list` lines
    /// or a deb822 `.sources` text, apk repository URLs one per line, or a yum/dnf `.repo` text.
    pub sources: Option<String>,
    /// The UTC date recorded (`YYYY-MM-DD`), part of the cache key.
    pub date: String,
    /// Reuse an image already updated from the same base on the same date.
    pub reuse: bool,
}

impl UpdateOptions {
    /// Today's update, on the host's network, cached.
    pub fn today() -> Self {
        Self {
            tag: None,
            network: Network::Host,
            sources: None,
            date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
            reuse: true,
        }
    }
}

/// What an update made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpdateOutcome {
    /// The reference updated, as given.
    pub base_reference: String,
    /// Its image ID.
    pub base_id: String,
    /// Its registry digest, when it came from a registry.
    pub base_digest: Option<String>,
    /// The new image's reference.
    pub reference: String,
    /// The new image's ID.
    pub image_id: String,
    /// The package manager used (`apt`, `apk`, `dnf`, `yum`).
    pub manager: String,
    /// The date recorded.
    pub date: String,
    /// Whether an image updated earlier the same day was reused (nothing ran).
    pub reused: bool,
}

impl UpdateOutcome {
    /// The labels a run on the updated image records (`berth run --security-updates`): what it
    /// was updated from, and when.
    pub fn run_labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            ("berth.security-updates.base-reference".to_owned(), self.base_reference.clone()),
            ("berth.security-updates.base-id".to_owned(), self.base_id.clone()),
            ("berth.security-updates.date".to_owned(), self.date.clone()),
            ("berth.security-updates.manager".to_owned(), self.manager.clone()),
        ]);
        if let Some(d) = &self.base_digest {
            labels.insert("berth.security-updates.base-digest".to_owned(), d.clone());
        }
        labels
    }
}

/// The reference berth gives the update of `base` on `date` unless told otherwise:
/// `berth-updated/<name>:<first 12 hex digits of the base ID>-<YYYYMMDD>`, so that one base
/// image updated on one day has one name (the cache of `berth run --security-updates`).
pub fn updated_reference(base_reference: &str, base_id: &str, date: &str) -> String {
    let normalized = berth_engine::normalize_reference(base_reference);
    let name = berth_engine::split_tag(&normalized).0;
    let name = name.split('@').next().unwrap_or(name);
    let last = name.rsplit('/').next().unwrap_or(name);
    let clean: String = last
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect();
    let hex = base_id.strip_prefix("sha256:").unwrap_or(base_id);
    let short = &hex[..hex.len().min(12)];
    format!("berth-updated/{clean}:{short}-{}", date.replace('-', ""))
}

/// The package managers berth drives, in the order they are looked for.
const MANAGERS: [(&str, &str); 4] =
    [("apt", "/usr/bin/apt-get"), ("apk", "/sbin/apk"), ("dnf", "/usr/bin/dnf"), ("yum", "/usr/bin/yum")];

/// The shell script that updates with `manager`, with the given `sources` (if any) in place of
/// the image's for the update only, removed before the commit. They are
/// part of the script, not of the environment (engines merge a container's environment into the
/// commit) nor a bind mount (its mount point would stay in the image).
fn script(manager: &str, sources: Option<&str>) -> String {
    let quoted = sources.map(|s| format!("'{}'", s.replace('\'', "'\\''"))).unwrap_or_else(|| "''".into());
    format!("BERTH_HARDEN_SOURCES={quoted}\n{MARK}{}{REFRESH}", body(manager))
}

/// Marks the moment the update starts (see [`REFRESH`]).
const MARK: &str = r#"mkdir -p /tmp/berth-harden-mark
touch /tmp/berth-harden-mark/start
BERTH_MARK_TIME=$(date +%s)
"#;

/// Gives every regular file the update changed a fresh modification time.
///
/// Engines that find a container's changes by comparing size and modification time (Podman,
/// and Docker, on the `vfs` storage driver: containers/storage's "naive diff") miss a file that a
/// package manager replaced with one of the same size: dpkg, apk and rpm set a file's
/// modification time to the one in the package, so `1.0\n` replaced by `1.1\n` from packages
/// built in the same second looked unchanged, and the committed image silently kept the old
/// file while its package database said it was updated. The change time (`ctime`) cannot be set
/// by a package manager, so files whose ctime is after the mark are the ones it wrote. GNU find
/// has `-cnewer`; busybox's has not, so there each file's ctime is read with `stat`.
const REFRESH: &str = r#"berth_skip='( -path /proc -o -path /sys -o -path /dev -o -path /tmp/berth-harden-mark ) -prune'
if find /tmp/berth-harden-mark -maxdepth 0 -cnewer /tmp/berth-harden-mark/start >/dev/null 2>&1; then
  find / -xdev $berth_skip -o -type f -cnewer /tmp/berth-harden-mark/start -exec touch -c {} +
else
  find / -xdev $berth_skip -o -type f -print | while IFS= read -r f; do
    c=$(stat -c %Z "$f" 2>/dev/null) || continue
    [ "$c" -ge "$BERTH_MARK_TIME" ] && touch -c "$f"
    :
  done
fi
rm -rf /tmp/berth-harden-mark
"#;

fn body(manager: &str) -> &'static str {
    // Given sources replace the image's own for the update (an image's public mirrors are often
    // unreachable where it runs); they live under /tmp/berth-harden, removed before the commit.
    match manager {
        "apt" => {
            r#"set -eu
export DEBIAN_FRONTEND=noninteractive
set --
if [ -n "${BERTH_HARDEN_SOURCES:-}" ]; then
  mkdir -p /tmp/berth-harden
  case "$BERTH_HARDEN_SOURCES" in
    *Types:*) printf '%s\n' "$BERTH_HARDEN_SOURCES" > /tmp/berth-harden/berth.sources ;;
    *) printf '%s\n' "$BERTH_HARDEN_SOURCES" > /tmp/berth-harden/berth.list ;;
  esac
  set -- -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/berth-harden
fi
# apt only warns when a source cannot be read; an update that silently missed its sources
# would claim an image is current when it is not.
status=0
out=$(apt-get -q "$@" update 2>&1) || status=$?
printf '%s\n' "$out"
[ "$status" = 0 ] || exit "$status"
if printf '%s\n' "$out" | grep -q '^[WE]: Failed to fetch'; then
  echo "berth: a package source could not be read (above); nothing was updated" >&2
  exit 100
fi
apt-get -q -y "$@" -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade
rm -rf /tmp/berth-harden
apt-get clean
rm -rf /var/lib/apt/lists/*
"#
        }
        "apk" => {
            r#"set -eu
set --
if [ -n "${BERTH_HARDEN_SOURCES:-}" ]; then
  mkdir -p /tmp/berth-harden
  printf '%s\n' "$BERTH_HARDEN_SOURCES" > /tmp/berth-harden/repositories
  set -- --repositories-file /tmp/berth-harden/repositories
fi
apk upgrade --no-cache "$@"
rm -rf /tmp/berth-harden /var/cache/apk/*
"#
        }
        "dnf" => {
            r#"set -eu
set --
if [ -n "${BERTH_HARDEN_SOURCES:-}" ]; then
  mkdir -p /tmp/berth-harden
  printf '%s\n' "$BERTH_HARDEN_SOURCES" > /tmp/berth-harden/berth.repo
  set -- --setopt=reposdir=/tmp/berth-harden
fi
dnf -y "$@" upgrade
rm -rf /tmp/berth-harden
dnf clean all
rm -rf /var/cache/dnf
"#
        }
        _ => {
            r#"set -eu
set --
if [ -n "${BERTH_HARDEN_SOURCES:-}" ]; then
  mkdir -p /tmp/berth-harden
  printf '%s\n' "$BERTH_HARDEN_SOURCES" > /tmp/berth-harden/berth.repo
  set -- --setopt=reposdir=/tmp/berth-harden
fi
yum -y "$@" update
rm -rf /tmp/berth-harden
yum clean all
rm -rf /var/cache/yum
"#
        }
    }
}

/// Removes the container when dropped on every path out of [`update`].
struct Cleanup {
    engine: Arc<dyn Engine>,
    id: Option<String>,
}

impl Cleanup {
    async fn remove(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.engine.remove_container(&id, true).await;
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let engine = self.engine.clone();
            // Dropped on an error path inside the runtime: remove it in the background.
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = engine.remove_container(&id, true).await;
                });
            }
        }
    }
}

/// Apply the distribution's updates to `image` and commit a new image; `log` receives the
/// package manager's output line by line.
pub async fn update(
    engine: Arc<dyn Engine>,
    image: &str,
    options: &UpdateOptions,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<UpdateOutcome, UpdateError> {
    let engine_err = |source| UpdateError::Engine { image: image.to_owned(), source };
    if chrono::NaiveDate::parse_from_str(&options.date, "%Y-%m-%d").is_err() {
        return Err(UpdateError::Invalid {
            field: "date",
            message: format!("`{}` is not a date: write YYYY-MM-DD", options.date),
        });
    }
    let base = engine
        .inspect_image(image)
        .await
        .map_err(engine_err)?
        .ok_or_else(|| UpdateError::NotFound { image: image.to_owned() })?;
    let base_digest = berth_run::run::repo_digest_for(image, &base.repo_digests);
    let reference = match &options.tag {
        Some(t) => berth_engine::normalize_reference(t),
        None => updated_reference(image, &base.id, &options.date),
    };
    if options.reuse
        && let Some(found) = engine.inspect_image(&reference).await.map_err(engine_err)?
        && found.labels.get(LABEL_BASE_ID) == Some(&base.id)
        && found.labels.get(LABEL_UPDATED) == Some(&options.date)
        && found.labels.get(LABEL_KIND).map(String::as_str) == Some("update")
    {
        return Ok(UpdateOutcome {
            base_reference: image.to_owned(),
            base_id: base.id.clone(),
            base_digest,
            reference,
            image_id: found.id,
            manager: found.labels.get(LABEL_MANAGER).cloned().unwrap_or_default(),
            date: options.date.clone(),
            reused: true,
        });
    }

    // Find the package manager without running anything: create, look, remove.
    let mut probe = ContainerSpec::new(base.id.clone(), Vec::<String>::new());
    probe.entrypoint = Some(vec!["/bin/sh".into()]);
    probe.network = Network::Disabled;
    let created = engine.create_container(&probe).await.map_err(engine_err)?;
    let mut guard = Cleanup { engine: engine.clone(), id: Some(created.id.clone()) };
    let mut manager = None;
    for (name, path) in MANAGERS {
        if engine.path_exists(&created.id, path).await.map_err(engine_err)? {
            manager = Some(name);
            break;
        }
    }
    let has_shell = engine.path_exists(&created.id, "/bin/sh").await.map_err(engine_err)?;
    guard.remove().await;
    let Some(manager) = manager.filter(|_| has_shell) else {
        return Err(UpdateError::NoPackageManager {
            image: image.to_owned(),
            detail: if has_shell { String::new() } else { ", and no /bin/sh".into() },
        });
    };

    // The job: the script as the entrypoint with no command, as root, the image's own
    // environment (the extra sources aside): nothing of the job is left for the commit to copy.
    let mut spec = ContainerSpec::new(base.id.clone(), Vec::<String>::new());
    spec.entrypoint = Some(vec!["/bin/sh".into(), "-c".into(), script(manager, options.sources.as_deref())]);
    spec.network = options.network;
    if base.user.as_deref().is_some_and(|u| !u.is_empty() && u != "root" && u != "0" && u != "0:0") {
        spec.user = Some(UserId { uid: 0, gid: 0 });
    }
    spec.init = true;
    let created = engine.create_container(&spec).await.map_err(engine_err)?;
    guard.id = Some(created.id.clone());
    engine.start_container(&created.id).await.map_err(engine_err)?;
    let mut tail: Vec<String> = Vec::new();
    let mut pending = [String::new(), String::new()];
    let mut logs = engine.container_logs(&created.id, true);
    while let Some(chunk) = logs.next().await {
        let chunk = chunk.map_err(engine_err)?;
        let slot = usize::from(chunk.stream == LogStreamKind::Stderr);
        pending[slot].push_str(&String::from_utf8_lossy(&chunk.bytes));
        while let Some(at) = pending[slot].find('\n') {
            let line: String = pending[slot].drain(..=at).collect();
            let line = line.trim_end();
            log(line);
            tail.push(line.to_owned());
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
    }
    for rest in pending.iter().filter(|p| !p.is_empty()) {
        log(rest);
        tail.push(rest.clone());
    }
    let waited = engine.wait_container(&created.id).await.map_err(engine_err)?;
    if waited.exit_code != 0 {
        return Err(UpdateError::ManagerFailed {
            image: image.to_owned(),
            manager: manager.to_owned(),
            exit_code: waited.exit_code,
            tail: tail.join("\n"),
        });
    }

    let mut config = ImageConfig::of(&base);
    let mut labels = BTreeMap::from([
        (LABEL_BASE_ID.to_owned(), base.id.clone()),
        (LABEL_BASE_REFERENCE.to_owned(), image.to_owned()),
        (LABEL_KIND.to_owned(), "update".to_owned()),
        (LABEL_UPDATED.to_owned(), options.date.clone()),
        (LABEL_MANAGER.to_owned(), manager.to_owned()),
    ]);
    if let Some(d) = &base_digest {
        labels.insert(LABEL_BASE_DIGEST.to_owned(), d.clone());
    }
    config.labels.extend(labels);
    let image_id = engine.commit_container(&created.id, Some(&reference), &config).await.map_err(engine_err)?;
    guard.remove().await;
    let made = engine
        .inspect_image(&image_id)
        .await
        .map_err(engine_err)?
        .ok_or_else(|| UpdateError::NotFound { image: image_id.clone() })?;
    if let Err(e) = same_config(image, &base, &made) {
        let _ = engine.remove_image(&reference, true).await;
        return Err(e);
    }
    Ok(UpdateOutcome {
        base_reference: image.to_owned(),
        base_id: base.id,
        base_digest,
        reference,
        image_id,
        manager: manager.to_owned(),
        date: options.date.clone(),
        reused: false,
    })
}

/// Checks that `made` runs as `base` does: same entrypoint, command, environment, user and
/// working directory (engines fill empty fields of a commit from the container).
fn same_config(image: &str, base: &ImageInfo, made: &ImageInfo) -> Result<(), UpdateError> {
    let (a, b) = (ImageConfig::of(base), ImageConfig::of(made));
    let changed = |field: &'static str, before: String, after: String| UpdateError::ConfigChanged {
        image: image.to_owned(),
        field,
        before,
        after,
    };
    if a.entrypoint != b.entrypoint {
        return Err(changed("entrypoint", format!("{:?}", a.entrypoint), format!("{:?}", b.entrypoint)));
    }
    if a.cmd != b.cmd {
        return Err(changed("cmd", format!("{:?}", a.cmd), format!("{:?}", b.cmd)));
    }
    // Podman's commit keeps variables it sets in every container (`container=podman`, and
    // `TERM`, `PATH` when the image has none), and no commit option removes them: tolerated,
    // these three only, and only when the original does not set them.
    let base_keys: Vec<&str> = a.env.iter().map(|e| e.split('=').next().unwrap_or(e)).collect();
    let made_env: Vec<String> = b
        .env
        .iter()
        .filter(|e| {
            let key = e.split('=').next().unwrap_or(e);
            !matches!(key, "container" | "TERM" | "PATH") || base_keys.contains(&key)
        })
        .cloned()
        .collect();
    if a.env != made_env {
        return Err(changed("env", format!("{:?}", a.env), format!("{:?}", b.env)));
    }
    if a.user != b.user {
        return Err(changed("user", format!("{:?}", a.user), format!("{:?}", b.user)));
    }
    if a.working_dir != b.working_dir {
        return Err(changed("working directory", format!("{:?}", a.working_dir), format!("{:?}", b.working_dir)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updated_references_name_the_base_and_the_day() {
        let id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            updated_reference("registry.example/neuro/FSL:6.0", id, "2026-12-03"),
            "berth-updated/fsl:0123456789ab-20261203"
        );
        assert_eq!(updated_reference("debian:12", id, "2026-12-03"), "berth-updated/debian:0123456789ab-20261203");
        assert_eq!(
            updated_reference("localhost:5000/tools/bet@sha256:ff", id, "2026-01-02"),
            "berth-updated/bet:0123456789ab-20260102"
        );
    }

    #[test]
    fn sources_reach_the_script_verbatim() {
        let sources = "deb [trusted=yes] http://mirror.invalid/ ./ # it's \"quoted\" $HOME `x`\nline 2";
        let whole = script("apt", Some(sources));
        let prefix = whole.split_once("\nset -eu").unwrap().0;
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{prefix}\nprintf %s \"$BERTH_HARDEN_SOURCES\""))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), sources);
    }

    #[test]
    fn every_script_cleans_its_extra_sources_and_caches() {
        for (manager, _) in MANAGERS {
            let s = script(manager, Some("deb [trusted=yes] http://mirror.invalid/ it's ./"));
            assert!(
                s.starts_with(&format!(
                    "BERTH_HARDEN_SOURCES='deb [trusted=yes] http://mirror.invalid/ it'\\''s ./'\n{MARK}set -eu"
                )),
                "{s}"
            );
            assert!(s.contains("BERTH_HARDEN_SOURCES"), "{manager}");
            assert!(s.contains("rm -rf /tmp/berth-harden"), "{manager}");
            assert!(s.ends_with(REFRESH), "{manager}: changed files get a fresh modification time last");
        }
    }
}
