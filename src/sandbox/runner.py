# The wrapper that runs inside the jail, the per-run side of the sandbox: it runs the user's script.
# `python3 -I -B -c BOOTSTRAP` reads this file's text from the first line of stdin and executes it
# as __main__ (see src/sandbox/protocol.rs).
#
# Protocol with the server:
#   stdin  after that line, two more lines of JSON:
#            {"preload": [module, ...], "modules": {name: source, ...}}
#                                         the runner's modules are loaded (see below), the preload
#                                         imported at once; a warm sandbox then waits here
#            {"script": str, "max_result_bytes": int, "cpu_seconds": int,
#             "input": any (absent when the request had none), "parameters": object,
#             "files": [{"name", "content", "encoding": "utf8"|"base64"}], "capture_figures": bool,
#             "max_output_files": int, "max_output_files_bytes": int,
#             "import_policy": {"allow"|"deny": [module, ...]} (absent without a policy),
#             "language": {...} (absent for Python: see foreign.py)}
#   fd 1/2 the script's own stdout and stderr, passed through verbatim
#   fd 3   the result channel: READY_MARK once the runner is ready (before any user code), then
#          exactly one frame, "<length>\n<JSON object>", written once, after stdout is flushed.
#          The length lets the server act on a complete result without waiting for the jail to exit.
#          A success carries "result", and "results" (save_result()) and "files" (./output/) when
#          there are any.
# The result never travels on stdout, so nothing the script prints can change it.
#
# The runner's modules: "modules" holds the sources of convert.py (values to JSON), policy.py (the
# import policy), workdir.py (input files, figures, output/) and script_api.py (load_file,
# save_result, the script's globals, main()'s arguments) and foreign.py (scripts in other
# languages, run as a child), which every jail gets in its set-up
# line. _load_modules compiles each as "<runner:NAME>" into a module of its own, registered in
# sys.modules as "_runner_NAME" (how they import each other) and bound to the runner's global
# NAME, before anything uses them. A user's traceback starts at the script's first frame, as it
# did when all of this was one file: _user_traceback drops the frames of all of our files before it.
#
# Fork mode: line 2 also has "zygote": {"tmp_mib", "shm_mib", "source"}, and fd 3 is a
# SOCK_SEQPACKET control socket instead. "source" is zygote.py, which the runner compiles into a
# module of its own (_load_zygote) and serves from: the zygote never runs user code; for each "fork"
# message it forks a child that takes the message's four fds as its stdin, stdout, stderr and result
# fd and isolates itself. In that child alone serve() returns, and the runner speaks the protocol
# above on those fds. The children inherit the loaded modules.
#
# Sessions: a child forked for a session gets a SOCK_SEQPACKET socket as fd 3 (the ready mark is
# one message on it) and a request line {"session": {"source", ...}} instead of a script. "source"
# is session.py, compiled as "<runner:session>", whose cell loop takes over for the session's life.
#
# What lives here: that protocol (the frame, _send, _finish, _fail; usage; the CPU and signal
# limits; the user's traceback), the loading of the other modules, and _run, which takes a run
# through its steps. What does not: the conversion to JSON, the import policy, the working
# directory's files and what the script finds defined (the modules above); the zygote's loop and
# the child's isolation (namespaces, mounts, capabilities, seccomp), which run with privileges
# before any user code (zygote.py). Importing this file (the unit tests in tests/python/ do) only
# defines names; _run runs under BOOTSTRAP, where __name__ is "__main__". Constants repeated on the
# Rust side are checked against it by src/sandbox/agreement.rs.
import sys
import os

