//! Image references (`[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`) parsed the way Docker reads them.
//!
//! The first path component is a registry when it contains `.` or `:` or is `localhost`
//! (distribution's `reference.ParseNormalizedNamed`); otherwise the registry is Docker Hub
//! (`docker.io`) and a one-component repository gets `library/`.

use std::fmt;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's API actually answers.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Reference {
    /// `host[:port]`; `docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path (`library/debian`, `tools/fsl`).
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// The manifest digest (`sha256:...`) when pinned.
    pub digest: Option<String>,
}

/// A reference that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not an image reference: {problem}")]
pub struct ReferenceError {
    /// What was given.
    pub given: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Reference {
    /// Parse `s` as Docker does.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let err = |problem| ReferenceError { given: s.to_owned(), problem };
        if s.is_empty() || s.chars().any(char::is_whitespace) {
            return Err(err("it is empty or contains white space"));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) if d.starts_with("sha256:") && d.len() == 71 => (n, Some(d.to_owned())),
            Some(_) => return Err(err("the digest after `@` must be `sha256:` and 64 hex digits")),
            None => (s, None),
        };
        let slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], Some(name[slash + i + 1..].to_owned())),
            None => (name, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if repository.is_empty() || repository.split('/').any(str::is_empty) {
            return Err(err("the repository name is empty"));
        }
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err("repository names must be lowercase"));
        }
        if tag.as_deref().is_some_and(str::is_empty) {
            return Err(err("the tag after `:` is empty"));
        }
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_owned()) } else { tag };
        Ok(Reference { registry, repository, tag, digest })
    }

    /// What to ask the registry's manifest endpoint for: the digest when pinned, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// The host the API answers on (Docker Hub's API is not at `docker.io`).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API } else { &self.registry }
    }

    /// `registry/repository` with Docker's short forms for Docker Hub, as engines list it in
    /// repo digests (`debian`, `127.0.0.1:5000/tools/fsl`).
    pub fn familiar_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            self.repository.strip_prefix("library/").unwrap_or(&self.repository).to_owned()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// Whether `other` names the same repository (registry and path), whatever its tag.
    pub fn same_repository(&self, other: &Reference) -> bool {
        self.registry == other.registry && self.repository == other.repository
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar_name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Whether `registry` (`host[:port]`) is on loopback, where Docker (and berth) use plain HTTP.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost" || host == "::1" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_short_names_are_normalized() {
        let r = Reference::parse("debian").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("docker.io", "library/debian", Some("latest"))
        );
        assert_eq!(r.to_string(), "debian:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = Reference::parse("nipreps/fmriprep:23.2").unwrap();
        assert_eq!(r.repository, "nipreps/fmriprep");
    }

    #[test]
    fn a_first_component_with_a_port_or_dot_or_localhost_is_a_registry() {
        let r = Reference::parse("127.0.0.1:5000/tools/fsl:6.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "tools/fsl", Some("6.0"))
        );
        assert_eq!(Reference::parse("localhost/x").unwrap().registry, "localhost");
        assert_eq!(Reference::parse("ghcr.io/a/b").unwrap().registry, "ghcr.io");
        let pinned = format!("localhost:5000/a@sha256:{}", "0".repeat(64));
        let r = Reference::parse(&pinned).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_ref(), format!("sha256:{}", "0".repeat(64)));
        assert_eq!(r.to_string(), pinned);
    }

    #[test]
    fn bad_references_say_why() {
        assert!(Reference::parse("Debian").unwrap_err().problem.contains("lowercase"));
        assert!(Reference::parse("a@md5:1").unwrap_err().problem.contains("sha256"));
        assert!(Reference::parse("a:").is_err());
        assert!(Reference::parse("").is_err());
    }

    #[test]
    fn loopback_registries() {
        for r in ["localhost:5000", "127.0.0.1:5000", "127.0.0.2", "[::1]:5000", "localhost"] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["registry.lab:5000", "10.0.0.1:5000", "localhost.example.org"] {
            assert!(!is_loopback(r), "{r}");
        }
    }
}
