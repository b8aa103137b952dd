//! Automation rules (`[[dicom.rules]]`): when a series (or study) received for a project is
//! complete — no new instance for the rule's quiet time, or its instance count reached — and
//! passes the rule's filters, launch a tool (or start a pipeline) on its directory, once.
//!
//! The engine only reads arrivals from the store, so it sees what every node writing to that
//! store received (`berth dicom listen` beside `berth serve` too). It decides; the launch
//! itself is checked and prepared by a [`Launcher`] — in `berth serve`, the same function an
//! API launch goes through (membership, enabled tools, data roots, policy) — and the trigger
//! is recorded in the same store transaction as the queued launch (schema 13,
//! `dicom_triggers`), so that a restart never launches twice and a launch is never lost. A
//! pipeline is started by the launcher, not queued: its trigger is recorded first (the claim)
//! and the pipeline run's id set on it after (schema 14), so it is started at most once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use berth_config::DicomRuleConfig;
use berth_store::audit::{NewAuditEntry, Outcome, action};
use berth_store::{DicomArrivedSeries, NewDicomTrigger, NewLaunch, Store};

use crate::DicomError;
use crate::scu::{Destination, SendOptions, collect_files, is_part10, send_recorded};
use crate::uid::check_uid;

/// The quiet time when a rule gives none.
pub const DEFAULT_QUIET: Duration = Duration::from_secs(30);

/// What a rule waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// Each series, on its own.
    Series,
    /// Each study, all its series together.
    Study,
}

impl On {
    /// As the store records it.
    pub fn scope(self) -> &'static str {
        match self {
            On::Series => "series",
            On::Study => "study",
        }
    }

    /// As the configuration spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            On::Series => "series-complete",
            On::Study => "study-complete",
        }
    }
}

/// What a rule launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A registered tool, queued as an API launch is.
    Tool {
        /// The tool's name.
        name: String,
        /// Its version.
        version: Option<String>,
    },
    /// A pipeline file, started as `POST /api/v1/pipelines` starts it.
    Pipeline {
        /// The file, as the configuration gives it (in `[serve] pipeline_dirs`).
        file: String,
    },
}

impl Action {
    /// What the audit trail and the logs call it: `tool NAME` or `pipeline FILE`.
    pub fn describe(&self) -> String {
        match self {
            Action::Tool { name, .. } => format!("tool {name}"),
            Action::Pipeline { file } => format!("pipeline {file}"),
        }
    }
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its name, which its triggers are recorded under.
    pub name: String,
    /// The project watched.
    pub project: String,
    /// Series or study.
    pub on: On,
    /// No new instance for this long completes a series (study).
    pub quiet: Duration,
    /// Or this many instances.
    pub count: Option<u64>,
    /// Modalities accepted (empty: any).
    pub modality: Vec<String>,
    /// The Series Description glob.
    pub series_description: Option<glob::Pattern>,
    /// Calling AE titles accepted (empty: any).
    pub calling_ae: Vec<String>,
    /// What it launches.
    pub action: Action,
    /// The input (a pipeline's parameter) bound to the directory.
    pub input: String,
    /// The other inputs.
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// Who launches.
    pub as_user: String,
    /// Where a successful run's DICOM outputs are sent.
    pub send_to: Option<Destination>,
}

