//! A pipeline run as a Workflow Run RO-Crate (RO-Crate 1.1; Process, Workflow and Provenance
//! Run Crate profiles 0.5): `ro-crate-metadata.json` and the files it describes.
//!
//! In the crate: the pipeline file (the `ComputationalWorkflow`, `mainEntity`), each step as a
//! `HowToStep` whose `workExample` is its tool's descriptor (`SoftwareApplication`, copied under
//! `tools/`), container images as `ContainerImage` with their digests, one `CreateAction` per
//! task run (instrument: the tool; object: inputs; result: outputs; `containerImage`; times;
//! status), a `ControlAction` per task linking step and run, one `OrganizeAction` for berth
//! (the engine) whose result is the pipeline run's `CreateAction`, the published outputs
//! (copied under `outputs/`) and every run's logs (copied under `logs/`), all with `sha256`
//! and `contentSize`. Inputs and intermediate files stay where they are and are referenced by
//! absolute `file://` URIs with their hashes: datasets are large, and the crate records which
//! bytes were used without duplicating them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_store::{FileKind, FileRecord, FileRole, PipelineRunRecord, RunRecord, RunStatus, TaskStatus};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{ReportError, io, write_atomic};

const PROCESS: &str = "https://w3id.org/ro/wfrun/process/0.5";
const WORKFLOW: &str = "https://w3id.org/ro/wfrun/workflow/0.5";
const PROVENANCE: &str = "https://w3id.org/ro/wfrun/provenance/0.5";
const WF_ROCRATE: &str = "https://w3id.org/workflowhub/workflow-ro-crate/1.0";

/// How a crate is exported.
pub struct ExportOptions<'a> {
    /// The SHA-256 (hex) of a file, or of a directory's manifest, as berth records it
    /// (`Store::hash_path`); `Err` says why it cannot be read.
    pub hash: &'a dyn Fn(&Path) -> Result<String, String>,
    /// Leave changed files out of the crate, each marked with its recorded and current hash,
    /// instead of refusing the export.
    pub allow_changed: bool,
}

/// A file the pipeline run recorded that is no longer what it read or produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    /// The file.
    pub path: PathBuf,
    /// Its hash when the run recorded it, if the run recorded one.
    pub recorded: Option<String>,
    /// Its hash now; `None` when it is gone or cannot be read.
    pub now: Option<String>,
    /// What it is to the run and what happened to it.
    pub reason: String,
}

