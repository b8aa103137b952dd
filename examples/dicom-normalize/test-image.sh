#!/usr/bin/env bash
# End-to-end test of the example image against a real container engine: builds and loads
# the image, checks its labels, runs it on the sample with no network and only the input
# (read-only) and output directories mounted, and checks the output with the independent
# pydicom/numpy checker.
#
# Usage: examples/dicom-normalize/test-image.sh
# Needs: an engine reachable through DOCKER_HOST (or the default socket) on this machine
# (bind mounts name local paths), python3 and PyPI access (BERTH_PYDICOM_VENV may name a
# venv directory to reuse). DOCKER defaults to `docker`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
docker="${DOCKER:-docker}"

if ! "$docker" version >/dev/null 2>&1; then
    echo "error: no container engine answers \`$docker version\` (DOCKER_HOST=${DOCKER_HOST:-unset})" >&2
    exit 3
fi

"$here/build-image.sh"
version="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tool-version"])' "$here/dicom-normalize.json")"
image="berth-example/dicom-normalize:$version"

echo "== labels"
"$docker" image inspect "$image" --format '{{json .Config.Labels}}' | python3 -c '
import json, sys
labels = json.load(sys.stdin)
embedded = labels["org.berth.boutiques.descriptor"]
assert "\n" not in embedded, "descriptor label is not compact"
assert json.loads(embedded) == json.load(open(sys.argv[1])), "descriptor label differs from the file"
for key in ("title", "version", "description", "source", "licenses"):
    value = labels.get("org.opencontainers.image." + key)
    assert value and value != "None", "missing org.opencontainers.image." + key
    print("org.opencontainers.image." + key, "=", value)
print("org.berth.boutiques.descriptor = <%d bytes, equal to the descriptor file>" % len(embedded))
' "$here/dicom-normalize.json"

echo "== run"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
chmod 777 "$out" # the container runs as root, but an engine may map users
"$docker" run --rm --network none \
    -v "$here/data:/in:ro" -v "$out:/out" \
    "$image" dicom-normalize /in/phantom-mr.dcm /out --min 0 --max 1000
test -f "$out/phantom-mr-normalized.dcm"

echo "== data errors exit with 1 inside the image too"
set +e
"$docker" run --rm --network none -v "$here/data:/in:ro" "$image" \
    dicom-normalize /in/missing.dcm /tmp --min 0 --max 1 2>/dev/null
code=$?
set -e
if [[ $code -ne 1 ]]; then
    echo "error: expected exit status 1 for a missing input, got $code" >&2
    exit 1
fi

echo "== independent check"
python3 "$root/tools/dicom-normalize/tests/independent_check.py" check \
    "$here/data/phantom-mr.dcm" "$out/phantom-mr-normalized.dcm" --min 0 --max 1000
