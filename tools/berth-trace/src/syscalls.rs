//! The x86_64 system calls that name a path, and where their path argument is.
//!
//! Numbers from the kernel's `arch/x86/entry/syscalls/syscall_64.tbl`. 32-bit calls made
//! through `int 0x80` by 64-bit processes are not recognised (nothing in an image does that).

use nix::libc::user_regs_struct;

use crate::record::Op;

/// `AT_FDCWD`: a relative path is relative to the working directory.
pub const AT_FDCWD: i32 = -100;
/// `AT_EMPTY_PATH`: an empty path names the dirfd itself.
pub const AT_EMPTY_PATH: u64 = 0x1000;

/// The x86_64 number of `execve`.
pub const EXECVE: u64 = 59;
/// The x86_64 number of `execveat`.
pub const EXECVEAT: u64 = 322;

/// The calls [`decode`] knows, with the index of their flags argument where an empty path
/// with `AT_EMPTY_PATH` names a file descriptor, not a path (the seccomp filter lets those
/// run untraced).
pub const TRACED: &[(u64, Option<u8>)] = &[
    (2, None),        // open
    (4, None),        // stat
    (6, None),        // lstat
    (21, None),       // access
    (EXECVE, None),   // execve
    (80, None),       // chdir
    (85, None),       // creat
    (89, None),       // readlink
    (257, None),      // openat
    (262, Some(3)),   // newfstatat
    (267, None),      // readlinkat
    (269, None),      // faccessat
    (EXECVEAT, None), // execveat
    (332, Some(2)),   // statx
    (437, None),      // openat2
    (439, None),      // faccessat2
];

/// A path-naming call decoded at syscall entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathCall {
    /// What the call does with the path.
    pub op: Op,
    /// The directory a relative path is relative to (`AT_FDCWD` for the working directory).
    pub dirfd: i32,
    /// The address of the path in the tracee.
    pub addr: u64,
    /// Whether an empty path names `dirfd` itself (`AT_EMPTY_PATH`).
    pub empty_is_dirfd: bool,
}

/// The path call the registers at a syscall-entry stop describe, if it is one.
pub fn decode(regs: &user_regs_struct) -> Option<PathCall> {
    let (a0, a1, a2, a3, a4) = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8);
    // dirfds are C ints: the low 32 bits, sign-extended.
    let fd = |v: u64| v as u32 as i32;
    let cwd = |op, addr| PathCall { op, dirfd: AT_FDCWD, addr, empty_is_dirfd: false };
    let at = |op, dirfd: u64, addr, flags: u64| PathCall {
        op,
        dirfd: fd(dirfd),
        addr,
        empty_is_dirfd: flags & AT_EMPTY_PATH != 0,
    };
    Some(match regs.orig_rax {
        2 | 85 => cwd(Op::Open, a0),          // open, creat
        4 | 6 | 21 => cwd(Op::Stat, a0),      // stat, lstat, access
        EXECVE => cwd(Op::Exec, a0),          // execve
        80 => cwd(Op::Chdir, a0),             // chdir
        89 => cwd(Op::Readlink, a0),          // readlink
        257 | 437 => at(Op::Open, a0, a1, 0), // openat, openat2
        262 => at(Op::Stat, a0, a1, a3),      // newfstatat(dirfd, path, buf, flags)
        267 => at(Op::Readlink, a0, a1, 0),   // readlinkat
        269 => at(Op::Stat, a0, a1, 0),       // faccessat
        439 => at(Op::Stat, a0, a1, a3),      // faccessat2(dirfd, path, mode, flags)
        332 => at(Op::Stat, a0, a1, a2),      // statx(dirfd, path, flags, mask, buf)
        EXECVEAT => at(Op::Exec, a0, a1, a4), // execveat(dirfd, path, argv, envp, flags)
        _ => return None,
    })
}

/// Whether a syscall's return value (`rax` at the exit stop) is a success.
pub fn succeeded(rax: u64) -> bool {
    // Errors are -4095..=-1; everything else (fds, 0, byte counts) is a success.
    (rax as i64) >= 0 || (rax as i64) < -4095
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openat_takes_its_path_from_the_second_argument() {
        let regs = user_regs_struct { orig_rax: 257, rdi: (-100i64) as u64, rsi: 0x1000, ..zeroed() };
        assert_eq!(
            decode(&regs),
            Some(PathCall { op: Op::Open, dirfd: AT_FDCWD, addr: 0x1000, empty_is_dirfd: false })
        );
        let fstat = user_regs_struct { orig_rax: 262, rdi: 3, rsi: 0x2000, r10: AT_EMPTY_PATH, ..zeroed() };
        assert!(decode(&fstat).expect("newfstatat").empty_is_dirfd);
        assert_eq!(decode(&user_regs_struct { orig_rax: 0, ..zeroed() }), None);
        assert!(succeeded(3) && succeeded(0) && !succeeded((-2i64) as u64));
        // Every call the seccomp filter traces is one `decode` knows.
        for (nr, _) in TRACED {
            assert!(decode(&user_regs_struct { orig_rax: *nr, rsi: 1, rdi: 1, ..zeroed() }).is_some(), "{nr}");
        }
    }

    fn zeroed() -> user_regs_struct {
        user_regs_struct {
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            rbp: 0,
            rbx: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rax: 0,
            rcx: 0,
            rdx: 0,
            rsi: 0,
            rdi: 0,
            orig_rax: 0,
            rip: 0,
            cs: 0,
            eflags: 0,
            rsp: 0,
            ss: 0,
            fs_base: 0,
            gs_base: 0,
            ds: 0,
            es: 0,
            fs: 0,
            gs: 0,
        }
    }
}