/// The changed files, one per line (the first 20).
pub(crate) fn list_changed(changed: &[Changed]) -> String {
    let mut lines: Vec<String> =
        changed.iter().take(20).map(|c| format!("  {}: {}", c.path.display(), c.reason)).collect();
    if changed.len() > 20 {
        lines.push(format!("  … and {} more", changed.len() - 20));
    }
    lines.join("\n")
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct CrateSummary {
    /// The crate's directory.
    pub dir: PathBuf,
    /// Entities in `@graph`.
    pub entities: usize,
    /// Files copied into the crate.
    pub files_copied: usize,
    /// Files referenced by `file://` URI.
    pub files_referenced: usize,
    /// Files left out because they changed since the run (with `allow_changed`).
    pub changed: Vec<Changed>,
}

fn file_uri(path: &str) -> String {
    let mut out = String::from("file://");
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn status_iri(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Succeeded => "http://schema.org/CompletedActionStatus",
        RunStatus::Failed | RunStatus::Cancelled => "http://schema.org/FailedActionStatus",
        RunStatus::Running => "http://schema.org/ActiveActionStatus",
        RunStatus::Queued => "http://schema.org/PotentialActionStatus",
    }
}

struct Builder {
    dir: PathBuf,
    graph: BTreeMap<String, Value>,
    has_part: Vec<String>,
    copied: usize,
    referenced: usize,
    /// Changed files by path: marked, never copied.
    changed: BTreeMap<PathBuf, Changed>,
}

impl Builder {
    fn add(&mut self, id: &str, v: Value) {
        self.graph.entry(id.to_owned()).or_insert(v);
    }

    /// Copies `content` into the crate at `rel` and describes it.
    fn copy_bytes(&mut self, rel: &str, content: &[u8], mut entity: Value) -> Result<String, ReportError> {
        let dest = self.dir.join(rel);
        write_atomic(&dest, content)?;
        entity["@id"] = json!(rel);
        entity["sha256"] = json!(hex::encode(Sha256::digest(content)));
        entity["contentSize"] = json!(content.len().to_string());
        if !self.graph.contains_key(rel) {
            self.copied += 1;
            self.has_part.push(rel.to_owned());
        }
        self.add(rel, entity);
        Ok(rel.to_owned())
    }

    /// A file referenced where it is, by `file://` URI, with its recorded hash.
    fn reference(&mut self, f: &FileRecord) -> Vec<String> {
        let ids = self.reference_inner(f);
        for id in &ids {
            if !self.has_part.contains(id) {
                self.has_part.push(id.clone());
            }
        }
        ids
    }

    fn reference_inner(&mut self, f: &FileRecord) -> Vec<String> {
        let mut ids = Vec::new();
        match (&f.kind, &f.manifest) {
            (FileKind::Dir, Some(_)) => {
                let id = file_uri(&format!("{}/", f.path.trim_end_matches('/')));
                self.add(&id, json!({"@id": id, "@type": "Dataset", "name": f.key, "sha256": f.sha256}));
                ids.push(id);
            }
            (FileKind::Missing, _) => {}
            _ => {
                let id = file_uri(&f.path);
                if !self.graph.contains_key(&id) {
                    self.referenced += 1;
                }
                let mut entity = json!({"@id": id, "@type": "File", "name": Path::new(&f.path).file_name().map(|n| n.to_string_lossy().into_owned()),
                           "sha256": f.sha256, "contentSize": f.size.map(|s| s.to_string())});
                self.mark(&mut entity, Path::new(&f.path));
                self.add(&id, entity);
                ids.push(id);
            }
        }
        if let (FileKind::Dir, Some(_), Some(id)) = (&f.kind, &f.manifest, ids.first())
            && let Some(mut entity) = self.graph.remove(id)
        {
            self.mark(&mut entity, Path::new(&f.path));
            self.graph.insert(id.clone(), entity);
        }
        ids
    }

    /// Says in `entity` that its file changed since the run, when it did.
    fn mark(&self, entity: &mut Value, path: &Path) {
        if let Some(c) = self.changed.get(path) {
            entity["description"] = json!(format!(
                "changed since the run ({}): recorded sha256 {}, now {}",
                c.reason,
                c.recorded.as_deref().unwrap_or("none"),
                c.now.as_deref().unwrap_or("unreadable or gone")
            ));
        }
    }
}

fn refs(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|i| json!({"@id": i})).collect())
}

/// Copies the published outputs (everything under the output directory except berth's own
/// working and report directories) into `outputs/`. A tool's outputs may hold symbolic links
/// (published as links, see berth-pipeline's `publish`): they are never followed here, neither
/// into directories nor to files, and not copied; files are opened with `O_NOFOLLOW`.
fn published(b: &mut Builder, root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), ReportError> {
    walk_published(root, dir, &mut |rel, path, name, bytes| {
        if let Some(c) = b.changed.get(path) {
            let id = format!("outputs/{rel}");
            b.add(
                &id,
                json!({"@id": id, "@type": "File", "name": name, "sha256": c.recorded,
                "description": format!("left out of the crate: {}; its sha256 now is {}", c.reason,
                    c.now.as_deref().unwrap_or("unknown"))}),
            );
            return Ok(());
        }
        let id = b.copy_bytes(&format!("outputs/{rel}"), bytes, json!({"@type": "File", "name": name}))?;
        out.push(id);
        Ok(())
    })
}

type Visit<'v> = dyn FnMut(&str, &Path, &str, &[u8]) -> Result<(), ReportError> + 'v;

/// Calls `visit(rel, path, name, bytes)` for each regular file published under `dir`, in name
/// order, without following any link.
fn walk_published(root: &Path, dir: &Path, visit: &mut Visit<'_>) -> Result<(), ReportError> {
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if dir == root && (name.starts_with('.') || name == "reports") {
            continue;
        }
        let path = e.path();
        // The entry's own type (lstat): a link is neither a directory nor a file here.
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            walk_published(root, &path, visit)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).map(|r| r.to_string_lossy().into_owned()).unwrap_or(name.clone());
            let mut bytes = Vec::new();
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc_nofollow())
                .open(&path)
                .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut bytes))
                .map_err(io(&path))?;
            visit(&rel, &path, &name, &bytes)?;
        }
    }
    Ok(())
}

