# The run's working directory inside the jail (the jail's /tmp, nsjail's cwd): what is in it before
# the script runs, and what the run gives back from it besides main()'s value. Before: an empty
# output/, matplotlib's font list, and the request's input files. After main() returned: the
# figures left open in pyplot, saved into output/, then the files under output/, read with every
# open relative to its directory's fd and capped in count, bytes, entries and path length, and put
# into the frame's "files" as base64.
#
# How it arrives: the set-up line's "modules" (src/sandbox/protocol.rs) carries this source; the
# runner compiles it as "<runner:workdir>" into a module of its own, registered in sys.modules as
# "_runner_workdir" (runner.py's _load_modules). It imports convert by that registered name.
#
# What lives here: OUTPUT_DIR, MAX_OUTPUT_NAME_BYTES, the preparation of the directory and the
# collection of output/. What does not: the names the script finds defined and main()'s arguments
# (script_api.py), the frame and the ending of a run (runner.py: its _fail and _user_traceback
# come in as the `fail` and `user_traceback` arguments), and the server's checks of what comes
# back (src/sandbox/outputs.rs). MAX_OUTPUT_NAME_BYTES is checked against the Rust side by
# src/sandbox/agreement.rs and src/file_names.rs.
import os
import sys

import _runner_convert as convert

# The script's working directory is the jail's /tmp (nsjail's cwd); it returns files from here.
OUTPUT_DIR = "output"
# Longest path under output/ that is returned: it bounds the frame per file (protocol.rs FRAME_ROOM_PER_FILE).
MAX_OUTPUT_NAME_BYTES = 1024


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
    returns, and matplotlib's font list unless matplotlib has already read it (a preload did: a
    forked run, on its fresh /tmp, then skips the copy)."""
    os.mkdir(OUTPUT_DIR)
    if "matplotlib.font_manager" not in sys.modules:
        _prepare_matplotlib()


def _prepare_workdir(request, fail):
    """Before any user code: the input files in the working directory."""
    import errno

    files = request.pop("files", None) or ()
    try:
        for f in files:
            _write_input_file(f["name"], f["content"], f.get("encoding"))
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.ENOMEM, errno.EFBIG):
            raise
        fail("memory_limit", "the input files do not fit in the run's memory: %s" % exc.strerror)


def _save_figures(fail, user_traceback):
    """Figures left open in pyplot become output/figure-N.png, numbered in pyplot's order; a name
    the script already used is skipped. pyplot is not imported for this: no pyplot (or, where a
    zygote preloaded it, no open figure), nothing to do."""
    import errno

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    try:
        numbers = plt.get_fignums()
    except BaseException as exc:  # the script may have replaced it
        fail("runtime_error", "the open figures cannot be listed: %s: %s" % (type(exc).__name__, exc))
    if not numbers:
        return
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        if not os.path.lexists(OUTPUT_DIR):  # the script removed it
            os.mkdir(OUTPUT_DIR)
        directory = os.open(OUTPUT_DIR, flags)
    except OSError as exc:
        fail("runtime_error", "./%s is not a directory any more, so figures cannot be saved: %s" % (OUTPUT_DIR, exc))
    create = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    number = 0
    try:
        for num in numbers:
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
            fail("output_limit", "the figures do not fit in the run's /tmp: %s" % exc.strerror)
        fail(
            "runtime_error",
            "figure %d could not be saved as PNG: %s: %s" % (number, type(exc).__name__, exc),
            traceback=user_traceback(exc),
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


def _read_output_files(max_files, max_bytes, fail):
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
                            fail("output_limit", "output/ holds more than %d entries" % max_entries)
                        path = prefix + entry.name
                        if len(os.fsencode(path)) > MAX_OUTPUT_NAME_BYTES:
                            fail(
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
                            fail("output_limit", message)
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
                            fail("output_limit", message)
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
        head = json.dumps({"name": name}, **convert.DUMPS_ARGS)
        if len(pieces) > 1:
            pieces.append(b",")
        pieces.append(head[:-1].encode("utf-8", "replace") + b',"content_base64":"')
        pieces.append(base64.b64encode(data))
        pieces.append(b'"}')
        del data
    pieces.append(b"]")
    return pieces


def _collect_outputs(request, fail, user_traceback):
    """After main() returned: figures into output/ (unless the request said no), then output/."""
    if request.get("capture_figures", True):
        _save_figures(fail, user_traceback)
    found = _read_output_files(request.get("max_output_files", 0), request.get("max_output_files_bytes", 0), fail)
    return _files_json(found) if found else None
