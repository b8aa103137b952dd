#!/usr/bin/env bash
# Measure catalog images: SBOM, advisory scan (when a database exists), and `berth harden
# minify` driven by the tool's own declared tests, then the declared tests on the minified image.
#
#   catalog/measure.sh [TOOL...]     every tool when none is named
#
# Prints one tab-separated line per tool on stdout:
#   tool  image  packages  size_bytes  scan  minified_image  packages_after  size_after  tests_after
# (scan is `n/a` without an advisory database; `berth db update` builds one). Progress and
# berth's own reports go to stderr. Run catalog/test.sh first: it builds the images and links
# the data. The tracer is $BERTH_TRACE, else berth's default (`berth-trace` beside berth; see
# docs/hardening.md; tools/berth-trace/build.sh builds it); the binary is
# $BERTH_BIN (else `berth` on PATH, else target/release/berth), the engine DOCKER_HOST's.
# Work files go to $CATALOG_MEASURE_DIR (default: a temporary directory).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
docker="${DOCKER:-docker}"

say() { printf 'catalog/measure.sh: %s\n' "$*" >&2; }
die() {
    say "error: $1"
    [[ -z "${2:-}" ]] || say "hint: $2"
    exit 1
}

berth="${BERTH_BIN:-$(command -v berth || printf '%s' "$repo/target/release/berth")}"
[[ -x "$berth" ]] || die "no berth binary at $berth" "cargo build --release -p berth, or set BERTH_BIN"
[[ -z "${BERTH_TRACE:-}" || -x "${BERTH_TRACE:-}" ]] ||
    die "BERTH_TRACE=$BERTH_TRACE is not an executable berth-trace" "export BERTH_TRACE=\"\$(tools/berth-trace/build.sh)\""
"$docker" info >/dev/null 2>&1 || die "no Docker daemon answers at ${DOCKER_HOST:-the default socket}" \
    "eval \"\$(scripts/dockerd.sh start)\""
[[ -L "$here/data" ]] || die "$here/data is missing: the tests' data is not linked" "run catalog/test.sh first"
work="${CATALOG_MEASURE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/berth-catalog-measure.XXXXXX")}"
mkdir -p "$work"

if (($# > 0)); then
    selected=("$@")
else
    mapfile -t selected < <("$here/build.sh" list)
fi

scan_db=0
"$berth" db status >/dev/null 2>&1 && scan_db=1

for tool in "${selected[@]}"; do
    dir="$here/$tool"
    [[ -f "$dir/$tool.json" ]] || die "no catalog tool \`$tool\`"
    image="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["container-image"]["image"])' "$dir/$tool.json")"
    "$docker" image inspect "$image" >/dev/null 2>&1 || die "$image is not loaded" "catalog/build.sh $tool"
    say "== $tool ($image)"
    packages="$("$berth" sbom "$image" --format json 2>/dev/null | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["packages"]))')"
    size="$("$docker" image inspect "$image" --format '{{.Size}}')"
    scan="n/a"
    if ((scan_db)); then
        scan="$("$berth" scan "$image" --format json 2>/dev/null | python3 -c '
import json, sys
v = json.load(sys.stdin)
f = v.get("findings", [])
by = {}
for x in f:
    s = (x.get("severity") or "unknown").lower()
    by[s] = by.get(s, 0) + 1
print(len(f), "(" + ", ".join(f"{k} {n}" for k, n in sorted(by.items())) + ")")' || printf 'error')"
    fi
    # The tool's own tests that expect success are the traced analysis.
    inv_dir="$work/$tool/invocations"
    rm -rf "$inv_dir"
    mkdir -p "$inv_dir"
    python3 - "$dir/$tool.json" "$inv_dir" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for i, t in enumerate(d.get("tests", [])):
    if t.get("assertions", {}).get("exit-code", 0) == 0:
        with open(f"{sys.argv[2]}/{i:02d}-{t['name']}.json", "w") as f:
            json.dump(t["invocation"], f)
PY
    args=()
    for f in "$inv_dir"/*.json; do args+=(-i "$f"); done
    # Relative paths in the invocations are relative to the descriptor's directory.
    tracer=()
    [[ -z "${BERTH_TRACE:-}" ]] || tracer=(--tracer "$BERTH_TRACE")
    # Relative paths in the invocations are relative to the descriptor's directory.
    (cd "$dir" && "$berth" harden minify "$image" -d "$tool.json" "${args[@]}" "${tracer[@]}" \
        --work-dir "$work/$tool/minify" --json >"$work/$tool/minify.json") ||
        die "berth harden minify failed for $tool" "see berth's message above"
    read -r minified packages_after size_after < <(python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
print(v["minify"]["reference"], v["after"]["packages"], v["after"]["size"])' "$work/$tool/minify.json")
    tests_after="pass"
    for d in "$dir"/*.json; do
        case "$(basename "$d")" in image.json | command.json) continue ;; esac
        if ! "$berth" test "$d" --image "$minified" --pull never --output-dir "$work/$tool/tests-$(basename "$d" .json)" >&2; then
            tests_after="FAIL($(basename "$d" .json))"
        fi
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$image" "$packages" "$size" "$scan" "$minified" \
        "$packages_after" "$size_after" "$tests_after"
done
