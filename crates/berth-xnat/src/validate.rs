//! Semantic checks of a typed Command.
//!
//! Errors are what XNAT's own `Command.validate()` rejects (container-service
//! `model/command/auto/Command.java`), plus what cannot run at all (no command line).
//! Warnings are what XNAT accepts but is very likely a mistake: keys XNAT would silently
//! ignore, replacement keys that are never substituted, references a wrapper makes to inputs
//! or mounts that do not exist. `--strict` turns warnings into errors.

use std::collections::{HashMap, HashSet};

use berth_descriptor::problem::escape_token;
use berth_descriptor::{Problem, Problems};

use crate::model::{Command, CommandType, InputType, MultipleDelimiter, OutputHandlerType, WrapperInputType};
use crate::render::ILLEGAL_INPUT_STRINGS;

/// Runs every check on `c`; pointers are prefixed by `base`.
pub(crate) fn check(c: &Command, base: &str) -> Problems {
    let mut v = Checker { base, problems: Problems::default() };
    v.command(c);
    v.resources(c);
    match c.kind {
        CommandType::Docker => v.docker(c),
        CommandType::DockerSetup | CommandType::DockerWrapup => v.setup_or_wrapup(c),
        CommandType::Other(_) => {}
    }
    v.replacement_keys(c);
    let mut problems = v.problems;
    problems.sort();
    problems
}

struct Checker<'a> {
    base: &'a str,
    problems: Problems,
}

