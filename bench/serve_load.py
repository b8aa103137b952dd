#!/usr/bin/env python3
"""A bounded load test of `berth serve` on loopback (issue 7).

Phase 1: CLIENTS concurrent clients poll the API (run list, run detail, health) while LAUNCHES
launches of a trivial tool (busybox `echo`) are submitted and run WORKERS at a time. Every
launch must reach a terminal state and none may be lost. Reports p50 and p99 latency of the
polling requests and of the launch requests, and launches completed per second.

Phase 2: the same with the server killed (SIGKILL) when about half of the launches are done,
and started again at once: every launch must still end, none lost, none run twice.

Everything runs on the private Docker daemon of scripts/dockerd.sh (started if needed) and a
temporary BERTH_HOME; the server listens on 127.0.0.1 only.

Usage: python3 bench/serve_load.py [--launches 500] [--clients 50] [--workers 4] [--berth PATH]
"""
import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = {
    "name": "hello", "tool-version": "1", "schema-version": "0.5", "description": "Prints its input.",
    "command-line": "echo [WORD]",
    "container-image": {"type": "docker", "image": "berth-test/busybox:latest"},
    "inputs": [{"id": "word", "name": "Word", "type": "String", "value-key": "[WORD]"}],
}
TERMINAL = {"succeeded", "failed", "cancelled"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


class Api:
    """One keep-alive connection per thread."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.local = threading.local()

    def request(self, method, path, body=None):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            self.local.conn = None
            return None, None, time.perf_counter() - start
        elapsed = time.perf_counter() - start
        try:
            return status, json.loads(payload) if payload else None, elapsed
        except ValueError:
            return status, payload, elapsed


class Server:
    def __init__(self, berth, env, port, workers, log):
        self.args = [berth, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--max-bulk", "1000"]
        self.env, self.port, self.log = env, port, log
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/api/v1/health")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit("berth serve did not start:\n" + open(self.log).read())

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def phase(name, api, server, launches, clients, restart_at=None):
    stop = threading.Event()
    poll_lat, launch_lat, errors = [], [], []
    ids, ids_lock = [], threading.Lock()
    restarted = {"at": None}

    def poller(n):
        i = 0
        while not stop.is_set():
            i += 1
            with ids_lock:
                some = ids[(n * 7 + i) % len(ids)] if ids else None
            path = ("/api/v1/runs?limit=20" if i % 3 else "/api/v1/health") if (some is None or i % 2) else f"/api/v1/runs/{some}"
            status, _, t = api.request("GET", path)
            if status == 200:
                poll_lat.append(t)
            elif not restarted["at"] or time.time() - restarted["at"] > 15:
                errors.append((path, status, round(time.time() - (restarted["at"] or time.time()), 2)))
            time.sleep(0.02)

    threads = [threading.Thread(target=poller, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()

    def submitter(start, step):
        for k in range(start, launches, step):
            for _attempt in range(100):
                status, body, t = api.request("POST", "/api/v1/projects/load/launch", {"tool": "hello", "inputs": {"word": f"w{k}"}})
                if status == 202:
                    launch_lat.append(t)
                    with ids_lock:
                        ids.append(body["id"])
                    break
                time.sleep(0.2)  # the server is restarting
            else:
                errors.append(("launch", k))

    subs = [threading.Thread(target=submitter, args=(s, 5)) for s in range(5)]
    for s in subs:
        s.start()
    # Wait for every launch to end (restarting the server once if asked).
    while True:
        time.sleep(0.5)
        status, page, _ = api.request("GET", "/api/v1/runs?limit=1")
        if status != 200:
            continue
        counts = {}
        for st in ["queued", "starting", "running", "succeeded", "failed", "cancelled"]:
            s2, p2, _ = api.request("GET", f"/api/v1/runs?limit=1&status={st}")
            if s2 == 200:
                counts[st] = p2["total"]
        done = sum(counts.get(s, 0) for s in TERMINAL)
        if restart_at is not None and restarted["at"] is None and done >= restart_at:
            print(f"  [{name}] killing the server (SIGKILL) with {done} done, {counts.get('running', 0)} running, "
                  f"{counts.get('queued', 0)} queued", flush=True)
            restarted["at"] = time.time()  # failures from here on are the restart's
            server.kill()
            server.start()
            print(f"  [{name}] restarted in {time.time() - restarted['at']:.2f} s", flush=True)
        if page["total"] >= launches and done >= launches and not any(s.is_alive() for s in subs):
            break
    elapsed = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join()
    # Every launch accounted for, each run once.
    status, page, _ = api.request("GET", f"/api/v1/runs?limit=500")
    total = page["total"]
    seen, statuses, attempts = set(), {}, {}
    offset = 0
    while offset < total:
        _, page, _ = api.request("GET", f"/api/v1/runs?limit=500&offset={offset}")
        for r in page["items"]:
            seen.add(r["id"])
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            attempts[r["attempts"]] = attempts.get(r["attempts"], 0) + 1
        offset += 500
    lost = [i for i in ids if i not in seen]
    print(f"  [{name}] {len(ids)} launches accepted, {total} listed, statuses {statuses}, claims per launch {attempts}, lost {len(lost)}")
    print(f"  [{name}] {elapsed:.1f} s wall, {launches / elapsed:.2f} launches/s completed")
    print(f"  [{name}] polling requests: {len(poll_lat)}, p50 {pct(poll_lat, 50) * 1000:.1f} ms, p99 {pct(poll_lat, 99) * 1000:.1f} ms")
    print(f"  [{name}] launch requests:  {len(launch_lat)}, p50 {pct(launch_lat, 50) * 1000:.1f} ms, p99 {pct(launch_lat, 99) * 1000:.1f} ms")
    print(f"  [{name}] request errors outside the restart window: {len(errors)} {errors[:5]}")
    ok = not lost and statuses.get("succeeded", 0) == launches and not errors and len(ids) == launches
    return ok, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--launches", type=int, default=500)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--berth", default=os.path.join(REPO, "target/release/berth"))
    args = ap.parse_args()

    out = subprocess.run([os.path.join(REPO, "scripts/dockerd.sh"), "start"], check=True, capture_output=True, text=True).stdout
    docker_host = out.strip().split("=", 1)[1].strip("'\"")
    subprocess.run([os.path.join(REPO, "scripts/busybox-image.sh"), "berth-test/busybox:latest"], check=True,
                   env={**os.environ, "DOCKER_HOST": docker_host}, capture_output=True)
    tmp = tempfile.mkdtemp(prefix="berth-load-")
    env = {**os.environ, "BERTH_HOME": os.path.join(tmp, "home"), "BERTH_CONFIG": os.path.join(tmp, "none.toml"),
           "DOCKER_HOST": docker_host}
    env.pop("BERTH_ENGINE", None)

    def berth(*a):
        return subprocess.run([args.berth, *a], env=env, check=True, capture_output=True, text=True).stdout

    os.makedirs(os.path.join(tmp, "data"))
    with open(os.path.join(tmp, "hello.json"), "w") as f:
        json.dump(TOOL, f)
    berth("user", "add", "load")
    token = berth("user", "token", "load").strip()
    berth("project", "add", "load", "--data-root", os.path.join(tmp, "data"), "--member", "load")
    berth("tool", "add", os.path.join(tmp, "hello.json"))
    berth("project", "enable", "load", "hello")

    ok = True
    port = free_port()
    server = Server(args.berth, env, port, args.workers, os.path.join(tmp, "server.log"))
    server.start()
    api = Api(port, token)
    print(f"phase 1: {args.launches} launches, {args.clients} polling clients, {args.workers} workers")
    ok1, _ = phase("steady", api, server, args.launches, args.clients)
    server.stop()

    # Phase 2: a fresh home, so the counts are this phase's own.
    env["BERTH_HOME"] = os.path.join(tmp, "home2")
    berth("user", "add", "load")
    token = berth("user", "token", "load").strip()
    berth("project", "add", "load", "--data-root", os.path.join(tmp, "data"), "--member", "load")
    berth("tool", "add", os.path.join(tmp, "hello.json"))
    berth("project", "enable", "load", "hello")
    server = Server(args.berth, env, port, args.workers, os.path.join(tmp, "server2.log"))
    server.start()
    api = Api(port, token)
    print(f"phase 2: the same, with the server killed when half are done")
    ok2, _ = phase("restart", api, server, args.launches, args.clients, restart_at=args.launches // 2)
    server.stop()
    print("RESULT:", "every launch ended, none lost" if ok1 and ok2 else "FAILED")
    sys.exit(0 if ok1 and ok2 else 1)


if __name__ == "__main__":
    main()
