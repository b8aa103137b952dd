#!/usr/bin/env bash
# The clinical example end to end: a DICOM study to a BIDS derivatives dataset and its report.
#
#   examples/clinical-pipeline/run.sh [-o DIR] [--images catalog|minified-standard|minified-minimal]
#                                     [--jobs N] [--verify]
#
#   -o DIR      where everything goes (default: ./clinical-output); it must be empty or absent
#   --images    which images the steps run in: the catalog's (`berth-catalog/TOOL:TAG`, the
#               descriptors' own; the default) or the ones catalog/measure.sh minified
#               (`berth-minified/TOOL:TAG-standard` or `...-minimal`)
#   --jobs N    containers at once (default 2)
#   --verify    then `berth verify` both pipeline runs (re-executes every task, compares outputs)
#
# What it does (README.md explains the design):
#   1. the data: scripts/fetch-test-data.sh pydicom heudiconv (a cache outside the repository);
#      DIR/study/ is a DICOM study laid out by patient and series, copied from it;
#   2. stage 1, convert.yaml: DCMTK decompresses the RLE and JPEG-LS series, dcm2niix converts
#      every series, named by participant -> DIR/stage1/;
#   3. DIR/bids/: the raw BIDS dataset, stage 1's published `sub-*` trees merged, with
#      dataset_description.json (GeneratedBy: stage 1's pipeline run) and participants.tsv;
#   4. stage 2, process.yaml, over DIR/bids: MRtrix3 regrid and statistics, nibabel-stats,
#      elastix on the diffusion participant, a group summary -> DIR/derivatives/ (one BIDS
#      derivatives dataset per step, and derivatives/reports/<run>.html, the HTML report);
#   5. DIR/runs.env: STAGE1_RUN and STAGE2_RUN, the two pipeline run ids (for `berth verify`,
#      `berth pipeline report`, `berth pipeline export`).
#
# Environment: BERTH_BIN (default: `berth` on PATH, else the repository's target/release/berth),
# DOCKER (default docker; DOCKER_HOST as usual), BERTH_HOME (berth's state, as always).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
docker="${DOCKER:-docker}"

say() { printf 'clinical-pipeline: %s\n' "$*" >&2; }
die() {
    say "error: $1"
    [[ -z "${2:-}" ]] || say "hint: $2"
    exit 1
}

