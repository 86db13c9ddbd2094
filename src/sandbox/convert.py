# How values become JSON inside the jail: main()'s return value and what save_result() saves,
# converted by the rules README.md lists under "How return values become JSON" (NaN and infinities
# become null, numpy and pandas values their plain form, dataclasses and enums what they hold...),
# and encoded as the compact, UTF-8 JSON text that the result frame carries.
#
# How it arrives: the set-up line's "modules" (src/sandbox/protocol.rs) carries this source; the
# runner compiles it as "<runner:convert>" into a module of its own, registered in sys.modules as
# "_runner_convert", which is how the runner's other modules import it (runner.py's _load_modules).
#
# What lives here: NotJsonable, _to_json and its helpers, _encode and DUMPS_ARGS. What does not:
# the frame that carries the JSON (runner.py), save_result() and its limit (script_api.py), the
# output files (workdir.py). Nothing here ends the run: a value that cannot become JSON raises
# NotJsonable, and the caller decides what that means.
import sys

# How our JSON is written: not ASCII-escaped and compact (the server counts these bytes against
# MAX_RESULT_BYTES), and never NaN (not JSON).
DUMPS_ARGS = {"ensure_ascii": False, "allow_nan": False, "separators": (",", ":")}
MAX_DEPTH = 200


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
