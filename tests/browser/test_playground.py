"""The playground (GET /) and the API reference (GET /docs) in a real browser.

Debian's chromium, headless, driven by Selenium through Debian's chromedriver, against real servers
that tests/browser.rs starts (real nsjail): PSA_URL (no API key) and PSA_KEYED_URL with PSA_KEY
(API_KEYS on). Each test acts as a person would: it types in the editor, clicks, picks and drops
files, and reads what the page shows. Screenshots of the main states go to
tests/browser/screenshots/ (git-ignored).

Run by `cargo test --test browser` (make test); by hand, with a server on :8080:
    PSA_URL=http://127.0.0.1:8080 .sandbox/browser-venv/bin/python -m unittest -v tests/browser/test_playground.py
(the API-key test needs PSA_KEYED_URL and PSA_KEY too, and fails without them).
"""

import json
import os
import pathlib
import tempfile
import unittest
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

HERE = pathlib.Path(__file__).resolve().parent
SHOTS = HERE / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
# Generous: a run imports pandas or matplotlib in a jail on a shared 2-CPU machine.
WAIT = 90


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: tests/browser.rs sets it (cargo test --test browser)")
    return value


def by_testid(testid):
    return (By.CSS_SELECTOR, f'[data-testid="{testid}"]')


class Page(unittest.TestCase):
    width = 1280
    height = 1000

    @classmethod
    def setUpClass(cls):
        SHOTS.mkdir(exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        # --no-sandbox: the tests run as root, where Chromium refuses its own sandbox.
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--window-size={cls.width},{cls.height}", "--lang=en-US"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The Debian driver, so that Selenium's manager never downloads one.
        cls.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        cls.driver.set_page_load_timeout(60)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()

    def setUp(self):
        self.base = env("PSA_URL")

    def tearDown(self):
        self.shot("last-" + self._testMethodName)
        # No page may hit a Content-Security-Policy violation or a script error. The API's
        # refusals that a test provokes (400, 401) are logged by Chrome too: they are expected.
        problems = [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"
                    and "Failed to load resource: the server responded with a status of 4" not in e["message"]]
        self.assertEqual(problems, [], "the browser console reported errors")

    # -- helpers ------------------------------------------------------------------------------
    def wait(self, condition, timeout=WAIT, message=""):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition, message)

    def find(self, testid):
        return self.driver.find_element(*by_testid(testid))

    def text(self, testid):
        return self.find(testid).text

    def open(self, path="/"):
        self.driver.get(self.base + path)
        if path == "/":
            self.wait(ec.presence_of_element_located((By.CSS_SELECTOR, ".CodeMirror")))
            self.wait(lambda d: self.find("timeout").get_attribute("max"), message="limits not loaded")

    def shot(self, name):
        self.driver.save_screenshot(str(SHOTS / f"{name}.png"))

    def type_script(self, lines):
        """Types into the editor as a person would: select everything, type over it. The editor
        indents after a colon by itself, so lines are typed without their indentation; a line
        that starts with "<" is first dedented one level (Shift+Tab)."""
        self.driver.find_element(By.CSS_SELECTOR, ".CodeMirror").click()
        area = self.driver.switch_to.active_element
        area.send_keys(Keys.CONTROL, "a")
        area.send_keys(Keys.DELETE)
        for i, line in enumerate(lines):
            if i:
                area.send_keys(Keys.ENTER)
            while line.startswith("<"):
                area.send_keys(Keys.SHIFT, Keys.TAB)
                line = line[1:]
            area.send_keys(line)

    def editor_value(self):
        return self.driver.execute_script("return document.querySelector('.CodeMirror').CodeMirror.getValue()")

    def run_and_wait(self):
        self.find("run").click()
        self.wait(lambda d: self.text("status").startswith(("Done", "Failed")), message="the run did not end")
        self.assertTrue(self.find("run").is_enabled())

    def result(self):
        text = self.text("result")
        if not text:
            self.fail(f"no result: status {self.text('status')!r}, error {self.text('error')!r}")
        return json.loads(text)

    def health(self, base=None):
        with urllib.request.urlopen((base or self.base) + "/health", timeout=10) as r:
            return json.load(r)


