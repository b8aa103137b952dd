//! berth's own XNAT Commands in `testdata/`: the rendering cases of `render-cases.json`
//! (flags, separators, booleans, every multiple-delimiter, blank values, defaults, required
//! inputs, select lists, quoting), the validation cases of `validation-cases.json`, and golden
//! files of the plans and messages a user reads.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_xnat::plan::{GenericResource, REDACTED, Ulimit};
use berth_xnat::{Command, Value, XnatError, XnatPlan, plan, validate};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

fn read(name: &str) -> Value {
    Value::parse(&std::fs::read_to_string(testdata(name)).unwrap()).unwrap()
}

fn command(name: &str) -> Command {
    let v = validate(&read(name));
    assert!(v.problems.is_empty(), "{name}: {:#?}", v.problems);
    v.command.unwrap()
}

fn mounts(v: &Value) -> BTreeMap<String, PathBuf> {
    v.as_dict().unwrap().iter().map(|(k, v)| (k.clone(), PathBuf::from(v.as_str().unwrap()))).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_list().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn render_cases() {
    let doc = read("render-cases.json");
    let defaults = doc.get("default-mounts").unwrap();
    let cases = doc.get("cases").unwrap().as_list().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case.get("name").unwrap().as_str().unwrap();
        let file = case.get("command").unwrap().as_str().unwrap();
        let c = command(file);
        let m = mounts(case.get("mounts").unwrap_or_else(|| defaults.get(file).unwrap()));
        let result = plan(&c, case.get("inputs").unwrap(), &m);
        if let Some(line) = case.get("command_line") {
            let p = result.unwrap_or_else(|e| panic!("{name}: {e}: {:?}", e.problems()));
            assert_eq!(p.command_line, line.as_str().unwrap(), "{name}");
            assert_eq!(p.execution.cmd, strings(case.get("cmd").unwrap()), "{name}");
            let warned: Vec<&str> = p.warnings.iter().map(|w| w.code).collect();
            let expected = case.get("warnings").map(strings).unwrap_or_default();
            assert_eq!(warned, expected, "{name}");
        } else if let Some(errors) = case.get("input_errors") {
            let Err(XnatError::Inputs { problems, .. }) = result else { panic!("{name}: expected input errors") };
            let got: Vec<(String, String)> = problems.iter().map(|p| (p.code.to_string(), p.pointer.clone())).collect();
            let want: Vec<(String, String)> = errors
                .as_list()
                .unwrap()
                .iter()
                .map(|e| {
                    let e = strings(e);
                    (e[0].clone(), e[1].clone())
                })
                .collect();
            assert_eq!(got, want, "{name}");
            assert!(problems.iter().all(|p| p.hint.is_some()), "{name}: every input problem has a hint");
        } else {
            let want = case.get("error").unwrap().as_str().unwrap();
            let e = result.err().unwrap_or_else(|| panic!("{name}: expected an error"));
            assert_eq!(e.to_string(), want, "{name}");
            assert!(e.hint().is_some(), "{name}: the error has a hint");
        }
    }
}

