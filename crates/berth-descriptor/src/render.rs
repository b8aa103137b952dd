//! Command lines, output paths and configuration files, rendered exactly as bosh does.
//!
//! The default mode transcribes bosh's `_replaceKeysInTemplate`,
//! `_generateOutputFileNames` and `_writeConfigurationFiles` (boutiques 0.5.33): values are
//! substituted input by input, in descriptor order, into the text produced so far (so a value
//! containing another input's value-key is substituted again); an absent input removes
//! `" KEY"`, or `KEY` alone only when no space precedes any occurrence; strings, files and
//! output paths go through `shlex.quote`; numbers print as Python's `str()`; stripped
//! extensions are removed anywhere in the value; File values lose their directory in output
//! paths unless their key starts the template; output names are computed twice so outputs can
//! refer to each other.
//!
//! `--strict` ([`Mode::Strict`]) keeps the same rules but fixes the ones users trip over:
//! one left-to-right pass (values are never re-scanned for keys), removal of an absent or
//! false key together with one adjacent space wherever it stands, extensions stripped only as
//! suffixes and directories removed per list item, non-string values quoted, conditions
//! tokenized instead of re-spaced, and a conditional output with no matching branch left out
//! instead of inheriting the previous output's path.

use indexmap::IndexMap;

use crate::condexpr::{self, CondError, Obj};
use crate::invocation::Mode;
use crate::model::{Descriptor, Input, InputType, Output};
use crate::pyfmt::{abspath, basename, py_isdigit, shlex_quote};
use crate::pyjson::Value;

/// Why a command line could not be rendered (where bosh raises a Python exception).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A condition of a `conditional-path-template` could not be evaluated.
    #[error("output \"{output}\": cannot evaluate condition \"{condition}\": {source}")]
    Condition {
        /// The output id.
        output: String,
        /// The condition as written in the descriptor.
        condition: String,
        /// What went wrong.
        #[source]
        source: CondError,
    },
    /// No condition matched and bosh has no previous path to fall back on.
    #[error("output \"{output}\": no condition of its conditional-path-template is true and there is no \"default\"")]
    NoBranch {
        /// The output id.
        output: String,
    },
    /// A value of the wrong Python type reached a string operation.
    #[error("{param} \"{id}\": {message}")]
    ValueType {
        /// `input` or `output`.
        param: &'static str,
        /// Its id.
        id: String,
        /// What bosh would have choked on.
        message: String,
    },
}

impl RenderError {
    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            RenderError::Condition { .. } => {
                "write conditions as `id OP value` with spaces around the operator, and quote string values"
            }
            RenderError::NoBranch { .. } => {
                "add {\"default\": \"path\"} as the last entry of the conditional-path-template"
            }
            RenderError::ValueType { .. } => "give string values to String and File inputs",
        }
    }
}

/// A configuration file produced from an output's `file-template`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigFile {
    /// The output id.
    pub id: String,
    /// Its path, relative to the working directory unless absolute.
    pub path: String,
    /// The file's content (lines joined with `\n`, no final newline, as bosh writes it).
    pub content: String,
}

/// The result of rendering an invocation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rendered {
    /// The command line.
    pub command_line: String,
    /// Output paths by output id, as substituted into the command line (before quoting).
    pub outputs: IndexMap<String, String>,
    /// Configuration files to write before the command runs.
    pub config_files: Vec<ConfigFile>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unfound {
    Remove,
    Keep,
    Clear,
}

#[derive(Clone, Copy)]
enum Param<'a> {
    In(&'a Input),
    Out(&'a Output),
}

impl<'a> Param<'a> {
    fn id(&self) -> &'a str {
        match self {
            Param::In(i) => &i.id,
            Param::Out(o) => &o.id,
        }
    }
    fn kind(&self) -> Option<InputType> {
        match self {
            Param::In(i) => Some(i.kind),
            Param::Out(_) => None,
        }
    }
    fn value_key(&self) -> Option<&'a str> {
        match self {
            Param::In(i) => i.value_key.as_deref(),
            Param::Out(o) => o.value_key.as_deref(),
        }
    }
    fn flag(&self) -> Option<&'a str> {
        match self {
            Param::In(i) => i.flag.as_deref(),
            Param::Out(o) => o.flag.as_deref(),
        }
    }
    fn flag_separator(&self) -> Option<&'a str> {
        match self {
            Param::In(i) => i.flag_separator.as_deref(),
            Param::Out(o) => o.flag_separator.as_deref(),
        }
    }
    fn list_separator(&self) -> Option<&'a str> {
        match self {
            Param::In(i) => i.list_separator.as_deref(),
            Param::Out(_) => None,
        }
    }
    fn what(&self) -> &'static str {
        match self {
            Param::In(_) => "input",
            Param::Out(_) => "output",
        }
    }
}