/// Every file the pipeline run recorded that is not what it was: each run's inputs and outputs
/// (hashed again with `hash`), and each file published in the output directory, which must be
/// exactly what one of the run's tasks produced (a later run writing into the same directory
/// replaces published files; the crate must not present those as this run's results).
pub fn check_files(
    p: &PipelineRunRecord,
    runs: &BTreeMap<String, RunRecord>,
    hash: &dyn Fn(&Path) -> Result<String, String>,
) -> Result<Vec<Changed>, ReportError> {
    let mut changed = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    // What each task's final run produced, where it is published: OUTPUT/<task key>/<rel>.
    let mut expected: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
    let out_root = Path::new(&p.new.output_dir);
    for t in &p.tasks {
        let mut attempts: Vec<String> = t.runs.iter().map(|(_, r)| r.clone()).collect();
        attempts.extend(t.run_id.clone());
        for run_id in &attempts {
            let Some(r) = runs.get(run_id) else { continue };
            for f in r.files.iter().filter(|f| f.role != FileRole::Config && f.kind != FileKind::Missing) {
                let path = PathBuf::from(&f.path);
                if !seen.insert(path.clone()) {
                    continue;
                }
                let role = if f.role == FileRole::Input { "input" } else { "output" };
                let now = hash(&path);
                if now.as_ref().ok() != f.sha256.as_ref() {
                    let reason = match &now {
                        Ok(_) => format!("the {role} \"{}\" of run {run_id} has other contents now", f.key),
                        Err(why) => format!("the {role} \"{}\" of run {run_id} cannot be read: {why}", f.key),
                    };
                    changed.push(Changed { path, recorded: f.sha256.clone(), now: now.ok(), reason });
                }
            }
        }
        let final_run = t.run_id.as_ref().and_then(|r| runs.get(r));
        let Some(r) = final_run.filter(|_| matches!(t.status, TaskStatus::Succeeded | TaskStatus::Cached)) else {
            continue;
        };
        let base = Path::new(&r.new.output_dir);
        let dest = out_root.join(&t.key);
        for f in r.files.iter().filter(|f| f.role == FileRole::Output) {
            let Ok(rel) = Path::new(&f.path).strip_prefix(base) else { continue };
            match (&f.kind, &f.manifest) {
                (FileKind::Dir, Some(entries)) => {
                    for e in entries {
                        if let Some(sha) = &e.sha256 {
                            expected.insert(dest.join(rel).join(&e.path), (sha.clone(), r.id.as_str().to_owned()));
                        }
                    }
                }
                (FileKind::Missing, _) => {}
                _ => {
                    if let Some(sha) = &f.sha256 {
                        expected.insert(dest.join(rel), (sha.clone(), r.id.as_str().to_owned()));
                    }
                }
            }
        }
    }
    walk_published(out_root, out_root, &mut |_, path, _, bytes| {
        let now = hex::encode(Sha256::digest(bytes));
        // berth's own description of a step's derivatives dataset (berth-pipeline's
        // `describe_derivatives`), unless a task produced that file itself.
        let berths = path.file_name().is_some_and(|n| n == "dataset_description.json")
            && path.parent().and_then(Path::parent) == Some(out_root);
        match expected.get(path) {
            None if berths => {}
            Some((sha, _)) if *sha == now => {}
            Some((sha, run)) => changed.push(Changed {
                path: path.to_owned(),
                recorded: Some(sha.clone()),
                now: Some(now),
                reason: format!("published output of run {run}, replaced since (by a later run?)"),
            }),
            None => changed.push(Changed {
                path: path.to_owned(),
                recorded: None,
                now: Some(now),
                reason: "in the output directory, but no task of this pipeline run produced it".into(),
            }),
        }
        Ok(())
    })?;
    Ok(changed)
}

