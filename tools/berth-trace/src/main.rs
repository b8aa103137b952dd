//! berth-trace: run a program under ptrace and record the paths it accesses.

fn main() {
    std::process::exit(2);
}
