//! Invocations: defaults, the invocation schema bosh generates, and validation.
//!
//! [`invocation_schema`] builds the same draft-04 schema as bosh's
//! `generateInvocationSchema`, including its quirks: a group with a `mutually-exclusive` key
//! makes its members exclusive even when the key is `false`; only the last group named in an
//! input's `requires-inputs` is enforced; the map of required properties is shared between
//! the branches of an `anyOf`, so disabled inputs leak into them. berth reproduces these so
//! that it accepts and rejects exactly the invocations bosh does, then adds the checks bosh
//! documents but never makes (all-or-none groups, `value-requires`, `value-disables`).

use indexmap::IndexMap;
use serde_json::{Map, Value as J, json};

use crate::model::{Descriptor, InputType};
use crate::problem::{Problem, Problems};
use crate::pyjson::Value;
use crate::schema::{ValidationErrorKindSummary as S, check_with};

/// Python's `addDefaultValues`: every input with a non-null `default-value` whose value is
/// absent or `null` gets its default. New keys are appended in descriptor order.
pub fn with_defaults(d: &Descriptor, invocation: &IndexMap<String, Value>) -> IndexMap<String, Value> {
    let mut out = invocation.clone();
    for i in &d.inputs {
        let Some(dv) = &i.default else { continue };
        if matches!(dv, Value::Null) {
            continue;
        }
        if matches!(out.get(&i.id), None | Some(Value::Null)) {
            out.insert(i.id.clone(), dv.clone());
        }
    }
    out
}

fn is_flag(d: &Descriptor, id: &str) -> bool {
    d.input(id).is_some_and(|i| i.kind == InputType::Flag)
}

fn type_constraints(i: &crate::model::Input) -> J {
    let under = || -> J {
        if i.integer == Some(true) {
            json!({"type": "integer"})
        } else if let Some(c) = i.choices.as_ref().filter(|c| !c.is_empty()) {
            json!({"enum": c.iter().map(Value::to_serde).collect::<Vec<_>>()})
        } else {
            match i.kind {
                InputType::File | InputType::String => json!({"type": "string"}),
                InputType::Flag => json!({"type": "boolean"}),
                InputType::Number => json!({"type": "number"}),
            }
        }
    };
    let mut prop = if i.list == Some(true) {
        let mut p = json!({"type": "array", "items": under()});
        if let Some(v) = i.min_list_entries.as_ref().filter(|v| v.truthy()) {
            p["minItems"] = v.to_serde();
        }
        if let Some(v) = i.max_list_entries.as_ref().filter(|v| v.truthy()) {
            p["maxItems"] = v.to_serde();
        }
        p
    } else {
        under()
    };
    let target = if i.list == Some(true) { &mut prop["items"] } else { &mut prop };
    if let Some(v) = i.minimum.as_ref().filter(|v| !matches!(v, Value::Null)) {
        target["minimum"] = v.to_serde();
    }
    if let Some(v) = i.maximum.as_ref().filter(|v| !matches!(v, Value::Null)) {
        target["maximum"] = v.to_serde();
    }
    if i.exclusive_minimum == Some(true) {
        target["exclusiveMinimum"] = J::Bool(true);
    }
    if i.exclusive_maximum == Some(true) {
        target["exclusiveMaximum"] = J::Bool(true);
    }
    prop
}

/// The invocation schema bosh generates for a descriptor (`generateInvocationSchema`).
pub fn invocation_schema(d: &Descriptor) -> J {
    let mut properties = Map::new();
    for i in &d.inputs {
        properties.insert(i.id.clone(), type_constraints(i));
    }
    let mut schema = json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": format!("{}.invocationSchema", d.name),
        "description": format!("Invocation schema for {}.", d.name.to_lowercase()),
        "type": "object",
        "additionalProperties": false,
    });
    let required: Vec<&str> = d.inputs.iter().filter(|i| !i.is_optional()).map(|i| i.id.as_str()).collect();
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    let one_required: Vec<J> = d
        .groups
        .iter()
        .filter(|g| g.one_is_required == Some(true))
        .map(|g| {
            let any: Vec<J> = g
                .members
                .iter()
                .map(|m| {
                    if is_flag(d, m) {
                        json!({"properties": {m.as_str(): {"enum": [true]}}, "required": [m]})
                    } else {
                        json!({"required": [m]})
                    }
                })
                .collect();
            json!({"anyOf": any})
        })
        .collect();
    if !one_required.is_empty() {
        schema["allOf"] = J::Array(one_required);
    }
    let mut deps = Map::new();
    for i in &d.inputs {
        if let Some(entry) = dependencies_of(d, i, &properties) {
            deps.insert(i.id.clone(), entry);
        }
    }
    schema["properties"] = J::Object(properties);
    schema["dependencies"] = J::Object(deps);
    schema
}

