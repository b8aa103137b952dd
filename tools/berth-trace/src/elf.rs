//! The interpreters the kernel opens itself during `execve`: an ELF file's `PT_INTERP` (the
//! dynamic loader) and a script's `#!` line. The tracer never sees these as system calls.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

const PT_INTERP: u32 = 3;

/// The interpreter `path` names: `#!` first word, or ELF `PT_INTERP`; `None` for other files.
pub fn interpreter(path: &Path) -> Option<String> {
    let file = File::open(path).ok()?;
    let mut head = [0u8; 256];
    let n = (&file).take(256).read(&mut head).ok()?;
    let head = &head[..n];
    if let Some(rest) = head.strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next()?;
        let line = String::from_utf8_lossy(line);
        return line.split_whitespace().next().map(str::to_owned);
    }
    elf_interp(&file, head)
}

/// `PT_INTERP` of a 32- or 64-bit little-endian ELF file whose first bytes are `head`.
fn elf_interp(file: &File, head: &[u8]) -> Option<String> {
    if head.len() < 0x40 || &head[..4] != b"\x7fELF" || head[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |b: &[u8], o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |b: &[u8], o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
    let wide = match head[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let (phoff, phentsize, phnum) = if wide {
        (u64_at(head, 0x20)?, u16_at(head, 0x36)?, u16_at(head, 0x38)?)
    } else {
        (u64::from(u32_at(head, 0x1c)?), u16_at(head, 0x2a)?, u16_at(head, 0x2c)?)
    };
    let mut ph = vec![0u8; usize::from(phentsize)];
    for i in 0..u64::from(phnum.min(256)) {
        file.read_exact_at(&mut ph, phoff + i * u64::from(phentsize)).ok()?;
        if u32_at(&ph, 0)? != PT_INTERP {
            continue;
        }
        let (offset, size) = if wide {
            (u64_at(&ph, 8)?, u64_at(&ph, 32)?)
        } else {
            (u64::from(u32_at(&ph, 4)?), u64::from(u32_at(&ph, 16)?))
        };
        let mut name = vec![0u8; usize::try_from(size.min(4096)).ok()?];
        file.read_exact_at(&mut name, offset).ok()?;
        let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
        return Some(String::from_utf8_lossy(&name[..end]).into_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_names_its_interpreter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/usr/bin/env  python3\nprint(1)\n").expect("write");
        assert_eq!(interpreter(&script).as_deref(), Some("/usr/bin/env"));
        std::fs::write(&script, "plain text").expect("write");
        assert_eq!(interpreter(&script), None);
    }

    #[test]
    fn a_dynamic_elf_names_its_loader() {
        // Distributions' /bin/sh is dynamically linked.
        let interp = interpreter(Path::new("/bin/sh")).expect("/bin/sh has PT_INTERP");
        assert!(interp.starts_with('/') && interp.contains("ld-"), "{interp}");
        assert_eq!(interpreter(Path::new("/nonexistent")), None);
    }
}