/// An error naming the rule: its place in the file, and its name when it has one.
fn setting(i: usize, c: &DicomRuleConfig, key: &str, value: impl ToString, reason: impl Into<String>) -> DicomError {
    let named = c.name.as_deref().map(|n| format!(" (\"{n}\")")).unwrap_or_default();
    DicomError::Setting {
        key: format!("[[dicom.rules]] #{}{named} {key}", i + 1),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn json_of(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => s.clone().into(),
        toml::Value::Integer(n) => (*n).into(),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => a.iter().map(json_of).collect::<Vec<_>>().into(),
        toml::Value::Table(t) => {
            t.iter().map(|(k, v)| (k.clone(), json_of(v))).collect::<serde_json::Map<_, _>>().into()
        }
    }
}

impl Rule {
    /// Checks the `[[dicom.rules]]` tables; every value is checked here, so that the engine
    /// never starts with a rule it cannot apply. Names must be unique.
    pub fn resolve_all(configs: &[DicomRuleConfig]) -> Result<Vec<Rule>, DicomError> {
        let mut rules: Vec<Rule> = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let on = match c.on.as_deref() {
                None | Some("series-complete") => On::Series,
                Some("study-complete") => On::Study,
                Some(other) => return Err(setting(i, c, "on", other, "is not `series-complete` or `study-complete`")),
            };
            let quiet = match &c.quiet {
                None => DEFAULT_QUIET,
                Some(q) => berth_config::parse_duration(q)
                    .map_err(|_| setting(i, c, "quiet", q, "is not a duration (`30s`, `2m`)"))?,
            };
            let series_description = c
                .series_description
                .as_deref()
                .map(|g| {
                    glob::Pattern::new(g)
                        .map_err(|e| setting(i, c, "series_description", g, format!("is not a glob ({e})")))
                })
                .transpose()?;
            for (key, v) in [("project", &c.project), ("input", &c.input), ("as_user", &c.as_user)] {
                if v.trim().is_empty() {
                    return Err(setting(i, c, key, v, "is empty"));
                }
            }
            let action = match (&c.tool, &c.pipeline) {
                (Some(t), None) if t.trim().is_empty() => return Err(setting(i, c, "tool", t, "is empty")),
                (Some(t), None) => Action::Tool { name: t.clone(), version: c.version.clone() },
                (None, Some(p)) if p.trim().is_empty() => return Err(setting(i, c, "pipeline", p, "is empty")),
                (None, Some(p)) if c.version.is_some() => {
                    return Err(setting(
                        i,
                        c,
                        "version",
                        c.version.as_deref().unwrap_or_default(),
                        "is a tool's version; this rule starts a pipeline",
                    ));
                }
                (None, Some(p)) => Action::Pipeline { file: p.clone() },
                (Some(t), Some(p)) => {
                    return Err(setting(
                        i,
                        c,
                        "pipeline",
                        p,
                        format!("and `tool = \"{t}\"` are both given; a rule launches one of them"),
                    ));
                }
                (None, None) => {
                    return Err(setting(i, c, "tool", "", "is missing: a rule names a `tool` or a `pipeline`"));
                }
            };
            let name = c.name.clone().unwrap_or_else(|| {
                let what = match &action {
                    Action::Tool { name, .. } => name.clone(),
                    Action::Pipeline { file } => {
                        Path::new(file).file_stem().map_or_else(|| file.clone(), |s| s.to_string_lossy().into_owned())
                    }
                };
                format!("{what}@{}", on.as_str())
            });
            // A pipeline's outputs go to a directory named after the rule.
            if matches!(action, Action::Pipeline { .. }) && berth_hostpath::component(&name).is_err() {
                return Err(setting(
                    i,
                    c,
                    "name",
                    &name,
                    "cannot name a directory (a rule starting a pipeline publishes under its name)",
                ));
            }
            if rules.iter().any(|r| r.name == name && r.project == c.project) {
                return Err(setting(
                    i,
                    c,
                    "name",
                    &name,
                    "is the name of another rule of this project; give each a `name`",
                ));
            }
            let inputs: serde_json::Map<String, serde_json::Value> =
                c.inputs.iter().map(|(k, v)| (k.clone(), json_of(v))).collect();
            if inputs.contains_key(&c.input) {
                return Err(setting(i, c, "inputs", &c.input, "is the input bound to the directory (`input`)"));
            }
            let send_to = c
                .send_to
                .as_deref()
                .map(|d| {
                    Destination::parse(d)
                        .map_err(|e| setting(i, c, "send_to", d, format!("is not `AE@host:port` ({e})")))
                })
                .transpose()?;
            rules.push(Rule {
                name,
                project: c.project.clone(),
                on,
                quiet,
                count: c.count.filter(|n| *n > 0),
                modality: c.modality.iter().map(|m| m.trim().to_ascii_uppercase()).collect(),
                series_description,
                calling_ae: c.calling_ae.iter().map(|t| t.trim().to_owned()).collect(),
                action,
                input: c.input.clone(),
                inputs,
                as_user: c.as_user.clone(),
                send_to,
            });
        }
        Ok(rules)
    }

    /// Whether a series passes the filters.
    pub fn accepts(&self, s: &DicomArrivedSeries) -> bool {
        let modality_ok = self.modality.is_empty()
            || s.modality.as_deref().is_some_and(|m| self.modality.iter().any(|x| x.eq_ignore_ascii_case(m.trim())));
        let description_ok = self
            .series_description
            .as_ref()
            .is_none_or(|g| s.description.as_deref().is_some_and(|d| g.matches(d.trim())));
        let ae_ok = self.calling_ae.is_empty() || self.calling_ae.iter().any(|t| t == s.calling_ae.trim());
        modality_ok && description_ok && ae_ok
    }

    /// Whether a target is complete at `now`: its instance count reached, or no instance for
    /// the quiet time. A last arrival in the future (a clock set back) is not quiet.
    pub fn is_complete(&self, t: &Target, now: SystemTime) -> bool {
        if self.count.is_some_and(|n| t.instances >= n) {
            return true;
        }
        now.duration_since(t.last_at).is_ok_and(|quiet| quiet >= self.quiet)
    }

    /// The series (or studies) of `series` this rule applies to: a series passing the filters;
    /// a study with at least one series passing them (its figures are the whole study's).
    /// Rows whose UIDs are not UIDs (never written by the node) are left out.
    pub fn targets(&self, series: &[DicomArrivedSeries]) -> Vec<Target> {
        let mut out: BTreeMap<String, Target> = BTreeMap::new();
        for s in series.iter().filter(|s| self.accepts(s)) {
            let (Ok(study), Ok(uid)) = (check_uid(&s.study_uid), check_uid(&s.series_uid)) else { continue };
            let last_at = match self.on {
                On::Series => &s.last_at,
                On::Study => &s.study_last_at,
            };
            // A time the store did not write is never quiet: such a row is left out.
            let Some(last_at) = berth_store::time::parse(last_at) else { continue };
            let root = Path::new(&s.data_root);
            let (key, t) = match self.on {
                On::Series => (
                    uid.to_owned(),
                    Target {
                        uid: uid.to_owned(),
                        study_uid: study.to_owned(),
                        directory: root.join(study).join(uid),
                        instances: s.instances,
                        last_at,
                    },
                ),
                On::Study => (
                    study.to_owned(),
                    Target {
                        uid: study.to_owned(),
                        study_uid: study.to_owned(),
                        directory: root.join(study),
                        instances: s.study_instances,
                        last_at,
                    },
                ),
            };
            out.entry(key).or_insert(t);
        }
        out.into_values().collect()
    }
}

