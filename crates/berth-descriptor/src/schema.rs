//! The Boutiques 0.5 descriptor JSON Schema (draft-04) and readable messages for its errors.
//!
//! The schema file is the one the `boutiques` package ships (see `schema/NOTICE`). bosh stops
//! at the first schema error; berth reports all of them, each with the JSON pointer of the
//! field, a sentence naming the input or output involved, and a hint.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};

use crate::problem::{Problem, Problems};
use crate::pyjson::Value;

/// The schema text, as shipped by `boutiques` 0.5.33.
pub const DESCRIPTOR_SCHEMA: &str = include_str!("../schema/boutiques-descriptor-0.5.schema.json");

/// The schema without its annotation keywords. The ~100 nested draft-04 `id` URIs only set
/// base URIs for `$ref` resolution, and the schema has no `$ref`; dropping them (and the
/// descriptions) makes compiling the validator, which dominates a `berth simulate`, cheaper.
fn schema_value() -> &'static serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                // Only string values are keywords; an object under `id` is a property schema.
                map.retain(|k, v| !(matches!(k.as_str(), "id" | "description" | "title") && v.is_string()));
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut v = serde_json::from_str(DESCRIPTOR_SCHEMA).expect("the bundled schema is valid JSON");
        strip(&mut v);
        v
    })
}

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // Python's jsonschema does not check `format` unless asked, and bosh does not ask.
        jsonschema::draft4::options()
            .should_validate_formats(false)
            .build(schema_value())
            .expect("the bundled Boutiques schema compiles")
    })
}

/// The Boutiques descriptor schema (annotations removed) as a `serde_json::Value`.
pub fn descriptor_schema() -> &'static serde_json::Value {
    schema_value()
}

/// Validates a descriptor document against the Boutiques schema.
pub fn check(doc: &Value) -> Problems {
    let instance = doc.to_serde();
    let mut problems = Problems::default();
    for err in validator().iter_errors(&instance) {
        if let Some(p) = describe(&err, &instance) {
            problems.push_unique(p);
        }
    }
    problems
}

/// Validates `instance` against an arbitrary JSON Schema and turns each error into a
/// problem with `describe_generic`.
pub fn check_with(
    validator: &Validator,
    instance: &serde_json::Value,
) -> Vec<(String, String, ValidationErrorKindSummary)> {
    validator
        .iter_errors(instance)
        .map(|e| {
            (
                e.instance_path().as_str().to_string(),
                e.schema_path().as_str().to_string(),
                summarize(e.kind(), e.instance()),
            )
        })
        .collect()
}

/// The facts of a schema error needed to phrase a message about it.
#[derive(Debug, Clone)]
pub enum ValidationErrorKindSummary {
    /// A required property is missing.
    Required(String),
    /// Properties not allowed here.
    Additional(Vec<String>),
    /// Wrong JSON type.
    Type {
        /// What the schema expects.
        expected: String,
        /// What was found.
        found: String,
    },
    /// Not one of the allowed values.
    Enum(serde_json::Value),
    /// Below a minimum.
    Minimum(serde_json::Value, bool),
    /// Above a maximum.
    Maximum(serde_json::Value, bool),
    /// Too few items.
    MinItems(u64),
    /// Too many items.
    MaxItems(u64),
    /// `not` matched.
    Not,
    /// `anyOf` had no match.
    AnyOf,
    /// `oneOf` had no match or more than one.
    OneOf,
    /// Anything else, with the library's message.
    Other(String),
}

