//! XNAT Container Service Commands: the JSON "Command" format XNAT uses to run a tool in a
//! container, read and run by XNAT's own rules.
//!
//! The flow is [`load_command`] (file, stdin or inline JSON through berth-descriptor's
//! loader, with line and column on a syntax error) → [`validate`] (serde into the typed
//! [`Command`] of [`model`], then XNAT's checks and berth's warnings, all as [`Problem`]s) →
//! [`plan()`] (input values and host directories in, an [`XnatPlan`] out: the command line, the
//! container's argument vector, mounts, environment, outputs and resources). [`detect()`] tells
//! an XNAT Command from a Boutiques descriptor; [`parse_commands_label`] reads the
//! `org.nrg.commands` image label. Which XNAT behaviours are reproduced, and which are not, is
//! written down in `docs/xnat-commands.md`.

pub(crate) mod coerce;
pub mod detect;
pub mod label;
pub mod load;
pub mod model;
pub(crate) mod parse;
pub mod plan;
pub mod render;
pub mod split;
pub mod template;
pub(crate) mod validate;

pub use berth_descriptor::{Document, LoadError, Problem, Problems, Severity, Value};
pub use detect::{Detection, DocumentKind, detect};
pub use label::{LABEL_KEY, LabelError, parse_commands_label, validate_label};
pub use load::load_command;
pub use model::Command;
pub use plan::{XnatError, XnatPlan, plan, preview};

/// The outcome of validating one Command document.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The typed Command, when the document had the right shape.
    pub command: Option<Command>,
    /// Every problem found, errors first.
    pub problems: Problems,
}

impl Validation {
    /// Whether the Command is usable (no errors; with `strict`, no warnings either).
    pub fn is_ok(&self, strict: bool) -> bool {
        self.command.is_some() && !self.problems.has_errors(strict)
    }

    /// The Command and its warnings if usable, else the problems.
    pub fn into_result(self, strict: bool) -> Result<(Command, Problems), Problems> {
        match self.command {
            Some(c) if !self.problems.has_errors(strict) => Ok((c, self.problems)),
            _ => Err(self.problems),
        }
    }
}

/// Parses and checks one Command document.
pub fn validate(doc: &Value) -> Validation {
    validate_at(doc, "")
}

/// [`validate`] with every pointer prefixed by `base`.
pub(crate) fn validate_at(doc: &Value, base: &str) -> Validation {
    let (command, mut problems) = parse::command_at(doc, base);
    if let Some(c) = &command {
        problems.0.extend(validate::check(c, base));
    }
    problems.sort();
    Validation { command, problems }
}

impl Command {
    /// The typed Command from a parsed document, or its errors. Warnings are dropped; use
    /// [`validate`] to see them.
    pub fn from_value(doc: &Value) -> Result<Command, Problems> {
        validate(doc)
            .into_result(false)
            .map(|(c, _)| c)
            .map_err(|p| Problems(p.into_iter().filter(Problem::is_error).collect()))
    }
}
