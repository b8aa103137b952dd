//! Property tests: planning never panics whatever the input values and mounts hold, parsing
//! never panics whatever the Command holds, every replacement key is substituted, and XNAT's
//! splitter gives back the words it was given.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_xnat::split::split;
use berth_xnat::template::substitute;
use berth_xnat::{Command, Value, plan, validate};
use indexmap::IndexMap;
use num_bigint::BigInt;
use proptest::prelude::*;

fn command(name: &str) -> Command {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name);
    let v = validate(&Value::parse(&std::fs::read_to_string(path).unwrap()).unwrap());
    v.command.unwrap()
}

fn any_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Int(BigInt::from(i))),
        "[0-9]{1,30}".prop_map(|s| Value::Int(s.parse().unwrap())),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
        ".*".prop_map(Value::Str),
        // Text made of the characters that matter here: keys, quotes, separators, brackets.
        "[#\\[\\]a-z '\"\\\\;&|()`^=,-]{0,12}".prop_map(Value::Str),
        Just(Value::Str("[\"a\", \"b\"]".into())),
        Just(Value::Str("true".into())),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    any_scalar().prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            proptest::collection::vec(("[a-z-]{1,8}", inner), 0..3)
                .prop_map(|kv| Value::Dict(kv.into_iter().collect::<IndexMap<_, _>>())),
        ]
    })
}

/// Input values keyed by the test Commands' input names, and one unknown name.
fn any_inputs() -> impl Strategy<Value = Value> {
    let names = prop_oneof![
        Just("text"),
        Just("eq"),
        Just("glued"),
        Just("plain"),
        Just("verbose"),
        Just("yn"),
        Just("raw-bool"),
        Just("count"),
        Just("mode"),
        Just("tags-space"),
        Just("tags-comma"),
        Just("tags-quoted"),
        Just("tags-flag"),
        Just("subject"),
        Just("out-name"),
        Just("token"),
        Just("message"),
        Just("file"),
        Just("port"),
        Just("zz"),
    ];
    prop_oneof![
        4 => proptest::collection::vec((names, any_value()), 0..10)
            .prop_map(|kv| Value::Dict(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        1 => any_value(),
    ]
}

fn any_mounts() -> impl Strategy<Value = BTreeMap<String, PathBuf>> {
    let full = BTreeMap::from([
        ("in".to_string(), PathBuf::from("/data/in")),
        ("out".to_string(), PathBuf::from("/data/out")),
        ("work".to_string(), PathBuf::from("/data/work")),
    ]);
    prop_oneof![
        3 => Just(full),
        1 => proptest::collection::btree_map(
            prop_oneof![Just("in"), Just("out"), Just("work"), Just("x")].prop_map(String::from),
            ".{0,10}".prop_map(PathBuf::from),
            0..4
        ),
    ]
}

/// Command-shaped objects: known keys with arbitrary values, so that parsing and validation
/// meet every shape error and odd value.
fn any_command() -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("name"),
        Just("image"),
        Just("type"),
        Just("command-line"),
        Just("override-entrypoint"),
        Just("mounts"),
        Just("inputs"),
        Just("outputs"),
        Just("xnat"),
        Just("environment-variables"),
        Just("ports"),
        Just("ulimits"),
        Just("reserve-memory"),
        Just("limit-cpu"),
        Just("secrets"),
        Just("generic-resources"),
    ];
    proptest::collection::vec((keys, any_value()), 0..10)
        .prop_map(|kv| Value::Dict(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn planning_never_panics(inputs in any_inputs(), mounts in any_mounts()) {
        for c in [command("edge-cases.json"), command("shell.json")] {
            // As generated, and also kept to the Command's inputs with the required ones
            // filled in, so that more plans succeed.
            let mut fitted = inputs.clone();
            if let Value::Dict(d) = &mut fitted {
                d.retain(|k, _| c.input(k).is_some());
                for i in c.inputs.iter().filter(|i| i.required) {
                    d.entry(i.name.clone()).or_insert(Value::Str("v".into()));
                }
            }
            for inputs in [&inputs, &fitted] {
                let a = plan(&c, inputs, &mounts);
                // And it is deterministic.
                let b = plan(&c, inputs, &mounts);
                prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
                if let Ok(p) = a {
                    let _ = serde_json::to_string(&p.redacted()).unwrap();
                }
            }
        }
    }

    #[test]
    fn parsing_never_panics(doc in any_command()) {
        let v = validate(&doc);
        if let Some(c) = v.command {
            let _ = plan(&c, &Value::Null, &BTreeMap::new());
            let _ = serde_json::to_string(&c).unwrap();
        }
    }

    #[test]
    fn every_key_is_substituted_when_values_hold_no_key_text(
        values in proptest::collection::vec("[a-z0-9 ./]{0,8}", 7),
    ) {
        let c = command("edge-cases.json");
        let names = ["text", "eq", "glued", "plain", "subject", "out-name", "token"];
        let inputs = Value::Dict(
            names.iter().zip(&values).map(|(n, v)| (n.to_string(), Value::Str(v.clone()))).collect(),
        );
        let mounts = BTreeMap::from([
            ("in".to_string(), PathBuf::from("/i")),
            ("out".to_string(), PathBuf::from("/o")),
            ("work".to_string(), PathBuf::from("/w")),
        ]);
        match plan(&c, &inputs, &mounts) {
            Ok(p) => {
                for i in &c.inputs {
                    let key = i.replacement_key();
                    prop_assert!(!p.command_line.contains(&key), "{} in {}", key, p.command_line);
                }
            }
            // Only an output path that leaves its mount may fail here.
            Err(e) => prop_assert!(matches!(e, berth_xnat::XnatError::OutputOutsideMount { .. }), "{}", e),
        }
    }

    #[test]
    fn plain_words_split_back(words in proptest::collection::vec("[a-zA-Z0-9_./=:-]{1,8}", 0..8)) {
        prop_assert_eq!(split(&words.join(" ")).args, words);
    }

    #[test]
    fn single_quoted_words_split_back(words in proptest::collection::vec("[^'\\s]{1,8}|[a-z ]{1,8}", 0..6)) {
        let line = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(split(&line).args, words);
    }

    #[test]
    fn splitting_and_substitution_never_panic(line in ".*", key in ".{0,4}", value in ".*") {
        let _ = split(&line);
        let out = substitute(&line, &[(key.as_str(), value.as_str())]);
        if key.is_empty() || !line.contains(&key) {
            prop_assert_eq!(out, line);
        }
    }
}
