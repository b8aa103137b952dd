#!/usr/bin/env bash
# Validates DICOM files with readers that share no code with dicom-rs:
#   dcmftest and dcmdump (DCMTK) parse the file; dciodvfy (dicom3tools) checks it against
#   the IOD of its SOP class. Any error fails the check; warnings are shown.
#
# Usage: dicom_validators.sh [FILE...]
#   Without arguments it checks the committed sample and that sample normalized to
#   [0, 1000] by dicom-normalize (built with cargo).
#
# Exit status: 0 no errors, 1 an error was reported, 3 the tools are missing
# (install them with `apt-get install -y dcmtk dicom3tools`).
set -euo pipefail

missing=()
for tool in dcmftest dcmdump dciodvfy; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "error: missing ${missing[*]}; install with \`apt-get install -y dcmtk dicom3tools\`" >&2
    exit 3
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
files=("$@")
if ((${#files[@]} == 0)); then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    sample="$root/examples/dicom-normalize/data/phantom-mr.dcm"
    cargo run --quiet --manifest-path "$root/Cargo.toml" -p dicom-normalize -- \
        "$sample" "$work" --min 0 --max 1000 >/dev/null
    files=("$sample" "$work/phantom-mr-normalized.dcm")
fi

failed=0
for f in "${files[@]}"; do
    echo "== $f"
    if ! dcmftest "$f" | grep -q '^yes:'; then
        echo "error: dcmftest does not recognise a DICOM Part 10 file"
        failed=1
    fi
    if ! dcmdump "$f" >/dev/null 2>"${TMPDIR:-/tmp}/dcmdump.err.$$" \
        || grep -q '^E:' "${TMPDIR:-/tmp}/dcmdump.err.$$"; then
        echo "error: dcmdump failed:"
        cat "${TMPDIR:-/tmp}/dcmdump.err.$$"
        failed=1
    else
        echo "dcmdump: parsed without errors"
    fi
    rm -f "${TMPDIR:-/tmp}/dcmdump.err.$$"
    # dciodvfy exits non-zero when it reports errors; the grep below decides.
    report="$(dciodvfy "$f" 2>&1 || true)"
    echo "dciodvfy:"
    sed 's/^/  /' <<<"$report"
    if grep -q '^Error' <<<"$report"; then
        failed=1
    fi
done
if ((failed)); then
    echo "FAILED: an independent validator reported errors"
    exit 1
fi
echo "${#files[@]} passed, 0 failed"
