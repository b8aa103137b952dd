//! Loading a Command document through berth-descriptor's loader, with a sharper account of
//! the syntax errors Command authors make.
//!
//! The loader already says where the JSON breaks; this adds why, for the mistakes XNAT's own
//! reader treats differently: a trailing comma (refused by XNAT too: its Jackson reader does
//! not enable `ALLOW_TRAILING_COMMA`), and single quotes or `#` comments (accepted by XNAT,
//! whose reader enables `ALLOW_SINGLE_QUOTES` and `ALLOW_YAML_COMMENTS`, but not standard
//! JSON, which berth reads).

use berth_descriptor::load::{Origin, load_object};
use berth_descriptor::pyjson::ParseError;
use berth_descriptor::{Document, LoadError};

/// Loads a Command document: a path to a JSON file, `-` for standard input, or inline JSON.
/// A document that is not JSON fails with the line and column of the problem and, for the
/// common mistakes, what the mistake is.
pub fn load_command(arg: &str) -> Result<Document, LoadError> {
    match load_object(arg) {
        Err(LoadError::Parse { origin, mut source }) => {
            let text = match &origin {
                Origin::File(path) => std::fs::read_to_string(path).ok(),
                Origin::Inline => Some(arg.to_string()),
                Origin::Stdin => None,
            };
            if let Some(text) = text {
                explain(&text, &mut source);
            }
            Err(LoadError::Parse { origin, source })
        }
        other => other,
    }
}

/// Rewrites `e` to name the mistake when it is one of the common ones, moving the position to
/// the offending character.
pub(crate) fn explain(text: &str, e: &mut ParseError) {
    let Some(offset) = offset_of(text, e.line, e.column) else { return };
    let here = text[offset..].chars().next();
    let before = text[..offset].trim_end();
    match here {
        Some(c @ ('}' | ']')) if before.ends_with(',') => {
            let comma = before.len() - 1;
            let (line, column) = position(text, comma);
            *e = ParseError {
                message: format!("a trailing comma before `{c}`: JSON allows no comma after the last item"),
                line,
                column,
            };
        }
        Some('\'') => {
            e.message = "a single-quoted string: JSON needs double quotes (XNAT's reader accepts single quotes; \
                         berth reads standard JSON)"
                .to_string();
        }
        Some('#') | Some('/') => {
            e.message =
                "a comment: JSON has none (XNAT's reader skips `#` comments; berth reads standard JSON)".to_string();
        }
        _ => {}
    }
}

/// The byte offset of 1-based `line` and character `column`.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text.split_inclusive('\n').take(line.checked_sub(1)?).map(str::len).sum();
    let rest = text.get(start..)?;
    let within = rest.char_indices().nth(column.checked_sub(1)?).map_or(rest.len(), |(i, _)| i);
    Some(start + within)
}

/// The 1-based line and character column of byte `offset`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_descriptor::Value;

    fn explained(text: &str) -> ParseError {
        let mut e = Value::parse(text).unwrap_err();
        explain(text, &mut e);
        e
    }

    #[test]
    fn trailing_commas_are_named_and_located_at_the_comma() {
        let e = explained("{\n  \"a\": 1,\n}");
        assert_eq!((e.line, e.column), (2, 9));
        assert_eq!(e.message, "a trailing comma before `}`: JSON allows no comma after the last item");
        let e = explained("[1, 2 ,  ]");
        assert_eq!((e.line, e.column), (1, 7));
    }

    #[test]
    fn single_quotes_and_comments_are_named() {
        assert!(explained("{'a': 1}").message.starts_with("a single-quoted string"));
        assert!(explained("{\"a\": 1, # note\n\"b\": 2}").message.starts_with("a comment"));
    }

    #[test]
    fn other_errors_are_left_alone() {
        let plain = Value::parse("{\"a\" 1}").unwrap_err();
        assert_eq!(explained("{\"a\" 1}"), plain);
    }

    #[test]
    fn inline_json_is_explained_too() {
        let Err(LoadError::Parse { source, .. }) = load_command("{\"name\": \"x\",}") else { panic!() };
        assert_eq!((source.line, source.column), (1, 13));
    }
}
