"""``berth.Server`` against a real ``berth serve`` on loopback running on a real Docker engine:
a launch and its wait, logs (whole and followed), outputs listed and downloaded, a session with
streamed exec, the project rules (an outsider gets 404), errors with berth's hint."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import List, Tuple

import pytest

from berth import BerthError, RunFailed, Server, models

from conftest import Service


def test_health_and_who_am_i(service: Service) -> None:
    s = Server(service.url, service.alice)
    h = s.health()
    assert isinstance(h, models.Health) and h.status == "ok" and h.engine_reachable
    me = s.me()
    assert me.user.name == "alice" and me.user.role == "user" and [p.id for p in me.projects] == ["p1"]
    assert [p.id for p in s.projects()] == ["p1"]
    assert [t.name for t in s.tools()] == ["count"]
    assert s.tool("count").descriptor["name"] == "count"


def test_a_run_launched_waited_for_with_its_logs_and_outputs(service: Service, tmp_path: Path) -> None:
    s = Server(service.url, service.alice)
    data = service.world.data / "a.txt"
    streamed: List[Tuple[str, str]] = []
    detail = s.run("p1", "count", {"input": str(data)}, timeout=120, output=lambda st, t: streamed.append((st, t)))
    assert isinstance(detail, models.RunDetail)
    assert detail.status == "succeeded" and detail.exit_code == 0 and detail.project == "p1"
    assert detail.provenance is not None
    assert "counting" in s.logs(detail.id)
    assert any("counting" in t for _, t in streamed), streamed
    page = s.runs(project="p1")
    assert page.total >= 1 and page.items[0].id == detail.id
    listing = s.outputs(detail.id, "out")
    assert [e.name for e in listing.entries] == ["count.txt"] and listing.entries[0].size == 3
    got = s.download(detail.id, "out/count.txt", tmp_path)
    assert got.read_text().strip() == "12"
    all_out = s.download_outputs(detail.id, tmp_path / "all")
    assert (all_out / "out" / "count.txt").read_text().strip() == "12"
    assert not list(all_out.glob(".berth-*")), "no archive left behind"


def test_a_failed_run_and_refusals_carry_berths_message_status_and_hint(service: Service) -> None:
    s = Server(service.url, service.alice)
    with pytest.raises(BerthError) as e:
        s.launch("p1", "count", {"input": "/etc/passwd"})
    assert e.value.status == 400 and "outside the data roots" in str(e.value)
    outsider = Server(service.url, service.bob)
    with pytest.raises(BerthError) as e2:
        outsider.launch("p1", "count", {"input": str(service.world.data / "a.txt")})
    assert e2.value.status == 404
    with pytest.raises(BerthError) as e3:
        Server(service.url, "not-a-token").me()
    assert e3.value.status == 401 and e3.value.hint
    with pytest.raises(BerthError) as e4:
        Server("http://127.0.0.1:9").health()
    assert "cannot reach berth" in str(e4.value)
    missing = service.world.data / "missing.txt"
    with pytest.raises((BerthError, RunFailed)):
        s.run("p1", "count", {"input": str(missing)}, timeout=60)


def test_a_session_with_streamed_commands_the_tools_own_command_and_stop(service: Service) -> None:
    s = Server(service.url, service.alice)
    data = str(service.world.data / "a.txt")
    sess = s.start_session("p1", "count", {"input": data}, idle_timeout=300)
    assert sess.record.status == "running" and sess.record.project_id == "p1"
    try:
        chunks: List[Tuple[str, str]] = []
        step = sess.exec(["sh", "-c", "for i in 1 2 3; do echo line $i; done; echo oops >&2; echo é > accent.txt"],
                         output=lambda st, t: chunks.append((st, t)))
        assert step.exit_code == 0
        assert "".join(t for st, t in chunks if st == "stdout") == "line 1\nline 2\nline 3\n"
        assert "".join(t for st, t in chunks if st == "stderr") == "oops\n"
        assert [c.path for c in step.changes] == ["accent.txt"]
        plain = sess.exec(["sh", "-c", "exit 5"])
        assert plain.exit_code == 5
        own = sess.exec(inputs={"input": data, "name": "svc"})
        assert own.exit_code == 0 and any(c.path == "out/svc.txt" for c in own.changes)
        with pytest.raises(BerthError) as e:
            sess.exec(inputs={"input": "/etc/passwd"})
        assert e.value.status == 400 and "outside the data roots" in str(e.value)
        other = service.world.data / "b.txt"
        other.write_text("not mounted\n")
        with pytest.raises(BerthError) as e1:
            sess.exec(inputs={"input": str(other)})
        assert e1.value.status == 400 and "b.txt" in str(e1.value), e1.value
        assert [st.seq for st in sess.show().steps] == [1, 2, 3]
        assert any(x.id == sess.id for x in s.sessions())
        with pytest.raises(BerthError) as e2:
            Server(service.url, service.bob).get_session(sess.id)
        assert e2.value.status == 404
    finally:
        stopped = sess.stop()
    assert stopped.status == "stopped"
    with pytest.raises(BerthError) as e3:
        sess.exec(["true"])
    assert e3.value.status == 409
    with pytest.raises(BerthError) as e4:
        s.exec(sess.id, ["true"], output=lambda *_: None)
    assert e4.value.status == 409


def test_the_served_document_is_the_committed_one(service: Service) -> None:
    import json
    committed = json.loads((Path(__file__).resolve().parents[1] / "openapi.json").read_text())
    assert Server(service.url).openapi() == committed


def test_a_command_silent_for_longer_than_the_clients_timeout_is_waited_for(service: Service) -> None:
    # The client's timeout is for ordinary requests; an exec (streamed or not) may be silent longer.
    s = Server(service.url, service.alice, timeout=1.5)
    sess = s.start_session("p1", "count", {"input": str(service.world.data / "a.txt")}, idle_timeout=300)
    try:
        assert sess.exec(["sh", "-c", "sleep 3; echo done"]).stdout == "done\n"
        seen: List[Tuple[str, str]] = []
        step = sess.exec(["sh", "-c", "sleep 3; echo streamed"], output=lambda st, t: seen.append((st, t)))
        assert step.exit_code == 0 and seen == [("stdout", "streamed\n")]
    finally:
        sess.stop()
