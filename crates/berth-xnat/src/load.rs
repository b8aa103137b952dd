//! Loading a Command document through berth-descriptor's loader, with a sharper account of
//! the syntax errors Command authors make.
//!
//! The loader already says where the JSON breaks; this adds why, for the mistakes XNAT's own
//! reader treats differently: a trailing comma (refused by XNAT too: its Jackson reader does
//! not enable `ALLOW_TRAILING_COMMA`), and single quotes or `#` comments (accepted by XNAT,
//! whose reader enables `ALLOW_SINGLE_QUOTES` and `ALLOW_YAML_COMMENTS`, but not standard
//! JSON, which berth reads).

use berth_descriptor::load::load_object;
use berth_descriptor::{Document, LoadError};

/// Loads a Command document: a path to a JSON file, `-` for standard input, or inline JSON.
/// A document that is not JSON fails with the line and column of the problem and, for the
/// common mistakes, what the mistake is.
pub fn load_command(arg: &str) -> Result<Document, LoadError> {
    // berth-descriptor's loader names the common mistakes (a trailing comma, single quotes,
    // a comment: XNAT's own reader accepts the last two) for every document berth reads.
    load_object(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_json_is_explained_too() {
        let Err(LoadError::Parse { source, .. }) = load_command("{\"name\": \"x\",}") else { panic!() };
        assert_eq!((source.line, source.column), (1, 13));
        assert!(source.message.starts_with("a trailing comma"), "{}", source.message);
    }
}
