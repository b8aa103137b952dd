//! Go build information, as `go version -m` prints it and Go's `debug/buildinfo` reads it.
//!
//! The linker writes a blob that starts with the 14-byte magic `\xff Go buildinf:`, then the
//! pointer size and a flags byte, at the start of the `.go.buildinfo` section (searched for,
//! 16-byte aligned, in the first 64 KiB of the data section when the section table names no
//! such section). Since Go 1.18 (flag bit 2) the Go version and the module information follow
//! the 32-byte header inline, each a uvarint length and bytes; before, the header holds two
//! pointers to Go string headers elsewhere in the binary, which are read through the sections
//! that contain those addresses. The module information is framed by 16-byte sentinels and
//! lists `path`, `mod` (the main module), `dep` (dependencies), `=>` (a replacement of the line
//! before) and `build` settings, tab-separated.
//!
//! Written by hand because no maintained Rust crate reads it; the format is small and fixed.

use object::{Object, ObjectSection};

use super::section;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER: usize = 32;
const FLAG_BIG_ENDIAN: u8 = 0x1;
const FLAG_INLINE: u8 = 0x2;
const SEARCH: usize = 64 * 1024;

/// One module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Its path (`github.com/anchore/syft`).
    pub path: String,
    /// Its version (`v1.4.1`, `(devel)`).
    pub version: String,
    /// Its `go.sum` hash, when recorded.
    pub sum: Option<String>,
}

/// What a Go binary says about how it was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// `go1.22.1`.
    pub go_version: String,
    /// The package path of the main package (`path` line).
    pub path: Option<String>,
    /// The main module.
    pub main: Option<Module>,
    /// The dependencies, replacements applied.
    pub deps: Vec<Module>,
    /// `build` settings (`GOOS=linux`, `-ldflags=...`).
    pub settings: Vec<(String, String)>,
}

/// The build information of `file`, or `None` when it is not a Go binary.
pub fn build_info<'d, R: object::ReadRef<'d>>(file: &object::File<'d, R>) -> Result<Option<BuildInfo>, String> {
    let blob = match section(file, ".go.buildinfo").and_then(find_magic) {
        Some(b) => b,
        None => match section(file, ".data").and_then(|d| find_magic(&d[..d.len().min(SEARCH)])) {
            Some(b) => b,
            None => return Ok(None),
        },
    };
    if blob.len() < HEADER {
        return Err("the build info header is cut short".to_owned());
    }
    let ptr_size = usize::from(blob[14]);
    let flags = blob[15];
    let (version, modinfo) = if flags & FLAG_INLINE != 0 {
        let (version, rest) = decode_string(&blob[HEADER..])?;
        let (modinfo, _) = decode_string(rest)?;
        (version.to_vec(), modinfo.to_vec())
    } else {
        if ptr_size != 4 && ptr_size != 8 {
            return Err(format!("pointer size {ptr_size} is not 4 or 8"));
        }
        let big = flags & FLAG_BIG_ENDIAN != 0;
        let pointer = |b: &[u8]| read_uint(b, ptr_size, big);
        let version_at = pointer(&blob[16..16 + ptr_size]);
        let modinfo_at = pointer(&blob[16 + ptr_size..16 + 2 * ptr_size]);
        let string_at = |addr: u64| -> Result<Vec<u8>, String> {
            let header = read_at(file, addr, 2 * ptr_size as u64)
                .ok_or_else(|| format!("the string header at {addr:#x} is outside the binary's sections"))?;
            let data = pointer(&header[..ptr_size]);
            let len = pointer(&header[ptr_size..2 * ptr_size]);
            if len == 0 {
                return Ok(Vec::new());
            }
            read_at(file, data, len)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| format!("the string at {data:#x} is outside the binary's sections"))
        };
        (string_at(version_at)?, string_at(modinfo_at)?)
    };
    let go_version = String::from_utf8_lossy(&version).into_owned();
    if !go_version.starts_with("go") && !go_version.starts_with("devel") {
        return Err(format!("`{go_version}` is not a Go version"));
    }
    Ok(Some(parse_modinfo(go_version, &modinfo)))
}

/// The blob at the first 16-byte aligned magic in `data`.
fn find_magic(data: &[u8]) -> Option<&[u8]> {
    (0..data.len()).step_by(16).find(|&i| data[i..].starts_with(MAGIC)).map(|i| &data[i..])
}

/// A uvarint-prefixed string and what follows it.
fn decode_string(data: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let mut len: u64 = 0;
    let mut shift = 0;
    for (i, b) in data.iter().enumerate() {
        if shift > 63 {
            break;
        }
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let start = i + 1;
            let end = usize::try_from(len).ok().and_then(|l| start.checked_add(l)).filter(|&e| e <= data.len());
            return end
                .map(|e| (&data[start..e], &data[e..]))
                .ok_or_else(|| "a string runs past the section".to_owned());
        }
        shift += 7;
    }
    Err("a string length is cut short".to_owned())
}

fn read_uint(b: &[u8], size: usize, big: bool) -> u64 {
    let b = &b[..size];
    let mut v = 0u64;
    if big {
        for &x in b {
            v = (v << 8) | u64::from(x);
        }
    } else {
        for &x in b.iter().rev() {
            v = (v << 8) | u64::from(x);
        }
    }
    v
}