/// XNAT's `COMMAND_NAME` rule for input, output and handler names.
fn bad_name(name: &str) -> bool {
    name.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

fn blank(s: Option<&str>) -> bool {
    s.is_none_or(|s| s.trim().is_empty())
}

impl Checker<'_> {
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn error(&mut self, code: &'static str, path: &str, message: String, hint: impl Into<String>) {
        let p = Problem::error(code, self.at(path), message).hint(hint);
        self.problems.push(p);
    }

    fn warning(&mut self, code: &'static str, path: &str, message: String, hint: impl Into<String>) {
        let p = Problem::warning(code, self.at(path), message).hint(hint);
        self.problems.push(p);
    }

    fn name_rule(&mut self, path: String, what: &str, name: &str) {
        if bad_name(name) {
            self.error(
                "bad-name",
                &path,
                format!("{what} name \"{name}\" may contain only letters, digits, `_` and `-`"),
                "XNAT refuses other characters in names",
            );
        }
    }

    fn command(&mut self, c: &Command) {
        if c.name.trim().is_empty() {
            self.error(
                "blank-name",
                "/name",
                "the Command has no `name`".into(),
                "add `\"name\": \"my-tool\"`; XNAT requires it",
            );
        }
        // XNAT's `Command.validate()` never checks the line: a blank one runs the image's own
        // entrypoint and CMD (or, with `override-entrypoint`, `/bin/sh -c ''`, which does nothing).
        if blank(c.command_line.as_deref()) {
            let (message, hint) = if c.overrides_entrypoint() {
                (
                    "the Command has no `command-line` but sets `override-entrypoint`: the container runs \
                     `/bin/sh -c ''`, which does nothing",
                    "write the command to run, or remove `override-entrypoint` to run the image's own entrypoint \
                     and CMD",
                )
            } else {
                (
                    "the Command has no `command-line`: the image's own entrypoint and CMD run, and no input \
                     reaches them through the line",
                    "add the command to run, with each input's replacement key, e.g. `\"command-line\": \"tool \
                     #INPUT#\"`, unless the image's CMD is what should run",
                )
            };
            self.warning("missing-command-line", "/command-line", message.into(), hint);
        }
        match c.image.as_deref() {
            None | Some("") => self.warning(
                "missing-image",
                "/image",
                "the Command names no `image`".into(),
                "XNAT accepts this only for a Command read from an image's `org.nrg.commands` label or added to \
                 a named image; add `\"image\": \"name:tag\"` to run it on its own",
            ),
            Some(i) if i.trim().is_empty() => self.warning(
                "missing-image",
                "/image",
                "the Command's `image` is blank".into(),
                "write `\"image\": \"name:tag\"`",
            ),
            Some(i) if !crate::model::image_has_tag(i) => self.warning(
                "image-without-tag",
                "/image",
                format!("the image \"{i}\" has no tag; XNAT stores it as \"{i}:latest\""),
                "name the tag you tested with, so that runs are reproducible",
            ),
            Some(_) => {}
        }
        if let Some(v) = c.schema_version.as_deref()
            && v != "1.0"
        {
            self.warning(
                "unknown-schema-version",
                "/schema-version",
                format!("`schema-version` is \"{v}\"; berth knows XNAT Commands of schema-version 1.0"),
                "write `\"schema-version\": \"1.0\"`",
            );
        }
        if let CommandType::Other(t) = &c.kind {
            self.error(
                "unknown-command-type",
                "/type",
                format!("unknown Command type \"{t}\""),
                format!("use one of {}", list(CommandType::KNOWN)),
            );
        }
        if let Some(vis) = c.visibility.as_deref()
            && !["public", "private", "protected"].contains(&vis)
        {
            self.error(
                "unknown-visibility",
                "/visibility",
                format!("unknown visibility \"{vis}\""),
                "use `public`, `private` or `protected`",
            );
        }
    }

    fn setup_or_wrapup(&mut self, c: &Command) {
        let what = if c.kind == CommandType::DockerSetup { "setup" } else { "wrapup" };
        let declared: [(&str, bool); 7] = [
            ("mounts", !c.mounts.is_empty()),
            ("inputs", !c.inputs.is_empty()),
            ("outputs", !c.outputs.is_empty()),
            ("xnat", !c.wrappers.is_empty()),
            ("environment-variables", !c.environment_variables.is_empty()),
            ("ports", !c.ports.is_empty()),
            ("secrets", !c.secrets.is_empty()),
        ];
        for (key, present) in declared {
            if present {
                self.error(
                    "setup-declares",
                    &format!("/{key}"),
                    format!("a {what} Command cannot declare `{key}`"),
                    format!("XNAT gives a {what} Command its files in `/input` and takes them from `/output`"),
                );
            }
        }
    }

    fn resources(&mut self, c: &Command) {
        const MIB: i64 = 1024 * 1024;
        for (key, value) in [("reserve-memory", c.reserve_memory), ("limit-memory", c.limit_memory)] {
            match value {
                Some(v) if v < 0 => self.error(
                    "negative-resource",
                    &format!("/{key}"),
                    format!("`{key}` is {v} MiB"),
                    "give a number of MiB, or leave the key out for no limit",
                ),
                Some(v) if v.checked_mul(MIB).is_none() => self.error(
                    "resource-too-large",
                    &format!("/{key}"),
                    format!("`{key}` is {v} MiB, more bytes than Docker can count"),
                    "give the amount in MiB",
                ),
                _ => {}
            }
        }
        if let Some(cpu) = c.limit_cpu
            && cpu < 0.0
        {
            self.error(
                "negative-resource",
                "/limit-cpu",
                format!("`limit-cpu` is {cpu}"),
                "give a number of CPUs, e.g. `1.5`, or leave the key out for no limit",
            );
        }
        if let (Some(reserve), Some(limit)) = (c.reserve_memory, c.limit_memory)
            && reserve > limit
            && limit > 0
        {
            self.warning(
                "reserve-above-limit",
                "/reserve-memory",
                format!("`reserve-memory` ({reserve} MiB) is above `limit-memory` ({limit} MiB)"),
                "Docker refuses a reservation above the limit; lower `reserve-memory`",
            );
        }
        if let Some(shm) = c.shm_size
            && shm < 0
        {
            self.warning(
                "negative-resource",
                "/shm-size",
                format!("`shm-size` is {shm} bytes; XNAT ignores a negative size"),
                "give the size in bytes, e.g. `1073741824` for 1 GiB",
            );
        }
    }

    fn docker(&mut self, c: &Command) {
        for (name, value) in &c.ulimits {
            let parts: Vec<&str> = value.split(':').collect();
            let numeric = parts.iter().all(|p| p.trim().parse::<i64>().is_ok());
            if value.is_empty() || parts.len() > 2 || !numeric {
                self.error(
                    "bad-ulimit",
                    &format!("/ulimits/{}", escape_token(name)),
                    format!("ulimit \"{name}\" is \"{value}\"; expected a number or `soft:hard`"),
                    "write e.g. `\"nofile\": \"1024:4096\"`",
                );
            }
        }
        for (i, s) in c.secrets.iter().enumerate() {
            let env = s.destination.env_name();
            let path = format!("/secrets/{i}/destination/identifier");
            if ["XNAT_USER", "XNAT_PASS", "XNAT_HOST"].contains(&env) {
                self.error(
                    "reserved-secret-env",
                    &path,
                    format!("secret uses the reserved environment variable \"{env}\""),
                    "XNAT sets XNAT_USER, XNAT_PASS and XNAT_HOST itself; pick another name",
                );
            }
            if c.environment_variables.contains_key(env) {
                self.error(
                    "secret-env-clash",
                    &path,
                    format!("secret and `environment-variables` both set \"{env}\""),
                    "rename one of them",
                );
            }
        }

        let mut mounts = HashSet::new();
        for (i, m) in c.mounts.iter().enumerate() {
            if m.name.trim().is_empty() {
                self.error(
                    "blank-mount-name",
                    &format!("/mounts/{i}/name"),
                    "mount has no name".into(),
                    "give it a name outputs can refer to",
                );
            } else if let Err(berth_hostpath::HostPathError::NotAComponent { reason, .. }) =
                berth_hostpath::component(&m.name)
            {
                // A mount name is one directory name: XNAT builds the mount's directory from it,
                // and so does berth (`OUTPUT_DIR/<name>` for an unbound writable mount). `..`,
                // `/etc` or `a/b` would put that directory anywhere on the host.
                self.error(
                    "bad-mount-name",
                    &format!("/mounts/{i}/name"),
                    format!("mount name \"{}\" is not a single name: {reason}", m.name.escape_debug()),
                    "a mount name is one directory name: no `/`, not `.` or `..`, no control characters, at \
                     most 255 bytes (e.g. `input`, `output-dir`)",
                );
            }
            if blank(m.path.as_deref()) {
                self.error(
                    "blank-mount-path",
                    &format!("/mounts/{i}/path"),
                    format!("mount \"{}\" has no path", m.name),
                    "give the directory the container sees, e.g. `\"path\": \"/input\"`",
                );
            }
            if !mounts.insert(m.name.as_str()) {
                self.error(
                    "duplicate-mount",
                    &format!("/mounts/{i}/name"),
                    format!("mount name \"{}\" is not unique", m.name),
                    "rename one of the mounts",
                );
            }
        }

        let mut inputs = HashMap::new();
        for (i, input) in c.inputs.iter().enumerate() {
            self.input(i, input);
            if inputs.insert(input.name.as_str(), input).is_some() {
                self.error(
                    "duplicate-input",
                    &format!("/inputs/{i}/name"),
                    format!("input name \"{}\" is not unique", input.name),
                    "rename one of the inputs",
                );
            }
        }

        let mut outputs = HashSet::new();
        for (i, o) in c.outputs.iter().enumerate() {
            let path = format!("/outputs/{i}");
            if o.name.trim().is_empty() {
                self.error(
                    "blank-output-name",
                    &format!("{path}/name"),
                    "output has no name".into(),
                    "give it a name output handlers can refer to",
                );
            }
            self.name_rule(format!("{path}/name"), "output", &o.name);
            if !outputs.insert(o.name.as_str()) {
                self.error(
                    "duplicate-output",
                    &format!("{path}/name"),
                    format!("output name \"{}\" is not unique", o.name),
                    "rename one of the outputs",
                );
            }
            match o.mount.as_deref() {
                m if blank(m) => self.error(
                    "output-without-mount",
                    &format!("{path}/mount"),
                    format!("output \"{}\" names no mount", o.name),
                    "name the mount the files are written to",
                ),
                Some(m) if !mounts.contains(m) => self.error(
                    "unknown-output-mount",
                    &format!("{path}/mount"),
                    format!("output \"{}\" refers to the unknown mount \"{m}\"", o.name),
                    format!("known mounts: {}", names(c.mounts.iter().map(|m| m.name.as_str()))),
                ),
                _ => {}
            }
        }

        let mut wrappers = HashSet::new();
        for (w, wrapper) in c.wrappers.iter().enumerate() {
            if wrapper.name.trim().is_empty() {
                self.error(
                    "blank-wrapper-name",
                    &format!("/xnat/{w}/name"),
                    "wrapper has no name".into(),
                    "give every entry of `xnat` a name",
                );
            }
            if !wrappers.insert(wrapper.name.as_str()) {
                self.error(
                    "duplicate-wrapper",
                    &format!("/xnat/{w}/name"),
                    format!("wrapper name \"{}\" is not unique", wrapper.name),
                    "rename one of the wrappers",
                );
            }
            self.wrapper(c, w, &inputs, &outputs, &mounts);
        }
    }

    fn input(&mut self, i: usize, input: &crate::model::Input) {
        let path = format!("/inputs/{i}");
        if input.name.trim().is_empty() {
            self.error(
                "blank-input-name",
                &format!("{path}/name"),
                "input has no name".into(),
                "give every input a name",
            );
        }
        self.name_rule(format!("{path}/name"), "input", &input.name);
        if let InputType::Other(t) = &input.kind {
            self.warning(
                "unknown-input-type",
                &format!("{path}/type"),
                format!("unknown input type \"{t}\"; XNAT treats the input as a `string`"),
                format!("use one of {}", list(InputType::KNOWN)),
            );
        }
        match &input.multiple_delimiter {
            Some(MultipleDelimiter::Other(d)) => self.error(
                "unknown-multiple-delimiter",
                &format!("{path}/multiple-delimiter"),
                format!("invalid multiple-delimiter \"{d}\""),
                format!("use one of {}", list(MultipleDelimiter::KNOWN)),
            ),
            Some(_) if input.kind != InputType::SelectMany => self.warning(
                "ignored-multiple-delimiter",
                &format!("{path}/multiple-delimiter"),
                format!("input \"{}\" is not `select-many`, so its multiple-delimiter is not used", input.name),
                "remove it, or make the input `select-many`",
            ),
            _ => {}
        }
        if input.is_select() && input.select_values.is_empty() {
            self.error(
                "select-without-values",
                &format!("{path}/select-values"),
                format!("input \"{}\" is `{}` but lists no select-values", input.name, input.kind),
                "list the choices in `select-values`",
            );
        } else if !input.is_select() && !input.select_values.is_empty() {
            self.error(
                "select-values-on-non-select",
                &format!("{path}/select-values"),
                format!("input \"{}\" has select-values but is not a select type", input.name),
                "make it `select-one` or `select-many`, or remove `select-values`",
            );
        }
        if let Some(default) = input.default_value.as_deref() {
            self.input_default(&path, input, default);
        }
        if input.kind != InputType::Boolean && (input.true_value.is_some() || input.false_value.is_some()) {
            self.warning(
                "ignored-boolean-values",
                &path,
                format!("input \"{}\" is not `boolean`, so its true-value/false-value are not used", input.name),
                "make the input `\"type\": \"boolean\"`, or remove them",
            );
        }
        if blank(input.command_line_flag.as_deref()) && input.command_line_separator.is_some() {
            let message = if input.kind == InputType::SelectMany {
                format!(
                    "input \"{}\" has a command-line-separator but no flag; XNAT still writes a space and the \
                     separator before its values",
                    input.name
                )
            } else {
                format!("input \"{}\" has a command-line-separator but no flag, so it is not used", input.name)
            };
            self.warning(
                "separator-without-flag",
                &format!("{path}/command-line-separator"),
                message,
                "add `command-line-flag`, or remove the separator",
            );
        }
    }

    fn input_default(&mut self, path: &str, input: &crate::model::Input, default: &str) {
        let at = format!("{path}/default-value");
        if input.kind == InputType::SelectMany {
            // XNAT reads a select-many default as a JSON list when it is one, else as one value.
            let values: Vec<String> =
                serde_json::from_str::<Vec<String>>(default).unwrap_or_else(|_| vec![default.to_string()]);
            let missing: Vec<&String> = values.iter().filter(|v| !input.select_values.contains(v)).collect();
            if !input.select_values.is_empty() && !missing.is_empty() {
                self.error(
                    "default-not-in-select-values",
                    &at,
                    format!(
                        "default value {} of input \"{}\" is not among its select-values",
                        quoted(&missing),
                        input.name
                    ),
                    format!("choose from {}", names(input.select_values.iter().map(String::as_str))),
                );
            }
        } else if !input.select_values.is_empty() && !input.select_values.iter().any(|v| v == default) {
            self.error(
                "default-not-in-select-values",
                &at,
                format!("default value \"{default}\" of input \"{}\" is not among its select-values", input.name),
                format!("choose from {}", names(input.select_values.iter().map(String::as_str))),
            );
        }
        if input.kind == InputType::Number && !default.trim().is_empty() && !crate::render::is_number(default) {
            self.warning(
                "default-not-a-number",
                &at,
                format!("input \"{}\" is a number but its default \"{default}\" is not", input.name),
                "write the default as a number",
            );
        }
        if let Some(bad) = ILLEGAL_INPUT_STRINGS.iter().find(|s| default.contains(*s)) {
            self.warning(
                "illegal-default",
                &at,
                format!("the default of input \"{}\" contains `{bad}`, which XNAT refuses in input values", input.name),
                "every run that uses this default fails in XNAT; move shell syntax into `command-line`",
            );
        }
    }

    fn wrapper(
        &mut self,
        c: &Command,
        w: usize,
        inputs: &HashMap<&str, &crate::model::Input>,
        outputs: &HashSet<&str>,
        mounts: &HashSet<&str>,
    ) {
        let wrapper = &c.wrappers[w];
        let wp = format!("/xnat/{w}");
        // Wrapper inputs in declaration order: a derived input may only name an earlier one.
        let mut known: HashMap<&str, Option<&crate::model::DerivedInput>> = HashMap::new();
        let mut multiple = HashSet::new();

        for (i, e) in wrapper.external_inputs.iter().enumerate() {
            let path = format!("{wp}/external-inputs/{i}");
            self.wrapper_input(
                &path,
                &e.name,
                &e.kind,
                e.via_setup_command.as_deref(),
                e.provides_files_for_command_mount.as_deref(),
            );
            if known.insert(e.name.as_str(), None).is_some() {
                self.error(
                    "duplicate-wrapper-input",
                    &format!("{path}/name"),
                    format!("wrapper input name \"{}\" is not unique", e.name),
                    "rename one of the wrapper inputs",
                );
            }
            self.provides(&path, &e.name, e.provides_value_for_command_input.as_deref(), inputs);
            self.provides_files(&path, &e.name, e.provides_files_for_command_mount.as_deref(), mounts);
        }

        for (i, d) in wrapper.derived_inputs.iter().enumerate() {
            let path = format!("{wp}/derived-inputs/{i}");
            self.wrapper_input(
                &path,
                &d.name,
                &d.kind,
                d.via_setup_command.as_deref(),
                d.provides_files_for_command_mount.as_deref(),
            );
            let parent = d.derived_from_wrapper_input.as_deref();
            if blank(parent) {
                self.error(
                    "missing-derived-from",
                    &format!("{path}/derived-from-wrapper-input"),
                    format!("derived input \"{}\" names no parent", d.name),
                    "set `derived-from-wrapper-input` to an external input or an earlier derived input",
                );
            }
            if d.multiple {
                if !blank(d.provides_files_for_command_mount.as_deref()) {
                    self.error(
                        "multiple-provides-files",
                        &format!("{path}/provides-files-for-command-mount"),
                        format!("derived input \"{}\" allows multiple values, so it cannot provide files", d.name),
                        "mount the parent element instead",
                    );
                }
                if blank(d.provides_value_for_command_input.as_deref()) {
                    self.error(
                        "multiple-without-command-input",
                        &format!("{path}/provides-value-for-command-input"),
                        format!("derived input \"{}\" allows multiple values but provides no command input", d.name),
                        "set `provides-value-for-command-input`",
                    );
                }
            }
            if known.insert(d.name.as_str(), Some(d)).is_some() {
                self.error(
                    "duplicate-wrapper-input",
                    &format!("{path}/name"),
                    format!("wrapper input name \"{}\" is not unique", d.name),
                    "rename one of the wrapper inputs",
                );
            }
            if let Some(parent) = parent.filter(|p| !p.trim().is_empty()) {
                if parent == d.name {
                    self.error(
                        "derived-from-itself",
                        &format!("{path}/derived-from-wrapper-input"),
                        format!("derived input \"{}\" is derived from itself", d.name),
                        "name another wrapper input",
                    );
                } else if !known.contains_key(parent) {
                    self.error(
                        "unknown-derived-from",
                        &format!("{path}/derived-from-wrapper-input"),
                        format!("derived input \"{}\" is derived from the unknown wrapper input \"{parent}\"", d.name),
                        format!(
                            "name an external input or a derived input declared before it; known: {}",
                            names(known.keys().copied().filter(|k| *k != d.name))
                        ),
                    );
                }
            }
            self.provides(&path, &d.name, d.provides_value_for_command_input.as_deref(), inputs);
            self.provides_files(&path, &d.name, d.provides_files_for_command_mount.as_deref(), mounts);
            if d.multiple {
                multiple.insert(d.name.as_str());
            }
        }

        let mut handlers = HashSet::new();
        let mut handled = HashSet::new();
        for (h, handler) in wrapper.output_handlers.iter().enumerate() {
            let path = format!("{wp}/output-handlers/{h}");
            if handler.name.trim().is_empty() {
                self.error(
                    "blank-output-handler-name",
                    &format!("{path}/name"),
                    "output handler has no name".into(),
                    "give every output handler a name",
                );
            }
            self.name_rule(format!("{path}/name"), "output handler", &handler.name);
            match handler.accepts_command_output.as_deref() {
                o if blank(o) => self.error(
                    "missing-accepts-command-output",
                    &format!("{path}/accepts-command-output"),
                    format!("output handler \"{}\" handles no output", handler.name),
                    "set `accepts-command-output` to one of the Command's outputs",
                ),
                Some(o) if !outputs.contains(o) => self.error(
                    "unknown-handled-output",
                    &format!("{path}/accepts-command-output"),
                    format!("output handler \"{}\" refers to the unknown output \"{o}\"", handler.name),
                    format!("known outputs: {}", names(c.outputs.iter().map(|o| o.name.as_str()))),
                ),
                Some(o) => {
                    handled.insert(o);
                }
                None => {}
            }
            match handler.as_a_child_of.as_deref() {
                t if blank(t) => self.error(
                    "missing-as-a-child-of",
                    &format!("{path}/as-a-child-of"),
                    format!("output handler \"{}\" says nothing about where to store its result", handler.name),
                    "set `as-a-child-of` to a wrapper input or an earlier output handler",
                ),
                Some(t) if !known.contains_key(t) && !handlers.contains(t) => self.error(
                    "unknown-handler-parent",
                    &format!("{path}/as-a-child-of"),
                    format!(
                        "output handler \"{}\" is a child of \"{t}\", which is neither a wrapper input nor an \
                         earlier output handler",
                        handler.name
                    ),
                    format!(
                        "known wrapper inputs: {}; earlier output handlers: {}",
                        names(known.keys().copied()),
                        names(handlers.iter().copied())
                    ),
                ),
                Some(t) => {
                    if multiple.contains(t) {
                        self.error(
                            "handler-parent-multiple",
                            &format!("{path}/as-a-child-of"),
                            format!(
                                "output handler \"{}\" is a child of \"{t}\", which allows multiple values",
                                handler.name
                            ),
                            "store the result under a single-valued input",
                        );
                    }
                    if let Some(Some(d)) = known.get(t)
                        && let Some(prop) = d.derived_from_xnat_object_property.as_deref()
                        && prop != "uri"
                    {
                        self.error(
                            "handler-parent-not-uri",
                            &format!("{path}/as-a-child-of"),
                            format!(
                                "output handler \"{}\" is a child of \"{t}\", whose value is its \"{prop}\"; \
                                 uploading needs a \"uri\"",
                                handler.name
                            ),
                            "store the result under an input whose value is the object itself or its `uri`",
                        );
                    }
                }
                None => {}
            }
            if let OutputHandlerType::Other(t) = &handler.kind {
                self.error(
                    "unknown-output-handler-type",
                    &format!("{path}/type"),
                    format!("unknown output handler type \"{t}\""),
                    format!("use one of {}", list(OutputHandlerType::KNOWN)),
                );
            }
            if handler.kind == OutputHandlerType::Resource && blank(handler.label.as_deref()) {
                self.error(
                    "resource-without-label",
                    &format!("{path}/label"),
                    format!("output handler \"{}\" creates a resource but has no label", handler.name),
                    "set `label`, the resource's name in XNAT (e.g. `NIFTI`)",
                );
            }
            if !handlers.insert(handler.name.as_str()) {
                self.error(
                    "duplicate-output-handler",
                    &format!("{path}/name"),
                    format!("output handler name \"{}\" is not unique", handler.name),
                    "rename one of the output handlers",
                );
            }
        }
        for o in &c.outputs {
            if !handled.contains(o.name.as_str()) {
                self.error(
                    "unhandled-output",
                    &format!("{wp}/output-handlers"),
                    format!("wrapper \"{}\" has no output handler for output \"{}\"", wrapper.name, o.name),
                    "add an output handler with `accepts-command-output` naming it",
                );
            }
        }
    }

    fn wrapper_input(
        &mut self,
        path: &str,
        name: &str,
        kind: &WrapperInputType,
        via_setup: Option<&str>,
        provides_files: Option<&str>,
    ) {
        if name.trim().is_empty() {
            self.error(
                "blank-wrapper-input-name",
                &format!("{path}/name"),
                "wrapper input has no name".into(),
                "give every wrapper input a name",
            );
        }
        if let WrapperInputType::Other(t) = kind {
            self.error(
                "unknown-wrapper-input-type",
                &format!("{path}/type"),
                format!("wrapper input \"{name}\" has the unknown type \"{t}\""),
                format!("use one of {}", list(WrapperInputType::KNOWN)),
            );
        }
        if !blank(via_setup) && blank(provides_files) {
            self.error(
                "setup-without-mount",
                &format!("{path}/via-setup-command"),
                format!("wrapper input \"{name}\" has a setup command but provides no files for a mount"),
                "set `provides-files-for-command-mount`, or remove `via-setup-command`",
            );
        }
        self.name_rule(format!("{path}/name"), "wrapper input", name);
    }

    fn provides(&mut self, path: &str, name: &str, target: Option<&str>, inputs: &HashMap<&str, &crate::model::Input>) {
        let Some(target) = target.filter(|t| !t.trim().is_empty()) else { return };
        match inputs.get(target) {
            Some(input) if input.is_select() => self.error(
                "provides-value-for-select",
                &format!("{path}/provides-value-for-command-input"),
                format!("wrapper input \"{name}\" provides values for the select input \"{target}\""),
                "inputs fed by XNAT should not be select types; XNAT offers a choice when several values resolve",
            ),
            Some(_) => {}
            None => self.warning(
                "unknown-provided-input",
                &format!("{path}/provides-value-for-command-input"),
                format!("wrapper input \"{name}\" provides a value for the unknown command input \"{target}\""),
                format!(
                    "XNAT ignores the link, so the value reaches nothing; known inputs: {}",
                    names(inputs.keys().copied())
                ),
            ),
        }
    }

    fn provides_files(&mut self, path: &str, name: &str, mount: Option<&str>, mounts: &HashSet<&str>) {
        let Some(mount) = mount.filter(|m| !m.trim().is_empty()) else { return };
        if !mounts.contains(mount) {
            self.warning(
                "unknown-provided-mount",
                &format!("{path}/provides-files-for-command-mount"),
                format!("wrapper input \"{name}\" provides files for the unknown mount \"{mount}\""),
                format!(
                    "XNAT ignores the link, so no files are mounted; known mounts: {}",
                    names(mounts.iter().copied())
                ),
            );
        }
    }

    /// Replacement keys: unused ones, shared ones, and key-like text in the command line that
    /// no command input replaces.
    fn replacement_keys(&mut self, c: &Command) {
        let templates = templates(c);
        let mut seen: HashMap<String, &str> = HashMap::new();
        for (i, input) in c.inputs.iter().enumerate() {
            let key = input.replacement_key();
            if let Some(first) = seen.insert(key.clone(), &input.name) {
                self.warning(
                    "duplicate-replacement-key",
                    &format!("/inputs/{i}/replacement-key"),
                    format!("inputs \"{first}\" and \"{}\" share the replacement key `{key}`", input.name),
                    "give each input its own key; XNAT substitutes only one of them",
                );
            }
            if !templates.iter().any(|t| t.contains(&key)) {
                self.warning(
                    "unused-replacement-key",
                    &format!("/inputs/{i}"),
                    format!("the replacement key `{key}` of input \"{}\" is not used anywhere", input.name),
                    "put it in `command-line` (or an environment variable, mount path or output path), or remove \
                     the input",
                );
            }
        }
        let Some(line) = c.command_line.as_deref() else { return };
        let wrapper_keys: HashMap<String, &str> = c
            .wrappers
            .iter()
            .flat_map(|w| {
                w.external_inputs
                    .iter()
                    .map(|e| (e.replacement_key(), e.name.as_str()))
                    .chain(w.derived_inputs.iter().map(|d| (d.replacement_key(), d.name.as_str())))
            })
            .collect();
        let mut reported = HashSet::new();
        for token in hash_tokens(line) {
            if seen.contains_key(token) || !reported.insert(token) {
                continue;
            }
            let (message, hint) = match wrapper_keys.get(token) {
                Some(w) => (
                    format!(
                        "`{token}` in the command line is the key of wrapper input \"{w}\"; XNAT substitutes only \
                         command inputs' keys there, so it stays as written"
                    ),
                    format!("add a command input that the wrapper input provides a value for, with key `{token}`"),
                ),
                None => (
                    format!("`{token}` in the command line is no input's replacement key; it stays as written"),
                    "add an input with this key, or fix the spelling".to_string(),
                ),
            };
            self.warning("unknown-replacement-key", "/command-line", message, hint);
        }
    }
}

