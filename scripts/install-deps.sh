#!/usr/bin/env bash
# Install the Debian packages that berth's test suite drives for real, in one apt-get call.
#
#   scripts/install-deps.sh          install what is missing (needs root on a machine without them)
#   scripts/install-deps.sh --check  only list what is missing; exit 1 if anything is
#
# The tests need real components, not mocks: a Docker engine (docker.io), Podman with runc and
# catatonit, a registry (docker-registry) with htpasswd (apache2-utils), busybox-static for the
# tiny test image, debootstrap for the Debian root filesystems the scanners are compared on, and
# rpm for the version-ordering oracle, Slurm and munge for the one-node cluster the Slurm backend
# is tested on (scripts/slurm.sh), dcmtk (storescu, echoscu, storescp, dcmdump) as the DICOM
# node's peer (crates/berth/tests/dicom_node.rs), and Chromium for the web UI's browser tests (driven by
# playwright-core from npm, installed by tests/ui/install.sh into target/). Each test also
# installs what it needs on its own when it runs alone; installing everything here first means
# parallel tests never race for dpkg's lock
# on a fresh machine (CI starts from one).
set -euo pipefail

say() { printf 'install-deps.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# binary-or-path  package
wanted=(
    "dockerd docker.io"
    "docker docker.io"
    "podman podman"
    "runc runc"
    "catatonit catatonit"
    "curl curl"
    "/bin/busybox busybox-static"
    "debootstrap debootstrap"
    "docker-registry docker-registry"
    "htpasswd apache2-utils"
    "rpm rpm"
    "openssl openssl"
    "chromium chromium"
    "slurmctld slurm-wlm"
    "munged munge"
    "storescu dcmtk"
)

have() {
    case "$1" in
    /*) [[ -x "$1" ]] ;;
    catatonit) [[ -x /usr/libexec/podman/catatonit || -x /usr/bin/catatonit ]] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

missing=()
for w in "${wanted[@]}"; do
    read -r bin pkg <<<"$w"
    if ! have "$bin"; then
        [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
    fi
done
# Debian's dynamic busybox also installs /bin/busybox; the test image needs the static one.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
    [[ " ${missing[*]-} " == *" busybox-static "* ]] || missing+=(busybox-static)
fi

if ((${#missing[@]} == 0)); then
    say "all test dependencies are installed"
    exit 0
fi
if [[ "${1:-}" == --check ]]; then
    say "missing: ${missing[*]}"
    exit 1
fi
[[ "$(id -u)" == 0 ]] || die "missing ${missing[*]} and not root: run \`sudo apt-get install ${missing[*]}\`, then run again"
command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get here: install them by hand"

say "installing ${missing[*]}"
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${missing[@]}" >&2
}
# The package lists may be missing or stale on a fresh machine; refresh once if the install fails.
if ! apt_install; then
    apt-get -o DPkg::Lock::Timeout=600 update -q >&2
    apt_install
fi

still=()
for w in "${wanted[@]}"; do
    read -r bin pkg <<<"$w"
    have "$bin" || still+=("$bin ($pkg)")
done
((${#still[@]} == 0)) || die "still missing after apt-get: ${still[*]}"
say "installed ${missing[*]}"
