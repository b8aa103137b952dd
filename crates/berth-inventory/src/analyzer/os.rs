//! The operating system: `os-release` first (`/etc`, then `/usr/lib`), then the release files
//! distributions kept before os-release existed (`/etc/debian_version`, `/etc/alpine-release`,
//! `/etc/redhat-release` and its CentOS, Rocky and Alma variants).
//!
//! Debian's point release comes from `/etc/debian_version` (`12.5`), as Debian's tracker and
//! other scanners use it; os-release only says `12`.

use super::{Analyzer, Found, Input};
use crate::model::{Os, OsFamily};

/// The os-release analyzer.
pub struct OsRelease;

const FILES: [&str; 10] = [
    "etc/os-release",
    "usr/lib/os-release",
    "etc/debian_version",
    "etc/alpine-release",
    "etc/redhat-release",
    "etc/centos-release",
    "etc/rocky-release",
    "etc/almalinux-release",
    "etc/fedora-release",
    "etc/lsb-release",
];

impl Analyzer for OsRelease {
    fn name(&self) -> &'static str {
        "os-release"
    }

    fn version(&self) -> u32 {
        1
    }

    fn required(&self, path: &str) -> bool {
        FILES.contains(&path)
    }

    fn analyze(&self, input: &Input<'_>) -> Found {
        let read = |p: &str| input.view.read(p).map(|b| String::from_utf8_lossy(b).into_owned());
        Found { os: detect(&read), ..Found::default() }
    }
}

/// `KEY=value` pairs of an os-release file, quotes removed.
fn os_release_fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').trim_matches('\'').to_owned()))
        .collect()
}

fn family_of(id: &str) -> Option<OsFamily> {
    Some(match id {
        "debian" => OsFamily::Debian,
        "ubuntu" => OsFamily::Ubuntu,
        "alpine" => OsFamily::Alpine,
        "centos" | "rhel" | "rocky" | "almalinux" | "ol" | "redhat" => OsFamily::Redhat,
        "fedora" => OsFamily::Fedora,
        _ => return None,
    })
}

/// The first run of digits and dots in `text` (`7.9.2009` in "CentOS Linux release 7.9.2009 (Core)").
fn release_number(text: &str) -> Option<String> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let rest = &text[start..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    Some(rest[..end].trim_end_matches('.').to_owned())
}