RESULT_FD = 3
# The first byte on the result fd: the runner is ready, and no user code has run yet.
READY_MARK = b"S"
SCRIPT_NAME = "script.py"
RUNNER_FILE = sys._getframe().f_code.co_filename
RUNNER_PID = os.getpid()
ZYGOTE_FILE = "<zygote>"
SESSION_FILE = "<runner:session>"
# The runner's modules, in the order _load_modules loads them: each may import those before it.
MODULES = ("convert", "policy", "workdir", "script_api", "foreign")
MODULE_NAME = "_runner_%s"  # in sys.modules
MODULE_FILE = "<runner:%s>"  # in tracebacks
# The files of our code: a user's traceback starts after their frames (_user_traceback).
OUR_FILES = frozenset([RUNNER_FILE] + [MODULE_FILE % name for name in MODULES])
# The frame's own fields are written as convert.DUMPS_ARGS writes values; a copy, so that the runner
# can report its own failure even when the modules did not load.
DUMPS_ARGS = {"ensure_ascii": False, "allow_nan": False, "separators": (",", ":")}
# Signals that may wait queued for the jail's processes at once (RLIMIT_SIGPENDING): real-time
# signals, sigqueue(), and one for each POSIX timer. The kernel charges them, since Linux 5.11, to
# every user up the user-namespace chain, so to host root, who owns the jail's namespace: without
# this a run could queue the host's whole budget (96362 here) and root's timer_create would fail.
MAX_QUEUED_SIGNALS = 16

# The modules, bound by _load_modules before anything uses them.
convert = policy = workdir = script_api = foreign = None


def _write_all(data):
    view = memoryview(data)
    while view:
        written = os.write(RESULT_FD, view)
        view = view[written:]


def _send(frame, raw=()):
    """Writes the frame. `raw` holds (key, JSON) pairs spliced in after the frame's own fields, so
    that large values are encoded only once; the JSON is a str or a list of bytes pieces."""
    import json

    meta = json.dumps(frame, **DUMPS_ARGS)
    parts = [meta[:-1].encode("utf-8", "replace")]
    for key, text in raw:
        parts.append(b',"%s":' % key.encode("ascii"))
        if isinstance(text, str):
            # A lone surrogate (from surrogateescape-decoded bytes) has no UTF-8 form: it becomes "?".
            parts.append(text.encode("utf-8", "replace"))
        else:
            parts.extend(text)
    parts.append(b"}")
    _write_all(b"%d\n" % sum(map(len, parts)))
    for part in parts:
        _write_all(part)


def _finish(frame, raw=()):
    # Flush the script's output first: the server reads the result only once the run is over,
    # but stdout must be complete when it does.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if os.getpid() != RUNNER_PID:
        # A process the script forked (os.fork, no exec) got here by returning from main() too:
        # only the runner's own process reports, so it just ends.
        os._exit(0)
    try:
        frame["usage"] = _usage()
        # The runner's own stdout and stderr end here: the server sees them end as soon as the
        # script's children (killed with the run) let go of them, not after this process's
        # teardown, which comes after the frame.
        for fd in (1, 2):
            try:
                os.close(fd)
            except OSError:
                pass
        _send(frame, raw)
        os.close(RESULT_FD)  # likewise: the server reads the channel until it ends
    finally:
        # Skip interpreter shutdown (atexit, GC of every module): it costs tens of ms and runs user code.
        os._exit(0)


def _usage():
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    return {"cpu_time_ms": int(cpu * 1000), "max_rss_kib": max(me.ru_maxrss, kids.ru_maxrss)}


def _limit_queued_signals():
    # Soft and hard: only CAP_SYS_RESOURCE in the host's user namespace could raise it again.
    import resource

    resource.setrlimit(resource.RLIMIT_SIGPENDING, (MAX_QUEUED_SIGNALS, MAX_QUEUED_SIGNALS))


def _limit_cpu(seconds):
    # RLIMIT_CPU counts from the process's start; a warm sandbox has spent CPU on its imports.
    # Soft below hard: the soft limit sends SIGXCPU (reported as a timeout), where equal limits
    # would SIGKILL, which looks like any other kill. nsjail set the hard limit one second above
    # the largest timeout; only root could raise it.
    import resource

    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(used.ru_utime + used.ru_stime) + seconds
    _, ceiling = resource.getrlimit(resource.RLIMIT_CPU)
    hard = soft + 1 if ceiling == resource.RLIM_INFINITY else min(soft + 1, ceiling)
    resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))


