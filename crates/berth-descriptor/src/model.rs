//! Typed views of a schema-valid Boutiques descriptor.
//!
//! Fields keep the distinction between "absent" and "present with a falsy value" (`Option`),
//! because bosh's behaviour often depends on which of the two it sees. Values that are free
//! JSON in the schema (defaults, choices, value-requires maps) stay [`Value`]s.

use indexmap::IndexMap;

use crate::pyjson::Value;

/// The type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum InputType {
    /// A string.
    String,
    /// A path.
    File,
    /// A boolean switch that adds its command-line flag when true.
    Flag,
    /// A number.
    Number,
}

impl InputType {
    /// The name used in descriptors.
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "String",
            InputType::File => "File",
            InputType::Flag => "Flag",
            InputType::Number => "Number",
        }
    }

    fn parse(s: &str) -> InputType {
        match s {
            "File" => InputType::File,
            "Flag" => InputType::Flag,
            "Number" => InputType::Number,
            _ => InputType::String,
        }
    }
}

/// One entry of `inputs`.
#[derive(Debug, Clone)]
pub struct Input {
    /// Position in `inputs`.
    pub index: usize,
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `type`.
    pub kind: InputType,
    /// `value-key`.
    pub value_key: Option<String>,
    /// `list`.
    pub list: Option<bool>,
    /// `list-separator`.
    pub list_separator: Option<String>,
    /// `optional`.
    pub optional: Option<bool>,
    /// `command-line-flag`.
    pub flag: Option<String>,
    /// `command-line-flag-separator`.
    pub flag_separator: Option<String>,
    /// Whether `default-value` is present (even as `null`).
    pub has_default: bool,
    /// `default-value`.
    pub default: Option<Value>,
    /// `value-choices`.
    pub choices: Option<Vec<Value>>,
    /// `value-requires`.
    pub value_requires: Option<IndexMap<String, Value>>,
    /// `value-disables`.
    pub value_disables: Option<IndexMap<String, Value>>,
    /// `requires-inputs`.
    pub requires: Option<Vec<String>>,
    /// `disables-inputs`.
    pub disables: Option<Vec<String>>,
    /// `integer`.
    pub integer: Option<bool>,
    /// `minimum`.
    pub minimum: Option<Value>,
    /// `maximum`.
    pub maximum: Option<Value>,
    /// `exclusive-minimum`.
    pub exclusive_minimum: Option<bool>,
    /// `exclusive-maximum`.
    pub exclusive_maximum: Option<bool>,
    /// `min-list-entries`.
    pub min_list_entries: Option<Value>,
    /// `max-list-entries`.
    pub max_list_entries: Option<Value>,
    /// `uses-absolute-path`.
    pub uses_absolute_path: Option<bool>,
}

impl Input {
    /// Optional inputs may be left out of an invocation (absent `optional` means required).
    pub fn is_optional(&self) -> bool {
        self.optional == Some(true)
    }

    /// Whether the input takes a list of values.
    pub fn is_list(&self) -> bool {
        self.list == Some(true)
    }

    /// JSON pointer of this input.
    pub fn pointer(&self) -> String {
        format!("/inputs/{}", self.index)
    }
}

/// One entry of `output-files`.
#[derive(Debug, Clone)]
pub struct Output {
    /// Position in `output-files`.
    pub index: usize,
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `value-key`.
    pub value_key: Option<String>,
    /// `path-template`.
    pub path_template: Option<String>,
    /// `conditional-path-template`: a list of one-entry objects `{condition: path}`.
    pub conditional: Option<Vec<Value>>,
    /// `path-template-stripped-extensions`.
    pub stripped_extensions: Option<Vec<String>>,
    /// `list`.
    pub list: Option<bool>,
    /// `optional`.
    pub optional: Option<bool>,
    /// `command-line-flag`.
    pub flag: Option<String>,
    /// `command-line-flag-separator`.
    pub flag_separator: Option<String>,
    /// `uses-absolute-path`.
    pub uses_absolute_path: Option<bool>,
    /// `file-template`: lines of a configuration file written before the tool runs.
    pub file_template: Option<Vec<String>>,
}

impl Output {
    /// Optional outputs may be missing after a run.
    pub fn is_optional(&self) -> bool {
        self.optional == Some(true)
    }

    /// JSON pointer of this output.
    pub fn pointer(&self) -> String {
        format!("/output-files/{}", self.index)
    }
}

/// One entry of `groups`.
#[derive(Debug, Clone)]
pub struct Group {
    /// Position in `groups`.
    pub index: usize,
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `members`.
    pub members: Vec<String>,
    /// `mutually-exclusive`.
    pub mutually_exclusive: Option<bool>,
    /// `one-is-required`.
    pub one_is_required: Option<bool>,
    /// `all-or-none`.
    pub all_or_none: Option<bool>,
}

