#!/usr/bin/env bash
# Build (once) and print the path of a Debian root filesystem used by berth's scanning tests,
# peer comparisons and benchmarks.
#
#   scripts/test-rootfs.sh minbase     debootstrap --variant=minbase bookworm
#   scripts/test-rootfs.sh analysis    minbase + python3, pip, build-essential, numpy, nibabel,
#                                      dcm2niix and other packages typical of analysis images,
#                                      plus pip-installed packages in /usr/local
#   scripts/test-rootfs.sh tarball NAME    a gzip-less tar of NAME's root (for `docker import`)
#   scripts/test-rootfs.sh archive NAME    a one-layer `docker save`-format archive of NAME
#
# Results are cached under $BERTH_FIXTURE_DIR (default: <repo>/target/berth-fixtures) and reused
# while this script's fixture version is unchanged. The Debian mirror is read at run time from
# the machine's own apt sources (the `URIs:` line of /etc/apt/sources.list.d/*.sources, or the
# first `deb` line of /etc/apt/sources.list); it is never written anywhere. Needs root (debootstrap,
# chroot); installs Debian's `debootstrap` with apt-get when missing.
# Only the resulting path goes to stdout; progress goes to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${BERTH_FIXTURE_DIR:-$repo/target/berth-fixtures}"
# Bump when what a fixture contains changes, so cached builds are redone.
fixture_version=4
suite=bookworm

say() { printf 'test-rootfs.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Debian packages of the "analysis" fixture: what neuroimaging tool images typically carry.
analysis_debs=(
    python3 python3-pip python3-venv build-essential git curl ca-certificates
    python3-numpy python3-scipy python3-nibabel python3-requests dcm2niix libgomp1
)
# pip packages installed on top, into /usr/local (files not owned by any deb); requests is
# newer than the deb's, so two versions of it are installed side by side, as in real images.
# Some are pinned old on purpose, as analysis images pin them for years: the PyPA advisories
# in ../shared/fixtures/advisories/ then have real findings to report (Pillow, Jinja2, urllib3).
analysis_pips=(pydicom==2.4.4 tqdm==4.66.4 PyYAML==6.0.1 requests==2.32.3
    urllib3==1.26.4 Jinja2==2.11.2 MarkupSafe==2.1.3 Pillow==9.3.0)

mirror() {
    local uri=""
    if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
        uri="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)"
    fi
    if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
        uri="$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)"
    fi
    [[ -n "$uri" ]] || die "no Debian mirror found in the machine's apt sources"
    printf '%s\n' "$uri"
}

need_root() { [[ "$(id -u)" == 0 ]] || die "building $1 needs root (debootstrap and chroot)"; }

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    need_root debootstrap
    say "installing debootstrap with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends debootstrap >&2; then
        apt-get -o DPkg::Lock::Timeout=600 update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends debootstrap >&2
    fi
}

# A directory is complete when its stamp names this script's fixture version.
done_stamp() { [[ -f "$1.stamp" && "$(cat "$1.stamp")" == "$fixture_version" ]]; }

# Serialize concurrent builds of the same fixture (tests run in parallel).
with_lock() {
    local name="$1"
    shift
    local fd
    mkdir -p "$cache"
    exec {fd}>"$cache/$name.lock"
    flock "$fd"
    "$@"
    exec {fd}>&-
}

build_minbase() {
    local dir="$cache/minbase"
    done_stamp "$dir" && return 0
    ensure_debootstrap
    need_root minbase
    rm -rf "$dir" "$dir.stamp"
    say "debootstrap --variant=minbase $suite (about 40 s)"
    debootstrap --variant=minbase "$suite" "$dir" "$(mirror)" >"$cache/minbase.log" 2>&1 \
        || { tail -n 20 "$cache/minbase.log" >&2; die "debootstrap failed (log: $cache/minbase.log)"; }
    rm -rf "$dir/var/cache/apt/archives/"*.deb
    printf '%s\n' "$fixture_version" >"$dir.stamp"
}