/// bosh's `handleDisablesRequires` for one input.
fn dependencies_of(d: &Descriptor, i: &crate::model::Input, properties: &Map<String, J>) -> Option<J> {
    let id = i.id.as_str();
    let mut reqs: Vec<String> = i.requires.clone().unwrap_or_default();
    let mut disbs: Vec<String> = i.disables.clone().unwrap_or_default();
    // Presence of the key, not its value, makes a group exclusive in bosh.
    for g in d.groups.iter().filter(|g| g.mutually_exclusive.is_some() && g.members.iter().any(|m| m == id)) {
        disbs.extend(g.members.iter().filter(|m| *m != id).cloned());
    }
    let mut disb_map = Map::new();
    for x in &disbs {
        let rule = if is_flag(d, x) { json!({"oneOf": [{"not": {}}, {"enum": [false]}]}) } else { json!({"not": {}}) };
        disb_map.insert(x.clone(), rule);
    }
    if !reqs.is_empty() {
        let mut req_map = Map::new();
        for r in &reqs {
            if is_flag(d, r) {
                req_map.insert(r.clone(), json!({"enum": [true]}));
            }
        }
        if is_flag(d, id) {
            // bosh merges the disables into `anyOf[0]["properties"]`, which is this map.
            req_map.extend(disb_map);
            let mut e = Map::new();
            e.insert(
                "anyOf".into(),
                json!([{"properties": req_map, "required": reqs}, {"properties": {id: {"enum": [false]}}}]),
            );
            return Some(J::Object(e));
        }
        let mut any_of: Option<Vec<Vec<String>>> = None;
        let snapshot: Vec<String> = reqs.iter().filter(|r| d.group(r).is_some()).cloned().collect();
        for r in snapshot {
            if let Some(pos) = reqs.iter().position(|x| *x == r) {
                reqs.remove(pos);
            }
            // Each required group replaces the branches of the previous one.
            let mut branches = Vec::new();
            for m in d.group(&r).map(|g| g.members.clone()).unwrap_or_default() {
                req_map.insert(m.clone(), properties.get(&m).cloned().unwrap_or(json!({})));
                let mut required = reqs.clone();
                required.push(m);
                branches.push(required);
            }
            any_of = Some(branches);
        }
        // One dict object is shared by `properties` and every `anyOf` branch, and bosh merges
        // the disables into it afterwards, so every branch sees all of them.
        req_map.extend(disb_map);
        let mut e = Map::new();
        if let Some(branches) = any_of {
            let any: Vec<J> =
                branches.into_iter().map(|r| json!({"properties": req_map.clone(), "required": r})).collect();
            e.insert("anyOf".into(), J::Array(any));
        }
        e.insert("properties".into(), J::Object(req_map));
        if !reqs.is_empty() {
            e.insert("required".into(), json!(reqs));
        }
        return Some(J::Object(e));
    }
    if disbs.is_empty() {
        return None;
    }
    let mut e = Map::new();
    if is_flag(d, id) {
        e.insert("anyOf".into(), json!([{"properties": disb_map}, {"properties": {id: {"enum": [false]}}}]));
    } else {
        e.insert("properties".into(), J::Object(disb_map));
    }
    Some(J::Object(e))
}

