# What the script finds in the jail besides its own code, and how main() is called: the names every
# script has defined (input_data, parameters, load_file, save_result), the values save_result()
# saves for the frame's "results", and the arguments main() gets (its input, or none). README.md
# documents them ("POST /execute", "Data in and out").
#
# How it arrives: the set-up line's "modules" (src/sandbox/protocol.rs) carries this source; the
# runner compiles it as "<runner:script_api>" into a module of its own, registered in sys.modules
# as "_runner_script_api" (runner.py's _load_modules). It imports convert by its registered name.
#
# What lives here: load_file, save_result and _Saved, _saved_json, _script_globals, _main_args.
# What does not: the conversion to JSON (convert.py), the working directory's files (workdir.py),
# the frame and the ending of a run (runner.py: its _fail comes in as `fail`, or, for
# save_result(), which the script calls, as _Saved.fail, set by the runner with the limit).
import os

import _runner_convert as convert


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
    """What save_result() saved: key -> JSON text, in the order first saved, and its size. The
    limit and what to do past it (the runner's _fail) are set by the runner before the script runs."""

    values = {}
    size = 0
    limit = 0
    fail = None


def save_result(key, value):
    """Adds `key` to the response's "results" object, next to main()'s value. The value becomes
    JSON now, by the rules for main()'s value (TypeError if it cannot); saving a key again
    replaces it. main()'s value and the saved results share MAX_RESULT_BYTES."""
    if not isinstance(key, str):
        raise TypeError("save_result() needs a str key, not %s" % type(key).__name__)
    try:
        encoded = convert._encode(value, "results[%r]" % (key,))
    except convert.NotJsonable as exc:
        raise TypeError("save_result(%r, ...): %s at %s" % (key, exc, exc.where())) from None
    except RecursionError:
        raise TypeError("save_result(%r, ...): the value is nested too deeply to become JSON" % (key,)) from None
    old = _Saved.values.get(key)
    if old is not None:
        _Saved.size -= len(key) + len(old) + 4
    _Saved.values[key] = encoded
    _Saved.size += len(key) + len(encoded) + 4  # quotes, colon, comma
    if _Saved.size > _Saved.limit:  # characters; a cheap lower bound on the bytes
        _Saved.fail("output_limit", "save_result() values come to more than %d bytes of JSON, the limit" % _Saved.limit)


def _saved_json():
    import json

    if not _Saved.values:
        return None
    return "{%s}" % ",".join(json.dumps(k, **convert.DUMPS_ARGS) + ":" + v for k, v in _Saved.values.items())


def _script_globals(request):
    """Names every script finds defined, at top level and in main()."""
    return {
        "input_data": request.get("input"),
        "parameters": request.get("parameters") or {},
        "load_file": load_file,
        "save_result": save_result,
    }


def _main_args(main, request, fail):
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
        fail(
            "validation_error",
            "main() must take no parameter, or one (the request's input); it requires %s" % ", ".join(names),
        )
    if not positional and not any(p.kind == p.VAR_POSITIONAL for p in params):
        return ()
    if "input" in request:
        return (request["input"],)
    return (None,) if required else ()
