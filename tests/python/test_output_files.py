# The runner's output files (workdir.py), outside the jail: how _read_output_files walks ./output/
# (limits on count, bytes, entries and path length; names and nested directories; symlinks and
# special files neither followed nor returned), how _files_json puts them in the frame, and _collect_outputs
# (figures first, unless the request said no). Also the input files the runner writes before the
# script (_write_input_file). Each test runs in a fresh temporary working directory, as the runner
# runs in the jail's /tmp. What does not live here: the server's checks of what comes back
# (src/sandbox/outputs.rs), and the run as a whole (tests/api/files.rs).
import base64
import json
import os
import socket
import tempfile
import unittest

from sources import RunEnded, fail, load_runner

runner = load_runner()
workdir = runner.workdir


class InWorkdir(unittest.TestCase):
    def setUp(self):
        self.old_cwd = os.getcwd()
        self.tmp = tempfile.TemporaryDirectory()
        os.chdir(self.tmp.name)

    def tearDown(self):
        os.chdir(self.old_cwd)
        self.tmp.cleanup()

    def write(self, path, data=b""):
        path = os.path.join("output", path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def read(self, max_files=64, max_bytes=1 << 20):
        return workdir._read_output_files(max_files, max_bytes, fail)

    def refused(self, max_files=64, max_bytes=1 << 20):
        with self.assertRaises(RunEnded) as caught:
            self.read(max_files, max_bytes)
        self.assertEqual(caught.exception.error_type, "output_limit")
        return caught.exception.message


class Walk(InWorkdir):
    def test_no_output_directory_returns_nothing(self):
        self.assertEqual(self.read(), [])
        os.mkdir("output")
        self.assertEqual(self.read(), [])

    def test_files_and_nested_directories_come_back_sorted_by_path(self):
        self.write("b.txt", b"b")
        self.write("a/z/deep.bin", b"\x00\xff")
        self.write("a/c.txt", b"c")
        os.makedirs("output/empty/dir")
        self.assertEqual(self.read(), [("a/c.txt", b"c"), ("a/z/deep.bin", b"\x00\xff"), ("b.txt", b"b")])

    def test_symlinks_are_neither_followed_nor_returned(self):
        with open("secret", "wb") as f:
            f.write(b"not yours")
        os.makedirs("elsewhere")
        with open("elsewhere/x.txt", "wb") as f:
            f.write(b"x")
        self.write("real.txt", b"r")
        os.symlink(os.path.abspath("secret"), "output/link.txt")
        os.symlink(os.path.abspath("elsewhere"), "output/linkdir")
        os.symlink("real.txt", "output/relative.txt")
        self.assertEqual(self.read(), [("real.txt", b"r")])

    def test_an_output_that_is_a_symlink_or_a_file_returns_nothing(self):
        os.makedirs("elsewhere")
        with open("elsewhere/x.txt", "wb") as f:
            f.write(b"x")
        os.symlink("elsewhere", "output")
        self.assertEqual(self.read(), [])
        os.unlink("output")
        with open("output", "wb") as f:
            f.write(b"a file")
        self.assertEqual(self.read(), [])

    def test_fifos_and_sockets_are_skipped_without_blocking(self):
        self.write("a.txt", b"a")
        os.mkfifo("output/fifo")  # opening it to read would block without O_NONBLOCK
        server = socket.socket(socket.AF_UNIX)
        self.addCleanup(server.close)
        server.bind("output/sock")
        self.assertEqual(self.read(), [("a.txt", b"a")])

    def test_names_that_are_not_utf8_come_back_as_they_decode(self):
        os.mkdir("output")
        with open(os.path.join(b"output", b"\xff.bin"), "wb") as f:
            f.write(b"z")
        [(name, data)] = self.read()
        self.assertEqual((os.fsencode(name), data), (b"\xff.bin", b"z"))


class Limits(InWorkdir):
    def test_the_count_limit_is_inclusive(self):
        for i in range(3):
            self.write("f%d" % i, b"x")
        self.assertEqual(len(self.read(max_files=3)), 3)
        message = self.refused(max_files=2)
        self.assertEqual(message, "the script left more than 2 files in output/, the limit")

    def test_the_byte_limit_counts_all_files_together(self):
        self.write("a", b"x" * 60)
        self.write("b/c", b"y" * 40)
        self.assertEqual(sum(len(d) for _, d in self.read(max_bytes=100)), 100)
        message = self.refused(max_bytes=99)
        self.assertEqual(message, "the files in output/ come to more than 99 bytes, the limit")

    def test_one_file_past_the_byte_limit_is_not_read_whole(self):
        self.write("big", b"x" * (1 << 20))
        self.assertIn("more than 10 bytes", self.refused(max_bytes=10))

    def test_every_entry_counts_against_the_walk(self):
        max_files = 1
        entries = 16 * max_files + 256
        for i in range(entries):
            os.makedirs("output/d%d" % i)
        self.assertEqual(self.read(max_files=max_files), [])
        os.makedirs("output/one-more")
        self.assertEqual(self.refused(max_files=max_files), "output/ holds more than %d entries" % entries)

    def test_paths_up_to_the_name_limit(self):
        limit = workdir.MAX_OUTPUT_NAME_BYTES
        self.assertEqual(limit, 1024)
        parts = ["d" * 200] * 5  # 5 * 201 bytes with their slashes: 1005
        path = "/".join(parts + ["f" * (limit - 1005)])
        self.write(path, b"ok")
        self.assertEqual(self.read(), [(path, b"ok")])
        os.rename("output/" + path, "output/" + path + "x")
        self.assertIn("a path in output/ is longer than 1024 bytes: ddd", self.refused())


class Frame(InWorkdir):
    def collect(self, request):
        return workdir._collect_outputs(request, fail, runner._user_traceback)

    def pieces_json(self, found):
        return json.loads(b"".join(workdir._files_json(found)))

    def test_files_become_names_and_base64(self):
        found = [("a/b.txt", b"hi"), ("c.bin", b"\x00\xff")]
        self.assertEqual(
            self.pieces_json(found),
            [{"name": "a/b.txt", "content_base64": "aGk="}, {"name": "c.bin", "content_base64": "AP8="}],
        )
        self.assertEqual(found, [], "each file's content is dropped once encoded")

    def test_names_are_json_escaped_and_lone_surrogates_become_question_marks(self):
        found = [('q"\\\n.txt', b""), ("\udcff.bin", b"z"), ("é.txt", b"")]
        names = [f["name"] for f in self.pieces_json(found)]
        self.assertEqual(names, ['q"\\\n.txt', "?.bin", "é.txt"])

    def test_no_files(self):
        self.assertEqual(self.pieces_json([]), [])

    def test_collect_outputs_returns_none_without_files(self):
        os.mkdir("output")
        request = {"capture_figures": False, "max_output_files": 4, "max_output_files_bytes": 100}
        self.assertIsNone(self.collect(request))
        self.write("x.txt", b"x")
        files = json.loads(b"".join(self.collect(request)))
        self.assertEqual(files, [{"name": "x.txt", "content_base64": "eA=="}])

    def test_collect_outputs_saves_open_figures_first_skipping_names_taken(self):
        os.environ.setdefault("MPLBACKEND", "Agg")
        import matplotlib.pyplot as plt

        self.addCleanup(plt.close, "all")
        plt.figure()
        plt.plot([1, 2])
        plt.figure()
        self.write("figure-1.png", b"mine")
        request = {"max_output_files": 4, "max_output_files_bytes": 1 << 20}
        files = json.loads(b"".join(self.collect(request)))
        self.assertEqual([f["name"] for f in files], ["figure-1.png", "figure-2.png", "figure-3.png"])
        self.assertEqual(base64.b64decode(files[0]["content_base64"]), b"mine")
        self.assertTrue(base64.b64decode(files[1]["content_base64"]).startswith(b"\x89PNG"))
        plt.close("all")
        request["capture_figures"] = False  # no figures open, none asked for: the files as they are
        self.assertEqual(len(json.loads(b"".join(self.collect(request)))), 3)


class InputFiles(InWorkdir):
    def test_text_and_base64_content(self):
        workdir._write_input_file("a.txt", "é", "utf8")
        workdir._write_input_file("b.bin", base64.b64encode(b"\x00\xff").decode(), "base64")
        with open("a.txt", "rb") as a, open("b.bin", "rb") as b:
            self.assertEqual((a.read(), b.read()), ("é".encode(), b"\x00\xff"))

    def test_names_the_server_refuses_are_refused_again(self):
        for name in ("", ".", "..", "a/b", "a\0b"):
            with self.assertRaises(ValueError, msg=repr(name)):
                workdir._write_input_file(name, "x", "utf8")

    def test_an_existing_name_or_a_symlink_is_not_overwritten(self):
        os.symlink("target", "link")
        with self.assertRaises(FileExistsError):
            workdir._write_input_file("link", "x", "utf8")
        self.assertFalse(os.path.exists("target"))


if __name__ == "__main__":
    unittest.main()
