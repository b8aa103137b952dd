#!/usr/bin/env bash
# Build (once) and load the image of one catalog tool, or of all of them.
#
#   catalog/build.sh TOOL [--no-load]   build catalog/TOOL's image; print `TAG<TAB>ARCHIVE`
#   catalog/build.sh all [--no-load]    every tool that has a `packages` file, one line each
#   catalog/build.sh list               the tool names
#
# A tool's recipe is its directory: `packages` (Debian 12 packages, one a line, the first is the
# main one and gives the image its version), `TOOL.json` (the Boutiques descriptor, carried in
# the label `org.berth.boutiques.descriptor`), optionally `command.json` (an XNAT Command list,
# label `org.nrg.commands`), `image.json` (config overrides: User, Entrypoint, Cmd, Env,
# WorkingDir, and `licenses` for the OCI label) and `files/` (copied into the root as laid out).
#
# How: a debootstrap minbase root (scripts/test-rootfs.sh, which reads the Debian mirror from
# this machine's apt sources; no mirror name is written anywhere, and the image's own apt
# sources are emptied) is copied, `apt-get install --no-install-recommends` adds the packages,
# apt's lists and caches and every file that records when or where it was built are removed or
# normalized, the installed versions go to /usr/share/berth/packages.txt (and to the label
# `org.berth.debian.packages`), and the root is packed into a one-layer `docker save` archive
# with every time set to SOURCE_DATE_EPOCH, files sorted, numeric owners — so the same recipe
# and the same package versions give the same layer digest. The archive is loaded with
# `${DOCKER:-docker} load` as `berth-catalog/TOOL:<Debian version of the main package>`, which
# must be the descriptor's `container-image.image`.
#
# Cache: ${BERTH_FIXTURE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/fixtures}/catalog/
#   base/                         the minbase root (scripts/test-rootfs.sh's cache)
#   TOOL-<recipe hash>/image-<label hash>.tar   the archive (labels: descriptor, Command, image.json;
#                                 recipe: the functions that build and pack the root,
#                                 scripts/test-rootfs.sh, `packages` and `files/`; first 16 hex
#                                 digits of a sha256)
#   TOOL-<recipe hash>/layer.tar.sha256, packages.txt   the layer's digest, the installed versions
# The tool's root and its packed layer are intermediates, removed once the archive is written (a
# label change takes the layer back out of the old archive), and caches of an older recipe or
# older labels are removed: one copy of each image on disk.
# Each step is skipped when its result exists, built in a temporary path and renamed, and runs
# under a lock per tool, so parallel callers build each thing once. Needs root (debootstrap,
# chroot), python3, and a Docker engine for loading (DOCKER_HOST is honoured).
# Data (tag, archive) on stdout; progress on stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
fixtures="${BERTH_FIXTURE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/fixtures}/catalog"
# The one date every image carries (2024-01-01T00:00:00Z), so rebuilds are byte-identical.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1704067200}"
docker="${DOCKER:-docker}"

say() { printf 'catalog/build.sh: %s\n' "$*" >&2; }
die() {
    say "error: $1"
    [[ -z "${2:-}" ]] || say "hint: $2"
    exit 1
}

