"""Models of berth's REST API, generated from its OpenAPI document (berth 0.1.0).

Do not edit: run ``python3 clients/python/scripts/generate_models.py`` after
``berth serve --openapi > clients/python/openapi.json``. CI fails when the two drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Tuple


def _expect_object(data: Any, model: str) -> None:
    if not isinstance(data, Mapping):
        raise TypeError(f"{model}: expected a JSON object, got {type(data).__name__}")


def _require(data: Mapping[str, Any], model: str, field: str) -> None:
    if field not in data:
        raise KeyError(f"{model}: the required field `{field}` is missing")


def _opt(value: Any, convert: Callable[[Any], Any]) -> Any:
    return None if value is None else convert(value)


# A user's role: admins manage users, projects, engines and images; users launch tools in
# their projects.
Role = Literal["admin", "user"]


# Where a run is in its life. `Succeeded`, `Failed` and `Cancelled` are terminal: the store
# refuses any transition out of them.
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


# Where a session is in its life.
SessionStatus = Literal["starting", "running", "stopped", "failed"]


# A task's state.
TaskStatus = Literal["queued", "running", "succeeded", "failed", "cached", "skipped", "cancelled"]


@dataclass(frozen=True)
class Accepted:
    """A launch that was accepted."""
    id: str
    """The launch id."""
    status: str
    """`queued`."""
    url: str
    """Where to follow it."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Accepted":
        """Builds a `Accepted` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'Accepted')
        _require(data, 'Accepted', 'id')
        _require(data, 'Accepted', 'status')
        _require(data, 'Accepted', 'url')
        return cls(
            id=data['id'],
            status=data['status'],
            url=data['url'],
        )


@dataclass(frozen=True)
class BulkAccepted:
    """A bulk launch that was accepted."""
    bulk_id: str
    """The bulk id (`GET /api/v1/runs?bulk=ID` lists its runs)."""
    ids: List[str]
    """The launch ids, in the order of `items`."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "BulkAccepted":
        """Builds a `BulkAccepted` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'BulkAccepted')
        _require(data, 'BulkAccepted', 'bulk_id')
        _require(data, 'BulkAccepted', 'ids')
        return cls(
            bulk_id=data['bulk_id'],
            ids=data['ids'],
        )


@dataclass(frozen=True)
class BulkRequest:
    """One launch of a tool over many inputs: `inputs` are common, each item adds or overrides."""
    tool: str
    """The tool."""
    items: List[Dict[str, Any]]
    """One object of inputs per launch."""
    version: Optional[str] = None
    """Its version."""
    inputs: Optional[Dict[str, Any]] = None
    """Inputs every launch gets."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "BulkRequest":
        """Builds a `BulkRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'BulkRequest')
        _require(data, 'BulkRequest', 'tool')
        _require(data, 'BulkRequest', 'items')
        return cls(
            tool=data['tool'],
            items=data['items'],
            version=data.get('version'),
            inputs=data.get('inputs'),
        )


@dataclass(frozen=True)
class DicomOverview:
    """A project's DICOM arrivals and rule triggers."""
    project: str
    """The project."""
    studies: List[DicomStudy]
    """Studies received, newest first, with their series."""
    triggers: List[DicomTrigger]
    """What the automation rules launched, newest first."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DicomOverview":
        """Builds a `DicomOverview` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'DicomOverview')
        _require(data, 'DicomOverview', 'project')
        _require(data, 'DicomOverview', 'studies')
        _require(data, 'DicomOverview', 'triggers')
        return cls(
            project=data['project'],
            studies=[DicomStudy.from_json(x) for x in data['studies']],
            triggers=[DicomTrigger.from_json(x) for x in data['triggers']],
        )


@dataclass(frozen=True)
class DicomSeries:
    """A series as listed by [`Store::dicom_studies`]."""
    series_uid: str
    """Series Instance UID."""
    calling_ae: str
    """The AE title that sent its first instance."""
    first_at: str
    """When its first instance arrived."""
    last_at: str
    """When its last instance arrived."""
    instances: int
    """Instances received."""
    bytes: int
    """Bytes stored."""
    modality: Optional[str] = None
    """Modality."""
    description: Optional[str] = None
    """Series Description."""
    series_number: Optional[int] = None
    """Series Number."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DicomSeries":
        """Builds a `DicomSeries` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'DicomSeries')
        _require(data, 'DicomSeries', 'series_uid')
        _require(data, 'DicomSeries', 'calling_ae')
        _require(data, 'DicomSeries', 'first_at')
        _require(data, 'DicomSeries', 'last_at')
        _require(data, 'DicomSeries', 'instances')
        _require(data, 'DicomSeries', 'bytes')
        return cls(
            series_uid=data['series_uid'],
            calling_ae=data['calling_ae'],
            first_at=data['first_at'],
            last_at=data['last_at'],
            instances=data['instances'],
            bytes=data['bytes'],
            modality=data.get('modality'),
            description=data.get('description'),
            series_number=data.get('series_number'),
        )


@dataclass(frozen=True)
class DicomStudy:
    """A study as listed by [`Store::dicom_studies`]."""
    project: str
    """The project."""
    study_uid: str
    """Study Instance UID."""
    first_at: str
    """When its first instance arrived."""
    last_at: str
    """When its last instance arrived."""
    instances: int
    """Instances received."""
    bytes: int
    """Bytes stored."""
    series: List[DicomSeries]
    """Its series, by series number then UID."""
    patient_id: Optional[str] = None
    """Patient ID."""
    study_date: Optional[str] = None
    """Study Date."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DicomStudy":
        """Builds a `DicomStudy` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'DicomStudy')
        _require(data, 'DicomStudy', 'project')
        _require(data, 'DicomStudy', 'study_uid')
        _require(data, 'DicomStudy', 'first_at')
        _require(data, 'DicomStudy', 'last_at')
        _require(data, 'DicomStudy', 'instances')
        _require(data, 'DicomStudy', 'bytes')
        _require(data, 'DicomStudy', 'series')
        return cls(
            project=data['project'],
            study_uid=data['study_uid'],
            first_at=data['first_at'],
            last_at=data['last_at'],
            instances=data['instances'],
            bytes=data['bytes'],
            series=[DicomSeries.from_json(x) for x in data['series']],
            patient_id=data.get('patient_id'),
            study_date=data.get('study_date'),
        )


