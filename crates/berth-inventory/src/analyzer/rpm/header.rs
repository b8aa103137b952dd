//! rpm header blobs, as the rpm database stores them: an index of (tag, type, offset, count)
//! entries followed by a data store, all big-endian (rpm's `lib/header.c`, "header blob"
//! without the 8-byte magic of package files).

use std::collections::HashMap;

/// `RPMTAG_NAME`.
pub const NAME: i32 = 1000;
/// `RPMTAG_VERSION`.
pub const VERSION: i32 = 1001;
/// `RPMTAG_RELEASE`.
pub const RELEASE: i32 = 1002;
/// `RPMTAG_EPOCH`.
pub const EPOCH: i32 = 1003;
/// `RPMTAG_VENDOR`.
pub const VENDOR: i32 = 1011;
/// `RPMTAG_LICENSE`.
pub const LICENSE: i32 = 1014;
/// `RPMTAG_ARCH`.
pub const ARCH: i32 = 1022;
/// `RPMTAG_OLDFILENAMES` (headers from before rpm 4.0's compressed file lists).
pub const OLDFILENAMES: i32 = 1027;
/// `RPMTAG_SOURCERPM`.
pub const SOURCERPM: i32 = 1044;
/// `RPMTAG_DIRINDEXES`.
pub const DIRINDEXES: i32 = 1116;
/// `RPMTAG_BASENAMES`.
pub const BASENAMES: i32 = 1117;
/// `RPMTAG_DIRNAMES`.
pub const DIRNAMES: i32 = 1118;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// A malformed header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HeaderError(pub String);

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    kind: u32,
    offset: usize,
    count: usize,
}

/// A parsed header: its index and data store.
#[derive(Debug)]
pub struct Header<'a> {
    entries: HashMap<i32, IndexEntry>,
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

impl<'a> Header<'a> {
    /// Parse a header blob.
    pub fn parse(blob: &'a [u8]) -> Result<Self, HeaderError> {
        let il = be32(blob, 0).ok_or_else(|| HeaderError("shorter than 8 bytes".into()))? as usize;
        let dl = be32(blob, 4).ok_or_else(|| HeaderError("shorter than 8 bytes".into()))? as usize;
        // rpm's own limits (HEADER_TAGS_MAX, HEADER_DATA_MAX).
        if il == 0 || il > 0xffff || dl > 256 << 20 {
            return Err(HeaderError(format!("implausible sizes: {il} entries, {dl} bytes of data")));
        }
        let data_start = 8 + il * 16;
        let data = blob.get(data_start..data_start + dl).ok_or_else(|| {
            HeaderError(format!("{} bytes, less than the {} its index announces", blob.len(), data_start + dl))
        })?;
        let mut entries = HashMap::with_capacity(il);
        for i in 0..il {
            let at = 8 + i * 16;
            let tag = be32(blob, at).unwrap_or(0) as i32;
            let kind = be32(blob, at + 4).unwrap_or(0);
            let offset = be32(blob, at + 8).unwrap_or(0) as usize;
            let count = be32(blob, at + 12).unwrap_or(0) as usize;
            if offset > dl {
                return Err(HeaderError(format!("tag {tag} points past the data")));
            }
            entries.entry(tag).or_insert(IndexEntry { kind, offset, count });
        }
        Ok(Self { entries, data })
    }

    /// NUL-terminated strings starting at `offset`, `count` of them.
    fn strings(&self, offset: usize, count: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(count.min(1 << 16));
        let mut at = offset;
        for _ in 0..count {
            let Some(rest) = self.data.get(at..) else { break };
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            at += end + 1;
        }
        out
    }

    /// A string tag (STRING, or the first of an I18N string or string array).
    pub fn string(&self, tag: i32) -> Option<String> {
        let e = self.entries.get(&tag)?;
        match e.kind {
            TYPE_STRING | TYPE_I18NSTRING | TYPE_STRING_ARRAY => self.strings(e.offset, 1).into_iter().next(),
            _ => None,
        }
    }

