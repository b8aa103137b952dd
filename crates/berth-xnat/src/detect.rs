//! Telling an XNAT Command from a Boutiques descriptor, so that one `berth validate` can take
//! either.
//!
//! Both are JSON objects with `name`, `description`, `command-line` and `inputs`, so no single
//! key decides. Each side scores the keys only it uses; the higher score wins and a tie (or
//! nothing at all) is [`DocumentKind::Unknown`]. The heaviest evidence is what each format
//! requires and the other never has: Boutiques requires `tool-version` and writes
//! `schema-version` `0.5`; XNAT writes `schema-version` `1.0` and keeps its wrappers under
//! `xnat`.

use serde::Serialize;

use berth_descriptor::Value;

use crate::validate::hash_tokens;

/// What a JSON document looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentKind {
    /// One XNAT Command.
    XnatCommand,
    /// A JSON array of XNAT Commands (the `org.nrg.commands` image label).
    XnatCommandList,
    /// A Boutiques descriptor.
    Boutiques,
    /// Neither, or not clearly one of them.
    Unknown,
}

/// The verdict and the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// The verdict.
    pub kind: DocumentKind,
    /// What pointed that way, e.g. "`schema-version` is \"1.0\"".
    pub evidence: Vec<String>,
}

/// Decides whether `doc` is an XNAT Command, a list of them, or a Boutiques descriptor.
pub fn detect(doc: &Value) -> Detection {
    match doc {
        Value::Dict(_) => detect_object(doc),
        Value::List(items) if !items.is_empty() => {
            let verdicts: Vec<Detection> = items.iter().map(detect_object).collect();
            if verdicts.iter().all(|d| d.kind == DocumentKind::XnatCommand) {
                Detection {
                    kind: DocumentKind::XnatCommandList,
                    evidence: vec![format!("an array of {} XNAT Commands", items.len())],
                }
            } else {
                Detection {
                    kind: DocumentKind::Unknown,
                    evidence: vec!["an array that is not all XNAT Commands".into()],
                }
            }
        }
        _ => Detection { kind: DocumentKind::Unknown, evidence: vec![format!("{}, not an object", doc.type_name())] },
    }
}

fn detect_object(doc: &Value) -> Detection {
    let Some(d) = doc.as_dict() else {
        return Detection {
            kind: DocumentKind::Unknown,
            evidence: vec![format!("{}, not an object", doc.type_name())],
        };
    };
    let mut xnat: Vec<(u32, String)> = Vec::new();
    let mut bosh: Vec<(u32, String)> = Vec::new();
    let has = |k: &str| d.contains_key(k);

    match d.get("schema-version").and_then(Value::as_str) {
        Some("1.0") => xnat.push((3, "`schema-version` is \"1.0\"".into())),
        Some(v) if v.starts_with("0.") => bosh.push((3, format!("`schema-version` is \"{v}\""))),
        _ => {}
    }
    if has("tool-version") {
        bosh.push((3, "has `tool-version`".into()));
    }
    for (key, weight) in [("container-image", 2), ("output-files", 2), ("groups", 1), ("suggested-resources", 1)] {
        if has(key) {
            bosh.push((weight, format!("has `{key}`")));
        }
    }
    if d.get("xnat").is_some_and(|x| matches!(x, Value::List(_))) {
        xnat.push((3, "has `xnat` wrappers".into()));
    }
    if let Some(t @ ("docker" | "docker-setup" | "docker-wrapup")) = d.get("type").and_then(Value::as_str) {
        xnat.push((2, format!("`type` is \"{t}\"")));
    }
    for (key, weight) in [("mounts", 2), ("override-entrypoint", 1), ("image", 1)] {
        if has(key) {
            xnat.push((weight, format!("has `{key}`")));
        }
    }
    let inputs = d.get("inputs").and_then(Value::as_list).unwrap_or_default();
    if inputs.iter().any(|i| i.get("id").is_some() || i.get("value-key").is_some()) {
        bosh.push((2, "inputs have `id`/`value-key`".into()));
    }
    const XNAT_INPUT_KEYS: [&str; 5] =
        ["replacement-key", "command-line-separator", "true-value", "select-values", "multiple-delimiter"];
    if inputs.iter().any(|i| XNAT_INPUT_KEYS.iter().any(|k| i.get(k).is_some())) {
        xnat.push((1, "inputs have XNAT keys (`replacement-key`, `true-value`, ...)".into()));
    }
    let outputs = d.get("outputs").and_then(Value::as_list).unwrap_or_default();
    if outputs.iter().any(|o| o.get("mount").is_some()) {
        xnat.push((2, "outputs name a `mount`".into()));
    }
    if let Some(line) = d.get("command-line").and_then(Value::as_str)
        && !hash_tokens(line).is_empty()
    {
        xnat.push((1, "the command line has `#KEY#` replacement keys".into()));
    }

    let score = |v: &[(u32, String)]| v.iter().map(|(w, _)| w).sum::<u32>();
    let (x, b) = (score(&xnat), score(&bosh));
    let (kind, evidence) = if x > b {
        (DocumentKind::XnatCommand, xnat)
    } else if b > x {
        (DocumentKind::Boutiques, bosh)
    } else {
        (DocumentKind::Unknown, xnat.into_iter().chain(bosh).collect())
    };
    Detection { kind, evidence: evidence.into_iter().map(|(_, e)| e).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> DocumentKind {
        detect(&Value::parse(text).unwrap()).kind
    }

    #[test]
    fn minimal_documents() {
        assert_eq!(kind(r#"{"name": "x", "schema-version": "1.0", "command-line": "x"}"#), DocumentKind::XnatCommand);
        assert_eq!(
            kind(r#"{"name": "x", "tool-version": "1", "schema-version": "0.5", "command-line": "x [A]"}"#),
            DocumentKind::Boutiques
        );
        assert_eq!(
            kind(r#"{"name": "x", "image": "busybox:1", "type": "docker", "command-line": "echo #A#"}"#),
            DocumentKind::XnatCommand
        );
        assert_eq!(kind(r#"{"name": "x"}"#), DocumentKind::Unknown);
        assert_eq!(kind("[]"), DocumentKind::Unknown);
        assert_eq!(kind("3"), DocumentKind::Unknown);
        assert_eq!(kind(r#"[{"name": "x", "schema-version": "1.0"}]"#), DocumentKind::XnatCommandList);
    }

    #[test]
    fn evidence_is_reported() {
        let d = detect(&Value::parse(r#"{"schema-version": "1.0", "xnat": []}"#).unwrap());
        assert_eq!(d.evidence, ["`schema-version` is \"1.0\"", "has `xnat` wrappers"]);
    }
}
