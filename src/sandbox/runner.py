# The wrapper that runs inside the jail, the per-run side of the sandbox: it runs the user's script.
# `python3 -I -B -c BOOTSTRAP` reads this file's text from the first line of stdin and executes it
# as __main__ (see src/sandbox/protocol.rs).
#
# Protocol with the server:
#   stdin  after that line, two more lines of JSON:
#            {"preload": [module, ...]}   imported at once; a warm sandbox then waits here
#            {"script": str, "max_result_bytes": int, "cpu_seconds": int,
#             "input": any (absent when the request had none), "parameters": object,
#             "files": [{"name", "content", "encoding": "utf8"|"base64"}], "capture_figures": bool,
#             "max_output_files": int, "max_output_files_bytes": int,
#             "import_policy": {"allow"|"deny": [module, ...]} (absent without a policy)}
#   fd 1/2 the script's own stdout and stderr, passed through verbatim
#   fd 3   the result channel: READY_MARK once the runner is ready (before any user code), then
#          exactly one frame, "<length>\n<JSON object>", written once, after stdout is flushed.
#          The length lets the server act on a complete result without waiting for the jail to exit.
#          A success carries "result", and "results" (save_result()) and "files" (./output/) when
#          there are any.
# The result never travels on stdout, so nothing the script prints can change it.
#
# Fork mode: line 2 is {"preload": [...], "zygote": {"tmp_mib", "shm_mib", "source"}} and fd 3 is a
# SOCK_SEQPACKET control socket instead. "source" is zygote.py, which the runner compiles into a
# module of its own (_load_zygote) and serves from: the zygote never runs user code; for each "fork"
# message it forks a child that takes the message's four fds as its stdin, stdout, stderr and result
# fd and isolates itself. In that child alone serve() returns, and the runner speaks the protocol
# above on those fds.
#
# What lives here: that protocol, the conversion of values to JSON, the input and output files,
# figures, the import policy, and _run. What does not: the zygote's loop and the child's isolation
# (namespaces, mounts, capabilities, seccomp), which run with privileges before any user code
# (zygote.py). Importing this file (the unit tests in tests/python/ do) only defines names; _run
# runs under BOOTSTRAP, where __name__ is "__main__". Constants repeated on the Rust side are
# checked against it by src/sandbox/agreement.rs.
import sys
import os

RESULT_FD = 3
# The first byte on the result fd: the runner is ready, and no user code has run yet.
READY_MARK = b"S"
SCRIPT_NAME = "script.py"
MAX_DEPTH = 200
RUNNER_FILE = sys._getframe().f_code.co_filename
RUNNER_PID = os.getpid()
ZYGOTE_FILE = "<zygote>"
# The script's working directory is the jail's /tmp (nsjail's cwd); it returns files from here.
OUTPUT_DIR = "output"
# Longest path under output/ that is returned: it bounds the frame per file (protocol.rs FRAME_ROOM_PER_FILE).
MAX_OUTPUT_NAME_BYTES = 1024
DUMPS_ARGS = {"ensure_ascii": False, "allow_nan": False, "separators": (",", ":")}
# Signals that may wait queued for the jail's processes at once (RLIMIT_SIGPENDING): real-time
# signals, sigqueue(), and one for each POSIX timer. The kernel charges them, since Linux 5.11, to
# every user up the user-namespace chain, so to host root, who owns the jail's namespace: without
# this a run could queue the host's whole budget (96362 here) and root's timer_create would fail.
MAX_QUEUED_SIGNALS = 16


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
    while tb is not None and tb.tb_frame.f_code.co_filename == RUNNER_FILE:
        tb = tb.tb_next
    te = traceback.TracebackException(type(exc), exc, tb, compact=True)  # as format_exception
    _drop_hook_frames(te)
    return "".join(te.format())


def _fail(error_type, message, **extra):
    frame = {"ok": False, "error_type": error_type, "message": message}
    frame.update(extra)
    _finish(frame)


