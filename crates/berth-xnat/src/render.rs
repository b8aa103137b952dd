//! Input values: from the user's JSON to XNAT's strings, and from those to the text each
//! replacement key stands for on the command line.
//!
//! The rules are `resolveCommandInput`, `getValueForCommandLine` and
//! `getMultipleValuesForCommandLine` in container-service `CommandResolutionServiceImpl.java`:
//! - the value is the one given, else `default-value`, else none (`null` counts as not given);
//! - a `boolean` becomes `true-value` when it reads as `true` (any case) and `false-value`
//!   otherwise, each falling back to the value itself when not set;
//! - a value containing `;`, `&&`, `||`, `` ` `` or `(` is refused;
//! - a required input without a value is an error (an empty string is a value);
//! - on the command line a blank value removes the key (and its flag); otherwise the value
//!   follows `command-line-flag` and `command-line-separator` (a space when absent);
//! - a `select-many` value that is a JSON list is rendered by `multiple-delimiter`.
//!
//! Values are not quoted: XNAT pastes them into the line as they are, and so does berth.
//! Beyond XNAT, berth refuses values of the wrong JSON type, numbers that are not numbers,
//! and select values outside `select-values`; and when the Command runs through `/bin/sh -c`
//! (`override-entrypoint`), a value given at launch that holds any of [`SHELL_SYNTAX`] or a
//! control character, because XNAT's filter lets a line break, `|`, `>`, `<` and `$` through
//! and a value such as `x<newline>id` would run a command of the caller's choosing (issue 14,
//! finding 5; `docs/xnat-commands.md`).

use indexmap::IndexMap;
use serde::Serialize;

use berth_descriptor::problem::pointer;
use berth_descriptor::{Problem, Problems, Value};

use crate::coerce::float_text;
use crate::model::{Command, Input, InputType, MultipleDelimiter};
use crate::template::jsonpath_marker;

/// Substrings XNAT refuses in input values (`CommandResolutionService.ILLEGAL_INPUT_STRINGS`).
pub const ILLEGAL_INPUT_STRINGS: [&str; 5] = [";", "&&", "||", "`", "("];

/// Characters berth refuses in a value given at launch when the Command's line runs through
/// `/bin/sh -c`, with every control character (a line break ends the command). With none of
/// these a value cannot end the command, start another, pipe, redirect, substitute a command
/// or variable, open or close a quote (which could turn the Command's own quoted text into
/// syntax), escape the next character, or comment out the rest of the line, whether it lands
/// unquoted or inside the Command's single or double quotes. It can still hold spaces, which
/// split it into words as XNAT intends (`--opt a b`).
pub const SHELL_SYNTAX: [char; 13] = ['|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '\'', '"', '#'];

/// The first character of `value` that [`SHELL_SYNTAX`] (or the control characters) refuses,
/// described for a message.
pub fn shell_syntax(value: &str) -> Option<String> {
    let ch = value.chars().find(|ch| ch.is_control() || SHELL_SYNTAX.contains(ch))?;
    Some(match ch {
        '\n' => "a line break (`\\n`)".to_string(),
        '\r' => "a carriage return (`\\r`)".to_string(),
        '\t' => "a tab (`\\t`)".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
        '`' => "a backtick (`` ` ``)".to_string(),
        c => format!("`{c}`"),
    })
}

/// Where an input's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueSource {
    /// The input values.
    Given,
    /// `default-value`.
    Default,
    /// Neither: the input has no value.
    Absent,
}

/// One command input after resolution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedInput {
    /// The value XNAT would hold (after `true-value`/`false-value`), if any. This is what
    /// the replacement key stands for in environment variables, paths and labels.
    pub value: Option<String>,
    /// What the replacement key stands for on the command line (flag and all).
    pub command_line: String,
    /// Where the value came from.
    pub source: ValueSource,
    /// Whether the input is `sensitive`.
    pub sensitive: bool,
}

/// Every command input resolved, in declaration order, with warnings.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub inputs: IndexMap<String, ResolvedInput>,
    pub warnings: Problems,
}

