//! CycloneDX 1.5 JSON (<https://cyclonedx.org/docs/1.5/json/>): the target as the metadata
//! component, the operating system and every package as components, berth's details
//! (source package, layer, location, origin) as `berth:` properties.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::DocumentMeta;
use crate::model::{Inventory, Origin, Package, TargetKind};

/// A deterministic `urn:uuid:` for a document: a name-based UUID over its content, so equal
/// inventories give equal documents.
pub fn serial_number(inventory: &Inventory, salt: &str) -> String {
    let content = serde_json::to_vec(inventory).unwrap_or_default();
    let mut name = salt.as_bytes().to_vec();
    name.extend_from_slice(&content);
    format!("urn:uuid:{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &name))
}

/// Unique `bom-ref`s: the purl, with `#2`, `#3`... for repeats (one package at two places).
pub fn bom_refs(packages: &[Package]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    packages
        .iter()
        .map(|p| {
            let n = seen.entry(p.purl.as_str()).or_insert(0);
            *n += 1;
            if *n == 1 { p.purl.clone() } else { format!("{}#{n}", p.purl) }
        })
        .collect()
}

fn property(name: &str, value: impl Into<String>) -> Value {
    json!({ "name": name, "value": value.into() })
}

/// The properties berth adds to a package's component.
pub fn package_properties(p: &Package, inventory: &Inventory) -> Vec<Value> {
    let mut props = vec![property("berth:package:kind", p.kind.as_str())];
    if let Some(s) = &p.source_name {
        props.push(property("berth:source:name", s.clone()));
    }
    if let Some(s) = &p.source_version {
        props.push(property("berth:source:version", s.clone()));
    }
    if let Some(a) = &p.arch {
        props.push(property("berth:package:arch", a.clone()));
    }
    if let Some(l) = p.layer {
        props.push(property("berth:layer:index", l.to_string()));
        if let Some(d) = inventory.layers.get(l).and_then(|l| l.diff_id.clone()) {
            props.push(property("berth:layer:diff_id", d));
        }
    }
    props.push(property("berth:location", p.location.clone()));
    if let Origin::ThirdParty { repository, evidence } = &p.origin {
        props.push(property("berth:origin:repository", repository.clone()));
        props.push(property("berth:origin:evidence", evidence.clone()));
    }
    props
}

/// The component for one package.
pub fn component(p: &Package, bom_ref: &str, inventory: &Inventory) -> Value {
    let mut c = json!({
        "bom-ref": bom_ref,
        "type": "library",
        "name": p.name,
        "version": p.version,
        "purl": p.purl,
    });
    if !p.licenses.is_empty() {
        c["licenses"] = Value::Array(p.licenses.iter().map(|l| json!({ "license": { "name": l } })).collect());
    }
    c["properties"] = Value::Array(package_properties(p, inventory));
    c
}

/// The metadata component describing the target.
pub fn target_component(inventory: &Inventory) -> Value {
    let t = &inventory.target;
    let kind = match t.kind {
        TargetKind::Rootfs => "file",
        _ => "container",
    };
    let mut c = json!({ "bom-ref": "berth:target", "type": kind, "name": t.name });
    let mut props = vec![property("berth:target:kind", t.kind.scheme())];
    if let Some(id) = &t.image_id {
        props.push(property("berth:image:id", id.clone()));
    }
    for tag in &t.repo_tags {
        props.push(property("berth:image:tag", tag.clone()));
    }
    c["properties"] = Value::Array(props);
    c
}

/// The CycloneDX document of an inventory.
pub fn document(inventory: &Inventory, meta: &DocumentMeta) -> Value {
    let refs = bom_refs(&inventory.packages);
    let mut components: Vec<Value> = Vec::new();
    let mut depends = Vec::new();
    if let Some(os) = &inventory.os {
        components.push(json!({
            "bom-ref": "berth:os",
            "type": "operating-system",
            "name": os.id,
            "version": os.version,
            "description": os.pretty_name.clone().unwrap_or_default(),
        }));
        depends.push(Value::from("berth:os"));
    }
    for (p, r) in inventory.packages.iter().zip(&refs) {
        components.push(component(p, r, inventory));
        depends.push(Value::from(r.as_str()));
    }
    // Executables and libraries no package claims: `file` components with their hashes.
    for f in &inventory.unowned {
        let bom_ref = format!("berth:file:{}", f.path);
        let mut c = json!({
            "bom-ref": bom_ref,
            "type": "file",
            "name": format!("/{}", f.path),
        });
        let hashes: Vec<_> = [("SHA-256", &f.sha256), ("SHA-1", &f.sha1)]
            .into_iter()
            .filter_map(|(alg, h)| h.as_ref().map(|h| json!({ "alg": alg, "content": h })))
            .collect();
        if !hashes.is_empty() {
            c["hashes"] = json!(hashes);
        }
        let mut props = vec![
            property("berth:unowned", "true"),
            property("berth:file:kind", f.kind.as_str()),
            property("berth:file:size", f.size.to_string()),
        ];
        if let Some(l) = f.layer {
            props.push(property("berth:layer", l.to_string()));
        }
        if let Some(t) = &f.toolchain {
            props.push(property("berth:file:toolchain", t.clone()));
        }
        if let Some(m) = &f.main {
            props.push(property("berth:file:main", m.clone()));
        }
        c["properties"] = Value::Array(props);
        components.push(c);
        depends.push(Value::from(bom_ref));
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial_number(inventory, "cyclonedx"),
        "version": 1,
        "metadata": {
            "timestamp": meta.timestamp,
            "tools": { "components": [ { "type": "application", "name": "berth", "version": meta.tool_version } ] },
            "component": target_component(inventory),
        },
        "components": components,
        "dependencies": [ { "ref": "berth:target", "dependsOn": depends } ],
    })
}
