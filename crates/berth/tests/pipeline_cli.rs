//! `berth pipeline ...` end to end on the private Docker daemon: planning and validation,
//! fan-out over a BIDS dataset, the step cache, `--no-cache`, retries, `--keep-going`,
//! timeouts, and `kill -9` of berth in the middle of a pipeline followed by a resume.
//!
//! The test tools are Boutiques descriptors on the busybox test image
//! (`crates/berth-pipeline/tests/data/`). Needs root (or a running engine in `DOCKER_HOST`):
//! without it these tests fail with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

fn data(name: &str) -> String {
    berth_testkit::repo_root().join("crates/berth-pipeline/tests/data").join(name).to_string_lossy().into_owned()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A berth home, a dataset and a pipeline file in one temp dir.
struct World {
    dir: TempDir,
    host: Option<String>,
}

impl World {
    fn new(participants: &[&str]) -> World {
        World::with_engine(participants, Some(berth_testkit::docker_host()))
    }

    fn with_engine(participants: &[&str], host: Option<String>) -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bids")).unwrap();
        for p in participants {
            let anat = dir.path().join(format!("bids/sub-{p}/anat"));
            std::fs::create_dir_all(&anat).unwrap();
            std::fs::write(anat.join(format!("sub-{p}_T1w.txt")), format!("participant {p}\n")).unwrap();
        }
        std::fs::write(dir.path().join("bids/dataset_description.json"), r#"{"Name": "t", "BIDSVersion": "1.8.0"}"#)
            .unwrap();
        World { dir, host }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn pipeline(&self, yaml: &str) -> String {
        let yaml = yaml.replace("CHECKSUM", &data("checksum.json")).replace("COUNT", &data("count.json"));
        let p = self.path("pipeline.yaml");
        std::fs::write(&p, yaml).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args)
            .current_dir(self.dir.path())
            .env("BERTH_HOME", self.path("home"))
            .env("BERTH_CONFIG", self.path("no-config.toml"))
            .env_remove("BERTH_ENGINE")
            .env("NO_COLOR", "1");
        match &self.host {
            Some(h) => c.env("DOCKER_HOST", h),
            None => c.env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        };
        c
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        berth_testkit::stdout_of_success(args, &self.berth(args))
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert_eq!(out.status.code(), Some(1), "berth {args:?}:\n{}\n{}", text(&out.stdout), text(&out.stderr));
        text(&out.stderr)
    }

    fn run_json(&self, file: &str, extra: &[&str]) -> (bool, Value) {
        let mut args = vec!["pipeline", "run", file, "-o", "out", "--json"];
        args.extend_from_slice(extra);
        let out = self.berth(&args);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr)));
        (out.status.success(), v)
    }

    fn runs(&self) -> usize {
        let v: Value = serde_json::from_str(&self.ok(&["runs", "--json", "--limit", "1000"])).unwrap();
        v.as_array().unwrap().len()
    }

    /// Containers of this world's runs (other tests share the engine).
    fn berth_containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args(["ps", "-a", "--filter", "label=berth.run-id", "--format", "{{.Label \"berth.run-id\"}}"])
            .env("DOCKER_HOST", self.host.as_deref().unwrap())
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .filter(|id| self.berth(&["show", id, "--json"]).status.success())
            .map(str::to_owned)
            .collect()
    }
}