impl Resolved {
    /// Replacement key to command-line text.
    pub fn command_line_values<'a>(&'a self, c: &'a Command) -> Vec<(String, &'a str)> {
        c.inputs
            .iter()
            .filter_map(|i| self.inputs.get(&i.name).map(|r| (i.replacement_key(), r.command_line.as_str())))
            .collect()
    }

    /// Replacement key to value (`""` when absent), for every other template.
    pub fn template_values<'a>(&'a self, c: &'a Command) -> Vec<(String, &'a str)> {
        c.inputs
            .iter()
            .filter_map(|i| self.inputs.get(&i.name).map(|r| (i.replacement_key(), r.value.as_deref().unwrap_or(""))))
            .collect()
    }
}

/// Resolves every command input of `c` from `values` (a JSON object keyed by input name).
/// Problems point into `values`.
///
/// With `preview`, a required input without a value is not an error: it is shown as the
/// placeholder `<NAME>` and flagged with an `unbound-input` warning, so a Command whose values
/// XNAT derives from its wrappers (session, scan, resource) can be looked at before any is known.
pub(crate) fn resolve(c: &Command, values: &Value, preview: bool) -> Result<Resolved, Problems> {
    let mut problems = Problems::default();
    let mut warnings = Problems::default();
    let empty = IndexMap::new();
    let given = match values {
        Value::Dict(d) => d,
        Value::Null => &empty,
        other => {
            problems.push(
                Problem::error(
                    "inputs-not-an-object",
                    "",
                    format!("the input values must be a JSON object, found {}", other.type_name()),
                )
                .hint("give them as `{\"INPUT_NAME\": value, ...}`"),
            );
            return Err(problems);
        }
    };

    for name in given.keys() {
        if c.input(name).is_none() {
            problems.push(unknown_input(c, name));
        }
    }

    let mut inputs = IndexMap::new();
    for input in &c.inputs {
        let at = pointer([&input.name]);
        let provided = match given.get(&input.name) {
            None | Some(Value::Null) => None,
            Some(v) => match text_of(input, v) {
                Ok(t) => Some(t),
                Err(message) => {
                    // Never echo a sensitive value into a message.
                    let message = if input.is_sensitive() {
                        format!("input \"{}\" has a value of the wrong type", input.name)
                    } else {
                        message
                    };
                    problems.push(Problem::error("wrong-input-type", at.clone(), message).hint(type_hint(input)));
                    continue;
                }
            },
        };
        let source = match (&provided, &input.default_value) {
            (Some(_), _) => ValueSource::Given,
            (None, Some(_)) => ValueSource::Default,
            (None, None) => ValueSource::Absent,
        };
        let given = provided.clone();
        let mut value = provided.or_else(|| input.default_value.clone());
        if preview && value.is_none() && input.required {
            warnings.push(unbound(c, input));
            value = Some(format!("<{}>", input.name));
        }
        if input.kind == InputType::Boolean {
            value = boolean(input, value);
        }
        // The caller's own text reaches the line: not a default, true-value or false-value
        // (the Command's author wrote those, as they wrote the line), nor a choice among
        // `select-values` (checked against them below).
        let from_caller = source == ValueSource::Given && value == given && input.select_values.is_empty();
        if let Some(v) = value.as_deref() {
            if let Some(bad) = ILLEGAL_INPUT_STRINGS.iter().find(|s| v.contains(*s)) {
                problems.push(
                    Problem::error(
                        "illegal-input-value",
                        at.clone(),
                        format!("input \"{}\" has a value containing the illegal string `{bad}`", input.name),
                    )
                    .hint(
                        "XNAT refuses `;`, `&&`, `||`, `` ` `` and `(` in input values; put shell syntax in the \
                         Command's `command-line`",
                    ),
                );
                continue;
            }
            if from_caller
                && c.overrides_entrypoint()
                && let Some(what) = shell_syntax(v)
            {
                problems.push(
                    Problem::error(
                        "shell-syntax-in-value",
                        at.clone(),
                        format!(
                            "input \"{}\" has a value containing {what}, which `/bin/sh -c` would read as shell \
                             syntax (this Command runs its line through the shell)",
                            input.name
                        ),
                    )
                    .hint(
                        "give a plain value: berth refuses control characters and | & ; < > ( ) $ ` \\ ' \" # in \
                         values of Commands run through `/bin/sh -c`, so a value cannot add a command, a pipe or a \
                         redirection (XNAT does not refuse them); shell syntax belongs in the Command's \
                         `command-line`",
                    ),
                );
                continue;
            }
            if let Err(p) = check_select(input, v, &at) {
                problems.push(p);
                continue;
            }
            if let Some(m) = jsonpath_marker(v) {
                // Never echo a sensitive value into a message.
                let shown = if input.is_sensitive() { "`^...^`".to_string() } else { format!("`{m}`") };
                warnings.push(
                    Problem::warning(
                        "jsonpath-not-evaluated",
                        at.clone(),
                        format!("the value of input \"{}\" contains {shown}, which berth uses as written", input.name),
                    )
                    .hint("XNAT would evaluate it as a JSONPath search over the Command; berth does not"),
                );
            }
            if input.required && v.is_empty() {
                warnings.push(
                    Problem::warning(
                        "blank-required-input",
                        at.clone(),
                        format!("required input \"{}\" is an empty string", input.name),
                    )
                    .hint(format!("XNAT accepts this and removes `{}` from the command line", input.replacement_key())),
                );
            }
        } else if input.required {
            problems.push(missing(c, input));
            continue;
        }
        let command_line = command_line_value(input, value.as_deref());
        inputs
            .insert(input.name.clone(), ResolvedInput { value, command_line, source, sensitive: input.is_sensitive() });
    }
    if problems.is_empty() { Ok(Resolved { inputs, warnings }) } else { Err(problems) }
}

