#!/usr/bin/env bash
# Start, stop or describe a private Docker daemon for berth's tests and for trying berth out.
#
#   scripts/dockerd.sh start   start it (or reuse the one already running); print `export DOCKER_HOST=...`
#   scripts/dockerd.sh stop    stop it and wait until it has exited
#   scripts/dockerd.sh env     print `export DOCKER_HOST=...` for it (fails if it is not running)
#   scripts/dockerd.sh status  say whether it is running
#
# Use it as:  eval "$(scripts/dockerd.sh start)"
#
# The daemon keeps all of its state under $BERTH_STATE_DIR/docker (default: <repo>/.state/docker),
# listens only on a unix socket there, and touches no firewall rules and no bridge: containers
# it runs must use network mode `none`, which is what berth asks for anyway.
# If `dockerd` is missing it installs Debian's `docker.io` with apt-get (needs root).
# Only `export ...` lines go to stdout; everything else goes to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${BERTH_STATE_DIR:-$repo/.state}"
dir="$state/docker"
sock="$dir/docker.sock"
pidfile="$dir/docker.pid"
log="$dir/dockerd.log"
# How long to wait for `_ping` to answer, and for the daemon to exit on `stop`.
start_timeout="${BERTH_DOCKERD_START_TIMEOUT:-60}"
stop_timeout="${BERTH_DOCKERD_STOP_TIMEOUT:-30}"

say() { printf 'dockerd.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

running_pid() {
    # Print the daemon's pid if the pidfile names a live dockerd.
    [[ -f "$pidfile" ]] || return 1
    local pid
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/comm" && "$(cat "/proc/$pid/comm")" == dockerd ]] || return 1
    printf '%s\n' "$pid"
}

ping() {
    # `_ping` over the unix socket, without depending on any docker client.
    [[ -S "$sock" ]] || return 1
    curl --silent --fail --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1
}

ensure_tools() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    ((${#missing[@]} == 0)) && return 0
    [[ "$(id -u)" == 0 ]] || die "${missing[*]} missing and not root: install ${missing[*]} (\`sudo apt-get install ${missing[*]}\`) and run again"
    command -v apt-get >/dev/null 2>&1 || die "${missing[*]} missing and no apt-get here: install a Docker engine by hand"
    say "installing ${missing[*]} with apt-get"
    # The package lists may be missing on a fresh machine; refresh them once if the install fails.
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >&2; then
        apt-get -o DPkg::Lock::Timeout=600 update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
    command -v dockerd >/dev/null 2>&1 || die "apt-get installed docker.io but \`dockerd\` is still not on PATH"
}

print_env() { printf 'export DOCKER_HOST=unix://%s\n' "$sock"; }

start() {
    if running_pid >/dev/null && ping; then
        say "reusing the daemon already running (pid $(running_pid)) on $sock"
        print_env
        return 0
    fi
    if pid="$(running_pid)"; then
        # Alive but not answering: it may still be starting. Give it the usual time before
        # deciding it is stuck.
        say "a daemon (pid $pid) is running but not answering yet; waiting for it"
    else
        ensure_tools
        [[ "$(id -u)" == 0 ]] || die "a private dockerd needs root (it creates namespaces and cgroups); use a rootless engine instead"
        mkdir -p "$dir/data" "$dir/exec"
        rm -f "$sock" "$pidfile"
        say "starting dockerd on $sock (log: $log)"
        # setsid: the daemon must outlive this script and the shell or test that ran it; it
        # runs from its state directory so that nothing it writes lands in the caller's.
        (cd "$dir" && exec setsid dockerd \
            --iptables=false --ip6tables=false --bridge=none \
            --data-root "$dir/data" \
            -H "unix://$sock" \
            --exec-root "$dir/exec" \
            --pidfile "$pidfile" \
            </dev/null >>"$log" 2>&1) &
        pid=$!
    fi
    local waited=0
    until ping; do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "dockerd exited before answering; the end of its log ($log):"
            tail -n 30 "$log" >&2 || true
            exit 1
        fi
        if ((waited >= start_timeout * 10)); then
            say "dockerd did not answer \`_ping\` on $sock within ${start_timeout}s; the end of its log ($log):"
            tail -n 30 "$log" >&2 || true
            die "dockerd did not become ready (still running as pid $pid; \`$0 stop\` stops it)"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    say "dockerd is ready (pid $pid)"
    print_env
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        say "no private dockerd is running for $dir"
        rm -f "$pidfile"
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    local waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= stop_timeout * 10)); then
            say "dockerd (pid $pid) did not exit within ${stop_timeout}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$pidfile"
    # dockerd leaves its network-namespace bind mount (exec/netns/default) mounted, which keeps
    # the state directory from being removed: unmount what is still mounted under it.
    local m
    while IFS= read -r m; do
        [[ -n "$m" ]] && umount "$m" 2>/dev/null || true
    done < <(findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r)
    say "dockerd stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env)
    running_pid >/dev/null && ping || die "no private dockerd is answering on $sock; run \`$0 start\`"
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