struct Renderer<'a> {
    d: &'a Descriptor,
    inputs: &'a IndexMap<String, Value>,
    outputs: IndexMap<String, String>,
    mode: Mode,
    cwd: &'a str,
}

/// Renders the command line, output paths and configuration files for `values` (an
/// invocation with defaults added, see [`crate::invocation::check`]). `cwd` resolves
/// `uses-absolute-path` outputs, like Python's `os.path.abspath`.
pub fn render(
    d: &Descriptor,
    values: &IndexMap<String, Value>,
    mode: Mode,
    cwd: &str,
) -> Result<Rendered, RenderError> {
    let mut r = Renderer { d, inputs: values, outputs: IndexMap::new(), mode, cwd };
    // Twice, because path templates may contain other outputs' keys.
    r.output_names(Unfound::Keep)?;
    // bosh leaves keys of absent inputs in output paths; --strict removes them.
    r.output_names(if mode == Mode::Strict { Unfound::Remove } else { Unfound::Keep })?;
    let mut config_files = Vec::new();
    for o in &d.outputs {
        let Some(lines) = &o.file_template else { continue };
        let Some(path) = r.outputs.get(&o.id).cloned() else { continue };
        let se = o.stripped_extensions.clone().unwrap_or_default();
        let mut rendered = Vec::with_capacity(lines.len());
        for line in lines {
            rendered.push(r.substitute(line, false, Unfound::Clear, &se, false, true)?);
        }
        config_files.push(ConfigFile { id: o.id.clone(), path, content: rendered.join("\n") });
    }
    let command_line = r.substitute(&d.command_line, true, Unfound::Remove, &[], false, true)?;
    Ok(Rendered { command_line, outputs: r.outputs, config_files })
}

fn require_str<'v>(p: Param<'_>, v: &'v Value, op: &str) -> Result<&'v str, RenderError> {
    v.as_str().ok_or_else(|| RenderError::ValueType {
        param: p.what(),
        id: p.id().to_string(),
        message: format!("{op} needs a string but the value is {}", v.type_name()),
    })
}