/// XNAT's boolean rule: `Boolean.parseBoolean` (case-insensitive `true`), then
/// `true-value`/`false-value`, each falling back to the value itself.
fn boolean(input: &Input, value: Option<String>) -> Option<String> {
    let is_true = value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mapped = if is_true { &input.true_value } else { &input.false_value };
    mapped.clone().or(value)
}

/// The user's JSON value as the string XNAT would receive.
fn text_of(input: &Input, v: &Value) -> Result<String, String> {
    let name = &input.name;
    match (&input.kind, v) {
        (InputType::SelectMany, Value::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match scalar_text(item) {
                    Some(s) => out.push(s),
                    None => {
                        return Err(format!(
                            "input \"{name}\" takes a list of strings, and one item is {}",
                            item.type_name()
                        ));
                    }
                }
            }
            // XNAT receives a select-many value as the JSON text of the list.
            Ok(serde_json::to_string(&out).unwrap_or_default())
        }
        (_, Value::List(_) | Value::Dict(_)) => {
            Err(format!("input \"{name}\" takes one value, found {}", v.type_name()))
        }
        (InputType::Boolean, Value::Bool(b)) => Ok(b.to_string()),
        (InputType::Boolean, Value::Str(s)) => Ok(s.clone()),
        (InputType::Boolean, _) => Err(format!("input \"{name}\" is a boolean, found {}", v.type_name())),
        (InputType::Number, Value::Int(_) | Value::Float(_)) => Ok(scalar_text(v).unwrap_or_default()),
        (InputType::Number, Value::Str(s)) if s.trim().is_empty() || is_number(s) => Ok(s.clone()),
        (InputType::Number, Value::Str(s)) => Err(format!("input \"{name}\" is a number, found the string {s:?}")),
        (InputType::Number, _) => Err(format!("input \"{name}\" is a number, found {}", v.type_name())),
        _ => Ok(scalar_text(v).unwrap_or_default()),
    }
}

/// A finite decimal number (Rust's parser alone would also take `NaN` and `inf`).
pub(crate) fn is_number(s: &str) -> bool {
    s.trim().parse::<f64>().is_ok_and(f64::is_finite)
        && s.trim().bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(float_text(*f)),
        Value::Null | Value::List(_) | Value::Dict(_) => None,
    }
}

