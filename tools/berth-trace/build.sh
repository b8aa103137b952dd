#!/usr/bin/env bash
# Builds berth-trace as a fully static x86_64 Linux binary (it is copied into images that may
# have no C library, or another one) and prints its path on stdout; progress goes to stderr.
#
# Usage: tools/berth-trace/build.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target=x86_64-unknown-linux-gnu
# +crt-static with an explicit --target links the binary (and only the binary: build scripts
# are built for the host without it) against static glibc; berth-trace does no NSS lookups.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=$root=/berth --remap-path-prefix=$cargo_home=/cargo" \
CARGO_PROFILE_RELEASE_DEBUG=false \
CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --target "$target" -p berth-trace --bin berth-trace \
    --manifest-path "$root/Cargo.toml" >&2
binary="$root/target/$target/release/berth-trace"
# Static means no PT_INTERP: it must run where there is no loader.
if file "$binary" 2>/dev/null | grep -q 'dynamically linked'; then
    echo "error: $binary is dynamically linked" >&2
    exit 1
fi
"$binary" --version >/dev/null
printf '%s\n' "$binary"
