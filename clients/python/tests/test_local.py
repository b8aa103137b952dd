"""``berth.Local`` against the real binary and a real Docker engine: a run and its record, a
session with commands and the tool's own command, streamed output, berth's errors."""

from __future__ import annotations

import json

from typing import List, Tuple

import pytest

from berth import BerthError, Local, RunFailed

from conftest import BUSYBOX, World


def local(world: World) -> Local:
    return Local(world.bin, env=world.env, cwd=world.work)


def test_a_run_is_recorded_and_shown(world: World) -> None:
    b = local(world)
    outcome = b.run("count", {"input": str(world.data / "a.txt")}, output_dir=world.root / "out")
    assert outcome["status"] == "succeeded", outcome
    assert (world.root / "out" / "out" / "count.txt").read_text().strip() == "12"
    run_id = outcome["run_id"]
    record = b.show(run_id)
    assert record["exit-code"] == 0 if "exit-code" in record else True
    assert any(r["id"] == run_id or r.get("run_id") == run_id for r in b.runs(limit=5))
    assert "counting" in b.logs(run_id)


def test_a_failed_run_raises_with_its_outcome_and_a_bad_tool_with_berths_hint(world: World) -> None:
    b = local(world)
    fail = world.work / "fail.json"
    fail.write_text(json.dumps({
        "name": "fail", "tool-version": "1", "description": "Exits with a code.", "schema-version": "0.5",
        "command-line": "echo failing >&2; exit [CODE]", "container-image": {"type": "docker", "image": BUSYBOX},
        "inputs": [{"id": "code", "name": "Code", "type": "Number", "integer": True, "value-key": "[CODE]"}],
    }))
    [added] = b.add_tool(fail)
    assert (added["name"], added["outcome"]) == ("fail", "registered")
    assert b.add_tool(fail)[0]["outcome"] == "unchanged"
    assert {t["name"] for t in b.tools()} == {"count", "fail"}
    with pytest.raises(RunFailed) as e:
        b.run("fail", {"code": 4}, output_dir=world.root / "out2")
    assert e.value.result["status"] == "failed" and e.value.result["exit_code"] == 4, e.value.result
    with pytest.raises(BerthError) as e2:
        b.run("no-such-tool", {})
    assert "no-such-tool" in str(e2.value) and e2.value.status not in (None, 0)


def test_a_session_runs_commands_and_the_tools_own_command_step_by_step(world: World) -> None:
    b = local(world)
    seen: List[Tuple[str, str]] = []
    with b.start_session("count", {"input": str(world.data / "a.txt")}, output_dir=world.root / "sout", idle_timeout="5m") as s:
        assert s.record.status == "running"
        step = s.exec(["sh", "-c", "echo one; echo two >&2; echo made > made.txt"], output=lambda st, text: seen.append((st, text)))
        assert step.exit_code == 0 and step.seq == 1
        assert [c.path for c in step.changes] == ["made.txt"] and step.changes[0].change == "added"
        assert "one" in step.stdout and "two" in step.stderr
        assert any("one" in text for _, text in seen), seen
        bad = s.exec(["sh", "-c", "exit 3"])
        assert bad.exit_code == 3
        with pytest.raises(RunFailed):
            s.exec(["false"], check=True)
        own = s.exec(inputs={"input": str(world.data / "a.txt"), "name": "again"})
        assert own.exit_code == 0 and any(c.path == "out/again.txt" for c in own.changes)
        detail = s.show()
        assert [st.seq for st in detail.steps] == [1, 2, 3, 4]
        assert any(r.id == s.id for r in b.sessions())
    assert s.record.status == "stopped"
    assert b.get_session(s.id).session.ended_at is not None
    with pytest.raises(BerthError) as e:
        b.exec(s.id, ["true"])
    assert "stopped" in str(e.value) or "not running" in str(e.value)