class NotJsonable(Exception):
    def __init__(self, path, message):
        super().__init__(message)
        self.path = path

    def where(self):
        # Paths are built lazily as (parent, key) pairs: formatting them for every element is too slow.
        keys, path = [], self.path
        while isinstance(path, tuple):
            path, key = path
            keys.append("[%r]" % (key,))
        return path + "".join(reversed(keys))


def _key(k, path):
    """Dict keys as json.dumps makes them: str as is, True -> "true", None -> "null", 1.5 -> "1.5"."""
    if isinstance(k, str):
        return k
    v = _to_json(k, path, 0)
    if isinstance(v, str):
        return v
    if v is None or isinstance(v, (bool, int, float)):
        import json

        return json.dumps(v)
    raise NotJsonable(path, "a dict key of type %s cannot become a JSON object key" % type(k).__name__)


def _float(v):
    # NaN and +-Infinity are not JSON: they become null (documented in the README).
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def _to_json(v, path="result", depth=0):
    """Converts main()'s return value into plain JSON types. The rules are listed in the README."""
    if depth > MAX_DEPTH:
        raise NotJsonable(path, "the value is nested more than %d levels deep (or refers to itself)" % MAX_DEPTH)
    if v is None or isinstance(v, (str, bool)):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return _float(float(v))
    if isinstance(v, dict):
        return {_key(k, path): _to_json(x, (path, k), depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_to_json(x, (path, i), depth + 1) for i, x in enumerate(v)]
    if isinstance(v, (set, frozenset)):
        items = list(v)
        try:
            items.sort()
        except TypeError:
            pass
        return [_to_json(x, (path, i), depth + 1) for i, x in enumerate(items)]

    # Before the datetime checks: pandas.Timestamp and NaT are datetime subclasses.
    module = type(v).__module__ or ""
    if module.startswith("numpy") and "numpy" in sys.modules:
        converted = _from_numpy(v, path, depth)
        if converted is not _UNKNOWN:
            return converted
    if module.startswith("pandas") and "pandas" in sys.modules:
        converted = _from_pandas(v, path, depth)
        if converted is not _UNKNOWN:
            return converted

    import datetime
    import decimal

    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return v.total_seconds()
    if isinstance(v, decimal.Decimal):
        return _float(float(v)) if v.is_finite() else None
    if isinstance(v, (bytes, bytearray, memoryview)):
        import base64

        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, complex):
        raise NotJsonable(path, "a complex number has no JSON form; return [z.real, z.imag]")

    import dataclasses
    import enum
    import pathlib
    import uuid

    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _to_json(dataclasses.asdict(v), path, depth + 1)
    if isinstance(v, enum.Enum):
        return _to_json(v.value, path, depth + 1)
    if isinstance(v, (uuid.UUID, pathlib.PurePath)):
        return str(v)
    raise NotJsonable(path, "a value of type %s.%s cannot become JSON" % (module, type(v).__qualname__))


_UNKNOWN = object()


def _from_numpy(v, path, depth):
    np = sys.modules["numpy"]
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "M":  # datetime64: ISO strings, NaT -> null
            return _to_json(v.astype("datetime64[us]").astype(object).tolist(), path, depth + 1)
        return _to_json(v.tolist(), path, depth + 1)
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else _to_json(v.astype("datetime64[us]").item(), path, depth + 1)
    if isinstance(v, np.timedelta64):
        return None if np.isnat(v) else v / np.timedelta64(1, "s")
    if isinstance(v, np.generic):
        return _to_json(v.item(), path, depth + 1)
    return _UNKNOWN


