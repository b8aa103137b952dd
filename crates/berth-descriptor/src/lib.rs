//! Boutiques descriptors: everything berth does with a descriptor before a container starts.
//!
//! The flow is [`load`] (file or inline JSON, parsed with Python's number model) →
//! [`schema`] (the Boutiques 0.5 JSON Schema, draft-04) → [`validate`] (bosh's semantic
//! checks) → [`invocation`] (the invocation schema bosh generates, defaults, constraints) →
//! [`render`] (command line, output paths and file templates, byte-for-byte as bosh) →
//! [`plan`] (what a runner needs).

pub mod condexpr;
pub mod invocation;
pub mod load;
pub mod model;
pub mod plan;
pub mod problem;
pub mod pyfmt;
pub mod pyjson;
pub mod render;
pub mod schema;
pub mod validate;

pub use invocation::Mode;
pub use load::{Document, LoadError, Origin, load_object};
pub use model::Descriptor;
pub use plan::{Plan, PlanError, plan};
pub use problem::{Problem, Problems, Severity};
pub use pyjson::Value;

/// The canonical text of a JSON document, whose SHA-256 identifies a descriptor: compact, keys
/// in their original order, numbers as Python prints them. Two files that differ only in
/// formatting have the same canonical text.
pub fn canonical_json(doc: &Value) -> String {
    doc.to_json()
}

/// The SHA-256 (lowercase hex) of a document's [`canonical_json`].
pub fn descriptor_sha256(doc: &Value) -> String {
    use std::fmt::Write as _;
    // Written by hand because the descriptor crate has no hashing dependency otherwise; the
    // digest itself comes from `sha2`.
    let digest = <sha2::Sha256 as sha2::Digest>::digest(canonical_json(doc).as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The outcome of validating a descriptor document.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The typed descriptor, when the document passed the JSON Schema.
    pub descriptor: Option<Descriptor>,
    /// Every problem found, errors first.
    pub problems: Problems,
}

impl Validation {
    /// Whether the descriptor is usable (no errors; with `strict`, no warnings either).
    pub fn is_ok(&self, strict: bool) -> bool {
        self.descriptor.is_some() && !self.problems.has_errors(strict)
    }

    /// The descriptor if usable, else the blocking problems.
    pub fn into_result(self, strict: bool) -> Result<(Descriptor, Problems), Problems> {
        match self.descriptor {
            Some(d) if !self.problems.has_errors(strict) => Ok((d, self.problems)),
            _ => Err(self.problems),
        }
    }
}

/// Validates a parsed descriptor: the JSON Schema first (stopping there when it fails, as
/// bosh does), then the semantic checks.
pub fn validate(doc: Value) -> Validation {
    if doc.as_dict().is_none() {
        let mut problems = Problems::default();
        problems.push(
            Problem::error(
                "not-an-object",
                "",
                format!("a descriptor must be a JSON object, found {}", doc.type_name()),
            )
            .hint("the document must start with `{`"),
        );
        return Validation { descriptor: None, problems };
    }
    let problems = schema::check(&doc);
    if !problems.is_empty() {
        return Validation { descriptor: None, problems };
    }
    let descriptor = Descriptor::from_schema_valid(doc);
    let problems = validate::check(&descriptor);
    Validation { descriptor: Some(descriptor), problems }
}
