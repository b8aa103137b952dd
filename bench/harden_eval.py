#!/usr/bin/env python3
"""The hardening evaluation (issue 8; the seed paper's figure 1B): on four test images, the
original, `berth harden update` alone, `berth harden minify` alone, and both, each measured the
same way: packages, size, findings by severity, and whether the tool's tests pass and the
outputs stay identical.

Images (built locally, nothing downloaded but Debian and PyPI packages):
  minbase   debootstrap --variant=minbase bookworm; tool: sha256sum
  numpy     the "analysis" rootfs (python3, numpy, scipy, build-essential, dcm2niix, pinned pip
            packages); tool: a numpy script (bench/harden/numpy_stats.py)
  ctool     the analysis image plus a C tool compiled in it (build-essential left installed)
  dicom     the analysis image; tool: dcm2niix on the example DICOM slice

The images come from the `bookworm` suite only; `update` reads bookworm, bookworm-updates and
bookworm-security from the mirror in this machine's apt sources (given with `--source`, never
printed). Findings use the PyPA advisories in ../shared/fixtures (real records, 2024-10); there
is no Debian advisory data offline, so findings count Python packages only, and the number of
Debian packages `update` upgraded stands in for the Debian side.

Usage: DOCKER_HOST=unix://... python3 bench/harden_eval.py [--berth target/debug/berth]
       [--tracer PATH] [--only minbase,numpy,...] [--json OUT]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench" / "harden"
FIXTURES = REPO.parent / "shared" / "fixtures" / "advisories"


def sh(*args, env=None, check=True, cwd=None):
    r = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(map(str, args))}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def debian_sources():
    """The machine's Debian stanzas (deb822) for bookworm, -updates and -security."""
    stanzas = []
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in f.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            if uris and re.search(r"/debian(-security)?/?$", uris.group(1)):
                stanzas.append("\n".join(l for l in stanza.splitlines() if not l.startswith("#")))
    if not stanzas:
        sys.exit("no Debian source in /etc/apt/sources.list.d/*.sources")
    return "\n\n".join(stanzas) + "\n"


def total(counts):
    return sum(counts.values()) if counts else None