fn summarize(kind: &ValidationErrorKind, instance: &serde_json::Value) -> ValidationErrorKindSummary {
    use ValidationErrorKindSummary as S;
    match kind {
        ValidationErrorKind::Required { property } => S::Required(property.as_str().unwrap_or_default().to_string()),
        ValidationErrorKind::AdditionalProperties { unexpected } => S::Additional(unexpected.clone()),
        ValidationErrorKind::Type { kind } => S::Type { expected: type_kind(kind), found: json_type(instance).into() },
        ValidationErrorKind::Enum { options } => S::Enum((**options).clone()),
        ValidationErrorKind::Minimum { limit } => S::Minimum(limit.clone(), false),
        ValidationErrorKind::ExclusiveMinimum { limit } => S::Minimum(limit.clone(), true),
        ValidationErrorKind::Maximum { limit } => S::Maximum(limit.clone(), false),
        ValidationErrorKind::ExclusiveMaximum { limit } => S::Maximum(limit.clone(), true),
        ValidationErrorKind::MinItems { limit } => S::MinItems(*limit),
        ValidationErrorKind::MaxItems { limit } => S::MaxItems(*limit),
        ValidationErrorKind::Not { .. } => S::Not,
        ValidationErrorKind::AnyOf { .. } => S::AnyOf,
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::OneOfMultipleValid { .. } => S::OneOf,
        other => S::Other(format!("{other:?}")),
    }
}

fn type_kind(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => article(&t.to_string()),
        TypeKind::Multiple(set) => {
            let names: Vec<String> = set.iter().map(|t| article(&t.to_string())).collect();
            names.join(" or ")
        }
    }
}

fn article(t: &str) -> String {
    match t {
        "array" | "object" | "integer" => format!("an {t}"),
        "null" => "null".into(),
        _ => format!("a {t}"),
    }
}

/// The JSON type of a value, with an article, for messages.
pub fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_f64() => "a number",
        serde_json::Value::Number(_) => "an integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Names the thing a pointer designates, e.g. `input "num_input"` for `/inputs/3/...`.
pub fn subject(instance: &serde_json::Value, pointer: &str) -> Option<String> {
    let mut parts = pointer.split('/').skip(1);
    let section = parts.next()?;
    let index: usize = parts.next()?.parse().ok()?;
    let kind = match section {
        "inputs" => "input",
        "output-files" => "output",
        "groups" => "group",
        "tests" => "test",
        "environment-variables" => "environment variable",
        "error-codes" => "error code",
        _ => return None,
    };
    let item = instance.get(section)?.get(index)?;
    let name = item.get("id").or_else(|| item.get("name")).and_then(|v| v.as_str());
    Some(match name {
        Some(n) => format!("{kind} \"{n}\""),
        None => format!("{kind} #{index}"),
    })
}

