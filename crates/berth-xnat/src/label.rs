//! The `org.nrg.commands` image label: the Commands an XNAT-enabled image carries, as one
//! JSON array (container-service `CommandLabelServiceImpl.java`).
//!
//! XNAT reads the label when it pulls the image and, for each Command, sets `image` to the
//! image it read the label from and `hash` to the image id. A label that does not parse is
//! logged and skipped by XNAT; berth reports it instead, naming the label and the problem.

use berth_descriptor::pyjson::ParseError;
use berth_descriptor::{Problems, Value};

use crate::Validation;
use crate::model::Command;

/// The image label that holds XNAT Commands.
pub const LABEL_KEY: &str = "org.nrg.commands";

/// Why the label could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The label is not valid JSON.
    #[error("the `org.nrg.commands` label is not valid JSON: {source}")]
    Json {
        /// Where and why parsing failed.
        #[source]
        source: ParseError,
    },
    /// The label is JSON but not an array.
    #[error("the `org.nrg.commands` label must be a JSON array of Commands, found {found}")]
    NotAList {
        /// The JSON type found.
        found: &'static str,
    },
    /// Some Commands in the label have errors.
    #[error("the `org.nrg.commands` label holds Commands with errors")]
    Invalid {
        /// The errors, with pointers starting at the Command's index (`/0/inputs/1/name`).
        problems: Problems,
    },
}

impl LabelError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LabelError::Json { source } => Some(format!(
                "fix the label's JSON at line {} column {} (the label's value, not the Dockerfile line)",
                source.line, source.column
            )),
            LabelError::NotAList { .. } => {
                Some("the label's value must be `[` Command, ... `]`, even for one Command".into())
            }
            LabelError::Invalid { .. } => None,
        }
    }
}

/// Parses and validates every Command of an `org.nrg.commands` label value. A blank label
/// holds no Commands, as in XNAT.
pub fn validate_label(text: &str) -> Result<Vec<Validation>, LabelError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc = Value::parse(text).map_err(|source| LabelError::Json { source })?;
    let Value::List(items) = &doc else {
        return Err(LabelError::NotAList { found: doc.type_name() });
    };
    Ok(items.iter().enumerate().map(|(i, item)| crate::validate_at(item, &format!("/{i}"))).collect())
}

/// The Commands of an `org.nrg.commands` label value; an error when any of them has errors
/// (warnings are dropped: use [`validate_label`] to see them). Set each Command's `image` to
/// the labelled image, as XNAT does.
pub fn parse_commands_label(text: &str) -> Result<Vec<Command>, LabelError> {
    let mut commands = Vec::new();
    let mut errors = Problems::default();
    for v in validate_label(text)? {
        match v.into_result(false) {
            Ok((c, _)) => commands.push(c),
            Err(p) => p.into_iter().filter(|p| p.is_error()).for_each(|p| errors.push(p)),
        }
    }
    if errors.is_empty() { Ok(commands) } else { Err(LabelError::Invalid { problems: errors }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_holds_a_list_of_commands() {
        let cs = parse_commands_label(
            r#"[{"name": "a", "command-line": "echo a"}, {"name": "b", "command-line": "echo b"}]"#,
        )
        .unwrap();
        assert_eq!(cs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(parse_commands_label("  ").unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_label_and_the_problem() {
        let e = parse_commands_label("[{\"name\": \"a\",}]").unwrap_err();
        assert_eq!(e.to_string().split(':').next(), Some("the `org.nrg.commands` label is not valid JSON"));
        assert!(e.hint().unwrap().contains("line 1 column"));
        let e = parse_commands_label(r#"{"name": "a"}"#).unwrap_err();
        assert_eq!(e.to_string(), "the `org.nrg.commands` label must be a JSON array of Commands, found an object");
        let e = parse_commands_label(r#"[{"name": "a", "command-line": "x"}, {"command-line": "x"}]"#).unwrap_err();
        let LabelError::Invalid { problems } = e else { panic!("{e}") };
        assert_eq!(problems.iter().map(|p| p.pointer.as_str()).collect::<Vec<_>>(), ["/1/name"]);
    }
}