def _from_pandas(v, path, depth):
    pd = sys.modules["pandas"]
    if isinstance(v, pd.DataFrame):
        # Records, one object per row. A meaningful index becomes ordinary columns first.
        if not isinstance(v.index, pd.RangeIndex) or v.index.name is not None:
            v = v.reset_index()
        v = v.astype(object).where(v.notna(), None)
        columns = [_key(c, path) for c in v.columns]
        return [
            {c: _to_json(x, ((path, i), c), depth + 2) for c, x in zip(columns, row, strict=False)}
            for i, row in enumerate(v.itertuples(index=False, name=None))
        ]
    if isinstance(v, pd.Series):
        values = v.astype(object).where(v.notna(), None)
        if isinstance(v.index, pd.RangeIndex) and v.index.start == 0 and v.index.step == 1:
            return [_to_json(x, (path, i), depth + 1) for i, x in enumerate(values)]
        return {_key(k, path): _to_json(x, (path, k), depth + 1) for k, x in values.items()}
    if isinstance(v, pd.Index):
        return _to_json(list(v), path, depth + 1)
    if v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, pd.Timedelta):
        return v.total_seconds()
    if isinstance(v, (pd.Period, pd.Interval)):
        return str(v)
    if isinstance(v, pd.Categorical):
        return _to_json(list(v), path, depth + 1)
    return _UNKNOWN


def _encode(value, path):
    """main()'s value, or a saved result, as JSON text (the conversion rules are in the README)."""
    import json

    try:
        # Fast path, in C: plain JSON types without NaN need no conversion.
        return json.dumps(value, **DUMPS_ARGS)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(_to_json(value, path), **DUMPS_ARGS)


# --- What a run gets besides its script: input, parameters, files, and the helpers ---------------


def _write_input_file(name, content, encoding):
    import base64

    # The server refused every other name already; this only makes sure.
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise ValueError("an input file name that the server should have refused")
    data = base64.b64decode(content) if encoding == "base64" else content.encode("utf-8")
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _prepare_matplotlib():
    """Copies the font list that setup built (scripts/setup-sandbox.sh) into the writable
    MPLCONFIGDIR: without it, a run that plots spends about 120 ms building it again."""
    target = os.environ.get("MPLCONFIGDIR")
    source = os.path.join(sys.prefix, "share", "matplotlib")
    if not target:
        return
    try:
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(source):
            if name.startswith("fontlist-") and name.endswith(".json"):
                with open(os.path.join(source, name), "rb") as src, open(os.path.join(target, name), "wb") as dst:
                    dst.write(src.read())
    except OSError:
        pass  # matplotlib builds its own, more slowly


def _prepare_common():
    """What every run's working directory starts with, made before the ready mark (so, for a warm
    or forked sandbox, before its request arrives): an empty output/ for the files the script
    returns, and matplotlib's font list."""
    os.mkdir(OUTPUT_DIR)
    _prepare_matplotlib()


def _prepare_workdir(request):
    """Before any user code: the input files in the working directory."""
    import errno

    files = request.pop("files", None) or ()
    try:
        for f in files:
            _write_input_file(f["name"], f["content"], f.get("encoding"))
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.ENOMEM, errno.EFBIG):
            raise
        _fail("memory_limit", "the input files do not fit in the run's memory: %s" % exc.strerror)


def load_file(name, **options):
    """Reads a file of the working directory (an input file, say) by its type: CSV and TSV
    (pandas.read_csv) and Parquet (pandas.read_parquet) become a DataFrame, JSON is parsed, anything
    else comes back as bytes. `options` go to the reader: load_file("a.csv", sep=";")."""
    path = os.fspath(name)
    extension = os.path.splitext(path)[1].lower()
    if extension in (".csv", ".tsv"):
        import pandas

        if extension == ".tsv":
            options.setdefault("sep", "\t")
        return pandas.read_csv(path, **options)
    if extension == ".parquet":
        import pandas

        return pandas.read_parquet(path, **options)
    if extension == ".json":
        import json

        with open(path, "rb") as f:
            return json.load(f, **options)
    if options:
        raise TypeError("load_file(%r): options are for CSV, TSV, Parquet and JSON files only" % (path,))
    with open(path, "rb") as f:
        return f.read()


class _Saved:
    """What save_result() saved: key -> JSON text, in the order first saved, and its size."""

    values = {}
    size = 0
    limit = 0