def row(label, variant, facts, seconds, tests=None, identical=None, upgraded=None):
    f = facts.get("findings")
    return {
        "image": label,
        "variant": variant,
        "packages": facts["packages"],
        "size": facts["size"],
        "findings": f,
        "findings_total": total(f),
        "upgraded": upgraded,
        "tests": tests,
        "outputs_identical": identical,
        "seconds": round(seconds, 1),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth", default=str(REPO / "target" / "debug" / "berth"))
    ap.add_argument("--tracer")
    ap.add_argument("--only", default="minbase,numpy,ctool,dicom")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not os.environ.get("DOCKER_HOST"):
        sys.exit("set DOCKER_HOST (eval \"$(scripts/dockerd.sh start)\")")
    tracer = str(Path(args.tracer or sh(str(REPO / "tools/berth-trace/build.sh")).stdout.strip()).resolve())
    work = Path(tempfile.mkdtemp(prefix="berth-harden-eval-"))
    env = dict(os.environ, BERTH_HOME=str(work / "home"), BERTH_CONFIG=str(work / "none.toml"), NO_COLOR="1")
    env.pop("BERTH_ENGINE", None)

    def berth(*a, check=True):
        return sh(args.berth, *a, env=env, cwd=work, check=check)

    # The advisory database: real PyPA records, if the shared fixtures are here.
    db = None
    if (FIXTURES / "osv-pypi" / "vulns").is_dir():
        berth("db", "update", "--source", str(FIXTURES / "osv-pypi" / "vulns"))
        db = work / "home" / "advisories.sqlite"
    else:
        print(f"note: {FIXTURES} not present: no findings columns", file=sys.stderr)
    sources = work / "debian.sources"
    sources.write_text(debian_sources())

    # Inputs and descriptors side by side, as the descriptors' tests expect.
    for f in BENCH.iterdir():
        shutil.copy(f, work / f.name)
    (work / "dicom").mkdir()
    shutil.copy(REPO / "examples/dicom-normalize/data/phantom-mr.dcm", work / "dicom" / "phantom-mr.dcm")

    docker = lambda *a: sh("docker", *a)
    path_env = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    only = args.only.split(",")
    if "minbase" in only:
        tar = sh(str(REPO / "scripts/test-rootfs.sh"), "tarball", "minbase").stdout.strip()
        docker("import", "--change", path_env, "--change", 'CMD ["bash"]', tar, "berth-eval/minbase:1")
    if {"numpy", "ctool", "dicom"} & set(only):
        tar = sh(str(REPO / "scripts/test-rootfs.sh"), "tarball", "analysis").stdout.strip()
        docker("import", "--change", path_env, "--change", 'CMD ["python3"]', tar, "berth-eval/analysis:1")
    if "ctool" in only:
        sh("docker", "rm", "-f", "berth-eval-ctool-build", check=False)
        docker("run", "--name", "berth-eval-ctool-build", "--network", "none", "-v", f"{work}:/src:ro",
               "berth-eval/analysis:1", "gcc", "-O2", "-o", "/usr/local/bin/ctool", "/src/ctool.c")
        docker("commit", "berth-eval-ctool-build", "berth-eval/ctool:1")
        docker("rm", "berth-eval-ctool-build")

    cases = {
        "minbase": ("berth-eval/minbase:1", "sha256.json", {"in": "data.csv"}),
        "numpy": ("berth-eval/analysis:1", "numpy-stats.json", {"script": "numpy_stats.py", "data": "data.csv"}),
        "ctool": ("berth-eval/ctool:1", "ctool.json", {"in": "data.csv"}),
        "dicom": ("berth-eval/analysis:1", "dcm2niix.json", {"indir": "dicom"}),
    }
    rows = []
    db_args = ["--db", str(db)] if db else ["--no-compare"]
    for label in only:
        image, descriptor, invocation = cases[label]
        inv = json.dumps(invocation)
        # Update alone.
        t = time.monotonic()
        u = json.loads(berth("harden", "update", image, "--source", str(sources), "--force", "--json",
                             *(["--db", str(db)] if db else [])).stdout)
        dt = time.monotonic() - t
        updated = u["update"]["reference"]
        rows.append(row(label, "original", u["before"], 0))
        tests = berth("test", descriptor, "--image", updated, check=False).returncode == 0
        rows.append(row(label, "update", u["after"], dt, tests=tests, upgraded=len(u["changes"]["upgraded"])))
        # Minify alone, then both (minify the updated image).
        for variant, base in (("minify", image), ("update+minify", updated)):
            t = time.monotonic()
            r = berth("harden", "minify", base, "-d", descriptor, "-i", inv, "--tracer", tracer, "--prune-unowned",
                      "--work-dir", str(work / f"{label}-{variant}"), "--tag", f"berth-eval/{label}-{variant.replace('+', '-')}:1",
                      "--json", *(["--db", str(db)] if db else []), check=False)
            dt = time.monotonic() - t
            if r.returncode != 0:
                print(f"{label} {variant}: refused:\n{r.stderr[-2000:]}", file=sys.stderr)
                rows.append({"image": label, "variant": variant, "refused": r.stderr.strip().splitlines()[-2:]})
                continue
            m = json.loads(r.stdout)
            tests = berth("test", descriptor, "--image", m["minify"]["reference"], check=False).returncode == 0
            identical = all(c["outputs"] for c in m["minify"]["checks"])
            rows.append(row(label, variant, m["after"], dt, tests=tests, identical=identical,
                            upgraded=len(u["changes"]["upgraded"]) if variant == "update+minify" else None))

    print(f"\n{'image':<8} {'variant':<14} {'packages':>8} {'size MB':>8} {'findings':>8} {'C/H/M/L':>10} "
          f"{'upgraded':>8} {'tests':>5} {'same out':>8} {'s':>6}")
    for r in rows:
        if "refused" in r:
            print(f"{r['image']:<8} {r['variant']:<14} refused: {r['refused']}")
            continue
        f = r["findings"] or {}
        chml = f"{f.get('critical', '-')}/{f.get('high', '-')}/{f.get('medium', '-')}/{f.get('low', '-')}" if f else "-"
        size = f"{r['size'] / 1e6:.1f}" if r["size"] else "-"
        print(f"{r['image']:<8} {r['variant']:<14} {r['packages']:>8} {size:>8} "
              f"{r['findings_total'] if r['findings_total'] is not None else '-':>8} {chml:>10} "
              f"{r['upgraded'] if r['upgraded'] is not None else '':>8} "
              f"{'' if r['tests'] is None else ('pass' if r['tests'] else 'FAIL'):>5} "
              f"{'' if r['outputs_identical'] is None else ('yes' if r['outputs_identical'] else 'NO'):>8} {r['seconds']:>6}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