/// How closely to follow bosh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Accept and reject exactly what bosh does; the rules bosh leaves unchecked are warnings.
    #[default]
    Bosh,
    /// Also enforce all-or-none groups, value-requires and value-disables, and validate
    /// invocations that are empty (bosh skips those entirely).
    Strict,
}

/// An invocation after defaults were added, with what was found wrong with it.
#[derive(Debug, Clone)]
pub struct CheckedInvocation {
    /// Input values, defaults included, in bosh's order.
    pub values: IndexMap<String, Value>,
    /// Problems: errors block a run; warnings are printed.
    pub problems: Problems,
}

/// Adds defaults to `invocation` and validates it against the descriptor.
pub fn check(d: &Descriptor, invocation: &Value, mode: Mode) -> CheckedInvocation {
    let mut problems = Problems::default();
    let given = invocation.as_dict().cloned().unwrap_or_default();
    let values = with_defaults(d, &given);
    if values.is_empty() && mode == Mode::Bosh {
        // bosh's `validateSchema` runs only `if d:`, so an empty invocation is never checked.
        if d.inputs.iter().any(|i| !i.is_optional()) {
            problems.push(
                Problem::warning("empty-invocation", "", "the invocation is empty and bosh does not validate empty invocations, so required inputs are not checked")
                    .hint("fill in the required inputs; `--strict` rejects this invocation"),
            );
        }
        return CheckedInvocation { values, problems };
    }
    // A number beyond the range of a double becomes `inf` in Python; bosh's invocation check
    // lets it through and its simulate then fails to serialize it. Say so up front.
    for (id, v) in &values {
        if let Some(lit) = non_finite(v) {
            problems.push(
                Problem::error(
                    "number-out-of-range",
                    format!("/{id}"),
                    format!("input {} is {lit}, beyond the range of a double-precision number", describe_input(d, id)),
                )
                .hint("use a number between -1.7976931348623157e308 and 1.7976931348623157e308"),
            );
        }
    }
    if problems.iter().any(Problem::is_error) {
        return CheckedInvocation { values, problems };
    }
    let instance = J::Object(values.iter().map(|(k, v)| (k.clone(), v.to_serde())).collect());
    match d.invocation_schema.as_ref().filter(|s| s.truthy()) {
        Some(embedded) => embedded_schema(embedded, &instance, &mut problems),
        None => generated_schema(d, &instance, &mut problems),
    }
    extra_rules(d, &values, mode == Mode::Strict, &mut problems);
    problems.sort();
    CheckedInvocation { values, problems }
}

fn embedded_schema(schema: &Value, instance: &J, problems: &mut Problems) {
    let schema = schema.to_serde();
    if let Err(e) = jsonschema::draft4::meta::validate(&schema) {
        problems.push(
            Problem::error(
                "invocation-schema-invalid",
                "",
                format!("the descriptor's `invocation-schema` is not a valid draft-04 schema: {e}"),
            )
            .hint("fix `invocation-schema` in the descriptor, or remove it to let berth generate one"),
        );
        return;
    }
    // Python's `jsonschema.validate` picks the draft from `$schema`, defaulting to the latest.
    let validator = match jsonschema::options().should_validate_formats(false).build(&schema) {
        Ok(v) => v,
        Err(e) => {
            problems.push(Problem::error(
                "invocation-schema-invalid",
                "",
                format!("the descriptor's `invocation-schema` cannot be compiled: {e}"),
            ));
            return;
        }
    };
    for (ptr, _schema_path, summary) in check_with(&validator, instance) {
        problems.push_unique(
            Problem::error("invocation-schema", ptr, generic_message(&summary))
                .hint("the descriptor's own `invocation-schema` rejects this value"),
        );
    }
}

fn generic_message(s: &S) -> String {
    match s {
        S::Required(p) => format!("missing required input \"{p}\""),
        S::Additional(p) => format!("unknown input(s) {}", p.join(", ")),
        S::Type { expected, found } => format!("must be {expected}, found {found}"),
        S::Enum(o) => format!("must be one of {o}"),
        S::Minimum(l, ex) => format!("must be {} {l}", if *ex { "greater than" } else { "at least" }),
        S::Maximum(l, ex) => format!("must be {} {l}", if *ex { "less than" } else { "at most" }),
        S::MinItems(n) => format!("needs at least {n} item(s)"),
        S::MaxItems(n) => format!("takes at most {n} item(s)"),
        S::Not => "is not allowed here".into(),
        S::AnyOf => "does not match any allowed combination".into(),
        S::OneOf => "does not match exactly one allowed form".into(),
        S::Other(m) => m.clone(),
    }
}