def save_result(key, value):
    """Adds `key` to the response's "results" object, next to main()'s value. The value becomes
    JSON now, by the rules for main()'s value (TypeError if it cannot); saving a key again
    replaces it. main()'s value and the saved results share MAX_RESULT_BYTES."""
    if not isinstance(key, str):
        raise TypeError("save_result() needs a str key, not %s" % type(key).__name__)
    try:
        encoded = _encode(value, "results[%r]" % (key,))
    except NotJsonable as exc:
        raise TypeError("save_result(%r, ...): %s at %s" % (key, exc, exc.where())) from None
    except RecursionError:
        raise TypeError("save_result(%r, ...): the value is nested too deeply to become JSON" % (key,)) from None
    old = _Saved.values.get(key)
    if old is not None:
        _Saved.size -= len(key) + len(old) + 4
    _Saved.values[key] = encoded
    _Saved.size += len(key) + len(encoded) + 4  # quotes, colon, comma
    if _Saved.size > _Saved.limit:  # characters; a cheap lower bound on the bytes
        _fail("output_limit", "save_result() values come to more than %d bytes of JSON, the limit" % _Saved.limit)


def _saved_json():
    import json

    if not _Saved.values:
        return None
    return "{%s}" % ",".join(json.dumps(k, **DUMPS_ARGS) + ":" + v for k, v in _Saved.values.items())


def _script_globals(request):
    """Names every script finds defined, at top level and in main()."""
    return {
        "input_data": request.get("input"),
        "parameters": request.get("parameters") or {},
        "load_file": load_file,
        "save_result": save_result,
    }


def _main_args(main, request):
    """main(input) when main takes a positional parameter, main() otherwise. Without an input in
    the request, a parameter with a default keeps it, and one without gets None."""
    import inspect

    try:
        params = list(inspect.signature(main).parameters.values())
    except Exception:  # not introspectable (a builtin, a callable object): the old contract
        return ()
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    required_kw = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if len(required) > 1 or required_kw:
        names = [p.name for p in required] + required_kw
        _fail(
            "validation_error",
            "main() must take no parameter, or one (the request's input); it requires %s" % ", ".join(names),
        )
    if not positional and not any(p.kind == p.VAR_POSITIONAL for p in params):
        return ()
    if "input" in request:
        return (request["input"],)
    return (None,) if required else ()


# --- What a run gives back besides main()'s value: figures and the files in output/ -------------


def _save_figures():
    """Figures left open in pyplot become output/figure-N.png, numbered in pyplot's order; a name
    the script already used is skipped. pyplot is not imported for this: no pyplot, no figures."""
    import errno

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        if not os.path.lexists(OUTPUT_DIR):  # the script removed it
            os.mkdir(OUTPUT_DIR)
        directory = os.open(OUTPUT_DIR, flags)
    except OSError as exc:
        _fail("runtime_error", "./%s is not a directory any more, so figures cannot be saved: %s" % (OUTPUT_DIR, exc))
    create = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    number = 0
    try:
        for num in plt.get_fignums():
            figure = plt.figure(num)
            while True:
                number += 1
                try:
                    fd = os.open("figure-%d.png" % number, create, 0o644, dir_fd=directory)
                    break
                except FileExistsError:
                    continue
            with os.fdopen(fd, "wb") as f:
                figure.savefig(f, format="png")
    except BaseException as exc:  # savefig runs the script's artists
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.ENOMEM):
            _fail("output_limit", "the figures do not fit in the run's /tmp: %s" % exc.strerror)
        _fail(
            "runtime_error",
            "figure %d could not be saved as PNG: %s: %s" % (number, type(exc).__name__, exc),
            traceback=_user_traceback(exc),
        )
    finally:
        os.close(directory)


