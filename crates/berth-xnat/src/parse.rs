//! From a parsed JSON document to a typed [`Command`], with every problem located by a JSON
//! pointer: the first shape error (a list where a string belongs, an unknown secret type),
//! every key XNAT would ignore, and the older key spellings berth accepts.
//!
//! Deserialisation runs through `serde_ignored` (to see the keys serde skipped) inside
//! `serde_path_to_error` (to know where a failure happened). Like Jackson in XNAT, it stops at
//! the first shape error; semantic checks ([`crate::validate`]) then report everything else.

use berth_descriptor::problem::{escape_token, pointer};
use berth_descriptor::{Problem, Problems, Value};

use crate::model::Command;

/// Keys of each kind of object, for "did you mean" hints on unknown keys.
const COMMAND_KEYS: &[&str] = &[
    "id",
    "name",
    "label",
    "description",
    "version",
    "schema-version",
    "info-url",
    "image",
    "container-name",
    "type",
    "index",
    "hash",
    "working-directory",
    "command-line",
    "command-metadata",
    "override-entrypoint",
    "mounts",
    "environment-variables",
    "ports",
    "inputs",
    "outputs",
    "xnat",
    "reserve-memory",
    "limit-memory",
    "limit-cpu",
    "runtime",
    "ipc-mode",
    "auto-remove",
    "shm-size",
    "network",
    "container-labels",
    "gpus",
    "generic-resources",
    "ulimits",
    "secrets",
    "visibility",
];
const MOUNT_KEYS: &[&str] = &["name", "writable", "path"];
const INPUT_KEYS: &[&str] = &[
    "name",
    "label",
    "description",
    "type",
    "required",
    "matcher",
    "default-value",
    "replacement-key",
    "command-line-flag",
    "command-line-separator",
    "true-value",
    "false-value",
    "sensitive",
    "select-values",
    "multiple-delimiter",
];
const OUTPUT_KEYS: &[&str] = &["name", "description", "required", "mount", "path", "glob"];
const WRAPPER_KEYS: &[&str] =
    &["id", "name", "label", "description", "contexts", "external-inputs", "derived-inputs", "output-handlers"];
const EXTERNAL_INPUT_KEYS: &[&str] = &[
    "name",
    "label",
    "description",
    "type",
    "matcher",
    "provides-value-for-command-input",
    "provides-files-for-command-mount",
    "via-setup-command",
    "default-value",
    "user-settable",
    "replacement-key",
    "required",
    "load-children",
    "sensitive",
];
const DERIVED_INPUT_KEYS: &[&str] = &[
    "name",
    "label",
    "description",
    "type",
    "derived-from-wrapper-input",
    "derived-from-xnat-object-property",
    "matcher",
    "provides-value-for-command-input",
    "provides-files-for-command-mount",
    "via-setup-command",
    "default-value",
    "user-settable",
    "replacement-key",
    "required",
    "load-children",
    "sensitive",
    "multiple",
    "parser",
];
const OUTPUT_HANDLER_KEYS: &[&str] = &[
    "name",
    "accepts-command-output",
    "via-wrapup-command",
    "as-a-child-of",
    "type",
    "xsi-type",
    "label",
    "format",
    "description",
    "content",
    "tags",
];
const SECRET_KEYS: &[&str] = &["source", "destination"];
const SECRET_END_KEYS: &[&str] = &["type", "identifier"];

/// Deserialises `doc` into a [`Command`]: the command (unless its shape is wrong) and the
/// problems found on the way, with every pointer prefixed by `base` (for Commands in a label).
pub(crate) fn command_at(doc: &Value, base: &str) -> (Option<Command>, Problems) {
    let mut problems = Problems::default();
    if doc.as_dict().is_none() {
        problems.push(
            Problem::error(
                "not-an-object",
                base,
                format!("an XNAT Command must be a JSON object, found {}", doc.type_name()),
            )
            .hint("the document must start with `{`"),
        );
        return (None, problems);
    }
    let json = doc.to_serde();
    let mut ignored: Vec<Vec<String>> = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result: Result<Command, serde_json::Error> = {
        let tracked = serde_path_to_error::Deserializer::new(&json, &mut track);
        serde_ignored::deserialize(tracked, |path| ignored.push(tokens(&path)))
    };
    for path in &ignored {
        problems.push(unknown_key(base, path));
    }
    match result {
        Ok(mut command) => {
            legacy_spellings(&mut command, base, &mut problems);
            (Some(command), problems)
        }
        Err(e) => {
            let tokens: Vec<String> = track
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    _ => None,
                })
                .collect();
            let at = format!("{base}{}", pointer(&tokens));
            problems.push(
                Problem::error("wrong-type", at, shape_message(&e))
                    .hint("XNAT's JSON reader rejects this too; fix the value's type"),
            );
            problems.sort();
            (None, problems)
        }
    }
}

