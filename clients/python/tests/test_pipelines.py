"""Pipelines from Python: run to the end on this machine (``Local.run_pipeline``), and started
and waited for through a server (``Server.start_pipeline``), on a small BIDS dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth import BerthError, Local, Server, models

from conftest import Service, World

PIPELINE = """berth-pipeline: 1
name: counts
dataset: {bids: bids}
steps:
  count:
    descriptor: count.json
    foreach: participants
    inputs:
      input: {glob: "sub-${participant}/anat/*_T1w.txt"}
      name: "sub-${participant}"
"""


def dataset(world: World) -> Path:
    bids = world.data / "bids"
    (bids / "sub-01" / "anat").mkdir(parents=True)
    (bids / "sub-02" / "anat").mkdir(parents=True)
    (bids / "dataset_description.json").write_text('{"Name": "t", "BIDSVersion": "1.8.0"}')
    (bids / "sub-01" / "anat" / "sub-01_T1w.txt").write_text("one\n")
    (bids / "sub-02" / "anat" / "sub-02_T1w.txt").write_text("second\n")
    pipeline = world.data / "counts.yaml"
    pipeline.write_text(PIPELINE)
    (world.data / "count.json").write_text(world.tool_file.read_text())
    return bids


def test_a_pipeline_runs_over_the_participants_on_this_machine(world: World) -> None:
    bids = dataset(world)
    b = Local(world.bin, env=world.env, cwd=world.work)
    result = b.run_pipeline(world.data / "counts.yaml", output_dir=world.root / "pout", bids=bids)
    assert result["status"] == "succeeded", result
    pid = result["id"]
    assert any(p["id"] == pid for p in b.pipelines())
    detail = b.pipeline(pid)
    assert sorted(t["key"] for t in detail["tasks"]) == ["count/sub-01", "count/sub-02"]
    published = [p for p in (world.root / "pout").rglob("sub-0*.txt") if ".berth-work" not in p.parts]
    outs = sorted(p.read_text().strip() for p in published)
    assert outs == ["4", "7"], outs


def test_a_pipeline_started_through_the_server_and_waited_for(service: Service) -> None:
    world = service.world
    bids = dataset(world)
    admin = Server(service.url, service.admin)
    started = admin.start_pipeline("counts.yaml", bids=str(bids))
    assert isinstance(started, models.PipelineStarted)
    done = admin.wait_pipeline(started.id, timeout=180)
    assert done.status == "succeeded", done
    assert sorted(t.key for t in done.tasks) == ["count/sub-01", "count/sub-02"]
    assert all(t.status == "succeeded" for t in done.tasks)
    assert any(p.id == started.id and p.done == 2 for p in admin.pipelines())
    with pytest.raises(BerthError) as e:
        Server(service.url, service.alice).pipelines()
    assert e.value.status == 403
