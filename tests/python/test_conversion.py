# The runner's conversion (convert.py) of main()'s value (and of save_result()'s values) into JSON, outside the
# jail: the rules README.md lists under "How return values become JSON", rule by rule, through
# _encode (what the runner sends) and _to_json (the slow path). What does not live here: the output
# files (test_output_files.py), and the run as a whole (tests/api/ drives it through the server).
import dataclasses
import datetime
import decimal
import enum
import json
import math
import pathlib
import unittest
import uuid

import numpy as np
import pandas as pd
from sources import RunEnded, fail, load_runner

runner = load_runner()
convert, script_api = runner.convert, runner.script_api


def encode(value):
    """The JSON the runner would send for `value`, parsed back."""
    return json.loads(convert._encode(value, "result"))


def refusal(value):
    """The message and the place of the NotJsonable that `value` raises."""
    try:
        convert._encode(value, "result")
    except convert.NotJsonable as exc:
        return str(exc), exc.where()
    raise AssertionError("%r became JSON" % (value,))


class Plain(unittest.TestCase):
    def test_json_types_pass_as_they_are(self):
        value = {"s": "é", "t": True, "f": False, "n": None, "i": 2**70, "x": 1.5, "l": [1, [2]]}
        self.assertEqual(encode(value), value)
        # Compact and not ASCII-escaped: the server counts these bytes against MAX_RESULT_BYTES.
        self.assertEqual(convert._encode({"a": ["é", 1]}, "result"), '{"a":["é",1]}')

    def test_nan_and_infinity_become_null(self):
        self.assertEqual(encode([math.nan, math.inf, -math.inf, 1.0]), [None, None, None, 1.0])
        self.assertEqual(encode({"a": {"b": math.nan}}), {"a": {"b": None}})

    def test_tuples_become_arrays(self):
        self.assertEqual(encode((1, (2, 3))), [1, [2, 3]])

    def test_sets_become_sorted_arrays_when_they_sort(self):
        self.assertEqual(encode({3, 1, 2}), [1, 2, 3])
        self.assertEqual(encode(frozenset({"b", "a"})), ["a", "b"])
        mixed = encode({1, "a", None})  # no order among them: any order, all items
        self.assertEqual(sorted(mixed, key=repr), sorted([1, "a", None], key=repr))

    def test_int_and_float_subclasses_become_plain_numbers(self):
        class Level(enum.IntEnum):
            HIGH = 3

        self.assertEqual(convert._to_json(Level.HIGH), 3)
        self.assertIs(type(convert._to_json(Level.HIGH)), int)
        self.assertEqual(encode([True, Level.HIGH]), [True, 3])


class Keys(unittest.TestCase):
    def test_keys_become_strings_as_json_dumps_makes_them(self):
        value = {2: "a", 1.5: "b", True: "c", None: "d", "s": "e"}  # not 1: 1 == True
        want = {"2": "a", "1.5": "b", "true": "c", "null": "d", "s": "e"}
        self.assertEqual(encode(value), want)  # json.dumps's fast path
        self.assertEqual(convert._to_json(value), want)  # the runner's own _key, for the slow path

    def test_date_and_numpy_keys(self):
        value = {datetime.date(2024, 1, 2): 1, np.int64(7): 2, np.float64(0.5): 3}
        self.assertEqual(encode(value), {"2024-01-02": 1, "7": 2, "0.5": 3})

    def test_other_key_types_are_refused(self):
        message, where = refusal({"a": {(1, 2): "x"}})
        self.assertIn("a dict key of type tuple cannot become a JSON object key", message)
        self.assertEqual(where, "result['a']")