def _user_traceback(exc):
    """The traceback from the first frame of the user's script on: wrapper frames are noise, and
    so are the import policy's, between an import line and its error."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in OUR_FILES:
        tb = tb.tb_next
    te = traceback.TracebackException(type(exc), exc, tb, compact=True)  # as format_exception
    policy._drop_hook_frames(te)
    return "".join(te.format())


def _fail(error_type, message, **extra):
    frame = {"ok": False, "error_type": error_type, "message": message}
    frame.update(extra)
    _finish(frame)


def _module(name, filename, source):
    """`source` compiled as `filename` and run in a new module named `name`."""
    import types

    module = types.ModuleType(name)
    module.__file__ = filename
    exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    return module


def _load_modules(sources):
    """The set-up's "modules", each a module of its own: its names stay out of the runner's
    globals, and its frames say "<runner:NAME>". Registered in sys.modules in MODULES' order, so
    that each can import those before it by their registered names."""
    global convert, policy, workdir, script_api, foreign, ImportPolicyError
    loaded = {}
    for name in MODULES:
        module = _module(MODULE_NAME % name, MODULE_FILE % name, sources[name])
        loaded[name] = sys.modules[module.__name__] = module
    convert, policy, workdir = loaded["convert"], loaded["policy"], loaded["workdir"]
    script_api, foreign = loaded["script_api"], loaded["foreign"]
    # Where its __module__ ("__main__", the runner's, in the jail) says it is, as when the runner
    # defined it: pickle finds it there.
    ImportPolicyError = policy.ImportPolicyError


def _load_zygote(source):
    """zygote.py, sent in the zygote's set-up, as a module of its own: its names stay out of the
    runner's globals, and its frames say "<zygote>"."""
    return _module("zygote", ZYGOTE_FILE, source)


