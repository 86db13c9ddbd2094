# A session's cell loop: the jailed child of a session's own zygote, kept alive between requests,
# runs one cell of user code per message and keeps its globals, imports and files between them.
#
# How it arrives: the session's request line (line 3 of stdin, runner.py's protocol) is
# {"session": {"source": this file, "max_result_bytes", "max_output_files",
# "max_output_files_bytes", "files", "import_policy"?}}; runner.py compiles "source" as
# "<runner:session>" into a module of its own and calls serve(), which never returns.
#
# Protocol with the server (src/sandbox/session.rs is the other half):
#   fd 3   a SOCK_SEQPACKET socket (the session's, kept for its life). Before the request line the
#          runner wrote its ready mark on it (one message). Then, for each cell, the server sends
#          "cell" with four fds (SCM_RIGHTS): the cell's stdin, stdout, stderr and result pipe.
#          An empty message (the server closed its end): the child exits.
#   cell   the cell's pipes go on fds 0 to 3 (the socket moves to a high fd), so each cell has its
#          own channels and the server knows where a cell's output ends without reading markers in
#          it. Its stdin carries one JSON line, {"code": str} (then EOF); its result pipe gets one
#          frame, "<length>\n<JSON>", as runner.py writes it, after stdout and stderr are closed.
#   frame  runner.py's: {"ok": true, "result", "results"?, "files"?, "usage"} or
#          {"ok": false, "error_type", "message", "traceback"?, "exit_code"?, "usage"}.
# The socket only ever carries the server's messages to the child: the server reads nothing from
# it after the ready mark, so user code that writes on it tells the server nothing.
#
# What lives here: serve(), one cell's run (the last expression's value, as in a notebook), the
# between-cells clean-up (fds, output/, figures). What does not: the JSON conversion, the working
# directory's files, the import policy (the runner's modules, reused), the timeout (the server
# sends SIGINT, then ends the session), and memory (the session's cgroup).
import os
import sys

# Where the session's socket lives while a cell's pipes hold fds 0 to 3.
SOCKET_FD = 100
RESULT_FD = 3


class _CellFailed(Exception):
    """A cell's failure frame, raised by the `fail` callback the runner's modules are given (the
    one-shot runner's _fail ends the process; a session must live on)."""

    def __init__(self, frame):
        super().__init__(frame.get("message"))
        self.frame = frame


def _fail(error_type, message, **extra):
    frame = {"ok": False, "error_type": error_type, "message": message}
    frame.update(extra)
    raise _CellFailed(frame)


def serve(setup, runner):
    """The cell loop. `runner` is runner.py's module: its frame writer, usage and the user's
    traceback, and the modules it loaded (convert, workdir, script_api, policy)."""
    import signal
    import socket
    import types

    os.dup2(RESULT_FD, SOCKET_FD, inheritable=False)
    sock = socket.socket(fileno=SOCKET_FD)
    # The ready mark was the child's last word on it: user code, which shares this process and so
    # this fd, can write nothing on it either.
    sock.shutdown(socket.SHUT_WR)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    workdir, script_api = runner.workdir, runner.script_api
    workdir._prepare_workdir(setup, _setup_failed)
    # No user code has run yet: the server trusts this word on the child's first stdout.
    os.write(1, b"ready\n")
    # Between cells fds 0 to 3 are /dev/null: a thread the user left running writes nowhere, and
    # the fds a cell receives are all above 3, so placing them cannot overwrite one another.
    _park()
    module = types.ModuleType("__script__")
    module.__file__ = "<session>"
    module.__dict__.update(script_api._script_globals({}))
    sys.modules["__script__"] = module
    sys.argv = ["<session>"]
    if setup.get("import_policy"):
        runner.policy._install_import_policy(setup["import_policy"], module.__dict__)
    cells = 0
    loop_pid = os.getpid()
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, 64, 4)
        if not msg:
            os._exit(0)
        if msg != b"cell" or len(fds) != 4:
            for fd in fds:
                os.close(fd)
            continue
        # Above 3 first: a cell may have closed any of 0 to 3, and a received fd could then be
        # one of the targets below.
        fds = [_above_channels(fd) for fd in fds]
        for target, fd in enumerate(fds):
            os.dup2(fd, target, inheritable=target < RESULT_FD)
            os.close(fd)
        cells += 1
        _cell(cells, setup, module.__dict__, runner, loop_pid)


