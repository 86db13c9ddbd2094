# The script library through the client, against the real server: save (the description from
# main()'s docstring), read, a new version, an older version still readable, run by id as execute
# runs (the newest, or `version`), as a job (which names the script and version), list, a taken
# name, delete, and script_not_found.
from __future__ import annotations

import uuid

import pytest

from python_script_api import Client, ScriptNameTakenError, ScriptNotFoundError, ValidationError

SUM = 'def main(numbers):\n    """Adds them."""\n    return sum(numbers)\n'
PRODUCT = "import math\ndef main(numbers):\n    return math.prod(numbers)\n"


def _name() -> str:
    return f"client-{uuid.uuid4().hex[:12]}"


def test_a_script_is_saved_versioned_run_and_deleted(client: Client) -> None:
    name = _name()
    saved = client.save_script(name, SUM)
    assert (saved.version, saved.name, saved.description, saved.versions) == (1, name, "Adds them.", [1])
    with pytest.raises(ScriptNameTakenError):
        client.save_script(name, SUM)
    assert client.run_script(saved.id, input=[2, 3, 4]).result == 9

    newer = client.update_script(saved.id, PRODUCT, description="multiplies")
    assert (newer.version, newer.description, newer.versions) == (2, "multiplies", [1, 2])
    assert client.script(saved.id).script == PRODUCT
    assert client.script(saved.id, version=1).script == SUM
    assert client.run_script(saved.id, input=[2, 3, 4]).result == 24
    assert client.run_script(saved.id, version=1, input=[2, 3, 4]).result == 9

    job = client.submit_script_job(saved.id, version=1, input=[1, 2])
    assert job.wait(timeout=120, poll=0.1).result == 3
    assert job.info().raw["script"] == {"id": saved.id, "version": 1}

    assert saved.id in [s.id for s in client.scripts(limit=100).scripts]
    client.delete_script(saved.id)
    with pytest.raises(ScriptNotFoundError):
        client.script(saved.id)
    with pytest.raises(ScriptNotFoundError):
        client.run_script(saved.id)


def test_a_script_execute_refuses_is_not_saved(client: Client) -> None:
    with pytest.raises(ValidationError):
        client.save_script(_name(), "print('no main')")
