# The exception classes: one per error_type the API lists (src/openapi.json), all under ApiError,
# the script's failures under ScriptError; what an unknown type or an answer that is not the API's
# becomes; and authentication against a real server with API_KEYS (401 unauthorized).
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import python_script_api
from python_script_api import (
    ERROR_CLASSES,
    ApiError,
    Client,
    ScriptError,
    UnauthorizedError,
)
from python_script_api._errors import SCRIPT_FAILURES, error_from_body
from python_script_api._results import _STATUSES


def api_error_types(repo_root: Path) -> list[str]:
    spec = json.loads((repo_root / "src" / "openapi.json").read_text())
    types = spec["components"]["schemas"]["Error"]["properties"]["error_type"]["enum"]
    assert isinstance(types, list) and types
    return [str(t) for t in types]


def test_every_error_type_has_its_own_class(repo_root: Path) -> None:
    types = api_error_types(repo_root)
    assert sorted(ERROR_CLASSES) == sorted(types), "a class per error_type, no more"
    assert len(set(ERROR_CLASSES.values())) == len(types), "no class serves two types"
    assert sorted(_STATUSES) == sorted(types), "a status per error_type, for batch cells and streams"
    for error_type, cls in ERROR_CLASSES.items():
        assert issubclass(cls, ApiError) and cls is not ApiError
        assert cls.__name__ in python_script_api.__all__, f"{cls.__name__} is exported"
        error = error_from_body(_STATUSES[error_type], {"error": "m", "error_type": error_type})
        assert type(error) is cls and error.error_type == error_type and error.message == "m"
    # The script's own failures: what a run returns instead of raising.
    assert SCRIPT_FAILURES == {
        "runtime_error",
        "invalid_result",
        "exited",
        "timeout",
        "memory_limit",
        "output_limit",
        "policy_violation",
    }
    assert all(issubclass(ERROR_CLASSES[t], ScriptError) for t in SCRIPT_FAILURES)


def test_an_unknown_error_type_or_a_foreign_answer_is_a_plain_api_error() -> None:
    newer = error_from_body(418, {"error": "from a newer server", "error_type": "teapot"})
    assert type(newer) is ApiError and newer.error_type == "teapot" and newer.status == 418

    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    with Client("http://stub", transport=httpx.MockTransport(proxy)) as client:
        with pytest.raises(ApiError) as raised:
            client.execute("def main(): pass")
    assert type(raised.value) is ApiError and raised.value.error_type is None and raised.value.status == 502
    assert "Bad Gateway" in raised.value.message


def test_a_missing_or_wrong_api_key_is_unauthorized(limited_url: str, limited_key: str) -> None:
    for key in (None, "not-the-key-0123456789"):
        with Client(limited_url, api_key=key) as client:
            with pytest.raises(UnauthorizedError) as raised:
                client.execute("def main():\n    return 1")
            assert raised.value.status == 401
            with pytest.raises(UnauthorizedError):
                client.environment()
    with Client(limited_url, api_key=limited_key) as client:
        assert client.execute("def main():\n    return 1").result == 1