/// serde's message without the line/column suffix (meaningless for an in-memory value).
fn shape_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The JSON pointer tokens of a `serde_ignored` path.
fn tokens(path: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path;
    match path {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut t = tokens(parent);
            t.push(index.to_string());
            t
        }
        Path::Map { parent, key } => {
            let mut t = tokens(parent);
            t.push(key.clone());
            t
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => tokens(parent),
    }
}

/// The keys an object at `parent` may have, judged from the shape of its path.
fn known_keys(parent: &[String]) -> &'static [&'static str] {
    let p: Vec<&str> = parent.iter().map(String::as_str).collect();
    match p.as_slice() {
        [] => COMMAND_KEYS,
        ["mounts", _] => MOUNT_KEYS,
        ["inputs", _] => INPUT_KEYS,
        ["outputs", _] => OUTPUT_KEYS,
        ["xnat", _] => WRAPPER_KEYS,
        ["xnat", _, "external-inputs", _] => EXTERNAL_INPUT_KEYS,
        ["xnat", _, "derived-inputs", _] => DERIVED_INPUT_KEYS,
        ["xnat", _, "output-handlers", _] => OUTPUT_HANDLER_KEYS,
        ["secrets", _] => SECRET_KEYS,
        ["secrets", _, _] => SECRET_END_KEYS,
        _ => &[],
    }
}

/// A warning for one key XNAT ignores, with the best hint we can give.
fn unknown_key(base: &str, path: &[String]) -> Problem {
    let (key, parent) = match path.split_last() {
        Some((k, p)) => (k.as_str(), p),
        None => ("", &[][..]),
    };
    let at = format!("{base}{}", pointer(path));
    let message = format!("XNAT ignores the key `{key}`");
    let parent_kind: Vec<&str> = parent.iter().map(String::as_str).collect();
    let hint = match (parent_kind.as_slice(), key) {
        ([], "workdir") => "XNAT reads the working directory from `working-directory` only".to_string(),
        (["mounts", _], "type") => {
            "mounts have no type in XNAT: a mount is an input when a wrapper input provides files for it \
             (`provides-files-for-command-mount`), otherwise XNAT gives it an empty writable directory"
                .to_string()
        }
        (["inputs", _], "user-settable") => {
            "`user-settable` belongs to wrapper inputs; on a command input XNAT ignores it".to_string()
        }
        (["xnat", _, "derived-inputs" | "external-inputs", _], "parent") => {
            "a derived input names its parent with `derived-from-wrapper-input`".to_string()
        }
        (["xnat", _, "external-inputs" | "derived-inputs", _], "provides-value-to-command-input") => {
            "XNAT reads `provides-value-for-command-input`".to_string()
        }
        _ => match closest(key, known_keys(parent)) {
            Some(k) => format!("did you mean `{k}`?"),
            None => "remove it, or check the spelling against docs/xnat-commands.md".to_string(),
        },
    };
    Problem::warning("unknown-key", at, message).hint(hint)
}