fn type_hint(input: &Input) -> String {
    match input.kind {
        InputType::Boolean => "give `true` or `false`".into(),
        InputType::Number => "give a JSON number, e.g. `3` or `0.5`".into(),
        InputType::SelectMany => "give a JSON list of strings, e.g. `[\"a\", \"b\"]`".into(),
        _ => "give a JSON string".into(),
    }
}

/// A select value outside `select-values` (XNAT's resolver does not check this; berth does).
fn check_select(input: &Input, v: &str, at: &str) -> Result<(), Problem> {
    if input.select_values.is_empty() || v.trim().is_empty() {
        return Ok(());
    }
    let values = match input.kind {
        InputType::SelectOne => vec![v.to_string()],
        InputType::SelectMany => json_list(v).unwrap_or_else(|| vec![v.to_string()]),
        _ => return Ok(()),
    };
    match values.iter().find(|x| !input.select_values.contains(x)) {
        None => Ok(()),
        Some(bad) => Err(Problem::error(
            "not-a-select-value",
            at.to_string(),
            format!("\"{bad}\" is not one of the select-values of input \"{}\"", input.name),
        )
        .hint(format!(
            "choose from {}",
            input.select_values.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// XNAT's `mapper.readValue(value, List<String>)`: the items of a JSON list of scalars.
fn json_list(v: &str) -> Option<Vec<String>> {
    let items: Vec<serde_json::Value> = serde_json::from_str(v).ok()?;
    items
        .into_iter()
        .map(|i| match i {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Null => Some("null".to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// Apache Commons' `StringUtils.defaultIfBlank`.
fn default_if_blank<'a>(s: Option<&'a str>, default: &'a str) -> &'a str {
    match s {
        Some(s) if !s.trim().is_empty() => s,
        _ => default,
    }
}

/// `getValueForCommandLine`: the text the replacement key stands for on the command line.
pub(crate) fn command_line_value(input: &Input, value: Option<&str>) -> String {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else { return String::new() };
    if input.kind == InputType::SelectMany
        && let Some(values) = json_list(value)
    {
        return multiple(input, &values);
    }
    match input.command_line_flag.as_deref() {
        Some(flag) if !flag.trim().is_empty() => {
            format!("{flag}{}{value}", input.command_line_separator.as_deref().unwrap_or(" "))
        }
        _ => value.to_string(),
    }
}

/// `getMultipleValuesForCommandLine`, quirks included: a blank separator becomes a space, and
/// without a flag a non-blank separator still lands before the values (`" ="`).
fn multiple(input: &Input, values: &[String]) -> String {
    if values.is_empty() {
        return String::new();
    }
    let flag_and_sep = format!(
        "{}{}",
        default_if_blank(input.command_line_flag.as_deref(), " "),
        default_if_blank(input.command_line_separator.as_deref(), " ")
    );
    let mut prefix = default_if_blank(Some(&flag_and_sep), "").to_string();
    let delimiter = input.multiple_delimiter.clone().unwrap_or_default();
    let (joiner, suffix) = match delimiter {
        MultipleDelimiter::QuotedSpace => {
            prefix.push('\'');
            (" ".to_string(), "'")
        }
        MultipleDelimiter::Comma => (",".to_string(), ""),
        MultipleDelimiter::Flag => (format!(" {prefix}"), ""),
        MultipleDelimiter::Space | MultipleDelimiter::Other(_) => (" ".to_string(), ""),
    };
    format!("{prefix}{}{suffix}", values.join(&joiner))
}

fn unknown_input(c: &Command, name: &str) -> Problem {
    let wrapper_input = c.wrappers.iter().find_map(|w| {
        w.external_inputs.iter().find(|e| e.name == name).map(|e| e.provides_value_for_command_input.clone()).or_else(
            || w.derived_inputs.iter().find(|d| d.name == name).map(|d| d.provides_value_for_command_input.clone()),
        )
    });
    let hint = match wrapper_input {
        Some(Some(target)) => format!(
            "\"{name}\" is a wrapper input that XNAT resolves from its data; berth takes command inputs, so give \
             \"{target}\" instead"
        ),
        Some(None) => {
            format!("\"{name}\" is a wrapper input that XNAT resolves from its data; berth takes command inputs")
        }
        None => format!(
            "the Command's inputs are {}",
            if c.inputs.is_empty() {
                "none".to_string()
            } else {
                c.inputs.iter().map(|i| format!("\"{}\"", i.name)).collect::<Vec<_>>().join(", ")
            }
        ),
    };
    Problem::error("unknown-input", pointer([name]), format!("the Command has no input named \"{name}\"")).hint(hint)
}

/// The wrapper input that gives `input` its value in XNAT, if any.
fn provider(c: &Command, input: &Input) -> Option<String> {
    c.wrappers.iter().find_map(|w| {
        w.external_inputs
            .iter()
            .find(|e| e.provides_value_for_command_input.as_deref() == Some(&input.name))
            .map(|e| e.name.clone())
            .or_else(|| {
                w.derived_inputs
                    .iter()
                    .find(|d| d.provides_value_for_command_input.as_deref() == Some(&input.name))
                    .map(|d| d.name.clone())
            })
    })
}

/// A required input left without a value in a preview.
fn unbound(c: &Command, input: &Input) -> Problem {
    let message = match provider(c, input) {
        Some(p) => format!(
            "required input \"{}\" has no value; shown as `<{}>` (in XNAT the wrapper input \"{p}\" provides it)",
            input.name, input.name
        ),
        None => format!("required input \"{}\" has no value; shown as `<{}>`", input.name, input.name),
    };
    Problem::warning("unbound-input", pointer([&input.name]), message)
        .hint("this is a preview only: give the value to run the Command")
}

fn missing(c: &Command, input: &Input) -> Problem {
    let provider = provider(c, input);
    let example = match input.kind {
        InputType::Boolean => "true".to_string(),
        InputType::Number => "1".to_string(),
        InputType::SelectMany => "[\"...\"]".to_string(),
        _ => "\"...\"".to_string(),
    };
    let mut hint = format!("give it a value: `{{\"{}\": {example}}}`", input.name);
    if let Some(p) = provider {
        hint.push_str(&format!(
            "; in XNAT the wrapper input \"{p}\" provides it from XNAT data, which berth does not resolve"
        ));
    }
    Problem::error(
        "missing-required-input",
        pointer([&input.name]),
        format!("required input \"{}\" has no value", input.name),
    )
    .hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> Input {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn flags_and_separators() {
        let i = input(r#"{"name": "x", "command-line-flag": "--x"}"#);
        assert_eq!(command_line_value(&i, Some("v")), "--x v");
        let i = input(r#"{"name": "x", "command-line-flag": "--x", "command-line-separator": "="}"#);
        assert_eq!(command_line_value(&i, Some("v")), "--x=v");
        let i = input(r#"{"name": "x", "command-line-flag": "-x", "command-line-separator": ""}"#);
        assert_eq!(command_line_value(&i, Some("v")), "-xv");
        assert_eq!(command_line_value(&i, Some("  ")), "");
        assert_eq!(command_line_value(&i, None), "");
    }

    #[test]
    fn multiple_delimiters_as_xnat_renders_them() {
        let many = |extra: &str| {
            let i = input(&format!(r#"{{"name": "m", "type": "select-many"{extra}}}"#));
            command_line_value(&i, Some(r#"["a","b"]"#))
        };
        assert_eq!(many(""), "a b");
        assert_eq!(many(r#", "multiple-delimiter": "comma""#), "a,b");
        assert_eq!(many(r#", "multiple-delimiter": "quoted-space""#), "'a b'");
        assert_eq!(many(r#", "multiple-delimiter": "flag""#), "a b");
        assert_eq!(many(r#", "command-line-flag": "-f", "multiple-delimiter": "flag""#), "-f a -f b");
        assert_eq!(
            many(r#", "command-line-flag": "-f", "command-line-separator": "=", "multiple-delimiter": "flag""#),
            "-f=a -f=b"
        );
        assert_eq!(many(r#", "command-line-flag": "-f", "multiple-delimiter": "quoted-space""#), "-f 'a b'");
        // XNAT's quirks: an empty separator becomes a space; a separator without a flag stays.
        assert_eq!(many(r#", "command-line-flag": "-f", "command-line-separator": """#), "-f a b");
        assert_eq!(many(r#", "command-line-separator": "=""#), " =a b");
        // A select-many value that is not a JSON list is one value.
        let i = input(r#"{"name": "m", "type": "select-many", "command-line-flag": "-f"}"#);
        assert_eq!(command_line_value(&i, Some("a")), "-f a");
        assert_eq!(command_line_value(&i, Some("[]")), "");
    }

    #[test]
    fn numbers_are_finite_decimals() {
        for ok in ["1", "-2.5", " 3 ", "1e3", "+0.5", ".5"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in ["NaN", "inf", "-infinity", "1e999", "0x10", "1,5", ""] {
            assert!(!is_number(bad), "{bad}");
        }
    }

    /// Issue 14, finding 5: `x<newline>id` ran `id` through `/bin/sh -c`.
    #[test]
    fn finding_05_shell_syntax_in_values_is_refused_for_sh_c_commands() {
        let command = |override_entrypoint: bool| -> Command {
            serde_json::from_value(serde_json::json!({
                "name": "c", "image": "busybox:1", "command-line": "echo #X# #B# #S#",
                "override-entrypoint": override_entrypoint,
                "inputs": [
                    {"name": "X"},
                    {"name": "B", "type": "boolean", "true-value": "-v", "default-value": "$HOME"},
                    {"name": "S", "type": "select-one", "select-values": ["a|b", "c"]},
                ],
            }))
            .unwrap()
        };
        let values = |x: &str| Value::from_serde(&serde_json::json!({"X": x, "S": "a|b"}));
        for (bad, named) in [
            ("x\nid", "a line break"),
            ("x|id", "`|`"),
            ("x > /tmp/f", "`>`"),
            ("x < /etc/passwd", "`<`"),
            ("$HOME", "`$`"),
            ("x & id", "`&`"),
            ("it's", "`'`"),
            ("a\"b", "`\"`"),
            ("a\\", "`\\`"),
            ("x #", "`#`"),
            ("x\ry", "a carriage return"),
            ("x)", "`)`"),
        ] {
            let problems = resolve(&command(true), &values(bad), false).expect_err(bad);
            let p = problems.iter().find(|p| p.pointer == "/X").unwrap_or_else(|| panic!("{bad:?}: {problems:?}"));
            assert!(p.is_error() && p.message.contains("input \"X\"") && p.message.contains(named), "{bad:?}: {p:?}");
            // Without the shell, the same value is one argument (XNAT's splitter), never a command.
            assert!(
                resolve(&command(false), &values(bad), false).is_ok()
                    || ILLEGAL_INPUT_STRINGS.iter().any(|s| bad.contains(s))
            );
        }
        // Plain values, spaces included; the author's default and select-values are not the caller's text.
        for ok in ["scan.txt", "--opt a b", "sub-01/ses-1", "1.5e3", "x=y", "a*b", "~user", "ä"] {
            let r = resolve(&command(true), &values(ok), false).unwrap_or_else(|p| panic!("{ok:?}: {p:?}"));
            assert_eq!(r.inputs["X"].value.as_deref(), Some(ok));
        }
        let given_true = Value::from_serde(&serde_json::json!({"X": "x", "B": true, "S": "a|b"}));
        assert_eq!(resolve(&command(true), &given_true, false).unwrap().inputs["B"].command_line, "-v");
    }

    #[test]
    fn booleans_fall_back_to_the_value_itself() {
        let i = input(r#"{"name": "b", "type": "boolean", "true-value": "--yes"}"#);
        assert_eq!(boolean(&i, Some("TRUE".into())).as_deref(), Some("--yes"));
        assert_eq!(boolean(&i, Some("false".into())).as_deref(), Some("false"));
        assert_eq!(boolean(&i, None), None);
        let i = input(r#"{"name": "b", "type": "boolean", "false-value": "--no"}"#);
        assert_eq!(boolean(&i, None).as_deref(), Some("--no"));
        assert_eq!(boolean(&i, Some("yes".into())).as_deref(), Some("--no"));
    }
}