def _setup_failed(error_type, message, **extra):
    # Input files that do not fit: the session cannot start as asked. The server sees the child
    # end before its first cell and reports the session's start as failed.
    os._exit(73)


def _above_channels(fd):
    """`fd`, moved above fds 0 to 3 if it is one of them."""
    import fcntl

    if fd > RESULT_FD:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, RESULT_FD + 1)
    os.close(fd)
    return moved


def _null():
    """/dev/null on an fd above 3: dup2 onto 0 to 3 from it never meets itself (os.dup2 with
    inheritable=False is dup3, which refuses equal fds)."""
    return _above_channels(os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC))


def _park():
    null = _null()
    for fd in range(RESULT_FD + 1):
        os.dup2(null, fd, inheritable=fd < RESULT_FD)
    os.close(null)


def _read_request():
    import json

    chunks = []
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    return json.loads(b"".join(chunks))


def _cell(number, setup, ns, runner, loop_pid):
    import resource
    import signal

    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        request = _read_request()
    except Exception:
        _park()
        return
    null = _null()
    os.dup2(null, 0)
    os.close(null)
    # Line-buffered, as a one-shot run's: a cell interrupted at its deadline still shows its output.
    sys.stdout.reconfigure(line_buffering=True, errors="backslashreplace")
    sys.stderr.reconfigure(errors="backslashreplace")
    script_api = runner.script_api
    script_api._Saved.values = {}
    script_api._Saved.limit, script_api._Saved.fail = setup["max_result_bytes"], _fail
    raw = []
    # The server's interrupt at the cell's deadline is a KeyboardInterrupt in the cell only;
    # between cells it is ignored (one that arrives late must not end the loop).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if request.get("inspect"):
            value = _variables(ns)
        else:
            value = _run_code(request["code"], number, ns, runner)
        raw = _encode(value, setup, runner)
        frame = {"ok": True}
    except _CellFailed as failed:
        frame = failed.frame
    except BaseException as exc:  # noqa: B902 - e.g. the interrupt, between the cell and its frame
        frame = {"ok": False, "error_type": "runtime_error", "message": type(exc).__name__, "traceback": ""}
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getpid() != loop_pid:
        # A process the cell forked (os.fork() without exec) that ran to the end of the cell: it
        # must not write a second frame, nor wait on the session's socket for the next cell.
        os._exit(0)
    ended = frame.get("error_type") in ("exited", "memory_limit")
    _close_figures()
    _clear_output(runner.workdir.OUTPUT_DIR)
    _send(frame, raw, before, runner)
    if ended:
        os._exit(0)


