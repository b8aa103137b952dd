#!/usr/bin/env bash
# berth's main job on the sample data shipped in the repository, end to end:
#   1. build berth;
#   2. find a container engine, or install Debian's docker.io and start a private daemon
#      (scripts/dockerd.sh: no iptables, no bridge, socket and data under .state/);
#   3. build the example tool's image (FROM scratch, a static binary and its descriptor label);
#   4. check the descriptor and the invocation, and show the command;
#   5. run the tool on the sample DICOM slice in a container (no network, read-only input,
#      non-root user, limits) and print where the output and the provenance record are.
# The run itself needs no network: the image is built locally and never pulled.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
state="${BERTH_STATE_DIR:-$root/.state}"
say() { printf '\n== %s\n' "$*"; }

say "building berth"
cargo build --release --quiet -p berth
B="$root/target/release/berth"

say "finding a container engine"
if ! "$B" engine >/dev/null 2>&1; then
    echo "no engine reachable: starting a private Docker daemon (scripts/dockerd.sh)"
    eval "$(scripts/dockerd.sh start)"
fi
"$B" engine | sed -n '/^Selected/,$p'

say "building the example image"
examples/dicom-normalize/build-image.sh

EX=examples/dicom-normalize
say "checking the tool and the invocation"
"$B" validate "$EX/dicom-normalize.json"
"$B" invocation "$EX/dicom-normalize.json" -i "$EX/invocation.json"
(cd "$EX" && "$B" simulate dicom-normalize.json -i invocation.json --no-write)

out="$state/demo/$(date -u +%Y%m%dT%H%M%SZ)"
say "running dicom-normalize on $EX/data/phantom-mr.dcm"
(cd "$EX" && "$B" run dicom-normalize.json -i invocation.json --output-dir "$out" --pull never)

run_id="$("$B" runs --json --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
"$B" show "$run_id" --json > "$out/provenance.json"
say "done"
echo "output:      $out/out/phantom-mr-normalized.dcm"
echo "provenance:  $out/provenance.json   (also: $B show $run_id --json)"
echo "logs:        $B logs $run_id"
