//! The ptrace loop: start the program (through the stub child), follow every thread and
//! process it creates, decode path-naming system calls at entry, record them with their
//! outcome at exit.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::ptrace::{self, Event, Options};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::record::{Op, Records};
use crate::syscalls::{AT_FDCWD, EXECVE, EXECVEAT, PathCall, decode, succeeded};
use crate::{EXIT_NO_SECCOMP, STUB, STUB_FILTERED, elf, forwarded, mem};

/// How deep `#!` interpreters may nest (the kernel allows 4 levels, `BINPRM_MAX_RECURSION`).
const MAX_INTERPRETERS: usize = 5;

/// Why tracing could not be done.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// berth-trace could not start itself as the stub child.
    #[error("cannot start `{}` as the traced child", exe.display())]
    Spawn {
        /// The executable started.
        exe: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A ptrace or wait call failed.
    #[error(
        "`{call}` failed for process {pid}; hint: berth-trace needs ptrace (allowed by Docker's default seccomp profile on kernels 4.8 and later; Yama's ptrace_scope must be 0 or 1)"
    )]
    Ptrace {
        /// The call.
        call: &'static str,
        /// The process.
        pid: i32,
        /// The cause.
        #[source]
        source: Errno,
    },
    /// The stub child ended before it could be traced.
    #[error("the traced child ended before tracing started ({status})")]
    EarlyExit {
        /// How it ended.
        status: String,
    },
    /// The output file could not be written.
    #[error("cannot write the trace to `{}`", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What the tracer knows about one traced thread.
#[derive(Debug, Default)]
struct Thread {
    /// Between a syscall-entry stop and its exit stop.
    in_syscall: bool,
    /// The path access decoded at entry, recorded at exit with its outcome.
    pending: Option<(Op, String)>,
}

/// Where the trace goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A file, written at the end through a temporary (`--output`).
    File(PathBuf),
    /// A Unix socket berth listens on outside the container (`--socket`): connected before
    /// the program starts, so the program cannot be the first to connect, and sent to at the
    /// end with an end line. The connection is close-on-exec and berth-trace makes itself
    /// non-dumpable, so the program cannot take over the connection through `/proc`.
    Socket(PathBuf),
}

/// Run `program` under ptrace, write what it accessed to `output`, return its exit status.
pub fn run(argv0: &OsStr, output: &Output, seccomp: bool, program: &[OsString]) -> Result<u8, TraceError> {
    let socket = match output {
        Output::File(_) => None,
        Output::Socket(path) => {
            let stream = std::os::unix::net::UnixStream::connect(path)
                .map_err(|source| TraceError::Write { path: path.clone(), source })?;
            nix::sys::prctl::set_dumpable(false).map_err(|source| TraceError::Ptrace {
                call: "prctl(PR_SET_DUMPABLE)",
                pid: 0,
                source,
            })?;
            Some(stream)
        }
    };
    // Blocked here (and in every thread created later) so that only the forwarding thread
    // receives them; the stub unblocks them before it becomes the program.
    let signals = forwarded();
    signals.thread_block().map_err(|source| TraceError::Ptrace { call: "sigprocmask", pid: 0, source })?;
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(argv0));
    // With a seccomp filter in the program only path-naming calls stop it; without (a kernel
    // or a sandbox refusing filters) every call does.
    let filtered = if seccomp { start(&exe, STUB_FILTERED, program)? } else { None };
    let (root, mode) = match filtered {
        Some(root) => (root, Mode::Seccomp),
        None => match start(&exe, STUB, program)? {
            Some(root) => (root, Mode::Syscall),
            None => return Err(TraceError::EarlyExit { status: "cannot stop before tracing".to_owned() }),
        },
    };
    let mut options = Options::PTRACE_O_TRACESYSGOOD
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_EXITKILL;
    if mode == Mode::Seccomp {
        options |= Options::PTRACE_O_TRACESECCOMP;
    }
    ptrace::seize(root, options).map_err(|source| TraceError::Ptrace {
        call: "ptrace(SEIZE)",
        pid: root.as_raw(),
        source,
    })?;
    std::thread::spawn(move || {
        while let Ok(signal) = signals.wait() {
            let _ = kill(root, signal);
        }
    });
    // Seizing a stopped process makes it report a ptrace stop; `trace` resumes it from there.
    let mut tracer = Tracer { root, mode, started: false, threads: HashMap::new(), records: Records::default() };
    let status = tracer.trace()?;
    match (output, socket) {
        (Output::Socket(path), Some(stream)) => {
            tracer.records.send(stream, status).map_err(|source| TraceError::Write { path: path.clone(), source })?;
        }
        (Output::File(path) | Output::Socket(path), _) => {
            tracer.records.write(path).map_err(|source| TraceError::Write { path: path.clone(), source })?;
        }
    }
    Ok(status)
}