def _run_code(code, number, ns, runner):
    """Runs the cell; returns the value of its last statement if that is an expression."""
    import ast
    import linecache

    name = "<cell %d>" % number
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    try:
        tree = ast.parse(code, name, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        body = compile(tree, name, "exec", dont_inherit=True)
        tail = compile(last, name, "eval", dont_inherit=True) if last is not None else None
    except SyntaxError as exc:
        _fail("validation_error", "%s: %s (line %s, column %s)" % (type(exc).__name__, exc.msg, exc.lineno, exc.offset))
    except (ValueError, RecursionError, MemoryError) as exc:
        _fail("validation_error", "the cell cannot be compiled: %s: %s" % (type(exc).__name__, exc))
    try:
        exec(body, ns)
        return eval(tail, ns) if tail is not None else None
    except SystemExit as exc:
        code_ = 0 if exc.code is None else exc.code
        _fail(
            "exited",
            "the cell called sys.exit(%r); the session is over" % (exc.code,),
            exit_code=code_ if isinstance(code_, int) else 1,
        )
    except MemoryError as exc:
        message = "the cell ran out of memory (MemoryError); the session is over"
        _fail("memory_limit", message, traceback=_traceback(exc, runner))
    except _CellFailed:
        raise
    except BaseException as exc:  # noqa: B902 - every user exception is reported, KeyboardInterrupt included
        refused = runner.policy._refused_import(exc)
        if refused is not None:
            _fail("policy_violation", str(refused), traceback=_traceback(exc, runner))
        _fail(
            "runtime_error",
            "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__,
            traceback=_traceback(exc, runner),
        )


# Names the session defines itself (script_api's), left out of its variables.
OWN_NAMES = frozenset(["input_data", "parameters", "load_file", "save_result"])
MAX_REPR = 200


def _variables(ns):
    """The session's variables for GET /sessions/{id}: name, type and a short repr, never values.
    Modules, the session's own names and names starting with "_" are left out."""
    import types

    found = []
    for name, value in list(ns.items()):
        if name.startswith("_") or name in OWN_NAMES or isinstance(value, types.ModuleType):
            continue
        kind = type(value)
        module = getattr(kind, "__module__", "builtins")
        type_name = kind.__qualname__ if module == "builtins" else "%s.%s" % (module, kind.__qualname__)
        try:
            text = repr(value)
        except Exception as exc:  # noqa: B902 - a repr is the user's code
            text = "<repr failed: %s>" % type(exc).__name__
        if not isinstance(text, str):
            text = "<repr is not a str>"
        if len(text) > MAX_REPR:
            text = text[: MAX_REPR - 3] + "..."
        found.append({"name": name, "type": type_name, "repr": text})
    return found


def _traceback(exc, runner):
    """From the first frame of a cell on: the loop's frames are noise."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell "):
        tb = tb.tb_next
    te = traceback.TracebackException(type(exc), exc, tb, compact=True)
    runner.policy._drop_hook_frames(te)
    return "".join(te.format())


def _encode(value, setup, runner):
    """The frame's raw fields: the value, saved results and output files, as runner.py sends them."""
    convert, script_api = runner.convert, runner.script_api
    limit = setup["max_result_bytes"]
    try:
        encoded = convert._encode(value, "result")
    except convert.NotJsonable as exc:
        _fail("invalid_result", "the cell's value cannot become JSON: %s at %s" % (exc, exc.where()))
    except RecursionError:
        _fail("invalid_result", "the cell's value is nested too deeply to become JSON")
    except _CellFailed:
        raise
    except BaseException as exc:  # conversion can run user code
        _fail("invalid_result", "the cell's value cannot become JSON: %s: %s" % (type(exc).__name__, exc))
    saved = script_api._saved_json()
    size = len(encoded) + (len(saved) if saved is not None else 0)
    if size > limit:
        message = "the cell's value and saved results come to %d bytes of JSON; the limit is %d" % (size, limit)
        _fail("output_limit", message)
    raw = [("result", encoded)]
    if saved is not None:
        raw.append(("results", saved))
    try:
        files = runner.workdir._collect_outputs(setup, _fail, lambda exc: _traceback(exc, runner))
    except MemoryError:
        _fail("memory_limit", "the cell's output files do not fit in the session's memory (MemoryError)")
    if files is not None:
        raw.append(("files", files))
    return raw


def _close_figures():
    # Returned once, with the cell that left them open.
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:
            pass


def _clear_output(directory):
    """output/ is a return channel: what a cell left there went back with it, and the next cell's
    answer carries only its own files. Files kept elsewhere in the working directory persist."""
    import shutil

    try:
        with os.scandir(directory) as entries:
            if next(entries, None) is None:
                return  # the usual case, and a tenth of a millisecond cheaper than rmtree
    except OSError:
        pass  # removed or replaced by the cell: made again below
    try:
        shutil.rmtree(directory)
    except OSError:
        try:
            os.unlink(directory)
        except OSError:
            pass
    try:
        os.mkdir(directory)
    except OSError:
        pass


def _send(frame, raw, before, runner):
    import resource

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    now = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = now.ru_utime + now.ru_stime - before.ru_utime - before.ru_stime
    frame["usage"] = {"cpu_time_ms": max(0, int(cpu * 1000)), "max_rss_kib": max(now.ru_maxrss, kids.ru_maxrss)}
    null = _null()
    # The cell's stdout and stderr end before its frame: the server's readers see EOF once the
    # cell's leftover processes, which it kills, let go of them.
    for fd in (1, 2):
        os.dup2(null, fd)
    try:
        runner._send(frame, raw)
    except OSError:
        pass  # the server is gone, or killed the cell's channel: it knows
    os.dup2(null, RESULT_FD, inheritable=False)
    os.close(null)
