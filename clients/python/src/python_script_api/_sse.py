# A parser of server-sent events (the WHATWG "event stream" format) for /execute/stream and a
# session's /execute/stream: lines in, (event name, data) out. Not here: what the events mean
# (_client.py turns them into OutputEvent and ResultEvent).
from __future__ import annotations

from collections.abc import Iterable, Iterator


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Each event of the stream as (name, data): `event:` names it ("message" when absent), its
    `data:` lines are joined by newlines, a blank line ends it, comment lines (`:`, the server's
    keep-alives) and unknown fields are skipped. An event the stream ends inside is dropped, as the
    format says."""
    name = ""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield (name or "message", "\n".join(data))
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
