# Saving output files: a name with subdirectories lands below the folder, and a symbolic link on
# the way (in the folder, or as the file itself) is refused rather than followed, as the command
# line refuses it. Unit tests on OutputFile itself: no server needed.
from __future__ import annotations

import os
from pathlib import Path

import pytest

from python_script_api import OutputFile


def test_a_nested_name_lands_below_the_folder(tmp_path: Path) -> None:
    saved = OutputFile(name="a/b/c.txt", mime_type="text/plain", content=b"hi").save(tmp_path / "out")
    assert saved == tmp_path / "out" / "a" / "b" / "c.txt"
    assert saved.read_bytes() == b"hi"


def test_a_symlinked_directory_on_the_way_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside, out / "a")
    with pytest.raises(ValueError, match="symbolic link"):
        OutputFile(name="a/c.txt", mime_type="text/plain", content=b"x").save(out)
    assert not (outside / "c.txt").exists()


def test_a_symlink_as_the_file_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "c.txt")
    with pytest.raises(ValueError, match="symbolic link"):
        OutputFile(name="c.txt", mime_type="text/plain", content=b"x").save(out)
    assert victim.read_bytes() == b"keep"
