#!/usr/bin/env python3
"""Downloads under load (issue 18): CLIENTS clients download a SIZE_MIB output of one run at once,
then the run's whole output directory as a tar, from `berth serve` on loopback, while the
server's resident memory is sampled. Streaming must keep the server's memory bounded whatever
the size and the number of clients: the report gives the peak RSS (VmHWM) against the bytes
served, the aggregate throughput, and checks every client received the whole file with the
recorded SHA-256.

A real run writes the output: a tool running `dd` in the busybox test image, launched through
the API like any launch. Everything runs on the private Docker daemon of scripts/dockerd.sh and
a temporary BERTH_HOME (removed at the end).

Usage: python3 bench/download_load.py [--clients 20] [--size-mib 1024] [--berth PATH]
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = {
    "name": "big", "tool-version": "1", "schema-version": "0.5", "description": "Writes a large file.",
    "command-line": "mkdir -p out && dd if=/dev/urandom of=out/big.bin bs=1048576 count=[MIB] 2>&1",
    "container-image": {"type": "docker", "image": "berth-test/busybox:latest"},
    "inputs": [{"id": "mib", "name": "MiB", "type": "Number", "integer": True, "value-key": "[MIB]"}],
    "output-files": [{"id": "big", "name": "Big", "path-template": "out/big.bin"}],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, token, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": "Bearer " + token}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def download_all(port, token, path, clients):
    """CLIENTS concurrent downloads of PATH; each result: (bytes, sha256, seconds, status)."""
    results = [None] * clients
    barrier = threading.Barrier(clients)

    def one(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        barrier.wait()
        t0 = time.monotonic()
        c.request("GET", path, headers={"Authorization": "Bearer " + token})
        r = c.getresponse()
        h = hashlib.sha256()
        n = 0
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        results[i] = (n, h.hexdigest(), time.monotonic() - t0, r.status)
        c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--berth", default=os.path.join(REPO, "target/release/berth"))
    args = ap.parse_args()

    out = subprocess.run([os.path.join(REPO, "scripts/dockerd.sh"), "start"], check=True, capture_output=True, text=True).stdout
    docker_host = out.strip().split("=", 1)[1].strip("'\"")
    subprocess.run([os.path.join(REPO, "scripts/busybox-image.sh"), "berth-test/busybox:latest"], check=True,
                   env={**os.environ, "DOCKER_HOST": docker_host}, capture_output=True)
    tmp = tempfile.mkdtemp(prefix="berth-download-")
    env = {**os.environ, "BERTH_HOME": os.path.join(tmp, "home"), "BERTH_CONFIG": os.path.join(tmp, "none.toml"),
           "DOCKER_HOST": docker_host}
    env.pop("BERTH_ENGINE", None)
    server = None
    try:
        def berth(*a):
            return subprocess.run([args.berth, *a], env=env, check=True, capture_output=True, text=True).stdout

        os.makedirs(os.path.join(tmp, "data"))
        with open(os.path.join(tmp, "big.json"), "w") as f:
            json.dump(TOOL, f)
        berth("user", "add", "load")
        token = berth("user", "token", "load").strip()
        berth("project", "add", "load", "--data-root", os.path.join(tmp, "data"), "--member", "load")
        berth("tool", "add", os.path.join(tmp, "big.json"))
        berth("project", "enable", "load", "big")
        port = free_port()
        server = subprocess.Popen([args.berth, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "server.log"), "w"))
        for _ in range(300):
            try:
                if request(port, token, "GET", "/api/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        status, body = request(port, token, "POST", "/api/v1/projects/load/launch",
                               {"tool": "big", "inputs": {"mib": args.size_mib}})
        assert status == 202, body
        run = json.loads(body)["id"]
        while True:
            status, body = request(port, token, "GET", f"/api/v1/runs/{run}")
            detail = json.loads(body)
            if detail.get("terminal"):
                break
            time.sleep(0.5)
        assert detail["status"] == "succeeded", detail
        recorded = [f for f in detail["provenance"]["record"]["files"] if f["role"] == "output" and f.get("sha256")]
        want = recorded[0]["sha256"]
        size = args.size_mib << 20
        idle = rss_kib(server.pid, "VmRSS")
        print(f"server idle: RSS {idle / 1024:.1f} MiB; output {args.size_mib} MiB (sha256 {want[:16]}…)")

        peak_samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak_samples.append(rss_kib(server.pid, "VmRSS"))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        results, secs = download_all(port, token, f"/api/v1/runs/{run}/outputs/file?path=out/big.bin", args.clients)
        ok_file = all(r[3] == 200 and r[0] == size and r[1] == want for r in results)
        served = sum(r[0] for r in results)
        print(f"{args.clients} × file: {served / 2**30:.1f} GiB in {secs:.1f} s = {served / 2**20 / secs:.0f} MiB/s; "
              f"every client got the recorded bytes: {ok_file}; slowest client {max(r[2] for r in results):.1f} s")
        results, secs = download_all(port, token, f"/api/v1/runs/{run}/outputs/archive", args.clients)
        sizes = {r[0] for r in results}
        shas = {r[1] for r in results}
        ok_tar = all(r[3] == 200 for r in results) and len(shas) == 1 and min(sizes) > size
        served_tar = sum(r[0] for r in results)
        print(f"{args.clients} × tar: {served_tar / 2**30:.1f} GiB in {secs:.1f} s = {served_tar / 2**20 / secs:.0f} MiB/s; "
              f"identical archives holding the file: {ok_tar}")
        stop.set()
        sampler.join()
        hwm = rss_kib(server.pid, "VmHWM")
        print(f"server peak RSS while serving {(served + served_tar) / 2**30:.1f} GiB to {args.clients} clients at once: "
              f"{max(peak_samples) / 1024:.1f} MiB sampled, VmHWM {hwm / 1024:.1f} MiB (idle {idle / 1024:.1f} MiB)")
        ok = ok_file and ok_tar
        print("RESULT:", "ok" if ok else "FAILED")
        sys.exit(0 if ok else 1)
    finally:
        if server:
            server.terminate()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
