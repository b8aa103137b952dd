//! The XNAT team's 27 sample Commands (`../shared/fixtures/xnat-commands`): every one is
//! read (25 valid, 2 not JSON, with line, column and reason), and every valid one is planned
//! with the input values and host directories in `tests/fixture-inputs.json`. Plans and
//! problem lists are golden files under `tests/snapshots/`; update them with
//! `INSTA_UPDATE=always cargo test -p berth-xnat` and review the diff.
//!
//! A fresh clone has no `../shared`, so these tests say "skipped" and pass when the folder is
//! absent: the one exception to the rule that nothing is silently skipped. CI has the folder.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use berth_xnat::{DocumentKind, LoadError, Value, detect, load_command, plan, validate};

/// The sample Commands that are not valid JSON, with where and why.
const NOT_JSON: [(&str, usize, usize, &str); 2] = [
    ("ecat-dump--command.json", 15, 29, "a trailing comma before `}`"),
    ("recon-all--command.json", 115, 36, "a trailing comma before `}`"),
];

fn fixture_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/xnat-commands");
    if dir.is_dir() {
        Some(dir)
    } else {
        // Written to the real stderr so that it shows even when the harness captures output.
        let _ = writeln!(std::io::stderr(), "skipped: ../shared/fixtures/xnat-commands not present");
        None
    }
}

fn fixtures(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    v.sort();
    v
}

#[test]
fn every_fixture_is_read_25_valid_2_not_json() {
    let Some(dir) = fixture_dir() else { return };
    let all = fixtures(&dir);
    assert_eq!(all.len(), 27, "ORIGIN.md lists 27 sample Commands");
    let mut report = String::new();
    let mut valid = 0;
    for (name, path) in &all {
        match load_command(path.to_str().unwrap()) {
            Err(LoadError::Parse { source, .. }) => {
                let expected = NOT_JSON.iter().find(|(n, ..)| n == name);
                let Some((_, line, column, why)) = expected else {
                    panic!("{name} should be valid JSON: {source}");
                };
                assert_eq!((source.line, source.column), (*line, *column), "{name}");
                assert!(source.message.starts_with(why), "{name}: {}", source.message);
                let err = load_command(path.to_str().unwrap()).unwrap_err();
                let shown = err.to_string().replace(&dir.display().to_string(), "<fixtures>");
                report.push_str(&format!("{name}: error: {shown}\n  hint: {}\n", err.hint().unwrap()));
            }
            Err(e) => panic!("{name}: {e}"),
            Ok(doc) => {
                assert!(!NOT_JSON.iter().any(|(n, ..)| n == name), "{name} should not parse");
                assert_eq!(detect(&doc.value).kind, DocumentKind::XnatCommand, "{name}");
                let v = validate(&doc.value);
                assert!(v.is_ok(false), "{name}: {:#?}", v.problems);
                valid += 1;
                report.push_str(&format!("{name}: ok\n"));
                for p in v.problems.iter() {
                    report.push_str(&format!(
                        "  {:?} {} {}: {}\n    hint: {}\n",
                        p.severity,
                        p.code,
                        p.pointer,
                        p.message,
                        p.hint.as_deref().unwrap_or("")
                    ));
                }
            }
        }
    }
    assert_eq!(valid, 25);
    insta::assert_snapshot!("fixture_problems", report);
}

/// One entry of `tests/fixture-inputs.json`.
struct Case {
    image: Option<String>,
    inputs: Value,
    mounts: BTreeMap<String, PathBuf>,
}

fn cases() -> BTreeMap<String, Case> {
    let text = include_str!("fixture-inputs.json");
    let Value::Dict(d) = Value::parse(text).unwrap() else { panic!("fixture-inputs.json must be an object") };
    d.into_iter()
        .map(|(name, case)| {
            let mounts = case
                .get("mounts")
                .and_then(Value::as_dict)
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), PathBuf::from(v.as_str().unwrap())))
                .collect();
            let image = case.get("image").and_then(Value::as_str).map(str::to_string);
            (name, Case { image, inputs: case.get("inputs").unwrap().clone(), mounts })
        })
        .collect()
}

