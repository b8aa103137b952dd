//! The plan of one run: everything decided from a descriptor and an invocation before a
//! container starts. `berth simulate --json` prints it; the runner executes it.

use indexmap::IndexMap;
use serde::Serialize;

use crate::invocation::{self, Mode};
use crate::model::{ContainerImage, Descriptor, InputType, SuggestedResources};
use crate::problem::Problems;
use crate::pyjson::Value;
use crate::render::{self, ConfigFile, RenderError};

/// One declared output with its resolved path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedOutput {
    /// The path (relative to the working directory unless absolute); may contain `*` globs.
    pub path: String,
    /// Whether the tool may legitimately not produce it.
    pub optional: bool,
    /// Whether the template names a list of files (globs).
    pub list: bool,
}

/// A file path an invocation refers to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferencedFile {
    /// The input id.
    pub input: String,
    /// The path as given in the invocation.
    pub path: String,
}

/// Everything needed to run a tool, derived from descriptor and invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The tool's name.
    pub tool: String,
    /// The tool's version.
    pub tool_version: String,
    /// The command line, exactly as bosh renders it.
    pub command_line: String,
    /// Declared outputs by id.
    pub outputs: IndexMap<String, PlannedOutput>,
    /// Configuration files to write before running.
    pub config_files: Vec<ConfigFile>,
    /// Environment variables for the tool.
    pub environment: IndexMap<String, String>,
    /// The container image, if the descriptor names one.
    pub container_image: Option<ContainerImage>,
    /// The shell bosh uses to run the command.
    pub shell: String,
    /// Files the invocation refers to (File inputs), list items expanded.
    pub files: Vec<ReferencedFile>,
    /// Suggested resources from the descriptor.
    pub suggested_resources: SuggestedResources,
    /// The invocation with defaults added.
    pub invocation: IndexMap<String, Value>,
    /// Warnings (problems that did not block the plan).
    pub warnings: Problems,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The invocation does not satisfy the descriptor.
    #[error("the invocation is not valid for this descriptor")]
    Invalid(Problems),
    /// Rendering failed where bosh would raise.
    #[error(transparent)]
    Render(#[from] RenderError),
}

/// Environment variables for the tool: bosh's launcher substitutes a variable whose value is
/// exactly an input's value-key with that input's value (absent inputs drop the variable).
pub fn environment(d: &Descriptor, values: &IndexMap<String, Value>) -> IndexMap<String, String> {
    let mut env = IndexMap::new();
    for e in &d.env {
        match d.inputs.iter().find(|i| i.value_key.as_deref() == Some(e.value.as_str())) {
            Some(i) => {
                if let Some(v) = values.get(&i.id) {
                    env.insert(e.name.clone(), v.py_str());
                }
            }
            None => {
                env.insert(e.name.clone(), e.value.clone());
            }
        }
    }
    env
}

/// Checks `invocation` against `d` and renders it.
pub fn plan(d: &Descriptor, invocation: &Value, mode: Mode, cwd: &str) -> Result<Plan, PlanError> {
    let checked = invocation::check(d, invocation, mode);
    if checked.problems.iter().any(|p| p.is_error()) {
        return Err(PlanError::Invalid(checked.problems));
    }
    let rendered = render::render(d, &checked.values, mode, cwd)?;
    let outputs = d
        .outputs
        .iter()
        .filter_map(|o| {
            rendered.outputs.get(&o.id).map(|path| {
                (
                    o.id.clone(),
                    PlannedOutput { path: path.clone(), optional: o.is_optional(), list: o.list == Some(true) },
                )
            })
        })
        .collect();
    let environment = environment(d, &checked.values);
    let mut files = Vec::new();
    for i in d.inputs.iter().filter(|i| i.kind == InputType::File) {
        match checked.values.get(&i.id) {
            Some(Value::List(items)) => {
                files.extend(items.iter().map(|v| ReferencedFile { input: i.id.clone(), path: v.py_str() }))
            }
            Some(Value::Null) | None => {}
            Some(v) => files.push(ReferencedFile { input: i.id.clone(), path: v.py_str() }),
        }
    }
    Ok(Plan {
        tool: d.name.clone(),
        tool_version: d.tool_version.clone(),
        command_line: rendered.command_line,
        outputs,
        config_files: rendered.config_files,
        environment,
        container_image: d.container.clone(),
        shell: d.shell().to_string(),
        files,
        suggested_resources: d.suggested_resources.clone(),
        invocation: checked.values,
        warnings: checked.problems,
    })
}