impl Group {
    /// JSON pointer of this group.
    pub fn pointer(&self) -> String {
        format!("/groups/{}", self.index)
    }
}

/// One entry of `environment-variables`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnvVar {
    /// `name`.
    pub name: String,
    /// `value`.
    pub value: String,
}

/// `container-image`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContainerImage {
    /// `type`: docker, singularity or rootfs.
    #[serde(rename = "type")]
    pub kind: String,
    /// `image` (docker and singularity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `url` (rootfs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `index`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// `entrypoint`: run through the image's own entrypoint instead of a shell script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<bool>,
    /// `container-opts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_opts: Option<Vec<String>>,
    /// `working-directory`.
    #[serde(rename = "working-directory", skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// `container-hash`.
    #[serde(rename = "container-hash", skip_serializing_if = "Option::is_none")]
    pub container_hash: Option<String>,
}

/// `suggested-resources`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SuggestedResources {
    /// `cpu-cores`.
    #[serde(rename = "cpu-cores", skip_serializing_if = "Option::is_none")]
    pub cpu_cores: Option<u64>,
    /// `ram`, in GB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ram: Option<f64>,
    /// `disk-space`, in GB.
    #[serde(rename = "disk-space", skip_serializing_if = "Option::is_none")]
    pub disk_space: Option<f64>,
    /// `nodes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
    /// `walltime-estimate`, in seconds.
    #[serde(rename = "walltime-estimate", skip_serializing_if = "Option::is_none")]
    pub walltime_estimate: Option<f64>,
}

/// One entry of `tests`.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Position in `tests`.
    pub index: usize,
    /// `name`.
    pub name: String,
    /// `invocation`.
    pub invocation: Value,
    /// `assertions.exit-code`.
    pub exit_code: Option<i64>,
    /// `assertions.output-files`: (id, md5-reference).
    pub output_files: Vec<(String, Option<String>)>,
}

/// A schema-valid Boutiques descriptor.
#[derive(Debug, Clone)]
pub struct Descriptor {
    /// The whole document as parsed.
    pub doc: Value,
    /// `name`.
    pub name: String,
    /// `tool-version`.
    pub tool_version: String,
    /// `description`.
    pub description: String,
    /// `command-line`.
    pub command_line: String,
    /// `shell`.
    pub shell: Option<String>,
    /// `container-image`.
    pub container: Option<ContainerImage>,
    /// `inputs`.
    pub inputs: Vec<Input>,
    /// `output-files`.
    pub outputs: Vec<Output>,
    /// `groups`.
    pub groups: Vec<Group>,
    /// `environment-variables`.
    pub env: Vec<EnvVar>,
    /// `tests`.
    pub tests: Vec<TestCase>,
    /// `invocation-schema`.
    pub invocation_schema: Option<Value>,
    /// `suggested-resources`.
    pub suggested_resources: SuggestedResources,
    /// `error-codes`: (code, description).
    pub error_codes: Vec<(i64, String)>,
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn b(v: &Value, k: &str) -> Option<bool> {
    v.get(k).and_then(Value::as_bool)
}

fn strs(v: &Value, k: &str) -> Option<Vec<String>> {
    v.get(k).and_then(Value::as_list).map(|l| l.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
}

fn items<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k).and_then(Value::as_list).unwrap_or(&[])
}

