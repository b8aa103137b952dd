#!/usr/bin/env python3
"""A 2-step pipeline over N participants (default 200) with 4 containers at a time:
`berth pipeline run --jobs 4` against GNU parallel running the same containers 4 at a time,
and against a sequential shell loop of `docker run --rm`; then the fully cached re-run.

Step 1 (per participant) writes the SHA-256 of the participant's file; step 2 (per
participant) counts the bytes of step 1's output. Every container is busybox with the same
confinement berth applies (network none, all capabilities dropped, no-new-privileges, pids
limit, memory and CPU limits, a non-root user, an init, a tmpfs /tmp). All variants run on
the private Docker daemon of scripts/dockerd.sh (started if needed), side by side, REPEAT
times each (medians reported).

GNU parallel is not installed into the system: its Debian package is fetched into a temp dir
(`apt-get download parallel`, `dpkg -x`) and its script run with perl.

Targets (issue 6): berth within GNU parallel + 10% (ratio <= 1.10); the cached re-run under 2 s.
Per-container overhead is reported as (berth - parallel) / containers.

Usage: python3 bench/pipeline_vs_parallel.py [--participants N] [--repeat R] [--jobs J] [--berth PATH]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "berth-test/busybox:latest"
CONFINE = ["--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
           "--pids-limit", "1024", "--memory", "256m", "--cpus", "1", "--user", "65534:65534",
           "--init", "--tmpfs", "/tmp"]


def sh(*args, env=None, cwd=None):
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env, cwd=cwd).stdout


def descriptors(work):
    step1 = {
        "name": "bench-sum", "tool-version": "1", "schema-version": "0.5",
        "description": "SHA-256 of a file (benchmark step 1)",
        "command-line": "sha256sum [INPUT] | cut -d ' ' -f 1 > sum.txt",
        "container-image": {"type": "docker", "image": IMAGE},
        "inputs": [{"id": "input", "name": "Input", "type": "File", "value-key": "[INPUT]"}],
        "output-files": [{"id": "sum", "name": "Sum", "path-template": "sum.txt"}],
        "suggested-resources": {"cpu-cores": 1, "ram": 0.25},
    }
    step2 = {
        "name": "bench-count", "tool-version": "1", "schema-version": "0.5",
        "description": "Byte count of a file (benchmark step 2)",
        "command-line": "wc -c [INPUT] > count.txt",
        "container-image": {"type": "docker", "image": IMAGE},
        "inputs": [{"id": "input", "name": "Input", "type": "File", "value-key": "[INPUT]"}],
        "output-files": [{"id": "count", "name": "Count", "path-template": "count.txt"}],
        "suggested-resources": {"cpu-cores": 1, "ram": 0.25},
    }
    paths = []
    for d in (step1, step2):
        p = os.path.join(work, d["name"] + ".json")
        with open(p, "w") as f:
            json.dump(d, f, indent=1)
        paths.append(p)
    pipeline = os.path.join(work, "pipeline.yaml")
    with open(pipeline, "w") as f:
        f.write(f"""berth-pipeline: 1
name: bench
steps:
  sum:
    descriptor: {paths[0]}
    foreach: participants
    inputs:
      input: {{glob: "sub-${{participant}}/anat/*_T1w.txt"}}
  count:
    descriptor: {paths[1]}
    foreach: participants
    inputs:
      input: ${{steps.sum.outputs.sum}}
""")
    return pipeline


def gnu_parallel(work):
    d = os.path.join(work, "gnu-parallel")
    os.makedirs(d)
    r = subprocess.run(["apt-get", "download", "parallel"], cwd=d, capture_output=True, text=True)
    debs = [f for f in os.listdir(d) if f.endswith(".deb")]
    if not debs:
        sys.exit(f"error: cannot fetch GNU parallel's Debian package (apt-get download parallel): {r.stderr[-400:]}")
    sh("dpkg", "-x", os.path.join(d, debs[0]), os.path.join(d, "x"))
    script = os.path.join(d, "x", "usr", "bin", "parallel")
    version = sh("perl", script, "--version").splitlines()[0]
    return ["perl", script], version


def task_script(work):
    """One participant's two containers, as a user would write it for a loop or for parallel."""
    p = os.path.join(work, "task.sh")
    with open(p, "w") as f:
        f.write(f"""#!/bin/sh
# $1 = participant label, $2 = output root
set -e
in="$BIDS/sub-$1/anat/sub-$1_T1w.txt"
o1="$2/sum/sub-$1"; o2="$2/count/sub-$1"
mkdir -p "$o1" "$o2"; chmod 777 "$o1" "$o2"
docker run --rm {' '.join(CONFINE)} -v "$in:/in/input.txt:ro" -v "$o1:/out" -w /out {IMAGE} \\
    sh -c 'sha256sum /in/input.txt | cut -d " " -f 1 > sum.txt'
docker run --rm {' '.join(CONFINE)} -v "$o1/sum.txt:/in/sum.txt:ro" -v "$o2:/out" -w /out {IMAGE} \\
    sh -c 'wc -c /in/sum.txt > count.txt'
""")
    os.chmod(p, 0o755)
    return p


