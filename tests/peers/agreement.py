#!/usr/bin/env python3
"""Compare berth's package inventory with Syft's and Trivy's on one target.

    python3 tests/peers/agreement.py --target dir:ROOTFS --berth-json BERTH.json
    python3 tests/peers/agreement.py --target docker-archive:FILE --berth-json BERTH.json

Debian packages are compared as (name, version, source name, source version) tuples; Python
distributions as (PEP 503 name, version). Prints the Jaccard index against each peer and every
difference, with its explanation when one is known:

- Syft lists Python distributions that a Debian package installed (python3-numpy's
  `numpy-1.24.2.egg-info`); berth and Trivy count those once, as the deb that owns the files
  (berth reads dpkg's `info/*.list`).

Exits 1 if the deb sets differ from either peer, or a Python difference has no explanation.
The peers are installed by tests/peers/install.sh, and run offline.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def props(component):
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def berth_sets(path):
    inv = json.loads(Path(path).read_text())
    debs, pys = set(), {}
    for p in inv["packages"]:
        if p["kind"] == "deb":
            debs.add((p["name"], p["version"], p.get("source_name") or p["name"], p.get("source_version") or p["version"]))
        elif p["kind"] == "python":
            pys[(normalize(p["name"]), p["version"])] = p["location"]
    return debs, pys


def syft_sets(doc):
    debs, pys = set(), {}
    for c in doc.get("components", []):
        pr = props(c)
        kind = pr.get("syft:package:type")
        if kind == "deb":
            debs.add((c["name"], c["version"], pr.get("syft:metadata:source") or c["name"],
                      pr.get("syft:metadata:sourceVersion") or c["version"]))
        elif kind == "python":
            pys[(normalize(c["name"]), c["version"])] = pr.get("syft:location:0:path", "").lstrip("/")
    return debs, pys


def trivy_sets(doc):
    debs, pys = set(), {}
    for c in doc.get("components", []):
        pr = props(c)
        kind = pr.get("aquasecurity:trivy:PkgType")
        if kind in ("debian", "ubuntu"):
            src_version = pr.get("aquasecurity:trivy:SrcVersion", "")
            if pr.get("aquasecurity:trivy:SrcRelease"):
                src_version += "-" + pr["aquasecurity:trivy:SrcRelease"]
            if pr.get("aquasecurity:trivy:SrcEpoch"):
                src_version = pr["aquasecurity:trivy:SrcEpoch"] + ":" + src_version
            debs.add((c["name"], c["version"], pr.get("aquasecurity:trivy:SrcName") or c["name"], src_version or c["version"]))
        elif kind == "python-pkg":
            pys[(normalize(c["name"]), c["version"])] = pr.get("aquasecurity:trivy:FilePath", "").lstrip("/")
    return debs, pys


def jaccard(a, b):
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def owned_by_deb(rootfs, location):
    """The deb package whose info/*.list names the distribution's metadata directory."""
    if not rootfs or not location:
        return None
    record = re.sub(r"/(METADATA|PKG-INFO)$", "", location.lstrip("/"))
    info = Path(rootfs) / "var/lib/dpkg/info"
    for lst in info.glob("*.list"):
        if ("/" + record + "\n") in lst.read_text(errors="replace"):
            return lst.name[: -len(".list")]
    return None


def run_peer(cmd, env=None):
    start = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - start
    if out.returncode != 0:
        sys.exit(f"peer failed ({' '.join(cmd)}):\n{out.stderr[-3000:]}")
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="dir:ROOTFS or docker-archive:FILE")
    ap.add_argument("--berth-json", required=True)
    ap.add_argument("--rootfs", help="the root filesystem the target was made from (explains Python differences)")
    args = ap.parse_args()

    peers = dict(line.split("=", 1) for line in subprocess.run(
        ["bash", str(REPO / "tests/peers/install.sh")], check=True, capture_output=True, text=True).stdout.split())
    kind, _, where = args.target.partition(":")
    rootfs = args.rootfs or (where if kind == "dir" else None)
    # The peers' outputs and Trivy's cache (a few MB per run) are removed when the comparison ends.
    with tempfile.TemporaryDirectory(prefix="berth-peers-") as d:
        return compare(args, peers, kind, where, rootfs, Path(d))


def compare(args, peers, kind, where, rootfs, tmp):
    env = dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false")
    syft_out, trivy_out = tmp / "syft.json", tmp / "trivy.json"
    t_syft = run_peer([peers["SYFT"], "scan", args.target, "-q", "-o", f"cyclonedx-json={syft_out}"], env)
    trivy_mode = ["rootfs", where] if kind == "dir" else ["image", "--input", where]
    # Philips PAR/REC files (`*.PAR`, nibabel's test data) look like Java archives to Trivy, whose
    # jar analyzer then insists on downloading its Java database: skip them, they hold no packages.
    t_trivy = run_peer([peers["TRIVY"], *trivy_mode[:1], "-q", "--cache-dir", str(tmp / "trivy-cache"),
                        "--skip-version-check", "--disable-telemetry", "--skip-files", "**/*.PAR",
                        "--format", "cyclonedx", "--output", str(trivy_out), *trivy_mode[1:]])

    b_debs, b_pys = berth_sets(args.berth_json)
    results = {"berth": (b_debs, b_pys),
               "syft": syft_sets(json.loads(syft_out.read_text())),
               "trivy": trivy_sets(json.loads(trivy_out.read_text()))}
    failed = False
    print(f"target: {args.target}")
    print(f"peer run time: syft {t_syft:.2f} s, trivy {t_trivy:.2f} s")
    for peer in ("syft", "trivy"):
        p_debs, p_pys = results[peer]
        j = jaccard(b_debs, p_debs)
        print(f"\n[{peer}] deb (name, version, source, source version): berth {len(b_debs)}, {peer} {len(p_debs)}, Jaccard {j:.4f}")
        for t in sorted(b_debs - p_debs):
            print(f"  only berth: {t}")
        for t in sorted(p_debs - b_debs):
            print(f"  only {peer}: {t}")
        if j != 1.0:
            failed = True
        b_set, p_set = set(b_pys), set(p_pys)
        jp = jaccard(b_set, p_set)
        print(f"[{peer}] python (normalized name, version): berth {len(b_set)}, {peer} {len(p_set)}, Jaccard {jp:.4f}")
        for t in sorted(b_set - p_set):
            print(f"  only berth: {t} at {b_pys[t]}  — UNEXPLAINED")
            failed = True
        explained = 0
        for t in sorted(p_set - b_set):
            owner = owned_by_deb(rootfs, p_pys[t])
            if owner:
                explained += 1
                print(f"  only {peer}: {t} — installed by deb `{owner}` (its info/*.list owns {p_pys[t]}); berth counts it as that deb")
            else:
                print(f"  only {peer}: {t} at {p_pys[t]} — UNEXPLAINED")
                failed = True
        if explained:
            print(f"  ({explained} differences, all Python distributions installed by Debian packages)")
    print("\nresult:", "DISAGREE" if failed else "agree (deb Jaccard 1.0 with both peers; Python differences explained)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
