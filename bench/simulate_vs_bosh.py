#!/usr/bin/env python3
"""Whole-process `berth simulate` against `bosh exec simulate`, side by side.

For each descriptor/invocation pair (the boutiques package examples that bosh simulates), both
commands run alternately, ROUNDS times each, in the same temporary working directory. Reports
median and mean wall time per process and the ratio bosh/berth. The machine is shared and noisy:
interleaving keeps both sides under the same load.

Usage: python3 bench/simulate_vs_bosh.py [--rounds N] [--berth PATH]
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
BOSH_VERSION = "0.5.33"


def venv_python():
    venv = os.environ.get("BERTH_BOSH_VENV", os.path.join(REPO, "target", "bosh-venv"))
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(venv, "bin", "bosh")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        r = subprocess.run([py, "-m", "pip", "install", "-q", f"boutiques=={BOSH_VERSION}"])
        if r.returncode != 0:
            sys.exit(f"error: could not install boutiques=={BOSH_VERSION} from PyPI into {venv}")
    return py, os.path.join(venv, "bin", "bosh")


PAIRS = [
    ("schema/examples/example1/example1_docker.json", "schema/examples/example1/invocation.json"),
    ("schema/examples/fsl_bet/fsl_bet.json", "schema/examples/fsl_bet/example_invocation.json"),
    ("schema/examples/example2/example2.json", "schema/examples/example2/invocation.json"),
    ("tests/simulate/list_separator.json", "tests/simulate/list_separator_inv.json"),
    ("tests/example1/example1_docker_conditional_outputFiles.json", "tests/example1/example1_conditional_invoc.json"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--berth", default=os.path.join(REPO, "target", "release", "berth"))
    args = ap.parse_args()
    if not os.path.exists(args.berth):
        subprocess.run(["cargo", "build", "--release", "-p", "berth"], cwd=REPO, check=True)
    py, bosh = venv_python()
    pkg = subprocess.run([py, "-c", "import boutiques,os;print(os.path.dirname(boutiques.__file__))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    pairs = [(os.path.join(pkg, d), os.path.join(pkg, i)) for d, i in PAIRS]
    times = {"berth": [], "bosh": []}
    wd = tempfile.mkdtemp(prefix="berth-bench-")
    env = dict(os.environ, HOME=wd)
    try:
        for d, i in pairs:
            for cmd in ([args.berth, "simulate", d, "-i", i], [bosh, "exec", "simulate", d, "-i", i]):
                r = subprocess.run(cmd, cwd=wd, env=env, capture_output=True)
                if r.returncode != 0:
                    sys.exit(f"error: {' '.join(cmd)} failed: {r.stderr.decode()[-400:]}")
        for _ in range(args.rounds):
            for d, i in pairs:
                for name, cmd in (("berth", [args.berth, "simulate", d, "-i", i]),
                                  ("bosh", [bosh, "exec", "simulate", d, "-i", i])):
                    t0 = time.perf_counter()
                    subprocess.run(cmd, cwd=wd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    times[name].append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    res = {}
    for name, ts in times.items():
        res[name] = {"runs": len(ts), "median_ms": statistics.median(ts) * 1e3, "mean_ms": statistics.mean(ts) * 1e3,
                     "min_ms": min(ts) * 1e3}
    res["ratio_median"] = res["bosh"]["median_ms"] / res["berth"]["median_ms"]
    res["ratio_mean"] = res["bosh"]["mean_ms"] / res["berth"]["mean_ms"]
    print(f"pairs: {len(pairs)}, rounds: {args.rounds}")
    for name in ("berth", "bosh"):
        r = res[name]
        print(f"{name:6} runs={r['runs']:4}  median={r['median_ms']:8.2f} ms  mean={r['mean_ms']:8.2f} ms  min={r['min_ms']:8.2f} ms")
    print(f"bosh/berth per process: {res['ratio_median']:.0f}x (median), {res['ratio_mean']:.0f}x (mean)")
    out = os.path.join(REPO, "target", "bench-simulate.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    json.dump(res, open(out, "w"), indent=2)


if __name__ == "__main__":
    main()
