"""Fixtures for the client's tests: the real ``berth`` binary, a real Docker engine, a real
``berth serve`` on loopback. A missing component fails the test with the reason; nothing is
skipped.

``BERTH_BIN`` names the binary (default: the repository's ``target/debug/berth``, which
``cargo build -p berth`` makes); ``DOCKER_HOST`` an engine (default: the repository's private
one, started with ``scripts/dockerd.sh`` as ``scripts/test.sh`` does).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[3]
BUSYBOX = "berth-test/busybox:latest"


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def berth_bin() -> str:
    path = os.environ.get("BERTH_BIN") or str(REPO / "target" / "debug" / "berth")
    if not os.access(path, os.X_OK):
        _fail(f"no berth binary at {path}: run `cargo build -p berth` (or set BERTH_BIN)")
    return path


@pytest.fixture(scope="session")
def docker_host() -> str:
    host = os.environ.get("DOCKER_HOST")
    if not host:
        out = subprocess.run([str(REPO / "scripts" / "dockerd.sh"), "start"], capture_output=True, text=True)
        if out.returncode != 0:
            _fail(f"no Docker engine: scripts/dockerd.sh start failed:\n{out.stderr}")
        line = next((ln for ln in out.stdout.splitlines() if "DOCKER_HOST=" in ln), "")
        host = line.split("DOCKER_HOST=", 1)[1].strip().strip("'\"")
    img = subprocess.run(
        [str(REPO / "scripts" / "busybox-image.sh"), BUSYBOX], capture_output=True, text=True, env={**os.environ, "DOCKER_HOST": host}
    )
    if img.returncode != 0:
        _fail(f"the test image {BUSYBOX} could not be made:\n{img.stderr}")
    return host


def count_tool() -> Dict[str, object]:
    """A Boutiques tool that counts a file's bytes and says so on stdout."""
    return {
        "name": "count",
        "tool-version": "1.0",
        "description": "Counts the bytes of a file.",
        "schema-version": "0.5",
        "command-line": "mkdir -p out && echo counting [INPUT] && wc -c < [INPUT] > out/[NAME].txt",
        "container-image": {"type": "docker", "image": BUSYBOX},
        "inputs": [
            {"id": "input", "name": "Input", "type": "File", "value-key": "[INPUT]"},
            {"id": "name", "name": "Name", "type": "String", "value-key": "[NAME]", "default-value": "count", "optional": True},
        ],
        "output-files": [{"id": "count", "name": "Count", "path-template": "out/[NAME].txt"}],
    }


class World:
    """A private berth home, a working directory with data, and the engine."""

    def __init__(self, root: Path, berth_bin: str, docker_host: str) -> None:
        self.root = root
        self.home = root / "home"
        self.work = root / "work"
        self.data = root / "data"
        for d in (self.home, self.work, self.data):
            d.mkdir()
        self.bin = berth_bin
        self.env = {
            "BERTH_HOME": str(self.home),
            "BERTH_CONFIG": str(self.home / "config.toml"),
            "DOCKER_HOST": docker_host,
            "BERTH_ENGINE": "docker",
        }
        (self.data / "a.txt").write_text("hello berth\n")
        self.tool_file = self.work / "count.json"
        self.tool_file.write_text(json.dumps(count_tool()))

    def berth(self, *args: str) -> str:
        out = subprocess.run([self.bin, *args], capture_output=True, text=True, env={**os.environ, **self.env}, cwd=self.work)
        if out.returncode != 0:
            _fail(f"berth {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout


@pytest.fixture()
def world(tmp_path: Path, berth_bin: str, docker_host: str) -> World:
    w = World(tmp_path, berth_bin, docker_host)
    w.berth("tool", "add", str(w.tool_file))
    return w


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """``berth serve`` on loopback with an admin, a member of project `p1` and an outsider."""

    def __init__(self, world: World) -> None:
        self.world = world
        world.home.joinpath("config.toml").write_text(
            f'[serve]\nsession_commands = "any"\npipeline_dirs = ["{world.data}"]\n'
        )
        world.berth("user", "add", "admin", "--role", "admin")
        world.berth("user", "add", "alice")
        world.berth("user", "add", "bob")
        self.admin = world.berth("user", "token", "admin").strip()
        self.alice = world.berth("user", "token", "alice").strip()
        self.bob = world.berth("user", "token", "bob").strip()
        world.berth("project", "add", "p1", "--data-root", str(world.data), "--member", "alice")
        world.berth("project", "enable", "p1", "count")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(world.root / "server.log", "wb")
        self.proc = subprocess.Popen(
            [world.bin, "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**os.environ, **world.env},
            cwd=world.work,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/api/v1/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        _fail(f"berth serve did not answer within 30 s:\n{self.server_log()}")

    def server_log(self) -> str:
        return (self.world.root / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture()
def service(world: World) -> Iterator[Service]:
    s = Service(world)
    try:
        yield s
    finally:
        s.stop()


def lines_of(chunks: List[str]) -> List[str]:
    return "".join(chunks).splitlines()
