//! Image archives built here, layer by layer: `docker save` and OCI layouts (tarball and
//! directory), whiteouts and opaque directories, layer attribution, compressed layers, engine
//! export through the fake engine, and archives that try to reach outside the image root.

use std::io::Write;
use std::sync::Arc;

use berth_engine::FakeEngine;
use berth_engine::fake::fake_image;
use berth_inventory::{PackageKind, SbomOptions, SourceError, Target, TargetKind, sbom, sbom_local};
use sha2::{Digest, Sha256};

enum E<'a> {
    File(&'a str, &'a str),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

fn layer_tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        match e {
            E::File(path, content) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(content.len() as u64);
                h.set_mode(0o644);
                // set_path refuses `..`; write the raw name as a hostile archive would.
                let name = h.as_old_mut().name.as_mut();
                name[..path.len()].copy_from_slice(path.as_bytes());
                h.set_cksum();
                b.append(&h, content.as_bytes()).expect("append");
            }
            E::Link(path, target) | E::Hard(path, target) => {
                h.set_entry_type(if matches!(e, E::Link(..)) { tar::EntryType::Symlink } else { tar::EntryType::Link });
                h.set_size(0);
                let name = h.as_old_mut().name.as_mut();
                name[..path.len()].copy_from_slice(path.as_bytes());
                let link = h.as_old_mut().linkname.as_mut();
                link[..target.len()].copy_from_slice(target.as_bytes());
                h.set_cksum();
                b.append(&h, &[][..]).expect("append");
            }
        }
    }
    b.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn status(packages: &[(&str, &str)]) -> String {
    packages
        .iter()
        .map(|(n, v)| format!("Package: {n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {v}\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

const OS: &str = "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";

/// Three layers: a base with two packages; one that installs a third and a pip package; one
/// that upgrades a package, removes the pip package (whiteout) and empties /opt (opaque).
fn layers() -> Vec<Vec<u8>> {
    let base_status = status(&[("base-files", "12.4"), ("libc6", "2.36-9")]);
    let l0 = layer_tar(&[
        E::File("usr/lib/os-release", OS),
        E::Link("etc/os-release", "../usr/lib/os-release"),
        E::File("etc/debian_version", "12.5\n"),
        E::File("var/lib/dpkg/status", &base_status),
        E::File("opt/old/x.dist-info/METADATA", "Name: old\nVersion: 1.0\n"),
    ]);
    let l1_status = status(&[("base-files", "12.4"), ("libc6", "2.36-9"), ("curl", "7.88.1-10")]);
    let l1 = layer_tar(&[
        E::File("var/lib/dpkg/status", &l1_status),
        E::File("usr/local/lib/python3.11/dist-packages/six-1.16.0.dist-info/METADATA", "Name: six\nVersion: 1.16.0\n"),
        E::File(
            "usr/local/lib/python3.11/dist-packages/tqdm-4.66.4.dist-info/METADATA",
            "Name: tqdm\nVersion: 4.66.4\n",
        ),
    ]);
    let l2_status = status(&[("base-files", "12.4"), ("libc6", "2.36-9+deb12u4"), ("curl", "7.88.1-10")]);
    let l2 = layer_tar(&[
        E::File("var/lib/dpkg/status", &l2_status),
        E::File("usr/local/lib/python3.11/dist-packages/.wh.six-1.16.0.dist-info", ""),
        E::File("opt/.wh..wh..opq", ""),
    ]);
    vec![l0, l1, gzip(&l2)]
}

fn config(diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": [
            { "created_by": "debootstrap" },
            { "created_by": "ENV X=1", "empty_layer": true },
            { "created_by": "RUN apt-get install curl && pip install six tqdm" },
            { "created_by": "RUN apt-get upgrade && pip uninstall six" },
        ],
    }))
    .expect("config")
}

fn append(b: &mut tar::Builder<Vec<u8>>, name: &str, bytes: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, bytes).expect("append");
}

