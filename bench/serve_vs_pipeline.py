#!/usr/bin/env python3
"""Server launch throughput against pipeline task throughput, side by side (issue 15).

The same trivial container (busybox `echo`) on the same engine, 4 at a time, two ways:
- `berth serve --workers 4`: LAUNCHES launches POSTed by 4 client threads; the clock runs from
  the first POST until every launch is terminal (polled every 50 ms);
- `berth pipeline run --jobs 4`: one step fanned out over a YAML list of LAUNCHES items; the
  clock is the command's wall time (it returns when every task has ended).
Rounds alternate (serve, pipeline, serve, pipeline, ...) so that the machine's noise hits both;
each round uses a fresh BERTH_HOME. Prints each round and the ratio of the medians
(serve / pipeline, ≥ 1 means the server keeps up).

Usage: python3 bench/serve_vs_pipeline.py [--launches 60] [--rounds 3] [--berth PATH]
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "berth-test/busybox:latest"
TOOL = {
    "name": "hello", "tool-version": "1", "schema-version": "0.5", "description": "Prints its input.",
    "command-line": "echo [WORD]",
    "container-image": {"type": "docker", "image": IMAGE},
    "inputs": [{"id": "word", "name": "Word", "type": "String", "value-key": "[WORD]"}],
}
TERMINAL = ("succeeded", "failed", "cancelled")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, token, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": "Bearer " + token}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, (json.loads(payload) if payload else None)


def setup(berth, docker_host):
    tmp = tempfile.mkdtemp(prefix="berth-svp-")
    env = {**os.environ, "BERTH_HOME": os.path.join(tmp, "home"), "BERTH_CONFIG": os.path.join(tmp, "none.toml"),
           "DOCKER_HOST": docker_host, "NO_COLOR": "1"}
    env.pop("BERTH_ENGINE", None)
    env.pop("BERTH_BACKEND", None)
    os.makedirs(os.path.join(tmp, "data"))
    with open(os.path.join(tmp, "hello.json"), "w") as f:
        json.dump(TOOL, f)
    return tmp, env


def serve_round(berth, docker_host, launches, workers):
    tmp, env = setup(berth, docker_host)

    def run(*a):
        return subprocess.run([berth, *a], env=env, check=True, capture_output=True, text=True).stdout

    run("user", "add", "load")
    token = run("user", "token", "load").strip()
    run("project", "add", "load", "--data-root", os.path.join(tmp, "data"), "--member", "load")
    run("tool", "add", os.path.join(tmp, "hello.json"))
    run("project", "enable", "load", "hello")
    port = free_port()
    log = open(os.path.join(tmp, "server.log"), "w")
    proc = subprocess.Popen([berth, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                             "--pull", "never"], env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if request(port, token, "GET", "/api/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("berth serve did not start:\n" + open(os.path.join(tmp, "server.log")).read())
            time.sleep(0.05)
        t0 = time.perf_counter()

        def submit(start):
            for k in range(start, launches, 4):
                status, body = request(port, token, "POST", "/api/v1/projects/load/launch",
                                       {"tool": "hello", "inputs": {"word": f"w{k}"}})
                assert status == 202, (status, body)

        threads = [threading.Thread(target=submit, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        while True:
            done = 0
            for st in TERMINAL:
                status, page = request(port, token, "GET", f"/api/v1/runs?limit=1&status={st}")
                done += page["total"] if status == 200 else 0
            if done >= launches and not any(t.is_alive() for t in threads):
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        status, page = request(port, token, "GET", "/api/v1/runs?limit=1&status=succeeded")
        assert page["total"] == launches, f"only {page['total']} of {launches} launches succeeded"
        return elapsed
    finally:
        proc.terminate()
        proc.wait()


def pipeline_round(berth, docker_host, launches, jobs):
    tmp, env = setup(berth, docker_host)
    items = ", ".join(f"w{k}" for k in range(launches))
    with open(os.path.join(tmp, "pipeline.yaml"), "w") as f:
        f.write(f"berth-pipeline: 1\nname: throughput\nsteps:\n  hello:\n    descriptor: hello.json\n"
                f"    foreach: [{items}]\n    inputs:\n      word: ${{item}}\n")
    t0 = time.perf_counter()
    out = subprocess.run([berth, "pipeline", "run", "pipeline.yaml", "-o", "out", "--jobs", str(jobs), "--pull",
                          "never", "--json"], env=env, cwd=tmp, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit("the pipeline failed:\n" + out.stderr)
    tasks = json.loads(out.stdout)["tasks"]
    assert sum(1 for t in tasks if t["status"] == "succeeded") == launches, "not every task succeeded"
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--launches", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--berth", default=os.path.join(REPO, "target/release/berth"))
    args = ap.parse_args()
    out = subprocess.run([os.path.join(REPO, "scripts/dockerd.sh"), "start"], check=True, capture_output=True,
                         text=True).stdout
    docker_host = out.strip().split("=", 1)[1].strip("'\"")
    subprocess.run([os.path.join(REPO, "scripts/busybox-image.sh"), IMAGE], check=True,
                   env={**os.environ, "DOCKER_HOST": docker_host}, capture_output=True)
    serve, pipeline = [], []
    for r in range(args.rounds):
        s = serve_round(args.berth, docker_host, args.launches, args.workers)
        p = pipeline_round(args.berth, docker_host, args.launches, args.workers)
        serve.append(args.launches / s)
        pipeline.append(args.launches / p)
        print(f"round {r + 1}: serve {serve[-1]:.2f} launches/s ({s:.1f} s), "
              f"pipeline {pipeline[-1]:.2f} tasks/s ({p:.1f} s)", flush=True)
    ms, mp = statistics.median(serve), statistics.median(pipeline)
    print(f"median: serve {ms:.2f}/s, pipeline {mp:.2f}/s, ratio serve/pipeline {ms / mp:.2f}")


if __name__ == "__main__":
    main()