/// Start the stub (`--stub` or `--stub-filtered`) and wait until it has stopped itself; `None`
/// when the filtered stub could not install its filter.
fn start(exe: &Path, stub: &str, program: &[OsString]) -> Result<Option<Pid>, TraceError> {
    let child = std::process::Command::new(exe)
        .arg(stub)
        .args(program)
        .spawn()
        .map_err(|source| TraceError::Spawn { exe: exe.to_owned(), source })?;
    let pid = Pid::from_raw(child.id() as i32);
    // The stub stops itself; it is seized only then, so that it cannot exec before being traced.
    match waitpid(pid, Some(WaitPidFlag::WUNTRACED)) {
        Ok(WaitStatus::Stopped(_, Signal::SIGSTOP)) => Ok(Some(pid)),
        Ok(WaitStatus::Exited(_, code)) if code == i32::from(EXIT_NO_SECCOMP) => Ok(None),
        Ok(status) => Err(TraceError::EarlyExit { status: format!("{status:?}") }),
        Err(source) => Err(TraceError::Ptrace { call: "waitpid", pid: pid.as_raw(), source }),
    }
}

/// How the tracees stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A seccomp filter stops them at the entry of path-naming calls (`PTRACE_EVENT_SECCOMP`);
    /// `PTRACE_SYSCALL` then stops them at that call's exit, `PTRACE_CONT` runs them freely.
    Seccomp,
    /// Every system call stops them at entry and exit (`PTRACE_SYSCALL`).
    Syscall,
}

struct Tracer {
    root: Pid,
    mode: Mode,
    /// Whether the stub has started executing the program; the stub's own calls before that
    /// are not the program's.
    started: bool,
    threads: HashMap<Pid, Thread>,
    records: Records,
}

