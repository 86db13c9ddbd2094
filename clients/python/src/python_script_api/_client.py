# The HTTP side of the client: `Client` (one httpx.Client, the API key, the 429 retry loop),
# `Session` (a live Python on the server) and how request bodies are built, input files included.
# Not here: a streamed run's events (_stream.py), the values returned (_results.py), jobs (_jobs.py),
# saved scripts (_scripts.py),
# the exception classes (_errors.py), Retry-After (_retry.py).
from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote

import httpx

from ._errors import ApiError, SessionNotFoundError, error_from_body
from ._jobs import Job, JobInfo, JobPage, job_final_result
from ._results import (
    BatchResult,
    Environment,
    ExecutionResult,
    SessionInfo,
    ValidationReport,
    status_of,
)
from ._retry import Retry, retry_after_seconds
from ._scripts import SavedScript, ScriptPage
from ._stream import EventStream, run_result


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: `input`'s default: no input at all, which is not `input=None` (a JSON null passed to main()).
UNSET: Final = _Unset()

#: What `files=` takes: a mapping of name to content (`str` is text, `bytes` binary, a path is read
#: from disk), or a sequence of paths (each sent under its base name).
Files = Mapping[str, str | bytes | os.PathLike[str]] | Sequence[str | os.PathLike[str]]

#: The HTTP timeout by default: above the server's longest run (MAX_TIMEOUT_SECS, 300 s) plus its
#: queue wait, as the Cloud Run deploy's 360 s.
DEFAULT_TIMEOUT: Final = 360.0


def encode_files(files: Files) -> list[dict[str, str]]:
    """`files=` as the API's `files` array: text as `utf8`, anything else as `base64`."""
    if isinstance(files, (str, bytes, os.PathLike)):
        raise TypeError("files= takes a mapping of name to content, or a list of paths, not one value")
    encoded: list[dict[str, str]] = []
    if isinstance(files, Mapping):
        for name, content in files.items():
            if isinstance(content, str):
                encoded.append({"name": name, "content": content})
            elif isinstance(content, (bytes, bytearray, memoryview)):
                encoded.append(_base64(name, bytes(content)))
            elif isinstance(content, os.PathLike):
                encoded.append(_base64(name, Path(content).read_bytes()))
            else:
                raise TypeError(f"files[{name!r}]: str, bytes or a path, not {type(content).__name__}")
        return encoded
    for item in files:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"files= as a list takes paths, not {type(item).__name__}")
        path = Path(item)
        encoded.append(_base64(path.name, path.read_bytes()))
    return encoded


def _base64(name: str, content: bytes) -> dict[str, str]:
    return {"name": name, "content": base64.b64encode(content).decode("ascii"), "encoding": "base64"}


