#!/usr/bin/env python3
"""Whole-process `berth sbom` against `syft` and `trivy` (CycloneDX output, no vulnerability
database) on the same targets, side by side in one run; then `berth scan` with a warm database.

Targets (built once by scripts/test-rootfs.sh, cached under target/berth-fixtures/):
  minbase rootfs, analysis rootfs (python, pip packages, build-essential), minbase docker-archive,
  analysis docker-archive.
Peers are installed by tests/peers/install.sh into target/peers/ (never into the product) and
run offline; each command runs ROUNDS times, alternating tools, after one warm-up run each.
Reports the median and mean wall time per tool and target, and the ratios trivy/berth and
syft/berth (how many times faster berth is). Target: berth >= 3x faster than Trivy.

`berth scan` is timed on the same targets with the database given by --db, or one built by
`berth db update` from the PyPA advisories and Debian tracker excerpt in
../shared/fixtures/advisories/ (local paths: the HTTP path is covered by the tests).

Usage: python3 bench/sbom_vs_peers.py [--rounds N] [--berth PATH] [--db PATH] [--json OUT]
Build berth first: cargo build --release -p berth (the default PATH is target/release/berth).
"""
import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fixture(*args):
    return subprocess.run(["bash", os.path.join(REPO, "scripts/test-rootfs.sh"), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def peers():
    out = subprocess.run(["bash", os.path.join(REPO, "tests/peers/install.sh")], check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.split())


def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode(errors='replace')[-2000:]}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--berth", default=os.path.join(REPO, "target/release/berth"))
    ap.add_argument("--db")
    ap.add_argument("--json")
    a = ap.parse_args()
    if not os.access(a.berth, os.X_OK):
        sys.exit(f"{a.berth} is missing: cargo build --release -p berth")
    p = peers()
    work = tempfile.mkdtemp(prefix="berth-bench-")
    # The database, outputs and Trivy's cache go when the script ends.
    atexit.register(shutil.rmtree, work, True)
    env = dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false", BERTH_HOME=os.path.join(work, "home"),
               BERTH_CONFIG=os.path.join(work, "no-config.toml"))
    env.pop("BERTH_ADVISORY_DB", None)
    out = os.path.join(work, "out.json")
    cache = os.path.join(work, "trivy-cache")
    targets = {
        "minbase rootfs": ("dir", fixture("minbase")),
        "analysis rootfs": ("dir", fixture("analysis")),
        "minbase docker-archive": ("docker-archive", fixture("archive", "minbase")),
        "analysis docker-archive": ("docker-archive", fixture("archive", "analysis")),
    }

    def commands(kind, path):
        trivy_kind = ["rootfs", path] if kind == "dir" else ["image", "--input", path]
        return {
            "berth": [a.berth, "sbom", path, "--format", "cyclonedx", "-o", out],
            "trivy": [p["TRIVY"], *trivy_kind, "--cache-dir", cache, "--skip-version-check",
                      "--disable-telemetry", "-q",
                      # A *.PAR file in the analysis image makes Trivy's Java analyzer fetch its
                      # Java DB from the internet (and fail offline); tests/peers/agreement.py skips it too.
                      "--skip-files", "**/*.PAR", "--format", "cyclonedx", "--output", out],
            "syft": [p["SYFT"], "scan", f"{kind}:{path}", "-q", "-o", f"cyclonedx-json={out}"],
        }

    results = {}
    for name, (kind, path) in targets.items():
        cmds = commands(kind, path)
        times = {t: [] for t in cmds}
        for t, c in cmds.items():
            timed(c, env)  # warm-up (page cache, Trivy's cache directory)
        for _ in range(a.rounds):
            for t, c in cmds.items():
                times[t].append(timed(c, env))
        results[name] = {t: {"median": statistics.median(v), "mean": statistics.mean(v), "runs": v}
                         for t, v in times.items()}
        m = {t: results[name][t]["median"] for t in cmds}
        print(f"{name:26s} berth {m['berth']*1000:8.1f} ms   trivy {m['trivy']*1000:8.1f} ms   "
              f"syft {m['syft']*1000:8.1f} ms   trivy/berth {m['trivy']/m['berth']:6.1f}x   "
              f"syft/berth {m['syft']/m['berth']:6.1f}x", flush=True)

    db = a.db
    if not db:
        db = os.path.join(work, "advisories.sqlite")
        adv = os.path.join(REPO, "../shared/fixtures/advisories")
        subprocess.run([a.berth, "db", "update", "--db", db,
                        "--source", os.path.join(adv, "osv-pypi/vulns"),
                        "--source", os.path.join(adv, "debian-tracker/debian_security_tracker_mock.json")],
                       check=True, capture_output=True, env=env)
    print(f"\nberth scan with a warm database ({db}):")
    scans = {}
    for name, (kind, path) in targets.items():
        cmd = [a.berth, "scan", path, "--db", db, "--format", "json", "-o", out]
        timed(cmd, env)
        v = [timed(cmd, env) for _ in range(a.rounds)]
        counts = json.load(open(out))["counts"]
        scans[name] = {"median": statistics.median(v), "mean": statistics.mean(v), "counts": counts}
        print(f"{name:26s} berth scan {statistics.median(v)*1000:8.1f} ms   findings {counts}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"sbom": results, "scan": scans, "rounds": a.rounds}, f, indent=2)


if __name__ == "__main__":
    main()
