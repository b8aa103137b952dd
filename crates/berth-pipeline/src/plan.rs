//! From a pipeline file to a task DAG: each step's tool, checks of every binding against the
//! step's descriptor, fan-out over the dataset, dependencies between tasks, and the values
//! `${...}` expressions stand for.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_descriptor::{Descriptor, Problem, Problems};
use berth_run::{LoadedTool, ToolSpec};
use berth_store::Store;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::PipelineError;
use crate::bids::Dataset;
use crate::model::{FanOut, Foreach, Pipeline, parse_duration, parse_memory};

/// Defaults for a task's container when neither the step nor the descriptor says.
pub const DEFAULT_CPUS: f64 = 1.0;
/// 512 MiB.
pub const DEFAULT_MEMORY: i64 = 512 * 1024 * 1024;

/// What a `${...}` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// `${params.NAME}`.
    Param(String),
    /// `${participant}`.
    Participant,
    /// `${session}`.
    Session,
    /// `${item}` or `${item.KEY}`.
    Item(Option<String>),
    /// `${dataset}`.
    Dataset,
    /// `${bids.dir}`: `sub-01` or `sub-01/ses-a`, the task's directory in the dataset.
    BidsDir,
    /// `${bids.prefix}`: `sub-01` or `sub-01_ses-a`, the start of BIDS file names.
    BidsPrefix,
    /// `${steps.STEP.outputs.ID}`.
    Output {
        /// The step.
        step: String,
        /// Its descriptor's output id.
        output: String,
    },
}

/// Splits a string into literal text and references.
pub fn parse_refs(s: &str) -> Result<Vec<Result<String, Ref>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if i > 0 {
            out.push(Ok(rest[..i].to_owned()));
        }
        let after = &rest[i + 2..];
        let end = after.find('}').ok_or_else(|| format!("`${{` without a closing `}}` in `{s}`"))?;
        out.push(Err(parse_ref(after[..end].trim())?));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Ok(rest.to_owned()));
    }
    Ok(out)
}

fn parse_ref(expr: &str) -> Result<Ref, String> {
    let parts: Vec<&str> = expr.split('.').collect();
    Ok(match parts.as_slice() {
        ["params", name] => Ref::Param((*name).to_owned()),
        ["participant"] => Ref::Participant,
        ["session"] => Ref::Session,
        ["item"] => Ref::Item(None),
        ["item", key] => Ref::Item(Some((*key).to_owned())),
        ["dataset"] => Ref::Dataset,
        ["bids", "dir"] => Ref::BidsDir,
        ["bids", "prefix"] => Ref::BidsPrefix,
        ["steps", step, "outputs", output] => Ref::Output { step: (*step).to_owned(), output: (*output).to_owned() },
        _ => {
            return Err(format!(
                "`${{{expr}}}` is not a reference berth knows: use `${{params.NAME}}`, `${{participant}}`, \
                 `${{session}}`, `${{bids.dir}}`, `${{bids.prefix}}`, `${{item}}`, `${{dataset}}` or \
                 `${{steps.STEP.outputs.ID}}`"
            ));
        }
    })
}

/// Every reference in a binding value.
fn refs_in(v: &Value, out: &mut Vec<Ref>) -> Result<(), String> {
    match v {
        Value::String(s) => out.extend(parse_refs(s)?.into_iter().filter_map(Result::err)),
        Value::Array(a) => a.iter().try_for_each(|x| refs_in(x, out))?,
        Value::Object(o) => o.values().try_for_each(|x| refs_in(x, out))?,
        _ => {}
    }
    Ok(())
}

/// How a step fans out.
#[derive(Debug, Clone, PartialEq)]
pub enum Fan {
    /// One task.
    Group,
    /// Per participant.
    Participants,
    /// Per participant and session.
    Sessions,
    /// Per list item.
    List(Vec<Value>),
}

/// A step, checked.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// Its name.
    pub name: String,
    /// Its tool.
    pub tool: LoadedTool,
    /// The tool's descriptor.
    pub descriptor: Descriptor,
    /// The image its tasks run.
    pub image: String,
    /// Its fan-out.
    pub fan: Fan,
    /// Whether its outputs are published.
    pub publish: bool,
    /// CPUs per task.
    pub cpus: f64,
    /// Memory per task, bytes.
    pub memory: i64,
    /// Whether `cpus` is the pipeline's default (neither the step nor the descriptor set it):
    /// the site's `[run] cpus` then applies, as for `berth run`.
    pub cpus_default: bool,
    /// Whether `memory` is the pipeline's default: the site's `[run] memory` then applies.
    pub memory_default: bool,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Wait before the first retry (doubling).
    pub backoff: Duration,
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
    /// The steps it depends on (references and `needs`), by index.
    pub depends_on: Vec<usize>,
}

/// One task: a step for one participant / session / item, or a group step.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `STEP`, `STEP/sub-01`, `STEP/sub-01/ses-a`, `STEP/3`: also where its outputs are
    /// published under the output directory (BIDS derivatives layout for participants).
    pub key: String,
    /// Its step's index.
    pub step: usize,
    /// The participant label.
    pub participant: Option<String>,
    /// The session label.
    pub session: Option<String>,
    /// The list item and its index.
    pub item: Option<(usize, Value)>,
    /// Tasks it waits for.
    pub deps: Vec<usize>,
    /// Why it will not run, when it will not: an input bound with `if-missing: skip` found no
    /// file, a task it needs is skipped, or the analysis level leaves it out. Such tasks are
    /// reported, not failed.
    pub skip: Option<String>,
}