class Playground(Page):
    def test_typed_script_streams_its_output(self):
        self.open()
        self.shot("01-start")
        self.type_script([
            "import time",
            "def main():",
            "for i in range(4):",
            'print("tick", i)',
            "time.sleep(1)",
            '<return "finished"',
        ])
        self.assertIn('    return "finished"', self.editor_value())
        self.wait(lambda d: "valid" in self.text("validation"), message="the typed script was not validated")
        self.find("run").click()
        # The first line shows while the run goes on: streamed, not all at the end.
        self.wait(lambda d: "tick 0" in self.text("stdout"), message="no streamed output")
        self.assertTrue(self.text("status").startswith("Running"), self.text("status"))
        self.assertEqual(self.text("result"), "")
        self.assertFalse(self.find("stop").get_attribute("disabled"))
        self.shot("02-streaming")
        self.wait(lambda d: self.text("status").startswith(("Done", "Failed")))
        self.assertEqual(self.result()["result"], "finished")
        self.assertIn("tick 3", self.text("stdout"))
        meta = self.text("meta")
        self.assertIn("duration", meta)
        self.assertIn("CPU", meta)
        self.assertIn("usage", self.result())
        self.shot("03-done")

    def test_ctrl_enter_runs_and_the_keyboard_reaches_everything(self):
        self.open()
        Select(self.find("example")).select_by_visible_text("Hello")
        self.driver.find_element(By.CSS_SELECTOR, ".CodeMirror").click()
        area = self.driver.switch_to.active_element
        area.send_keys(Keys.CONTROL, Keys.ENTER)
        self.wait(lambda d: self.text("status").startswith("Done"))
        self.assertEqual(self.result()["result"], {"greeting": "hello", "answer": 42})
        # Esc leaves the editor (where Tab indents) for the Run button; Enter there runs.
        area.send_keys(Keys.ESCAPE)
        active = self.driver.switch_to.active_element
        self.assertEqual(active.get_attribute("data-testid"), "run")
        active.send_keys(Keys.ENTER)
        self.wait(lambda d: self.text("status").startswith("Done"))
        # Tab from Run goes on through the page's controls: none of them is a trap.
        seen = set()
        for _ in range(40):
            ActionChains(self.driver).send_keys(Keys.TAB).perform()
            active = self.driver.switch_to.active_element
            seen.add(active.get_attribute("id") or active.get_attribute("data-testid") or active.tag_name)
        for needed in ("input-json", "file-input", "timeout", "memory"):
            self.assertIn(needed, seen)

    def test_a_figure_appears(self):
        self.open()
        Select(self.find("example")).select_by_visible_text("matplotlib: a plot")
        self.run_and_wait()
        self.assertEqual(self.result()["result"], "plotted")
        img = self.wait(ec.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="figures"] img')))
        self.wait(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100,
                  message="the figure did not load")
        links = self.driver.find_elements(*by_testid("file-link"))
        self.assertEqual([a.text for a in links], ["Download figure-1.png"])
        self.assertTrue(links[0].get_attribute("href").startswith("blob:"))
        self.assertEqual(links[0].get_attribute("download"), "figure-1.png")
        self.shot("04-figure")
        # Unticked, figures do not come back.
        self.find("capture-figures").click()
        self.run_and_wait()
        self.assertEqual(self.result()["result"], "plotted")
        self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, '[data-testid="figures"] img'), [])

    def test_uploaded_csv_is_read_from_the_picker_and_by_drag_and_drop(self):
        self.open()
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp, "mine.csv")
            path.write_text("x,y\n1,2\n3,4\n5,6\n")
            # The file picker, as a keyboard or mouse user opens it.
            self.find("file-input").send_keys(str(path))
        self.wait(lambda d: "mine.csv" in self.text("input-files"))
        # Drag and drop: the drop event a browser fires, with a real File in its DataTransfer.
        self.driver.execute_script("""
            const dt = new DataTransfer();
            dt.items.add(new File(["k,v\\na,1\\nb,2\\n"], "dropped.csv", {type: "text/csv"}));
            const zone = document.querySelector('[data-testid="drop"]');
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        """)
        self.wait(lambda d: "dropped.csv" in self.text("input-files"))
        self.type_script([
            "def main():",
            'mine = load_file("mine.csv")',
            'dropped = load_file("dropped.csv")',
            "print(mine)",
            'return {"y": int(mine.y.sum()), "v": int(dropped.v.sum())}',
        ])
        self.shot("05-files-in")
        self.run_and_wait()
        self.assertEqual(self.result()["result"], {"y": 12, "v": 3})
        self.assertIn("5  6", self.text("stdout"))

    def test_the_csv_example_runs_as_it_comes(self):
        self.open()
        Select(self.find("example")).select_by_visible_text("Read an uploaded CSV")
        self.assertIn("sales.csv", self.text("input-files"))
        self.run_and_wait()
        self.assertEqual(self.result()["result"], {"east": 7, "north": 15, "south": 20})

    def test_input_json_and_output_files(self):
        self.open()
        Select(self.find("example")).select_by_visible_text("Input JSON and parameters")
        self.run_and_wait()
        self.assertEqual(self.result()["result"], 60)
        self.assertIn("got [1, 2, 3] {'scale': 10}", self.text("stdout"))
        # Invalid input JSON is shown at the field and nothing runs.
        field = self.find("input-json")
        field.clear()
        field.send_keys("{not json")
        self.find("run").click()
        self.wait(lambda d: "not valid JSON" in self.text("input-error"))
        self.assertEqual(field.get_attribute("aria-invalid"), "true")
        Select(self.find("example")).select_by_visible_text("Output files and save_result")
        self.run_and_wait()
        self.assertEqual(self.result()["results"], {"points": 3})
        names = [a.text for a in self.driver.find_elements(*by_testid("file-link"))]
        self.assertEqual(names, ["Download data.json", "Download notes.txt"])
        # Clicking the link downloads the file's content.
        with tempfile.TemporaryDirectory() as folder:
            self.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": folder})
            self.driver.find_element(By.LINK_TEXT, "Download notes.txt").click()
            saved = pathlib.Path(folder, "notes.txt")
            self.wait(lambda d: saved.exists(), timeout=20, message="nothing was downloaded")
            self.assertEqual(saved.read_text(), "written in the sandbox\n")

    def test_a_validation_error_is_marked_at_its_line(self):
        self.open()
        self.type_script(["import os", "", "def main(:", "pass"])
        self.wait(ec.presence_of_element_located((By.CSS_SELECTOR, ".CodeMirror-lint-mark-error")),
                  message="no error mark in the editor")
        problem = self.wait(ec.presence_of_element_located(by_testid("validation-error")))
        self.assertIn("line 3", problem.text)
        self.assertIn("syntax error", problem.text)
        self.assertTrue(self.driver.find_elements(By.CSS_SELECTOR, ".CodeMirror-lint-marker-error"),
                        "no marker in the gutter")
        self.shot("06-validation-error")
        # Fixed, the marks go away.
        self.type_script(["def main():", "return 1"])
        self.wait(lambda d: "valid" in self.text("validation") and not d.find_elements(
            By.CSS_SELECTOR, ".CodeMirror-lint-mark-error"))

    def test_a_runtime_error_shows_its_type_and_links_the_traceback(self):
        self.open()
        Select(self.find("example")).select_by_visible_text("An error with a traceback")
        self.run_and_wait()
        self.assertEqual(self.text("error-type"), "runtime_error")
        self.assertIn("ZeroDivisionError", self.text("error"))
        self.assertIn("about to divide", self.text("stdout"))
        links = self.driver.find_elements(By.CSS_SELECTOR, '[data-testid="traceback"] button')
        self.assertEqual([b.get_attribute("data-line") for b in links], ["7", "2"])
        self.assertEqual(len(self.driver.find_elements(By.CSS_SELECTOR, ".CodeMirror .error-line")), 2)
        links[1].click()
        line = self.driver.execute_script("return document.querySelector('.CodeMirror').CodeMirror.getCursor().line")
        self.assertEqual(line, 1)  # 0-based: line 2
        self.shot("07-runtime-error")

    def test_stop_cancels_a_long_run(self):
        self.open()
        Select(self.find("example")).select_by_visible_text("Streaming output (stop me)")
        self.find("run").click()
        self.wait(lambda d: "step 1" in self.text("stdout"))
        self.find("stop").click()
        self.wait(lambda d: self.text("status") == "Stopped.")
        self.shot("08-stopped")
        self.assertEqual(self.text("result"), "")
        self.assertTrue(self.find("stop").get_attribute("disabled"))
        # The server noticed the page left and killed the run: its slot is free long before the
        # script's 30 seconds.
        try:
            self.wait(lambda d: self.health()["busy"] == 0, timeout=10)
        except TimeoutException:
            self.fail(f"the stopped run still holds a slot: {self.health()}")
        # The page runs again at once.
        Select(self.find("example")).select_by_visible_text("Hello")
        self.run_and_wait()
        self.assertEqual(self.result()["result"]["answer"], 42)

    def test_settings_follow_the_servers_limits(self):
        self.open()
        with urllib.request.urlopen(self.base + "/environment", timeout=10) as r:
            limits = json.load(r)["limits"]
        self.assertEqual(self.find("timeout").get_attribute("max"), str(limits["timeout"]["max"]))
        self.assertEqual(self.find("memory").get_attribute("min"), str(limits["memory"]["min"]))
        self.assertEqual(self.find("memory").get_attribute("max"), str(limits["memory"]["max"]))
        timeout = self.find("timeout")
        timeout.send_keys(str(limits["timeout"]["max"] + 1))
        timeout.send_keys(Keys.TAB)
        self.wait(lambda d: "timeout must be between" in self.text("validation"))
        self.find("run").click()
        self.wait(lambda d: self.text("status").startswith("Failed"))
        self.assertEqual(self.text("error-type"), "invalid_request")
        timeout.clear()
        timeout.send_keys("5")
        self.run_and_wait()
        self.assertTrue(self.text("status").startswith("Done"))

    def test_sessions_keep_variables_between_cells(self):
        self.open()
        self.driver.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="session"]').click()
        self.assertTrue(self.find("session").is_displayed())
        # Sessions run at a CPU weight below one-shot runs (README, Sessions): on a loaded machine
        # a cell may wait for the CPU far longer than it computes, so each cell gets two minutes.
        self.find("timeout").send_keys("120")
        self.type_script(["import pandas as pd", 'df = pd.DataFrame({"k": ["a", "b", "a"], "v": [1, 2, 3]})'])
        self.run_and_wait()
        self.assertTrue(self.text("status").startswith("Done"), self.text("status"))
        self.type_script(['df.groupby("k").v.sum()'])
        self.run_and_wait()
        self.assertEqual(self.result()["result"], {"a": 4, "b": 2})
        self.assertEqual(len(self.driver.find_elements(*by_testid("cell"))), 2)
        self.find("variables-refresh").click()
        self.wait(lambda d: "df (pandas.DataFrame)" in self.text("variables"))
        # An error in a cell links to the cell's line; the session lives on.
        self.type_script(["x = 1", "y = x / 0"])
        self.run_and_wait()
        self.assertEqual(self.text("error-type"), "runtime_error")
        self.assertEqual([b.get_attribute("data-line") for b in
                          self.driver.find_elements(By.CSS_SELECTOR, '[data-testid="traceback"] button')], ["2"])
        self.type_script(["len(df)"])
        self.run_and_wait()
        self.assertEqual(self.result()["result"], 3)
        self.shot("09-session")
        open_before = self.health()["sessions"]["open"]
        self.driver.find_element(By.ID, "session-end").click()
        self.wait(lambda d: self.health()["sessions"]["open"] == open_before - 1, timeout=10)

    def test_the_page_and_its_files_need_no_key_and_set_strict_headers(self):
        with urllib.request.urlopen(self.base + "/", timeout=10) as r:
            csp = r.headers["Content-Security-Policy"]
            self.assertIn("script-src 'self'", csp)
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
        # Nothing the page loads comes from another origin.
        self.open()
        urls = self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        self.assertTrue(urls)
        for url in urls:
            self.assertTrue(url.startswith(self.base + "/"), url)