fn generated_schema(d: &Descriptor, instance: &J, problems: &mut Problems) {
    let schema = invocation_schema(d);
    // bosh checks its generated schema against the draft-04 meta-schema and exits when it is
    // invalid; say which descriptor field causes it.
    if jsonschema::draft4::meta::validate(&schema).is_err() {
        for p in schema_defects(d) {
            problems.push(p);
        }
        if problems.is_empty() {
            problems.push(Problem::error(
                "invocation-schema-invalid",
                "",
                "the invocation schema generated from this descriptor is not a valid draft-04 schema",
            ));
        }
        return;
    }
    let validator = match jsonschema::draft4::options().should_validate_formats(false).build(&schema) {
        Ok(v) => v,
        Err(e) => {
            problems.push(Problem::error(
                "invocation-schema-invalid",
                "",
                format!("cannot compile the invocation schema: {e}"),
            ));
            return;
        }
    };
    for (ptr, schema_path, summary) in check_with(&validator, instance) {
        problems.push_unique(explain(d, &ptr, &schema_path, &summary, instance));
    }
}

/// Descriptor fields that make the generated schema violate the draft-04 meta-schema.
fn schema_defects(d: &Descriptor) -> Vec<Problem> {
    let mut out = Vec::new();
    for i in &d.inputs {
        for (key, v) in [("min-list-entries", &i.min_list_entries), ("max-list-entries", &i.max_list_entries)] {
            if i.list == Some(true) && v.as_ref().is_some_and(|v| v.truthy() && !matches!(v, Value::Int(_))) {
                out.push(
                    Problem::error(
                        "list-entries-not-integer",
                        format!("{}/{key}", i.pointer()),
                        format!(
                            "input \"{}\": {key} must be a whole number such as 2, not {}",
                            i.id,
                            v.as_ref().map(Value::py_str).unwrap_or_default()
                        ),
                    )
                    .hint("bosh refuses every invocation of this descriptor until this is an integer"),
                );
            }
        }
        if let Some(c) = &i.choices
            && i.integer != Some(true)
            && c.iter().enumerate().any(|(n, x)| c[..n].iter().any(|y| y.py_eq(x) && same_kind(x, y)))
        {
            out.push(
                Problem::error(
                    "value-choices-duplicate",
                    format!("{}/value-choices", i.pointer()),
                    format!("input \"{}\" lists a value choice twice", i.id),
                )
                .hint("bosh refuses every invocation of this descriptor until each choice appears once"),
            );
        }
        let mut reqs = i.requires.clone().unwrap_or_default();
        if reqs.iter().enumerate().any(|(n, r)| reqs[..n].contains(r)) {
            out.push(
                Problem::error(
                    "requires-duplicate",
                    format!("{}/requires-inputs", i.pointer()),
                    format!("input \"{}\" lists the same id twice in requires-inputs", i.id),
                )
                .hint("list each required id once"),
            );
        }
        reqs.retain(|r| d.group(r).is_none());
        for r in i.requires.iter().flatten().filter_map(|r| d.group(r)) {
            if r.members.iter().any(|m| reqs.contains(m)) {
                out.push(
                    Problem::error(
                        "requires-group-and-member",
                        format!("{}/requires-inputs", i.pointer()),
                        format!("input \"{}\" requires group \"{}\" and one of its members", i.id, r.id),
                    )
                    .hint("require either the group or the member"),
                );
            }
        }
    }
    out
}

fn same_kind(a: &Value, b: &Value) -> bool {
    matches!((a, b), (Value::Bool(_), Value::Bool(_))) || (!matches!(a, Value::Bool(_)) && !matches!(b, Value::Bool(_)))
}