@dataclass(frozen=True)
class DicomTrigger:
    """A recorded trigger."""
    rule: str
    """The rule's name."""
    scope: str
    """`series` or `study`."""
    uid: str
    """The Series (or Study) Instance UID."""
    study_uid: str
    """Its study."""
    directory: str
    """The directory bound to the rule's input."""
    instances: int
    """Instances it had when it completed."""
    triggered_at: str
    """When."""
    as_user: str
    """Who the launch was made as."""
    launch_id: Optional[str] = None
    """The launch queued."""
    pipeline_run_id: Optional[str] = None
    """The pipeline run started (a rule with `pipeline`)."""
    error: Optional[str] = None
    """Why none was."""
    results: Optional[str] = None
    """What sending the run's results back did (none: not yet, or no `send_to`)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DicomTrigger":
        """Builds a `DicomTrigger` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'DicomTrigger')
        _require(data, 'DicomTrigger', 'rule')
        _require(data, 'DicomTrigger', 'scope')
        _require(data, 'DicomTrigger', 'uid')
        _require(data, 'DicomTrigger', 'study_uid')
        _require(data, 'DicomTrigger', 'directory')
        _require(data, 'DicomTrigger', 'instances')
        _require(data, 'DicomTrigger', 'triggered_at')
        _require(data, 'DicomTrigger', 'as_user')
        return cls(
            rule=data['rule'],
            scope=data['scope'],
            uid=data['uid'],
            study_uid=data['study_uid'],
            directory=data['directory'],
            instances=data['instances'],
            triggered_at=data['triggered_at'],
            as_user=data['as_user'],
            launch_id=data.get('launch_id'),
            pipeline_run_id=data.get('pipeline_run_id'),
            error=data.get('error'),
            results=data.get('results'),
        )


@dataclass(frozen=True)
class DryRun:
    """What a dry run would do."""
    command_line: str
    """The command line, with container paths."""
    image: str
    """The image."""
    mounts: List[Dict[str, Any]]
    """The bind mounts: host path → container path, read-only or not."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DryRun":
        """Builds a `DryRun` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'DryRun')
        _require(data, 'DryRun', 'command_line')
        _require(data, 'DryRun', 'image')
        _require(data, 'DryRun', 'mounts')
        return cls(
            command_line=data['command_line'],
            image=data['image'],
            mounts=data['mounts'],
        )


@dataclass(frozen=True)
class ErrorBody:
    """The body of every error response."""
    error: str
    """What went wrong, in one sentence."""
    hint: Optional[str] = None
    """What to do about it."""
    problems: Optional[List[Problem]] = None
    """Each problem found, for validation failures."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ErrorBody":
        """Builds a `ErrorBody` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'ErrorBody')
        _require(data, 'ErrorBody', 'error')
        return cls(
            error=data['error'],
            hint=data.get('hint'),
            problems=_opt(data.get('problems'), lambda v: [Problem.from_json(x) for x in v]),
        )


@dataclass(frozen=True)
class ExecBody:
    """A command for a session: the tool's own for `inputs`, or `command` (when the site allows)."""
    inputs: Optional[Dict[str, Any]] = None
    """The invocation to run the tool's own command for."""
    command: Optional[List[str]] = None
    """A command and its arguments."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ExecBody":
        """Builds a `ExecBody` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'ExecBody')
        return cls(
            inputs=data.get('inputs'),
            command=data.get('command'),
        )


@dataclass(frozen=True)
class ExecEvent:
    """One line of a streamed exec (`Accept: application/x-ndjson`): output as it comes (`stream`
    and `data`), then the recorded step, or the error that ended it.
    """
    stream: Optional[str] = None
    """`stdout` or `stderr`, for output."""
    data: Optional[str] = None
    """The output (UTF-8; invalid bytes replaced, a character split across chunks kept whole)."""
    step: Optional[SessionStep] = None
    error: Optional[ErrorBody] = None
    status: Optional[int] = None
    """With `error`: the HTTP status it would have had, had it come before the stream began."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ExecEvent":
        """Builds a `ExecEvent` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'ExecEvent')
        return cls(
            stream=data.get('stream'),
            data=data.get('data'),
            step=_opt(data.get('step'), lambda v: SessionStep.from_json(v)),
            error=_opt(data.get('error'), lambda v: ErrorBody.from_json(v)),
            status=data.get('status'),
        )


@dataclass(frozen=True)
class FileEntry:
    """One entry of a listing."""
    name: str
    """Its name."""
    path: str
    """Its path relative to the root (`/`-separated)."""
    kind: str
    """`dir`, `file`, `link` (never followed) or `other`."""
    size: int
    """Size in bytes (files)."""
    modified: str
    """Modification time (RFC 3339, UTC)."""
    inline: bool
    """Whether a page may show it (text, PNG, JPEG)."""
    format: Optional[str] = None
    """What the file is (`dicom`, `nifti`, `text`, `png`, `jpeg`, `other`), for files."""
    summary: Optional[str] = None
    """What its header says (DICOM: modality, series, size; NIfTI: type, dimensions)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FileEntry":
        """Builds a `FileEntry` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'FileEntry')
        _require(data, 'FileEntry', 'name')
        _require(data, 'FileEntry', 'path')
        _require(data, 'FileEntry', 'kind')
        _require(data, 'FileEntry', 'size')
        _require(data, 'FileEntry', 'modified')
        _require(data, 'FileEntry', 'inline')
        return cls(
            name=data['name'],
            path=data['path'],
            kind=data['kind'],
            size=data['size'],
            modified=data['modified'],
            inline=data['inline'],
            format=data.get('format'),
            summary=data.get('summary'),
        )


@dataclass(frozen=True)
class Health:
    """The service's health."""
    status: str
    """`ok`."""
    version: str
    """berth's version."""
    engine: str
    """The engine runs go to."""
    engine_version: str
    """Its version."""
    engine_reachable: bool
    """Whether the engine answered (checked at most every 2 s)."""
    workers: int
    """How many runs may execute at once."""
    launches: Dict[str, int]
    """Launches by status."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Health":
        """Builds a `Health` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'Health')
        _require(data, 'Health', 'status')
        _require(data, 'Health', 'version')
        _require(data, 'Health', 'engine')
        _require(data, 'Health', 'engine_version')
        _require(data, 'Health', 'engine_reachable')
        _require(data, 'Health', 'workers')
        _require(data, 'Health', 'launches')
        return cls(
            status=data['status'],
            version=data['version'],
            engine=data['engine'],
            engine_version=data['engine_version'],
            engine_reachable=data['engine_reachable'],
            workers=data['workers'],
            launches=data['launches'],
        )


