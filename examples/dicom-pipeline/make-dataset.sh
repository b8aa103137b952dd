#!/usr/bin/env bash
# Writes the example pipeline's BIDS-shaped sample dataset: four participants, one of them
# (sub-03) with two sessions, one synthetic MR slice each (tools/dicom-phantom, a different
# noise seed per image, so every image and every UID differs). Deterministic: the same files,
# byte for byte, every time.
#
# Usage: examples/dicom-pipeline/make-dataset.sh [DIR]   (default: examples/dicom-pipeline/data/bids)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
root="$(cd "$here/../.." && pwd -P)"
out="${1:-$here/data/bids}"

# The images come from tools/dicom-phantom, a small program of this repository: built here
# (a debug build; seconds once its dependencies are built), or taken from DICOM_PHANTOM.
phantom="${DICOM_PHANTOM:-}"
if [[ -z "$phantom" ]]; then
    echo "building tools/dicom-phantom (the synthetic-image generator)" >&2
    cargo build --quiet --locked -p dicom-phantom --manifest-path "$root/Cargo.toml"
    phantom="${CARGO_TARGET_DIR:-$root/target}/debug/dicom-phantom"
fi

mkdir -p "$out"
cat > "$out/dataset_description.json" <<'JSON'
{
    "Name": "berth example: synthetic MR slices",
    "BIDSVersion": "1.8.0",
    "DatasetType": "raw",
    "GeneratedBy": [{"Name": "dicom-phantom", "Description": "tools/dicom-phantom in the berth repository"}]
}
JSON
printf 'participant_id\tgroup\nsub-01\tcontrol\nsub-02\tcontrol\nsub-03\tpatient\nsub-04\tpatient\n' > "$out/participants.tsv"
seed=1
for image in sub-01/anat/sub-01_T1w sub-02/anat/sub-02_T1w sub-03/ses-1/anat/sub-03_ses-1_T1w \
    sub-03/ses-2/anat/sub-03_ses-2_T1w sub-04/anat/sub-04_T1w; do
    mkdir -p "$out/$(dirname "$image")"
    "$phantom" --seed "$seed" "$out/$image.dcm" >/dev/null
    seed=$((seed + 1))
done
echo "wrote $out"
