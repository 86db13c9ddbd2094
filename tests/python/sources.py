# Loads the sandbox's Python (src/sandbox/runner.py, its modules, src/sandbox/zygote.py) for unit
# tests outside the jail: by path, as modules of their own, without running them (runner.py runs _run
# only as __main__); the runner's modules (convert.py, policy.py, workdir.py, script_api.py) as the
# runner loads them in the jail, from their sources (load_runner). Also the stand-in for the
# runner's _fail, which would otherwise write a frame on fd 3 and _exit.
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
    return load_path("sandbox_" + name, os.path.join(SANDBOX, name + ".py"))


def load_path(module_name, path):
    """The Python file at `path` as a fresh module named `module_name`, leaving no __pycache__
    beside it (also for scripts/, whose file names are not module names)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
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


def load_runner():
    """runner.py by path, with its modules loaded by its own _load_modules, as the jail's set-up
    line has them loaded: each compiled from src/sandbox/NAME.py as "<runner:NAME>", registered in
    sys.modules as "_runner_NAME", and bound to the runner's global NAME (runner.convert...)."""
    runner = load("runner")
    runner._load_modules({name: source(name) for name in runner.MODULES})
    return runner


class RunEnded(Exception):
    """What the runner's _fail does in these tests instead of reporting and ending the process."""

    def __init__(self, error_type, message, **extra):
        super().__init__("%s: %s" % (error_type, message))
        self.error_type = error_type
        self.message = message
        self.extra = extra


def fail(error_type, message, **extra):
    """The runner's _fail, as the `fail` argument the runner passes its modules (and as
    script_api._Saved.fail): it raises RunEnded instead of reporting and ending the process."""
    raise RunEnded(error_type, message, **extra)
