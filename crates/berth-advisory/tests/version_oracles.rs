//! Property tests: berth's version orderings agree with the real tools on generated versions.
//!
//! - dpkg: `dpkg --compare-versions A lt|eq|gt B` (Debian's dpkg, on every Debian machine).
//! - rpm: `rpm.vercmp` in the Lua interpreter of Debian's `rpm` package (`apt-get install rpm`),
//!   which is rpm's own `rpmverCmp`. All pairs go to one `rpm --eval` call.
//!
//! Both tools are required: a machine without them fails these tests with a hint, never skips.

use std::cmp::Ordering;
use std::process::Command;

use berth_advisory::version::{dpkg, rpm};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

fn require(tool: &str, package: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().expect("run sh");
    assert!(
        found.status.success(),
        "`{tool}` is missing: the version-ordering oracle tests need it (install Debian's `{package}`: `apt-get install {package}`)"
    );
}

/// A Debian version: optional epoch, upstream starting with a digit, optional revision, drawn
/// from the characters where orderings disagree most (`~`, `+`, `.`, letters, zeros).
fn debian_version() -> impl Strategy<Value = String> + Clone {
    let upstream = "[0-9][0-9a-zA-Z.+~]{0,8}";
    let revision = proptest::option::of("[0-9a-z.+~]{1,5}");
    let epoch = proptest::option::of(0u32..3);
    (epoch, upstream, revision).prop_map(|(e, u, r)| {
        let mut v = String::new();
        if let Some(e) = e {
            v.push_str(&format!("{e}:"));
        }
        v.push_str(&u);
        if let Some(r) = r {
            // A revision needs a non-empty upstream ending in something other than `-`.
            v.push('-');
            v.push_str(&r);
        }
        v
    })
}

/// A pair of versions that are often close to each other: the second is either independent
/// or the first with one edit, so that equal prefixes and single-character differences occur.
fn close_pair(
    single: impl Strategy<Value = String> + Clone,
    alphabet: &'static str,
) -> impl Strategy<Value = (String, String)> {
    let independent = (single.clone(), single.clone());
    let edited =
        (single, any::<prop::sample::Index>(), prop::sample::select(alphabet.chars().collect::<Vec<_>>()), 0u8..3)
            .prop_map(|(a, at, c, op)| {
                let mut chars: Vec<char> = a.chars().collect();
                let i = at.index(chars.len() + 1);
                match op {
                    0 => chars.insert(i, c),
                    1 if i < chars.len() => chars[i] = c,
                    _ => chars.push(c),
                }
                (a, chars.into_iter().collect())
            });
    prop_oneof![independent, edited]
}

fn dpkg_says(a: &str, b: &str) -> Option<Ordering> {
    let relation = |op: &str| {
        let out = Command::new("dpkg").args(["--compare-versions", a, op, b]).output().expect("run dpkg");
        match out.status.code() {
            Some(0) => Some(true),
            Some(1) => Some(false),
            // 2: dpkg refuses one of the versions (bad syntax).
            _ => None,
        }
    };
    if relation("lt")? {
        Some(Ordering::Less)
    } else if relation("eq")? {
        Some(Ordering::Equal)
    } else {
        Some(Ordering::Greater)
    }
}

#[test]
fn dpkg_ordering_agrees_with_dpkg_compare_versions() {
    require("dpkg", "dpkg");
    let mut runner = TestRunner::new(Config { cases: 400, ..Config::default() });
    let compared = std::cell::Cell::new(0);
    runner
        .run(&close_pair(debian_version(), "0123456789az.+~-:"), |(a, b)| {
            let Some(want) = dpkg_says(&a, &b) else {
                // dpkg rejects the edited version; berth is lenient there, nothing to compare.
                return Ok(());
            };
            compared.set(compared.get() + 1);
            let got = dpkg::compare(&a, &b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(got, want, "dpkg --compare-versions {} vs {}", a, b);
            Ok(())
        })
        .unwrap();
    let compared = compared.get();
    assert!(compared > 200, "only {compared} generated pairs were valid for dpkg; the generator is broken");
}

/// An rpm version or release: alphanumerics separated by `.`, `_`, `+`, with `~` and `^`.
fn rpm_part() -> impl Strategy<Value = String> + Clone {
    "[0-9a-zA-Z][0-9a-zA-Z._+~^]{0,8}"
}

fn rpm_evr() -> impl Strategy<Value = String> + Clone {
    (proptest::option::of(0u32..3), rpm_part(), "[0-9a-z][0-9a-z._~^]{0,5}").prop_map(|(e, v, r)| match e {
        Some(e) => format!("{e}:{v}-{r}"),
        None => format!("{v}-{r}"),
    })
}

/// Ask rpm's Lua `rpm.vercmp` about every pair in one process.
fn rpm_says(pairs: &[(String, String)]) -> Vec<Ordering> {
    let mut lua = String::from("%{lua: ");
    for (a, b) in pairs {
        lua.push_str(&format!("io.write(rpm.vercmp('{a}', '{b}'), '\\n') "));
    }
    lua.push('}');
    let out = Command::new("rpm").arg("--eval").arg(&lua).output().expect("run rpm");
    assert!(out.status.success(), "rpm --eval failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let answers: Vec<Ordering> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim().parse::<i32>().unwrap_or_else(|_| panic!("rpm said {l:?}")).cmp(&0))
        .collect();
    assert_eq!(answers.len(), pairs.len(), "rpm answered {} of {} comparisons:\n{text}", answers.len(), pairs.len());
    answers
}

fn check_rpm(pairs: &[(String, String)], ours: impl Fn(&str, &str) -> Ordering) {
    let theirs = rpm_says(pairs);
    let disagreements: Vec<String> = pairs
        .iter()
        .zip(&theirs)
        .filter(|((a, b), want)| ours(a, b) != **want)
        .map(|((a, b), want)| format!("{a} vs {b}: rpm says {want:?}, berth {:?}", ours(a, b)))
        .collect();
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
}

fn sample<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>, n: usize) -> Vec<T> {
    let mut runner = TestRunner::deterministic();
    (0..n).map(|_| strategy.new_tree(&mut runner).expect("generate").current()).collect()
}

#[test]
fn rpmvercmp_agrees_with_rpm_on_bare_versions() {
    require("rpm", "rpm");
    let mut pairs = sample(close_pair(rpm_part(), "0123456789az.~^_"), 1500);
    // An edit may add a character rpm's Lua quoting cannot carry; keep the safe alphabet.
    pairs.retain(|(a, b)| !a.contains('\'') && !b.contains('\''));
    check_rpm(&pairs, rpm::vercmp);
}

#[test]
fn rpm_evr_comparison_agrees_with_rpm() {
    require("rpm", "rpm");
    let pairs = sample(close_pair(rpm_evr(), "0123456789a.~^"), 1500);
    // Keep pairs that still parse as version-release on both sides (an edit may add a `-`).
    let pairs: Vec<_> =
        pairs.into_iter().filter(|(a, b)| a.matches('-').count() == 1 && b.matches('-').count() == 1).collect();
    assert!(pairs.len() > 1000);
    check_rpm(&pairs, rpm::compare_evr);
}
