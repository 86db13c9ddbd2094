# The typed values the client returns, each built from the server's JSON by one `from_json`:
# a run's result (with its output files as bytes, and `save_to`), the stream's events, /validate's
# report, /environment, a session's description and /batch's answer. Not here: HTTP (_client.py)
# and the exception classes (_errors.py).
from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from ._errors import error_from_body


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Usage:
    """What the run cost: CPU time of the script and the children it waited for, peak memory."""

    cpu_time_ms: int
    max_rss_kib: int


@dataclass(frozen=True)
class OutputFile:
    """A file the script left in `./output/` (figures included), decoded."""

    name: str
    """Its path under output/, `/`-separated (`a/b.png`); the server vouches it is a plain relative path."""
    mime_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)

    def text(self, encoding: str = "utf-8") -> str:
        return self.content.decode(encoding)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Writes the file under `directory` by its name (subdirectories made); its path. A
        symbolic link on the way, below `directory`, is refused (ValueError), as the command
        line refuses it: a name must not be able to write outside the folder."""
        base = Path(directory)
        base.mkdir(parents=True, exist_ok=True)
        parts = _safe_parts(self.name)
        here = base
        for part in parts[:-1]:
            here = here / part
            if here.is_symlink():
                raise ValueError(f"output file {self.name!r}: {here} is a symbolic link")
            here.mkdir(exist_ok=True)
        target = here / parts[-1]
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(target, flags, 0o644)
        except OSError as e:
            if target.is_symlink():
                raise ValueError(f"output file {self.name!r}: {target} is a symbolic link") from e
            raise
        with os.fdopen(fd, "wb") as out:
            out.write(self.content)
        return target

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> OutputFile:
        name = _str(entry.get("name"))
        _safe_parts(name)
        try:
            content = base64.b64decode(_str(entry.get("content_base64")), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"output file {name!r}: its content is not base64: {e}") from e
        return cls(name=name, mime_type=_str(entry.get("mime_type"), "application/octet-stream"), content=content)


def _safe_parts(name: str) -> list[str]:
    """The components of an output file's name, refusing any that could leave the folder it is
    saved in. The server already refuses such names (README, "Output files"); this is the client
    not trusting that a response came from a server that does."""
    parts = name.split("/")
    if not name or PurePosixPath(name).is_absolute() or "\\" in name or "\x00" in name:
        raise ValueError(f"refusing the output file name {name!r}")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"refusing the output file name {name!r}")
    return parts


@dataclass(frozen=True)
class ExecutionResult:
    """What a run (or a session's cell) answered, success or the script's own failure.

    A run that happened comes back as this, whether the script succeeded (`success`) or failed on
    its own account (`runtime_error`, `timeout`, `memory_limit`, `exited`, `invalid_result`,
    `output_limit`, `policy_violation`): check `success`, or call `raise_for_error()` to raise the
    failure's exception class. Requests that could not run (a bad request, a syntax error, 401,
    429 after the retries, 500, ...) raise instead and never become a result.
    """

    success: bool
    result: Any
    stdout: str
    stderr: str
    timestamp: str
    duration_ms: int | None
    usage: Usage | None
    results: dict[str, Any]
    """What `save_result(key, value)` saved."""
    files: list[OutputFile]
    error: str | None
    error_type: str | None
    traceback: str | None
    exit_code: int | None
    status: int
    """The HTTP status `/execute` answered (or would have, for a streamed run): 200 on success."""
    raw: dict[str, Any] = field(repr=False)
    """The server's JSON body, for fields this client does not know yet."""

    @property
    def figures(self) -> list[OutputFile]:
        """The pyplot figures captured when `main()` returned (`figure-N.png`)."""
        return [f for f in self.files if "/" not in f.name and f.name.startswith("figure-") and f.name.endswith(".png")]

    def file(self, name: str) -> OutputFile:
        """The output file called `name` (KeyError when there is none)."""
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)

    def save_to(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Writes every output file (figures included) under `directory`, keeping subdirectories;
        the paths written."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        return [f.save(directory) for f in self.files]

    def raise_for_error(self) -> ExecutionResult:
        """Raises the failure's exception class (a `ScriptError` subclass, or any `ApiError` for a
        batch's cell) when the run failed; returns the result itself when it succeeded, so that
        `client.execute(src).raise_for_error().result` reads as one step."""
        if not self.success:
            raise error_from_body(self.status, self.raw)
        return self

    @classmethod
    def from_json(cls, body: dict[str, Any], status: int) -> ExecutionResult:
        usage_raw = body.get("usage")
        usage = None
        if isinstance(usage_raw, dict):
            usage = Usage(
                cpu_time_ms=_int(usage_raw.get("cpu_time_ms")) or 0, max_rss_kib=_int(usage_raw.get("max_rss_kib")) or 0
            )
        files_raw = body.get("files")
        files = (
            [OutputFile.from_json(f) for f in files_raw if isinstance(f, dict)] if isinstance(files_raw, list) else []
        )
        results = body.get("results")
        error = body.get("error")
        error_type = body.get("error_type")
        traceback = body.get("traceback")
        return cls(
            success=body.get("success") is True,
            result=body.get("result"),
            stdout=_str(body.get("stdout")),
            stderr=_str(body.get("stderr")),
            timestamp=_str(body.get("timestamp")),
            duration_ms=_int(body.get("duration_ms")),
            usage=usage,
            results=results if isinstance(results, dict) else {},
            files=files,
            error=error if isinstance(error, str) else None,
            error_type=error_type if isinstance(error_type, str) else None,
            traceback=traceback if isinstance(traceback, str) else None,
            exit_code=_int(body.get("exit_code")),
            status=status,
            raw=body,
        )


@dataclass(frozen=True)
class OutputEvent:
    """A piece of the script's stdout or stderr, as it wrote it (whole lines, or a flushed part)."""

    stream: Literal["stdout", "stderr"]
    data: str


@dataclass(frozen=True)
class ResultEvent:
    """The stream's last event: the run's result, as `execute()` would have returned it."""

    result: ExecutionResult


#: What `stream()` yields: output events, then one `ResultEvent`.
StreamEvent = OutputEvent | ResultEvent


@dataclass(frozen=True)
class ValidationIssue:
    line: int | None
    column: int | None
    message: str


@dataclass(frozen=True)
class RefusedImport:
    line: int
    column: int
    module: str
    message: str


@dataclass(frozen=True)
class MainInfo:
    defined: bool
    parameters: list[str]
    is_async: bool


@dataclass(frozen=True)
class ValidationReport:
    """/validate's answer: every reason /execute would refuse the script, and its imports."""

    valid: bool
    errors: list[ValidationIssue]
    main: MainInfo
    imports: list[str]
    unavailable_imports: list[str]
    refused_imports: list[RefusedImport]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ValidationReport:
        raw_main = body.get("main")
        main: dict[str, Any] = raw_main if isinstance(raw_main, dict) else {}
        return cls(
            valid=body.get("valid") is True,
            errors=[
                ValidationIssue(line=_int(e.get("line")), column=_int(e.get("column")), message=_str(e.get("message")))
                for e in body.get("errors") or []
                if isinstance(e, dict)
            ],
            main=MainInfo(
                defined=main.get("defined") is True,
                parameters=[p for p in main.get("parameters") or [] if isinstance(p, str)],
                is_async=main.get("is_async") is True,
            ),
            imports=[m for m in body.get("imports") or [] if isinstance(m, str)],
            unavailable_imports=[m for m in body.get("unavailable_imports") or [] if isinstance(m, str)],
            refused_imports=[
                RefusedImport(
                    line=_int(r.get("line")) or 0,
                    column=_int(r.get("column")) or 0,
                    module=_str(r.get("module")),
                    message=_str(r.get("message")),
                )
                for r in body.get("refused_imports") or []
                if isinstance(r, dict)
            ],
            raw=body,
        )


@dataclass(frozen=True)
class Package:
    name: str
    version: str


@dataclass(frozen=True)
class Environment:
    """/environment's answer: what a script may import."""

    python_version: str
    packages: list[Package]
    modules: list[str]
    import_policy: dict[str, list[str]] | None
    raw: dict[str, Any] = field(repr=False)

    def has_module(self, name: str) -> bool:
        return name in self.modules

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Environment:
        policy = body.get("import_policy")
        return cls(
            python_version=_str(body.get("python_version")),
            packages=[
                Package(name=_str(p.get("name")), version=_str(p.get("version")))
                for p in body.get("packages") or []
                if isinstance(p, dict)
            ],
            modules=[m for m in body.get("modules") or [] if isinstance(m, str)],
            import_policy=policy if isinstance(policy, dict) else None,
            raw=body,
        )


@dataclass(frozen=True)
class Variable:
    """A session's global, as GET /sessions/{id} lists it (never its value)."""

    name: str
    type: str
    repr: str


@dataclass(frozen=True)
class SessionInfo:
    """GET /sessions/{id} (or POST /sessions' answer, without the live fields)."""

    session_id: str
    created_at: str
    expires_at: str
    memory: int
    timeout: int
    idle_timeout: int
    cells_run: int
    memory_used_bytes: int
    busy: bool
    variables: list[Variable]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SessionInfo:
        return cls(
            session_id=_str(body.get("session_id")),
            created_at=_str(body.get("created_at")),
            expires_at=_str(body.get("expires_at")),
            memory=_int(body.get("memory")) or 0,
            timeout=_int(body.get("timeout")) or 0,
            idle_timeout=_int(body.get("idle_timeout")) or 0,
            cells_run=_int(body.get("cells_run")) or 0,
            memory_used_bytes=_int(body.get("memory_used_bytes")) or 0,
            busy=body.get("busy") is True,
            variables=[
                Variable(name=_str(v.get("name")), type=_str(v.get("type")), repr=_str(v.get("repr")))
                for v in body.get("variables") or []
                if isinstance(v, dict)
            ],
            raw=body,
        )


@dataclass(frozen=True)
class BatchResult:
    """/batch's answer: each cell that ran, as `Session.run` would have returned it."""

    success: bool
    cells_run: int
    cells: list[ExecutionResult]
    duration_ms: int | None
    raw: dict[str, Any] = field(repr=False)

    def raise_for_error(self) -> BatchResult:
        """Raises the first failed cell's exception; the batch itself when every cell succeeded."""
        for cell in self.cells:
            cell.raise_for_error()
        return self

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> BatchResult:
        cells = [ExecutionResult.from_json(c, status_of(c)) for c in body.get("cells") or [] if isinstance(c, dict)]
        return cls(
            success=body.get("success") is True,
            cells_run=_int(body.get("cells_run")) or len(cells),
            cells=cells,
            duration_ms=_int(body.get("duration_ms")),
            raw=body,
        )


def status_of(body: dict[str, Any]) -> int:
    """The status `/execute` would have answered with `body`: for a batch's cells and a stream's
    final event, which carry none of their own."""
    error_type = body.get("error_type")
    if body.get("success") is True or not isinstance(error_type, str):
        return 200
    return _STATUSES.get(error_type, 422)


# The status of each error type (src/error.rs `ErrorType::status`); tests/test_errors.py checks that
# it names every type src/openapi.json lists.
_STATUSES: dict[str, int] = {
    "invalid_request": 400,
    "validation_error": 400,
    "payload_too_large": 413,
    "runtime_error": 422,
    "invalid_result": 422,
    "exited": 422,
    "timeout": 422,
    "memory_limit": 422,
    "output_limit": 422,
    "overloaded": 429,
    "sandbox_error": 500,
    "not_found": 404,
    "method_not_allowed": 405,
    "unauthorized": 401,
    "environment_unavailable": 503,
    "request_timeout": 408,
    "policy_violation": 403,
    "forbidden_origin": 403,
    "session_not_found": 404,
    "session_busy": 409,
    "sessions_unavailable": 501,
    "job_not_found": 404,
    "store_unavailable": 503,
    "script_not_found": 404,
    "script_name_taken": 409,
}
