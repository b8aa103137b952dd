//! Property tests: rendering never panics, whatever the invocation holds, and every String
//! value survives bosh-style quoting through a real `sh`.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use berth_descriptor::pyjson::Value;
use berth_descriptor::{Mode, plan, pyfmt::shlex_quote};
use indexmap::IndexMap;
use num_bigint::BigInt;
use proptest::prelude::*;

/// A descriptor exercising every rendering feature: lists with separators and flags,
/// flags, numbers, files in output paths, stripped extensions, chained outputs, conditional
/// outputs, file templates, groups and environment variables.
const RICH: &str = include_str!("../testdata/rich.json");

fn rich() -> berth_descriptor::Descriptor {
    let v = berth_descriptor::validate(Value::parse(RICH).unwrap());
    assert!(v.problems.iter().all(|p| !p.is_error()), "{:?}", v.problems);
    v.descriptor.unwrap()
}

fn any_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Int(BigInt::from(i))),
        "[0-9]{1,40}".prop_map(|s| Value::Int(s.parse().unwrap())),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
        ".*".prop_map(Value::Str),
        "[\\[\\]A-Z ]{0,8}".prop_map(Value::Str),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    any_scalar().prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            proptest::collection::vec(("[a-z]{1,3}", inner), 0..3)
                .prop_map(|kv| Value::Dict(kv.into_iter().collect::<IndexMap<_, _>>())),
        ]
    })
}

fn any_invocation() -> impl Strategy<Value = Value> {
    let ids = prop_oneof![
        Just("s"),
        Just("n"),
        Just("f"),
        Just("l"),
        Just("c"),
        Just("x"),
        Just("m1"),
        Just("m2"),
        Just("zz")
    ];
    proptest::collection::vec((ids, any_value()), 0..8)
        .prop_map(|kv| Value::Dict(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Any invocation either renders or is refused with problems; nothing panics.
    #[test]
    fn rendering_never_panics(inv in any_invocation(), strict in any::<bool>()) {
        let d = rich();
        let mode = if strict { Mode::Strict } else { Mode::Bosh };
        let _ = plan(&d, &inv, mode, "/work");
        // The renderer alone, skipping validation, must not panic either.
        let values = inv.as_dict().cloned().unwrap_or_default();
        let _ = berth_descriptor::render::render(&d, &values, mode, "/work");
    }
}

fn sh_printf(arg: &str) -> Vec<u8> {
    let out = Command::new("/bin/sh").arg("-c").arg(format!("printf %s {arg}")).output().expect("run /bin/sh");
    assert!(out.status.success(), "sh failed for {arg:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// `shlex.quote`-style quoting makes any text (without NUL, which argv cannot hold) one
    /// shell word that `sh` turns back into exactly the same bytes.
    #[test]
    fn quoted_strings_survive_sh(s in "[^\u{0}]{0,40}") {
        prop_assert_eq!(sh_printf(&shlex_quote(&s)), s.as_bytes());
    }

    /// The same through the whole renderer: a String input's value reaches the command
    /// unchanged, whatever characters it holds.
    #[test]
    fn rendered_string_values_survive_sh(s in "[^\u{0}]{0,40}") {
        let d = berth_descriptor::validate(Value::parse(r#"{"name": "p", "tool-version": "1", "description": "d",
            "schema-version": "0.5", "command-line": "printf %s [S]",
            "inputs": [{"id": "s", "name": "S", "type": "String", "value-key": "[S]"}]}"#).unwrap()).descriptor.unwrap();
        let mut inv = IndexMap::new();
        inv.insert("s".to_string(), Value::Str(s.clone()));
        let plan = plan(&d, &Value::Dict(inv), Mode::Strict, "/").unwrap();
        let out = Command::new("/bin/sh").arg("-c").arg(&plan.command_line).output().unwrap();
        prop_assert_eq!(out.stdout, s.as_bytes());
    }
}

/// `float_repr` against a table printed by CPython (`testdata/gen_float_repr.py`).
#[test]
fn float_repr_matches_cpython_table() {
    let table = include_str!("../testdata/float_repr.txt");
    let mut n = 0;
    for line in table.lines() {
        let (hex, want) = line.split_once(' ').unwrap();
        let f = f64::from_bits(u64::from_str_radix(hex, 16).unwrap());
        assert_eq!(berth_descriptor::pyfmt::float_repr(f), want, "bits {hex}");
        n += 1;
    }
    assert!(n > 5000, "table too small: {n}");
}
