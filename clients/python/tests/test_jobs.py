# Jobs through the client, against the real server: submit and wait (a result as execute's), a
# failed script's job (a result with success False), events (output, then the result), cancel
# (JobCancelledError when collected), listing with a cursor, job_not_found, and a refused script.
from __future__ import annotations

import pytest

from python_script_api import (
    Client,
    JobCancelledError,
    JobNotFoundError,
    JobWaitTimeout,
    OutputEvent,
    ResultEvent,
    ValidationError,
)


def test_a_job_is_submitted_then_collected(client: Client) -> None:
    job = client.submit_job("def main(x):\n    print('working')\n    return x * 2\n", input=21)
    assert job.last.status == "queued" and job.id
    run = job.wait(timeout=120, poll=0.1)
    assert run.success and run.result == 42 and run.stdout == "working\n"
    info = job.info()
    assert info.status == "succeeded" and info.started_at and info.finished_at and info.http_status == 200
    # The same job, found by its id, gives the same result.
    assert client.job(job.id).result().result == 42


def test_a_failed_scripts_job_is_a_failed_result(client: Client) -> None:
    run = client.submit_job("def main():\n    raise ValueError('no')\n").wait(timeout=120, poll=0.1)
    assert not run.success and run.error_type == "runtime_error" and "ValueError" in (run.traceback or "")


def test_a_jobs_events_are_its_output_then_its_result(client: Client) -> None:
    script = "import time\ndef main():\n    print('a', flush=True)\n    time.sleep(0.5)\n    return 'b'\n"
    job = client.submit_job(script)
    with job.events() as events:
        seen = list(events)
    assert OutputEvent(stream="stdout", data="a\n") in seen
    assert isinstance(seen[-1], ResultEvent) and seen[-1].result.result == "b"


def test_a_cancelled_job_raises_when_collected(client: Client) -> None:
    job = client.submit_job("import time\ndef main():\n    time.sleep(60)\n", timeout=120)
    with pytest.raises(JobWaitTimeout):
        job.wait(timeout=0.2, poll=0.05)
    cancelled = job.cancel()
    assert cancelled.status == "cancelled" and cancelled.message
    with pytest.raises(JobCancelledError) as ended:
        job.wait(timeout=30)
    assert ended.value.job.status == "cancelled"
    with pytest.raises(JobCancelledError), job.events() as events:
        list(events)


def test_jobs_are_listed_in_pages(client: Client) -> None:
    ids = [client.submit_job(f"def main():\n    return {n}\n").id for n in range(3)]
    first = client.jobs(limit=2)
    assert len(first.jobs) == 2 and first.next_cursor
    assert [j.job_id for j in first.jobs] == ids[::-1][:2]
    rest = client.jobs(limit=2, cursor=first.next_cursor)
    assert rest.jobs and rest.jobs[0].job_id == ids[0]


def test_unknown_and_refused_jobs_raise(client: Client) -> None:
    with pytest.raises(JobNotFoundError):
        client.job("0123456789abcdef0123456789abcdef")
    with pytest.raises(JobNotFoundError):
        client.job("../../execute")
    with pytest.raises(ValidationError):
        client.submit_job("def main(:\n")