@dataclass(frozen=True)
class ImageRequest:
    """An image reference in a body."""
    reference: str
    """`name:tag` or `name@sha256:...`."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImageRequest":
        """Builds a `ImageRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'ImageRequest')
        _require(data, 'ImageRequest', 'reference')
        return cls(
            reference=data['reference'],
        )


@dataclass(frozen=True)
class ImportRequest:
    """An archive to load."""
    source: str
    """A docker-archive or OCI-archive: a path on the server, or an http(s) URL."""
    sha256: Optional[str] = None
    """Its expected SHA-256."""
    tag: Optional[str] = None
    """A `name:tag` for the loaded image."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ImportRequest":
        """Builds a `ImportRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'ImportRequest')
        _require(data, 'ImportRequest', 'source')
        return cls(
            source=data['source'],
            sha256=data.get('sha256'),
            tag=data.get('tag'),
        )


@dataclass(frozen=True)
class LaunchRequest:
    """What a client asks to run."""
    tool: str
    """The registered tool's name."""
    version: Optional[str] = None
    """Its version (needed when several are registered)."""
    inputs: Optional[Dict[str, Any]] = None
    """Input values by input id (Boutiques) or input name (XNAT)."""
    mounts: Optional[Dict[str, str]] = None
    """XNAT Command mounts bound to directories in the data roots (read-only mounts only)."""
    dry_run: Optional[bool] = None
    """Only check and render: nothing is queued."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "LaunchRequest":
        """Builds a `LaunchRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'LaunchRequest')
        _require(data, 'LaunchRequest', 'tool')
        return cls(
            tool=data['tool'],
            version=data.get('version'),
            inputs=data.get('inputs'),
            mounts=data.get('mounts'),
            dry_run=data.get('dry_run'),
        )


@dataclass(frozen=True)
class Listing:
    """A directory's listing."""
    path: str
    """The directory, relative to the root (empty for the root)."""
    entries: List[FileEntry]
    """The entries, directories first, then by name."""
    omitted: int
    """Entries not listed (past [`MAX_ENTRIES`], or names that are not UTF-8)."""
    parent: Optional[str] = None
    """Its parent, when it is not the root."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Listing":
        """Builds a `Listing` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'Listing')
        _require(data, 'Listing', 'path')
        _require(data, 'Listing', 'entries')
        _require(data, 'Listing', 'omitted')
        return cls(
            path=data['path'],
            entries=[FileEntry.from_json(x) for x in data['entries']],
            omitted=data['omitted'],
            parent=data.get('parent'),
        )


@dataclass(frozen=True)
class Me:
    """The caller."""
    user: User
    """The user."""
    projects: List[Project]
    """Their projects."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Me":
        """Builds a `Me` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'Me')
        _require(data, 'Me', 'user')
        _require(data, 'Me', 'projects')
        return cls(
            user=User.from_json(data['user']),
            projects=[Project.from_json(x) for x in data['projects']],
        )


@dataclass(frozen=True)
class NewPipelineRun:
    """A pipeline run as it is created."""
    name: str
    """The pipeline's `name`."""
    file_path: str
    """The pipeline file (absolute)."""
    file_sha256: str
    """SHA-256 of its bytes."""
    file_text: str
    """Its text."""
    params_json: str
    """Parameters after overrides, as a JSON object."""
    options_json: str
    """The options it ran with (jobs, budget, keep-going, ...), as JSON."""
    output_dir: str
    """Where final outputs are published."""
    work_dir: str
    """Where the tasks' runs write."""
    owner_pid: int
    """The berth process that runs it."""
    owner_host: str
    """That process's host."""
    dataset: Optional[str] = None
    """The dataset root, when the pipeline has one."""
    owner_started_at: Optional[str] = None
    """That process's start time (see [`crate::NewRun::owner_started_at`])."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "NewPipelineRun":
        """Builds a `NewPipelineRun` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'NewPipelineRun')
        _require(data, 'NewPipelineRun', 'name')
        _require(data, 'NewPipelineRun', 'file_path')
        _require(data, 'NewPipelineRun', 'file_sha256')
        _require(data, 'NewPipelineRun', 'file_text')
        _require(data, 'NewPipelineRun', 'params_json')
        _require(data, 'NewPipelineRun', 'options_json')
        _require(data, 'NewPipelineRun', 'output_dir')
        _require(data, 'NewPipelineRun', 'work_dir')
        _require(data, 'NewPipelineRun', 'owner_pid')
        _require(data, 'NewPipelineRun', 'owner_host')
        return cls(
            name=data['name'],
            file_path=data['file_path'],
            file_sha256=data['file_sha256'],
            file_text=data['file_text'],
            params_json=data['params_json'],
            options_json=data['options_json'],
            output_dir=data['output_dir'],
            work_dir=data['work_dir'],
            owner_pid=data['owner_pid'],
            owner_host=data['owner_host'],
            dataset=data.get('dataset'),
            owner_started_at=data.get('owner_started_at'),
        )


@dataclass(frozen=True)
class NewToken:
    """A token that was made: shown this once."""
    user: str
    """The user."""
    token: str
    """The token (keep it: it is stored hashed and cannot be shown again)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "NewToken":
        """Builds a `NewToken` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'NewToken')
        _require(data, 'NewToken', 'user')
        _require(data, 'NewToken', 'token')
        return cls(
            user=data['user'],
            token=data['token'],
        )


@dataclass(frozen=True)
class NewToolSession:
    """A session to record."""
    tool_name: str
    """The tool's name and version."""
    tool_version: str
    """Its version."""
    descriptor_json: str
    """The descriptor (or Command) text and its SHA-256."""
    descriptor_sha256: str
    """Its SHA-256."""
    invocation_json: str
    """The invocation the session was started with."""
    plan_json: str
    """The prepared job (mounts, limits, user) as JSON."""
    image_ref: str
    """The image as named."""
    output_dir: str
    """The output directory."""
    mounts_json: str
    """Extra read-only mounts (host paths)."""
    idle_timeout_secs: int
    """Seconds without a command after which it ends."""
    created_by: str
    """Who started it (`cli:<login>`, or a user of the service)."""
    owner_host: str
    """The host."""
    project_id: Optional[str] = None
    """The project, for a session started through the service."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "NewToolSession":
        """Builds a `NewToolSession` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'NewToolSession')
        _require(data, 'NewToolSession', 'tool_name')
        _require(data, 'NewToolSession', 'tool_version')
        _require(data, 'NewToolSession', 'descriptor_json')
        _require(data, 'NewToolSession', 'descriptor_sha256')
        _require(data, 'NewToolSession', 'invocation_json')
        _require(data, 'NewToolSession', 'plan_json')
        _require(data, 'NewToolSession', 'image_ref')
        _require(data, 'NewToolSession', 'output_dir')
        _require(data, 'NewToolSession', 'mounts_json')
        _require(data, 'NewToolSession', 'idle_timeout_secs')
        _require(data, 'NewToolSession', 'created_by')
        _require(data, 'NewToolSession', 'owner_host')
        return cls(
            tool_name=data['tool_name'],
            tool_version=data['tool_version'],
            descriptor_json=data['descriptor_json'],
            descriptor_sha256=data['descriptor_sha256'],
            invocation_json=data['invocation_json'],
            plan_json=data['plan_json'],
            image_ref=data['image_ref'],
            output_dir=data['output_dir'],
            mounts_json=data['mounts_json'],
            idle_timeout_secs=data['idle_timeout_secs'],
            created_by=data['created_by'],
            owner_host=data['owner_host'],
            project_id=data.get('project_id'),
        )


@dataclass(frozen=True)
class OutputChange:
    """What a step changed in the output directory."""
    path: str
    """The path, relative to the output directory."""
    change: str
    """`added`, `changed` or `removed`."""
    sha256: Optional[str] = None
    """The file's SHA-256 after the step (none when removed)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "OutputChange":
        """Builds a `OutputChange` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'OutputChange')
        _require(data, 'OutputChange', 'path')
        _require(data, 'OutputChange', 'change')
        return cls(
            path=data['path'],
            change=data['change'],
            sha256=data.get('sha256'),
        )


@dataclass(frozen=True)
class PipelineRequest:
    """A pipeline run to start."""
    file: str
    """The pipeline file (YAML): a path inside one of the server's pipeline directories
    (`[serve] pipeline_dirs`), absolute or relative to them.
    """
    output_dir: Optional[str] = None
    """Where outputs are published: inside the server's output root, absolute or relative to
    `<output root>/pipelines/` (default `<output root>/pipelines/<name>`).
    """
    bids: Optional[str] = None
    """`--bids DIR`."""
    participant_label: Optional[List[str]] = None
    """`--participant-label`."""
    session_label: Optional[List[str]] = None
    """`--session-label`."""
    analysis_level: Optional[str] = None
    """`--analysis-level`: `participant`, `group` or `all` (the default)."""
    params: Optional[Dict[str, str]] = None
    """`--param NAME=VALUE`."""
    jobs: Optional[int] = None
    """Containers at once (default: the server's worker count)."""
    keep_going: Optional[bool] = None
    """Let independent tasks finish after a failure."""
    no_cache: Optional[bool] = None
    """Run every task, whatever the cache holds."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PipelineRequest":
        """Builds a `PipelineRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'PipelineRequest')
        _require(data, 'PipelineRequest', 'file')
        return cls(
            file=data['file'],
            output_dir=data.get('output_dir'),
            bids=data.get('bids'),
            participant_label=data.get('participant_label'),
            session_label=data.get('session_label'),
            analysis_level=data.get('analysis_level'),
            params=data.get('params'),
            jobs=data.get('jobs'),
            keep_going=data.get('keep_going'),
            no_cache=data.get('no_cache'),
        )


