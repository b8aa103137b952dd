//! Rust dependency lists embedded by `cargo auditable`: the `.dep-v0` section holds
//! zlib-compressed JSON, `{"packages": [{"name", "version", "source", "kind", "dependencies",
//! "root"}]}` (the format of the `auditable-serde` crate). `source` is `crates.io`, `local`,
//! `git`, `registry` or `other`; only crates.io crates are matched against advisories.
//!
//! Read with serde and flate2 rather than the `auditable-info` crate, which would add its own
//! copies of both for one struct; the decompressed size is bounded.

use std::io::Read;

use serde::Deserialize;

use super::section;

/// The most bytes the decompressed list may take (cargo auditable's own reader allows 8 MiB).
const MAX_JSON: u64 = 8 << 20;

/// One crate of the build.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Crate {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where it came from.
    #[serde(default)]
    pub source: String,
    /// Whether it is the crate the binary was built from.
    #[serde(default)]
    pub root: bool,
}

#[derive(Deserialize)]
struct List {
    packages: Vec<Crate>,
}

/// The crates `file` was built from, or `None` when it has no `.dep-v0` section.
pub fn dependencies<'d, R: object::ReadRef<'d>>(file: &object::File<'d, R>) -> Result<Option<Vec<Crate>>, String> {
    let Some(data) = section(file, ".dep-v0") else {
        return Ok(None);
    };
    parse(data).map(Some)
}

/// Decompress and parse a `.dep-v0` section.
pub fn parse(data: &[u8]) -> Result<Vec<Crate>, String> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("not zlib data: {e}"))?;
    if json.len() as u64 > MAX_JSON {
        return Err(format!("the dependency list is larger than {MAX_JSON} bytes"));
    }
    let list: List = serde_json::from_slice(&json).map_err(|e| format!("not a dependency list: {e}"))?;
    Ok(list.packages)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_compressed_list_gives_its_crates() {
        let json = br#"{"packages":[{"name":"tool","version":"0.1.0","source":"local","root":true,"dependencies":[1]},
            {"name":"smallvec","version":"1.6.0","source":"crates.io"}]}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json).expect("compress");
        let crates = parse(&z.finish().expect("finish")).expect("parse");
        assert_eq!(crates.len(), 2);
        assert!(crates[0].root);
        assert_eq!((crates[1].name.as_str(), crates[1].source.as_str()), ("smallvec", "crates.io"));
        assert!(parse(b"not zlib").is_err());
    }
}
