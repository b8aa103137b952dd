#!/usr/bin/env python3
"""`berth image check` (one manifest HEAD to the registry, nothing pulled) against a full
`berth image pull` of the same image from the same loopback registry, side by side.

Sets up: the private Docker daemon of scripts/dockerd.sh (started if needed), a private
`docker-registry` on 127.0.0.1:<free port> with its storage in a temporary directory, and an
image of SIZE random bytes (default 64 MiB, one layer; random so it does not compress) pushed
there. Then, ROUNDS times: remove the image locally (not timed), time `berth image pull REF`,
then time `berth image check REF` (which must answer `current`, exit 0). Reports the median and
mean of each, and the ratio pull/check of the medians (how many checks one pull costs).

Both are whole-process wall times of the berth binary, so both include process start-up and
connecting to the engine; the check also asks the engine for the local image.

Usage: python3 bench/image_check_vs_pull.py [--rounds N] [--size BYTES] [--berth PATH]
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env=None, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def timed(cmd, env, expect=0):
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if r.returncode != expect:
        sys.exit(f"error: {' '.join(cmd)} exited {r.returncode}, expected {expect}:\n{r.stdout}{r.stderr}")
    return took


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--size", type=int, default=64 << 20)
    ap.add_argument("--berth", default=os.path.join(REPO, "target", "release", "berth"))
    a = ap.parse_args()
    if not os.path.exists(a.berth):
        print("building berth (release)...", file=sys.stderr)
        run(["cargo", "build", "--release", "-p", "berth"])
    if not shutil.which("docker-registry"):
        sys.exit("error: docker-registry is missing: `apt-get install docker-registry`")

    host = run([os.path.join(REPO, "scripts", "dockerd.sh"), "start"]).stdout
    docker_host = host.strip().split("=", 1)[1]
    tmp = tempfile.mkdtemp(prefix="berth-bench-")
    env = dict(os.environ, DOCKER_HOST=docker_host, BERTH_HOME=os.path.join(tmp, "home"), NO_COLOR="1",
               BERTH_CONFIG=os.path.join(tmp, "none.toml"), DOCKER_CONFIG=os.path.join(tmp, "docker"))
    env.pop("BERTH_ENGINE", None)
    port = free_port()
    config = os.path.join(tmp, "registry.yml")
    with open(config, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {tmp}/data\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    registry = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(tmp, "registry.log"), "w"))
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit(f"error: docker-registry did not answer on 127.0.0.1:{port}")

        ref = f"127.0.0.1:{port}/bench/payload:1"
        payload = os.path.join(tmp, "payload")
        os.makedirs(payload)
        with open(os.path.join(payload, "data.bin"), "wb") as f:
            f.write(os.urandom(a.size))
        layer = os.path.join(tmp, "layer.tar")
        run(["tar", "-C", payload, "-cf", layer, "data.bin"])
        run(["docker", "import", layer, ref], env=env)
        run([a.berth, "image", "push", ref], env=env)

        pulls, checks = [], []
        for i in range(a.rounds):
            run([a.berth, "image", "rm", "--force", ref], env=env)
            pulls.append(timed([a.berth, "image", "pull", ref], env))
            checks.append(timed([a.berth, "image", "check", ref], env))
            print(f"round {i + 1}: pull {pulls[-1] * 1000:.0f} ms, check {checks[-1] * 1000:.1f} ms", file=sys.stderr)
        run([a.berth, "image", "rm", "--force", ref], env=env)
    finally:
        registry.terminate()
        registry.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    mp, mc = statistics.median(pulls), statistics.median(checks)
    print(f"image: {a.size / 2**20:.0f} MiB in one layer, {a.rounds} rounds, berth {a.berth}")
    print(f"{'':14}{'median':>12}{'mean':>12}")
    print(f"{'image pull':14}{mp * 1000:>10.1f}ms{statistics.mean(pulls) * 1000:>10.1f}ms")
    print(f"{'image check':14}{mc * 1000:>10.1f}ms{statistics.mean(checks) * 1000:>10.1f}ms")
    print(f"pull/check (medians): {mp / mc:.1f}x")


if __name__ == "__main__":
    main()