@dataclass(frozen=True)
class PipelineRunRecord:
    """A pipeline run, read back."""
    id: str
    """Its id (a UUID v7, like run ids)."""
    new: NewPipelineRun
    """What it was created with."""
    status: RunStatus
    """Its status."""
    created_at: str
    """When it was recorded."""
    tasks: List[TaskRecord]
    """Its tasks, in expansion order."""
    status_message: Optional[str] = None
    """Why it ended as it did."""
    started_at: Optional[str] = None
    """When its first task started."""
    finished_at: Optional[str] = None
    """When it ended."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PipelineRunRecord":
        """Builds a `PipelineRunRecord` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'PipelineRunRecord')
        _require(data, 'PipelineRunRecord', 'id')
        _require(data, 'PipelineRunRecord', 'new')
        _require(data, 'PipelineRunRecord', 'status')
        _require(data, 'PipelineRunRecord', 'created_at')
        _require(data, 'PipelineRunRecord', 'tasks')
        return cls(
            id=data['id'],
            new=NewPipelineRun.from_json(data['new']),
            status=data['status'],
            created_at=data['created_at'],
            tasks=[TaskRecord.from_json(x) for x in data['tasks']],
            status_message=data.get('status_message'),
            started_at=data.get('started_at'),
            finished_at=data.get('finished_at'),
        )


@dataclass(frozen=True)
class PipelineRunSummary:
    """One line of `berth pipeline ls`."""
    id: str
    """Its id."""
    name: str
    """The pipeline's name."""
    status: RunStatus
    """Its status."""
    created_at: str
    """When it was recorded."""
    tasks: int
    """How many tasks it has."""
    done: int
    """How many are done (succeeded or cached)."""
    failed: int
    """How many failed."""
    finished_at: Optional[str] = None
    """When it ended."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PipelineRunSummary":
        """Builds a `PipelineRunSummary` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'PipelineRunSummary')
        _require(data, 'PipelineRunSummary', 'id')
        _require(data, 'PipelineRunSummary', 'name')
        _require(data, 'PipelineRunSummary', 'status')
        _require(data, 'PipelineRunSummary', 'created_at')
        _require(data, 'PipelineRunSummary', 'tasks')
        _require(data, 'PipelineRunSummary', 'done')
        _require(data, 'PipelineRunSummary', 'failed')
        return cls(
            id=data['id'],
            name=data['name'],
            status=data['status'],
            created_at=data['created_at'],
            tasks=data['tasks'],
            done=data['done'],
            failed=data['failed'],
            finished_at=data.get('finished_at'),
        )