class Standard(unittest.TestCase):
    def test_dates_and_times_become_iso_strings(self):
        value = [
            datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
            datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc),
            datetime.date(2024, 1, 2),
            datetime.time(3, 4),
        ]
        self.assertEqual(
            encode(value), ["2024-01-02T03:04:05.000006", "2024-01-02T00:00:00+00:00", "2024-01-02", "03:04:00"]
        )

    def test_durations_become_seconds(self):
        self.assertEqual(encode(datetime.timedelta(minutes=1, milliseconds=500)), 60.5)

    def test_decimals_go_through_float(self):
        self.assertEqual(encode([decimal.Decimal("1.25"), decimal.Decimal("NaN"), decimal.Decimal("-Inf")]),
                         [1.25, None, None])

    def test_bytes_become_base64(self):
        self.assertEqual(encode([b"\x00\xff", bytearray(b"ab"), memoryview(b"abc")]), ["AP8=", "YWI=", "YWJj"])

    def test_dataclasses_enums_uuids_and_paths(self):
        @dataclasses.dataclass
        class Point:
            x: int
            tags: tuple

        class Colour(enum.Enum):
            RED = "red"

        u = uuid.UUID("12345678-1234-5678-1234-567812345678")
        value = [Point(1, ("a",)), Colour.RED, u, pathlib.PurePosixPath("/a/b")]
        self.assertEqual(encode(value), [{"x": 1, "tags": ["a"]}, "red", str(u), "/a/b"])

    def test_complex_numbers_are_refused_with_a_hint(self):
        message, where = refusal({"z": [1, 2j]})
        self.assertIn("a complex number has no JSON form; return [z.real, z.imag]", message)
        self.assertEqual(where, "result['z'][1]")

    def test_other_objects_are_refused_naming_type_and_place(self):
        message, where = refusal({"a": [0, 1, 2, object()]})
        self.assertEqual(message, "a value of type builtins.object cannot become JSON")
        self.assertEqual(where, "result['a'][3]")


class Depth(unittest.TestCase):
    def nested(self, levels):
        value = 1
        for _ in range(levels):
            value = {"k": value}
        return value

    def test_two_hundred_levels_convert(self):
        # Through _to_json: json.dumps's fast path, in C, takes plain values of any depth it can.
        self.assertEqual(convert._to_json(self.nested(convert.MAX_DEPTH)), self.nested(convert.MAX_DEPTH))
        self.assertEqual(convert.MAX_DEPTH, 200)

    def test_deeper_is_refused(self):
        with self.assertRaises(convert.NotJsonable) as caught:
            convert._to_json(self.nested(convert.MAX_DEPTH + 1))
        self.assertIn("nested more than 200 levels deep", str(caught.exception))
        self.assertTrue(caught.exception.where().startswith("result['k']['k']"))

    def test_a_value_that_contains_itself_is_refused(self):
        value = {"a": []}
        value["a"].append(value)
        message, _ = refusal(value)
        self.assertIn("(or refers to itself)", message)


class Numpy(unittest.TestCase):
    def test_scalars_become_numbers_and_booleans(self):
        value = [np.int64(3), np.uint8(255), np.float32(0.5), np.float64(np.nan), np.bool_(True)]
        self.assertEqual(encode(value), [3, 255, 0.5, None, True])
        self.assertIs(encode(np.bool_(False)), False)

    def test_arrays_become_nested_arrays(self):
        self.assertEqual(encode(np.arange(6).reshape(2, 3)), [[0, 1, 2], [3, 4, 5]])
        self.assertEqual(encode(np.array([1.0, np.nan, np.inf])), [1.0, None, None])

    def test_datetimes_become_iso_strings_and_nat_null(self):
        array = np.array(["2024-01-02T03:04:05", "NaT"], dtype="datetime64[s]")
        self.assertEqual(encode(array), ["2024-01-02T03:04:05", None])
        self.assertEqual(encode(np.datetime64("2024-01-02")), "2024-01-02T00:00:00")
        self.assertIsNone(encode(np.datetime64("NaT")))

    def test_timedeltas_become_seconds(self):
        self.assertEqual(encode(np.timedelta64(1500, "ms")), 1.5)
        self.assertIsNone(encode(np.timedelta64("NaT")))


