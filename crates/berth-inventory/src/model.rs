//! The inventory: what an image or root filesystem contains, as every report and the
//! vulnerability matcher read it.
//!
//! This is berth's own JSON format (`berth sbom --format json`); CycloneDX and SPDX are written
//! from it. Field names are stable; new fields are added, never renamed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The version of the berth inventory JSON format.
pub const FORMAT_VERSION: u32 = 1;

/// Everything found in one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// What was read.
    pub target: TargetInfo,
    /// The operating system, if one was recognized.
    pub os: Option<Os>,
    /// The layers, bottom first (a root filesystem is one layer).
    pub layers: Vec<Layer>,
    /// Every package, sorted by kind, name, version and location.
    pub packages: Vec<Package>,
    /// Executables and shared libraries that no package claims, sorted by path, with their
    /// hashes (see [`crate::binary`]). Go modules and Rust crates their build metadata names
    /// are in `packages`, located at the binary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unowned: Vec<crate::binary::UnownedFile>,
    /// Things that could not be read, and other remarks; the inventory is still usable.
    pub warnings: Vec<String>,
    /// The analyzers that ran, with their versions (a change of version means a change of
    /// parsing, so saved inventories from another version may differ).
    pub analyzers: Vec<AnalyzerInfo>,
    /// The image's links, to resolve the paths a traced run named (reachability); not
    /// serialized.
    #[serde(skip)]
    pub links: crate::fs::Links,
}

/// Which target an inventory describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The target as the user named it.
    pub name: String,
    /// What kind of target it was.
    pub kind: TargetKind,
    /// The image ID (`sha256:` digest of the image config), for images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// Tags recorded in the archive or by the engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_tags: Vec<String>,
    /// `amd64`, `arm64`, from the image config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

/// The kinds of target `berth sbom` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// An image the container engine has, read through its image export.
    Image,
    /// A `docker save` tarball.
    DockerArchive,
    /// An OCI image layout packed in a tarball.
    OciArchive,
    /// An OCI image layout directory.
    OciDir,
    /// A root filesystem directory.
    Rootfs,
}

impl TargetKind {
    /// The scheme prefix naming this kind on the command line (`docker-archive:FILE`).
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::DockerArchive => "docker-archive",
            Self::OciArchive => "oci-archive",
            Self::OciDir => "oci-dir",
            Self::Rootfs => "dir",
        }
    }
}

/// The operating system of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Os {
    /// The distribution family, which selects the advisory source.
    pub family: OsFamily,
    /// `ID` from os-release (`debian`, `ubuntu`, `alpine`, `centos`, `rocky`, ...).
    pub id: String,
    /// The release: `12.5` (Debian, from `debian_version`), `22.04`, `3.19.1`, `7.9.2009`.
    pub version: String,
    /// The codename when known (`bookworm`, `jammy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    /// `PRETTY_NAME`, for display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    /// The file the release was read from.
    pub source: String,
}

impl Os {
    /// The major release (`12` for `12.5`, `3.19` for Alpine's `3.19.1`, `22.04` for Ubuntu).
    pub fn release(&self) -> String {
        match self.family {
            OsFamily::Alpine => self.version.splitn(3, '.').take(2).collect::<Vec<_>>().join("."),
            OsFamily::Ubuntu => self.version.clone(),
            _ => self.version.split('.').next().unwrap_or(&self.version).to_owned(),
        }
    }
}

/// The distribution families berth knows advisories for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsFamily {
    /// Debian.
    Debian,
    /// Ubuntu.
    Ubuntu,
    /// Alpine Linux.
    Alpine,
    /// CentOS, RHEL, Rocky Linux, AlmaLinux (rpm, Red Hat's advisories).
    Redhat,
    /// Fedora.
    Fedora,
    /// Something with an os-release that berth has no advisories for.
    Other,
}

impl fmt::Display for OsFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Debian => "debian",
            Self::Ubuntu => "ubuntu",
            Self::Alpine => "alpine",
            Self::Redhat => "redhat",
            Self::Fedora => "fedora",
            Self::Other => "other",
        })
    }
}

/// One layer of the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Position, 0 at the bottom.
    pub index: usize,
    /// The digest of the uncompressed layer tar (`diff_id`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// The digest of the layer blob as stored, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The history entry that created it (`RUN apt-get install ...`), when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// The package formats berth reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    /// Debian packages (dpkg).
    Deb,
    /// Alpine packages (apk).
    Apk,
    /// RPM packages.
    Rpm,
    /// Python distributions (`.dist-info`, `.egg-info`).
    Python,
    /// conda packages (`conda-meta/*.json`).
    Conda,
    /// npm packages (`node_modules/**/package.json`).
    Npm,
    /// Go modules a binary's build information names.
    Go,
    /// Rust crates a binary's `cargo auditable` section names.
    Rust,
    /// R packages (`<library>/<package>/DESCRIPTION`).
    R,
}