fn docker_archive(layers: &[Vec<u8>]) -> Vec<u8> {
    let uncompressed = |l: &Vec<u8>| {
        if l.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(l.as_slice()), &mut out).expect("gunzip");
            out
        } else {
            l.clone()
        }
    };
    let diff_ids: Vec<String> = layers.iter().map(|l| format!("sha256:{}", sha(&uncompressed(l)))).collect();
    let config = config(&diff_ids);
    let config_name = format!("{}.json", sha(&config));
    let mut b = tar::Builder::new(Vec::new());
    let mut names = Vec::new();
    // Layers first, manifest last, as `docker save` of Docker 20.10 writes them.
    for (i, l) in layers.iter().enumerate() {
        let name = format!("{i:02}{}/layer.tar", &sha(l)[..8]);
        append(&mut b, &name, l);
        names.push(name);
    }
    append(&mut b, &config_name, &config);
    let manifest =
        serde_json::json!([{ "Config": config_name, "RepoTags": ["berth-test/layered:1"], "Layers": names }]);
    append(&mut b, "manifest.json", &serde_json::to_vec(&manifest).expect("json"));
    b.into_inner().expect("tar")
}

/// An OCI layout: (path, bytes) members.
fn oci_layout(layers: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    let diff_ids: Vec<String> = layers.iter().map(|l| format!("sha256:{}", sha(l))).collect();
    let config = config(&diff_ids);
    let mut members = vec![("oci-layout".to_owned(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec())];
    let layer_descs: Vec<_> = layers
        .iter()
        .map(|l| {
            members.push((format!("blobs/sha256/{}", sha(l)), l.clone()));
            serde_json::json!({ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{}", sha(l)), "size": l.len() })
        })
        .collect();
    members.push((format!("blobs/sha256/{}", sha(&config)), config.clone()));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha(&config)), "size": config.len() },
        "layers": layer_descs,
    }))
    .expect("json");
    members.push((format!("blobs/sha256/{}", sha(&manifest)), manifest.clone()));
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": [ { "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", sha(&manifest)), "size": manifest.len(), "platform": { "architecture": "amd64", "os": "linux" } } ] });
    members.push(("index.json".to_owned(), serde_json::to_vec(&index).expect("json")));
    members
}

fn write_tar(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in members {
        append(&mut b, name, bytes);
    }
    b.into_inner().expect("tar")
}

fn check_layered(inv: &berth_inventory::Inventory) {
    let found: Vec<(String, String, Option<usize>)> =
        inv.packages.iter().map(|p| (p.name.clone(), p.version.clone(), p.layer)).collect();
    assert_eq!(
        found,
        vec![
            ("base-files".to_owned(), "12.4".to_owned(), Some(0)),
            ("curl".to_owned(), "7.88.1-10".to_owned(), Some(1)),
            // Upgraded in layer 2: the package as installed now came with layer 2.
            ("libc6".to_owned(), "2.36-9+deb12u4".to_owned(), Some(2)),
            // six was whited out in layer 2; /opt was made opaque, hiding `old`.
            ("tqdm".to_owned(), "4.66.4".to_owned(), Some(1)),
        ],
        "{inv:#?}"
    );
    assert_eq!(inv.os.as_ref().map(|o| o.version.as_str()), Some("12.5"));
    assert_eq!(inv.layers.len(), 3);
    assert_eq!(inv.layers[1].created_by.as_deref(), Some("RUN apt-get install curl && pip install six tqdm"));
    assert!(inv.layers.iter().all(|l| l.diff_id.as_deref().is_some_and(|d| d.starts_with("sha256:"))));
}

#[test]
fn docker_archives_apply_layers_in_order_with_whiteouts_and_attribute_packages() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("image.tar");
    std::fs::write(&path, docker_archive(&layers())).expect("write");
    let inv = sbom_local(&Target::DockerArchive(path)).expect("inventory");
    assert_eq!(inv.target.kind, TargetKind::DockerArchive);
    assert_eq!(inv.target.repo_tags, vec!["berth-test/layered:1".to_owned()]);
    check_layered(&inv);
}