fn describe_input(d: &Descriptor, id: &str) -> String {
    match d.input(id) {
        Some(i) if !i.name.is_empty() && i.name != i.id => format!("\"{id}\" ({})", i.name),
        _ => format!("\"{id}\""),
    }
}

fn kind_phrase(i: &crate::model::Input) -> String {
    let base = match (i.kind, i.integer == Some(true)) {
        (InputType::Number, true) => "an integer",
        (InputType::Number, false) => "a number",
        (InputType::Flag, _) => "true or false",
        (InputType::File, _) => "a path (string)",
        (InputType::String, _) => "a string",
    };
    if i.is_list() {
        format!("a list of {}", base.trim_start_matches("a ").trim_start_matches("an "))
    } else {
        base.into()
    }
}

/// Turns one error of the generated schema into a sentence about the descriptor's rules.
fn explain(d: &Descriptor, ptr: &str, schema_path: &str, s: &S, instance: &J) -> Problem {
    let segs: Vec<&str> = schema_path.split('/').skip(1).collect();
    let top = ptr.split('/').nth(1).unwrap_or_default().replace("~1", "/").replace("~0", "~");
    let value = instance.pointer(ptr).map(|v| v.to_string()).unwrap_or_default();
    match (segs.as_slice(), s) {
        (["required"], S::Required(id)) => Problem::error(
            "missing-required-input",
            format!("/{id}"),
            format!("required input {} is missing", describe_input(d, id)),
        )
        .hint(format!("add `\"{id}\": {}` to the invocation", example(d, id))),
        (["additionalProperties"], S::Additional(ids)) => {
            let known = d.inputs.iter().map(|i| i.id.as_str()).collect::<Vec<_>>().join(", ");
            Problem::error(
                "unknown-input",
                format!("/{}", ids.first().cloned().unwrap_or_default()),
                format!(
                    "{} not an input of \"{}\"",
                    ids.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ")
                        + if ids.len() == 1 { " is" } else { " are" },
                    d.name
                ),
            )
            .hint(format!("inputs of this tool: {known}"))
        }
        (["properties", id, rest @ ..], _) => {
            let Some(i) = d.input(id) else { return Problem::error("invalid-value", ptr, generic_message(s)) };
            let who = describe_input(d, id);
            let elem = if rest.first() == Some(&"items") {
                format!("item {} of ", ptr.rsplit('/').next().unwrap_or_default())
            } else {
                String::new()
            };
            match s {
                S::Type { found, .. } => Problem::error(
                    "invalid-type",
                    ptr,
                    format!(
                        "{elem}input {who} must be {}, found {found} {value}",
                        kind_phrase(i).trim_start_matches("a list of ").to_string().replace("list of ", "")
                    ),
                )
                .hint(if elem.is_empty() && i.is_list() {
                    format!("write `\"{id}\": [...]`")
                } else {
                    format!("give {} for \"{id}\"", kind_phrase(i))
                }),
                S::Enum(options) => Problem::error(
                    "not-a-choice",
                    ptr,
                    format!("{elem}input {who} is {value}, which is not one of its choices {options}"),
                )
                .hint("use one of the listed values"),
                S::Minimum(l, ex) => Problem::error(
                    "below-minimum",
                    ptr,
                    format!(
                        "{elem}input {who} is {value}, but must be {} {l}",
                        if *ex { "greater than" } else { "at least" }
                    ),
                )
                .hint(format!("use a value {} {l}", if *ex { ">" } else { ">=" })),
                S::Maximum(l, ex) => Problem::error(
                    "above-maximum",
                    ptr,
                    format!(
                        "{elem}input {who} is {value}, but must be {} {l}",
                        if *ex { "less than" } else { "at most" }
                    ),
                )
                .hint(format!("use a value {} {l}", if *ex { "<" } else { "<=" })),
                S::MinItems(n) => Problem::error(
                    "too-few-items",
                    ptr,
                    format!("input {who} needs at least {n} item{}", if *n == 1 { "" } else { "s" }),
                )
                .hint("add items to the list"),
                S::MaxItems(n) => Problem::error(
                    "too-many-items",
                    ptr,
                    format!("input {who} takes at most {n} item{}", if *n == 1 { "" } else { "s" }),
                )
                .hint("remove items from the list"),
                _ => Problem::error("invalid-value", ptr, format!("{elem}input {who}: {}", generic_message(s))),
            }
        }
        (["allOf", n, "anyOf", ..], _) => {
            let group = d.groups.iter().filter(|g| g.one_is_required == Some(true)).nth(n.parse().unwrap_or(0));
            match group {
                Some(g) => Problem::error(
                    "one-is-required",
                    g.pointer(),
                    format!(
                        "group \"{}\" needs one of {}",
                        g.id,
                        g.members.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ")
                    ),
                )
                .hint("give a value to one of the members (a Flag member must be true)"),
                None => Problem::error("invalid-invocation", ptr, generic_message(s)),
            }
        }
        (["dependencies", id, rest @ ..], _) => dependency_problem(d, id, rest, s, &top),
        _ => Problem::error("invalid-invocation", ptr, generic_message(s)),
    }
}

