# Unit tests of scripts/build-jail-root.py's pure parts: reading chroot/manifest and ldd's output,
# and the exclusion rule. What does not live here: building a tree (setup-sandbox.sh does, and the
# HTTP suite's tests/api/jail_root.rs checks what a run sees in it).
# Run: $SANDBOX_VENV/bin/python3 -m unittest discover -s tests/python
import os
import unittest

from sources import ROOT, load_path

builder = load_path("build_jail_root", os.path.join(ROOT, "scripts", "build-jail-root.py"))

LDD = """\
/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so:
\tlinux-vdso.so.1 (0x00007ffd5a1f2000)
\tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f0b1c8a0000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0b1c6bf000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0b1c9b0000)
/venv/lib/python3.11/site-packages/scipy.libs/libgfortran-8f1e9814.so.5.0.0:
\tlibquadmath-828275a7.so.0.0.0 => not found
/usr/share/zoneinfo/UTC:
\tnot a dynamic executable
/usr/bin/static:
\tstatically linked
"""


class ManifestTest(unittest.TestCase):
    def test_every_kind_of_entry_is_read_and_comments_are_ignored(self):
        text = """
# a comment
/usr/bin/python3.11   # the interpreter
-/usr/lib/python3.11/test
dir /tmp
file /dev/null
link /bin usr/bin
"""
        self.assertEqual(builder.parse_manifest(text), [
            ("take", "/usr/bin/python3.11", None),
            ("exclude", "/usr/lib/python3.11/test", None),
            ("dir", "/tmp", None),
            ("file", "/dev/null", None),
            ("link", "/bin", "usr/bin"),
        ])

    def test_paths_must_be_absolute_and_normalised(self):
        for bad in ("usr/bin/x", "/usr/../etc/shadow", "/usr/bin/", "/", "dir tmp", "link /bin", "a b c d"):
            with self.assertRaises(builder.BuildError, msg=bad):
                builder.parse_manifest(bad)

    def test_the_projects_manifest_reads(self):
        with open(os.path.join(ROOT, "chroot", "manifest"), encoding="utf-8") as f:
            entries = builder.parse_manifest(f.read())
        taken = {path for kind, path, _ in entries if kind == "take"}
        self.assertIn("/usr/bin/python3.11", taken)
        self.assertIn("/usr/bin/sh", taken)
        # The mount points configs/python.cfg and nsjail.rs use.
        points = {path for kind, path, _ in entries if kind in ("dir", "file")}
        self.assertLessEqual({"/tmp", "/proc", "/dev/null", "/dev/shm", "/venv"}, points)


class LddTest(unittest.TestCase):
    def test_resolved_paths_and_missing_names(self):
        found, missing = builder.parse_ldd(LDD)
        self.assertEqual(found, [
            "/lib/x86_64-linux-gnu/libssl.so.3",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2",
        ])
        self.assertEqual(missing, ["libquadmath-828275a7.so.0.0.0"])

    def test_excluded_is_the_path_and_what_is_under_it(self):
        excludes = ["/usr/lib/python3.11/config-3.11-x86_64-linux-gnu"]
        self.assertTrue(builder.is_excluded("/usr/lib/python3.11/config-3.11-x86_64-linux-gnu", excludes))
        self.assertTrue(builder.is_excluded("/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/Makefile", excludes))
        self.assertFalse(builder.is_excluded("/usr/lib/python3.11/config-3.11-x86_64-linux-gnu2", excludes))


if __name__ == "__main__":
    unittest.main()
