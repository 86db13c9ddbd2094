# The READMEs' examples, run for real: the "Python client" section of the repository's README.md and
# the example of clients/python/README.md, each against the test server (its URL put in for the
# documented http://127.0.0.1:8080), in a scratch directory. An example that stops working fails here.
from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCUMENTED_URL = "http://127.0.0.1:8080"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.M | re.S)


def section(markdown: str, title: str) -> str:
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else len(markdown)]


def run_example(code: str, url: str, where: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    assert DOCUMENTED_URL in code, "the example names the URL this test replaces"
    monkeypatch.chdir(where)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(code.replace(DOCUMENTED_URL, url), "README example", "exec"), namespace)
    return code


def test_the_readme_python_client_section_runs(
    url: str, repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(section((repo_root / "README.md").read_text(), "Python client"))
    assert len(blocks) == 1, "the section has one python example"
    run_example(blocks[0], url, tmp_path, monkeypatch)
    printed = capsys.readouterr().out
    assert "{'a': 4, 'b': 2}" in printed, printed
    assert (tmp_path / "plots" / "figure-1.png").read_bytes().startswith(b"\x89PNG")


def test_the_client_readme_example_runs(
    url: str, repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks((repo_root / "clients" / "python" / "README.md").read_text())
    assert len(blocks) == 1
    run_example(blocks[0], url, tmp_path, monkeypatch)
    printed = capsys.readouterr().out
    assert "sum: 14" in printed and "ZeroDivisionError" in printed, printed
    assert (tmp_path / "out" / "figure-1.png").read_bytes().startswith(b"\x89PNG")
