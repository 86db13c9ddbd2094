# Jobs through the client: `Job` (a job on the server: wait for it, follow its events, cancel it),
# `JobInfo` (GET /jobs/{id}'s answer) and `JobPage` (GET /jobs), and the exceptions of a job that
# ended without running to its end (cancelled, lost). Not here: sending requests and the 429 retry
# (_client.py, whose `Client.submit_job`, `job` and `jobs` make these, through `JobCalls`), the
# run's result (_results.py).
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._results import ExecutionResult, _int, _str
from ._stream import EventStream, final_result

#: The statuses after which a job changes no more.
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "lost"})


class JobNotRunError(Exception):
    """The job ended without a result: `job` is how it ended, its `message` says why."""

    def __init__(self, job: JobInfo) -> None:
        super().__init__(f"job {job.job_id} {job.status}: {job.message or 'no message'}")
        self.job = job


class JobCancelledError(JobNotRunError):
    """The job was cancelled (DELETE /jobs/{id}) before it finished."""


class JobLostError(JobNotRunError):
    """The server running the job died (or shut down) before it finished; it was not run again."""


class JobWaitTimeout(TimeoutError):
    """`Job.wait(timeout=...)` gave up; the job goes on, on the server."""


@dataclass(frozen=True)
class JobInfo:
    """A job as the server describes it (GET /jobs/{id}, POST /jobs, DELETE /jobs/{id})."""

    job_id: str
    status: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    #: Why a cancelled or lost job did not finish.
    message: str | None
    #: The status /execute would have answered with, once finished.
    http_status: int | None
    #: /execute's answer, once the job has succeeded or failed (not in GET /jobs's list).
    envelope: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> JobInfo:
        envelope = body.get("envelope")
        started, finished, message = body.get("started_at"), body.get("finished_at"), body.get("message")
        return cls(
            job_id=_str(body.get("job_id")),
            status=_str(body.get("status")),
            created_at=_str(body.get("created_at")),
            started_at=started if isinstance(started, str) else None,
            finished_at=finished if isinstance(finished, str) else None,
            message=message if isinstance(message, str) else None,
            http_status=_int(body.get("http_status")),
            envelope=envelope if isinstance(envelope, dict) else None,
            raw=body,
        )

    @property
    def done(self) -> bool:
        return self.status in FINAL_STATUSES


def job_ended_without_result(job: JobInfo) -> JobNotRunError:
    """The exception for a job that ended without an envelope (cancelled, lost)."""
    if job.status == "cancelled":
        return JobCancelledError(job)
    if job.status == "lost":
        return JobLostError(job)
    return JobNotRunError(job)


def job_final_result(body: dict[str, Any]) -> ExecutionResult:
    """A job's stream's final event: its envelope as a result, or, for a job that has none
    (cancelled, lost), the job itself, raised as its exception."""
    if "success" not in body and "job_id" in body and "status" in body:
        raise job_ended_without_result(JobInfo.from_json(body))
    return final_result(body)


class JobCalls(Protocol):
    """What a `Job` asks of its client (`Client` has them)."""

    def _job_info(self, job_id: str) -> JobInfo: ...

    def _cancel_job(self, job_id: str) -> JobInfo: ...

    def _job_events(self, job_id: str) -> EventStream: ...

    def _result_of(self, envelope: dict[str, Any], http_status: int | None) -> ExecutionResult: ...


@dataclass(frozen=True)
class JobPage:
    """One page of GET /jobs: the jobs, newest first, without envelopes; `next_cursor` for the next."""

    jobs: list[JobInfo]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> JobPage:
        cursor = body.get("next_cursor")
        return cls(
            jobs=[JobInfo.from_json(j) for j in body.get("jobs") or [] if isinstance(j, dict)],
            next_cursor=cursor if isinstance(cursor, str) else None,
        )


class Job:
    """A job on the server (`Client.submit_job()` or `Client.job(id)`).

    `wait()` returns its result as `Client.execute` would have (a failed script is a result with
    `success == False`), `events()` streams its output, `cancel()` stops it, `info()` reads it.
    """

    def __init__(self, client: JobCalls, info: JobInfo) -> None:
        self._client = client
        self.id = info.job_id
        self.last = info

    def __repr__(self) -> str:
        return f"Job({self.id!r}, status={self.last.status!r})"

    def info(self) -> JobInfo:
        """The job now (GET /jobs/{id})."""
        self.last = self._client._job_info(self.id)
        return self.last

    def result(self) -> ExecutionResult:
        """The finished job's result; `JobCancelledError` / `JobLostError` when it has none,
        `RuntimeError` when it has not finished yet."""
        job = self.last if self.last.done else self.info()
        if not job.done:
            raise RuntimeError(f"job {self.id} is {job.status}: wait() for it")
        if job.envelope is None:
            raise job_ended_without_result(job)
        return self._client._result_of(job.envelope, job.http_status)

    def wait(self, timeout: float | None = None, *, poll: float = 0.5) -> ExecutionResult:
        """Waits until the job has ended (polling GET /jobs/{id} every `poll` seconds, at most
        `timeout` seconds: `JobWaitTimeout` then) and returns its result, as `result()`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.info().done:
            if deadline is not None and time.monotonic() >= deadline:
                raise JobWaitTimeout(f"job {self.id} is still {self.last.status} after {timeout} s")
            time.sleep(poll)
        return self.result()

    def events(self) -> EventStream:
        """The job's output as it is written (what it wrote before first), then its result, as
        `Client.stream`; a cancelled or lost job's stream raises `JobCancelledError` or
        `JobLostError` at its end."""
        return self._client._job_events(self.id)

    def cancel(self) -> JobInfo:
        """Cancels the job: a queued one never starts, a running one is killed. A job that had
        finished already is left as it was. The job as it now is."""
        self.last = self._client._cancel_job(self.id)
        return self.last
