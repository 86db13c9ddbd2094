# The retry of 429s: unit tests of the loop and its bounds on a stub transport (the waits recorded,
# not taken), Retry-After's two forms, and one acceptance test against a real server whose only
# slot is held: without retries the client raises OverloadedError with the server's Retry-After,
# with them it waits as told and gets its result.
from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from python_script_api import Client, OutputEvent, OverloadedError, Retry, ValidationError
from python_script_api._retry import retry_after_seconds

OVERLOADED = {"success": False, "error": "busy", "error_type": "overloaded", "stdout": "", "stderr": ""}
OK = {"success": True, "result": 1, "stdout": "", "stderr": "", "timestamp": "t", "duration_ms": 1}


def stub(answers: list[httpx.Response]) -> tuple[Client, list[float], list[httpx.Request]]:
    """A client whose requests get `answers` in turn (the last one again and again), with the waits
    it would take recorded instead."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers[min(len(sent), len(answers)) - 1]

    client = Client("http://stub", transport=httpx.MockTransport(handler), retry=Retry(attempts=4, max_wait=10))
    waits: list[float] = []
    client._sleep = waits.append
    return client, waits, sent


def busy(retry_after: str | None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(429, json=OVERLOADED, headers=headers)


def test_a_429_is_retried_after_its_retry_after() -> None:
    client, waits, sent = stub([busy("2"), busy("3"), httpx.Response(200, json=OK)])
    assert client.execute("def main(): return 1").result == 1
    assert waits == [2.0, 3.0] and len(sent) == 3
    assert all(r.content == sent[0].content for r in sent), "the same body each time"


def test_attempts_bound_the_retries() -> None:
    client, waits, sent = stub([busy("1")])
    with pytest.raises(OverloadedError) as raised:
        client.execute("def main(): return 1")
    assert len(sent) == 4 and waits == [1.0, 1.0, 1.0]
    assert raised.value.status == 429 and raised.value.retry_after == 1.0
    client.retry = Retry(attempts=1)
    with pytest.raises(OverloadedError):
        client.validate("def main(): pass")
    assert len(sent) == 5 and len(waits) == 3, "attempts=1 never retries"


def test_the_total_wait_is_bounded() -> None:
    client, waits, sent = stub([busy("4"), busy("4"), busy("4"), httpx.Response(200, json=OK)])
    with pytest.raises(OverloadedError) as raised:
        client.execute("def main(): return 1")
    # 4 + 4 = 8 within max_wait=10; a third wait would make 12.
    assert waits == [4.0, 4.0] and len(sent) == 3 and raised.value.retry_after == 4.0
    client, waits, sent = stub([busy("300")])
    with pytest.raises(OverloadedError):
        client.execute("def main(): return 1")
    assert waits == [] and len(sent) == 1, "a wait past the bound is not taken at all"


def test_without_retry_after_the_default_wait_applies_and_other_errors_are_never_retried() -> None:
    client, waits, sent = stub([busy(None), busy("soon"), httpx.Response(200, json=OK)])
    assert client.execute("def main(): return 1").success
    assert waits == [1.0, 1.0]
    refused = {"success": False, "error": "bad", "error_type": "validation_error", "stdout": "", "stderr": ""}
    client, waits, sent = stub([httpx.Response(400, json=refused)])
    with pytest.raises(ValidationError):
        client.execute("def main(:")
    assert len(sent) == 1 and waits == []


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("-1") is None
    now = time.time()
    later = format_datetime(datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=30), usegmt=True)
    wait = retry_after_seconds(later, now=now)
    assert wait is not None and 29 <= wait <= 31
    earlier = format_datetime(datetime.fromtimestamp(now, timezone.utc) - timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(earlier, now=now) == 0.0
    with pytest.raises(ValueError):
        Retry(attempts=0)


def recording(waits: list[float]) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    return sleep


def test_against_a_server_whose_only_slot_is_busy(limited_url: str, limited_key: str) -> None:
    holder = Client(limited_url, api_key=limited_key, retry=Retry(attempts=1))
    hold = "import time\ndef main():\n    print('holding', flush=True)\n    time.sleep(2)\n    return 'held'\n"
    with holder, holder.stream(hold) as holding:
        # The stream starts once the run holds the server's one slot.
        assert next(holding) == OutputEvent(stream="stdout", data="holding\n")
        with Client(limited_url, api_key=limited_key, retry=Retry(attempts=1)) as impatient:
            with pytest.raises(OverloadedError) as raised:
                impatient.execute("def main():\n    return 1")
        assert raised.value.status == 429 and raised.value.error_type == "overloaded"
        assert raised.value.retry_after is not None and 1 <= raised.value.retry_after <= 300
        with Client(limited_url, api_key=limited_key, retry=Retry(attempts=30, max_wait=120)) as patient:
            waits: list[float] = []
            patient._sleep = recording(waits)
            run = patient.execute("def main():\n    return 'after the wait'")
        assert run.result == "after the wait"
        assert waits and all(w >= 1 for w in waits), f"it waited as told: {waits}"
        *_, last = holding
    assert last.result.result == "held"  # type: ignore[union-attr]
