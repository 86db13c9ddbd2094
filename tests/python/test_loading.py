# How the runner, its modules and the zygote are loaded, outside the jail: importing any runs nothing
# but definitions (so that these unit tests can import them), while the jail's BOOTSTRAP, taken from
# the Rust source, still runs the runner as __main__ and gets its frame; the modules' sources become
# modules of their own, under the names they import each other by; and so does the zygote's. What
# does not live here: the zygote's serving and isolation, which need the jail's privileges
# (tests/api/fork.rs drives them).
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
import unittest

from sources import ROOT, SANDBOX, load_runner, source

runner = load_runner()


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
        code = "import sys; sys.path.insert(0, %r); import sources; sources.load_runner(); sources.load('zygote')"
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

    def test_each_module_is_a_module_of_its_own_under_its_registered_name(self):
        runner = load_runner()  # the last one loaded: its modules are the ones registered
        for name in runner.MODULES:
            module = getattr(runner, name)
            self.assertIs(sys.modules["_runner_" + name], module, name)
            self.assertEqual(module.__name__, "_runner_" + name)
            self.assertEqual(module.__file__, "<runner:%s>" % name)
            self.assertIn(module.__file__, runner.OUR_FILES)
        # They import each other by those names (workdir and script_api use convert).
        self.assertIs(runner.workdir.convert, runner.convert)
        self.assertIs(runner.script_api.convert, runner.convert)
        self.assertEqual(runner.convert._to_json.__code__.co_filename, "<runner:convert>")
        self.assertEqual(runner.policy.POLICY_FILE, "<runner:policy>")

    def test_the_runner_keeps_its_modules_names_out(self):
        for name in ("_to_json", "_encode", "NotJsonable", "load_file", "save_result", "_read_output_files",
                     "_install_import_policy", "OUTPUT_DIR", "MAX_OUTPUT_NAME_BYTES"):
            self.assertFalse(hasattr(runner, name), name)

    def test_a_refused_import_reads_as_it_did_when_the_runner_defined_it(self):
        # The runner ran as __main__ and defined ImportPolicyError: a traceback's last line names it
        # without a module, and pickle finds it in __main__ (the runner's module, in the jail).
        error = runner.policy.ImportPolicyError
        self.assertEqual(error.__module__, "__main__")
        self.assertIs(runner.ImportPolicyError, error)
        line = traceback.format_exception_only(error("the import of `x` is refused", name="x"))
        self.assertEqual(line, ["ImportPolicyError: the import of `x` is refused\n"])


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
        modules = {name: source(name) for name in runner.MODULES}  # as protocol.rs's RUNNER_MODULES
        setup = {"preload": [], "modules": modules}
        stdin = "%s\n%s\n%s\n" % (json.dumps(source("runner")), json.dumps(setup), json.dumps(request))
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
