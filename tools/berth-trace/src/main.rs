//! berth-trace: run a program under ptrace, follow all its descendants, and write every path
//! they open, execute, stat, read as a link or change into, one JSON object per line.
//!
//! ```text
//! berth-trace --output FILE -- PROGRAM [ARGS...]
//! berth-trace --socket PATH -- PROGRAM [ARGS...]
//! ```
//!
//! The output (written to `FILE.tmp` and renamed to `FILE` when the program ends) holds one
//! `{"op":"open","path":"/usr/lib/x86_64-linux-gnu/libc.so.6","ok":true}` per distinct
//! access, sorted; `op` is one of `open`, `exec`, `stat`, `readlink`, `chdir` and `interp`
//! (an interpreter the kernel opened itself: an ELF file's `PT_INTERP`, a script's `#!`).
//! With `--socket`, berth-trace connects to the Unix socket PATH before the program starts
//! and sends the same lines there at the end, then `{"end":true,"accesses":N,"exit_status":S}`
//! (`berth run --trace`: the program can neither write that stream nor be first to connect).
//! berth-trace exits with the program's exit status, or 128 + the signal that killed it;
//! 125 when it could not trace at all, 127 when the program could not be executed.
//! SIGTERM, SIGINT, SIGHUP and SIGQUIT sent to berth-trace are forwarded to the program.
//! Tracing ends when the program itself exits: like a container whose PID 1 exits, any
//! descendants still running are killed (`PTRACE_O_EXITKILL`).
//!
//! No unsafe code: the child is berth-trace itself in a hidden `--stub` mode, which installs
//! a seccomp filter (so that only path-naming system calls stop it; see [`seccomp`]), stops
//! itself with SIGSTOP until the parent has seized it, then `exec`s the program. Only x86_64
//! system calls are decoded (32-bit `int 0x80` calls go unrecorded).
//!
//! Build it static with `tools/berth-trace/build.sh`, which prints the binary's path
//! (`target/x86_64-unknown-linux-gnu/release/berth-trace`).

mod elf;
mod mem;
mod record;
mod seccomp;
mod syscalls;
mod tracer;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use nix::sys::signal::{SigSet, Signal};

/// Exit status when berth-trace itself fails (as `docker run` does).
const EXIT_TRACER_FAILED: u8 = 125;
/// Exit status when the program cannot be executed (as a shell does).
const EXIT_NOT_EXECUTABLE: u8 = 127;
/// The hidden first argument of the stub child.
const STUB: &str = "--stub";
/// The hidden first argument of the stub child that installs the seccomp filter first.
const STUB_FILTERED: &str = "--stub-filtered";
/// The stub's exit status when it cannot install the seccomp filter: the parent then starts a
/// plain stub. Nothing of the program has run at that point.
const EXIT_NO_SECCOMP: u8 = 86;

const USAGE: &str = "usage: berth-trace (--output FILE | --socket PATH) -- PROGRAM [ARGS...]";

/// The signals forwarded to the program.
fn forwarded() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT] {
        set.add(s);
    }
    set
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(mode) = args.get(1).filter(|a| *a == STUB || *a == STUB_FILTERED) {
        return stub(&args[2..], mode == STUB_FILTERED);
    }
    let (cli, program) = match parse(&args[1..]) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("berth-trace: error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match tracer::run(&args[0], &cli.output, cli.seccomp, &program) {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("berth-trace: error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  Caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(EXIT_TRACER_FAILED)
        }
    }
}

/// The options before `--`.
#[derive(Debug, PartialEq, Eq)]
struct Cli {
    /// Where the trace goes.
    output: tracer::Output,
    /// Whether to try the seccomp filter (`--no-seccomp` stops at every system call, for
    /// comparison and debugging).
    seccomp: bool,
}

/// `--output FILE [--no-seccomp] -- PROGRAM [ARGS...]`; `None` when only `--help` or
/// `--version` was asked.
fn parse(args: &[OsString]) -> Result<Option<(Cli, Vec<OsString>)>, String> {
    let mut output = None;
    let mut seccomp = true;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].to_string_lossy();
        match arg.as_ref() {
            "--help" | "-h" => {
                println!(
                    "{USAGE}\n\nRecords the paths PROGRAM and its descendants access, as JSON lines in FILE or sent to the Unix socket PATH."
                );
                return Ok(None);
            }
            "--version" | "-V" => {
                println!("berth-trace {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "--no-seccomp" => {
                seccomp = false;
                i += 1;
            }
            "--output" | "-o" => {
                output = Some(tracer::Output::File(PathBuf::from(args.get(i + 1).ok_or("`--output` needs a file")?)));
                i += 2;
            }
            "--socket" => {
                output = Some(tracer::Output::Socket(PathBuf::from(args.get(i + 1).ok_or("`--socket` needs a path")?)));
                i += 2;
            }
            "--" => {
                i += 1;
                break;
            }
            other => {
                if let Some(value) = other.strip_prefix("--output=") {
                    output = Some(tracer::Output::File(PathBuf::from(value)));
                    i += 1;
                } else if let Some(value) = other.strip_prefix("--socket=") {
                    output = Some(tracer::Output::Socket(PathBuf::from(value)));
                    i += 1;
                } else if other.starts_with('-') {
                    return Err(format!("unknown option `{other}`"));
                } else {
                    break;
                }
            }
        }
    }
    let output = output.ok_or("`--output FILE` or `--socket PATH` is required")?;
    let program = args[i..].to_vec();
    if program.is_empty() {
        return Err("no PROGRAM given after `--`".to_owned());
    }
    Ok(Some((Cli { output, seccomp }, program)))
}

/// The child: install the seccomp filter if asked, stop until the parent has seized us, then
/// become the program.
fn stub(program: &[OsString], filtered: bool) -> ExitCode {
    let Some((name, args)) = program.split_first() else {
        return ExitCode::from(EXIT_TRACER_FAILED);
    };
    if filtered && seccomp::install().is_err() {
        return ExitCode::from(EXIT_NO_SECCOMP);
    }
    // The parent waits for this stop, seizes us, and resumes us under ptrace.
    if let Err(e) = nix::sys::signal::raise(Signal::SIGSTOP) {
        eprintln!("berth-trace: error: cannot stop before tracing: {e}");
        return ExitCode::from(EXIT_TRACER_FAILED);
    }
    // The parent blocks the signals it forwards; the program must receive them.
    let _ = forwarded().thread_unblock();
    let e = std::process::Command::new(name).args(args).exec();
    eprintln!("berth-trace: error: cannot execute `{}`: {e}", name.to_string_lossy());
    ExitCode::from(EXIT_NOT_EXECUTABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_after_the_separator_belong_to_the_program() {
        let (out, program) =
            parse(&os(&["--output", "t.jsonl", "--", "sh", "-c", "--output"])).expect("valid").expect("not help");
        assert_eq!(out, Cli { output: tracer::Output::File(PathBuf::from("t.jsonl")), seccomp: true });
        let (out, _) = parse(&os(&["--socket=/s", "--", "sh"])).expect("valid").expect("not help");
        assert_eq!(out.output, tracer::Output::Socket(PathBuf::from("/s")));
        assert_eq!(program, os(&["sh", "-c", "--output"]));
        assert!(
            parse(&os(&["--output", "t", "--no-seccomp", "--", "sh"])).expect("valid").is_some_and(|(c, _)| !c.seccomp)
        );
        assert!(parse(&os(&["--", "sh"])).is_err());
        assert!(parse(&os(&["--output", "t"])).is_err());
        assert!(parse(&os(&["--bogus", "--", "sh"])).is_err());
    }
}
