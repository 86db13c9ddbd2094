# The retry of 429 `overloaded` answers: how long the server asks to wait (`Retry-After`, seconds
# or an HTTP date) and the bounds a client sets on attempts and on the total wait. Not here: the
# loop that sends requests (_client.py `_send`); other statuses are never retried.
from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Retry:
    """How the client retries a 429 `overloaded` answer.

    A 429 means the server refused the request before running anything (README, "429: the queue
    and Retry-After"), so sending it again is safe, POSTs included. The client waits what the
    answer's `Retry-After` says, and gives up (raising `OverloadedError`) after `attempts` tries in
    all, or when the next wait would take the waits together past `max_wait` seconds.
    `Retry(attempts=1)` never retries.
    """

    attempts: int = 5
    max_wait: float = 60.0
    #: The wait when a 429 carries no usable `Retry-After` (this server always sends one).
    default_wait: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Retry.attempts must be at least 1")
        if self.max_wait < 0 or self.default_wait < 0:
            raise ValueError("Retry.max_wait and Retry.default_wait must not be negative")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After`'s wait in seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); None when
    absent or unreadable. Never negative."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