@dataclass(frozen=True)
class PipelineStarted:
    """A pipeline run that was started."""
    id: str
    """The pipeline run's id (`GET /api/v1/pipelines/{id}` follows it)."""
    name: str
    """The pipeline's name."""
    tasks: int
    """Its tasks."""
    output_dir: str
    """Where its outputs are published."""
    status: str
    """`started`: follow it with `GET /api/v1/pipelines/{id}`."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PipelineStarted":
        """Builds a `PipelineStarted` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'PipelineStarted')
        _require(data, 'PipelineStarted', 'id')
        _require(data, 'PipelineStarted', 'name')
        _require(data, 'PipelineStarted', 'tasks')
        _require(data, 'PipelineStarted', 'output_dir')
        _require(data, 'PipelineStarted', 'status')
        return cls(
            id=data['id'],
            name=data['name'],
            tasks=data['tasks'],
            output_dir=data['output_dir'],
            status=data['status'],
        )


@dataclass(frozen=True)
class Problem:
    """One problem with a request body (a descriptor or inputs), with where it is."""
    at: str
    """A JSON pointer (or input id) naming the field."""
    message: str
    """What is wrong."""
    hint: Optional[str] = None
    """How to fix it."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Problem":
        """Builds a `Problem` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'Problem')
        _require(data, 'Problem', 'at')
        _require(data, 'Problem', 'message')
        return cls(
            at=data['at'],
            message=data['message'],
            hint=data.get('hint'),
        )


@dataclass(frozen=True)
class Project:
    """A project: a group of users and the directories they may launch tools on."""
    id: str
    """Its id (letters, digits, `-`, `_`)."""
    title: str
    """A title for people."""
    data_roots: List[str]
    """Host directories launch inputs must lie in."""
    members: List[str]
    """Its members."""
    created_at: str
    """When it was made."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Project":
        """Builds a `Project` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'Project')
        _require(data, 'Project', 'id')
        _require(data, 'Project', 'title')
        _require(data, 'Project', 'data_roots')
        _require(data, 'Project', 'members')
        _require(data, 'Project', 'created_at')
        return cls(
            id=data['id'],
            title=data['title'],
            data_roots=data['data_roots'],
            members=data['members'],
            created_at=data['created_at'],
        )


@dataclass(frozen=True)
class ProjectRequest:
    """A new project."""
    id: str
    """Its id."""
    data_roots: List[str]
    """Directories launch inputs must lie in."""
    title: Optional[str] = None
    """A title."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ProjectRequest":
        """Builds a `ProjectRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'ProjectRequest')
        _require(data, 'ProjectRequest', 'id')
        _require(data, 'ProjectRequest', 'data_roots')
        return cls(
            id=data['id'],
            data_roots=data['data_roots'],
            title=data.get('title'),
        )


@dataclass(frozen=True)
class Revoked:
    """How many tokens were revoked."""
    revoked: int
    """The count (0: no live token starts with the prefix)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Revoked":
        """Builds a `Revoked` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'Revoked')
        _require(data, 'Revoked', 'revoked')
        return cls(
            revoked=data['revoked'],
        )


@dataclass(frozen=True)
class RunDetail:
    """A run with its provenance record."""
    id: str
    """The launch id (a run can also be named by its run id)."""
    status: str
    """`queued`, `starting`, `running`, `succeeded`, `failed` or `cancelled`."""
    terminal: bool
    """Whether it is over."""
    project: str
    """The project."""
    user: str
    """Who launched it."""
    tool: str
    """The tool."""
    tool_version: str
    """Its version."""
    attempts: int
    """How many times a worker took it."""
    created_at: str
    """When it was queued."""
    request: Dict[str, Any]
    """The launch request (inputs, mounts)."""
    provenance: Dict[str, Any]
    """The provenance record (image digest, descriptor, command, inputs and outputs by hash,
    engine, host, status history), once the run exists.
    """
    run_id: Optional[str] = None
    """The run's id, once it exists."""
    exit_code: Optional[int] = None
    """The tool's exit code."""
    error: Optional[str] = None
    """Why it failed before running (or the queue's note)."""
    bulk_id: Optional[str] = None
    """The bulk launch it belongs to."""
    finished_at: Optional[str] = None
    """When it ended."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunDetail":
        """Builds a `RunDetail` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'RunDetail')
        _require(data, 'RunDetail', 'id')
        _require(data, 'RunDetail', 'status')
        _require(data, 'RunDetail', 'terminal')
        _require(data, 'RunDetail', 'project')
        _require(data, 'RunDetail', 'user')
        _require(data, 'RunDetail', 'tool')
        _require(data, 'RunDetail', 'tool_version')
        _require(data, 'RunDetail', 'attempts')
        _require(data, 'RunDetail', 'created_at')
        _require(data, 'RunDetail', 'request')
        _require(data, 'RunDetail', 'provenance')
        return cls(
            id=data['id'],
            status=data['status'],
            terminal=data['terminal'],
            project=data['project'],
            user=data['user'],
            tool=data['tool'],
            tool_version=data['tool_version'],
            attempts=data['attempts'],
            created_at=data['created_at'],
            request=data['request'],
            provenance=data['provenance'],
            run_id=data.get('run_id'),
            exit_code=data.get('exit_code'),
            error=data.get('error'),
            bulk_id=data.get('bulk_id'),
            finished_at=data.get('finished_at'),
        )


@dataclass(frozen=True)
class RunPage:
    """A page of runs."""
    items: List[RunView]
    """The runs, newest first."""
    total: int
    """How many match in all."""
    limit: int
    """The page size."""
    offset: int
    """The offset."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunPage":
        """Builds a `RunPage` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'RunPage')
        _require(data, 'RunPage', 'items')
        _require(data, 'RunPage', 'total')
        _require(data, 'RunPage', 'limit')
        _require(data, 'RunPage', 'offset')
        return cls(
            items=[RunView.from_json(x) for x in data['items']],
            total=data['total'],
            limit=data['limit'],
            offset=data['offset'],
        )


@dataclass(frozen=True)
class RunView:
    """A launch and its run, as listed."""
    id: str
    """The launch id (a run can also be named by its run id)."""
    status: str
    """`queued`, `starting`, `running`, `succeeded`, `failed` or `cancelled`."""
    terminal: bool
    """Whether it is over."""
    project: str
    """The project."""
    user: str
    """Who launched it."""
    tool: str
    """The tool."""
    tool_version: str
    """Its version."""
    attempts: int
    """How many times a worker took it."""
    created_at: str
    """When it was queued."""
    run_id: Optional[str] = None
    """The run's id, once it exists."""
    exit_code: Optional[int] = None
    """The tool's exit code."""
    error: Optional[str] = None
    """Why it failed before running (or the queue's note)."""
    bulk_id: Optional[str] = None
    """The bulk launch it belongs to."""
    finished_at: Optional[str] = None
    """When it ended."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunView":
        """Builds a `RunView` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'RunView')
        _require(data, 'RunView', 'id')
        _require(data, 'RunView', 'status')
        _require(data, 'RunView', 'terminal')
        _require(data, 'RunView', 'project')
        _require(data, 'RunView', 'user')
        _require(data, 'RunView', 'tool')
        _require(data, 'RunView', 'tool_version')
        _require(data, 'RunView', 'attempts')
        _require(data, 'RunView', 'created_at')
        return cls(
            id=data['id'],
            status=data['status'],
            terminal=data['terminal'],
            project=data['project'],
            user=data['user'],
            tool=data['tool'],
            tool_version=data['tool_version'],
            attempts=data['attempts'],
            created_at=data['created_at'],
            run_id=data.get('run_id'),
            exit_code=data.get('exit_code'),
            error=data.get('error'),
            bulk_id=data.get('bulk_id'),
            finished_at=data.get('finished_at'),
        )


@dataclass(frozen=True)
class SessionDetail:
    """A session with its steps."""
    session: ToolSessionRecord
    """The session."""
    steps: List[SessionStep]
    """Its steps."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SessionDetail":
        """Builds a `SessionDetail` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'SessionDetail')
        _require(data, 'SessionDetail', 'session')
        _require(data, 'SessionDetail', 'steps')
        return cls(
            session=ToolSessionRecord.from_json(data['session']),
            steps=[SessionStep.from_json(x) for x in data['steps']],
        )


@dataclass(frozen=True)
class SessionRequest:
    """A session to start."""
    tool: str
    """The tool."""
    version: Optional[str] = None
    """Its version (default: the newest registered)."""
    inputs: Optional[Dict[str, Any]] = None
    """The invocation whose File inputs the session mounts (inside the project's data roots)."""
    idle_timeout_secs: Optional[int] = None
    """Seconds without a command after which it ends (default 1800)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SessionRequest":
        """Builds a `SessionRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'SessionRequest')
        _require(data, 'SessionRequest', 'tool')
        return cls(
            tool=data['tool'],
            version=data.get('version'),
            inputs=data.get('inputs'),
            idle_timeout_secs=data.get('idle_timeout_secs'),
        )


