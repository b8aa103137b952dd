#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every Rust test (unit, property,
# integration against real Docker and Podman engines), the independent pydicom check of the
# DICOM example, the differential comparison with the reference Boutiques implementation
# (bosh, installed from PyPI into a private virtualenv under target/), the catalog's real tools
# on public scanner data (catalog/test.sh) and the clinical pipeline end to end
# (examples/clinical-pipeline/test.sh), and the Python client against the real binary and
# server (clients/python/test.sh).
#
# Private engines (scripts/dockerd.sh, scripts/podman.sh) and the one-node Slurm cluster
# (scripts/slurm.sh) are started by the tests when needed and stopped at exit if this script
# found them stopped.
#
# Scanning tests build their Debian root filesystems once with debootstrap
# (scripts/test-rootfs.sh, about 40 s each) and install Syft and Trivy from PyPI once into
# target/peers/ (tests/peers/install.sh); without root, a Debian mirror or PyPI they fail with the
# reason (crates/berth-inventory/tests/debootstrap_peers.rs, crates/berth/tests/scan_cli.rs).
#
# Heavy fixtures live outside the clone, keyed by their recipe's hash, so a reused machine skips
# them and a fresh one builds them: the root filesystems under
# ~/.cache/berth/fixtures/rootfs-<hash of scripts/test-rootfs.sh>, the catalog's tool images under
# ~/.cache/berth/fixtures/catalog (catalog/build.sh), the public test data under
# ~/.cache/berth/test-data (scripts/fetch-test-data.sh). BERTH_FIXTURE_DIR, BERTH_FIXTURE_CACHE
# and BERTH_DATA_CACHE move them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Reuse the Python virtualenvs between runs (pydicom for the DICOM check, bosh for the
# differential harness).
export BERTH_PYDICOM_VENV="${BERTH_PYDICOM_VENV:-$PWD/target/pydicom-venv}"
export BERTH_BOSH_VENV="${BERTH_BOSH_VENV:-$PWD/target/bosh-venv}"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/berth"
export BERTH_FIXTURE_DIR="${BERTH_FIXTURE_DIR:-$cache/fixtures/rootfs-$(sha256sum scripts/test-rootfs.sh | cut -c1-16)}"

# Root filesystems of an older scripts/test-rootfs.sh are never used again (about 3.5 GB each).
for old in "$cache"/fixtures/rootfs-*; do
    [[ -d "$old" && "$old" != "$BERTH_FIXTURE_DIR" && "$(basename "$old")" =~ ^rootfs-[0-9a-f]{16}$ ]] || continue
    printf 'test.sh: removing the fixtures of an older scripts/test-rootfs.sh (%s)\n' "$old" >&2
    rm -rf "$old"
done

# A clean build gains nothing from incremental compilation, which roughly doubles target/.
if [[ -n "${CI:-}" ]]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

# The suite needs room: target/ (about 7 GB), the fixture caches (about 9 GB when built) and the
# engines' images. Say so up front rather than as a test failing on a full disk.
need_gb=12
free_gb="$(df -Pk . | awk 'NR == 2 {print int($4 / 1048576)}')"
if ((free_gb < need_gb)); then
    printf 'test.sh: warning: only %s GB free on %s; the suite may need up to %s GB more (a full disk fails tests with "No space left on device")\n' \
        "$free_gb" "$(df -P . | awk 'NR == 2 {print $6}')" "$need_gb" >&2
fi

stop_engines=()
scripts/dockerd.sh status >/dev/null 2>&1 || stop_engines+=(scripts/dockerd.sh)
scripts/podman.sh status >/dev/null 2>&1 || stop_engines+=(scripts/podman.sh)
scripts/slurm.sh status >/dev/null 2>&1 || stop_engines+=(scripts/slurm.sh)
cleanup() {
    for s in "${stop_engines[@]}"; do "$s" stop >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "system packages the tests drive (scripts/install-deps.sh)"
bash scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace --no-fail-fast

step "bosh differential (tests/bosh/differential.py)"
cargo build -p berth
python3 tests/bosh/differential.py --berth target/debug/berth

step "the Python client against the real binary and server (clients/python/test.sh)"
BERTH_BIN="$PWD/target/debug/berth" bash clients/python/test.sh

step "OSV matching against an independent oracle (tests/oracle/osv_oracle.py, three seeds)"
for seed in 17 1 5; do python3 tests/oracle/osv_oracle.py --berth target/debug/berth --seed "$seed"; done

step "the catalog's real tools on real data (catalog/test.sh)"
eval "$(scripts/dockerd.sh start)"
BERTH_BIN="$PWD/target/debug/berth" bash catalog/test.sh

step "the clinical pipeline end to end on the catalog's images (examples/clinical-pipeline/test.sh)"
BERTH_BIN="$PWD/target/debug/berth" bash examples/clinical-pipeline/test.sh
