# How the runner and the zygote are loaded, outside the jail: importing either runs nothing but
# definitions (so that these unit tests can import them), while the jail's BOOTSTRAP, taken from the
# Rust source, still runs the runner as __main__ and gets its frame; and the zygote's source becomes
# a module of its own. What does not live here: the zygote's serving and isolation, which need the
# jail's privileges (tests/api/fork.rs drives them).
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

from sources import ROOT, SANDBOX, load, source

runner = load("runner")


def bootstrap():
    """BOOTSTRAP, the Python one-liner of the jail's command line, as the Rust source spells it."""
    found = set()
    for path in glob.glob(os.path.join(ROOT, "src", "sandbox", "**", "*.rs"), recursive=True):
        with open(path, encoding="utf-8") as f:
            found.update(re.findall(r'"(import sys,json;exec\(compile\([^"]*)"', f.read()))
    if len(found) != 1:
        raise AssertionError("expected one BOOTSTRAP string in src/sandbox/*.rs, found %r" % (found,))
    return found.pop()


def run_with_fd3(argv, stdin_data, cwd, timeout=60):
    """Runs argv with a pipe on fd 3 (the result channel) and returns (exit code, stdout, fd 3's bytes)."""
    r, w = os.pipe()
    try:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            close_fds=False,  # fd 3 stays open across exec; every other fd of ours is close-on-exec
            preexec_fn=lambda: os.dup2(w, 3),
        )
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as result:
        out, _ = child.communicate(stdin_data, timeout=timeout)
        return child.returncode, out, result.read()


class Import(unittest.TestCase):
    def test_importing_runs_nothing_but_definitions(self):
        # A runner that ran on import would read stdin (empty here), fail, and report on fd 3.
        code = "import sys; sys.path.insert(0, %r); import sources; sources.load('runner'); sources.load('zygote')"
        with tempfile.TemporaryDirectory() as cwd:
            argv = [sys.executable, "-I", "-c", code % os.path.dirname(__file__)]
            self.assertEqual(run_with_fd3(argv, b"", cwd), (0, b"", b""))
            self.assertEqual(os.listdir(cwd), [], "the import made files")

    def test_the_runner_keeps_the_zygote_out(self):
        for name in ("serve", "_isolate", "_deny_syscalls", "CHILD_DENIED_SYSCALLS", "CLONE_NEWPID"):
            self.assertFalse(hasattr(runner, name), name)

    def test_the_zygote_source_becomes_a_module_of_its_own(self):
        zygote = runner._load_zygote(source("zygote"))
        self.assertEqual(zygote.__file__, "<zygote>")
        self.assertEqual(zygote.serve.__code__.co_filename, "<zygote>")
        self.assertNotIn("_to_json", vars(zygote))
        self.assertEqual(zygote.CONTROL_FD, runner.RESULT_FD)


class Bootstrap(unittest.TestCase):
    def test_bootstrap_runs_the_runner_as_main(self):
        request = {
            "script": "def main(x):\n    return {'got': x, 'name': __name__}\n",
            "max_result_bytes": 1000,
            "cpu_seconds": 10,
            "input": [1.5, None],
            "files": [],
            "capture_figures": False,
            "max_output_files": 4,
            "max_output_files_bytes": 1000,
        }
        stdin = "%s\n%s\n%s\n" % (json.dumps(source("runner")), json.dumps({"preload": []}), json.dumps(request))
        with tempfile.TemporaryDirectory() as cwd:
            argv = [sys.executable, "-I", "-B", "-c", bootstrap()]
            code, out, result = run_with_fd3(argv, stdin.encode(), cwd)
        self.assertEqual((code, out), (0, b""))
        self.assertEqual(result[:1], runner.READY_MARK)
        length, _, frame = result[1:].partition(b"\n")
        self.assertEqual(int(length), len(frame))
        frame = json.loads(frame)
        self.assertEqual(frame["result"], {"got": [1.5, None], "name": "__script__"}, frame)
        self.assertIs(frame["ok"], True)

    def test_the_runner_file_is_where_bootstrap_says(self):
        self.assertTrue(os.path.isfile(os.path.join(SANDBOX, "runner.py")))
        self.assertIn("'<runner>'", bootstrap())


if __name__ == "__main__":
    unittest.main()
