//! [`RegistryClient`]: the few requests of the OCI distribution API berth makes itself — a
//! manifest's digest without pulling (`HEAD /v2/NAME/manifests/REF`) and a login check
//! (`GET /v2/`) — with both of the API's authentication schemes.
//!
//! Authentication follows the distribution spec's token flow: the first request goes without
//! credentials; a `401` carries `WWW-Authenticate`. `Bearer realm=...,service=...,scope=...`
//! means: fetch a token from `realm` (with Basic credentials when berth has some) and repeat
//! the request with `Authorization: Bearer TOKEN`. `Basic realm=...` (e.g. `docker-registry`
//! with `htpasswd`) means: repeat with `Authorization: Basic ...`.
//!
//! Scheme: plain HTTP for loopback registries (`localhost`, `127.0.0.0/8`, `::1`) and for those
//! listed as insecure in the configuration, as Docker does; HTTPS (rustls, the platform's
//! trust store) for every other.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use sha2::Digest as _;

use crate::credentials::Credential;
use crate::error::{BoxError, RegistryError};
use crate::reference::{Reference, is_loopback};

/// Every manifest type berth accepts, so that the registry answers with the one it stores
/// (an index or manifest list for multi-platform images): its digest is what engines record.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// How a [`RegistryClient`] reaches registries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Registries (`host[:port]`) to reach over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// Connect timeout, and the limit on each request of the API (downloads excepted).
    pub timeout: Duration,
    /// Whether archive downloads may reach loopback, link-local, private and unique-local
    /// addresses (`[registry] import_private_addresses`; see [`netguard`](mod@crate::netguard)).
    pub import_private_addresses: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions { insecure: Vec::new(), timeout: Duration::from_secs(30), import_private_addresses: false }
    }
}

/// What the registry says about a manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RemoteManifest {
    /// Its digest (`sha256:...`).
    pub digest: String,
    /// Its media type, when the registry says.
    pub media_type: Option<String>,
}