impl Task {
    /// The directory of its work and output directories under the step's (empty for a group
    /// step, whose step directory is its own).
    pub fn dir_name(&self) -> String {
        self.key.split_once('/').map_or_else(String::new, |(_, rest)| rest.to_owned())
    }
}

/// A pipeline ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file.
    pub pipeline: Pipeline,
    /// Parameters after overrides.
    pub params: IndexMap<String, Value>,
    /// The dataset, when it has one (after `--participant-label`).
    pub dataset: Option<Dataset>,
    /// The steps, in file order.
    pub steps: Vec<StepPlan>,
    /// The tasks, steps in file order, then dataset order.
    pub tasks: Vec<Task>,
    /// Warnings found while planning.
    pub warnings: Problems,
    /// Which analysis levels run.
    pub level: AnalysisLevel,
}

/// Which levels of a BIDS App style pipeline run (`--analysis-level`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisLevel {
    /// Every step (the default). With a participant or session subset, group steps that
    /// gather participants' results are left out: their results must cover everyone.
    #[default]
    All,
    /// Only the steps that fan out over the dataset (and what they need): participants can be
    /// processed in chunks, on several machines or Slurm, before the group level runs once.
    Participant,
    /// Every step, but participants' tasks only from the step cache: the group level runs over
    /// what the participant level produced, and a participant not yet processed is an error.
    Group,
}

impl std::str::FromStr for AnalysisLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<AnalysisLevel, String> {
        match s {
            "all" | "" => Ok(AnalysisLevel::All),
            "participant" => Ok(AnalysisLevel::Participant),
            "group" => Ok(AnalysisLevel::Group),
            other => Err(format!("`{other}` is not an analysis level: expected `participant`, `group` or `all`")),
        }
    }
}

/// Choices that shape the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--bids DIR` (overrides `dataset.bids`).
    pub bids: Option<PathBuf>,
    /// `--participant-label`.
    pub participant_labels: Vec<String>,
    /// `--session-label`.
    pub session_labels: Vec<String>,
    /// `--analysis-level`.
    pub analysis_level: AnalysisLevel,
    /// `--param NAME=VALUE`.
    pub params: Vec<(String, String)>,
    /// Strict rendering (`--strict`).
    pub strict: bool,
}

/// A task's outputs, for `${steps...}` resolution: output id → host paths.
pub type TaskOutputs = IndexMap<String, Vec<PathBuf>>;

/// The values a task's references stand for.
pub struct Ctx<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The task.
    pub task: &'a Task,
    /// Finished tasks' outputs (`None` while planning: output references are checked, not resolved).
    pub outputs: Option<&'a HashMap<usize, TaskOutputs>>,
}

fn param_value(s: &str) -> Value {
    // `--param x=3` is a number, `--param x=abc` a string, as YAML would read them.
    yaml_serde::from_str::<Value>(s).ok().filter(|v| !v.is_object() && !v.is_array()).unwrap_or(Value::String(s.into()))
}

fn step_pointer(step: &str, rest: &[&str]) -> String {
    let mut p = format!("/steps/{}", berth_descriptor::problem::escape_token(step));
    for r in rest {
        p.push('/');
        p.push_str(&berth_descriptor::problem::escape_token(r));
    }
    p
}

/// Whether `${steps.R...}` seen from a task of step `s` gives a list (one value per task of R).
pub fn gives_list(s: &Fan, r: &Fan) -> bool {
    match (s, r) {
        (_, Fan::Group) => false,
        (Fan::Participants, Fan::Participants) | (Fan::Sessions, Fan::Sessions) => false,
        (Fan::Sessions, Fan::Participants) => false,
        (Fan::List(a), Fan::List(b)) => a.len() != b.len(),
        _ => true,
    }
}

fn matches(t: &Task, r: &Task, s_fan: &Fan, r_fan: &Fan) -> bool {
    match (s_fan, r_fan) {
        (_, Fan::Group) | (Fan::Group, _) => true,
        (Fan::List(a), Fan::List(b)) if a.len() == b.len() => {
            t.item.as_ref().map(|i| i.0) == r.item.as_ref().map(|i| i.0)
        }
        (Fan::List(_), _) | (_, Fan::List(_)) => true,
        (Fan::Sessions, Fan::Sessions) => t.participant == r.participant && t.session == r.session,
        _ => t.participant == r.participant,
    }
}

