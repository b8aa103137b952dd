//! The pipeline file: loading (YAML), its JSON Schema, and the typed model.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use berth_descriptor::schema::ValidationErrorKindSummary as Kind;
use berth_descriptor::{Problem, Problems};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::PipelineError;

/// The format version this berth reads.
pub const FORMAT_VERSION: u64 = 1;

/// The JSON Schema of the pipeline file (draft-07).
pub const SCHEMA_TEXT: &str = include_str!("../schema/pipeline-v1.schema.json");

/// Every key the format knows, for "did you mean" suggestions.
const KNOWN_KEYS: &[&str] = &[
    "berth-pipeline",
    "name",
    "description",
    "params",
    "dataset",
    "bids",
    "steps",
    "tool",
    "descriptor",
    "image",
    "foreach",
    "inputs",
    "needs",
    "resources",
    "cpus",
    "memory",
    "retries",
    "count",
    "backoff",
    "timeout",
    "publish",
    "glob",
];

/// A pipeline file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineSpec {
    /// Format version (1).
    #[serde(rename = "berth-pipeline")]
    pub version: u64,
    /// The pipeline's name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// Parameters, `${params.NAME}`.
    #[serde(default)]
    pub params: IndexMap<String, serde_json::Value>,
    /// The dataset the fan-outs walk.
    #[serde(default)]
    pub dataset: Option<DatasetSpec>,
    /// The steps, in file order.
    pub steps: IndexMap<String, StepSpec>,
}

/// `dataset:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetSpec {
    /// A BIDS dataset root, relative to the pipeline file.
    #[serde(default)]
    pub bids: Option<String>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSpec {
    /// A registered tool, `NAME[@VERSION]`.
    #[serde(default)]
    pub tool: Option<String>,
    /// A Boutiques descriptor file, relative to the pipeline file.
    #[serde(default)]
    pub descriptor: Option<String>,
    /// Overrides the descriptor's image.
    #[serde(default)]
    pub image: Option<String>,
    /// Fan-out.
    #[serde(default)]
    pub foreach: Option<Foreach>,
    /// Descriptor input id → binding.
    #[serde(default)]
    pub inputs: IndexMap<String, serde_json::Value>,
    /// Ordering edges without data.
    #[serde(default)]
    pub needs: Vec<String>,
    /// CPU and memory limits of each task's container.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// Retries.
    #[serde(default)]
    pub retries: Option<Retries>,
    /// Per-attempt timeout, e.g. `10m`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Whether outputs are published to the output directory (default true).
    #[serde(default)]
    pub publish: Option<bool>,
}

/// `foreach:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Foreach {
    /// `participants` or `sessions`.
    Dataset(FanOut),
    /// A literal list.
    List(Vec<serde_json::Value>),
}

/// A fan-out over the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FanOut {
    /// One task per participant.
    Participants,
    /// One task per participant and session (participants without sessions: one task).
    Sessions,
}

/// `resources:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// CPUs.
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Memory, e.g. `512MiB`, `2g`, or bytes.
    #[serde(default)]
    pub memory: Option<serde_json::Value>,
}

/// `retries:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retries {
    /// How many times a failed attempt is retried.
    pub count: u32,
    /// The wait before the first retry; it doubles each time.
    #[serde(default)]
    pub backoff: Option<String>,
}

/// A loaded pipeline file.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The file (absolute).
    pub file: PathBuf,
    /// Its directory: relative paths in it are relative to this.
    pub dir: PathBuf,
    /// Its text.
    pub text: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// The parsed model.
    pub spec: PipelineSpec,
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA_TEXT).expect("the pipeline schema is JSON");
        jsonschema::draft7::options().build(&schema).expect("the pipeline schema compiles")
    })
}

/// The schema as a JSON value.
pub fn schema() -> serde_json::Value {
    serde_json::from_str(SCHEMA_TEXT).unwrap_or(serde_json::Value::Null)
}