class Pandas(unittest.TestCase):
    def test_a_dataframe_becomes_records(self):
        df = pd.DataFrame({"a": [1, 2], "b": ["x", None], "c": [0.5, np.nan]})
        self.assertEqual(encode(df), [{"a": 1, "b": "x", "c": 0.5}, {"a": 2, "b": None, "c": None}])

    def test_a_meaningful_index_becomes_columns(self):
        df = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["r1", "r2"], name="k"))
        self.assertEqual(encode(df), [{"k": "r1", "v": 1}, {"k": "r2", "v": 2}])
        shifted = pd.DataFrame({"v": [1]}, index=[5])  # not a RangeIndex from 0: reset too
        self.assertEqual(encode(shifted), [{"index": 5, "v": 1}])

    def test_column_names_become_keys(self):
        df = pd.DataFrame({1: [1], "b": [pd.Timestamp("2024-01-02")]})
        self.assertEqual(encode(df), [{"1": 1, "b": "2024-01-02T00:00:00"}])

    def test_a_series_is_an_array_or_an_object(self):
        self.assertEqual(encode(pd.Series([1.0, np.nan])), [1.0, None])
        self.assertEqual(encode(pd.Series([1, 2], index=["a", "b"])), {"a": 1, "b": 2})
        self.assertEqual(encode(pd.Series([1, 2], index=[10, 20])), {"10": 1, "20": 2})
        self.assertEqual(encode(pd.Series([7], index=pd.RangeIndex(1, 2))), {"1": 7})

    def test_index_and_categorical_become_arrays(self):
        self.assertEqual(encode(pd.Index([3, 1])), [3, 1])
        self.assertEqual(encode(pd.Categorical(["a", "b", "a"])), ["a", "b", "a"])

    def test_timestamps_timedeltas_and_missing_values(self):
        value = [pd.Timestamp("2024-01-02 03:04:05"), pd.Timedelta(seconds=90), pd.NaT, pd.NA]
        self.assertEqual(encode(value), ["2024-01-02T03:04:05", 90.0, None, None])

    def test_periods_and_intervals_become_strings(self):
        self.assertEqual(encode([pd.Period("2024-01", "M"), pd.Interval(0, 1)]), ["2024-01", "(0, 1]"])


class SaveResult(unittest.TestCase):
    def setUp(self):
        saved = script_api._Saved
        saved.values, saved.size, saved.limit, saved.fail = {}, 0, 1000, fail

    def tearDown(self):
        saved = script_api._Saved
        saved.values, saved.size, saved.limit, saved.fail = {}, 0, 0, None

    def test_values_follow_the_same_rules_and_a_key_saved_again_replaces(self):
        script_api.save_result("a", np.float64(np.nan))
        script_api.save_result("b", {1: (2, 3)})
        script_api.save_result("a", 5)
        self.assertEqual(json.loads(script_api._saved_json()), {"a": 5, "b": {"1": [2, 3]}})

    def test_nothing_saved_is_no_results(self):
        self.assertIsNone(script_api._saved_json())

    def test_a_value_without_json_form_is_a_type_error(self):
        with self.assertRaisesRegex(TypeError, r"save_result\('x', \.\.\.\): .* at results\['x'\]\[0\]"):
            script_api.save_result("x", [object()])
        with self.assertRaisesRegex(TypeError, "needs a str key, not int"):
            script_api.save_result(1, 1)

    def test_the_saved_values_share_the_result_limit(self):
        script_api.save_result("a", "x" * 900)
        with self.assertRaises(RunEnded) as caught:
            script_api.save_result("b", "y" * 100)
        self.assertEqual(caught.exception.error_type, "output_limit")
        self.assertIn("more than 1000 bytes of JSON", caught.exception.message)


if __name__ == "__main__":
    unittest.main()
