# Loads the sandbox's Python (src/sandbox/runner.py, src/sandbox/zygote.py) for unit tests outside the
# jail: by path, as modules of their own, without running them (runner.py runs _run only as __main__).
# Also the stand-in for the runner's _fail, which would otherwise write a frame on fd 3 and _exit.
# What does not live here: the tests themselves (test_*.py beside this file).
# Run: $SANDBOX_VENV/bin/python3 -m unittest discover -s tests/python   (the venv has numpy, pandas,
# matplotlib, as the jail has; the Makefile's `test` target runs it first).
import importlib.util
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SANDBOX = os.path.join(ROOT, "src", "sandbox")


def load(name):
    """src/sandbox/NAME.py as a fresh module, imported by path: nothing in it runs but definitions
    (and no __pycache__ is left in src/)."""
    spec = importlib.util.spec_from_file_location("sandbox_" + name, os.path.join(SANDBOX, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


def source(name):
    with open(os.path.join(SANDBOX, name + ".py"), encoding="utf-8") as f:
        return f.read()


class RunEnded(Exception):
    """What the runner's _fail does in these tests instead of reporting and ending the process."""

    def __init__(self, error_type, message, **extra):
        super().__init__("%s: %s" % (error_type, message))
        self.error_type = error_type
        self.message = message
        self.extra = extra


def stub_fail(runner):
    """Replaces the runner's _fail and _finish (both end the process through os._exit, after closing
    fds 1 and 2) with RunEnded. Returns a function that undoes it."""
    saved = runner._fail, runner._finish

    def fail(error_type, message, **extra):
        raise RunEnded(error_type, message, **extra)

    def finish(frame, raw=()):
        raise AssertionError("the runner would have ended the process: %r" % (frame,))

    runner._fail, runner._finish = fail, finish

    def restore():
        runner._fail, runner._finish = saved

    return restore
