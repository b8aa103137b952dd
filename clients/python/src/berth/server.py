"""A client of ``berth serve``: the REST API under ``/api/v1`` with an API token.

Only the standard library is used (``urllib``), so the package installs anywhere Python does.
Responses are turned into the generated models (``berth.models``); errors become
:class:`~berth.errors.BerthError` with berth's message and hint.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import models
from .session import Session
from .errors import BerthError, RunFailed, Timeout

PathLike = Union[str, "os.PathLike[str]"]
Output = Callable[[str, str], None]
"""Called with (``"stdout"`` or ``"stderr"``, text) as output arrives."""


class Server:
    """A connection to a ``berth serve``.

    >>> s = Server("http://127.0.0.1:8080", token=os.environ["BERTH_TOKEN"])
    >>> run = s.run("study1", "dcm2niix", {"input": "/data/study1/sub-01/dicom"})
    >>> run.status
    'succeeded'
    """

    def __init__(self, url: str, token: Optional[str] = None, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token if token is not None else os.environ.get("BERTH_TOKEN")
        self.timeout = timeout

    # --- transport -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        accept: str = "application/json",
        timeout: Optional[float] = -1.0,
    ) -> Any:
        """One request; ``timeout`` -1 means the client's, ``None`` none at all (a stream, an exec,
        a download: they may stay silent longer than any fixed timeout)."""
        url = self.url + "/api/v1" + path
        if query:
            pairs: List[Tuple[str, str]] = []
            for k, v in query.items():
                if v is None:
                    continue
                if isinstance(v, bool):
                    v = "true" if v else "false"
                pairs.append((k, str(v)))
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        data = None
        headers = {"Accept": accept}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            if timeout is not None and timeout < 0:
                timeout = self.timeout
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            raise _error_of(e) from None
        except urllib.error.URLError as e:
            raise BerthError(
                f"cannot reach berth at {self.url}: {e.reason}",
                hint="is `berth serve` running there? (`berth serve --bind ADDRESS`)",
            ) from None

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        with self._request(method, path, **kw) as resp:
            raw = resp.read()
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise BerthError(f"{method} {path}: the answer is not JSON") from None

    # --- service ---------------------------------------------------------------------------

    def health(self) -> models.Health:
        """The service's state (no token needed)."""
        return models.Health.from_json(self._json("GET", "/health"))

    def me(self) -> models.Me:
        """Who the token belongs to."""
        return models.Me.from_json(self._json("GET", "/me"))

    def openapi(self) -> Dict[str, Any]:
        """The API's OpenAPI document."""
        doc: Dict[str, Any] = self._json("GET", "/openapi.json")
        return doc

    # --- tools and projects ----------------------------------------------------------------

    def tools(self) -> List[models.ToolView]:
        """The registered tools."""
        return [models.ToolView.from_json(t) for t in self._json("GET", "/tools")]

    def tool(self, name: str) -> models.ToolDetail:
        """A tool with its descriptor."""
        return models.ToolDetail.from_json(self._json("GET", "/tools/" + _seg(name)))

    def projects(self) -> List[models.Project]:
        """The projects the caller belongs to (admins: all)."""
        return [models.Project.from_json(p) for p in self._json("GET", "/projects")]

    def files(self, project: str, path: str = "") -> models.Listing:
        """A directory of a project's data roots (``path`` relative to them)."""
        return models.Listing.from_json(self._json("GET", f"/projects/{_seg(project)}/files", query={"path": path}))

    # --- runs ------------------------------------------------------------------------------

    def launch(
        self,
        project: str,
        tool: str,
        inputs: Mapping[str, Any],
        *,
        version: Optional[str] = None,
        mounts: Optional[Mapping[str, str]] = None,
    ) -> models.Accepted:
        """Queues a run of ``tool`` in ``project``; returns at once (see :meth:`wait`)."""
        body: Dict[str, Any] = {"tool": tool, "inputs": dict(inputs)}
        if version:
            body["version"] = version
        if mounts:
            body["mounts"] = dict(mounts)
        return models.Accepted.from_json(self._json("POST", f"/projects/{_seg(project)}/launch", body=body))

    def dry_run(self, project: str, tool: str, inputs: Mapping[str, Any], *, version: Optional[str] = None) -> models.DryRun:
        """What a launch would run (command line, image, mounts), without running it."""
        body: Dict[str, Any] = {"tool": tool, "inputs": dict(inputs), "dry_run": True}
        if version:
            body["version"] = version
        return models.DryRun.from_json(self._json("POST", f"/projects/{_seg(project)}/launch", body=body))

    def run(
        self,
        project: str,
        tool: str,
        inputs: Mapping[str, Any],
        *,
        version: Optional[str] = None,
        timeout: Optional[float] = None,
        check: bool = True,
        output: Optional[Output] = None,
    ) -> models.RunDetail:
        """Launches ``tool`` and waits for it to end.

        With ``check`` (the default) a run that did not succeed raises :class:`RunFailed`
        (its detail in ``.result``). ``output`` receives the run's stdout as it is written.
        """
        accepted = self.launch(project, tool, inputs, version=version)
        if output is not None:
            for text in self.follow_logs(accepted.id, "stdout"):
                output("stdout", text)
        detail = self.wait(accepted.id, timeout=timeout)
        if check and detail.status != "succeeded":
            raise RunFailed(f"run {detail.id} of {tool} ended {detail.status}" + _why(detail), detail)
        return detail

    def wait(self, run_id: str, *, timeout: Optional[float] = None, poll: float = 0.5) -> models.RunDetail:
        """Waits until a run is over; its detail."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            detail = self.get_run(run_id)
            if detail.terminal:
                return detail
            if deadline is not None and time.monotonic() >= deadline:
                raise Timeout(f"run {run_id} is still {detail.status} after {timeout} s")
            time.sleep(poll)

    def runs(
        self,
        *,
        status: Optional[str] = None,
        tool: Optional[str] = None,
        project: Optional[str] = None,
        bulk: Optional[str] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> models.RunPage:
        """A page of runs the caller may see, newest first."""
        q = {"status": status, "tool": tool, "project": project, "bulk": bulk, "limit": limit, "offset": offset}
        return models.RunPage.from_json(self._json("GET", "/runs", query=q))

    def get_run(self, run_id: str) -> models.RunDetail:
        """A run with its request and provenance record."""
        return models.RunDetail.from_json(self._json("GET", "/runs/" + _seg(run_id)))

    def kill(self, run_id: str) -> models.RunView:
        """Stops a queued or running run."""
        return models.RunView.from_json(self._json("POST", f"/runs/{_seg(run_id)}/kill"))

    def logs(self, run_id: str, stream: str = "stdout") -> str:
        """A run's log as written so far."""
        with self._request("GET", f"/runs/{_seg(run_id)}/logs/{_seg(stream)}", accept="text/plain") as resp:
            raw: bytes = resp.read()
        return raw.decode("utf-8", "replace")

    def follow_logs(self, run_id: str, stream: str = "stdout") -> Iterator[str]:
        """A run's log as it is written, until the run ends (server-sent events)."""
        resp = self._request("GET", f"/runs/{_seg(run_id)}/logs/{_seg(stream)}/live", accept="text/event-stream", timeout=None)
        with resp:
            for event, data in _sse(resp):
                if event == "chunk":
                    yield str(json.loads(data))
                elif event == "end":
                    return

    def outputs(self, run_id: str, path: str = "") -> models.Listing:
        """A directory of a run's outputs."""
        return models.Listing.from_json(self._json("GET", f"/runs/{_seg(run_id)}/outputs", query={"path": path}))

    def download(self, run_id: str, path: str, dest: PathLike) -> Path:
        """Saves one output file to ``dest`` (a file, or a directory to put it in)."""
        target = Path(dest)
        if target.is_dir():
            target = target / Path(path).name
        with self._request("GET", f"/runs/{_seg(run_id)}/outputs/file", query={"path": path}, accept="*/*", timeout=None) as resp:
            _save(resp, target)
        return target

    def download_outputs(self, run_id: str, dest: PathLike) -> Path:
        """Saves all of a run's outputs into the directory ``dest`` (made if missing)."""
        target = Path(dest)
        target.mkdir(parents=True, exist_ok=True)
        archive = target / f".berth-{run_id}.tar.part"
        with self._request("GET", f"/runs/{_seg(run_id)}/outputs/archive", accept="application/x-tar", timeout=None) as resp:
            _save(resp, archive)
        try:
            with tarfile.open(archive) as tar:
                _extract(tar, target)
        finally:
            archive.unlink(missing_ok=True)
        return target

    # --- sessions --------------------------------------------------------------------------

    def start_session(
        self,
        project: str,
        tool: str,
        inputs: Optional[Mapping[str, Any]] = None,
        *,
        version: Optional[str] = None,
        idle_timeout: Optional[int] = None,
    ) -> Session:
        """Starts a long-lived container of ``tool`` in ``project`` (its File ``inputs`` mounted)."""
        body: Dict[str, Any] = {"tool": tool, "inputs": dict(inputs or {})}
        if version:
            body["version"] = version
        if idle_timeout is not None:
            body["idle_timeout_secs"] = int(idle_timeout)
        record = models.ToolSessionRecord.from_json(self._json("POST", f"/projects/{_seg(project)}/sessions", body=body))
        return Session(self, record)

    def sessions(self) -> List[models.ToolSessionRecord]:
        """The sessions the caller may use, newest first."""
        return [models.ToolSessionRecord.from_json(s) for s in self._json("GET", "/sessions")]

    def session(self, session_id: str) -> Session:
        """A session already started (by this client or another)."""
        return Session(self, self.get_session(session_id).session)

    def get_session(self, session_id: str) -> models.SessionDetail:
        """A session with its steps."""
        return models.SessionDetail.from_json(self._json("GET", "/sessions/" + _seg(session_id)))

    def exec(
        self,
        session_id: str,
        command: Optional[Sequence[str]] = None,
        *,
        inputs: Optional[Mapping[str, Any]] = None,
        output: Optional[Output] = None,
        check: bool = False,
    ) -> models.SessionStep:
        """Runs ``command`` (or the tool's own command for ``inputs``) in a session.

        The output arrives as it is written when ``output`` is given (the step is streamed as
        lines of JSON); the recorded step is returned either way. With ``check`` a non-zero
        exit code raises :class:`RunFailed`.
        """
        if (command is None) == (inputs is None):
            raise ValueError("give either `command` or `inputs`")
        body: Dict[str, Any] = {"command": list(command)} if command is not None else {"inputs": dict(inputs or {})}
        path = f"/sessions/{_seg(session_id)}/exec"
        if output is None:
            step = models.SessionStep.from_json(self._json("POST", path, body=body, timeout=None))
        else:
            step = self._exec_streamed(path, body, output)
        if check and step.exit_code != 0:
            raise RunFailed(f"`{' '.join(step.argv)}` exited with {step.exit_code}", step)
        return step

    def _exec_streamed(self, path: str, body: Dict[str, Any], output: Output) -> models.SessionStep:
        step: Optional[models.SessionStep] = None
        with self._request("POST", path, body=body, accept="application/x-ndjson", timeout=None) as resp:
            for raw in resp:
                if not raw.strip():
                    continue
                event = models.ExecEvent.from_json(json.loads(raw))
                if event.data is not None and event.stream is not None:
                    output(event.stream, event.data)
                if event.error is not None:
                    raise BerthError(event.error.error, hint=event.error.hint, status=event.status)
                if event.step is not None:
                    step = event.step
        if step is None:
            raise BerthError(f"the stream of {path} ended without the step", hint="see the server's log")
        return step

    def stop_session(self, session_id: str) -> models.ToolSessionRecord:
        """Stops a session and removes its container."""
        return models.ToolSessionRecord.from_json(self._json("DELETE", "/sessions/" + _seg(session_id)))

    # --- pipelines -------------------------------------------------------------------------

    def pipelines(self) -> List[models.PipelineRunSummary]:
        """Pipeline runs (admins)."""
        return [models.PipelineRunSummary.from_json(p) for p in self._json("GET", "/pipelines")]

    def start_pipeline(self, file: str, **options: Any) -> models.PipelineStarted:
        """Starts a pipeline file on the server (admins); ``options`` as in ``PipelineRequest``."""
        body = {"file": file, **{k: v for k, v in options.items() if v is not None}}
        return models.PipelineStarted.from_json(self._json("POST", "/pipelines", body=body))

    def pipeline(self, pipeline_id: str) -> models.PipelineRunRecord:
        """A pipeline run with its tasks."""
        return models.PipelineRunRecord.from_json(self._json("GET", "/pipelines/" + _seg(pipeline_id)))

    def wait_pipeline(self, pipeline_id: str, *, timeout: Optional[float] = None, poll: float = 1.0) -> models.PipelineRunRecord:
        """Waits until a pipeline run is over."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            p = self.pipeline(pipeline_id)
            if p.status in ("succeeded", "failed", "cancelled"):
                return p
            if deadline is not None and time.monotonic() >= deadline:
                raise Timeout(f"pipeline {pipeline_id} is still {p.status} after {timeout} s")
            time.sleep(poll)


def _seg(value: str) -> str:
    """One path segment, percent-encoded (a `/` in an id never names another endpoint)."""
    return urllib.parse.quote(value, safe="")


def _why(detail: models.RunDetail) -> str:
    if detail.error:
        return f": {detail.error}"
    if detail.exit_code is not None:
        return f" (exit code {detail.exit_code})"
    return ""


def _error_of(e: urllib.error.HTTPError) -> BerthError:
    raw = e.read() or b""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        return BerthError(str(body["error"]), hint=body.get("hint"), status=e.code, problems=body.get("problems"))
    text = raw.decode("utf-8", "replace").strip()[:500]
    return BerthError(f"{e.code} {e.reason}" + (f": {text}" if text else ""), status=e.code)


def _sse(resp: BinaryIO) -> Iterator[Tuple[str, str]]:
    """(event, data) of a ``text/event-stream`` (comments and keep-alives skipped)."""
    event, data = "message", []  # type: Tuple[str, List[str]]
    for raw in resp:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


def _save(resp: BinaryIO, target: Path) -> None:
    """Streams to ``target`` through a temporary file (no half-written file under its name)."""
    tmp = target.with_name(f".{target.name}.part")
    try:
        with open(tmp, "wb") as f:
            shutil.copyfileobj(resp, f, 1 << 20)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _extract(tar: tarfile.TarFile, target: Path) -> None:
    """Extracts regular files and directories only, never outside ``target``."""
    root = target.resolve()
    for member in tar.getmembers():
        dest = (root / member.name).resolve()
        if dest != root and root not in dest.parents:
            raise BerthError(f"the archive names `{member.name}`, outside the destination")
        if member.isdir():
            dest.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            if src is None:
                continue
            with src:
                _save(src, dest)  # type: ignore[arg-type]