/// Every template XNAT substitutes input values into.
fn templates(c: &Command) -> Vec<&str> {
    let mut t: Vec<&str> = Vec::new();
    t.extend(c.command_line.as_deref());
    t.extend(c.working_directory.as_deref());
    t.extend(c.container_name.as_deref());
    for (k, v) in c.environment_variables.iter().chain(&c.ports).chain(&c.container_labels) {
        t.push(k);
        t.push(v);
    }
    t.extend(c.mounts.iter().filter_map(|m| m.path.as_deref()));
    t.extend(c.outputs.iter().filter_map(|o| o.path.as_deref()));
    for h in c.wrappers.iter().flat_map(|w| &w.output_handlers) {
        t.extend([&h.label, &h.format, &h.description, &h.content].into_iter().filter_map(|s| s.as_deref()));
        t.extend(h.tags.iter().map(String::as_str));
    }
    t
}

/// `#WORD#` tokens in `line` (letters, digits, `_`, `-`, `.` between two `#`).
pub(crate) fn hash_tokens(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(start) = line[rest..].find('#').map(|i| i + rest) {
        let Some(len) = line[start + 1..].find('#') else { break };
        let end = start + 1 + len;
        let inner = &line[start + 1..end];
        if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
            out.push(&line[start..=end]);
            rest = end + 1;
        } else {
            rest = end;
        }
    }
    out
}