@dataclass(frozen=True)
class SessionStep:
    """One command a session ran."""
    seq: int
    """Its place (1, 2, …)."""
    argv: List[str]
    """The command run."""
    started_at: str
    """When it started."""
    changes: List[OutputChange]
    """What it added, changed or removed in the output directory."""
    stdout: str
    """Its stdout (at most [`STEP_OUTPUT_CAP`] bytes)."""
    stderr: str
    """Its stderr (at most [`STEP_OUTPUT_CAP`] bytes)."""
    invocation_json: Optional[str] = None
    """The invocation it was rendered from, when it was one."""
    exit_code: Optional[int] = None
    """Its exit code."""
    finished_at: Optional[str] = None
    """When it ended."""
    duration_ms: Optional[int] = None
    """How long it took."""
    error: Optional[str] = None
    """Why it could not run, when it could not."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SessionStep":
        """Builds a `SessionStep` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'SessionStep')
        _require(data, 'SessionStep', 'seq')
        _require(data, 'SessionStep', 'argv')
        _require(data, 'SessionStep', 'started_at')
        _require(data, 'SessionStep', 'changes')
        _require(data, 'SessionStep', 'stdout')
        _require(data, 'SessionStep', 'stderr')
        return cls(
            seq=data['seq'],
            argv=data['argv'],
            started_at=data['started_at'],
            changes=[OutputChange.from_json(x) for x in data['changes']],
            stdout=data['stdout'],
            stderr=data['stderr'],
            invocation_json=data.get('invocation_json'),
            exit_code=data.get('exit_code'),
            finished_at=data.get('finished_at'),
            duration_ms=data.get('duration_ms'),
            error=data.get('error'),
        )


@dataclass(frozen=True)
class SettingRequest:
    """A tool's availability."""
    enabled: bool
    """Whether launches may use it."""
    defaults: Optional[Dict[str, Any]] = None
    """Default inputs (projects only)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SettingRequest":
        """Builds a `SettingRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'SettingRequest')
        _require(data, 'SettingRequest', 'enabled')
        return cls(
            enabled=data['enabled'],
            defaults=data.get('defaults'),
        )


@dataclass(frozen=True)
class TagRequest:
    """A new name for an image."""
    source: str
    """The image."""
    target: str
    """The new `name:tag`."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TagRequest":
        """Builds a `TagRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'TagRequest')
        _require(data, 'TagRequest', 'source')
        _require(data, 'TagRequest', 'target')
        return cls(
            source=data['source'],
            target=data['target'],
        )