/// A client of registries' distribution API.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    downloads: reqwest::Client,
    options: ClientOptions,
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="..."`.
    Basic,
    /// `Bearer realm="...",service="...",scope="..."`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter, if given.
        service: Option<String>,
        /// The `scope` parameter, if given.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parse the header's value; none for schemes berth does not speak.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut params = std::collections::HashMap::new();
        let mut rest = rest.trim();
        // key="value" pairs separated by commas; values may contain commas (scopes do).
        while let Some((key, after)) = rest.split_once('=') {
            let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
            let after = after.trim_start();
            let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"').unwrap_or(quoted.len());
                (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            params.insert(key, value.to_owned());
            rest = remaining.trim_start_matches(',').trim();
        }
        Some(Challenge::Bearer {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        })
    }
}

/// The transport error in words, down to the OS error (`Connection refused (os error 111)`).
pub(crate) fn transport_reason(e: &reqwest::Error) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut last = e.to_string();
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return io.to_string();
        }
        last = err.to_string();
        current = err.source();
    }
    if e.is_timeout() { "no answer in time".to_owned() } else { last }
}

fn error_message(body: &str) -> String {
    // The distribution API's error body: {"errors": [{"code": ..., "message": ...}]}.
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|x| match (&x.code, &x.message) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (c, m) => c.clone().or_else(|| m.clone()).unwrap_or_default(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => body.trim().chars().take(300).collect(),
    }
}

fn basic(credential: &Credential) -> String {
    let raw = format!("{}:{}", credential.username, credential.secret);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

impl RegistryClient {
    /// A client with `options`.
    pub fn new(options: ClientOptions) -> Result<RegistryClient, RegistryError> {
        // reqwest is built without a default crypto provider (so no C toolchain is needed for
        // aws-lc); ring is the one the workspace uses. An error means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(options.timeout)
                .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        };
        let built = |b: reqwest::ClientBuilder| {
            b.build().map_err(|e| RegistryError::Unreachable {
                address: "(none)".to_owned(),
                reason: "cannot set up the HTTP client".to_owned(),
                source: Some(Box::new(e)),
            })
        };
        let http = built(builder())?;
        let downloads = if options.import_private_addresses {
            http.clone()
        } else {
            built(
                builder()
                    .dns_resolver(crate::netguard::PublicOnly)
                    .redirect(crate::netguard::redirect_policy())
                    .no_proxy(),
            )?
        };
        Ok(RegistryClient { http, downloads, options })
    }

    /// The underlying HTTP client (the registries' API).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The HTTP client for archive downloads: unless the options allow private addresses, it
    /// refuses them after resolution and on redirects ([`netguard`](mod@crate::netguard)).
    pub fn downloads(&self) -> &reqwest::Client {
        &self.downloads
    }

    /// Whether archive downloads may reach private addresses.
    pub fn allows_private_addresses(&self) -> bool {
        self.options.import_private_addresses
    }

    /// Whether `registry` is reached over plain HTTP.
    pub fn is_insecure(&self, registry: &str) -> bool {
        is_loopback(registry) || self.options.insecure.iter().any(|r| r == registry)
    }

    fn base_url(&self, host: &str) -> String {
        let scheme = if self.is_insecure(host) { "http" } else { "https" };
        format!("{scheme}://{host}/v2/")
    }

    fn address(&self, host: &str) -> String {
        if host.contains(':') && !host.ends_with(']') {
            host.to_owned()
        } else if self.is_insecure(host) {
            format!("{host}:80")
        } else {
            format!("{host}:443")
        }
    }

    fn unreachable(&self, host: &str, e: reqwest::Error) -> RegistryError {
        RegistryError::Unreachable {
            address: self.address(host),
            reason: transport_reason(&e),
            source: Some(Box::new(e) as BoxError),
        }
    }

    /// Send `request` (built anew for each attempt) following the API's authentication
    /// challenges, with `credential` when the registry asks for one. `registry` names the
    /// registry in errors; `host` is where its API answers.
    async fn send(
        &self,
        registry: &str,
        host: &str,
        repository: &str,
        scope: Option<String>,
        credential: Option<&Credential>,
        request: impl Fn(Option<&str>) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let first = request(None).send().await.map_err(|e| self.unreachable(host, e))?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let challenge = first.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).and_then(Challenge::parse);
        let message = error_message(&first.text().await.unwrap_or_default());
        let refused = |message: String| match credential {
            Some(c) => {
                RegistryError::BadCredentials { registry: registry.to_owned(), username: c.username.clone(), message }
            }
            None => RegistryError::NoCredentials { registry: registry.to_owned(), message },
        };
        let authorization = match challenge {
            Some(Challenge::Basic) => match credential {
                Some(c) => basic(c),
                None => return Err(refused(message)),
            },
            Some(Challenge::Bearer { realm, service, scope: offered }) => {
                let mut token_url = reqwest::Url::parse(&realm).map_err(|e| RegistryError::Api {
                    registry: registry.to_owned(),
                    request: "WWW-Authenticate".to_owned(),
                    status: 401,
                    message: format!("the token realm `{realm}` is not a URL: {e}"),
                })?;
                {
                    let mut query = token_url.query_pairs_mut();
                    if let Some(s) = service {
                        query.append_pair("service", &s);
                    }
                    if let Some(s) = scope.or(offered) {
                        query.append_pair("scope", &s);
                    }
                }
                let mut token_request = self.http.get(token_url).timeout(self.options.timeout);
                if let Some(c) = credential {
                    token_request = token_request.header(AUTHORIZATION, basic(c));
                }
                let answer = token_request.send().await.map_err(|e| self.unreachable(host, e))?;
                let status = answer.status();
                let body = answer.text().await.unwrap_or_default();
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    return Err(refused(error_message(&body)));
                }
                if !status.is_success() {
                    return Err(RegistryError::Api {
                        registry: registry.to_owned(),
                        request: format!("GET {realm} (token)"),
                        status: status.as_u16(),
                        message: error_message(&body),
                    });
                }
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let token: Token = serde_json::from_str(&body).map_err(|e| RegistryError::Api {
                    registry: registry.to_owned(),
                    request: format!("GET {realm} (token)"),
                    status: status.as_u16(),
                    message: format!("not a token answer: {e}"),
                })?;
                match token.token.or(token.access_token) {
                    Some(t) => format!("Bearer {t}"),
                    None => return Err(refused("the token endpoint gave no token".to_owned())),
                }
            }
            None => return Err(refused(message)),
        };
        let second = request(Some(&authorization)).send().await.map_err(|e| self.unreachable(host, e))?;
        match second.status() {
            StatusCode::UNAUTHORIZED => Err(refused(error_message(&second.text().await.unwrap_or_default()))),
            StatusCode::FORBIDDEN => Err(RegistryError::Denied {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                message: error_message(&second.text().await.unwrap_or_default()),
            }),
            _ => Ok(second),
        }
    }

    /// A small document (a catalog index) fetched with GET: the body when the server answers
    /// 200, at most `limit` bytes.
    pub async fn fetch_document(&self, url: &str, limit: usize) -> Result<Vec<u8>, RegistryError> {
        let fail = |message: String, source: Option<reqwest::Error>| RegistryError::Download {
            url: url.to_owned(),
            message,
            source: source.map(|e| Box::new(e) as _),
        };
        let mut response = self
            .http
            .get(url)
            .timeout(self.options.timeout)
            .send()
            .await
            .map_err(|e| fail(transport_reason(&e), Some(e)))?;
        if response.status() != StatusCode::OK {
            return Err(fail(format!("HTTP {}", response.status().as_u16()), None));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(transport_reason(&e), Some(e)))? {
            if body.len() + chunk.len() > limit {
                return Err(fail(format!("the document is larger than {limit} bytes"), None));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The digest of the manifest `reference` names, asked of its registry without pulling;
    /// none when the registry has no such tag (or repository).
    pub async fn manifest_digest(
        &self,
        reference: &Reference,
        credential: Option<&Credential>,
    ) -> Result<Option<RemoteManifest>, RegistryError> {
        let host = reference.api_host();
        let url = format!("{}{}/manifests/{}", self.base_url(host), reference.repository, reference.manifest_ref());
        let scope = Some(format!("repository:{}:pull", reference.repository));
        let request = |method: reqwest::Method| {
            let url = url.clone();
            move |auth: Option<&str>| {
                let mut r = self
                    .http
                    .request(method.clone(), &url)
                    .timeout(self.options.timeout)
                    .header(ACCEPT, MANIFEST_ACCEPT);
                if let Some(a) = auth {
                    r = r.header(AUTHORIZATION, a);
                }
                r
            }
        };
        let head = self
            .send(
                &reference.registry,
                host,
                &reference.repository,
                scope.clone(),
                credential,
                request(reqwest::Method::HEAD),
            )
            .await?;
        let status = head.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let describe = |method: &str| format!("{method} {url}");
        if !status.is_success() {
            return Err(RegistryError::Api {
                registry: reference.registry.clone(),
                request: describe("HEAD"),
                status: status.as_u16(),
                message: "(no body for HEAD)".to_owned(),
            });
        }
        let media_type = header(head.headers(), "content-type");
        if let Some(digest) = header(head.headers(), "docker-content-digest") {
            return Ok(Some(RemoteManifest { digest, media_type }));
        }
        // Registries need not send the digest header: hash the manifest itself, as the spec
        // defines the digest (sha256 of the exact bytes served).
        let get = self
            .send(&reference.registry, host, &reference.repository, scope, credential, request(reqwest::Method::GET))
            .await?;
        let status = get.status();
        let media_type = header(get.headers(), "content-type").or(media_type);
        let body = get.bytes().await.map_err(|e| self.unreachable(host, e))?;
        if !status.is_success() {
            return Err(RegistryError::Api {
                registry: reference.registry.clone(),
                request: describe("GET"),
                status: status.as_u16(),
                message: error_message(&String::from_utf8_lossy(&body)),
            });
        }
        Ok(Some(RemoteManifest { digest: format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body))), media_type }))
    }

    /// Check that `credential` is accepted by `registry` (`GET /v2/`, through the challenge).
    pub async fn login(&self, registry: &str, credential: &Credential) -> Result<(), RegistryError> {
        let reference_host = if registry == crate::reference::DOCKER_HUB { "registry-1.docker.io" } else { registry };
        let url = self.base_url(reference_host);
        // Some registries answer `/v2/` without asking for credentials: then ask with them
        // straight away, so that wrong ones are still caught.
        let response = self
            .send(registry, reference_host, "", None, Some(credential), |auth| {
                let r = self.http.get(&url).timeout(self.options.timeout);
                match auth {
                    Some(a) => r.header(AUTHORIZATION, a),
                    None => r.header(AUTHORIZATION, basic(credential)),
                }
            })
            .await?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(RegistryError::Api {
                registry: registry.to_owned(),
                request: format!("GET {url}"),
                status: status.as_u16(),
                message: error_message(&response.text().await.unwrap_or_default()),
            })
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse_with_commas_in_scopes() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example.org/token",service="registry.example.org",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example.org/token".into(),
                service: Some("registry.example.org".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(Challenge::parse(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(Challenge::parse("Negotiate abc"), None);
        assert_eq!(Challenge::parse(r#"Bearer service="x""#), None, "a bearer challenge needs a realm");
    }

    #[test]
    fn distribution_error_bodies_are_summarized() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(error_message(body), "MANIFEST_UNKNOWN: manifest unknown");
        assert_eq!(error_message("plain text\n"), "plain text");
    }

    #[test]
    fn loopback_is_plain_http_and_others_only_when_configured() {
        let c = RegistryClient::new(ClientOptions { insecure: vec!["lab:5000".into()], ..Default::default() }).unwrap();
        assert_eq!(c.base_url("127.0.0.1:5000"), "http://127.0.0.1:5000/v2/");
        assert_eq!(c.base_url("lab:5000"), "http://lab:5000/v2/");
        assert_eq!(c.base_url("ghcr.io"), "https://ghcr.io/v2/");
        assert_eq!(c.address("ghcr.io"), "ghcr.io:443");
    }

    /// A registry on loopback that speaks the token flow: manifests need `Bearer tok-ana`,
    /// which `/token` hands out for Basic `ana:pw` only.
    async fn token_registry() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (log, realm) = (seen.clone(), format!("http://{addr}/token"));
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let line = req.lines().next().unwrap_or("").to_owned();
                log.lock().unwrap().push(line.clone());
                let auth = req.lines().find_map(|l| l.strip_prefix("authorization: ")).unwrap_or("").to_owned();
                let good_basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ana:pw"));
                let digest = format!("sha256:{}", "d".repeat(64));
                let answer = if line.contains(" /token?") {
                    if auth == good_basic {
                        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 19\r\n\r\n{\"token\":\"tok-ana\"}"
                            .to_owned()
                    } else {
                        "HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n".to_owned()
                    }
                } else if auth != "Bearer tok-ana" {
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer realm=\"{realm}\",service=\"test\",scope=\"repository:lab/tool:pull\"\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
                    )
                } else if line.contains("/manifests/1 ") {
                    format!(
                        "HTTP/1.1 200 OK\r\ndocker-content-digest: {digest}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
                    )
                } else if line.starts_with("HEAD") && line.contains("/manifests/nodigest ") {
                    "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n".to_owned()
                } else if line.contains("/manifests/nodigest ") {
                    "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}".to_owned()
                } else {
                    "HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n".to_owned()
                };
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        (addr, seen)
    }

    #[tokio::test]
    async fn the_bearer_token_flow_fetches_a_token_with_basic_credentials_and_retries() {
        let (addr, seen) = token_registry().await;
        let client = RegistryClient::new(ClientOptions::default()).unwrap();
        let ana = Credential { username: "ana".into(), secret: "pw".into() };
        let r = Reference::parse(&format!("{addr}/lab/tool:1")).unwrap();
        let m = client.manifest_digest(&r, Some(&ana)).await.unwrap().unwrap();
        assert_eq!(m.digest, format!("sha256:{}", "d".repeat(64)));
        let token_request = seen.lock().unwrap().iter().find(|l| l.contains("/token?")).cloned().unwrap();
        assert!(
            token_request.contains("service=test") && token_request.contains("scope=repository%3Alab%2Ftool%3Apull"),
            "{token_request}"
        );

        // No digest header: the manifest is fetched and hashed (sha256 of `{}`).
        let r = Reference::parse(&format!("{addr}/lab/tool:nodigest")).unwrap();
        let m = client.manifest_digest(&r, Some(&ana)).await.unwrap().unwrap();
        assert_eq!(m.digest, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");

        let r = Reference::parse(&format!("{addr}/lab/tool:2")).unwrap();
        assert_eq!(client.manifest_digest(&r, Some(&ana)).await.unwrap(), None, "404: tag missing");

        let wrong = Credential { username: "ana".into(), secret: "nope".into() };
        let e = client.manifest_digest(&r, Some(&wrong)).await.unwrap_err();
        assert!(matches!(&e, RegistryError::BadCredentials { username, .. } if username == "ana"), "{e:?}");
        let e = client.manifest_digest(&r, None).await.unwrap_err();
        assert!(matches!(e, RegistryError::NoCredentials { .. }), "{e:?}");
    }
}