/// `O_NOFOLLOW` for this target.
fn libc_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Writes the crate of pipeline run `p` into `dest` (created; must be empty or missing).
pub fn write_ro_crate(
    p: &PipelineRunRecord,
    runs: &BTreeMap<String, RunRecord>,
    berth_version: &str,
    dest: &Path,
    opts: &ExportOptions<'_>,
) -> Result<CrateSummary, ReportError> {
    if dest.exists() && std::fs::read_dir(dest).map_err(io(dest))?.next().is_some() {
        return Err(ReportError::NotEmpty { path: dest.to_owned() });
    }
    // Every hash is checked before anything is written: a refused export leaves nothing.
    let changed = check_files(p, runs, opts.hash)?;
    if !changed.is_empty() && !opts.allow_changed {
        return Err(ReportError::Changed { changed });
    }
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let mut b = Builder {
        dir: dest.to_owned(),
        graph: BTreeMap::new(),
        has_part: Vec::new(),
        copied: 0,
        referenced: 0,
        changed: changed.iter().map(|c| (c.path.clone(), c.clone())).collect(),
    };

    for (id, name) in [
        (PROCESS, "Process Run Crate"),
        (WORKFLOW, "Workflow Run Crate"),
        (PROVENANCE, "Provenance Run Crate"),
        (WF_ROCRATE, "Workflow RO-Crate"),
    ] {
        let version = if id == WF_ROCRATE { "1.0" } else { "0.5" };
        b.add(id, json!({"@id": id, "@type": "CreativeWork", "name": name, "version": version}));
    }
    b.add(
        "#berth",
        json!({"@id": "#berth", "@type": "SoftwareApplication", "name": "berth", "version": berth_version,
        "description": "runs Boutiques- and XNAT-described tools in containers; ran this pipeline"}),
    );
    b.add(
        "#berth-pipeline-language",
        json!({"@id": "#berth-pipeline-language", "@type": "ComputerLanguage",
        "name": "berth pipeline", "alternateName": "berth-pipeline", "version": "1",
        "url": {"@id": "https://berth.invalid/docs/pipelines.md"}}),
    );

    // The workflow and its steps.
    let mut steps: Vec<String> = Vec::new();
    for t in &p.tasks {
        if !steps.contains(&t.step) {
            steps.push(t.step.clone());
        }
    }
    let step_ids: Vec<String> = steps.iter().map(|s| format!("#step-{s}")).collect();
    let wf = b.copy_bytes(
        "pipeline.yaml",
        p.new.file_text.as_bytes(),
        json!({"@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"], "name": p.new.name,
               "programmingLanguage": {"@id": "#berth-pipeline-language"}, "step": refs(&step_ids),
               "encodingFormat": "application/yaml", "description": format!("the pipeline file, {}", p.new.file_path)}),
    )?;

    // Each task's runs (every attempt), their tools and images.
    let mut control = Vec::new();
    let mut step_tool: BTreeMap<String, String> = BTreeMap::new();
    let mut all_inputs: Vec<String> = Vec::new();
    for t in &p.tasks {
        let mut attempts: Vec<String> = t.runs.iter().map(|(_, r)| r.clone()).collect();
        if attempts.is_empty()
            && let Some(r) = &t.run_id
        {
            attempts.push(r.clone()); // a cached task: the run it reused
        }
        for run_id in attempts {
            let Some(r) = runs.get(&run_id) else { continue };
            let tool_rel = format!(
                "tools/{}-{}-{}.json",
                r.new.tool_name,
                r.new.tool_version,
                &r.new.descriptor_sha256[..12.min(r.new.descriptor_sha256.len())]
            );
            let tool = b.copy_bytes(
                &tool_rel,
                r.new.descriptor_json.as_bytes(),
                json!({"@type": ["File", "SoftwareApplication"], "name": r.new.tool_name, "softwareVersion": r.new.tool_version,
                       "encodingFormat": "application/json", "description": "Boutiques descriptor"}),
            )?;
            step_tool.insert(t.step.clone(), tool.clone());
            let image_id = r.update.image_id.clone().unwrap_or_default();
            let image = format!("#image-{}", image_id.trim_start_matches("sha256:"));
            let (name, tag) = match r.new.image_ref.as_deref().unwrap_or("").rsplit_once(':') {
                Some((n, t)) if !t.contains('/') => (n.to_string(), t.to_string()),
                _ => (r.new.image_ref.clone().unwrap_or_default(), String::new()),
            };
            b.add(
                &image,
                json!({"@id": image, "@type": "ContainerImage",
                "additionalType": {"@id": "https://w3id.org/ro/terms/workflow-run#DockerImage"},
                "name": name, "tag": tag, "sha256": image_id.trim_start_matches("sha256:"),
                "identifier": r.update.image_digest}),
            );
            let mut inputs = Vec::new();
            let mut outputs = Vec::new();
            for f in &r.files {
                match f.role {
                    FileRole::Input => inputs.extend(b.reference(f)),
                    FileRole::Output => outputs.extend(b.reference(f)),
                    FileRole::Config => {}
                }
            }
            all_inputs.extend(inputs.iter().cloned());
            let mut logs = Vec::new();
            for (stream, path) in [("stdout", &r.stdout_path), ("stderr", &r.stderr_path)] {
                if let Ok(bytes) = std::fs::read(path) {
                    logs.push(b.copy_bytes(
                        &format!("logs/{run_id}/{stream}.txt"),
                        &bytes,
                        json!({"@type": "File", "name": format!("{stream} of run {run_id}"), "encodingFormat": "text/plain"}),
                    )?);
                }
            }
            let action = format!("#run-{run_id}");
            let mut a = json!({"@id": action, "@type": "CreateAction",
                "name": format!("{} ({})", t.key, r.new.tool_name),
                "instrument": {"@id": tool}, "containerImage": {"@id": image},
                "object": refs(&inputs), "result": refs(&outputs), "subjectOf": refs(&logs),
                "actionStatus": {"@id": status_iri(r.status)},
                "agent": {"@id": "#berth"},
                "description": r.new.command_line});
            if let Some(s) = &r.update.started_at {
                a["startTime"] = json!(s);
            }
            if let Some(e) = &r.update.finished_at {
                a["endTime"] = json!(e);
            }
            if r.status != RunStatus::Succeeded {
                a["error"] = json!(r.status_message.clone().or(r.update.error.clone()).unwrap_or_default());
            }
            b.add(&action, a);
            let ctl = format!("#control-{}-{run_id}", t.key.replace('/', "-"));
            b.add(&ctl, json!({"@id": ctl, "@type": "ControlAction", "name": format!("orchestrate {}", t.key),
                "instrument": {"@id": format!("#step-{}", t.step)}, "object": {"@id": action},
                "actionStatus": {"@id": if t.status == TaskStatus::Cached { "http://schema.org/CompletedActionStatus" } else { status_iri(r.status) }},
                "description": if t.status == TaskStatus::Cached { format!("reused from the step cache (run {run_id})") } else { String::new() }}));
            control.push(ctl);
        }
    }
    // The workflow names the tools it orchestrates (Provenance Run Crate 1.1).
    let mut tools: Vec<String> = step_tool.values().cloned().collect();
    tools.sort();
    tools.dedup();
    if let Some(w) = b.graph.get_mut(&wf) {
        w["hasPart"] = refs(&tools);
    }
    for (i, s) in steps.iter().enumerate() {
        let id = format!("#step-{s}");
        let mut v = json!({"@id": id, "@type": "HowToStep", "name": s, "position": i.to_string()});
        if let Some(tool) = step_tool.get(s) {
            v["workExample"] = json!({"@id": tool});
        }
        b.add(&id, v);
    }

    // The pipeline run: its outputs are the published files.
    let mut results = Vec::new();
    published(&mut b, Path::new(&p.new.output_dir), Path::new(&p.new.output_dir), &mut results)?;
    all_inputs.sort();
    all_inputs.dedup();
    let run = format!("#pipeline-run-{}", p.id);
    let mut wf_action = json!({"@id": run, "@type": "CreateAction", "name": format!("run of pipeline {}", p.new.name),
        "instrument": {"@id": wf}, "object": refs(&all_inputs), "result": refs(&results),
        "actionStatus": {"@id": status_iri(p.status)}, "agent": {"@id": "#berth"},
        "description": format!("berth pipeline run {}; parameters {}", p.id, p.new.params_json)});
    if let Some(s) = &p.started_at {
        wf_action["startTime"] = json!(s);
    }
    if let Some(e) = &p.finished_at {
        wf_action["endTime"] = json!(e);
    }
    if let Some(m) = &p.status_message {
        wf_action["error"] = json!(m);
    }
    b.add(&run, wf_action);
    let org = format!("#organize-{}", p.id);
    b.add(
        &org,
        json!({"@id": org, "@type": "OrganizeAction", "name": "berth ran the pipeline",
        "instrument": {"@id": "#berth"}, "object": refs(&control), "result": {"@id": run},
        "startTime": p.started_at, "endTime": p.finished_at}),
    );

    let mut has_part = b.has_part.clone();
    has_part.sort();
    let root = json!({"@id": "./", "@type": "Dataset", "name": format!("berth pipeline run {} ({})", p.id, p.new.name),
        "description": format!("Provenance of the pipeline {} as run by berth: the pipeline file, each step's tool and container image, every task run with its inputs, outputs and logs, and the published outputs.", p.new.name),
        "datePublished": p.finished_at.clone().unwrap_or_else(|| p.created_at.clone()),
        "license": {"@id": "https://spdx.org/licenses/CC-BY-4.0"},
        "conformsTo": [{"@id": PROCESS}, {"@id": WORKFLOW}, {"@id": PROVENANCE}, {"@id": WF_ROCRATE}],
        "mainEntity": {"@id": wf}, "hasPart": refs(&has_part), "mentions": [{"@id": run}]});
    b.add("https://spdx.org/licenses/CC-BY-4.0", json!({"@id": "https://spdx.org/licenses/CC-BY-4.0", "@type": "CreativeWork", "name": "Creative Commons Attribution 4.0"}));
    let meta = json!({"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"},
        "conformsTo": [{"@id": "https://w3id.org/ro/crate/1.1"}, {"@id": WF_ROCRATE}]});
    let mut graph = vec![meta, root];
    graph.extend(b.graph.into_values());
    // The RO-Crate 1.1 context, and the Workflow Run terms it lacks (as the WRROC profiles do).
    let wfrun = "https://w3id.org/ro/terms/workflow-run#";
    let context = json!([
        "https://w3id.org/ro/crate/1.1/context",
        {
            "ContainerImage": format!("{wfrun}ContainerImage"),
            "containerImage": format!("{wfrun}containerImage"),
            "DockerImage": format!("{wfrun}DockerImage"),
            "tag": format!("{wfrun}tag"),
            "registry": format!("{wfrun}registry"),
        }
    ]);
    let doc = json!({"@context": context, "@graph": graph});
    let entities = graph_len(&doc);
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    write_atomic(&dest.join("ro-crate-metadata.json"), text.as_bytes())?;
    Ok(CrateSummary { dir: dest.to_owned(), entities, files_copied: b.copied, files_referenced: b.referenced, changed })
}

fn graph_len(doc: &Value) -> usize {
    doc["@graph"].as_array().map_or(0, Vec::len)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn finding_03_the_crate_copies_published_files_but_follows_no_link_a_tool_left() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        let victim = t.path().join("victim");
        std::fs::create_dir_all(out.join("step/sub-01")).unwrap();
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(victim.join("secret"), b"other project").unwrap();
        std::fs::write(out.join("step/sub-01/result.txt"), b"mine").unwrap();
        symlink(&victim, out.join("step/sub-01/other-project")).unwrap();
        symlink(victim.join("secret"), out.join("step/sub-01/direct")).unwrap();
        let dest = t.path().join("crate");
        let mut b = Builder {
            dir: dest.clone(),
            graph: BTreeMap::new(),
            has_part: Vec::new(),
            copied: 0,
            referenced: 0,
            changed: BTreeMap::new(),
        };
        let mut ids = Vec::new();
        published(&mut b, &out, &out, &mut ids).unwrap();
        assert_eq!(ids, vec!["outputs/step/sub-01/result.txt".to_string()]);
        assert!(!dest.join("outputs/step/sub-01/other-project").exists());
        assert!(!dest.join("outputs/step/sub-01/direct").exists());
    }
}
