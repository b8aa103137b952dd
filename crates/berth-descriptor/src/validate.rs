//! The semantic checks bosh makes after the JSON Schema, and a few it should make.
//!
//! Errors here are exactly what `bosh validate` (boutiques 0.5.33, `validator.py`) rejects,
//! plus the descriptors that make bosh's validator crash with a Python exception; those get a
//! message about the actual problem instead of a traceback. Warnings are for descriptors bosh
//! accepts but that almost certainly do not do what their author meant; `--strict` makes them
//! errors. Each check cites the rule it mirrors.

use std::collections::HashSet;

use crate::condexpr;
use crate::model::{Descriptor, InputType};
use crate::problem::{Problem, Problems};
use crate::pyjson::Value;

/// Runs every semantic check on a schema-valid descriptor.
pub fn check(d: &Descriptor) -> Problems {
    let mut p = Problems::default();
    value_keys(d, &mut p);
    unique_ids(d, &mut p);
    shared_value_keys(d, &mut p);
    unique_path_templates(d, &mut p);
    conditional_outputs(d, &mut p);
    inputs(d, &mut p);
    groups(d, &mut p);
    tests(d, &mut p);
    container(d, &mut p);
    defaults(d, &mut p);
    p.sort();
    p
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

/// Every value-key must occur in the command line, a file template, a path template or an
/// environment variable value; and no value-key may contain another (substitution would
/// corrupt it).
fn value_keys(d: &Descriptor, p: &mut Problems) {
    let mut keys: Vec<(String, String, String)> = Vec::new(); // (key, pointer, owner id)
    for i in &d.inputs {
        if let Some(k) = &i.value_key {
            keys.push((k.clone(), format!("{}/value-key", i.pointer()), i.id.clone()));
        }
    }
    for o in &d.outputs {
        if let Some(k) = &o.value_key {
            keys.push((k.clone(), format!("{}/value-key", o.pointer()), o.id.clone()));
        }
    }
    // bosh searches `cmdline + ".".join(templates) + "||value" * n`.
    let mut templates: Vec<&str> =
        d.outputs.iter().flat_map(|o| o.file_template.iter().flatten()).map(String::as_str).collect();
    templates.extend(d.outputs.iter().filter_map(|o| o.path_template.as_deref()));
    let mut hay = d.command_line.clone();
    hay.push_str(&templates.join("."));
    for e in &d.env {
        hay.push_str("||");
        hay.push_str(&e.value);
    }
    for (key, ptr, id) in &keys {
        if !hay.contains(key.as_str()) {
            p.push(
                Problem::error(
                    "value-key-unused",
                    ptr,
                    format!("value-key {} of {} appears nowhere: not in the command line, a file template, a path template or an environment variable", q(key), q(id)),
                )
                .hint(format!("put {key} in `command-line` where the value belongs, or remove the value-key")),
            );
        }
    }
    for (key, ptr, id) in &keys {
        for (other, _, other_id) in &keys {
            if other != key && key.contains(other.as_str()) {
                p.push_unique(
                    Problem::error(
                        "value-key-contains-another",
                        ptr,
                        format!(
                            "value-key {} of {} contains value-key {} of {}; substituting one would corrupt the other",
                            q(key),
                            q(id),
                            q(other),
                            q(other_id)
                        ),
                    )
                    .hint("use distinct delimited keys such as `[INPUT_A]` and `[INPUT_B]`"),
                );
            }
        }
    }
}

/// Ids of inputs, outputs and groups share one namespace and must be unique.
fn unique_ids(d: &Descriptor, p: &mut Problems) {
    let mut seen: HashSet<&str> = HashSet::new();
    let all = d
        .inputs
        .iter()
        .map(|i| (i.id.as_str(), i.pointer()))
        .chain(d.outputs.iter().map(|o| (o.id.as_str(), o.pointer())))
        .chain(d.groups.iter().map(|g| (g.id.as_str(), g.pointer())));
    for (id, ptr) in all {
        if !seen.insert(id) {
            p.push(
                Problem::error("duplicate-id", format!("{ptr}/id"), format!("id {} is used more than once", q(id)))
                    .hint("ids of inputs, outputs and groups must all differ; rename one of them"),
            );
        }
    }
}

/// Inputs may share a value-key only when they are alternatives (members of a
/// mutually-exclusive group). bosh only rejects the case of a non-exclusive group holding
/// exactly those inputs, and crashes when the descriptor has no groups at all.
fn shared_value_keys(d: &Descriptor, p: &mut Problems) {
    let mut keys: Vec<&str> = d.inputs.iter().filter_map(|i| i.value_key.as_deref()).collect();
    keys.extend(d.outputs.iter().filter_map(|o| o.value_key.as_deref()));
    let mut reported: HashSet<&str> = HashSet::new();
    for (idx, key) in keys.iter().enumerate() {
        if !keys[idx + 1..].contains(key) || !reported.insert(key) {
            continue;
        }
        let sharing: Vec<&crate::model::Input> =
            d.inputs.iter().filter(|i| i.value_key.as_deref() == Some(key)).collect();
        let ids: HashSet<&str> = sharing.iter().map(|i| i.id.as_str()).collect();
        let names = sharing.iter().map(|i| q(&i.id)).collect::<Vec<_>>().join(", ");
        let ptr = sharing.first().map(|i| format!("{}/value-key", i.pointer())).unwrap_or_default();
        let non_exclusive = d.groups.iter().find(|g| {
            g.members.iter().map(String::as_str).collect::<HashSet<_>>() == ids && g.mutually_exclusive != Some(true)
        });
        let exclusive = d
            .groups
            .iter()
            .any(|g| g.mutually_exclusive == Some(true) && ids.iter().all(|id| g.members.iter().any(|m| m == id)));
        let outputs_share = d.outputs.iter().any(|o| o.value_key.as_deref() == Some(key));
        let base = format!(
            "value-key {} is shared by {}",
            q(key),
            if names.is_empty() { "several outputs".to_string() } else { names }
        );
        let hint = "inputs may share a value-key only as members of one mutually-exclusive group; otherwise give each its own key";
        let keyless: Vec<&crate::model::Input> = d.inputs.iter().filter(|i| i.value_key.is_none()).collect();
        if !d.groups.is_empty() && !keyless.is_empty() {
            // bosh looks up `value-key` on every input to resolve a shared key and crashes
            // (KeyError) on one without.
            p.push(
                Problem::error(
                    "shared-value-key",
                    ptr,
                    format!(
                        "{base}, while input {} has no value-key; bosh's validator cannot check shared value-keys then",
                        q(&keyless[0].id)
                    ),
                )
                .hint("give every input a value-key, or give the sharing inputs distinct keys"),
            );
        } else if let Some(g) = non_exclusive {
            p.push(
                Problem::error(
                    "shared-value-key",
                    ptr,
                    format!("{base}, and their group {} is not mutually exclusive", q(&g.id)),
                )
                .hint(hint),
            );
        } else if d.groups.is_empty() {
            p.push(
                Problem::error("shared-value-key", ptr, format!("{base}, which are not in a mutually-exclusive group"))
                    .hint(hint),
            );
        } else if !exclusive || outputs_share {
            p.push(Problem::warning("shared-value-key", ptr, format!("{base}, which are not all in one mutually-exclusive group; only the first one with a value is substituted")).hint(hint));
        }
    }
}

/// Two outputs with the same path template would overwrite each other.
fn unique_path_templates(d: &Descriptor, p: &mut Problems) {
    for (n, o) in d.outputs.iter().enumerate() {
        let Some(t) = &o.path_template else { continue };
        if let Some(first) = d.outputs[..n].iter().find(|e| e.path_template.as_ref() == Some(t)) {
            p.push(
                Problem::error(
                    "duplicate-path-template",
                    format!("{}/path-template", o.pointer()),
                    format!("outputs {} and {} have the same path-template {}", q(&first.id), q(&o.id), q(t)),
                )
                .hint("give each output its own path"),
            );
        }
    }
}

/// The condition (first key) and path of one `conditional-path-template` entry.
pub(crate) fn cond_entry(entry: &Value) -> Option<(&str, &Value)> {
    entry.as_dict().and_then(|d| d.iter().next()).map(|(k, v)| (k.as_str(), v))
}

/// Required conditional outputs need exactly one `default`, and their conditions must name
/// existing ids and compare like with like (bosh's `isValidConditionalExp`).
fn conditional_outputs(d: &Descriptor, p: &mut Problems) {
    let input_ids: HashSet<&str> = d.inputs.iter().map(|i| i.id.as_str()).collect();
    let output_ids: HashSet<&str> = d.outputs.iter().map(|o| o.id.as_str()).collect();
    for o in &d.outputs {
        let Some(entries) = &o.conditional else { continue };
        let base = format!("{}/conditional-path-template", o.pointer());
        if o.optional.is_none() {
            // bosh's validator reads `o["optional"]` of every conditional output and crashes
            // with a KeyError when it is missing.
            p.push(
                Problem::error("conditional-without-optional", o.pointer(), format!("output {} has a conditional-path-template but no `optional` key, which bosh's validator cannot check", q(&o.id)))
                    .hint("add `\"optional\": false` (or `true` if the tool may not produce it)"),
            );
        }
        let strict_only = o.optional != Some(false);
        let mut keys = Vec::new();
        for (n, e) in entries.iter().enumerate() {
            match cond_entry(e) {
                Some((k, v)) => {
                    if v.as_str().is_none() {
                        // bosh only fails when it reaches this entry while rendering.
                        p.push(Problem::warning("conditional-path-not-string", format!("{base}/{n}"), format!("output {}: the path for condition {} is {}, not a string; rendering fails when this condition is reached", q(&o.id), q(k), v.type_name())).hint("write the path template as a string"));
                    }
                    keys.push((n, k));
                }
                None => {
                    // A required output's entries are read by bosh's validator (IndexError on
                    // an empty one); an optional output's only when rendering reaches them.
                    let mk = if strict_only { Problem::warning } else { Problem::error };
                    p.push(
                        mk("conditional-entry-empty", format!("{base}/{n}"), format!("output {}: entry {n} of conditional-path-template is empty; it must be an object with one condition", q(&o.id)))
                            .hint("write entries as {\"opt1 > 2\": \"out/[X].txt\"} or {\"default\": \"out/default.txt\"}"),
                    );
                }
            }
        }
        let defaults = keys.iter().filter(|(_, k)| *k == "default").count();
        if !strict_only && defaults == 0 {
            p.push(
                Problem::error(
                    "conditional-without-default",
                    base.clone(),
                    format!(
                        "output {} is required and has a conditional-path-template, so it needs a \"default\" entry",
                        q(&o.id)
                    ),
                )
                .hint("add {\"default\": \"path\"} as the last entry, or make the output optional"),
            );
        }
        if defaults > 1 {
            let mk = if strict_only { Problem::warning } else { Problem::error };
            p.push(
                mk(
                    "conditional-two-defaults",
                    base.clone(),
                    format!("output {} has more than one \"default\" entry", q(&o.id)),
                )
                .hint("keep one"),
            );
        }
        for (n, key) in keys {
            let ptr = format!("{base}/{n}");
            let mk = if strict_only { Problem::warning } else { Problem::error };
            let formatted = match condexpr::bosh_format(key) {
                Ok(f) => f,
                Err(e) => {
                    p.push(
                        mk("conditional-expression", ptr, format!("output {}: condition {}: {e}", q(&o.id), q(key)))
                            .hint("complete the comparison"),
                    );
                    continue;
                }
            };
            let words = crate::pyfmt::py_split(&formatted);
            if words.is_empty() {
                p.push(
                    mk("conditional-expression", ptr, format!("output {}: condition {} is empty", q(&o.id), q(key)))
                        .hint("write a condition such as `opt1 > 2`, or \"default\""),
                );
                continue;
            }
            if words[0] == "default" && words.len() == 1 {
                continue;
            }
            if strict_only_suspicious(key) {
                p.push(Problem::warning("conditional-operator-spacing", ptr.clone(), format!("output {}: in condition {}, bosh drops the character after a one-character operator that is not followed by a space", q(&o.id), q(key))).hint("put spaces around `<`, `>`, `=` operators, e.g. `opt1 > 2`"));
            }
            for w in condexpr::identifier_words(&formatted) {
                if !input_ids.contains(w) && !output_ids.contains(w) {
                    p.push(mk("conditional-unknown-id", ptr.clone(), format!("output {}: condition {} uses {}, which is neither a Python keyword nor an input or output id", q(&o.id), q(key), q(w))).hint("refer to inputs by their `id`, and quote string values"));
                }
            }
            let typed: Vec<String> = words
                .iter()
                .map(|w| {
                    let is_word =
                        !crate::pyfmt::py_iskeyword(w) && crate::pyfmt::py_isalnum(w) && !crate::pyfmt::py_isdigit(w);
                    match d.input(w) {
                        Some(i) if is_word => i.kind.as_str().to_string(),
                        _ => (*w).to_string(),
                    }
                })
                .collect();
            match condexpr::bosh_validator_accepts(&typed.join(" ")) {
                Ok(true) => {}
                Ok(false) => p.push(mk("conditional-expression", ptr, format!("output {}: condition {} is not valid: compare inputs with values of their own type, put each comparison joined by `and`/`or` in parentheses, and use only `and`, `or`, `==`, `!=`, `<`, `>`, `<=`, `>=`", q(&o.id), q(key))).hint("for example `(opt1 > 2) and (mode == \"fast\")`")),
                Err(e) => p.push(mk("conditional-expression", ptr, format!("output {}: condition {}: {e}", q(&o.id), q(key))).hint("complete the expression")),
            }
        }
    }
}

fn strict_only_suspicious(key: &str) -> bool {
    let c: Vec<char> = key.chars().collect();
    c.iter().enumerate().any(|(i, ch)| {
        matches!(ch, '=' | '!' | '<' | '>')
            && c.get(i + 1).is_some_and(|n| *n != '=' && *n != ' ')
            && !(i > 0 && matches!(c[i - 1], '=' | '!' | '<' | '>'))
    })
}

fn in_choices(v: &Value, choices: &[Value]) -> bool {
    choices.iter().any(|c| c.py_eq(v))
}

/// Per-input rules from bosh's validator, in its order.
fn inputs(d: &Descriptor, p: &mut Problems) {
    let input_ids: HashSet<&str> = d.inputs.iter().map(|i| i.id.as_str()).collect();
    let group_ids: HashSet<&str> = d.groups.iter().map(|g| g.id.as_str()).collect();
    let optional = |id: &str| d.input(id).is_some_and(|i| i.is_optional());
    for i in &d.inputs {
        let ptr = i.pointer();
        let who = q(&i.id);
        match i.kind {
            InputType::Flag => {
                if i.flag.is_none() {
                    p.push(
                        Problem::error(
                            "flag-without-command-line-flag",
                            &ptr,
                            format!("input {who} is a Flag, so it needs a `command-line-flag`"),
                        )
                        .hint("add e.g. `\"command-line-flag\": \"--verbose\"`"),
                    );
                }
                if !i.is_optional() {
                    p.push(
                        Problem::error(
                            "flag-not-optional",
                            format!("{ptr}/optional"),
                            format!("input {who} is a Flag, so it must be optional"),
                        )
                        .hint("add `\"optional\": true`"),
                    );
                }
            }
            InputType::Number => {
                if let (Some(min), Some(max)) =
                    (i.minimum.as_ref().and_then(Value::numeric), i.maximum.as_ref().and_then(Value::numeric))
                    && min.py_cmp(&max) == Some(std::cmp::Ordering::Greater)
                {
                    p.push(
                        Problem::error(
                            "minimum-above-maximum",
                            format!("{ptr}/minimum"),
                            format!(
                                "input {who} has a minimum ({}) greater than its maximum ({})",
                                min_str(i.minimum.as_ref()),
                                min_str(i.maximum.as_ref())
                            ),
                        )
                        .hint("swap them or fix one"),
                    );
                }
            }
            _ => {
                if let Some(choices) = &i.choices {
                    if choices.is_empty() {
                        p.push(
                            Problem::error(
                                "value-choices-empty",
                                format!("{ptr}/value-choices"),
                                format!("input {who} has an empty `value-choices`"),
                            )
                            .hint("list at least one choice or remove `value-choices`"),
                        );
                    }
                    if i.has_default {
                        let dv = i.default.clone().unwrap_or(Value::Null);
                        let bad: Vec<&Value> = match &dv {
                            Value::List(items) => items.iter().filter(|v| !in_choices(v, choices)).collect(),
                            other => {
                                if in_choices(other, choices) {
                                    vec![]
                                } else {
                                    vec![other]
                                }
                            }
                        };
                        for b in bad {
                            p.push(
                                Problem::error(
                                    "default-not-in-choices",
                                    format!("{ptr}/default-value"),
                                    format!(
                                        "input {who} has default {} which is not one of its value-choices",
                                        b.to_json()
                                    ),
                                )
                                .hint("make the default one of the choices"),
                            );
                        }
                    }
                }
            }
        }
        if i.list.is_some() {
            let min = truthy_num(i.min_list_entries.as_ref()).unwrap_or(0.0);
            let max = truthy_num(i.max_list_entries.as_ref()).unwrap_or(f64::INFINITY);
            if min > max {
                p.push(
                    Problem::error(
                        "list-min-above-max",
                        format!("{ptr}/min-list-entries"),
                        format!(
                            "input {who} has min-list-entries ({}) greater than max-list-entries ({})",
                            min_str(i.min_list_entries.as_ref()),
                            min_str(i.max_list_entries.as_ref())
                        ),
                    )
                    .hint("swap them or fix one"),
                );
            }
            if min < 0.0 {
                p.push(
                    Problem::error(
                        "list-min-negative",
                        format!("{ptr}/min-list-entries"),
                        format!("input {who} has a negative min-list-entries"),
                    )
                    .hint("use 0 or more"),
                );
            }
            if max <= 0.0 {
                p.push(
                    Problem::error(
                        "list-max-not-positive",
                        format!("{ptr}/max-list-entries"),
                        format!("input {who} has a max-list-entries that is not positive"),
                    )
                    .hint("use 1 or more, or remove it"),
                );
            }
        }
        for (n, r) in i.requires.iter().flatten().enumerate() {
            if !input_ids.contains(r.as_str()) && !group_ids.contains(r.as_str()) {
                p.push(
                    Problem::error(
                        "requires-unknown-id",
                        format!("{ptr}/requires-inputs/{n}"),
                        format!("input {who} requires {}, which is not an input or group id", q(r)),
                    )
                    .hint("fix the id or remove it"),
                );
            }
        }
        for (n, r) in i.disables.iter().flatten().enumerate() {
            if !input_ids.contains(r.as_str()) {
                p.push(
                    Problem::error(
                        "disables-unknown-id",
                        format!("{ptr}/disables-inputs/{n}"),
                        format!("input {who} disables {}, which is not an input id", q(r)),
                    )
                    .hint("fix the id or remove it"),
                );
            }
        }
        if let (Some(req), Some(dis)) = (&i.requires, &i.disables) {
            for r in req.iter().filter(|r| dis.contains(r)) {
                p.push(
                    Problem::error(
                        "requires-and-disables",
                        format!("{ptr}/disables-inputs"),
                        format!("input {who} both requires and disables {}", q(r)),
                    )
                    .hint("keep it in one of the two lists"),
                );
            }
        }
        for (n, r) in i.disables.iter().flatten().enumerate() {
            if input_ids.contains(r.as_str()) && !optional(r) {
                p.push(
                    Problem::error(
                        "disables-required",
                        format!("{ptr}/disables-inputs/{n}"),
                        format!("input {who} disables {}, which is required", q(r)),
                    )
                    .hint("a required input cannot be disabled; make it optional or remove it from `disables-inputs`"),
                );
            }
        }
        if (i.requires.is_some() || i.disables.is_some()) && !i.is_optional() {
            p.push(
                Problem::error(
                    "required-input-with-dependencies",
                    ptr.clone(),
                    format!("input {who} is required, so it cannot require or disable other inputs"),
                )
                .hint("make it optional, or move the rule to the optional inputs"),
            );
        }
        if (i.value_disables.is_some() || i.value_requires.is_some()) && i.choices.is_none() {
            p.push(
                Problem::error(
                    "value-rules-without-choices",
                    ptr.clone(),
                    format!("input {who} has value-requires or value-disables but no value-choices"),
                )
                .hint("add `value-choices` with one entry per key"),
            );
        }
        if let Some(choices) = &i.choices {
            value_rules(d, i, choices, &input_ids, p);
        }
    }
}

fn value_rules(
    d: &Descriptor,
    i: &crate::model::Input,
    choices: &[Value],
    input_ids: &HashSet<&str>,
    p: &mut Problems,
) {
    let ptr = i.pointer();
    let who = q(&i.id);
    let ids_of = |v: &Value| -> Option<Vec<String>> { v.as_list().map(|l| l.iter().map(Value::py_str).collect()) };
    if let (Some(req), Some(dis)) = (&i.value_requires, &i.value_disables) {
        for c in choices {
            let key = c.py_str();
            let (Some(r), Some(s)) = (req.get(&key).and_then(ids_of), dis.get(&key).and_then(ids_of)) else { continue };
            for id in s.iter().filter(|x| r.contains(x)) {
                p.push(
                    Problem::error(
                        "value-requires-and-disables",
                        format!("{ptr}/value-disables"),
                        format!("input {who}: choice {} both requires and disables {}", q(&key), q(id)),
                    )
                    .hint("keep the id in one of the two maps"),
                );
            }
        }
    }
    for (param, map) in [("value-requires", &i.value_requires), ("value-disables", &i.value_disables)] {
        let Some(map) = map else { continue };
        let keys: HashSet<&str> = map.keys().map(String::as_str).collect();
        let wanted: Vec<String> = choices.iter().map(|c| c.py_str()).collect();
        let all_str = choices.iter().all(|c| matches!(c, Value::Str(_)));
        if !all_str || keys != wanted.iter().map(String::as_str).collect::<HashSet<_>>() {
            p.push(
                Problem::error(
                    "value-rules-keys",
                    format!("{ptr}/{param}"),
                    format!(
                        "input {who}: the keys of {param} must be exactly its value-choices ({})",
                        wanted.iter().map(|w| q(w)).collect::<Vec<_>>().join(", ")
                    ),
                )
                .hint(if all_str {
                    "add a key for every choice (an empty list is fine) and remove the others".to_string()
                } else {
                    "value-requires and value-disables only work with string value-choices".to_string()
                }),
            );
        }
        for (k, v) in map {
            let Some(ids) = v.as_list() else {
                p.push(
                    Problem::error(
                        "value-rules-not-list",
                        format!("{ptr}/{param}/{}", crate::problem::escape_token(k)),
                        format!(
                            "input {who}: {param} for choice {} must be a list of input ids, found {}",
                            q(k),
                            v.type_name()
                        ),
                    )
                    .hint("write a list such as [\"other_input\"]"),
                );
                continue;
            };
            for (n, item) in ids.iter().enumerate() {
                let iptr = format!("{ptr}/{param}/{}/{n}", crate::problem::escape_token(k));
                let id = item.py_str();
                if !input_ids.contains(id.as_str()) || item.as_str().is_none() {
                    p.push(
                        Problem::error(
                            "value-rules-unknown-id",
                            iptr.clone(),
                            format!(
                                "input {who}: {param} for choice {} names {}, which is not an input id",
                                q(k),
                                q(&id)
                            ),
                        )
                        .hint("fix the id"),
                    );
                }
                if !d.input(&id).is_some_and(|x| x.is_optional()) {
                    p.push(
                        Problem::error(
                            "value-rules-required-input",
                            iptr,
                            format!(
                                "input {who}: {param} for choice {} names {}, which is not an optional input",
                                q(k),
                                q(&id)
                            ),
                        )
                        .hint("only optional inputs can be required or disabled by a choice"),
                    );
                }
            }
        }
    }
}

fn truthy_num(v: Option<&Value>) -> Option<f64> {
    v.filter(|v| v.truthy()).and_then(Value::as_f64)
}

fn min_str(v: Option<&Value>) -> String {
    v.map(Value::py_str).unwrap_or_default()
}

/// Group rules from bosh's validator.
fn groups(d: &Descriptor, p: &mut Problems) {
    let input_ids: HashSet<&str> = d.inputs.iter().map(|i| i.id.as_str()).collect();
    for (gi, g) in d.groups.iter().enumerate() {
        let ptr = g.pointer();
        let who = q(&g.id);
        let mut seen = HashSet::new();
        let mut twice = HashSet::new();
        for (n, m) in g.members.iter().enumerate() {
            if !input_ids.contains(m.as_str()) {
                p.push(
                    Problem::error(
                        "group-member-missing",
                        format!("{ptr}/members/{n}"),
                        format!("group {who} lists member {}, which is not an input id", q(m)),
                    )
                    .hint("fix the id or remove it from `members`"),
                );
            }
            if !seen.insert(m.as_str()) && twice.insert(m.as_str()) {
                p.push(
                    Problem::error(
                        "group-member-twice",
                        format!("{ptr}/members/{n}"),
                        format!("group {who} lists member {} twice", q(m)),
                    )
                    .hint("list each member once"),
                );
            }
        }
        let members: Vec<&str> = dedup(&g.members);
        let required = |m: &str| d.input(m).is_some_and(|i| !i.is_optional());
        if g.mutually_exclusive == Some(true) {
            for m in members.iter().filter(|m| required(m)) {
                p.push(
                    Problem::error(
                        "mutex-required-member",
                        format!("{ptr}/members"),
                        format!("group {who} is mutually exclusive, so its member {} must be optional", q(m)),
                    )
                    .hint("make the member optional"),
                );
            }
            for m in &members {
                for r in d.input(m).and_then(|i| i.requires.as_ref()).into_iter().flatten() {
                    if members.contains(&r.as_str()) {
                        p.push(
                            Problem::error(
                                "mutex-members-require",
                                format!("{ptr}/members"),
                                format!(
                                    "group {who} is mutually exclusive, but its members {} and {} require one another",
                                    q(m),
                                    q(r)
                                ),
                            )
                            .hint("members of a mutually-exclusive group cannot require each other"),
                        );
                    }
                }
            }
            for (gj, g2) in d.groups.iter().enumerate() {
                if gj == gi || g2.all_or_none != Some(true) {
                    continue;
                }
                let shared: Vec<&String> = g.members.iter().filter(|m| g2.members.contains(m)).collect();
                if shared.iter().collect::<HashSet<_>>().len() >= 2 {
                    p.push(
                        Problem::error(
                            "mutex-and-all-or-none",
                            format!("{ptr}/members"),
                            format!(
                                "mutually-exclusive group {who} and all-or-none group {} both contain {}",
                                q(&g2.id),
                                shared.iter().map(|m| q(m)).collect::<Vec<_>>().join(" and ")
                            ),
                        )
                        .hint("inputs cannot be both exclusive and required together"),
                    );
                }
            }
        }
        if g.one_is_required == Some(true) {
            for m in members.iter().filter(|m| required(m)) {
                p.push(
                    Problem::error(
                        "one-is-required-required-member",
                        format!("{ptr}/members"),
                        format!("group {who} is one-is-required, so its member {} must be optional", q(m)),
                    )
                    .hint("make the member optional"),
                );
            }
            for (gj, g2) in d.groups.iter().enumerate() {
                if gj != gi && g2.all_or_none == Some(true) && members.iter().all(|m| g2.members.iter().any(|x| x == m))
                {
                    p.push(
                        Problem::error(
                            "one-is-required-subset",
                            &ptr,
                            format!("one-is-required group {who} is a subset of all-or-none group {}", q(&g2.id)),
                        )
                        .hint("merge the rules or change the membership"),
                    );
                }
            }
        }
        if g.all_or_none == Some(true) {
            if g.one_is_required == Some(true) || g.mutually_exclusive == Some(true) {
                p.push(
                    Problem::error(
                        "all-or-none-combined",
                        &ptr,
                        format!("group {who} is all-or-none and cannot also be one-is-required or mutually-exclusive"),
                    )
                    .hint("keep one rule per group"),
                );
            }
            for m in members.iter().filter(|m| required(m)) {
                p.push(
                    Problem::error(
                        "all-or-none-required-member",
                        format!("{ptr}/members"),
                        format!("group {who} is all-or-none, so its member {} must be optional", q(m)),
                    )
                    .hint("make the member optional"),
                );
            }
        }
    }
}

fn dedup(v: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    v.iter().map(String::as_str).filter(|m| seen.insert(*m)).collect()
}

/// Test cases must name real outputs, each once, and have unique names.
fn tests(d: &Descriptor, p: &mut Problems) {
    let output_ids: HashSet<&str> = d.outputs.iter().map(|o| o.id.as_str()).collect();
    let mut names = HashSet::new();
    for t in &d.tests {
        let ptr = format!("/tests/{}", t.index);
        let mut seen = HashSet::new();
        for (n, (id, _)) in t.output_files.iter().enumerate() {
            let optr = format!("{ptr}/assertions/output-files/{n}/id");
            if !output_ids.contains(id.as_str()) {
                p.push(
                    Problem::error(
                        "test-unknown-output",
                        &optr,
                        format!("test {} checks output {}, which is not an output id", q(&t.name), q(id)),
                    )
                    .hint("use the id of an entry of `output-files`"),
                );
            }
            if !seen.insert(id.as_str()) {
                p.push(
                    Problem::error(
                        "test-output-twice",
                        &optr,
                        format!("test {} checks output {} more than once", q(&t.name), q(id)),
                    )
                    .hint("check each output once"),
                );
            }
        }
        if !names.insert(t.name.as_str()) {
            p.push(
                Problem::error(
                    "test-name-twice",
                    format!("{ptr}/name"),
                    format!("test name {} is used more than once", q(&t.name)),
                )
                .hint("give each test its own name"),
            );
        }
    }
}

/// An image written as `index://name` must agree with `index`.
fn container(d: &Descriptor, p: &mut Problems) {
    let Some(c) = &d.container else { return };
    let Some(image) = &c.image else {
        // bosh's validator reads `container-image.image` unconditionally (KeyError).
        p.push(
            Problem::error("container-without-image", "/container-image", format!("container-image of type {} has no `image`; bosh's validator cannot check it and berth cannot run it", q(&c.kind)))
                .hint("describe the tool with a docker or singularity `image`"),
        );
        return;
    };
    let Some(index) = &c.index else { return };
    let scheme_len = image.find("://").filter(|&n| n > 0 && image[..n].chars().all(|ch| ch.is_ascii_alphanumeric()));
    if let Some(n) = scheme_len {
        let prefix = &image[..n + 3];
        if prefix != index {
            p.push(
                Problem::error(
                    "container-index-mismatch",
                    "/container-image/index",
                    format!(
                        "container image {} starts with index {}, which differs from `index` {}",
                        q(image),
                        q(prefix),
                        q(index)
                    ),
                )
                .hint("remove the prefix from `image` or make `index` match it"),
            );
        }
    }
}

/// Defaults bosh does not check but that would fail (or surprise) at invocation time.
fn defaults(d: &Descriptor, p: &mut Problems) {
    for i in &d.inputs {
        let Some(dv) = &i.default else { continue };
        if matches!(dv, Value::Null) {
            continue;
        }
        let ptr = format!("{}/default-value", i.pointer());
        let items: Vec<&Value> = match (i.is_list(), dv) {
            (true, Value::List(l)) => l.iter().collect(),
            (true, _) => {
                p.push(
                    Problem::warning(
                        "default-type",
                        &ptr,
                        format!("input {} is a list but its default-value is {}", q(&i.id), dv.type_name()),
                    )
                    .hint("write the default as a list"),
                );
                continue;
            }
            (false, v) => vec![v],
        };
        for v in items {
            let ok = match i.kind {
                InputType::Flag => matches!(v, Value::Bool(_)),
                InputType::Number if i.integer == Some(true) => matches!(v, Value::Int(_)),
                InputType::Number => matches!(v, Value::Int(_) | Value::Float(_)) || i.choices.is_some(),
                InputType::String | InputType::File => matches!(v, Value::Str(_)) || i.choices.is_some(),
            };
            if !ok {
                p.push(
                    Problem::warning(
                        "default-type",
                        &ptr,
                        format!(
                            "input {} is of type {} but its default-value is {}",
                            q(&i.id),
                            i.kind.as_str(),
                            v.type_name()
                        ),
                    )
                    .hint("every invocation will fail validation; fix the default's type"),
                );
            }
            if i.kind == InputType::Number
                && let Some(choices) = &i.choices
                && !in_choices(v, choices)
            {
                p.push(
                    Problem::warning(
                        "default-not-in-choices",
                        &ptr,
                        format!("input {} has default {} which is not one of its value-choices", q(&i.id), v.to_json()),
                    )
                    .hint("make the default one of the choices"),
                );
            }
        }
    }
}
