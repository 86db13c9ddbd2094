# A streamed run's events (`EventStream`: /execute/stream, a session's cell, a job's events) and the
# rule that turns a run's answer into a result or an exception (`run_result`). Not here: sending the
# request (_client.py), the SSE format (_sse.py), the values (_results.py).
from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from typing import Any

import httpx

from ._errors import ApiError, error_from_body, is_script_failure
from ._results import ExecutionResult, OutputEvent, ResultEvent, StreamEvent, status_of
from ._sse import parse_sse


def run_result(body: dict[str, Any], status: int) -> ExecutionResult:
    """A run's answer as a result, when the run happened (success, or the script's own failure);
    the exception of any other failure, raised."""
    if body.get("success") is True or is_script_failure(body.get("error_type")):
        return ExecutionResult.from_json(body, status)
    raise error_from_body(status, body)


class EventStream(Iterator[StreamEvent]):
    """A streamed run: iterate it for `OutputEvent`s as the script writes, then one `ResultEvent`.

    The request has been sent and accepted when you hold one (errors before the run raised
    already). Use it in a `with` block, or iterate it to the end, so that its connection is
    closed; `result` is the final result once it has arrived.
    """

    def __init__(
        self, response: httpx.Response, final: Callable[[dict[str, Any]], ExecutionResult] | None = None
    ) -> None:
        self._response = response
        # What the final event's body becomes: a run's result (a job's stream says otherwise).
        self._final = final if final is not None else final_result
        self._events = self._read()
        self.result: ExecutionResult | None = None

    def _read(self) -> Generator[StreamEvent, None, None]:
        try:
            for name, data in parse_sse(self._response.iter_lines()):
                if name in ("stdout", "stderr"):
                    payload = json.loads(data)
                    text = payload.get("data") if isinstance(payload, dict) else None
                    yield OutputEvent(stream="stdout" if name == "stdout" else "stderr", data=str(text or ""))
                elif name == "result":
                    body = json.loads(data)
                    if not isinstance(body, dict):
                        break
                    self.result = self._final(body)
                    yield ResultEvent(result=self.result)
                    return
                # Other event names: a newer server's, skipped.
            raise ApiError(
                "the stream ended without its result event", status=self._response.status_code, error_type=None, body={}
            )
        finally:
            self._response.close()

    def __next__(self) -> StreamEvent:
        return next(self._events)

    def close(self) -> None:
        self._events.close()
        self._response.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def final_result(body: dict[str, Any]) -> ExecutionResult:
    """A stream's final event as a result: /execute's answer, with the status it would have had."""
    return run_result(body, status_of(body))