def timed(cmd, env, cwd=None):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[:4])} ... failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return dt, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--no-loop", action="store_true", help="skip the sequential shell loop")
    ap.add_argument("--berth", default=os.path.join(REPO, "target", "release", "berth"))
    args = ap.parse_args()
    if not os.path.exists(args.berth):
        subprocess.run(["cargo", "build", "--release", "-p", "berth"], cwd=REPO, check=True)
    help_text = subprocess.run([args.berth, "pipeline", "--help"], capture_output=True, text=True)
    if help_text.returncode != 0:
        sys.exit(f"error: {args.berth} has no `pipeline` command; build a berth with pipelines")
    out = sh(os.path.join(REPO, "scripts", "dockerd.sh"), "start")
    host = next(l.split("=", 1)[1] for l in out.splitlines() if l.startswith("export DOCKER_HOST="))
    env = dict(os.environ, DOCKER_HOST=host)
    sh(os.path.join(REPO, "scripts", "busybox-image.sh"), IMAGE, env=env)
    if not shutil.which("docker"):
        sys.exit("error: the `docker` client is needed for the comparison")

    work = tempfile.mkdtemp(prefix="berth-bench-pipeline-")
    try:
        bids = os.path.join(work, "bids")
        labels = [f"{i:03d}" for i in range(1, args.participants + 1)]
        for p in labels:
            d = os.path.join(bids, f"sub-{p}", "anat")
            os.makedirs(d)
            with open(os.path.join(d, f"sub-{p}_T1w.txt"), "w") as f:
                f.write(f"participant {p}\n")
        pipeline = descriptors(work)
        parallel, parallel_version = gnu_parallel(work)
        task = task_script(work)
        env = dict(env, BIDS=bids, BERTH_CONFIG=os.path.join(work, "none.toml"))
        containers = 2 * len(labels)
        times = {"loop": [], "parallel": [], "berth": [], "berth_cached": []}
        for rep in range(args.repeat):
            # (b) GNU parallel, J at a time.
            o = os.path.join(work, f"par-{rep}")
            dt, _ = timed(parallel + ["-j", str(args.jobs), "--halt", "now,fail=1", task, "{}", o, ":::"] + labels, env)
            times["parallel"].append(dt)
            # (c) berth, fresh store and output.
            benv = dict(env, BERTH_HOME=os.path.join(work, f"home-{rep}"))
            o = os.path.join(work, f"berth-{rep}")
            # --cpus: each container is limited to 1 CPU, and GNU parallel runs J of them whatever the
            # machine has; the same budget for berth (its default is the machine's CPUs).
            cmd = [args.berth, "pipeline", "run", pipeline, "--bids", bids, "-o", o, "--jobs", str(args.jobs),
                   "--cpus", str(args.jobs), "--json"]
            dt, r = timed(cmd, benv)
            res = json.loads(r.stdout)
            assert res["status"] == "succeeded" and all(t["status"] == "succeeded" for t in res["tasks"]), res["message"]
            times["berth"].append(dt)
            # (d) the same command again: everything cached.
            dt, r = timed(cmd, benv)
            res = json.loads(r.stdout)
            assert all(t["status"] == "cached" for t in res["tasks"]), "the re-run was not fully cached"
            times["berth_cached"].append(dt)
            # (a) the sequential loop, once (it is the slowest by far).
            if rep == 0 and not args.no_loop:
                o = os.path.join(work, "loop")
                loop = f'for p in {" ".join(labels)}; do {task} "$p" {o} || exit 1; done'
                dt, _ = timed(["sh", "-c", loop], env)
                times["loop"].append(dt)
            # Same results from every variant.
            for p in labels[:3]:
                a = open(os.path.join(work, f"par-{rep}", "count", f"sub-{p}", "count.txt")).read().split()[0]
                b = open(os.path.join(work, f"berth-{rep}", "count", f"sub-{p}", "count.txt")).read().split()[0]
                assert a == b, (a, b)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items() if v}
    res = {
        "participants": len(labels), "containers": containers, "jobs": args.jobs, "repeat": args.repeat,
        "gnu_parallel": parallel_version, "seconds": times, "median_seconds": med,
        "ratio_berth_over_parallel": med["berth"] / med["parallel"],
        "overhead_ms_per_container": (med["berth"] - med["parallel"]) / containers * 1e3,
        "berth_ms_per_container": med["berth"] / containers * 1e3,
        "parallel_ms_per_container": med["parallel"] / containers * 1e3,
    }
    if "loop" in med:
        res["ratio_loop_over_berth"] = med["loop"] / med["berth"]
    print(f"{len(labels)} participants x 2 steps = {containers} containers, {args.jobs} at a time, "
          f"medians of {args.repeat}:")
    if "loop" in med:
        print(f"  sequential docker run --rm loop  {med['loop']:8.2f} s   ({med['loop'] / containers * 1e3:.0f} ms/container)")
    print(f"  GNU parallel -j{args.jobs}                 {med['parallel']:8.2f} s   ({res['parallel_ms_per_container']:.0f} ms/container; {parallel_version})")
    print(f"  berth pipeline run --jobs {args.jobs}      {med['berth']:8.2f} s   ({res['berth_ms_per_container']:.0f} ms/container)")
    print(f"  berth, fully cached re-run       {med['berth_cached']:8.2f} s   (target < 2 s)")
    print(f"  berth / GNU parallel: {res['ratio_berth_over_parallel']:.3f} (target <= 1.10); "
          f"scheduling overhead {res['overhead_ms_per_container']:+.1f} ms per container")
    os.makedirs(os.path.join(REPO, "target"), exist_ok=True)
    with open(os.path.join(REPO, "target", "bench-pipeline.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
