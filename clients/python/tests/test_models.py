"""The models are what the server's OpenAPI document generates, and the committed document is
what the binary serves: the client and the server cannot drift apart unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import berth
from berth import models

HERE = Path(__file__).resolve().parents[1]


def test_the_committed_document_is_what_berth_serves(berth_bin: str) -> None:
    out = subprocess.run([berth_bin, "serve", "--openapi"], capture_output=True, text=True, check=True)
    served = json.loads(out.stdout)
    committed = json.loads((HERE / "openapi.json").read_text())
    assert served == committed, (
        "clients/python/openapi.json differs from `berth serve --openapi`: run "
        "`target/debug/berth serve --openapi > clients/python/openapi.json && "
        "python3 clients/python/scripts/generate_models.py`"
    )


def test_the_models_are_what_the_document_generates() -> None:
    out = subprocess.run(
        [sys.executable, str(HERE / "scripts" / "generate_models.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


def test_every_schema_of_the_document_has_a_model() -> None:
    doc = json.loads((HERE / "openapi.json").read_text())
    for name in doc["components"]["schemas"]:
        assert hasattr(models, name), name


def test_a_model_is_built_from_json_nested_models_included_and_unknown_fields_ignored() -> None:
    step = {
        "seq": 1, "argv": ["wc", "-c"], "invocation_json": None, "exit_code": 0, "started_at": "t0",
        "finished_at": "t1", "duration_ms": 5, "changes": [{"path": "a", "change": "added", "sha256": "ab"}],
        "stdout": "3\n", "stderr": "", "error": None, "from_a_newer_server": True,
    }
    s = models.SessionStep.from_json(step)
    assert s.changes[0].path == "a" and isinstance(s.changes[0], models.OutputChange)
    ev = models.ExecEvent.from_json({"step": step})
    assert ev.step is not None and ev.step.exit_code == 0 and ev.data is None


def test_a_missing_required_field_names_the_model_and_the_field() -> None:
    with pytest.raises(KeyError, match="SessionStep: the required field `argv`"):
        models.SessionStep.from_json({"seq": 1})
    with pytest.raises(TypeError, match="RunPage: expected a JSON object"):
        models.RunPage.from_json([])  # type: ignore[arg-type]


def test_the_package_is_typed() -> None:
    assert (Path(berth.__file__).parent / "py.typed").exists()