CONTRAST_JS = """
function lum(rgb) {
  const c = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function rgba(s) { const m = s.match(/[\\d.]+/g) || ["0", "0", "0", "0"]; return m.map(Number); }
function background(el) {
  for (; el; el = el.parentElement) {
    const c = rgba(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0.9) return c.slice(0, 3);
  }
  return [255, 255, 255];
}
const worst = [];
let checked = 0;
for (const el of document.querySelectorAll("body *")) {
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || !el.offsetParent || el.closest(":disabled, .CodeMirror")) continue;
  const fg = rgba(getComputedStyle(el).color).slice(0, 3);
  const a = lum(fg), b = lum(background(el));
  checked += 1;
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const what = el.tagName + " " + (el.id || el.className) + " " + el.textContent.trim().slice(0, 30);
  if (ratio < 4.5) worst.push(what + ": " + ratio.toFixed(2));
}
return [checked, worst];
"""


class Contrast(Page):
    def test_text_has_at_least_4_5_to_1_contrast(self):
        """WCAG AA for normal text, on the page's states with the most colours: a failed run and
        a validation error (the editor's syntax colours are CodeMirror's, left out)."""
        self.open()
        Select(self.find("example")).select_by_visible_text("An error with a traceback")
        self.run_and_wait()
        self.type_script(["def main(:", "pass"])
        self.wait(ec.presence_of_element_located(by_testid("validation-error")))
        checked, worst = self.driver.execute_script(CONTRAST_JS)
        self.assertGreater(checked, 30)
        self.assertEqual(worst, [])