/// Reads and parses a pipeline file; syntax and schema problems are returned as
/// [`PipelineError::Invalid`].
pub fn load(path: &Path) -> Result<Pipeline, PipelineError> {
    let file = std::path::absolute(path).map_err(|source| PipelineError::Read { path: path.to_owned(), source })?;
    let bytes = std::fs::read(&file).map_err(|source| PipelineError::Read { path: path.to_owned(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| PipelineError::NotUtf8 { path: path.to_owned() })?;
    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    let spec = parse(&text).map_err(|problems| PipelineError::Invalid { path: path.to_owned(), problems })?;
    let dir = file.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    Ok(Pipeline { file, dir, text, sha256, spec })
}

/// Parses pipeline text: YAML, then the schema, then the typed model.
pub fn parse(text: &str) -> Result<PipelineSpec, Problems> {
    let doc: serde_json::Value = yaml_serde::from_str(text).map_err(|e| {
        let mut p = Problems::default();
        p.push(
            Problem::error("yaml-syntax", "", format!("not valid YAML: {e}"))
                .hint("check the indentation and quoting around the place named"),
        );
        p
    })?;
    let mut problems = Problems::default();
    if !doc.is_object() {
        problems.push(Problem::error(
            "not-a-mapping",
            "",
            "a pipeline file is a YAML mapping (`name:`, `steps:`, ...)",
        ));
        return Err(problems);
    }
    for (pointer, schema_path, kind) in berth_descriptor::schema::check_with(validator(), &doc) {
        problems.push_unique(describe(&pointer, &schema_path, kind, &doc));
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(problems);
    }
    serde_json::from_value(doc).map_err(|e| {
        let mut p = Problems::default();
        p.push(Problem::error("invalid", "", e.to_string()));
        p
    })
}

/// The dotted path of a JSON pointer, as users read YAML: `/steps/a/inputs/x` → `steps.a.inputs.x`.
pub fn yaml_path(pointer: &str) -> String {
    let path = pointer.trim_start_matches('/').replace('/', ".");
    if path.is_empty() { "(top level)".to_string() } else { path }
}

fn describe(pointer: &str, schema_path: &str, kind: Kind, doc: &serde_json::Value) -> Problem {
    let at = yaml_path(pointer);
    match kind {
        Kind::Additional(keys) => {
            let key = keys.first().cloned().unwrap_or_default();
            let mut p = Problem::error("unknown-key", pointer, format!("{at}: unknown key `{key}`"));
            if let Some(s) = KNOWN_KEYS.iter().max_by(|a, b| {
                strsim::jaro_winkler(a, &key)
                    .partial_cmp(&strsim::jaro_winkler(b, &key))
                    .unwrap_or(std::cmp::Ordering::Equal)
            }) && strsim::jaro_winkler(s, &key) > 0.8
            {
                p = p.hint(format!("did you mean `{s}`?"));
            } else {
                p = p.hint("see docs/pipelines.md for the keys a pipeline file may use");
            }
            p
        }
        Kind::Required(key) => Problem::error("missing-key", pointer, format!("{at}: `{key}` is required")),
        Kind::Type { expected, found } => {
            Problem::error("wrong-type", pointer, format!("{at}: expected {expected}, found {found}"))
        }
        _ => {
            let value = doc.pointer(pointer).map(|v| v.to_string()).unwrap_or_default();
            let message =
                if schema_path.contains("/steps/additionalProperties/oneOf") || schema_path.ends_with("/oneOf") {
                    if pointer.matches('/').count() == 2 && pointer.starts_with("/steps/") {
                        return Problem::error(
                            "tool-or-descriptor",
                            pointer,
                            format!("{at}: a step names exactly one of `tool` and `descriptor`"),
                        )
                        .hint("use `tool: NAME[@VERSION]` for a registered tool or `descriptor: FILE`");
                    }
                    format!("{at}: {value} is not allowed here")
                } else if schema_path.ends_with("/pattern") {
                    format!("{at}: {value} does not have the expected form")
                } else if schema_path.ends_with("/const") {
                    format!("{at}: {value} is not a format version this berth reads (it reads {FORMAT_VERSION})")
                } else {
                    format!("{at}: {value} is not allowed here")
                };
            let hint =
                if schema_path.contains("duration") || pointer.ends_with("/timeout") || pointer.ends_with("/backoff") {
                    "durations are a number and a unit: `500ms`, `30s`, `10m`, `2h`"
                } else if pointer.ends_with("/foreach") {
                    "`foreach` is `participants`, `sessions`, or a list"
                } else if pointer == "/name" {
                    "names use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit"
                } else {
                    "see docs/pipelines.md and `crates/berth-pipeline/schema/pipeline-v1.schema.json`"
                };
            Problem::error("invalid-value", pointer, message).hint(hint)
        }
    }
}

/// Parses a duration: `500ms`, `30s`, `1.5m`, `2h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| c.is_ascii_alphabetic()).map(|i| s.split_at(i))?;
    let n: f64 = num.parse().ok().filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// Parses a memory size: bytes as a number, or `512MiB`, `2g`, `1.5GB` ...
pub fn parse_memory(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().filter(|n| *n > 0),
        serde_json::Value::String(s) => {
            let t = s.trim().to_ascii_lowercase();
            let t = t.strip_suffix("ib").map(|x| x.to_string()).or_else(|| t.strip_suffix('b').map(str::to_string));
            let t = t.unwrap_or_else(|| s.trim().to_ascii_lowercase());
            berth_config::parse_size(&t).ok().filter(|n| *n > 0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("2 days"), None);
        assert_eq!(parse_memory(&serde_json::json!("512MiB")), Some(512 * 1024 * 1024));
        assert_eq!(parse_memory(&serde_json::json!("2g")), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory(&serde_json::json!(1_048_576)), Some(1_048_576));
        assert_eq!(parse_memory(&serde_json::json!("lots")), None);
    }

    #[test]
    fn schema_problems_name_the_path() {
        let e = parse("berth-pipeline: 1\nname: x\nsteps:\n  a:\n    tool: t\n    retrys: {count: 1}\n").unwrap_err();
        let p = e.iter().next().unwrap();
        assert_eq!(p.code, "unknown-key");
        assert!(p.message.contains("steps.a: unknown key `retrys`"), "{}", p.message);
        assert_eq!(p.hint.as_deref(), Some("did you mean `retries`?"));

        let e = parse("berth-pipeline: 1\nname: x\nsteps:\n  a:\n    tool: t\n    descriptor: d.json\n").unwrap_err();
        assert!(e.iter().any(|p| p.code == "tool-or-descriptor"), "{e:?}");

        let e = parse("berth-pipeline: 2\nname: x\nsteps:\n  a: {tool: t}\n").unwrap_err();
        assert!(e.iter().any(|p| p.message.contains("format version")), "{e:?}");

        let e = parse("berth-pipeline: 1\nname: x\nsteps:\n  a: {tool: t, timeout: soon}\n").unwrap_err();
        assert!(e.iter().any(|p| p.pointer == "/steps/a/timeout"), "{e:?}");

        let e = parse("steps: [").unwrap_err();
        assert_eq!(e.iter().next().unwrap().code, "yaml-syntax");
    }

    #[test]
    fn a_good_file_parses() {
        let spec = parse(
            "berth-pipeline: 1\nname: demo\nparams: {low: 0}\ndataset: {bids: data}\nsteps:\n  a:\n    tool: t@1\n    \
             foreach: participants\n    inputs: {x: {glob: \"sub-${participant}/*.dcm\"}, y: \"${params.low}\"}\n    \
             retries: {count: 2, backoff: 1s}\n    timeout: 10m\n  b:\n    descriptor: d.json\n    foreach: [1, 2]\n",
        )
        .unwrap();
        assert_eq!(spec.steps.len(), 2);
        assert_eq!(spec.steps["a"].foreach, Some(Foreach::Dataset(FanOut::Participants)));
        assert_eq!(spec.steps["b"].foreach, Some(Foreach::List(vec![1.into(), 2.into()])));
    }
}