#[test]
fn every_valid_fixture_plans() {
    let Some(dir) = fixture_dir() else { return };
    let cases = cases();
    let all = fixtures(&dir);
    for name in cases.keys() {
        assert!(all.iter().any(|(n, _)| n == name), "fixture-inputs.json names {name}, which is not a fixture");
    }
    let mut planned = 0;
    for (name, path) in all.iter().filter(|(n, _)| !NOT_JSON.iter().any(|(x, ..)| x == n)) {
        let case = cases.get(name).unwrap_or_else(|| panic!("tests/fixture-inputs.json has no entry for {name}"));
        let doc = load_command(path.to_str().unwrap()).unwrap();
        let mut command = berth_xnat::Command::from_value(&doc.value).unwrap();
        if let Some(image) = &case.image {
            assert!(command.image.is_none(), "{name} names its image; remove `image` from its case");
            // As XNAT does for a Command read from an image's label.
            command.image = Some(image.clone());
        }
        let plan = plan(&command, &case.inputs, &case.mounts).unwrap_or_else(|e| panic!("{name}: {e}: {e:?}"));
        let stem = name.trim_end_matches(".json");
        insta::assert_json_snapshot!(format!("plan-{stem}"), plan);
        planned += 1;
    }
    assert_eq!(planned, 25);
}

/// What the snapshots hold, stated outright for the cases that show XNAT's rules best.
#[test]
fn fixture_plans_follow_xnats_rules() {
    let Some(dir) = fixture_dir() else { return };
    let cases = cases();
    let planned = |name: &str| {
        let doc = load_command(dir.join(name).to_str().unwrap()).unwrap();
        let mut command = berth_xnat::Command::from_value(&doc.value).unwrap();
        let case = &cases[name];
        if let Some(i) = &case.image {
            command.image = Some(i.clone());
        }
        plan(&command, &case.inputs, &case.mounts).unwrap()
    };

    // A boolean through true-value with a flag; a value with spaces pasted unquoted; the
    // image's entrypoint kept, so the line is split into arguments.
    let p = planned("dcm2niix--command.json");
    assert_eq!(p.command_line, "dcm2niix -b y -z y -f %p_%s -o /output /input");
    assert_eq!(p.execution.cmd, ["dcm2niix", "-b", "y", "-z", "y", "-f", "%p_%s", "-o", "/output", "/input"]);
    assert!(!p.execution.override_entrypoint);
    assert_eq!(p.image, "xnat/dcm2niix:latest");

    // Booleans without false-value pass "false" through; a required input without a default
    // gets the given value; blank `#...#` keys stay removed.
    let p = planned("niftyreg--command.json");
    assert!(p.command_line.contains("--inaff init affine.txt --aff outputAffineResult.txt"), "{}", p.command_line);
    assert!(p.command_line.contains("false rigOnly false false false false --interp 3"), "{}", p.command_line);
    assert!(p.command_line.contains("--pv 75"), "{}", p.command_line);
    assert!(p.execution.cmd.contains(&"init".to_string()), "unquoted values split at spaces");

    // override-entrypoint: the line runs under /bin/sh -c, XNAT's environment names untouched.
    let p = planned("debug-command--command.json");
    assert_eq!(p.execution.cmd, ["/bin/sh", "-c", "ls -lR /input > /output/listing.txt"]);

    // A blank value removes its key: `> /output/` is what XNAT runs too.
    let p = planned("debug-setup-command--command-with-setup-command.json");
    assert_eq!(p.command_line, "find /input > /output/");

    // Output paths are templates; the expected location is on the host.
    let p = planned("rt-struct-assessor--command.json");
    let rt = p.outputs.iter().find(|o| o.name == "dicom-rt").unwrap();
    assert_eq!(rt.host_path, Path::new("/data/rtstruct/RS.1.2.3.dcm"));
    assert_eq!(rt.container_path, "/input/RS.1.2.3.dcm");

    // Setup Commands get XNAT's fixed /input and /output.
    let p = planned("setup-commands--xnat2bids--command.json");
    let m: Vec<_> = p.mounts.iter().map(|m| (m.name.as_str(), m.container_path.as_str(), m.writable)).collect();
    assert_eq!(m, [("input", "/input", false), ("output", "/output", true)]);

    // Ports pass through.
    let p = planned("webapp-test--command.json");
    assert_eq!(p.ports.get("5000").map(String::as_str), Some("50000"));
}
