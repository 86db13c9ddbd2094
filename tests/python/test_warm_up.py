# The zygote's warm-up (zygote.py's _warm_up), outside the jail: with the default preload imported,
# it must leave nothing a run could see or trip over: no open figure, rcParams as they were, and
# no file descriptor (matplotlib's font cache holds its fonts' files open). It runs in a child
# Python of its own, as the zygote would, so that these imports do not leak into the other tests.
# What does not live here: what a forked run sees over HTTP (tests/api/preload.rs), and the
# zygote's serving and isolation (tests/api/fork.rs).
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from sources import ROOT

PROBE = r"""
import json, os, sys
sys.path.insert(0, %(tests)r)
import sources
runner = sources.load_runner()
zygote = runner._load_zygote(sources.source("zygote"))
for module in %(preload)r:
    __import__(module)
import matplotlib, matplotlib.pyplot as plt
def fds():
    return sorted(os.listdir("/proc/self/fd"))
rc, before = dict(matplotlib.rcParams), fds()
left = zygote._warm_up(runner.convert._to_json)
print(json.dumps({
    "left": left, "fds_before": before, "fds_after": fds(), "figures": plt.get_fignums(),
    "rc_changed": sorted(k for k in rc if matplotlib.rcParams[k] != rc[k]),
    "fonts_cached": sys.modules["matplotlib.font_manager"]._get_font.cache_info().currsize,
    "drew": "matplotlib.backends.backend_agg" in sys.modules,
}))
"""

# What configuration.rs's DEFAULT_PRELOAD lists (tests/api/preload.rs checks the server's default).
DEFAULT_PRELOAD = ["numpy", "pandas", "scipy", "matplotlib", "matplotlib.pyplot", "seaborn"]


class WarmUpTest(unittest.TestCase):
    def setUp(self):
        self.config = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.config, True)
        # The font list setup built, as the runner copies it before the preload.
        fonts = os.path.join(sys.prefix, "share", "matplotlib")
        for name in os.listdir(fonts) if os.path.isdir(fonts) else []:
            if name.startswith("fontlist-"):
                shutil.copy(os.path.join(fonts, name), self.config)

    def warm_up(self, preload):
        env = dict(os.environ, MPLBACKEND="Agg", MPLCONFIGDIR=self.config, OPENBLAS_NUM_THREADS="1")
        code = PROBE % {"tests": os.path.join(ROOT, "tests", "python"), "preload": preload}
        done = subprocess.run([sys.executable, "-B", "-c", code], env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        return json.loads(done.stdout.splitlines()[-1])

    def test_the_plot_warm_up_leaves_no_figure_rc_change_or_open_font(self):
        r = self.warm_up(DEFAULT_PRELOAD)
        self.assertIsNone(r["left"], r)
        self.assertTrue(r["drew"], "the warm-up drew nothing: %r" % r)
        self.assertEqual(r["figures"], [], r)
        self.assertEqual(r["rc_changed"], [], r)
        self.assertEqual(r["fonts_cached"], 0, r)
        self.assertEqual(r["fds_after"], r["fds_before"], "the warm-up left a file open: %r" % r)

    def test_without_seaborn_the_warm_up_still_draws_with_pyplot(self):
        r = self.warm_up(["numpy", "matplotlib.pyplot"])
        self.assertIsNone(r["left"], r)
        self.assertTrue(r["drew"], r)
        self.assertEqual(r["fds_after"], r["fds_before"], r)


if __name__ == "__main__":
    unittest.main()
