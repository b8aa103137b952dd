#!/usr/bin/env bash
# Builds the example image `berth-example/dicom-normalize:<version>`: the dicom-normalize
# binary, linked fully statically, alone in an otherwise empty (`FROM scratch`) image, with
# the Boutiques descriptor in the label `org.berth.boutiques.descriptor`
# (examples/build-tool-image.sh does the work; see it for the details).
#
# Usage: examples/dicom-normalize/build-image.sh [--no-load]
#   --no-load   only write the archive (target/berth-images/dicom-normalize-<version>.tar)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/../build-tool-image.sh" dicom-normalize dicom-normalize "$here/dicom-normalize.json" "$@"
