# Runs a script in another language than Python (JavaScript, R, Bash) as the runner's child, in the
# same jail and under the same policy, and turns what it did into the runner's one frame.
#
# How it arrives: the set-up line's "modules" (src/sandbox/protocol.rs) carries this source; the
# runner compiles it as "<runner:foreign>" into a module of its own, registered in sys.modules as
# "_runner_foreign" (runner.py's _load_modules). runner.py calls _run() once the working directory
# is ready (input files in, output/ made), the CPU limit set and stdin /dev/null: everything the
# interpreter inherits is what a Python script would have had.
#
# The request line's "language" (src/language.rs's table, protocol.rs's Foreign):
#   {"name", "command": argv, "check": argv (only /validate's syntax check), "runner": source or
#    null, "env": [[NAME, value], ...]}
# The child's fds, all memfds (nothing in the working directory, no pipe to keep drained):
#   0      /dev/null;  1, 2  the jail's stdout and stderr, passed through verbatim
#   3      the script's source (read-only by use)
#   4      the result (JavaScript and R only): the language runner writes one JSON object there,
#          {"ok": true, "result": <JSON>} or {"ok": false, "error_type", "message", "traceback"},
#          before it exits. Never stdout: nothing the script prints can change it.
#   5      the language runner's source, when the command does not carry it
# In the argv, "@script" stands for the script's source (Bash's `-c`), "@runner" for the runner's.
#
# What comes back is the script's (it runs in the child, and can write fd 4 too): this module checks
# its shape and its size, and only the error types a script may cause pass through. A child killed
# by a signal (the OOM killer, RLIMIT_CPU's SIGXCPU) makes the runner die of the same signal,
# without a frame, so that the server classifies it exactly as it does a Python run's death.
import json
import os
import signal

import _runner_workdir as workdir

SCRIPT_FD, RESULT_FD, RUNNER_FD = 3, 4, 5
# Larger scripts are sourced from fd 3 instead of the command line (MAX_ARG_STRLEN is 128 KiB).
MAX_ARG_SCRIPT = 96 * 1024
# The error types a language runner may report; anything else is a garbled report.
SCRIPT_ERRORS = frozenset(
    ["runtime_error", "invalid_result", "validation_error", "exited", "memory_limit", "output_limit"]
)
# input.json and parameters.json: the request's input and parameters, for every language's script.
JSON_FILES = ("input.json", "parameters.json")
# The script's name in messages, as each language's runner names it.
SCRIPT_NAMES = {"javascript": "script.js", "r": "script.R", "bash": "script.sh"}
# What /validate's syntax check may say, at most.
MAX_CHECK_OUTPUT = 64 * 1024


def _memfd(name, data=b""):
    """A memfd holding `data`, read from its start, at fd 10 or above (so that the dup2s onto 3, 4
    and 5 cannot clobber one another), close-on-exec: only the dup2 copies reach the child."""
    import fcntl

    raw = os.memfd_create(name, os.MFD_CLOEXEC)
    fd = fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(raw)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _write_json_files(request, fail):
    """input.json (null without an input) and parameters.json ({} without parameters), before any
    user code. An input file of the same name would be shadowed: refused instead."""
    values = {"input.json": request.get("input"), "parameters.json": request.get("parameters") or {}}
    for name in JSON_FILES:
        text = json.dumps(values[name], ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            what = name[: -len(".json")]
            fail("validation_error", "an input file may not be named %s: the run writes the %s there" % (name, what))
        try:
            view = memoryview(text.encode("utf-8"))
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


def _argv(template, source, runner):
    argv = []
    for part in template:
        if part == "@script":
            small = len(source.encode("utf-8")) <= MAX_ARG_SCRIPT
            argv.append(source if small else ". /proc/self/fd/%d" % SCRIPT_FD)
        elif part == "@runner":
            argv.append(runner)
        else:
            argv.append(part)
    return argv


def _spawn(argv, env, fds):
    """posix_spawn with `fds` (target -> our fd) dup2'd in place; stdin is already /dev/null."""
    actions = [(os.POSIX_SPAWN_DUP2, ours, target) for target, ours in sorted(fds.items())]
    return os.posix_spawn(argv[0], argv, env, file_actions=actions)


def _wait(pid):
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except InterruptedError:
            continue


def _die_like(status):
    """A child killed by a signal: the runner dies of it too, without a frame (see the header)."""
    sig = os.WTERMSIG(status)
    try:
        signal.signal(sig, signal.SIG_DFL)
    except (OSError, ValueError):  # SIGKILL and SIGSTOP have no handler to reset
        pass
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)


