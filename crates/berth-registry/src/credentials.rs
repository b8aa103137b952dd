//! Registry credentials: berth's own file (written by `berth login`), then Docker's config.
//!
//! Lookup order for a registry:
//! 1. `$BERTH_HOME/credentials.json` (`{"auths": {"REGISTRY": {"auth": base64("user:password")}}}`,
//!    mode 0600, written by [`CredentialStore::save`]);
//! 2. Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
//!    `credHelpers[REGISTRY]`, else `credsStore`, each run as `docker-credential-NAME get` with
//!    the registry on standard input (Docker's credential-helper protocol); else `auths[REGISTRY].auth`.
//!
//! Docker Hub is keyed `https://index.docker.io/v1/` in Docker's config, as Docker writes it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;

use crate::error::RegistryError;
use crate::reference::DOCKER_HUB;

/// A user name and a secret for one registry. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name (`<token>` from a credential helper means `secret` is an identity token).
    pub username: String,
    /// Password, access token or identity token.
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("username", &self.username).field("secret", &"<redacted>").finish()
    }
}

impl Credential {
    /// The credentials in the form the engine's API takes for `registry`.
    pub fn to_engine_auth(&self, registry: &str) -> berth_engine::RegistryAuth {
        let mut auth = berth_engine::RegistryAuth { server_address: Some(registry.to_owned()), ..Default::default() };
        if self.username == "<token>" {
            auth.identity_token = Some(self.secret.clone());
        } else {
            auth.username = Some(self.username.clone());
            auth.password = Some(self.secret.clone());
        }
        auth
    }
}

/// Where a credential came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "detail")]
pub enum CredentialSource {
    /// berth's own file.
    Berth(PathBuf),
    /// Docker's `auths`.
    DockerConfig(PathBuf),
    /// A Docker credential helper, by suffix.
    Helper(String),
}

/// The credential files berth reads (and writes its own).
#[derive(Debug, Clone)]
pub struct CredentialStore {
    /// berth's own file.
    pub berth_file: PathBuf,
    /// Docker's `config.json`, if there is a home to find it in.
    pub docker_config: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore", skip_serializing_if = "Option::is_none")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers", skip_serializing_if = "BTreeMap::is_empty")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(default, rename = "identitytoken", skip_serializing_if = "Option::is_none")]
    identity_token: Option<String>,
}

/// The key a registry has in Docker's config.
fn docker_key(registry: &str) -> &str {
    if registry == DOCKER_HUB { "https://index.docker.io/v1/" } else { registry }
}

/// `https://host:port/v1/` → `host:port`, so keys written with a scheme still match.
fn bare(key: &str) -> &str {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn find<'a, V>(map: &'a BTreeMap<String, V>, registry: &str) -> Option<&'a V> {
    let key = docker_key(registry);
    map.get(key).or_else(|| map.iter().find(|(k, _)| bare(k) == bare(key)).map(|(_, v)| v))
}

fn decode(entry: &AuthEntry) -> Option<Credential> {
    if let Some(token) = entry.identity_token.as_ref().filter(|t| !t.is_empty()) {
        return Some(Credential { username: "<token>".to_owned(), secret: token.clone() });
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(entry.auth.as_ref()?.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, secret) = text.split_once(':')?;
    Some(Credential { username: user.to_owned(), secret: secret.to_owned() })
}

fn read_file(path: &Path) -> Result<Option<AuthFile>, RegistryError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| RegistryError::CredentialFile {
            action: "parse",
            path: path.to_owned(),
            source: Box::new(e),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RegistryError::CredentialFile { action: "read", path: path.to_owned(), source: Box::new(e) }),
    }
}

/// Ask `docker-credential-HELPER get` for `registry`'s credentials (none if it has none).
pub fn run_helper(helper: &str, registry: &str) -> Result<Option<Credential>, RegistryError> {
    query_helper(Path::new(&format!("docker-credential-{helper}")), helper, registry)
}

/// [`run_helper`] with the helper program given (a name looked up on PATH, or a path).
fn query_helper(program: &Path, helper: &str, registry: &str) -> Result<Option<Credential>, RegistryError> {
    let fail = |message: String| RegistryError::CredentialHelper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        message,
    };
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading (to say "not found") closes the pipe early: its
        // exit status and output tell what happened, not this write.
        let _ = stdin.write_all(docker_key(registry).as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The protocol's answer for "nothing stored".
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(fail(format!("{} {}", stdout.trim(), err.trim()).trim().to_owned()));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let answer: Answer = serde_json::from_str(&stdout).map_err(|e| fail(format!("unreadable answer: {e}")))?;
    Ok(Some(Credential { username: answer.username, secret: answer.secret }))
}

