#!/usr/bin/env bash
# Test of the clinical example: runs it and checks what it produced.
#
#   examples/clinical-pipeline/test.sh [--minified] [--keep]
#
# 1. run.sh with the catalog's images into a fresh directory, with a fresh BERTH_HOME unless one
#    is set (so nothing comes from an earlier run's cache);
# 2. every published file of the raw BIDS dataset and the derivatives has the MD5 in
#    expected.md5 (dataset_description.json files, which name runs and paths, are checked by
#    content instead: DatasetType, GeneratedBy with berth, the pipeline run and every tool);
#    sub-02 (RLE) and sub-03 (JPEG-LS), the same slice compressed two ways, give the same NIfTI;
#    the HTML report of each stage exists and names its run;
# 3. run.sh again into another directory: every task of both stages is `cached`;
# 4. `berth verify` of both pipeline runs: every output identical;
# 5. with --minified: run.sh --images minified-standard and minified-minimal (images from
#    catalog/measure.sh, which must be loaded) give the same files as expected.md5.
# --keep leaves the work directory (printed) in place. Exit 0 when everything holds, 1 with a
# message naming what did not. Needs what run.sh needs (Docker, the catalog images, the data).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
berth="${BERTH_BIN:-$(command -v berth || printf '%s' "$repo/target/release/berth")}"
export BERTH_BIN="$berth"

minified=0
keep=0
for a in "$@"; do
    case "$a" in
    --minified) minified=1 ;;
    --keep) keep=1 ;;
    *)
        printf 'test.sh: unknown argument `%s` (use --minified, --keep)\n' "$a" >&2
        exit 1
        ;;
    esac
done

say() { printf 'clinical-pipeline/test.sh: %s\n' "$*" >&2; }
failures=0
fail() {
    say "FAIL: $*"
    failures=$((failures + 1))
}
ok() { say "ok: $*"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/berth-clinical-test.XXXXXX")"
cleanup() {
    if ((keep)); then say "work directory kept: $work"; else rm -rf -- "$work"; fi
}
trap cleanup EXIT
if [[ -z "${BERTH_HOME:-}" ]]; then
    export BERTH_HOME="$work/berth-home"
fi
start=$SECONDS

check_md5() { # check_md5 DIR LABEL: every line of expected.md5 under DIR
    local out
    if out="$(cd -- "$1" && md5sum -c --quiet -- "$here/expected.md5" 2>&1)"; then
        ok "$2: the $(wc -l <"$here/expected.md5") files of expected.md5 are identical"
    else
        fail "$2: files differ from expected.md5:"$'\n'"$out"
    fi
}

# 1. The run.
say "run.sh -o $work/run (BERTH_HOME=$BERTH_HOME)"
if ! "$here/run.sh" -o "$work/run" 2>"$work/run.log"; then
    cat -- "$work/run.log" >&2
    fail "run.sh failed"
    exit 1
fi
ok "run.sh succeeded in $((SECONDS - start)) s"
# shellcheck disable=SC1091
source "$work/run/runs.env"

# 2. The files.
check_md5 "$work/run" "catalog images"
cmp -s -- "$work/run/bids/sub-02/anat/sub-02_T1w.nii" "$work/run/bids/sub-03/anat/sub-03_T1w.nii" &&
    ok "RLE and JPEG-LS copies of one slice convert to the same NIfTI" ||
    fail "sub-02 (RLE) and sub-03 (JPEG-LS) NIfTI files differ: a decoder is not lossless"
python3 - "$work/run" "$STAGE1_RUN" "$STAGE2_RUN" <<'PY' || fail "dataset_description.json files (above)"
import json, os, sys
out, stage1, stage2 = sys.argv[1:4]
problems = []
def load(path):
    try:
        return json.load(open(path))
    except Exception as e:
        problems.append(f"{path}: {e}")
        return {}
raw = load(os.path.join(out, "bids", "dataset_description.json"))
if raw.get("DatasetType") != "raw":
    problems.append("bids/dataset_description.json: DatasetType is not raw")
names = [g.get("Name") for g in raw.get("GeneratedBy", [])]
if not ({"berth", "dcmtk", "dcm2niix"} <= set(names)) or stage1 not in raw["GeneratedBy"][0].get("Description", ""):
    problems.append(f"bids/dataset_description.json: GeneratedBy {names} lacks berth (run {stage1}), dcmtk or dcm2niix")
want = {"regrid": {"mrgrid"}, "mrstats": {"mrstats", "mrgrid"}, "nibstats": {"nibabel-stats", "mrgrid"},
        "register": {"elastix", "mrtrix3", "mrgrid"}}
for step, tools in want.items():
    path = os.path.join(out, "derivatives", step, "dataset_description.json")
    d = load(path)
    gen = d.get("GeneratedBy", [])
    names = {g.get("Name") for g in gen}
    if d.get("DatasetType") != "derivative":
        problems.append(f"{path}: DatasetType is not derivative")
    if not gen or gen[0].get("Name") != "berth" or stage2 not in gen[0].get("Description", ""):
        problems.append(f"{path}: GeneratedBy[0] is not berth's with run {stage2}")
    if not tools <= names:
        problems.append(f"{path}: GeneratedBy names {sorted(names)}, not all of {sorted(tools)}")
    if not all(g.get("Container", {}).get("URI", "").startswith("docker-image://sha256:") for g in gen[1:]):
        problems.append(f"{path}: a tool without its image ID")
for p in problems:
    print("  " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
((failures)) || ok "dataset_description.json: raw BIDS and four derivatives datasets with GeneratedBy"
for pair in "stage1:$STAGE1_RUN" "derivatives:$STAGE2_RUN"; do
    report="$work/run/${pair%%:*}/reports/${pair#*:}.html"
    if [[ -s "$report" ]] && grep -q -- "${pair#*:}" "$report"; then
        ok "report $report"
    else
        fail "no HTML report naming run ${pair#*:} at $report"
    fi
done

# 3. Again: everything from the step cache.
if "$here/run.sh" -o "$work/again" 2>"$work/again.log"; then
    not_cached="$(python3 -c '
import json, sys
for f in sys.argv[1:]:
    for t in json.load(open(f))["tasks"]:
        if t["status"] not in ("cached", "skipped"):
            print(t["key"], t["status"])' "$work/again/stage1.log.json" "$work/again/stage2.log.json")"
    [[ -z "$not_cached" ]] && ok "second run: every task cached" || fail "second run: tasks not cached: $not_cached"
    check_md5 "$work/again" "second run"
else
    cat -- "$work/again.log" >&2
    fail "run.sh failed the second time"
fi

# 4. berth verify.
for run in "$STAGE1_RUN" "$STAGE2_RUN"; do
    if "$berth" verify "$run" -o "$work/verify-$run" >"$work/verify-$run.txt" 2>&1; then
        ok "berth verify $run: $(tail -n 1 "$work/verify-$run.txt")"
    else
        cat -- "$work/verify-$run.txt" >&2
        fail "berth verify $run: outputs are not identical (or not verifiable)"
    fi
done

# 5. The minified images.
if ((minified)); then
    for mode in standard minimal; do
        if "$here/run.sh" -o "$work/minified-$mode" --images "minified-$mode" 2>"$work/minified-$mode.log"; then
            check_md5 "$work/minified-$mode" "minified-$mode images"
        else
            cat -- "$work/minified-$mode.log" >&2
            fail "run.sh --images minified-$mode failed"
        fi
    done
fi

if ((failures)); then
    say "$failures check(s) failed ($((SECONDS - start)) s)"
    exit 1
fi
say "all checks passed ($((SECONDS - start)) s)"
