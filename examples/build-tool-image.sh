#!/usr/bin/env bash
# Builds the image of one of berth's example tools: its binary, linked fully statically, alone
# in an otherwise empty (`FROM scratch`) image, with its Boutiques descriptor in the label
# `org.berth.boutiques.descriptor`.
#
# Usage: examples/build-tool-image.sh PACKAGE BINARY DESCRIPTOR [--no-load]
#   e.g. examples/build-tool-image.sh dicom-stats dicom-summary examples/dicom-stats/dicom-summary.json
#   --no-load   only write the archive (target/berth-images/BINARY-<version>.tar)
#
# The image is written as a `docker save` archive by examples/dicom-normalize/docker_archive.py
# (no builder and no network needed) and loaded with `$DOCKER load`, so it goes to whatever
# engine DOCKER_HOST points at. DOCKER defaults to `docker`; `podman` works too.
# SOURCE_DATE_EPOCH, if set, dates the image; otherwise the last commit does.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target=x86_64-unknown-linux-gnu
(($# >= 3)) || { echo "usage: $0 PACKAGE BINARY DESCRIPTOR [--no-load]" >&2; exit 2; }
package="$1" binary_name="$2" descriptor="$(cd "$(dirname "$3")" && pwd)/$(basename "$3")"
load=1
case "${4:-}" in
    "") ;;
    --no-load) load=0 ;;
    *) echo "usage: $0 PACKAGE BINARY DESCRIPTOR [--no-load]" >&2; exit 2 ;;
esac

# Every fact about the package comes from Cargo, every fact about the image from the
# descriptor; they must agree.
read -r version license repository description < <(
    cargo metadata --no-deps --format-version 1 --manifest-path "$root/Cargo.toml" |
        python3 -c '
import json, sys
pkg = next(p for p in json.load(sys.stdin)["packages"] if p["name"] == sys.argv[1])
missing = [k for k in ("version", "license", "repository", "description") if not pkg.get(k)]
if missing:
    sys.exit("error: the " + sys.argv[1] + " package sets no " + ", ".join(missing))
print(pkg["version"], pkg["license"], pkg["repository"], pkg["description"])' "$package"
)
read -r tool_version image < <(
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["tool-version"], d["container-image"]["image"])' "$descriptor"
)
if [[ "$tool_version" != "$version" || "$image" != "berth-example/$binary_name:$version" ]]; then
    echo "error: $descriptor says tool-version $tool_version and image $image," \
        "but the crate is version $version" >&2
    echo "hint: update tool-version and container-image.image in the descriptor" >&2
    exit 1
fi

# +crt-static with an explicit --target links the binary (and only the binary: build
# scripts and proc-macros are built for the host without it) against static glibc.
# The tools do no DNS or user lookups, so glibc's NSS is never needed.
# Paths are remapped so the binary does not record where it was built.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=$root=/berth --remap-path-prefix=$cargo_home=/cargo" \
CARGO_PROFILE_RELEASE_DEBUG=false \
CARGO_PROFILE_RELEASE_STRIP=symbols \
    cargo build --release --locked --target "$target" -p "$package" --bin "$binary_name" \
    --manifest-path "$root/Cargo.toml"
binary="$root/target/$target/release/$binary_name"
# The binary must run on its own before it goes into an image without a loader.
"$binary" --version >/dev/null

epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct)}"
archive="$root/target/berth-images/$binary_name-$version.tar"
mkdir -p "$(dirname "$archive")"
image_id="$(python3 "$root/examples/dicom-normalize/docker_archive.py" \
    --binary "$binary" \
    --name "$binary_name" \
    --tag "$image" \
    --descriptor "$descriptor" \
    --label "org.opencontainers.image.title=$binary_name" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.description=$description" \
    --label "org.opencontainers.image.source=$repository" \
    --label "org.opencontainers.image.licenses=$license" \
    --epoch "$epoch" \
    --output "$archive")"
echo "wrote $archive (image $image_id)"

if ((load)); then
    "${DOCKER:-docker}" load --input "$archive"
    echo "loaded $image"
fi
