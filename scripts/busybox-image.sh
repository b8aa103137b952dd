#!/usr/bin/env bash
# Build and import the tiny test image `berth-test/busybox:latest` from Debian's `busybox-static`.
#
#   DOCKER_HOST=unix://... scripts/busybox-image.sh [TAG]
#
# The image is a root filesystem holding only /bin/busybox (statically linked), one symlink per
# applet in /bin, an empty /tmp, and /etc/passwd + /etc/group naming root and `nobody`. It is made
# with `docker import` (the API's image-import endpoint), so it needs no registry and no network.
# Idempotent: if TAG already exists on the engine, built by this version of the script (the
# label `org.berth.test-image.version`), it does nothing; an older build is replaced. Installs `busybox-static`
# with apt-get when /bin/busybox is missing (needs root).
# The tag alone goes to stdout; diagnostics go to stderr.
set -euo pipefail

tag="${1:-berth-test/busybox:latest}"
# Bump when the image's content changes, so that engines holding an older build re-import it.
# 2: the root directory is 0755 (mktemp's 0700 kept non-root users out of the whole image).
image_version=2
say() { printf 'busybox-image.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "no \`docker\` client on PATH (Debian's docker.io provides one; \`scripts/dockerd.sh start\` installs it)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die "no Docker engine answers at ${DOCKER_HOST:-the default socket}; run \`eval \"\$(scripts/dockerd.sh start)\"\` first"

have="$(docker image inspect --format '{{index .Config.Labels "org.berth.test-image.version"}}' "$tag" 2>/dev/null || true)"
if [[ "$have" == "$image_version" ]]; then
    say "$tag is already present"
    printf '%s\n' "$tag"
    exit 0
fi
[[ -z "$have" ]] || say "replacing $tag (built by version ${have:-?} of this script)"

# Debian's busybox-static installs a statically linked /bin/busybox; the dynamic `busybox`
# package would not run in an image with no libc (the two packages replace each other).
is_static_busybox() {
    [[ -x /bin/busybox ]] && [[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" == "install ok installed" ]]
}
if ! is_static_busybox; then
    [[ "$(id -u)" == 0 ]] || die "no static /bin/busybox and not root: \`sudo apt-get install busybox-static\`"
    say "installing busybox-static with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends busybox-static >&2; then
        apt-get -o DPkg::Lock::Timeout=600 update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends busybox-static >&2
    fi
    is_static_busybox || die "/bin/busybox is still missing or dynamically linked after installing busybox-static"
fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
# The tar's `./` entry becomes the image's `/`: it must be searchable by every user.
chmod 0755 "$root"
mkdir -p "$root/bin" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

# Fixed owner and times so the same busybox gives the same layer.
tar --numeric-owner --owner=0 --group=0 --mtime='@0' --sort=name -C "$root" -cf - . \
    | docker import \
        --change 'CMD ["/bin/sh"]' \
        --change 'ENV PATH=/bin' \
        --change 'LABEL org.opencontainers.image.title=berth-test-busybox' \
        --change "LABEL org.berth.test-image.version=$image_version" \
        - "$tag" >&2
say "imported $tag ($(/bin/busybox | head -n 1))"
printf '%s\n' "$tag"