fn dependency_problem(d: &Descriptor, id: &str, rest: &[&str], s: &S, _top: &str) -> Problem {
    let who = describe_input(d, id);
    let ptr = format!("/{id}");
    let exclusive_with = |other: &str| {
        d.groups.iter().find(|g| {
            g.mutually_exclusive.is_some() && g.members.iter().any(|m| m == id) && g.members.iter().any(|m| m == other)
        })
    };
    let disabled = |other: &str| -> Problem {
        match exclusive_with(other) {
            Some(g) => Problem::error(
                "mutually-exclusive",
                &ptr,
                format!(
                    "inputs {who} and {} cannot be used together: they are in mutually-exclusive group \"{}\"",
                    describe_input(d, other),
                    g.id
                ),
            )
            .hint("keep only one of them"),
            None => Problem::error(
                "disabled-input",
                &ptr,
                format!("input {who} disables {}, so they cannot be used together", describe_input(d, other)),
            )
            .hint(format!("remove \"{other}\"{}", if is_flag(d, other) { " or set it to false" } else { "" })),
        }
    };
    match (rest, s) {
        ([.., "properties", other, "not"], _) | ([.., "properties", other, "oneOf"], _) => disabled(other),
        ([.., "properties", other, "enum"], _) if is_flag(d, other) && *other != id => Problem::error(
            "requires-input",
            &ptr,
            format!("input {who} requires flag {} to be true", describe_input(d, other)),
        )
        .hint(format!("set `\"{other}\": true`")),
        ([.., "required"], S::Required(other)) => {
            Problem::error("requires-input", &ptr, format!("input {who} requires {}", describe_input(d, other)))
                .hint(format!("add \"{other}\" to the invocation, or remove \"{id}\""))
        }
        (["anyOf", ..], _) => {
            let i = d.input(id);
            let needs: Vec<String> = i.and_then(|i| i.requires.clone()).unwrap_or_default();
            let mut parts = Vec::new();
            for r in &needs {
                match d.group(r) {
                    Some(g) => parts.push(format!(
                        "one of group \"{}\" ({})",
                        g.id,
                        g.members.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ")
                    )),
                    None => parts.push(describe_input(d, r)),
                }
            }
            let dis: Vec<String> = i.and_then(|i| i.disables.clone()).unwrap_or_default();
            let mut msg = format!("input {who}");
            if !parts.is_empty() {
                msg.push_str(&format!(" requires {}", parts.join(" and ")));
            }
            if !dis.is_empty()
                || exclusive_with("").is_some()
                || d.groups.iter().any(|g| g.mutually_exclusive.is_some() && g.members.iter().any(|m| m == id))
            {
                let mut ex: Vec<String> = dis.iter().map(|x| describe_input(d, x)).collect();
                for g in d.groups.iter().filter(|g| g.mutually_exclusive.is_some() && g.members.iter().any(|m| m == id))
                {
                    ex.extend(g.members.iter().filter(|m| *m != id).map(|m| describe_input(d, m)));
                }
                if !ex.is_empty() {
                    msg.push_str(&format!(
                        "{} cannot be used with {}",
                        if parts.is_empty() { "" } else { " and" },
                        ex.join(", ")
                    ));
                }
            }
            Problem::error("input-dependencies", &ptr, msg).hint(if is_flag(d, id) {
                format!("satisfy the rule or set \"{id}\" to false")
            } else {
                format!("satisfy the rule or remove \"{id}\"")
            })
        }
        _ => Problem::error("input-dependencies", &ptr, format!("input {who}: {}", generic_message(s))),
    }
}