    /// A string-array tag.
    pub fn string_array(&self, tag: i32) -> Vec<String> {
        match self.entries.get(&tag) {
            Some(e) if e.kind == TYPE_STRING_ARRAY => self.strings(e.offset, e.count),
            _ => Vec::new(),
        }
    }

    /// An INT32 array tag.
    pub fn ints(&self, tag: i32) -> Vec<u32> {
        match self.entries.get(&tag) {
            Some(e) if e.kind == TYPE_INT32 => {
                (0..e.count.min(1 << 24)).map_while(|i| be32(self.data, e.offset + 4 * i)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The first value of an INT32 tag.
    pub fn int(&self, tag: i32) -> Option<u32> {
        self.ints(tag).first().copied()
    }

    /// The package's files, without a leading `/`.
    pub fn files(&self) -> Vec<String> {
        let dirs = self.string_array(DIRNAMES);
        let bases = self.string_array(BASENAMES);
        let indexes = self.ints(DIRINDEXES);
        let files: Vec<String> = if bases.is_empty() {
            self.string_array(OLDFILENAMES)
        } else {
            bases
                .iter()
                .zip(indexes.iter())
                .filter_map(|(b, &i)| dirs.get(i as usize).map(|d| format!("{d}{b}")))
                .collect()
        };
        files.into_iter().map(|f| f.trim_start_matches('/').to_owned()).collect()
    }
}

/// Build a header blob from tags, for tests and fixtures: (tag, type, values).
pub fn build(tags: &[(i32, HeaderValue)]) -> Vec<u8> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (tag, value) in tags {
        let (kind, count) = match value {
            HeaderValue::Str(s) => {
                let off = data.len();
                data.extend_from_slice(s.as_bytes());
                data.push(0);
                (TYPE_STRING, (off, 1))
            }
            HeaderValue::Strs(v) => {
                let off = data.len();
                for s in v {
                    data.extend_from_slice(s.as_bytes());
                    data.push(0);
                }
                (TYPE_STRING_ARRAY, (off, v.len()))
            }
            HeaderValue::Ints(v) => {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
                let off = data.len();
                for i in v {
                    data.extend_from_slice(&i.to_be_bytes());
                }
                (TYPE_INT32, (off, v.len()))
            }
        };
        index.extend_from_slice(&tag.to_be_bytes());
        index.extend_from_slice(&kind.to_be_bytes());
        index.extend_from_slice(&(count.0 as u32).to_be_bytes());
        index.extend_from_slice(&(count.1 as u32).to_be_bytes());
    }
    let mut blob = Vec::new();
    blob.extend_from_slice(&(tags.len() as u32).to_be_bytes());
    blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
    blob.extend_from_slice(&index);
    blob.extend_from_slice(&data);
    blob
}

/// A value for [`build`].
#[derive(Debug, Clone)]
pub enum HeaderValue {
    /// A STRING.
    Str(String),
    /// A STRING_ARRAY.
    Strs(Vec<String>),
    /// An INT32 array.
    Ints(Vec<u32>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_header_reads_back_with_its_file_list() {
        let blob = build(&[
            (NAME, HeaderValue::Str("bash".into())),
            (EPOCH, HeaderValue::Ints(vec![1])),
            (DIRNAMES, HeaderValue::Strs(vec!["/usr/bin/".into(), "/etc/".into()])),
            (BASENAMES, HeaderValue::Strs(vec!["bash".into(), "bashrc".into()])),
            (DIRINDEXES, HeaderValue::Ints(vec![0, 1])),
        ]);
        let h = Header::parse(&blob).expect("parse");
        assert_eq!(h.string(NAME).as_deref(), Some("bash"));
        assert_eq!(h.int(EPOCH), Some(1));
        assert_eq!(h.files(), vec!["usr/bin/bash".to_owned(), "etc/bashrc".to_owned()]);
        assert!(Header::parse(&blob[..blob.len() - 3]).is_err());
        assert!(Header::parse(&[0, 0]).is_err());
    }
}
