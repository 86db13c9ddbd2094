# The operator's import policy (IMPORT_ALLOW or IMPORT_DENY; the rule is src/policy.rs's), enforced
# inside the jail when an import runs, for the imports the script makes itself. An import is the
# script's when the frame that makes it runs with the script's module globals: its top level, its
# functions, classes and lambdas, and exec/eval of strings without globals of their own. What a
# library imports for itself is not the script's choice (an allow list could not name all of
# pandas' own imports), and the runner's helpers (load_file) are the service's. Three doors are
# watched: builtins.__import__ (every import statement, even of a module already in sys.modules,
# such as the preloaded numpy, pandas and scipy and what they imported), importlib.__import__ and
# importlib.import_module. A policy, not a boundary: a module already imported can be reached
# without an import (sys.modules, a library's attribute), and the sandbox, not this hook, keeps
# a script in (SECURITY.md).
#
# How it arrives: the set-up line's "modules" (src/sandbox/protocol.rs) carries this source; the
# runner compiles it as "<runner:policy>" into a module of its own, registered in sys.modules as
# "_runner_policy" (runner.py's _load_modules), and installs the hook before the script runs when
# the request has a policy.
#
# What lives here: the hook (_install_import_policy), ImportPolicyError, finding a refusal in an
# exception's chain (_refused_import) and taking the hook's frames out of a traceback
# (_drop_hook_frames). What does not: what a refusal ends the run as (runner.py's _run), the rule
# itself and /validate's reading of the source (src/policy.rs).
import sys

# This file's name in tracebacks ("<runner:policy>" in the jail): the hook's frames carry it.
POLICY_FILE = sys._getframe().f_code.co_filename

# The hook's functions, left out of tracebacks.
_HOOK_FRAMES = ("policy_import", "import_module", "policy_check")


class ImportPolicyError(ModuleNotFoundError):
    """A refused import. A ModuleNotFoundError, so that a script that can do without the module
    (`try: import x` / `except ImportError:`) carries on without it."""

    # As when the runner defined it, running as __main__: a traceback's last line names it
    # without a module ("ImportPolicyError: ..."), as it does the built-in exceptions.
    __module__ = "__main__"


def _install_import_policy(policy, script_globals):
    import builtins
    import importlib
    import importlib.util

    allow = "allow" in policy
    listed = tuple(policy["allow"] if allow else policy["deny"])

    def refuses(module):
        if module == "__future__":  # a compiler directive, as in policy.rs
            return False
        covered = any(module == n or module.startswith(n + ".") for n in listed)
        return covered != allow

    def refused_by(module, names):
        # As ImportPolicy::refused_by: `from a import x` asks for a, and for a.x in case x is a
        # submodule.
        subs = [module + "." + n for n in names if isinstance(n, str) and n != "*"]
        if not allow:
            return next((m for m in [module] + subs if refuses(m)), None)
        if not refuses(module):
            return None
        return next((m for m in subs if refuses(m)), None) if subs else module

    def policy_check(module, names):
        refused = refused_by(module, names)
        if refused is not None:
            message = "the import of `%s` is refused by this server's import policy" % refused
            raise ImportPolicyError(message, name=refused)

    original_import = builtins.__import__
    original_import_module = importlib.import_module
    bootstrap = importlib._bootstrap

    def policy_import(name, globals=None, locals=None, fromlist=(), level=0):
        if isinstance(name, str) and sys._getframe(1).f_globals is script_globals:
            fromlist = tuple(fromlist) if fromlist else ()
            module = name
            if level > 0:  # resolved as the import system would, from the globals passed
                try:
                    module = bootstrap._resolve_name(name, bootstrap._calc___package__(globals or {}), level)
                except Exception:
                    module = None  # unresolvable: the import itself fails the same way
            if module is not None:
                policy_check(module, fromlist)
        return original_import(name, globals, locals, fromlist, level)

    def import_module(name, package=None):
        if isinstance(name, str) and sys._getframe(1).f_globals is script_globals:
            try:
                module = importlib.util.resolve_name(name, package)
            except Exception:
                module = None  # unresolvable: the import itself fails the same way
            if module is not None:
                policy_check(module, ())
        return original_import_module(name, package)

    builtins.__import__ = policy_import
    importlib.__import__ = policy_import
    importlib.import_module = import_module


def _refused_import(exc):
    """The ImportPolicyError that ended the run, or that the exception was raised while handling."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ImportPolicyError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _drop_hook_frames(te):
    """Takes the import hook's frames out of a traceback (a TracebackException and its chain)."""
    import traceback

    pending = [te]
    while pending:
        te = pending.pop()
        frames = [f for f in te.stack if not (f.filename == POLICY_FILE and f.name in _HOOK_FRAMES)]
        if len(frames) != len(te.stack):
            te.stack = traceback.StackSummary.from_list(frames)
        pending.extend(t for t in (te.__cause__, te.__context__) if t is not None)