@dataclass(frozen=True)
class TaskRecord:
    """One task, read back."""
    seq: int
    """Its position in the expansion (steps in file order, then participants)."""
    key: str
    """See [`NewTask::key`]."""
    step: str
    """The step's name."""
    status: TaskStatus
    """Its status."""
    attempts: int
    """Attempts made."""
    runs: List[Tuple[int, str]]
    """Every attempt's run, in order: (attempt number, run id)."""
    participant: Optional[str] = None
    """The participant label."""
    session: Optional[str] = None
    """The session label."""
    item_json: Optional[str] = None
    """The `foreach` item, as JSON."""
    run_id: Optional[str] = None
    """The run of the last attempt, or the reused run."""
    cached_from: Optional[str] = None
    """The earlier run a cached task reused."""
    started_at: Optional[str] = None
    """When it started."""
    finished_at: Optional[str] = None
    """When it ended."""
    message: Optional[str] = None
    """Why it failed or was skipped."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TaskRecord":
        """Builds a `TaskRecord` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'TaskRecord')
        _require(data, 'TaskRecord', 'seq')
        _require(data, 'TaskRecord', 'key')
        _require(data, 'TaskRecord', 'step')
        _require(data, 'TaskRecord', 'status')
        _require(data, 'TaskRecord', 'attempts')
        _require(data, 'TaskRecord', 'runs')
        return cls(
            seq=data['seq'],
            key=data['key'],
            step=data['step'],
            status=data['status'],
            attempts=data['attempts'],
            runs=[tuple(x) for x in data['runs']],
            participant=data.get('participant'),
            session=data.get('session'),
            item_json=data.get('item_json'),
            run_id=data.get('run_id'),
            cached_from=data.get('cached_from'),
            started_at=data.get('started_at'),
            finished_at=data.get('finished_at'),
            message=data.get('message'),
        )


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never the secret itself)."""
    prefix: str
    """The first characters of the token, to recognise it."""
    label: str
    """What the user called it."""
    created_at: str
    """When it was made."""
    last_used_at: Optional[str] = None
    """When it was last used (updated at most once a minute)."""
    revoked_at: Optional[str] = None
    """When it was revoked."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TokenInfo":
        """Builds a `TokenInfo` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'TokenInfo')
        _require(data, 'TokenInfo', 'prefix')
        _require(data, 'TokenInfo', 'label')
        _require(data, 'TokenInfo', 'created_at')
        return cls(
            prefix=data['prefix'],
            label=data['label'],
            created_at=data['created_at'],
            last_used_at=data.get('last_used_at'),
            revoked_at=data.get('revoked_at'),
        )


@dataclass(frozen=True)
class TokenRequest:
    """A token to make."""
    label: Optional[str] = None
    """What the token is for (default `web`)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TokenRequest":
        """Builds a `TokenRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'TokenRequest')
        return cls(
            label=data.get('label'),
        )


@dataclass(frozen=True)
class ToolDetail:
    """A tool with its descriptor."""
    name: str
    """Its name."""
    version: str
    """Its version."""
    kind: str
    """`boutiques` or `xnat`."""
    descriptor_sha256: str
    """SHA-256 of its descriptor."""
    source: str
    """Where it came from."""
    added_at: str
    """When it was registered."""
    site_enabled: bool
    """Whether it is enabled on the site."""
    enabled_in: List[str]
    """The caller's projects it is enabled in."""
    descriptor: Dict[str, Any]
    """The descriptor."""
    image: Optional[str] = None
    """The image it runs in."""
    description: Optional[str] = None
    """What the tool does (the descriptor's or Command's `description`, at most 300 characters)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ToolDetail":
        """Builds a `ToolDetail` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'ToolDetail')
        _require(data, 'ToolDetail', 'name')
        _require(data, 'ToolDetail', 'version')
        _require(data, 'ToolDetail', 'kind')
        _require(data, 'ToolDetail', 'descriptor_sha256')
        _require(data, 'ToolDetail', 'source')
        _require(data, 'ToolDetail', 'added_at')
        _require(data, 'ToolDetail', 'site_enabled')
        _require(data, 'ToolDetail', 'enabled_in')
        _require(data, 'ToolDetail', 'descriptor')
        return cls(
            name=data['name'],
            version=data['version'],
            kind=data['kind'],
            descriptor_sha256=data['descriptor_sha256'],
            source=data['source'],
            added_at=data['added_at'],
            site_enabled=data['site_enabled'],
            enabled_in=data['enabled_in'],
            descriptor=data['descriptor'],
            image=data.get('image'),
            description=data.get('description'),
        )


@dataclass(frozen=True)
class ToolSessionRecord:
    """A session as recorded."""
    tool_name: str
    """The tool's name and version."""
    tool_version: str
    """Its version."""
    descriptor_json: str
    """The descriptor (or Command) text and its SHA-256."""
    descriptor_sha256: str
    """Its SHA-256."""
    invocation_json: str
    """The invocation the session was started with."""
    plan_json: str
    """The prepared job (mounts, limits, user) as JSON."""
    image_ref: str
    """The image as named."""
    output_dir: str
    """The output directory."""
    mounts_json: str
    """Extra read-only mounts (host paths)."""
    idle_timeout_secs: int
    """Seconds without a command after which it ends."""
    created_by: str
    """Who started it (`cli:<login>`, or a user of the service)."""
    owner_host: str
    """The host."""
    id: str
    """Its id."""
    inputs_json: str
    """Its inputs, hashed at start (berth's file records, JSON)."""
    status: SessionStatus
    """Where it is."""
    created_at: str
    """When it was started."""
    last_used_at: str
    """When it last ran a command (or started)."""
    steps: int
    """How many steps it ran."""
    project_id: Optional[str] = None
    """The project, for a session started through the service."""
    image_id: Optional[str] = None
    """The image ID used."""
    image_digest: Optional[str] = None
    """The image's repo digest."""
    engine_kind: Optional[str] = None
    """The engine."""
    container_id: Optional[str] = None
    """The container."""
    scan_policy_json: Optional[str] = None
    """The scan policy's decision, when the site has a policy."""
    status_message: Optional[str] = None
    """Why it ended, when it did."""
    ended_at: Optional[str] = None
    """When it ended."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ToolSessionRecord":
        """Builds a `ToolSessionRecord` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'ToolSessionRecord')
        _require(data, 'ToolSessionRecord', 'tool_name')
        _require(data, 'ToolSessionRecord', 'tool_version')
        _require(data, 'ToolSessionRecord', 'descriptor_json')
        _require(data, 'ToolSessionRecord', 'descriptor_sha256')
        _require(data, 'ToolSessionRecord', 'invocation_json')
        _require(data, 'ToolSessionRecord', 'plan_json')
        _require(data, 'ToolSessionRecord', 'image_ref')
        _require(data, 'ToolSessionRecord', 'output_dir')
        _require(data, 'ToolSessionRecord', 'mounts_json')
        _require(data, 'ToolSessionRecord', 'idle_timeout_secs')
        _require(data, 'ToolSessionRecord', 'created_by')
        _require(data, 'ToolSessionRecord', 'owner_host')
        _require(data, 'ToolSessionRecord', 'id')
        _require(data, 'ToolSessionRecord', 'inputs_json')
        _require(data, 'ToolSessionRecord', 'status')
        _require(data, 'ToolSessionRecord', 'created_at')
        _require(data, 'ToolSessionRecord', 'last_used_at')
        _require(data, 'ToolSessionRecord', 'steps')
        return cls(
            tool_name=data['tool_name'],
            tool_version=data['tool_version'],
            descriptor_json=data['descriptor_json'],
            descriptor_sha256=data['descriptor_sha256'],
            invocation_json=data['invocation_json'],
            plan_json=data['plan_json'],
            image_ref=data['image_ref'],
            output_dir=data['output_dir'],
            mounts_json=data['mounts_json'],
            idle_timeout_secs=data['idle_timeout_secs'],
            created_by=data['created_by'],
            owner_host=data['owner_host'],
            id=data['id'],
            inputs_json=data['inputs_json'],
            status=data['status'],
            created_at=data['created_at'],
            last_used_at=data['last_used_at'],
            steps=data['steps'],
            project_id=data.get('project_id'),
            image_id=data.get('image_id'),
            image_digest=data.get('image_digest'),
            engine_kind=data.get('engine_kind'),
            container_id=data.get('container_id'),
            scan_policy_json=data.get('scan_policy_json'),
            status_message=data.get('status_message'),
            ended_at=data.get('ended_at'),
        )