impl Descriptor {
    /// Builds the typed view. The document must already have passed [`crate::schema::check`];
    /// fields of unexpected types are then treated as absent rather than panicking.
    pub fn from_schema_valid(doc: Value) -> Descriptor {
        let inputs = items(&doc, "inputs")
            .iter()
            .enumerate()
            .map(|(index, i)| Input {
                index,
                id: s(i, "id").unwrap_or_default(),
                name: s(i, "name").unwrap_or_default(),
                description: s(i, "description"),
                kind: InputType::parse(i.get("type").and_then(Value::as_str).unwrap_or("String")),
                value_key: s(i, "value-key"),
                list: b(i, "list"),
                list_separator: s(i, "list-separator"),
                optional: b(i, "optional"),
                flag: s(i, "command-line-flag"),
                flag_separator: s(i, "command-line-flag-separator"),
                has_default: i.get("default-value").is_some(),
                default: i.get("default-value").cloned(),
                choices: i.get("value-choices").and_then(Value::as_list).map(<[Value]>::to_vec),
                value_requires: i.get("value-requires").and_then(Value::as_dict).cloned(),
                value_disables: i.get("value-disables").and_then(Value::as_dict).cloned(),
                requires: strs(i, "requires-inputs"),
                disables: strs(i, "disables-inputs"),
                integer: b(i, "integer"),
                minimum: i.get("minimum").cloned(),
                maximum: i.get("maximum").cloned(),
                exclusive_minimum: b(i, "exclusive-minimum"),
                exclusive_maximum: b(i, "exclusive-maximum"),
                min_list_entries: i.get("min-list-entries").cloned(),
                max_list_entries: i.get("max-list-entries").cloned(),
                uses_absolute_path: b(i, "uses-absolute-path"),
            })
            .collect();
        let outputs = items(&doc, "output-files")
            .iter()
            .enumerate()
            .map(|(index, o)| Output {
                index,
                id: s(o, "id").unwrap_or_default(),
                name: s(o, "name").unwrap_or_default(),
                description: s(o, "description"),
                value_key: s(o, "value-key"),
                path_template: s(o, "path-template"),
                conditional: o.get("conditional-path-template").and_then(Value::as_list).map(<[Value]>::to_vec),
                stripped_extensions: strs(o, "path-template-stripped-extensions"),
                list: b(o, "list"),
                optional: b(o, "optional"),
                flag: s(o, "command-line-flag"),
                flag_separator: s(o, "command-line-flag-separator"),
                uses_absolute_path: b(o, "uses-absolute-path"),
                file_template: strs(o, "file-template"),
            })
            .collect();
        let groups = items(&doc, "groups")
            .iter()
            .enumerate()
            .map(|(index, g)| Group {
                index,
                id: s(g, "id").unwrap_or_default(),
                name: s(g, "name").unwrap_or_default(),
                description: s(g, "description"),
                members: strs(g, "members").unwrap_or_default(),
                mutually_exclusive: b(g, "mutually-exclusive"),
                one_is_required: b(g, "one-is-required"),
                all_or_none: b(g, "all-or-none"),
            })
            .collect();
        let env = items(&doc, "environment-variables")
            .iter()
            .map(|e| EnvVar { name: s(e, "name").unwrap_or_default(), value: s(e, "value").unwrap_or_default() })
            .collect();
        let tests = items(&doc, "tests")
            .iter()
            .enumerate()
            .map(|(index, t)| {
                let assertions = t.get("assertions");
                TestCase {
                    index,
                    name: s(t, "name").unwrap_or_default(),
                    invocation: t.get("invocation").cloned().unwrap_or(Value::Null),
                    exit_code: assertions.and_then(|a| a.get("exit-code")).and_then(Value::as_f64).map(|f| f as i64),
                    output_files: assertions
                        .map(|a| items(a, "output-files"))
                        .unwrap_or(&[])
                        .iter()
                        .map(|o| (s(o, "id").unwrap_or_default(), s(o, "md5-reference")))
                        .collect(),
                }
            })
            .collect();
        let container = doc.get("container-image").filter(|c| c.as_dict().is_some()).map(|c| ContainerImage {
            kind: s(c, "type").unwrap_or_default(),
            image: s(c, "image"),
            url: s(c, "url"),
            index: s(c, "index"),
            entrypoint: b(c, "entrypoint"),
            container_opts: strs(c, "container-opts"),
            working_directory: s(c, "working-directory"),
            container_hash: s(c, "container-hash"),
        });
        let suggested_resources = doc
            .get("suggested-resources")
            .map(|r| SuggestedResources {
                cpu_cores: r.get("cpu-cores").and_then(Value::as_f64).map(|f| f as u64),
                ram: r.get("ram").and_then(Value::as_f64),
                disk_space: r.get("disk-space").and_then(Value::as_f64),
                nodes: r.get("nodes").and_then(Value::as_f64).map(|f| f as u64),
                walltime_estimate: r.get("walltime-estimate").and_then(Value::as_f64),
            })
            .unwrap_or_default();
        let error_codes = items(&doc, "error-codes")
            .iter()
            .filter_map(|e| Some((e.get("code")?.as_f64()? as i64, s(e, "description").unwrap_or_default())))
            .collect();
        Descriptor {
            name: s(&doc, "name").unwrap_or_default(),
            tool_version: s(&doc, "tool-version").unwrap_or_default(),
            description: s(&doc, "description").unwrap_or_default(),
            command_line: s(&doc, "command-line").unwrap_or_default(),
            shell: s(&doc, "shell"),
            invocation_schema: doc.get("invocation-schema").cloned(),
            container,
            inputs,
            outputs,
            groups,
            env,
            tests,
            suggested_resources,
            error_codes,
            doc,
        }
    }

    /// The input with this id.
    pub fn input(&self, id: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.id == id)
    }

    /// The output with this id.
    pub fn output(&self, id: &str) -> Option<&Output> {
        self.outputs.iter().find(|o| o.id == id)
    }

    /// The group with this id.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// The shell bosh writes into the script's `#!` line (`/bin/sh` by default).
    pub fn shell(&self) -> &str {
        self.shell.as_deref().unwrap_or("/bin/sh")
    }
}
