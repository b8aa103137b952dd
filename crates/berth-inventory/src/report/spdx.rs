//! SPDX 2.3 JSON (<https://spdx.github.io/spdx-spec/v2.3/>): the target as the described
//! package, every package `CONTAINED_BY`... written as the target `CONTAINS` it, purls as
//! `PACKAGE-MANAGER` external references.

use serde_json::{Value, json};

use super::DocumentMeta;
use super::cyclonedx::serial_number;
use crate::model::{Inventory, Origin};

/// An SPDX identifier: letters, digits, `.` and `-` only.
fn spdx_id(prefix: &str, parts: &[&str]) -> String {
    let mut id = String::from(prefix);
    for part in parts {
        id.push('-');
        id.extend(part.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }));
    }
    id
}

/// The SPDX document of an inventory.
pub fn document(inventory: &Inventory, meta: &DocumentMeta) -> Value {
    let uuid = serial_number(inventory, "spdx");
    let uuid = uuid.trim_start_matches("urn:uuid:");
    let name = &inventory.target.name;
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Target",
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": match inventory.target.kind {
            crate::model::TargetKind::Rootfs => "FILE",
            _ => "CONTAINER",
        },
        "comment": format!("berth target kind: {}", inventory.target.kind.scheme()),
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Target",
    })];
    if let Some(os) = &inventory.os {
        packages.push(json!({
            "SPDXID": "SPDXRef-OperatingSystem",
            "name": os.id,
            "versionInfo": os.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        }));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Target",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": "SPDXRef-OperatingSystem",
        }));
    }
    for (i, p) in inventory.packages.iter().enumerate() {
        let id = spdx_id("SPDXRef-Package", &[p.kind.as_str(), &p.name, &i.to_string()]);
        let mut comment = vec![format!("found in `{}`", p.location)];
        if let Some(l) = p.layer {
            comment.push(format!("layer {l}"));
        }
        if let (Some(n), Some(v)) = (&p.source_name, &p.source_version) {
            comment.push(format!("source package {n} {v}"));
        }
        if let Origin::ThirdParty { repository, evidence } = &p.origin {
            comment.push(format!("from outside the distribution: {repository} ({evidence})"));
        }
        if !p.licenses.is_empty() {
            comment.push(format!("declared licence: {}", p.licenses.join(", ")));
        }
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [ { "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl } ],
            "comment": comment.join("; "),
        });
        if let Some(source) = &p.source_name {
            pkg["sourceInfo"] = Value::from(format!("built from source package {source}"));
        }
        packages.push(pkg);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Target",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    // Executables and libraries no package claims, as SPDX files of the target.
    let mut files = Vec::new();
    // Files over berth's limits were not hashed; they are in the warnings, not listed here.
    // SPDX 2.3 requires a SHA1 for every file; SHA256 comes with it.
    for (i, f) in inventory.unowned.iter().enumerate().filter(|(_, f)| f.sha1.is_some()) {
        let id = spdx_id("SPDXRef-File", &[&f.path, &i.to_string()]);
        let checksums: Vec<_> = [("SHA1", &f.sha1), ("SHA256", &f.sha256)]
            .into_iter()
            .filter_map(|(algorithm, h)| h.as_ref().map(|h| json!({ "algorithm": algorithm, "checksumValue": h })))
            .collect();
        let file = json!({
            "SPDXID": id,
            "fileName": format!("/{}", f.path),
            "fileTypes": ["BINARY"],
            "checksums": checksums,
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "comment": format!("{} that no package owns ({} bytes)", f.kind.as_str(), f.size),
        });
        files.push(file);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Target",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://berth.invalid/spdx/{uuid}"),
        "creationInfo": { "created": meta.timestamp, "creators": [ format!("Tool: berth-{}", meta.tool_version) ] },
        "packages": packages,
        "relationships": relationships,
    });
    if !files.is_empty() {
        document["files"] = Value::Array(files);
    }
    document
}
