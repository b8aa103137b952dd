#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every Rust test, and the differential
# comparison with the reference Boutiques implementation (bosh, installed from PyPI into a
# private virtualenv under target/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace

step "bosh differential (tests/bosh/differential.py)"
cargo build -p berth
python3 tests/bosh/differential.py --berth target/debug/berth
