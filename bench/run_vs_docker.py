#!/usr/bin/env python3
"""Whole-process `berth run` of a trivial tool against `docker run --rm` of the same image
with the same limits and security settings, side by side.

Both commands run alternately ROUNDS times on the private Docker daemon of
scripts/dockerd.sh (started if needed) with busybox `true`. Reports median and mean wall time,
the ratio berth/docker and berth's overhead in milliseconds. berth's number includes what
docker does not do: resolving and recording the image, hashing inputs, the SQLite record,
and inspecting the container for provenance.

Usage: python3 bench/run_vs_docker.py [--rounds N] [--berth PATH]
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


def sh(*args, env=None):
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--berth", default=os.path.join(REPO, "target", "release", "berth"))
    args = ap.parse_args()
    if not os.path.exists(args.berth):
        subprocess.run(["cargo", "build", "--release", "-p", "berth"], cwd=REPO, check=True)
    out = sh(os.path.join(REPO, "scripts", "dockerd.sh"), "start")
    host = next(l.split("=", 1)[1] for l in out.splitlines() if l.startswith("export DOCKER_HOST="))
    env = dict(os.environ, DOCKER_HOST=host)
    sh(os.path.join(REPO, "scripts", "busybox-image.sh"), IMAGE, env=env)
    docker = shutil.which("docker") or sys.exit("error: the `docker` client is needed for the comparison")

    work = tempfile.mkdtemp(prefix="berth-bench-run-")
    try:
        desc = os.path.join(work, "true.json")
        with open(desc, "w") as f:
            json.dump({"name": "true", "tool-version": "1", "description": "does nothing", "schema-version": "0.5",
                       "command-line": "true [X]", "container-image": {"type": "docker", "image": IMAGE},
                       "inputs": [{"id": "x", "name": "x", "type": "String", "value-key": "[X]", "optional": True}]}, f)
        benv = dict(env, BERTH_HOME=os.path.join(work, "home"), BERTH_CONFIG=os.path.join(work, "none.toml"))
        limits = ["--memory", "256m", "--cpus", "1", "--pids-limit", "1024"]
        berth_cmd = [args.berth, "run", desc, "-i", "{}", "--output-dir", os.path.join(work, "out"), *limits]
        docker_cmd = [docker, "run", "--rm", "--network", "none", "--cap-drop", "ALL",
                      "--security-opt", "no-new-privileges", "--pids-limit", "1024", "--memory", "256m",
                      "--cpus", "1", "--user", "65534:65534", "--init", "--tmpfs", "/tmp",
                      "-v", f"{work}:/berth/out", "-w", "/berth/out", IMAGE, "true"]
        for cmd in (berth_cmd, docker_cmd):
            r = subprocess.run(cmd, env=benv, capture_output=True)
            if r.returncode != 0:
                sys.exit(f"error: {' '.join(cmd)} failed: {r.stderr.decode()[-500:]}")
        times = {"berth": [], "docker": []}
        for _ in range(args.rounds):
            for name, cmd in (("berth", berth_cmd), ("docker", docker_cmd)):
                t0 = time.perf_counter()
                r = subprocess.run(cmd, env=benv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - t0)
                if r.returncode != 0:
                    sys.exit(f"error: {name} failed during the benchmark")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = {n: {"runs": len(t), "median_ms": statistics.median(t) * 1e3, "mean_ms": statistics.mean(t) * 1e3}
           for n, t in times.items()}
    res["ratio_median"] = res["berth"]["median_ms"] / res["docker"]["median_ms"]
    res["overhead_ms_median"] = res["berth"]["median_ms"] - res["docker"]["median_ms"]
    for n in ("berth", "docker"):
        print(f"{n:7} runs={res[n]['runs']:3}  median={res[n]['median_ms']:7.1f} ms  mean={res[n]['mean_ms']:7.1f} ms")
    print(f"berth/docker: {res['ratio_median']:.3f} (median); overhead {res['overhead_ms_median']:.1f} ms per run")
    os.makedirs(os.path.join(REPO, "target"), exist_ok=True)
    with open(os.path.join(REPO, "target", "bench-run.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