fn list(known: &[&str]) -> String {
    known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = it.collect();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() { "none".to_string() } else { v.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ") }
}

fn quoted(values: &[&String]) -> String {
    values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_tokens_finds_keys_between_hashes() {
        assert_eq!(hash_tokens("#A# > /out/#B.txt#"), ["#A#", "#B.txt#"]);
        assert_eq!(hash_tokens("#A##B#"), ["#A#", "#B#"]);
        assert_eq!(hash_tokens("echo '# comment' #X#"), ["#X#"]);
        assert_eq!(hash_tokens("## # #"), Vec::<&str>::new());
        assert_eq!(hash_tokens("a#b"), Vec::<&str>::new());
    }

    #[test]
    fn names_follow_xnats_rule() {
        assert!(!bad_name("SCAN_ID-2"));
        assert!(bad_name("scan id"));
        assert!(bad_name("scan.id"));
        assert!(!bad_name(""));
    }

    /// Issue 14, finding 1: a mount name became a host directory below the output directory.
    #[test]
    fn finding_01_mount_names_are_single_names() {
        let command = |name: &str| {
            let doc = berth_descriptor::Value::from_serde(&serde_json::json!({
                "name": "m", "image": "busybox:1", "command-line": "true",
                "mounts": [{"name": name, "writable": true, "path": "/out"}],
            }));
            crate::validate(&doc)
        };
        for bad in ["../../..", "/etc", "a/b", "..", ".", "x\ny"] {
            let v = command(bad);
            let p =
                v.problems.iter().find(|p| p.code == "bad-mount-name").unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(p.is_error() && p.pointer == "/mounts/0/name", "{p:?}");
            assert!(p.message.contains("is not a single name"), "{}", p.message);
            assert!(p.hint.as_deref().is_some_and(|h| h.contains("one directory name")), "{p:?}");
        }
        for good in ["out", "output-dir", "out.1"] {
            assert!(command(good).is_ok(false), "{good:?} refused");
        }
    }
}