impl CredentialStore {
    /// The standard places: `BERTH_HOME/credentials.json`, and `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`.
    pub fn standard(berth_home: &Path) -> CredentialStore {
        let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty()).map(PathBuf::from);
        let docker_config = var("DOCKER_CONFIG")
            .map(|d| d.join("config.json"))
            .or_else(|| var("HOME").map(|h| h.join(".docker/config.json")));
        CredentialStore { berth_file: berth_home.join("credentials.json"), docker_config }
    }

    /// The credential for `registry`, and where it came from; none if nothing is stored.
    pub fn lookup(&self, registry: &str) -> Result<Option<(Credential, CredentialSource)>, RegistryError> {
        if let Some(c) = read_file(&self.berth_file)?.as_ref().and_then(|f| find(&f.auths, registry)).and_then(decode) {
            return Ok(Some((c, CredentialSource::Berth(self.berth_file.clone()))));
        }
        let Some(path) = &self.docker_config else { return Ok(None) };
        let Some(file) = read_file(path)? else { return Ok(None) };
        let helper = find(&file.cred_helpers, registry).or(file.creds_store.as_ref());
        if let Some(helper) = helper.filter(|h| !h.is_empty()) {
            return Ok(run_helper(helper, registry)?.map(|c| (c, CredentialSource::Helper(helper.clone()))));
        }
        Ok(find(&file.auths, registry).and_then(decode).map(|c| (c, CredentialSource::DockerConfig(path.clone()))))
    }

    /// Store `credential` for `registry` in berth's file (created 0600; written to a temporary
    /// file, then renamed, so a crash never leaves half a file).
    pub fn save(&self, registry: &str, credential: &Credential) -> Result<(), RegistryError> {
        let path = &self.berth_file;
        let mut file = read_file(path)?.unwrap_or_default();
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", credential.username, credential.secret));
        file.auths.insert(docker_key(registry).to_owned(), AuthEntry { auth: Some(auth), identity_token: None });
        self.write(&file)
    }

    /// Forget `registry` in berth's file; whether there was something to forget.
    pub fn remove(&self, registry: &str) -> Result<bool, RegistryError> {
        let Some(mut file) = read_file(&self.berth_file)? else { return Ok(false) };
        let removed = file.auths.remove(docker_key(registry)).is_some();
        if removed {
            self.write(&file)?;
        }
        Ok(removed)
    }

    fn write(&self, file: &AuthFile) -> Result<(), RegistryError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = &self.berth_file;
        let fail = |source: std::io::Error| RegistryError::CredentialFile {
            action: "write",
            path: path.clone(),
            source: Box::new(source),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let text = serde_json::to_vec_pretty(file).map_err(|e| fail(std::io::Error::other(e)))?;
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(fail)?;
        f.write_all(&text).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn store(dir: &Path) -> CredentialStore {
        CredentialStore { berth_file: dir.join("home/credentials.json"), docker_config: Some(dir.join("config.json")) }
    }

    #[test]
    fn saved_credentials_are_private_and_read_back_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        assert_eq!(s.lookup("127.0.0.1:5000").unwrap(), None);
        let c = Credential { username: "ana".into(), secret: "s3cret:with:colons".into() };
        s.save("127.0.0.1:5000", &c).unwrap();
        let mode = std::fs::metadata(&s.berth_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (found, source) = s.lookup("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(found, c);
        assert_eq!(source, CredentialSource::Berth(s.berth_file.clone()));
        assert!(s.remove("127.0.0.1:5000").unwrap());
        assert_eq!(s.lookup("127.0.0.1:5000").unwrap(), None);
    }

    #[test]
    fn docker_config_auths_match_with_or_without_scheme_and_hub_has_its_v1_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::json!({"auths": {
                "https://index.docker.io/v1/": {"auth": b64("hub:pw")},
                "https://registry.lab:5000": {"auth": b64("lab:pw2")},
            }})
            .to_string(),
        )
        .unwrap();
        assert_eq!(s.lookup("docker.io").unwrap().unwrap().0.username, "hub");
        let (c, source) = s.lookup("registry.lab:5000").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("lab", "pw2"));
        assert!(matches!(source, CredentialSource::DockerConfig(_)));
    }

    #[test]
    fn a_missing_credential_helper_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        std::fs::write(dir.path().join("config.json"), r#"{"credHelpers": {"r.lab": "berth-no-such-helper"}}"#)
            .unwrap();
        let e = s.lookup("r.lab").unwrap_err();
        assert!(e.to_string().contains("docker-credential-berth-no-such-helper"), "{e}");
        // Registries without a helper fall through to `auths` (none here).
        assert_eq!(s.lookup("other.lab").unwrap(), None);
    }

    #[test]
    fn a_credential_helper_is_asked_with_the_registry_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helper = bin.join("docker-credential-berthtest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread reg\n[ \"$1\" = get ] || exit 3\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"u-%s\",\"Secret\":\"pw\"}' \"$reg\" \"$reg\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = query_helper(&helper, "berthtest", "r.lab").unwrap().unwrap();
        assert_eq!((found.username.as_str(), found.secret.as_str()), ("u-r.lab", "pw"));
        let hub = query_helper(&helper, "berthtest", "docker.io").unwrap().unwrap();
        assert_eq!(hub.username, "u-https://index.docker.io/v1/");
        std::fs::write(&helper, "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n").unwrap();
        assert_eq!(query_helper(&helper, "berthtest", "r.lab").unwrap(), None);
        std::fs::write(&helper, "#!/bin/sh\necho 'keyring locked' >&2\nexit 1\n").unwrap();
        let e = query_helper(&helper, "berthtest", "r.lab").unwrap_err();
        assert!(e.to_string().contains("keyring locked"), "{e}");
    }
}