fn statuses(outcome: &Value) -> Vec<(String, String)> {
    outcome["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap().to_owned(), t["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn all(outcome: &Value, status: &str) -> bool {
    statuses(outcome).iter().all(|(_, s)| s == status)
}

const TWO_STEPS: &str = "berth-pipeline: 1
name: two-steps
dataset: {bids: bids}
steps:
  checksum:
    descriptor: CHECKSUM
    foreach: participants
    inputs:
      input: {glob: \"sub-${participant}/anat/*_T1w.txt\"}
      name: \"sub-${participant}\"
  count:
    descriptor: COUNT
    inputs:
      inputs: ${steps.checksum.outputs.sum}
";

#[test]
fn validate_names_the_problem_and_its_path() {
    let w = World::with_engine(&["01", "02"], None);
    let good = w.pipeline(TWO_STEPS);
    let out = w.ok(&["pipeline", "validate", &good]);
    assert!(out.contains("2 step(s), 3 task(s)"), "{out}");
    let v: Value = serde_json::from_str(&w.ok(&["pipeline", "validate", &good, "--json"])).unwrap();
    assert_eq!(v["steps"][1]["depends_on"], serde_json::json!(["checksum"]));
    assert_eq!(v["participants"], serde_json::json!(["01", "02"]));

    let cases: &[(&str, &str, &str)] = &[
        ("descriptor: CHECKSUM", "descriptr: CHECKSUM", "steps.checksum: unknown key `descriptr`"),
        ("name: \"sub-${participant}\"", "nme: x", "`nme` is not an input of checksum"),
        ("${steps.checksum.outputs.sum}", "${steps.checksum.outputs.summ}", "step `checksum` has no output `summ`"),
        ("${steps.checksum.outputs.sum}", "${steps.nope.outputs.sum}", "no step `nope`"),
        ("sub-${participant}/anat", "sub-${participant}/func", "matched no file"),
        ("name: \"sub-${participant}\"", "name: \"${params.x}\"", "no parameter `x`"),
        // the tool's own invocation check runs at validation, not first in every task
        ("name: \"sub-${participant}\"", "name: [a, b]", "the tool `checksum` refuses its invocation"),
    ];
    for (from, to, expect) in cases {
        let bad = w.pipeline(&TWO_STEPS.replace(from, to));
        let err = w.fails(&["pipeline", "validate", &bad]);
        assert!(err.contains(expect), "{from} → {to}: expected `{expect}` in:\n{err}");
    }
    // A number given to a String input is its text (`--param n=7` parses as a number).
    let numbered = w.pipeline(&format!(
        "params: {{n: 7}}\n{}",
        TWO_STEPS.replace("name: \"sub-${participant}\"", "name: ${params.n}")
    ));
    w.ok(&["pipeline", "validate", &numbered]);
    w.ok(&["pipeline", "validate", &numbered, "--param", "n=8"]);
    // `image:` takes parameters, so `--param` runs the same pipeline on other images.
    let imaged = w.pipeline(&format!(
        "params: {{img: berth-test/busybox:latest}}\n{}",
        TWO_STEPS.replace("    foreach: participants\n", "    foreach: participants\n    image: ${params.img}\n")
    ));
    let v: Value = serde_json::from_str(&w.ok(&["pipeline", "validate", &imaged, "--json"])).unwrap();
    assert_eq!(v["steps"][0]["image"], "berth-test/busybox:latest", "{v}");
    let v: Value =
        serde_json::from_str(&w.ok(&["pipeline", "validate", &imaged, "--json", "--param", "img=lab/mirror:2"]))
            .unwrap();
    assert_eq!(v["steps"][0]["image"], "lab/mirror:2", "{v}");
    let bad = w.pipeline(
        &TWO_STEPS.replace("    foreach: participants\n", "    foreach: participants\n    image: x/${participant}\n"),
    );
    let err = w.fails(&["pipeline", "validate", &bad]);
    assert!(err.contains("an image names only `${params.NAME}` references"), "{err}");
    // A cycle is named.
    let cyclic = w.pipeline(
        &format!("{TWO_STEPS}    needs: [checksum]\n")
            .replace("    foreach: participants\n", "    foreach: participants\n    needs: [count]\n"),
    );
    let err = w.fails(&["pipeline", "validate", &cyclic]);
    assert!(err.contains("cycle"), "{err}");
    // Unknown participant labels list the known ones.
    let err = w.fails(&["pipeline", "validate", &good, "--participant-label", "07"]);
    assert!(err.contains("07") && err.contains("01, 02"), "{err}");
    // A list output into a single input.
    let single =
        w.pipeline(&TWO_STEPS.replace(
            "descriptor: COUNT\n    inputs:\n      inputs:",
            "descriptor: CHECKSUM\n    inputs:\n      input:",
        ));
    let err = w.fails(&["pipeline", "validate", &single]);
    assert!(err.contains("is a list here"), "{err}");
}

#[test]
fn runs_publishes_caches_and_reruns_with_no_cache() {
    let w = World::new(&["01", "02", "03"]);
    let file = w.pipeline(TWO_STEPS);
    let (ok, first) = w.run_json(&file, &["--jobs", "2"]);
    assert!(ok, "{first:#}");
    assert!(all(&first, "succeeded"), "{first:#}");
    for p in ["01", "02", "03"] {
        let sum = std::fs::read_to_string(w.path(&format!("out/checksum/sub-{p}/out/sub-{p}.sha256"))).unwrap();
        assert_eq!(sum.trim().len(), 64);
    }
    let count = std::fs::read_to_string(w.path("out/count/out/count.txt")).unwrap();
    assert!(count.contains("195 total"), "{count}");
    let runs_after_first = w.runs();
    assert_eq!(runs_after_first, 4);

    // Every step run is an ordinary run, linked to the pipeline run.
    let id = first["id"].as_str().unwrap();
    let show: Value = serde_json::from_str(&w.ok(&["pipeline", "show", id, "--json"])).unwrap();
    let run_id = show["tasks"][0]["run_id"].as_str().unwrap();
    let run: Value = serde_json::from_str(&w.ok(&["show", run_id, "--json"])).unwrap();
    assert_eq!(run["berth"]["labels"]["berth.pipeline-run"].as_str(), Some(id), "{run:#}");
    assert!(show["tasks"][0]["stderr_log"].as_str().unwrap().ends_with("stderr"));

    // The same command again: everything from the cache, nothing executed.
    let (ok, second) = w.run_json(&file, &["--jobs", "2"]);
    assert!(ok && all(&second, "cached"), "{second:#}");
    assert_eq!(w.runs(), runs_after_first, "a cached re-run must not create runs");
    assert!(w.path("out/count/out/count.txt").exists());

    // A changed input invalidates exactly its participant's task and the group step.
    std::fs::write(w.path("bids/sub-02/anat/sub-02_T1w.txt"), "participant 02, changed\n").unwrap();
    let (ok, third) = w.run_json(&file, &[]);
    assert!(ok, "{third:#}");
    let st = statuses(&third);
    assert_eq!(
        st,
        [
            ("checksum/sub-01".into(), "cached".into()),
            ("checksum/sub-02".into(), "succeeded".into()),
            ("checksum/sub-03".into(), "cached".into()),
            ("count".into(), "succeeded".into())
        ]
    );

    // --no-cache runs everything; --participant-label narrows the fan-out, and the group step,
    // whose result must cover every participant, is left out (reported), not recomputed over one.
    let count_before = std::fs::read(w.path("out/count/out/count.txt")).unwrap();
    let (ok, fourth) = w.run_json(&file, &["--no-cache", "--participant-label", "01"]);
    assert!(ok, "{fourth:#}");
    assert_eq!(
        statuses(&fourth),
        [("checksum/sub-01".into(), "succeeded".into()), ("count".into(), "skipped".into())],
        "{fourth:#}"
    );
    assert!(fourth["tasks"][1]["message"].as_str().unwrap().contains("subset of the participants"), "{fourth:#}");
    assert_eq!(std::fs::read(w.path("out/count/out/count.txt")).unwrap(), count_before);
    assert!(w.berth_containers().is_empty(), "containers left: {:?}", w.berth_containers());
    let ls = w.ok(&["pipeline", "ls"]);
    assert_eq!(ls.lines().count(), 5, "{ls}");
}

#[test]
fn failures_name_step_participant_and_log_and_keep_going_finishes_the_others() {
    let w = World::new(&["01", "02", "03"]);
    let yaml = "berth-pipeline: 1
name: failing
dataset: {bids: bids}
steps:
  first:
    descriptor: COUNT
    foreach: participants
    inputs:
      inputs: [{glob: \"sub-${participant}/anat/*.txt\"}]
      label: ${participant}
      fail_for: \"02\"
  second:
    descriptor: CHECKSUM
    foreach: participants
    inputs:
      input: ${steps.first.outputs.count}
";
    let file = w.pipeline(yaml);
    let out = w.berth(&["pipeline", "run", &file, "-o", "out", "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("step `first`, participant 02 failed after 1 attempt: the tool exited with code 1")
            && err.contains("/stderr"),
        "{err}"
    );

    let (ok, v) = w.run_json(&file, &["--keep-going"]);
    assert!(!ok);
    let st: std::collections::BTreeMap<_, _> = statuses(&v).into_iter().collect();
    assert_eq!(st["first/sub-02"], "failed");
    assert_eq!(st["second/sub-02"], "skipped");
    for p in ["01", "03"] {
        assert!(["succeeded", "cached"].contains(&st[&format!("first/sub-{p}")].as_str()), "{st:?}");
        assert_eq!(st[&format!("second/sub-{p}")], "succeeded", "{st:?}");
    }
    assert!(w.path("out/second/sub-03").exists() && !w.path("out/second/sub-02").exists());
}

/// The BIDS datasets pybids ships (fetched into the test-data cache by
/// scripts/fetch-test-data.sh): 7t_trt's second sessions have no `anat` and its participants.tsv
/// lists 22 participants of whom 10 have data; ds000117 has MEG-only sessions and an empty-room
/// "participant". With `if-missing: skip` those tasks are skipped and listed, the others run.
#[test]
fn bids_apps_conventions_on_pybids_datasets() {
    let data = berth_testkit::run_script("scripts/fetch-test-data.sh", &["pybids"], &[])
        .unwrap_or_else(|e| panic!("this test needs pybids' BIDS datasets (PyPI reachable): {e}"));
    let root = PathBuf::from(data.trim()).join("bids/tests/data");
    let w = World::new(&[]);
    let file = w.pipeline(
        "berth-pipeline: 1
name: t1w-checksums
steps:
  checksum:
    descriptor: CHECKSUM
    foreach: sessions
    inputs:
      input: {glob: \"${bids.dir}/anat/${bids.prefix}*_T1w.nii.gz\", if-missing: skip}
      name: ${bids.prefix}
  count:
    descriptor: COUNT
    inputs:
      inputs: ${steps.checksum.outputs.sum}
",
    );
    let trt = root.join("7t_trt").to_string_lossy().into_owned();
    let out = w.berth(&["pipeline", "validate", &file, "--bids", &trt, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tasks"], 21, "{v:#}");
    let skipped: Vec<&str> = v["skipped"].as_array().unwrap().iter().map(|t| t["task"].as_str().unwrap()).collect();
    assert_eq!(skipped.len(), 10, "{skipped:?}");
    assert!(skipped.iter().all(|t| t.ends_with("/ses-2")), "{skipped:?}");
    let err = text(&out.stderr);
    assert!(err.contains("participants.tsv lists 12 participants with no `sub-<label>` directory"), "{err}");
    assert!(err.contains("sub-11") && err.contains("sub-22"), "{err}");

    // ds000117, run: two MRI sessions hashed, MEG sessions and the empty room skipped and named.
    let ds = root.join("ds000117").to_string_lossy().into_owned();
    let shown = w.ok(&["pipeline", "validate", &file, "--bids", &ds]);
    assert!(shown.contains("skipped checksum/sub-emptyroom/ses-20090409: no file matches"), "{shown}");
    let (ok, run) = w.run_json(&file, &["--bids", &ds]);
    assert!(ok, "{run:#}");
    let st: std::collections::BTreeMap<_, _> = statuses(&run).into_iter().collect();
    assert_eq!(st["checksum/sub-01/ses-mri"], "succeeded", "{st:?}");
    assert_eq!(st["checksum/sub-01/ses-meg"], "skipped", "{st:?}");
    assert_eq!(st["count"], "succeeded", "{st:?}");
    assert_eq!(st.values().filter(|s| *s == "succeeded").count(), 3, "{st:?}");
    let sum = std::fs::read_to_string(w.path("out/checksum/sub-02/ses-mri/out/sub-02_ses-mri.sha256")).unwrap();
    assert_eq!(sum.trim().len(), 64, "{sum}");
    assert!(w.path("out/checksum/dataset_description.json").exists());
}

/// What BIDS Apps users expect, on a dataset as real ones are: a participant without the file
/// a step needs, one listed in participants.tsv without data, participant and group levels,
/// a derivatives dataset, and the RO-Crate of an earlier run after a later one replaced its
/// published results.
#[test]
fn bids_apps_conventions_on_an_uneven_dataset() {
    let w = World::new(&["01", "02", "03"]);
    // sub-04 has only functional data (like 7t_trt's sessions without `anat`); sub-05 is listed
    // but has no directory (like participants.tsv files of datasets shared in part).
    std::fs::create_dir_all(w.path("bids/sub-04/func")).unwrap();
    std::fs::write(w.path("bids/sub-04/func/sub-04_bold.txt"), "bold\n").unwrap();
    std::fs::write(
        w.path("bids/participants.tsv"),
        "participant_id\tage\nsub-01\t1\nsub-02\t2\nsub-03\t3\nsub-04\t4\nsub-05\t5\n",
    )
    .unwrap();
    // Without `if-missing`, the missing file stops validation and names the pattern.
    let strict = w.pipeline(TWO_STEPS);
    let err = w.fails(&["pipeline", "validate", &strict]);
    assert!(err.contains("sub-04") && err.contains("matched no file") && err.contains("if-missing"), "{err}");

    let file = w.pipeline(&TWO_STEPS.replace(
        "{glob: \"sub-${participant}/anat/*_T1w.txt\"}",
        "{glob: \"sub-${participant}/anat/*_T1w.txt\", if-missing: skip}",
    ));
    let checked = w.berth(&["pipeline", "validate", &file]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stderr).contains("sub-05"), "{}", text(&checked.stderr));

    // Everything: sub-04 is skipped with its reason, the group step gathers the other three.
    let (ok, first) = w.run_json(&file, &[]);
    assert!(ok, "{first:#}");
    assert_eq!(
        statuses(&first),
        [
            ("checksum/sub-01".into(), "succeeded".into()),
            ("checksum/sub-02".into(), "succeeded".into()),
            ("checksum/sub-03".into(), "succeeded".into()),
            ("checksum/sub-04".into(), "skipped".into()),
            ("count".into(), "succeeded".into())
        ]
    );
    assert!(first["tasks"][3]["message"].as_str().unwrap().contains("no file matches"), "{first:#}");
    let count = std::fs::read_to_string(w.path("out/count/out/count.txt")).unwrap();
    assert_eq!(count.lines().count(), 4, "three inputs and a total: {count}");

    // The participant step's published tree is a BIDS derivatives dataset.
    let desc: Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("out/checksum/dataset_description.json")).unwrap())
            .unwrap();
    assert_eq!(desc["DatasetType"], "derivative");
    let generated: Vec<&str> =
        desc["GeneratedBy"].as_array().unwrap().iter().map(|g| g["Name"].as_str().unwrap()).collect();
    assert_eq!(generated, ["berth", "checksum"]);
    assert!(desc["GeneratedBy"][1]["Container"]["URI"].as_str().unwrap().contains("sha256:"), "{desc:#}");

    // The participant level alone, then the group level from the step cache.
    let (ok, part) = w.run_json(&file, &["--analysis-level", "participant"]);
    assert!(ok, "{part:#}");
    assert_eq!(statuses(&part).last().unwrap(), &("count".to_string(), "skipped".to_string()));
    let (ok, group) = w.run_json(&file, &["--analysis-level", "group"]);
    assert!(ok, "{group:#}");
    assert!(statuses(&group).iter().all(|(k, s)| s == "cached" || k == "checksum/sub-04"), "{group:#}");
    let err =
        w.fails(&["pipeline", "run", &file, "-o", "out", "--analysis-level", "group", "--participant-label", "01"]);
    assert!(err.contains("--analysis-level group"), "{err}");
    let err = w.fails(&["pipeline", "validate", &file, "--session-label", "2"]);
    assert!(err.contains("ses-2") && err.contains("no sessions"), "{err}");

    // A later run with other data replaces the published group result; the first run's crate
    // must not ship the new file under the old hash.
    let first_id = first["id"].as_str().unwrap();
    std::fs::write(w.path("bids/sub-02/anat/sub-02_T1w.txt"), "participant 02, rescanned\n").unwrap();
    let (ok, later) = w.run_json(&file, &[]);
    assert!(ok, "{later:#}");
    let err = w.fails(&["pipeline", "export", first_id, "--ro-crate", "crate"]);
    // The rescanned input and the checksum published from it are named; the group count (of
    // checksum sizes, which did not change) is not.
    assert!(err.contains("sub-02_T1w.txt") && err.contains("sub-02.sha256") && !err.contains("count.txt"), "{err}");
    assert!(err.contains("changed since it ran") && err.contains("--allow-changed"), "{err}");
    assert!(!w.path("crate").exists(), "a refused export writes nothing");
    let out = w.berth(&["pipeline", "export", first_id, "--ro-crate", "crate", "--allow-changed"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("left out of the crate"), "{}", text(&out.stderr));
    let meta = std::fs::read_to_string(w.path("crate/ro-crate-metadata.json")).unwrap();
    assert!(meta.contains("left out of the crate"), "the changed file is marked");
    assert!(!w.path("crate/outputs/checksum/sub-02/out/sub-02.sha256").exists());
    assert!(w.path("crate/outputs/checksum/sub-01/out/sub-01.sha256").exists());
    // The first run's own work files are intact (each run has its own work directory), and the
    // later run exports cleanly.
    let kept = std::fs::read_to_string(w.path(&format!("out/.berth-work/{first_id}/count/out/count.txt"))).unwrap();
    assert_eq!(kept, count);
    let later_id = later["id"].as_str().unwrap();
    let crate2 = w.berth(&["pipeline", "export", later_id, "--ro-crate", "crate2"]);
    assert!(crate2.status.success(), "{}", text(&crate2.stderr));
}

#[test]
fn a_failed_attempt_is_retried_and_a_slow_one_times_out() {
    let w = World::new(&["01"]);
    // The tool fails until its input file says `go`; the test writes that once the first
    // attempt has failed.
    let flag = w.path("flag");
    std::fs::write(&flag, "wait\n").unwrap();
    let yaml = format!(
        "berth-pipeline: 1
name: retrying
steps:
  gated:
    descriptor: COUNT
    inputs:
      inputs: [{}]
      gate: {}
    retries: {{count: 4, backoff: 1s}}
",
        flag.display(),
        flag.display()
    );
    let file = w.pipeline(&yaml);
    let child = w
        .cmd(&["pipeline", "run", &file, "-o", "out", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while w.runs_failed() == 0 {
        assert!(Instant::now() < deadline, "the first attempt never failed");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&flag, "go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{v:#}\n{}", text(&out.stderr));
    assert!(v["tasks"][0]["attempts"].as_u64().unwrap() >= 2, "{v:#}");
    assert!(text(&out.stderr).contains("attempt 1 failed"), "{}", text(&out.stderr));

    let slow = w.pipeline(
        "berth-pipeline: 1
name: slow
steps:
  sleepy:
    descriptor: COUNT
    inputs:
      inputs: [bids/sub-01/anat/sub-01_T1w.txt]
      sleep: 60
    timeout: 2s
",
    );
    let err = w.fails(&["pipeline", "run", &slow, "-o", "out2"]);
    assert!(err.contains("step `sleepy` failed after 1 attempt: timed out after 2s"), "{err}");
    assert!(w.berth_containers().is_empty(), "containers left: {:?}", w.berth_containers());
}

impl World {
    fn runs_failed(&self) -> usize {
        let out = self.berth(&["runs", "--json", "--status", "failed"]);
        serde_json::from_slice::<Value>(&out.stdout).map(|v| v.as_array().map_or(0, Vec::len)).unwrap_or(0)
    }
}

#[test]
fn kill_9_in_the_middle_then_the_same_command_resumes() {
    let w = World::new(&["01", "02", "03", "04"]);
    let yaml = "berth-pipeline: 1
name: slow-steps
dataset: {bids: bids}
steps:
  slow:
    descriptor: COUNT
    foreach: participants
    inputs:
      inputs: [{glob: \"sub-${participant}/anat/*.txt\"}]
      sleep: 2
";
    let file = w.pipeline(yaml);
    let mut child = w
        .cmd(&["pipeline", "run", &file, "-o", "out", "--jobs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until at least one task has succeeded and the next one is running.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the pipeline never got going");
        let done = w.path("out/slow").read_dir().map(|d| d.count()).unwrap_or(0);
        if done >= 1 && !w.berth_containers().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = Command::new("kill").args(["-9", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    child.wait().unwrap();
    let succeeded_before: Vec<String> = std::fs::read_dir(w.path("out/slow"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!succeeded_before.is_empty() && succeeded_before.len() < 4, "{succeeded_before:?}");

    let (ok, v) = w.run_json(&file, &["--jobs", "1"]);
    assert!(ok, "{v:#}");
    let st: std::collections::BTreeMap<_, _> = statuses(&v).into_iter().collect();
    for p in &succeeded_before {
        assert_eq!(st[&format!("slow/{p}")], "cached", "{p} succeeded before the kill: {st:?}");
    }
    assert_eq!(st.values().filter(|s| *s == "succeeded").count(), 4 - succeeded_before.len(), "{st:?}");
    assert!(w.berth_containers().is_empty(), "containers left: {:?}", w.berth_containers());
    let leftovers: Vec<_> = std::fs::read_dir(w.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".berth-publish") || n.starts_with(".berth-old"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The killed pipeline run is marked failed, not left running.
    let ls: Value = serde_json::from_str(&w.ok(&["pipeline", "ls", "--json"])).unwrap();
    let statuses: Vec<&str> = ls.as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["succeeded", "failed"]);
}

#[test]
fn verify_reexecutes_runs_and_pipeline_runs_and_names_what_differs() {
    let w = World::new(&["01", "02"]);
    let file = w.pipeline(TWO_STEPS);
    let (ok, run) = w.run_json(&file, &[]);
    assert!(ok, "{run:#}");
    let id = run["id"].as_str().unwrap();
    // A pipeline run: every step run re-executed, all identical.
    let out = w.berth(&["verify", id, "-o", "verify-1", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["runs"], 3, "{v:#}");
    assert_eq!(v["summary"]["verdict"], "identical");
    assert_eq!(v["summary"]["outputs"]["identical"], 3);

    // A non-deterministic tool: its random bytes differ, its copy does not; exit 1.
    let input = w.path("bids/sub-01/anat/sub-01_T1w.txt");
    let inv = format!(r#"{{"input": "{}"}}"#, input.display());
    let out = w.berth(&["run", &data("stamp.json"), "-i", &inv, "--output-dir", "stamp-out", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run_id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["run_id"].as_str().unwrap().to_owned();
    let out = w.berth(&["verify", &run_id, "-o", "verify-2"]);
    assert_eq!(out.status.code(), Some(1), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("differs") && report.contains("out/stamp.txt"), "{report}");
    assert!(report.lines().any(|l| l.contains("identical") && l.contains("out/copy.txt")), "{report}");
    assert!(report.contains("OUTPUTS DIFFER"), "{report}");

    // A changed input: nothing runs, the input is named; exit 2.
    std::fs::write(&input, "changed\n").unwrap();
    let out = w.berth(&["verify", &run_id, "-o", "verify-3"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("input `input`") && err.contains("sub-01_T1w.txt") && err.contains("recorded sha256"),
        "{err}"
    );
    assert!(!w.path("verify-3").join("out").exists());
}

#[test]
fn report_and_ro_crate_of_a_pipeline_run_pass_the_reference_validator() {
    let w = World::new(&["01", "02"]);
    let file = w.pipeline(TWO_STEPS);
    let (ok, run) = w.run_json(&file, &[]);
    assert!(ok, "{run:#}");
    let id = run["id"].as_str().unwrap();
    // The HTML report written by the run: every task, a timeline, links to logs.
    let html = std::fs::read_to_string(w.path(&format!("out/reports/{id}.html"))).unwrap();
    for key in ["checksum/sub-01", "checksum/sub-02", "count"] {
        assert!(html.contains(&format!(">{key}<")), "{key} missing from the report");
    }
    assert!(html.contains("<svg") && html.contains("stderr</a>") && !html.contains("<script"));
    let again = w.ok(&["pipeline", "report", id, "-o", "again.html"]);
    assert!(again.trim().ends_with("again.html"));

    let out = w.ok(&["pipeline", "export", id, "--ro-crate", "crate"]);
    assert!(out.contains("entities"), "{out}");
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("crate/ro-crate-metadata.json")).unwrap()).unwrap();
    let graph = meta["@graph"].as_array().unwrap();
    let ids: std::collections::BTreeSet<&str> = graph.iter().map(|e| e["@id"].as_str().unwrap()).collect();
    // Every reference resolves in the graph (or is an absolute URI); copied files match their hashes.
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                if o.len() == 1
                    && let Some(Value::String(id)) = o.get("@id")
                {
                    out.push(id);
                }
                o.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&meta["@graph"], &mut refs);
    for r in refs {
        assert!(ids.contains(r) || r.contains("://"), "dangling reference {r}");
    }
    let mut copied = 0;
    for e in graph {
        let id = e["@id"].as_str().unwrap();
        if let (Some(sha), false) = (e["sha256"].as_str(), id.contains("://") || id.starts_with('#')) {
            let bytes = std::fs::read(w.path("crate").join(id)).unwrap();
            let out = Command::new("sha256sum").arg(w.path("crate").join(id)).output().unwrap();
            assert_eq!(text(&out.stdout).split_whitespace().next(), Some(sha), "{id}");
            assert_eq!(e["contentSize"].as_str().unwrap(), bytes.len().to_string());
            copied += 1;
        }
    }
    assert!(copied >= 6, "{copied}");
    let check = Command::new("python3")
        .arg(berth_testkit::repo_root().join("tests/rocrate/validate.py"))
        .arg(w.path("crate"))
        .output()
        .unwrap();
    assert!(check.status.success(), "the RO-Crate validator failed:\n{}\n{}", text(&check.stdout), text(&check.stderr));
    assert!(text(&check.stdout).contains("workflow-run-crate-0.5: passed"), "{}", text(&check.stdout));
}

#[test]
fn the_example_dicom_pipeline_runs_end_to_end() {
    let host = berth_testkit::docker_host();
    berth_testkit::dicom_image(&host);
    berth_testkit::example_image(&host, "dicom-stats");
    berth_testkit::example_image(&host, "dicom-summary");
    let w = World::with_engine(&[], Some(host));
    let bids = w.path("bids");
    berth_testkit::run_script("examples/dicom-pipeline/make-dataset.sh", &[&bids.to_string_lossy()], &[]).unwrap();
    let file = berth_testkit::repo_root().join("examples/dicom-pipeline/pipeline.yaml");
    let file = file.to_string_lossy();
    let (ok, v) = w.run_json(&file, &["--bids", &bids.to_string_lossy(), "--jobs", "2"]);
    assert!(ok, "{v:#}");
    // Four participants, one with two sessions: five images, each normalized and measured.
    assert_eq!(statuses(&v).len(), 11, "{v:#}");
    let csv = std::fs::read_to_string(w.path("out/summary/out/summary.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 5, "{csv}");
    assert!(rows[2].starts_with("sub-03_ses-1_T1w-normalized.dcm,"), "{csv}");
    for row in rows {
        let cols: Vec<&str> = row.split(',').collect();
        assert_eq!((cols[4], cols[5]), ("0", "1000"), "normalized to [0, 1000]: {row}");
    }
    let stats: Value = serde_json::from_str(
        &std::fs::read_to_string(w.path("out/stats/sub-03/ses-2/out/sub-03_ses-2_T1w-normalized-stats.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stats["voxels"], 65536);
    assert_eq!(stats["histogram"].as_array().unwrap().iter().map(|h| h.as_u64().unwrap()).sum::<u64>(), 65536);
}

#[test]
fn the_budget_bounds_how_many_tasks_run_at_once() {
    let w = World::new(&["01", "02", "03", "04", "05", "06"]);
    let file = w.pipeline(
        "berth-pipeline: 1
name: budget
dataset: {bids: bids}
steps:
  busy:
    descriptor: COUNT
    foreach: participants
    inputs:
      inputs: [{glob: \"sub-${participant}/anat/*.txt\"}]
      sleep: 1
    resources: {cpus: 1, memory: 64MiB}
",
    );
    // Six jobs allowed, but CPUs for two: never more than two containers at once.
    let peak = |extra: &[&str]| {
        let mut args = vec!["--jobs", "6"];
        args.extend_from_slice(extra);
        let (ok, v) = w.run_json(&file, &args);
        assert!(ok, "{v:#}");
        let id = v["id"].as_str().unwrap();
        let show: Value = serde_json::from_str(&w.ok(&["pipeline", "show", id, "--json"])).unwrap();
        let mut events = Vec::new();
        for t in show["tasks"].as_array().unwrap() {
            let run: Value = serde_json::from_str(&w.ok(&["show", t["run_id"].as_str().unwrap(), "--json"])).unwrap();
            events.push((run["berth"]["started-at"].as_str().unwrap().to_owned(), 1));
            events.push((run["berth"]["finished-at"].as_str().unwrap().to_owned(), -1));
        }
        events.sort();
        let (mut now, mut peak) = (0, 0);
        for (_, d) in events {
            now += d;
            peak = peak.max(now);
        }
        peak
    };
    let p = peak(&["--cpus", "2"]);
    assert!((1..=2).contains(&p), "{p} containers ran at once with a budget of 2 CPUs");
    // The memory budget bounds it the same way: 100 MiB for 64 MiB tasks is one at a time.
    let p = peak(&["--memory", "100MiB", "--no-cache"]);
    assert_eq!(p, 1, "{p} containers ran at once with memory for one");
}

#[test]
fn verify_refuses_when_the_recorded_image_is_gone() {
    let w = World::new(&["01"]);
    let host = w.host.clone().unwrap();
    let docker = |args: &[&str]| Command::new("docker").args(args).env("DOCKER_HOST", &host).output().unwrap();
    // An image of this test's own (busybox with a label of its own: another image ID), so that
    // removing it disturbs no other test.
    let pid = std::process::id().to_string();
    let (tag, container) = (format!("berth-test/verify-gone:{pid}"), format!("berth-verify-gone-{pid}"));
    assert!(docker(&["create", "--name", &container, berth_testkit::BUSYBOX, "true"]).status.success());
    let label = format!("LABEL berth.test.verify-gone={pid}");
    assert!(docker(&["commit", "--change", &label, &container, &tag]).status.success());
    assert!(docker(&["rm", &container]).status.success());
    let descriptor = std::fs::read_to_string(data("stamp.json")).unwrap().replace(berth_testkit::BUSYBOX, &tag);
    let descriptor_path = w.path("stamp-copy.json");
    std::fs::write(&descriptor_path, descriptor).unwrap();
    let inv = format!(r#"{{"input": "{}"}}"#, w.path("bids/sub-01/anat/sub-01_T1w.txt").display());
    let out = w.berth(&["run", &descriptor_path.to_string_lossy(), "-i", &inv, "--output-dir", "o", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run_id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["run_id"].as_str().unwrap().to_owned();
    let image_id = text(&docker(&["image", "inspect", "--format", "{{.Id}}", &tag]).stdout).trim().to_owned();
    assert!(image_id.starts_with("sha256:"), "{image_id}");
    assert!(docker(&["rmi", &tag]).status.success());
    assert!(!docker(&["image", "inspect", &image_id]).status.success(), "the image is still there");
    let out = w.berth(&["verify", &run_id, "-o", "v"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&image_id) && err.contains("not on the engine") && err.contains("no registry digest"),
        "{err}"
    );
    assert!(!w.path("v").join("out").exists(), "nothing may run");
}

#[test]
fn pipelines_run_and_cache_on_podman_too() {
    let w = World::with_engine(&["01", "02"], Some(berth_testkit::podman_host()));
    let file = w.pipeline(TWO_STEPS);
    let (ok, first) = w.run_json(&file, &["--jobs", "2", "--engine", "podman"]);
    assert!(ok && all(&first, "succeeded"), "{first:#}");
    let count = std::fs::read_to_string(w.path("out/count/out/count.txt")).unwrap();
    assert!(count.contains("130 total"), "{count}");
    let (ok, second) = w.run_json(&file, &["--engine", "podman"]);
    assert!(ok && all(&second, "cached"), "{second:#}");
    let run: Value =
        serde_json::from_str(&w.ok(&["show", first["tasks"][0]["run_id"].as_str().unwrap(), "--json"])).unwrap();
    assert_eq!(run["berth"]["engine"]["kind"], "podman", "{:#}", run["berth"]["engine"]);
}