/// A series or study a rule may launch on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Series (or Study) Instance UID.
    pub uid: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// `<data root>/<study>/<series>` (or `<data root>/<study>`).
    pub directory: PathBuf,
    /// Its instances.
    pub instances: u64,
    /// When its last instance arrived.
    pub last_at: SystemTime,
}

/// The time, behind a trait so that tests drive it.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Why a launch was refused, as the launch path said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What was wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

/// Checks and prepares launches: in `berth serve`, the path every API launch takes, and the
/// one every API pipeline start takes.
pub trait Launcher: Send + Sync {
    /// Checks the launch of `rule`'s tool with its input bound to `directory`, made as
    /// `rule.as_user`, and returns it ready to queue.
    fn prepare(&self, rule: &Rule, directory: &Path) -> Result<NewLaunch, Refused>;
    /// The launch was queued (wake the workers).
    fn queued(&self, launch: &NewLaunch);
    /// Starts `rule`'s pipeline with its input parameter bound to `target`'s directory, as
    /// `rule.as_user`; returns the pipeline run's id once it is recorded.
    fn start_pipeline(&self, rule: &Rule, target: &Target) -> Result<String, Refused>;
    /// How `rule`'s launch (or pipeline run) `id` ended: `None` while it has not.
    fn ended(&self, rule: &Rule, id: &str) -> Option<Ended>;
}

/// How a launch ended, for sending its results back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// Whether its run succeeded.
    pub succeeded: bool,
    /// Its run's id (a pipeline run's id for a pipeline).
    pub run_id: Option<String>,
    /// The directories holding its outputs (searched recursively).
    pub outputs: Vec<PathBuf>,
}

/// What one tick did for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The rule.
    pub rule: String,
    /// The target.
    pub target: Target,
    /// The launch queued, or why none was.
    pub launch: Result<String, Refused>,
}

/// The rule engine: call [`Engine::tick`] periodically (`berth serve`: every second).
pub struct Engine<'a> {
    /// Where arrivals and triggers are.
    pub store: &'a Store,
    /// The rules.
    pub rules: &'a [Rule],
    /// The time.
    pub clock: &'a dyn Clock,
    /// The launch path.
    pub launcher: &'a dyn Launcher,
    /// How results are sent back (`send_to`): our AE title, attempts, delays.
    pub send: &'a SendOptions,
}

