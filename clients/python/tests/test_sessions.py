# Sessions and batches through the client, against the real server: state kept between cells,
# info(), a streamed cell, close() (idempotent, and by the with block), session_not_found after it,
# session_busy while a cell runs, and batch with and without stop_on_error.
from __future__ import annotations

import pytest

from python_script_api import (
    Client,
    OutputEvent,
    ResultEvent,
    ScriptRuntimeError,
    SessionBusyError,
    SessionNotFoundError,
    ValidationError,
)


def test_a_session_keeps_state_and_closes(client: Client) -> None:
    with client.session(idle_timeout=60, files={"seed.txt": "7"}) as session:
        assert session.created.idle_timeout == 60 and session.created.session_id == session.id
        first = session.run("import pandas as pd\ndf = pd.DataFrame({'v': [1, 2, int(open('seed.txt').read())]})")
        assert first.success and first.result is None
        assert session.run("df.v.sum()").result == 10
        failed = session.run("1 / 0")
        assert not failed.success and failed.error_type == "runtime_error"
        with pytest.raises(ScriptRuntimeError):
            failed.raise_for_error()
        # The session lives on after a failed cell; a syntax error raises (nothing ran).
        with pytest.raises(ValidationError):
            session.run("def (:")
        info = session.info()
        assert info.cells_run >= 3 and not info.busy and info.memory_used_bytes > 0
        assert [v.name for v in info.variables] == ["df"] and info.variables[0].type.endswith("DataFrame")
        events = list(session.stream("print('streamed')\ndf.v.max()"))
        assert events[0] == OutputEvent(stream="stdout", data="streamed\n")
        assert isinstance(events[-1], ResultEvent) and events[-1].result.result == 7
    assert session.closed
    with pytest.raises(SessionNotFoundError) as gone:
        session.run("1")
    assert gone.value.status == 404 and gone.value.error_type == "session_not_found"
    session.close()  # once more: not an error


def test_a_second_cell_while_one_runs_is_session_busy(client: Client) -> None:
    with client.session() as session:
        with session.stream("import time\nprint('running', flush=True)\ntime.sleep(1.5)\n'slept'") as running:
            assert next(running) == OutputEvent(stream="stdout", data="running\n")
            with pytest.raises(SessionBusyError) as busy:
                session.run("1 + 1")
            assert busy.value.status == 409
            *_, last = running
            assert isinstance(last, ResultEvent) and last.result.result == "slept"
        assert session.run("1 + 1").result == 2


def test_batch_runs_cells_in_a_fresh_session(client: Client) -> None:
    batch = client.batch(["x = 2", "x * 21"])
    assert batch.success and batch.cells_run == 2 and batch.cells[-1].result == 42
    assert batch.raise_for_error() is batch
    stopped = client.batch(["y = 1", "1 / 0", "y"], stop_on_error=True)
    assert not stopped.success and stopped.cells_run == 2 and stopped.cells[1].error_type == "runtime_error"
    with pytest.raises(ScriptRuntimeError):
        stopped.raise_for_error()
    on = client.batch(["y = 1", "1 / 0", "y"], stop_on_error=False)
    assert on.cells_run == 3 and on.cells[2].result == 1
    with pytest.raises(TypeError):
        client.batch("x = 1")