def _run_body(
    script: str,
    *,
    input: Any,
    parameters: Mapping[str, Any] | None,
    files: Files | None,
    timeout: int | None,
    memory: int | None,
    capture_figures: bool | None,
    language: str | None = None,
) -> dict[str, Any]:
    """The body of /execute, /execute/stream and /validate; absent arguments stay absent, so the
    server's defaults apply."""
    body: dict[str, Any] = {"script": script}
    if not isinstance(input, _Unset):
        body["input"] = input
    optional: dict[str, Any] = {
        "parameters": dict(parameters) if parameters is not None else None,
        "files": encode_files(files) if files is not None else None,
        "timeout": timeout,
        "memory": memory,
        "capture_figures": capture_figures,
        "language": language,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def _segment(value: str) -> str:
    """`value` as one path segment: a job id from elsewhere cannot reach another path."""
    return quote(value, safe="")


def _json_body(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; an `ApiError` without an error_type when it is not one (a proxy's
    page, a cut connection)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text[:300]
        raise ApiError(
            f"the answer is not the API's JSON: {text!r}", status=response.status_code, error_type=None, body={}
        )
    return body


class Client:
    """A client of one python-script-api server.

    `url` is the server's base URL (`http://127.0.0.1:8080`), `api_key` the Bearer key when the
    server has `API_KEYS`, `timeout` the HTTP timeout in seconds (or an `httpx.Timeout`): keep it
    above the scripts' own `timeout`. `retry` bounds the retry of 429s (see `Retry`). Use it in a
    `with` block, or call `close()`, to close its connections.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        all_headers = {"User-Agent": "python-script-api-client", **(headers or {})}
        if api_key is not None:
            all_headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=all_headers, timeout=timeout, transport=transport)
        self.retry = retry if retry is not None else Retry()
        # How the retry loop waits; a test replaces it to see the waits without taking them.
        self._sleep: Callable[[float], None] = time.sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, method: str, path: str, body: Any = None, *, stream: bool = False) -> httpx.Response:
        """Sends a request, retrying 429s within `self.retry`; the first answer that is not a 429
        (an open response when `stream`), or `OverloadedError` once the bounds are reached."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if stream:
            headers["Accept"] = "text/event-stream"
        content = json.dumps(body) if body is not None else None
        waited = 0.0
        attempt = 1
        while True:
            request = self._http.build_request(method, path, content=content, headers=headers)
            response = self._http.send(request, stream=stream)
            if response.status_code != 429:
                return response
            if stream:
                response.read()
                response.close()
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is None:
                wait = self.retry.default_wait
            if attempt >= self.retry.attempts or waited + wait > self.retry.max_wait:
                raise error_from_body(429, _json_body(response), retry_after=wait)
            self._sleep(wait)
            waited += wait
            attempt += 1

    def _call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200,)) -> httpx.Response:
        """A request whose answer must have one of the `ok` statuses; the error's exception otherwise."""
        response = self._send(method, path, body)
        if response.status_code not in ok:
            raise error_from_body(response.status_code, _json_body(response))
        return response

    def _run(self, path: str, body: dict[str, Any]) -> ExecutionResult:
        response = self._send("POST", path, body)
        return run_result(_json_body(response), response.status_code)

    def _stream(
        self,
        path: str,
        body: dict[str, Any] | None,
        method: str = "POST",
        final: Callable[[dict[str, Any]], ExecutionResult] | None = None,
    ) -> EventStream:
        response = self._send(method, path, body, stream=True)
        if response.status_code != 200:
            response.read()
            response.close()
            raise error_from_body(response.status_code, _json_body(response))
        return EventStream(response, final)

    def execute(
        self,
        script: str,
        *,
        input: Any = UNSET,
        parameters: Mapping[str, Any] | None = None,
        files: Files | None = None,
        timeout: int | None = None,
        memory: int | None = None,
        language: str | None = None,
        capture_figures: bool | None = None,
    ) -> ExecutionResult:
        """Runs `script` (Python source that defines `main()`, or another `language`'s) and returns its
        result.

        `input` is main()'s argument (any JSON value; leave it out for none), `parameters` the
        global `parameters`, `files` input files (see `Files`), `timeout` seconds and `memory` MiB
        (the server's defaults when None), `language` "python" (the default), "javascript", "r"
        or "bash" (the server's `/environment` lists those it offers). A run that fails on the
        script's account returns a result with `success == False`; everything else that fails
        raises an `ApiError`.
        """
        return self._run(
            "/execute",
            _run_body(
                script,
                input=input,
                parameters=parameters,
                files=files,
                timeout=timeout,
                memory=memory,
                language=language,
                capture_figures=capture_figures,
            ),
        )

    def stream(
        self,
        script: str,
        *,
        input: Any = UNSET,
        parameters: Mapping[str, Any] | None = None,
        files: Files | None = None,
        timeout: int | None = None,
        memory: int | None = None,
        language: str | None = None,
        capture_figures: bool | None = None,
    ) -> EventStream:
        """Runs `script` as `execute` does, streaming: the returned `EventStream` yields its stdout
        and stderr as they are written (`OutputEvent`), then the result (`ResultEvent`)."""
        return self._stream(
            "/execute/stream",
            _run_body(
                script,
                input=input,
                parameters=parameters,
                files=files,
                timeout=timeout,
                memory=memory,
                language=language,
                capture_figures=capture_figures,
            ),
        )

    def submit_job(
        self,
        script: str,
        *,
        input: Any = UNSET,
        parameters: Mapping[str, Any] | None = None,
        files: Files | None = None,
        timeout: int | None = None,
        memory: int | None = None,
        language: str | None = None,
        capture_figures: bool | None = None,
        callback_url: str | None = None,
        max_attempts: int | None = None,
    ) -> Job:
        """Submits `script` as a job (POST /jobs) and returns at once, once the server has stored it.

        The arguments are `execute`'s, plus `callback_url` (where the server POSTs the job's end;
        its host must be on the server's list) and `max_attempts` (how many times it may be started
        if a server dies under it). `Job.wait()` returns its result; a script /execute would refuse
        raises here, as `execute` would.
        """
        body = _run_body(
            script,
            input=input,
            parameters=parameters,
            files=files,
            timeout=timeout,
            memory=memory,
            language=language,
            capture_figures=capture_figures,
        )
        body.update({k: v for k, v in {"callback_url": callback_url, "max_attempts": max_attempts}.items() if v})
        return Job(self, JobInfo.from_json(_json_body(self._call("POST", "/jobs", body, ok=(202,)))))

    def job(self, job_id: str) -> Job:
        """The job `job_id` (`JobNotFoundError` when it never existed, is another key's, or was
        deleted after the server's retention period)."""
        return Job(self, self._job_info(job_id))

    def jobs(self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None) -> JobPage:
        """One page of this key's jobs, newest first (GET /jobs); pass `next_cursor` as `cursor`."""
        params = {k: v for k, v in {"status": status, "limit": limit, "cursor": cursor}.items() if v is not None}
        query = str(httpx.QueryParams(params))
        return JobPage.from_json(_json_body(self._call("GET", "/jobs" + (f"?{query}" if query else ""))))

    def save_script(self, name: str, script: str, *, description: str | None = None) -> SavedScript:
        """Saves `script` in the server's library as version 1 of a new script (POST /scripts).

        It is checked as `execute` checks a script (a refused one raises as `execute` would).
        `description` left out is main()'s docstring. Names are unique per API key:
        `ScriptNameTakenError` when this key has a script of that name.
        """
        body: dict[str, Any] = {"name": name, "script": script}
        if description is not None:
            body["description"] = description
        return SavedScript.from_json(_json_body(self._call("POST", "/scripts", body, ok=(201,))))

    def script(self, script_id: str, *, version: int | None = None) -> SavedScript:
        """The saved script `script_id`: its newest version, or `version` (`ScriptNotFoundError`
        when it never existed, is another key's, was deleted, or has no such version)."""
        path = f"/scripts/{_segment(script_id)}"
        if version is not None:
            path += f"/versions/{int(version)}"
        return SavedScript.from_json(_json_body(self._call("GET", path)))

    def scripts(self, *, limit: int | None = None, cursor: str | None = None) -> ScriptPage:
        """One page of this key's saved scripts, newest first (GET /scripts); pass `next_cursor`
        as `cursor`."""
        params = {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}
        query = str(httpx.QueryParams(params))
        return ScriptPage.from_json(_json_body(self._call("GET", "/scripts" + (f"?{query}" if query else ""))))

    def update_script(
        self, script_id: str, script: str, *, name: str | None = None, description: str | None = None
    ) -> SavedScript:
        """Saves `script` as the next version of `script_id` (PUT /scripts/{id}), renamed to
        `name` if given; the script at its new version."""
        body: dict[str, Any] = {"script": script}
        body.update({k: v for k, v in {"name": name, "description": description}.items() if v is not None})
        return SavedScript.from_json(_json_body(self._call("PUT", f"/scripts/{_segment(script_id)}", body)))

    def delete_script(self, script_id: str) -> None:
        """Deletes the saved script and every version of it (DELETE /scripts/{id})."""
        self._call("DELETE", f"/scripts/{_segment(script_id)}", ok=(204,))

    def _saved_body(self, version: int | None, **run: Any) -> dict[str, Any]:
        """A saved script's run body: `execute`'s without the script, plus `version`."""
        body = _run_body("", **run)
        del body["script"]
        if version is not None:
            body["version"] = version
        return body

    def run_script(
        self,
        script_id: str,
        *,
        version: int | None = None,
        input: Any = UNSET,
        parameters: Mapping[str, Any] | None = None,
        files: Files | None = None,
        timeout: int | None = None,
        memory: int | None = None,
        capture_figures: bool | None = None,
    ) -> ExecutionResult:
        """Runs the saved script `script_id` (its newest version, or `version`) as `execute` runs
        a script (POST /scripts/{id}/execute): the same arguments, the same result and errors."""
        body = self._saved_body(
            version,
            input=input,
            parameters=parameters,
            files=files,
            timeout=timeout,
            memory=memory,
            capture_figures=capture_figures,
        )
        return self._run(f"/scripts/{_segment(script_id)}/execute", body)

    def submit_script_job(
        self,
        script_id: str,
        *,
        version: int | None = None,
        input: Any = UNSET,
        parameters: Mapping[str, Any] | None = None,
        files: Files | None = None,
        timeout: int | None = None,
        memory: int | None = None,
        capture_figures: bool | None = None,
        callback_url: str | None = None,
        max_attempts: int | None = None,
    ) -> Job:
        """Submits the saved script `script_id` (its newest version, or `version`) as a job, as
        `submit_job` submits a script (POST /scripts/{id}/jobs); the job's `info().raw["script"]`
        names the script and version it runs."""
        body = self._saved_body(
            version,
            input=input,
            parameters=parameters,
            files=files,
            timeout=timeout,
            memory=memory,
            capture_figures=capture_figures,
        )
        body.update({k: v for k, v in {"callback_url": callback_url, "max_attempts": max_attempts}.items() if v})
        path = f"/scripts/{_segment(script_id)}/jobs"
        return Job(self, JobInfo.from_json(_json_body(self._call("POST", path, body, ok=(202,)))))

    def _job_info(self, job_id: str) -> JobInfo:
        return JobInfo.from_json(_json_body(self._call("GET", f"/jobs/{_segment(job_id)}")))

    def _cancel_job(self, job_id: str) -> JobInfo:
        return JobInfo.from_json(_json_body(self._call("DELETE", f"/jobs/{_segment(job_id)}")))

    def _job_events(self, job_id: str) -> EventStream:
        return self._stream(f"/jobs/{_segment(job_id)}/events", None, method="GET", final=job_final_result)

    def _result_of(self, envelope: dict[str, Any], http_status: int | None) -> ExecutionResult:
        return run_result(envelope, http_status if http_status is not None else status_of(envelope))

    def validate(
        self,
        script: str,
        *,
        input: Any = UNSET,
        parameters: Mapping[str, Any] | None = None,
        files: Files | None = None,
        timeout: int | None = None,
        memory: int | None = None,
        language: str | None = None,
    ) -> ValidationReport:
        """Checks `script` (and the other fields) as `execute` would, without running anything."""
        body = _run_body(
            script,
            input=input,
            parameters=parameters,
            files=files,
            timeout=timeout,
            memory=memory,
            language=language,
            capture_figures=None,
        )
        return ValidationReport.from_json(_json_body(self._call("POST", "/validate", body)))

    def environment(self) -> Environment:
        """What a script may import: the sandbox's Python, its packages and importable modules."""
        return Environment.from_json(_json_body(self._call("GET", "/environment")))

    def health(self) -> dict[str, Any]:
        """GET /health's JSON, whether the server is healthy (200) or not (503)."""
        return _json_body(self._send("GET", "/health"))

    def session(
        self,
        *,
        memory: int | None = None,
        timeout: int | None = None,
        idle_timeout: int | None = None,
        files: Files | None = None,
    ) -> Session:
        """Starts a session: a live Python that keeps its state between cells. Use it in a `with`
        block (it is closed at the end) or call `close()`; the server also ends it after
        `idle_timeout` seconds without a cell."""
        body: dict[str, Any] = {
            k: v
            for k, v in {"memory": memory, "timeout": timeout, "idle_timeout": idle_timeout}.items()
            if v is not None
        }
        if files is not None:
            body["files"] = encode_files(files)
        created = _json_body(self._call("POST", "/sessions", body, ok=(201,)))
        return Session(self, created)

    def batch(
        self,
        cells: Sequence[str],
        *,
        stop_on_error: bool = True,
        memory: int | None = None,
        timeout: int | None = None,
        files: Files | None = None,
    ) -> BatchResult:
        """Runs `cells` in order in a fresh session, then ends it; each cell's result."""
        if isinstance(cells, str):
            raise TypeError("cells= is a list of code strings, not one string")
        body: dict[str, Any] = {"cells": list(cells), "stop_on_error": stop_on_error}
        body.update({k: v for k, v in {"memory": memory, "timeout": timeout}.items() if v is not None})
        if files is not None:
            body["files"] = encode_files(files)
        return BatchResult.from_json(_json_body(self._call("POST", "/batch", body)))