def _read(fd, cap):
    size = os.fstat(fd).st_size
    return os.pread(fd, min(size, cap), 0), size


def _check(request, language, env, fail, finish):
    """Only the syntax check: the interpreter's own parser on fd 3, what it said captured."""
    source = request["script"].encode("utf-8")
    out = _memfd("check-output")
    fds = {1: out, 2: out, SCRIPT_FD: _memfd("script", source)}
    status = _wait(_spawn(_argv(language["check"], request["script"], ""), env, fds))
    if os.WIFSIGNALED(status):
        _die_like(status)
    import re

    text, _ = _read(out, MAX_CHECK_OUTPUT)
    valid = os.WEXITSTATUS(status) == 0
    name = SCRIPT_NAMES.get(language["name"], "script")
    message = text.decode("utf-8", "replace").strip().replace("/proc/self/fd/%d" % SCRIPT_FD, name)
    # node: "script.js:3", R: "script.R:3:7:", bash: "script.sh: -c: line 3:".
    found = re.search(re.escape(name) + r":(?: -c:)?(?: line )?(\d+)", message)
    result = {"valid": valid, "message": message, "line": int(found.group(1)) if found and not valid else None}
    finish({"ok": True}, [("result", json.dumps(result, ensure_ascii=False))])


def _no_nan(name):
    raise ValueError("%s is not JSON" % name)


def _run(request, fail, finish):
    """The whole run of a script in `request["language"]`; never returns (finish and fail exit)."""
    language = request["language"]
    env = dict(os.environ)
    env.update(dict(language.get("env") or ()))
    if language.get("check"):
        _check(request, language, env, fail, finish)
    _write_json_files(request, fail)
    source = request["script"]
    runner = language.get("runner") or ""
    fds = {SCRIPT_FD: _memfd("script", source.encode("utf-8"))}
    if runner:
        # Only a language runner reports on fd 4: a Bash script has no result, and no fd 4 to
        # invent one on.
        fds[RESULT_FD] = _memfd("result")
        if "@runner" not in language["command"]:
            fds[RUNNER_FD] = _memfd("runner", runner.encode("utf-8"))
    argv = _argv(language["command"], source, runner)
    status = _wait(_spawn(argv, env, fds))
    if os.WIFSIGNALED(status):
        _die_like(status)
    code = os.WEXITSTATUS(status)
    cap = request["max_result_bytes"] + 64 * 1024
    text, size = _read(fds[RESULT_FD], cap) if RESULT_FD in fds else (b"", 0)
    if size > cap:
        fail("output_limit", "main() returned %d bytes of JSON; the limit is %d" % (size, request["max_result_bytes"]))
    if not text:
        if language.get("runner"):
            fail("exited", "the script exited with status %d before its result was reported" % code, exit_code=code)
        if code != 0:  # Bash: no runner, no result; its exit status says how it went
            fail("exited", "the script exited with status %d" % code, exit_code=code)
        _succeed(request, fail, finish, "null", code)
    try:
        report = json.loads(text, parse_constant=_no_nan)
    except (ValueError, RecursionError):
        report = None
    if not isinstance(report, dict) or not isinstance(report.get("ok"), bool):
        fail("invalid_result", "the result channel carried something other than the runner's report (fd 4 written to?)")
    if report["ok"]:
        if "result" not in report:
            fail("invalid_result", "the result channel carried a success without a result (was fd 4 written to?)")
        encoded = json.dumps(report["result"], ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        limit = request["max_result_bytes"]
        if len(encoded) > limit:
            fail("output_limit", "main() returned %d bytes of JSON; the limit is %d" % (len(encoded), limit))
        _succeed(request, fail, finish, encoded, code)
    error_type = report.get("error_type")
    if error_type not in SCRIPT_ERRORS:
        fail("invalid_result", "the result channel carried an unknown error type (was fd 4 written to?)")
    extra = {}
    for key in ("traceback",):
        if isinstance(report.get(key), str):
            extra[key] = report[key]
    exit_code = report.get("exit_code")
    extra["exit_code"] = exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else code
    message = report.get("message")
    fail(error_type, message if isinstance(message, str) else error_type, **extra)


def _succeed(request, fail, finish, encoded, code):
    raw = [("result", encoded)]
    files = workdir._collect_outputs(request, fail, lambda exc: "")
    if files is not None:
        raw.append(("files", files))
    finish({"ok": True, "exit_code": code}, raw)
