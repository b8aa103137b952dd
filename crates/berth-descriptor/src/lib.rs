//! Boutiques descriptors: everything berth does with a descriptor before a container starts.
//!
//! The flow is `load` (file or inline JSON, parsed with Python's number model) → `schema`
//! (the Boutiques 0.5 JSON Schema, draft-04) → `validate` (bosh's semantic checks) →
//! `invocation` (the invocation schema bosh generates, defaults, constraint checks) →
//! `render` (command line, output paths and file templates, byte-for-byte as bosh).

pub mod pyfmt;
pub mod pyjson;