fn allowed_properties(schema_path: &str) -> Vec<String> {
    // `.../additionalProperties` → the sibling `properties` object lists what is allowed.
    let parent = schema_path.strip_suffix("/additionalProperties").unwrap_or(schema_path);
    let node = schema_value().pointer(parent).and_then(|n| n.get("properties")).and_then(|p| p.as_object());
    node.map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn describe(err: &ValidationError<'_>, instance: &serde_json::Value) -> Option<Problem> {
    let pointer = err.instance_path().as_str().to_string();
    let schema_path = err.schema_path().as_str().to_string();
    let who = subject(instance, &pointer).map(|s| format!("{s}: ")).unwrap_or_default();
    let summary = summarize(err.kind(), err.instance());
    use ValidationErrorKindSummary as S;

    if schema_path.ends_with("/properties/inputs/items/anyOf") {
        // Only meaningful for a Flag list; an unknown `type` is reported by its own error.
        let item = err.instance();
        if item.get("type").and_then(|t| t.as_str()) != Some("Flag") {
            return None;
        }
        return Some(
            Problem::error("schema", pointer, format!("{who}an input of type \"Flag\" cannot be a list"))
                .hint("remove `\"list\": true`, or use a String or Number input"),
        );
    }
    if schema_path.ends_with("/dependencies")
        && let S::Required(needed) = &summary
    {
        // Array-form dependencies: find which present key needs the missing one.
        let deps = schema_value().pointer(&schema_path).and_then(|d| d.as_object());
        let key = deps.and_then(|deps| {
            deps.iter().find_map(|(k, v)| {
                let needs = v.as_array()?.iter().any(|x| x.as_str() == Some(needed.as_str()));
                (needs && err.instance().get(k).is_some()).then(|| k.clone())
            })
        });
        if let Some(key) = key {
            return Some(
                Problem::error(
                    "schema",
                    format!("{pointer}/{key}"),
                    format!("{who}`{key}` is only allowed together with `{needed}`"),
                )
                .hint(format!("add `{needed}` or remove `{key}`")),
            );
        }
    }
    Some(describe_inner(err, instance))
}

fn describe_inner(err: &ValidationError<'_>, instance: &serde_json::Value) -> Problem {
    let pointer = err.instance_path().as_str().to_string();
    let schema_path = err.schema_path().as_str().to_string();
    let field = pointer.rsplit('/').next().unwrap_or_default().replace("~1", "/").replace("~0", "~");
    let who = subject(instance, &pointer).map(|s| format!("{s}: ")).unwrap_or_default();
    let summary = summarize(err.kind(), err.instance());
    use ValidationErrorKindSummary as S;

    // Structural rules that the schema expresses with anyOf/oneOf/dependencies read badly
    // as raw schema errors; say what they mean.
    if schema_path.ends_with("/properties/output-files/items/oneOf") {
        return Problem::error(
            "schema",
            pointer,
            format!("{who}an output needs exactly one of `path-template` and `conditional-path-template`"),
        )
        .hint("keep one of the two keys");
    }
    if schema_path.ends_with("/properties/output-files/items/anyOf") {
        return Problem::error("schema", pointer, format!("{who}an output with a `file-template` cannot be a list"))
            .hint("remove `\"list\": true` or the `file-template`");
    }
    if schema_path.contains("/properties/container-image/allOf/1/oneOf") {
        return Problem::error(
            "schema",
            pointer,
            "`container-image` must be either {\"type\": \"docker\" or \"singularity\", \"image\": ...} or {\"type\": \"rootfs\", \"url\": ...}, with no other keys than `index`, `entrypoint`, `container-opts`, `working-directory` and `container-hash`",
        )
        .hint("check `type` and the keys allowed for it");
    }
    if schema_path.contains("/tests/items/properties/assertions/anyOf") {
        return Problem::error("schema", pointer, format!("{who}assertions need `exit-code` or `output-files`"))
            .hint("add `\"exit-code\": 0` or a list of `output-files` to check");
    }
    if let Some(rest) = schema_path.split("/dependencies/").nth(1) {
        let key = rest.split('/').next().unwrap_or_default();
        if let S::Required(needed) = &summary {
            return Problem::error(
                "schema",
                format!("{pointer}/{key}"),
                format!("{who}`{key}` is only allowed together with `{needed}`"),
            )
            .hint(format!("add `{needed}` or remove `{key}`"));
        }
        if rest.ends_with("/properties/type/enum") {
            let allowed = match &summary {
                S::Enum(v) => enum_list(v),
                _ => String::new(),
            };
            return Problem::error(
                "schema",
                format!("{}/{key}", pointer.strip_suffix("/type").unwrap_or(&pointer)),
                format!("{who}`{key}` is only allowed for inputs of type {allowed}"),
            )
            .hint(format!("remove `{key}` or change the input's type"));
        }
    }

    match summary {
        S::Required(prop) => {
            Problem::error("schema", pointer.clone(), format!("{who}missing required property `{prop}`")).hint(format!(
                "add `\"{prop}\"` to {}",
                if pointer.is_empty() { "the descriptor" } else { "this object" }
            ))
        }
        S::Additional(props) => {
            let allowed = allowed_properties(&schema_path);
            let list = props.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
            let mut p = Problem::error(
                "schema",
                pointer,
                format!("{who}unknown propert{} {list}", if props.len() == 1 { "y" } else { "ies" }),
            );
            if !allowed.is_empty() {
                let close: Vec<&String> = allowed.iter().filter(|a| props.iter().any(|u| similar(u, a))).collect();
                p = p.hint(match close.first() {
                    Some(c) => format!("did you mean `{c}`? allowed here: {}", allowed.join(", ")),
                    None => format!("remove it; allowed here: {}", allowed.join(", ")),
                });
            }
            p
        }
        S::Type { expected, found } => {
            Problem::error("schema", pointer, format!("{who}`{field}` must be {expected}, found {found}"))
                .hint(format!("write `{field}` as {expected}"))
        }
        S::Enum(options) => Problem::error(
            "schema",
            pointer,
            format!("{who}`{field}` is {}, which is not one of {}", err.instance(), enum_list(&options)),
        )
        .hint("use one of the listed values (they are case-sensitive)"),
        S::MinItems(n) => {
            Problem::error("schema", pointer, format!("{who}`{field}` must have at least {n} item{}", plural(n)))
                .hint(if n == 1 { "add an item or remove the key".to_string() } else { format!("add items up to {n}") })
        }
        S::Minimum(limit, _) => Problem::error(
            "schema",
            pointer,
            format!("{who}`{field}` is {}, below the minimum {limit}", err.instance()),
        )
        .hint(format!("use a value of at least {limit}")),
        S::Other(_)
            if matches!(err.kind(), ValidationErrorKind::MinLength { .. }) && err.instance().as_str() == Some("") =>
        {
            Problem::error("schema", pointer, format!("{who}`{field}` must not be empty"))
                .hint(format!("give `{field}` a value or remove it"))
        }
        S::Other(_) | S::Maximum(..) | S::MaxItems(_) | S::Not | S::AnyOf | S::OneOf => {
            let msg = err.to_string();
            let hint = match err.kind() {
                ValidationErrorKind::Pattern { .. } => {
                    Some("identifiers may contain only letters, digits and underscores".to_string())
                }
                ValidationErrorKind::MinLength { .. } => Some(format!("give `{field}` a non-empty value")),
                ValidationErrorKind::UniqueItems => Some("remove the repeated item".to_string()),
                _ => None,
            };
            let mut p = Problem::error("schema", pointer, format!("{who}{msg}"));
            if let Some(h) = hint {
                p = p.hint(h);
            }
            p
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn enum_list(v: &serde_json::Value) -> String {
    match v.as_array() {
        Some(items) => items.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
        None => v.to_string(),
    }
}

/// Whether two property names are one small edit apart (a typo).
fn similar(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', ' '], "-");
    let (a, b) = (norm(a), norm(b));
    if a == b {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    // Levenshtein distance ≤ 2 with a single row.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == cb { prev } else { 1 + prev.min(row[j]).min(row[j + 1]) };
            prev = cur;
        }
    }
    row[b.len()] <= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(json: &str) -> Vec<Problem> {
        check(&Value::parse(json).unwrap()).0
    }

    const MINIMAL: &str = r#"{"name": "t", "tool-version": "1", "description": "d", "command-line": "t [A]",
        "schema-version": "0.5", "inputs": [{"id": "a", "name": "A", "type": "String", "value-key": "[A]"}]}"#;

    #[test]
    fn a_minimal_descriptor_passes() {
        assert!(problems(MINIMAL).is_empty());
    }

    #[test]
    fn missing_required_property_is_named() {
        let p = problems(r#"{"name": "t"}"#);
        assert!(p.iter().any(|p| p.message.contains("`command-line`") && p.pointer.is_empty()));
    }

    #[test]
    fn unknown_property_suggests_the_close_one() {
        let json = MINIMAL.replace(r#""value-key": "[A]""#, r#""value-key": "[A]", "optinal": true"#);
        let p = problems(&json);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].pointer, "/inputs/0");
        assert!(p[0].message.contains("input \"a\""));
        assert!(p[0].hint.as_deref().unwrap().contains("did you mean `optional`"));
    }

    #[test]
    fn flag_lists_are_explained() {
        let json = MINIMAL.replace(r#""type": "String""#, r#""type": "Flag", "list": true, "command-line-flag": "-a""#);
        let p = problems(&json);
        assert!(p.iter().any(|p| p.message.contains("cannot be a list")), "{p:?}");
    }

    #[test]
    fn integer_typed_fields_refuse_floats_like_python_draft4() {
        let json =
            MINIMAL.replace(r#""schema-version""#, r#""suggested-resources": {"cpu-cores": 1.0}, "schema-version""#);
        let p = problems(&json);
        assert!(p.iter().any(|p| p.pointer == "/suggested-resources/cpu-cores"), "{p:?}");
    }

    #[test]
    fn dependency_errors_point_at_the_key() {
        let json = MINIMAL.replace(r#""type": "String""#, r#""type": "File", "value-choices": ["x"]"#);
        let p = problems(&json);
        assert!(
            p.iter().any(|p| p.pointer == "/inputs/0/value-choices" && p.message.contains("only allowed")),
            "{p:?}"
        );
    }
}