class Session:
    """A session on the server (`Client.session()`): `run` cells, `stream` one, `info()`, `close()`.

    Cells keep their variables, imports and files from one to the next. A cell's result is the
    value of its last statement when that is an expression. It is usable as a context manager,
    which closes it.
    """

    def __init__(self, client: Client, created: dict[str, Any]) -> None:
        self._client = client
        self.id = str(created.get("session_id", ""))
        self.created = SessionInfo.from_json(created)
        self.closed = False

    def __repr__(self) -> str:
        return f"Session({self.id!r}, closed={self.closed})"

    def _cell(self, code: str, timeout: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {"code": code}
        if timeout is not None:
            body["timeout"] = timeout
        return body

    def run(self, code: str, *, timeout: int | None = None) -> ExecutionResult:
        """Runs one cell; its result (failed cells too, as `Client.execute`)."""
        return self._client._run(f"/sessions/{self.id}/execute", self._cell(code, timeout))

    def stream(self, code: str, *, timeout: int | None = None) -> EventStream:
        """Runs one cell, streaming its output, as `Client.stream`."""
        return self._client._stream(f"/sessions/{self.id}/execute/stream", self._cell(code, timeout))

    def info(self) -> SessionInfo:
        """The session now: cells run, memory used, busy, and its variables (names, types, reprs)."""
        return SessionInfo.from_json(_json_body(self._client._call("GET", f"/sessions/{self.id}")))

    def close(self) -> None:
        """Ends the session (a running cell included). Closing a session that has ended already
        (expired, out of memory, closed before) is not an error."""
        if self.closed:
            return
        try:
            self._client._call("DELETE", f"/sessions/{self.id}", ok=(204,))
        except SessionNotFoundError:
            pass
        self.closed = True

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
