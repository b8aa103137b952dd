#!/usr/bin/env bash
# Measure catalog images: SBOM, advisory scan (when a database exists), and `berth harden
# minify` in each mode (standard: the traced packages, their dependencies, the Essential set and
# the package manager; minimal: `--minimal`, only what the traced runs need), driven by the
# tool's own declared tests, then every declared test of the tool on each minified image.
#
#   catalog/measure.sh [--modes standard,minimal] [TOOL...]     every tool when none is named
#
# Prints a header and one tab-separated line per tool on stdout:
#   tool  image  packages  size_bytes  scan  then, per mode:
#   MODE_image  MODE_packages  MODE_size  MODE_tests
# Packages are counted by `berth sbom IMAGE --format json` for every image (the original and the
# minified ones alike), sizes are `docker image inspect`'s `.Size`. MODE_tests is `pass (N/N)` or
# `FAIL(descriptor:test,...)`; a mode whose minify fails is `minify-failed` (its error in
# `minify.err`). Scan is `n/a` without an advisory database (`berth db update`
# builds one). Progress and berth's own reports go to stderr; per tool and mode, the minify
# report (`minify.json`), the packages removed (`removed.txt`) and the test outputs stay in the
# work directory. Run catalog/test.sh first: it builds the images and links the data. The tracer
# is $BERTH_TRACE, else berth's default (`berth-trace` beside berth; see docs/hardening.md;
# tools/berth-trace/build.sh builds it); the binary is $BERTH_BIN (else `berth` on PATH, else
# target/release/berth), the engine DOCKER_HOST's. Minified images are tagged
# `berth-minified/TOOL:<original tag>-MODE`. Work files go to $CATALOG_MEASURE_DIR (default: a
# temporary directory).
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
work="$(cd "$work" && pwd)" # minify runs in the tool's directory: the work paths must be absolute

modes=(standard minimal)
if [[ "${1:-}" == --modes ]]; then
    [[ -n "${2:-}" ]] || die "--modes needs a value" "--modes standard,minimal"
    IFS=, read -r -a modes <<<"$2"
    shift 2
fi
for mode in "${modes[@]}"; do
    case "$mode" in standard | minimal) ;; *) die "unknown minify mode \`$mode\`" "use standard and/or minimal" ;; esac
done

if (($# > 0)); then
    selected=("$@")
else
    mapfile -t selected < <("$here/build.sh" list)
fi

scan_db=0
"$berth" db status >/dev/null 2>&1 && scan_db=1

sbom_json() {
    "$berth" sbom "$1" --format json 2>/dev/null || die "berth sbom failed for $1"
}
count_packages() { python3 -c 'import json, sys; print(len(json.load(sys.stdin)["packages"]))'; }
package_names() { python3 -c 'import json, sys; print("\n".join(sorted({p["name"] for p in json.load(sys.stdin)["packages"]})))'; }

header=(tool image packages size_bytes scan)
for mode in "${modes[@]}"; do header+=("${mode}_image" "${mode}_packages" "${mode}_size" "${mode}_tests"); done
(IFS=$'\t'; printf '%s\n' "${header[*]}")

for tool in "${selected[@]}"; do
    dir="$here/$tool"
    [[ -f "$dir/$tool.json" ]] || die "no catalog tool \`$tool\`"
    image="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["container-image"]["image"])' "$dir/$tool.json")"
    "$docker" image inspect "$image" >/dev/null 2>&1 || die "$image is not loaded" "catalog/build.sh $tool"
    say "== $tool ($image)"
    mkdir -p "$work/$tool"
    sbom_json "$image" >"$work/$tool/sbom-original.json"
    packages="$(count_packages <"$work/$tool/sbom-original.json")"
    package_names <"$work/$tool/sbom-original.json" >"$work/$tool/packages-original.txt"
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
    # The tests that expect success, of every descriptor the image carries, are the traced
    # analysis: the image's own descriptor's as -i, the others' as --with DESCRIPTOR INVOCATION
    # (a tool left untraced could lose what it needs, above all with --minimal).
    inv_dir="$work/$tool/invocations"
    rm -rf "$inv_dir"
    mkdir -p "$inv_dir"
    args=()
    for d in "$dir"/*.json; do
        name="$(basename "$d" .json)"
        case "$name" in image | command) continue ;; esac
        mkdir -p "$inv_dir/$name"
        python3 - "$d" "$inv_dir/$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for i, t in enumerate(d.get("tests", [])):
    if t.get("assertions", {}).get("exit-code", 0) == 0:
        with open(f"{sys.argv[2]}/{i:02d}-{t['name']}.json", "w") as f:
            json.dump(t["invocation"], f)
PY
        for f in "$inv_dir/$name"/*.json; do
            [[ -e "$f" ]] || continue
            if [[ "$name" == "$tool" ]]; then args+=(-i "$f"); else args+=(--with "$name.json" "$f"); fi
        done
    done
    tracer=()
    [[ -z "${BERTH_TRACE:-}" ]] || tracer=(--tracer "$BERTH_TRACE")
    row=("$tool" "$image" "$packages" "$size" "$scan")
    for mode in "${modes[@]}"; do
        mwork="$work/$tool/$mode"
        rm -rf "$mwork"
        mkdir -p "$mwork"
        flags=()
        [[ "$mode" == minimal ]] && flags=(--minimal)
        tag="berth-minified/$tool:${image##*:}-$mode"
        say "-- $tool: berth harden minify ($mode) → $tag"
        # Relative paths in the invocations are relative to the descriptor's directory.
        # A mode that fails (berth refuses an image whose outputs differ) is reported, not fatal.
        if ! (cd "$dir" && "$berth" harden minify "$image" -d "$tool.json" "${args[@]}" "${tracer[@]}" "${flags[@]}" \
            --tag "$tag" --work-dir "$mwork/minify" --json >"$mwork/minify.json" 2>"$mwork/minify.err"); then
            say "$tool ($mode): berth harden minify failed (see $mwork/minify.err):"
            tail -n 5 "$mwork/minify.err" >&2
            row+=(- - - "minify-failed")
            continue
        fi
        minified="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["minify"]["reference"])' "$mwork/minify.json")"
        sbom_json "$minified" >"$mwork/sbom.json"
        packages_after="$(count_packages <"$mwork/sbom.json")"
        package_names <"$mwork/sbom.json" >"$mwork/packages.txt"
        comm -23 "$work/$tool/packages-original.txt" "$mwork/packages.txt" >"$mwork/removed.txt"
        size_after="$("$docker" image inspect "$minified" --format '{{.Size}}')"
        failed=()
        total=0
        for d in "$dir"/*.json; do
            case "$(basename "$d")" in image.json | command.json) continue ;; esac
            name="$(basename "$d" .json)"
            log="$mwork/tests-$name.log"
            if ! "$berth" test "$d" --image "$minified" --pull never --output-dir "$mwork/tests-$name" >"$log" 2>&1; then
                say "$tool ($mode): tests of $name failed on $minified (see $log)"
                mapfile -t names < <(sed -n 's/^FAIL  \([^ ]*\) .*/\1/p' "$log")
                ((${#names[@]} > 0)) || names=("?")
                for n in "${names[@]}"; do failed+=("$name:$n"); done
            fi
            total=$((total + $(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1])).get("tests", [])))' "$d")))
        done
        tests_after="pass ($total/$total)"
        ((${#failed[@]} == 0)) || tests_after="FAIL($(IFS=,; printf '%s' "${failed[*]}"))"
        row+=("$minified" "$packages_after" "$size_after" "$tests_after")
    done
    (IFS=$'\t'; printf '%s\n' "${row[*]}")
done