fn example(d: &Descriptor, id: &str) -> String {
    let Some(i) = d.input(id) else { return "...".into() };
    let one = match (i.kind, &i.choices) {
        (_, Some(c)) if !c.is_empty() => c[0].to_json(),
        (InputType::Flag, _) => "true".into(),
        (InputType::Number, _) => "1".into(),
        (InputType::File, _) => "\"path/to/file\"".into(),
        (InputType::String, _) => "\"...\"".into(),
    };
    if i.is_list() { format!("[{one}]") } else { one }
}

/// Whether an input counts as given: present, not null, and not a false Flag.
fn given(d: &Descriptor, values: &IndexMap<String, Value>, id: &str) -> bool {
    match values.get(id) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(false)) if is_flag(d, id) => false,
        Some(_) => true,
    }
}

/// Rules the Boutiques schema documents but bosh never checks when it validates invocations.
fn extra_rules(d: &Descriptor, values: &IndexMap<String, Value>, strict: bool, problems: &mut Problems) {
    let mk = |code: &'static str, ptr: String, msg: String| {
        if strict { Problem::error(code, ptr, msg) } else { Problem::warning(code, ptr, msg) }
    };
    for g in d.groups.iter().filter(|g| g.all_or_none == Some(true)) {
        let (present, absent): (Vec<&String>, Vec<&String>) = g.members.iter().partition(|m| given(d, values, m));
        if !present.is_empty() && !absent.is_empty() {
            problems.push(
                mk(
                    "all-or-none",
                    g.pointer(),
                    format!(
                        "group \"{}\" is all-or-none: {} given but {} missing",
                        g.id,
                        list(&present),
                        list(&absent)
                    ),
                )
                .hint("give all members of the group or none of them"),
            );
        }
    }
    for i in &d.inputs {
        let Some(v) = values.get(&i.id) else { continue };
        let chosen: Vec<String> = match v {
            Value::List(l) => l.iter().map(Value::py_str).collect(),
            Value::Null => continue,
            other => vec![other.py_str()],
        };
        for c in chosen {
            for (param, want) in [("value-requires", true), ("value-disables", false)] {
                let map = if want { &i.value_requires } else { &i.value_disables };
                let Some(ids) = map.as_ref().and_then(|m| m.get(&c)).and_then(Value::as_list) else { continue };
                for other in ids.iter().filter_map(Value::as_str) {
                    if given(d, values, other) != want {
                        let msg = if want {
                            format!(
                                "input \"{}\" is \"{c}\", which requires {} ({param})",
                                i.id,
                                describe_input(d, other)
                            )
                        } else {
                            format!(
                                "input \"{}\" is \"{c}\", which cannot be used with {} ({param})",
                                i.id,
                                describe_input(d, other)
                            )
                        };
                        problems.push(
                            mk(if want { "value-requires" } else { "value-disables" }, format!("/{}", i.id), msg)
                                .hint(if want { format!("add \"{other}\"") } else { format!("remove \"{other}\"") }),
                        );
                    }
                }
            }
        }
    }
}

/// The first non-finite float in a value, as text.
fn non_finite(v: &Value) -> Option<String> {
    match v {
        Value::Float(f) if !f.is_finite() => Some(if *f > 0.0 { "infinite" } else { "-infinite" }.to_string()),
        Value::List(items) => items.iter().find_map(non_finite),
        Value::Dict(d) => d.values().find_map(non_finite),
        _ => None,
    }
}

fn list(ids: &[&String]) -> String {
    ids.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ")
}