impl Renderer<'_> {
    fn params(&self) -> impl Iterator<Item = Param<'_>> {
        self.d.inputs.iter().map(Param::In).chain(self.d.outputs.iter().map(Param::Out))
    }

    /// `dict(in_dict); update(out_dict)`.
    fn lookup(&self, id: &str) -> Option<Value> {
        match self.outputs.get(id) {
            Some(p) => Some(Value::Str(p.clone())),
            None => self.inputs.get(id).cloned(),
        }
    }

    fn output_names(&mut self, unfound: Unfound) -> Result<(), RenderError> {
        // Python's loop variable outlives each iteration: an output whose conditions all fail
        // silently takes the previous output's path (or crashes when there is none).
        let mut last: Option<String> = None;
        for o in &self.d.outputs {
            let template = match &o.path_template {
                Some(t) => self.outputs.get(&o.id).cloned().unwrap_or_else(|| t.clone()),
                None => match self.conditional_template(o)? {
                    Some(t) => t,
                    None if self.mode == Mode::Strict => {
                        self.outputs.shift_remove(&o.id);
                        continue;
                    }
                    None => last.clone().ok_or_else(|| RenderError::NoBranch { output: o.id.clone() })?,
                },
            };
            let se = o.stripped_extensions.clone().unwrap_or_default();
            let mut name = self.substitute(&template, false, unfound, &se, true, false)?;
            if o.uses_absolute_path == Some(true) {
                name = abspath(&name, self.cwd);
            }
            last = Some(name.clone());
            self.outputs.insert(o.id.clone(), name);
        }
        Ok(())
    }

    fn conditional_template(&self, o: &Output) -> Result<Option<String>, RenderError> {
        for entry in o.conditional.iter().flatten() {
            let Some((key, path)) = crate::validate::cond_entry(entry) else {
                return Err(RenderError::Condition {
                    output: o.id.clone(),
                    condition: String::new(),
                    source: CondError { message: "an entry of conditional-path-template is an empty object".into() },
                });
            };
            let path_str = || -> Result<Option<String>, RenderError> {
                require_str(Param::Out(o), path, "the conditional path").map(|s| Some(s.to_string()))
            };
            let cerr = |source| RenderError::Condition { output: o.id.clone(), condition: key.to_string(), source };
            if self.mode == Mode::Strict {
                if key.trim() == "default" {
                    return path_str();
                }
                if self.strict_condition(key).map_err(cerr)? {
                    return path_str();
                }
                continue;
            }
            let cond = self.bosh_condition(key).map_err(cerr)?;
            if cond == "default" {
                // bosh then reads `templateObj["default"]`, which fails for a spaced key.
                return match entry.get("default") {
                    Some(p) => require_str(Param::Out(o), p, "the conditional path").map(|s| Some(s.to_string())),
                    None => Err(cerr(CondError { message: "the key is not exactly \"default\"".into() })),
                };
            }
            if condexpr::eval_python(&cond).map_err(cerr)?.truthy() {
                return path_str();
            }
        }
        Ok(None)
    }

    /// bosh's `_getCondPathTemplateExp`: the Python source text it hands to `eval`.
    fn bosh_condition(&self, key: &str) -> Result<String, CondError> {
        let formatted = condexpr::bosh_format(key)?;
        let mut parsed: Vec<String> = Vec::new();
        for w in crate::pyfmt::py_split(&formatted) {
            if let Some(v) = self.lookup(w) {
                let s = v.py_str();
                if py_isdigit(&s.replace(['.', '-'], "")) {
                    parsed.push(s);
                } else {
                    parsed.push(format!("\"{s}\""));
                }
            } else if self.params().any(|p| p.id() == w) {
                parsed = vec!["False".into()];
                break;
            } else {
                parsed.push(w.to_string());
            }
        }
        Ok(parsed.join(" "))
    }

    fn strict_condition(&self, key: &str) -> Result<bool, CondError> {
        // An input that was not given makes the condition false, as in bosh.
        for n in condexpr::names(key)? {
            if self.params().any(|p| p.id() == n) && self.lookup(&n).is_none() {
                return Ok(false);
            }
        }
        let resolve = |name: &str| -> Option<Obj> {
            self.lookup(name).map(|v| match v {
                Value::Null => Obj::None,
                Value::Bool(b) => Obj::Bool(b),
                Value::Int(i) => Obj::Int(i),
                Value::Float(f) => Obj::Float(f),
                Value::Str(s) => Obj::Str(s),
                other => Obj::Str(other.py_str()),
            })
        };
        Ok(condexpr::eval_with(key, &resolve)?.truthy())
    }

    fn substitute(
        &self,
        template: &str,
        use_flags: bool,
        unfound: Unfound,
        stripped: &[String],
        is_output: bool,
        escape_special: bool,
    ) -> Result<String, RenderError> {
        if self.mode == Mode::Strict {
            self.substitute_strict(template, use_flags, unfound, stripped, is_output, escape_special)
        } else {
            self.substitute_bosh(template, use_flags, unfound, stripped, is_output, escape_special)
        }
    }

    /// bosh's `_replaceKeysInTemplate`, statement by statement.
    fn substitute_bosh(
        &self,
        template: &str,
        use_flags: bool,
        unfound: Unfound,
        stripped: &[String],
        is_output: bool,
        escape_special: bool,
    ) -> Result<String, RenderError> {
        let mut t = template.to_string();
        for p in self.params() {
            let kind = p.kind();
            let escape = (escape_special && matches!(kind, Some(InputType::String | InputType::File)))
                || self.outputs.contains_key(p.id());
            let Some(clk) = p.value_key() else { continue };
            let Some(mut val) = self.lookup(p.id()) else {
                match unfound {
                    Unfound::Remove => {
                        let spaced = format!(" {clk}");
                        t = if t.contains(&spaced) { t.replace(&spaced, "") } else { t.replace(clk, "") };
                    }
                    Unfound::Clear if t.contains(clk) => return Ok(String::new()),
                    _ => {}
                }
                continue;
            };
            if let Value::List(items) = &val {
                let sep = p.list_separator().unwrap_or(" ");
                let parts: Vec<String> = items
                    .iter()
                    .map(|x| {
                        let s = x.py_str();
                        if escape { shlex_quote(&s) } else { s }
                    })
                    .collect();
                val = Value::Str(parts.join(sep));
            } else if escape {
                // `shlex.quote`: falsy values become '' before the type is looked at.
                val = Value::Str(if !val.truthy() {
                    "''".to_string()
                } else {
                    shlex_quote(require_str(p, &val, "shell quoting")?)
                });
            }
            if use_flags && let Some(flag) = p.flag() {
                let sep = p.flag_separator().unwrap_or(" ");
                val = if kind == Some(InputType::Flag) {
                    Value::Str(if val == Value::Bool(false) { String::new() } else { flag.to_string() })
                } else {
                    Value::Str(format!("{flag}{sep}{}", val.py_str()))
                };
            }
            if matches!(kind, Some(InputType::String | InputType::File)) {
                for ext in stripped {
                    val = Value::Str(require_str(p, &val, "stripping extensions")?.replace(ext.as_str(), ""));
                }
                if kind == Some(InputType::File) && t.find(clk).is_some_and(|n| n > 0) && is_output {
                    val = Value::Str(basename(require_str(p, &val, "taking the file name")?).to_string());
                }
            }
            let empty = matches!(&val, Value::Null) || matches!(&val, Value::Str(s) if s.is_empty());
            if empty {
                t = t.replace(&format!(" {clk}"), &val.py_str());
            } else {
                t = t.replace(clk, &val.py_str());
            }
        }
        Ok(t)
    }

    /// One value, formatted for `--strict`; `None` removes the key.
    fn strict_value(
        &self,
        p: Param<'_>,
        val: &Value,
        use_flags: bool,
        stripped: &[String],
        basename_it: bool,
        escape: bool,
    ) -> Option<String> {
        let kind = p.kind();
        let one = |v: &Value| -> String {
            let mut s = v.py_str();
            if matches!(kind, Some(InputType::String | InputType::File)) {
                // Strip listed extensions from the end only, repeatedly, longest first, so
                // [".nii", ".gz"] turns "t1.nii.gz" into "t1" but leaves "my.nii_dir/x" alone.
                while let Some(ext) =
                    stripped.iter().filter(|e| !e.is_empty() && s.ends_with(e.as_str())).max_by_key(|e| e.len())
                {
                    s.truncate(s.len() - ext.len());
                }
                if kind == Some(InputType::File) && basename_it {
                    s = basename(&s).to_string();
                }
            }
            if escape { shlex_quote(&s) } else { s }
        };
        let text = match val {
            Value::Null => return None,
            Value::Bool(false) if kind == Some(InputType::Flag) => return None,
            Value::Bool(true) if kind == Some(InputType::Flag) && use_flags => {
                return p.flag().map(str::to_string).or(Some("true".into()));
            }
            Value::List(items) => items.iter().map(one).collect::<Vec<_>>().join(p.list_separator().unwrap_or(" ")),
            v => one(v),
        };
        if use_flags && let Some(flag) = p.flag() {
            return Some(format!("{flag}{}{text}", p.flag_separator().unwrap_or(" ")));
        }
        if text.is_empty() { None } else { Some(text) }
    }

    fn substitute_strict(
        &self,
        template: &str,
        use_flags: bool,
        unfound: Unfound,
        stripped: &[String],
        is_output: bool,
        escape_special: bool,
    ) -> Result<String, RenderError> {
        enum Sub<'k> {
            Value(&'k str, Param<'k>, Value),
            Remove(&'k str),
        }
        let mut subs: Vec<Sub<'_>> = Vec::new();
        for p in self.params() {
            let Some(clk) = p.value_key().filter(|k| !k.is_empty()) else { continue };
            match self.lookup(p.id()) {
                Some(v) => subs.push(Sub::Value(clk, p, v)),
                // Alternatives sharing a key: the one with a value wins wherever it stands.
                None if self.params().any(|q| q.value_key() == Some(clk) && self.lookup(q.id()).is_some()) => {}
                None => match unfound {
                    Unfound::Remove => subs.push(Sub::Remove(clk)),
                    Unfound::Clear if template.contains(clk) => return Ok(String::new()),
                    _ => {}
                },
            }
        }
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        let mut at_start = true;
        while !rest.is_empty() {
            // Leftmost, then longest, key.
            let best = subs
                .iter()
                .filter(|s| {
                    let k = match s {
                        Sub::Value(k, ..) | Sub::Remove(k) => *k,
                    };
                    rest.starts_with(k)
                })
                .max_by_key(|s| match s {
                    Sub::Value(k, ..) | Sub::Remove(k) => k.len(),
                });
            let Some(sub) = best else {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                rest = &rest[c.len_utf8()..];
                at_start = false;
                continue;
            };
            let (key, text) = match sub {
                Sub::Remove(k) => (*k, None),
                Sub::Value(k, p, v) => {
                    // Output paths are quoted in commands but, unlike bosh, never inside
                    // other output paths.
                    let escape = escape_special
                        && (matches!(p.kind(), Some(InputType::String | InputType::File) | None)
                            || (p.kind() == Some(InputType::Number) && matches!(v, Value::Str(_))));
                    (*k, self.strict_value(*p, v, use_flags, stripped, is_output && !at_start, escape))
                }
            };
            rest = &rest[key.len()..];
            match text {
                Some(t) => out.push_str(&t),
                None => {
                    if out.ends_with(' ') {
                        out.pop();
                    } else if let Some(r) = rest.strip_prefix(' ') {
                        rest = r;
                    }
                }
            }
            at_start = false;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(json: &str) -> Descriptor {
        Descriptor::from_schema_valid(Value::parse(json).unwrap())
    }

    fn values(json: &str) -> IndexMap<String, Value> {
        Value::parse(json).unwrap().as_dict().unwrap().clone()
    }

    const D: &str = r#"{"name": "t", "tool-version": "1", "description": "d", "schema-version": "0.5",
      "command-line": "[A] tool [B] [N] [F] [L] -o [OUT]",
      "inputs": [
        {"id": "a", "name": "A", "type": "String", "value-key": "[A]", "optional": true},
        {"id": "b", "name": "B", "type": "String", "value-key": "[B]", "optional": true},
        {"id": "n", "name": "N", "type": "Number", "value-key": "[N]", "optional": true, "command-line-flag": "-n"},
        {"id": "f", "name": "F", "type": "Flag", "value-key": "[F]", "optional": true, "command-line-flag": "-v"},
        {"id": "l", "name": "L", "type": "File", "list": true, "value-key": "[L]", "optional": true}
      ],
      "output-files": [{"id": "out", "name": "O", "path-template": "res/[B]_[L].txt", "value-key": "[OUT]"}]}"#;

    fn cmd(inv: &str, mode: Mode) -> String {
        render(&desc(D), &values(inv), mode, "/w").unwrap().command_line
    }

    #[test]
    fn absent_leading_key_stays_in_bosh_mode_and_goes_in_strict() {
        // " [A]" does not occur, so bosh removes "[A]" and keeps the space after it.
        assert_eq!(cmd(r#"{}"#, Mode::Bosh), " tool -o 'res/[B]_[L].txt'");
        assert_eq!(cmd(r#"{}"#, Mode::Strict), "tool -o res/_.txt");
    }

    #[test]
    fn values_are_quoted_numbers_formatted_and_flags_applied() {
        // The File list is joined first, so bosh's basename rule keeps "p.nii q".
        let c = cmd(r#"{"a": "x y", "b": "it's", "n": 1.0, "f": true, "l": ["/d/p.nii", "q"]}"#, Mode::Bosh);
        assert_eq!(c, r#"'x y' tool 'it'"'"'s' -n 1.0 -v /d/p.nii q -o 'res/it'"'"'s_p.nii q.txt'"#);
    }

    #[test]
    fn chained_keys_are_substituted_again_by_bosh_only() {
        assert_eq!(cmd(r#"{"a": "[B]", "b": "z"}"#, Mode::Bosh), "'z' tool z -o 'res/z_[L].txt'");
        assert_eq!(cmd(r#"{"a": "[B]", "b": "z"}"#, Mode::Strict), "'[B]' tool z -o res/z_.txt");
    }

    #[test]
    fn false_flag_and_big_numbers() {
        let big = r#"{"f": false, "n": 123456789012345678901234567890}"#;
        assert_eq!(cmd(big, Mode::Bosh), " tool -n 123456789012345678901234567890 -o 'res/[B]_[L].txt'");
        assert_eq!(cmd(r#"{"n": 1e20}"#, Mode::Bosh), " tool -n 1e+20 -o 'res/[B]_[L].txt'");
    }
}
