//! Reading a NUL-terminated path out of a tracee's memory: `process_vm_readv`, or
//! `/proc/PID/mem` where a seccomp profile refuses it.

use std::ffi::OsString;
use std::fs::File;
use std::io::IoSliceMut;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;

use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

/// Paths longer than this are not paths the kernel would accept (`PATH_MAX`).
const PATH_MAX: usize = 4096;
const PAGE: u64 = 4096;

/// The NUL-terminated string at `addr` in `pid`, or `None` if it cannot be read.
pub fn read_path(pid: Pid, addr: u64) -> Option<OsString> {
    if addr == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut at = addr;
    let mut mem: Option<File> = None;
    while out.len() < PATH_MAX {
        // Never cross a page boundary in one read: the next page may be unmapped while the
        // string ends before it.
        let len = (PAGE - at % PAGE) as usize;
        let mut buf = vec![0u8; len];
        let n = match read_at(pid, at, &mut buf) {
            Some(n) if n > 0 => n,
            _ => {
                let file = match &mem {
                    Some(f) => f,
                    None => mem.insert(File::open(format!("/proc/{pid}/mem")).ok()?),
                };
                file.read_at(&mut buf, at).ok().filter(|n| *n > 0)?
            }
        };
        if let Some(end) = buf[..n].iter().position(|b| *b == 0) {
            out.extend_from_slice(&buf[..end]);
            return Some(OsString::from_vec(out));
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    None
}

fn read_at(pid: Pid, addr: u64, buf: &mut [u8]) -> Option<usize> {
    let remote = [RemoteIoVec { base: addr as usize, len: buf.len() }];
    process_vm_readv(pid, &mut [IoSliceMut::new(buf)], &remote).ok()
}
