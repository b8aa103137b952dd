#!/usr/bin/env python3
"""Writes a `docker load`-able image archive holding one static binary, byte for byte
reproducibly, without a container engine, a builder or the network.

Why not `docker build`: a `FROM scratch` Dockerfile needs the classic builder
(`DOCKER_BUILDKIT=0`, deprecated and absent from some engines) or BuildKit (a separate
buildx plugin on Debian's docker.io). Writing the archive ourselves needs neither, loads
into any engine that reads the `docker save` format (Docker, Podman), and fixes every
timestamp, owner and ordering, so the image ID depends only on the binary, the
descriptor and the date given.

Layout (the `docker save` format): manifest.json, <config digest>.json and
<layer digest>/layer.tar; the single layer holds /usr/local/bin/<name> (root, 0755).
"""

import argparse
import hashlib
import io
import json
import struct
import sys
import tarfile
from datetime import datetime, timezone


def is_static_elf(data):
    """True when the ELF executable has no PT_INTERP program header (no dynamic loader)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("error: the binary is not a little-endian 64-bit ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def add(tar, name, mtime, mode, data=None):
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for entry in entries:
            add(tar, *entry)
    return buf.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="static executable to put in the image")
    parser.add_argument("--name", required=True, help="file name under /usr/local/bin")
    parser.add_argument("--tag", required=True, help="repository:tag recorded in the archive")
    parser.add_argument("--descriptor", required=True, help="Boutiques descriptor to embed as a label")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--epoch", type=int, required=True, help="timestamp of every file and of the image")
    parser.add_argument("--output", required=True, help="archive to write")
    args = parser.parse_args()

    binary = open(args.binary, "rb").read()
    if not is_static_elf(binary):
        print(f"error: {args.binary} needs a dynamic loader; a scratch image cannot run it", file=sys.stderr)
        return 1
    with open(args.descriptor) as f:
        descriptor = json.load(f)

    mtime = args.epoch
    layer = tar_bytes(
        [
            ("usr", mtime, 0o755),
            ("usr/local", mtime, 0o755),
            ("usr/local/bin", mtime, 0o755),
            (f"usr/local/bin/{args.name}", mtime, 0o755, binary),
        ]
    )
    layer_digest = hashlib.sha256(layer).hexdigest()
    created = datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = dict(label.split("=", 1) for label in args.label)
    # Compact, key order kept: the label is the descriptor, not a re-formatted copy of it.
    labels["org.berth.boutiques.descriptor"] = json.dumps(descriptor, separators=(",", ":"), ensure_ascii=False)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            # No Entrypoint: the runner passes the descriptor's command line, which starts
            # with the executable's name, as the container command.
            "Cmd": [args.name, "--help"],
            "Env": ["PATH=/usr/local/bin"],
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created": created, "created_by": f"docker_archive.py: static {args.name} in /usr/local/bin"}],
    }
    config_bytes = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": f"{config_digest}.json", "RepoTags": [args.tag], "Layers": [f"{layer_digest}/layer.tar"]}]
    archive = tar_bytes(
        [
            (f"{layer_digest}", mtime, 0o755),
            (f"{layer_digest}/layer.tar", mtime, 0o644, layer),
            (f"{config_digest}.json", mtime, 0o644, config_bytes),
            ("manifest.json", mtime, 0o644, json.dumps(manifest, separators=(",", ":")).encode()),
        ]
    )
    with open(args.output, "wb") as f:
        f.write(archive)
    print(f"sha256:{config_digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