impl PackageKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Apk => "apk",
            Self::Rpm => "rpm",
            Self::Python => "python",
            Self::Conda => "conda",
            Self::Npm => "npm",
            Self::Go => "go",
            Self::Rust => "rust",
            Self::R => "r",
        }
    }

    /// Whether the operating system's package manager installed it.
    pub fn is_os(self) -> bool {
        matches!(self, Self::Deb | Self::Apk | Self::Rpm)
    }
}

impl fmt::Display for PackageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Its format.
    pub kind: PackageKind,
    /// The name as its database records it (Python: as in the metadata, not normalized).
    pub name: String,
    /// The installed version, complete: `[epoch:]version[-revision]` for deb and rpm.
    pub version: String,
    /// The source package it was built from (deb `Source:`, apk origin, rpm SOURCERPM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// The source package's version, where it differs in kind from the binary's (deb).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// The architecture (`amd64`, `x86_64`, `all`, `noarch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Declared licences, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// The package URL.
    pub purl: String,
    /// The layer that added this package (the lowest layer from which it stayed installed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// Where it was found: the database or metadata file.
    pub location: String,
    /// Whether it comes from the distribution or from elsewhere.
    pub origin: Origin,
    /// The paths it installs (without a leading `/`), as its database lists them: what the
    /// unowned-binary pass counts as claimed and reachability matches traced accesses with.
    /// Not serialized (an SBOM lists packages, not their tens of thousands of files).
    #[serde(skip)]
    pub files: Vec<String>,
}

impl Package {
    /// A language package (Python, npm, conda, R, a binary's Go module or Rust crate) found at
    /// `location`: no source package, architecture or licence, from its ecosystem's index; the
    /// purl and layer are filled in by the applier.
    pub fn language(kind: PackageKind, name: String, version: String, location: &str) -> Self {
        Self {
            kind,
            name,
            version,
            source_name: None,
            source_version: None,
            arch: None,
            licenses: Vec::new(),
            purl: String::new(),
            layer: None,
            location: location.to_owned(),
            origin: Origin::Distribution,
            files: Vec::new(),
        }
    }

    /// The name used to match and compare: PEP 503-normalized for Python, lowercase for
    /// conda, as recorded otherwise.
    pub fn normalized_name(&self) -> String {
        match self.kind {
            PackageKind::Python => normalize_python_name(&self.name),
            PackageKind::Conda => self.name.to_ascii_lowercase(),
            _ => self.name.clone(),
        }
    }
}

/// PEP 503 normalization: lowercase, runs of `-`, `_` and `.` become one `-`.
pub use berth_package::name::pep503 as normalize_python_name;

/// Where a package comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// The distribution's own archive (or, for language packages, their ecosystem's index).
    Distribution,
    /// Outside the distribution: NeuroDebian, a vendor repository, a locally built package.
    /// The distribution's advisories may not cover it.
    ThirdParty {
        /// The repository or vendor, when known (`NeuroDebian`).
        repository: String,
        /// What gave it away.
        evidence: String,
    },
}

impl Origin {
    /// Whether the package is from outside the distribution.
    pub fn is_third_party(&self) -> bool {
        matches!(self, Self::ThirdParty { .. })
    }
}

/// An analyzer that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzerInfo {
    /// Its name (`dpkg`).
    pub name: String,
    /// Its version.
    pub version: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_names_normalize_as_pep_503_says() {
        assert_eq!(normalize_python_name("PyYAML"), "pyyaml");
        assert_eq!(normalize_python_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_python_name("charset_normalizer"), "charset-normalizer");
        assert_eq!(normalize_python_name("a-_.b"), "a-b");
    }

    #[test]
    fn releases_are_the_part_advisories_are_keyed_by() {
        let os = |family, version: &str| Os {
            family,
            id: String::new(),
            version: version.into(),
            codename: None,
            pretty_name: None,
            source: String::new(),
        };
        assert_eq!(os(OsFamily::Debian, "12.5").release(), "12");
        assert_eq!(os(OsFamily::Alpine, "3.19.1").release(), "3.19");
        assert_eq!(os(OsFamily::Ubuntu, "22.04").release(), "22.04");
        assert_eq!(os(OsFamily::Redhat, "7.9.2009").release(), "7");
    }
}
