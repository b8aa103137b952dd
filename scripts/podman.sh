#!/usr/bin/env bash
# Start, stop or describe a private Podman API service (Docker-compatible) for berth's tests.
#
#   scripts/podman.sh start   start it (or reuse the one running); print `export CONTAINER_HOST=...`
#   scripts/podman.sh stop    remove its containers, stop it and wait until it has exited
#   scripts/podman.sh env     print `export CONTAINER_HOST=...` for it (fails if it is not running)
#   scripts/podman.sh status  say whether it is running
#
# Use it as:  eval "$(scripts/podman.sh start)"; DOCKER_HOST=$CONTAINER_HOST ...
#
# All of its state lives under $BERTH_STATE_DIR/podman (default: <repo>/.state/podman): private
# containers.conf and storage.conf (vfs storage, cgroupfs, runc), so it shares nothing with
# any other Podman on the machine. If `podman` is missing it installs Debian's `podman`, `runc`
# and `catatonit` (the init process for `--init`) with apt-get (needs root).
# Only `export ...` lines go to stdout; everything else goes to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${BERTH_STATE_DIR:-$repo/.state}"
dir="$state/podman"
sock="$dir/podman.sock"
pidfile="$dir/podman.pid"
log="$dir/podman.log"
start_timeout="${BERTH_PODMAN_START_TIMEOUT:-60}"
stop_timeout="${BERTH_PODMAN_STOP_TIMEOUT:-30}"

export CONTAINERS_CONF="$dir/containers.conf"
export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$dir/registries.conf"
podman_flags=(--root "$dir/storage" --runroot "$dir/run" --tmpdir "$dir/tmp")

say() { printf 'podman.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

running_pid() {
    [[ -f "$pidfile" ]] || return 1
    local pid
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/comm" && "$(cat "/proc/$pid/comm")" == podman ]] || return 1
    # A zombie has a comm too; only a live process counts.
    [[ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ]] || return 1
    printf '%s\n' "$pid"
}

ping() {
    [[ -S "$sock" ]] || return 1
    curl --silent --fail --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1
}

ensure_tools() {
    local missing=()
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v runc >/dev/null 2>&1 || missing+=(runc)
    [[ -x /usr/libexec/podman/catatonit || -x /usr/bin/catatonit ]] || missing+=(catatonit)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    ((${#missing[@]} == 0)) && return 0
    [[ "$(id -u)" == 0 ]] || die "${missing[*]} missing and not root: \`sudo apt-get install ${missing[*]}\`"
    command -v apt-get >/dev/null 2>&1 || die "${missing[*]} missing and no apt-get here: install them by hand"
    say "installing ${missing[*]} with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >&2; then
        apt-get -o DPkg::Lock::Timeout=600 update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

write_config() {
    mkdir -p "$dir/storage" "$dir/run" "$dir/tmp"
    # Podman 4.3 looks for the --init binary in /usr/libexec/podman; Debian installs it in
    # /usr/bin.
    local init_path=/usr/libexec/podman/catatonit
    [[ -x "$init_path" ]] || init_path=/usr/bin/catatonit
    cat >"$CONTAINERS_CONF" <<CONF
[containers]
# Podman copies the host's (unlimited) ulimits by default, which runc refuses here.
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
init_path = "$init_path"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/tmp/events.log"
CONF
    # Plain HTTP for loopback registries, as Docker does (the image tests run a registry on
    # 127.0.0.1:<free port>). containers/image matches `127.0.0.1` against `127.0.0.1:PORT/...`.
    cat >"$CONTAINERS_REGISTRIES_CONF" <<CONF
unqualified-search-registries = []

[[registry]]
location = "127.0.0.1"
insecure = true

[[registry]]
location = "localhost"
insecure = true
CONF
    cat >"$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "vfs"
graphroot = "$dir/storage"
runroot = "$dir/run"
CONF
}

print_env() { printf 'export CONTAINER_HOST=unix://%s\n' "$sock"; }

start() {
    if running_pid >/dev/null && [[ ! -f "$CONTAINERS_REGISTRIES_CONF" ]]; then
        say "the running service predates the private registries.conf; restarting it"
        stop
    fi
    if running_pid >/dev/null && ping; then
        say "reusing the service already running (pid $(running_pid)) on $sock"
        print_env
        return 0
    fi
    local pid
    if pid="$(running_pid)"; then
        say "a service (pid $pid) is running but not answering yet; waiting for it"
    else
        ensure_tools
        [[ "$(id -u)" == 0 ]] || die "this private Podman service runs as root; for rootless Podman run \`podman system service\` yourself"
        write_config
        rm -f "$sock" "$pidfile"
        say "starting podman system service on $sock (log: $log)"
        # Run from the state directory: conmon writes its `oom` marker file into its working
        # directory (seen with Podman 4.3 / conmon 2.1.6), which must not be the caller's.
        (cd "$dir" && exec setsid podman "${podman_flags[@]}" system service --time=0 "unix://$sock" \
            </dev/null >>"$log" 2>&1) &
        pid=$!
        printf '%s\n' "$pid" >"$pidfile"
    fi
    local waited=0
    until ping; do
        if ! kill -0 "$pid" 2>/dev/null || [[ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" == Z ]]; then
            say "podman exited before answering; the end of its log ($log):"
            tail -n 30 "$log" >&2 || true
            exit 1
        fi
        if ((waited >= start_timeout * 10)); then
            say "podman did not answer \`_ping\` on $sock within ${start_timeout}s; the end of its log ($log):"
            tail -n 30 "$log" >&2 || true
            die "podman did not become ready (still running as pid $pid; \`$0 stop\` stops it)"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    say "podman is ready (pid $pid)"
    print_env
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        say "no private podman service is running for $dir"
        rm -f "$pidfile"
        return 0
    fi
    # Containers outlive the API service (conmon keeps them); stop and remove them first.
    podman "${podman_flags[@]}" rm --all --force --time 0 >/dev/null 2>&1 || true
    say "stopping podman (pid $pid)"
    kill -TERM "$pid"
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [[ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ]]; do
        if ((waited >= stop_timeout * 10)); then
            say "podman (pid $pid) did not exit within ${stop_timeout}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$pidfile"
    say "podman stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env)
    running_pid >/dev/null && ping || die "no private podman service answers on $sock; run \`$0 start\`"
    print_env
    ;;
status)
    if pid="$(running_pid)" && ping; then
        say "running (pid $pid) on $sock"
    else
        say "not running"
        exit 1
    fi
    ;;
*)
    printf 'usage: %s start|stop|env|status\n' "$0" >&2
    exit 2
    ;;
esac