/// The known key closest to `key`, if it is close enough to be a likely misspelling.
fn closest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Moves the older spellings of wrapper keys into the current ones. `as-a-child-of-wrapper-input`
/// is still read by XNAT (`CommandWrapperOutputCreation`); the pre-1.0 `-xnat-input` spellings
/// were renamed in container-service 1.0 and current XNAT ignores them, so berth warns.
fn legacy_spellings(c: &mut Command, base: &str, problems: &mut Problems) {
    for (w, wrapper) in c.wrappers.iter_mut().enumerate() {
        for (i, d) in wrapper.derived_inputs.iter_mut().enumerate() {
            if let Some(old) = d.legacy_derived_from.take() {
                let at = format!("{base}/xnat/{w}/derived-inputs/{i}/derived-from-xnat-input");
                if d.derived_from_wrapper_input.is_none() {
                    d.derived_from_wrapper_input = Some(old);
                    problems.push(
                        Problem::warning(
                            "legacy-key",
                            at,
                            "`derived-from-xnat-input` is the pre-1.0 spelling; XNAT 1.0 and later ignore it",
                        )
                        .hint("rename it to `derived-from-wrapper-input`"),
                    );
                } else {
                    problems.push(
                        Problem::warning(
                            "legacy-key",
                            at,
                            "`derived-from-xnat-input` is ignored because `derived-from-wrapper-input` is also given",
                        )
                        .hint("remove the older key"),
                    );
                }
            }
        }
        for (h, handler) in wrapper.output_handlers.iter_mut().enumerate() {
            let at = |key: &str| format!("{base}/xnat/{w}/output-handlers/{h}/{}", escape_token(key));
            if let Some(old) = handler.legacy_wrapper_input.take() {
                if handler.as_a_child_of.is_none() {
                    handler.as_a_child_of = Some(old);
                } else {
                    problems.push(
                        Problem::warning(
                            "legacy-key",
                            at("as-a-child-of-wrapper-input"),
                            "`as-a-child-of-wrapper-input` is ignored because `as-a-child-of` is also given",
                        )
                        .hint("remove the older key"),
                    );
                }
            }
            if let Some(old) = handler.legacy_xnat_input.take() {
                if handler.as_a_child_of.is_none() {
                    handler.as_a_child_of = Some(old);
                    problems.push(
                        Problem::warning(
                            "legacy-key",
                            at("as-a-child-of-xnat-input"),
                            "`as-a-child-of-xnat-input` is the pre-1.0 spelling; XNAT 1.0 and later ignore it",
                        )
                        .hint("rename it to `as-a-child-of`"),
                    );
                } else {
                    problems.push(
                        Problem::warning(
                            "legacy-key",
                            at("as-a-child-of-xnat-input"),
                            "`as-a-child-of-xnat-input` is ignored because a newer spelling is also given",
                        )
                        .hint("remove the older key"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Option<Command>, Problems) {
        command_at(&Value::parse(text).unwrap(), "")
    }

    #[test]
    fn unknown_keys_are_warnings_with_pointers_and_suggestions() {
        let (c, p) = parse(r#"{"name": "x", "workdir": "/w", "inputs": [{"name": "a", "requird": true}]}"#);
        assert!(c.is_some());
        let p: Vec<_> = p.iter().map(|p| (p.pointer.as_str(), p.hint.clone().unwrap_or_default())).collect();
        assert_eq!(p[0].0, "/workdir");
        assert!(p[0].1.contains("working-directory"));
        assert_eq!(p[1].0, "/inputs/0/requird");
        assert_eq!(p[1].1, "did you mean `required`?");
    }

    #[test]
    fn shape_errors_point_at_the_value() {
        let (c, p) = parse(r#"{"name": "x", "inputs": [{"name": "a"}, {"name": "b", "select-values": "a"}]}"#);
        assert!(c.is_none());
        let e = p.iter().find(|p| p.is_error()).unwrap();
        assert_eq!(e.pointer, "/inputs/1/select-values");
        assert_eq!(e.message, "invalid type: string \"a\", expected a sequence");
    }

    #[test]
    fn unknown_secret_types_are_errors() {
        let (c, p) = parse(
            r#"{"name": "x", "secrets": [{"source": {"type": "vault", "identifier": "k"},
                "destination": {"type": "environment-variable", "identifier": "K"}}]}"#,
        );
        assert!(c.is_none());
        assert!(p.iter().any(|p| p.is_error() && p.pointer.starts_with("/secrets/0")), "{p:?}");
    }

    #[test]
    fn older_spellings_are_moved_into_the_current_keys() {
        let (c, p) = parse(
            r#"{"name": "x", "xnat": [{"name": "w",
                "derived-inputs": [{"name": "d", "derived-from-xnat-input": "s"}],
                "output-handlers": [
                    {"name": "a", "as-a-child-of-wrapper-input": "s"},
                    {"name": "b", "as-a-child-of-xnat-input": "s"},
                    {"name": "c", "as-a-child-of": "s", "as-a-child-of-wrapper-input": "t"}]}]}"#,
        );
        let c = c.unwrap();
        let w = &c.wrappers[0];
        assert_eq!(w.derived_inputs[0].derived_from_wrapper_input.as_deref(), Some("s"));
        assert!(w.output_handlers.iter().all(|h| h.as_a_child_of.as_deref() == Some("s")));
        let codes: Vec<_> = p.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            codes,
            [
                "/xnat/0/derived-inputs/0/derived-from-xnat-input",
                "/xnat/0/output-handlers/1/as-a-child-of-xnat-input",
                "/xnat/0/output-handlers/2/as-a-child-of-wrapper-input"
            ]
        );
    }

    #[test]
    fn not_an_object_is_an_error() {
        let (c, p) = command_at(&Value::parse("[1]").unwrap(), "");
        assert!(c.is_none());
        assert_eq!(p.iter().next().unwrap().code, "not-an-object");
    }
}
