//! Fixtures shared by the integration tests: a realistic `NewRun` for a small tool.
#![allow(dead_code)]

use std::collections::BTreeMap;

use berth_store::NewRun;

/// A descriptor with one `File` input, one directory input, a flag and two outputs, and an
/// `error-codes` entry, as the runner would store it.
pub const DESCRIPTOR: &str = r#"{
  "name": "dicom-normalize",
  "tool-version": "1.0.0",
  "schema-version": "0.5",
  "description": "Normalize a DICOM file",
  "command-line": "normalize [IN] [REFS] [VERBOSE] [OUT]",
  "container-image": {"type": "docker", "image": "berth/dicom-normalize:1.0.0"},
  "inputs": [
    {"id": "infile", "name": "Input", "type": "File", "value-key": "[IN]"},
    {"id": "refs", "name": "References", "type": "File", "value-key": "[REFS]", "optional": true},
    {"id": "verbose", "name": "Verbose", "type": "Flag", "command-line-flag": "-v", "value-key": "[VERBOSE]", "optional": true},
    {"id": "out", "name": "Output name", "type": "String", "value-key": "[OUT]"}
  ],
  "output-files": [
    {"id": "normalized", "name": "Normalized", "path-template": "[OUT].dcm"},
    {"id": "report", "name": "Report", "path-template": "[OUT].txt"}
  ],
  "error-codes": [{"code": 3, "description": "The input is not a DICOM file"}]
}"#;

/// A `NewRun` of [`DESCRIPTOR`] for tool `tool`.
pub fn new_run(tool: &str) -> NewRun {
    NewRun {
        tool_name: tool.to_owned(),
        tool_version: "1.0.0".to_owned(),
        descriptor_json: DESCRIPTOR.to_owned(),
        descriptor_sha256: berth_store::hash::sha256_hex(DESCRIPTOR.as_bytes()),
        invocation_json:
            r#"{"infile": "/data/in/scan.dcm", "refs": "/data/refs", "verbose": true, "out": "scan-norm"}"#.to_owned(),
        command_line: "normalize /data/in/scan.dcm /data/refs -v scan-norm".to_owned(),
        plan_json: r#"{"command-line": "normalize /data/in/scan.dcm /data/refs -v scan-norm"}"#.to_owned(),
        image_ref: Some("berth/dicom-normalize:1.0.0".to_owned()),
        output_dir: "/data/out".to_owned(),
        owner_pid: 4242,
        owner_host: "host-a".to_owned(),
        owner_started_at: Some("2025-01-01T00:00:00.000Z".to_owned()),
        labels: BTreeMap::from([("project".to_owned(), "phantom".to_owned()), ("who".to_owned(), "ci".to_owned())]),
    }
}