def _read_upto(fd, limit):
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(limit - size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read_output_files(max_files, max_bytes):
    """The regular files under output/, as [(path relative to it, content)], sorted. Symlinks and
    special files are neither followed nor returned. Every open is relative to its directory's fd
    with O_NOFOLLOW, so a process of the script that swaps a directory for a symlink meanwhile
    cannot redirect it (and this runs inside the jail: it can read only what the script can)."""
    import stat

    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        root = os.open(OUTPUT_DIR, flags | os.O_DIRECTORY)
    except OSError:
        return []  # removed, or replaced by a file or a symlink: nothing to return
    # Every entry costs a little (empty directories too): the walk is bounded as well.
    max_entries = 16 * max_files + 256
    found, total, seen = [], 0, 0
    pending = [""]
    try:
        while pending:
            prefix = pending.pop()
            directory = root
            try:
                for part in prefix.split("/")[:-1]:
                    parent, directory = directory, os.open(part, flags | os.O_DIRECTORY, dir_fd=directory)
                    if parent != root:
                        os.close(parent)
            except OSError:  # swapped or removed meanwhile
                if directory != root:
                    os.close(directory)
                continue
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        seen += 1
                        if seen > max_entries:
                            _fail("output_limit", "output/ holds more than %d entries" % max_entries)
                        path = prefix + entry.name
                        if len(os.fsencode(path)) > MAX_OUTPUT_NAME_BYTES:
                            _fail(
                                "output_limit",
                                "a path in output/ is longer than %d bytes: %s..." % (MAX_OUTPUT_NAME_BYTES, path[:60]),
                            )
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(path + "/")
                            continue
                        if not entry.is_file(follow_symlinks=False):
                            continue  # a symlink, a FIFO, a socket, a device
                        if len(found) == max_files:
                            message = "the script left more than %d files in output/, the limit" % max_files
                            _fail("output_limit", message)
                        try:
                            fd = os.open(entry.name, flags | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=directory)
                        except OSError:
                            continue  # swapped or removed meanwhile
                        try:
                            if not stat.S_ISREG(os.fstat(fd).st_mode):
                                continue
                            data = _read_upto(fd, max_bytes - total + 1)
                        finally:
                            os.close(fd)
                        total += len(data)
                        if total > max_bytes:
                            message = "the files in output/ come to more than %d bytes, the limit" % max_bytes
                            _fail("output_limit", message)
                        found.append((path, data))
            finally:
                if directory != root:
                    os.close(directory)
    finally:
        os.close(root)
    found.sort()
    return found


def _files_json(found):
    """The frame's "files" as bytes pieces; each file's content is dropped once encoded."""
    import base64
    import json

    pieces = [b"["]
    found.reverse()
    while found:
        name, data = found.pop()
        # Only the name and the content: the server checks both and works out the size and the type.
        head = json.dumps({"name": name}, **DUMPS_ARGS)
        if len(pieces) > 1:
            pieces.append(b",")
        pieces.append(head[:-1].encode("utf-8", "replace") + b',"content_base64":"')
        pieces.append(base64.b64encode(data))
        pieces.append(b'"}')
        del data
    pieces.append(b"]")
    return pieces


def _collect_outputs(request):
    """After main() returned: figures into output/ (unless the request said no), then output/."""
    if request.get("capture_figures", True):
        _save_figures()
    found = _read_output_files(request.get("max_output_files", 0), request.get("max_output_files_bytes", 0))
    return _files_json(found) if found else None


# --- The operator's import policy (IMPORT_ALLOW or IMPORT_DENY; the rule is src/policy.rs's) -----
# Enforced when an import runs, for the imports the script makes itself. An import is the
# script's when the frame that makes it runs with the script's module globals: its top level, its
# functions, classes and lambdas, and exec/eval of strings without globals of their own. What a
# library imports for itself is not the script's choice (an allow list could not name all of
# pandas' own imports), and the runner's helpers (load_file) are the service's. Three doors are
# watched: builtins.__import__ (every import statement, even of a module already in sys.modules,
# such as the preloaded numpy, pandas and scipy and what they imported), importlib.__import__ and
# importlib.import_module. A policy, not a boundary: a module already imported can be reached
# without an import (sys.modules, a library's attribute), and the sandbox, not this hook, keeps
# a script in (SECURITY.md).


# The hook's functions, left out of tracebacks.
_HOOK_FRAMES = ("policy_import", "import_module", "policy_check")


class ImportPolicyError(ModuleNotFoundError):
    """A refused import. A ModuleNotFoundError, so that a script that can do without the module
    (`try: import x` / `except ImportError:`) carries on without it."""


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
        frames = [f for f in te.stack if not (f.filename == RUNNER_FILE and f.name in _HOOK_FRAMES)]
        if len(frames) != len(te.stack):
            te.stack = traceback.StackSummary.from_list(frames)
        pending.extend(t for t in (te.__cause__, te.__context__) if t is not None)


# --- End of the import policy ----------------------------------------------------------------


def _load_zygote(source):
    """zygote.py, sent in the zygote's set-up, as a module of its own: its names stay out of the
    runner's globals, and its frames say "<zygote>"."""
    import types

    module = types.ModuleType("zygote")
    module.__file__ = ZYGOTE_FILE
    exec(compile(source, ZYGOTE_FILE, "exec", dont_inherit=True), module.__dict__)
    return module


def _run():
    global RUNNER_PID
    import json

    # First: a zygote and every child it forks inherit it, as does everything a script starts.
    _limit_queued_signals()
    setup = json.loads(sys.stdin.buffer.readline())
    for module in setup["preload"]:
        try:
            __import__(module)
        except Exception:  # a missing module is the script's problem when it imports it
            pass
    if setup.get("zygote"):
        # Returns only in a forked child, isolated, with the run's fds on 0 to 3.
        cfg = setup["zygote"]
        _load_zygote(cfg.pop("source")).serve(cfg, _to_json)
        RUNNER_PID = os.getpid()  # the child's: only this process reports (see _finish)
        # New stream objects for the new fds: the zygote's were made for /dev/null (seekable) and
        # might hold its buffered bytes. As Python makes them: stderr line-buffered.
        sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
        sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
    _prepare_common()
    # "The runner is ready": from here on, whatever happens is the script's doing, not the server's.
    os.write(RESULT_FD, READY_MARK)
    request = json.loads(sys.stdin.buffer.readline())
    _limit_cpu(request["cpu_seconds"])
    # The script gets an empty stdin, and the result channel is not inherited by its subprocesses.
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.set_inheritable(RESULT_FD, False)
    # Line-buffered so that a run killed at its deadline still shows what it printed up to then.
    sys.stdout.reconfigure(line_buffering=True, errors="backslashreplace")
    sys.stderr.reconfigure(errors="backslashreplace")
    _prepare_workdir(request)

    source = request["script"]
    max_result_bytes = request["max_result_bytes"]
    _Saved.limit = max_result_bytes

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
    module.__dict__.update(_script_globals(request))
    sys.modules["__script__"] = module
    sys.argv = [SCRIPT_NAME]
    if request.get("import_policy"):
        _install_import_policy(request["import_policy"], module.__dict__)

    try:
        exec(code, module.__dict__)
        main = module.__dict__.get("main")
        if not callable(main):
            _fail("validation_error", "the script's top-level code left no callable main()")
        value = main(*_main_args(main, request))
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
        refused = _refused_import(exc)
        if refused is not None:  # uncaught, or re-raised as something else: the run needed it
            _fail("policy_violation", str(refused), traceback=_user_traceback(exc))
        _fail(
            "runtime_error",
            "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__,
            traceback=_user_traceback(exc),
        )

    try:
        encoded = _encode(value, "result")
    except NotJsonable as exc:
        _fail("invalid_result", "main() returned a value that cannot become JSON: %s at %s" % (exc, exc.where()))
    except RecursionError:
        _fail("invalid_result", "main() returned a value that is nested too deeply to become JSON")
    except BaseException as exc:  # conversion can run user code (dataclasses, __eq__)
        _fail("invalid_result", "main() returned a value that cannot become JSON: %s: %s" % (type(exc).__name__, exc))
    saved = _saved_json()
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
        files = _collect_outputs(request)
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