def _run():
    global RUNNER_PID
    import json

    # First: a zygote and every child it forks inherit it, as does everything a script starts.
    _limit_queued_signals()
    setup = json.loads(sys.stdin.buffer.readline())
    _load_modules(setup["modules"])
    if setup["preload"]:
        # Before the imports: importing matplotlib reads its font list, and builds it (about
        # 120 ms, written to MPLCONFIGDIR) when it is not there.
        workdir._prepare_matplotlib()
    for module in setup["preload"]:
        try:
            __import__(module)
        except Exception:  # a missing module is the script's problem when it imports it
            pass
    if setup.get("zygote"):
        # Returns only in a forked child, isolated, with the run's fds on 0 to 3.
        cfg = setup["zygote"]
        _load_zygote(cfg.pop("source")).serve(cfg, convert._to_json)
        RUNNER_PID = os.getpid()  # the child's: only this process reports (see _finish)
        # New stream objects for the new fds: the zygote's were made for /dev/null (seekable) and
        # might hold its buffered bytes. As Python makes them: stderr line-buffered.
        sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
        sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
    workdir._prepare_common()
    # "The runner is ready": from here on, whatever happens is the script's doing, not the server's.
    os.write(RESULT_FD, READY_MARK)
    request = json.loads(sys.stdin.buffer.readline())
    if "session" in request:
        # A session's child (fd 3 is its socket): the cell loop of session.py, which never returns.
        session = request["session"]
        _module("_runner_session", SESSION_FILE, session.pop("source")).serve(session, sys.modules[__name__])
    _limit_cpu(request["cpu_seconds"])
    # The script gets an empty stdin, and the result channel is not inherited by its subprocesses.
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.set_inheritable(RESULT_FD, False)
    # Line-buffered so that a run killed at its deadline still shows what it printed up to then.
    sys.stdout.reconfigure(line_buffering=True, errors="backslashreplace")
    sys.stderr.reconfigure(errors="backslashreplace")
    workdir._prepare_workdir(request, _fail)
    if "language" in request:
        # JavaScript, R or Bash: their interpreter runs as this process's child (foreign.py).
        foreign._run(request, _fail, _finish)

    source = request["script"]
    max_result_bytes = request["max_result_bytes"]
    script_api._Saved.limit, script_api._Saved.fail = max_result_bytes, _fail

    import linecache
    import types

    # Tracebacks quote the user's lines from here; the file exists nowhere else.
    linecache.cache[SCRIPT_NAME] = (len(source), None, source.splitlines(True), SCRIPT_NAME)
    try:
        code = compile(source, SCRIPT_NAME, "exec", dont_inherit=True)
    except SyntaxError as exc:  # what the server's parser accepted but CPython 3.11 does not
        _fail("validation_error", "%s: %s (line %s, column %s)" % (type(exc).__name__, exc.msg, exc.lineno, exc.offset))
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. nesting too deep to compile
        _fail("validation_error", "the script cannot be compiled: %s: %s" % (type(exc).__name__, exc))

    # Not "__main__": an `if __name__ == "__main__": main()` block must not run main() a second time.
    module = types.ModuleType("__script__")
    module.__file__ = SCRIPT_NAME
    module.__dict__.update(script_api._script_globals(request))
    sys.modules["__script__"] = module
    sys.argv = [SCRIPT_NAME]
    if request.get("import_policy"):
        policy._install_import_policy(request["import_policy"], module.__dict__)

    try:
        exec(code, module.__dict__)
        main = module.__dict__.get("main")
        if not callable(main):
            _fail("validation_error", "the script's top-level code left no callable main()")
        value = main(*script_api._main_args(main, request, _fail))
        import inspect

        if inspect.isawaitable(value):
            import asyncio

            async def _await(aw):
                return await aw

            value = asyncio.run(_await(value))
    except SystemExit as exc:
        code_ = exc.code
        if code_ is None:
            code_ = 0
        _fail(
            "exited",
            "the script called sys.exit(%r) before main() returned" % (exc.code,),
            exit_code=code_ if isinstance(code_, int) else 1,
        )
    except MemoryError as exc:
        _fail("memory_limit", "the script ran out of memory (MemoryError)", traceback=_user_traceback(exc))
    except BaseException as exc:  # noqa: B902 - every user exception is reported, KeyboardInterrupt included
        refused = policy._refused_import(exc)
        if refused is not None:  # uncaught, or re-raised as something else: the run needed it
            _fail("policy_violation", str(refused), traceback=_user_traceback(exc))
        _fail(
            "runtime_error",
            "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__,
            traceback=_user_traceback(exc),
        )

    try:
        encoded = convert._encode(value, "result")
    except convert.NotJsonable as exc:
        _fail("invalid_result", "main() returned a value that cannot become JSON: %s at %s" % (exc, exc.where()))
    except RecursionError:
        _fail("invalid_result", "main() returned a value that is nested too deeply to become JSON")
    except BaseException as exc:  # conversion can run user code (dataclasses, __eq__)
        _fail("invalid_result", "main() returned a value that cannot become JSON: %s: %s" % (type(exc).__name__, exc))
    saved = script_api._saved_json()
    if saved is None and len(encoded) > max_result_bytes:  # characters; a cheap lower bound on the bytes
        _fail("output_limit", "main() returned %d bytes of JSON; the limit is %d" % (len(encoded), max_result_bytes))
    if saved is not None and len(encoded) + len(saved) > max_result_bytes:
        _fail(
            "output_limit",
            "main()'s value and the saved results come to %d bytes of JSON; the limit is %d"
            % (len(encoded) + len(saved), max_result_bytes),
        )
    raw = [("result", encoded)]
    if saved is not None:
        raw.append(("results", saved))
    try:
        files = workdir._collect_outputs(request, _fail, _user_traceback)
    except MemoryError:
        _fail("memory_limit", "the script's output files do not fit in its memory limit (MemoryError)")
    if files is not None:
        raw.append(("files", files))
    _finish({"ok": True}, raw)


if __name__ == "__main__":  # BOOTSTRAP's exec runs in __main__; a unit test's import does not run
    try:
        _run()
    except BaseException as exc:  # the runner's own failure: report it rather than die silently
        try:
            _fail("sandbox_error", "runner failure: %s: %s" % (type(exc).__name__, exc))
        finally:
            os._exit(70)