impl Tracer {
    /// Follow every tracee until the program (the root process) ends; its exit status.
    fn trace(&mut self) -> Result<u8, TraceError> {
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::__WALL)) {
                Ok(status) => status,
                Err(Errno::EINTR) => continue,
                Err(source) => return Err(TraceError::Ptrace { call: "waitpid", pid: -1, source }),
            };
            match status {
                WaitStatus::PtraceSyscall(tid) => {
                    match self.mode {
                        Mode::Syscall => self.syscall_stop(tid),
                        // Only the exits of calls the filter stopped are asked for.
                        Mode::Seccomp => self.exit(tid),
                    }
                    self.resume(tid, None);
                }
                WaitStatus::PtraceEvent(tid, _, event) => {
                    if event == Event::PTRACE_EVENT_EXEC as i32 {
                        self.exec_event(tid);
                    } else if event == Event::PTRACE_EVENT_SECCOMP as i32 {
                        self.entry(tid);
                    }
                    // Fork, clone and vfork children are traced automatically; group stops
                    // are resumed (job control is not emulated).
                    self.resume(tid, None);
                }
                // A signal about to be delivered: deliver it.
                WaitStatus::Stopped(tid, signal) => self.resume(tid, Some(signal)),
                WaitStatus::Exited(tid, code) => {
                    self.threads.remove(&tid);
                    if tid == self.root {
                        return Ok((code & 0xff) as u8);
                    }
                }
                WaitStatus::Signaled(tid, signal, _) => {
                    self.threads.remove(&tid);
                    if tid == self.root {
                        return Ok(128u8.saturating_add(signal as i32 as u8));
                    }
                }
                // Processes reparented to us (as PID 1) that we never traced: reaped above.
                _ => {}
            }
        }
    }

    /// Restart `tid`: to its next system call (every call, or the exit of the call whose
    /// entry was just decoded), else freely until the filter stops it. A tracee killed
    /// meanwhile is no error.
    fn resume(&self, tid: Pid, signal: Option<Signal>) {
        let to_exit = self.threads.get(&tid).is_some_and(|t| t.in_syscall);
        let _ = if self.mode == Mode::Syscall || to_exit {
            ptrace::syscall(tid, signal)
        } else {
            ptrace::cont(tid, signal)
        };
    }

    /// A syscall-entry or -exit stop of `tid` (every call stops).
    fn syscall_stop(&mut self, tid: Pid) {
        if self.threads.get(&tid).is_some_and(|t| t.in_syscall) {
            self.exit(tid);
        } else {
            self.entry(tid);
        }
    }

    /// The entry of a call: decode the path it names.
    fn entry(&mut self, tid: Pid) {
        let Ok(regs) = ptrace::getregs(tid) else {
            return;
        };
        let thread = self.threads.entry(tid).or_default();
        thread.in_syscall = true;
        thread.pending = None;
        if !self.started {
            if tid != self.root || !(regs.orig_rax == EXECVE || regs.orig_rax == EXECVEAT) {
                return;
            }
            self.started = true;
        }
        if let Some(call) = decode(&regs) {
            thread.pending = resolve(tid, call).map(|path| (call.op, path));
        }
    }

    /// The exit of a call: record its path with whether it succeeded.
    fn exit(&mut self, tid: Pid) {
        let Some(thread) = self.threads.get_mut(&tid) else {
            return;
        };
        thread.in_syscall = false;
        let Some((op, path)) = thread.pending.take() else {
            return;
        };
        let Ok(regs) = ptrace::getregs(tid) else {
            return;
        };
        let ok = succeeded(regs.rax);
        if op == Op::Exec && ok {
            self.interpreters(tid, &path);
        }
        self.records.add(op, path, ok);
    }

    /// `PTRACE_EVENT_EXEC`: when a non-leader thread execs, it takes over the leader's pid;
    /// its pending execve moves with it.
    fn exec_event(&mut self, tid: Pid) {
        let Ok(former) = ptrace::getevent(tid) else {
            return;
        };
        let former = Pid::from_raw(former as i32);
        if former != tid
            && let Some(thread) = self.threads.remove(&former)
        {
            self.threads.insert(tid, thread);
        }
    }

    /// Record the interpreters the kernel loaded for `path`: `#!` lines, recursively, and
    /// the last one's `PT_INTERP`.
    fn interpreters(&mut self, tid: Pid, path: &str) {
        let mut current = path.to_owned();
        for _ in 0..MAX_INTERPRETERS {
            let Some(interp) = elf::interpreter(Path::new(&current)) else {
                return;
            };
            let interp = if interp.starts_with('/') {
                interp
            } else {
                match base(tid, AT_FDCWD) {
                    Some(cwd) => join(&cwd, &interp),
                    None => return,
                }
            };
            let exists = Path::new(&interp).exists();
            self.records.add(Op::Interp, interp.clone(), exists);
            if !exists {
                return;
            }
            current = interp;
        }
    }
}

/// The absolute path a call names, relative paths resolved against its dirfd or cwd.
fn resolve(tid: Pid, call: PathCall) -> Option<String> {
    let raw = mem::read_path(tid, call.addr)?;
    let raw = String::from_utf8_lossy(raw.as_bytes()).into_owned();
    if raw.is_empty() {
        // `fstat` is `newfstatat(fd, "", AT_EMPTY_PATH)`: the file was recorded when opened.
        // `fexecve` is `execveat(fd, "", AT_EMPTY_PATH)`: record what the fd is.
        return (call.empty_is_dirfd && call.op == Op::Exec).then(|| base(tid, call.dirfd)).flatten();
    }
    if raw.starts_with('/') {
        return Some(normalize(&raw));
    }
    Some(join(&base(tid, call.dirfd)?, &raw))
}

/// The directory `dirfd` (or the working directory) of `tid` names, if it is a path.
fn base(tid: Pid, dirfd: i32) -> Option<String> {
    let link = if dirfd == AT_FDCWD { format!("/proc/{tid}/cwd") } else { format!("/proc/{tid}/fd/{dirfd}") };
    let target = std::fs::read_link(link).ok()?;
    let target = target.to_string_lossy().into_owned();
    // Pipes, sockets and anonymous inodes read as `pipe:[123]` and the like.
    target.starts_with('/').then_some(target)
}

fn join(base: &str, relative: &str) -> String {
    normalize(&format!("{base}/{relative}"))
}

/// Drop empty and `.` components; `..` stays, since the component before it may be a link.
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_lexically_except_dot_dot() {
        assert_eq!(normalize("//usr/./lib//x"), "/usr/lib/x");
        assert_eq!(join("/work", "../etc/./passwd"), "/work/../etc/passwd");
        assert_eq!(normalize("/"), "/");
    }
}
