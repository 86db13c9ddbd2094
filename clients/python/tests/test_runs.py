# execute, stream, validate and environment against the real server: results, input files of each
# kind, output files and figures as bytes with save_to, the script's failures returned as results
# (and raised by raise_for_error), refused requests raised as their classes, streamed events.
# Not here: sessions (test_sessions.py), the error classes' table and the retry (test_errors.py,
# test_retry.py), the READMEs' examples (test_readme.py).
from __future__ import annotations

from pathlib import Path

import pytest

from python_script_api import (
    Client,
    ExecutionResult,
    ExitedError,
    InvalidRequestError,
    OutputEvent,
    PayloadTooLargeError,
    ResultEvent,
    ScriptError,
    ScriptRuntimeError,
    ScriptTimeoutError,
    ValidationError,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_execute_returns_the_value_output_and_usage(client: Client) -> None:
    run = client.execute(
        "import sys\n"
        "def main(data):\n"
        "    print('to stdout')\n"
        "    print('to stderr', file=sys.stderr)\n"
        "    return {'sum': sum(data) * parameters['scale'], 'null_input': input_data is None}\n",
        input=[1, 2, 3],
        parameters={"scale": 10},
        timeout=20,
        memory=200,
    )
    assert run.success and run.status == 200 and run.error_type is None
    assert run.result == {"sum": 60, "null_input": False}
    assert (run.stdout, run.stderr) == ("to stdout\n", "to stderr\n")
    assert run.duration_ms is not None and run.usage is not None and run.usage.max_rss_kib > 0
    assert run.raise_for_error() is run
    # No input at all is not input=None: main(data=5) keeps its default only without one.
    assert client.execute("def main(data=5):\n    return data").result == 5
    assert client.execute("def main(data=5):\n    return data", input=None).result is None


def test_input_files_as_text_bytes_and_paths(client: Client, tmp_path: Path) -> None:
    on_disk = tmp_path / "disk.bin"
    on_disk.write_bytes(bytes(range(256)))
    listed = tmp_path / "listed.csv"
    listed.write_text("a,b\n1,2\n3,4\n")
    script = (
        "def main():\n"
        "    return [load_file('text.txt').decode(), list(load_file('raw.bin')), len(load_file('disk.bin')),"
        " int(load_file('listed.csv').b.sum())]\n"
    )
    run = client.execute(
        script,
        files={"text.txt": "héllo", "raw.bin": b"\x00\xff\x10", "disk.bin": on_disk, "listed.csv": listed},
    )
    assert run.result == ["héllo", [0, 255, 16], 256, 6], run
    # A list of paths: each goes under its base name.
    run = client.execute("def main():\n    return int(load_file('listed.csv').a.sum())", files=[listed])
    assert run.result == 4
    with pytest.raises(TypeError):
        client.execute("def main(): pass", files="listed.csv")


def test_output_files_and_figures_come_back_as_bytes_and_save_to_writes_them(client: Client, tmp_path: Path) -> None:
    run = client.execute(
        "import os\n"
        "import matplotlib.pyplot as plt\n"
        "def main():\n"
        "    plt.plot([1, 4, 9])\n"
        "    os.makedirs('output/sub')\n"
        "    open('output/sub/notes.txt', 'w').write('hi')\n"
        "    open('output/raw.bin', 'wb').write(bytes([0, 1, 2]))\n"
        "    save_result('points', 3)\n"
        "    return 'ok'\n",
        memory=512,
    )
    assert run.success, run.error
    assert run.results == {"points": 3}
    assert [f.name for f in run.files] == ["figure-1.png", "raw.bin", "sub/notes.txt"]
    assert [f.name for f in run.figures] == ["figure-1.png"]
    figure = run.figures[0]
    assert figure.mime_type == "image/png" and figure.content.startswith(PNG_MAGIC)
    assert run.file("raw.bin").content == b"\x00\x01\x02" and run.file("sub/notes.txt").text() == "hi"
    written = run.save_to(tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "figure-1.png",
        "raw.bin",
        "sub/notes.txt",
    ]
    assert (tmp_path / "out" / "figure-1.png").read_bytes() == figure.content
    assert (tmp_path / "out" / "sub" / "notes.txt").read_text() == "hi"


def test_the_scripts_own_failures_are_results_that_raise_for_error_raises(client: Client) -> None:
    cases: list[tuple[str, dict[str, int], type[ScriptError], str]] = [
        ("def main():\n    print('before')\n    return 1 / 0", {}, ScriptRuntimeError, "runtime_error"),
        ("import sys\ndef main():\n    sys.exit(3)", {}, ExitedError, "exited"),
        ("import time\ndef main():\n    time.sleep(10)", {"timeout": 1}, ScriptTimeoutError, "timeout"),
    ]
    for script, limits, cls, error_type in cases:
        run = client.execute(script, **limits)  # type: ignore[arg-type]
        assert isinstance(run, ExecutionResult)
        assert not run.success and run.error_type == error_type and run.status == 422, run
        with pytest.raises(cls) as raised:
            run.raise_for_error()
        assert raised.value.status == 422 and raised.value.error_type == error_type
        assert raised.value.body == run.raw
    failed = client.execute("def main():\n    print('before')\n    return 1 / 0")
    assert failed.stdout == "before\n" and failed.traceback and "ZeroDivisionError" in failed.traceback
    assert failed.exit_code is None
    assert client.execute("import sys\ndef main():\n    sys.exit(3)").exit_code == 3


def test_requests_that_cannot_run_raise_their_class(client: Client) -> None:
    with pytest.raises(ValidationError) as syntax:
        client.execute("def main(:\n    pass")
    assert syntax.value.status == 400 and syntax.value.line == 1 and syntax.value.column is not None
    with pytest.raises(ValidationError):
        client.execute("print('no main')")
    with pytest.raises(InvalidRequestError) as limits:
        client.execute("def main(): pass", timeout=0)
    assert "timeout" in limits.value.message
    with pytest.raises(InvalidRequestError):
        client.execute("def main(): pass", files={"../x": "escape"})
    with pytest.raises(PayloadTooLargeError) as large:
        client.execute("#" * (2 << 20) + "\ndef main(): pass")
    assert large.value.status == 413


def test_stream_yields_output_as_written_then_the_result(client: Client) -> None:
    script = (
        "import sys\n"
        "def main():\n"
        "    for i in range(3):\n"
        "        print('step', i)\n"
        "    print('warn', file=sys.stderr)\n"
        "    return 'done'\n"
    )
    with client.stream(script) as events:
        seen = list(events)
    assert isinstance(seen[-1], ResultEvent)
    result = seen[-1].result
    assert result.success and result.result == "done" and events.result is result
    output = [e for e in seen if isinstance(e, OutputEvent)]
    assert len(output) == len(seen) - 1
    assert "".join(e.data for e in output if e.stream == "stdout") == result.stdout == "step 0\nstep 1\nstep 2\n"
    assert "".join(e.data for e in output if e.stream == "stderr") == result.stderr == "warn\n"
    # The script's failure is the final result, as for execute.
    *_, last = client.stream("def main():\n    print('hi')\n    return 1 / 0")
    assert isinstance(last, ResultEvent) and last.result.error_type == "runtime_error"
    with pytest.raises(ScriptRuntimeError):
        last.result.raise_for_error()
    # Refused before the stream starts: raised by the call itself.
    with pytest.raises(ValidationError):
        client.stream("def main(:")


def test_validate_reports_without_running(client: Client) -> None:
    report = client.validate(
        "import pandas as pd\nimport nosuchmodule_xyz\n\ndef main(data):\n    return pd.Series(data).sum()"
    )
    assert report.valid and report.errors == []
    assert report.main.defined and report.main.parameters == ["data"] and not report.main.is_async
    assert report.imports == ["pandas", "nosuchmodule_xyz"]
    assert report.unavailable_imports == ["nosuchmodule_xyz"]
    bad = client.validate("import os\n\ndef main(:\n    pass", timeout=0)
    assert not bad.valid and len(bad.errors) == 2
    assert (bad.errors[0].line, bad.errors[1].line) == (3, None)


def test_environment_lists_what_scripts_may_import(client: Client) -> None:
    env = client.environment()
    assert env.python_version.startswith("3.")
    assert {"numpy", "pandas", "scipy", "matplotlib"} <= {p.name for p in env.packages}
    assert env.has_module("pandas") and env.has_module("json") and not env.has_module("nosuchmodule_xyz")
    assert env.import_policy is None
    assert client.health()["status"] == "healthy"


def test_other_languages_run_through_the_same_calls(client: Client) -> None:
    run = client.execute("function main(x) { return x * 2; }", input=21, language="javascript")
    assert run.success and run.result == 42
    shell = client.execute("echo from bash; exit 3", language="bash")
    assert not shell.success and shell.error_type == "exited" and "from bash" in shell.stdout
    assert not client.validate("function (", language="javascript").valid
    job = client.submit_job("main <- function(x) x + 1", input=1, language="r")
    assert job.wait(timeout=120, poll=0.1).result == 2