/// `len` bytes at virtual address `addr`, from the section that holds them.
fn read_at<'d, R: object::ReadRef<'d>>(file: &object::File<'d, R>, addr: u64, len: u64) -> Option<&'d [u8]> {
    file.sections().find_map(|s| {
        let start = s.address();
        let end = start.checked_add(s.size())?;
        if addr < start || addr.checked_add(len)? > end {
            return None;
        }
        let data = s.data().ok()?;
        let from = usize::try_from(addr - start).ok()?;
        data.get(from..from.checked_add(usize::try_from(len).ok()?)?)
    })
}

/// Parse the module information (sentinels included or not).
pub fn parse_modinfo(go_version: String, raw: &[u8]) -> BuildInfo {
    let text = if raw.len() >= 33 && raw[raw.len() - 17] == b'\n' { &raw[16..raw.len() - 16] } else { raw };
    let text = String::from_utf8_lossy(text);
    let mut info = BuildInfo { go_version, path: None, main: None, deps: Vec::new(), settings: Vec::new() };
    let module = |fields: &[&str]| Module {
        path: fields.first().copied().unwrap_or_default().to_owned(),
        version: fields.get(1).copied().unwrap_or_default().to_owned(),
        sum: fields.get(2).filter(|s| !s.is_empty()).map(|s| (*s).to_owned()),
    };
    // Which module the last `mod`/`dep` line named, for a `=>` line that replaces it.
    let mut last_is_main = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[0] {
            "path" => info.path = fields.get(1).map(|s| (*s).to_owned()),
            "mod" => {
                info.main = Some(module(&fields[1..]));
                last_is_main = true;
            }
            "dep" => {
                info.deps.push(module(&fields[1..]));
                last_is_main = false;
            }
            "=>" => {
                let replacement = module(&fields[1..]);
                let target = if last_is_main { info.main.as_mut() } else { info.deps.last_mut() };
                if let Some(m) = target {
                    *m = replacement;
                }
            }
            "build" => {
                if let Some((k, v)) = fields.get(1).and_then(|kv| kv.split_once('=')) {
                    info.settings.push((k.to_owned(), v.to_owned()));
                }
            }
            _ => {}
        }
    }
    info
}

/// The version stamped with `-X <package>.version=<v>` (or `.Version`, `.gitVersion`) in the
/// `-ldflags` build setting, when it looks like a release (`1.2.3`, `v1.2.3-rc.1`).
pub fn ldflags_version(settings: &[(String, String)]) -> Option<String> {
    let flags = &settings.iter().find(|(k, _)| k == "-ldflags")?.1;
    let mut words = flags.split_whitespace().map(|w| w.trim_matches(|c| c == '"' || c == '\''));
    while let Some(w) = words.next() {
        let assignment = if w == "-X" { words.next()? } else { w.strip_prefix("-X=").unwrap_or("") };
        let Some((var, value)) = assignment.split_once('=') else { continue };
        let name = var.rsplit('.').next().unwrap_or(var).to_ascii_lowercase();
        if !matches!(name.as_str(), "version" | "gitversion" | "buildversion") {
            continue;
        }
        let v = value.trim_start_matches('v');
        if v.split('.').count() >= 2
            && v.split(['-', '+'])
                .next()
                .is_some_and(|core| core.split('.').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
        {
            return Some(v.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_lines_with_sentinels_and_replacements() {
        let mut raw = b"0123456789abcdef".to_vec();
        raw.extend_from_slice(
            b"path\tgithub.com/x/tool\nmod\tgithub.com/x/tool\tv1.2.3\th1:abc=\n\
              dep\tgolang.org/x/net\tv0.17.0\th1:n=\n\
              dep\tgithub.com/old/lib\tv1.0.0\n=>\tgithub.com/new/lib\tv1.0.5\th1:r=\n\
              build\tGOOS=linux\n",
        );
        raw.extend_from_slice(b"fedcba9876543210");
        let info = parse_modinfo("go1.21.5".into(), &raw);
        assert_eq!(info.path.as_deref(), Some("github.com/x/tool"));
        assert_eq!(info.main.as_ref().map(|m| m.version.as_str()), Some("v1.2.3"));
        let deps: Vec<(&str, &str)> = info.deps.iter().map(|d| (d.path.as_str(), d.version.as_str())).collect();
        assert_eq!(deps, vec![("golang.org/x/net", "v0.17.0"), ("github.com/new/lib", "v1.0.5")]);
        assert_eq!(info.settings, vec![("GOOS".to_owned(), "linux".to_owned())]);
    }

    #[test]
    fn release_versions_stamped_by_the_linker() {
        let s = |f: &str| vec![("-ldflags".to_owned(), f.to_owned())];
        assert_eq!(
            ldflags_version(&s("-w -s -X main.version=1.18.1 -X main.gitCommit=abc")).as_deref(),
            Some("1.18.1")
        );
        assert_eq!(
            ldflags_version(&s("-X github.com/x/y/pkg/version.Version=v0.50.0-rc.1")).as_deref(),
            Some("0.50.0-rc.1")
        );
        assert_eq!(ldflags_version(&s("-X main.version=dev")), None);
        assert_eq!(ldflags_version(&[]), None);
    }

    #[test]
    fn uvarint_strings_never_run_past_their_data() {
        assert_eq!(
            decode_string(&[3, b'a', b'b', b'c', 9]).map(|(s, r)| (s.to_vec(), r.to_vec())),
            Ok((b"abc".to_vec(), vec![9]))
        );
        assert!(decode_string(&[4, b'a']).is_err());
        assert!(decode_string(&[0x80]).is_err());
        assert!(decode_string(&[0xff; 12]).is_err());
    }
}