#[test]
fn missing_mounts_name_the_mount_and_the_flag() {
    let c = command("edge-cases.json");
    let m = mounts(&Value::parse(r#"{"in": "/data/in", "work": "/w"}"#).unwrap());
    let e = plan(&c, &Value::parse(r#"{"subject": "s"}"#).unwrap(), &m).unwrap_err();
    assert_eq!(e.to_string(), "no host directory for mount \"out\"");
    assert_eq!(e.hint().unwrap(), "bind each to a host directory: `--mount out=HOSTPATH`");
}

#[test]
fn a_preview_shows_unbound_mounts_and_required_inputs_as_flagged_placeholders() {
    let c = command("edge-cases.json");
    let m = mounts(&Value::parse(r#"{"in": "/data/in", "work": "/w"}"#).unwrap());
    let p = berth_xnat::preview(&c, &Value::Null, &m).unwrap();
    assert!(p.preview);
    let codes: Vec<(&str, &str)> = p.warnings.iter().map(|w| (w.code, w.pointer.as_str())).collect();
    assert!(codes.contains(&("unbound-input", "/subject")), "{codes:?}");
    assert!(codes.contains(&("unbound-mount", "/mounts")), "{codes:?}");
    assert_eq!(p.inputs["subject"].value.as_deref(), Some("<subject>"));
    let out = p.mounts.iter().find(|m| m.name == "out").unwrap();
    assert_eq!(out.host_path, Path::new("<unbound mount out>"));
    // Running needs every value: the same Command and values are refused by `plan`.
    assert!(plan(&c, &Value::Null, &m).is_err());
}

#[test]
fn a_command_without_a_command_line_runs_the_images_own_cmd() {
    for (extra, cmd) in [("", vec![]), (r#", "override-entrypoint": true"#, vec!["/bin/sh", "-c", ""])] {
        let doc = Value::parse(&format!(r#"{{"name": "own-cmd", "image": "example/tool:1"{extra}}}"#)).unwrap();
        let v = validate(&doc);
        let codes: Vec<(&str, bool)> = v.problems.iter().map(|p| (p.code, p.is_error())).collect();
        assert_eq!(codes, [("missing-command-line", false)], "{extra}");
        let p = plan(&v.command.unwrap(), &Value::Null, &BTreeMap::new()).unwrap();
        assert_eq!(p.execution.cmd, cmd, "{extra}");
    }
}

fn full_plan() -> XnatPlan {
    let doc = read("render-cases.json");
    let case = &doc.get("cases").unwrap().as_list().unwrap()[1];
    let c = command("edge-cases.json");
    let m = mounts(doc.get("default-mounts").unwrap().get("edge-cases.json").unwrap());
    plan(&c, case.get("inputs").unwrap(), &m).unwrap()
}

#[test]
fn templates_reach_paths_environment_labels_and_outputs() {
    let p = full_plan();
    let env: Vec<(&str, &str)> = p.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(env, [("SUBJECT", "s2"), ("OUT_FILE", "/output/out.nii"), ("COUNT_2.5", "yes")]);
    assert_eq!(p.working_directory.as_deref(), Some("/work/s2"));
    assert_eq!(p.container_labels["org.example.subject"], "s2");
    let work = p.mounts.iter().find(|m| m.name == "work").unwrap();
    assert_eq!(work.container_path, "/work/s2");
    assert_eq!(work.host_path, Path::new("/data/work"));
    let result = &p.outputs[0];
    assert_eq!(
        (result.container_path.as_str(), result.host_path.as_path()),
        ("/output/out.nii", Path::new("/data/out/out.nii"))
    );
    let all = &p.outputs[1];
    assert_eq!((all.container_path.as_str(), all.host_path.as_path()), ("/output", Path::new("/data/out")));
    assert_eq!(all.glob.as_deref(), Some("*.nii"));
}

#[test]
fn resources_are_in_dockers_units() {
    let r = full_plan().resources;
    assert_eq!(r.reserve_memory_bytes, Some(512 * 1024 * 1024));
    assert_eq!(r.limit_memory_bytes, Some(1024 * 1024 * 1024));
    assert_eq!(r.cpus, Some(1.5));
    assert_eq!(r.nano_cpus, Some(1_500_000_000));
    assert_eq!(r.shm_size_bytes, Some(67_108_864));
    assert_eq!(r.generic_resources["gpu"], GenericResource::Count(1));
    assert_eq!(r.generic_resources["fpga"], GenericResource::Named("model-x".into()));
    assert_eq!(r.ulimits["nofile"], Ulimit { soft: 1024, hard: 4096 });
    assert_eq!(r.ulimits["core"], Ulimit { soft: 0, hard: 0 });
}

#[test]
fn sensitive_values_are_redacted_everywhere() {
    let p = full_plan();
    assert!(p.command_line.contains("--token sekrit"));
    let r = p.redacted();
    let text = serde_json::to_string(&r).unwrap();
    assert!(!text.contains("sekrit"), "{text}");
    assert!(r.command_line.ends_with(&format!("--subject s2 {REDACTED}")), "{}", r.command_line);
    assert_eq!(r.inputs["token"].value.as_deref(), Some(REDACTED));
    assert_eq!(r.inputs["subject"].value.as_deref(), Some("s2"));
    // The plan to run keeps the value.
    assert_eq!(p.inputs["token"].value.as_deref(), Some("sekrit"));
}

#[test]
fn plans_snapshot() {
    insta::assert_json_snapshot!("plan-edge-cases", full_plan());
    let c = command("shell.json");
    let m = mounts(&Value::parse(r#"{"out": "/data/out"}"#).unwrap());
    insta::assert_json_snapshot!(
        "plan-shell",
        plan(&c, &Value::parse(r#"{"message": "hi there"}"#).unwrap(), &m).unwrap()
    );
}

#[test]
fn validation_cases() {
    let doc = read("validation-cases.json");
    let cases = doc.get("cases").unwrap().as_dict().unwrap();
    let mut files: Vec<String> = std::fs::read_dir(testdata("invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = cases.keys().cloned().collect();
    listed.sort();
    assert_eq!(files, listed, "every file in testdata/invalid has a case, and every case a file");

    let mut report = String::new();
    for (file, expected) in cases {
        let v = validate(&read(&format!("invalid/{file}")));
        let mut got: Vec<(String, String, String)> = v
            .problems
            .iter()
            .map(|p| (format!("{:?}", p.severity).to_lowercase(), p.code.to_string(), p.pointer.clone()))
            .collect();
        let mut want: Vec<(String, String, String)> = expected
            .as_list()
            .unwrap()
            .iter()
            .map(|e| {
                let e = strings(e);
                (e[0].clone(), e[1].clone(), e[2].clone())
            })
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{file}");
        assert!(v.problems.iter().all(|p| p.hint.is_some()), "{file}: every problem has a hint");
        report.push_str(&format!("{file}\n"));
        for p in v.problems.iter() {
            report.push_str(&format!(
                "  {:?} {}: {}\n    hint: {}\n",
                p.severity,
                if p.pointer.is_empty() { "/" } else { &p.pointer },
                p.message,
                p.hint.as_deref().unwrap_or("")
            ));
        }
    }
    insta::assert_snapshot!("validation-messages", report);
}

#[test]
fn from_value_keeps_errors_only() {
    let e = Command::from_value(&read("invalid/missing-basics.json")).unwrap_err();
    let codes: Vec<&str> = e.iter().map(|p| p.code).collect();
    assert_eq!(codes, ["blank-name"]);
    assert!(Command::from_value(&read("edge-cases.json")).is_ok());
}

#[test]
fn an_invalid_command_is_not_planned() {
    let mut c = command("shell.json");
    c.outputs[0].mount = Some("elsewhere".into());
    let m = mounts(&Value::parse(r#"{"out": "/data/out"}"#).unwrap());
    let e = plan(&c, &Value::parse(r#"{"message": "hi"}"#).unwrap(), &m).unwrap_err();
    let XnatError::InvalidCommand { problems, .. } = &e else { panic!("{e}") };
    assert_eq!(problems.iter().map(|p| p.code).collect::<Vec<_>>(), ["unknown-output-mount"]);
    c.outputs[0].mount = Some("out".into());
    c.image = None;
    let e = plan(&c, &Value::parse(r#"{"message": "hi"}"#).unwrap(), &m).unwrap_err();
    assert!(matches!(e, XnatError::NoImage { .. }), "{e}");
}

#[test]
fn the_serialised_command_reads_back_the_same() {
    for file in ["edge-cases.json", "shell.json"] {
        let c = command(file);
        let text = serde_json::to_string(&c).unwrap();
        let again = command_from_text(&text);
        assert_eq!(c, again, "{file}");
    }
}

fn command_from_text(text: &str) -> Command {
    let v = validate(&Value::parse(text).unwrap());
    assert!(v.problems.is_empty(), "{:#?}", v.problems);
    v.command.unwrap()
}
