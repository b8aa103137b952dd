//! Facts about the machine a run happens on, for the provenance record, and the identity of
//! the berth process that owns a run (to tell a live owner from a crashed one).

use serde::{Deserialize, Serialize};

/// The host, as recorded with every run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Operating system (`PRETTY_NAME` of os-release).
    pub os: String,
    /// Kernel release.
    pub kernel: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPUs.
    pub cpus: u32,
    /// Total memory, bytes.
    pub memory_bytes: i64,
    /// Machine architecture.
    pub arch: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

impl HostInfo {
    /// Reads the facts from `/proc` and `/etc/os-release`.
    pub fn current() -> HostInfo {
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default();
        let cpus = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
        let memory_bytes = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            .map_or(0, |kb| kb * 1024);
        HostInfo {
            hostname: read("/proc/sys/kernel/hostname"),
            os,
            kernel: read("/proc/sys/kernel/osrelease"),
            cpu_model,
            cpus,
            memory_bytes,
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

/// The effective user and group ids of this process (the owner of `/proc/self`), read
/// without `unsafe` libc calls.
pub fn process_ids() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| (m.uid(), m.gid())).unwrap_or((u32::MAX, u32::MAX))
}

/// Identifies a process across PID reuse: boot id plus the process's start time in clock
/// ticks since boot (field 22 of `/proc/PID/stat`).
pub fn process_identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let start = rest.split_whitespace().nth(19)?;
    Some(format!("{}:{start}", read("/proc/sys/kernel/random/boot_id")))
}

/// The state letter of a process (field 3 of `/proc/PID/stat`: `R`, `S`, `Z` ...).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Whether the process recorded as a run's owner is still running on this host. A killed
/// process that its parent has not reaped yet (a zombie) is not running.
pub fn owner_alive(host: &str, pid: u32, identity: Option<&str>) -> bool {
    if host != read("/proc/sys/kernel/hostname") {
        // Another machine's run: assume its owner may be alive; it reconciles its own runs.
        return true;
    }
    if matches!(process_state(pid), Some('Z' | 'X')) {
        return false;
    }
    match (process_identity(pid), identity) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        let me = std::process::id();
        let id = process_identity(me).expect("own identity");
        assert!(owner_alive(&read("/proc/sys/kernel/hostname"), me, Some(&id)));
        // Same PID, different start time: a recycled PID.
        assert!(!owner_alive(&read("/proc/sys/kernel/hostname"), me, Some("x:1")));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!owner_alive(&read("/proc/sys/kernel/hostname"), pid, Some("x:1")));
    }

    #[test]
    fn a_killed_process_not_yet_reaped_is_not_alive() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        let id = process_identity(pid).expect("the child's identity");
        let host = read("/proc/sys/kernel/hostname");
        assert!(owner_alive(&host, pid, Some(&id)));
        child.kill().unwrap();
        // Not waited for: the child stays a zombie until reaped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while process_state(pid) != Some('Z') {
            assert!(std::time::Instant::now() < deadline, "the child never became a zombie");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!owner_alive(&host, pid, Some(&id)));
        child.wait().unwrap();
    }

    #[test]
    fn host_facts_are_read() {
        let h = HostInfo::current();
        assert!(!h.kernel.is_empty() && h.cpus >= 1 && h.memory_bytes > 0, "{h:?}");
    }
}