/// Detect the operating system from files read through `read`.
pub fn detect(read: &dyn Fn(&str) -> Option<String>) -> Option<Os> {
    let debian_version = read("etc/debian_version").map(|s| s.trim().to_owned());
    if let Some((source, text)) = ["etc/os-release", "usr/lib/os-release"].iter().find_map(|p| read(p).map(|t| (*p, t)))
    {
        let fields = os_release_fields(&text);
        let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
        let id = get("ID").unwrap_or_default().to_ascii_lowercase();
        let family = family_of(&id)
            .or_else(|| get("ID_LIKE").and_then(|like| like.split_whitespace().find_map(family_of)))
            .unwrap_or(OsFamily::Other);
        let mut version = get("VERSION_ID").unwrap_or_default();
        let mut source = source.to_owned();
        match family {
            OsFamily::Debian => {
                // `12.5` from debian_version; testing/sid say `trixie/sid` there and have no
                // VERSION_ID, so the codename stands in.
                if let Some(dv) = debian_version.as_deref().filter(|v| v.starts_with(|c: char| c.is_ascii_digit())) {
                    version = dv.to_owned();
                    source = "etc/debian_version".to_owned();
                } else if version.is_empty() {
                    version = get("VERSION_CODENAME").or_else(|| debian_version.clone()).unwrap_or_default();
                }
            }
            OsFamily::Alpine => {
                if let Some(v) = read("etc/alpine-release") {
                    version = v.trim().to_owned();
                    source = "etc/alpine-release".to_owned();
                }
            }
            OsFamily::Redhat => {
                // os-release says `7`; the release file says `7.9.2009`.
                if let Some(v) =
                    ["etc/centos-release", "etc/rocky-release", "etc/almalinux-release", "etc/redhat-release"]
                        .iter()
                        .find_map(|p| read(p).and_then(|t| release_number(&t)).map(|v| (p, v)))
                {
                    version = v.1;
                    source = (*v.0).to_owned();
                }
            }
            _ => {}
        }
        return Some(Os {
            family,
            id,
            version,
            codename: get("VERSION_CODENAME").or_else(|| get("UBUNTU_CODENAME")),
            pretty_name: get("PRETTY_NAME"),
            source,
        });
    }
    // No os-release: the older release files.
    if let Some(v) = read("etc/alpine-release") {
        return Some(Os {
            family: OsFamily::Alpine,
            id: "alpine".into(),
            version: v.trim().to_owned(),
            codename: None,
            pretty_name: None,
            source: "etc/alpine-release".into(),
        });
    }
    for (path, id) in [
        ("etc/centos-release", "centos"),
        ("etc/rocky-release", "rocky"),
        ("etc/almalinux-release", "almalinux"),
        ("etc/fedora-release", "fedora"),
        ("etc/redhat-release", "rhel"),
    ] {
        if let Some(text) = read(path) {
            let lower = text.to_ascii_lowercase();
            let id = if path == "etc/redhat-release" && lower.contains("centos") { "centos" } else { id };
            return Some(Os {
                family: if id == "fedora" { OsFamily::Fedora } else { OsFamily::Redhat },
                id: id.to_owned(),
                version: release_number(&text).unwrap_or_default(),
                codename: None,
                pretty_name: Some(text.trim().to_owned()),
                source: path.to_owned(),
            });
        }
    }
    if let Some(dv) = debian_version {
        return Some(Os {
            family: OsFamily::Debian,
            id: "debian".into(),
            version: dv,
            codename: None,
            pretty_name: None,
            source: "etc/debian_version".into(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn detect_in(files: &[(&str, &str)]) -> Option<Os> {
        let map: HashMap<&str, &str> = files.iter().copied().collect();
        detect(&|p| map.get(p).map(|s| (*s).to_owned()))
    }

    #[test]
    fn debian_point_release_comes_from_debian_version() {
        let os = detect_in(&[
            ("usr/lib/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"),
            ("etc/debian_version", "12.5\n"),
        ])
        .expect("os");
        assert_eq!(
            (os.family, os.version.as_str(), os.codename.as_deref()),
            (OsFamily::Debian, "12.5", Some("bookworm"))
        );
        assert_eq!(os.release(), "12");
    }

    #[test]
    fn ubuntu_alpine_and_the_red_hat_family_are_recognized() {
        let ubuntu = detect_in(&[("etc/os-release", "ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\n")])
            .expect("ubuntu");
        assert_eq!((ubuntu.family, ubuntu.version.as_str()), (OsFamily::Ubuntu, "22.04"));
        let alpine =
            detect_in(&[("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"), ("etc/alpine-release", "3.19.1\n")])
                .expect("alpine");
        assert_eq!((alpine.family, alpine.release()), (OsFamily::Alpine, "3.19".to_owned()));
        let centos = detect_in(&[
            ("etc/os-release", "NAME=\"CentOS Linux\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n"),
            ("etc/centos-release", "CentOS Linux release 7.9.2009 (Core)\n"),
        ])
        .expect("centos");
        assert_eq!((centos.family, centos.version.as_str()), (OsFamily::Redhat, "7.9.2009"));
        let rocky =
            detect_in(&[("etc/os-release", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n")])
                .expect("rocky");
        assert_eq!((rocky.family, rocky.release()), (OsFamily::Redhat, "9".to_owned()));
        let alma = detect_in(&[("etc/os-release", "ID=\"almalinux\"\nVERSION_ID=\"8.9\"\n")]).expect("alma");
        assert_eq!(alma.family, OsFamily::Redhat);
        let fedora = detect_in(&[("etc/os-release", "ID=fedora\nVERSION_ID=39\n")]).expect("fedora");
        assert_eq!((fedora.family, fedora.version.as_str()), (OsFamily::Fedora, "39"));
    }

    #[test]
    fn images_without_os_release_fall_back_to_release_files() {
        let centos6 = detect_in(&[("etc/redhat-release", "CentOS release 6.10 (Final)\n")]).expect("centos 6");
        assert_eq!((centos6.id.as_str(), centos6.version.as_str()), ("centos", "6.10"));
        let old_debian = detect_in(&[("etc/debian_version", "8.11\n")]).expect("jessie");
        assert_eq!((old_debian.family, old_debian.version.as_str()), (OsFamily::Debian, "8.11"));
        let alpine = detect_in(&[("etc/alpine-release", "3.4.6\n")]).expect("alpine");
        assert_eq!(alpine.family, OsFamily::Alpine);
        assert_eq!(detect_in(&[]), None);
    }
}