#[test]
fn oci_archives_and_directories_read_the_same_image() {
    let members = oci_layout(&layers());
    let dir = tempfile::tempdir().expect("tmp");
    let archive = dir.path().join("oci.tar");
    std::fs::write(&archive, write_tar(&members)).expect("write");
    // Without a prefix, a file's kind is found from its members.
    let inv = sbom_local(&Target::parse(archive.to_str().expect("utf-8"))).expect("inventory");
    assert_eq!(inv.target.kind, TargetKind::OciArchive);
    check_layered(&inv);

    let layout = dir.path().join("layout");
    for (name, bytes) in &members {
        let p = layout.join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    }
    let inv = sbom_local(&Target::parse(layout.to_str().expect("utf-8"))).expect("inventory");
    assert_eq!(inv.target.kind, TargetKind::OciDir);
    check_layered(&inv);
}

#[tokio::test]
async fn engine_images_are_read_through_the_engine_export() {
    let fake = FakeEngine::new();
    fake.add_image_archive("berth-test/layered:1", fake_image("berth-test/layered:1"), docker_archive(&layers()));
    let options = SbomOptions { engine: Some(Arc::new(fake)), temp_dir: None };
    let inv = sbom(&Target::parse("berth-test/layered:1"), &options).await.expect("inventory");
    assert_eq!(inv.target.kind, TargetKind::Image);
    assert!(inv.target.image_id.as_deref().is_some_and(|id| id.starts_with("sha256:")));
    check_layered(&inv);

    let missing = sbom(&Target::Image("berth-test/absent:1".into()), &options).await.expect_err("absent");
    assert!(matches!(missing, SourceError::NotFound { .. }), "{missing:?}");
    let no_engine = sbom(&Target::Image("x:1".into()), &SbomOptions::default()).await.expect_err("no engine");
    assert!(matches!(no_engine, SourceError::NoEngine { .. }));
}

fn hostile(layer: Vec<u8>) -> SourceError {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("evil.tar");
    std::fs::write(&path, docker_archive(&[layer])).expect("write");
    sbom_local(&Target::DockerArchive(path)).expect_err("refused")
}

#[test]
fn entries_and_hard_links_that_climb_out_of_the_root_are_refused() {
    let err = hostile(layer_tar(&[E::File("../../etc/cron.d/evil", "* * * * * root sh\n")]));
    assert!(matches!(err, SourceError::Escape { .. }), "{err:?}");
    let err = hostile(layer_tar(&[E::File("a/../../../x", "")]));
    assert!(matches!(err, SourceError::Escape { .. }), "{err:?}");
    let err = hostile(layer_tar(&[E::Hard("var/lib/dpkg/status", "../../../etc/shadow")]));
    assert!(matches!(err, SourceError::Escape { .. }), "{err:?}");
}

#[test]
fn symbolic_links_resolve_inside_the_image_only() {
    let dir = tempfile::tempdir().expect("tmp");
    // An absolute link means the image's own /usr/lib/os-release; a relative link climbing out
    // of the root is not followed, so the dpkg database behind it is not read.
    let layer = layer_tar(&[
        E::File("usr/lib/os-release", OS),
        E::Link("etc/os-release", "/usr/lib/os-release"),
        E::Link("var/lib/dpkg/status", "../../../../../../var/lib/dpkg/status"),
    ]);
    let path = dir.path().join("links.tar");
    std::fs::write(&path, docker_archive(&[layer])).expect("write");
    let inv = sbom_local(&Target::DockerArchive(path)).expect("inventory");
    assert_eq!(inv.os.as_ref().map(|o| o.id.as_str()), Some("debian"));
    assert!(inv.packages.iter().all(|p| p.kind != PackageKind::Deb), "{:?}", inv.packages);
}

#[test]
fn tarballs_without_a_manifest_or_index_are_not_images() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("plain.tar");
    std::fs::write(&path, layer_tar(&[E::File("hello", "world")])).expect("write");
    let err = sbom_local(&Target::parse(path.to_str().expect("utf-8"))).expect_err("not an image");
    assert!(matches!(err, SourceError::UnknownArchive { .. }), "{err:?}");
    assert!(err.hint().is_some());
}
