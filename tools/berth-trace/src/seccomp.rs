//! A seccomp filter installed in the traced program before it starts, so that only the
//! path-naming system calls stop it (`SECCOMP_RET_TRACE`); every other call runs at full
//! speed. Without it each of the program's system calls stops twice: a fork-heavy shell loop
//! runs several times slower.
//!
//! Installing a filter sets `no_new_privs`; under ptrace set-user-ID programs do not gain
//! privileges anyway, so the program sees no difference. Where filters cannot be installed,
//! berth-trace falls back to stopping at every system call (`PTRACE_SYSCALL`).

use std::collections::BTreeMap;

use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

use crate::syscalls::{AT_EMPTY_PATH, TRACED};

/// Build and install the filter in the calling process (the stub, just before it stops).
pub fn install() -> Result<(), String> {
    let program = filter()?;
    seccompiler::apply_filter(&program).map_err(|e| e.to_string())
}

/// The filter: trace the calls of [`TRACED`], except `newfstatat`/`statx` on an empty path
/// (`fstat` on a file descriptor, by far the most frequent, names no path).
fn filter() -> Result<BpfProgram, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for &(nr, flags_arg) in TRACED {
        let rule = match flags_arg {
            Some(arg) => {
                let no_empty_path =
                    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::MaskedEq(AT_EMPTY_PATH), 0)
                        .map_err(|e| e.to_string())?;
                vec![SeccompRule::new(vec![no_empty_path]).map_err(|e| e.to_string())?]
            }
            None => Vec::new(),
        };
        rules.insert(nr as i64, rule);
    }
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Trace(0), TargetArch::x86_64)
        .map_err(|e| e.to_string())?;
    let mut program: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
    // seccompiler kills a process making a call of another architecture (i386 `int 0x80`);
    // such calls are only left untraced here, as they would be without a filter.
    for insn in program.iter_mut().take(3) {
        if insn.k == libc::SECCOMP_RET_KILL_PROCESS {
            insn.k = libc::SECCOMP_RET_ALLOW;
        }
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_builds_and_lets_other_architectures_through() {
        let program = filter().expect("builds");
        assert!(program.len() > TRACED.len());
        assert!(program.iter().take(3).all(|i| i.k != libc::SECCOMP_RET_KILL_PROCESS));
    }
}