class NarrowScreen(Page):
    """A phone-sized screen: nothing is wider than the screen, and a run works."""

    def test_works_at_375_pixels(self):
        # Chrome's windows are at least 500 pixels wide: a phone's screen is emulated.
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 375, "height": 812, "deviceScaleFactor": 1, "mobile": True})
        self.open()
        inner = self.driver.execute_script("return window.innerWidth")
        self.assertLessEqual(inner, 375)
        wide = self.driver.execute_script("return document.documentElement.scrollWidth")
        self.assertLessEqual(wide, inner, "the page scrolls sideways")
        Select(self.find("example")).select_by_visible_text("pandas: group and sum")
        self.run_and_wait()
        self.assertEqual(self.result()["result"], {"a": 4, "b": 2})
        wide = self.driver.execute_script("return document.documentElement.scrollWidth")
        self.assertLessEqual(wide, inner, "the output makes the page scroll sideways")
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.shot("10-phone")


class ApiKey(Page):
    def setUp(self):
        self.base = env("PSA_KEYED_URL")
        self.key = env("PSA_KEY")

    def test_the_page_asks_for_the_key_and_keeps_it_in_session_storage_only(self):
        self.open()  # the page itself needs no key
        self.find("run").click()
        dialog = self.wait(ec.visibility_of_element_located(by_testid("key-dialog")))
        self.assertIn("key", dialog.text.lower())
        self.shot("11-key-prompt")
        self.find("key-input").send_keys(self.key)
        self.find("key-input").send_keys(Keys.ENTER)
        self.wait(lambda d: self.text("status").startswith(("Done", "Failed")))
        self.assertEqual(self.result()["result"]["answer"], 42)
        stored = self.driver.execute_script(
            "return [sessionStorage.getItem('psa-api-key'), localStorage.length, document.cookie]")
        self.assertEqual(stored, [self.key, 0, ""])
        # A wrong key is asked for again, not kept silently.
        self.driver.execute_script("sessionStorage.setItem('psa-api-key', 'wrong-key-0000000000')")
        self.find("run").click()
        self.wait(ec.visibility_of_element_located(by_testid("key-dialog")))
        self.find("key-input").send_keys(self.key, Keys.ENTER)
        self.wait(lambda d: self.text("status").startswith("Done"))


class Docs(Page):
    def test_docs_calls_execute(self):
        self.open("/docs")
        op = "#operations-default-execute"
        block = self.wait(ec.element_to_be_clickable((By.CSS_SELECTOR, f"{op} .opblock-summary-control")))
        block.click()
        # "Try it out" is on: the example body is there, Execute sends it.
        button = self.wait(ec.element_to_be_clickable((By.CSS_SELECTOR, f"{op} button.execute")))
        button.click()
        live = f"{op} .live-responses-table"
        status = self.wait(ec.visibility_of_element_located(
            (By.CSS_SELECTOR, f"{live} .response .response-col_status")))
        self.assertEqual(status.text.strip(), "200")
        body = self.driver.find_element(By.CSS_SELECTOR, f"{live} .response-col_description pre")
        self.assertIn('"success": true', body.text)
        self.driver.execute_script("arguments[0].scrollIntoView()", status)
        self.shot("12-docs-try-it-out")


if __name__ == "__main__":
    unittest.main()