tools() {
    local d
    for d in "$here"/*/; do
        [[ -f "$d/packages" ]] && basename "$d"
    done
}

# The recipe hash of a tool's root filesystem: everything that decides what is in it.
recipe_hash() {
    local tool="$1" dir="$here/$1"
    {
        # The functions that make the root and its layer, not the whole script: how the cache
        # is kept does not change what is in an image.
        declare -f build_rootfs pack_layer | sha256sum | awk '{print $1}'
        sha256sum "$repo/scripts/test-rootfs.sh" "$dir/packages" | awk '{print $1}'
        if [[ -d "$dir/files" ]]; then
            (cd "$dir/files" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
            (cd "$dir/files" && find . -print0 | LC_ALL=C sort -z | xargs -0r stat -c '%n %a %F')
        fi
    } | sha256sum | cut -c1-16
}

packages_of() {
    # Lines of `packages` without comments or blanks.
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$1" | awk 'NF'
}

# Runs in a subshell so its traps (unmount /proc, remove the temporary root) fire on any exit.
build_rootfs() (
    local tool="$1" out="$2"
    local base
    base="$(BERTH_FIXTURE_DIR="$fixtures/base" "$repo/scripts/test-rootfs.sh" minbase)" \
        || die "could not build the Debian minbase root" "see scripts/test-rootfs.sh's message above"
    local tmp="$out.tmp"
    rm -rf "$tmp"
    say "$tool: copying the minbase root"
    cp -a "$base" "$tmp"
    trap 'umount "'"$tmp"'/proc" 2>/dev/null || true; rm -rf "'"$tmp"'"' EXIT
    local log="$out.log"
    : >"$log"
    local pkgs
    mapfile -t pkgs < <(packages_of "$here/$tool/packages")
    ((${#pkgs[@]} > 0)) || die "$here/$tool/packages lists no package" "one Debian package name a line"
    cp /etc/resolv.conf "$tmp/etc/resolv.conf"
    mount -t proc proc "$tmp/proc"
    say "$tool: apt-get install --no-install-recommends ${pkgs[*]} (log: $log)"
    if ! (
        set -e
        chroot "$tmp" apt-get -o DPkg::Lock::Timeout=600 update -q
        DEBIAN_FRONTEND=noninteractive chroot "$tmp" apt-get -o DPkg::Lock::Timeout=600 install -y -q \
            --no-install-recommends "${pkgs[@]}"
        chroot "$tmp" apt-get clean
    ) >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "installing the packages of $tool failed (log: $log)" \
            "check the names in $here/$tool/packages with \`apt-cache policy NAME\`"
    fi
    umount "$tmp/proc"
    if [[ -d "$here/$tool/files" ]]; then
        say "$tool: copying files/ into the root"
        cp -a --no-preserve=ownership "$here/$tool/files/." "$tmp/"
    fi
    # Record what is installed: the image says what it is made of.
    mkdir -p "$tmp/usr/share/berth"
    chroot "$tmp" dpkg-query -W -f '${binary:Package}=${Version}\n' | LC_ALL=C sort >"$tmp/usr/share/berth/packages.txt"
    # Forget the build: the mirror, the resolver, logs, caches and dates of this machine.
    rm -rf "$tmp/var/lib/apt/lists/"* "$tmp/var/cache/apt/"*.bin "$tmp/var/cache/apt/archives/"*.deb \
        "$tmp/var/log/"* "$tmp/var/cache/ldconfig/aux-cache" "$tmp/var/cache/debconf/"*-old \
        "$tmp/var/lib/dpkg/"*-old "$tmp/etc/"*- "$tmp/tmp/"* "$tmp/var/tmp/"* "$tmp/root/".??* 2>/dev/null || true
    mkdir -p "$tmp/var/log/apt"
    rm -f "$tmp/etc/apt/sources.list.d/"*
    printf '%s\n' "# Emptied by berth's catalog/build.sh: the build machine's mirror is not recorded." \
        "# Use \`berth harden update IMAGE --source FILE\` to apply updates from a mirror of yours." \
        >"$tmp/etc/apt/sources.list"
    : >"$tmp/etc/resolv.conf"
    : >"$tmp/etc/machine-id"
    printf 'berth-catalog\n' >"$tmp/etc/hostname"
    # Password-change dates (days since 1970) are set to SOURCE_DATE_EPOCH's day.
    if [[ -f "$tmp/etc/shadow" ]]; then
        awk -F: -v OFS=: -v d="$((SOURCE_DATE_EPOCH / 86400))" '$3 != "" {$3 = d} {print}' \
            "$tmp/etc/shadow" >"$tmp/etc/shadow.new"
        cat "$tmp/etc/shadow.new" >"$tmp/etc/shadow"
        rm -f "$tmp/etc/shadow.new"
    fi
    trap - EXIT
    rm -rf "$out"
    mv "$tmp" "$out"
)

pack_layer() {
    local rootfs="$1" out="$2"
    say "packing $(basename "$(dirname "$rootfs")") into a layer"
    # Sorted names, numeric owners, every time clamped to SOURCE_DATE_EPOCH, no atime/ctime:
    # the same root gives the same bytes.
    tar --sort=name --format=posix --numeric-owner --owner=0 --group=0 \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
        -C "$rootfs" -cf "$out.tmp" . || die "packing $rootfs failed"
    mv "$out.tmp" "$out"
}

write_archive() {
    local tool="$1" layer="$2" out="$3" tag="$4" version="$5" recipe="$6"
    python3 - "$here/$tool" "$tool" "$layer" "$out.tmp" "$tag" "$version" "$recipe" \
        "$(dirname "$layer")/packages.txt" <<'PY' || die "writing the archive of $tool failed"
import datetime, hashlib, io, json, os, sys, tarfile
tool_dir, tool, layer, out, tag, version, recipe, packages_txt = sys.argv[1:9]
epoch = int(os.environ["SOURCE_DATE_EPOCH"])
created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

def load(name):
    path = os.path.join(tool_dir, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            sys.exit(f"catalog/build.sh: error: {path}: not JSON: {e}")

descriptor = load(tool + ".json")
if descriptor is None:
    sys.exit(f"catalog/build.sh: error: {tool_dir}/{tool}.json is missing: every catalog tool has a Boutiques descriptor")
if descriptor.get("container-image", {}).get("image") != tag:
    sys.exit(f"catalog/build.sh: error: {tool_dir}/{tool}.json names image "
             f"{descriptor.get('container-image', {}).get('image')!r}, but the image is {tag!r}\n"
             f"catalog/build.sh: hint: set container-image.image to {tag!r} (the Debian version of the main package changed)")
commands = load("command.json")
overrides = load("image.json") or {}
with open(packages_txt) as f:
    installed = [line.strip() for line in f if line.strip()]
minified = lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False)
labels = {
    "org.berth.boutiques.descriptor": minified(descriptor),
    "org.berth.debian.packages": ",".join(installed),
    "org.berth.catalog.recipe": recipe,
    "org.opencontainers.image.title": descriptor["name"],
    "org.opencontainers.image.version": version,
    "org.opencontainers.image.description": descriptor.get("description", ""),
    "org.opencontainers.image.licenses": overrides.get("licenses", "NOASSERTION"),
    "org.opencontainers.image.created": created,
    "org.opencontainers.image.base.name": "debian:bookworm (debootstrap --variant=minbase)",
}
if commands is not None:
    if not isinstance(commands, list):
        sys.exit(f"catalog/build.sh: error: {tool_dir}/command.json must be a JSON array of XNAT Commands")
    labels["org.nrg.commands"] = minified(commands)
config = {
    "User": overrides.get("User", "65534:65534"),
    "Env": overrides.get("Env", ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                 "LANG=C.UTF-8", "HOME=/tmp"]),
    "WorkingDir": overrides.get("WorkingDir", "/tmp"),
    "Labels": labels,
}
for key in ("Entrypoint", "Cmd"):
    if key in overrides:
        config[key] = overrides[key]
h = hashlib.sha256()
with open(layer, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
image_config = json.dumps({
    "architecture": "amd64", "os": "linux", "created": created, "config": config,
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + h.hexdigest()]},
    "history": [{"created": created, "created_by": f"berth catalog/build.sh {tool} (recipe {recipe})"}],
}, sort_keys=True).encode()
config_name = hashlib.sha256(image_config).hexdigest() + ".json"
manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [h.hexdigest() + "/layer.tar"]}]).encode()
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    info = t.gettarinfo(layer, arcname=h.hexdigest() + "/layer.tar")
    info.mtime, info.uid, info.gid, info.uname, info.gname = epoch, 0, 0, "", ""
    with open(layer, "rb") as f:
        t.addfile(info, f)
    for name, data in ((config_name, image_config), ("manifest.json", manifest)):
        info = tarfile.TarInfo(name)
        info.size, info.mtime = len(data), epoch
        t.addfile(info, io.BytesIO(data))
print("sha256:" + hashlib.sha256(image_config).hexdigest())
PY
    mv "$out.tmp" "$out"
}

# Caches of a tool built from an older recipe are never used again: remove them (a reused
# machine would otherwise keep every version of every image).
prune_other_recipes() {
    local tool="$1" recipe="$2" d
    for d in "$fixtures/$tool"-*; do
        [[ "$d" == "$fixtures/$tool-$recipe" || "$d" == "$fixtures/$tool-$recipe.lock" ]] && continue
        # Only this tool's caches (NAME-<16 hex>), not another tool whose name starts alike.
        [[ "$(basename "$d")" =~ ^"$tool"-[0-9a-f]{16}(\.lock)?$ ]] || continue
        say "$tool: removing the cache of an older recipe ($d)"
        rm -rf "$d"
    done
}

# Makes $cache/layer.tar, layer.tar.sha256 and packages.txt: from an archive of the same recipe
# written before (its layer is the same bytes), else by packing the root (built when missing).
ensure_layer() {
    local tool="$1" cache="$2"
    [[ -f "$cache/layer.tar" && -f "$cache/layer.tar.sha256" && -f "$cache/packages.txt" ]] && return 0
    local previous
    previous="$(find "$cache" -maxdepth 1 -name 'image-*.tar' -print -quit)"
    if [[ -n "$previous" && -f "$cache/layer.tar.sha256" && -f "$cache/packages.txt" ]]; then
        say "$tool: taking the layer from $(basename "$previous")"
        if python3 - "$previous" "$(cat "$cache/layer.tar.sha256")" "$cache/layer.tar.tmp" <<'PY'; then
import hashlib, shutil, sys, tarfile
archive, digest, out = sys.argv[1:4]
h = hashlib.sha256()
with tarfile.open(archive) as t, open(out, "wb") as f:
    src = t.extractfile(digest + "/layer.tar")
    for chunk in iter(lambda: src.read(1 << 20), b""):
        h.update(chunk)
        f.write(chunk)
if h.hexdigest() != digest:
    sys.exit(f"the layer in {archive} is not sha256:{digest}")
PY
            mv "$cache/layer.tar.tmp" "$cache/layer.tar"
            return 0
        fi
        rm -f "$cache/layer.tar.tmp"
        say "$tool: $(basename "$previous") holds no usable layer; rebuilding the root"
    fi
    [[ -d "$cache/rootfs" ]] || build_rootfs "$tool" "$cache/rootfs"
    pack_layer "$cache/rootfs" "$cache/layer.tar"
    sha256sum "$cache/layer.tar" | cut -d' ' -f1 >"$cache/layer.tar.sha256.tmp"
    mv "$cache/layer.tar.sha256.tmp" "$cache/layer.tar.sha256"
    cp "$cache/rootfs/usr/share/berth/packages.txt" "$cache/packages.txt.tmp"
    mv "$cache/packages.txt.tmp" "$cache/packages.txt"
}

build_tool() {
    local tool="$1" load="$2"
    local dir="$here/$tool"
    [[ -f "$dir/packages" ]] || die "no catalog tool \`$tool\` ($dir/packages is missing)" "the tools are: $(tools | tr '\n' ' ')"
    [[ -f "$dir/$tool.json" ]] || die "$dir/$tool.json is missing" "every catalog tool has a Boutiques descriptor named after it"
    [[ "$(id -u)" == 0 ]] || die "building $tool needs root (debootstrap, chroot)" "run as root, or load a prebuilt archive"
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to write the image archive" "apt-get install python3"
    local recipe cache
    recipe="$(recipe_hash "$tool")"
    cache="$fixtures/$tool-$recipe"
    mkdir -p "$fixtures"
    local fd
    exec {fd}>"$fixtures/$tool-$recipe.lock"
    flock "$fd"
    mkdir -p "$cache"
    prune_other_recipes "$tool" "$recipe"
    # What the archive needs: the layer's digest and the installed versions (small files kept),
    # and the layer itself (kept only until the archive is written; see ensure_layer).
    if [[ ! -f "$cache/layer.tar.sha256" || ! -f "$cache/packages.txt" ]]; then
        ensure_layer "$tool" "$cache"
    fi
    local main version tag
    main="$(packages_of "$dir/packages" | head -n 1)"
    version="$(awk -F= -v p="$main" '$1 == p || $1 == p ":amd64" {print $2; exit}' "$cache/packages.txt")"
    [[ -n "$version" ]] || die "$main (the first line of $dir/packages) is not installed in $tool's root (see $cache/packages.txt)"
    # A tag allows only [A-Za-z0-9_.-]: Debian's `+`, `~` and `:` (epoch) become `_`.
    tag="berth-catalog/$tool:$(printf '%s' "$version" | tr '+~:' '___')"
    local labels_hash archive
    local label_files=() f
    for f in "$dir/$tool.json" "$dir/command.json" "$dir/image.json" "$dir/packages"; do
        [[ -f "$f" ]] && label_files+=("$f")
    done
    labels_hash="$({ declare -f write_archive; cat "$cache/layer.tar.sha256" "${label_files[@]}"; } | sha256sum | cut -c1-16)"
    archive="$cache/image-$labels_hash.tar"
    if [[ ! -f "$archive" ]]; then
        ensure_layer "$tool" "$cache"
        say "$tool: writing the image archive"
        write_archive "$tool" "$cache/layer.tar" "$archive" "$tag" "$version" "$recipe" >"$cache/image-$labels_hash.id.tmp"
        mv "$cache/image-$labels_hash.id.tmp" "$cache/image-$labels_hash.id"
    fi
    # One copy of the root on disk: the archive (it holds the layer). The root and the loose
    # layer are intermediates; archives of older labels are superseded.
    rm -rf "$cache/rootfs" "$cache/layer.tar"
    local old
    for old in "$cache"/image-*.tar "$cache"/image-*.id; do
        [[ -e "$old" && "$old" != "$archive" && "$old" != "$cache/image-$labels_hash.id" ]] && rm -f "$old"
    done
    exec {fd}>&-
    if [[ "$load" == 1 ]]; then
        command -v "$docker" >/dev/null 2>&1 || die "\`$docker\` not found: cannot load $archive" \
            "install docker.io, or start berth's private daemon: eval \"\$(scripts/dockerd.sh start)\""
        "$docker" load -i "$archive" >&2 || die "\`$docker load -i $archive\` failed" "is the daemon running? (\`$docker info\`)"
    fi
    printf '%s\t%s\n' "$tag" "$archive"
}

load=1
args=()
for a in "$@"; do
    case "$a" in
    --no-load) load=0 ;;
    *) args+=("$a") ;;
    esac
done
case "${args[0]:-}" in
"" | -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    [[ -n "${args[0]:-}" ]] || exit 2
    ;;
list) tools ;;
all)
    for t in $(tools); do
        build_tool "$t" "$load"
    done
    ;;
*)
    ((${#args[@]} == 1)) || die "expected one tool name, got: ${args[*]}" "catalog/build.sh TOOL|all|list [--no-load]"
    build_tool "${args[0]}" "$load"
    ;;
esac
