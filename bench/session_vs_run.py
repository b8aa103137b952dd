#!/usr/bin/env python3
"""The per-call cost of a tool session (issue 19), side by side in one run: CALLS short calls of
the same tool (busybox `echo`), made

  1. as CALLS `berth run`s (a container each),
  2. as CALLS `berth session exec`s into one session (each a berth process: store, engine,
     the exec, the step recorded with the output directory compared before and after),
  3. as CALLS `docker exec`s into one plain container (the engine's own floor).

Everything runs on the private Docker daemon of scripts/dockerd.sh and a temporary BERTH_HOME.
Prints the mean and median milliseconds per call of each, and the ratios.

Usage: python3 bench/session_vs_run.py [--calls 200] [--berth target/release/berth]
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
TOOL = {
    "name": "hello", "tool-version": "1", "schema-version": "0.5", "description": "Prints a word.",
    "command-line": "echo [WORD]",
    "container-image": {"type": "docker", "image": "berth-test/busybox:latest"},
    "inputs": [{"id": "word", "name": "Word", "type": "String", "value-key": "[WORD]", "default-value": "hi", "optional": True}],
}


def timed(argv, env, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--berth", default=os.path.join(REPO, "target/release/berth"))
    args = ap.parse_args()
    out = subprocess.run([os.path.join(REPO, "scripts/dockerd.sh"), "start"], check=True, capture_output=True, text=True).stdout
    docker_host = out.strip().split("=", 1)[1].strip("'\"")
    denv = {**os.environ, "DOCKER_HOST": docker_host}
    subprocess.run([os.path.join(REPO, "scripts/busybox-image.sh"), "berth-test/busybox:latest"], check=True, env=denv,
                   capture_output=True)
    tmp = tempfile.mkdtemp(prefix="berth-session-bench-")
    env = {**denv, "BERTH_HOME": os.path.join(tmp, "home"), "BERTH_CONFIG": os.path.join(tmp, "none.toml")}
    env.pop("BERTH_ENGINE", None)
    plain = None
    try:
        tool = os.path.join(tmp, "hello.json")
        with open(tool, "w") as f:
            json.dump(TOOL, f)
        b = args.berth
        n = args.calls
        runs = timed([b, "run", tool, "-o", os.path.join(tmp, "run-out")], env, n)
        sid = subprocess.run([b, "session", "start", tool, "-o", os.path.join(tmp, "session-out")], env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
        execs = timed([b, "session", "exec", sid, "--", "echo", "hi"], env, n)
        steps = json.loads(subprocess.run([b, "session", "show", sid, "--json"], env=env, check=True, capture_output=True,
                                          text=True).stdout)["steps"]
        assert len(steps) == n and all(s["exit_code"] == 0 for s in steps), "every exec is a recorded step"
        subprocess.run([b, "session", "stop", sid], env=env, check=True, capture_output=True)
        plain = subprocess.run(["docker", "run", "-d", "--network", "none", "berth-test/busybox:latest", "sleep", "3600"],
                               env=denv, check=True, capture_output=True, text=True).stdout.strip()
        docker_execs = timed(["docker", "exec", plain, "echo", "hi"], denv, n)
        rows = [("berth run", runs), ("berth session exec", execs), ("docker exec", docker_execs)]
        print(f"{n} calls of `echo` each (ms per call; berth {b})")
        print(f"{'':22} {'mean':>8} {'median':>8} {'p90':>8}")
        for name, t in rows:
            p90 = sorted(t)[int(0.9 * (len(t) - 1))]
            print(f"{name:22} {statistics.mean(t):8.1f} {statistics.median(t):8.1f} {p90:8.1f}")
        print(f"berth run / session exec = {statistics.median(runs) / statistics.median(execs):.1f}x; "
              f"session exec / docker exec = {statistics.median(execs) / statistics.median(docker_execs):.2f}x")
    finally:
        if plain:
            subprocess.run(["docker", "rm", "-f", plain], env=denv, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