out="clinical-output"
images="catalog"
jobs=2
verify=0
while (($# > 0)); do
    case "$1" in
    -o | --output-dir)
        [[ -n "${2:-}" ]] || die "$1 needs a directory"
        out="$2"
        shift 2
        ;;
    --images)
        [[ -n "${2:-}" ]] || die "--images needs a value" "catalog, minified-standard or minified-minimal"
        images="$2"
        shift 2
        ;;
    --jobs)
        [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number"
        jobs="$2"
        shift 2
        ;;
    --verify)
        verify=1
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown argument \`$1\`" "run.sh --help" ;;
    esac
done
case "$images" in
catalog) suffix="" ;;
minified-standard) suffix="-standard" ;;
minified-minimal) suffix="-minimal" ;;
*) die "unknown --images \`$images\`" "catalog, minified-standard or minified-minimal" ;;
esac

berth="${BERTH_BIN:-$(command -v berth || printf '%s' "$repo/target/release/berth")}"
[[ -x "$berth" ]] || die "no berth binary at $berth" "cargo build --release -p berth, or set BERTH_BIN"
command -v python3 >/dev/null || die "python3 is needed (it writes the BIDS metadata)"
"$docker" info >/dev/null 2>&1 || die "no Docker daemon answers at ${DOCKER_HOST:-the default socket}" \
    "eval \"\$(scripts/dockerd.sh start)\""

mkdir -p -- "$out"
out="$(cd -- "$out" && pwd)"
[[ -z "$(ls -A -- "$out")" ]] || die "$out is not empty" "choose a new -o DIR (the step cache makes a rerun fast)"

# The images: the descriptors' own, or their minified versions.
descriptors=(
    "$repo/catalog/dcmtk/dcmtk.json"
    "$repo/catalog/dcm2niix/dcm2niix.json"
    "$repo/catalog/mrtrix3/mrgrid.json"
    "$repo/catalog/mrtrix3/mrstats.json"
    "$repo/catalog/mrtrix3/mrtrix3.json"
    "$repo/catalog/nibabel-stats/nibabel-stats.json"
    "$repo/catalog/elastix/elastix.json"
    "$here/group-summary.json"
)
image_of() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["container-image"]["image"])' "$1"; }
minified_of() { # berth-catalog/TOOL:TAG -> berth-minified/TOOL:TAG-MODE
    local tag="$1"
    [[ "$tag" == berth-catalog/*:* ]] || die "$tag is not a catalog image, so it has no minified version"
    printf 'berth-minified/%s%s' "${tag#berth-catalog/}" "$suffix"
}
for d in "${descriptors[@]}"; do
    image="$(image_of "$d")"
    [[ -z "$suffix" ]] || image="$(minified_of "$image")"
    "$docker" image inspect "$image" >/dev/null 2>&1 || {
        if [[ -z "$suffix" ]]; then
            die "$image is not loaded" "catalog/build.sh all (or catalog/test.sh)"
        else
            die "$image is not loaded" "catalog/measure.sh (it tags berth-minified/TOOL:TAG-standard and -minimal)"
        fi
    }
done

# 1. The data, and the study.
say "data: scripts/fetch-test-data.sh pydicom heudiconv"
pydicom="$("$repo/scripts/fetch-test-data.sh" pydicom)"
heudiconv="$("$repo/scripts/fetch-test-data.sh" heudiconv)"
study="$out/study"
put() { # put SOURCE DEST-DIR: a writable copy
    mkdir -p -- "$2"
    cp -- "$1" "$2/"
    chmod u+w -- "$2/$(basename -- "$1")"
}
put "$pydicom/pydicom/data/test_files/MR_small_RLE.dcm" "$study/4MR1-rle"
put "$pydicom/pydicom/data/test_files/MR_small_jpeg_ls_lossless.dcm" "$study/4MR1-jpegls"
for f in "$heudiconv/heudiconv/tests/data/b0dwiForFmap/"*.dcm; do
    put "$f" "$study/ke6hL9Lm/dMRI_mb3_AP_1.5"
done
put "$heudiconv/heudiconv/tests/data/01-anat-scout/0001.dcm" "$study/phantom1-sid1/anat-scout"
say "study: $(find "$study" -type f | wc -l) DICOM files in $study"

# The pipeline files: the example's, or copies whose steps name the minified images.
if [[ -z "$suffix" ]]; then
    convert="$here/convert.yaml"
    process="$here/process.yaml"
else
    mkdir -p -- "$out/pipelines"
    convert="$out/pipelines/convert.yaml"
    process="$out/pipelines/process.yaml"
    for name in convert process; do
        # Every `descriptor: FILE` line gets an absolute path and an `image:` line after it;
        # `script: FILE` an absolute path. The files are the example's: no other line changes.
        python3 - "$here/$name.yaml" "$out/pipelines/$name.yaml" "$suffix" <<'PY'
import json, os, re, sys
src, dst, suffix = sys.argv[1:4]
base = os.path.dirname(src)
lines = []
for line in open(src):
    m = re.match(r"^(\s+)(descriptor|script): (\S+)\s*$", line)
    if m:
        indent, key, path = m.groups()
        path = os.path.normpath(os.path.join(base, path))
        lines.append(f"{indent}{key}: {json.dumps(path)}\n")
        if key == "descriptor":
            tag = json.load(open(path))["container-image"]["image"]
            assert tag.startswith("berth-catalog/"), tag
            lines.append(f"{indent}image: {json.dumps('berth-minified/' + tag[len('berth-catalog/'):] + suffix)}\n")
        continue
    lines.append(line)
open(dst, "w").write("".join(lines))
PY
    done
    say "pipelines with the minified images: $out/pipelines/"
fi

run_pipeline() { # run_pipeline LOG ARGS...: prints the pipeline run id
    local log="$1" id
    shift
    if ! "$berth" pipeline run "$@" --jobs "$jobs" --json >"$log.json" 2>"$log"; then
        cat -- "$log" >&2
        die "berth pipeline run failed (its JSON: $log.json)"
    fi
    id="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$log.json")"
    grep -v '^berth: .* \(succeeded\|cached\|running\|skipped: .*if-missing: skip.*\|skipped: .* is skipped\)$' -- "$log" >&2 || true
    printf '%s' "$id"
}

# 2. Stage 1: DICOM -> NIfTI with BIDS names.
say "stage 1: $convert"
stage1="$(run_pipeline "$out/stage1.log" "$convert" --param "study=$study" -o "$out/stage1")"

# 3. The raw BIDS dataset: stage 1's published trees merged.
bids="$out/bids"
mkdir -p -- "$bids"
for task in "$out/stage1"/convert_*/*/; do
    for sub in "$task"sub-*; do
        [[ -d "$sub" ]] || die "stage 1 task $task published no sub-* directory"
        label="$(basename -- "$sub")"
        # One participant's files may come from several tasks; a file twice is an error.
        (cd -- "$sub" && find . -type f -print0) | while IFS= read -r -d '' f; do
            [[ ! -e "$bids/$label/$f" ]] || die "two stage 1 tasks wrote $label/${f#./}"
            mkdir -p -- "$(dirname -- "$bids/$label/$f")"
            cp -- "$sub/$f" "$bids/$label/$f"
        done
    done
done
python3 - "$bids" "$stage1" "$berth" "$convert" <<'PY'
import json, os, subprocess, sys
bids, run, berth, pipeline = sys.argv[1:5]
version = subprocess.run([berth, "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
shown = json.loads(subprocess.run([berth, "pipeline", "show", run, "--json"], capture_output=True, text=True, check=True).stdout)
# The tools and images of stage 1, from its tasks' provenance (`berth show RUN --json`).
tools = {}
for t in shown.get("tasks", []):
    rid = t.get("run_id")
    if not rid:
        continue
    r = json.loads(subprocess.run([berth, "show", rid, "--json"], capture_output=True, text=True, check=True).stdout)
    tools[t["step"]] = r["berth"]
generated = [{"Name": "berth", "Version": version,
              "Description": f"pipeline `clinical-dicom-to-bids` ({os.path.basename(pipeline)}), run {run}: DICOM study to BIDS"}]
for step in sorted(tools):
    r = tools[step]
    entry = {"Name": r["tool"]["name"], "Version": r["tool"]["version"], "Description": f"step `{step}`",
             "Container": {"Type": "docker", "Tag": r["image"]["ref"], "URI": f"docker-image://{r['image']['id']}"}}
    generated.append(entry)
desc = {"Name": "Clinical example: the DICOM study in BIDS", "BIDSVersion": "1.10.0", "DatasetType": "raw",
        "GeneratedBy": generated}
with open(os.path.join(bids, "dataset_description.json"), "w") as f:
    json.dump(desc, f, indent=2)
    f.write("\n")
labels = sorted(d for d in os.listdir(bids) if d.startswith("sub-") and os.path.isdir(os.path.join(bids, d)))
with open(os.path.join(bids, "participants.tsv"), "w") as f:
    f.write("participant_id\n" + "".join(l + "\n" for l in labels))
with open(os.path.join(bids, "README"), "w") as f:
    f.write("Converted by berth's clinical example (examples/clinical-pipeline) from public test DICOM\n"
            "files that the pydicom 2.4.4 and heudiconv 1.1.6 packages ship.\n")
PY
say "raw BIDS dataset: $bids ($(find "$bids" -maxdepth 1 -name 'sub-*' | wc -l) participants)"

# 4. Stage 2: the BIDS pipeline.
say "stage 2: $process"
stage2="$(run_pipeline "$out/stage2.log" "$process" --bids "$bids" -o "$out/derivatives")"
printf 'STAGE1_RUN=%s\nSTAGE2_RUN=%s\nIMAGES=%s\n' "$stage1" "$stage2" "$images" >"$out/runs.env"

say "done: stage 1 run $stage1, stage 2 run $stage2 (images: $images)"
say "  raw BIDS:    $bids"
say "  derivatives: $out/derivatives/{regrid,mrstats,nibstats,register}/ and group/"
say "  report:      $out/derivatives/reports/$stage2.html (stage 1: $out/stage1/reports/$stage1.html)"

if ((verify)); then
    for run in "$stage1" "$stage2"; do
        say "berth verify $run"
        "$berth" verify "$run" -o "$out/verify-$run"
    done
fi