build_analysis() {
    local dir="$cache/analysis"
    done_stamp "$dir" && return 0
    with_lock minbase build_minbase
    need_root analysis
    rm -rf "$dir" "$dir.stamp"
    say "copying minbase and installing ${#analysis_debs[@]} packages with their dependencies"
    cp -a "$cache/minbase" "$dir"
    local log="$cache/analysis.log"
    : >"$log"
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    mount -t proc proc "$dir/proc"
    trap 'umount "'"$dir"'/proc" 2>/dev/null || true' RETURN
    # The wheels are fetched by the host's pip (its index and certificates), then installed
    # inside the root without network, as a Dockerfile's `pip install` would leave them.
    (
        set -e
        chroot "$dir" apt-get -o DPkg::Lock::Timeout=600 update -q
        DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${analysis_debs[@]}"
        mkdir -p "$dir/tmp/wheels"
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
            --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$dir/tmp/wheels" "${analysis_pips[@]}"
        chroot "$dir" env -u PIP_FIND_LINKS PIP_DISABLE_PIP_VERSION_CHECK=1 pip3 install --no-index --find-links /tmp/wheels \
            --no-cache-dir --no-deps --ignore-installed --break-system-packages "${analysis_pips[@]}"
        rm -rf "$dir/tmp/wheels"
        chroot "$dir" apt-get clean
    ) >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "building the analysis rootfs failed (log: $log)"; }
    rm -rf "$dir/var/lib/apt/lists/"*
    printf '%s\n' "$fixture_version" >"$dir.stamp"
}

build_tarball() {
    local name="$1" tar="$cache/$1.tar"
    if [[ -f "$tar" && "$tar" -nt "$cache/$name.stamp" ]]; then return 0; fi
    build_one "$name" >/dev/null
    say "packing $name into $tar"
    tar --numeric-owner --xattrs -C "$cache/$name" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
}

build_archive() {
    local name="$1" out="$cache/$1.docker-archive.tar"
    # The tarball first (a no-op when it is newer than the root filesystem), so an archive is
    # never older than a rebuilt root filesystem.
    with_lock "$name-tar" build_tarball "$name"
    if [[ -f "$out" && "$out" -nt "$cache/$name.tar" ]]; then return 0; fi
    say "wrapping $name.tar into a docker archive"
    # The layout of `docker save` (Docker 20.10): <id>/layer.tar, <config>.json, manifest.json.
    python3 - "$cache/$name.tar" "$out.tmp" "berth-test/$name:latest" <<'PY'
import hashlib, io, json, sys, tarfile
layer, out, tag = sys.argv[1:4]
h = hashlib.sha256()
with open(layer, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
diff_id = "sha256:" + h.hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                     "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                     "history": [{"created_by": "debootstrap (berth scripts/test-rootfs.sh)"}]}).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [h.hexdigest() + "/layer.tar"]}]).encode()
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    t.add(layer, arcname=h.hexdigest() + "/layer.tar")
    for name, data in ((config_name, config), ("manifest.json", manifest)):
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
PY
    mv "$out.tmp" "$out"
}

build_one() {
    case "$1" in
    minbase) with_lock minbase build_minbase ;;
    analysis) with_lock analysis build_analysis ;;
    *) die "unknown fixture \`$1\`: expected \`minbase\` or \`analysis\`" ;;
    esac
    printf '%s\n' "$cache/$1"
}

case "${1:-}" in
minbase | analysis) build_one "$1" ;;
tarball)
    [[ -n "${2:-}" ]] || die "usage: $0 tarball minbase|analysis"
    with_lock "$2-tar" build_tarball "$2"
    printf '%s\n' "$cache/$2.tar"
    ;;
archive)
    [[ -n "${2:-}" ]] || die "usage: $0 archive minbase|analysis"
    with_lock "$2-archive" build_archive "$2"
    printf '%s\n' "$cache/$2.docker-archive.tar"
    ;;
*)
    printf 'usage: %s minbase|analysis|tarball NAME|archive NAME\n' "$0" >&2
    exit 2
    ;;
esac
