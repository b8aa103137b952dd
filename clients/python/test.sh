#!/usr/bin/env bash
# The Python client's checks, as CI runs them (scripts/test.sh):
#   1. the models are what the committed OpenAPI document generates, and that document is what
#      `berth serve --openapi` prints (tests/test_models.py; the drift check);
#   2. mypy --strict on the package (it is typed: py.typed);
#   3. pytest against the real binary, a real Docker engine and a real `berth serve` on loopback.
#
#   BERTH_BIN=target/debug/berth bash clients/python/test.sh
#
# The virtualenv (pytest and mypy from PyPI, the client installed editable) is kept in
# BERTH_PYCLIENT_VENV (default target/pyclient-venv) and reused.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${BERTH_PYCLIENT_VENV:-$repo/target/pyclient-venv}"
export BERTH_BIN="${BERTH_BIN:-$repo/target/debug/berth}"
[[ -x "$BERTH_BIN" ]] || { echo "clients/python/test.sh: error: no berth binary at $BERTH_BIN (run \`cargo build -p berth\`)" >&2; exit 1; }

stamp="$venv/.berth-client-$(sha256sum "$here/pyproject.toml" | cut -c1-16)"
if [[ ! -e "$stamp" ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -e "$here[test]"
    touch "$stamp"
fi
cd "$here"
"$venv/bin/python" scripts/generate_models.py --check
"$venv/bin/mypy"
"$venv/bin/pytest" -q -p no:cacheprovider
