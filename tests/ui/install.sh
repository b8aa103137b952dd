#!/usr/bin/env bash
# Installs what the web UI's browser tests drive: Debian's Chromium (with apt-get when
# missing; needs root) and playwright-core from npm into target/ui-node (never into the
# product). Prints the node_modules directory on stdout.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="$repo/target/ui-node"
say() { printf 'ui/install.sh: %s\n' "$*" >&2; }
if ! command -v chromium >/dev/null 2>&1; then
    [[ "$(id -u)" == 0 ]] || { say "error: chromium is missing and not root: \`sudo apt-get install chromium\`"; exit 1; }
    say "installing chromium with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium >&2; then
        apt-get -o DPkg::Lock::Timeout=600 update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium >&2
    fi
fi
command -v node >/dev/null 2>&1 || { say "error: node is missing (install Debian's nodejs)"; exit 1; }
if [[ ! -f "$dir/node_modules/playwright-core/package.json" ]]; then
    mkdir -p "$dir"
    say "installing playwright-core from npm into $dir"
    # A pinned version: the tests drive the browser through its API only (no browser download).
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error playwright-core@1.49.1 >&2)
fi
printf '%s\n' "$dir/node_modules"