impl Engine<'_> {
    /// Launches on every target that is complete and not triggered yet, once. A refused
    /// launch is recorded with why (and audited) and not tried again.
    pub fn tick(&self) -> Result<Vec<Fired>, DicomError> {
        let mut fired = Vec::new();
        for rule in self.rules {
            let now = self.clock.now();
            let series = self.store.dicom_untriggered_series(&rule.project, &rule.name, rule.on.scope())?;
            for target in rule.targets(&series) {
                if !rule.is_complete(&target, now) {
                    continue;
                }
                if let Some(f) = self.fire(rule, target)? {
                    fired.push(f);
                }
            }
            if let Some(dest) = &rule.send_to {
                self.send_results(rule, dest)?;
            }
        }
        Ok(fired)
    }

    /// Sends the DICOM outputs of the rule's runs that succeeded to `dest` (each file
    /// recorded in `dicom_sends` with the run, retried as [`SendOptions`] says), once per
    /// trigger, and audits it. Runs that did not succeed send nothing.
    fn send_results(&self, rule: &Rule, dest: &Destination) -> Result<(), DicomError> {
        for t in self.store.dicom_triggers_awaiting_results(&rule.project, &rule.name)? {
            let Some(launch) = t.launch_id.as_deref().or(t.pipeline_run_id.as_deref()) else { continue };
            let Some(ended) = self.launcher.ended(rule, launch) else { continue };
            let set = |results: &str| {
                self.store.set_dicom_trigger_results(&rule.project, &rule.name, &t.scope, &t.uid, results)
            };
            if !ended.succeeded {
                set("not sent: the run did not succeed")?;
                continue;
            }
            let files: Vec<PathBuf> =
                collect_files(&ended.outputs).unwrap_or_default().into_iter().filter(|f| is_part10(f)).collect();
            if files.is_empty() {
                set("not sent: the run has no DICOM outputs")?;
                continue;
            }
            let sent = send_recorded(self.store, dest, &files, self.send, ended.run_id.as_deref())?;
            let stored = sent.iter().filter(|s| s.ok()).count();
            let results = format!("sent {stored} of {} file(s) to {dest}", sent.len());
            set(&results)?;
            let outcome = if stored == sent.len() { Outcome::Ok } else { Outcome::Failed };
            let entry =
                NewAuditEntry::new(&rule.as_user, format!("dicom-rule:{}", rule.name), action::DICOM_SEND, outcome)
                    .object(format!("dicom:{dest}"))
                    .detail(serde_json::json!({
                        "rule": rule.name, "launch": launch, "run": ended.run_id, "files": sent.len(), "stored": stored,
                    }));
            if let Err(e) = self.store.audit(&entry) {
                tracing::error!(error = %e, rule = %rule.name, "auditing a DICOM rule's results failed");
            }
            tracing::info!(rule = %rule.name, launch, %results, "DICOM rule's results sent");
        }
        Ok(())
    }

    fn fire(&self, rule: &Rule, target: Target) -> Result<Option<Fired>, DicomError> {
        let directory = target.directory.to_string_lossy().into_owned();
        let trigger = NewDicomTrigger {
            project: &rule.project,
            rule: &rule.name,
            scope: rule.on.scope(),
            uid: &target.uid,
            study_uid: &target.study_uid,
            directory: &directory,
            instances: target.instances,
            as_user: &rule.as_user,
            error: None,
        };
        let (launched, queued) = match &rule.action {
            Action::Tool { .. } => {
                let prepared = self.launcher.prepare(rule, &target.directory);
                let error = prepared.as_ref().err().map(|r| r.message.as_str());
                if !self.store.record_dicom_trigger(&NewDicomTrigger { error, ..trigger }, prepared.as_ref().ok())? {
                    return Ok(None);
                }
                match prepared {
                    Ok(l) => (Ok(l.id.clone()), Some(l)),
                    Err(r) => (Err(r), None),
                }
            }
            Action::Pipeline { .. } => {
                // The claim first: a pipeline started is recorded by its executor, not in this
                // transaction, so a crash between the two leaves a trigger without a run
                // rather than a series started twice.
                if !self.store.record_dicom_trigger(&trigger, None)? {
                    return Ok(None);
                }
                let started = self.launcher.start_pipeline(rule, &target);
                self.store.set_dicom_trigger_pipeline(
                    &rule.project,
                    &rule.name,
                    rule.on.scope(),
                    &target.uid,
                    started.as_deref().map_err(|r| r.message.as_str()),
                )?;
                (started, None)
            }
        };
        let outcome = if launched.is_ok() { Outcome::Ok } else { Outcome::Refused };
        let mut detail = serde_json::json!({
            "rule": rule.name, "scope": rule.on.scope(), "uid": target.uid, "directory": directory,
            "instances": target.instances,
        });
        let audit_action = match &rule.action {
            Action::Tool { name, .. } => {
                detail["tool"] = name.clone().into();
                action::LAUNCH
            }
            Action::Pipeline { file } => {
                detail["pipeline"] = file.clone().into();
                action::PIPELINE
            }
        };
        match (&launched, &rule.action) {
            (Ok(id), Action::Tool { .. }) => detail["launch"] = id.clone().into(),
            (Ok(id), Action::Pipeline { .. }) => detail["pipeline_run"] = id.clone().into(),
            (Err(r), _) => detail["error"] = r.message.clone().into(),
        }
        let entry = NewAuditEntry::new(&rule.as_user, format!("dicom-rule:{}", rule.name), audit_action, outcome)
            .object(format!("project:{}", rule.project))
            .detail(detail);
        if let Err(e) = self.store.audit(&entry) {
            tracing::error!(error = %e, rule = %rule.name, "auditing a DICOM rule's launch failed");
        }
        match &launched {
            Ok(id) => {
                tracing::info!(rule = %rule.name, uid = %target.uid, launched = %rule.action.describe(), id = %id, "DICOM rule launched");
            }
            Err(r) => {
                tracing::warn!(rule = %rule.name, uid = %target.uid, error = %r.message, "DICOM rule's launch refused")
            }
        }
        if let Some(l) = &queued {
            self.launcher.queued(l);
        }
        Ok(Some(Fired { rule: rule.name.clone(), target, launch: launched }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use berth_store::NewDicomInstance;

    use super::*;

    /// A clock the test sets.
    struct FakeClock(Mutex<SystemTime>);

    impl FakeClock {
        fn at(t: SystemTime) -> FakeClock {
            FakeClock(Mutex::new(t))
        }
        fn set(&self, t: SystemTime) {
            *self.0.lock().expect("clock") = t;
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> SystemTime {
            *self.0.lock().expect("clock")
        }
    }

    /// A launcher that accepts (or refuses) everything and keeps what it was asked.
    #[derive(Default)]
    struct Recording {
        refuse: bool,
        prepared: Mutex<Vec<(String, PathBuf)>>,
        queued: Mutex<Vec<String>>,
        pipelines: Mutex<Vec<(String, PathBuf)>>,
    }

    impl Launcher for Recording {
        fn prepare(&self, rule: &Rule, directory: &Path) -> Result<NewLaunch, Refused> {
            let mut p = self.prepared.lock().expect("prepared");
            p.push((rule.name.clone(), directory.to_owned()));
            if self.refuse {
                return Err(Refused { message: "tool `t` is not enabled".into(), hint: None });
            }
            Ok(NewLaunch {
                id: format!("launch-{}", p.len()),
                project_id: rule.project.clone(),
                user_name: rule.as_user.clone(),
                tool_name: rule.action.describe(),
                tool_version: "1".into(),
                invocation_json: "{}".into(),
                bulk_id: None,
            })
        }
        fn queued(&self, launch: &NewLaunch) {
            self.queued.lock().expect("queued").push(launch.id.clone());
        }
        fn start_pipeline(&self, rule: &Rule, target: &Target) -> Result<String, Refused> {
            let mut p = self.pipelines.lock().expect("pipelines");
            p.push((rule.name.clone(), target.directory.clone()));
            if self.refuse {
                return Err(Refused { message: "the rule's user is not an admin".into(), hint: None });
            }
            Ok(format!("pipeline-{}", p.len()))
        }
        fn ended(&self, _rule: &Rule, _id: &str) -> Option<Ended> {
            None
        }
    }

    fn rule(toml_text: &str) -> Rule {
        #[derive(serde::Deserialize)]
        struct Doc {
            rules: Vec<DicomRuleConfig>,
        }
        let doc: Doc = toml::from_str(toml_text).expect("rules");
        Rule::resolve_all(&doc.rules).expect("valid").remove(0)
    }

    const SERIES_RULE: &str = r#"[[rules]]
project = "p"
tool = "t"
input = "in"
as_user = "u"
quiet = "30s"
"#;

    fn receive(store: &Store, study: &str, series: &str, sop: &str, modality: &str) {
        store
            .record_dicom_instance(&NewDicomInstance {
                project: "p",
                sop_instance_uid: sop,
                sop_class_uid: "1.2.840.10008.5.1.4.1.1.4",
                study_uid: study,
                series_uid: series,
                transfer_syntax: "1.2.840.10008.1.2.1",
                path: &format!("{study}/{series}/{sop}.dcm"),
                data_root: "/data",
                size: 10,
                calling_ae: "SCANNER",
                peer: "127.0.0.1:1",
                association: None,
                modality: Some(modality),
                series_description: Some("T1 MPRAGE"),
                series_number: Some(1),
                patient_id: None,
                study_date: None,
            })
            .expect("record");
    }

    /// A store with project `p` and its member `u`.
    fn fresh() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        store.add_project("p", "P", &["/data".to_owned()]).expect("project");
        store.add_user("u", berth_store::Role::User).expect("user");
        (dir, store)
    }

    fn target(instances: u64, last_at: SystemTime) -> Target {
        Target { uid: "1.2".into(), study_uid: "1".into(), directory: "/d".into(), instances, last_at }
    }

    #[test]
    fn complete_after_the_quiet_time_or_the_count() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let r = rule(SERIES_RULE);
        assert!(!r.is_complete(&target(5, t0), t0 + Duration::from_secs(29)));
        assert!(r.is_complete(&target(5, t0), t0 + Duration::from_secs(30)));
        // A last arrival after "now" (the clock went back) is not quiet.
        assert!(!r.is_complete(&target(5, t0 + Duration::from_secs(60)), t0));
        let counted = rule(&format!("{SERIES_RULE}count = 3\n"));
        assert!(!counted.is_complete(&target(2, t0), t0));
        assert!(counted.is_complete(&target(3, t0), t0));
        assert_eq!(rule(&format!("{SERIES_RULE}count = 0\n")).count, None);
    }

    #[test]
    fn filters_modality_description_and_sender() {
        let s = DicomArrivedSeries {
            series_uid: "1.2".into(),
            study_uid: "1".into(),
            modality: Some("MR".into()),
            description: Some("T1 MPRAGE".into()),
            calling_ae: "SCANNER".into(),
            last_at: String::new(),
            instances: 1,
            study_last_at: String::new(),
            study_instances: 1,
            data_root: "/data".into(),
        };
        assert!(rule(SERIES_RULE).accepts(&s));
        assert!(rule(&format!("{SERIES_RULE}modality = [\"mr\", \"CT\"]\n")).accepts(&s));
        assert!(!rule(&format!("{SERIES_RULE}modality = [\"CT\"]\n")).accepts(&s));
        assert!(rule(&format!("{SERIES_RULE}series_description = \"T1*\"\n")).accepts(&s));
        assert!(!rule(&format!("{SERIES_RULE}series_description = \"T2*\"\n")).accepts(&s));
        assert!(!rule(&format!("{SERIES_RULE}calling_ae = [\"OTHER\"]\n")).accepts(&s));
        let no_modality = DicomArrivedSeries { modality: None, ..s };
        assert!(!rule(&format!("{SERIES_RULE}modality = [\"MR\"]\n")).accepts(&no_modality));
    }

    #[test]
    fn each_complete_series_launches_once_and_never_again() {
        let (dir, store) = fresh();
        receive(&store, "1.1", "1.1.1", "1.1.1.1", "MR");
        receive(&store, "1.1", "1.1.1", "1.1.1.2", "MR");
        receive(&store, "1.1", "1.1.2", "1.1.2.1", "MR");
        let rules = vec![rule(SERIES_RULE)];
        let now = SystemTime::now();
        let clock = FakeClock::at(now + Duration::from_secs(10));
        let launcher = Recording::default();
        let engine =
            Engine { store: &store, rules: &rules, clock: &clock, launcher: &launcher, send: &SendOptions::default() };
        assert!(engine.tick().expect("tick").is_empty(), "nothing is complete before the quiet time");
        clock.set(now + Duration::from_secs(31));
        let fired = engine.tick().expect("tick");
        let dirs: Vec<_> = fired.iter().map(|f| f.target.directory.clone()).collect();
        assert_eq!(dirs, [PathBuf::from("/data/1.1/1.1.1"), PathBuf::from("/data/1.1/1.1.2")]);
        assert_eq!(fired[0].target.instances, 2);
        assert_eq!(launcher.queued.lock().expect("q").len(), 2);
        assert!(engine.tick().expect("tick").is_empty(), "a second tick launches nothing");
        // A restart: a new engine over the same store launches nothing again.
        let store2 = Store::open(dir.path()).expect("store");
        let again =
            Engine { store: &store2, rules: &rules, clock: &clock, launcher: &launcher, send: &SendOptions::default() };
        assert!(again.tick().expect("tick").is_empty());
        let triggers = store.dicom_triggers("p").expect("triggers");
        assert_eq!(triggers.len(), 2);
        assert!(triggers.iter().all(|t| t.launch_id.is_some() && t.as_user == "u" && t.scope == "series"));
        // The launches are queued (in the same transaction as the triggers) and audited as the rule's user.
        let entries = store.audit_entries(&berth_store::AuditFilter::default()).expect("audit");
        assert_eq!(entries.iter().filter(|e| e.actor == "u" && e.action == action::LAUNCH).count(), 2);
    }

    #[test]
    fn a_series_still_arriving_waits() {
        let (_dir, store) = fresh();
        receive(&store, "1.1", "1.1.1", "1.1.1.1", "MR");
        let rules = vec![rule(SERIES_RULE)];
        let launcher = Recording::default();
        // 20 s after the first instance, another arrives; 31 s after the first, it is not quiet.
        let clock = FakeClock::at(SystemTime::now() + Duration::from_secs(20));
        let engine =
            Engine { store: &store, rules: &rules, clock: &clock, launcher: &launcher, send: &SendOptions::default() };
        assert!(engine.tick().expect("tick").is_empty());
        receive(&store, "1.1", "1.1.1", "1.1.1.2", "MR");
        clock.set(SystemTime::now() + Duration::from_secs(11));
        assert!(engine.tick().expect("tick").is_empty(), "the last arrival was 11 s ago");
        clock.set(SystemTime::now() + Duration::from_secs(31));
        assert_eq!(engine.tick().expect("tick").len(), 1);
    }

    #[test]
    fn a_study_rule_launches_once_per_study() {
        let (_dir, store) = fresh();
        receive(&store, "1.1", "1.1.1", "1.1.1.1", "MR");
        receive(&store, "1.1", "1.1.2", "1.1.2.1", "CT");
        let rules = vec![rule(&format!("{SERIES_RULE}on = \"study-complete\"\nmodality = [\"CT\"]\n"))];
        let launcher = Recording::default();
        let clock = FakeClock::at(SystemTime::now() + Duration::from_secs(31));
        let engine =
            Engine { store: &store, rules: &rules, clock: &clock, launcher: &launcher, send: &SendOptions::default() };
        let fired = engine.tick().expect("tick");
        assert_eq!(fired.len(), 1);
        assert_eq!((fired[0].target.directory.as_path(), fired[0].target.instances), (Path::new("/data/1.1"), 2));
        assert_eq!(rules[0].name, "t@study-complete");
        assert!(engine.tick().expect("tick").is_empty());
    }

    #[test]
    fn a_refused_launch_is_recorded_and_not_retried() {
        let (_dir, store) = fresh();
        receive(&store, "1.1", "1.1.1", "1.1.1.1", "MR");
        let rules = vec![rule(SERIES_RULE)];
        let launcher = Recording { refuse: true, ..Default::default() };
        let clock = FakeClock::at(SystemTime::now() + Duration::from_secs(31));
        let engine =
            Engine { store: &store, rules: &rules, clock: &clock, launcher: &launcher, send: &SendOptions::default() };
        let fired = engine.tick().expect("tick");
        assert!(matches!(&fired[..], [Fired { launch: Err(_), .. }]));
        assert!(engine.tick().expect("tick").is_empty());
        assert_eq!(launcher.prepared.lock().expect("p").len(), 1);
        let t = store.dicom_triggers("p").expect("triggers");
        assert_eq!((t[0].launch_id.as_deref(), t[0].error.as_deref()), (None, Some("tool `t` is not enabled")));
    }

    const PIPELINE_RULE: &str = r#"[[rules]]
project = "p"
pipeline = "pipes/series.yaml"
input = "series"
as_user = "u"
quiet = "30s"
"#;

    #[test]
    fn a_pipeline_rule_starts_once_per_series_and_records_the_run() {
        let (dir, store) = fresh();
        receive(&store, "1.1", "1.1.1", "1.1.1.1", "MR");
        receive(&store, "1.1", "1.1.2", "1.1.2.1", "MR");
        let rules = vec![rule(PIPELINE_RULE)];
        assert_eq!(rules[0].name, "series@series-complete");
        assert_eq!(rules[0].action, Action::Pipeline { file: "pipes/series.yaml".into() });
        let launcher = Recording::default();
        let clock = FakeClock::at(SystemTime::now() + Duration::from_secs(31));
        let engine =
            Engine { store: &store, rules: &rules, clock: &clock, launcher: &launcher, send: &SendOptions::default() };
        let fired = engine.tick().expect("tick");
        let ids: Vec<_> = fired.iter().map(|f| f.launch.clone().expect("started")).collect();
        assert_eq!(ids, ["pipeline-1", "pipeline-2"]);
        assert!(launcher.prepared.lock().expect("p").is_empty(), "no tool launch is prepared");
        assert!(launcher.queued.lock().expect("q").is_empty(), "nothing is queued");
        let again = Store::open(dir.path()).expect("store");
        let engine2 =
            Engine { store: &again, rules: &rules, clock: &clock, launcher: &launcher, send: &SendOptions::default() };
        assert!(engine2.tick().expect("tick").is_empty(), "a restart starts nothing again");
        assert_eq!(launcher.pipelines.lock().expect("p").len(), 2);
        let mut t = store.dicom_triggers("p").expect("triggers");
        t.sort_by(|a, b| a.uid.cmp(&b.uid));
        let runs: Vec<_> = t.iter().map(|t| (t.launch_id.as_deref(), t.pipeline_run_id.as_deref())).collect();
        assert_eq!(runs, [(None, Some("pipeline-1")), (None, Some("pipeline-2"))]);
        assert_eq!(store.dicom_triggers_awaiting_results("p", &rules[0].name).expect("awaiting").len(), 2);
        let entries = store.audit_entries(&berth_store::AuditFilter::default()).expect("audit");
        assert_eq!(entries.iter().filter(|e| e.actor == "u" && e.action == action::PIPELINE).count(), 2);
    }

    #[test]
    fn a_refused_pipeline_is_recorded_and_not_retried() {
        let (_dir, store) = fresh();
        receive(&store, "1.1", "1.1.1", "1.1.1.1", "MR");
        let rules = vec![rule(PIPELINE_RULE)];
        let launcher = Recording { refuse: true, ..Default::default() };
        let clock = FakeClock::at(SystemTime::now() + Duration::from_secs(31));
        let engine =
            Engine { store: &store, rules: &rules, clock: &clock, launcher: &launcher, send: &SendOptions::default() };
        assert!(matches!(&engine.tick().expect("tick")[..], [Fired { launch: Err(_), .. }]));
        assert!(engine.tick().expect("tick").is_empty());
        let t = store.dicom_triggers("p").expect("triggers");
        assert_eq!(
            (t[0].pipeline_run_id.as_deref(), t[0].error.as_deref()),
            (None, Some("the rule's user is not an admin"))
        );
        assert!(store.dicom_triggers_awaiting_results("p", &rules[0].name).expect("awaiting").is_empty());
    }

    #[test]
    fn bad_rules_name_their_key() {
        #[derive(serde::Deserialize)]
        struct Doc {
            rules: Vec<DicomRuleConfig>,
        }
        let bad = |extra: &str, key: &str| {
            let base = SERIES_RULE.replace("quiet = \"30s\"\n", "");
            let doc: Doc = toml::from_str(&format!("{base}{extra}")).expect("toml");
            match Rule::resolve_all(&doc.rules) {
                Err(DicomError::Setting { key: k, .. }) => assert!(k.ends_with(key), "{k} for {key}"),
                other => panic!("expected a setting error for {key}, got {other:?}"),
            }
        };
        bad("on = \"instance\"\n", "on");
        bad("quiet = \"soon\"\n", "quiet");
        bad("series_description = \"[\"\n", "series_description");
        bad("inputs = { in = 1 }\n", "inputs");
        bad("send_to = \"PACS\"\n", "send_to");
        bad(&SERIES_RULE.replace("quiet = \"30s\"\n", ""), "name");
        bad("pipeline = \"p.yaml\"\n", "pipeline");
        let pipeline = |extra: &str, key: &str| {
            let doc: Doc = toml::from_str(&format!("{PIPELINE_RULE}{extra}")).expect("toml");
            match Rule::resolve_all(&doc.rules) {
                Err(DicomError::Setting { key: k, .. }) => assert!(k.ends_with(key), "{k} for {key}"),
                other => panic!("expected a setting error for {key}, got {other:?}"),
            }
        };
        pipeline("version = \"1\"\n", "version");
        pipeline("name = \"a/b\"\n", "name");
        let neither: Doc = toml::from_str(&SERIES_RULE.replace("tool = \"t\"\n", "")).expect("toml");
        match Rule::resolve_all(&neither.rules) {
            Err(e @ DicomError::Setting { .. }) => {
                assert!(e.to_string().contains("#1 tool") && e.to_string().contains("`pipeline`"), "{e}")
            }
            other => panic!("expected a setting error, got {other:?}"),
        }
    }
}