@dataclass(frozen=True)
class ToolView:
    """A registered tool."""
    name: str
    """Its name."""
    version: str
    """Its version."""
    kind: str
    """`boutiques` or `xnat`."""
    descriptor_sha256: str
    """SHA-256 of its descriptor."""
    source: str
    """Where it came from."""
    added_at: str
    """When it was registered."""
    site_enabled: bool
    """Whether it is enabled on the site."""
    enabled_in: List[str]
    """The caller's projects it is enabled in."""
    image: Optional[str] = None
    """The image it runs in."""
    description: Optional[str] = None
    """What the tool does (the descriptor's or Command's `description`, at most 300 characters)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ToolView":
        """Builds a `ToolView` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'ToolView')
        _require(data, 'ToolView', 'name')
        _require(data, 'ToolView', 'version')
        _require(data, 'ToolView', 'kind')
        _require(data, 'ToolView', 'descriptor_sha256')
        _require(data, 'ToolView', 'source')
        _require(data, 'ToolView', 'added_at')
        _require(data, 'ToolView', 'site_enabled')
        _require(data, 'ToolView', 'enabled_in')
        return cls(
            name=data['name'],
            version=data['version'],
            kind=data['kind'],
            descriptor_sha256=data['descriptor_sha256'],
            source=data['source'],
            added_at=data['added_at'],
            site_enabled=data['site_enabled'],
            enabled_in=data['enabled_in'],
            image=data.get('image'),
            description=data.get('description'),
        )


@dataclass(frozen=True)
class User:
    """A user of the service."""
    name: str
    """The login name."""
    role: Role
    """What they may do."""
    created_at: str
    """When they were added."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "User":
        """Builds a `User` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'User')
        _require(data, 'User', 'name')
        _require(data, 'User', 'role')
        _require(data, 'User', 'created_at')
        return cls(
            name=data['name'],
            role=data['role'],
            created_at=data['created_at'],
        )


@dataclass(frozen=True)
class UserRequest:
    """A user to add."""
    name: str
    """The login name."""
    role: Optional[str] = None
    """`admin` or `user` (default)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "UserRequest":
        """Builds a `UserRequest` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'UserRequest')
        _require(data, 'UserRequest', 'name')
        return cls(
            name=data['name'],
            role=data.get('role'),
        )


@dataclass(frozen=True)
class UserView:
    """A user with their tokens (prefixes only)."""
    name: str
    """The login name."""
    role: Role
    """What they may do."""
    created_at: str
    """When they were added."""
    tokens: List[TokenInfo]
    """Their tokens, revoked ones included."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "UserView":
        """Builds a `UserView` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'UserView')
        _require(data, 'UserView', 'name')
        _require(data, 'UserView', 'role')
        _require(data, 'UserView', 'created_at')
        _require(data, 'UserView', 'tokens')
        return cls(
            name=data['name'],
            role=data['role'],
            created_at=data['created_at'],
            tokens=[TokenInfo.from_json(x) for x in data['tokens']],
        )


@dataclass(frozen=True)
class Validation:
    """The result of validating a descriptor."""
    valid: bool
    """Whether it can be registered."""
    kind: str
    """`boutiques`, `xnat` or `unknown`."""
    problems: List[Problem]
    """Every problem (warnings too)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Validation":
        """Builds a `Validation` from the API's JSON (unknown fields are ignored)."""
        _expect_object(data, 'Validation')
        _require(data, 'Validation', 'valid')
        _require(data, 'Validation', 'kind')
        _require(data, 'Validation', 'problems')
        return cls(
            valid=data['valid'],
            kind=data['kind'],
            problems=[Problem.from_json(x) for x in data['problems']],
        )


__all__ = ["Role", "RunStatus", "SessionStatus", "TaskStatus", "Accepted", "BulkAccepted", "BulkRequest", "DicomOverview", "DicomSeries", "DicomStudy", "DicomTrigger", "DryRun", "ErrorBody", "ExecBody", "ExecEvent", "FileEntry", "Health", "ImageRequest", "ImportRequest", "LaunchRequest", "Listing", "Me", "NewPipelineRun", "NewToken", "NewToolSession", "OutputChange", "PipelineRequest", "PipelineRunRecord", "PipelineRunSummary", "PipelineStarted", "Problem", "Project", "ProjectRequest", "Revoked", "RunDetail", "RunPage", "RunView", "SessionDetail", "SessionRequest", "SessionStep", "SettingRequest", "TagRequest", "TaskRecord", "TokenInfo", "TokenRequest", "ToolDetail", "ToolSessionRecord", "ToolView", "User", "UserRequest", "UserView", "Validation"]
