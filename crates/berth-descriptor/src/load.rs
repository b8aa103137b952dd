//! Reading descriptors and invocations from a file path, standard input, or inline JSON.
//!
//! Like bosh's `loadJson`, an argument naming an existing file is read from disk and anything
//! else is parsed as JSON text, so `berth simulate '{"name": ...}' -i '{"x": 1}'` works. Unlike
//! bosh, an argument that is neither gets an error that says which of the two was meant.

use std::path::{Path, PathBuf};

use crate::pyjson::{ParseError, Value};

/// Where a JSON document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// JSON text given directly on the command line or in an API request.
    Inline,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Stdin => f.write_str("<stdin>"),
            Origin::Inline => f.write_str("<inline JSON>"),
        }
    }
}

/// A parsed JSON document with its text and origin.
#[derive(Debug, Clone)]
pub struct Document {
    /// The parsed value.
    pub value: Value,
    /// The exact text (hashed into provenance records).
    pub text: String,
    /// Where it came from.
    pub origin: Origin,
}

/// Why a document could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The argument is not an existing file and does not look like JSON text.
    #[error("`{arg}` is neither an existing file nor JSON text")]
    NotFound {
        /// The argument as given.
        arg: String,
    },
    /// The file exists but could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("{origin} is not UTF-8 text")]
    NotUtf8 {
        /// Where the bytes came from.
        origin: Origin,
    },
    /// The text is not valid JSON.
    #[error("{origin} is not valid JSON: {source}")]
    Parse {
        /// Where the text came from.
        origin: Origin,
        /// What the parser found.
        #[source]
        source: ParseError,
    },
    /// The JSON is valid but not an object.
    #[error("{origin} must be a JSON object, found {found}")]
    NotObject {
        /// Where the text came from.
        origin: Origin,
        /// The JSON type found instead.
        found: &'static str,
    },
}

impl LoadError {
    /// How the user can fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LoadError::NotFound { arg } if arg.trim_start().starts_with(['{', '[']) => {
                Some("the argument starts like JSON but did not parse; check quoting in your shell".into())
            }
            LoadError::NotFound { .. } => {
                Some("give the path of a JSON file, `-` for standard input, or the JSON object itself".into())
            }
            LoadError::Parse { source, .. } => {
                Some(format!("fix the JSON at line {} column {}", source.line, source.column))
            }
            LoadError::NotObject { .. } => Some("the document must start with `{`".into()),
            _ => None,
        }
    }
}

/// Loads a JSON object from `arg`: a path to an existing file, `-` for standard input, or
/// inline JSON text.
pub fn load_object(arg: &str) -> Result<Document, LoadError> {
    let (text, origin) = if arg == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|source| LoadError::Read { path: PathBuf::from("<stdin>"), source })?;
        (String::from_utf8(buf).map_err(|_| LoadError::NotUtf8 { origin: Origin::Stdin })?, Origin::Stdin)
    } else if Path::new(arg).is_file() {
        let path = PathBuf::from(arg);
        let bytes = std::fs::read(&path).map_err(|source| LoadError::Read { path: path.clone(), source })?;
        let origin = Origin::File(path);
        (String::from_utf8(bytes).map_err(|_| LoadError::NotUtf8 { origin: origin.clone() })?, origin)
    } else if arg.trim_start().starts_with('{') {
        (arg.to_string(), Origin::Inline)
    } else {
        return Err(LoadError::NotFound { arg: arg.to_string() });
    };
    parse_object(text, origin)
}

/// Parses `text` as a JSON object.
pub fn parse_object(text: String, origin: Origin) -> Result<Document, LoadError> {
    let value = Value::parse(&text).map_err(|source| LoadError::Parse { origin: origin.clone(), source })?;
    if value.as_dict().is_none() {
        return Err(LoadError::NotObject { origin, found: value.type_name() });
    }
    Ok(Document { value, text, origin })
}
