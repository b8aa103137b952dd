#!/usr/bin/env bash
# berth's main job on the sample data shipped in the repository: build berth, check the
# bundled DICOM-normalization tool descriptor and invocation, and show exactly what would run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

EX=examples/dicom-normalize
echo "== building berth (release)"
cargo build --release -p berth --quiet
B=target/release/berth

echo "== berth validate $EX/dicom-normalize.json"
$B validate "$EX/dicom-normalize.json"

echo "== berth invocation $EX/dicom-normalize.json -i $EX/invocation.json"
$B invocation "$EX/dicom-normalize.json" -i "$EX/invocation.json"

echo "== berth simulate (the command line, byte for byte as bosh renders it)"
(cd "$EX" && "../../$B" simulate dicom-normalize.json -i invocation.json)

echo "== berth simulate --json (the whole plan)"
(cd "$EX" && "../../$B" simulate dicom-normalize.json -i invocation.json --json)