/// Loads every step's tool, checks the bindings, expands the tasks.
pub fn plan(pipeline: Pipeline, opts: &PlanOptions, store: Option<&Store>) -> Result<Plan, PipelineError> {
    let spec = &pipeline.spec;
    let mut problems = Problems::default();
    let mut warnings = Problems::default();

    let mut params = spec.params.clone();
    for (k, v) in &opts.params {
        if !params.contains_key(k) {
            problems.push(
                Problem::error("unknown-param", "/params", format!("--param {k}: the pipeline has no parameter `{k}`"))
                    .hint(format!("its parameters: {}", params.keys().cloned().collect::<Vec<_>>().join(", "))),
            );
            continue;
        }
        params.insert(k.clone(), param_value(v));
    }

    // The dataset.
    let needs_dataset = spec.steps.values().any(|s| matches!(s.foreach, Some(Foreach::Dataset(_))));
    let bids =
        opts.bids.clone().or_else(|| spec.dataset.as_ref().and_then(|d| d.bids.as_ref()).map(|b| pipeline.dir.join(b)));
    let dataset = match &bids {
        Some(root) => {
            let mut ds = Dataset::open(root)?;
            ds.filter(&opts.participant_labels)?;
            ds.filter_sessions(&opts.session_labels)?;
            if !ds.listed_only.is_empty() {
                warnings.push(
                    Problem::warning(
                        "participants-without-data",
                        "/dataset",
                        format!(
                            "participants.tsv lists {} participant{} with no `sub-<label>` directory, so no task: {}",
                            ds.listed_only.len(),
                            if ds.listed_only.len() == 1 { "" } else { "s" },
                            ds.listed_only.iter().map(|l| format!("sub-{l}")).collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .hint("the dataset may be incomplete; add their data or remove them from participants.tsv"),
                );
            }
            Some(ds)
        }
        None => {
            if needs_dataset {
                problems.push(
                    Problem::error(
                        "no-dataset",
                        "/dataset",
                        "steps fan out over participants, but there is no dataset",
                    )
                    .hint("set `dataset: {bids: DIR}` in the file or pass `--bids DIR`"),
                );
            }
            if !opts.participant_labels.is_empty() {
                problems.push(Problem::error("no-dataset", "/dataset", "--participant-label needs a dataset"));
            }
            if !opts.session_labels.is_empty() {
                problems.push(Problem::error("no-dataset", "/dataset", "--session-label needs a dataset"));
            }
            None
        }
    };

    // The steps.
    let names: Vec<String> = spec.steps.keys().cloned().collect();
    let mut steps: Vec<StepPlan> = Vec::new();
    for (name, s) in &spec.steps {
        let (arg, field) = match (&s.tool, &s.descriptor) {
            (Some(t), _) => (t.clone(), "tool"),
            (None, Some(d)) => (pipeline.dir.join(d).to_string_lossy().into_owned(), "descriptor"),
            (None, None) => continue,
        };
        let pointer = step_pointer(name, &[field]);
        let tool = match berth_run::load_tool(&arg, store, opts.strict) {
            Ok(t) => t,
            Err(e) => {
                let hint = e.hint();
                let mut p = Problem::error("tool", &pointer, format!("steps.{name}.{field}: {e}"));
                if let Some(h) = hint {
                    p = p.hint(h);
                }
                problems.push(p);
                continue;
            }
        };
        let descriptor = match &tool.spec {
            ToolSpec::Boutiques(d) => (**d).clone(),
            ToolSpec::Xnat(_) => {
                problems.push(
                    Problem::error(
                        "xnat-step",
                        &pointer,
                        format!("steps.{name}: pipelines run Boutiques tools; `{arg}` is an XNAT Command"),
                    )
                    .hint("run XNAT Commands with `berth run`"),
                );
                continue;
            }
        };
        // `image:` may name parameters (`image: ${params.registry}/dcm2niix:1.0`), so the same
        // pipeline runs on other images with `--param` (a minified set, a site's mirror).
        let step_image = match s.image.as_deref().map(|i| image_with_params(i, &params)) {
            Some(Err(message)) => {
                problems.push(Problem::error(
                    "image",
                    step_pointer(name, &["image"]),
                    format!("steps.{name}.image: {message}"),
                ));
                continue;
            }
            Some(Ok(i)) => Some(i),
            None => None,
        };
        let Some(image) = step_image.or_else(|| tool.image()) else {
            problems.push(
                Problem::error("no-image", &pointer, format!("steps.{name}: the descriptor names no container image"))
                    .hint("add `image:` to the step"),
            );
            continue;
        };
        let fan = match &s.foreach {
            None => Fan::Group,
            Some(Foreach::Dataset(FanOut::Participants)) => Fan::Participants,
            Some(Foreach::Dataset(FanOut::Sessions)) => Fan::Sessions,
            Some(Foreach::List(items)) => Fan::List(items.clone()),
        };
        let sr = &descriptor.suggested_resources;
        let cpus_set = s.resources.as_ref().and_then(|r| r.cpus).or(sr.cpu_cores.map(|c| c as f64));
        let cpus_default = cpus_set.is_none();
        let cpus = cpus_set.unwrap_or(DEFAULT_CPUS);
        let memory_default =
            s.resources.as_ref().and_then(|r| r.memory.as_ref()).is_none() && sr.ram.filter(|gb| *gb > 0.0).is_none();
        let memory = match s.resources.as_ref().and_then(|r| r.memory.as_ref()) {
            Some(m) => parse_memory(m).unwrap_or_else(|| {
                problems.push(
                    Problem::error(
                        "memory",
                        step_pointer(name, &["resources", "memory"]),
                        format!("steps.{name}.resources.memory: `{m}` is not a size"),
                    )
                    .hint("use e.g. `512MiB`, `2g` or a number of bytes"),
                );
                DEFAULT_MEMORY
            }),
            None => {
                sr.ram.map(|gb| (gb * 1024.0 * 1024.0 * 1024.0) as i64).filter(|m| *m > 0).unwrap_or(DEFAULT_MEMORY)
            }
        };
        let retries = s.retries.as_ref().map_or(0, |r| r.count);
        let backoff = s
            .retries
            .as_ref()
            .and_then(|r| r.backoff.as_deref())
            .and_then(parse_duration)
            .unwrap_or(Duration::from_secs(1));
        let timeout = s.timeout.as_deref().and_then(parse_duration);

        // Bindings against the descriptor.
        for (id, value) in &s.inputs {
            let pointer = step_pointer(name, &["inputs", id]);
            if !descriptor.inputs.iter().any(|i| &i.id == id) {
                let ids: Vec<&str> = descriptor.inputs.iter().map(|i| i.id.as_str()).collect();
                let mut p = Problem::error(
                    "unknown-input",
                    &pointer,
                    format!("steps.{name}.inputs: `{id}` is not an input of {}", descriptor.name),
                );
                p = match ids.iter().max_by(|a, b| strsim::jaro_winkler(a, id).total_cmp(&strsim::jaro_winkler(b, id)))
                {
                    Some(best) if strsim::jaro_winkler(best, id) > 0.8 => p.hint(format!("did you mean `{best}`?")),
                    _ => p.hint(format!("its inputs: {}", ids.join(", "))),
                };
                problems.push(p);
                continue;
            }
            let mut refs = Vec::new();
            if let Err(e) = refs_in(value, &mut refs) {
                problems.push(Problem::error("bad-reference", &pointer, format!("steps.{name}.inputs.{id}: {e}")));
                continue;
            }
            for r in &refs {
                let bad = match r {
                    Ref::Param(p) if !params.contains_key(p) => Some(format!("no parameter `{p}` in `params:`")),
                    Ref::Participant | Ref::BidsDir | Ref::BidsPrefix
                        if !matches!(fan, Fan::Participants | Fan::Sessions) =>
                    {
                        Some(
                            "`${participant}` and `${bids...}` need `foreach: participants` or `foreach: sessions`"
                                .into(),
                        )
                    }
                    Ref::Session if fan != Fan::Sessions => Some("`${session}` needs `foreach: sessions`".into()),
                    Ref::Item(_) if !matches!(fan, Fan::List(_)) => {
                        Some("`${item}` needs `foreach:` with a list".into())
                    }
                    Ref::Dataset if dataset.is_none() && bids.is_none() => Some("`${dataset}` needs a dataset".into()),
                    Ref::Output { step, .. } if step == name => Some("a step cannot use its own outputs".into()),
                    Ref::Output { step, .. } if !names.contains(step) => {
                        Some(format!("no step `{step}` (steps: {})", names.join(", ")))
                    }
                    _ => None,
                };
                if let Some(b) = bad {
                    problems.push(Problem::error("bad-reference", &pointer, format!("steps.{name}.inputs.{id}: {b}")));
                }
            }
            if value.get("glob").is_some() && bids.is_none() {
                problems.push(
                    Problem::error(
                        "no-dataset",
                        &pointer,
                        format!("steps.{name}.inputs.{id}: `glob` finds files in the dataset, and there is none"),
                    )
                    .hint("set `dataset: {bids: DIR}` or pass `--bids DIR`"),
                );
            }
        }
        for input in &descriptor.inputs {
            let required = !input.optional.unwrap_or(false) && !input.has_default;
            if required && !s.inputs.contains_key(&input.id) {
                problems.push(
                    Problem::error(
                        "missing-input",
                        step_pointer(name, &["inputs"]),
                        format!("steps.{name}.inputs: `{}` is required by {}", input.id, descriptor.name),
                    )
                    .hint(format!("bind it: `{}: ...`", input.id)),
                );
            }
        }
        for n in &s.needs {
            if !names.contains(n) || n == name {
                problems.push(Problem::error(
                    "bad-needs",
                    step_pointer(name, &["needs"]),
                    format!("steps.{name}.needs: no other step `{n}`"),
                ));
            }
        }
        steps.push(StepPlan {
            name: name.clone(),
            tool,
            descriptor,
            image,
            fan,
            publish: s.publish.unwrap_or(true),
            cpus,
            memory,
            cpus_default,
            memory_default,
            retries,
            backoff,
            timeout,
            depends_on: Vec::new(),
        });
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(PipelineError::Invalid { path: pipeline.file.clone(), problems });
    }

    // Step edges, output ids, list-ness, cycles.
    let index: HashMap<String, usize> = steps.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect();
    for i in 0..steps.len() {
        let s = &spec.steps[&steps[i].name];
        let mut deps = BTreeSet::new();
        for n in &s.needs {
            deps.insert(index[n]);
        }
        for (id, value) in &s.inputs {
            let mut refs = Vec::new();
            let _ = refs_in(value, &mut refs);
            let input = steps[i].descriptor.inputs.iter().find(|x| &x.id == id);
            for r in refs {
                let Ref::Output { step, output } = r else { continue };
                let j = index[&step];
                deps.insert(j);
                let pointer = step_pointer(&steps[i].name, &["inputs", id]);
                let Some(out) = steps[j].descriptor.outputs.iter().find(|o| o.id == output) else {
                    let ids: Vec<&str> = steps[j].descriptor.outputs.iter().map(|o| o.id.as_str()).collect();
                    problems.push(
                        Problem::error(
                            "unknown-output",
                            &pointer,
                            format!("steps.{}.inputs.{id}: step `{step}` has no output `{output}`", steps[i].name),
                        )
                        .hint(format!("its outputs: {}", ids.join(", "))),
                    );
                    continue;
                };
                let list = gives_list(&steps[i].fan, &steps[j].fan) || out.list.unwrap_or(false);
                let whole = matches!(value, Value::String(s) if s.trim().starts_with("${") && s.trim().ends_with('}') && s.matches("${").count() == 1);
                if list && whole && input.is_some_and(|x| !x.list.unwrap_or(false)) {
                    problems.push(
                        Problem::error("list-to-single", &pointer, format!(
                            "steps.{}.inputs.{id}: `${{steps.{step}.outputs.{output}}}` is a list here (one file per task of `{step}`), but `{id}` takes one value",
                            steps[i].name
                        ))
                        .hint("give the outputs to a list input, or fan this step out the same way"),
                    );
                }
            }
        }
        steps[i].depends_on = deps.into_iter().collect();
    }
    if let Some(cycle) = find_cycle(&steps) {
        problems.push(
            Problem::error(
                "cycle",
                "/steps",
                format!("the steps depend on each other in a cycle: {}", cycle.join(" → ")),
            )
            .hint("a step can only use outputs of steps that do not (indirectly) use its own"),
        );
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(PipelineError::Invalid { path: pipeline.file.clone(), problems });
    }

    // Tasks, steps in dependency order so that deps come first.
    let order = topo_order(&steps);
    let mut tasks: Vec<Task> = Vec::new();
    let mut by_step: HashMap<usize, Vec<usize>> = HashMap::new();
    for &si in &order {
        let st = &steps[si];
        let mut mine: Vec<Task> = Vec::new();
        match &st.fan {
            Fan::Group => mine.push(Task {
                key: st.name.clone(),
                step: si,
                participant: None,
                session: None,
                item: None,
                deps: vec![],
                skip: None,
            }),
            Fan::Participants | Fan::Sessions => {
                for p in dataset.as_ref().map(|d| d.participants.as_slice()).unwrap_or_default() {
                    if st.fan == Fan::Sessions && !p.sessions.is_empty() {
                        for ses in &p.sessions {
                            mine.push(Task {
                                key: format!("{}/sub-{}/ses-{ses}", st.name, p.label),
                                step: si,
                                participant: Some(p.label.clone()),
                                session: Some(ses.clone()),
                                item: None,
                                deps: vec![],
                                skip: None,
                            });
                        }
                    } else {
                        mine.push(Task {
                            key: format!("{}/sub-{}", st.name, p.label),
                            step: si,
                            participant: Some(p.label.clone()),
                            session: None,
                            item: None,
                            deps: vec![],
                            skip: None,
                        });
                    }
                }
            }
            Fan::List(items) => {
                for (k, it) in items.iter().enumerate() {
                    mine.push(Task {
                        key: format!("{}/{k}", st.name),
                        step: si,
                        participant: None,
                        session: None,
                        item: Some((k, it.clone())),
                        deps: vec![],
                        skip: None,
                    });
                }
            }
        }
        if mine.is_empty() {
            warnings.push(Problem::warning(
                "no-tasks",
                step_pointer(&st.name, &["foreach"]),
                format!("steps.{}: no participants, so no tasks", st.name),
            ));
        }
        for mut t in mine {
            for &dj in &st.depends_on {
                for &ti in by_step.get(&dj).map(Vec::as_slice).unwrap_or_default() {
                    if matches(&t, &tasks[ti], &st.fan, &steps[dj].fan) {
                        t.deps.push(ti);
                    }
                }
            }
            by_step.entry(si).or_default().push(tasks.len());
            tasks.push(t);
        }
    }
    let mut plan = Plan { pipeline, params, dataset, steps, tasks, warnings, level: opts.analysis_level };

    // Resolve what can be resolved now (globs, params), so dataset problems show before any run.
    // An input bound with `if-missing: skip` that finds nothing skips its task instead.
    // Each task's invocation is then checked against its tool, as `berth run` will (earlier
    // steps' outputs stand in as planned paths), so a value of the wrong type is found by
    // `pipeline validate`, not by every task failing at run time. One report per step and problem.
    let mut skips = Vec::new();
    let mut reported = BTreeSet::new();
    for (i, t) in plan.tasks.iter().enumerate() {
        let ctx = Ctx { plan: &plan, task: t, outputs: None };
        match ctx.invocation() {
            Err(p) if p.code == SKIP_CODE => skips.push((i, p.message)),
            Err(p) => problems.push(p),
            Ok(inv) => {
                let st = &plan.steps[t.step];
                let value = berth_descriptor::Value::from_serde(&Value::Object(inv));
                let checked = berth_descriptor::invocation::check(&st.descriptor, &value, Default::default());
                for p in checked.problems.blocking(false) {
                    if reported.insert((t.step, p.pointer.clone(), p.message.clone())) {
                        let id = p.pointer.trim_start_matches('/');
                        let mut problem = Problem::error(
                            "invocation",
                            step_pointer(&st.name, &["inputs", id]),
                            format!(
                                "steps.{}: the tool `{}` refuses its invocation: {}",
                                st.name, st.descriptor.name, p.message
                            ),
                        );
                        problem.hint = p.hint.clone();
                        problems.push(problem);
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(PipelineError::Invalid { path: plan.pipeline.file.clone(), problems });
    }
    for (i, why) in skips {
        plan.tasks[i].skip = Some(why);
    }
    let subset = !opts.participant_labels.is_empty() || !opts.session_labels.is_empty();
    let fans_out = |s: &StepPlan| matches!(s.fan, Fan::Participants | Fan::Sessions);
    // Which steps gather the dataset: group-level steps that depend, at any distance, on a
    // step that fans out over participants.
    let mut gathers = vec![false; plan.steps.len()];
    for &si in &order {
        let st = &plan.steps[si];
        gathers[si] = !fans_out(st) && st.depends_on.iter().any(|&d| fans_out(&plan.steps[d]) || gathers[d]);
    }
    // Tasks come in dependency order: a task whose participant-level input is skipped is
    // skipped too; a group task gathers what there is.
    for i in 0..plan.tasks.len() {
        if plan.tasks[i].skip.is_some() {
            continue;
        }
        let t = &plan.tasks[i];
        let st = &plan.steps[t.step];
        let why = if opts.analysis_level == AnalysisLevel::Participant && gathers[t.step] {
            Some("group level: left out by `--analysis-level participant`".to_string())
        } else if subset && opts.analysis_level == AnalysisLevel::All && gathers[t.step] {
            Some(
                "group level: this run covers a subset of the participants, and group results must cover them \
                 all; run again without `--participant-label`/`--session-label` (processed participants come \
                 from the step cache) or with `--analysis-level group`"
                    .to_string(),
            )
        } else if st.fan != Fan::Group {
            t.deps
                .iter()
                .find(|&&d| plan.tasks[d].skip.is_some())
                .map(|&d| format!("skipped: `{}` is skipped", plan.tasks[d].key))
        } else {
            None
        };
        plan.tasks[i].skip = why;
    }
    if opts.analysis_level == AnalysisLevel::Group && subset {
        return Err(PipelineError::Invalid {
            path: plan.pipeline.file.clone(),
            problems: Problems(vec![
                Problem::error(
                    "group-level-subset",
                    "/dataset",
                    "`--analysis-level group` runs over every participant; it takes no `--participant-label` or \
                     `--session-label`",
                )
                .hint("drop the labels: the group level gathers what the participant level produced for everyone"),
            ]),
        });
    }
    Ok(plan)
}

/// The code of the problem an input bound with `if-missing: skip` gives when it finds nothing.
pub const SKIP_CODE: &str = "skip-missing-input";

fn topo_order(steps: &[StepPlan]) -> Vec<usize> {
    let mut done = vec![false; steps.len()];
    let mut order = Vec::new();
    while order.len() < steps.len() {
        let before = order.len();
        for i in 0..steps.len() {
            if !done[i] && steps[i].depends_on.iter().all(|&d| done[d]) {
                done[i] = true;
                order.push(i);
            }
        }
        if order.len() == before {
            break;
        }
    }
    order
}

fn find_cycle(steps: &[StepPlan]) -> Option<Vec<String>> {
    // Depth-first search with colours; the grey path when a grey node is met is the cycle.
    fn visit(i: usize, steps: &[StepPlan], colour: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<String>> {
        colour[i] = 1;
        path.push(i);
        for &d in &steps[i].depends_on {
            if colour[d] == 1 {
                let start = path.iter().position(|&p| p == d).unwrap_or(0);
                let mut c: Vec<String> = path[start..].iter().map(|&p| steps[p].name.clone()).collect();
                c.push(steps[d].name.clone());
                c.reverse();
                return Some(c);
            }
            if colour[d] == 0
                && let Some(c) = visit(d, steps, colour, path)
            {
                return Some(c);
            }
        }
        path.pop();
        colour[i] = 2;
        None
    }
    let mut colour = vec![0u8; steps.len()];
    for i in 0..steps.len() {
        if colour[i] == 0
            && let Some(c) = visit(i, steps, &mut colour, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

impl Ctx<'_> {
    fn step(&self) -> &StepPlan {
        &self.plan.steps[self.task.step]
    }

    fn pointer(&self, id: &str) -> String {
        step_pointer(&self.step().name, &["inputs", id])
    }

    fn err(&self, id: &str, message: String) -> Problem {
        let who = match (&self.task.participant, &self.task.session) {
            (Some(p), Some(s)) => format!(" (participant {p}, session {s})"),
            (Some(p), None) => format!(" (participant {p})"),
            _ => String::new(),
        };
        Problem::error("binding", self.pointer(id), format!("steps.{}.inputs.{id}{who}: {message}", self.step().name))
    }

    /// The task's invocation (input id → value), with file paths absolute.
    pub fn invocation(&self) -> Result<serde_json::Map<String, Value>, Problem> {
        let spec = &self.plan.pipeline.spec.steps[&self.step().name];
        let mut inv = serde_json::Map::new();
        for (id, v) in &spec.inputs {
            let input = self.step().descriptor.inputs.iter().find(|i| &i.id == id);
            let is_list = input.is_some_and(|i| i.list.unwrap_or(false));
            let is_file = input.is_some_and(|i| i.kind == berth_descriptor::model::InputType::File);
            let mut value = self.resolve(id, v, is_list)?;
            if value.is_null() && v.get("if-missing").is_some() {
                continue; // `if-missing: omit` found nothing: the input is left out
            }
            if let Some(input) = input {
                value = coerce(value, &input.kind);
            }
            if is_list && !value.is_array() {
                value = Value::Array(vec![value]);
            }
            if is_file {
                value = absolutize(&value, &self.plan.pipeline.dir);
            }
            inv.insert(id.clone(), value);
        }
        Ok(inv)
    }

    fn resolve(&self, id: &str, v: &Value, is_list: bool) -> Result<Value, Problem> {
        match v {
            Value::String(s) => self.substitute(id, s),
            Value::Array(a) => {
                let mut out = Vec::new();
                for x in a {
                    match self.resolve(id, x, false)? {
                        Value::Array(inner) => out.extend(inner),
                        other => out.push(other),
                    }
                }
                Ok(Value::Array(out))
            }
            Value::Object(o) if o.contains_key("glob") => {
                let pattern = match o.get("glob") {
                    Some(Value::String(p)) => self.substitute(id, p)?,
                    _ => return Err(self.err(id, "`glob` is a string".into())),
                };
                let pattern = pattern.as_str().unwrap_or_default().to_owned();
                let Some(root) = self.plan.dataset.as_ref().map(|d| d.root.clone()) else {
                    return Err(self.err(id, "`glob` needs a dataset".into()));
                };
                let full = format!("{}/{pattern}", glob::Pattern::escape(&root.to_string_lossy()));
                let found: Vec<PathBuf> = glob::glob(&full)
                    .map_err(|e| self.err(id, format!("`{pattern}` is not a valid glob: {e}")))?
                    .filter_map(Result::ok)
                    .collect();
                let if_missing = match o.get("if-missing") {
                    None => "fail",
                    Some(Value::String(m)) if matches!(m.as_str(), "fail" | "skip" | "omit") => m.as_str(),
                    Some(other) => {
                        return Err(self.err(id, format!("`if-missing` is `fail`, `skip` or `omit`, not {other}")));
                    }
                };
                if if_missing == "omit"
                    && !self.step().descriptor.inputs.iter().any(|i| i.id == id && i.optional.unwrap_or(false))
                {
                    return Err(self.err(
                        id,
                        format!("`if-missing: omit` leaves the input out, but `{id}` is not optional in the tool"),
                    ));
                }
                match (found.len(), is_list) {
                    (0, _) if if_missing == "skip" => Err(Problem::warning(
                        SKIP_CODE,
                        self.pointer(id),
                        format!("skipped: no file matches `{pattern}` (`{id}` has `if-missing: skip`)"),
                    )),
                    (0, _) if if_missing == "omit" => Ok(Value::Null),
                    (0, _) => Err(self.err(id, format!("`{pattern}` matched no file under {}", root.display())).hint(
                        "if some participants or sessions lack this file, add `if-missing: skip` (skip \
                               their task) or `if-missing: omit` (leave an optional input out) to the binding",
                    )),
                    (1, false) => Ok(Value::String(found[0].to_string_lossy().into_owned())),
                    (n, false) => Err(self.err(
                        id,
                        format!("`{pattern}` matched {n} files under {} but `{id}` takes one", root.display()),
                    )),
                    (_, true) => Ok(Value::Array(
                        found.iter().map(|p| Value::String(p.to_string_lossy().into_owned())).collect(),
                    )),
                }
            }
            other => Ok(other.clone()),
        }
    }

    fn substitute(&self, id: &str, s: &str) -> Result<Value, Problem> {
        let parts = parse_refs(s).map_err(|e| self.err(id, e))?;
        let mut values = Vec::new();
        for part in &parts {
            values.push(match part {
                Ok(text) => Value::String(text.clone()),
                Err(r) => self.value_of(id, r)?,
            });
        }
        if values.len() == 1 && parts[0].is_err() {
            return Ok(values.pop().unwrap_or(Value::Null));
        }
        let mut out = String::new();
        for v in values {
            match v {
                Value::String(x) => out.push_str(&x),
                Value::Array(_) | Value::Object(_) => {
                    return Err(self.err(id, format!("`{s}` puts a list into a string")));
                }
                other => out.push_str(&other.to_string()),
            }
        }
        Ok(Value::String(out))
    }

    fn value_of(&self, id: &str, r: &Ref) -> Result<Value, Problem> {
        let t = self.task;
        Ok(match r {
            Ref::Param(p) => {
                self.plan.params.get(p).cloned().ok_or_else(|| self.err(id, format!("no parameter `{p}`")))?
            }
            Ref::Participant => Value::String(t.participant.clone().unwrap_or_default()),
            Ref::Session => Value::String(t.session.clone().unwrap_or_default()),
            Ref::BidsDir | Ref::BidsPrefix => {
                let p = t.participant.clone().unwrap_or_default();
                let sep = if *r == Ref::BidsDir { '/' } else { '_' };
                Value::String(match &t.session {
                    Some(ses) => format!("sub-{p}{sep}ses-{ses}"),
                    None => format!("sub-{p}"),
                })
            }
            Ref::Item(None) => t.item.as_ref().map(|i| i.1.clone()).unwrap_or(Value::Null),
            Ref::Item(Some(k)) => t
                .item
                .as_ref()
                .and_then(|i| i.1.get(k).cloned())
                .ok_or_else(|| self.err(id, format!("the item has no key `{k}`")))?,
            Ref::Dataset => Value::String(
                self.plan.dataset.as_ref().map(|d| d.root.to_string_lossy().into_owned()).unwrap_or_default(),
            ),
            Ref::Output { step, output } => {
                let Some(outputs) = self.outputs else {
                    // Planning: a placeholder of the right shape.
                    let j = self.plan.steps.iter().position(|s| &s.name == step).unwrap_or(0);
                    let list = gives_list(&self.step().fan, &self.plan.steps[j].fan);
                    let p = Value::String(format!("/berth-planned/{step}/{output}"));
                    return Ok(if list { Value::Array(vec![p]) } else { p });
                };
                let j = self.plan.steps.iter().position(|s| &s.name == step).unwrap_or(0);
                let mut paths = Vec::new();
                for &d in &t.deps {
                    if self.plan.tasks[d].step != j {
                        continue;
                    }
                    if let Some(o) = outputs.get(&d).and_then(|o| o.get(output)) {
                        paths.extend(o.iter().map(|p| Value::String(p.to_string_lossy().into_owned())));
                    }
                }
                let list = gives_list(&self.step().fan, &self.plan.steps[j].fan)
                    || self.plan.steps[j].descriptor.outputs.iter().any(|o| &o.id == output && o.list.unwrap_or(false));
                if list {
                    Value::Array(paths)
                } else {
                    match paths.len() {
                        1 => paths.pop().unwrap_or(Value::Null),
                        0 => {
                            return Err(
                                self.err(id, format!("step `{step}` produced no output `{output}` for this task"))
                            );
                        }
                        n => {
                            return Err(
                                self.err(id, format!("step `{step}` produced {n} files for `{output}`; expected one"))
                            );
                        }
                    }
                }
            }
        })
    }
}

/// A step's `image:` with its `${params.NAME}` references replaced; no other reference means
/// anything before the tasks exist.
fn image_with_params(image: &str, params: &IndexMap<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    for part in parse_refs(image)? {
        match part {
            Ok(text) => out.push_str(&text),
            Err(Ref::Param(p)) => match params.get(&p) {
                Some(Value::String(v)) => out.push_str(v),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
                Some(_) => return Err(format!("parameter `{p}` is not a string")),
                None => return Err(format!("no parameter `{p}`")),
            },
            Err(_) => return Err(format!("`{image}`: an image names only `${{params.NAME}}` references")),
        }
    }
    if out.trim().is_empty() {
        return Err(format!("`{image}` gives an empty image reference"));
    }
    Ok(out)
}

/// A scalar bound to an input of another type, converted where the meaning is clear: a number
/// or boolean given to a String or File input becomes its text (`--param voxel=2` for a String
/// input), a string that is a number given to a Number input becomes the number (`"${params.n}"`
/// interpolated), `"true"`/`"false"` given to a Flag its boolean. Lists element by element;
/// anything else is left for the tool's invocation check to refuse.
fn coerce(value: Value, kind: &berth_descriptor::model::InputType) -> Value {
    use berth_descriptor::model::InputType;
    match (value, kind) {
        (Value::Array(items), _) => Value::Array(items.into_iter().map(|v| coerce(v, kind)).collect()),
        (Value::Number(n), InputType::String | InputType::File) => Value::String(n.to_string()),
        (Value::Bool(b), InputType::String) => Value::String(b.to_string()),
        (Value::String(s), InputType::Number) => match serde_json::from_str::<serde_json::Number>(s.trim()) {
            Ok(n) => Value::Number(n),
            Err(_) => Value::String(s),
        },
        (Value::String(s), InputType::Flag) if s == "true" || s == "false" => Value::Bool(s == "true"),
        (other, _) => other,
    }
}

fn absolutize(v: &Value, dir: &Path) -> Value {
    match v {
        Value::String(s) if !s.is_empty() && !Path::new(s).is_absolute() => {
            Value::String(dir.join(s).to_string_lossy().into_owned())
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| absolutize(x, dir)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse() {
        let parts = parse_refs("sub-${participant}/x_${params.a}.dcm").unwrap();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[1], Err(Ref::Participant));
        assert_eq!(parts[3], Err(Ref::Param("a".into())));
        assert_eq!(parts[4], Ok(".dcm".to_string()));
        assert_eq!(parse_refs("${bids.dir}/anat").unwrap()[0], Err(Ref::BidsDir));
        assert_eq!(
            parse_refs("${steps.a.outputs.b}").unwrap(),
            vec![Err(Ref::Output { step: "a".into(), output: "b".into() })]
        );
        assert!(parse_refs("${nope}").unwrap_err().contains("not a reference"));
        assert!(parse_refs("${participant").unwrap_err().contains("closing"));
    }

    #[test]
    fn list_shapes() {
        assert!(gives_list(&Fan::Group, &Fan::Participants));
        assert!(!gives_list(&Fan::Participants, &Fan::Participants));
        assert!(!gives_list(&Fan::Participants, &Fan::Group));
        assert!(gives_list(&Fan::Participants, &Fan::Sessions));
        assert!(!gives_list(&Fan::Sessions, &Fan::Participants));
    }
}
