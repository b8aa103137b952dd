#!/usr/bin/env python3
"""The 2-step pipeline over N participants (default 200) through Slurm: tasks gathered into job
arrays (berth's default) against one Slurm job per task (`--no-arrays`), side by side.

Reported per variant: the number of `sbatch` calls and the seconds berth spent in them
(submission time, as berth measures it around each `sbatch`), and the total wall time of
`berth pipeline run --backend slurm` from start to the last task recorded.

The steps are those of bench/pipeline_vs_parallel.py: step 1 writes the SHA-256 of each
participant's file, step 2 counts the bytes of step 1's output, each in a busybox container
with berth's confinement. The cluster is the private one-node Slurm of scripts/slurm.sh and the
nodes' engine the private Docker daemon of scripts/dockerd.sh (both started when needed, not
stopped). Each variant gets a fresh store and output directory; the order alternates between
repeats.

Usage: python3 bench/slurm_arrays.py [--participants N] [--repeat R] [--berth PATH]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from pipeline_vs_parallel import IMAGE, descriptors  # noqa: E402


def sh(*args, env=None):
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


def export(out, var):
    return next(l.split("=", 1)[1] for l in out.splitlines() if l.startswith(f"export {var}="))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--berth", default=os.path.join(REPO, "target", "debug", "berth"))
    args = ap.parse_args()
    if not os.path.exists(args.berth):
        subprocess.run(["cargo", "build", "-p", "berth"], cwd=REPO, check=True)
    host = export(sh(os.path.join(REPO, "scripts", "dockerd.sh"), "start"), "DOCKER_HOST")
    conf = export(sh(os.path.join(REPO, "scripts", "slurm.sh"), "start"), "SLURM_CONF")
    env = dict(os.environ, DOCKER_HOST=host, SLURM_CONF=conf)
    sh(os.path.join(REPO, "scripts", "busybox-image.sh"), IMAGE, env=env)
    cpus = sh("sinfo", "--noheader", "--format=%c", env=env).strip()

    work = tempfile.mkdtemp(prefix="berth-bench-slurm-")
    results = {"arrays": [], "per-task": []}
    try:
        bids = os.path.join(work, "bids")
        labels = [f"{i:03d}" for i in range(1, args.participants + 1)]
        for p in labels:
            d = os.path.join(bids, f"sub-{p}", "anat")
            os.makedirs(d)
            with open(os.path.join(d, f"sub-{p}_T1w.txt"), "w") as f:
                f.write(f"participant {p}\n")
        pipeline = descriptors(work)
        env = dict(env, BERTH_CONFIG=os.path.join(work, "none.toml"))
        order = ["arrays", "per-task"]
        for rep in range(args.repeat):
            for variant in order if rep % 2 == 0 else order[::-1]:
                benv = dict(env, BERTH_HOME=os.path.join(work, f"home-{variant}-{rep}"))
                out = os.path.join(work, f"out-{variant}-{rep}")
                cmd = [args.berth, "pipeline", "run", pipeline, "--bids", bids, "-o", out, "--backend", "slurm",
                       "--json"] + (["--no-arrays"] if variant == "per-task" else [])
                t0 = time.perf_counter()
                r = subprocess.run(cmd, env=benv, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                if r.returncode != 0:
                    sys.exit(f"error: {variant} failed ({r.returncode}):\n{r.stderr[-3000:]}")
                res = json.loads(r.stdout)
                assert res["status"] == "succeeded" and all(t["status"] == "succeeded" for t in res["tasks"])
                m = re.search(r"Slurm: (\d+) sbatch call\(s\), ([0-9.]+)s submitting", r.stderr)
                calls, submit = int(m.group(1)), float(m.group(2))
                results[variant].append({"wall_seconds": wall, "sbatch_calls": calls, "submit_seconds": submit})
                print(f"{variant:<9} rep {rep}: {calls:>4} sbatch calls, {submit:6.2f}s submitting, "
                      f"{wall:7.1f}s wall", file=sys.stderr)
                # Same result as the reference computation for a few participants.
                for p in labels[:3]:
                    count = open(os.path.join(out, "count", f"sub-{p}", "count.txt")).read().split()[0]
                    assert count == "65", count  # 64 hex digits and a newline
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(v, k):
        return statistics.median(x[k] for x in v)

    summary = {
        "participants": args.participants, "steps": 2, "tasks": 2 * args.participants, "repeat": args.repeat,
        "slurm": sh("sbatch", "--version", env=env).strip(), "node_cpus": cpus,
        "runs": results,
        "median": {v: {k: med(results[v], k) for k in ("sbatch_calls", "submit_seconds", "wall_seconds")}
                   for v in results},
    }
    print(json.dumps(summary, indent=1))
    a, p = summary["median"]["arrays"], summary["median"]["per-task"]
    print(f"\n{'':<10} {'sbatch':>7} {'submit s':>9} {'wall s':>8}", file=sys.stderr)
    for name, m in (("arrays", a), ("per-task", p)):
        print(f"{name:<10} {m['sbatch_calls']:>7.0f} {m['submit_seconds']:>9.2f} {m['wall_seconds']:>8.1f}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
