# Fixtures of the client's tests: the servers tests/api/python_client.rs started for them (their
# URLs and key in environment variables) and clients of them. Run outside that test, without the
# variables, the session stops at once and says how to run it: these tests never skip.
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from python_script_api import Client

NEEDED = ("PSA_URL", "PSA_LIMITED_URL", "PSA_LIMITED_KEY", "PSA_REPO_ROOT")


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name in NEEDED if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            f"{', '.join(missing)} not set: these tests run against real servers that "
            "`cargo test --test api python_client` starts (make test runs it)"
        )


@pytest.fixture(scope="session")
def url() -> str:
    """A server with sessions (fork mode) and no API key."""
    return os.environ["PSA_URL"]


@pytest.fixture(scope="session")
def limited_url() -> str:
    """A server with one slot, no queue (a second run at once gets 429) and an API key."""
    return os.environ["PSA_LIMITED_URL"]


@pytest.fixture(scope="session")
def limited_key() -> str:
    return os.environ["PSA_LIMITED_KEY"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(os.environ["PSA_REPO_ROOT"])


@pytest.fixture
def client(url: str) -> Iterator[Client]:
    with Client(url) as c:
        yield c
